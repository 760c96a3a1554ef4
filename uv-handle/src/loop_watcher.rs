//! [`Idle`] (`uv_idle_t`) and [`Check`] (`uv_check_t`): handles whose
//! callback runs once in every loop iteration while they are active.
//!
//! libuv builds both from one template ("loop watchers"), and so does this
//! module: a private [`Watcher`] holds the state, the start/stop/ref logic
//! and the trampoline once, and the two public types wrap it. They differ in
//! when their callback runs within an iteration:
//!
//! - An idle callback runs before the loop polls for I/O, and while an idle
//!   handle is active the poll does not block. Start one to say "there is
//!   work to do now"; stop it when there is none, so the loop can sleep.
//! - A check callback runs right after the poll, once the I/O callbacks of
//!   the iteration have run. It is the place to act on what they reported
//!   (for example, to poll the tasks they made ready).

use std::cell::{RefCell, UnsafeCell};
use std::ffi::c_int;
use std::fmt;
use std::mem::MaybeUninit;
use std::rc::Rc;

use uv_sys as ffi;

use crate::callback::{self, RepeatCallback};
use crate::error::{UvError, check};
use crate::event_loop::LoopRef;
use crate::handle::{self, HandleAddress, RawHandle};

/// A libuv handle type built from the loop-watcher template.
///
/// # Safety
///
/// `init`, `start` and `stop` must be the matching libuv functions of
/// `Self`, and `Self` must be plain data for which all zeroes is valid
/// before `init`.
unsafe trait WatcherKind: 'static {
    /// The Rust type's name, for `Debug`.
    const NAME: &'static str;

    /// # Safety
    ///
    /// `loop_raw` is an open loop and `raw` a zeroed handle that does not move.
    unsafe fn init(loop_raw: *mut ffi::uv_loop_t, raw: *mut Self) -> c_int;

    /// # Safety
    ///
    /// `raw` is an open handle, and the caller is on its loop thread.
    unsafe fn start(raw: *mut Self, on_run: unsafe extern "C" fn(*mut Self)) -> c_int;

    /// # Safety
    ///
    /// As for [`start`](Self::start).
    unsafe fn stop(raw: *mut Self) -> c_int;
}

// SAFETY: the uv_idle_* functions belong to uv_idle_t, a plain C struct.
unsafe impl WatcherKind for ffi::uv_idle_t {
    const NAME: &'static str = "Idle";

    unsafe fn init(loop_raw: *mut ffi::uv_loop_t, raw: *mut Self) -> c_int {
        // SAFETY: the caller's contract is uv_idle_init's.
        unsafe { ffi::uv_idle_init(loop_raw, raw) }
    }

    unsafe fn start(raw: *mut Self, on_run: unsafe extern "C" fn(*mut Self)) -> c_int {
        // SAFETY: the caller's contract is uv_idle_start's.
        unsafe { ffi::uv_idle_start(raw, Some(on_run)) }
    }

    unsafe fn stop(raw: *mut Self) -> c_int {
        // SAFETY: the caller's contract is uv_idle_stop's.
        unsafe { ffi::uv_idle_stop(raw) }
    }
}

// SAFETY: the uv_check_* functions belong to uv_check_t, a plain C struct.
unsafe impl WatcherKind for ffi::uv_check_t {
    const NAME: &'static str = "Check";

    unsafe fn init(loop_raw: *mut ffi::uv_loop_t, raw: *mut Self) -> c_int {
        // SAFETY: the caller's contract is uv_check_init's.
        unsafe { ffi::uv_check_init(loop_raw, raw) }
    }

    unsafe fn start(raw: *mut Self, on_run: unsafe extern "C" fn(*mut Self)) -> c_int {
        // SAFETY: the caller's contract is uv_check_start's.
        unsafe { ffi::uv_check_start(raw, Some(on_run)) }
    }

    unsafe fn stop(raw: *mut Self) -> c_int {
        // SAFETY: the caller's contract is uv_check_stop's.
        unsafe { ffi::uv_check_stop(raw) }
    }
}

/// The owner of an idle or check handle; closed when dropped.
struct Watcher<K: WatcherKind> {
    handle: Rc<WatcherInner<K>>,
}

#[repr(C)]
struct WatcherInner<K: WatcherKind> {
    raw: UnsafeCell<K>,
    address: HandleAddress<WatcherInner<K>>,
    event_loop: Rc<LoopRef>,
    on_run: RefCell<Option<RepeatCallback>>,
}

// The cast from a handle to its WatcherInner (`handle::from_raw`) relies on it.
const _: () = assert!(std::mem::offset_of!(WatcherInner<ffi::uv_idle_t>, raw) == 0);
const _: () = assert!(std::mem::offset_of!(WatcherInner<ffi::uv_check_t>, raw) == 0);

// SAFETY: WatcherInner is #[repr(C)] with the handle (in an UnsafeCell)
// first; `project` takes that field's address through the raw pointer;
// `address` is always the same field; WatcherInner holds `Rc`s, so it is
// neither `Send` nor `Sync`.
unsafe impl<K: WatcherKind> RawHandle for WatcherInner<K> {
    type Raw = K;

    fn address(&self) -> &HandleAddress<WatcherInner<K>> {
        &self.address
    }

    unsafe fn project(this: *const WatcherInner<K>) -> *mut K {
        // SAFETY: the caller guarantees `this` points to a live WatcherInner;
        // no reference is created, so the result keeps `this`'s provenance.
        UnsafeCell::raw_get(unsafe { std::ptr::addr_of!((*this).raw) })
    }

    fn event_loop(&self) -> &LoopRef {
        &self.event_loop
    }

    fn on_close(&self) {
        let on_run = self.on_run.borrow_mut().take();
        drop(on_run);
    }
}

impl<K: WatcherKind> Watcher<K> {
    fn new(event_loop: &LoopRef) -> Result<Watcher<K>, UvError> {
        let value = WatcherInner {
            // SAFETY: WatcherKind promises that all zeroes is valid before init.
            raw: UnsafeCell::new(unsafe { MaybeUninit::<K>::zeroed().assume_init() }),
            address: HandleAddress::new(),
            event_loop: event_loop.to_rc(),
            on_run: RefCell::new(None),
        };
        let handle = handle::open(value, |loop_raw, raw| {
            // SAFETY: `raw` is the zeroed handle of the new value, which does
            // not move; the loop is open and we are on its thread (`LoopRef`
            // is not `Sync`).
            unsafe { K::init(loop_raw, raw) }
        })?;
        Ok(Watcher { handle })
    }

    fn start(&self, on_run: RepeatCallback) -> Result<(), UvError> {
        let raw = self.raw()?;
        let previous = self.handle.on_run.replace(Some(on_run));
        // The replaced callback is dropped only after the call, so its drop
        // (any code) cannot close the handle under it; starting an active
        // handle is a no-op in libuv (the trampoline stays).
        // SAFETY: the handle is not closing (checked by `raw`) and we are on
        // its loop thread (`Watcher` is not `Sync`).
        let result = check(unsafe { K::start(raw, watcher_cb::<K>) });
        drop(previous);
        result.map(drop)
    }

    fn stop(&self) -> Result<(), UvError> {
        let raw = self.raw()?;
        // SAFETY: as in `start`.
        check(unsafe { K::stop(raw) })?;
        let previous = self.handle.on_run.borrow_mut().take();
        drop(previous);
        Ok(())
    }

    fn is_active(&self) -> bool {
        handle::is_active(&*self.handle)
    }

    fn set_ref(&self, referenced: bool) {
        handle::set_ref(&*self.handle, referenced);
    }

    fn has_ref(&self) -> bool {
        handle::has_ref(&*self.handle)
    }

    fn raw(&self) -> Result<*mut K, UvError> {
        if handle::is_closing(&*self.handle) {
            Err(UvError::EBADF)
        } else {
            Ok(handle::as_raw(&*self.handle))
        }
    }
}

impl<K: WatcherKind> Drop for Watcher<K> {
    fn drop(&mut self) {
        handle::close(&*self.handle);
    }
}

impl<K: WatcherKind> fmt::Debug for Watcher<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(K::NAME)
            .field("active", &self.is_active())
            .field("closing", &handle::is_closing(&*self.handle))
            .finish_non_exhaustive()
    }
}

extern "C" fn watcher_cb<K: WatcherKind>(raw: *mut K) {
    // SAFETY: only watchers of kind K use this callback, and libuv passes the
    // handle back as it got it, before its close callback.
    let watcher = unsafe { handle::from_raw::<WatcherInner<K>>(raw) };
    callback::fire_repeating(watcher, &watcher.on_run, || {
        // SAFETY: fire_repeating calls this only when the handle is not
        // closing, and we are on its loop thread (in its callback).
        unsafe { K::stop(raw) };
    });
}

/// An owned idle handle: its callback runs once per loop iteration, before
/// the poll for I/O, and while it is active the poll does not block. Closed
/// when dropped.
///
/// Start it while there is work to do at once (ready tasks, say) and stop
/// it when there is none, or the loop spins. The callback runs on the loop
/// thread. Not `Send`.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use uv_handle::{Idle, Loop, RunMode};
///
/// let event_loop = Loop::new()?;
/// let idle = Rc::new(Idle::new(&event_loop)?);
/// let runs = Rc::new(Cell::new(0));
/// let (count, me) = (runs.clone(), Rc::downgrade(&idle));
/// idle.start(move |_| {
///     count.set(count.get() + 1);
///     if count.get() == 3 {
///         me.upgrade().unwrap().stop().unwrap();
///     }
/// })?;
/// event_loop.run(RunMode::Default)?;
/// assert_eq!(runs.get(), 3);
/// # Ok::<(), uv_handle::UvError>(())
/// ```
///
/// An idle handle cannot be sent to another thread:
///
/// ```compile_fail,E0277
/// fn assert_send<T: Send>(_: T) {}
/// let event_loop = uv_handle::Loop::new().unwrap();
/// assert_send(uv_handle::Idle::new(&event_loop).unwrap());
/// ```
#[doc(alias = "uv_idle_t")]
pub struct Idle {
    watcher: Watcher<ffi::uv_idle_t>,
}

impl Idle {
    /// Creates an idle handle on `event_loop`, stopped.
    ///
    /// Wraps `uv_idle_init`.
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let idle = uv_handle::Idle::new(&event_loop)?;
    /// assert!(!idle.is_active());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_idle_init")]
    pub fn new(event_loop: &LoopRef) -> Result<Idle, UvError> {
        Watcher::new(event_loop).map(|watcher| Idle { watcher })
    }

    /// Runs `on_run` (with the handle's loop) once in every loop iteration
    /// from now on, before the poll for I/O, which no longer blocks.
    /// Replaces the callback of a previous start, also from inside that
    /// callback.
    ///
    /// Wraps `uv_idle_start`.
    ///
    /// # Errors
    ///
    /// `EBADF` once the handle is closed (or its loop is).
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let idle = uv_handle::Idle::new(&event_loop)?;
    /// idle.start(|_| {})?;
    /// assert!(idle.is_active());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_idle_start")]
    pub fn start(&self, on_run: impl FnMut(&LoopRef) + 'static) -> Result<(), UvError> {
        self.watcher.start(Box::new(on_run))
    }

    /// Stops the handle; its callback is dropped. Stopping a stopped handle
    /// is fine.
    ///
    /// Wraps `uv_idle_stop`.
    ///
    /// # Errors
    ///
    /// `EBADF` once the handle is closed (or its loop is).
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let idle = uv_handle::Idle::new(&event_loop)?;
    /// idle.start(|_| {})?;
    /// idle.stop()?;
    /// assert!(!idle.is_active());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_idle_stop")]
    pub fn stop(&self) -> Result<(), UvError> {
        self.watcher.stop()
    }

    /// Whether the handle is started (and not closed).
    ///
    /// Wraps `uv_is_active`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let idle = uv_handle::Idle::new(&event_loop)?;
    /// assert!(!idle.is_active());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_is_active")]
    pub fn is_active(&self) -> bool {
        self.watcher.is_active()
    }

    /// Lets the loop's `run` return while this handle is active but no
    /// referenced handle is. Does nothing once the handle is closed.
    ///
    /// Wraps `uv_unref`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let idle = uv_handle::Idle::new(&event_loop)?;
    /// idle.start(|_| {})?;
    /// idle.unref();
    /// assert!(!event_loop.run(uv_handle::RunMode::Default)?);
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_unref")]
    pub fn unref(&self) {
        self.watcher.set_ref(false);
    }

    /// Undoes [`unref`](Self::unref): while active, the handle keeps the
    /// loop's `run` going again. Handles start referenced. Does nothing once
    /// the handle is closed.
    ///
    /// Wraps `uv_ref`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let idle = uv_handle::Idle::new(&event_loop)?;
    /// idle.unref();
    /// idle.ref_();
    /// assert!(idle.has_ref());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_ref")]
    pub fn ref_(&self) {
        self.watcher.set_ref(true);
    }

    /// Whether the handle keeps the loop's `run` going while it is active:
    /// true unless [`unref`](Self::unref) was called last.
    ///
    /// Wraps `uv_has_ref`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let idle = uv_handle::Idle::new(&event_loop)?;
    /// assert!(idle.has_ref());
    /// idle.unref();
    /// assert!(!idle.has_ref());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_has_ref")]
    pub fn has_ref(&self) -> bool {
        self.watcher.has_ref()
    }
}

impl fmt::Debug for Idle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.watcher.fmt(f)
    }
}

/// An owned check handle: its callback runs once per loop iteration, right
/// after the poll for I/O and the I/O callbacks it led to. Closed when
/// dropped.
///
/// A check handle does not stop the poll from blocking; pair it with an
/// [`Idle`] for that. The callback runs on the loop thread. Not `Send`.
///
/// ```
/// use std::{cell::RefCell, rc::Rc, time::Duration};
/// use uv_handle::{Check, Loop, RunMode, Timer};
///
/// let event_loop = Loop::new()?;
/// let order = Rc::new(RefCell::new(Vec::new()));
/// let timer = Timer::new(&event_loop)?;
/// let sink = order.clone();
/// timer.start(Duration::ZERO, Duration::ZERO, move |_| sink.borrow_mut().push("timer"))?;
/// let check = Check::new(&event_loop)?;
/// let sink = order.clone();
/// check.start(move |_| sink.borrow_mut().push("check"))?;
/// // The check handle alone must not keep the loop running.
/// check.unref();
/// event_loop.run(RunMode::Default)?;
/// assert_eq!(*order.borrow(), ["timer", "check"]);
/// # Ok::<(), uv_handle::UvError>(())
/// ```
///
/// A check handle cannot be sent to another thread:
///
/// ```compile_fail,E0277
/// fn assert_send<T: Send>(_: T) {}
/// let event_loop = uv_handle::Loop::new().unwrap();
/// assert_send(uv_handle::Check::new(&event_loop).unwrap());
/// ```
#[doc(alias = "uv_check_t")]
pub struct Check {
    watcher: Watcher<ffi::uv_check_t>,
}

impl Check {
    /// Creates a check handle on `event_loop`, stopped.
    ///
    /// Wraps `uv_check_init`.
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let check = uv_handle::Check::new(&event_loop)?;
    /// assert!(!check.is_active());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_check_init")]
    pub fn new(event_loop: &LoopRef) -> Result<Check, UvError> {
        Watcher::new(event_loop).map(|watcher| Check { watcher })
    }

    /// Runs `on_run` (with the handle's loop) once in every loop iteration
    /// from now on, after the poll for I/O. Replaces the callback of a
    /// previous start, also from inside that callback.
    ///
    /// Wraps `uv_check_start`.
    ///
    /// # Errors
    ///
    /// `EBADF` once the handle is closed (or its loop is).
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let check = uv_handle::Check::new(&event_loop)?;
    /// check.start(|_| {})?;
    /// assert!(check.is_active());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_check_start")]
    pub fn start(&self, on_run: impl FnMut(&LoopRef) + 'static) -> Result<(), UvError> {
        self.watcher.start(Box::new(on_run))
    }

    /// Stops the handle; its callback is dropped. Stopping a stopped handle
    /// is fine.
    ///
    /// Wraps `uv_check_stop`.
    ///
    /// # Errors
    ///
    /// `EBADF` once the handle is closed (or its loop is).
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let check = uv_handle::Check::new(&event_loop)?;
    /// check.start(|_| {})?;
    /// check.stop()?;
    /// assert!(!check.is_active());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_check_stop")]
    pub fn stop(&self) -> Result<(), UvError> {
        self.watcher.stop()
    }

    /// Whether the handle is started (and not closed).
    ///
    /// Wraps `uv_is_active`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let check = uv_handle::Check::new(&event_loop)?;
    /// assert!(!check.is_active());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_is_active")]
    pub fn is_active(&self) -> bool {
        self.watcher.is_active()
    }

    /// Lets the loop's `run` return while this handle is active but no
    /// referenced handle is. Does nothing once the handle is closed.
    ///
    /// Wraps `uv_unref`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let check = uv_handle::Check::new(&event_loop)?;
    /// check.start(|_| {})?;
    /// check.unref();
    /// assert!(!event_loop.run(uv_handle::RunMode::Default)?);
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_unref")]
    pub fn unref(&self) {
        self.watcher.set_ref(false);
    }

    /// Undoes [`unref`](Self::unref): while active, the handle keeps the
    /// loop's `run` going again. Handles start referenced. Does nothing once
    /// the handle is closed.
    ///
    /// Wraps `uv_ref`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let check = uv_handle::Check::new(&event_loop)?;
    /// check.unref();
    /// check.ref_();
    /// assert!(check.has_ref());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_ref")]
    pub fn ref_(&self) {
        self.watcher.set_ref(true);
    }

    /// Whether the handle keeps the loop's `run` going while it is active:
    /// true unless [`unref`](Self::unref) was called last.
    ///
    /// Wraps `uv_has_ref`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let check = uv_handle::Check::new(&event_loop)?;
    /// assert!(check.has_ref());
    /// check.unref();
    /// assert!(!check.has_ref());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_has_ref")]
    pub fn has_ref(&self) -> bool {
        self.watcher.has_ref()
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.watcher.fmt(f)
    }
}
