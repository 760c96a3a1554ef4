//! `listen` (kill channel, callbacks, unaccepted connections, `accept` on
//! another thread, the listening socket closed on return) and
//! `TcpListener` (the bounded queue of connections not handed out).

use std::collections::HashSet;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use uvtcp::*;
use uvtcp_tests::*;

#[test]
fn listen_killed_with_none_returns_ok() {
    bounded(10, || {
        let iotask = new_iotask();
        let server = t!(start_listen_server(
            localhost_v4(),
            free_port(localhost_v4()),
            &iotask,
            |_new_conn, _kill| panic!("no client connects in this test"),
        ));
        let _ = server.kill.send(None);
        assert_eq!(server.join(), Ok(()));
    });
}

#[test]
fn listen_killed_with_an_error_returns_generic_listen_err() {
    bounded(10, || {
        let iotask = new_iotask();
        let server = t!(start_listen_server(
            localhost_v4(),
            free_port(localhost_v4()),
            &iotask,
            |_new_conn, _kill| panic!("no client connects in this test"),
        ));
        let _ = server.kill.send(Some(TcpErrData {
            err_name: "EKILLED".to_string(),
            err_msg: "killed by the test".to_string(),
        }));
        assert_eq!(
            server.join(),
            Err(TcpListenErrData::GenericListenErr(
                "EKILLED".to_string(),
                "killed by the test".to_string()
            ))
        );
    });
}

#[test]
fn listen_can_be_killed_from_inside_on_establish_cb() {
    bounded(10, || {
        let iotask = new_iotask();
        let mut established = 0;
        let result = listen(
            localhost_v4(),
            free_port(localhost_v4()),
            128,
            &iotask,
            |kill| {
                established += 1;
                kill.send(None).unwrap();
            },
            |_new_conn, _kill| panic!("no client connects in this test"),
        );
        assert_eq!(result, Ok(()));
        assert_eq!(established, 1);
    });
}

#[test]
fn listen_calls_new_connect_cb_for_every_connection() {
    bounded(10, || {
        let iotask = new_iotask();
        let ip = localhost_v4();
        let port = free_port(ip);
        let mut served = 0;
        let server = t!(start_listen_server(
            ip,
            port,
            &iotask,
            move |new_conn, kill| {
                let sock = t!(accept(new_conn));
                let request = t!(read_at_least(&sock, 1));
                t!(sock.write(request));
                served += 1;
                if served == 5 {
                    let _ = kill.send(None);
                }
            }
        ));
        for index in 0..5u8 {
            let client = t!(connect(ip, port, &iotask));
            t!(client.write(vec![index]));
            assert_eq!(t!(read_at_least(&client, 1)), vec![index]);
        }
        assert_eq!(server.join(), Ok(()));
    });
}

#[test]
fn listening_socket_is_closed_before_listen_returns() {
    bounded(10, || {
        let iotask = new_iotask();
        let ip = localhost_v4();
        let port = free_port(ip);
        let server = t!(start_listen_server(
            ip,
            port,
            &iotask,
            |_new_conn, _kill| {}
        ));
        assert_eq!(server.stop(), Ok(()));
        assert_eq!(
            connect(ip, port, &iotask).err(),
            Some(TcpConnectErrData::ConnectionRefused)
        );
    });
}

#[test]
fn an_unaccepted_connection_is_closed() {
    bounded(15, || {
        let iotask = new_iotask();
        let ip = localhost_v4();
        let port = free_port(ip);
        let server = t!(start_listen_server(ip, port, &iotask, |new_conn, _kill| {
            drop(new_conn);
        }));
        let client = t!(connect(ip, port, &iotask));
        // The server is still listening: the connection was closed because
        // it was dropped, not because the listener went away.
        let error = client
            .read(READ_TIMEOUT_MS)
            .expect_err("read on an unaccepted connection returned data");
        assert!(
            error.err_name == "EOF" || error.err_name == "ECONNRESET",
            "expected EOF or ECONNRESET, got {error:?}"
        );
        assert_eq!(server.stop(), Ok(()));
    });
}

#[test]
fn accept_on_another_thread_after_the_callback_returned() {
    bounded(10, || {
        let iotask = new_iotask();
        let ip = localhost_v4();
        let port = free_port(ip);
        let (conn_sender, conn_receiver) = mpsc::channel::<TcpNewConnection>();
        let server = t!(start_listen_server(
            ip,
            port,
            &iotask,
            move |new_conn, _kill| {
                conn_sender.send(new_conn).unwrap();
            }
        ));
        let worker = thread::spawn(move || {
            let new_conn = conn_receiver.recv().unwrap();
            // Make sure the callback has returned before accepting.
            thread::sleep(Duration::from_millis(100));
            let sock = t!(accept(new_conn));
            assert_eq!(t!(read_at_least(&sock, 4)), b"ping");
            t!(sock.write(&b"pong"[..]));
            sock
        });
        let client = t!(connect(ip, port, &iotask));
        t!(client.write(&b"ping"[..]));
        assert_eq!(t!(read_at_least(&client, 4)), b"pong");
        drop(worker.join().unwrap());
        assert_eq!(server.stop(), Ok(()));
    });
}

#[test]
fn accepted_socket_outlives_listen() {
    bounded(10, || {
        let iotask = new_iotask();
        let ip = localhost_v4();
        let port = free_port(ip);
        let (sock_sender, sock_receiver) = mpsc::channel::<TcpSocket>();
        let server = t!(start_listen_server(
            ip,
            port,
            &iotask,
            move |new_conn, kill| {
                sock_sender.send(t!(accept(new_conn))).unwrap();
                let _ = kill.send(None);
            }
        ));
        let client = t!(connect(ip, port, &iotask));
        assert_eq!(server.join(), Ok(()));
        let sock = sock_receiver.recv().unwrap();
        t!(client.write(&b"still here"[..]));
        assert_eq!(t!(read_at_least(&sock, 10)), b"still here");
    });
}

#[test]
fn tcp_listener_bind_on_port_zero_picks_a_free_port() {
    bounded(10, || {
        let iotask = new_iotask();
        let listener = t!(TcpListener::bind(localhost_v4(), 0, 16, &iotask));
        let addr = t!(listener.local_addr());
        assert_eq!(addr.ip(), localhost_v4());
        assert_ne!(addr.port(), 0);
    });
}

#[test]
fn tcp_listener_bind_on_a_port_in_use_is_address_in_use() {
    bounded(10, || {
        let iotask = new_iotask();
        let holder = std::net::TcpListener::bind((localhost_v4(), 0)).unwrap();
        let port = holder.local_addr().unwrap().port();
        let result = TcpListener::bind(localhost_v4(), port, 16, &iotask);
        assert_eq!(result.err(), Some(TcpListenErrData::AddressInUse));
    });
}

#[test]
fn tcp_listener_accept_timeout_is_etimedout() {
    bounded(10, || {
        let iotask = new_iotask();
        let listener = t!(TcpListener::bind(localhost_v4(), 0, 16, &iotask));
        let error = listener
            .accept_timeout(100)
            .map(|_| ())
            .expect_err("accept_timeout with no client returned Ok");
        assert_eq!(error.err_name, "ETIMEDOUT");
        // A client arriving later is still accepted.
        let port = t!(listener.local_addr()).port();
        let client = t!(connect(localhost_v4(), port, &iotask));
        let server = t!(listener.accept_timeout(READ_TIMEOUT_MS));
        assert_eq!(t!(server.peer_addr()), t!(client.local_addr()));
    });
}

#[test]
fn tcp_listener_accept_blocks_until_a_client_connects() {
    bounded(10, || {
        let iotask = new_iotask();
        let listener = t!(TcpListener::bind(localhost_v4(), 0, 16, &iotask));
        let port = t!(listener.local_addr()).port();
        let client_task = iotask.clone();
        let client = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            t!(connect(localhost_v4(), port, &client_task))
        });
        let server = t!(listener.accept());
        let client = client.join().unwrap();
        assert_eq!(t!(server.peer_addr()), t!(client.local_addr()));
    });
}

#[test]
fn tcp_listener_incoming_yields_each_connection() {
    bounded(10, || {
        let iotask = new_iotask();
        let listener = t!(TcpListener::bind(localhost_v4(), 0, 16, &iotask));
        let port = t!(listener.local_addr()).port();
        let clients: Vec<TcpSocket> = (0..3)
            .map(|_| t!(connect(localhost_v4(), port, &iotask)))
            .collect();
        let mut client_addrs: Vec<_> = clients.iter().map(|c| t!(c.local_addr())).collect();
        let mut peer_addrs: Vec<_> = listener
            .incoming()
            .take(3)
            .map(|sock| t!(t!(sock).peer_addr()))
            .collect();
        client_addrs.sort();
        peer_addrs.sort();
        assert_eq!(peer_addrs, client_addrs);
    });
}

#[test]
fn tcp_listener_accept_future_resolves_to_a_socket() {
    bounded(10, || {
        let iotask = new_iotask();
        let listener = t!(TcpListener::bind(localhost_v4(), 0, 16, &iotask));
        let port = t!(listener.local_addr()).port();
        let future = listener.accept_future();
        let client = t!(connect(localhost_v4(), port, &iotask));
        let server = t!(future.get());
        t!(client.write(&b"hi"[..]));
        assert_eq!(t!(read_at_least(&server, 2)), b"hi");
    });
}

#[test]
fn dropping_a_tcp_listener_closes_connections_it_did_not_hand_out() {
    bounded(15, || {
        let iotask = new_iotask();
        let listener = t!(TcpListener::bind(localhost_v4(), 0, 16, &iotask));
        let port = t!(listener.local_addr()).port();
        let client = t!(connect(localhost_v4(), port, &iotask));
        drop(listener);
        let error = client
            .read(READ_TIMEOUT_MS)
            .expect_err("read on a connection never handed out returned data");
        assert!(
            error.err_name == "EOF" || error.err_name == "ECONNRESET",
            "expected EOF or ECONNRESET, got {error:?}"
        );
        assert_eq!(
            connect(localhost_v4(), port, &iotask).err(),
            Some(TcpConnectErrData::ConnectionRefused)
        );
    });
}

#[test]
fn tcp_listener_works_over_ipv6() {
    if !ipv6_loopback_available() {
        eprintln!("skipping: ::1 cannot be bound on this machine");
        return;
    }
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair_on(localhost_v6(), &iotask, &iotask);
        assert_eq!(t!(server.peer_addr()).ip(), localhost_v6());
        t!(client.write(&b"six"[..]));
        assert_eq!(t!(read_at_least(&server, 3)), b"six");
    });
}

#[test]
fn a_listener_on_the_ipv6_any_address_also_accepts_ipv4_clients() {
    if !ipv6_loopback_available() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    bounded(10, || {
        let iotask = new_iotask();
        let any_v6: std::net::IpAddr = "::".parse().unwrap();
        let listener = t!(TcpListener::bind(any_v6, 0, 16, &iotask));
        let port = t!(listener.local_addr()).port();
        let client = t!(connect(localhost_v4(), port, &iotask));
        let server = t!(listener.accept_timeout(READ_TIMEOUT_MS));
        t!(client.write(&b"dual"[..]));
        assert_eq!(t!(read_at_least(&server, 4)), b"dual");
    });
}

/// The descriptors of this process that are the server side of a TCP
/// connection on local `port` (IPv4): sockets in `/proc/self/fd` whose
/// inode `/proc/net/tcp` lists with that local port, in a state other than
/// LISTEN. Connections still in the kernel's backlog have no descriptor.
fn server_side_descriptors(port: u16) -> usize {
    const LISTEN: &str = "0A";
    let table = t!(std::fs::read_to_string("/proc/net/tcp"));
    let inodes: HashSet<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields.get(1)?.rsplit(':').next()?;
            let local_port = u16::from_str_radix(local_port, 16).ok()?;
            let is_server_side = local_port == port && *fields.get(3)? != LISTEN;
            is_server_side.then(|| fields.get(9).map(|inode| inode.to_string()))?
        })
        .collect();
    t!(std::fs::read_dir("/proc/self/fd"))
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| {
            let target = target.to_string_lossy();
            let inode = target
                .strip_prefix("socket:[")
                .and_then(|rest| rest.strip_suffix(']'));
            inode.is_some_and(|inode| inodes.contains(inode))
        })
        .count()
}

#[test]
fn a_listener_holds_at_most_backlog_connections_nobody_accepted() {
    const CLIENTS: usize = 200;
    const BACKLOG: u32 = 4;
    bounded(90, || {
        let server_task = new_iotask();
        let client_task = new_iotask();
        let ip = localhost_v4();
        let listener = t!(TcpListener::bind(ip, 0, BACKLOG, &server_task));
        let port = t!(listener.local_addr()).port();
        let connects: Vec<_> = (0..CLIENTS)
            .map(|_| connect_future(ip, port, &client_task))
            .collect();
        // Nobody accepts for a second: the listener takes what it may.
        let started = Instant::now();
        let mut most_held = 0;
        while started.elapsed() < Duration::from_secs(1) {
            most_held = most_held.max(server_side_descriptors(port));
            thread::sleep(Duration::from_millis(20));
        }
        assert!(
            most_held <= BACKLOG as usize,
            "the listener held {most_held} connections nobody accepted, more than its backlog of {BACKLOG}"
        );
        // Then every connection is accepted and works, also those that
        // waited in the kernel's backlog.
        let (accepted_sender, accepted) = mpsc::channel();
        let acceptor = thread::spawn(move || {
            for _ in 0..CLIENTS {
                accepted_sender
                    .send(t!(listener.accept_timeout(60_000)))
                    .unwrap();
            }
        });
        let clients: Vec<TcpSocket> = connects
            .into_iter()
            .map(|connect| t!(connect.get()))
            .collect();
        // Most clients count as connected although the server dropped the
        // last packet of their handshake, its backlog being full; their
        // first bytes complete it. They are sent a few at a time: a burst
        // would overflow the backlog again, and each dropped connection
        // would wait for a retransmission (hundreds of ms, then doubling).
        let mut served = Vec::with_capacity(CLIENTS);
        let take_next = |served: &mut Vec<TcpSocket>| {
            let next = accepted.recv_timeout(Duration::from_secs(60));
            served.push(next.expect("a connection was never accepted"));
        };
        for (index, client) in clients.iter().enumerate() {
            t!(client.write(vec![index as u8]));
            while served.len() + (BACKLOG as usize) <= index {
                take_next(&mut served);
            }
        }
        while served.len() < CLIENTS {
            take_next(&mut served);
        }
        acceptor.join().unwrap();
        for server_side in &served {
            let byte = t!(read_at_least(server_side, 1));
            t!(server_side.write(byte));
        }
        for (index, client) in clients.iter().enumerate() {
            assert_eq!(t!(read_at_least(client, 1)), vec![index as u8]);
        }
        eprintln!(
            "accepted and echoed {CLIENTS} connections after {:?}",
            started.elapsed()
        );
    });
}

#[test]
fn a_listener_with_backlog_zero_still_hands_out_every_connection() {
    bounded(20, || {
        let iotask = new_iotask();
        let ip = localhost_v4();
        let listener = t!(TcpListener::bind(ip, 0, 0, &iotask));
        let port = t!(listener.local_addr()).port();
        for index in 0..5u8 {
            // A future dropped before its connection arrived loses nothing.
            drop(listener.accept_future());
            let client = t!(connect(ip, port, &iotask));
            let server_side = if index % 2 == 0 {
                t!(listener.accept_timeout(READ_TIMEOUT_MS))
            } else {
                t!(listener.accept_future().get())
            };
            assert_eq!(t!(server_side.peer_addr()), t!(client.local_addr()));
            t!(client.write(vec![index]));
            assert_eq!(t!(read_at_least(&server_side, 1)), vec![index]);
        }
    });
}

#[test]
fn connects_right_after_listen_returns_are_refused() {
    const ROUNDS: usize = 200;
    bounded(60, || {
        let iotask = new_iotask();
        let ip = localhost_v4();
        for round in 0..ROUNDS {
            let port = free_port(ip);
            let result = listen(
                ip,
                port,
                128,
                &iotask,
                |kill| kill.send(None).unwrap(),
                |_new_conn, _kill| panic!("no client connects while the server runs"),
            );
            assert_eq!(result, Ok(()));
            match std::net::TcpStream::connect((ip, port)) {
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {}
                Err(error) => panic!(
                    "round {round}: a connect right after listen returned failed with {error}, not ECONNREFUSED"
                ),
                Ok(_) => {
                    panic!("round {round}: a connect right after listen returned was accepted")
                }
            }
        }
    });
}
