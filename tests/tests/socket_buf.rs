//! `TcpSocketBuf`: the classic buffered reader/writer ports, `io::Read`,
//! `io::BufRead` and `io::Write`, and the exact `read_bytes` / `read_byte` /
//! `unread_byte` / `eof` / `tell` semantics.

use std::io::{BufRead, Read, Write};
use std::thread;
use std::time::Duration;

use uvtcp::*;
use uvtcp_tests::*;

const TEXT: &str =
    "first line\nsecond line\n\nfourth line after an empty one\nlast line without newline";

/// A pair where the client side is buffered: `(client_buf, server)`.
fn buffered_client(iotask: &IoTask) -> (TcpSocketBuf, TcpSocket) {
    let (client, server) = connected_pair(iotask);
    (socket_buf(client), server)
}

/// A server buffer fed by `chunks` (with a short pause between them), after
/// which the client is dropped (EOF).
fn buffered_reader_of(iotask: &IoTask, chunks: &[&'static [u8]]) -> TcpSocketBuf {
    let (client, server) = connected_pair(iotask);
    let chunks = chunks.to_vec();
    let writer = thread::spawn(move || {
        for chunk in chunks {
            t!(client.write(chunk));
            thread::sleep(Duration::from_millis(20));
        }
    });
    writer.join().unwrap();
    socket_buf(server)
}

#[test]
fn socket_buf_writer_and_reader_exchange_lines() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let mut client_buf = socket_buf(client);
        let server_thread = thread::spawn(move || {
            let mut server_buf = socket_buf(server);
            let mut line = String::new();
            server_buf.read_line(&mut line).unwrap();
            assert_eq!(line, "hello server\n");
            server_buf.write_all(b"hello client\n").unwrap();
            server_buf.flush().unwrap();
            line.clear();
            server_buf.read_line(&mut line).unwrap();
            assert_eq!(line, "bye\n");
        });
        client_buf.write_all(b"hello ").unwrap();
        client_buf.write_all(b"server\n").unwrap();
        client_buf.flush().unwrap();
        let mut line = String::new();
        client_buf.read_line(&mut line).unwrap();
        assert_eq!(line, "hello client\n");
        writeln!(client_buf, "bye").unwrap();
        client_buf.flush().unwrap();
        server_thread.join().unwrap();
    });
}

#[test]
fn socket_buf_reads_a_multiline_text_to_eof_line_by_line() {
    bounded(10, || {
        let iotask = new_iotask();
        // Chunk boundaries fall inside lines.
        let reader = buffered_reader_of(
            &iotask,
            &[
                b"first li",
                b"ne\nsecond line\n\nfourth line after",
                b" an empty one\nlast line without newline",
            ],
        );
        let lines: Vec<String> = reader.lines().map(|line| line.unwrap()).collect();
        let expected: Vec<&str> = TEXT.lines().collect();
        assert_eq!(lines, expected);
    });
}

#[test]
fn socket_buf_read_to_string_reads_everything_until_eof() {
    bounded(10, || {
        let iotask = new_iotask();
        let mut reader = buffered_reader_of(&iotask, &[TEXT.as_bytes()]);
        let mut text = String::new();
        assert_eq!(reader.read_to_string(&mut text).unwrap(), TEXT.len());
        assert_eq!(text, TEXT);
        assert_eq!(reader.tell(), TEXT.len() as u64);
        assert!(reader.eof());
    });
}

#[test]
fn io_read_returns_zero_at_eof_repeatedly() {
    bounded(10, || {
        let iotask = new_iotask();
        let mut reader = buffered_reader_of(&iotask, &[b"abc"]);
        let mut received = Vec::new();
        let mut buffer = [0u8; 2];
        loop {
            let n_bytes = reader.read(&mut buffer).unwrap();
            if n_bytes == 0 {
                break;
            }
            received.extend_from_slice(&buffer[..n_bytes]);
        }
        assert_eq!(received, b"abc");
        for _ in 0..3 {
            assert_eq!(reader.read(&mut buffer).unwrap(), 0);
        }
    });
}

#[test]
fn a_small_write_is_not_sent_before_flush() {
    bounded(10, || {
        let iotask = new_iotask();
        let (mut client_buf, server) = buffered_client(&iotask);
        client_buf.write_all(b"hi").unwrap();
        let error = server
            .read(300)
            .expect_err("an unflushed write reached the peer");
        assert_eq!(error.err_name, "ETIMEDOUT");
        client_buf.flush().unwrap();
        assert_eq!(t!(read_at_least(&server, 2)), b"hi");
    });
}

#[test]
fn dropping_a_socket_buf_flushes_pending_writes() {
    bounded(10, || {
        let iotask = new_iotask();
        let (mut client_buf, server) = buffered_client(&iotask);
        client_buf.write_all(b"flushed by drop").unwrap();
        drop(client_buf);
        assert_eq!(t!(read_to_eof(&server)), b"flushed by drop");
    });
}

#[test]
fn into_inner_flushes_pending_writes_and_returns_the_socket() {
    bounded(10, || {
        let iotask = new_iotask();
        let (mut client_buf, server) = buffered_client(&iotask);
        client_buf.write_all(b"flushed").unwrap();
        let client = client_buf.into_inner();
        assert_eq!(t!(read_at_least(&server, 7)), b"flushed");
        // The socket is still open and usable.
        t!(client.write(&b" then raw"[..]));
        assert_eq!(t!(read_at_least(&server, 9)), b" then raw");
    });
}

#[test]
fn get_ref_gives_the_wrapped_socket() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let client_addr = t!(client.local_addr());
        let client_buf = socket_buf(client);
        assert_eq!(t!(client_buf.get_ref().local_addr()), client_addr);
        assert_eq!(
            t!(client_buf.get_ref().peer_addr()),
            t!(server.local_addr())
        );
    });
}

#[test]
fn read_bytes_waits_for_amt_bytes_across_chunks() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let mut reader = socket_buf(server);
        let writer = thread::spawn(move || {
            t!(client.write(&b"hello"[..]));
            thread::sleep(Duration::from_millis(100));
            t!(client.write(&b" world"[..]));
            thread::sleep(Duration::from_millis(100));
            t!(client.write(&b"!"[..]));
            client
        });
        assert_eq!(t!(reader.read_bytes(11)), b"hello world");
        assert_eq!(reader.tell(), 11);
        assert_eq!(t!(reader.read_bytes(1)), b"!");
        drop(writer.join().unwrap());
    });
}

#[test]
fn read_bytes_returns_fewer_only_at_eof_then_empty() {
    bounded(10, || {
        let iotask = new_iotask();
        let mut reader = buffered_reader_of(&iotask, &[b"12", b"345"]);
        assert_eq!(t!(reader.read_bytes(3)), b"123");
        assert_eq!(t!(reader.read_bytes(10)), b"45");
        assert_eq!(t!(reader.read_bytes(10)), Vec::<u8>::new());
        assert_eq!(t!(reader.read_bytes(10)), Vec::<u8>::new());
        assert_eq!(reader.tell(), 5);
        assert!(reader.eof());
    });
}

#[test]
fn read_byte_unread_byte_eof_and_tell_follow_the_contract() {
    bounded(10, || {
        let iotask = new_iotask();
        let mut reader = buffered_reader_of(&iotask, &[b"abc"]);
        assert_eq!(reader.tell(), 0);
        assert_eq!(t!(reader.read_bytes(2)), b"ab");
        assert_eq!(reader.tell(), 2);
        // One byte is left: not at EOF whether or not EOF was seen.
        assert!(!reader.eof());
        assert_eq!(reader.read_byte(), Some(b'c'));
        assert_eq!(reader.tell(), 3);
        assert_eq!(reader.read_byte(), None);
        assert!(reader.eof(), "eof() is false after read_byte returned None");
        assert_eq!(reader.tell(), 3);

        // unread_byte puts a byte back: it comes first and tell steps back.
        reader.unread_byte(b'z');
        assert_eq!(reader.tell(), 2);
        assert!(!reader.eof(), "eof() is true with an unread byte left");
        assert_eq!(reader.read_byte(), Some(b'z'));
        assert_eq!(reader.tell(), 3);
        assert!(reader.eof());
        assert_eq!(reader.read_byte(), None);
    });
}

#[test]
fn unread_byte_comes_before_buffered_bytes() {
    bounded(10, || {
        let iotask = new_iotask();
        let mut reader = buffered_reader_of(&iotask, &[b"xyz"]);
        assert_eq!(reader.read_byte(), Some(b'x'));
        reader.unread_byte(b'x');
        assert_eq!(reader.tell(), 0);
        assert_eq!(t!(reader.read_bytes(3)), b"xyz");
        reader.unread_byte(b'q');
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"q");
        assert_eq!(reader.tell(), 3);
    });
}

#[test]
fn tell_counts_bytes_through_every_read_path() {
    bounded(10, || {
        let iotask = new_iotask();
        let mut reader = buffered_reader_of(&iotask, &[b"0123456789line\nrest"]);
        assert_eq!(t!(reader.read_bytes(2)), b"01");
        assert_eq!(reader.tell(), 2);
        assert_eq!(reader.read_byte(), Some(b'2'));
        assert_eq!(reader.tell(), 3);
        let mut buffer = [0u8; 3];
        reader.read_exact(&mut buffer).unwrap();
        assert_eq!(&buffer, b"345");
        assert_eq!(reader.tell(), 6);
        let available = reader.fill_buf().unwrap().to_vec();
        assert!(available.starts_with(b"6"), "fill_buf gave {available:?}");
        assert_eq!(reader.tell(), 6, "fill_buf alone consumed bytes");
        reader.consume(4);
        assert_eq!(reader.tell(), 10);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "line\n");
        assert_eq!(reader.tell(), 15);
        let mut rest = String::new();
        reader.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "rest");
        assert_eq!(reader.tell(), 19);
    });
}

#[test]
fn io_read_reports_a_peer_reset_as_connection_reset() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let mut reader = socket_buf(server);
        t!(client.close_reset());
        let mut buffer = [0u8; 8];
        let error = reader
            .read(&mut buffer)
            .expect_err("read after a reset returned Ok");
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
    });
}

#[test]
fn socket_buf_moves_to_another_thread() {
    bounded(10, || {
        let iotask = new_iotask();
        let (mut client_buf, server) = buffered_client(&iotask);
        let writer = thread::spawn(move || {
            client_buf.write_all(b"from a thread").unwrap();
            client_buf.flush().unwrap();
            client_buf
        });
        let client_buf = writer.join().unwrap();
        assert_eq!(t!(read_at_least(&server, 13)), b"from a thread");
        drop(client_buf);
    });
}

/// Runs `body` with `client_buf` in a local task on `iotask` (a loop
/// thread, where blocking calls are refused) and returns what it returns.
fn on_the_loop_thread<T: Send + 'static>(
    iotask: &IoTask,
    client_buf: TcpSocketBuf,
    body: impl FnOnce(TcpSocketBuf) -> T + Send + 'static,
) -> T {
    iotask
        .spawn_local(move || async move { body(client_buf) })
        .get()
}

#[test]
fn a_flush_refused_on_a_loop_thread_keeps_the_buffered_bytes() {
    bounded(10, || {
        let iotask = new_iotask();
        let (mut client_buf, server) = buffered_client(&iotask);
        client_buf.write_all(b"kept").unwrap();
        let (mut client_buf, refused) = on_the_loop_thread(&iotask, client_buf, |mut buffered| {
            let refused = buffered.flush();
            (buffered, refused)
        });
        let refused = refused.expect_err("a flush on a loop thread returned Ok");
        assert_eq!(refused.kind(), std::io::ErrorKind::WouldBlock);
        // Nothing was sent, and nothing was lost.
        assert_eq!(server.read(200).unwrap_err().err_name, "ETIMEDOUT");
        client_buf.flush().unwrap();
        assert_eq!(t!(read_at_least(&server, 4)), b"kept");
    });
}

#[test]
fn a_write_refused_on_a_loop_thread_takes_nothing() {
    bounded(10, || {
        let iotask = new_iotask();
        let (mut client_buf, server) = buffered_client(&iotask);
        // Nearly a full buffer: the next write needs a flush to make room.
        client_buf.write_all(&[b'A'; 60 << 10]).unwrap();
        let (client_buf, refused) = on_the_loop_thread(&iotask, client_buf, |mut buffered| {
            let refused = buffered.write(&[b'B'; 10 << 10]);
            (buffered, refused)
        });
        let refused = refused.expect_err("a write on a loop thread returned Ok");
        assert_eq!(refused.kind(), std::io::ErrorKind::WouldBlock);
        drop(client_buf);
        // The bytes accepted before, and none of the refused write.
        assert_eq!(t!(read_to_eof(&server)), vec![b'A'; 60 << 10]);
    });
}

#[test]
fn into_inner_on_a_loop_thread_still_sends_the_buffered_bytes() {
    bounded(10, || {
        let iotask = new_iotask();
        let (mut client_buf, server) = buffered_client(&iotask);
        client_buf.write_all(b"pending, ").unwrap();
        let client = on_the_loop_thread(&iotask, client_buf, |buffered| {
            let client = buffered.into_inner();
            // Written on the returned socket: after the buffered bytes.
            drop(client.write_future("then raw"));
            client
        });
        t!(client.close());
        assert_eq!(t!(read_to_eof(&server)), b"pending, then raw");
    });
}

#[test]
fn dropping_a_socket_buf_on_a_loop_thread_sends_the_buffered_bytes() {
    bounded(10, || {
        let iotask = new_iotask();
        let (mut client_buf, server) = buffered_client(&iotask);
        client_buf.write_all(b"sent by drop").unwrap();
        on_the_loop_thread(&iotask, client_buf, drop);
        assert_eq!(t!(read_to_eof(&server)), b"sent by drop");
    });
}

#[test]
fn a_write_failure_is_reported_by_every_flush_and_by_the_inner_socket() {
    bounded(10, || {
        let iotask = new_iotask();
        let (mut client_buf, server) = buffered_client(&iotask);
        t!(server.close_reset());
        // Let the reset arrive before writing.
        thread::sleep(Duration::from_millis(100));
        client_buf.write_all(b"into a reset connection").unwrap();
        let first = client_buf
            .flush()
            .expect_err("a flush to a reset peer returned Ok");
        assert!(
            matches!(
                first.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "{first:?}"
        );
        let again = client_buf
            .flush()
            .expect_err("a second flush after a failed write returned Ok");
        assert_eq!(again.kind(), first.kind());
        // A write that needs room fails too, without taking its input.
        let refused = client_buf
            .write(&[0u8; 100 << 10])
            .expect_err("a write needing a flush after a failure returned Ok");
        assert_eq!(refused.kind(), first.kind());
        client_buf.write_all(b"more").unwrap();
        let client = client_buf.into_inner();
        let error = client
            .flush()
            .expect_err("the inner socket's flush forgot the failure");
        assert_eq!(std::io::Error::from(error).kind(), first.kind());
    });
}

#[test]
fn a_write_of_64_kib_or_more_is_sent_without_flush() {
    bounded(10, || {
        let iotask = new_iotask();
        let (mut client_buf, server) = buffered_client(&iotask);
        let payload = pattern(1 << 20, 21);
        client_buf.write_all(&payload).unwrap();
        assert_eq!(
            Checksum::of(&t!(read_at_least(&server, payload.len()))),
            Checksum::of(&payload)
        );
        drop(client_buf);
    });
}
