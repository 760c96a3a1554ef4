//! Bulk transfers checked by checksum: 64 MiB through one connection, a
//! small read buffer limit, and 200 concurrent echo clients on one server.

use std::sync::Arc;
use std::thread;

use uvtcp::*;
use uvtcp_tests::*;

const CHUNK: usize = 256 * 1024;

/// Chunk `index` of a transfer: a shared random block stamped with its index.
fn stamped_chunk(block: &[u8], index: u64) -> Vec<u8> {
    let mut chunk = block.to_vec();
    chunk[..8].copy_from_slice(&index.to_le_bytes());
    chunk
}

/// Sends `n_chunks` stamped chunks from `client` and drops it; returns the
/// checksum of what was sent.
fn send_chunks(client: TcpSocket, n_chunks: u64) -> Checksum {
    let block = pattern(CHUNK, 99);
    let mut sent = Checksum::new();
    for index in 0..n_chunks {
        let chunk = stamped_chunk(&block, index);
        sent.update(&chunk);
        t!(client.write(chunk));
    }
    sent
}

/// Reads from `server` until EOF; returns the checksum of what arrived.
fn receive_to_eof(server: &TcpSocket) -> Checksum {
    let mut received = Checksum::new();
    loop {
        match server.read(READ_TIMEOUT_MS) {
            Ok(chunk) => received.update(&chunk),
            Err(error) if is_eof(&error) => return received,
            Err(error) => panic!("read failed after {} bytes: {error:?}", received.n_bytes()),
        }
    }
}

#[test]
fn a_64_mib_transfer_arrives_intact() {
    bounded(45, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let n_chunks = (64 << 20) / CHUNK as u64;
        let writer = thread::spawn(move || send_chunks(client, n_chunks));
        let received = receive_to_eof(&server);
        let sent = writer.join().unwrap();
        assert_eq!(received.n_bytes(), 64 << 20);
        assert_eq!(received, sent);
    });
}

#[test]
fn a_transfer_across_two_io_tasks_arrives_intact() {
    bounded(30, || {
        let client_task = new_iotask();
        let server_task = new_iotask();
        let (client, server) = connected_pair_on(localhost_v4(), &client_task, &server_task);
        let writer = thread::spawn(move || send_chunks(client, 32));
        let received = receive_to_eof(&server);
        assert_eq!(received, writer.join().unwrap());
    });
}

#[test]
fn a_read_buffer_limit_of_zero_still_delivers_everything() {
    bounded(30, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        server.set_read_buffer_limit(0);
        let writer = thread::spawn(move || send_chunks(client, 16));
        let port = t!(server.read_start());
        let mut received = Checksum::new();
        for chunk in port {
            received.update(&t!(chunk));
        }
        assert_eq!(received, writer.join().unwrap());
    });
}

#[test]
fn a_write_buffer_limit_still_delivers_everything_in_order() {
    bounded(30, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        client.set_write_buffer_limit(64 * 1024);
        let block = pattern(CHUNK, 5);
        let writer = thread::spawn(move || {
            let mut sent = Checksum::new();
            for index in 0..32 {
                let chunk = stamped_chunk(&block, index);
                sent.update(&chunk);
                // Larger than the limit: accepted when nothing else is queued.
                drop(client.write_future(chunk));
            }
            sent
        });
        let received = receive_to_eof(&server);
        assert_eq!(received, writer.join().unwrap());
    });
}

#[test]
fn two_hundred_concurrent_clients_echo_through_one_server() {
    bounded(45, || {
        const CLIENTS: usize = 200;
        const PAYLOAD: usize = 16 * 1024;
        let server_task = new_iotask();
        let client_task = new_iotask();
        let listener = t!(TcpListener::bind(localhost_v4(), 0, 256, &server_task));
        let port = t!(listener.local_addr()).port();

        let acceptor = thread::spawn(move || {
            let mut echoers = Vec::with_capacity(CLIENTS);
            for _ in 0..CLIENTS {
                let sock = t!(listener.accept_timeout(10_000));
                echoers.push(thread::spawn(move || {
                    loop {
                        match sock.read(10_000) {
                            Ok(chunk) => t!(sock.write(chunk)),
                            Err(error) if is_eof(&error) => break,
                            Err(error) => panic!("echo read failed: {error:?}"),
                        }
                    }
                }));
            }
            for echoer in echoers {
                echoer.join().unwrap();
            }
        });

        let client_task = Arc::new(client_task);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|index| {
                let client_task = Arc::clone(&client_task);
                thread::spawn(move || {
                    let payload = pattern(PAYLOAD, index as u64 + 1000);
                    let expected = Checksum::of(&payload);
                    let client = t!(connect(localhost_v4(), port, &client_task));
                    t!(client.write(payload));
                    t!(client.shutdown());
                    let mut echoed = Checksum::new();
                    loop {
                        match client.read(10_000) {
                            Ok(chunk) => echoed.update(&chunk),
                            Err(error) if is_eof(&error) => break,
                            Err(error) => panic!("client {index}: read failed: {error:?}"),
                        }
                    }
                    assert_eq!(echoed, expected, "client {index} got a different echo");
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
        acceptor.join().unwrap();
    });
}
