//! The process-wide loop (`global_loop()`), in its own test binary because
//! its state is shared by every test of the process.

use std::thread;

use uvtcp::*;
use uvtcp_tests::*;

#[test]
fn global_loop_serves_a_listen_ping_pong() {
    bounded(10, || {
        let iotask = global_loop();
        let ip = localhost_v4();
        let port = free_port(ip);
        let server = t!(start_listen_server(ip, port, &iotask, |new_conn, kill| {
            accept_and_answer(new_conn, &kill, b"ping", b"pong")
        }));
        let client = t!(connect(ip, port, &iotask));
        t!(client.write(&b"ping"[..]));
        assert_eq!(t!(read_at_least(&client, 4)), b"pong");
        assert_eq!(server.join(), Ok(()));
    });
}

#[test]
fn global_loop_serves_threads_that_each_call_it() {
    bounded(15, || {
        let workers: Vec<_> = (0..8u8)
            .map(|index| {
                thread::spawn(move || {
                    let iotask = global_loop();
                    let (client, server) = connected_pair(&iotask);
                    t!(client.write(vec![index; 1000]));
                    drop(client);
                    assert_eq!(t!(read_to_eof(&server)), vec![index; 1000]);
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
    });
}

#[test]
fn global_loop_keeps_running_after_every_handle_is_dropped() {
    bounded(10, || {
        {
            let iotask = global_loop();
            let (client, server) = connected_pair(&iotask);
            t!(client.write(&b"one"[..]));
            assert_eq!(t!(read_at_least(&server, 3)), b"one");
        }
        // Every handle and socket of the first round is gone.
        let iotask = global_loop();
        let (client, server) = connected_pair(&iotask);
        t!(client.write(&b"two"[..]));
        assert_eq!(t!(read_at_least(&server, 3)), b"two");
    });
}

#[test]
fn global_loop_and_a_private_loop_talk_to_each_other() {
    bounded(10, || {
        let private = new_iotask();
        let (client, server) = connected_pair_on(localhost_v4(), &global_loop(), &private);
        t!(client.write(&b"across loops"[..]));
        assert_eq!(t!(read_at_least(&server, 12)), b"across loops");
        t!(server.write(&b"back"[..]));
        assert_eq!(t!(read_at_least(&client, 4)), b"back");
    });
}

#[test]
fn global_loop_connect_to_a_closed_port_is_connection_refused() {
    bounded(10, || {
        let port = free_port(localhost_v4());
        assert_eq!(
            connect(localhost_v4(), port, &global_loop()).err(),
            Some(TcpConnectErrData::ConnectionRefused)
        );
    });
}
