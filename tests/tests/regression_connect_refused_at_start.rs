//! A connect that libuv refuses before it starts (the address cannot be
//! reached at all) must report the error, not hang: the connect callback
//! then runs while the connect call is still on the stack.

use uvtcp::*;
use uvtcp_tests::*;

#[test]
fn connect_to_an_unreachable_address_fails_at_once() {
    bounded(10, || {
        let iotask = new_iotask();
        // TCP cannot connect to a multicast address: connect(2) fails at once.
        let multicast: std::net::IpAddr = "224.0.0.1".parse().unwrap();
        match connect(multicast, 9, &iotask) {
            Ok(_) => panic!("connected to a multicast address"),
            Err(TcpConnectErrData::GenericConnectErr(name, message)) => {
                assert!(!name.is_empty() && !message.is_empty(), "{name}: {message}");
            }
            Err(TcpConnectErrData::ConnectionRefused) => {}
        }
        // The loop goes on serving connections.
        let (client, server) = connected_pair(&iotask);
        t!(client.write(&b"still fine"[..]));
        assert_eq!(t!(read_at_least(&server, 10)), b"still fine");
    });
}
