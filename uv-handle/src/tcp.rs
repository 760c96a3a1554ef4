//! [`Tcp`]: a TCP handle (`uv_tcp_t`), and [`TcpRef`], the borrowed form its
//! callbacks receive.
//!
//! Every libuv call here is made with a `&TcpRef` in hand. `TcpRef` is not
//! `Sync`, so that reference is on the thread that created the handle, its
//! loop's thread, as libuv requires; the handle pointer comes from
//! [`handle::as_raw`], valid for the whole value (see `handle`). "The
//! handle is open" in a SAFETY comment means that `raw` or `stream` has just
//! checked that it is not closing, with no user code run since.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::ffi::{c_int, c_uint};
use std::fmt;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::ops::Deref;
use std::rc::Rc;
use std::time::Duration;

use uv_sys as ffi;

use crate::callback;
use crate::error::{UvError, check, check_size};
use crate::event_loop::LoopRef;
use crate::handle::{self, HandleAddress, RawHandle};
use crate::req::{self, OwnedTail, WriteData};
use crate::socket_address::{self, RawSocketAddr};

/// A read callback that borrows each chunk from the loop's buffer.
type BorrowingRead = Box<dyn FnMut(&TcpRef, Result<&[u8], UvError>)>;
/// A read callback that takes each chunk as its own vector.
type OwningRead = Box<dyn FnMut(&TcpRef, Result<Vec<u8>, UvError>)>;

/// What a read hands its callback: the bytes lent, or owned.
enum ReadCallback {
    Borrowed(BorrowingRead),
    Owned(OwningRead),
}
type ConnectionCallback = Box<dyn FnMut(&TcpRef, Result<(), UvError>)>;

/// An owned TCP handle. Closed when dropped (`uv_close`); its memory is
/// freed in the close callback, never earlier.
///
/// Not `Send`: a handle belongs to its loop's thread. It derefs to
/// [`TcpRef`], which has the operations. Callbacks run on the loop thread,
/// from inside [`LoopRef::run`].
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use uv_handle::{Loop, RunMode, Tcp};
///
/// let event_loop = Loop::new()?;
/// let server = Tcp::new(&event_loop)?;
/// server.bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
/// let accepted = Rc::new(RefCell::new(Vec::new()));
/// let sink = accepted.clone();
/// server.listen(16, move |server, status| {
///     status.unwrap();
///     sink.borrow_mut().push(server.accept().unwrap());
///     server.close();
/// })?;
/// let client = Tcp::new(&event_loop)?;
/// client.connect(server.local_addr()?, |_, result| result.unwrap());
/// event_loop.run(RunMode::Default)?;
/// assert_eq!(accepted.borrow().len(), 1);
/// # Ok::<(), uv_handle::UvError>(())
/// ```
///
/// A handle cannot be sent to another thread:
///
/// ```compile_fail,E0277
/// fn assert_send<T: Send>(_: T) {}
/// let event_loop = uv_handle::Loop::new().unwrap();
/// assert_send(uv_handle::Tcp::new(&event_loop).unwrap());
/// ```
#[doc(alias = "uv_tcp_t")]
pub struct Tcp {
    handle: Rc<TcpRef>,
}

/// A TCP handle seen by reference: the operations of [`Tcp`], and what its
/// read and connection callbacks receive.
///
/// Every method fails with `EBADF` once the handle is closing.
///
/// Neither `Send` nor `Sync`: a reference to a handle stays on its loop's
/// thread too.
///
/// ```compile_fail,E0277
/// fn assert_sync<T: Sync>(_: &T) {}
/// let event_loop = uv_handle::Loop::new().unwrap();
/// let tcp = uv_handle::Tcp::new(&event_loop).unwrap();
/// assert_sync::<uv_handle::TcpRef>(&tcp);
/// ```
#[repr(C)]
pub struct TcpRef {
    raw: UnsafeCell<ffi::uv_tcp_t>,
    address: HandleAddress<TcpRef>,
    event_loop: Rc<LoopRef>,
    reading: Cell<bool>,
    on_read: RefCell<Option<ReadCallback>>,
    on_connection: RefCell<Option<ConnectionCallback>>,
}

/// Flags for [`TcpRef::bind`].
///
/// ```
/// let flags = uv_handle::BindFlags { ipv6_only: true, ..Default::default() };
/// assert!(!flags.reuse_port);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BindFlags {
    /// `UV_TCP_IPV6ONLY`: an IPv6 socket accepts no IPv4 connections.
    pub ipv6_only: bool,
    /// `UV_TCP_REUSEPORT`: several sockets may bind the same port and the
    /// kernel balances connections between them.
    pub reuse_port: bool,
}

// The cast from a uv_tcp_t to its TcpRef (`handle::from_raw`) relies on it.
const _: () = assert!(std::mem::offset_of!(TcpRef, raw) == 0);

// SAFETY: TcpRef is #[repr(C)] with the uv_tcp_t (in an UnsafeCell) as its
// first field; `project` takes that field's address through the raw
// pointer; `address` is always the same field; TcpRef holds `Rc`s, so it is
// neither `Send` nor `Sync`.
unsafe impl RawHandle for TcpRef {
    type Raw = ffi::uv_tcp_t;

    fn address(&self) -> &HandleAddress<TcpRef> {
        &self.address
    }

    unsafe fn project(this: *const TcpRef) -> *mut ffi::uv_tcp_t {
        // SAFETY: the caller guarantees `this` points to a live TcpRef; no
        // reference is created, so the result keeps `this`'s provenance.
        UnsafeCell::raw_get(unsafe { std::ptr::addr_of!((*this).raw) })
    }

    fn event_loop(&self) -> &LoopRef {
        &self.event_loop
    }

    fn on_close(&self) {
        self.reading.set(false);
        // The callbacks may own values whose drop refers back to this handle.
        let on_read = self.on_read.borrow_mut().take();
        let on_connection = self.on_connection.borrow_mut().take();
        drop((on_read, on_connection));
    }
}

impl Tcp {
    /// Creates a TCP handle on `event_loop`.
    ///
    /// Wraps `uv_tcp_init`.
    ///
    /// # Errors
    ///
    /// `EBADF` if the loop is closed.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_tcp_init")]
    pub fn new(event_loop: &LoopRef) -> Result<Tcp, UvError> {
        let value = TcpRef {
            // SAFETY: uv_tcp_t is plain data; all zeroes is valid before init.
            raw: UnsafeCell::new(unsafe { MaybeUninit::zeroed().assume_init() }),
            address: HandleAddress::new(),
            event_loop: event_loop.to_rc(),
            reading: Cell::new(false),
            on_read: RefCell::new(None),
            on_connection: RefCell::new(None),
        };
        let handle = handle::open(value, |loop_raw, raw| {
            // SAFETY: `raw` is the zeroed uv_tcp_t of the new value, which
            // does not move (it lives in an Rc); the loop is open and we are
            // on its thread (`LoopRef` is not `Sync`).
            unsafe { ffi::uv_tcp_init(loop_raw, raw) }
        })?;
        Ok(Tcp { handle })
    }
}

impl Deref for Tcp {
    type Target = TcpRef;

    fn deref(&self) -> &TcpRef {
        &self.handle
    }
}

impl Drop for Tcp {
    fn drop(&mut self) {
        handle::close(&*self.handle);
    }
}

impl fmt::Debug for Tcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.handle, f)
    }
}

impl fmt::Debug for TcpRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tcp")
            .field("closing", &self.is_closing())
            .field("reading", &self.reading.get())
            .finish_non_exhaustive()
    }
}

impl TcpRef {
    fn raw(&self) -> Result<*mut ffi::uv_tcp_t, UvError> {
        if self.is_closing() {
            Err(UvError::EBADF)
        } else {
            Ok(handle::as_raw(self))
        }
    }

    fn stream(&self) -> Result<*mut ffi::uv_stream_t, UvError> {
        self.raw().map(|raw| raw.cast())
    }

    /// The loop this handle belongs to.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// assert!(!tcp.event_loop().is_closed());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    pub fn event_loop(&self) -> &LoopRef {
        &self.event_loop
    }

    /// Whether the handle is closing or closed.
    ///
    /// Wraps `uv_is_closing`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// tcp.close();
    /// assert!(tcp.is_closing());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_is_closing")]
    pub fn is_closing(&self) -> bool {
        handle::is_closing(self)
    }

    /// Starts closing the handle: reads stop, pending requests complete with
    /// `ECANCELED`. Idempotent; the owner's drop does it too.
    ///
    /// Wraps `uv_close`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// tcp.close();
    /// tcp.close();
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_close")]
    pub fn close(&self) {
        handle::close(self);
    }

    /// Closes the connection with a reset (RST) instead of a FIN; writes
    /// still queued complete with `ECANCELED`.
    ///
    /// Wraps `uv_tcp_close_reset`.
    ///
    /// # Errors
    ///
    /// `EBADF` when already closing; `EINVAL` after `shutdown`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// tcp.bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
    /// tcp.close_reset()?;
    /// assert!(tcp.is_closing());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_tcp_close_reset")]
    pub fn close_reset(&self) -> Result<(), UvError> {
        let raw = self.raw()?;
        // SAFETY: the handle is open and we are on its loop thread; the
        // common close callback releases it like `uv_close` would.
        check(unsafe { ffi::uv_tcp_close_reset(raw, Some(handle_close_cb)) })?;
        Ok(())
    }

    /// Binds to `address`; port 0 picks a free port.
    ///
    /// Wraps `uv_tcp_bind`. Errors such as `EADDRINUSE` may be reported by
    /// this call or deferred to `listen` / `connect`, as libuv does.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// tcp.bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
    /// assert_ne!(tcp.local_addr()?.port(), 0);
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_tcp_bind")]
    pub fn bind(&self, address: SocketAddr, flags: BindFlags) -> Result<(), UvError> {
        let raw = self.raw()?;
        let address = RawSocketAddr::new(address);
        let mut raw_flags: c_uint = 0;
        if flags.ipv6_only {
            raw_flags |= ffi::UV_TCP_IPV6ONLY;
        }
        if flags.reuse_port {
            raw_flags |= ffi::UV_TCP_REUSEPORT;
        }
        // SAFETY: the handle is open; `address` is valid for the call.
        check(unsafe { ffi::uv_tcp_bind(raw, address.as_ptr(), raw_flags) })?;
        Ok(())
    }

    /// Listens for connections; `on_connection` runs on the loop thread for
    /// each one and should [`accept`](Self::accept) it.
    ///
    /// Wraps `uv_listen`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let server = uv_handle::Tcp::new(&event_loop)?;
    /// server.bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
    /// server.listen(128, |server, _status| drop(server.accept()))?;
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_listen")]
    pub fn listen(
        &self,
        backlog: i32,
        on_connection: impl FnMut(&TcpRef, Result<(), UvError>) + 'static,
    ) -> Result<(), UvError> {
        let stream = self.stream()?;
        let previous = self.on_connection.replace(Some(Box::new(on_connection)));
        // SAFETY: the handle is open and we are on its loop thread.
        let result = check(unsafe { ffi::uv_listen(stream, backlog, Some(connection_cb)) });
        if result.is_err() {
            self.on_connection.replace(previous);
        }
        result.map(drop)
    }

    /// Accepts a pending connection into a new handle on the same loop.
    ///
    /// Wraps `uv_accept`. Call it from the connection callback.
    ///
    /// # Errors
    ///
    /// `EAGAIN` when no connection is pending.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let server = uv_handle::Tcp::new(&event_loop)?;
    /// assert!(server.accept().is_err());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_accept")]
    pub fn accept(&self) -> Result<Tcp, UvError> {
        let server = self.stream()?;
        let client = Tcp::new(&self.event_loop)?;
        let client_stream = client.stream()?;
        // SAFETY: both handles are open TCP handles of the same loop.
        check(unsafe { ffi::uv_accept(server, client_stream) })?;
        Ok(client)
    }

    /// Connects to `address`; `on_done` runs once with the handle and the
    /// result.
    ///
    /// Wraps `uv_tcp_connect` (a connect request).
    ///
    /// ```
    /// use uv_handle::{Loop, RunMode, Tcp, UvError};
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// let event_loop = Loop::new()?;
    /// let free_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    /// let tcp = Tcp::new(&event_loop)?;
    /// let outcome = Rc::new(Cell::new(None));
    /// let slot = outcome.clone();
    /// tcp.connect(free_port, move |_tcp, result| slot.set(Some(result)));
    /// event_loop.run(RunMode::Default)?;
    /// assert_eq!(outcome.get(), Some(Err(UvError::ECONNREFUSED)));
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_tcp_connect")]
    pub fn connect<F>(&self, address: SocketAddr, on_done: F)
    where
        F: FnOnce(&TcpRef, Result<(), UvError>) + 'static,
    {
        let raw = match self.raw() {
            Ok(raw) => raw,
            Err(error) => return on_done(self, Err(error)),
        };
        let address = RawSocketAddr::new(address);
        req::submit(
            (),
            on_done,
            |request: *mut ffi::uv_connect_t, _| {
                // SAFETY: the handle is open; the request lives until its
                // callback; `address` is valid for the call (libuv copies it).
                unsafe {
                    ffi::uv_tcp_connect(request, raw, address.as_ptr(), Some(connect_cb::<F>))
                }
            },
            |on_done, error| on_done(self, Err(error)),
        );
    }

    /// Starts reading: `on_read` runs on the loop thread with each chunk, or
    /// with the error that ended the stream (`EOF` at end of stream), after
    /// which reading has stopped.
    ///
    /// The chunk borrows the loop's shared read buffer
    /// ([`READ_BUFFER_SIZE`](crate::READ_BUFFER_SIZE)): copy out what you keep.
    /// Wraps `uv_read_start`.
    ///
    /// # Errors
    ///
    /// `EALREADY` while reading; `EBADF` when closing; `ENOTCONN` when not
    /// connected.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// assert_eq!(tcp.read_start(|_, _| {}), Err(uv_handle::UvError::ENOTCONN));
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_read_start")]
    pub fn read_start(
        &self,
        on_read: impl FnMut(&TcpRef, Result<&[u8], UvError>) + 'static,
    ) -> Result<(), UvError> {
        self.start_reading(ReadCallback::Borrowed(Box::new(on_read)))
    }

    /// Like [`read_start`](Self::read_start), handing each chunk over as an
    /// owned vector: a read that filled at least half of the loop's read
    /// buffer hands the buffer itself over, with no copy (the loop takes a
    /// new one for its next read); a smaller read is copied into a vector of
    /// its own size. For a reader that keeps what it reads.
    ///
    /// # Errors
    ///
    /// As [`read_start`](Self::read_start).
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// let kept: Result<(), _> = tcp.read_start_owned(|_, chunk| drop(chunk));
    /// assert_eq!(kept, Err(uv_handle::UvError::ENOTCONN));
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_read_start")]
    pub fn read_start_owned(
        &self,
        on_read: impl FnMut(&TcpRef, Result<Vec<u8>, UvError>) + 'static,
    ) -> Result<(), UvError> {
        self.start_reading(ReadCallback::Owned(Box::new(on_read)))
    }

    fn start_reading(&self, on_read: ReadCallback) -> Result<(), UvError> {
        let stream = self.stream()?;
        if self.reading.get() {
            return Err(UvError::EALREADY);
        }
        // SAFETY: the handle is open and we are on its loop thread; alloc_cb
        // and read_cb find this TcpRef from the stream pointer.
        check(unsafe { ffi::uv_read_start(stream, Some(alloc_cb), Some(read_cb)) })?;
        self.reading.set(true);
        let previous = self.on_read.replace(Some(on_read));
        drop(previous);
        Ok(())
    }

    /// Stops reading. Stopping a handle that is not reading is not an error.
    ///
    /// Wraps `uv_read_stop`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// tcp.read_stop()?;
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_read_stop")]
    pub fn read_stop(&self) -> Result<(), UvError> {
        let stream = self.stream()?;
        self.reading.set(false);
        // SAFETY: the handle is open and we are on its loop thread.
        check(unsafe { ffi::uv_read_stop(stream) })?;
        let previous = self.on_read.borrow_mut().take();
        drop(previous);
        Ok(())
    }

    /// Whether a read started by [`read_start`](Self::read_start) is active.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// assert!(!uv_handle::Tcp::new(&event_loop)?.is_reading());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    pub fn is_reading(&self) -> bool {
        self.reading.get()
    }

    /// Queues `data` for writing; `on_done` runs once when libuv reports the
    /// write complete (the bytes are in the kernel) or failed. The request
    /// owns `data` until then, also if the handle is closed first
    /// (`ECANCELED`). Writes go out in the order they are queued.
    ///
    /// Wraps `uv_write` (a write request).
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// tcp.write(b"hello".to_vec(), |result| assert!(result.is_err()));
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_write")]
    pub fn write(&self, data: Vec<u8>, on_done: impl FnOnce(Result<(), UvError>) + 'static) {
        self.write_from(data, 0, on_done);
    }

    /// Like [`write`](Self::write) for `data[offset..]`: queues the rest of
    /// a buffer that a [`try_write`](Self::try_write) sent only part of.
    /// The request owns `data` (no copy) until `on_done` runs.
    ///
    /// # Errors
    ///
    /// `EINVAL` through `on_done`, at once, when `offset` is past the end of
    /// `data`; otherwise as for [`write`](Self::write).
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use uv_handle::{Loop, RunMode, Tcp, UvError};
    ///
    /// let event_loop = Loop::new()?;
    /// let server = Tcp::new(&event_loop)?;
    /// server.bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
    /// let received = Rc::new(RefCell::new(Vec::new()));
    /// let (sink, connections) = (received.clone(), Rc::new(RefCell::new(Vec::new())));
    /// let kept = connections.clone();
    /// server.listen(1, move |server, _| {
    ///     let connection = server.accept().unwrap();
    ///     let sink = sink.clone();
    ///     connection.read_start(move |connection, chunk| match chunk {
    ///         Ok(bytes) => sink.borrow_mut().extend_from_slice(bytes),
    ///         Err(_) => connection.close(),
    ///     }).unwrap();
    ///     kept.borrow_mut().push(connection);
    ///     server.close();
    /// })?;
    /// let client = Tcp::new(&event_loop)?;
    /// client.connect(server.local_addr()?, |client, result| {
    ///     result.unwrap();
    ///     let data = b"hello, world".to_vec();
    ///     let sent = client.try_write(&data[..5]).unwrap();
    ///     client.write_from(data, sent, |result| result.unwrap());
    ///     client.write_from(Vec::new(), 1, |result| assert_eq!(result, Err(UvError::EINVAL)));
    ///     client.shutdown(|result| result.unwrap());
    /// });
    /// event_loop.run(RunMode::Default)?;
    /// assert_eq!(received.borrow().as_slice(), b"hello, world");
    /// # drop(connections);
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_write")]
    pub fn write_from(
        &self,
        data: Vec<u8>,
        offset: usize,
        on_done: impl FnOnce(Result<(), UvError>) + 'static,
    ) {
        match OwnedTail::new(data, offset) {
            Ok(tail) => self.write_data(tail, on_done),
            Err(error) => on_done(Err(error)),
        }
    }

    /// Like [`write`](Self::write) for several buffers sent as one write
    /// (one system call where the kernel takes them all).
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// tcp.write_vectored(vec![b"a".to_vec(), b"b".to_vec()], |result| assert!(result.is_err()));
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_write")]
    pub fn write_vectored(
        &self,
        data: Vec<Vec<u8>>,
        on_done: impl FnOnce(Result<(), UvError>) + 'static,
    ) {
        self.write_data(data, on_done);
    }

    fn write_data<D, F>(&self, data: D, on_done: F)
    where
        D: WriteData,
        F: FnOnce(Result<(), UvError>) + 'static,
    {
        let stream = match self.stream() {
            Ok(stream) => stream,
            Err(error) => return on_done(Err(error)),
        };
        req::submit(
            data,
            on_done,
            |request: *mut ffi::uv_write_t, data: &D| {
                data.with_bufs(|bufs| {
                    // SAFETY: the handle is open; the request and the bytes
                    // the bufs describe live until the callback; libuv
                    // copies the uv_buf_t array itself.
                    unsafe {
                        ffi::uv_write(
                            request,
                            stream,
                            bufs.as_ptr(),
                            bufs.len() as c_uint,
                            Some(status_cb::<ffi::uv_write_t, D, F>),
                        )
                    }
                })
            },
            |on_done, error| on_done(Err(error)),
        );
    }

    /// Writes as much of `data` as the kernel takes now, without queueing.
    /// Returns the number of bytes written.
    ///
    /// Wraps `uv_try_write`.
    ///
    /// # Errors
    ///
    /// `EAGAIN` when nothing could be written (or writes are queued).
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// assert!(tcp.try_write(b"x").is_err());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_try_write")]
    pub fn try_write(&self, data: &[u8]) -> Result<usize, UvError> {
        let stream = self.stream()?;
        let buf = ffi::uv_buf_t {
            base: data.as_ptr().cast_mut().cast(),
            len: data.len(),
        };
        // SAFETY: the handle is open; `buf` describes `data`, alive for the call.
        check(unsafe { ffi::uv_try_write(stream, &buf, 1) }).map(|written| written as usize)
    }

    /// Shuts the write side down once queued writes are done (the peer
    /// reads EOF); `on_done` runs once with the result.
    ///
    /// Wraps `uv_shutdown` (a shutdown request).
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// tcp.shutdown(|result| assert!(result.is_err()));
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_shutdown")]
    pub fn shutdown<F>(&self, on_done: F)
    where
        F: FnOnce(Result<(), UvError>) + 'static,
    {
        let stream = match self.stream() {
            Ok(stream) => stream,
            Err(error) => return on_done(Err(error)),
        };
        req::submit(
            (),
            on_done,
            |request: *mut ffi::uv_shutdown_t, _| {
                // SAFETY: the handle is open; the request lives until its callback.
                unsafe {
                    ffi::uv_shutdown(
                        request,
                        stream,
                        Some(status_cb::<ffi::uv_shutdown_t, (), F>),
                    )
                }
            },
            |on_done, error| on_done(Err(error)),
        );
    }

    /// Enables or disables Nagle's algorithm (`TCP_NODELAY`).
    ///
    /// Wraps `uv_tcp_nodelay`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// uv_handle::Tcp::new(&event_loop)?.set_nodelay(true)?;
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_tcp_nodelay")]
    pub fn set_nodelay(&self, enable: bool) -> Result<(), UvError> {
        let raw = self.raw()?;
        // SAFETY: the handle is open and we are on its loop thread.
        check(unsafe { ffi::uv_tcp_nodelay(raw, c_int::from(enable)) }).map(drop)
    }

    /// Enables TCP keep-alive with the given idle delay, or disables it
    /// (`None`). The delay is rounded up to whole seconds.
    ///
    /// Wraps `uv_tcp_keepalive`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// tcp.set_keepalive(Some(std::time::Duration::from_secs(30)))?;
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_tcp_keepalive")]
    pub fn set_keepalive(&self, delay: Option<Duration>) -> Result<(), UvError> {
        let raw = self.raw()?;
        let (enable, seconds) = match delay {
            Some(delay) => (1, whole_seconds(delay)),
            None => (0, 0),
        };
        // SAFETY: the handle is open and we are on its loop thread.
        check(unsafe { ffi::uv_tcp_keepalive(raw, enable, seconds) }).map(drop)
    }

    /// Enables TCP keep-alive with the idle time, probe interval and probe
    /// count given (each time rounded up to whole seconds).
    ///
    /// Wraps `uv_tcp_keepalive_ex`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// tcp.set_keepalive_ex(Duration::from_secs(60), Duration::from_secs(5), 3)?;
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_tcp_keepalive_ex")]
    pub fn set_keepalive_ex(
        &self,
        idle: Duration,
        interval: Duration,
        count: u32,
    ) -> Result<(), UvError> {
        let raw = self.raw()?;
        // SAFETY: the handle is open and we are on its loop thread.
        check(unsafe {
            ffi::uv_tcp_keepalive_ex(raw, 1, whole_seconds(idle), whole_seconds(interval), count)
        })
        .map(drop)
    }

    /// The address of the peer.
    ///
    /// Wraps `uv_tcp_getpeername`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// assert!(tcp.peer_addr().is_err());
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_tcp_getpeername")]
    pub fn peer_addr(&self) -> Result<SocketAddr, UvError> {
        let raw = self.raw()?;
        // SAFETY: the handle is open; the function fills storage of the given size.
        self.address(|storage, length| unsafe { ffi::uv_tcp_getpeername(raw, storage, length) })
    }

    /// The local address the handle is bound to.
    ///
    /// Wraps `uv_tcp_getsockname`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// tcp.bind("[::1]:0".parse().unwrap(), Default::default()).ok();
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_tcp_getsockname")]
    pub fn local_addr(&self) -> Result<SocketAddr, UvError> {
        let raw = self.raw()?;
        // SAFETY: the handle is open; the function fills storage of the given size.
        self.address(|storage, length| unsafe { ffi::uv_tcp_getsockname(raw, storage, length) })
    }

    fn address(
        &self,
        query: impl FnOnce(*mut ffi::sockaddr, *mut c_int) -> c_int,
    ) -> Result<SocketAddr, UvError> {
        let mut storage = socket_address::empty_storage();
        let mut length = std::mem::size_of::<ffi::sockaddr_storage>() as c_int;
        check(query(storage.as_mut_ptr().cast(), &mut length))?;
        // SAFETY: the query filled `storage` with a socket address.
        unsafe { socket_address::read(storage.as_ptr().cast()) }.ok_or(UvError::EINVAL)
    }

    /// The number of bytes queued for writing and not yet in the kernel.
    ///
    /// Wraps `uv_stream_get_write_queue_size`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// assert_eq!(uv_handle::Tcp::new(&event_loop)?.write_queue_size(), 0);
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_stream_get_write_queue_size")]
    pub fn write_queue_size(&self) -> usize {
        // SAFETY: the handle memory is alive while `self` is borrowed (also
        // once closing); the call reads one field.
        unsafe { ffi::uv_stream_get_write_queue_size(handle::as_raw(self).cast()) }
    }

    /// The kernel's send buffer size (`SO_SNDBUF`).
    ///
    /// Wraps `uv_send_buffer_size`.
    ///
    /// # Errors
    ///
    /// `EBADF` before the handle has a socket (bind or connect first).
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// tcp.bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
    /// assert!(tcp.send_buffer_size()? > 0);
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_send_buffer_size")]
    pub fn send_buffer_size(&self) -> Result<usize, UvError> {
        self.buffer_size(ffi::uv_send_buffer_size, 0)
    }

    /// Sets the kernel's send buffer size (`SO_SNDBUF`).
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// tcp.bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
    /// tcp.set_send_buffer_size(64 * 1024)?;
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_send_buffer_size")]
    pub fn set_send_buffer_size(&self, bytes: usize) -> Result<(), UvError> {
        self.buffer_size(ffi::uv_send_buffer_size, bytes).map(drop)
    }

    /// The kernel's receive buffer size (`SO_RCVBUF`).
    ///
    /// Wraps `uv_recv_buffer_size`.
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// tcp.bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
    /// assert!(tcp.recv_buffer_size()? > 0);
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_recv_buffer_size")]
    pub fn recv_buffer_size(&self) -> Result<usize, UvError> {
        self.buffer_size(ffi::uv_recv_buffer_size, 0)
    }

    /// Sets the kernel's receive buffer size (`SO_RCVBUF`).
    ///
    /// ```
    /// let event_loop = uv_handle::Loop::new()?;
    /// let tcp = uv_handle::Tcp::new(&event_loop)?;
    /// tcp.bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
    /// tcp.set_recv_buffer_size(64 * 1024)?;
    /// # Ok::<(), uv_handle::UvError>(())
    /// ```
    #[doc(alias = "uv_recv_buffer_size")]
    pub fn set_recv_buffer_size(&self, bytes: usize) -> Result<(), UvError> {
        self.buffer_size(ffi::uv_recv_buffer_size, bytes).map(drop)
    }

    fn buffer_size(
        &self,
        call: unsafe extern "C" fn(*mut ffi::uv_handle_t, *mut c_int) -> c_int,
        value: usize,
    ) -> Result<usize, UvError> {
        self.raw()?;
        let mut value = c_int::try_from(value).map_err(|_| UvError::EINVAL)?;
        // SAFETY: the handle is open; `call` is uv_send_buffer_size or
        // uv_recv_buffer_size, which read (0) or write `value`.
        check(unsafe { call(handle::as_raw_handle(self), &mut value) })?;
        check_size(value as isize)
    }
}

fn whole_seconds(duration: Duration) -> c_uint {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    c_uint::try_from(seconds.max(1)).unwrap_or(c_uint::MAX)
}

/// The TcpRef that embeds a stream libuv passed to a callback.
///
/// # Safety
///
/// As for [`handle::from_raw`]: `stream` must be the handle of a `TcpRef`
/// as libuv passes it back, before its close callback has returned.
unsafe fn tcp_ref<'a>(stream: *mut ffi::uv_stream_t) -> &'a TcpRef {
    // SAFETY: the caller's contract is handle::from_raw's; a uv_stream_t is
    // the first part of the uv_tcp_t that contains it.
    unsafe { handle::from_raw::<TcpRef>(stream.cast()) }
}

extern "C" fn handle_close_cb(raw: *mut ffi::uv_handle_t) {
    // SAFETY: uv_tcp_close_reset calls this once as the handle's close
    // callback; `raw` was opened by `handle::open` and is on its loop.
    unsafe { handle::close_callback(raw) };
}

extern "C" fn alloc_cb(raw: *mut ffi::uv_handle_t, _suggested: usize, buf: *mut ffi::uv_buf_t) {
    // SAFETY: only TCP handles of this crate use this alloc callback.
    let tcp = unsafe { tcp_ref(raw.cast()) };
    // SAFETY: `buf` is libuv's out-parameter for this call.
    unsafe { *buf = tcp.event_loop.read_buffer() };
}

extern "C" fn read_cb(stream: *mut ffi::uv_stream_t, nread: isize, buf: *const ffi::uv_buf_t) {
    // SAFETY: only TCP handles of this crate use this read callback.
    let tcp = unsafe { tcp_ref(stream) };
    if nread == 0 {
        return;
    }
    let result = match check_size(nread) {
        Ok(length) => Ok(length),
        Err(error) => {
            // The stream ended: reading is over, keep the state in step.
            tcp.reading.set(false);
            // SAFETY: the handle is not closing (libuv calls the read callback
            // only while reading, and uv_close stops reading) and we are on
            // its loop thread.
            unsafe { ffi::uv_read_stop(stream) };
            Err(error)
        }
    };
    let Some(mut on_read) = tcp.on_read.borrow_mut().take() else {
        return;
    };
    let event_loop = &tcp.event_loop;
    let finished = callback::catch(event_loop, || match &mut on_read {
        ReadCallback::Borrowed(on_read) => {
            let bytes = result.map(|length| {
                // SAFETY: libuv passes the buffer alloc_cb lent it, alive
                // for this call.
                let base = unsafe { (*buf).base };
                // SAFETY: libuv filled `length` bytes of that buffer; the
                // loop's buffer is not lent again before this callback
                // returns.
                unsafe { std::slice::from_raw_parts(base.cast::<u8>(), length) }
            });
            on_read(tcp, bytes);
        }
        ReadCallback::Owned(on_read) => {
            // SAFETY: this is the read callback of the buffer the loop lent
            // (alloc_cb), and `length` is what libuv read into it.
            let bytes = result.map(|length| unsafe { event_loop.take_read(length) });
            on_read(tcp, bytes);
        }
    });
    // The callback may have closed the handle: a closing handle has stopped
    // reading already, and libuv must not be asked again.
    if finished.is_none() && tcp.reading.replace(false) && !tcp.is_closing() {
        // The callback panicked: it is dropped, and reading stops with it.
        // SAFETY: the handle is not closing (checked just above) and we are
        // on its loop thread.
        unsafe { ffi::uv_read_stop(stream) };
    }
    // Keep the callback unless it stopped reading or installed another one.
    if tcp.reading.get() && tcp.on_read.borrow().is_none() {
        *tcp.on_read.borrow_mut() = Some(on_read);
    } else {
        // A user closure: its `Drop` may panic, which must not reach C.
        callback::catch(event_loop, move || drop(on_read));
    }
}

extern "C" fn connection_cb(server: *mut ffi::uv_stream_t, status: c_int) {
    // SAFETY: only TCP handles of this crate listen with this callback.
    let tcp = unsafe { tcp_ref(server) };
    let Some(mut on_connection) = tcp.on_connection.borrow_mut().take() else {
        return;
    };
    let event_loop = &tcp.event_loop;
    let finished = callback::catch(event_loop, || on_connection(tcp, check(status).map(drop)));
    if finished.is_some() && !tcp.is_closing() && tcp.on_connection.borrow().is_none() {
        *tcp.on_connection.borrow_mut() = Some(on_connection);
        return;
    }
    if finished.is_none() {
        // The callback panicked: the listener closes, so no connection waits forever.
        tcp.close();
    }
    // A user closure: its `Drop` may panic, which must not reach C.
    callback::catch(event_loop, move || drop(on_connection));
}

/// The completion callback of connect, write and shutdown requests.
extern "C" fn status_cb<R, D, F>(request: *mut R, status: c_int)
where
    R: StreamRequest,
    F: FnOnce(Result<(), UvError>),
{
    // SAFETY: `request` is live and submitted until this callback returns.
    let stream = unsafe { R::handle(request) };
    // SAFETY: the request's handle is a live stream of this crate (its
    // close callback comes after the request's).
    let event_loop = unsafe { req::handle_loop(stream) };
    // SAFETY: the request was submitted by `req::submit` as a
    // Request<R, D, F>, and libuv is running its completion callback.
    unsafe {
        req::complete::<R, D, F>(event_loop, request, |on_done| {
            on_done(check(status).map(drop));
        });
    };
}

/// The completion callback of connect requests.
extern "C" fn connect_cb<F>(request: *mut ffi::uv_connect_t, status: c_int)
where
    F: FnOnce(&TcpRef, Result<(), UvError>),
{
    // SAFETY: `request` is live and submitted until this callback returns.
    let stream = unsafe { ffi::uv_connect_t::handle(request) };
    // SAFETY: the request's handle is a live TCP handle of this crate (its
    // close callback comes after the request's).
    let event_loop = unsafe { req::handle_loop(stream) };
    // SAFETY: as above; libuv passes back the handle `connect` gave it.
    let tcp = unsafe { tcp_ref(stream) };
    // SAFETY: the request was submitted by `connect` as a
    // Request<uv_connect_t, (), F>, and libuv is running its completion callback.
    unsafe {
        req::complete::<ffi::uv_connect_t, (), F>(event_loop, request, |on_done| {
            on_done(tcp, check(status).map(drop));
        });
    };
}

/// Requests on a stream, whose `handle` field libuv fills.
trait StreamRequest {
    /// # Safety
    ///
    /// `request` must be a live, submitted request.
    unsafe fn handle(request: *mut Self) -> *mut ffi::uv_stream_t;
}

impl StreamRequest for ffi::uv_write_t {
    unsafe fn handle(request: *mut Self) -> *mut ffi::uv_stream_t {
        // SAFETY: the caller guarantees a live, submitted request.
        unsafe { (*request).handle }
    }
}

impl StreamRequest for ffi::uv_shutdown_t {
    unsafe fn handle(request: *mut Self) -> *mut ffi::uv_stream_t {
        // SAFETY: the caller guarantees a live, submitted request.
        unsafe { (*request).handle }
    }
}

impl StreamRequest for ffi::uv_connect_t {
    unsafe fn handle(request: *mut Self) -> *mut ffi::uv_stream_t {
        // SAFETY: the caller guarantees a live, submitted request.
        unsafe { (*request).handle }
    }
}
