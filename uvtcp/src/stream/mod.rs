//! The state of one connected socket, split between the loop thread and the
//! user threads.
//!
//! - [`shared`]: what both sides see, behind an `Arc` and one mutex (the
//!   received chunks, the end of the stream, the active port, counters).
//! - [`LoopSocket`]: what only the loop thread touches, stored with the
//!   loop's local values: the libuv handle, pending one-shot reads
//!   ([`reading`]), held writes and flushes ([`writing`]).
//! - [`close`]: the graceful and the abortive close.
//!
//! Every operation reaches the loop side through
//! [`IoTask::run`](crate::io_task::IoTask), which calls it at once on the
//! socket's own loop thread and queues it from any other thread.

pub(crate) mod close;
pub(crate) mod reading;
pub(crate) mod shared;
pub(crate) mod writing;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::Arc;

use uv_handle::{Completer, LocalKey, LoopRef, Tcp, Timer, UvError};

use crate::error::TcpErrData;
use crate::io_task::IoTask;
use shared::SocketShared;
use writing::{FlushWaiter, Held};

/// The loop thread's side of a socket.
pub(crate) struct LoopSocket {
    pub(crate) tcp: Tcp,
    pub(crate) shared: Arc<SocketShared>,
    waiters: RefCell<VecDeque<ReadWaiter>>,
    next_waiter: Cell<u64>,
    /// Bytes handed to libuv write requests and not yet written.
    in_flight: Cell<usize>,
    /// Writes accepted, and writes settled (done or failed, whether taken
    /// at once, by libuv or held first); they settle in the order accepted.
    accepted: Cell<u64>,
    settled: Cell<u64>,
    held: RefCell<VecDeque<Held>>,
    flushes: RefCell<VecDeque<FlushWaiter>>,
    /// A shutdown sent the FIN.
    shut_down: Cell<bool>,
}

/// A pending one-shot read (`read` / `read_future`).
struct ReadWaiter {
    id: u64,
    completer: Completer<Result<Vec<u8>, TcpErrData>>,
    _timer: Option<Timer>,
}

pub(crate) type SocketKey = LocalKey<LoopSocket>;

/// Registers a connected handle on its loop; returns its key and shared state.
pub(crate) fn register(
    event_loop: &LoopRef,
    tcp: Tcp,
) -> Result<(SocketKey, Arc<SocketShared>), UvError> {
    let shared = Arc::new(SocketShared::new(tcp.local_addr()?, tcp.peer_addr()?));
    let key = event_loop.insert_local(LoopSocket {
        tcp,
        shared: Arc::clone(&shared),
        waiters: RefCell::new(VecDeque::new()),
        next_waiter: Cell::new(0),
        in_flight: Cell::new(0),
        accepted: Cell::new(0),
        settled: Cell::new(0),
        held: RefCell::new(VecDeque::new()),
        flushes: RefCell::new(VecDeque::new()),
        shut_down: Cell::new(false),
    });
    Ok((key, shared))
}

/// Asks the socket's loop to re-check whether to read from the kernel (a
/// port opened, closed or drained). Never call it with the state locked:
/// on the loop thread it runs at once.
pub(crate) fn request_refresh(io_task: &IoTask, key: SocketKey) {
    let _ = io_task.run(move |event_loop| reading::refresh_reading(event_loop, key));
}
