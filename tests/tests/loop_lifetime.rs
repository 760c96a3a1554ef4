//! A private loop thread exits, and its descriptors are closed, once every
//! `IoTask` handle and every socket and listener on it is gone. Alone in its
//! binary because it counts the threads and descriptors of the process.

use std::thread;
use std::time::{Duration, Instant};

use uvtcp::*;
use uvtcp_tests::*;

fn count_entries(dir: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| entries.count())
        .unwrap_or(0)
}

fn threads() -> usize {
    count_entries("/proc/self/task")
}

fn descriptors() -> usize {
    count_entries("/proc/self/fd")
}

/// Waits up to five seconds for `probe` to drop to `baseline`.
fn settles_to(baseline: usize, probe: fn() -> usize) -> Result<(), usize> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = probe();
        if now <= baseline {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(now);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn loop_threads_and_descriptors_are_released_when_everything_is_dropped() {
    bounded(20, || {
        // libuv keeps two process-wide descriptors (the lock pipe of its
        // signal handling) from the first loop on: let one loop make them.
        let before_any_loop = threads();
        drop(new_iotask());
        if let Err(now) = settles_to(before_any_loop, threads) {
            panic!("the first loop thread did not exit: {now} threads");
        }
        let baseline_threads = threads();
        let baseline_descriptors = descriptors();
        {
            let tasks: Vec<IoTask> = (0..5).map(|_| new_iotask()).collect();
            let mut sockets = Vec::new();
            for task in &tasks {
                let listener = t!(TcpListener::bind(localhost_v4(), 0, 16, task));
                let port = t!(listener.local_addr()).port();
                let client = t!(connect(localhost_v4(), port, task));
                let server = t!(listener.accept_timeout(READ_TIMEOUT_MS));
                t!(client.write(&b"x"[..]));
                assert_eq!(t!(read_at_least(&server, 1)), b"x");
                let port = t!(server.read_start());
                sockets.push((listener, client, server, port));
            }
            assert!(
                threads() >= baseline_threads + 5,
                "five loops run no threads"
            );
            drop(sockets);
        }
        if let Err(now) = settles_to(baseline_threads, threads) {
            panic!("threads: {baseline_threads} before, still {now} after dropping everything");
        }
        if let Err(now) = settles_to(baseline_descriptors, descriptors) {
            panic!(
                "descriptors: {baseline_descriptors} before, still {now} after dropping everything"
            );
        }
    });
}
