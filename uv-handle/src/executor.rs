//! The executor of local tasks: futures polled on their loop's thread
//! ([`IoTask::spawn_local`](crate::IoTask::spawn_local)).
//!
//! libuv callbacks only mark a task ready; ready tasks are polled in one
//! place, a check handle that runs right after each poll for I/O. While
//! tasks are ready, an idle handle keeps `uv_run` from blocking in that poll,
//! and at most [`POLL_BUDGET`] tasks are polled per loop iteration, so a task
//! that keeps waking itself cannot starve I/O.
//!
//! A wake on the loop thread pushes the task onto the executor's ready queue:
//! no lock, no system call. Only a wake from another thread crosses through
//! the IoTask's queue and `uv_async_send`. A task's waker is `Send + Sync`
//! and wakes at most once until the task is polled again.
//!
//! A task holds its [`IoTask`], so a pending task keeps its loop alive.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use crate::callback;
use crate::completion::Completer;
use crate::error::UvError;
use crate::event_loop::LoopRef;
use crate::io_task::{IoTask, Remote};
use crate::loop_watcher::{Check, Idle};

/// The most tasks polled in one loop iteration before I/O is polled again.
///
/// ```
/// assert!(uv_handle::POLL_BUDGET > 0);
/// ```
pub const POLL_BUDGET: usize = 64;

/// What a local task reports: its output, or the payload of its panic.
///
/// ```
/// let io_task = uv_handle::IoTask::spawn()?;
/// let outcome: uv_handle::TaskResult<u8> = io_task
///     .spawn_local(|| async { panic!("lost") })
///     .wait()
///     .unwrap();
/// assert!(outcome.is_err());
/// # Ok::<(), uv_handle::UvError>(())
/// ```
pub type TaskResult<T> = thread::Result<T>;

type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;

/// A task's place in the executor: a slot index and the slot's generation,
/// so a stale wake never polls a newer task in the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TaskId {
    index: u32,
    generation: u32,
}

/// The executor of one loop thread.
pub(crate) struct Executor {
    io_task_id: u64,
    /// Set once the IoTask exists, before any task can be spawned.
    remote: RefCell<Weak<Remote>>,
    check: Check,
    idle: Idle,
    tasks: RefCell<Slots>,
    ready: RefCell<VecDeque<TaskId>>,
}

/// Task storage: slots reused through a free list.
#[derive(Default)]
struct Slots {
    entries: Vec<Slot>,
    free: Vec<u32>,
}

struct Slot {
    generation: u32,
    task: Option<TaskEntry>,
}

struct TaskEntry {
    /// `None` while the task is being polled.
    future: Option<LocalFuture>,
    header: Arc<TaskHeader>,
    /// Keeps the loop alive while the task is pending.
    _io_task: IoTask,
}

/// What a task's waker holds: enough to find the task from any thread.
struct TaskHeader {
    id: TaskId,
    io_task_id: u64,
    scheduled: AtomicBool,
    remote: Weak<Remote>,
}

thread_local! {
    /// The executor of the loop this thread runs, if it runs one.
    static CURRENT: RefCell<Option<Rc<Executor>>> = const { RefCell::new(None) };
}

/// The executor of the current thread's loop, if any.
fn current() -> Option<Rc<Executor>> {
    CURRENT.with(|current| current.borrow().clone())
}

impl Executor {
    /// Creates the executor of `event_loop` and makes it this thread's.
    pub(crate) fn install(event_loop: &LoopRef, io_task_id: u64) -> Result<(), UvError> {
        let check = Check::new(event_loop)?;
        let idle = Idle::new(event_loop)?;
        let executor = Rc::new(Executor {
            io_task_id,
            remote: RefCell::new(Weak::new()),
            check,
            idle,
            tasks: RefCell::new(Slots::default()),
            ready: RefCell::new(VecDeque::new()),
        });
        let weak = Rc::downgrade(&executor);
        executor.check.start(move |_| {
            if let Some(executor) = weak.upgrade() {
                executor.run_ready();
            }
        })?;
        // The check handle runs every iteration but must not keep the loop
        // alive; pending tasks do that through the IoTask they hold.
        executor.check.unref();
        CURRENT.with(|current| *current.borrow_mut() = Some(executor));
        Ok(())
    }

    /// Gives this thread's executor the way back to its loop from other
    /// threads.
    pub(crate) fn connect(remote: Weak<Remote>) {
        if let Some(executor) = current() {
            *executor.remote.borrow_mut() = remote;
        }
    }

    /// Drops this thread's executor and every task it still holds.
    pub(crate) fn uninstall() {
        let executor = CURRENT.with(|current| current.borrow_mut().take());
        if let Some(executor) = executor {
            let entries = std::mem::take(&mut executor.tasks.borrow_mut().entries);
            callback::catch_detached("dropping a local task", move || drop(entries));
        }
    }

    /// Stores a new task and makes it ready: it is first polled in this
    /// loop iteration's check phase, after the tasks spawned before it.
    fn insert(&self, future: LocalFuture, io_task: IoTask) {
        let id = self.tasks.borrow_mut().vacant_id();
        let header = Arc::new(TaskHeader {
            id,
            io_task_id: self.io_task_id,
            scheduled: AtomicBool::new(true),
            remote: self.remote.borrow().clone(),
        });
        self.tasks.borrow_mut().fill(
            id,
            TaskEntry {
                future: Some(future),
                header,
                _io_task: io_task,
            },
        );
        self.make_ready(id);
    }

    fn make_ready(&self, id: TaskId) {
        self.ready.borrow_mut().push_back(id);
        if !self.idle.is_active() {
            // uv_idle_start only links the handle in: no system call.
            let _ = self.idle.start(|_| {});
        }
    }

    /// The check callback: polls the ready tasks, up to the budget.
    fn run_ready(&self) {
        for _ in 0..POLL_BUDGET {
            let Some(id) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            self.poll(id);
        }
        if self.ready.borrow().is_empty() && self.idle.is_active() {
            let _ = self.idle.stop();
        }
    }

    /// Polls one task; removes it once it is over. No borrow of the
    /// executor is held while the task runs, so it may spawn, wake and drop
    /// freely.
    fn poll(&self, id: TaskId) {
        let taken = {
            let mut tasks = self.tasks.borrow_mut();
            tasks.get_mut(id).and_then(|entry| {
                let future = entry.future.take()?;
                Some((future, Arc::clone(&entry.header)))
            })
        };
        let Some((mut future, header)) = taken else {
            return;
        };
        header.scheduled.store(false, Ordering::Release);
        let waker = Waker::from(header);
        let mut context = Context::from_waker(&waker);
        // TaskFuture catches the task's own panics; this guard is for a
        // waker or executor bug only.
        let done = match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut context))) {
            Ok(poll) => poll.is_ready(),
            Err(payload) => {
                eprintln!(
                    "uv-handle: a local task panicked outside its guard and was dropped: {}",
                    callback::describe(&*payload)
                );
                true
            }
        };
        if done {
            let entry = self.tasks.borrow_mut().remove(id);
            callback::catch_detached("dropping a finished local task", move || {
                drop(future);
                drop(entry);
            });
        } else if let Some(entry) = self.tasks.borrow_mut().get_mut(id) {
            entry.future = Some(future);
        }
    }
}

impl Slots {
    fn vacant_id(&mut self) -> TaskId {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.entries.push(Slot {
                    generation: 0,
                    task: None,
                });
                u32::try_from(self.entries.len() - 1).expect("fewer than 2^32 local tasks")
            }
        };
        let generation = self.entries[index as usize].generation;
        TaskId { index, generation }
    }

    fn fill(&mut self, id: TaskId, entry: TaskEntry) {
        self.entries[id.index as usize].task = Some(entry);
    }

    fn get_mut(&mut self, id: TaskId) -> Option<&mut TaskEntry> {
        let slot = self.entries.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.task.as_mut()
    }

    fn remove(&mut self, id: TaskId) -> Option<TaskEntry> {
        let slot = self.entries.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let entry = slot.task.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        Some(entry)
    }
}

impl Wake for TaskHeader {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        if crate::io_task::current_id() == self.io_task_id {
            if let Some(executor) = current() {
                executor.make_ready(self.id);
            }
            return;
        }
        let id = self.id;
        if let Some(remote) = self.remote.upgrade() {
            let _ = remote.queue(Box::new(move |_| {
                if let Some(executor) = current() {
                    executor.make_ready(id);
                }
            }));
        }
    }
}

/// A user's future with its completer: reports the output, or the panic,
/// and drops the future as soon as it is over.
struct TaskFuture<Fut: Future>
where
    Fut::Output: Send + 'static,
{
    future: Option<Pin<Box<Fut>>>,
    completer: Option<Completer<TaskResult<Fut::Output>>>,
}

impl<Fut: Future> Future for TaskFuture<Fut>
where
    Fut::Output: Send + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(future) = this.future.as_mut() else {
            return Poll::Ready(());
        };
        let outcome = match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(context))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(value)) => Ok(value),
            Err(payload) => Err(payload),
        };
        // The task is over: drop it first (its sockets close), then report.
        let finished = this.future.take();
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(finished)));
        let outcome = outcome.and_then(|value| dropped.map(|()| value));
        if let Some(completer) = this.completer.take() {
            completer.complete(outcome);
        }
        Poll::Ready(())
    }
}

/// Builds a task with `make` on the loop thread and makes it ready. A panic
/// in `make` is reported like a panic in the task.
pub(crate) fn spawn<F, Fut>(io_task: IoTask, make: F, completer: Completer<TaskResult<Fut::Output>>)
where
    F: FnOnce() -> Fut,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    let Some(executor) = current() else {
        completer.complete(Err(Box::new("no executor runs on this thread")));
        return;
    };
    let future = match catch_unwind(AssertUnwindSafe(make)) {
        Ok(future) => future,
        Err(payload) => return completer.complete(Err(payload)),
    };
    let task = TaskFuture {
        future: Some(Box::pin(future)),
        completer: Some(completer),
    };
    executor.insert(Box::pin(task), io_task);
}
