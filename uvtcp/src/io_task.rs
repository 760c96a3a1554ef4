//! [`IoTask`]: uvtcp's handle to a libuv loop thread, and [`global_loop`].

use std::fmt;

use uv_handle::LoopRef;

use crate::error::{TcpErrData, canceled};

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

    /// Runs `task` on the loop thread.
    pub(crate) fn run(
        &self,
        task: impl FnOnce(&LoopRef) + Send + 'static,
    ) -> Result<(), TcpErrData> {
        self.inner.interact(task).map_err(|_| canceled())
    }

    /// Whether the calling thread is this loop's thread.
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
