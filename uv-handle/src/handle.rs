//! The close protocol shared by every handle type.
//!
//! A handle's Rust state and its `uv_*_t` live together in one `Rc`
//! allocation, with the `uv_*_t` as the first field of a `#[repr(C)]` struct,
//! so a pointer to the C handle is also a pointer to the Rust value.
//! libuv holds one strong reference from `uv_*_init` until the close
//! callback; the Rust owner holds another. So the memory is freed only once
//! libuv is done with it (after the close callback) *and* no Rust value
//! refers to it any more, whatever the drop order.
//!
//! `handle.data` holds the monomorphised [`release`] function for the
//! handle's type, so one close callback, [`close_cb`], serves every type,
//! including the handles a loop closes on teardown through `uv_walk`.

use std::ffi::{c_int, c_void};
use std::rc::Rc;

use uv_sys as ffi;

use crate::callback;
use crate::error::{UvError, check};
use crate::event_loop::LoopRef;

/// A Rust value that embeds a libuv handle as its first field.
///
/// # Safety
///
/// Implementors must be `#[repr(C)]` with the `uv_*_t` (in an `UnsafeCell`)
/// as their first field, so that the address of the value is the address of
/// the handle, and `as_raw_handle` must return that address.
pub(crate) unsafe trait RawHandle: 'static {
    /// The embedded handle.
    fn as_raw_handle(&self) -> *mut ffi::uv_handle_t;

    /// The loop the handle belongs to.
    fn event_loop(&self) -> &LoopRef;

    /// Called on the loop thread when the close callback runs, before libuv's
    /// reference is released.
    fn on_close(&self) {}
}

/// Allocates `value`, initialises its handle with `init`, and registers the
/// reference libuv holds until the close callback.
pub(crate) fn open<T: RawHandle>(
    value: T,
    init: impl FnOnce(*mut ffi::uv_loop_t, *mut ffi::uv_handle_t) -> c_int,
) -> Result<Rc<T>, UvError> {
    let event_loop = value.event_loop();
    if event_loop.is_closed() {
        return Err(UvError::EBADF);
    }
    let loop_raw = event_loop.as_raw();
    let handle = Rc::new(value);
    let raw = handle.as_raw_handle();
    check(init(loop_raw, raw))?;
    let release_fn: unsafe fn(*mut ffi::uv_handle_t) = release::<T>;
    // SAFETY: the handle was just initialised by `init` and is not shared
    // yet; libuv never reads `data`, which is ours to set.
    unsafe { (*raw).data = release_fn as *mut c_void };
    // The reference libuv holds; `release` takes it back in the close callback.
    let _ = Rc::into_raw(Rc::clone(&handle));
    Ok(handle)
}

/// Whether the handle is closing or closed. Safe on a handle of a closed loop.
pub(crate) fn is_closing<T: RawHandle>(handle: &T) -> bool {
    // SAFETY: the memory of the handle is alive while `handle` is borrowed;
    // uv_is_closing only reads the handle's flags.
    unsafe { ffi::uv_is_closing(handle.as_raw_handle()) != 0 }
}

/// Whether the handle is active (started, for a timer, idle or check handle).
/// Safe on a handle of a closed loop.
pub(crate) fn is_active<T: RawHandle>(handle: &T) -> bool {
    // SAFETY: the memory of the handle is alive while `handle` is borrowed;
    // uv_is_active only reads the handle's flags.
    unsafe { ffi::uv_is_active(handle.as_raw_handle()) != 0 }
}

/// Whether the handle keeps its loop's `run` going while it is active.
/// Safe on a handle of a closed loop.
pub(crate) fn has_ref<T: RawHandle>(handle: &T) -> bool {
    // SAFETY: the memory of the handle is alive while `handle` is borrowed;
    // uv_has_ref only reads the handle's flags.
    unsafe { ffi::uv_has_ref(handle.as_raw_handle()) != 0 }
}

/// Makes the handle keep its loop's `run` going while it is active
/// (`referenced`), or not. Does nothing once the handle is closing.
pub(crate) fn set_ref<T: RawHandle>(handle: &T, referenced: bool) {
    if is_closing(handle) {
        return;
    }
    let raw = handle.as_raw_handle();
    if referenced {
        // SAFETY: the handle is open, so its loop is open too, and we are on
        // the loop's thread because `T` is not `Send`.
        unsafe { ffi::uv_ref(raw) };
    } else {
        // SAFETY: as above.
        unsafe { ffi::uv_unref(raw) };
    }
}

/// Starts closing the handle unless it is already closing. Idempotent.
pub(crate) fn close<T: RawHandle>(handle: &T) {
    if !is_closing(handle) {
        // SAFETY: the handle is initialised and not closing, so its loop is
        // open (a loop closes every handle before it closes), and we are on
        // the loop's thread because `T` is not `Send`.
        unsafe { ffi::uv_close(handle.as_raw_handle(), Some(close_cb)) };
    }
}

/// Closes `raw` with the common close callback unless it is already closing.
///
/// # Safety
///
/// `raw` must be a live handle opened by [`open`] on a loop that is not
/// closed, and the caller must be on that loop's thread.
pub(crate) unsafe fn close_raw(raw: *mut ffi::uv_handle_t) {
    // SAFETY: the caller guarantees `raw` is live and on an open loop.
    unsafe {
        if ffi::uv_is_closing(raw) == 0 {
            ffi::uv_close(raw, Some(close_cb));
        }
    }
}

/// The close callback of every handle this crate opens.
extern "C" fn close_cb(raw: *mut ffi::uv_handle_t) {
    // SAFETY: libuv calls the close callback once for a handle this crate
    // opened, after which it never touches the handle again.
    unsafe { close_callback(raw) };
}

/// The body of the close callback, for callbacks that close a handle in
/// another way (`uv_tcp_close_reset`).
///
/// # Safety
///
/// `raw` must be a handle opened by [`open`] whose close callback libuv is
/// running now.
pub(crate) unsafe fn close_callback(raw: *mut ffi::uv_handle_t) {
    // SAFETY: `open` stored `release::<T>` for this handle's `T` in `data`,
    // and nothing else writes `data`.
    let release_fn: unsafe fn(*mut ffi::uv_handle_t) = unsafe {
        std::mem::transmute::<*mut c_void, unsafe fn(*mut ffi::uv_handle_t)>((*raw).data)
    };
    // SAFETY: libuv calls the close callback once, after which it never
    // touches the handle again, so libuv's reference can be released.
    unsafe { release_fn(raw) };
}

/// Takes back the reference libuv held and drops it.
///
/// # Safety
///
/// `raw` must be the handle of a `T` opened by [`open`], whose libuv
/// reference has not been released yet, and libuv must be done with it.
unsafe fn release<T: RawHandle>(raw: *mut ffi::uv_handle_t) {
    // SAFETY: by the contract above, `raw` is the address of the `T` inside
    // the `Rc` allocation that `open` leaked one reference of.
    let handle = unsafe { Rc::from_raw(raw.cast_const().cast::<T>()) };
    callback::catch_detached("a close callback", || {
        handle.on_close();
        drop(handle);
    });
}
