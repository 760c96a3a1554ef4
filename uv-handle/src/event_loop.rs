//! [`Loop`]: an owned libuv event loop, and [`LoopRef`], the borrowed form
//! that handles and callbacks see.

use std::any::Any;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::ffi::c_void;
use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use uv_sys as ffi;

use crate::error::{UvError, check};
use crate::handle;

/// Size of the read buffer each loop lends to every read (64 KiB).
///
/// libuv reads one stream at a time on the loop thread and hands the bytes
/// to the read callback before it reads again, so one buffer per loop serves
/// every stream: no allocation per read, and a read callback copies out only
/// the bytes that were read. A reader that keeps its bytes
/// ([`TcpRef::read_start_owned`](crate::TcpRef::read_start_owned)) takes a
/// buffer that a read filled at least half of as it is, with no copy, and
/// the loop allocates a new one for its next read. 64 KiB is libuv's own
/// suggested size: large enough that a bulk transfer needs few system
/// calls, small enough to stay in cache.
///
/// ```
/// assert_eq!(uv_handle::READ_BUFFER_SIZE, 64 * 1024);
/// ```
pub const READ_BUFFER_SIZE: usize = 64 * 1024;

/// How `Loop::run` runs the loop (`uv_run_mode`).
///
/// ```
/// let event_loop = uv_handle::Loop::new()?;
/// assert!(!event_loop.run(uv_handle::RunMode::NoWait)?);
/// # Ok::<(), uv_handle::UvError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunMode {
    /// Runs until no active handle or request is left, or `stop` is called.
    Default,
    /// Polls for I/O once, blocking if nothing is ready.
    Once,
    /// Polls for I/O once without blocking.
    NoWait,
}

/// An owned libuv event loop (`uv_loop_t`).
///
/// A `Loop` is not `Send`: it and every handle on it belong to the thread
/// that created it. Dropping it (or calling [`close`](Loop::close)) first
/// drops the values stored with [`LoopRef::insert_local`], then closes every
/// handle still open on it, runs the loop until their close callbacks have
/// fired and their pending requests have completed (with `ECANCELED`), and
/// closes the loop. Handles that outlive their loop are inert: their methods
/// fail with `EBADF`. A `Loop` dropped by one of its own callbacks (kept in
/// shared state) is stopped, and the `run` in progress closes it before it
/// returns.
///
/// `Loop` derefs to [`LoopRef`], which has the operations.
///
/// A loop cannot be sent to another thread:
///
/// ```compile_fail,E0277
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(uv_handle::Loop::new().unwrap());
/// ```
///
/// ```
/// use uv_handle::{Loop, RunMode, Timer};
/// use std::time::Duration;
/// use std::rc::Rc;
/// use std::cell::Cell;
///
/// let event_loop = Loop::new()?;
/// let fired = Rc::new(Cell::new(false));
/// let timer = Timer::new(&event_loop)?;
/// let flag = fired.clone();
/// timer.start(Duration::from_millis(1), Duration::ZERO, move |_| flag.set(true))?;
/// event_loop.run(RunMode::Default)?;
/// assert!(fired.get());
/// # Ok::<(), uv_handle::UvError>(())
/// ```
#[doc(alias = "uv_loop_t")]
pub struct Loop {
    inner: Rc<LoopRef>,
}

/// A libuv event loop seen by reference: what handles and callbacks get.
///
/// Obtained from a [`Loop`] (by deref) or from a handle's `event_loop()`.
/// Besides running the loop it stores per-loop values ([`LoopRef::insert_local`]):
/// state a layer above keeps on the loop thread, reached through `Send` keys.
///
/// ```
/// use uv_handle::{Loop, LoopRef, Timer};
///
/// fn describe(event_loop: &LoopRef) -> bool {
///     !event_loop.is_closed()
/// }
/// let event_loop = Loop::new()?;
/// assert!(describe(&event_loop));
/// let timer = Timer::new(&event_loop)?;
/// timer.start(std::time::Duration::ZERO, std::time::Duration::ZERO, |event_loop| {
///     assert!(describe(event_loop));
/// })?;
/// event_loop.run(uv_handle::RunMode::Default)?;
/// # Ok::<(), uv_handle::UvError>(())
/// ```
#[repr(C)]
pub struct LoopRef {
    raw: UnsafeCell<ffi::uv_loop_t>,
    id: u64,
    /// Empty, with `READ_BUFFER_SIZE` of capacity for libuv to read into;
    /// no capacity right after its bytes were handed over whole.
    read_buffer: UnsafeCell<Vec<u8>>,
    panic: RefCell<Option<Box<dyn Any + Send>>>,
    running: Cell<bool>,
    close_when_stopped: Cell<bool>,
    closed: Cell<bool>,
    locals: RefCell<Locals>,
    this: std::rc::Weak<LoopRef>,
}

static NEXT_LOOP_ID: AtomicU64 = AtomicU64::new(1);

impl Loop {
    /// Creates and initialises a loop.
    ///
    /// Wraps `uv_loop_init`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_loop_init")]
    pub fn new() -> Result<Loop, UvError> {
        let inner = Rc::new_cyclic(|this| LoopRef {
            // SAFETY: uv_loop_t is plain data (integers, pointers, arrays of
            // them); all zeroes is a valid value to hand to uv_loop_init.
            raw: UnsafeCell::new(unsafe { MaybeUninit::zeroed().assume_init() }),
            id: NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed),
            read_buffer: UnsafeCell::new(Vec::with_capacity(READ_BUFFER_SIZE)),
            panic: RefCell::new(None),
            running: Cell::new(false),
            close_when_stopped: Cell::new(false),
            closed: Cell::new(true),
            locals: RefCell::new(Locals::default()),
            this: this.clone(),
        });
        // SAFETY: the loop memory lives in the Rc allocation, which never
        // moves, and is not shared with libuv yet.
        check(unsafe { ffi::uv_loop_init(inner.as_raw()) })?;
        // SAFETY: the loop is initialised; `data` is ours. It points at the
        // LoopRef, which outlives the loop memory it contains.
        unsafe { (*inner.as_raw()).data = Rc::as_ptr(&inner).cast_mut().cast() };
        inner.closed.set(false);
        Ok(Loop { inner })
    }

    /// Closes the loop as `Drop` does, reporting an error from `uv_loop_close`.
    ///
    /// # Errors
    ///
    /// None is expected: `EBUSY` (close callbacks or requests still pending)
    /// makes the teardown run the loop again until they are done. Called from
    /// one of the loop's own callbacks, `close` only stops the loop and
    /// returns `Ok`; the `run` in progress closes it.
    ///
    /// ```
    /// uv_handle::Loop::new()?.close()?;
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_loop_close")]
    pub fn close(self) -> Result<(), UvError> {
        // Dropping `self` afterwards finds the loop closed and does nothing.
        self.inner.close()
    }
}

impl Deref for Loop {
    type Target = LoopRef;

    fn deref(&self) -> &LoopRef {
        &self.inner
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        if let Err(error) = self.inner.close() {
            debug_assert!(
                false,
                "uv_loop_close failed after closing every handle: {error}"
            );
        }
    }
}

impl fmt::Debug for Loop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}

impl fmt::Debug for LoopRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loop")
            .field("id", &self.id)
            .field("closed", &self.closed.get())
            .finish_non_exhaustive()
    }
}

impl LoopRef {
    /// Runs the loop in `mode`. Returns whether handles or requests are
    /// still active (`uv_run`'s result).
    ///
    /// Wraps `uv_run`.
    ///
    /// # Errors
    ///
    /// `EBUSY` when called from inside a callback of this loop (libuv loops
    /// are not reentrant); `EBADF` on a closed loop.
    ///
    /// # Panics
    ///
    /// Re-raises a panic caught in a callback during this run, after
    /// `uv_run` has returned (see the crate docs on panics).
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// assert_eq!(event_loop.run(uv_handle::RunMode::Default)?, false);
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_run")]
    pub fn run(&self, mode: RunMode) -> Result<bool, UvError> {
        if self.closed.get() {
            return Err(UvError::EBADF);
        }
        if self.running.replace(true) {
            return Err(UvError::EBUSY);
        }
        let raw_mode = match mode {
            RunMode::Default => ffi::UV_RUN_DEFAULT,
            RunMode::Once => ffi::UV_RUN_ONCE,
            RunMode::NoWait => ffi::UV_RUN_NOWAIT,
        };
        // `LoopRef` lives in an `Rc` and is not `Sync`, so neither it nor
        // `&self` leaves the thread that created it.
        // SAFETY: the loop is initialised and open, we are on its thread, and
        // it is not running (checked above).
        let alive = unsafe { ffi::uv_run(self.as_raw(), raw_mode) } != 0;
        self.running.set(false);
        let payload = self.panic.borrow_mut().take();
        if self.close_when_stopped.replace(false) {
            // A callback of this run dropped the `Loop`: close it now.
            if let Err(error) = self.close() {
                debug_assert!(
                    false,
                    "uv_loop_close failed after closing every handle: {error}"
                );
            }
        }
        if let Some(payload) = payload {
            std::panic::resume_unwind(payload);
        }
        Ok(alive && !self.closed.get())
    }

    /// Asks a running loop to return from `run` as soon as possible.
    ///
    /// Wraps `uv_stop`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// event_loop.stop();
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_stop")]
    pub fn stop(&self) {
        if !self.closed.get() {
            // SAFETY: the loop is initialised and open (checked above); we
            // are on its thread, as in `run`.
            unsafe { ffi::uv_stop(self.as_raw()) };
        }
    }

    /// The loop's cached time in milliseconds.
    ///
    /// Wraps `uv_now`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let _ms = event_loop.now();
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_now")]
    pub fn now(&self) -> u64 {
        // SAFETY: the loop memory is initialised; uv_now reads one field.
        unsafe { ffi::uv_now(self.as_raw()) }
    }

    /// Refreshes the loop's cached time, for a timer that must not fire
    /// early when it is started long after the loop last woke.
    ///
    /// Wraps `uv_update_time`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let before = event_loop.now();
    /// std::thread::sleep(std::time::Duration::from_millis(2));
    /// event_loop.update_time();
    /// assert!(event_loop.now() >= before + 2);
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_update_time")]
    pub fn update_time(&self) {
        if !self.closed.get() {
            // SAFETY: the loop is initialised and open, and we are on its
            // thread (`LoopRef` is not `Sync`); uv_update_time sets one field.
            unsafe { ffi::uv_update_time(self.as_raw()) };
        }
    }

    /// Whether the loop has been closed.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// assert!(!event_loop.is_closed());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Stores `value` with the loop until [`remove_local`](Self::remove_local)
    /// or the loop closes, and returns a key for it.
    ///
    /// The key is `Send + Sync` and `Copy`, so code on other threads can
    /// name the value and send a closure that looks it up on the loop thread.
    /// A key only finds its value on the loop that issued it.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let key = event_loop.insert_local(String::from("state"));
    /// assert_eq!(event_loop.local(key).unwrap().as_str(), "state");
    /// assert!(event_loop.remove_local(key).is_some());
    /// assert!(event_loop.local(key).is_none());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    pub fn insert_local<T: 'static>(&self, value: T) -> LocalKey<T> {
        let value: Rc<dyn Any> = Rc::new(value);
        let (index, generation) = self.locals.borrow_mut().insert(value);
        LocalKey {
            loop_id: self.id,
            index,
            generation,
            marker: PhantomData,
        }
    }

    /// The value stored under `key`, if it is still there.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let key = event_loop.insert_local(5_u32);
    /// assert_eq!(event_loop.local(key).as_deref(), Some(&5));
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    pub fn local<T: 'static>(&self, key: LocalKey<T>) -> Option<Rc<T>> {
        if key.loop_id != self.id {
            return None;
        }
        let value = self.locals.borrow().get(key.index, key.generation)?;
        value.downcast::<T>().ok()
    }

    /// Removes and returns the value stored under `key`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let key = event_loop.insert_local("once");
    /// assert!(event_loop.remove_local(key).is_some());
    /// assert!(event_loop.remove_local(key).is_none());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    pub fn remove_local<T: 'static>(&self, key: LocalKey<T>) -> Option<Rc<T>> {
        if key.loop_id != self.id {
            return None;
        }
        let value = self.locals.borrow_mut().remove(key.index, key.generation)?;
        value.downcast::<T>().ok()
    }

    /// The number of values stored with [`insert_local`](Self::insert_local).
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let _key = event_loop.insert_local(());
    /// assert_eq!(event_loop.local_count(), 1);
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    pub fn local_count(&self) -> usize {
        self.locals.borrow().len
    }

    pub(crate) fn as_raw(&self) -> *mut ffi::uv_loop_t {
        self.raw.get()
    }

    /// A counted reference to this loop, for handles to keep it alive.
    pub(crate) fn to_rc(&self) -> Rc<LoopRef> {
        self.this
            .upgrade()
            .expect("a LoopRef is only reachable while an Rc to it exists")
    }

    /// The `LoopRef` that owns a raw loop.
    ///
    /// # Safety
    ///
    /// `raw` must be the loop of a live `LoopRef` (every loop this crate
    /// creates stores its `LoopRef` in `data`), and the returned reference
    /// must not outlive that `LoopRef`.
    pub(crate) unsafe fn from_raw<'a>(raw: *mut ffi::uv_loop_t) -> &'a LoopRef {
        // SAFETY: `raw` is a live loop (the caller's contract); `data` is a
        // plain field of it.
        let data = unsafe { (*raw).data };
        // SAFETY: `Loop::new` stored the address of the LoopRef in `data`
        // (from `Rc::as_ptr`, valid for the whole value), and the caller
        // keeps the reference within the LoopRef's life.
        unsafe { &*data.cast::<LoopRef>() }
    }

    /// The loop's shared read buffer, described for libuv's alloc callback.
    pub(crate) fn read_buffer(&self) -> ffi::uv_buf_t {
        // Only this (for the alloc callback) and `take_read` (for the read
        // callback that follows it) touch the buffer, one at a time.
        // SAFETY: no other reference to the buffer is alive while this one
        // exists (it ends in this function).
        let buffer = unsafe { &mut *self.read_buffer.get() };
        if buffer.capacity() < READ_BUFFER_SIZE {
            // The last read's bytes were handed over whole: a new buffer.
            *buffer = Vec::with_capacity(READ_BUFFER_SIZE);
        }
        let spare = buffer.spare_capacity_mut();
        ffi::uv_buf_t {
            base: spare.as_mut_ptr().cast(),
            len: spare.len(),
        }
    }

    /// The `length` bytes libuv just read into the buffer `read_buffer`
    /// lent, as an owned vector: the buffer itself when at least half of it
    /// was filled (no copy; the loop gets a new buffer at its next read),
    /// a copy otherwise, so a small read does not pin a large allocation.
    ///
    /// # Safety
    ///
    /// Call only from a read callback, for the buffer `read_buffer` lent to
    /// that read, with the `length` libuv reported (at most its length).
    pub(crate) unsafe fn take_read(&self, length: usize) -> Vec<u8> {
        // SAFETY: as in `read_buffer`: the read callback is the only user of
        // the buffer while it runs.
        let buffer = unsafe { &mut *self.read_buffer.get() };
        debug_assert!(length <= buffer.capacity());
        if length >= READ_BUFFER_SIZE / 2 {
            let mut bytes = std::mem::take(buffer);
            // SAFETY: libuv's read initialised the first `length` bytes of
            // the spare capacity it was lent, and `length` fits in it (the
            // caller's contract).
            unsafe { bytes.set_len(length) };
            bytes
        } else {
            // SAFETY: as above, the first `length` bytes are initialised.
            let read = unsafe { std::slice::from_raw_parts(buffer.as_ptr(), length) };
            read.to_vec()
        }
    }

    pub(crate) fn store_panic(&self, payload: Box<dyn Any + Send>) {
        let mut slot = self.panic.borrow_mut();
        if slot.is_none() {
            *slot = Some(payload);
            drop(slot);
        } else {
            drop(slot);
            crate::callback::catch_detached("dropping a panic payload", move || {
                eprintln!(
                    "uv-handle: a second panic in a callback before `run` returned was dropped: {}",
                    crate::callback::describe(&*payload)
                );
                drop(payload);
            });
        }
        self.stop();
    }

    /// The teardown of `Loop`: drop locals, close every handle, run until
    /// nothing is left, close the loop.
    ///
    /// Called while the loop runs (a callback dropped the `Loop`, which it
    /// can reach through shared state), it only stops the loop: libuv loops
    /// are not reentrant, so `run` closes the loop once `uv_run` returned.
    fn close(&self) -> Result<(), UvError> {
        if self.closed.get() {
            return Ok(());
        }
        if self.running.get() {
            self.close_when_stopped.set(true);
            self.stop();
            return Ok(());
        }
        // Callbacks run during teardown cannot run the loop again (EBUSY).
        self.running.set(true);
        let result = self.tear_down();
        self.running.set(false);
        result
    }

    /// Drops every value stored with [`insert_local`](Self::insert_local).
    pub(crate) fn drop_locals(&self) {
        let locals = std::mem::take(&mut *self.locals.borrow_mut());
        crate::callback::catch_detached("dropping a loop's local values", || drop(locals));
    }

    fn tear_down(&self) -> Result<(), UvError> {
        self.drop_locals();
        loop {
            // SAFETY: the loop is open and we are on its thread; walk_close
            // only closes handles, which uv_walk allows.
            unsafe { ffi::uv_walk(self.as_raw(), Some(walk_close), std::ptr::null_mut()) };
            // SAFETY: as in `run`; the loop is not running (`close` checked
            // `running`, and set it so that callbacks cannot re-enter).
            unsafe { ffi::uv_run(self.as_raw(), ffi::UV_RUN_DEFAULT) };
            // A panic in a callback during teardown has nowhere to go.
            if let Some(payload) = self.panic.borrow_mut().take() {
                eprintln!(
                    "uv-handle: a panic in a callback during loop teardown was dropped: {}",
                    crate::callback::describe(&*payload)
                );
            }
            // SAFETY: every handle is closed and the loop is not running.
            match check(unsafe { ffi::uv_loop_close(self.as_raw()) }) {
                Ok(_) => break,
                // Close callbacks or requests still pending: `uv_run`
                // returned early (a callback stopped the loop, or `stop`
                // was called before the drop). Run again.
                Err(UvError::EBUSY) => continue,
                Err(error) => return Err(error),
            }
        }
        self.closed.set(true);
        Ok(())
    }
}

extern "C" fn walk_close(raw: *mut ffi::uv_handle_t, _arg: *mut c_void) {
    // SAFETY: uv_walk visits live handles of the loop being torn down, all
    // opened by this crate's `handle::open`; we are on the loop thread.
    unsafe { handle::close_raw(raw) };
}

/// A key to a value stored with a loop by [`LoopRef::insert_local`].
///
/// `Copy + Send + Sync` whatever `T` is: the key is only an index, and the
/// value stays on the loop thread.
///
/// ```
/// use std::rc::Rc;
/// use uv_handle::{completion, IoTask};
///
/// let io_task = IoTask::spawn()?;
/// let (completer, key) = completion();
/// // An `Rc` is not `Send`, but its key is.
/// io_task.interact(move |event_loop| completer.complete(event_loop.insert_local(Rc::new(3))))?;
/// let key = key.wait().unwrap();
/// let (completer, value) = completion();
/// io_task.interact(move |event_loop| completer.complete(event_loop.local(key).map(|rc| **rc)))?;
/// assert_eq!(value.wait(), Ok(Some(3)));
/// # Ok::<(), uv_handle::UvError>(())
/// ```
pub struct LocalKey<T> {
    loop_id: u64,
    index: u32,
    generation: u32,
    marker: PhantomData<fn() -> T>,
}

impl<T> Clone for LocalKey<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for LocalKey<T> {}

impl<T> PartialEq for LocalKey<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.loop_id, self.index, self.generation)
            == (other.loop_id, other.index, other.generation)
    }
}

impl<T> Eq for LocalKey<T> {}

impl<T> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "LocalKey({}:{}.{})",
            self.loop_id, self.index, self.generation
        )
    }
}

/// A generational slab of the loop's local values.
#[derive(Default)]
struct Locals {
    entries: Vec<LocalEntry>,
    free: Vec<u32>,
    len: usize,
}

struct LocalEntry {
    generation: u32,
    value: Option<Rc<dyn Any>>,
}

impl Locals {
    fn insert(&mut self, value: Rc<dyn Any>) -> (u32, u32) {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let entry = &mut self.entries[index as usize];
            entry.value = Some(value);
            (index, entry.generation)
        } else {
            let index = u32::try_from(self.entries.len()).expect("fewer than 2^32 locals");
            self.entries.push(LocalEntry {
                generation: 0,
                value: Some(value),
            });
            (index, 0)
        }
    }

    fn get(&self, index: u32, generation: u32) -> Option<Rc<dyn Any>> {
        let entry = self.entries.get(index as usize)?;
        if entry.generation != generation {
            return None;
        }
        entry.value.clone()
    }

    fn remove(&mut self, index: u32, generation: u32) -> Option<Rc<dyn Any>> {
        let entry = self.entries.get_mut(index as usize)?;
        if entry.generation != generation {
            return None;
        }
        let value = entry.value.take()?;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(index);
        self.len -= 1;
        Some(value)
    }
}
