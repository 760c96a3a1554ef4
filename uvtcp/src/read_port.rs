//! [`ReadPort`]: the receiving end of an active read.

use std::fmt;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use uv_handle::UvError;

use crate::error::{TcpErrData, forbid_blocking};
use crate::io_task::IoTask;
use crate::stream::shared::{ReadState, SocketShared};
use crate::stream::{self, SocketKey};

/// The receiving end of a read started by
/// [`TcpSocket::read_start`](crate::TcpSocket::read_start): each receive
/// returns the next chunk of bytes in order. `Send`.
///
/// Dropping the port without `read_stop` acts as `read_stop`, so a port
/// that is not kept stops at once (`#[must_use]`). As an
/// iterator it yields chunks and ends at `EOF` (which it does not yield);
/// another error is yielded once, then it ends.
///
/// ```
/// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
/// # let io_task = uvtcp::global_loop();
/// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
/// # let port = listener.local_addr().unwrap().port();
/// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
/// # let server = listener.accept_timeout(10_000).unwrap();
/// let port = server.read_start()?;
/// client.write("a")?;
/// drop(client);
/// let everything: Vec<u8> = port.map(|chunk| chunk.unwrap()).flatten().collect();
/// assert_eq!(everything, b"a");
/// # Ok::<(), uvtcp::TcpErrData>(())
/// ```
#[doc(alias = "comm::port")]
#[must_use = "dropping a ReadPort stops the read it started"]
pub struct ReadPort {
    io_task: IoTask,
    key: SocketKey,
    shared: Arc<SocketShared>,
    id: u64,
    stopped: bool,
    finished: bool,
}

impl ReadPort {
    pub(crate) fn new(
        io_task: IoTask,
        key: SocketKey,
        shared: Arc<SocketShared>,
        id: u64,
    ) -> ReadPort {
        ReadPort {
            io_task,
            key,
            shared,
            id,
            stopped: false,
            finished: false,
        }
    }

    pub(crate) fn belongs_to(&self, shared: &Arc<SocketShared>) -> bool {
        Arc::ptr_eq(&self.shared, shared)
    }

    /// Ends the read; queued chunks stay with the socket.
    pub(crate) fn stop(mut self) -> Result<(), TcpErrData> {
        self.stopped = true;
        self.release()
    }

    fn release(&self) -> Result<(), TcpErrData> {
        let recheck = self.shared.close_port(&mut self.shared.lock(), self.id);
        if recheck? {
            stream::request_refresh(&self.io_task, self.key);
        }
        Ok(())
    }

    /// Takes the next chunk or the end of the stream, if either is there;
    /// otherwise registers `waker` (if any) for the next change. Asks the
    /// loop to resume reading, after unlocking, when the port has room again.
    fn take_or_register(&self, waker: Option<&Waker>) -> Option<Result<Vec<u8>, TcpErrData>> {
        let mut state = self.shared.lock();
        let (taken, resume) = self.take(&mut state);
        if taken.is_none() {
            if let Some(waker) = waker {
                state.add_waker(waker);
            }
        }
        drop(state);
        if resume {
            stream::request_refresh(&self.io_task, self.key);
        }
        taken
    }

    /// Takes from the locked state; returns whether reading must resume.
    fn take(&self, state: &mut ReadState) -> (Option<Result<Vec<u8>, TcpErrData>>, bool) {
        if state.port != Some(self.id) {
            return (Some(Err(UvError::EINVAL.into())), false);
        }
        self.shared.take(state)
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<Vec<u8>, TcpErrData> {
        forbid_blocking("recv", "await `recv_async` instead")?;
        let mut state = self.shared.lock();
        loop {
            let (taken, resume) = self.take(&mut state);
            if let Some(result) = taken {
                drop(state);
                if resume {
                    stream::request_refresh(&self.io_task, self.key);
                }
                return result;
            }
            let timeout = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(UvError::ETIMEDOUT.into());
                    }
                    Some(left)
                }
                None => None,
            };
            state.wait(timeout);
        }
    }

    /// Blocks until the next chunk (or the end of the stream) arrives.
    ///
    /// # Errors
    ///
    /// `EOF` at the end of the stream, repeatedly; read errors such as
    /// `ECONNRESET`; `EINVAL` once the port was stopped; `EAGAIN` on a loop
    /// thread.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// let port = server.read_start()?;
    /// client.write("x")?;
    /// assert_eq!(port.recv()?, b"x");
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn recv(&self) -> Result<Vec<u8>, TcpErrData> {
        self.recv_until(None)
    }

    /// Like [`recv`](Self::recv), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// `ETIMEDOUT` when nothing arrived in time (nothing is lost), and the
    /// errors of `recv`.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// let port = server.read_start()?;
    /// assert_eq!(port.recv_timeout(Duration::from_millis(10)).unwrap_err().err_name, "ETIMEDOUT");
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Vec<u8>, TcpErrData> {
        // A timeout too long to represent waits forever, as std's does.
        self.recv_until(Instant::now().checked_add(timeout))
    }

    /// The next chunk if one is already there; never blocks.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// let port = server.read_start()?;
    /// assert!(port.try_recv().is_none());
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn try_recv(&self) -> Option<Result<Vec<u8>, TcpErrData>> {
        self.take_or_register(None)
    }

    /// Awaits the next chunk (or the end of the stream) on any executor.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future loses nothing: chunks stay in the port.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// let io_task = uvtcp::IoTask::spawn()?;
    /// let port = server.read_start()?;
    /// client.write("async")?;
    /// // Awaited in a local task here; any executor can poll it.
    /// let chunk = io_task
    ///     .spawn_local(move || async move { port.recv_async().await })
    ///     .get()?;
    /// assert_eq!(chunk, b"async");
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn recv_async(
        &self,
    ) -> impl std::future::Future<Output = Result<Vec<u8>, TcpErrData>> + '_ {
        poll_fn(
            move |context| match self.take_or_register(Some(context.waker())) {
                Some(result) => Poll::Ready(result),
                None => Poll::Pending,
            },
        )
    }
}

impl Iterator for ReadPort {
    type Item = Result<Vec<u8>, TcpErrData>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.recv() {
            Ok(chunk) => Some(Ok(chunk)),
            Err(error) => {
                self.finished = true;
                if error.is_eof() {
                    None
                } else {
                    Some(Err(error))
                }
            }
        }
    }
}

impl Drop for ReadPort {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.release();
        }
    }
}

impl fmt::Debug for ReadPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadPort")
            .field("id", &self.id)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
