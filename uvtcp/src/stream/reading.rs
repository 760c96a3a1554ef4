//! The loop thread's read side of a socket: reading from the kernel exactly
//! while a reader wants bytes, and the pending one-shot reads.
//!
//! Reading is on while an active port has room below its limit, or a
//! one-shot read (`read` / `read_future`) waits. Once started for a one-shot
//! read it stays on until one chunk is queued unclaimed, so a reader that
//! reads again at once (an echo loop, a task polled in the same loop
//! iteration) costs no `uv_read_stop` / `uv_read_start` pair (two
//! `epoll_ctl` calls): at most one chunk is read ahead, and a slow reader is
//! still never buffered for beyond that or its port's limit.

use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::time::Duration;

use uv_handle::{Completer, LoopRef, TcpRef, Timer, UvError};

use crate::error::{TcpErrData, canceled};
use crate::stream::shared::{ReadState, StateGuard, has_room};
use crate::stream::{LoopSocket, ReadWaiter, SocketKey};

/// Starts or stops reading from the kernel so that it is on exactly when a
/// reader wants bytes. Call with the state locked, on the loop thread.
pub(crate) fn update_reading(socket: &Rc<LoopSocket>, state: &mut ReadState) {
    feed_waiters(socket, state);
    let wanted = state.end.is_none()
        && match state.port {
            Some(_) => has_room(state.buffered(), socket.shared.limit()),
            // A one-shot read waits, or the read-ahead chunk is not there yet.
            None => {
                !socket.waiters.borrow().is_empty()
                    || (state.want_async && has_room(state.buffered(), socket.shared.limit()))
                    || (socket.tcp.is_reading() && !state.has_chunks())
            }
        };
    if wanted && !socket.tcp.is_reading() {
        let weak = Rc::downgrade(socket);
        let started = socket
            .tcp
            .read_start_owned(move |tcp, result| on_read(&weak, tcp, result));
        if let Err(error) = started {
            end_stream(socket, state, error);
            return;
        }
    } else if !wanted && socket.tcp.is_reading() {
        let _ = socket.tcp.read_stop();
    }
    let reading = socket.tcp.is_reading();
    if state.reading != reading {
        state.reading = reading;
        state.touch();
    }
}

/// Hands queued chunks to pending one-shot reads while no port is active:
/// a read that was pending when a port came and went gets the chunks the
/// port left, in order. Reads whose callers gave up are dropped here.
fn feed_waiters(socket: &LoopSocket, state: &mut ReadState) {
    let mut waiters = socket.waiters.borrow_mut();
    waiters.retain(|waiter| !waiter.completer.is_abandoned());
    while state.port.is_none() && !waiters.is_empty() {
        let Some(chunk) = state.pop_chunk() else {
            break;
        };
        if let Some(unclaimed) = hand_to_waiter(state, &mut waiters, chunk) {
            state.unread(unclaimed);
            break;
        }
    }
    if state.port.is_none() && !state.has_chunks() {
        if let Some(end) = state.end {
            for waiter in waiters.drain(..) {
                state.defer(waiter.completer.deliver(Err(end.into())));
            }
        }
    }
}

/// The loop-side read callback.
fn on_read(socket: &Weak<LoopSocket>, _tcp: &TcpRef, result: Result<Vec<u8>, UvError>) {
    let Some(socket) = socket.upgrade() else {
        return;
    };
    let mut state = socket.shared.lock();
    match result {
        Ok(chunk) => {
            let unclaimed = if state.port.is_none() && !state.has_chunks() {
                hand_to_waiter(&mut state, &mut socket.waiters.borrow_mut(), chunk)
            } else {
                Some(chunk)
            };
            if let Some(chunk) = unclaimed {
                state.push_chunk(chunk);
            }
            update_reading(&socket, &mut state);
        }
        Err(error) => end_stream(&socket, &mut state, error),
    }
}

/// Gives `chunk` to the oldest waiting one-shot read still waited for;
/// returns it when nobody waits.
fn hand_to_waiter(
    state: &mut ReadState,
    waiters: &mut VecDeque<ReadWaiter>,
    chunk: Vec<u8>,
) -> Option<Vec<u8>> {
    let mut chunk = chunk;
    loop {
        let Some(waiter) = waiters.pop_front() else {
            return Some(chunk);
        };
        match waiter.completer.try_deliver(Ok(chunk)) {
            Ok(wakeup) => {
                state.defer(wakeup);
                return None;
            }
            Err(Ok(unclaimed)) => chunk = unclaimed,
            Err(Err(_)) => unreachable!("the chunk was sent as Ok"),
        }
    }
}

/// Records the end of the stream and fails every pending one-shot read
/// that no queued chunk is owed to.
pub(crate) fn end_stream(socket: &LoopSocket, state: &mut ReadState, error: UvError) {
    state.set_end(error);
    if socket.tcp.is_reading() {
        let _ = socket.tcp.read_stop();
    }
    feed_waiters(socket, state);
}

/// Loop side of a request to re-check reading (a port opened, closed or
/// drained, a limit changed).
pub(crate) fn refresh_reading(event_loop: &LoopRef, key: SocketKey) {
    if let Some(socket) = event_loop.local(key) {
        let mut state = socket.shared.lock();
        update_reading(&socket, &mut state);
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
    let mut state: StateGuard<'_> = socket.shared.lock();
    // The caller found no active port (`EALREADY` otherwise); one opened
    // since belongs to the same caller's later calls, so this read waits
    // behind it and gets what the port leaves.
    let taken = match state.port {
        Some(_) => None,
        None => socket.shared.take(&mut state).0,
    };
    if let Some(result) = taken {
        match completer.try_deliver(result) {
            Ok(wakeup) => state.defer(wakeup),
            // Nobody waits any more: the chunk goes back to the front.
            Err(Ok(chunk)) => state.unread(chunk),
            Err(Err(_)) => {}
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
                state.defer(completer.deliver(Err(error.into())));
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
            state.defer(waiter.completer.deliver(Err(UvError::ETIMEDOUT.into())));
        }
        update_reading(&socket, &mut state);
    })?;
    Ok(timer)
}
