//! Servers: [`TcpListener`], and the classic [`listen`] / [`accept`] with
//! [`TcpNewConnection`] and [`KillChan`].

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, select};
use uv_handle::{BindFlags, Completer, LocalKey, LoopRef, Tcp, UvError, completion};

use crate::error::{TcpErrData, TcpListenErrData, canceled, forbid_blocking};
use crate::future::Future;
use crate::io_task::IoTask;
use crate::socket::TcpSocket;
use crate::stream;

/// A listening TCP socket on an [`IoTask`]. `Send + Sync`.
///
/// Connections are accepted on the loop thread as they arrive and wait in
/// a queue for [`accept`](TcpListener::accept). Dropping the listener closes
/// it and the connections it has not handed out.
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
pub struct TcpListener {
    io_task: IoTask,
    key: LocalKey<LoopListener>,
    incoming: Receiver<TcpSocket>,
    local: SocketAddr,
}

/// The loop thread's side of a listener: the handle, the queue of accepted
/// connections (its sending end, and a receiving end to serve
/// `accept_future`s from), and the `accept_future`s waiting.
struct LoopListener {
    tcp: Tcp,
    queue: Sender<TcpSocket>,
    queued: Receiver<TcpSocket>,
    waiters: RefCell<VecDeque<Completer<Result<TcpSocket, TcpErrData>>>>,
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
        forbid_blocking("bind", "bind before `spawn_local` and move the listener in")?;
        let address = SocketAddr::new(host_ip, port);
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        let (sender, incoming) = crossbeam_channel::unbounded();
        let queued = incoming.clone();
        let (completer, result) = completion();
        let io_task = iotask.clone();
        iotask.run(move |event_loop| {
            let queue = (sender, queued);
            completer.complete(open_listener(event_loop, address, backlog, io_task, queue));
        })?;
        let (key, local) = result
            .wait()
            .map_err(|_| TcpListenErrData::from(canceled()))??;
        Ok(TcpListener {
            io_task: iotask.clone(),
            key,
            incoming,
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
    /// # let (listener, io_task) = uvtcp::doc_support::listener();
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
    /// # let (listener, _io_task) = uvtcp::doc_support::listener();
    /// assert_eq!(listener.accept_timeout(10).unwrap_err().err_name, "ETIMEDOUT");
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn accept_timeout(&self, timeout_msecs: u32) -> Result<TcpSocket, TcpErrData> {
        forbid_blocking("accept", "await `accept_future` instead")?;
        if timeout_msecs == 0 {
            return self.incoming.recv().map_err(|_| canceled());
        }
        let timeout = Duration::from_millis(u64::from(timeout_msecs));
        self.incoming
            .recv_timeout(timeout)
            .map_err(|error| match error {
                RecvTimeoutError::Timeout => UvError::ETIMEDOUT.into(),
                RecvTimeoutError::Disconnected => canceled(),
            })
    }

    /// The connections as they arrive, forever.
    ///
    /// ```no_run
    /// # let (listener, _io_task) = uvtcp::doc_support::listener();
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
    /// # let (listener, io_task) = uvtcp::doc_support::listener();
    /// let pending = listener.accept_future();
    /// let port = listener.local_addr()?.port();
    /// let _client = uvtcp::connect("127.0.0.1".parse().unwrap(), port, &io_task).unwrap();
    /// let server_side = pending.get()?;
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn accept_future(&self) -> Future<Result<TcpSocket, TcpErrData>> {
        if let Ok(socket) = self.incoming.try_recv() {
            return Future::from_value(Ok(socket));
        }
        let (completer, result) = completion();
        let key = self.key;
        let queued = self.io_task.run(move |event_loop| {
            let Some(listener) = event_loop.local(key) else {
                return completer.complete(Err(canceled()));
            };
            match listener.queued.try_recv() {
                Ok(socket) => {
                    if let Err(Ok(socket)) = completer.try_complete(Ok(socket)) {
                        listener.deliver(socket);
                    }
                }
                Err(_) => listener.waiters.borrow_mut().push_back(completer),
            }
        });
        match queued {
            Ok(()) => Future::pending(result, || Err(canceled())),
            Err(error) => Future::from_value(Err(error)),
        }
    }

    pub(crate) fn connections(&self) -> &Receiver<TcpSocket> {
        &self.incoming
    }
}

impl LoopListener {
    /// Hands a new connection to the oldest waiting `accept_future`, or
    /// queues it for `accept`.
    fn deliver(&self, socket: TcpSocket) {
        let mut socket = socket;
        loop {
            let Some(waiter) = self.waiters.borrow_mut().pop_front() else {
                // A closed queue hands the socket back; dropping it closes it.
                let _ = self.queue.send(socket);
                return;
            };
            match waiter.try_complete(Ok(socket)) {
                Ok(()) => return,
                Err(Ok(unclaimed)) => socket = unclaimed,
                Err(Err(_)) => unreachable!("the socket was sent as Ok"),
            }
        }
    }
}

fn open_listener(
    event_loop: &LoopRef,
    address: SocketAddr,
    backlog: i32,
    io_task: IoTask,
    (queue, queued): (Sender<TcpSocket>, Receiver<TcpSocket>),
) -> Result<(LocalKey<LoopListener>, SocketAddr), TcpListenErrData> {
    let tcp = Tcp::new(event_loop)?;
    // As with std::net and Node: `::` also accepts IPv4 where the system
    // allows it (Linux does by default).
    tcp.bind(address, BindFlags::default())?;
    let key = event_loop.insert_local(LoopListener {
        tcp,
        queue,
        queued,
        waiters: RefCell::new(VecDeque::new()),
    });
    let Some(listener) = event_loop.local(key) else {
        return Err(canceled().into());
    };
    let weak = Rc::downgrade(&listener);
    let listening = listener.tcp.listen(backlog, move |server, status| {
        let Some(listener) = weak.upgrade() else {
            return;
        };
        if status.is_err() {
            return;
        }
        let Ok(client) = server.accept() else {
            return;
        };
        if let Ok((key, shared)) = stream::register(server.event_loop(), client) {
            listener.deliver(TcpSocket::new(io_task.clone(), key, shared));
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

impl Drop for TcpListener {
    fn drop(&mut self) {
        let key = self.key;
        let _ = self.io_task.run(move |event_loop| {
            if let Some(listener) = event_loop.remove_local(key) {
                listener.tcp.close();
            }
        });
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
/// kill channel. The listening socket is closed before it returns.
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
    loop {
        // A kill message wins over connections that arrived at the same time.
        if let Ok(message) = kill.try_recv() {
            return stop(message);
        }
        select! {
            recv(kill) -> message => {
                return stop(message.expect("listen holds a sender of the kill channel"));
            }
            recv(listener.connections()) -> socket => match socket {
                Ok(socket) => new_connect_cb(TcpNewConnection { socket }, kill_sender.clone()),
                Err(_) => return Err(canceled().into()),
            },
        }
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
