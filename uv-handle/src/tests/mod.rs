//! Unit tests of uv-handle, over real loopback sockets, and the helpers they
//! share.
//!
//! One file per area. Every wait is bounded: loops run under a [`Watchdog`]
//! that panics inside the loop once [`timeout`] has passed, and channel
//! waits use `recv_timeout`, so a bug fails a test instead of hanging it.
//! Sockets bind `127.0.0.1:0` (or `[::1]:0`), never a fixed port.
//!
//! Under valgrind (`cargo xtask valgrind` sets `UV_HANDLE_UNDER_VALGRIND=1`)
//! bulk transfers are smaller and the timeout is longer; no test is skipped.

/// Unwraps a `Result`, naming the expression that failed.
macro_rules! t {
    ($expression:expr) => {
        match $expression {
            Ok(value) => value,
            Err(error) => panic!("`{}` failed: {:?}", stringify!($expression), error),
        }
    };
}

mod async_handle;
mod completion;
mod drop_order;
mod drop_panics;
mod executor;
mod io_task;
mod local_values;
mod loop_watcher;
mod panics;
mod requests;
mod tcp;
mod timer;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{
    Async, AsyncSender, Completion, IoTask, LocalKey, Loop, LoopRef, RunMode, Tcp, UvError,
};

/// Whether the tests run under valgrind (set by `cargo xtask valgrind`).
pub(crate) fn under_valgrind() -> bool {
    std::env::var_os("UV_HANDLE_UNDER_VALGRIND").is_some_and(|value| value == "1")
}

/// How long any single wait of a test may take before the test fails.
pub(crate) fn timeout() -> Duration {
    if under_valgrind() {
        Duration::from_secs(120)
    } else {
        Duration::from_secs(10)
    }
}

/// `normal`, or `valgrind` when running under valgrind.
pub(crate) fn scaled(normal: usize, valgrind: usize) -> usize {
    if under_valgrind() { valgrind } else { normal }
}

/// `127.0.0.1:0`: the loopback address with a port the kernel picks.
pub(crate) fn any_local_address() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// `[::1]:0` when this machine has IPv6 loopback, else `None`.
pub(crate) fn any_local_ipv6_address() -> Option<SocketAddr> {
    let address: SocketAddr = "[::1]:0".parse().unwrap();
    TcpListener::bind(address).ok().map(|_| address)
}

/// An address where nothing listens (a port that was free a moment ago).
pub(crate) fn refusing_address() -> SocketAddr {
    let listener = t!(TcpListener::bind(any_local_address()));
    t!(listener.local_addr())
}

/// Fails the loop it guards if it runs longer than [`timeout`]: a thread
/// wakes an unreferenced [`Async`] whose callback panics, so `run` re-raises
/// the panic in the test. Dropping the guard stops the thread.
pub(crate) struct Watchdog {
    _wake: Async,
    _cancel: mpsc::Sender<()>,
}

impl Watchdog {
    pub(crate) fn new(event_loop: &LoopRef) -> Watchdog {
        let limit = timeout();
        let wake = t!(Async::new(event_loop, move |_| {
            panic!("watchdog: the loop ran longer than {limit:?}")
        }));
        // The watchdog must not keep the loop alive by itself.
        wake.unref();
        let sender = wake.sender();
        let (cancel, cancelled) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(limit) {
                let _ = sender.send();
            }
        });
        Watchdog {
            _wake: wake,
            _cancel: cancel,
        }
    }
}

/// Runs `event_loop` until `done()` holds, failing on timeout or if the
/// loop runs out of work first.
pub(crate) fn run_until(event_loop: &LoopRef, mut done: impl FnMut() -> bool) {
    let _watchdog = Watchdog::new(event_loop);
    let deadline = Instant::now() + timeout();
    while !done() {
        let alive = t!(event_loop.run(RunMode::Once));
        if !alive && !done() {
            panic!("the loop ran out of work before the condition held");
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for a condition"
        );
    }
}

/// Runs the loop (bounded) and returns the panic `run` re-raised.
pub(crate) fn run_and_catch(event_loop: &LoopRef) -> Box<dyn std::any::Any + Send> {
    let _watchdog = Watchdog::new(event_loop);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        event_loop.run(RunMode::Default)
    }));
    match outcome {
        Ok(result) => panic!("run returned {result:?} instead of re-raising the panic"),
        Err(payload) => payload,
    }
}

/// Runs `event_loop` until nothing is left to do (`run(Default)`), failing
/// on timeout.
pub(crate) fn run_idle(event_loop: &LoopRef) {
    let _watchdog = Watchdog::new(event_loop);
    let alive = t!(event_loop.run(RunMode::Default));
    assert!(!alive, "run(Default) returned with work left");
}

/// A value the loop callbacks fill in, seen from the test.
pub(crate) type Slot<T> = Rc<RefCell<Option<T>>>;

pub(crate) fn slot<T>() -> Slot<T> {
    Rc::new(RefCell::new(None))
}

/// Counts how many of its [`DropToken`]s have been dropped; `Send + Sync`,
/// so tokens may travel to other threads.
#[derive(Clone, Default)]
pub(crate) struct Drops(Arc<AtomicUsize>);

/// Increments its [`Drops`] when dropped.
pub(crate) struct DropToken(Arc<AtomicUsize>);

impl Drops {
    pub(crate) fn new() -> Drops {
        Drops::default()
    }

    pub(crate) fn token(&self) -> DropToken {
        DropToken(Arc::clone(&self.0))
    }

    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Panics with `"drop boom"` when dropped (unless the thread is already
/// unwinding): a value whose destructor fails, for callbacks to capture.
pub(crate) struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("drop boom");
        }
    }
}

/// Sends `()` on its channel when dropped: shows that a value held by a
/// loop (as a local value, in a callback) has been released.
pub(crate) struct DropSignal(pub(crate) mpsc::Sender<()>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// A listener on `127.0.0.1:0` that keeps every connection it accepts.
pub(crate) struct Server {
    pub(crate) listener: Tcp,
    pub(crate) accepted: Rc<RefCell<Vec<Tcp>>>,
}

impl Server {
    pub(crate) fn new(event_loop: &LoopRef) -> Server {
        Server::on(event_loop, any_local_address())
    }

    pub(crate) fn on(event_loop: &LoopRef, address: SocketAddr) -> Server {
        let listener = t!(Tcp::new(event_loop));
        t!(listener.bind(address, Default::default()));
        let accepted = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&accepted);
        t!(listener.listen(16, move |server, status| {
            t!(status);
            sink.borrow_mut().push(t!(server.accept()));
        }));
        Server { listener, accepted }
    }

    pub(crate) fn address(&self) -> SocketAddr {
        t!(self.listener.local_addr())
    }

    /// Takes the oldest accepted connection.
    pub(crate) fn take(&self) -> Tcp {
        self.accepted.borrow_mut().remove(0)
    }
}

/// A connected pair on one loop: `(accepted, client)`.
pub(crate) fn tcp_pair(event_loop: &LoopRef) -> (Tcp, Tcp) {
    tcp_pair_on(event_loop, any_local_address())
}

/// A connected pair over a listener bound to `address`.
pub(crate) fn tcp_pair_on(event_loop: &LoopRef, address: SocketAddr) -> (Tcp, Tcp) {
    let server = Server::on(event_loop, address);
    let client = t!(Tcp::new(event_loop));
    let connected = slot();
    let result = Rc::clone(&connected);
    client.connect(server.address(), move |_, status| {
        *result.borrow_mut() = Some(status)
    });
    run_until(event_loop, || {
        connected.borrow().is_some() && !server.accepted.borrow().is_empty()
    });
    t!(connected.take().unwrap());
    (server.take(), client)
}

/// A libuv client connected to a blocking `std` peer (reads and writes
/// time out after [`timeout`]).
pub(crate) fn std_peer(event_loop: &LoopRef) -> (Tcp, TcpStream) {
    let listener = t!(TcpListener::bind(any_local_address()));
    let client = t!(Tcp::new(event_loop));
    let connected = slot();
    let result = Rc::clone(&connected);
    client.connect(t!(listener.local_addr()), move |_, status| {
        *result.borrow_mut() = Some(status)
    });
    run_until(event_loop, || connected.borrow().is_some());
    t!(connected.take().unwrap());
    let (peer, _) = t!(listener.accept());
    t!(peer.set_read_timeout(Some(timeout())));
    t!(peer.set_write_timeout(Some(timeout())));
    (client, peer)
}

/// Starts reading `tcp` into a shared buffer; the second value records how
/// the stream ended (`EOF`, `ECONNRESET`, ...).
pub(crate) fn collect(tcp: &Tcp) -> (Rc<RefCell<Vec<u8>>>, Slot<UvError>) {
    let bytes = Rc::new(RefCell::new(Vec::new()));
    let end = slot();
    let (sink, end_sink) = (Rc::clone(&bytes), Rc::clone(&end));
    t!(tcp.read_start(move |_, chunk| match chunk {
        Ok(chunk) => sink.borrow_mut().extend_from_slice(chunk),
        Err(error) => *end_sink.borrow_mut() = Some(error),
    }));
    (bytes, end)
}

/// Reads from a `std` peer until it has `length` bytes or EOF.
pub(crate) fn read_exactly(peer: &mut TcpStream, length: usize) -> Vec<u8> {
    let mut received = vec![0; length];
    t!(peer.read_exact(&mut received));
    received
}

/// A deterministic test pattern of `length` bytes.
pub(crate) fn pattern(length: usize) -> Vec<u8> {
    (0..length).map(|index| (index % 251) as u8).collect()
}

/// Writes `data` from a thread and returns a receiver of the result.
pub(crate) fn write_from_thread(
    mut peer: TcpStream,
    data: Vec<u8>,
) -> mpsc::Receiver<std::io::Result<TcpStream>> {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = peer.write_all(&data).map(|()| peer);
        let _ = done.send(outcome);
    });
    result
}

/// A loop-thread counter, for callbacks.
pub(crate) fn counter() -> Rc<Cell<usize>> {
    Rc::new(Cell::new(0))
}

/// Waits for a completion with [`timeout`].
pub(crate) fn wait<T>(completion: Completion<T>) -> T {
    t!(completion.wait_timeout(timeout()))
}

/// The auto traits the crate promises: the cross-thread types are
/// `Send + Sync`. (The loop-bound types are `!Send`; the compile-fail doc
/// tests on `Loop`, `Tcp`, `Timer` and `Async` show it.)
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<IoTask>();
    assert_send_sync::<AsyncSender>();
    assert_send_sync::<LocalKey<Rc<()>>>();
    assert_send_sync::<Completion<u8>>();
    assert_send_sync::<crate::Completer<u8>>();
    assert_send_sync::<UvError>();
    assert_send_sync::<crate::CompletionError>();
};

#[test]
fn helpers_bound_every_wait() {
    let event_loop = t!(Loop::new());
    let ticks = counter();
    let timer = t!(crate::Timer::new(&event_loop));
    let tick = Rc::clone(&ticks);
    t!(timer.start(
        Duration::from_millis(1),
        Duration::from_millis(1),
        move |_| tick.set(tick.get() + 1)
    ));
    run_until(&event_loop, || ticks.get() >= 3);
    t!(timer.stop());
    run_idle(&event_loop);
    // A loop with nothing to do fails run_until at once instead of hanging.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_until(&event_loop, || false)
    }));
    assert!(outcome.is_err());
}
