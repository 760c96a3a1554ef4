//! [`Async`]: a wake-up handle (`uv_async_t`), and [`AsyncSender`], the only
//! piece of this crate that may be used from any thread.

use std::cell::{RefCell, UnsafeCell};
use std::fmt;
use std::mem::MaybeUninit;
use std::rc::Rc;
use std::sync::{Arc, RwLock};

use uv_sys as ffi;

use crate::callback;
use crate::error::{UvError, check};
use crate::event_loop::LoopRef;
use crate::handle::{self, HandleAddress, RawHandle};

/// An owned async handle: [`AsyncSender::send`] from any thread makes
/// `on_wake` run on the loop thread. Several sends before the callback runs
/// coalesce into one call (libuv's guarantee). Closed when dropped.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use uv_handle::{Async, Loop, RunMode};
///
/// let event_loop = Loop::new()?;
/// let woken = Rc::new(Cell::new(0));
/// let counter = woken.clone();
/// let wake = Async::new(&event_loop, move |event_loop| {
///     counter.set(counter.get() + 1);
///     event_loop.stop();
/// })?;
/// let sender = wake.sender();
/// std::thread::spawn(move || { sender.send().unwrap(); sender.send().unwrap(); }).join().unwrap();
/// event_loop.run(RunMode::Default)?;
/// assert_eq!(woken.get(), 1);
/// # Ok::<(), uv_handle::UvError>(())
/// ```
///
/// The handle itself stays on its loop's thread; only [`AsyncSender`]s
/// travel:
///
/// ```compile_fail,E0277
/// fn assert_send<T: Send>(_: T) {}
/// let event_loop = uv_handle::Loop::new().unwrap();
/// assert_send(uv_handle::Async::new(&event_loop, |_| {}).unwrap());
/// ```
#[doc(alias = "uv_async_t")]
pub struct Async {
    handle: Rc<AsyncInner>,
}

type WakeCallback = Box<dyn FnMut(&LoopRef)>;

#[repr(C)]
struct AsyncInner {
    raw: UnsafeCell<ffi::uv_async_t>,
    address: HandleAddress<AsyncInner>,
    event_loop: Rc<LoopRef>,
    on_wake: RefCell<Option<WakeCallback>>,
    target: Arc<AsyncTarget>,
}

/// The address senders wake, or `None` once the handle is closing.
struct AsyncTarget {
    raw: RwLock<Option<*mut ffi::uv_async_t>>,
}

// SAFETY: the only thing done with the pointer is uv_async_send, which
// libuv documents as safe to call from any thread, and it is only done under
// the read lock while the pointer is `Some`. The loop thread sets it to
// `None` under the write lock in the close callback path *before* libuv
// releases the handle, so a sender never sees a pointer to freed memory or
// to a loop that has been closed.
unsafe impl Send for AsyncTarget {}
// SAFETY: see `Send` above; all access goes through the RwLock.
unsafe impl Sync for AsyncTarget {}

/// Wakes an [`Async`] handle from any thread. `Clone + Send + Sync`.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use uv_handle::{Async, Loop, RunMode};
///
/// let event_loop = Loop::new()?;
/// let woken = Rc::new(Cell::new(false));
/// let flag = Rc::clone(&woken);
/// let wake = Async::new(&event_loop, move |_| flag.set(true))?;
/// let sender = wake.sender();
/// std::thread::spawn(move || sender.send()).join().unwrap()?;
/// event_loop.run(RunMode::Once)?;
/// assert!(woken.get());
/// # Ok::<(), uv_handle::UvError>(())
/// ```
#[derive(Clone)]
pub struct AsyncSender {
    target: Arc<AsyncTarget>,
}

// The cast from a uv_async_t to its AsyncInner (`handle::from_raw`) relies on it.
const _: () = assert!(std::mem::offset_of!(AsyncInner, raw) == 0);

// SAFETY: AsyncInner is #[repr(C)] with the uv_async_t (in an UnsafeCell)
// first; `project` takes that field's address through the raw pointer;
// `address` is always the same field; AsyncInner holds `Rc`s, so it is
// neither `Send` nor `Sync`.
unsafe impl RawHandle for AsyncInner {
    type Raw = ffi::uv_async_t;

    fn address(&self) -> &HandleAddress<AsyncInner> {
        &self.address
    }

    unsafe fn project(this: *const AsyncInner) -> *mut ffi::uv_async_t {
        // SAFETY: the caller guarantees `this` points to a live AsyncInner;
        // no reference is created, so the result keeps `this`'s provenance.
        UnsafeCell::raw_get(unsafe { std::ptr::addr_of!((*this).raw) })
    }

    fn event_loop(&self) -> &LoopRef {
        &self.event_loop
    }

    fn on_close(&self) {
        // Senders must stop before libuv lets go of the handle (and, on
        // teardown, before the loop closes).
        self.target.clear();
        let on_wake = self.on_wake.borrow_mut().take();
        drop(on_wake);
    }
}

impl Async {
    /// Creates an async handle on `event_loop`; `on_wake` runs on the loop
    /// thread after one or more [`AsyncSender::send`] calls.
    ///
    /// Wraps `uv_async_init`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let wake = uv_handle::Async::new(&event_loop, |_| {})?;
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_async_init")]
    pub fn new(
        event_loop: &LoopRef,
        on_wake: impl FnMut(&LoopRef) + 'static,
    ) -> Result<Async, UvError> {
        let value = AsyncInner {
            // SAFETY: uv_async_t is plain data; all zeroes is valid before init.
            raw: UnsafeCell::new(unsafe { MaybeUninit::zeroed().assume_init() }),
            address: HandleAddress::new(),
            event_loop: event_loop.to_rc(),
            on_wake: RefCell::new(Some(Box::new(on_wake))),
            target: Arc::new(AsyncTarget {
                raw: RwLock::new(None),
            }),
        };
        let handle = handle::open(value, |loop_raw, raw| {
            // SAFETY: `raw` is the zeroed uv_async_t of the new value, which
            // does not move; the loop is open and we are on its thread
            // (`LoopRef` is not `Sync`).
            unsafe { ffi::uv_async_init(loop_raw, raw, Some(async_cb)) }
        })?;
        *handle.target.raw.write().unwrap_or_else(|e| e.into_inner()) =
            Some(handle::as_raw(&*handle));
        Ok(Async { handle })
    }

    /// A sender that wakes this handle from any thread.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let wake = uv_handle::Async::new(&event_loop, |_| {})?;
    /// wake.sender().send()?;
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    pub fn sender(&self) -> AsyncSender {
        AsyncSender {
            target: Arc::clone(&self.handle.target),
        }
    }

    /// Lets the loop's `run` return while this handle is the only active one.
    ///
    /// Wraps `uv_unref`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let wake = uv_handle::Async::new(&event_loop, |_| {})?;
    /// wake.unref();
    /// assert!(!event_loop.run(uv_handle::RunMode::Default)?);
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_unref")]
    pub fn unref(&self) {
        handle::set_ref(&*self.handle, false);
    }
}

impl AsyncSender {
    /// Wakes the handle: its callback runs soon on the loop thread.
    ///
    /// Wraps `uv_async_send`.
    ///
    /// # Errors
    ///
    /// `EBADF` once the handle is closing or closed.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let sender = uv_handle::Async::new(&event_loop, |_| {})?.sender();
    /// assert_eq!(sender.send(), Err(uv_handle::UvError::EBADF));
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_async_send")]
    pub fn send(&self) -> Result<(), UvError> {
        let target = self.target.raw.read().unwrap_or_else(|e| e.into_inner());
        match *target {
            // SAFETY: while the pointer is `Some` under the read lock, the
            // handle's memory and its loop are alive (see AsyncTarget).
            // uv_async_send is thread-safe, and does nothing on a closing handle.
            Some(raw) => check(unsafe { ffi::uv_async_send(raw) }).map(drop),
            None => Err(UvError::EBADF),
        }
    }
}

impl Drop for Async {
    fn drop(&mut self) {
        self.handle.target.clear();
        handle::close(&*self.handle);
    }
}

impl AsyncTarget {
    fn clear(&self) {
        *self.raw.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl fmt::Debug for Async {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async")
            .field("closing", &handle::is_closing(&*self.handle))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AsyncSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncSender").finish_non_exhaustive()
    }
}

extern "C" fn async_cb(raw: *mut ffi::uv_async_t) {
    // SAFETY: only async handles of this crate use this callback, and libuv
    // passes the handle back as it got it, before its close callback.
    let inner = unsafe { handle::from_raw::<AsyncInner>(raw) };
    let Some(mut on_wake) = inner.on_wake.borrow_mut().take() else {
        return;
    };
    let event_loop = &inner.event_loop;
    let finished = callback::catch(event_loop, || on_wake(event_loop));
    if finished.is_some() && inner.on_wake.borrow().is_none() && !handle::is_closing(inner) {
        *inner.on_wake.borrow_mut() = Some(on_wake);
    } else {
        // A user closure: its `Drop` may panic, which must not reach C.
        callback::catch(event_loop, move || drop(on_wake));
    }
}
