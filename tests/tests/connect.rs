//! `connect`, `connect_timeout`, `connect_future`, `connect_host`,
//! `ip::get_addr` and socket options.

use std::net::IpAddr;
use std::time::Duration;

use uvtcp::*;
use uvtcp_tests::*;

#[test]
fn connect_to_a_closed_ipv4_port_is_connection_refused() {
    bounded(10, || {
        let iotask = new_iotask();
        let port = free_port(localhost_v4());
        assert_eq!(
            connect(localhost_v4(), port, &iotask).err(),
            Some(TcpConnectErrData::ConnectionRefused)
        );
    });
}

#[test]
fn connect_to_a_closed_ipv6_port_is_connection_refused() {
    if !ipv6_loopback_available() {
        eprintln!("skipping: ::1 cannot be bound on this machine");
        return;
    }
    bounded(10, || {
        let iotask = new_iotask();
        let port = free_port(localhost_v6());
        assert_eq!(
            connect(localhost_v6(), port, &iotask).err(),
            Some(TcpConnectErrData::ConnectionRefused)
        );
    });
}

#[test]
fn connect_reaches_a_std_listener() {
    bounded(10, || {
        let iotask = new_iotask();
        let std_listener = std::net::TcpListener::bind((localhost_v4(), 0)).unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let client = t!(connect(localhost_v4(), port, &iotask));
        let (mut std_peer, std_peer_addr) = std_listener.accept().unwrap();
        assert_eq!(std_peer_addr, t!(client.local_addr()));
        t!(client.write(&b"to std"[..]));
        drop(client);
        let mut received = String::new();
        std::io::Read::read_to_string(&mut std_peer, &mut received).unwrap();
        assert_eq!(received, "to std");
    });
}

#[test]
fn connect_timeout_succeeds_to_a_listening_port() {
    bounded(10, || {
        let iotask = new_iotask();
        let listener = t!(TcpListener::bind(localhost_v4(), 0, 16, &iotask));
        let port = t!(listener.local_addr()).port();
        let client = t!(connect_timeout(localhost_v4(), port, &iotask, 2000));
        let server = t!(listener.accept_timeout(READ_TIMEOUT_MS));
        assert_eq!(t!(server.peer_addr()), t!(client.local_addr()));
    });
}

#[test]
fn connect_timeout_to_a_closed_port_is_connection_refused() {
    bounded(10, || {
        let iotask = new_iotask();
        let port = free_port(localhost_v4());
        assert_eq!(
            connect_timeout(localhost_v4(), port, &iotask, 2000).err(),
            Some(TcpConnectErrData::ConnectionRefused)
        );
    });
}

#[test]
fn connect_future_resolves_to_a_connected_socket() {
    bounded(10, || {
        let iotask = new_iotask();
        let listener = t!(TcpListener::bind(localhost_v4(), 0, 16, &iotask));
        let port = t!(listener.local_addr()).port();
        let client = t!(connect_future(localhost_v4(), port, &iotask).get());
        let server = t!(listener.accept_timeout(READ_TIMEOUT_MS));
        t!(client.write(&b"future"[..]));
        assert_eq!(t!(read_at_least(&server, 6)), b"future");
    });
}

#[test]
fn connect_future_to_a_closed_port_is_connection_refused() {
    bounded(10, || {
        let iotask = new_iotask();
        let port = free_port(localhost_v4());
        let result = block_on(connect_future(localhost_v4(), port, &iotask));
        assert_eq!(result.err(), Some(TcpConnectErrData::ConnectionRefused));
    });
}

#[test]
fn connect_host_with_a_numeric_address_connects() {
    bounded(10, || {
        let iotask = new_iotask();
        let listener = t!(TcpListener::bind(localhost_v4(), 0, 16, &iotask));
        let port = t!(listener.local_addr()).port();
        let client = t!(connect_host("127.0.0.1", port, &iotask, 2000));
        let server = t!(listener.accept_timeout(READ_TIMEOUT_MS));
        assert_eq!(t!(server.peer_addr()), t!(client.local_addr()));
    });
}

#[test]
fn connect_host_localhost_reaches_an_ipv4_listener() {
    bounded(10, || {
        let iotask = new_iotask();
        let listener = t!(TcpListener::bind(localhost_v4(), 0, 16, &iotask));
        let port = t!(listener.local_addr()).port();
        let client = t!(connect_host("localhost", port, &iotask, 3000));
        assert_eq!(t!(client.peer_addr()).ip(), localhost_v4());
        let server = t!(listener.accept_timeout(READ_TIMEOUT_MS));
        assert_eq!(t!(server.peer_addr()), t!(client.local_addr()));
    });
}

#[test]
fn connect_host_with_every_address_refused_is_connection_refused() {
    bounded(10, || {
        let iotask = new_iotask();
        let port = free_port(localhost_v4());
        assert_eq!(
            connect_host("127.0.0.1", port, &iotask, 2000).err(),
            Some(TcpConnectErrData::ConnectionRefused)
        );
    });
}

#[test]
fn get_addr_of_a_numeric_address_is_that_address() {
    bounded(10, || {
        let iotask = new_iotask();
        let addrs = t!(ip::get_addr("127.0.0.1", &iotask));
        assert_eq!(addrs, vec![localhost_v4()]);
    });
}

#[test]
fn get_addr_of_localhost_gives_only_loopback_addresses() {
    bounded(10, || {
        let iotask = new_iotask();
        let addrs: Vec<IpAddr> = t!(ip::get_addr("localhost", &iotask));
        assert!(!addrs.is_empty(), "localhost resolved to nothing");
        assert!(
            addrs.iter().all(IpAddr::is_loopback),
            "localhost resolved to {addrs:?}"
        );
    });
}

#[test]
fn get_addr_of_an_invalid_name_is_an_error() {
    bounded(15, || {
        let iotask = new_iotask();
        // `.invalid` never resolves (RFC 2606).
        let result = ip::get_addr("no-such-host.invalid", &iotask);
        let error = result.expect_err("an .invalid name resolved");
        assert!(!error.err_name.is_empty());
        assert!(!error.err_msg.is_empty());
    });
}

#[test]
fn socket_options_can_be_set_on_a_connected_socket() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        t!(client.set_nodelay(true));
        t!(client.set_nodelay(false));
        t!(client.set_keepalive(Some(Duration::from_secs(30))));
        t!(client.set_keepalive(None));
        t!(client.set_keepalive_ex(Duration::from_secs(30), Duration::from_secs(5), 3));
        client.set_read_buffer_limit(64 * 1024);
        client.set_write_buffer_limit(64 * 1024);
        // The socket still works.
        t!(client.write(&b"options"[..]));
        assert_eq!(t!(read_at_least(&server, 7)), b"options");
    });
}
