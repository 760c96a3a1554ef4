//! `read_start` / `read_stop` and `ReadPort`: no byte lost or reordered
//! across stops and restarts, `EALREADY` / `EINVAL`, iteration to EOF.

use std::thread;
use std::time::Duration;

use uvtcp::*;
use uvtcp_tests::*;

const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// The numbered messages `0..count`, each `"<i>;"`.
fn numbered_messages(count: usize) -> Vec<String> {
    (0..count).map(|index| format!("{index};")).collect()
}

#[test]
fn read_start_stop_start_keeps_every_byte_in_order() {
    bounded(30, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let messages = numbered_messages(2000);
        let expected: Vec<u8> = messages.concat().into_bytes();
        let writer = thread::spawn(move || {
            for (index, message) in messages.into_iter().enumerate() {
                t!(client.write(message));
                if index % 97 == 0 {
                    thread::sleep(Duration::from_millis(1));
                }
            }
            client
        });

        let mut received = Vec::new();
        let mut round = 0usize;
        while received.len() < expected.len() {
            round += 1;
            let port = t!(server.read_start());
            // Take a varying number of chunks, sometimes none, then stop.
            for _ in 0..(round % 4) {
                if received.len() >= expected.len() {
                    break;
                }
                received.extend(t!(port.recv_timeout(RECV_TIMEOUT)));
            }
            if round % 5 == 0 {
                // Give the loop time to queue chunks in the port before it is stopped.
                thread::sleep(Duration::from_millis(2));
            }
            if round % 3 == 0 {
                // Dropping the port acts as read_stop.
                drop(port);
            } else {
                t!(server.read_stop(port));
            }
            // Plain reads between ports get the chunks kept at read_stop first.
            if round % 2 == 0 && received.len() < expected.len() {
                received.extend(t!(server.read(READ_TIMEOUT_MS)));
            }
        }
        assert_eq!(received.len(), expected.len(), "byte count differs");
        assert!(received == expected, "bytes were reordered or altered");
        drop(writer.join().unwrap());
    });
}

#[test]
fn chunks_queued_at_read_stop_come_first_with_the_next_read() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let port = t!(server.read_start());
        t!(client.write(&b"queued"[..]));
        // Leave the chunk in the port.
        thread::sleep(Duration::from_millis(200));
        t!(server.read_stop(port));
        t!(client.write(&b" later"[..]));
        let received = t!(read_at_least(&server, 12));
        assert_eq!(received, b"queued later");
    });
}

#[test]
fn dropping_a_read_port_acts_as_read_stop() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let port = t!(server.read_start());
        drop(port);
        t!(client.write(&b"after drop"[..]));
        assert_eq!(t!(read_at_least(&server, 10)), b"after drop");
        // And a new port can be started.
        let port = t!(server.read_start());
        t!(server.read_stop(port));
    });
}

#[test]
fn read_start_twice_is_ealready() {
    bounded(10, || {
        let iotask = new_iotask();
        let (_client, server) = connected_pair(&iotask);
        let port = t!(server.read_start());
        let error = server
            .read_start()
            .map(|_| ())
            .expect_err("second read_start returned Ok");
        assert_eq!(error.err_name, "EALREADY");
        t!(server.read_stop(port));
    });
}

#[test]
fn read_stop_with_another_sockets_port_is_einval() {
    bounded(10, || {
        let iotask = new_iotask();
        let (_client_a, server_a) = connected_pair(&iotask);
        let (_client_b, server_b) = connected_pair(&iotask);
        let port_a = t!(server_a.read_start());
        let port_b = t!(server_b.read_start());
        let error = server_a
            .read_stop(port_b)
            .expect_err("read_stop with another socket's port returned Ok");
        assert_eq!(error.err_name, "EINVAL");
        // The socket's own port is still the active one.
        t!(server_a.read_stop(port_a));
    });
}

#[test]
fn read_port_iterator_ends_at_eof() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let payload = pattern(100_000, 7);
        let expected = payload.clone();
        let writer = thread::spawn(move || {
            for piece in payload.chunks(1000) {
                t!(client.write(piece));
            }
            // Dropping the client sends EOF.
        });
        let port = t!(server.read_start());
        let mut received = Vec::new();
        for item in port {
            match item {
                Ok(chunk) => received.extend_from_slice(&chunk),
                Err(error) => panic!("the iterator yielded {error:?} before ending"),
            }
        }
        assert_eq!(received.len(), expected.len());
        assert!(received == expected);
        writer.join().unwrap();
    });
}

#[test]
fn read_port_iterator_yields_a_reset_once_then_ends() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let port = t!(server.read_start());
        t!(client.close_reset());
        let items: Vec<Result<Vec<u8>, TcpErrData>> = port.collect();
        let errors: Vec<&TcpErrData> = items
            .iter()
            .filter_map(|item| item.as_ref().err())
            .collect();
        assert_eq!(errors.len(), 1, "items: {items:?}");
        assert_eq!(errors[0].err_name, "ECONNRESET");
        assert!(
            items.last().unwrap().is_err(),
            "the error was not the last item"
        );
    });
}

#[test]
fn read_start_after_eof_repeats_eof_and_read_stop_is_ok() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        drop(client);
        let error = server
            .read(READ_TIMEOUT_MS)
            .expect_err("read after EOF returned Ok");
        assert_eq!(error.err_name, "EOF");
        let port = t!(server.read_start());
        for _ in 0..3 {
            let error = port
                .recv_timeout(RECV_TIMEOUT)
                .expect_err("recv after EOF returned Ok");
            assert_eq!(error.err_name, "EOF");
        }
        assert_eq!(server.read_stop(port), Ok(()));
    });
}

#[test]
fn recv_timeout_times_out_with_etimedout_and_loses_nothing() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let port = t!(server.read_start());
        let error = port
            .recv_timeout(Duration::from_millis(100))
            .expect_err("recv_timeout with nothing sent returned Ok");
        assert_eq!(error.err_name, "ETIMEDOUT");
        t!(client.write(&b"then"[..]));
        let mut received = Vec::new();
        while received.len() < 4 {
            received.extend(t!(port.recv_timeout(RECV_TIMEOUT)));
        }
        assert_eq!(received, b"then");
        t!(server.read_stop(port));
    });
}

#[test]
fn try_recv_is_none_until_a_chunk_is_queued() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let port = t!(server.read_start());
        assert!(
            port.try_recv().is_none(),
            "try_recv returned something with nothing sent"
        );
        t!(client.write(&b"abc"[..]));
        let mut received = Vec::new();
        for _ in 0..500 {
            match port.try_recv() {
                Some(chunk) => received.extend(t!(chunk)),
                None if received.len() >= 3 => break,
                None => thread::sleep(Duration::from_millis(10)),
            }
        }
        assert_eq!(received, b"abc");
        t!(server.read_stop(port));
    });
}

#[test]
fn recv_async_resolves_on_a_hand_written_executor() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let port = t!(server.read_start());
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            t!(client.write(&b"async"[..]));
            client
        });
        let mut received = Vec::new();
        while received.len() < 5 {
            received.extend(t!(block_on(port.recv_async())));
        }
        assert_eq!(received, b"async");
        t!(server.read_stop(port));
        drop(writer.join().unwrap());
    });
}

#[test]
fn read_port_can_be_received_on_another_thread() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let port = t!(server.read_start());
        let reader = thread::spawn(move || {
            let mut received = Vec::new();
            while received.len() < 5 {
                received.extend(t!(port.recv_timeout(RECV_TIMEOUT)));
            }
            (received, port)
        });
        t!(client.write(&b"moved"[..]));
        let (received, port) = reader.join().unwrap();
        assert_eq!(received, b"moved");
        t!(server.read_stop(port));
    });
}

#[test]
fn free_functions_read_start_and_read_stop_work_like_the_methods() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let port = t!(read_start(&server));
        t!(write(&client, &b"free"[..]));
        let mut received = Vec::new();
        while received.len() < 4 {
            received.extend(t!(port.recv_timeout(RECV_TIMEOUT)));
        }
        assert_eq!(received, b"free");
        t!(read_stop(&server, port));
    });
}

#[test]
fn recv_blocks_until_a_chunk_arrives_then_reports_eof() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let port = t!(server.read_start());
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(150));
            t!(client.write(&b"blocking"[..]));
        });
        let mut received = Vec::new();
        let end = loop {
            match port.recv() {
                Ok(chunk) => received.extend(chunk),
                Err(error) => break error,
            }
        };
        writer.join().unwrap();
        assert_eq!(received, b"blocking");
        assert_eq!(end.err_name, "EOF");
        assert_eq!(port.recv().map(|_| ()).unwrap_err().err_name, "EOF");
        t!(server.read_stop(port));
    });
}
