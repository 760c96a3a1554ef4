//! [`IoTask`]: uvtcp's handle to a libuv loop thread, and [`global_loop`].

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use uv_handle::{LocalKey, LoopRef, Timer, completion};

use crate::error::{TcpErrData, canceled};
use crate::future::Future;

/// A libuv loop running on its own thread; sockets and listeners live on
/// one. `Clone + Send + Sync`.
///
/// The thread runs while any clone, or any socket or listener on it, is
/// alive; then it finishes the writes in flight, closes its handles and
/// exits. Every libuv call happens on that thread: other threads talk to it
/// by messages that wake the loop, and nothing blocks it.
///
/// ```
/// let io_task = uvtcp::IoTask::spawn()?;
/// let also = io_task.clone();
/// # Ok::<(), uvtcp::TcpErrData>(())
/// ```
#[doc(alias = "iotask")]
#[derive(Clone)]
pub struct IoTask {
    inner: uv_handle::IoTask,
}

impl IoTask {
    /// Starts a new, private loop thread.
    ///
    /// # Errors
    ///
    /// The libuv error of creating the loop or its thread (`EMFILE`, ...).
    ///
    /// ```
    /// let io_task = uvtcp::IoTask::spawn()?;
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn spawn() -> Result<IoTask, TcpErrData> {
        let inner = uv_handle::IoTask::spawn()?;
        Ok(IoTask { inner })
    }

    /// Builds a future on the loop thread with `make` (it need not be
    /// `Send`) and polls it there, so the socket operations it awaits run
    /// with no thread hand-off. Returns at once, also inside a local task;
    /// tasks start in the order they were spawned.
    ///
    /// Dropping the returned [`Future`] detaches the task: it runs on. A
    /// pending task keeps its loop alive. Inside a task, await the
    /// non-blocking operations (`read_future`, `write_future`,
    /// `recv_async`, `accept_future`, `connect_future`, `flush_future`,
    /// `close_future`, [`sleep`](Self::sleep)); blocking calls fail there at
    /// once with `EAGAIN`, whose message names the future to await instead.
    /// Operations on sockets of this loop run at once, with no queue and no
    /// wake-up; those of another `IoTask` cross to their own loop.
    ///
    /// # Panics
    ///
    /// A panic in the task or in `make` drops the task (its sockets close
    /// gracefully) and is re-raised by `get` / `.await` on the returned
    /// future; the loop and its other tasks and sockets go on.
    ///
    /// ```
    /// let io_task = uvtcp::IoTask::spawn()?;
    /// let answer = io_task.spawn_local(|| async { 6 * 7 });
    /// assert_eq!(answer.get(), 42);
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn spawn_local<F, Fut, T>(&self, make: F) -> Future<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = T> + 'static,
        T: Send + 'static,
    {
        Future::task(self.inner.spawn_local(make))
    }

    /// A [`Future`] that resolves after `duration`: a libuv timer on this
    /// loop, started now, whether or not the future is polled. It never
    /// resolves before `duration` has passed since the call (the loop's
    /// clock counts whole milliseconds, so it may be up to about a
    /// millisecond late). Await it in local tasks or on any executor; `get`
    /// blocks where blocking is allowed. Dropping it cancels the timer.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let io_task = uvtcp::IoTask::spawn()?;
    /// let start = Instant::now();
    /// io_task.sleep(Duration::from_millis(20)).get();
    /// assert!(start.elapsed() >= Duration::from_millis(20));
    ///
    /// // In a local task, with no runtime of its own:
    /// let timer = io_task.clone();
    /// let done = io_task.spawn_local(move || async move {
    ///     timer.sleep(Duration::from_millis(5)).await;
    ///     "woke"
    /// });
    /// assert_eq!(done.get(), "woke");
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    #[must_use = "dropping the future cancels the timer"]
    pub fn sleep(&self, duration: Duration) -> Future<()> {
        let (completer, result) = completion();
        // The timer's key, for the cancel: queued after the start, the
        // cancel always finds it filled.
        let slot = Arc::new(OnceLock::new());
        let filled = Arc::clone(&slot);
        let started = self.run(move |event_loop| {
            let Ok(timer) = Timer::new(event_loop) else {
                return;
            };
            // A fresh clock, and one millisecond more than asked: the loop's
            // clock is whole milliseconds, and the timer must not fire early.
            event_loop.update_time();
            let timeout = duration.saturating_add(Duration::from_millis(1));
            let key = event_loop.insert_local(timer);
            let _ = filled.set(key);
            let mut completer = Some(completer);
            if let Some(timer) = event_loop.local(key) {
                let started = timer.start(timeout, Duration::ZERO, move |event_loop| {
                    drop(event_loop.remove_local(key));
                    if let Some(completer) = completer.take() {
                        completer.complete(());
                    }
                });
                if started.is_err() {
                    drop(event_loop.remove_local(key));
                }
            }
        });
        if started.is_err() {
            return Future::from_value(());
        }
        let cancel = TimerCancel {
            io_task: self.clone(),
            key: slot,
        };
        Future::cancellable(result, || (), Box::new(cancel))
    }

    /// Runs `task` on the loop thread: at once when called there, queued
    /// from any other thread.
    pub(crate) fn run(
        &self,
        task: impl FnOnce(&LoopRef) + Send + 'static,
    ) -> Result<(), TcpErrData> {
        self.inner.dispatch(task).map_err(|_| canceled())
    }

    /// Runs `task` at once if the current thread is this loop's thread.
    pub(crate) fn run_here<R>(&self, task: impl FnOnce(&LoopRef) -> R) -> Option<R> {
        self.inner.run_here(task)
    }

    /// Whether the current thread is this loop's thread.
    pub(crate) fn is_current(&self) -> bool {
        self.inner.is_current()
    }
}

impl fmt::Debug for IoTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IoTask").field(&self.inner.name()).finish()
    }
}

/// The process-wide loop thread, started on first use. It runs for the
/// whole process.
///
/// # Panics
///
/// If the process cannot start a thread or create a loop at all.
///
/// ```
/// let io_task = uvtcp::global_loop();
/// # let _ = io_task;
/// ```
#[doc(alias = "global_loop::get")]
pub fn global_loop() -> IoTask {
    IoTask {
        inner: uv_handle::IoTask::global(),
    }
}

/// Stops a sleep's timer when its future is dropped.
struct TimerCancel {
    io_task: IoTask,
    key: Arc<OnceLock<LocalKey<Timer>>>,
}

impl Drop for TimerCancel {
    fn drop(&mut self) {
        let key = Arc::clone(&self.key);
        let _ = self.io_task.run(move |event_loop| {
            if let Some(&key) = key.get() {
                drop(event_loop.remove_local(key));
            }
        });
    }
}
