//! [`completion`]: a one-shot channel that carries the result of an
//! operation from the loop thread back to the thread waiting for it.
//!
//! The receiving side can block (with or without a timeout), poll, or be
//! awaited as a `std::future::Future` on any executor.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Why a [`Completion`] has no value.
///
/// ```
/// let (completer, completion) = uv_handle::completion::<u8>();
/// drop(completer);
/// assert_eq!(completion.wait(), Err(uv_handle::CompletionError::Abandoned));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompletionError {
    /// The [`Completer`] was dropped without a value (the operation was
    /// abandoned, for example because the loop thread exited).
    #[error("the operation was abandoned before it completed")]
    Abandoned,
    /// The timeout passed first; the value may still come later.
    #[error("the operation did not complete in time")]
    TimedOut,
}

/// Creates a one-shot channel: the [`Completer`] goes with the operation,
/// the [`Completion`] stays with whoever waits for it.
///
/// ```
/// let (completer, completion) = uv_handle::completion::<u32>();
/// std::thread::spawn(move || completer.complete(7));
/// assert_eq!(completion.wait(), Ok(7));
/// ```
pub fn completion<T>() -> (Completer<T>, Completion<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            value: None,
            abandoned: false,
            receiver_gone: false,
            sleeping: false,
            waker: None,
        }),
        ready: Condvar::new(),
    });
    (
        Completer {
            shared: Some(Arc::clone(&shared)),
        },
        Completion { shared },
    )
}

struct Shared<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    value: Option<T>,
    abandoned: bool,
    receiver_gone: bool,
    /// A thread is blocked in `wait`: only then is the condition variable
    /// signalled (std's signal is a system call whether or not anyone waits).
    sleeping: bool,
    waker: Option<Waker>,
}

/// The sending half: delivers one value. Dropping it unsent abandons the
/// completion.
///
/// ```
/// let (completer, completion) = uv_handle::completion();
/// std::thread::spawn(move || completer.complete("from another thread"));
/// assert_eq!(completion.wait(), Ok("from another thread"));
/// ```
pub struct Completer<T> {
    shared: Option<Arc<Shared<T>>>,
}

/// The receiving half: waits for the value (blocking, with a timeout, or
/// as a `std::future::Future`).
///
/// ```
/// use std::time::Duration;
/// let (completer, completion) = uv_handle::completion();
/// completer.complete(7);
/// assert!(completion.is_ready());
/// assert_eq!(completion.wait_timeout(Duration::from_secs(1)), Ok(7));
/// ```
#[must_use = "dropping a Completion gives up on its value: the operation learns that nobody waits"]
pub struct Completion<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores the value (or the abandonment); returns the waker to wake and
    /// whether a thread sleeps on the condition variable.
    fn store(&self, value: Option<T>) -> (Option<Waker>, bool) {
        let mut state = self.lock();
        Self::store_locked(&mut state, value)
    }

    fn store_locked(state: &mut State<T>, value: Option<T>) -> (Option<Waker>, bool) {
        match value {
            Some(value) => state.value = Some(value),
            None => state.abandoned = true,
        }
        (state.waker.take(), state.sleeping)
    }
}

impl<T: Send + 'static> Shared<T> {
    fn wakeup(this: &Arc<Self>, (waker, sleeping): (Option<Waker>, bool)) -> Wakeup {
        Wakeup {
            waker,
            sleeper: sleeping.then(|| Arc::clone(this) as Arc<dyn Notify>),
        }
    }
}

/// A condition variable to signal, whatever the completion's value type.
trait Notify: Send + Sync {
    fn notify(&self);
}

impl<T: Send> Notify for Shared<T> {
    fn notify(&self) {
        self.ready.notify_all();
    }
}

/// The waiter of a completed value, still to be told: dropping the wakeup
/// signals the blocked thread or wakes the task. Lets code that completes
/// under a lock of its own tell the waiter after releasing it, so a waker
/// that polls at once cannot deadlock on that lock. Nobody waiting costs
/// nothing.
///
/// ```
/// let (completer, completion) = uv_handle::completion();
/// let wakeup = completer.deliver(5);
/// // ... release locks here ...
/// drop(wakeup);
/// assert_eq!(completion.wait(), Ok(5));
/// ```
#[must_use = "the waiter is told when the wakeup is dropped"]
pub struct Wakeup {
    waker: Option<Waker>,
    sleeper: Option<Arc<dyn Notify>>,
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        if let Some(sleeper) = self.sleeper.take() {
            sleeper.notify();
        }
        if let Some(waker) = self.waker.take() {
            wake(waker);
        }
    }
}

/// Wakes `waker`, containing a panic of the waker itself (it is reported on
/// stderr): a faulty executor's waker must not leave the loop's state half
/// updated, nor unwind through code that was telling its waiters.
///
/// ```
/// use std::sync::Arc;
/// use std::task::{Wake, Waker};
///
/// struct Faulty;
/// impl Wake for Faulty {
///     fn wake(self: Arc<Self>) {
///         panic!("a faulty executor");
///     }
/// }
/// uv_handle::wake(Waker::from(Arc::new(Faulty)));
/// // Still here: the panic was contained.
/// ```
pub fn wake(waker: Waker) {
    crate::callback::catch_detached("a task's waker", move || waker.wake());
}

impl fmt::Debug for Wakeup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wakeup")
            .field("task", &self.waker.is_some())
            .field("thread", &self.sleeper.is_some())
            .finish()
    }
}

impl<T: Send + 'static> Completer<T> {
    /// Sends the value and wakes the waiter.
    ///
    /// ```
    /// let (completer, completion) = uv_handle::completion();
    /// completer.complete("done");
    /// assert_eq!(completion.wait(), Ok("done"));
    /// ```
    pub fn complete(self, value: T) {
        drop(self.deliver(value));
    }

    /// Sends the value; the waiter is told when the returned [`Wakeup`] is
    /// dropped.
    ///
    /// ```
    /// let (completer, completion) = uv_handle::completion();
    /// drop(completer.deliver(1));
    /// assert_eq!(completion.wait(), Ok(1));
    /// ```
    pub fn deliver(mut self, value: T) -> Wakeup {
        let shared = self.shared.take().expect("a completer is used once");
        let pending = shared.store(Some(value));
        Shared::wakeup(&shared, pending)
    }

    /// Like [`try_complete`](Self::try_complete), telling the waiter only
    /// when the returned [`Wakeup`] is dropped.
    ///
    /// # Errors
    ///
    /// `Err(value)` when nobody waits any more.
    ///
    /// ```
    /// let (completer, completion) = uv_handle::completion();
    /// drop(completion);
    /// assert_eq!(completer.try_deliver(2).unwrap_err(), 2);
    /// ```
    pub fn try_deliver(mut self, value: T) -> Result<Wakeup, T> {
        let shared = self.shared.take().expect("a completer is used once");
        let mut state = shared.lock();
        if state.receiver_gone {
            return Err(value);
        }
        let pending = Shared::store_locked(&mut state, Some(value));
        drop(state);
        Ok(Shared::wakeup(&shared, pending))
    }
}

impl<T: Send + 'static> Completer<T> {
    /// Delivers the value unless the [`Completion`] has been dropped, in
    /// which case the value is handed back, so nothing is lost.
    ///
    /// # Errors
    ///
    /// `Err(value)` when nobody waits any more.
    ///
    /// ```
    /// let (completer, completion) = uv_handle::completion();
    /// drop(completion);
    /// assert_eq!(completer.try_complete(5), Err(5));
    /// ```
    pub fn try_complete(self, value: T) -> Result<(), T> {
        self.try_deliver(value).map(drop)
    }
}

impl<T> Completer<T> {
    /// Whether the [`Completion`] has been dropped.
    ///
    /// ```
    /// let (completer, completion) = uv_handle::completion::<()>();
    /// drop(completion);
    /// assert!(completer.is_abandoned());
    /// ```
    pub fn is_abandoned(&self) -> bool {
        self.shared
            .as_ref()
            .is_none_or(|shared| shared.lock().receiver_gone)
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        self.shared.lock().receiver_gone = true;
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            // Abandoned: the waiter is told at once.
            let (waker, sleeping) = shared.store(None);
            if sleeping {
                shared.ready.notify_all();
            }
            if let Some(waker) = waker {
                wake(waker);
            }
        }
    }
}

impl<T> Completion<T> {
    /// Blocks until the value arrives.
    ///
    /// # Errors
    ///
    /// [`CompletionError::Abandoned`] if the completer was dropped unsent.
    ///
    /// ```
    /// let (completer, completion) = uv_handle::completion::<()>();
    /// drop(completer);
    /// assert_eq!(completion.wait(), Err(uv_handle::CompletionError::Abandoned));
    /// ```
    pub fn wait(self) -> Result<T, CompletionError> {
        self.wait_until(None)
    }

    /// Blocks until the value arrives or `timeout` passes. On timeout the
    /// completion stays usable: a later wait can still get the value.
    ///
    /// # Errors
    ///
    /// [`CompletionError::TimedOut`] or [`CompletionError::Abandoned`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let (completer, completion) = uv_handle::completion::<u8>();
    /// assert_eq!(completion.wait_timeout(Duration::from_millis(1)),
    ///            Err(uv_handle::CompletionError::TimedOut));
    /// completer.complete(1);
    /// assert_eq!(completion.wait_timeout(Duration::from_millis(1)), Ok(1));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<T, CompletionError> {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// Waits for the value until `deadline` (`None`: forever).
    fn wait_until(&self, deadline: Option<Instant>) -> Result<T, CompletionError> {
        let mut state = self.shared.lock();
        loop {
            if let Some(value) = state.value.take() {
                return Ok(value);
            }
            if state.abandoned {
                return Err(CompletionError::Abandoned);
            }
            state.sleeping = true;
            state = match deadline {
                None => self
                    .shared
                    .ready
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(CompletionError::TimedOut);
                    }
                    let (state, _) = self
                        .shared
                        .ready
                        .wait_timeout(state, left)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    state
                }
            };
        }
    }

    /// Gives up waiting: from now on the completer's `try_complete` hands
    /// its value back. Returns the value if it had already arrived, so a
    /// value is never lost between a timeout and the cancellation.
    ///
    /// ```
    /// let (completer, completion) = uv_handle::completion::<u8>();
    /// assert_eq!(completion.cancel(), None);
    /// assert_eq!(completer.try_complete(3), Err(3));
    /// ```
    pub fn cancel(self) -> Option<T> {
        let mut state = self.shared.lock();
        state.receiver_gone = true;
        state.value.take()
    }

    /// Whether the value (or the abandonment) has arrived, without blocking.
    ///
    /// ```
    /// let (completer, completion) = uv_handle::completion();
    /// assert!(!completion.is_ready());
    /// completer.complete(());
    /// assert!(completion.is_ready());
    /// ```
    pub fn is_ready(&self) -> bool {
        let state = self.shared.lock();
        state.value.is_some() || state.abandoned
    }
}

impl<T> Future for Completion<T> {
    type Output = Result<T, CompletionError>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.shared.lock();
        if let Some(value) = state.value.take() {
            return Poll::Ready(Ok(value));
        }
        if state.abandoned {
            return Poll::Ready(Err(CompletionError::Abandoned));
        }
        match &state.waker {
            Some(waker) if waker.will_wake(context.waker()) => {}
            _ => state.waker = Some(context.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for Completer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completer").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Completion<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}
