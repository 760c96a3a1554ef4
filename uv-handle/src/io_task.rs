//! [`IoTask`]: a libuv loop on its own thread, and the queue that lets
//! other threads run code on it.
//!
//! Every libuv call of the loop happens on its thread. Other threads send
//! closures with [`IoTask::interact`]: each goes into a lock-free queue and
//! wakes the loop with `uv_async_send`. The loop drains every queued closure
//! in one wake-up, and libuv coalesces the sends of a burst, so a burst of
//! `interact` calls costs one wake-up, not one each.
//!
//! The thread runs while any clone of its `IoTask` is alive. When the last
//! one is dropped, the loop drops its local values (closing the handles they
//! own), lets the requests in flight finish (writes, shutdowns, closes),
//! then closes every handle left and the loop, and the thread exits.
//! Nothing blocks the loop thread.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use crossbeam_channel::{Receiver, Sender};

use crate::async_handle::{Async, AsyncSender};
use crate::callback;
use crate::completion::{Completion, completion};
use crate::error::UvError;
use crate::event_loop::{Loop, LoopRef, RunMode};
use crate::executor::{self, Executor, TaskResult};

type Task = Box<dyn FnOnce(&LoopRef) + Send>;

enum Message {
    Run(Task),
    Exit,
}

/// A handle to a libuv loop running on its own thread. `Clone + Send + Sync`.
///
/// ```
/// use uv_handle::{completion, IoTask};
///
/// let io_task = IoTask::spawn()?;
/// let (completer, completion) = completion();
/// io_task.interact(move |event_loop| completer.complete(event_loop.now() > 0 || true))?;
/// assert_eq!(completion.wait(), Ok(true));
/// # Ok::<(), uv_handle::UvError>(())
/// ```
#[derive(Clone)]
pub struct IoTask {
    remote: Arc<Remote>,
}

/// The side of an IoTask that other threads hold: its queue and wake-up.
pub(crate) struct Remote {
    id: u64,
    tasks: Sender<Message>,
    wake: AsyncSender,
    name: String,
    /// Read by the tests that check how bursts coalesce.
    #[cfg_attr(not(test), allow(dead_code))]
    wakeups: Arc<AtomicU64>,
}

thread_local! {
    /// The id of the IoTask whose loop runs on this thread (0: none).
    static CURRENT_ID: Cell<u64> = const { Cell::new(0) };
    /// The loop that runs on this thread, for operations issued on it.
    static CURRENT_LOOP: RefCell<Option<Rc<LoopRef>>> = const { RefCell::new(None) };
}

static NEXT_TASK_NUMBER: AtomicU64 = AtomicU64::new(1);

/// The id of the IoTask whose loop runs on this thread (0: none).
pub(crate) fn current_id() -> u64 {
    CURRENT_ID.with(Cell::get)
}

/// Whether the current thread is the thread of some [`IoTask`]'s loop.
///
/// Code that would block waits for the loop; on a loop thread it must not.
///
/// ```
/// assert!(!uv_handle::on_loop_thread());
/// ```
pub fn on_loop_thread() -> bool {
    current_id() != 0
}

impl IoTask {
    /// Starts a new loop on a new thread (named `uv-io-N`).
    ///
    /// # Errors
    ///
    /// The error of `uv_loop_init` or `uv_async_init`, or of creating the
    /// thread.
    ///
    /// ```
    /// let io_task = uv_handle::IoTask::spawn()?;
    /// assert!(io_task.name().starts_with("uv-io-"));
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    pub fn spawn() -> Result<IoTask, UvError> {
        let id = NEXT_TASK_NUMBER.fetch_add(1, Ordering::Relaxed);
        let name = format!("uv-io-{id}");
        let (tasks, queue) = crossbeam_channel::unbounded();
        let (ready_sender, ready) = crossbeam_channel::bounded(1);
        let (remote_sender, remote_receiver) = crossbeam_channel::bounded(1);
        let wakeups = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&wakeups);
        std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || run_loop_thread(id, queue, ready_sender, remote_receiver, counter))
            .map_err(|error| UvError::from_code(-error.raw_os_error().unwrap_or(libc::EAGAIN)))?;
        let wake = ready.recv().unwrap_or(Err(UvError::ECANCELED))?;
        let remote = Arc::new(Remote {
            id,
            tasks,
            wake,
            name,
            wakeups,
        });
        // The loop thread's executor wakes its tasks from other threads
        // through this; it holds it weakly, so it never keeps itself alive.
        let _ = remote_sender.send(Arc::downgrade(&remote));
        Ok(IoTask { remote })
    }

    /// The process-wide loop, started on first use; it runs for the rest of
    /// the process.
    ///
    /// # Panics
    ///
    /// If the loop cannot be started at all (no threads or file descriptors
    /// left).
    ///
    /// ```
    /// let a = uv_handle::IoTask::global();
    /// let b = uv_handle::IoTask::global();
    /// assert_eq!(a.name(), b.name());
    /// ```
    pub fn global() -> IoTask {
        static GLOBAL: OnceLock<IoTask> = OnceLock::new();
        GLOBAL
            .get_or_init(|| IoTask::spawn().expect("cannot start the global libuv loop thread"))
            .clone()
    }

    /// Queues `task` to run on the loop thread and wakes the loop.
    ///
    /// Tasks run in the order they were queued (per sending thread, and
    /// globally in queue order). A task that panics is dropped, and the
    /// panic is reported on stderr; the loop goes on.
    ///
    /// # Errors
    ///
    /// `ECANCELED` if the loop thread is gone (it never exits while an
    /// `IoTask` exists, unless the process is failing).
    ///
    /// ```
    /// let io_task = uv_handle::IoTask::spawn()?;
    /// io_task.interact(|event_loop| assert!(!event_loop.is_closed()))?;
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    pub fn interact(&self, task: impl FnOnce(&LoopRef) + Send + 'static) -> Result<(), UvError> {
        self.remote.queue(Box::new(task))
    }

    /// Runs `task` on the loop thread: at once when called on that thread
    /// (no queue, no wake-up), otherwise queued as by
    /// [`interact`](Self::interact). The one place that decides, so an
    /// operation issued on its own loop thread never pays a hand-off.
    ///
    /// A panic in a task run at once unwinds to the caller.
    ///
    /// # Errors
    ///
    /// `ECANCELED` if the loop thread is gone.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use uv_handle::{completion, IoTask};
    ///
    /// let io_task = IoTask::spawn()?;
    /// let (completer, done) = completion();
    /// let inner = io_task.clone();
    /// io_task.interact(move |_| {
    ///     // On the loop thread, the dispatched task runs before `dispatch`
    ///     // returns.
    ///     let ran = Arc::new(AtomicBool::new(false));
    ///     let flag = Arc::clone(&ran);
    ///     let _ = inner.dispatch(move |_| flag.store(true, Ordering::SeqCst));
    ///     completer.complete(ran.load(Ordering::SeqCst));
    /// })?;
    /// assert_eq!(done.wait(), Ok(true));
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    pub fn dispatch(&self, task: impl FnOnce(&LoopRef) + Send + 'static) -> Result<(), UvError> {
        match self.current_loop() {
            Some(event_loop) => {
                task(&event_loop);
                Ok(())
            }
            None => self.interact(task),
        }
    }

    /// Runs `task` at once when called on this loop's thread and returns
    /// its result; `None` on any other thread (`task` is not called). For
    /// operations that can finish without waiting when issued on their own
    /// loop thread; `task` need not be `Send` or `'static`.
    ///
    /// ```
    /// let io_task = uv_handle::IoTask::spawn()?;
    /// assert_eq!(io_task.run_here(|_| 1), None);
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    pub fn run_here<R>(&self, task: impl FnOnce(&LoopRef) -> R) -> Option<R> {
        self.current_loop().map(|event_loop| task(&event_loop))
    }

    /// This task's loop, when the current thread runs it.
    fn current_loop(&self) -> Option<Rc<LoopRef>> {
        if !self.is_current() {
            return None;
        }
        CURRENT_LOOP.with(|current| current.borrow().clone())
    }

    /// Builds a future on the loop thread with `make` (it need not be
    /// `Send`) and polls it there as a local task; returns at once, also on
    /// the loop thread. Tasks start in the order they were spawned.
    ///
    /// The [`Completion`] resolves to the future's output, or to the payload
    /// of a panic in `make` or in the task (the task is then dropped; the
    /// loop and its other tasks go on). Dropping the completion detaches the
    /// task: it runs on. A pending task keeps its loop alive.
    ///
    /// ```
    /// let io_task = uv_handle::IoTask::spawn()?;
    /// let answer = io_task.spawn_local(|| async { 6 * 7 });
    /// assert_eq!(answer.wait().unwrap().unwrap(), 42);
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[must_use = "dropping the completion detaches the task; it still runs"]
    pub fn spawn_local<F, Fut, T>(&self, make: F) -> Completion<TaskResult<T>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        let (completer, completion) = completion();
        let io_task = self.clone();
        // If the loop is gone, the completer is dropped: the completion
        // reports `Abandoned`.
        let _ = self.dispatch(move |_| executor::spawn(io_task, make, completer));
        completion
    }

    /// Whether the current thread is this task's loop thread.
    ///
    /// ```
    /// let io_task = uv_handle::IoTask::spawn()?;
    /// assert!(!io_task.is_current());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    pub fn is_current(&self) -> bool {
        current_id() == self.remote.id
    }

    /// The name of the loop thread.
    ///
    /// ```
    /// let io_task = uv_handle::IoTask::spawn()?;
    /// assert!(!io_task.name().is_empty());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.remote.name
    }

    /// How many times the loop thread has woken up to run queued tasks: a
    /// measure of how well bursts coalesce.
    #[cfg(test)]
    pub(crate) fn wakeups(&self) -> u64 {
        self.remote.wakeups.load(Ordering::Relaxed)
    }

    /// Whether two handles refer to the same loop thread.
    ///
    /// ```
    /// let io_task = uv_handle::IoTask::spawn()?;
    /// assert!(io_task.same_loop(&io_task.clone()));
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    pub fn same_loop(&self, other: &IoTask) -> bool {
        Arc::ptr_eq(&self.remote, &other.remote)
    }
}

impl Remote {
    /// Queues `task` and wakes the loop.
    pub(crate) fn queue(&self, task: Task) -> Result<(), UvError> {
        self.tasks
            .send(Message::Run(task))
            .map_err(|_| UvError::ECANCELED)?;
        self.wake.send().map_err(|_| UvError::ECANCELED)
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        // The last IoTask is gone: let the loop finish its work and exit.
        if self.tasks.send(Message::Exit).is_ok() {
            let _ = self.wake.send();
        }
    }
}

impl fmt::Debug for IoTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoTask")
            .field("name", &self.remote.name)
            .finish_non_exhaustive()
    }
}

fn run_loop_thread(
    id: u64,
    queue: Receiver<Message>,
    ready: Sender<Result<AsyncSender, UvError>>,
    remote: Receiver<Weak<Remote>>,
    wakeups: Arc<AtomicU64>,
) {
    CURRENT_ID.with(|current| current.set(id));
    let event_loop = match Loop::new() {
        Ok(event_loop) => event_loop,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let exiting = Rc::new(Cell::new(false));
    let exit_flag = Rc::clone(&exiting);
    let wake = Async::new(&event_loop, move |event_loop| {
        wakeups.fetch_add(1, Ordering::Relaxed);
        for message in queue.try_iter() {
            match message {
                Message::Run(task) => run_task(event_loop, task),
                Message::Exit => {
                    exit_flag.set(true);
                    event_loop.stop();
                }
            }
        }
    });
    let wake = match wake {
        Ok(wake) => wake,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    if let Err(error) = Executor::install(&event_loop, id) {
        let _ = ready.send(Err(error));
        return;
    }
    if ready.send(Ok(wake.sender())).is_err() {
        return;
    }
    let Ok(remote) = remote.recv() else {
        return;
    };
    Executor::connect(remote);
    CURRENT_LOOP.with(|current| *current.borrow_mut() = Some(event_loop.to_rc()));
    let mut finishing = false;
    loop {
        match catch_unwind(AssertUnwindSafe(|| event_loop.run(RunMode::Default))) {
            Ok(Ok(alive)) => {
                if exiting.get() && !finishing {
                    // Nobody can queue tasks any more, so nobody can reach
                    // the local values by key: drop them (their handles
                    // close), then run until the requests in flight (writes,
                    // shutdowns, closes) are done, and leave.
                    finishing = true;
                    event_loop.drop_locals();
                    wake.unref();
                } else if finishing && !alive {
                    break;
                }
            }
            Ok(Err(error)) => {
                eprintln!("uv-handle: the loop thread stops: {error}");
                break;
            }
            Err(payload) => eprintln!(
                "uv-handle: a panic in a callback on the loop thread was caught; \
                 the loop goes on: {}",
                callback::describe(&*payload)
            ),
        }
    }
    Executor::uninstall();
    CURRENT_LOOP.with(|current| current.borrow_mut().take());
    drop(wake);
    drop(event_loop);
}

fn run_task(event_loop: &LoopRef, task: Task) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| task(event_loop))) {
        eprintln!(
            "uv-handle: a task on the loop thread panicked and was dropped: {}",
            callback::describe(&*payload)
        );
    }
}
