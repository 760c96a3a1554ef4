//! The state of one connected socket, split between the loop thread and the
//! user threads.
//!
//! - [`SocketShared`] (behind an `Arc`) is what both sides see: the queue of
//!   received chunks, the end of the stream, the active read port, and
//!   counters. One mutex guards it; the loop thread holds it only to push a
//!   chunk or flip a flag.
//! - [`LoopSocket`] lives on the loop thread only (stored with the loop's
//!   local values): the libuv handle and the pending `read_future`s.
//!
//! Reading from the kernel is on exactly when someone wants bytes: a read
//! port with room below its limit, or a pending one-shot read. The loop
//! thread decides in one place, [`update_reading`], so the kernel is never
//! read without a reader and a slow reader is never buffered for beyond its
//! limit.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use uv_handle::{Completer, LocalKey, LoopRef, Tcp, TcpRef, Timer, UvError};

use crate::error::{TcpErrData, canceled};
use crate::io_task::IoTask;

/// The default backpressure limit: bytes received but not yet read.
pub(crate) const DEFAULT_READ_BUFFER_LIMIT: usize = 1024 * 1024;

/// What both the loop thread and user threads see of a socket.
pub(crate) struct SocketShared {
    state: Mutex<ReadState>,
    readable: Condvar,
    pub(crate) read_limit: AtomicUsize,
    pub(crate) write_queue: AtomicUsize,
    /// The write buffer limit; `usize::MAX` when none is set.
    pub(crate) write_limit: AtomicUsize,
    writable: Condvar,
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
}

/// The read side, guarded by `SocketShared::state`.
pub(crate) struct ReadState {
    chunks: VecDeque<Vec<u8>>,
    buffered: usize,
    /// How the stream ended (EOF, a read error, or ECANCELED once closed);
    /// every reader gets it, repeatedly, once the chunks are drained.
    end: Option<UvError>,
    /// The loop is reading, or a user thread has queued a request to.
    reading: bool,
    /// The id of the active read port.
    pub(crate) port: Option<u64>,
    next_port: u64,
    wakers: Vec<Waker>,
}

/// The loop thread's side of a socket.
pub(crate) struct LoopSocket {
    pub(crate) tcp: Tcp,
    pub(crate) shared: Arc<SocketShared>,
    waiters: RefCell<VecDeque<ReadWaiter>>,
    next_waiter: Cell<u64>,
}

/// A pending one-shot read (`read` / `read_future`).
struct ReadWaiter {
    id: u64,
    completer: Completer<Result<Vec<u8>, TcpErrData>>,
    _timer: Option<Timer>,
}

pub(crate) type SocketKey = LocalKey<LoopSocket>;

/// Whether a port with `buffered` unread bytes may receive more. A limit of
/// zero means one chunk at a time.
fn has_room(buffered: usize, limit: usize) -> bool {
    buffered < limit.max(1)
}

impl SocketShared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, ReadState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn notify(&self, state: &mut ReadState) {
        self.readable.notify_all();
        for waker in state.wakers.drain(..) {
            waker.wake();
        }
    }

    /// Waits on the condition variable, up to `timeout` (`None`: forever).
    pub(crate) fn wait<'a>(
        &self,
        state: MutexGuard<'a, ReadState>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, ReadState> {
        match timeout {
            None => self
                .readable
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            Some(timeout) => {
                self.readable
                    .wait_timeout(state, timeout)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0
            }
        }
    }

    /// Counts `length` bytes as queued for writing, first waiting (on a
    /// user thread) while a write buffer limit is set and they would exceed
    /// it. A write larger than the limit goes when nothing else is queued.
    pub(crate) fn queue_write(&self, length: usize) {
        let limit = self.write_limit.load(Ordering::Relaxed);
        if limit != usize::MAX && !uv_handle::on_loop_thread() {
            let mut state = self.lock();
            loop {
                let queued = self.write_queue.load(Ordering::Acquire);
                if queued == 0 || (limit > 0 && queued + length <= limit) {
                    break;
                }
                state = self
                    .writable
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        }
        self.write_queue.fetch_add(length, Ordering::AcqRel);
    }

    /// Counts `length` queued bytes as written, waking writers held back
    /// by a write buffer limit.
    pub(crate) fn written(&self, length: usize) {
        self.write_queue.fetch_sub(length, Ordering::AcqRel);
        if self.write_limit.load(Ordering::Relaxed) != usize::MAX {
            let _state = self.lock();
            self.writable.notify_all();
        }
    }

    fn limit(&self) -> usize {
        self.read_limit.load(Ordering::Relaxed)
    }

    /// Takes the next chunk, or the end of the stream, if either is there.
    /// Returns whether the loop must be asked to resume reading.
    pub(crate) fn take(
        &self,
        state: &mut ReadState,
    ) -> (Option<Result<Vec<u8>, TcpErrData>>, bool) {
        if let Some(chunk) = state.chunks.pop_front() {
            state.buffered -= chunk.len();
            let resume = self.claim_resume(state);
            return (Some(Ok(chunk)), resume);
        }
        (state.end.map(|end| Err(end.into())), false)
    }

    /// Whether an active port has room again while the loop is not reading;
    /// if so, marks reading as requested (the caller then asks the loop).
    pub(crate) fn claim_resume(&self, state: &mut ReadState) -> bool {
        let resume = state.port.is_some()
            && !state.reading
            && state.end.is_none()
            && has_room(state.buffered, self.limit());
        if resume {
            state.reading = true;
        }
        resume
    }

    /// Opens a read port, or fails with `EALREADY` while one is active.
    pub(crate) fn open_port(&self, state: &mut ReadState) -> Result<(u64, bool), TcpErrData> {
        if state.port.is_some() {
            return Err(UvError::EALREADY.into());
        }
        state.next_port += 1;
        state.port = Some(state.next_port);
        Ok((state.next_port, self.claim_resume(state)))
    }

    /// Closes port `id`; returns whether the loop should re-check reading.
    pub(crate) fn close_port(&self, state: &mut ReadState, id: u64) -> Result<bool, TcpErrData> {
        if state.port != Some(id) {
            return Err(UvError::EINVAL.into());
        }
        state.port = None;
        Ok(state.reading)
    }

    pub(crate) fn add_waker(&self, state: &mut ReadState, waker: &Waker) {
        if !state.wakers.iter().any(|known| known.will_wake(waker)) {
            state.wakers.push(waker.clone());
        }
    }
}

/// Registers a connected handle on its loop; returns its key and shared state.
pub(crate) fn register(
    event_loop: &LoopRef,
    tcp: Tcp,
) -> Result<(SocketKey, Arc<SocketShared>), UvError> {
    let local = tcp.local_addr()?;
    let peer = tcp.peer_addr()?;
    let shared = Arc::new(SocketShared {
        state: Mutex::new(ReadState {
            chunks: VecDeque::new(),
            buffered: 0,
            end: None,
            reading: false,
            port: None,
            next_port: 0,
            wakers: Vec::new(),
        }),
        readable: Condvar::new(),
        read_limit: AtomicUsize::new(DEFAULT_READ_BUFFER_LIMIT),
        write_queue: AtomicUsize::new(0),
        write_limit: AtomicUsize::new(usize::MAX),
        writable: Condvar::new(),
        local,
        peer,
    });
    let key = event_loop.insert_local(LoopSocket {
        tcp,
        shared: Arc::clone(&shared),
        waiters: RefCell::new(VecDeque::new()),
        next_waiter: Cell::new(0),
    });
    Ok((key, shared))
}

/// Starts or stops reading from the kernel so that it is on exactly when a
/// reader wants bytes. Call with the state locked, on the loop thread.
fn update_reading(socket: &Rc<LoopSocket>, state: &mut ReadState) {
    // Reads that timed out on their thread (`read` with a timeout) wait no
    // more: they must neither keep the kernel read on nor pile up.
    socket
        .waiters
        .borrow_mut()
        .retain(|waiter| !waiter.completer.is_abandoned());
    let wanted = state.end.is_none()
        && match state.port {
            Some(_) => has_room(state.buffered, socket.shared.limit()),
            None => !socket.waiters.borrow().is_empty(),
        };
    if wanted && !socket.tcp.is_reading() {
        let weak = Rc::downgrade(socket);
        let started = socket
            .tcp
            .read_start(move |tcp, result| on_read(&weak, tcp, result));
        if let Err(error) = started {
            end_stream(socket, state, error);
            return;
        }
    } else if !wanted && socket.tcp.is_reading() {
        let _ = socket.tcp.read_stop();
    }
    state.reading = socket.tcp.is_reading();
}

/// The loop-side read callback.
fn on_read(socket: &Weak<LoopSocket>, _tcp: &TcpRef, result: Result<&[u8], UvError>) {
    let Some(socket) = socket.upgrade() else {
        return;
    };
    let shared = &socket.shared;
    let mut state = shared.lock();
    match result {
        Ok(bytes) => {
            let chunk = bytes.to_vec();
            let unclaimed = if state.port.is_none() && state.chunks.is_empty() {
                hand_to_waiter(&socket, chunk)
            } else {
                Some(chunk)
            };
            if let Some(chunk) = unclaimed {
                state.buffered += chunk.len();
                state.chunks.push_back(chunk);
            }
            update_reading(&socket, &mut state);
        }
        Err(error) => end_stream(&socket, &mut state, error),
    }
    shared.notify(&mut state);
}

/// Gives `chunk` to the oldest waiting one-shot read still waited for;
/// returns it when nobody waits.
fn hand_to_waiter(socket: &LoopSocket, chunk: Vec<u8>) -> Option<Vec<u8>> {
    let mut chunk = chunk;
    loop {
        let Some(waiter) = socket.waiters.borrow_mut().pop_front() else {
            return Some(chunk);
        };
        match waiter.completer.try_complete(Ok(chunk)) {
            Ok(()) => return None,
            Err(Ok(unclaimed)) => chunk = unclaimed,
            Err(Err(_)) => unreachable!("the chunk was sent as Ok"),
        }
    }
}

/// Records the end of the stream and fails every pending one-shot read.
fn end_stream(socket: &LoopSocket, state: &mut ReadState, error: UvError) {
    if state.end.is_none() {
        state.end = Some(error);
    }
    state.reading = false;
    let end = state.end.expect("set above");
    for waiter in socket.waiters.borrow_mut().drain(..) {
        waiter.completer.complete(Err(end.into()));
    }
}

/// Asks the loop, from a user thread, to re-check whether to read from the
/// kernel (a port opened, closed or drained).
pub(crate) fn request_refresh(io_task: &IoTask, key: SocketKey) {
    let _ = io_task.run(move |event_loop| refresh_reading(event_loop, key));
}

/// Loop side of a user thread's request to re-check reading.
fn refresh_reading(event_loop: &LoopRef, key: SocketKey) {
    if let Some(socket) = event_loop.local(key) {
        let mut state = socket.shared.lock();
        update_reading(&socket, &mut state);
        socket.shared.notify(&mut state);
    }
}

/// Loop side of a one-shot read: answers at once from the queue or the end
/// of the stream, or waits for the next chunk, up to `timeout_msecs`.
pub(crate) fn read_once(
    event_loop: &LoopRef,
    key: SocketKey,
    timeout_msecs: u32,
    completer: Completer<Result<Vec<u8>, TcpErrData>>,
) {
    let Some(socket) = event_loop.local(key) else {
        completer.complete(Err(canceled()));
        return;
    };
    let shared = &socket.shared;
    let mut state = shared.lock();
    if state.port.is_some() {
        completer.complete(Err(UvError::EALREADY.into()));
        return;
    }
    let (taken, _) = shared.take(&mut state);
    if let Some(result) = taken {
        if let Err(Ok(chunk)) = completer.try_complete(result) {
            // Nobody waits any more: the chunk goes back to the front.
            state.buffered += chunk.len();
            state.chunks.push_front(chunk);
        }
        return;
    }
    let id = socket.next_waiter.get();
    socket.next_waiter.set(id + 1);
    let timer = if timeout_msecs == 0 {
        None
    } else {
        match start_read_timer(event_loop, &socket, id, timeout_msecs) {
            Ok(timer) => Some(timer),
            Err(error) => {
                completer.complete(Err(error.into()));
                return;
            }
        }
    };
    socket.waiters.borrow_mut().push_back(ReadWaiter {
        id,
        completer,
        _timer: timer,
    });
    update_reading(&socket, &mut state);
}

fn start_read_timer(
    event_loop: &LoopRef,
    socket: &Rc<LoopSocket>,
    id: u64,
    timeout_msecs: u32,
) -> Result<Timer, UvError> {
    let timer = Timer::new(event_loop)?;
    let weak = Rc::downgrade(socket);
    let timeout = Duration::from_millis(u64::from(timeout_msecs));
    timer.start(timeout, Duration::ZERO, move |_| {
        let Some(socket) = weak.upgrade() else {
            return;
        };
        let mut state = socket.shared.lock();
        let expired = {
            let mut waiters = socket.waiters.borrow_mut();
            let position = waiters.iter().position(|waiter| waiter.id == id);
            position.and_then(|position| waiters.remove(position))
        };
        if let Some(waiter) = expired {
            waiter.completer.complete(Err(UvError::ETIMEDOUT.into()));
        }
        update_reading(&socket, &mut state);
    })?;
    Ok(timer)
}

/// Removes a socket from its loop and closes it gracefully: queued writes
/// finish, then the write side is shut down and the handle closed.
pub(crate) fn close_gracefully(event_loop: &LoopRef, key: SocketKey) {
    let Some(socket) = event_loop.remove_local(key) else {
        return;
    };
    end_locally(&socket);
    let keep_alive = Rc::clone(&socket);
    socket.tcp.shutdown(move |_| keep_alive.tcp.close());
}

/// Removes a socket from its loop and resets the connection; queued writes
/// fail with `ECANCELED`.
pub(crate) fn close_with_reset(event_loop: &LoopRef, key: SocketKey) -> Result<(), UvError> {
    let Some(socket) = event_loop.remove_local(key) else {
        return Err(UvError::EBADF);
    };
    end_locally(&socket);
    let result = socket.tcp.close_reset();
    if result.is_err() {
        socket.tcp.close();
    }
    result
}

/// The read side of a socket closed by its owner: readers get `ECANCELED`.
fn end_locally(socket: &Rc<LoopSocket>) {
    let mut state = socket.shared.lock();
    end_stream(socket, &mut state, UvError::ECANCELED);
    if socket.tcp.is_reading() {
        let _ = socket.tcp.read_stop();
    }
    socket.shared.notify(&mut state);
}
