//! Panic capture for everything libuv calls back into.
//!
//! Every `extern "C"` trampoline in this crate runs its Rust body through
//! [`catch`], so no panic ever unwinds into C. The policy:
//!
//! - The payload of a panic in a callback is stored in the loop's state, and
//!   the loop is stopped (`uv_stop`).
//! - The other callbacks due in the same loop iteration still run, so the
//!   handles and requests that did not panic lose no event. A further panic
//!   before `uv_run` returns is reported on stderr and dropped; the first
//!   one is kept.
//! - When `uv_run` returns, [`Loop::run`](crate::Loop::run) takes the payload
//!   and re-raises it with `std::panic::resume_unwind` on the loop's thread,
//!   in Rust code, where it can be caught like any other panic. The loop is
//!   intact and can be run again.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::event_loop::LoopRef;

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

/// Runs code that must not unwind but has no loop to report to (for example
/// the destructor of a handle's state in its close callback): a panic is
/// printed and dropped.
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
