//! Conversions between `std::net::SocketAddr` and the C socket addresses
//! libuv takes and returns.

use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use uv_sys as ffi;

/// A socket address in the C layout, ready to pass to libuv.
pub(crate) enum RawSocketAddr {
    V4(ffi::sockaddr_in),
    V6(ffi::sockaddr_in6),
}

impl RawSocketAddr {
    pub(crate) fn new(address: SocketAddr) -> RawSocketAddr {
        match address {
            SocketAddr::V4(v4) => RawSocketAddr::V4(ffi::sockaddr_in {
                sin_family: libc::AF_INET as ffi::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: ffi::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            }),
            SocketAddr::V6(v6) => RawSocketAddr::V6(ffi::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as ffi::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo().to_be(),
                sin6_addr: ffi::in6_addr {
                    __in6_u: ffi::in6_addr__bindgen_ty_1 {
                        __u6_addr8: v6.ip().octets(),
                    },
                },
                sin6_scope_id: v6.scope_id(),
            }),
        }
    }

    /// A pointer valid for as long as `self` is borrowed.
    pub(crate) fn as_ptr(&self) -> *const ffi::sockaddr {
        match self {
            RawSocketAddr::V4(v4) => (v4 as *const ffi::sockaddr_in).cast(),
            RawSocketAddr::V6(v6) => (v6 as *const ffi::sockaddr_in6).cast(),
        }
    }
}

/// Zeroed storage large enough for any socket address, for libuv to fill.
pub(crate) fn empty_storage() -> MaybeUninit<ffi::sockaddr_storage> {
    MaybeUninit::zeroed()
}

/// Reads a socket address that libuv (or the kernel) wrote.
///
/// # Safety
///
/// `address` must point at a valid socket address of the size its family
/// implies (for example storage filled by `getsockname`), or be null.
pub(crate) unsafe fn read(address: *const ffi::sockaddr) -> Option<SocketAddr> {
    if address.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees a valid socket address; every family
    // starts with its `sa_family_t` field.
    let family = i32::from(unsafe { (*address).sa_family });
    if family == libc::AF_INET {
        // SAFETY: the family says this is a sockaddr_in.
        let v4 = unsafe { std::ptr::read_unaligned(address.cast::<ffi::sockaddr_in>()) };
        let ip = Ipv4Addr::from(v4.sin_addr.s_addr.to_ne_bytes());
        Some(SocketAddr::V4(SocketAddrV4::new(
            ip,
            u16::from_be(v4.sin_port),
        )))
    } else if family == libc::AF_INET6 {
        // SAFETY: the family says this is a sockaddr_in6.
        let v6 = unsafe { std::ptr::read_unaligned(address.cast::<ffi::sockaddr_in6>()) };
        // SAFETY: every variant of the union is 16 plain bytes.
        let octets = unsafe { v6.sin6_addr.__in6_u.__u6_addr8 };
        Some(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(octets),
            u16::from_be(v6.sin6_port),
            u32::from_be(v6.sin6_flowinfo),
            v6.sin6_scope_id,
        )))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for text in ["127.0.0.1:8080", "[::1]:443", "[fe80::1%3]:9", "0.0.0.0:0"] {
            let address: SocketAddr = text.parse().unwrap();
            let raw = RawSocketAddr::new(address);
            // SAFETY: `raw` is a valid socket address borrowed for the call.
            let back = unsafe { read(raw.as_ptr()) };
            assert_eq!(back, Some(address), "{text}");
        }
    }
}
