//! [`Timer`]: a timer handle (`uv_timer_t`).

use std::cell::{RefCell, UnsafeCell};
use std::fmt;
use std::mem::MaybeUninit;
use std::rc::Rc;
use std::time::Duration;

use uv_sys as ffi;

use crate::callback::{self, RepeatCallback};
use crate::error::{UvError, check};
use crate::event_loop::LoopRef;
use crate::handle::{self, HandleAddress, RawHandle};

/// An owned timer handle; closed when dropped.
///
/// The callback runs on the loop thread. Not `Send`.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use uv_handle::{Loop, RunMode, Timer};
///
/// let event_loop = Loop::new()?;
/// let timer = Timer::new(&event_loop)?;
/// let ticks = Rc::new(Cell::new(0));
/// let counter = ticks.clone();
/// timer.start(Duration::from_millis(1), Duration::ZERO, move |_| counter.set(counter.get() + 1))?;
/// event_loop.run(RunMode::Default)?;
/// assert_eq!(ticks.get(), 1);
/// # Ok::<(), uv_handle::UvError>(())
/// ```
///
/// A timer cannot be sent to another thread:
///
/// ```compile_fail,E0277
/// fn assert_send<T: Send>(_: T) {}
/// let event_loop = uv_handle::Loop::new().unwrap();
/// assert_send(uv_handle::Timer::new(&event_loop).unwrap());
/// ```
#[doc(alias = "uv_timer_t")]
pub struct Timer {
    handle: Rc<TimerInner>,
}

#[repr(C)]
struct TimerInner {
    raw: UnsafeCell<ffi::uv_timer_t>,
    address: HandleAddress<TimerInner>,
    event_loop: Rc<LoopRef>,
    on_fire: RefCell<Option<RepeatCallback>>,
}

// The cast from a uv_timer_t to its TimerInner (`handle::from_raw`) relies on it.
const _: () = assert!(std::mem::offset_of!(TimerInner, raw) == 0);

// SAFETY: TimerInner is #[repr(C)] with the uv_timer_t (in an UnsafeCell)
// first; `project` takes that field's address through the raw pointer;
// `address` is always the same field; TimerInner holds `Rc`s, so it is
// neither `Send` nor `Sync`.
unsafe impl RawHandle for TimerInner {
    type Raw = ffi::uv_timer_t;

    fn address(&self) -> &HandleAddress<TimerInner> {
        &self.address
    }

    unsafe fn project(this: *const TimerInner) -> *mut ffi::uv_timer_t {
        // SAFETY: the caller guarantees `this` points to a live TimerInner;
        // no reference is created, so the result keeps `this`'s provenance.
        UnsafeCell::raw_get(unsafe { std::ptr::addr_of!((*this).raw) })
    }

    fn event_loop(&self) -> &LoopRef {
        &self.event_loop
    }

    fn on_close(&self) {
        let on_fire = self.on_fire.borrow_mut().take();
        drop(on_fire);
    }
}

impl Timer {
    /// Creates a timer on `event_loop`.
    ///
    /// Wraps `uv_timer_init`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let timer = uv_handle::Timer::new(&event_loop)?;
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_timer_init")]
    pub fn new(event_loop: &LoopRef) -> Result<Timer, UvError> {
        let value = TimerInner {
            // SAFETY: uv_timer_t is plain data; all zeroes is valid before init.
            raw: UnsafeCell::new(unsafe { MaybeUninit::zeroed().assume_init() }),
            address: HandleAddress::new(),
            event_loop: event_loop.to_rc(),
            on_fire: RefCell::new(None),
        };
        let handle = handle::open(value, |loop_raw, raw| {
            // SAFETY: `raw` is the zeroed uv_timer_t of the new value, which
            // does not move; the loop is open and we are on its thread
            // (`LoopRef` is not `Sync`).
            unsafe { ffi::uv_timer_init(loop_raw, raw) }
        })?;
        Ok(Timer { handle })
    }

    /// Fires `on_fire` (with the timer's loop) after `timeout`, then every
    /// `repeat` (zero: once). Replaces a previous start.
    ///
    /// Wraps `uv_timer_start`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let event_loop = uv_handle::Loop::new()?;
    /// let timer = uv_handle::Timer::new(&event_loop)?;
    /// timer.start(Duration::from_secs(60), Duration::ZERO, |_| {})?;
    /// timer.stop()?;
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_timer_start")]
    pub fn start(
        &self,
        timeout: Duration,
        repeat: Duration,
        on_fire: impl FnMut(&LoopRef) + 'static,
    ) -> Result<(), UvError> {
        let raw = self.raw()?;
        let previous = self.handle.on_fire.replace(Some(Box::new(on_fire)));
        // The replaced callback is dropped only after the call, so its drop
        // (any code) cannot close the timer under it.
        // SAFETY: the timer is not closing (checked by `raw`) and we are on
        // its loop thread (`Timer` is not `Sync`).
        let result = check(unsafe {
            ffi::uv_timer_start(raw, Some(timer_cb), millis(timeout), millis(repeat))
        });
        drop(previous);
        result.map(drop)
    }

    /// Stops the timer; its callback is dropped.
    ///
    /// Wraps `uv_timer_stop`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// uv_handle::Timer::new(&event_loop)?.stop()?;
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_timer_stop")]
    pub fn stop(&self) -> Result<(), UvError> {
        let raw = self.raw()?;
        // SAFETY: as in `start`.
        check(unsafe { ffi::uv_timer_stop(raw) })?;
        let previous = self.handle.on_fire.borrow_mut().take();
        drop(previous);
        Ok(())
    }

    fn raw(&self) -> Result<*mut ffi::uv_timer_t, UvError> {
        if handle::is_closing(&*self.handle) {
            Err(UvError::EBADF)
        } else {
            Ok(handle::as_raw(&*self.handle))
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        handle::close(&*self.handle);
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("closing", &handle::is_closing(&*self.handle))
            .finish_non_exhaustive()
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

extern "C" fn timer_cb(raw: *mut ffi::uv_timer_t) {
    // SAFETY: only timers of this crate use this callback, and libuv passes
    // the handle back as it got it, before its close callback.
    let timer = unsafe { handle::from_raw::<TimerInner>(raw) };
    // A repeating timer is active again after its callback unless the
    // callback stopped or closed it; a one-shot timer is not.
    callback::fire_repeating(timer, &timer.on_fire, || {
        // SAFETY: fire_repeating calls this only when the timer is not
        // closing, and we are on its loop thread (in its callback).
        unsafe { ffi::uv_timer_stop(raw) };
    });
}
