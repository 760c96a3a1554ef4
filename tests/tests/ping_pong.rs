//! Ports of the classic `net::tcp` server/client tests: ping/pong through
//! `listen` / `accept` / `connect` over IPv4 and IPv6, on private I/O tasks.

use std::net::IpAddr;

use uvtcp::*;
use uvtcp_tests::*;

fn ping_pong_through_listen(ip: IpAddr) {
    let iotask = new_iotask();
    let port = free_port(ip);
    let server = t!(start_listen_server(ip, port, &iotask, |new_conn, kill| {
        accept_and_answer(new_conn, &kill, b"ping", b"pong")
    },));

    let client = t!(connect(ip, port, &iotask));
    t!(client.write(&b"ping"[..]));
    let reply = t!(read_at_least(&client, 4));
    assert_eq!(reply, b"pong");

    // The callback sent `None` on the kill channel after answering.
    assert_eq!(server.join(), Ok(()));
}

#[test]
fn server_and_client_ping_pong_over_ipv4() {
    bounded(10, || ping_pong_through_listen(localhost_v4()));
}

#[test]
fn server_and_client_ping_pong_over_ipv6() {
    if !ipv6_loopback_available() {
        eprintln!("skipping: ::1 cannot be bound on this machine");
        return;
    }
    bounded(10, || ping_pong_through_listen(localhost_v6()));
}

#[test]
fn client_and_server_each_see_the_other_as_peer_addr() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let client_peer = t!(client.peer_addr());
        let client_local = t!(client.local_addr());
        let server_peer = t!(server.peer_addr());
        let server_local = t!(server.local_addr());
        assert_eq!(client_peer, server_local);
        assert_eq!(server_peer, client_local);
        assert_eq!(client_peer.ip(), localhost_v4());
        assert_eq!(server_peer.ip(), localhost_v4());
        assert_ne!(client_local.port(), 0);
    });
}

#[test]
fn peer_addr_through_listen_is_the_clients_local_addr() {
    bounded(10, || {
        let iotask = new_iotask();
        let ip = localhost_v4();
        let port = free_port(ip);
        let (peer_sender, peer_receiver) = std::sync::mpsc::channel();
        let server = t!(start_listen_server(
            ip,
            port,
            &iotask,
            move |new_conn, kill| {
                let sock = t!(accept(new_conn));
                peer_sender.send(t!(sock.peer_addr())).unwrap();
                let _ = kill.send(None);
            }
        ));
        let client = t!(connect(ip, port, &iotask));
        let seen_by_server = peer_receiver.recv().unwrap();
        assert_eq!(seen_by_server, t!(client.local_addr()));
        assert_eq!(t!(client.peer_addr()).port(), port);
        assert_eq!(server.join(), Ok(()));
    });
}

#[test]
fn connect_to_a_closed_port_is_connection_refused() {
    bounded(10, || {
        let iotask = new_iotask();
        let port = free_port(localhost_v4());
        let result = connect(localhost_v4(), port, &iotask);
        assert_eq!(result.err(), Some(TcpConnectErrData::ConnectionRefused));
    });
}

#[test]
fn listen_on_a_port_held_by_a_std_listener_is_address_in_use() {
    bounded(10, || {
        let iotask = new_iotask();
        let holder = std::net::TcpListener::bind((localhost_v4(), 0)).unwrap();
        let port = holder.local_addr().unwrap().port();
        let mut established = false;
        let mut connections = 0;
        let result = listen(
            localhost_v4(),
            port,
            128,
            &iotask,
            |_kill| established = true,
            |_new_conn, _kill| connections += 1,
        );
        assert_eq!(result, Err(TcpListenErrData::AddressInUse));
        assert!(!established, "on_establish_cb ran although bind failed");
        assert_eq!(connections, 0);
        drop(holder);
    });
}

#[test]
fn listen_on_port_80_as_non_root_is_access_denied() {
    match effective_uid() {
        Some(0) => {
            eprintln!("skipping: running as root, port 80 is not privileged for us");
            return;
        }
        None => {
            eprintln!("skipping: cannot read the effective uid from /proc/self/status");
            return;
        }
        Some(_) => {}
    }
    // The kernel may have lowered the privileged range, or granted us
    // CAP_NET_BIND_SERVICE: probe with std first.
    match std::net::TcpListener::bind((localhost_v4(), 80)) {
        Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {}
        other => {
            eprintln!("skipping: binding port 80 with std gave {other:?}, not PermissionDenied");
            return;
        }
    }
    bounded(10, || {
        let iotask = new_iotask();
        let mut established = false;
        let result = listen(
            localhost_v4(),
            80,
            128,
            &iotask,
            |_kill| established = true,
            |_new_conn, _kill| {},
        );
        assert_eq!(result, Err(TcpListenErrData::AccessDenied));
        assert!(!established, "on_establish_cb ran although bind failed");
    });
}
