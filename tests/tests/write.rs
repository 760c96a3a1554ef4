//! `write` and `write_future`: order, dropped futures and sockets, zero-length
//! writes, `shutdown`, and writes from several threads.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use uvtcp::*;
use uvtcp_tests::*;

#[test]
fn many_dropped_write_futures_arrive_in_order() {
    bounded(20, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let mut expected = Vec::new();
        for index in 0..1000 {
            let message = format!("{index:04};");
            expected.extend_from_slice(message.as_bytes());
            drop(client.write_future(message));
        }
        // A blocking write from the same thread is queued after all of them.
        t!(client.write(&b"END"[..]));
        expected.extend_from_slice(b"END");
        let received = t!(read_at_least(&server, expected.len()));
        assert_eq!(
            String::from_utf8_lossy(&received),
            String::from_utf8_lossy(&expected)
        );
    });
}

#[test]
fn dropping_the_socket_right_after_write_future_delivers_every_byte_then_eof() {
    bounded(20, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let payload = pattern(8 << 20, 11);
        let expected = Checksum::of(&payload);
        drop(client.write_future(&b"head:"[..]));
        drop(client.write_future(payload));
        drop(client);
        let received = t!(read_to_eof(&server));
        assert_eq!(&received[..5], b"head:");
        assert_eq!(Checksum::of(&received[5..]), expected);
        let error = server
            .read(READ_TIMEOUT_MS)
            .expect_err("read after EOF returned Ok");
        assert_eq!(error.err_name, "EOF");
    });
}

#[test]
fn a_kept_write_future_resolves_ok_after_its_socket_was_dropped() {
    bounded(20, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let payload = pattern(8 << 20, 12);
        let expected = Checksum::of(&payload);
        let future = client.write_future(payload);
        drop(client);
        let reader = thread::spawn(move || t!(read_to_eof(&server)));
        assert_eq!(future.get(), Ok(()));
        assert_eq!(Checksum::of(&reader.join().unwrap()), expected);
    });
}

#[test]
fn write_future_get_waits_until_the_write_is_done() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let future = client.write_future(vec![7u8; 1000]);
        assert_eq!(future.get(), Ok(()));
        assert_eq!(client.write_queue_size(), 0);
        assert_eq!(t!(read_at_least(&server, 1000)), vec![7u8; 1000]);
    });
}

#[test]
fn write_queue_size_is_zero_after_a_blocking_write() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, _server) = connected_pair(&iotask);
        t!(client.write(vec![1u8; 10_000]));
        assert_eq!(client.write_queue_size(), 0);
    });
}

#[test]
fn zero_length_write_is_ok_and_sends_nothing() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        assert_eq!(client.write(Vec::new()), Ok(()));
        assert_eq!(client.write(&b""[..]), Ok(()));
        assert_eq!(client.write_future("").get(), Ok(()));
        t!(client.write(&b"x"[..]));
        drop(client);
        assert_eq!(t!(read_to_eof(&server)), b"x");
    });
}

#[test]
fn write_accepts_vec_slice_str_and_byte_string_literals() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        t!(client.write(vec![b'a']));
        t!(client.write(&b"b"[..]));
        t!(client.write("c"));
        t!(client.write(String::from("d")));
        t!(client.write_future(vec![b'e']).get());
        t!(client.write_future("f").get());
        drop(client);
        assert_eq!(t!(read_to_eof(&server)), b"abcdef");
    });
}

#[test]
fn free_function_write_future_works_like_the_method() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        t!(write_future(&client, &b"free "[..]).get());
        t!(write(&client, "functions"));
        drop(client);
        assert_eq!(t!(read_to_eof(&server)), b"free functions");
    });
}

#[test]
fn write_after_shutdown_is_epipe() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        t!(client.write(&b"before"[..]));
        t!(client.shutdown());
        let error = client
            .write(&b"after"[..])
            .expect_err("write after shutdown returned Ok");
        assert_eq!(error.err_name, "EPIPE");
        let error = client
            .write_future(&b"after"[..])
            .get()
            .expect_err("write_future after shutdown returned Ok");
        assert_eq!(error.err_name, "EPIPE");
        // The peer got what was written before, then EOF.
        assert_eq!(t!(read_to_eof(&server)), b"before");
    });
}

#[test]
fn shutdown_half_closes_so_the_peer_can_still_answer() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        t!(client.write(&b"question"[..]));
        t!(client.shutdown());
        assert_eq!(t!(read_to_eof(&server)), b"question");
        t!(server.write(&b"answer"[..]));
        drop(server);
        assert_eq!(t!(read_to_eof(&client)), b"answer");
    });
}

#[test]
fn writes_from_two_threads_are_never_interleaved() {
    bounded(20, || {
        const RECORD: usize = 4096;
        const RECORDS_PER_THREAD: usize = 200;
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let client = Arc::new(client);
        let writers: Vec<_> = [b'A', b'B']
            .into_iter()
            .map(|letter| {
                let client = Arc::clone(&client);
                thread::spawn(move || {
                    for index in 0..RECORDS_PER_THREAD {
                        if index % 2 == 0 {
                            t!(client.write(vec![letter; RECORD]));
                        } else {
                            drop(client.write_future(vec![letter; RECORD]));
                        }
                    }
                })
            })
            .collect();
        let reader = thread::spawn(move || t!(read_to_eof(&server)));
        for writer in writers {
            writer.join().unwrap();
        }
        match Arc::try_unwrap(client) {
            Ok(client) => drop(client),
            Err(_) => panic!("a writer thread kept the socket"),
        }
        let received = reader.join().unwrap();
        assert_eq!(received.len(), 2 * RECORD * RECORDS_PER_THREAD);
        let mut counts = [0usize; 2];
        for (index, record) in received.chunks(RECORD).enumerate() {
            let letter = record[0];
            assert!(
                record.iter().all(|&byte| byte == letter),
                "record {index} mixes the bytes of two writes"
            );
            counts[usize::from(letter - b'A')] += 1;
        }
        assert_eq!(counts, [RECORDS_PER_THREAD, RECORDS_PER_THREAD]);
    });
}

#[test]
fn write_queue_size_counts_bytes_the_peer_has_not_taken() {
    bounded(20, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let payload = pattern(32 << 20, 13);
        let expected = Checksum::of(&payload);
        let future = client.write_future(payload);
        // The server does not read, so the kernel buffers fill up.
        thread::sleep(Duration::from_millis(300));
        assert!(
            !future.is_ready(),
            "32 MiB fit in the kernel of an idle peer"
        );
        let queued = client.write_queue_size();
        assert!(queued > 0, "write_queue_size is 0 with a blocked write");
        assert!(
            queued <= 32 << 20,
            "write_queue_size {queued} exceeds what was written"
        );
        drop(client);
        let received = t!(read_to_eof(&server));
        assert_eq!(Checksum::of(&received), expected);
        assert_eq!(future.get(), Ok(()));
    });
}

#[test]
fn close_reset_fails_queued_writes_with_ecanceled() {
    bounded(20, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let future = client.write_future(pattern(32 << 20, 14));
        thread::sleep(Duration::from_millis(300));
        assert!(
            !future.is_ready(),
            "32 MiB fit in the kernel of an idle peer"
        );
        t!(client.close_reset());
        let error = future
            .get()
            .expect_err("a write cancelled by close_reset returned Ok");
        assert_eq!(error.err_name, "ECANCELED");
        drop(server);
    });
}
