//! Closing a socket: gracefully (queued writes, then FIN, then the handle
//! closed, bounded by the close timeout) or abortively (RST).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use uv_handle::{Completer, LoopRef, Timer, UvError};

use crate::stream::reading::end_stream;
use crate::stream::writing::{self, Outcome};
use crate::stream::{LoopSocket, SocketKey};

/// Removes a socket from its loop and closes it gracefully: queued writes
/// finish, then the write side is shut down and the handle closed. If that
/// takes longer than the close timeout, the connection is reset instead and
/// everything it held is freed. `report` learns the outcome: `Ok` only if
/// every queued write and the FIN went out.
pub(crate) fn close_gracefully(
    event_loop: &LoopRef,
    key: SocketKey,
    report: Option<Completer<Outcome>>,
) {
    let Some(socket) = event_loop.remove_local(key) else {
        if let Some(report) = report {
            report.complete(Err(UvError::EBADF.into()));
        }
        return;
    };
    end_locally(&socket);
    let report = Rc::new(RefCell::new(report));
    let timer = socket
        .shared
        .close_timeout()
        .and_then(|timeout| start_close_timer(event_loop, &socket, timeout, &report));
    let closing = Rc::clone(&socket);
    let finish = move |outcome: Result<(), UvError>| {
        drop(timer);
        closing.tcp.close();
        let outcome = match closing.shared.write_error() {
            Some(error) => Err(error.into()),
            None => outcome.map_err(Into::into),
        };
        if let Some(report) = report.borrow_mut().take() {
            report.complete(outcome);
        }
    };
    if socket.shut_down.get() {
        // The owner's `shutdown` sent the FIN already; libuv would refuse a
        // second one with `ENOTCONN`.
        finish(Ok(()));
    } else {
        writing::shutdown(&socket, finish);
    }
}

/// Arms the close timeout: when it fires, the connection is reset and the
/// close reports `ETIMEDOUT`.
fn start_close_timer(
    event_loop: &LoopRef,
    socket: &Rc<LoopSocket>,
    timeout: Duration,
    report: &Rc<RefCell<Option<Completer<Outcome>>>>,
) -> Option<Timer> {
    let timer = Timer::new(event_loop).ok()?;
    let socket = Rc::downgrade(socket);
    let report = Rc::clone(report);
    let started = timer.start(timeout, Duration::ZERO, move |_| {
        // Taken first: the reset fails the shutdown the close waits for,
        // whose callback would otherwise report `ECANCELED`.
        let report = report.borrow_mut().take();
        if let Some(socket) = socket.upgrade() {
            let _ = reset(&socket);
        }
        if let Some(report) = report {
            report.complete(Err(UvError::ETIMEDOUT.into()));
        }
    });
    started.ok().map(|()| timer)
}

/// Removes a socket from its loop and resets the connection; queued writes
/// fail with `ECANCELED`.
pub(crate) fn close_with_reset(event_loop: &LoopRef, key: SocketKey) -> Result<(), UvError> {
    let Some(socket) = event_loop.remove_local(key) else {
        return Err(UvError::EBADF);
    };
    end_locally(&socket);
    reset(&socket)
}

/// Resets the connection: held writes and those in libuv fail with
/// `ECANCELED`, and the handle closes.
fn reset(socket: &LoopSocket) -> Result<(), UvError> {
    let result = socket.tcp.close_reset();
    if result.is_err() {
        socket.tcp.close();
    }
    // After the reset: a held shutdown hears here that it failed, and the
    // graceful close waiting for it would close the handle with a FIN.
    writing::fail_held(socket, UvError::ECANCELED);
    result
}

/// The read side of a socket closed by its owner: readers get `ECANCELED`.
fn end_locally(socket: &LoopSocket) {
    let mut state = socket.shared.lock();
    end_stream(socket, &mut state, UvError::ECANCELED);
}
