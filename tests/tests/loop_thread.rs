//! Socket operations issued on the loop thread, from local tasks
//! (`IoTask::spawn_local`): on the socket's own loop they run at once, so
//! setters return their real result and a small write is done before
//! `write_future` returns; sockets of another `IoTask` work too; a socket
//! dropped in a task closes gracefully; tasks spawn tasks; 64 MiB echo
//! through local tasks intact.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use uvtcp::*;
use uvtcp_tests::*;

const CHUNK: usize = 256 * 1024;

/// Chunk `index` of a transfer: a shared random block stamped with its index.
fn stamped_chunk(block: &[u8], index: u64) -> Vec<u8> {
    let mut chunk = block.to_vec();
    chunk[..8].copy_from_slice(&index.to_le_bytes());
    chunk
}

/// Awaits one-shot reads on `sock` until `n_bytes` bytes have arrived.
async fn read_future_at_least(sock: &TcpSocket, n_bytes: usize) -> Vec<u8> {
    let mut received = Vec::new();
    while received.len() < n_bytes {
        received.extend(t!(sock.read_future(READ_TIMEOUT_MS).await));
    }
    received
}

#[test]
fn setters_on_the_sockets_own_loop_return_their_real_result() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let (outcomes, client) = iotask
            .spawn_local(move || async move {
                let thirty = Duration::from_secs(30);
                let five = Duration::from_secs(5);
                let outcomes = vec![
                    client.set_nodelay(true),
                    client.set_nodelay(false),
                    client.set_keepalive(Some(thirty)),
                    client.set_keepalive(None),
                    client.set_keepalive_ex(thirty, five, 3),
                    // libuv refuses a probe count of zero: only a call
                    // that ran before returning can report it.
                    client.set_keepalive_ex(thirty, five, 0),
                ];
                (outcomes, client)
            })
            .get();
        let names: Vec<_> = outcomes
            .into_iter()
            .map(|outcome| outcome.err().map(|error| error.err_name))
            .collect();
        assert_eq!(names[..5], [None, None, None, None, None]);
        assert_eq!(names[5].as_deref(), Some("EINVAL"));
        // The same call off the loop agrees.
        let error = client
            .set_keepalive_ex(Duration::from_secs(30), Duration::from_secs(5), 0)
            .expect_err("a probe count of zero was accepted");
        assert_eq!(error.err_name, "EINVAL");
        // The socket still works.
        t!(client.write(&b"still fine"[..]));
        assert_eq!(t!(read_at_least(&server, 10)), b"still fine");
    });
}

#[test]
fn close_reset_on_the_sockets_own_loop_resets_the_peer() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let reset = iotask.spawn_local(move || async move { server.close_reset() });
        t!(reset.get());
        let error = client
            .read(READ_TIMEOUT_MS)
            .expect_err("the peer of a reset socket read bytes");
        assert_eq!(error.err_name, "ECONNRESET");
    });
}

#[test]
fn a_small_write_on_the_sockets_own_loop_is_done_before_write_future_returns() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let task = iotask.spawn_local(move || async move {
            let write = server.write_future(&b"taken whole"[..]);
            let ready = write.is_ready();
            let queued = server.write_queue_size();
            let outcome = write.await;
            let flush = server.flush_future();
            let flushed_at_once = flush.is_ready();
            (ready, queued, outcome, flushed_at_once, flush.await, server)
        });
        let (ready, queued, outcome, flushed_at_once, flushed, _server) = task.get();
        assert!(
            ready,
            "the kernel took 11 bytes, yet the future was pending"
        );
        assert_eq!(queued, 0);
        assert_eq!(outcome, Ok(()));
        assert!(flushed_at_once, "a flush with nothing queued was pending");
        assert_eq!(flushed, Ok(()));
        assert_eq!(t!(read_at_least(&client, 11)), b"taken whole");
    });
}

#[test]
fn a_local_task_connects_accepts_reads_and_writes_with_futures() {
    bounded(10, || {
        let iotask = new_iotask();
        let listener = t!(TcpListener::bind(localhost_v4(), 0, 16, &iotask));
        let port = t!(listener.local_addr()).port();
        let here = iotask.clone();
        let task = iotask.spawn_local(move || async move {
            let accepted = listener.accept_future();
            let client = t!(connect_future(localhost_v4(), port, &here).await);
            let server = t!(accepted.await);
            assert_eq!(t!(server.peer_addr()), t!(client.local_addr()));

            t!(client.write_future("ping").await);
            assert_eq!(read_future_at_least(&server, 4).await, b"ping");

            t!(server.write_future("pong").await);
            let read_port = t!(client.read_start());
            let mut received = Vec::new();
            while received.len() < 4 {
                received.extend(t!(read_port.recv_async().await));
            }
            assert_eq!(received, b"pong");
            t!(client.read_stop(read_port));

            // A one-shot read times out on the loop's timer; the byte that
            // comes later is not lost.
            let error = client
                .read_future(50)
                .await
                .expect_err("a read with nothing sent returned bytes");
            assert_eq!(error.err_name, "ETIMEDOUT");
            t!(server.write_future("late").await);
            assert_eq!(read_future_at_least(&client, 4).await, b"late");

            drop(server);
            let end = client
                .read_future(READ_TIMEOUT_MS)
                .await
                .expect_err("bytes after the peer closed");
            end.err_name
        });
        assert_eq!(task.get(), "EOF");
    });
}

#[test]
fn one_shot_reads_and_ports_in_turn_in_a_task_keep_every_byte_in_order() {
    bounded(60, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let total = 8 << 20;
        let payload = pattern(total, 22);
        let expected = Checksum::of(&payload);
        let writer = thread::spawn(move || {
            for piece in payload.chunks(100_000) {
                t!(client.write(piece));
            }
            client
        });
        let received = iotask.spawn_local(move || async move {
            let mut received = Vec::with_capacity(total);
            let mut round = 0;
            while received.len() < total {
                // A few one-shot reads (each leaving a chunk of read-ahead),
                // then a port for a while, then one-shot reads again.
                if round % 2 == 0 {
                    for _ in 0..3 {
                        if received.len() < total {
                            received.extend(t!(server.read_future(READ_TIMEOUT_MS).await));
                        }
                    }
                } else {
                    let read_port = t!(server.read_start());
                    for _ in 0..5 {
                        if received.len() < total {
                            received.extend(t!(read_port.recv_async().await));
                        }
                    }
                    t!(server.read_stop(read_port));
                }
                round += 1;
            }
            received
        });
        let received = received.get();
        let _client = writer.join().unwrap();
        assert_eq!(received.len(), total);
        assert_eq!(Checksum::of(&received), expected);
    });
}

#[test]
fn a_socket_of_another_io_task_works_from_a_local_task() {
    bounded(10, || {
        let task_loop = new_iotask();
        let socket_loop = new_iotask();
        let (client, server) = connected_pair(&socket_loop);
        let task = task_loop.spawn_local(move || async move {
            t!(server.set_nodelay(true));
            t!(server.write_future("from another loop").await);
            assert_eq!(read_future_at_least(&server, 8).await, b"question");
            t!(server.write_future("answer").await);
            let read_port = t!(server.read_start());
            let mut received = Vec::new();
            while received.len() < 6 {
                received.extend(t!(read_port.recv_async().await));
            }
            t!(server.read_stop(read_port));
            // Dropped here, on the task's loop: closed on its own loop.
            drop(server);
            received
        });
        assert_eq!(t!(read_at_least(&client, 17)), b"from another loop");
        t!(client.write(&b"question"[..]));
        assert_eq!(t!(read_at_least(&client, 6)), b"answer");
        t!(client.write(&b"second"[..]));
        assert_eq!(task.get(), b"second");
        assert_eq!(t!(read_to_eof(&client)), Vec::<u8>::new());
    });
}

#[test]
fn dropping_a_socket_inside_a_local_task_sends_every_byte_then_eof() {
    bounded(30, || {
        // The socket on the task's own loop, then on another loop.
        for same_loop in [true, false] {
            let task_loop = new_iotask();
            let other_loop = new_iotask();
            let socket_loop = if same_loop { &task_loop } else { &other_loop };
            let (client, server) = connected_pair(socket_loop);
            let payload = pattern(16 << 20, 21);
            let expected = Checksum::of(&payload);
            let written = task_loop.spawn_local(move || async move {
                // More than the kernel holds while the peer does not read.
                let write = server.write_future(payload);
                let pending = !write.is_ready();
                drop(write);
                drop(server);
                pending
            });
            assert!(written.get(), "16 MiB fit in the kernel of an idle peer");
            let received = t!(read_to_eof(&client));
            assert_eq!(Checksum::of(&received), expected, "same loop: {same_loop}");
        }
    });
}

#[test]
fn close_future_in_a_task_reports_the_outcome_of_the_graceful_close() {
    bounded(30, || {
        let iotask = new_iotask();
        // The peer reads everything: Ok once every byte and the FIN are out.
        let (client, server) = connected_pair(&iotask);
        let payload = pattern(16 << 20, 23);
        let expected = Checksum::of(&payload);
        let closed = iotask.spawn_local(move || async move {
            drop(server.write_future(payload));
            server.close_future().await
        });
        assert_eq!(Checksum::of(&t!(read_to_eof(&client))), expected);
        assert_eq!(closed.get(), Ok(()));

        // The peer never reads: the close timeout resets the connection.
        let (client, server) = connected_pair(&iotask);
        let closed = iotask.spawn_local(move || async move {
            server.set_close_timeout(Some(Duration::from_millis(200)));
            drop(server.write_future(pattern(16 << 20, 24)));
            server.close_future().await
        });
        let error = closed
            .get()
            .expect_err("a close the peer never let finish was Ok");
        assert_eq!(error.err_name, "ETIMEDOUT");
        let mut end = Ok(());
        while end.is_ok() {
            end = client.read(READ_TIMEOUT_MS).map(drop);
        }
        assert_eq!(end.unwrap_err().err_name, "ECONNRESET");
    });
}

#[test]
fn a_local_task_spawns_tasks_on_its_own_loop_and_on_another() {
    bounded(10, || {
        let first = new_iotask();
        let second = new_iotask();
        let here = first.clone();
        let task = first.spawn_local(move || async move {
            let mine = thread::current().id();
            let same = here.spawn_local(|| async { thread::current().id() });
            let other = second.spawn_local(|| async { thread::current().id() });
            // Spawning returned at once: neither child has run yet on this
            // thread, which is busy running this task.
            let ready_at_once = same.is_ready();
            (mine, ready_at_once, same.await, other.await)
        });
        let (mine, ready_at_once, same, other) = task.get();
        assert!(
            !ready_at_once,
            "a task spawned on the loop thread ran inside spawn_local"
        );
        assert_eq!(same, mine);
        assert_ne!(other, mine);
        assert_ne!(other, thread::current().id());
    });
}

#[test]
fn sixty_four_mib_echo_through_local_tasks_arrives_intact() {
    bounded(120, || {
        let total = 64 << 20;
        let n_chunks = (total / CHUNK) as u64;
        let server_loop = new_iotask();
        let client_loop = new_iotask();
        let listener = t!(TcpListener::bind(localhost_v4(), 0, 16, &server_loop));
        let port = t!(listener.local_addr()).port();
        let echo = server_loop.spawn_local(move || async move {
            let server = t!(listener.accept_future().await);
            let read_port = t!(server.read_start());
            let mut echoed = 0;
            loop {
                match read_port.recv_async().await {
                    Ok(chunk) => {
                        echoed += chunk.len();
                        t!(server.write_future(chunk).await);
                    }
                    Err(error) if is_eof(&error) => break,
                    Err(error) => panic!("echo read failed after {echoed} bytes: {error:?}"),
                }
            }
            echoed
        });
        let here = client_loop.clone();
        let client = client_loop.spawn_local(move || async move {
            let socket = Arc::new(t!(connect_future(localhost_v4(), port, &here).await));
            let reading = Arc::clone(&socket);
            let reader = here.spawn_local(move || async move {
                let mut received = Checksum::new();
                while received.n_bytes() < total as u64 {
                    received.update(&t!(reading.read_future(READ_TIMEOUT_MS).await));
                }
                received
            });
            let block = pattern(CHUNK, 64);
            let mut sent = Checksum::new();
            for index in 0..n_chunks {
                let chunk = stamped_chunk(&block, index);
                sent.update(&chunk);
                t!(socket.write_future(chunk).await);
            }
            (sent, reader.await)
        });
        let (sent, received) = client.get();
        assert_eq!(sent.n_bytes(), total as u64);
        assert_eq!(received, sent);
        // The client socket was dropped with its task: the echo saw EOF.
        assert_eq!(echo.get(), total);
    });
}
