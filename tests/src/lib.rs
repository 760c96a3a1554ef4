//! Helpers shared by the black-box integration tests of `uvtcp`.
//!
//! Every test body runs under [`bounded`], so a library bug fails the test
//! with a clear message instead of hanging the test binary. Ports always come
//! from the operating system (port 0), never from a fixed number.

pub mod kernel;
pub mod programs;

use std::future::Future as StdFuture;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::panic;
use std::sync::Arc;
use std::sync::mpsc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread};
use std::time::Duration;

use uvtcp::{
    IoTask, KillChan, TcpErrData, TcpListenErrData, TcpListener, TcpNewConnection, TcpSocket,
    accept, connect, listen,
};

/// The read timeout, in milliseconds, that tests pass to `read` instead of `0`.
pub const READ_TIMEOUT_MS: u32 = 5000;

/// Unwraps a `Result`, panicking with the expression text and the error.
#[macro_export]
macro_rules! t {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(error) => panic!("`{}` failed with {:?}", stringify!($e), error),
        }
    };
}

/// Polls `condition` every millisecond until it holds or `limit` has
/// passed; returns whether it held.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `body` on its own thread and returns its result.
///
/// Panics with a clear message when `body` has not finished after `seconds`,
/// and re-raises the panic of `body` when it panicked.
#[track_caller]
pub fn bounded<T: Send + 'static>(seconds: u64, body: impl FnOnce() -> T + Send + 'static) -> T {
    let caller = panic::Location::caller();
    let (done_sender, done_receiver) = mpsc::channel();
    let test_thread = thread::Builder::new()
        .name(format!("bounded body at {caller}"))
        .spawn(move || {
            let value = body();
            // The receiver is gone only after a timeout was already reported.
            let _ = done_sender.send(value);
        })
        .expect("spawning the test body thread failed");
    match done_receiver.recv_timeout(Duration::from_secs(seconds)) {
        Ok(value) => {
            let _ = test_thread.join();
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match test_thread.join() {
            Err(payload) => panic::resume_unwind(payload),
            Ok(()) => panic!("the test body at {caller} ended without a result"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "TIMEOUT: the test body at {caller} did not finish within {seconds} s \
             (a blocking uvtcp call never returned)"
        ),
    }
}

/// `127.0.0.1`.
pub fn localhost_v4() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// `::1`.
pub fn localhost_v6() -> IpAddr {
    IpAddr::V6(Ipv6Addr::LOCALHOST)
}

/// Whether `::1` can be bound on this machine (checked with `std::net`).
pub fn ipv6_loopback_available() -> bool {
    std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

/// A port that was free a moment ago: bound to port 0 with `std::net`, then released.
pub fn free_port(ip: IpAddr) -> u16 {
    let listener = std::net::TcpListener::bind((ip, 0)).expect("binding port 0 with std failed");
    listener.local_addr().expect("std local_addr failed").port()
}

/// The effective user id of this process, read from `/proc/self/status`.
pub fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid_line = status.lines().find(|line| line.starts_with("Uid:"))?;
    // "Uid:	real	effective	saved	filesystem"
    uid_line.split_whitespace().nth(2)?.parse().ok()
}

/// A fresh private I/O task.
pub fn new_iotask() -> IoTask {
    t!(IoTask::spawn())
}

/// A connected pair on loopback IPv4: `(client, server)`.
pub fn connected_pair(iotask: &IoTask) -> (TcpSocket, TcpSocket) {
    connected_pair_on(localhost_v4(), iotask, iotask)
}

/// A connected pair on `ip`, the client on `client_task` and the server side
/// on `server_task`: `(client, server)`.
pub fn connected_pair_on(
    ip: IpAddr,
    client_task: &IoTask,
    server_task: &IoTask,
) -> (TcpSocket, TcpSocket) {
    let listener = t!(TcpListener::bind(ip, 0, 16, server_task));
    let port = t!(listener.local_addr()).port();
    assert_ne!(port, 0, "TcpListener::bind on port 0 reported port 0");
    let client = t!(connect(ip, port, client_task));
    let server = t!(listener.accept_timeout(READ_TIMEOUT_MS));
    (client, server)
}

/// Whether `error` is the end of stream.
pub fn is_eof(error: &TcpErrData) -> bool {
    error.err_name == "EOF"
}

/// Reads with [`READ_TIMEOUT_MS`] until EOF and returns every byte.
pub fn read_to_eof(sock: &TcpSocket) -> Result<Vec<u8>, TcpErrData> {
    let mut received = Vec::new();
    loop {
        match sock.read(READ_TIMEOUT_MS) {
            Ok(chunk) => received.extend_from_slice(&chunk),
            Err(error) if is_eof(&error) => return Ok(received),
            Err(error) => return Err(error),
        }
    }
}

/// Reads with [`READ_TIMEOUT_MS`] until at least `n_bytes` bytes arrived and
/// returns all of them (more than `n_bytes` if the last chunk overshoots).
pub fn read_at_least(sock: &TcpSocket, n_bytes: usize) -> Result<Vec<u8>, TcpErrData> {
    let mut received = Vec::new();
    while received.len() < n_bytes {
        let chunk = sock.read(READ_TIMEOUT_MS)?;
        assert!(!chunk.is_empty(), "read returned Ok with an empty chunk");
        received.extend_from_slice(&chunk);
    }
    Ok(received)
}

/// A streaming FNV-1a (64 bit) checksum with a byte count.
///
/// The result does not depend on how the bytes are split into chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksum {
    hash: u64,
    n_bytes: u64,
}

impl Default for Checksum {
    fn default() -> Self {
        Self::new()
    }
}

impl Checksum {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    /// An empty checksum.
    pub fn new() -> Self {
        Checksum {
            hash: Self::OFFSET_BASIS,
            n_bytes: 0,
        }
    }

    /// Feeds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut hash = self.hash;
        for &byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(Self::PRIME);
        }
        self.hash = hash;
        self.n_bytes += bytes.len() as u64;
    }

    /// The checksum of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let mut checksum = Self::new();
        checksum.update(bytes);
        checksum
    }

    /// The number of bytes fed so far.
    pub fn n_bytes(&self) -> u64 {
        self.n_bytes
    }
}

/// `n_bytes` deterministic pseudo-random bytes (xorshift64*), different for each `seed`.
pub fn pattern(n_bytes: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut bytes = Vec::with_capacity(n_bytes + 8);
    while bytes.len() < n_bytes {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    bytes.truncate(n_bytes);
    bytes
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` to completion on the current thread, parking between polls.
///
/// A minimal executor: the waker unparks this thread.
pub fn block_on<F: StdFuture>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        thread::park();
    }
}

/// A `listen` server running on its own thread.
#[derive(Debug)]
pub struct ListenServer {
    /// The kill channel `listen` handed to `on_establish_cb`.
    pub kill: KillChan,
    /// The thread that runs `listen`; joins to its result.
    pub thread: JoinHandle<Result<(), TcpListenErrData>>,
}

impl ListenServer {
    /// Sends `None` on the kill channel and returns the result of `listen`.
    pub fn stop(self) -> Result<(), TcpListenErrData> {
        let _ = self.kill.send(None);
        self.join()
    }

    /// Waits for `listen` to return (without sending on the kill channel).
    pub fn join(self) -> Result<(), TcpListenErrData> {
        match self.thread.join() {
            Ok(result) => result,
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}

/// Starts `listen(ip, port, 128, iotask, ..)` on a new thread and waits until
/// `on_establish_cb` ran. `new_connect_cb` runs on that thread for every
/// connection. Returns `Err` with `listen`'s error when the server could not
/// start.
pub fn start_listen_server<C>(
    ip: IpAddr,
    port: u16,
    iotask: &IoTask,
    new_connect_cb: C,
) -> Result<ListenServer, TcpListenErrData>
where
    C: FnMut(TcpNewConnection, KillChan) + Send + 'static,
{
    let iotask = iotask.clone();
    let (established_sender, established_receiver) = mpsc::channel::<KillChan>();
    let thread = thread::Builder::new()
        .name("listen server".into())
        .spawn(move || {
            listen(
                ip,
                port,
                128,
                &iotask,
                move |kill| {
                    established_sender
                        .send(kill)
                        .expect("the test stopped waiting for on_establish_cb");
                },
                new_connect_cb,
            )
        })
        .expect("spawning the listen thread failed");
    match established_receiver.recv() {
        Ok(kill) => Ok(ListenServer { kill, thread }),
        // `listen` returned (dropping `on_establish_cb`) without calling it.
        Err(mpsc::RecvError) => match thread.join() {
            Ok(Ok(())) => panic!("listen returned Ok(()) without calling on_establish_cb"),
            Ok(Err(error)) => Err(error),
            Err(payload) => panic::resume_unwind(payload),
        },
    }
}

/// A `new_connect_cb` body for ping/pong servers: accepts, reads until
/// `expected` arrived, answers `reply`, and sends `None` on the kill channel.
pub fn accept_and_answer(
    new_conn: TcpNewConnection,
    kill: &KillChan,
    expected: &'static [u8],
    reply: &'static [u8],
) {
    let sock = t!(accept(new_conn));
    let request = t!(read_at_least(&sock, expected.len()));
    assert_eq!(request, expected, "server got the wrong request");
    t!(sock.write(reply));
    let _ = kill.send(None);
}

/// The code of the workspace README, compiled (and, where it ends by itself,
/// run) as doc tests, so the README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
