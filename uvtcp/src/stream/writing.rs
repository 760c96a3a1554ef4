//! The loop thread's write side of a socket: writes tried at once, the
//! remainder queued in libuv without a copy, the write buffer limit, and
//! flushes.
//!
//! A write first goes straight to the kernel with `uv_try_write`, which
//! libuv refuses while its own queue is not empty, so order holds; a write
//! taken whole completes at once, with no request and no callback. Only the
//! remainder becomes a libuv request, owning the buffer and an offset into
//! it.
//!
//! Above the write buffer limit, writes (and a shutdown behind them) wait
//! here, in call order, until libuv's queue drains below it: nothing blocks
//! a thread, on the loop or elsewhere.
//!
//! A shutdown also waits here, not in libuv, until libuv's queue is empty:
//! libuv refuses `uv_tcp_close_reset` while a shutdown is pending, and a
//! graceful close that times out must still be able to reset the
//! connection, so that its peer sees a reset rather than a clean end of a
//! cut stream.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use uv_handle::{Completer, UvError};

use crate::error::TcpErrData;
use crate::stream::LoopSocket;

/// What a write, a flush or a close reports.
pub(crate) type Outcome = Result<(), TcpErrData>;

/// A write or a shutdown held back by the write buffer limit.
pub(crate) enum Held {
    Write {
        data: Vec<u8>,
        completer: Completer<Outcome>,
    },
    Shutdown(Box<dyn FnOnce(Result<(), UvError>)>),
}

/// A flush waiting for the writes queued before it.
pub(crate) struct FlushWaiter {
    /// Resolved once this many writes have settled.
    target: u64,
    completer: Completer<Outcome>,
}

/// Queues `data` on the socket. Returns the result when it is known at once
/// (written whole, or refused); otherwise the write is pending and reports
/// to the completer `pending()` gives.
pub(crate) fn write(
    socket: &Rc<LoopSocket>,
    data: Vec<u8>,
    pending: impl FnOnce() -> Completer<Outcome>,
) -> Option<Outcome> {
    let length = data.len();
    socket.accepted.set(socket.accepted.get() + 1);
    if !admits(socket, length) {
        socket.held.borrow_mut().push_back(Held::Write {
            data,
            completer: pending(),
        });
        return None;
    }
    issue(socket, data, pending)
}

/// Whether a write of `length` bytes may go to libuv now: nothing is held
/// before it, and libuv's queue has room for it.
fn admits(socket: &LoopSocket, length: usize) -> bool {
    socket.held.borrow().is_empty() && has_room(socket, length)
}

/// Whether libuv's queue is empty, or has room for `length` more bytes
/// below the write buffer limit.
fn has_room(socket: &LoopSocket, length: usize) -> bool {
    let in_flight = socket.in_flight.get();
    let limit = socket.shared.write_limit.load(Ordering::Relaxed);
    in_flight == 0 || (limit > 0 && in_flight.saturating_add(length) <= limit)
}

/// Runs an operation that may finish at once (`write`, `flush`) for a
/// caller that already holds a completer: reports to it either way.
pub(crate) fn answer(
    completer: Completer<Outcome>,
    operation: impl FnOnce(&mut dyn FnMut() -> Completer<Outcome>) -> Option<Outcome>,
) {
    let mut slot = Some(completer);
    let outcome = operation(&mut || slot.take().expect("an operation waits once"));
    if let (Some(outcome), Some(completer)) = (outcome, slot) {
        completer.complete(outcome);
    }
}

/// Writes borrowed bytes straight to the kernel when nothing else is queued
/// on the socket, with no copy: how many the kernel took, or the error.
/// `None` when something is queued, or the kernel took nothing: the caller
/// then queues a copy.
#[cfg(any(feature = "tokio", feature = "futures-io"))]
pub(crate) fn write_now(socket: &LoopSocket, bytes: &[u8]) -> Option<Result<usize, UvError>> {
    // Held and in-flight writes count in the write queue, and so do writes
    // other threads have queued for the loop but it has not run yet.
    if socket.shared.write_queue.load(Ordering::Acquire) != 0 {
        return None;
    }
    match socket.tcp.try_write(bytes) {
        Ok(0) | Err(UvError::EAGAIN) => None,
        Ok(count) => Some(Ok(count)),
        Err(error) => {
            socket.shared.record_write_error(error);
            Some(Err(error))
        }
    }
}

/// Hands a write to the kernel, or to libuv for what the kernel did not take.
fn issue(
    socket: &Rc<LoopSocket>,
    data: Vec<u8>,
    pending: impl FnOnce() -> Completer<Outcome>,
) -> Option<Outcome> {
    let length = data.len();
    let written = if socket.in_flight.get() == 0 {
        match socket.tcp.try_write(&data) {
            Ok(count) => count,
            Err(UvError::EAGAIN) => 0,
            Err(error) => {
                settle(socket, length, Err(error));
                return Some(Err(error.into()));
            }
        }
    } else {
        0
    };
    if written == length {
        settle(socket, length, Ok(()));
        return Some(Ok(()));
    }
    let remainder = length - written;
    // Bytes the kernel took are no longer queued.
    socket.shared.written_out(written);
    socket.in_flight.set(socket.in_flight.get() + remainder);
    let completer = pending();
    let weak = Rc::downgrade(socket);
    let shared = Arc::clone(&socket.shared);
    socket.tcp.write_from(data, written, move |outcome| {
        if let Some(socket) = weak.upgrade() {
            socket.in_flight.set(socket.in_flight.get() - remainder);
            settle(&socket, remainder, outcome);
            completer.complete(outcome.map_err(TcpErrData::from));
            release_held(&socket);
        } else {
            if let Err(error) = outcome {
                shared.record_write_error(error);
            }
            shared.written_out(remainder);
            completer.complete(outcome.map_err(TcpErrData::from));
        }
    });
    None
}

/// Accounts for a write whose last `length` bytes are over.
fn settle(socket: &LoopSocket, length: usize, outcome: Result<(), UvError>) {
    socket.settled.set(socket.settled.get() + 1);
    if let Err(error) = outcome {
        socket.shared.record_write_error(error);
    }
    socket.shared.written_out(length);
}

/// Lets held writes go, in order, while the limit admits them, and a held
/// shutdown once libuv has no write left; then resolves the flushes that
/// are due.
fn release_held(socket: &Rc<LoopSocket>) {
    loop {
        let next = {
            let mut held = socket.held.borrow_mut();
            let ready = match held.front() {
                Some(Held::Write { data, .. }) => has_room(socket, data.len()),
                Some(Held::Shutdown(_)) => socket.in_flight.get() == 0,
                None => false,
            };
            if !ready {
                break;
            }
            held.pop_front()
        };
        match next {
            Some(Held::Write { data, completer }) => {
                answer(completer, |pending| issue(socket, data, pending));
            }
            Some(Held::Shutdown(on_done)) => socket.tcp.shutdown(on_done),
            None => break,
        }
    }
    resolve_flushes(socket);
}

/// Shuts the write side down after the writes queued before, held or not:
/// at once when libuv has none, otherwise once they are done.
pub(crate) fn shutdown(
    socket: &Rc<LoopSocket>,
    on_done: impl FnOnce(Result<(), UvError>) + 'static,
) {
    let weak = Rc::downgrade(socket);
    let on_done = move |outcome: Result<(), UvError>| {
        if let (Ok(()), Some(socket)) = (outcome, weak.upgrade()) {
            socket.shut_down.set(true);
        }
        on_done(outcome);
    };
    let mut held = socket.held.borrow_mut();
    if held.is_empty() && socket.in_flight.get() == 0 {
        drop(held);
        socket.tcp.shutdown(on_done);
    } else {
        held.push_back(Held::Shutdown(Box::new(on_done)));
    }
}

/// Fails every held write with `error` (the socket is being reset).
pub(crate) fn fail_held(socket: &LoopSocket, error: UvError) {
    let held = std::mem::take(&mut *socket.held.borrow_mut());
    for entry in held {
        match entry {
            Held::Write { data, completer } => {
                settle(socket, data.len(), Err(error));
                completer.complete(Err(error.into()));
            }
            Held::Shutdown(on_done) => on_done(Err(error)),
        }
    }
    resolve_flushes(socket);
}

/// A flush: the result once every write queued before it is done, at once
/// when none is pending; otherwise it reports to the completer `pending()`
/// gives.
pub(crate) fn flush(
    socket: &LoopSocket,
    pending: impl FnOnce() -> Completer<Outcome>,
) -> Option<Outcome> {
    let target = socket.accepted.get();
    if socket.settled.get() >= target {
        return Some(first_error(socket));
    }
    socket.flushes.borrow_mut().push_back(FlushWaiter {
        target,
        completer: pending(),
    });
    None
}

fn first_error(socket: &LoopSocket) -> Outcome {
    socket
        .shared
        .write_error()
        .map_or(Ok(()), |error| Err(error.into()))
}

/// Resolves the flushes whose writes are all done.
fn resolve_flushes(socket: &LoopSocket) {
    loop {
        let due = {
            let mut flushes = socket.flushes.borrow_mut();
            match flushes.front() {
                Some(waiter) if socket.settled.get() >= waiter.target => flushes.pop_front(),
                _ => None,
            }
        };
        let Some(waiter) = due else {
            return;
        };
        waiter.completer.complete(first_error(socket));
    }
}
