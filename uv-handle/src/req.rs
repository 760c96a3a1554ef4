//! Requests: one-shot operations whose memory libuv borrows until their
//! callback runs.
//!
//! A request is a `Box` holding the `uv_*_t` (first field), everything libuv
//! reads while it is in flight (write buffers, for example) and the Rust
//! callback. The box is leaked when libuv accepts the request and rebuilt in
//! the completion callback, which libuv calls exactly once, also when the
//! handle is closed first (with `ECANCELED`). So nothing libuv reads is ever
//! freed early, and nothing leaks.
//!
//! Pointer provenance: libuv gets a pointer to the `uv_*_t` projected from
//! the one `Box::into_raw` returned, without a reference in between, so the
//! pointer libuv passes back to the completion callback is valid for the
//! whole request, and `Box::from_raw` on it is too.
//!
//! Every operation that takes a completion callback calls it exactly once:
//! from the loop when the request completes, or at once (before the
//! operation returns) with the error when libuv refuses to start it.

use std::cell::UnsafeCell;
use std::ffi::{CString, c_int};
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::ptr;

use uv_sys as ffi;

use crate::callback;
use crate::error::{UvError, check};
use crate::event_loop::LoopRef;
use crate::socket_address;

/// A request in flight: the C request first, then what it borrows.
#[repr(C)]
pub(crate) struct Request<R, D, F> {
    raw: UnsafeCell<R>,
    data: D,
    on_done: F,
}

/// Submits a request: boxes it, hands it to `start`, and, if libuv refuses
/// it, passes the callback and the error to `refused` right away.
///
/// `start` gets the request pointer and the borrowed data; it returns the
/// libuv code of the submitting call.
pub(crate) fn submit<R, D, F>(
    data: D,
    on_done: F,
    start: impl FnOnce(*mut R, &D) -> c_int,
    refused: impl FnOnce(F, UvError),
) {
    let request = Box::into_raw(Box::new(Request {
        // SAFETY: libuv requests are plain data; all zeroes is a valid value
        // to hand to the submitting call, which initialises the request.
        raw: UnsafeCell::new(unsafe { MaybeUninit::<R>::zeroed().assume_init() }),
        data,
        on_done,
    }));
    // SAFETY: `request` is a live allocation we own until libuv accepts it.
    // No reference is created, so `raw` keeps the provenance of the whole
    // box, which `complete` rebuilds from it.
    let raw = UnsafeCell::raw_get(unsafe { ptr::addr_of!((*request).raw) });
    // SAFETY: as above; libuv never touches `data`, and the reference ends
    // before the request can complete (libuv calls no callback from inside
    // the submitting call).
    let data = unsafe { &(*request).data };
    if let Err(error) = check(start(raw, data)) {
        // SAFETY: libuv refused the request, so it holds no pointer to it.
        let request = unsafe { Box::from_raw(request) };
        refused(request.on_done, error);
    }
}

/// Rebuilds a completed request and passes its callback to `invoke`, inside
/// the panic guard of `event_loop`.
///
/// # Safety
///
/// `raw` must be the request of a `Request<R, D, F>` submitted by [`submit`]
/// whose completion callback libuv is running now (so libuv is done with it).
pub(crate) unsafe fn complete<R, D, F>(event_loop: &LoopRef, raw: *mut R, invoke: impl FnOnce(F)) {
    // By the contract above, `raw` is the first field of a leaked
    // `Box<Request<R, D, F>>` (#[repr(C)]), projected from the pointer
    // `Box::into_raw` returned (`submit`).
    // SAFETY: so it is valid for the whole box, which nothing else refers to.
    let request = unsafe { Box::from_raw(raw.cast::<Request<R, D, F>>()) };
    let Request { data, on_done, .. } = *request;
    callback::catch(event_loop, move || invoke(on_done));
    callback::catch_detached("dropping a request's buffers", move || drop(data));
}

/// The loop a request's handle belongs to.
///
/// # Safety
///
/// `handle` must be a live handle opened by this crate.
pub(crate) unsafe fn handle_loop<'a>(handle: *mut ffi::uv_stream_t) -> &'a LoopRef {
    // SAFETY: the caller guarantees a live handle; `loop_` is a plain field.
    let raw_loop = unsafe { (*handle).loop_ };
    // SAFETY: live handles point at their loop, whose LoopRef outlives them.
    unsafe { LoopRef::from_raw(raw_loop) }
}

/// Data a write request keeps alive: one buffer or several.
pub(crate) trait WriteData: 'static {
    /// Describes the bytes for libuv and calls `submit` with the `uv_buf_t`s.
    fn with_bufs<R>(&self, submit: impl FnOnce(&[ffi::uv_buf_t]) -> R) -> R;
}

fn describe(bytes: &[u8]) -> ffi::uv_buf_t {
    ffi::uv_buf_t {
        // libuv never writes through the buffers of a write request.
        base: bytes.as_ptr().cast_mut().cast(),
        len: bytes.len(),
    }
}

/// An owned buffer written from an offset on: `bytes[offset..]`, without
/// copying (the rest of a partial `uv_try_write`, or all of it at 0).
pub(crate) struct OwnedTail {
    bytes: Vec<u8>,
    offset: usize,
}

impl OwnedTail {
    /// `EINVAL` when `offset` is past the end of `bytes`.
    pub(crate) fn new(bytes: Vec<u8>, offset: usize) -> Result<OwnedTail, UvError> {
        if offset > bytes.len() {
            Err(UvError::EINVAL)
        } else {
            Ok(OwnedTail { bytes, offset })
        }
    }
}

impl WriteData for OwnedTail {
    fn with_bufs<R>(&self, submit: impl FnOnce(&[ffi::uv_buf_t]) -> R) -> R {
        // `new` checked that the offset is within the buffer.
        submit(&[describe(&self.bytes[self.offset..])])
    }
}

impl WriteData for Vec<Vec<u8>> {
    fn with_bufs<R>(&self, submit: impl FnOnce(&[ffi::uv_buf_t]) -> R) -> R {
        let bufs: Vec<ffi::uv_buf_t> = self.iter().map(|bytes| describe(bytes)).collect();
        submit(&bufs)
    }
}

/// Resolves `node` on `event_loop`'s thread pool and calls `on_done` on the
/// loop thread with every address found (duplicates removed, order kept).
///
/// Wraps `uv_getaddrinfo` and `uv_freeaddrinfo`. libuv copies `node`, so
/// the request owns only the callback.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use uv_handle::{getaddrinfo, Loop, RunMode};
///
/// let event_loop = Loop::new()?;
/// let found = Rc::new(RefCell::new(None));
/// let slot = found.clone();
/// getaddrinfo(&event_loop, "localhost", move |result| *slot.borrow_mut() = Some(result));
/// event_loop.run(RunMode::Default)?;
/// let addresses = found.borrow_mut().take().unwrap()?;
/// assert!(addresses.iter().any(|ip| ip.is_loopback()));
/// # Ok::<(), uv_handle::UvError>(())
/// ```
#[doc(alias = "uv_getaddrinfo")]
pub fn getaddrinfo<F>(event_loop: &LoopRef, node: &str, on_done: F)
where
    F: FnOnce(Result<Vec<IpAddr>, UvError>) + 'static,
{
    let Ok(node) = CString::new(node) else {
        on_done(Err(UvError::EINVAL));
        return;
    };
    if event_loop.is_closed() {
        on_done(Err(UvError::EBADF));
        return;
    }
    // SAFETY: addrinfo is plain data; zero is "no hints" for every field.
    let mut hints: ffi::addrinfo = unsafe { MaybeUninit::zeroed().assume_init() };
    hints.ai_socktype = libc::SOCK_STREAM;
    submit(
        (),
        on_done,
        |raw: *mut ffi::uv_getaddrinfo_t, _| {
            // SAFETY: the loop is open and we are on its thread; `raw` lives
            // until the callback; libuv copies `node` and `hints`.
            unsafe {
                ffi::uv_getaddrinfo(
                    event_loop.as_raw(),
                    raw,
                    Some(getaddrinfo_cb::<F>),
                    node.as_ptr(),
                    std::ptr::null(),
                    &hints,
                )
            }
        },
        |on_done, error| on_done(Err(error)),
    );
}

extern "C" fn getaddrinfo_cb<F>(
    raw: *mut ffi::uv_getaddrinfo_t,
    status: c_int,
    list: *mut ffi::addrinfo,
) where
    F: FnOnce(Result<Vec<IpAddr>, UvError>),
{
    let result = check(status).map(|_| {
        let mut addresses: Vec<IpAddr> = Vec::new();
        let mut entry = list;
        while !entry.is_null() {
            // SAFETY: libuv hands us the list getaddrinfo built; each entry
            // stays valid, and unchanged, until uv_freeaddrinfo below.
            let entry_fields = unsafe { &*entry };
            let (raw_address, next) = (entry_fields.ai_addr, entry_fields.ai_next);
            // SAFETY: the entry's address is a socket address of the family
            // it says, valid until uv_freeaddrinfo below.
            let address = unsafe { socket_address::read(raw_address) };
            if let Some(ip) = address.map(|address: SocketAddr| address.ip()) {
                if !addresses.contains(&ip) {
                    addresses.push(ip);
                }
            }
            entry = next;
        }
        addresses
    });
    // SAFETY: `list` came from this request (null is allowed); we are done with it.
    unsafe { ffi::uv_freeaddrinfo(list) };
    // SAFETY: `raw` is live until this callback returns; `loop_` is a plain field.
    let raw_loop = unsafe { (*raw).loop_ };
    // SAFETY: that is the loop the request was submitted on, a loop of this
    // crate, alive while it has a request in flight.
    let event_loop = unsafe { LoopRef::from_raw(raw_loop) };
    // SAFETY: `raw` was submitted by `getaddrinfo` as a Request<_, (), F>,
    // and libuv is running its completion callback.
    unsafe { complete::<ffi::uv_getaddrinfo_t, (), F>(event_loop, raw, |on_done| on_done(result)) };
}
