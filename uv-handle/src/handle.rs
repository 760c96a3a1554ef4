//! The close protocol shared by every handle type.
//!
//! A handle's Rust state and its `uv_*_t` live together in one `Rc`
//! allocation, with the `uv_*_t` as the first field of a `#[repr(C)]` struct.
//! libuv holds one strong reference from `uv_*_init` until the close
//! callback; the Rust owner holds another. So the memory is freed only once
//! libuv is done with it (after the close callback) *and* no Rust value
//! refers to it any more, whatever the drop order.
//!
//! Pointer provenance: the pointer `Rc::into_raw` returns for libuv's
//! reference is kept in the value ([`HandleAddress`]), and every pointer
//! this crate gives libuv for the handle is projected from it, never from a
//! reference to the `uv_*_t` field (whose provenance covers that field
//! only). libuv passes those same pointers back to the callbacks, so casting
//! one to the whole value ([`from_raw`]) and giving libuv's reference back
//! to `Rc::from_raw` (in [`release`]) stay within the provenance of the
//! whole allocation.
//!
//! `handle.data` holds the monomorphised [`release`] function for the
//! handle's type, so one close callback, [`close_cb`], serves every type,
//! including the handles a loop closes on teardown through `uv_walk`.
//!
//! Threads: handle values hold `Rc`s, so they are neither `Send` nor `Sync`.
//! A `&T` therefore never leaves the thread the value was created on, which
//! is its loop's thread (`open` borrows the `LoopRef`, itself neither `Send`
//! nor `Sync`): whoever holds a `&T` is on the loop thread.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::ptr;
use std::rc::Rc;

use uv_sys as ffi;

use crate::callback;
use crate::error::{UvError, check};
use crate::event_loop::LoopRef;

/// A Rust value that embeds a libuv handle as its first field.
///
/// # Safety
///
/// Implementors must be `#[repr(C)]` with the handle of type
/// [`Raw`](Self::Raw) (in an `UnsafeCell`) as their first field, so that the
/// address of the handle is the address of the value. `project` must return
/// the address of that field computed from `this` without creating a
/// reference, and `address` must return the same [`HandleAddress`] field
/// every time. Implementors must not be `Send` or `Sync`.
pub(crate) unsafe trait RawHandle: Sized + 'static {
    /// The embedded libuv handle type (`uv_tcp_t`, `uv_timer_t`, ...).
    type Raw;

    /// Where [`open`] keeps the pointer libuv's reference was made from.
    fn address(&self) -> &HandleAddress<Self>;

    /// The embedded handle of the value at `this`, with `this`'s provenance.
    ///
    /// # Safety
    ///
    /// `this` must point to a live `Self`.
    unsafe fn project(this: *const Self) -> *mut Self::Raw;

    /// The loop the handle belongs to.
    fn event_loop(&self) -> &LoopRef;

    /// Called on the loop thread when the close callback runs, before libuv's
    /// reference is released, under the loop's panic guard.
    fn on_close(&self) {}
}

/// The pointer `Rc::into_raw` returned for the reference libuv holds on a
/// handle: the root of every pointer to the handle that libuv sees.
///
/// A pointer to the value made from a `&T`, or from a reference to its
/// `uv_*_t` field, would be valid for those bytes only; this one is valid
/// for the whole `Rc` allocation, which `Rc::from_raw` and the casts in the
/// callbacks need.
pub(crate) struct HandleAddress<T> {
    libuv_ref: Cell<*const T>,
}

impl<T> HandleAddress<T> {
    /// No address yet: [`open`] sets it before the value is shared.
    pub(crate) fn new() -> HandleAddress<T> {
        HandleAddress {
            libuv_ref: Cell::new(ptr::null()),
        }
    }
}

/// Allocates `value`, registers the reference libuv holds until the close
/// callback, and initialises the handle with `init`.
pub(crate) fn open<T: RawHandle>(
    value: T,
    init: impl FnOnce(*mut ffi::uv_loop_t, *mut T::Raw) -> c_int,
) -> Result<Rc<T>, UvError> {
    let event_loop = value.event_loop();
    if event_loop.is_closed() {
        return Err(UvError::EBADF);
    }
    let loop_raw = event_loop.as_raw();
    let handle = Rc::new(value);
    // The reference libuv holds; `release` takes it back in the close
    // callback, through this same pointer.
    let libuv_ref = Rc::into_raw(Rc::clone(&handle));
    handle.address().libuv_ref.set(libuv_ref);
    let raw = as_raw(&*handle);
    if let Err(error) = check(init(loop_raw, raw)) {
        // SAFETY: libuv refused the handle and keeps no pointer to it, so
        // the reference made for it above is ours to take back.
        drop(unsafe { Rc::from_raw(libuv_ref) });
        return Err(error);
    }
    let release_fn: unsafe fn(*mut ffi::uv_handle_t) = release::<T>;
    let raw_handle = raw.cast::<ffi::uv_handle_t>();
    // SAFETY: the handle was just initialised by `init` and is not shared
    // yet; libuv never reads `data`, which is ours to set.
    unsafe { (*raw_handle).data = release_fn as *mut c_void };
    Ok(handle)
}

/// The handle as libuv knows it, projected from its [`HandleAddress`].
/// Valid for the whole value, not only for the `uv_*_t`.
pub(crate) fn as_raw<T: RawHandle>(handle: &T) -> *mut T::Raw {
    let libuv_ref = handle.address().libuv_ref.get();
    debug_assert!(!libuv_ref.is_null(), "`open` sets the address first");
    // SAFETY: `libuv_ref` is the pointer `open` got from `Rc::into_raw` for
    // this value, which is alive while `handle` is borrowed.
    unsafe { T::project(libuv_ref) }
}

/// [`as_raw`] as the generic `uv_handle_t`.
pub(crate) fn as_raw_handle<T: RawHandle>(handle: &T) -> *mut ffi::uv_handle_t {
    as_raw(handle).cast()
}

/// The value whose handle libuv passed to a callback.
///
/// # Safety
///
/// `raw` must be the handle of a `T` opened by [`open`], as libuv passes it
/// back (so made from its [`HandleAddress`]), before its close callback has
/// returned, and the reference must not be used after that.
pub(crate) unsafe fn from_raw<'a, T: RawHandle>(raw: *mut T::Raw) -> &'a T {
    // `T` is #[repr(C)] with the handle first (RawHandle), so `raw` is the
    // address of the value, projected from the pointer `Rc::into_raw` returned.
    // SAFETY: its provenance covers the whole value, and libuv's reference
    // keeps the value alive until the close callback.
    unsafe { &*raw.cast_const().cast::<T>() }
}

/// Whether the handle is closing or closed. Safe on a handle of a closed loop.
pub(crate) fn is_closing<T: RawHandle>(handle: &T) -> bool {
    // SAFETY: the memory of the handle is alive while `handle` is borrowed;
    // uv_is_closing only reads the handle's flags.
    unsafe { ffi::uv_is_closing(as_raw_handle(handle)) != 0 }
}

/// Whether the handle is active (started, for a timer, idle or check handle).
/// Safe on a handle of a closed loop.
pub(crate) fn is_active<T: RawHandle>(handle: &T) -> bool {
    // SAFETY: the memory of the handle is alive while `handle` is borrowed;
    // uv_is_active only reads the handle's flags.
    unsafe { ffi::uv_is_active(as_raw_handle(handle)) != 0 }
}

/// Whether the handle keeps its loop's `run` going while it is active.
/// Safe on a handle of a closed loop.
pub(crate) fn has_ref<T: RawHandle>(handle: &T) -> bool {
    // SAFETY: the memory of the handle is alive while `handle` is borrowed;
    // uv_has_ref only reads the handle's flags.
    unsafe { ffi::uv_has_ref(as_raw_handle(handle)) != 0 }
}

/// Makes the handle keep its loop's `run` going while it is active
/// (`referenced`), or not. Does nothing once the handle is closing.
pub(crate) fn set_ref<T: RawHandle>(handle: &T, referenced: bool) {
    if is_closing(handle) {
        return;
    }
    let raw = as_raw_handle(handle);
    if referenced {
        // SAFETY: the handle is not closing (checked above), so its loop is
        // open (a loop closes every handle before it closes); we are on the
        // loop's thread because `T` is not `Sync` (see the module docs).
        unsafe { ffi::uv_ref(raw) };
    } else {
        // SAFETY: as for uv_ref above.
        unsafe { ffi::uv_unref(raw) };
    }
}

/// Starts closing the handle unless it is already closing. Idempotent.
pub(crate) fn close<T: RawHandle>(handle: &T) {
    if !is_closing(handle) {
        // SAFETY: the handle is initialised and not closing, so its loop is
        // open (a loop closes every handle before it closes); we are on the
        // loop's thread because `T` is not `Sync` (see the module docs).
        unsafe { ffi::uv_close(as_raw_handle(handle), Some(close_cb)) };
    }
}

/// Closes `raw` with the common close callback unless it is already closing.
///
/// # Safety
///
/// `raw` must be a live handle opened by [`open`] on a loop that is not
/// closed, and the caller must be on that loop's thread.
pub(crate) unsafe fn close_raw(raw: *mut ffi::uv_handle_t) {
    // SAFETY: the caller guarantees `raw` is live; uv_is_closing reads its flags.
    let closing = unsafe { ffi::uv_is_closing(raw) } != 0;
    if !closing {
        // SAFETY: the handle is live, not closing, on an open loop, and we
        // are on that loop's thread (the caller's contract).
        unsafe { ffi::uv_close(raw, Some(close_cb)) };
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
    // SAFETY: `raw` is a live handle (its close callback is running); `data`
    // is a plain field of it.
    let data = unsafe { (*raw).data };
    // SAFETY: `open` stored `release::<T>` for this handle's `T` in `data`,
    // and nothing else writes `data`.
    let release_fn =
        unsafe { std::mem::transmute::<*mut c_void, unsafe fn(*mut ffi::uv_handle_t)>(data) };
    // SAFETY: libuv calls the close callback once, after which it never
    // touches the handle again, so libuv's reference can be released.
    unsafe { release_fn(raw) };
}

/// Takes back the reference libuv held and drops it, after `on_close`,
/// under the panic guard of the handle's loop: the callbacks it drops are
/// user closures, whose `Drop` may panic.
///
/// # Safety
///
/// `raw` must be the handle of a `T` opened by [`open`], whose libuv
/// reference has not been released yet, and libuv must be done with it.
unsafe fn release<T: RawHandle>(raw: *mut ffi::uv_handle_t) {
    let libuv_ref = {
        // SAFETY: `raw` is the handle of a live `T` opened by `open`, whose
        // close callback is running; the reference ends in this block.
        let value = unsafe { from_raw::<T>(raw.cast()) };
        value.address().libuv_ref.get()
    };
    // SAFETY: `libuv_ref` is the very pointer `Rc::into_raw` returned for
    // libuv's reference, which is released only here, once.
    let handle = unsafe { Rc::from_raw(libuv_ref) };
    // Panics go to the loop, which the handle keeps alive until it is dropped.
    let event_loop = handle.event_loop().to_rc();
    callback::catch(&event_loop, || {
        handle.on_close();
        drop(handle);
    });
}
