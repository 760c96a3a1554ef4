//! A high-level, safe TCP API on libuv.
//!
//! Sockets live on an [`IoTask`], a libuv loop on its own thread; any thread
//! can read and write them. The interface follows the classic "high-level
//! interface to libuv's TCP functionality": [`TcpSocket`] with
//! `read_start` / `read_stop` / `read(timeout)` / `read_future` / `write` /
//! `write_future`, the buffered [`TcpSocketBuf`], [`listen`] / [`accept`] /
//! [`connect`], and string-based error records ([`TcpErrData`]).
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use uvtcp::{IoTask, TcpListener, connect};
//!
//! // A loopback echo: a listener on a free port, a client, one round trip.
//! let io_task = IoTask::spawn()?;
//! let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
//! let listener = TcpListener::bind(localhost, 0, 16, &io_task).unwrap();
//! let port = listener.local_addr()?.port();
//! let server = std::thread::spawn(move || -> Result<(), uvtcp::TcpErrData> {
//!     let socket = listener.accept()?;
//!     let request = socket.read(5000)?;
//!     socket.write(request)
//! });
//! let client = connect(localhost, port, &io_task).unwrap();
//! client.write("echo me")?;
//! assert_eq!(client.read(5000)?, b"echo me");
//! server.join().unwrap()?;
//! # Ok::<(), uvtcp::TcpErrData>(())
//! ```
//!
//! # Without blocking: futures
//!
//! Connecting, accepting, reading and writing have forms that return at
//! once with a [`Future`]: `connect_future`, `accept_future`,
//! `read_future`, `write_future`, and [`ReadPort::recv_async`]. The operation runs on the loop whether or not
//! the future is polled; [`Future::get`] blocks until it is done, and
//! `.await` waits for it on any executor (tokio, `futures::executor`, or a
//! local task below). With the cargo feature `tokio` or `futures-io` (both
//! off by default), `TcpSocket` and `&TcpSocket` also implement that crate's
//! `AsyncRead` and `AsyncWrite`.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use uvtcp::{IoTask, TcpListener, connect_future};
//!
//! let io_task = IoTask::spawn()?;
//! let listener = TcpListener::bind(Ipv4Addr::LOCALHOST.into(), 0, 16, &io_task)?;
//! let port = listener.local_addr()?.port();
//!
//! // Start everything, then wait: the connect, the accept and the write
//! // run on the loop meanwhile.
//! let accepted = listener.accept_future();
//! let connected = connect_future(Ipv4Addr::LOCALHOST.into(), port, &io_task);
//! let client = connected.get()?;
//! let written = client.write_future("no waiting");
//! let server = accepted.get()?;
//! written.get()?;
//! assert_eq!(server.read(5000)?, b"no waiting");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # On the loop thread: local tasks
//!
//! [`IoTask::spawn_local`] runs an `async` block on the loop thread itself,
//! so its socket operations need no thread hand-off: one loop thread can
//! serve many connections, each a task. Inside a task, await the futures;
//! a blocking call there fails with `EAGAIN` and a message naming the
//! future to await instead.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use uvtcp::{IoTask, TcpErrData, TcpListener, connect};
//!
//! let io_task = IoTask::spawn()?;
//! let listener = TcpListener::bind(Ipv4Addr::LOCALHOST.into(), 0, 16, &io_task)?;
//! let port = listener.local_addr()?.port();
//!
//! // An echo server for one connection, as a local task.
//! let server = io_task.spawn_local(move || async move {
//!     let socket = listener.accept_future().await?;
//!     let port = socket.read_start()?;
//!     loop {
//!         match port.recv_async().await {
//!             Ok(chunk) => socket.write_future(chunk).await?,
//!             Err(error) if error.is_eof() => return Ok::<(), TcpErrData>(()),
//!             Err(error) => return Err(error),
//!         }
//!     }
//! });
//!
//! let client = connect(Ipv4Addr::LOCALHOST.into(), port, &io_task)?;
//! client.write("round trip")?;
//! assert_eq!(client.read(5000)?, b"round trip");
//! client.shutdown()?;
//! server.get()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `uvtcp::Future` shares its name with `std::future::Future`: with
//! `use uvtcp::*;` it shadows the prelude's trait (edition 2024), so import
//! uvtcp's items by name, and the struct, where you name it, as
//! `use uvtcp::Future as UvFuture;`.
//!
//! # Errors
//!
//! Every failure carries libuv's error name and message: `err_name` is
//! `"EOF"` at the end of a stream, `"ETIMEDOUT"` for a read that timed out,
//! `"ECONNRESET"`, `"EPIPE"`, and so on. No call panics on a network error.
//! Every error type converts into `std::io::Error` (with the matching
//! `ErrorKind`) and into [`TcpErrData`], so `?` passes it on:
//!
//! ```
//! use std::io;
//! use std::net::Ipv4Addr;
//!
//! fn hello(port: u16) -> io::Result<Vec<u8>> {
//!     let io_task = uvtcp::IoTask::spawn()?;                                  // TcpErrData
//!     let socket = uvtcp::connect(Ipv4Addr::LOCALHOST.into(), port, &io_task)?; // TcpConnectErrData
//!     socket.write("hello")?;
//!     Ok(socket.read(5000)?)
//! }
//!
//! let closed_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
//! assert_eq!(hello(closed_port).unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
//! # Ok::<(), io::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
#![doc(test(attr(deny(warnings), allow(unused))))]

#[cfg(any(feature = "tokio", feature = "futures-io"))]
mod async_io;
mod connect;
mod error;
mod future;
#[cfg(feature = "futures-io")]
mod futures_io;
mod io_task;
mod listener;
mod read_port;
mod socket;
mod socket_buf;
mod stream;
#[cfg(feature = "tokio")]
mod tokio_io;

/// Host name resolution on the loop: [`ip::get_addr`].
///
/// ```
/// let io_task = uvtcp::IoTask::spawn()?;
/// assert!(!uvtcp::ip::get_addr("127.0.0.1", &io_task)?.is_empty());
/// # Ok::<(), uvtcp::TcpErrData>(())
/// ```
pub mod ip;

pub use connect::{connect, connect_future, connect_host, connect_timeout};
pub use error::{TcpConnectErrData, TcpErrData, TcpListenErrData};
pub use future::Future;
pub use io_task::{IoTask, global_loop};
pub use listener::{KillChan, TcpListener, TcpNewConnection, accept, listen};
pub use read_port::ReadPort;
pub use socket::{TcpSocket, read_start, read_stop, write, write_future};
pub use socket_buf::{TcpSocketBuf, socket_buf};
