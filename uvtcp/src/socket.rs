//! [`TcpSocket`]: a connected TCP stream, and the classic free functions
//! over it.

use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use uv_handle::{Completer, Completion, CompletionError, LoopRef, UvError, completion};

#[cfg(any(feature = "tokio", feature = "futures-io"))]
use crate::async_io::ShutdownState;
use crate::error::{TcpErrData, canceled, forbid_blocking};
use crate::future::Future;
use crate::io_task::IoTask;
use crate::read_port::ReadPort;
use crate::stream::shared::SocketShared;
use crate::stream::writing::{self, Outcome};
use crate::stream::{self, LoopSocket, SocketKey, close, reading};

/// A connected TCP stream on an [`IoTask`]. `Send + Sync`; not `Clone`.
///
/// Reads and writes may come from any thread. Dropping the socket closes it
/// gracefully: queued writes finish, then the write side is shut down and
/// the handle closed.
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use uvtcp::{IoTask, TcpListener, connect};
///
/// let io_task = IoTask::spawn()?;
/// let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// let listener = TcpListener::bind(localhost, 0, 16, &io_task).unwrap();
/// let port = listener.local_addr()?.port();
/// let client = connect(localhost, port, &io_task).unwrap();
/// let server = listener.accept()?;
/// client.write(b"ping")?;
/// assert_eq!(server.read(5000)?, b"ping");
/// # Ok::<(), uvtcp::TcpErrData>(())
/// ```
///
/// # Async I/O traits
///
/// With the cargo feature `tokio` or `futures-io`, `TcpSocket` and
/// `&TcpSocket` implement those crates' `AsyncRead` and `AsyncWrite`. They
/// read and write the same stream as every other call: a partial read keeps
/// the rest queued for the next read of any kind, end of stream is `Ok(0)`,
/// a write is pending while 64 KiB (or the write buffer limit) is queued,
/// and shutdown / close flush and then send FIN. The socket's own `read`,
/// `write`, `flush`, `shutdown` and `close` take precedence over the
/// extension traits' methods of the same name: call those as
/// `AsyncReadExt::read(&mut socket, buf)`, or use `write_all`,
/// `read_exact`, `read_to_end`, `tokio::io::split` and the like, which no
/// inherent method shadows.
#[doc(alias = "tcp_socket")]
pub struct TcpSocket {
    pub(crate) io_task: IoTask,
    pub(crate) key: SocketKey,
    pub(crate) shared: Arc<SocketShared>,
    /// Where an async shutdown (`poll_close` / `poll_shutdown`) stands.
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub(crate) shutdown: ShutdownState,
}

/// The result type of one-shot reads.
pub(crate) type ReadResult = Result<Vec<u8>, TcpErrData>;

fn abandoned_read() -> ReadResult {
    Err(canceled())
}

fn abandoned_write() -> Result<(), TcpErrData> {
    Err(canceled())
}

impl TcpSocket {
    pub(crate) fn new(io_task: IoTask, key: SocketKey, shared: Arc<SocketShared>) -> TcpSocket {
        TcpSocket {
            io_task,
            key,
            shared,
            #[cfg(any(feature = "tokio", feature = "futures-io"))]
            shutdown: ShutdownState::default(),
        }
    }

    /// Runs `operation` on the socket's loop-side state, on the loop thread:
    /// at once when called there, queued otherwise.
    fn on_loop(
        &self,
        operation: impl FnOnce(&LoopRef, SocketKey) + Send + 'static,
    ) -> Result<(), TcpErrData> {
        let key = self.key;
        self.io_task
            .run(move |event_loop| operation(event_loop, key))
    }

    /// Runs `operation` with the loop-side socket and returns its result.
    /// On the socket's own loop thread it runs at once; on another loop
    /// thread it is queued and assumed to succeed, since waiting there
    /// would stall that loop.
    fn call(
        &self,
        operation: impl FnOnce(&LoopSocket) -> Result<(), UvError> + Send + 'static,
    ) -> Result<(), TcpErrData> {
        self.call_on_loop(move |event_loop, key| match event_loop.local(key) {
            Some(socket) => operation(&socket),
            None => Err(UvError::EBADF),
        })
    }

    /// Runs `operation` on the loop thread and returns its result, as
    /// [`call`](Self::call) does.
    fn call_on_loop(
        &self,
        operation: impl FnOnce(&LoopRef, SocketKey) -> Result<(), UvError> + Send + 'static,
    ) -> Result<(), TcpErrData> {
        let (completer, result) = completion();
        self.on_loop(move |event_loop, key| completer.complete(operation(event_loop, key)))?;
        if !result.is_ready() && uv_handle::on_loop_thread() {
            return Ok(());
        }
        match result.wait() {
            Ok(outcome) => outcome.map_err(TcpErrData::from),
            Err(_) => Err(canceled()),
        }
    }

    /// Starts reading into a new [`ReadPort`], which receives every chunk
    /// until [`read_stop`](Self::read_stop) (or until it is dropped).
    ///
    /// After the stream ended, the port repeats that end on every receive.
    ///
    /// # Errors
    ///
    /// `EALREADY` while another port of this socket is active.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// let port = server.read_start()?;
    /// client.write("hello")?;
    /// assert_eq!(port.recv()?, b"hello");
    /// server.read_stop(port)?;
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    #[doc(alias = "net::tcp::read_start")]
    pub fn read_start(&self) -> Result<ReadPort, TcpErrData> {
        let mut state = self.shared.lock();
        let (id, resume) = self.shared.open_port(&mut state)?;
        drop(state);
        if resume {
            stream::request_refresh(&self.io_task, self.key);
        }
        Ok(ReadPort::new(
            self.io_task.clone(),
            self.key,
            Arc::clone(&self.shared),
            id,
        ))
    }

    /// Stops the read started by [`read_start`](Self::read_start). Chunks
    /// still queued in the port are kept: the next read hands them out first.
    ///
    /// # Errors
    ///
    /// `EINVAL` when `read_port` is not this socket's active port.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// let port = server.read_start()?;
    /// server.read_stop(port)?;
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    #[doc(alias = "net::tcp::read_stop")]
    pub fn read_stop(&self, read_port: ReadPort) -> Result<(), TcpErrData> {
        if !read_port.belongs_to(&self.shared) {
            return Err(UvError::EINVAL.into());
        }
        read_port.stop()
    }

    /// The next chunk of received bytes, waiting up to `timeout_msecs`
    /// milliseconds (`0`: indefinitely).
    ///
    /// # Errors
    ///
    /// `ETIMEDOUT` when nothing arrived in time (what arrives later is kept
    /// for the next read); `EOF` at the end of the stream, repeatedly;
    /// `EALREADY` while a read port is active; `EAGAIN` on a loop thread;
    /// read errors such as `ECONNRESET`.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// assert_eq!(server.read(10).unwrap_err().err_name, "ETIMEDOUT");
    /// client.write("late")?;
    /// assert_eq!(server.read(5000)?, b"late");
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    #[doc(alias = "net::tcp::read")]
    pub fn read(&self, timeout_msecs: u32) -> Result<Vec<u8>, TcpErrData> {
        forbid_blocking("read", "await `read_future` instead")?;
        if let Some(ready) = self.ready_read() {
            return ready;
        }
        // The timeout is kept here, on the waiting thread, so the loop arms
        // no timer for a blocking read.
        let result = self.start_read(0)?;
        if timeout_msecs == 0 {
            return result.wait().unwrap_or_else(|_| abandoned_read());
        }
        match result.wait_timeout(Duration::from_millis(u64::from(timeout_msecs))) {
            Ok(outcome) => outcome,
            // A chunk that came just now is taken; a later one is queued
            // for the next read, since nobody waits for this one any more.
            Err(CompletionError::TimedOut) => result
                .cancel()
                .unwrap_or_else(|| Err(UvError::ETIMEDOUT.into())),
            Err(_) => abandoned_read(),
        }
    }

    /// A one-shot read that needs no waiting: the next queued chunk, the
    /// end of the stream, or `EALREADY` while a port is active.
    fn ready_read(&self) -> Option<ReadResult> {
        let mut state = self.shared.lock();
        if state.port.is_some() {
            return Some(Err(UvError::EALREADY.into()));
        }
        let (taken, resume) = self.shared.take(&mut state);
        drop(state);
        if resume {
            stream::request_refresh(&self.io_task, self.key);
        }
        taken
    }

    /// Asks the loop for the next chunk, giving up after `timeout_msecs`
    /// there (`0`: never).
    fn start_read(&self, timeout_msecs: u32) -> Result<Completion<ReadResult>, TcpErrData> {
        let (completer, result) = completion();
        self.on_loop(move |event_loop, key| {
            reading::read_once(event_loop, key, timeout_msecs, completer);
        })?;
        Ok(result)
    }

    /// Like [`read`](Self::read), without blocking: the result comes in a
    /// [`Future`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolves loses nothing: a chunk that
    /// arrives for a dropped future is kept for the next read.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// let pending = server.read_future(5000);
    /// client.write("soon")?;
    /// assert_eq!(pending.get()?, b"soon");
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    #[doc(alias = "net::tcp::read_future")]
    pub fn read_future(&self, timeout_msecs: u32) -> Future<Result<Vec<u8>, TcpErrData>> {
        if let Some(ready) = self.ready_read() {
            return Future::from_value(ready);
        }
        match self.start_read(timeout_msecs) {
            Ok(result) => Future::pending(result, abandoned_read),
            Err(error) => Future::from_value(Err(error)),
        }
    }

    /// Writes `raw_write_data` and waits until libuv reports the write
    /// complete (the bytes are in the kernel).
    ///
    /// # Errors
    ///
    /// `EPIPE` after `shutdown` or when the peer is gone, `ECONNRESET`,
    /// `ECANCELED` after `close_reset`, `EAGAIN` on a loop thread.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// client.write("bytes")?;
    /// client.write(vec![1, 2, 3])?;
    /// client.write(&b"more"[..])?;
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    #[doc(alias = "net::tcp::write")]
    pub fn write(&self, raw_write_data: impl Into<Vec<u8>>) -> Result<(), TcpErrData> {
        forbid_blocking("write", "await `write_future` instead")?;
        self.write_future(raw_write_data).get()
    }

    /// Queues `raw_write_data` for writing and returns at once (unless a
    /// write buffer limit holds it back); the [`Future`] resolves when the
    /// write completes.
    ///
    /// Writes are sent in call order. A zero-length write is `Ok(())` and
    /// sends nothing.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future, or the socket, before it resolves is safe: the
    /// bytes are still delivered.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// let first = client.write_future("one ");
    /// let second = client.write_future("two");
    /// drop(first);
    /// second.get()?;
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    #[doc(alias = "net::tcp::write_future")]
    pub fn write_future(
        &self,
        raw_write_data: impl Into<Vec<u8>>,
    ) -> Future<Result<(), TcpErrData>> {
        let data = raw_write_data.into();
        if data.is_empty() {
            return Future::from_value(Ok(()));
        }
        let length = data.len();
        self.shared.write_queue.fetch_add(length, Ordering::AcqRel);
        let shared = Arc::clone(&self.shared);
        self.loop_outcome(
            move |socket, pending| writing::write(socket, data, pending),
            move || shared.written_out(length),
        )
    }

    /// Runs a loop-side operation that may finish at once and reports its
    /// outcome as a future. On the socket's own loop thread it runs now, and
    /// an outcome known at once (a write the kernel took whole) needs no
    /// completion at all; from another thread it is queued. `gone` undoes the
    /// caller's accounting when the operation cannot run.
    fn loop_outcome<Gone>(
        &self,
        operation: impl FnOnce(
            &Rc<LoopSocket>,
            &mut dyn FnMut() -> Completer<Outcome>,
        ) -> Option<Outcome>
        + Send
        + 'static,
        gone: Gone,
    ) -> Future<Outcome>
    where
        Gone: Fn() + Clone + Send + 'static,
    {
        let key = self.key;
        if self.io_task.is_current() {
            let mut waiting = None;
            let outcome = self
                .io_task
                .run_here(|event_loop| match event_loop.local(key) {
                    Some(socket) => operation(&socket, &mut || {
                        let (completer, result) = completion();
                        waiting = Some(result);
                        completer
                    }),
                    None => {
                        gone();
                        Some(Err(canceled()))
                    }
                });
            return match (outcome, waiting) {
                (Some(Some(outcome)), _) => Future::from_value(outcome),
                (_, Some(result)) => Future::pending(result, abandoned_write),
                _ => Future::from_value(Err(canceled())),
            };
        }
        let (completer, result) = completion();
        let on_gone = gone.clone();
        let queued = self.on_loop(move |event_loop, key| match event_loop.local(key) {
            Some(socket) => writing::answer(completer, |pending| operation(&socket, pending)),
            None => {
                on_gone();
                completer.complete(Err(canceled()));
            }
        });
        match queued {
            Ok(()) => Future::pending(result, abandoned_write),
            Err(error) => {
                gone();
                Future::from_value(Err(error))
            }
        }
    }

    /// Flushes: waits until every write queued before the call is in the
    /// kernel.
    ///
    /// # Errors
    ///
    /// The error of the first of those writes that failed (also when its
    /// own future was dropped); `EAGAIN` on a loop thread.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// drop(client.write_future("sent, then flushed"));
    /// client.flush()?;
    /// assert_eq!(client.write_queue_size(), 0);
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn flush(&self) -> Result<(), TcpErrData> {
        forbid_blocking("flush", "await `flush_future` instead")?;
        self.flush_future().get()
    }

    /// Like [`flush`](Self::flush), without blocking: resolves once every
    /// write queued before the call is in the kernel, with the error of the
    /// first of them that failed.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// drop(client.write_future("bytes"));
    /// client.flush_future().get()?;
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn flush_future(&self) -> Future<Result<(), TcpErrData>> {
        self.loop_outcome(|socket, pending| writing::flush(socket, pending), || {})
    }

    /// Closes gracefully, as dropping the socket does (queued writes, then
    /// FIN, then the handle closed), and reports the outcome.
    ///
    /// # Errors
    ///
    /// The error of the first queued write that failed, or of the FIN;
    /// `ETIMEDOUT` when the close did not finish within the close timeout
    /// (the connection was then reset and freed); `EAGAIN` on a loop
    /// thread.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// drop(client.write_future("last words"));
    /// client.close()?;
    /// assert_eq!(server.read(5000)?, b"last words");
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn close(self) -> Result<(), TcpErrData> {
        forbid_blocking("close", "await `close_future` instead")?;
        self.close_future().get()
    }

    /// Like [`close`](Self::close), without blocking.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// drop(client.write_future("bye"));
    /// client.close_future().get()?;
    /// assert_eq!(server.read(5000)?, b"bye");
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn close_future(self) -> Future<Result<(), TcpErrData>> {
        let (completer, result) = completion();
        let queued = self.on_loop(move |event_loop, key| {
            close::close_gracefully(event_loop, key, Some(completer));
        });
        // Dropping `self` now finds the socket gone from its loop.
        drop(self);
        match queued {
            Ok(()) => Future::pending(result, abandoned_write),
            Err(error) => Future::from_value(Err(error)),
        }
    }

    /// Bounds a graceful close (by [`close`](Self::close) or by dropping the
    /// socket): if the queued writes and the FIN have not gone out within
    /// `timeout`, because the peer stopped reading, the connection is reset
    /// and everything it held is freed. `None`: no bound. The default is
    /// 60 seconds.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// client.set_close_timeout(Some(std::time::Duration::from_secs(5)));
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn set_close_timeout(&self, timeout: Option<Duration>) {
        self.shared.set_close_timeout(timeout);
    }

    /// The address of the peer.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// assert_eq!(client.peer_addr()?, server.local_addr()?);
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn peer_addr(&self) -> Result<SocketAddr, TcpErrData> {
        Ok(self.shared.peer)
    }

    /// The local address of the socket.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// assert!(client.local_addr()?.ip().is_loopback());
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn local_addr(&self) -> Result<SocketAddr, TcpErrData> {
        Ok(self.shared.local)
    }

    /// Enables or disables Nagle's algorithm (`TCP_NODELAY`).
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let _server = listener.accept_timeout(10_000).unwrap();
    /// client.set_nodelay(true)?;
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn set_nodelay(&self, enable: bool) -> Result<(), TcpErrData> {
        self.call(move |socket| socket.tcp.set_nodelay(enable))
    }

    /// Enables TCP keep-alive after `delay` of idleness, or disables it (`None`).
    ///
    /// The delay is rounded up to whole seconds. A delay beyond `u64::MAX`
    /// seconds (such as `Duration::MAX`) is taken as `u64::MAX` seconds;
    /// the system refuses delays it cannot keep.
    ///
    /// # Errors
    ///
    /// `EINVAL` for a delay the system refuses (on Linux, above 32767
    /// seconds).
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let _server = listener.accept_timeout(10_000).unwrap();
    /// client.set_keepalive(Some(std::time::Duration::from_secs(60)))?;
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn set_keepalive(&self, delay: Option<Duration>) -> Result<(), TcpErrData> {
        let delay = delay.map(keepalive_time);
        self.call(move |socket| socket.tcp.set_keepalive(delay))
    }

    /// Enables TCP keep-alive with the idle time, probe interval and probe count.
    ///
    /// Times are rounded up to whole seconds and taken as `u64::MAX`
    /// seconds beyond that, as in [`set_keepalive`](Self::set_keepalive).
    ///
    /// # Errors
    ///
    /// `EINVAL` for a count of zero or a time the system refuses.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let _server = listener.accept_timeout(10_000).unwrap();
    /// client.set_keepalive_ex(Duration::from_secs(60), Duration::from_secs(10), 5)?;
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn set_keepalive_ex(
        &self,
        idle: Duration,
        interval: Duration,
        count: u32,
    ) -> Result<(), TcpErrData> {
        let (idle, interval) = (keepalive_time(idle), keepalive_time(interval));
        self.call(move |socket| socket.tcp.set_keepalive_ex(idle, interval, count))
    }

    /// Sets how many received bytes may wait unread in a read port
    /// (default 1 MiB). Above it the socket stops reading from the kernel,
    /// so the peer's sends block, until the reader drains the port. `0`
    /// means one chunk at a time.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let _client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// server.set_read_buffer_limit(64 * 1024);
    /// ```
    pub fn set_read_buffer_limit(&self, bytes: usize) {
        self.shared.read_limit.store(bytes, Ordering::Relaxed);
        let resume = self.shared.claim_resume(&mut self.shared.lock());
        if resume {
            stream::request_refresh(&self.io_task, self.key);
        }
    }

    /// Bytes given to `write` / `write_future` and not yet in the kernel.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let _server = listener.accept_timeout(10_000).unwrap();
    /// assert_eq!(client.write_queue_size(), 0);
    /// ```
    pub fn write_queue_size(&self) -> usize {
        self.shared.write_queue.load(Ordering::Relaxed)
    }

    /// Limits the bytes queued for writing: above it `write_future` (and
    /// `write`) wait until the queue drains. A single write larger than the
    /// limit goes when nothing else is queued; `0` means one write in
    /// flight at a time. By default there is no limit.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let _server = listener.accept_timeout(10_000).unwrap();
    /// client.set_write_buffer_limit(256 * 1024);
    /// client.write(vec![0u8; 64 * 1024])?;
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn set_write_buffer_limit(&self, bytes: usize) {
        self.shared.write_limit.store(bytes, Ordering::Relaxed);
    }

    /// Half-closes the connection: waits until the writes queued before it
    /// and the FIN are done. The peer then reads `EOF`; this socket can
    /// still read. A later write fails with `EPIPE`.
    ///
    /// # Errors
    ///
    /// `EAGAIN` on a loop thread; `ENOTCONN` if the connection is gone.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// client.write("last words")?;
    /// client.shutdown()?;
    /// assert_eq!(server.read(5000)?, b"last words");
    /// assert_eq!(server.read(5000).unwrap_err().err_name, "EOF");
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn shutdown(&self) -> Result<(), TcpErrData> {
        forbid_blocking("shutdown", "await `close_future` instead")?;
        let (completer, result) = completion();
        self.on_loop(move |event_loop, key| match event_loop.local(key) {
            Some(socket) => writing::shutdown(&socket, move |outcome| {
                completer.complete(outcome.map_err(TcpErrData::from));
            }),
            None => completer.complete(Err(canceled())),
        })?;
        result.wait().unwrap_or_else(|_| Err(canceled()))
    }

    /// Closes the connection abortively (RST): the peer's reads fail with
    /// `ECONNRESET`, and writes still queued here fail with `ECANCELED`.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// client.close_reset()?;
    /// assert_eq!(server.read(5000).unwrap_err().err_name, "ECONNRESET");
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn close_reset(self) -> Result<(), TcpErrData> {
        self.call_on_loop(close::close_with_reset)
    }
}

/// A keep-alive time libuv can take: libuv counts whole seconds, rounding
/// up, which overflows past `u64::MAX` seconds (`Duration::MAX`), so longer
/// times are taken as `u64::MAX` seconds.
fn keepalive_time(time: Duration) -> Duration {
    time.min(Duration::from_secs(u64::MAX))
}

impl Drop for TcpSocket {
    fn drop(&mut self) {
        let _ = self.on_loop(|event_loop, key| close::close_gracefully(event_loop, key, None));
    }
}

impl fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSocket")
            .field("local", &self.shared.local)
            .field("peer", &self.shared.peer)
            .finish_non_exhaustive()
    }
}

/// Starts reading `sock` into a new [`ReadPort`]; see [`TcpSocket::read_start`].
///
/// ```
/// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
/// # let io_task = uvtcp::global_loop();
/// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
/// # let port = listener.local_addr().unwrap().port();
/// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
/// # let server = listener.accept_timeout(10_000).unwrap();
/// let port = uvtcp::read_start(&server)?;
/// uvtcp::read_stop(&server, port)?;
/// # Ok::<(), uvtcp::TcpErrData>(())
/// ```
#[doc(alias = "net::tcp::read_start")]
pub fn read_start(sock: &TcpSocket) -> Result<ReadPort, TcpErrData> {
    sock.read_start()
}

/// Stops the read of `read_port`; see [`TcpSocket::read_stop`].
///
/// ```
/// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
/// # let io_task = uvtcp::global_loop();
/// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
/// # let port = listener.local_addr().unwrap().port();
/// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
/// # let server = listener.accept_timeout(10_000).unwrap();
/// let port = uvtcp::read_start(&server)?;
/// uvtcp::read_stop(&server, port)?;
/// # Ok::<(), uvtcp::TcpErrData>(())
/// ```
#[doc(alias = "net::tcp::read_stop")]
pub fn read_stop(sock: &TcpSocket, read_port: ReadPort) -> Result<(), TcpErrData> {
    sock.read_stop(read_port)
}

/// Writes and waits for completion; see [`TcpSocket::write`].
///
/// ```
/// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
/// # let io_task = uvtcp::global_loop();
/// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
/// # let port = listener.local_addr().unwrap().port();
/// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
/// # let server = listener.accept_timeout(10_000).unwrap();
/// uvtcp::write(&client, "hi")?;
/// # Ok::<(), uvtcp::TcpErrData>(())
/// ```
#[doc(alias = "net::tcp::write")]
pub fn write(sock: &TcpSocket, raw_write_data: impl Into<Vec<u8>>) -> Result<(), TcpErrData> {
    sock.write(raw_write_data)
}

/// Queues a write; see [`TcpSocket::write_future`].
///
/// ```
/// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
/// # let io_task = uvtcp::global_loop();
/// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
/// # let port = listener.local_addr().unwrap().port();
/// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
/// # let server = listener.accept_timeout(10_000).unwrap();
/// uvtcp::write_future(&client, "hi").get()?;
/// # Ok::<(), uvtcp::TcpErrData>(())
/// ```
#[doc(alias = "net::tcp::write_future")]
pub fn write_future(
    sock: &TcpSocket,
    raw_write_data: impl Into<Vec<u8>>,
) -> Future<Result<(), TcpErrData>> {
    sock.write_future(raw_write_data)
}
