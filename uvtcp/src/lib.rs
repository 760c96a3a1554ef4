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
//! # Errors
//!
//! Every failure carries libuv's error name and message: `err_name` is
//! `"EOF"` at the end of a stream, `"ETIMEDOUT"` for a read that timed out,
//! `"ECONNRESET"`, `"EPIPE"`, and so on. No call panics on a network error.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
#![doc(test(attr(deny(warnings), allow(unused))))]

mod connect;
mod error;
mod future;
mod io_task;
mod listener;
mod read_port;
mod socket;
mod socket_buf;
mod stream;

pub mod ip;

#[doc(hidden)]
pub mod doc_support;

pub use connect::{connect, connect_future, connect_host, connect_timeout};
pub use error::{TcpConnectErrData, TcpErrData, TcpListenErrData};
pub use future::Future;
pub use io_task::{IoTask, global_loop};
pub use listener::{KillChan, TcpListener, TcpNewConnection, accept, listen};
pub use read_port::ReadPort;
pub use socket::{TcpSocket, read_start, read_stop, write, write_future};
pub use socket_buf::{TcpSocketBuf, socket_buf};
