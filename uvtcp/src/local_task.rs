//! Local tasks: futures polled on a loop thread ([`IoTask::spawn_local`]).
//!
//! A task is stored with its loop's local values. Its waker is `Send +
//! Sync`: waking it queues one poll on the loop (at most one at a time), so
//! libuv callbacks on the loop wake the task with no thread hand-off. The
//! waker holds the `IoTask`, so a pending task keeps its loop alive.

use std::cell::RefCell;
use std::future::Future as StdFuture;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use uv_handle::{Completer, LocalKey, LoopRef};

use crate::io_task::IoTask;

/// What a task reports: its output, or the payload of its panic.
pub(crate) type TaskResult<T> = thread::Result<T>;

/// A type-erased task, polled on its loop thread.
trait LocalTask {
    /// Polls once; `Ready` when the task is over (finished or panicked).
    fn poll_task(&self, context: &mut Context<'_>) -> Poll<()>;
}

struct TaskCell<Fut: StdFuture> {
    future: RefCell<Option<Pin<Box<Fut>>>>,
    completer: RefCell<Option<Completer<TaskResult<Fut::Output>>>>,
}

impl<Fut: StdFuture> LocalTask for TaskCell<Fut> {
    fn poll_task(&self, context: &mut Context<'_>) -> Poll<()> {
        let mut slot = self.future.borrow_mut();
        let Some(future) = slot.as_mut() else {
            return Poll::Ready(());
        };
        let outcome = match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(context))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(value)) => Ok(value),
            Err(payload) => Err(payload),
        };
        // The task is over: drop it (its sockets close gracefully), then report.
        let finished = slot.take();
        drop(slot);
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(finished)));
        let outcome = outcome.and_then(|value| dropped.map(|()| value));
        if let Some(completer) = self.completer.borrow_mut().take() {
            completer.complete(outcome);
        }
        Poll::Ready(())
    }
}

/// A task as stored with its loop.
struct TaskEntry {
    task: Box<dyn LocalTask>,
    waker: Arc<TaskWaker>,
}

/// Wakes a task by queueing a poll on its loop.
struct TaskWaker {
    io_task: IoTask,
    key: std::sync::OnceLock<LocalKey<TaskEntry>>,
    scheduled: AtomicBool,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let Some(&key) = self.key.get() else {
            return;
        };
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            let _ = self.io_task.run(move |event_loop| poll(event_loop, key));
        }
    }
}

/// Starts a task on the loop thread: builds the future with `make` and
/// polls it once. A panic in `make` is reported like a panic in the task.
pub(crate) fn start<F, Fut, T>(
    event_loop: &LoopRef,
    io_task: IoTask,
    make: F,
    completer: Completer<TaskResult<T>>,
) where
    F: FnOnce() -> Fut,
    Fut: StdFuture<Output = T> + 'static,
    T: 'static,
{
    let future = match catch_unwind(AssertUnwindSafe(make)) {
        Ok(future) => future,
        Err(payload) => return completer.complete(Err(payload)),
    };
    let waker = Arc::new(TaskWaker {
        io_task,
        key: std::sync::OnceLock::new(),
        scheduled: AtomicBool::new(false),
    });
    let key = event_loop.insert_local(TaskEntry {
        task: Box::new(TaskCell {
            future: RefCell::new(Some(Box::pin(future))),
            completer: RefCell::new(Some(completer)),
        }),
        waker: Arc::clone(&waker),
    });
    let _ = waker.key.set(key);
    poll(event_loop, key);
}

/// Polls the task stored under `key`, and removes it once it is over.
fn poll(event_loop: &LoopRef, key: LocalKey<TaskEntry>) {
    let Some(entry) = event_loop.local(key) else {
        return;
    };
    entry.waker.scheduled.store(false, Ordering::Release);
    let waker = Waker::from(Arc::clone(&entry.waker));
    let mut context = Context::from_waker(&waker);
    if entry.task.poll_task(&mut context).is_ready() {
        drop(event_loop.remove_local(key));
    }
}
