//! Bad input is refused or clamped, never a panic or a silently wrong
//! setting: `ReadPort::recv_timeout(Duration::MAX)` waits as std's does, and
//! a keep-alive time too long for libuv acts as `u64::MAX` seconds does (the
//! system refuses it with `EINVAL`).

use std::thread;
use std::time::Duration;

use uvtcp::*;
use uvtcp_tests::kernel::{self, TcpRow};
use uvtcp_tests::*;

/// The kernel's row of `socket`'s connection.
fn row_of(socket: &TcpSocket) -> TcpRow {
    let row = kernel::tcp_row(t!(socket.local_addr()), t!(socket.peer_addr()));
    row.expect("the connection is in /proc/net/tcp")
}

#[test]
fn recv_timeout_of_duration_max_waits_for_the_next_chunk() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let port = t!(server.read_start());
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(200));
            t!(client.write("late"));
            client
        });
        assert_eq!(port.recv_timeout(Duration::MAX), Ok(b"late".to_vec()));
        // A chunk already there is returned at once.
        let client = writer.join().unwrap();
        t!(client.write("there"));
        thread::sleep(Duration::from_millis(100));
        assert_eq!(port.recv_timeout(Duration::MAX), Ok(b"there".to_vec()));
        // And the end of the stream ends the wait.
        drop(client);
        let end = port.recv_timeout(Duration::MAX);
        assert_eq!(end.map_err(|error| error.err_name), Err("EOF".into()));
    });
}

#[test]
fn recv_timeout_of_u32_max_seconds_waits_for_the_next_chunk() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let port = t!(server.read_start());
        // Large, but representable as an `Instant` from now: it waits.
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            t!(client.write("x"));
            client
        });
        let long = Duration::from_secs(u64::from(u32::MAX));
        assert_eq!(port.recv_timeout(long), Ok(b"x".to_vec()));
        drop(writer.join().unwrap());
    });
}

#[test]
fn keepalive_of_duration_max_acts_as_u64_max_seconds() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let longest = server.set_keepalive(Some(Duration::from_secs(u64::MAX)));
        let max = client.set_keepalive(Some(Duration::MAX));
        assert_eq!(max, longest, "Duration::MAX and u64::MAX seconds differ");
        // Linux keeps at most 32767 s (MAX_TCP_KEEPIDLE) and refuses more.
        assert_eq!(max.map_err(|error| error.err_name), Err("EINVAL".into()));
        assert_eq!(
            client.set_keepalive(Some(Duration::from_secs(32767))),
            Ok(())
        );
        let refused = client.set_keepalive(Some(Duration::from_secs(32768)));
        assert_eq!(
            refused.map_err(|error| error.err_name),
            Err("EINVAL".into())
        );
        // Without the clamp the seconds wrapped and the keep-alive fired
        // after a second; whatever the system accepts, it is never that.
        let row = row_of(&client);
        assert!(
            row.timer != 2 || row.timer_expires_in > Duration::from_secs(60),
            "Duration::MAX set a keep-alive timer of {:?}",
            row.timer_expires_in
        );
        // The socket still works.
        t!(client.write("alive"));
        assert_eq!(t!(read_at_least(&server, 5)), b"alive");
    });
}

#[test]
fn keepalive_ex_of_duration_max_acts_as_u64_max_seconds() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let interval = Duration::from_secs(10);
        let longest = Duration::from_secs(u64::MAX);
        assert_eq!(
            client.set_keepalive_ex(Duration::MAX, interval, 3),
            server.set_keepalive_ex(longest, interval, 3),
            "an idle time of Duration::MAX and of u64::MAX seconds differ"
        );
        let idle = Duration::from_secs(60);
        assert_eq!(
            client.set_keepalive_ex(idle, Duration::MAX, 3),
            server.set_keepalive_ex(idle, longest, 3),
            "an interval of Duration::MAX and of u64::MAX seconds differ"
        );
        let row = row_of(&client);
        assert!(
            row.timer != 2 || row.timer_expires_in > Duration::from_secs(30),
            "the keep-alive timer fires in {:?}",
            row.timer_expires_in
        );
    });
}

#[test]
fn keepalive_of_a_sub_second_delay_rounds_up_to_one_second() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, _server) = connected_pair(&iotask);
        t!(client.set_keepalive(Some(Duration::from_millis(1))));
        let row = row_of(&client);
        assert_eq!(row.timer, 2, "no keep-alive timer: {row:?}");
        assert!(
            row.timer_expires_in <= Duration::from_secs(1),
            "a 1 ms keep-alive fires in {:?}",
            row.timer_expires_in
        );
    });
}
