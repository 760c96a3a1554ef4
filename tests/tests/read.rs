//! `TcpSocket::read` and `read_future`: timeouts without loss, EOF, and
//! `EALREADY` while a read port is active.

use std::thread;
use std::time::{Duration, Instant};

use uvtcp_tests::*;

#[test]
fn read_times_out_with_etimedout_after_the_timeout() {
    bounded(10, || {
        let iotask = new_iotask();
        let (_client, server) = connected_pair(&iotask);
        let started = Instant::now();
        let error = server
            .read(200)
            .expect_err("read with nothing sent returned Ok");
        let elapsed = started.elapsed();
        assert_eq!(error.err_name, "ETIMEDOUT", "got {error:?}");
        assert!(
            elapsed >= Duration::from_millis(180),
            "read(200) timed out after only {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_secs(3),
            "read(200) timed out after {elapsed:?}"
        );
    });
}

#[test]
fn bytes_sent_after_a_read_timeout_arrive_with_the_next_read() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let error = server
            .read(200)
            .expect_err("read with nothing sent returned Ok");
        assert_eq!(error.err_name, "ETIMEDOUT");
        t!(client.write(&b"after the timeout"[..]));
        let received = t!(read_at_least(&server, 17));
        assert_eq!(received, b"after the timeout");
    });
}

#[test]
fn bytes_arriving_just_as_a_read_times_out_are_not_lost() {
    bounded(20, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let writer = thread::spawn(move || {
            for round in 0..20u8 {
                thread::sleep(Duration::from_millis(12));
                t!(client.write(vec![round; 100]));
            }
            client
        });
        // Many short timeouts race with the arrivals.
        let mut received = Vec::new();
        while received.len() < 2000 {
            match server.read(10) {
                Ok(chunk) => received.extend_from_slice(&chunk),
                Err(error) if error.err_name == "ETIMEDOUT" => {}
                Err(error) => panic!("read failed with {error:?}"),
            }
        }
        let expected: Vec<u8> = (0..20u8).flat_map(|round| vec![round; 100]).collect();
        assert_eq!(received, expected);
        drop(writer.join().unwrap());
    });
}

#[test]
fn read_with_zero_timeout_waits_for_data() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            t!(client.write(&b"late"[..]));
            client
        });
        let mut received = t!(server.read(0));
        while received.len() < 4 {
            received.extend(t!(server.read(0)));
        }
        assert_eq!(received, b"late");
        drop(writer.join().unwrap());
    });
}

#[test]
fn read_after_eof_repeats_eof() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        t!(client.write(&b"last words"[..]));
        drop(client);
        assert_eq!(t!(read_at_least(&server, 10)), b"last words");
        for attempt in 0..5 {
            let error = server
                .read(READ_TIMEOUT_MS)
                .expect_err("read after EOF returned Ok");
            assert_eq!(error.err_name, "EOF", "attempt {attempt}: {error:?}");
        }
    });
}

#[test]
fn read_future_resolves_with_the_sent_bytes() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let future = server.read_future(READ_TIMEOUT_MS);
        t!(client.write(&b"x"[..]));
        assert_eq!(t!(future.get()), b"x");
    });
}

#[test]
fn read_future_times_out_with_etimedout() {
    bounded(10, || {
        let iotask = new_iotask();
        let (_client, server) = connected_pair(&iotask);
        let error = server
            .read_future(100)
            .get()
            .expect_err("read_future returned Ok");
        assert_eq!(error.err_name, "ETIMEDOUT");
    });
}

#[test]
fn read_while_a_port_is_active_is_ealready() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let port = t!(server.read_start());
        let error = server
            .read(100)
            .expect_err("read while a port is active returned Ok");
        assert_eq!(error.err_name, "EALREADY");
        let error = server
            .read_future(100)
            .get()
            .expect_err("read_future while a port is active returned Ok");
        assert_eq!(error.err_name, "EALREADY");
        // The port still works and no byte was taken by the failed reads.
        t!(client.write(&b"ok"[..]));
        let mut received = Vec::new();
        while received.len() < 2 {
            received.extend(t!(port.recv_timeout(Duration::from_secs(5))));
        }
        assert_eq!(received, b"ok");
        t!(server.read_stop(port));
    });
}

#[test]
fn eof_maps_to_unexpected_eof_io_error() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        drop(client);
        let error = server
            .read(READ_TIMEOUT_MS)
            .expect_err("read after EOF returned Ok");
        let io_error = std::io::Error::from(error);
        assert_eq!(io_error.kind(), std::io::ErrorKind::UnexpectedEof);
    });
}
