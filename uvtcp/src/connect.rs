//! Clients: [`connect`], [`connect_timeout`], [`connect_future`] and
//! [`connect_host`].

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::rc::{Rc, Weak};
use std::time::Duration;

use uv_handle::{Completer, LoopRef, Tcp, TcpRef, Timer, UvError, completion};

use crate::error::{TcpConnectErrData, canceled, forbid_blocking};
use crate::future::Future;
use crate::io_task::IoTask;
use crate::socket::TcpSocket;
use crate::stream;

type ConnectResult = Result<TcpSocket, TcpConnectErrData>;

/// How long an attempt of [`connect_host`] runs alone before the next
/// address is tried too (RFC 8305's "Connection Attempt Delay").
const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Connects to `input_ip:port` (IPv4 or IPv6) from `iotask`'s loop.
///
/// # Errors
///
/// `ConnectionRefused` when nobody listens; otherwise `GenericConnectErr`
/// with libuv's name and message (`EAGAIN` on a loop thread).
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use uvtcp::{IoTask, TcpConnectErrData, connect};
///
/// let io_task = IoTask::spawn().unwrap();
/// let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
/// let refused = connect(IpAddr::V4(Ipv4Addr::LOCALHOST), unused, &io_task);
/// assert_eq!(refused.unwrap_err(), TcpConnectErrData::ConnectionRefused);
/// ```
#[doc(alias = "net::tcp::connect")]
pub fn connect(input_ip: IpAddr, port: u16, iotask: &IoTask) -> ConnectResult {
    connect_timeout(input_ip, port, iotask, 0)
}

/// Like [`connect`], giving up after `timeout_msecs` milliseconds (`0`:
/// waits as long as the system does).
///
/// # Errors
///
/// On timeout `GenericConnectErr("ETIMEDOUT", "connection timed out")`;
/// otherwise as [`connect`].
///
/// ```
/// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
/// # let io_task = uvtcp::global_loop();
/// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
/// let port = listener.local_addr()?.port();
/// let socket = uvtcp::connect_timeout("127.0.0.1".parse().unwrap(), port, &io_task, 5000).unwrap();
/// # Ok::<(), uvtcp::TcpErrData>(())
/// ```
pub fn connect_timeout(
    input_ip: IpAddr,
    port: u16,
    iotask: &IoTask,
    timeout_msecs: u32,
) -> ConnectResult {
    forbid_blocking("connect", "await `connect_future` instead")?;
    start(vec![SocketAddr::new(input_ip, port)], iotask, timeout_msecs).get()
}

/// Starts connecting and returns at once; the [`Future`] resolves to the
/// socket or the error of [`connect`].
///
/// # Cancel safety
///
/// Dropping the future closes the connection once it is made.
///
/// ```
/// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
/// # let io_task = uvtcp::global_loop();
/// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
/// let port = listener.local_addr()?.port();
/// let pending = uvtcp::connect_future("127.0.0.1".parse().unwrap(), port, &io_task);
/// let socket = pending.get().unwrap();
/// # Ok::<(), uvtcp::TcpErrData>(())
/// ```
pub fn connect_future(input_ip: IpAddr, port: u16, iotask: &IoTask) -> Future<ConnectResult> {
    start(vec![SocketAddr::new(input_ip, port)], iotask, 0)
}

/// Resolves `node` on the loop and connects to its addresses, racing them
/// as RFC 8305 describes (IPv6 first, alternating families, a new attempt
/// every 250 ms while none has succeeded). The first connection wins; the
/// others are closed.
///
/// # Errors
///
/// As [`connect_timeout`]; `ConnectionRefused` when every address refused,
/// otherwise the last address's error; resolver errors (`EAI_NONAME`, ...)
/// as `GenericConnectErr`.
///
/// ```
/// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
/// # let io_task = uvtcp::global_loop();
/// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
/// let port = listener.local_addr()?.port();
/// let socket = uvtcp::connect_host("localhost", port, &io_task, 5000).unwrap();
/// assert!(socket.peer_addr()?.ip().is_loopback());
/// # Ok::<(), uvtcp::TcpErrData>(())
/// ```
pub fn connect_host(node: &str, port: u16, iotask: &IoTask, timeout_msecs: u32) -> ConnectResult {
    forbid_blocking("connect_host", "resolve first, await `connect_future`")?;
    let addresses = crate::ip::get_addr(node, iotask)?;
    start(race_order(&addresses, port), iotask, timeout_msecs).get()
}

/// RFC 8305 order: IPv6 first, then alternating address families.
fn race_order(addresses: &[IpAddr], port: u16) -> Vec<SocketAddr> {
    let (v6, v4): (Vec<IpAddr>, Vec<IpAddr>) = addresses.iter().partition(|ip| ip.is_ipv6());
    let mut ordered = Vec::with_capacity(addresses.len());
    let (mut v6, mut v4) = (v6.into_iter(), v4.into_iter());
    loop {
        let (next_v6, next_v4) = (v6.next(), v4.next());
        if next_v6.is_none() && next_v4.is_none() {
            break;
        }
        ordered.extend(
            next_v6
                .into_iter()
                .chain(next_v4)
                .map(|ip| SocketAddr::new(ip, port)),
        );
    }
    ordered
}

/// Queues a connection race over `addresses` on the loop.
fn start(addresses: Vec<SocketAddr>, iotask: &IoTask, timeout_msecs: u32) -> Future<ConnectResult> {
    let (completer, result) = completion::<ConnectResult>();
    // The race holds a clone of the IoTask while it runs (someone waits for
    // it), to hand out the socket it makes.
    let io_task = iotask.clone();
    let queued = iotask.run(move |event_loop| {
        Race::begin(event_loop, io_task, addresses, timeout_msecs, completer);
    });
    match queued {
        Ok(()) => Future::pending(result, || Err(canceled().into())),
        Err(error) => Future::from_value(Err(error.into())),
    }
}

/// A connection race on the loop thread. Each attempt's connect callback
/// holds the race; its timers refer to it weakly. The first success, the
/// last failure or the deadline settles it, and settling closes every
/// other attempt.
struct Race {
    io_task: IoTask,
    completer: RefCell<Option<Completer<ConnectResult>>>,
    remaining: RefCell<VecDeque<SocketAddr>>,
    attempts: RefCell<Vec<Rc<Tcp>>>,
    all_refused: Cell<bool>,
    last_error: Cell<Option<UvError>>,
    deadline: RefCell<Option<Timer>>,
    delay: RefCell<Option<Timer>>,
}

impl Race {
    fn begin(
        event_loop: &LoopRef,
        io_task: IoTask,
        addresses: Vec<SocketAddr>,
        timeout_msecs: u32,
        completer: Completer<ConnectResult>,
    ) {
        let race = Rc::new(Race {
            io_task,
            completer: RefCell::new(Some(completer)),
            remaining: RefCell::new(addresses.into()),
            attempts: RefCell::new(Vec::new()),
            all_refused: Cell::new(true),
            last_error: Cell::new(None),
            deadline: RefCell::new(None),
            delay: RefCell::new(None),
        });
        if timeout_msecs > 0 {
            let timeout = Duration::from_millis(u64::from(timeout_msecs));
            let timer = race.timer(event_loop, timeout, |race, _| {
                race.settle(Err(UvError::ETIMEDOUT))
            });
            *race.deadline.borrow_mut() = timer;
        }
        Race::next_attempt(&race, event_loop);
    }

    /// A one-shot timer that calls `on_fire` with the race, if it still runs.
    fn timer(
        self: &Rc<Self>,
        event_loop: &LoopRef,
        after: Duration,
        on_fire: impl Fn(&Rc<Race>, &LoopRef) + 'static,
    ) -> Option<Timer> {
        let timer = Timer::new(event_loop).ok()?;
        let weak: Weak<Race> = Rc::downgrade(self);
        let started = timer.start(after, Duration::ZERO, move |event_loop| {
            if let Some(race) = weak.upgrade() {
                on_fire(&race, event_loop);
            }
        });
        started.ok().map(|()| timer)
    }

    fn settled(&self) -> bool {
        self.completer.borrow().is_none()
    }

    /// Starts connecting to the next address, and arms the attempt delay
    /// after which another address is tried alongside.
    fn next_attempt(race: &Rc<Race>, event_loop: &LoopRef) {
        loop {
            if race.settled() {
                return;
            }
            let Some(address) = race.remaining.borrow_mut().pop_front() else {
                if race.attempts.borrow().is_empty() {
                    race.give_up();
                }
                return;
            };
            let tcp = match Tcp::new(event_loop) {
                Ok(tcp) => Rc::new(tcp),
                Err(error) => {
                    race.record(error);
                    continue;
                }
            };
            // Registered before connecting: a refused start calls back at once.
            race.attempts.borrow_mut().push(Rc::clone(&tcp));
            let holder = Rc::clone(race);
            tcp.connect(address, move |handle, status| {
                holder.attempt_done(handle, status)
            });
            break;
        }
        if !race.remaining.borrow().is_empty() {
            let delay = race.timer(event_loop, ATTEMPT_DELAY, Race::next_attempt);
            *race.delay.borrow_mut() = delay;
        }
    }

    /// The connect callback of every attempt.
    fn attempt_done(self: Rc<Self>, handle: &TcpRef, status: Result<(), UvError>) {
        let owner = {
            let mut attempts = self.attempts.borrow_mut();
            let position = attempts
                .iter()
                .position(|tcp| std::ptr::eq(&***tcp, handle));
            position.map(|position| attempts.swap_remove(position))
        };
        let Some(tcp) = owner else {
            // Closed by a settled race: nothing to do.
            return;
        };
        if self.settled() {
            return;
        }
        let event_loop = handle.event_loop();
        let connected = status.and_then(|()| {
            let tcp = Rc::try_unwrap(tcp).map_err(|_| UvError::EBUSY)?;
            stream::register(event_loop, tcp)
        });
        match connected {
            Ok((key, shared)) => {
                let socket = TcpSocket::new(self.io_task.clone(), key, shared);
                self.settle(Ok(socket));
            }
            Err(error) => {
                self.record(error);
                // A failure starts the next attempt at once.
                Race::next_attempt(&self, event_loop);
            }
        }
    }

    fn record(&self, error: UvError) {
        if error != UvError::ECONNREFUSED {
            self.all_refused.set(false);
        }
        self.last_error.set(Some(error));
    }

    /// Every address failed.
    fn give_up(&self) {
        let error = match self.last_error.get() {
            Some(_) if self.all_refused.get() => UvError::ECONNREFUSED,
            Some(error) => error,
            None => UvError::EINVAL,
        };
        self.settle(Err(error));
    }

    fn settle(&self, outcome: Result<TcpSocket, UvError>) {
        if let Some(completer) = self.completer.borrow_mut().take() {
            completer.complete(outcome.map_err(TcpConnectErrData::from));
        }
        // The other attempts close; their callbacks find nothing to do.
        let attempts = std::mem::take(&mut *self.attempts.borrow_mut());
        drop(attempts);
        let timers = (
            self.deadline.borrow_mut().take(),
            self.delay.borrow_mut().take(),
        );
        drop(timers);
    }
}
