//! Backpressure: an active port that nobody drains stops reading from the
//! kernel at the read buffer limit (so the peer's write stays pending), and
//! resumes when the reader drains it, losing nothing.

use std::thread;
use std::time::Duration;

use uvtcp_tests::*;

/// Far more than the kernel buffers of a loopback connection hold.
const PAYLOAD: usize = 32 << 20;

/// Writes `PAYLOAD` bytes into `server`'s active, undrained port and checks
/// that the write stalls, then drains the port and checks every byte.
fn unconsumed_port_stalls_the_writer(read_buffer_limit: Option<usize>) {
    let iotask = new_iotask();
    let (client, server) = connected_pair(&iotask);
    if let Some(limit) = read_buffer_limit {
        server.set_read_buffer_limit(limit);
    }
    let port = t!(server.read_start());
    let payload = pattern(PAYLOAD, 21);
    let expected = Checksum::of(&payload);
    let write = client.write_future(payload);
    thread::sleep(Duration::from_millis(500));
    assert!(
        !write.is_ready(),
        "a 32 MiB write completed although the reader's port was never drained: \
         the port buffers without limit"
    );
    assert!(client.write_queue_size() > 0);

    // Draining resumes reading; nothing is lost or reordered.
    drop(client);
    let mut received = Checksum::new();
    for chunk in port {
        received.update(&t!(chunk));
    }
    assert_eq!(received, expected);
    assert_eq!(write.get(), Ok(()));
}

#[test]
fn an_undrained_port_stops_reading_at_the_default_limit() {
    bounded(30, || unconsumed_port_stalls_the_writer(None));
}

#[test]
fn an_undrained_port_stops_reading_at_a_small_limit() {
    bounded(30, || unconsumed_port_stalls_the_writer(Some(64 * 1024)));
}

#[test]
fn a_socket_without_an_active_read_stalls_the_writer() {
    bounded(30, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let payload = pattern(PAYLOAD, 22);
        let expected = Checksum::of(&payload);
        let write = client.write_future(payload);
        thread::sleep(Duration::from_millis(500));
        assert!(!write.is_ready(), "a 32 MiB write completed with no reader");
        // Stopping a port leaves the socket without an active read too.
        let port = t!(server.read_start());
        let first = t!(port.recv_timeout(Duration::from_secs(5)));
        t!(server.read_stop(port));
        thread::sleep(Duration::from_millis(300));
        assert!(!write.is_ready(), "the write completed after read_stop");
        drop(client);
        let mut received = Checksum::new();
        received.update(&first);
        received.update(&t!(read_to_eof(&server)));
        assert_eq!(received, expected);
        assert_eq!(write.get(), Ok(()));
    });
}
