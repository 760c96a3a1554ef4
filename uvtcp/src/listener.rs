//! Servers: [`TcpListener`], and the classic [`listen`] / [`accept`] with
//! [`TcpNewConnection`] and [`KillChan`].

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, select};
use uv_handle::{
    BindFlags, Completer, Completion, CompletionError, LocalKey, LoopRef, Tcp, UvError, completion,
};

use crate::error::{TcpErrData, TcpListenErrData, canceled, forbid_blocking};
use crate::future::Future;
use crate::io_task::IoTask;
use crate::socket::TcpSocket;
use crate::stream;

/// What an accept resolves to.
type Accepted = Result<TcpSocket, TcpErrData>;

/// A listening TCP socket on an [`IoTask`]. `Send + Sync`.
///
/// The loop thread accepts connections from the kernel ahead of
/// [`accept`](TcpListener::accept), but holds at most `max(backlog, 1)` that
/// it has not handed out: beyond that it stops accepting until the
/// application takes one, so a flood of connections waits in the kernel's
/// backlog instead of costing descriptors and memory in the process.
/// Dropping the listener closes it and the connections it has not handed
/// out.
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use uvtcp::{IoTask, TcpListener, connect};
///
/// let io_task = IoTask::spawn()?;
/// let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// let listener = TcpListener::bind(localhost, 0, 128, &io_task).unwrap();
/// let client = connect(localhost, listener.local_addr()?.port(), &io_task).unwrap();
/// let server_side = listener.accept()?;
/// assert_eq!(server_side.peer_addr()?, client.local_addr()?);
/// # Ok::<(), uvtcp::TcpErrData>(())
/// ```
#[must_use = "dropping a TcpListener closes it"]
pub struct TcpListener {
    io_task: IoTask,
    key: LocalKey<LoopListener>,
    local: SocketAddr,
}

/// The loop thread's side of a listener.
///
/// The connections accepted from the kernel and not handed out are those in
/// `ready` and, while `held` is set, the one libuv has accepted and keeps
/// until `uv_accept` takes it (libuv stops watching for more meanwhile).
/// Together they never exceed `limit`, except for a connection handed back
/// by a waiter that gave up at that very moment.
struct LoopListener {
    tcp: Tcp,
    io_task: IoTask,
    limit: usize,
    ready: RefCell<VecDeque<TcpSocket>>,
    held: Cell<bool>,
    /// Accepts waiting for a connection, oldest first; none while `ready`
    /// has one.
    waiters: RefCell<VecDeque<Completer<Accepted>>>,
}

/// A connection that arrived at a [`listen`]ing server and has not been
/// accepted yet. `Send`: [`accept`] it on any thread. Dropped without
/// `accept`, the connection is closed.
///
/// ```no_run
/// fn on_connection(conn: uvtcp::TcpNewConnection, _kill: uvtcp::KillChan) {
///     std::thread::spawn(move || {
///         let socket = uvtcp::accept(conn).unwrap();
///         socket.write("welcome\n").unwrap();
///     });
/// }
/// ```
#[doc(alias = "tcp_new_connection")]
#[must_use = "dropping a TcpNewConnection closes the connection; pass it to `uvtcp::accept`"]
pub struct TcpNewConnection {
    socket: TcpSocket,
}

/// The channel that stops a [`listen`]ing server: `None` stops it with
/// `Ok(())`, `Some(error)` with that error. Unbounded, so callbacks can
/// send on it.
///
/// ```
/// fn stop_server(kill: &uvtcp::KillChan) {
///     // The server's `listen` returns Ok(()).
///     let _ = kill.send(None);
/// }
/// ```
#[doc(alias = "kill_ch")]
pub type KillChan = Sender<Option<TcpErrData>>;

impl TcpListener {
    /// Binds `host_ip:port` (port 0 picks a free port) and listens with the
    /// given backlog.
    ///
    /// `backlog` is the kernel's queue of connections not yet accepted, and
    /// also the most connections the listener accepts ahead of the
    /// application (at least one).
    ///
    /// # Errors
    ///
    /// `AddressInUse` (EADDRINUSE), `AccessDenied` (EACCES, EPERM), or
    /// `GenericListenErr` with libuv's name and message. Binding waits for
    /// the loop, so on a loop thread it fails with `EAGAIN`: bind outside
    /// and move the listener into the local task.
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// let io_task = uvtcp::IoTask::spawn().unwrap();
    /// let listener = uvtcp::TcpListener::bind(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 16, &io_task).unwrap();
    /// assert_ne!(listener.local_addr().unwrap().port(), 0);
    /// ```
    pub fn bind(
        host_ip: IpAddr,
        port: u16,
        backlog: u32,
        iotask: &IoTask,
    ) -> Result<TcpListener, TcpListenErrData> {
        TcpListener::open(host_ip, port, backlog, iotask, BindFlags::default())
    }

    /// Like [`bind`](Self::bind), with `SO_REUSEPORT`: several such
    /// listeners, each on its own [`IoTask`], share one address and port,
    /// and the kernel spreads incoming connections over them (by a hash of
    /// the client's address and port), so a server can run one loop per
    /// core. Port 0 picks a free port; the other listeners then pass that
    /// port.
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind). Reuse-port and plain listeners do not mix:
    /// `bind_reuse_port` on a port held by a plain listener, and `bind` on a
    /// port held by reuse-port listeners, fail with `AddressInUse`.
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use uvtcp::{IoTask, TcpListener};
    ///
    /// let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    /// let (first_task, second_task) = (IoTask::spawn()?, IoTask::spawn()?);
    /// let first = TcpListener::bind_reuse_port(localhost, 0, 128, &first_task).unwrap();
    /// let port = first.local_addr()?.port();
    /// let second = TcpListener::bind_reuse_port(localhost, port, 128, &second_task).unwrap();
    /// assert_eq!(second.local_addr()?, first.local_addr()?);
    /// // A connection reaches one of the two.
    /// let client = uvtcp::connect(localhost, port, &first_task).unwrap();
    /// let server_side = first.accept_timeout(100).or_else(|_| second.accept_timeout(5000))?;
    /// assert_eq!(server_side.peer_addr()?, client.local_addr()?);
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    #[doc(alias = "SO_REUSEPORT")]
    pub fn bind_reuse_port(
        host_ip: IpAddr,
        port: u16,
        backlog: u32,
        iotask: &IoTask,
    ) -> Result<TcpListener, TcpListenErrData> {
        let flags = BindFlags {
            reuse_port: true,
            ..BindFlags::default()
        };
        TcpListener::open(host_ip, port, backlog, iotask, flags)
    }

    fn open(
        host_ip: IpAddr,
        port: u16,
        backlog: u32,
        iotask: &IoTask,
        flags: BindFlags,
    ) -> Result<TcpListener, TcpListenErrData> {
        forbid_blocking("bind", "bind before `spawn_local` and move the listener in")?;
        let address = SocketAddr::new(host_ip, port);
        let (completer, result) = completion();
        let io_task = iotask.clone();
        iotask.run(move |event_loop| {
            completer.complete(open_listener(event_loop, address, flags, backlog, io_task));
        })?;
        let (key, local) = result
            .wait()
            .map_err(|_| TcpListenErrData::from(canceled()))??;
        Ok(TcpListener {
            io_task: iotask.clone(),
            key,
            local,
        })
    }

    /// The address the listener is bound to.
    ///
    /// ```
    /// # use std::net::{IpAddr, Ipv4Addr};
    /// # let io_task = uvtcp::IoTask::spawn()?;
    /// # let listener = uvtcp::TcpListener::bind(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 16, &io_task).unwrap();
    /// assert!(listener.local_addr()?.ip().is_loopback());
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn local_addr(&self) -> Result<SocketAddr, TcpErrData> {
        Ok(self.local)
    }

    /// Waits for the next connection.
    ///
    /// # Errors
    ///
    /// `EAGAIN` on a loop thread; `ECANCELED` if the loop is gone.
    ///
    /// ```
    /// # use std::net::{IpAddr, Ipv4Addr};
    /// # let io_task = uvtcp::IoTask::spawn()?;
    /// # let listener = uvtcp::TcpListener::bind(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 16, &io_task).unwrap();
    /// let port = listener.local_addr()?.port();
    /// let _client = uvtcp::connect("127.0.0.1".parse().unwrap(), port, &io_task).unwrap();
    /// let server_side = listener.accept()?;
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn accept(&self) -> Result<TcpSocket, TcpErrData> {
        self.accept_timeout(0)
    }

    /// Waits up to `timeout_msecs` for the next connection (`0`: indefinitely).
    ///
    /// # Errors
    ///
    /// `ETIMEDOUT` when no connection came in time; as [`accept`](Self::accept).
    ///
    /// ```
    /// # use std::net::{IpAddr, Ipv4Addr};
    /// # let io_task = uvtcp::IoTask::spawn()?;
    /// # let listener = uvtcp::TcpListener::bind(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 16, &io_task).unwrap();
    /// assert_eq!(listener.accept_timeout(10).unwrap_err().err_name, "ETIMEDOUT");
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn accept_timeout(&self, timeout_msecs: u32) -> Result<TcpSocket, TcpErrData> {
        forbid_blocking("accept", "await `accept_future` instead")?;
        let next = self.next_connection()?;
        if timeout_msecs == 0 {
            return next.wait().unwrap_or_else(|_| Err(canceled()));
        }
        let timeout = Duration::from_millis(u64::from(timeout_msecs));
        match next.wait_timeout(timeout) {
            Ok(accepted) => accepted,
            // A connection that comes after all stays queued for the next accept.
            Err(CompletionError::TimedOut) => next
                .cancel()
                .unwrap_or_else(|| Err(UvError::ETIMEDOUT.into())),
            Err(_) => Err(canceled()),
        }
    }

    /// The connections as they arrive, forever.
    ///
    /// ```no_run
    /// # use std::net::{IpAddr, Ipv4Addr};
    /// # let io_task = uvtcp::IoTask::spawn()?;
    /// # let listener = uvtcp::TcpListener::bind(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 16, &io_task).unwrap();
    /// for socket in listener.incoming() {
    ///     let socket = socket?;
    ///     std::thread::spawn(move || socket.write("hello\n"));
    /// }
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn incoming(&self) -> impl Iterator<Item = Result<TcpSocket, TcpErrData>> + '_ {
        std::iter::from_fn(move || Some(self.accept()))
    }

    /// Waits for the next connection without blocking: the [`Future`]
    /// resolves to it.
    ///
    /// # Cancel safety
    ///
    /// A connection that arrives for a dropped future stays queued for the
    /// next accept.
    ///
    /// ```
    /// # use std::net::{IpAddr, Ipv4Addr};
    /// # let io_task = uvtcp::IoTask::spawn()?;
    /// # let listener = uvtcp::TcpListener::bind(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 16, &io_task).unwrap();
    /// let pending = listener.accept_future();
    /// let port = listener.local_addr()?.port();
    /// let _client = uvtcp::connect("127.0.0.1".parse().unwrap(), port, &io_task).unwrap();
    /// let server_side = pending.get()?;
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn accept_future(&self) -> Future<Result<TcpSocket, TcpErrData>> {
        match self.next_connection() {
            Ok(next) => Future::pending(next, || Err(canceled())),
            Err(error) => Future::from_value(Err(error)),
        }
    }

    /// Asks the loop for the next connection.
    fn next_connection(&self) -> Result<Completion<Accepted>, TcpErrData> {
        let (completer, next) = completion();
        let key = self.key;
        self.io_task
            .run(move |event_loop| match event_loop.local(key) {
                Some(listener) => listener.take(completer),
                None => completer.complete(Err(canceled())),
            })?;
        Ok(next)
    }

    /// Closes the listener and returns once its listening socket is closed:
    /// a connection attempted afterwards is refused.
    fn close_and_wait(self) {
        let (completer, closed) = completion();
        let key = self.key;
        let queued = self.io_task.run(move |event_loop| {
            close_listener(event_loop, key);
            completer.complete(());
        });
        if queued.is_ok() {
            let _ = closed.wait();
        }
    }
}

impl LoopListener {
    /// Serves one accept: with the oldest connection not handed out, or the
    /// next to arrive.
    fn take(&self, waiter: Completer<Accepted>) {
        let oldest = self.ready.borrow_mut().pop_front();
        match oldest {
            Some(socket) => {
                if let Err(Ok(socket)) = waiter.try_complete(Ok(socket)) {
                    self.ready.borrow_mut().push_front(socket);
                }
            }
            None => {
                self.forget_abandoned_waiters();
                self.waiters.borrow_mut().push_back(waiter);
            }
        }
        self.resume();
    }

    /// Takes the connection libuv holds, if any, when a waiter wants it or
    /// the queue has room for it and for the next one libuv then accepts.
    fn resume(&self) {
        if !self.held.get() {
            return;
        }
        let wanted = self.forget_abandoned_waiters();
        let room = self.ready.borrow().len() + 2 <= self.limit;
        if !wanted && !room {
            return;
        }
        self.held.set(false);
        // `uv_accept` also makes libuv watch for the next connection again.
        let Ok(client) = self.tcp.accept() else {
            return;
        };
        if let Ok((key, shared)) = stream::register(self.tcp.event_loop(), client) {
            self.deliver(TcpSocket::new(self.io_task.clone(), key, shared));
        }
    }

    /// Hands a new connection to the oldest waiting accept, or queues it.
    fn deliver(&self, socket: TcpSocket) {
        let mut socket = socket;
        loop {
            let oldest = self.waiters.borrow_mut().pop_front();
            let Some(waiter) = oldest else {
                self.ready.borrow_mut().push_back(socket);
                return;
            };
            let Err(Ok(unclaimed)) = waiter.try_complete(Ok(socket)) else {
                return;
            };
            socket = unclaimed;
        }
    }

    /// Drops the waiters that gave up (timed out or dropped); returns
    /// whether any waiter is left.
    fn forget_abandoned_waiters(&self) -> bool {
        let mut waiters = self.waiters.borrow_mut();
        waiters.retain(|waiter| !waiter.is_abandoned());
        !waiters.is_empty()
    }
}

fn open_listener(
    event_loop: &LoopRef,
    address: SocketAddr,
    flags: BindFlags,
    backlog: u32,
    io_task: IoTask,
) -> Result<(LocalKey<LoopListener>, SocketAddr), TcpListenErrData> {
    let tcp = Tcp::new(event_loop)?;
    // As with std::net and Node: `::` also accepts IPv4 where the system
    // allows it (Linux does by default).
    tcp.bind(address, flags)?;
    let key = event_loop.insert_local(LoopListener {
        tcp,
        io_task,
        limit: usize::try_from(backlog.max(1)).unwrap_or(usize::MAX),
        ready: RefCell::new(VecDeque::new()),
        held: Cell::new(false),
        waiters: RefCell::new(VecDeque::new()),
    });
    let Some(listener) = event_loop.local(key) else {
        return Err(canceled().into());
    };
    let weak = Rc::downgrade(&listener);
    let kernel_backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    let listening = listener.tcp.listen(kernel_backlog, move |_server, status| {
        // With a success, libuv has accepted a connection and holds it.
        if let (Some(listener), Ok(())) = (weak.upgrade(), status) {
            listener.held.set(true);
            listener.resume();
        }
    });
    let local = listening.and_then(|()| listener.tcp.local_addr());
    match local {
        Ok(local) => Ok((key, local)),
        Err(error) => {
            drop(event_loop.remove_local(key));
            Err(error.into())
        }
    }
}

/// Closes a listener's socket, and the connections it has not handed out.
fn close_listener(event_loop: &LoopRef, key: LocalKey<LoopListener>) {
    if let Some(listener) = event_loop.remove_local(key) {
        listener.tcp.close();
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let key = self.key;
        let _ = self
            .io_task
            .run(move |event_loop| close_listener(event_loop, key));
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for TcpNewConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpNewConnection")
            .field("peer", &self.socket.shared.peer)
            .finish()
    }
}

/// Runs a server on `host_ip:port`: binds and listens, calls
/// `on_establish_cb` once when it is up, then `new_connect_cb` for each
/// connection, all on the calling thread, until a message arrives on the
/// kill channel. The listening socket is closed before it returns, so a
/// connection attempted afterwards is refused. `backlog` is as in
/// [`TcpListener::bind`]: the kernel's queue, and the most connections
/// (at least one) accepted ahead of `new_connect_cb`.
///
/// # Errors
///
/// Bind and listen failures return at once, without calling either
/// callback: `AddressInUse`, `AccessDenied` or `GenericListenErr`. A
/// `Some(err)` on the kill channel returns `GenericListenErr(err.err_name,
/// err.err_msg)`.
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use uvtcp::{IoTask, TcpListenErrData, listen, accept};
///
/// let io_task = IoTask::spawn().unwrap();
/// let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
/// let client_task = io_task.clone();
/// let result = listen(localhost, port, 16, &io_task,
///     move |kill| {
///         // The server is up: start a client that says hello.
///         std::thread::spawn(move || {
///             let client = uvtcp::connect(localhost, port, &client_task).unwrap();
///             client.write("hello").unwrap();
///         });
///         let _ = kill;
///     },
///     |new_conn, kill| {
///         let socket = accept(new_conn).unwrap();
///         assert_eq!(socket.read(5000).unwrap(), b"hello");
///         kill.send(None).unwrap();
///     });
/// assert_eq!(result, Ok(()));
/// ```
#[doc(alias = "net::tcp::listen")]
pub fn listen<E, C>(
    host_ip: IpAddr,
    port: u16,
    backlog: u32,
    iotask: &IoTask,
    on_establish_cb: E,
    mut new_connect_cb: C,
) -> Result<(), TcpListenErrData>
where
    E: FnOnce(KillChan),
    C: FnMut(TcpNewConnection, KillChan),
{
    let listener = TcpListener::bind(host_ip, port, backlog, iotask)?;
    let (kill_sender, kill) = crossbeam_channel::unbounded::<Option<TcpErrData>>();
    on_establish_cb(kill_sender.clone());
    let outcome = serve(&listener, &kill, &kill_sender, &mut new_connect_cb);
    listener.close_and_wait();
    outcome
}

/// Hands each connection to `new_connect_cb` until a message arrives on
/// the kill channel.
fn serve<C>(
    listener: &TcpListener,
    kill: &Receiver<Option<TcpErrData>>,
    kill_sender: &KillChan,
    new_connect_cb: &mut C,
) -> Result<(), TcpListenErrData>
where
    C: FnMut(TcpNewConnection, KillChan),
{
    // The next connection is a future whose waker signals `woken`, so that
    // one `select!` waits for it and for the kill channel.
    let (signal, woken) = crossbeam_channel::bounded(1);
    let waker = Waker::from(Arc::new(SignalWaker(signal)));
    let mut context = Context::from_waker(&waker);
    let mut next = listener.accept_future();
    loop {
        // A kill message wins over connections that arrived at the same time.
        if let Ok(message) = kill.try_recv() {
            return stop(message);
        }
        if let Poll::Ready(accepted) = Pin::new(&mut next).poll(&mut context) {
            new_connect_cb(TcpNewConnection { socket: accepted? }, kill_sender.clone());
            next = listener.accept_future();
            continue;
        }
        select! {
            recv(kill) -> message => {
                return stop(message.expect("listen holds a sender of the kill channel"));
            }
            recv(woken) -> _ => {}
        }
    }
}

/// A waker that sends on a channel (at most one signal waits in it).
struct SignalWaker(Sender<()>);

impl Wake for SignalWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let _ = self.0.try_send(());
    }
}

fn stop(message: Option<TcpErrData>) -> Result<(), TcpListenErrData> {
    match message {
        None => Ok(()),
        Some(error) => Err(error.into()),
    }
}

/// Accepts a connection handed to a [`listen`] callback, on any thread.
///
/// # Errors
///
/// None in practice: the connection was accepted by libuv on arrival; a
/// connection reset since then shows up on the first read or write.
///
/// ```no_run
/// fn on_connection(conn: uvtcp::TcpNewConnection, _kill: uvtcp::KillChan) {
///     let socket = uvtcp::accept(conn).unwrap();
///     socket.write("hi\n").unwrap();
/// }
/// ```
#[doc(alias = "net::tcp::accept")]
pub fn accept(new_conn: TcpNewConnection) -> Result<TcpSocket, TcpErrData> {
    Ok(new_conn.socket)
}
