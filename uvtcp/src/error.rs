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
/// ```
/// use uvtcp::TcpConnectErrData;
///
/// let refused = TcpConnectErrData::ConnectionRefused;
/// assert_ne!(refused, TcpConnectErrData::GenericConnectErr("ETIMEDOUT".into(), "".into()));
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
/// ```
/// use uvtcp::TcpListenErrData;
///
/// assert_ne!(TcpListenErrData::AddressInUse, TcpListenErrData::AccessDenied);
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

    /// The `std::io::ErrorKind` the error name stands for.
    ///
    /// ```
    /// let error = uvtcp::TcpErrData { err_name: "EPIPE".into(), err_msg: "broken pipe".into() };
    /// assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe);
    /// ```
    pub fn kind(&self) -> io::ErrorKind {
        use io::ErrorKind as Kind;
        match self.err_name.as_str() {
            "EOF" => Kind::UnexpectedEof,
            "ETIMEDOUT" => Kind::TimedOut,
            "ECONNRESET" => Kind::ConnectionReset,
            "ECONNREFUSED" => Kind::ConnectionRefused,
            "ECONNABORTED" => Kind::ConnectionAborted,
            "EPIPE" => Kind::BrokenPipe,
            "ENOTCONN" => Kind::NotConnected,
            "EADDRINUSE" => Kind::AddrInUse,
            "EADDRNOTAVAIL" => Kind::AddrNotAvailable,
            "EACCES" | "EPERM" => Kind::PermissionDenied,
            "EAGAIN" => Kind::WouldBlock,
            "EINVAL" | "EAI_FAMILY" | "EAI_ADDRFAMILY" => Kind::InvalidInput,
            "EINTR" => Kind::Interrupted,
            "ENOMEM" | "ENOBUFS" => Kind::OutOfMemory,
            "ENOENT" | "EAI_NONAME" | "EAI_NODATA" => Kind::NotFound,
            "ENOTSUP" | "ENOSYS" => Kind::Unsupported,
            "EEXIST" => Kind::AlreadyExists,
            "EHOSTUNREACH" => Kind::HostUnreachable,
            "ENETUNREACH" => Kind::NetworkUnreachable,
            "ENETDOWN" => Kind::NetworkDown,
            _ => Kind::Other,
        }
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

impl From<TcpErrData> for io::Error {
    fn from(error: TcpErrData) -> io::Error {
        io::Error::new(error.kind(), error)
    }
}

impl From<UvError> for TcpConnectErrData {
    fn from(error: UvError) -> TcpConnectErrData {
        if error == UvError::ECONNREFUSED {
            TcpConnectErrData::ConnectionRefused
        } else {
            TcpConnectErrData::GenericConnectErr(error.name(), error.message())
        }
    }
}

impl From<UvError> for TcpListenErrData {
    fn from(error: UvError) -> TcpListenErrData {
        match error {
            UvError::EADDRINUSE => TcpListenErrData::AddressInUse,
            UvError::EACCES | UvError::EPERM => TcpListenErrData::AccessDenied,
            other => TcpListenErrData::GenericListenErr(other.name(), other.message()),
        }
    }
}

impl From<TcpErrData> for TcpListenErrData {
    fn from(error: TcpErrData) -> TcpListenErrData {
        TcpListenErrData::GenericListenErr(error.err_name, error.err_msg)
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

impl fmt::Display for TcpConnectErrData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpConnectErrData::GenericConnectErr(name, message) => write!(f, "{name}: {message}"),
            TcpConnectErrData::ConnectionRefused => f.write_str("ECONNREFUSED: connection refused"),
        }
    }
}

impl std::error::Error for TcpConnectErrData {}

impl fmt::Display for TcpListenErrData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpListenErrData::GenericListenErr(name, message) => write!(f, "{name}: {message}"),
            TcpListenErrData::AddressInUse => f.write_str("EADDRINUSE: address already in use"),
            TcpListenErrData::AccessDenied => f.write_str("EACCES: permission denied"),
        }
    }
}

impl std::error::Error for TcpListenErrData {}

/// Fails with `EAGAIN` on a loop thread, where a blocking call would stall
/// every socket of the loop: always, even when it could finish at once, so
/// code does not change behaviour under load.
pub(crate) fn forbid_blocking() -> Result<(), TcpErrData> {
    if uv_handle::on_loop_thread() {
        Err(UvError::EAGAIN.into())
    } else {
        Ok(())
    }
}

/// The error reported when an operation was abandoned (its socket closed or
/// its loop thread gone).
pub(crate) fn canceled() -> TcpErrData {
    UvError::ECANCELED.into()
}
