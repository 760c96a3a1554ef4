//! [`UvError`]: a libuv error code, and [`check`], the one place that turns a
//! libuv return code into a `Result`.

use std::ffi::{CStr, c_int};
use std::fmt;
use std::io;

use uv_sys as ffi;

/// A libuv error code (a negative `UV_E*` value).
///
/// `name()` is libuv's `uv_err_name` of the code (`"ECONNRESET"`, `"EOF"`,
/// ...) and `message()` its `uv_strerror` text.
///
/// ```
/// use uv_handle::UvError;
///
/// let error = UvError::ECONNREFUSED;
/// assert_eq!(error.name(), "ECONNREFUSED");
/// assert_eq!(error.message(), "connection refused");
/// assert_eq!(error.to_string(), "ECONNREFUSED: connection refused");
/// assert_eq!(std::io::Error::from(error).kind(), std::io::ErrorKind::ConnectionRefused);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{}: {}", self.name(), self.message())]
pub struct UvError(c_int);

impl UvError {
    /// End of stream (`UV_EOF`).
    pub const EOF: UvError = UvError(ffi::UV_EOF);
    /// Operation already in progress (`UV_EALREADY`).
    pub const EALREADY: UvError = UvError(ffi::UV_EALREADY);
    /// Resource temporarily unavailable (`UV_EAGAIN`).
    pub const EAGAIN: UvError = UvError(ffi::UV_EAGAIN);
    /// Invalid argument (`UV_EINVAL`).
    pub const EINVAL: UvError = UvError(ffi::UV_EINVAL);
    /// Bad file descriptor: the handle is closed (`UV_EBADF`).
    pub const EBADF: UvError = UvError(ffi::UV_EBADF);
    /// Operation canceled (`UV_ECANCELED`).
    pub const ECANCELED: UvError = UvError(ffi::UV_ECANCELED);
    /// Connection timed out (`UV_ETIMEDOUT`).
    pub const ETIMEDOUT: UvError = UvError(ffi::UV_ETIMEDOUT);
    /// Connection refused (`UV_ECONNREFUSED`).
    pub const ECONNREFUSED: UvError = UvError(ffi::UV_ECONNREFUSED);
    /// Connection reset by peer (`UV_ECONNRESET`).
    pub const ECONNRESET: UvError = UvError(ffi::UV_ECONNRESET);
    /// Broken pipe (`UV_EPIPE`).
    pub const EPIPE: UvError = UvError(ffi::UV_EPIPE);
    /// Address already in use (`UV_EADDRINUSE`).
    pub const EADDRINUSE: UvError = UvError(ffi::UV_EADDRINUSE);
    /// Permission denied (`UV_EACCES`).
    pub const EACCES: UvError = UvError(ffi::UV_EACCES);
    /// Operation not permitted (`UV_EPERM`).
    pub const EPERM: UvError = UvError(ffi::UV_EPERM);
    /// Socket is not connected (`UV_ENOTCONN`).
    pub const ENOTCONN: UvError = UvError(ffi::UV_ENOTCONN);
    /// Resource busy or locked (`UV_EBUSY`).
    pub const EBUSY: UvError = UvError(ffi::UV_EBUSY);
    /// Not enough memory (`UV_ENOMEM`).
    pub const ENOMEM: UvError = UvError(ffi::UV_ENOMEM);

    /// The error for a libuv code; `code` should be negative.
    ///
    /// ```
    /// let error = uv_handle::UvError::from_code(-104);
    /// assert_eq!(error.name(), "ECONNRESET");
    /// ```
    pub fn from_code(code: c_int) -> UvError {
        UvError(code)
    }

    /// The libuv code, a negative `UV_E*` value.
    ///
    /// ```
    /// assert!(uv_handle::UvError::EOF.code() < 0);
    /// ```
    pub fn code(self) -> c_int {
        self.0
    }

    /// libuv's name of the error, such as `"ECONNRESET"`.
    ///
    /// Wraps `uv_err_name_r`. Unknown codes are named `"Unknown system error N"`.
    ///
    /// ```
    /// assert_eq!(uv_handle::UvError::EOF.name(), "EOF");
    /// ```
    #[doc(alias = "uv_err_name")]
    pub fn name(self) -> String {
        let mut text = [0u8; 80];
        // SAFETY: uv_err_name_r writes at most `len` bytes, NUL-terminated, into `text`.
        unsafe { ffi::uv_err_name_r(self.0, text.as_mut_ptr().cast(), text.len()) };
        c_text(&text)
    }

    /// libuv's description of the error, such as `"connection reset by peer"`.
    ///
    /// Wraps `uv_strerror_r`.
    ///
    /// ```
    /// assert_eq!(uv_handle::UvError::EOF.message(), "end of file");
    /// ```
    #[doc(alias = "uv_strerror")]
    pub fn message(self) -> String {
        let mut text = [0u8; 160];
        // SAFETY: uv_strerror_r writes at most `len` bytes, NUL-terminated, into `text`.
        unsafe { ffi::uv_strerror_r(self.0, text.as_mut_ptr().cast(), text.len()) };
        c_text(&text)
    }

    /// The closest `std::io::ErrorKind`: [`kind_from_name`](Self::kind_from_name)
    /// of [`name`](Self::name).
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use uv_handle::UvError;
    ///
    /// assert_eq!(UvError::EOF.kind(), ErrorKind::UnexpectedEof);
    /// assert_eq!(UvError::ETIMEDOUT.kind(), ErrorKind::TimedOut);
    /// ```
    pub fn kind(self) -> io::ErrorKind {
        UvError::kind_from_name(&self.name())
    }

    /// The closest `std::io::ErrorKind` for a libuv error name such as
    /// `"ECONNRESET"` or `"EOF"`; `Other` for names it does not know.
    ///
    /// This is the project's one table from libuv errors to `io::ErrorKind`:
    /// layers that keep only the name of an error (uvtcp's error records)
    /// map it here too, so a code and its name always agree.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use uv_handle::UvError;
    ///
    /// assert_eq!(UvError::kind_from_name("EPIPE"), ErrorKind::BrokenPipe);
    /// assert_eq!(UvError::kind_from_name("no such error"), ErrorKind::Other);
    /// ```
    pub fn kind_from_name(err_name: &str) -> io::ErrorKind {
        use io::ErrorKind as Kind;
        match err_name {
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
            "EINVAL" | "EAI_ADDRFAMILY" | "EAI_FAMILY" => Kind::InvalidInput,
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

impl fmt::Debug for UvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UvError({} {})", self.0, self.name())
    }
}

impl From<UvError> for io::Error {
    fn from(error: UvError) -> io::Error {
        io::Error::new(error.kind(), error)
    }
}

/// Turns a libuv return code into a `Result`: negative codes are errors.
///
/// Every libuv call in this crate goes through here, and request callbacks
/// turn their `status` with it too.
pub(crate) fn check(rc: c_int) -> Result<c_int, UvError> {
    if rc < 0 { Err(UvError(rc)) } else { Ok(rc) }
}

/// Like [`check`] for calls that return a byte count or an error.
pub(crate) fn check_size(rc: isize) -> Result<usize, UvError> {
    if rc < 0 {
        Err(UvError(rc as c_int))
    } else {
        Ok(rc as usize)
    }
}

fn c_text(text: &[u8]) -> String {
    CStr::from_bytes_until_nul(text)
        .map(|text| text.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_messages_come_from_libuv() {
        assert_eq!(UvError::ECONNRESET.name(), "ECONNRESET");
        assert_eq!(UvError::ECONNRESET.message(), "connection reset by peer");
        assert_eq!(UvError::ETIMEDOUT.name(), "ETIMEDOUT");
        assert_eq!(
            UvError::from_code(-99999).name(),
            "Unknown system error -99999"
        );
    }

    #[test]
    fn check_passes_non_negative_codes() {
        assert_eq!(check(5), Ok(5));
        assert_eq!(check(ffi::UV_EPIPE), Err(UvError::EPIPE));
        assert_eq!(check_size(-32), Err(UvError::EPIPE));
        assert_eq!(check_size(7), Ok(7));
    }

    #[test]
    fn io_error_kinds() {
        let io_error: io::Error = UvError::EPIPE.into();
        assert_eq!(io_error.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(io_error.to_string(), "EPIPE: broken pipe");
        assert_eq!(UvError::ECONNRESET.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(UvError::EACCES.kind(), io::ErrorKind::PermissionDenied);
    }

    /// The table is keyed by name, so each entry is checked against the
    /// name libuv really gives its code.
    #[test]
    fn every_code_of_the_table_maps_through_its_libuv_name() {
        use io::ErrorKind as Kind;
        let cases = [
            (ffi::UV_EOF, Kind::UnexpectedEof),
            (ffi::UV_ETIMEDOUT, Kind::TimedOut),
            (ffi::UV_ECONNRESET, Kind::ConnectionReset),
            (ffi::UV_ECONNREFUSED, Kind::ConnectionRefused),
            (ffi::UV_ECONNABORTED, Kind::ConnectionAborted),
            (ffi::UV_EPIPE, Kind::BrokenPipe),
            (ffi::UV_ENOTCONN, Kind::NotConnected),
            (ffi::UV_EADDRINUSE, Kind::AddrInUse),
            (ffi::UV_EADDRNOTAVAIL, Kind::AddrNotAvailable),
            (ffi::UV_EACCES, Kind::PermissionDenied),
            (ffi::UV_EPERM, Kind::PermissionDenied),
            (ffi::UV_EAGAIN, Kind::WouldBlock),
            (ffi::UV_EINVAL, Kind::InvalidInput),
            (ffi::UV_EAI_ADDRFAMILY, Kind::InvalidInput),
            (ffi::UV_EAI_FAMILY, Kind::InvalidInput),
            (ffi::UV_EINTR, Kind::Interrupted),
            (ffi::UV_ENOMEM, Kind::OutOfMemory),
            (ffi::UV_ENOBUFS, Kind::OutOfMemory),
            (ffi::UV_ENOENT, Kind::NotFound),
            (ffi::UV_EAI_NONAME, Kind::NotFound),
            (ffi::UV_EAI_NODATA, Kind::NotFound),
            (ffi::UV_ENOTSUP, Kind::Unsupported),
            (ffi::UV_ENOSYS, Kind::Unsupported),
            (ffi::UV_EEXIST, Kind::AlreadyExists),
            (ffi::UV_EHOSTUNREACH, Kind::HostUnreachable),
            (ffi::UV_ENETUNREACH, Kind::NetworkUnreachable),
            (ffi::UV_ENETDOWN, Kind::NetworkDown),
            (ffi::UV_ECANCELED, Kind::Other),
            (-99999, Kind::Other),
        ];
        for (code, kind) in cases {
            let error = UvError::from_code(code);
            assert_eq!(error.kind(), kind, "{error:?}");
            assert_eq!(UvError::kind_from_name(&error.name()), kind, "{error:?}");
        }
    }
}
