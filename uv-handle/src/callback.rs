//! Panic capture for everything libuv calls back into.
//!
//! Every `extern "C"` trampoline in this crate runs its Rust body through
//! [`catch`], so no panic ever unwinds into C. The policy:
//!
//! - The payload of a panic in a callback is stored in the loop's state, and
//!   the loop is stopped (`uv_stop`). The same holds for a panic in the
//!   `Drop` of a callback: every user closure a trampoline releases (after
//!   a one-shot call, once reading stopped or a handle closed) is dropped
//!   through [`catch`] too, never bare inside an `extern "C"` function.
//! - The other callbacks due in the same loop iteration still run, so the
//!   handles and requests that did not panic lose no event. A further panic
//!   before `uv_run` returns is reported on stderr and dropped; the first
//!   one is kept.
//! - When `uv_run` returns, [`Loop::run`](crate::Loop::run) takes the payload
//!   and re-raises it with `std::panic::resume_unwind` on the loop's thread,
//!   in Rust code, where it can be caught like any other panic. The loop is
//!   intact and can be run again.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::event_loop::LoopRef;
use crate::handle::{self, RawHandle};

/// The callback of a handle that fires again and again (timer, idle, check).
pub(crate) type RepeatCallback = Box<dyn FnMut(&LoopRef)>;

/// Runs a callback body for `event_loop`, capturing a panic instead of
/// letting it unwind into C. Returns `None` when the body panicked.
pub(crate) fn catch<R>(event_loop: &LoopRef, body: impl FnOnce() -> R) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => Some(value),
        Err(payload) => {
            event_loop.store_panic(payload);
            None
        }
    }
}

/// Runs the callback in `slot` of a repeating handle under the panic guard.
///
/// The callback is taken out of `slot` while it runs, so it may replace
/// itself (start again), stop, close or drop its own handle. It goes back
/// only if it returned, the handle is still active and no other callback
/// was set meanwhile; otherwise it is dropped (under the guard too). If it
/// panicked, `stop` stops the handle unless the handle is closing.
pub(crate) fn fire_repeating<T: RawHandle>(
    handle: &T,
    slot: &RefCell<Option<RepeatCallback>>,
    stop: impl FnOnce(),
) {
    let Some(mut on_fire) = slot.borrow_mut().take() else {
        return;
    };
    let event_loop = handle.event_loop();
    let finished = catch(event_loop, || on_fire(event_loop));
    if finished.is_some() && handle::is_active(handle) {
        let mut current = slot.borrow_mut();
        if current.is_none() {
            *current = Some(on_fire);
            return;
        }
    } else if finished.is_none() && !handle::is_closing(handle) {
        stop();
    }
    catch(event_loop, move || drop(on_fire));
}

/// Runs code that must not unwind but has no loop to report to (for example
/// dropping a request's buffers, or a loop's local values on teardown): a
/// panic is printed and dropped.
pub(crate) fn catch_detached(what: &str, body: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(body)) {
        eprintln!(
            "uv-handle: a panic in {what} was caught: {}",
            describe(&*payload)
        );
    }
}

/// The message of a panic payload, for reports.
pub fn describe(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "(a panic payload that is not a string)"
    }
}
