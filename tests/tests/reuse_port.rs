//! `TcpListener::bind_reuse_port`: listeners on several `IoTask`s sharing
//! one port, the kernel spreading connections over them, and the
//! `AddressInUse` cases where reuse-port and plain listeners meet.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use uvtcp::*;
use uvtcp_tests::*;

/// Accepts from `listener` until no connection came for half a second.
fn accept_all(listener: &TcpListener) -> Vec<TcpSocket> {
    let mut accepted = Vec::new();
    loop {
        match listener.accept_timeout(500) {
            Ok(socket) => accepted.push(socket),
            Err(error) if error.err_name == "ETIMEDOUT" => return accepted,
            Err(error) => panic!("accept failed with {error:?}"),
        }
    }
}

#[test]
fn reuse_port_listeners_on_two_io_tasks_share_the_connections() {
    const CLIENTS: usize = 64;
    bounded(30, || {
        let (first_task, second_task, client_task) = (new_iotask(), new_iotask(), new_iotask());
        let ip = localhost_v4();
        let first = t!(TcpListener::bind_reuse_port(ip, 0, 128, &first_task));
        let port = t!(first.local_addr()).port();
        let second = t!(TcpListener::bind_reuse_port(ip, port, 128, &second_task));
        // The kernel picks a listener by a hash of the client's address and
        // port: with 64 clients, both get some (all on one: odds 2^-63).
        let clients: Vec<TcpSocket> = (0..CLIENTS)
            .map(|_| t!(connect(ip, port, &client_task)))
            .collect();
        let on_first = accept_all(&first);
        let on_second = accept_all(&second);
        assert!(
            !on_first.is_empty() && !on_second.is_empty(),
            "one listener got every connection: {} and {}",
            on_first.len(),
            on_second.len()
        );
        let mut client_addrs: Vec<SocketAddr> = clients
            .iter()
            .map(|client| t!(client.local_addr()))
            .collect();
        let mut peer_addrs: Vec<SocketAddr> = on_first
            .iter()
            .chain(&on_second)
            .map(|server_side| t!(server_side.peer_addr()))
            .collect();
        client_addrs.sort();
        peer_addrs.sort();
        assert_eq!(peer_addrs, client_addrs, "each client is accepted once");
        // Every connection works, whichever loop serves it.
        for (index, client) in clients.iter().enumerate() {
            t!(client.write(vec![index as u8]));
        }
        for server_side in on_first.iter().chain(&on_second) {
            let byte = t!(read_at_least(server_side, 1));
            t!(server_side.write(byte));
        }
        for (index, client) in clients.iter().enumerate() {
            assert_eq!(t!(read_at_least(client, 1)), vec![index as u8]);
        }
    });
}

/// Echoes what the client sends until it closes its side.
async fn echo(socket: TcpSocket) {
    let Ok(port) = socket.read_start() else {
        return;
    };
    while let Ok(chunk) = port.recv_async().await {
        if socket.write_future(chunk).await.is_err() {
            return;
        }
    }
}

#[test]
fn each_loop_serves_its_share_with_local_tasks() {
    const CLIENTS: usize = 32;
    bounded(30, || {
        let ip = localhost_v4();
        let tasks = [new_iotask(), new_iotask()];
        let first = t!(TcpListener::bind_reuse_port(ip, 0, 128, &tasks[0]));
        let port = t!(first.local_addr()).port();
        let second = t!(TcpListener::bind_reuse_port(ip, port, 128, &tasks[1]));
        // Each loop accepts in a local task and echoes each connection in a
        // task of its own; connections past CLIENTS stop the acceptors.
        let accepted = Arc::new(AtomicUsize::new(0));
        let servers: Vec<Future<usize>> = tasks
            .iter()
            .zip([first, second])
            .map(|(task, listener)| {
                let (spawner, accepted) = (task.clone(), Arc::clone(&accepted));
                task.spawn_local(move || async move {
                    let mut served = 0;
                    loop {
                        let socket = t!(listener.accept_future().await);
                        if accepted.fetch_add(1, Ordering::SeqCst) >= CLIENTS {
                            return served;
                        }
                        served += 1;
                        drop(spawner.spawn_local(move || echo(socket)));
                    }
                })
            })
            .collect();
        let clients: Vec<std::net::TcpStream> = (0..CLIENTS)
            .map(|_| t!(std::net::TcpStream::connect((ip, port))))
            .collect();
        for (index, mut client) in clients.iter().enumerate() {
            t!(std::io::Write::write_all(&mut client, &[index as u8]));
        }
        for (index, mut client) in clients.iter().enumerate() {
            t!(client.set_read_timeout(Some(Duration::from_secs(5))));
            let mut echoed = [0];
            t!(std::io::Read::read_exact(&mut client, &mut echoed));
            assert_eq!(echoed, [index as u8]);
        }
        // A connection to a loop whose acceptor still runs stops it.
        let mut extra = 0;
        while !servers.iter().all(Future::is_ready) {
            assert!(
                extra < 200,
                "an acceptor never saw a connection past {CLIENTS}"
            );
            drop(t!(std::net::TcpStream::connect((ip, port))));
            extra += 1;
            thread::sleep(Duration::from_millis(5));
        }
        let served: Vec<usize> = servers.into_iter().map(Future::get).collect();
        assert_eq!(served.iter().sum::<usize>(), CLIENTS);
        assert!(
            served.iter().all(|&count| count > 0),
            "one loop served every connection: {served:?}"
        );
    });
}

#[test]
fn reuse_port_on_port_zero_picks_a_port_the_others_then_pass() {
    bounded(10, || {
        let tasks = [new_iotask(), new_iotask(), new_iotask()];
        let ip = localhost_v4();
        let first = t!(TcpListener::bind_reuse_port(ip, 0, 16, &tasks[0]));
        let address = t!(first.local_addr());
        assert_eq!(address.ip(), ip);
        assert_ne!(address.port(), 0);
        let others: Vec<TcpListener> = tasks[1..]
            .iter()
            .map(|task| t!(TcpListener::bind_reuse_port(ip, address.port(), 16, task)))
            .collect();
        for other in &others {
            assert_eq!(t!(other.local_addr()), address);
        }
    });
}

#[test]
fn a_plain_bind_on_a_port_held_by_reuse_port_listeners_is_address_in_use() {
    bounded(10, || {
        let (first_task, second_task) = (new_iotask(), new_iotask());
        let ip = localhost_v4();
        let shared = t!(TcpListener::bind_reuse_port(ip, 0, 16, &first_task));
        let port = t!(shared.local_addr()).port();
        let plain = TcpListener::bind(ip, port, 16, &second_task);
        assert_eq!(plain.err(), Some(TcpListenErrData::AddressInUse));
    });
}

#[test]
fn reuse_port_on_a_port_held_by_a_plain_listener_is_address_in_use() {
    bounded(10, || {
        let (first_task, second_task) = (new_iotask(), new_iotask());
        let ip = localhost_v4();
        let plain = t!(TcpListener::bind(ip, 0, 16, &first_task));
        let port = t!(plain.local_addr()).port();
        let shared = TcpListener::bind_reuse_port(ip, port, 16, &second_task);
        assert_eq!(shared.err(), Some(TcpListenErrData::AddressInUse));
    });
}

#[test]
fn reuse_port_works_over_ipv6() {
    if !ipv6_loopback_available() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    bounded(10, || {
        let (first_task, second_task) = (new_iotask(), new_iotask());
        let ip = localhost_v6();
        let first = t!(TcpListener::bind_reuse_port(ip, 0, 16, &first_task));
        let port = t!(first.local_addr()).port();
        let second = t!(TcpListener::bind_reuse_port(ip, port, 16, &second_task));
        let client = t!(connect(ip, port, &first_task));
        let mut accepted = accept_all(&first);
        accepted.extend(accept_all(&second));
        assert_eq!(accepted.len(), 1);
        assert_eq!(t!(accepted[0].peer_addr()), t!(client.local_addr()));
    });
}
