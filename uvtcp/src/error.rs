//! The error records of the classic interface: [`TcpErrData`],
//! [`TcpConnectErrData`] and [`TcpListenErrData`], built from libuv errors.

use std::fmt;
use std::io;

use uv_handle::UvError;

/// A failed socket operation: libuv's name of the error (`"ECONNRESET"`,
/// `"EOF"`, `"ETIMEDOUT"`, ...) and its message.
///
/// ```
/// use uvtcp::TcpErrData;
///
/// let error = TcpErrData { err_name: "EOF".into(), err_msg: "end of file".into() };
/// assert_eq!(error.to_string(), "EOF: end of file");
/// assert_eq!(std::io::Error::from(error).kind(), std::io::ErrorKind::UnexpectedEof);
/// ```
#[doc(alias = "tcp_err_data")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpErrData {
    /// libuv's `uv_err_name` of the error code.
    pub err_name: String,
    /// libuv's `uv_strerror` text of the error code.
    pub err_msg: String,
}

/// Why `connect` failed.
///
/// It converts into [`TcpErrData`] and into `std::io::Error`, so `?` passes
/// it on from functions that return either; `ConnectionRefused` becomes
/// `ECONNREFUSED` and `io::ErrorKind::ConnectionRefused`.
///
/// ```
/// use std::io;
/// use std::net::Ipv4Addr;
/// use uvtcp::{IoTask, TcpConnectErrData};
///
/// fn greet(port: u16, io_task: &IoTask) -> io::Result<()> {
///     let socket = uvtcp::connect(Ipv4Addr::LOCALHOST.into(), port, io_task)?;
///     socket.write("hello")?;
///     Ok(())
/// }
///
/// # let io_task = IoTask::spawn()?;
/// # let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
/// // Nobody listens on `port` any more.
/// let error = greet(port, &io_task).unwrap_err();
/// assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
/// assert_eq!(error.to_string(), "ECONNREFUSED: connection refused");
/// assert_eq!(TcpConnectErrData::ConnectionRefused.to_string(), error.to_string());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "tcp_connect_err_data")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpConnectErrData {
    /// Any other failure: `(err_name, err_msg)` from libuv.
    GenericConnectErr(String, String),
    /// Nobody listens at the address (`ECONNREFUSED`).
    ConnectionRefused,
}

/// Why `listen` failed or was stopped with an error.
///
/// It converts into [`TcpErrData`] and into `std::io::Error`, so `?` passes
/// it on from functions that return either; `AddressInUse` becomes
/// `EADDRINUSE` (`io::ErrorKind::AddrInUse`), `AccessDenied` `EACCES`
/// (`PermissionDenied`).
///
/// ```
/// use std::io;
/// use std::net::Ipv4Addr;
/// use uvtcp::{IoTask, TcpErrData, TcpListenErrData, TcpListener};
///
/// fn serve(port: u16, io_task: &IoTask) -> Result<TcpListener, TcpErrData> {
///     Ok(TcpListener::bind(Ipv4Addr::LOCALHOST.into(), port, 16, io_task)?)
/// }
///
/// # let io_task = IoTask::spawn()?;
/// let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let error = serve(taken.local_addr()?.port(), &io_task).unwrap_err();
/// assert_eq!(error.err_name, "EADDRINUSE");
/// assert_eq!(io::Error::from(error).kind(), io::ErrorKind::AddrInUse);
/// assert_eq!(io::Error::from(TcpListenErrData::AccessDenied).kind(), io::ErrorKind::PermissionDenied);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "tcp_listen_err_data")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpListenErrData {
    /// Any other failure: `(err_name, err_msg)`.
    GenericListenErr(String, String),
    /// The address is taken (`EADDRINUSE`).
    AddressInUse,
    /// Binding the address is not allowed (`EACCES`, `EPERM`).
    AccessDenied,
}

impl TcpErrData {
    /// Whether this is the end of the stream (`err_name == "EOF"`).
    ///
    /// ```
    /// let eof = uvtcp::TcpErrData { err_name: "EOF".into(), err_msg: "end of file".into() };
    /// assert!(eof.is_eof());
    /// ```
    pub fn is_eof(&self) -> bool {
        self.err_name == "EOF"
    }

    /// The `std::io::ErrorKind` the error name stands for (`Other` for a
    /// name without a closer kind).
    ///
    /// ```
    /// let error = uvtcp::TcpErrData { err_name: "EPIPE".into(), err_msg: "broken pipe".into() };
    /// assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe);
    /// ```
    pub fn kind(&self) -> io::ErrorKind {
        UvError::kind_from_name(&self.err_name)
    }
}

impl fmt::Display for TcpErrData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.err_name, self.err_msg)
    }
}

impl std::error::Error for TcpErrData {}

impl From<UvError> for TcpErrData {
    fn from(error: UvError) -> TcpErrData {
        TcpErrData {
            err_name: error.name(),
            err_msg: error.message(),
        }
    }
}

/// The `io::Error` carries the `TcpErrData` itself (`get_ref`, `into_inner`).
impl From<TcpErrData> for io::Error {
    fn from(error: TcpErrData) -> io::Error {
        io::Error::new(error.kind(), error)
    }
}

impl From<TcpConnectErrData> for TcpErrData {
    fn from(error: TcpConnectErrData) -> TcpErrData {
        match error {
            TcpConnectErrData::GenericConnectErr(err_name, err_msg) => {
                TcpErrData { err_name, err_msg }
            }
            TcpConnectErrData::ConnectionRefused => UvError::ECONNREFUSED.into(),
        }
    }
}

impl From<TcpListenErrData> for TcpErrData {
    fn from(error: TcpListenErrData) -> TcpErrData {
        match error {
            TcpListenErrData::GenericListenErr(err_name, err_msg) => {
                TcpErrData { err_name, err_msg }
            }
            TcpListenErrData::AddressInUse => UvError::EADDRINUSE.into(),
            TcpListenErrData::AccessDenied => UvError::EACCES.into(),
        }
    }
}

/// Through [`TcpErrData`]: the `io::Error` carries the `TcpErrData`.
impl From<TcpConnectErrData> for io::Error {
    fn from(error: TcpConnectErrData) -> io::Error {
        TcpErrData::from(error).into()
    }
}

/// Through [`TcpErrData`]: the `io::Error` carries the `TcpErrData`.
impl From<TcpListenErrData> for io::Error {
    fn from(error: TcpListenErrData) -> io::Error {
        TcpErrData::from(error).into()
    }
}

impl From<TcpErrData> for TcpConnectErrData {
    fn from(error: TcpErrData) -> TcpConnectErrData {
        if error.err_name == "ECONNREFUSED" {
            TcpConnectErrData::ConnectionRefused
        } else {
            TcpConnectErrData::GenericConnectErr(error.err_name, error.err_msg)
        }
    }
}

impl From<TcpErrData> for TcpListenErrData {
    fn from(error: TcpErrData) -> TcpListenErrData {
        match error.err_name.as_str() {
            "EADDRINUSE" => TcpListenErrData::AddressInUse,
            "EACCES" | "EPERM" => TcpListenErrData::AccessDenied,
            _ => TcpListenErrData::GenericListenErr(error.err_name, error.err_msg),
        }
    }
}

impl From<UvError> for TcpConnectErrData {
    fn from(error: UvError) -> TcpConnectErrData {
        TcpErrData::from(error).into()
    }
}

impl From<UvError> for TcpListenErrData {
    fn from(error: UvError) -> TcpListenErrData {
        TcpErrData::from(error).into()
    }
}

/// As the [`TcpErrData`] it converts to: `"{err_name}: {err_msg}"`.
impl fmt::Display for TcpConnectErrData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        TcpErrData::from(self.clone()).fmt(f)
    }
}

impl std::error::Error for TcpConnectErrData {}

/// As the [`TcpErrData`] it converts to: `"{err_name}: {err_msg}"`.
impl fmt::Display for TcpListenErrData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        TcpErrData::from(self.clone()).fmt(f)
    }
}

impl std::error::Error for TcpListenErrData {}

/// Fails with `EAGAIN` on a loop thread, where a blocking call would stall
/// every socket of the loop: always, even when it could finish at once, so
/// code does not change behaviour under load. The message names the
/// blocking `call` and says what to do `instead` ("await `read_future`
/// instead").
pub(crate) fn forbid_blocking(call: &str, instead: &str) -> Result<(), TcpErrData> {
    if uv_handle::on_loop_thread() {
        Err(TcpErrData {
            err_name: UvError::EAGAIN.name(),
            err_msg: format!("`{call}` would block the loop thread; {instead}"),
        })
    } else {
        Ok(())
    }
}

/// The error reported when an operation was abandoned (its socket closed or
/// its loop thread gone).
pub(crate) fn canceled() -> TcpErrData {
    UvError::ECANCELED.into()
}
