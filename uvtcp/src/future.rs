//! [`Future`]: the result of an operation that completes later.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use uv_handle::{Completion, CompletionError};

use uv_handle::TaskResult;

/// A value that will be ready later: the result of a non-blocking
/// operation such as [`TcpSocket::write_future`](crate::TcpSocket::write_future).
///
/// Block on it with [`get`](Future::get), or `.await` it on any executor.
/// Dropping it is safe: the operation goes on and its result is discarded
/// (say so with `drop`: the type is `#[must_use]`).
///
/// ```
/// let ready = uvtcp::Future::from_value(42);
/// assert!(ready.is_ready());
/// assert_eq!(ready.get(), 42);
/// ```
#[doc(alias = "future")]
#[must_use = "the operation goes on, but its result (a write error, a received chunk) is lost \
              with the future; `drop` it to say so"]
pub struct Future<T> {
    state: State<T>,
}

enum State<T> {
    Ready(Option<T>),
    Pending {
        completion: Completion<T>,
        abandoned: fn() -> T,
        /// Cancels the operation when the future is dropped unresolved.
        _cancel: Option<Box<dyn Send + Sync>>,
    },
    /// A local task: its panic is re-raised where the future is resolved.
    Task(Completion<TaskResult<T>>),
}

/// The outcome of a local task whose completer was dropped unresolved.
fn task_lost() -> ! {
    panic!("the local task was dropped before it finished: its loop closed")
}

fn task_outcome<T>(outcome: Result<TaskResult<T>, CompletionError>) -> T {
    match outcome {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(_) => task_lost(),
    }
}

impl<T> Future<T> {
    /// A future that is already resolved to `value`.
    ///
    /// ```
    /// assert_eq!(uvtcp::Future::from_value("done").get(), "done");
    /// ```
    #[doc(alias = "future::from_value")]
    pub fn from_value(value: T) -> Future<T> {
        Future {
            state: State::Ready(Some(value)),
        }
    }

    /// A future resolved by the completer of `completion`; `abandoned` gives
    /// the value when the operation was dropped without a result.
    pub(crate) fn pending(completion: Completion<T>, abandoned: fn() -> T) -> Future<T> {
        Future {
            state: State::Pending {
                completion,
                abandoned,
                _cancel: None,
            },
        }
    }

    /// Like [`pending`](Self::pending); dropping the future drops `cancel`,
    /// whose `Drop` cancels the operation.
    pub(crate) fn cancellable(
        completion: Completion<T>,
        abandoned: fn() -> T,
        cancel: Box<dyn Send + Sync>,
    ) -> Future<T> {
        Future {
            state: State::Pending {
                completion,
                abandoned,
                _cancel: Some(cancel),
            },
        }
    }

    /// A future resolved by a local task.
    pub(crate) fn task(completion: Completion<TaskResult<T>>) -> Future<T> {
        Future {
            state: State::Task(completion),
        }
    }

    /// Blocks until the value is ready and returns it.
    ///
    /// # Panics
    ///
    /// When called on a loop thread (inside a local task), even for a ready
    /// value: waiting there would stall the loop that must produce it.
    /// `.await` the future there instead. Re-raises the panic of a local
    /// task ([`IoTask::spawn_local`](crate::IoTask::spawn_local)).
    ///
    /// ```
    /// assert_eq!(uvtcp::Future::from_value(1).get(), 1);
    /// ```
    pub fn get(self) -> T {
        match self.state {
            State::Ready(mut value) => {
                refuse_to_stall();
                value.take().expect("a ready future holds its value")
            }
            State::Pending {
                completion,
                abandoned,
                ..
            } => {
                refuse_to_stall();
                completion.wait().unwrap_or_else(|_| abandoned())
            }
            State::Task(completion) => {
                refuse_to_stall();
                task_outcome(completion.wait())
            }
        }
    }

    /// Whether the value is ready, without blocking.
    ///
    /// ```
    /// assert!(uvtcp::Future::from_value(()).is_ready());
    /// ```
    pub fn is_ready(&self) -> bool {
        match &self.state {
            State::Ready(_) => true,
            State::Pending { completion, .. } => completion.is_ready(),
            State::Task(completion) => completion.is_ready(),
        }
    }
}

// The value is only ever moved out whole, never pinned in place.
impl<T> Unpin for Future<T> {}

impl<T> std::future::Future for Future<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        match &mut this.state {
            State::Ready(value) => {
                Poll::Ready(value.take().expect("a future is polled to completion once"))
            }
            State::Pending {
                completion,
                abandoned,
                ..
            } => match Pin::new(completion).poll(context) {
                Poll::Ready(Ok(value)) => Poll::Ready(value),
                Poll::Ready(Err(_)) => Poll::Ready(abandoned()),
                Poll::Pending => Poll::Pending,
            },
            State::Task(completion) => Pin::new(completion).poll(context).map(task_outcome),
        }
    }
}

/// Panics on a loop thread, where waiting would stall the loop. Always,
/// also for a value that is ready, so code does not change behaviour under
/// load.
fn refuse_to_stall() {
    if uv_handle::on_loop_thread() {
        panic!(
            "uvtcp::Future::get called on a loop thread would stall the loop; \
             `.await` the future instead"
        );
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Future")
            .field("ready", &self.is_ready())
            .finish()
    }
}
