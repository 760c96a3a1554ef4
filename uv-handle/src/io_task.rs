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

use std::cell::Cell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::ThreadId;

use crossbeam_channel::{Receiver, Sender};

use crate::async_handle::{Async, AsyncSender};
use crate::callback;
use crate::error::UvError;
use crate::event_loop::{Loop, LoopRef, RunMode};

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

struct Remote {
    tasks: Sender<Message>,
    wake: AsyncSender,
    thread: ThreadId,
    name: String,
    wakeups: Arc<AtomicU64>,
}

thread_local! {
    static ON_LOOP_THREAD: Cell<bool> = const { Cell::new(false) };
}

static NEXT_TASK_NUMBER: AtomicUsize = AtomicUsize::new(1);

/// Whether the current thread is the thread of some [`IoTask`]'s loop.
///
/// Code that would block waits for the loop; on a loop thread it must not.
///
/// ```
/// assert!(!uv_handle::on_loop_thread());
/// ```
pub fn on_loop_thread() -> bool {
    ON_LOOP_THREAD.with(Cell::get)
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
        let name = format!("uv-io-{}", NEXT_TASK_NUMBER.fetch_add(1, Ordering::Relaxed));
        let (tasks, queue) = crossbeam_channel::unbounded();
        let (ready_sender, ready) = crossbeam_channel::bounded(1);
        let wakeups = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&wakeups);
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || run_loop_thread(queue, ready_sender, counter))
            .map_err(|error| UvError::from_code(-error.raw_os_error().unwrap_or(libc::EAGAIN)))?;
        let wake = ready.recv().unwrap_or(Err(UvError::ECANCELED))?;
        Ok(IoTask {
            remote: Arc::new(Remote {
                tasks,
                wake,
                thread: thread.thread().id(),
                name,
                wakeups,
            }),
        })
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
        self.remote
            .tasks
            .send(Message::Run(Box::new(task)))
            .map_err(|_| UvError::ECANCELED)?;
        self.remote.wake.send().map_err(|_| UvError::ECANCELED)
    }

    /// Whether the current thread is this task's loop thread.
    ///
    /// ```
    /// let io_task = uv_handle::IoTask::spawn()?;
    /// assert!(!io_task.is_current());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    pub fn is_current(&self) -> bool {
        std::thread::current().id() == self.remote.thread
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
    ///
    /// ```
    /// let io_task = uv_handle::IoTask::spawn()?;
    /// assert_eq!(io_task.wakeups(), 0);
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    pub fn wakeups(&self) -> u64 {
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
    queue: Receiver<Message>,
    ready: Sender<Result<AsyncSender, UvError>>,
    wakeups: Arc<AtomicU64>,
) {
    ON_LOOP_THREAD.with(|flag| flag.set(true));
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
    if ready.send(Ok(wake.sender())).is_err() {
        return;
    }
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
