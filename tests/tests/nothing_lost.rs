//! Nothing lost, nothing stuck (issue 8): queued writes and their errors
//! are reported by `flush` and `close`, and `close` returns only once a
//! reading peer has every byte; a graceful close is bounded by the close
//! timeout, resets the peer and frees its descriptor and its loop thread;
//! `write_future` never blocks under a write buffer limit, on a plain
//! thread, on a single-threaded executor or in a local task; a one-shot read
//! pending across a port's start and stop gets the port's leftover; setters
//! and `close_reset` do the real thing on a loop thread; a waker that polls
//! inline does not deadlock the loop.
//!
//! A peer that "never reads" is a `std::net::TcpStream` that is not read,
//! so its kernel buffers fill and the uvtcp side keeps the rest queued.
//! Descriptors and threads are checked one by one through `/proc`
//! ([`uvtcp_tests::kernel`]), since the tests of this binary run in
//! parallel and counts of the whole process would see them come and go.

use std::future::Future as _;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::pin::{Pin, pin};
use std::process::Command;
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use uvtcp::*;
use uvtcp_tests::kernel::{self, TcpRow};
use uvtcp_tests::programs::Program;
use uvtcp_tests::*;

/// Far more than the kernel buffers of a connection whose peer does not
/// read (a few MiB on loopback); the tests check that some stays queued.
const MORE_THAN_THE_KERNEL_HOLDS: usize = 32 << 20;

/// A uvtcp client connected to a plain `std::net` peer: `(client, peer)`.
fn std_peer(iotask: &IoTask) -> (TcpSocket, TcpStream) {
    let listener = std::net::TcpListener::bind((localhost_v4(), 0)).expect("binding with std");
    let port = listener.local_addr().expect("std local_addr").port();
    let client = t!(connect(localhost_v4(), port, iotask));
    // The connection is established: accept takes it from the backlog.
    let (peer, _) = listener.accept().expect("std accept");
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("setting a read timeout");
    (client, peer)
}

/// The kernel's row of `socket`'s connection.
fn row_of(socket: &TcpSocket) -> TcpRow {
    let (local, peer): (SocketAddr, SocketAddr) = (t!(socket.local_addr()), t!(socket.peer_addr()));
    kernel::tcp_row(local, peer).expect("the connection is in /proc/net/tcp")
}

/// Queues `total` bytes in dropped 4 MiB `write_future`s and checks that the
/// kernel did not take them all, so the socket holds queued writes.
fn fill_beyond_the_kernel(socket: &TcpSocket, total: usize) {
    for _ in 0..total / (4 << 20) {
        drop(socket.write_future(vec![0x5a; 4 << 20]));
    }
    // Wait until the writes reached the loop and the kernel stopped taking.
    thread::sleep(Duration::from_millis(200));
    assert!(
        socket.write_queue_size() > 0,
        "the kernel took {total} bytes from a connection whose peer does not read"
    );
}

/// Reads `peer` until its stream ends and returns how: a clean end of
/// stream (`Ok` with the byte count) or the error.
fn drain_to_end(peer: &mut TcpStream) -> std::io::Result<usize> {
    let mut buffer = vec![0u8; 1 << 16];
    let mut n_bytes = 0;
    loop {
        match peer.read(&mut buffer)? {
            0 => return Ok(n_bytes),
            count => n_bytes += count,
        }
    }
}

/// Asserts that `peer` learns its connection was reset, not closed cleanly.
fn assert_peer_sees_a_reset(mut peer: TcpStream) {
    match drain_to_end(&mut peer) {
        Err(error) => assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error:?}"),
        Ok(n_bytes) => panic!("the peer saw a clean end of stream after {n_bytes} bytes"),
    }
}

/// Asserts that error `error` is what a write gets once the peer reset.
fn assert_write_failed_by_reset(error: &TcpErrData) {
    assert!(
        matches!(error.err_name.as_str(), "ECONNRESET" | "EPIPE"),
        "a write to a reset peer failed with {error:?}"
    );
}

#[test]
fn flush_reports_a_peer_reset_even_when_the_write_futures_were_dropped() {
    bounded(30, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        // The server does not read: the writes stay queued.
        fill_beyond_the_kernel(&client, MORE_THAN_THE_KERNEL_HOLDS);
        let last = client.write_future(vec![0xa5; 1 << 20]);
        let flushing = client.flush_future();
        assert!(!flushing.is_ready(), "a flush resolved with writes queued");
        t!(server.close_reset());

        // The flush started before the reset resolves with the write error.
        let error = flushing
            .get()
            .expect_err("a flush over writes failed by a reset returned Ok");
        assert_write_failed_by_reset(&error);
        // The last queued write fails too: it never reached the kernel.
        let last_error = last
            .get()
            .expect_err("a write queued behind a reset returned Ok");
        assert!(
            matches!(
                last_error.err_name.as_str(),
                "ECONNRESET" | "EPIPE" | "ECANCELED"
            ),
            "the last write failed with {last_error:?}"
        );
        // A flush after the failure reports the same first error.
        assert_eq!(client.flush(), Err(error.clone()));
        // And so does the close.
        assert_eq!(client.close(), Err(error));
    });
}

/// Set in the child process of
/// `close_returns_only_after_a_reading_peer_has_every_byte`: the port of the
/// parent's reader.
const WRITER_PORT_VARIABLE: &str = "UVTCP_NOTHING_LOST_WRITER_PORT";
const WRITES: usize = 32;
const WRITE_SIZE: usize = 1 << 20;

/// The child's part: 32 dropped 1 MiB `write_future`s, then `close`, then the
/// process ends at once, killing its loop thread. Whatever `close` did not
/// wait for would be lost.
fn write_then_close_then_exit(port: u16) -> ! {
    let iotask = new_iotask();
    let socket = t!(connect(localhost_v4(), port, &iotask));
    for index in 0..WRITES {
        drop(socket.write_future(pattern(WRITE_SIZE, index as u64)));
    }
    match socket.close() {
        Ok(()) => std::process::exit(0),
        Err(error) => {
            eprintln!("close failed: {error:?}");
            std::process::exit(2)
        }
    }
}

#[test]
fn close_returns_only_after_a_reading_peer_has_every_byte() {
    if let Ok(port) = std::env::var(WRITER_PORT_VARIABLE) {
        write_then_close_then_exit(port.parse().expect("a port number"));
    }
    let mut expected = Checksum::new();
    for index in 0..WRITES {
        expected.update(&pattern(WRITE_SIZE, index as u64));
    }
    let listener = std::net::TcpListener::bind((localhost_v4(), 0)).expect("binding with std");
    let port = listener.local_addr().expect("std local_addr").port();
    // This test binary, running only this test, with the port set: the
    // writer. Dropping `writer` stops it by its PID.
    let writer = Program::start(
        Command::new(std::env::current_exe().expect("the test binary's path"))
            .args([
                "close_returns_only_after_a_reading_peer_has_every_byte",
                "--exact",
                "--nocapture",
            ])
            .env(WRITER_PORT_VARIABLE, port.to_string()),
    );
    let received = bounded(60, move || {
        let (mut peer, _) = listener.accept().expect("std accept");
        peer.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("setting a read timeout");
        let mut received = Checksum::new();
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            match peer.read(&mut buffer) {
                Ok(0) => return Ok(received),
                Ok(count) => received.update(&buffer[..count]),
                Err(error) => return Err(error),
            }
        }
    });
    let status = writer
        .wait_for_exit(Duration::from_secs(20))
        .expect("the writer process did not exit");
    assert!(
        status.success(),
        "the writer's close failed: {status}, stderr: {}",
        writer.stderr()
    );
    let received = received.expect("the peer's reads failed");
    assert_eq!(
        received.n_bytes(),
        (WRITES * WRITE_SIZE) as u64,
        "the peer got a cut stream"
    );
    assert_eq!(
        received, expected,
        "the peer got other bytes than were written"
    );
}

#[test]
fn close_times_out_against_a_peer_that_never_reads_and_frees_the_descriptor() {
    bounded(30, || {
        let iotask = new_iotask();
        let (client, peer) = std_peer(&iotask);
        let row = row_of(&client);
        assert!(
            kernel::descriptor_open(row.inode),
            "no descriptor for the socket"
        );
        client.set_close_timeout(Some(Duration::from_millis(200)));
        fill_beyond_the_kernel(&client, MORE_THAN_THE_KERNEL_HOLDS);

        let started = Instant::now();
        let error = client
            .close()
            .expect_err("close against a peer that never reads returned Ok");
        let elapsed = started.elapsed();
        assert_eq!(error.err_name, "ETIMEDOUT", "{error:?}");
        // libuv's timer runs on the loop's millisecond clock.
        assert!(
            elapsed >= Duration::from_millis(180),
            "close timed out after only {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_secs(3),
            "close took {elapsed:?} with a 200 ms close timeout"
        );
        // The connection was reset and its descriptor closed before close returned.
        assert!(
            !kernel::descriptor_open(row.inode),
            "the socket's descriptor is still open after close timed out"
        );
        assert_peer_sees_a_reset(peer);
    });
}

#[test]
fn a_dropped_socket_whose_peer_never_reads_is_freed_and_its_loop_thread_exits() {
    bounded(30, || {
        let iotask = new_iotask();
        let loop_thread = iotask
            .spawn_local(|| async { kernel::current_thread_id() })
            .get();
        let (client, peer) = std_peer(&iotask);
        let row = row_of(&client);
        client.set_close_timeout(Some(Duration::from_millis(200)));
        // The socket also holds received bytes nobody reads.
        let port = t!(client.read_start());
        let mut sender = peer.try_clone().expect("cloning the std peer");
        std::io::Write::write_all(&mut sender, &[7u8; 64 << 10]).expect("the peer's write");
        fill_beyond_the_kernel(&client, MORE_THAN_THE_KERNEL_HOLDS);

        drop(port);
        drop(client);
        drop(iotask);
        assert!(
            wait_until(Duration::from_secs(5), || !kernel::descriptor_open(
                row.inode
            )),
            "a dropped socket with a 200 ms close timeout still holds its descriptor after 5 s"
        );
        assert!(
            wait_until(Duration::from_secs(5), || !kernel::thread_alive(
                loop_thread
            )),
            "the loop thread still runs 5 s after its last IoTask and socket were dropped"
        );
        assert_peer_sees_a_reset(peer);
    });
}

/// A 4 KiB block that names its index, so the peer can check the order.
fn block(index: u32) -> Vec<u8> {
    let mut bytes = vec![index as u8; BLOCK];
    bytes[..4].copy_from_slice(&index.to_le_bytes());
    bytes
}

const BLOCK: usize = 4 << 10;
const BLOCKS: u32 = 64;
const LIMIT: usize = 64 << 10;
/// The first write: it fills the kernel and keeps libuv's queue above the
/// limit, so the 4 KiB writes behind it are over the limit.
const HEAD: usize = 16 << 20;
/// How long the peer waits before draining when nobody tells it to start:
/// a `write_future` that blocked until the queue drained would take longer.
const DRAIN_DELAY: Duration = Duration::from_secs(3);

/// A peer that starts reading when told (or after [`DRAIN_DELAY`]), then
/// checks it got the head and the blocks in order, then EOF.
fn delayed_drainer(mut peer: TcpStream) -> (mpsc::Sender<()>, thread::JoinHandle<()>) {
    let (start, started) = mpsc::channel::<()>();
    let reader = thread::spawn(move || {
        let _ = started.recv_timeout(DRAIN_DELAY);
        let mut received = Vec::new();
        peer.read_to_end(&mut received).expect("the peer's reads");
        assert_eq!(received.len(), HEAD + BLOCKS as usize * BLOCK, "bytes lost");
        assert!(received[..HEAD].iter().all(|&byte| byte == 0xee));
        for (index, chunk) in received[HEAD..].chunks(BLOCK).enumerate() {
            assert_eq!(chunk, block(index as u32), "block {index} out of order");
        }
    });
    (start, reader)
}

/// Queues the head and the 64 blocks on `socket` (limit 64 KiB) and checks
/// that every call returned at once and every block is still pending: the
/// peer does not read yet. Returns the blocks' futures.
fn queue_blocks_over_the_limit(socket: &TcpSocket) -> Vec<Future<Result<(), TcpErrData>>> {
    socket.set_write_buffer_limit(LIMIT);
    drop(socket.write_future(vec![0xee; HEAD]));
    let mut futures = Vec::new();
    let mut slowest = Duration::ZERO;
    for index in 0..BLOCKS {
        let started = Instant::now();
        futures.push(socket.write_future(block(index)));
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest < Duration::from_millis(200),
        "a write_future over the write buffer limit took {slowest:?} to return"
    );
    // The kernel is full, so none of them can be done while the peer does
    // not read, whether the limit holds them in the socket's own queue or
    // (as before on loop threads) libuv holds them.
    let done = futures.iter().filter(|future| future.is_ready()).count();
    assert_eq!(
        done, 0,
        "{done} writes over the limit resolved before the peer read"
    );
    futures
}

/// Waits for every future, checking that they resolve in call order: a
/// later one is never done before an earlier one.
fn assert_resolve_ok_in_order(futures: Vec<Future<Result<(), TcpErrData>>>) {
    let all_done = wait_until(Duration::from_secs(20), || {
        // Checked from the last to the first: one seen done implies that
        // every earlier one, checked after it, must be done too.
        let mut later_done = None;
        for (index, future) in futures.iter().enumerate().rev() {
            let done = future.is_ready();
            if let Some(later) = later_done {
                assert!(done, "write {later} resolved before write {index}");
            } else if done {
                later_done = Some(index);
            }
        }
        later_done == Some(futures.len() - 1)
    });
    assert!(
        all_done,
        "the writes did not resolve after the peer drained"
    );
    for (index, future) in futures.into_iter().enumerate() {
        assert_eq!(future.get(), Ok(()), "write {index}");
    }
}

#[test]
fn write_futures_over_the_write_limit_return_at_once_on_a_plain_thread() {
    bounded(60, || {
        let iotask = new_iotask();
        let (client, peer) = std_peer(&iotask);
        let (start, reader) = delayed_drainer(peer);
        let futures = queue_blocks_over_the_limit(&client);
        let _ = start.send(());
        assert_resolve_ok_in_order(futures);
        drop(client);
        reader.join().expect("the peer's checks");
    });
}

/// On a loop thread the limit keeps these writes in the socket's own queue
/// rather than in libuv's. Where the bytes wait inside the process cannot be
/// seen from outside: held writes count in `write_queue_size` by contract,
/// and own their buffers either way. What a caller sees, and what this pins,
/// is that `write_future` returns at once in a local task, that the writes
/// stay pending while the peer does not read, and that they all resolve
/// `Ok`, in order, with their bytes in order, once it does.
#[test]
fn write_futures_over_the_write_limit_return_at_once_in_a_local_task() {
    bounded(60, || {
        let iotask = new_iotask();
        let (client, peer) = std_peer(&iotask);
        let (start, reader) = delayed_drainer(peer);
        let (client, futures) = iotask
            .spawn_local(move || async move {
                let futures = queue_blocks_over_the_limit(&client);
                (client, futures)
            })
            .get();
        let _ = start.send(());
        assert_resolve_ok_in_order(futures);
        drop(client);
        reader.join().expect("the peer's checks");
    });
}

/// Polls `first` and `second` together on the caller's executor.
async fn join<A, B>(first: A, second: B) -> (A::Output, B::Output)
where
    A: std::future::Future,
    B: std::future::Future,
{
    let (mut first, mut second) = (pin!(first), pin!(second));
    let (mut first_output, mut second_output) = (None, None);
    std::future::poll_fn(move |context| {
        if first_output.is_none() {
            if let Poll::Ready(output) = first.as_mut().poll(context) {
                first_output = Some(output);
            }
        }
        if second_output.is_none() {
            if let Poll::Ready(output) = second.as_mut().poll(context) {
                second_output = Some(output);
            }
        }
        if first_output.is_none() || second_output.is_none() {
            return Poll::Pending;
        }
        let outputs = (first_output.take(), second_output.take());
        Poll::Ready((outputs.0.expect("checked"), outputs.1.expect("checked")))
    })
    .await
}

#[test]
fn write_futures_over_the_write_limit_leave_a_single_threaded_executor_free() {
    bounded(60, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        client.set_write_buffer_limit(LIMIT);
        let total = HEAD + BLOCKS as usize * BLOCK;
        // One thread polls both: a write_future that blocked its thread
        // until the queue drained would never let the reader run.
        let writer = async {
            let mut futures = vec![client.write_future(vec![0xee; HEAD])];
            futures.extend((0..BLOCKS).map(|index| client.write_future(block(index))));
            for future in futures {
                future.await?;
            }
            Ok::<(), TcpErrData>(())
        };
        let reader = async {
            let port = server.read_start()?;
            let mut received = Checksum::new();
            while received.n_bytes() < total as u64 {
                received.update(&port.recv_async().await?);
            }
            Ok::<Checksum, TcpErrData>(received)
        };
        let (written, received) = block_on(join(writer, reader));
        assert_eq!(written, Ok(()));
        let mut expected = Checksum::of(&vec![0xee; HEAD]);
        for index in 0..BLOCKS {
            expected.update(&block(index));
        }
        assert_eq!(received, Ok(expected));
    });
}

#[test]
fn flush_waits_for_the_writes_held_by_the_write_limit() {
    bounded(60, || {
        let iotask = new_iotask();
        let (client, peer) = std_peer(&iotask);
        let (start, reader) = delayed_drainer(peer);
        let futures = queue_blocks_over_the_limit(&client);
        let flushed = client.flush_future();
        assert!(!flushed.is_ready(), "a flush resolved before its writes");
        let _ = start.send(());
        assert!(
            wait_until(Duration::from_secs(20), || flushed.is_ready()),
            "a flush over held writes did not resolve after the peer drained"
        );
        assert_eq!(flushed.get(), Ok(()));
        assert!(
            futures.iter().all(Future::is_ready),
            "the flush resolved before the writes queued before it"
        );
        drop(client);
        reader.join().expect("the peer's checks");
    });
}

#[test]
fn a_read_pending_across_read_start_and_read_stop_gets_the_ports_leftover() {
    bounded(20, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let pending = server.read_future(0);
        thread::sleep(Duration::from_millis(100));
        let port = t!(server.read_start());
        t!(client.write("first"));
        thread::sleep(Duration::from_millis(100));
        t!(server.read_stop(port));
        t!(client.write("second"));
        assert!(
            wait_until(Duration::from_secs(5), || pending.is_ready()),
            "a read pending across read_start / read_stop never resolved"
        );
        assert_eq!(pending.get(), Ok(b"first".to_vec()));
        assert_eq!(server.read(READ_TIMEOUT_MS), Ok(b"second".to_vec()));
    });
}

#[test]
fn a_read_pending_across_a_port_that_read_everything_gets_the_next_chunk() {
    bounded(20, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let pending = server.read_future(0);
        thread::sleep(Duration::from_millis(100));
        let port = t!(server.read_start());
        t!(client.write("first"));
        assert_eq!(t!(port.recv_timeout(Duration::from_secs(5))), b"first");
        t!(server.read_stop(port));
        t!(client.write("second"));
        assert!(
            wait_until(Duration::from_secs(5), || pending.is_ready()),
            "a read pending across read_start / read_stop never resolved"
        );
        assert_eq!(pending.get(), Ok(b"second".to_vec()));
    });
}

#[test]
fn close_reset_in_a_local_task_resets_before_it_returns() {
    bounded(20, || {
        let iotask = new_iotask();
        let (client, peer) = std_peer(&iotask);
        let inode = row_of(&client).inode;
        let (result, open_after) = iotask
            .spawn_local(move || async move {
                let result = client.close_reset();
                // Done, not queued for later: the descriptor is closed.
                (result, kernel::descriptor_open(inode))
            })
            .get();
        assert_eq!(result, Ok(()));
        assert!(
            !open_after,
            "close_reset returned before it closed the socket"
        );
        assert_peer_sees_a_reset(peer);
    });
}

#[test]
fn close_reset_in_a_local_task_of_another_loop_resets_the_peer() {
    bounded(20, || {
        let iotask = new_iotask();
        let other = new_iotask();
        let (client, peer) = std_peer(&iotask);
        let result = other
            .spawn_local(move || async move { client.close_reset() })
            .get();
        assert_eq!(result, Ok(()));
        assert_peer_sees_a_reset(peer);
    });
}

#[test]
fn setters_in_a_local_task_do_the_real_thing_and_report_it() {
    bounded(20, || {
        let iotask = new_iotask();
        let (client, _peer) = std_peer(&iotask);
        assert_ne!(row_of(&client).timer, 2, "keep-alive is on by default");
        let (client, results) = iotask
            .spawn_local(move || async move {
                let results = (
                    client.set_nodelay(true),
                    client.set_keepalive(Some(Duration::from_secs(30))),
                    // libuv refuses a probe count of zero.
                    client.set_keepalive_ex(Duration::from_secs(60), Duration::from_secs(5), 0),
                );
                (client, results)
            })
            .get();
        let (nodelay, keepalive, refused) = results;
        assert_eq!(nodelay, Ok(()));
        assert_eq!(keepalive, Ok(()));
        assert_eq!(
            refused.map_err(|error| error.err_name),
            Err("EINVAL".into())
        );
        // The kernel runs the 30 s keep-alive timer the task asked for.
        let row = row_of(&client);
        assert_eq!(row.timer, 2, "no keep-alive timer: {row:?}");
        assert!(
            row.timer_expires_in <= Duration::from_secs(30)
                && row.timer_expires_in > Duration::from_secs(20),
            "the keep-alive timer fires in {:?}, not about 30 s",
            row.timer_expires_in
        );
    });
}

#[test]
fn close_after_a_shutdown_reports_that_everything_went_out() {
    bounded(20, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        drop(client.write_future("last words"));
        t!(client.shutdown());
        assert_eq!(client.close(), Ok(()));
        assert_eq!(t!(read_to_eof(&server)), b"last words");
    });
}

/// A waker that runs `on_wake` inside `wake`, on whatever thread wakes it:
/// for a socket, the loop thread, in the middle of handling a read.
struct InlineWaker<F>(F);

impl<F: Fn() + Send + Sync + 'static> Wake for InlineWaker<F> {
    fn wake(self: Arc<Self>) {
        (self.0)();
    }
}

fn inline_waker(on_wake: impl Fn() + Send + Sync + 'static) -> Waker {
    Waker::from(Arc::new(InlineWaker(on_wake)))
}

#[test]
fn a_waker_that_takes_from_the_port_inline_does_not_deadlock() {
    bounded(20, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let port = Arc::new(t!(server.read_start()));
        let (taken_sender, taken) = mpsc::channel();
        let waker_port = Arc::clone(&port);
        // Takes the chunk at once, locking the socket's state: a wake made
        // under that lock would deadlock the loop thread here.
        let waker = inline_waker(move || {
            let _ = taken_sender.send(waker_port.try_recv());
        });
        let mut receiving = pin!(port.recv_async());
        let polled = receiving.as_mut().poll(&mut Context::from_waker(&waker));
        assert!(polled.is_pending(), "a chunk arrived before it was sent");
        t!(client.write("inline"));
        let taken = taken
            .recv_timeout(Duration::from_secs(5))
            .expect("the waker did not run: the loop thread is stuck");
        assert_eq!(taken, Some(Ok(b"inline".to_vec())));
        // The loop goes on.
        t!(client.write("after"));
        assert_eq!(
            port.recv_timeout(Duration::from_secs(5)),
            Ok(b"after".to_vec())
        );
    });
}

#[test]
fn a_waker_that_reads_the_socket_inline_does_not_deadlock() {
    bounded(20, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let server = Arc::new(server);
        let mut first = server.read_future(0);
        let (next_sender, next) = mpsc::channel();
        let waker_server = Arc::clone(&server);
        // Starts the next read at once, on the loop thread that completed
        // the first one: it locks the socket's state.
        let waker = inline_waker(move || {
            let _ = next_sender.send(waker_server.read_future(0));
        });
        let polled = Pin::new(&mut first).poll(&mut Context::from_waker(&waker));
        assert!(polled.is_pending(), "a chunk arrived before it was sent");
        t!(client.write("first"));
        let second = next
            .recv_timeout(Duration::from_secs(5))
            .expect("the waker did not run: the loop thread is stuck");
        assert_eq!(first.get(), Ok(b"first".to_vec()));
        t!(client.write("second"));
        assert_eq!(second.get(), Ok(b"second".to_vec()));
    });
}

#[test]
fn a_port_drained_chunk_by_chunk_in_a_local_task_resumes_reading() {
    bounded(20, || {
        const TOTAL: usize = 256 << 10;
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        // One chunk at a time: every receive asks the loop, from the loop
        // thread itself, to read again.
        server.set_read_buffer_limit(0);
        let writer = thread::spawn(move || {
            for index in 0..TOTAL / BLOCK {
                t!(client.write(block(index as u32)));
            }
            client
        });
        let received = iotask
            .spawn_local(move || async move {
                let port = t!(server.read_start());
                let mut received = Vec::new();
                while received.len() < TOTAL {
                    received.extend(t!(port.recv_async().await));
                }
                received
            })
            .get();
        let expected: Vec<u8> = (0..TOTAL / BLOCK)
            .flat_map(|index| block(index as u32))
            .collect();
        assert!(
            received == expected,
            "the bytes arrived changed or out of order"
        );
        drop(writer.join().unwrap());
    });
}
