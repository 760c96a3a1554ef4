//! A TCP echo server written directly against the raw libuv bindings.
//!
//! Usage: `cargo run -p uv-sys --example raw_echo -- [ADDRESS] [PORT]`
//! (defaults: `127.0.0.1` and port 0, which picks a free port). The server
//! prints `listening on ADDRESS:PORT` once it accepts connections.
//!
//! This is the ceiling the safe layers are measured against, so it does what a
//! libuv program tuned by hand does:
//! - one read buffer for the whole loop, lent to every read: libuv hands a
//!   buffer from the alloc callback to exactly one read callback before it
//!   allocates again, and the echo never keeps a pointer into it, so no
//!   connection needs a buffer of its own (no malloc per read, and no 64 KiB
//!   per idle connection);
//! - echo with `uv_try_write` first, so the common case copies nothing and
//!   allocates nothing; only what the kernel did not take is copied into a
//!   write request;
//! - backpressure: reading pauses while more than `HIGH_WATER` bytes wait to
//!   be written, and resumes when the queue drains;
//! - every connection is freed in its close callback, never earlier.
//!
//! It follows the unsafe discipline of `uv-handle`: one unsafe operation per
//! block, each with a `// SAFETY:` comment, and every pointer libuv gets is
//! projected from the one `Box::into_raw` returned (never from a reference
//! to a field), so the casts back to the whole struct in the callbacks, and
//! the `Box::from_raw` that frees it, stay within its provenance.

#![deny(
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block
)]

use std::ffi::{CStr, c_char, c_int};
use std::io::Write;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::ptr;

use uv_sys as ffi;

/// Size of the loop's read buffer.
const READ_BUFFER_SIZE: usize = 64 * 1024;

thread_local! {
    /// The loop's read buffer, on the loop's thread. Each read callback is
    /// done with it before the next alloc callback.
    static READ_BUFFER: std::cell::UnsafeCell<[u8; READ_BUFFER_SIZE]> =
        const { std::cell::UnsafeCell::new([0; READ_BUFFER_SIZE]) };
}
/// Reading pauses while more than this many bytes are queued for writing.
const HIGH_WATER: usize = 1024 * 1024;

/// One client connection. `tcp` is the first field, so a `*mut uv_tcp_t` (or
/// the `uv_handle_t` / `uv_stream_t` views of it) is also a `*mut Connection`.
#[repr(C)]
struct Connection {
    tcp: ffi::uv_tcp_t,
    reading: bool,
}

/// A write of the bytes the kernel did not take at once. `req` is the first
/// field, so a `*mut uv_write_t` is also a `*mut PendingWrite`.
#[repr(C)]
struct PendingWrite {
    req: ffi::uv_write_t,
    bytes: Vec<u8>,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let address: IpAddr = args
        .next()
        .map(|text| text.parse().expect("ADDRESS must be an IP address"))
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let port: u16 = args
        .next()
        .map(|text| text.parse().expect("PORT must be a number from 0 to 65535"))
        .unwrap_or(0);
    if let Err(message) = serve(SocketAddr::new(address, port)) {
        eprintln!("raw_echo: {message}");
        std::process::exit(1);
    }
}

fn serve(address: SocketAddr) -> Result<(), String> {
    // SAFETY: uv_default_loop returns the process-wide loop, initialised on first use.
    let event_loop = unsafe { ffi::uv_default_loop() };
    if event_loop.is_null() {
        return Err("uv_default_loop failed".into());
    }
    // Never freed: the server lives as long as the process.
    let server = Box::into_raw(Box::new(MaybeUninit::<ffi::uv_tcp_t>::uninit())).cast();
    // SAFETY: `server` points at memory we own for the life of the process,
    // which uv_tcp_init initialises; the loop is initialised and ours.
    let rc = unsafe { ffi::uv_tcp_init(event_loop, server) };
    check(rc, "uv_tcp_init")?;
    let storage = socket_address::from_socket_addr(address);
    // SAFETY: `server` is initialised; `storage` holds a valid sockaddr for
    // its family, and libuv copies it.
    let rc = unsafe { ffi::uv_tcp_bind(server, ptr::addr_of!(storage).cast(), 0) };
    check(rc, "uv_tcp_bind")?;
    // SAFETY: `server` is an initialised, bound TCP handle.
    let rc = unsafe { ffi::uv_listen(server.cast(), 1024, Some(on_connection)) };
    check(rc, "uv_listen")?;
    let bound = local_address(server)?;
    println!("listening on {bound}");
    std::io::stdout()
        .flush()
        .map_err(|error| error.to_string())?;
    // SAFETY: the loop is initialised, not running, and we run it on the
    // thread that owns it.
    let rc = unsafe { ffi::uv_run(event_loop, ffi::UV_RUN_DEFAULT) };
    check(rc, "uv_run")?;
    Ok(())
}

extern "C" fn on_connection(server: *mut ffi::uv_stream_t, status: c_int) {
    if status < 0 {
        eprintln!("raw_echo: connection failed: {}", error_name(status));
        return;
    }
    let connection = Box::into_raw(Box::new(Connection {
        // SAFETY: an all-zero uv_tcp_t is a valid starting point for uv_tcp_init.
        tcp: unsafe { MaybeUninit::zeroed().assume_init() },
        reading: false,
    }));
    // SAFETY: `connection` is a fresh allocation that stays put until
    // on_close; the projection creates no reference, so `tcp` keeps the
    // provenance of the whole box, which on_close frees through it.
    let tcp = unsafe { ptr::addr_of_mut!((*connection).tcp) };
    // SAFETY: `server` is the listening handle libuv called us for.
    let event_loop = unsafe { (*server).loop_ };
    // SAFETY: `event_loop` is the server's loop, running on this thread;
    // `tcp` is zeroed memory that does not move.
    let rc = unsafe { ffi::uv_tcp_init(event_loop, tcp) };
    if rc < 0 {
        // SAFETY: uv_tcp_init failed, so libuv holds no pointer to `connection`.
        drop(unsafe { Box::from_raw(connection) });
        return;
    }
    // SAFETY: both handles are initialised TCP handles on the same loop.
    if unsafe { ffi::uv_accept(server, tcp.cast()) } < 0 {
        // SAFETY: `tcp` is initialised and not yet closing.
        unsafe { ffi::uv_close(tcp.cast(), Some(on_close)) };
        return;
    }
    // Echo servers answer small messages at once.
    // SAFETY: `tcp` is an initialised, connected TCP handle.
    unsafe { ffi::uv_tcp_nodelay(tcp, 1) };
    start_reading(connection);
}

/// Resumes reading a connection that is not closing, unless it reads already.
fn start_reading(connection: *mut Connection) {
    // SAFETY: `connection` is live until its close callback, which has not
    // run; libuv never touches `reading`, and the reference ends here.
    let reading = unsafe { &mut (*connection).reading };
    if *reading {
        return;
    }
    *reading = true;
    // SAFETY: as above; the projection keeps the pointer's provenance.
    let stream = unsafe { ptr::addr_of_mut!((*connection).tcp) }.cast();
    // SAFETY: the handle is initialised, connected and not closing (callers
    // check), and we are on the loop's thread.
    unsafe { ffi::uv_read_start(stream, Some(on_alloc), Some(on_read)) };
}

extern "C" fn on_alloc(_handle: *mut ffi::uv_handle_t, _suggested: usize, buf: *mut ffi::uv_buf_t) {
    // The thread-local lives as long as the loop's thread, so the pointer
    // stays valid for every read on this loop.
    let base = READ_BUFFER.with(|buffer| buffer.get().cast::<c_char>());
    // SAFETY: `buf` is libuv's out-parameter; the loop's buffer is lent to
    // one read at a time (see READ_BUFFER).
    unsafe {
        *buf = ffi::uv_buf_t {
            base,
            len: READ_BUFFER_SIZE,
        }
    };
}

extern "C" fn on_read(stream: *mut ffi::uv_stream_t, nread: isize, buf: *const ffi::uv_buf_t) {
    let connection = stream.cast::<Connection>();
    if nread == ffi::UV_EOF as isize {
        // The client is done sending: finish the queued echoes, send FIN, then close.
        let shutdown = Box::into_raw(Box::new(MaybeUninit::<ffi::uv_shutdown_t>::zeroed()));
        // SAFETY: `shutdown` stays allocated until on_shutdown frees it; the
        // stream is live and not closing (libuv is reading it).
        let rc = unsafe { ffi::uv_shutdown(shutdown.cast(), stream, Some(on_shutdown)) };
        if rc < 0 {
            // SAFETY: uv_shutdown failed, so libuv holds no pointer to `shutdown`.
            drop(unsafe { Box::from_raw(shutdown) });
            // SAFETY: the handle is live and not closing (libuv is reading it).
            unsafe { ffi::uv_close(stream.cast(), Some(on_close)) };
        }
        return;
    }
    if nread < 0 {
        // A read error: close; queued writes are cancelled and freed by their callbacks.
        // SAFETY: the handle is live and not closing (libuv reads only
        // handles that are not closing, and nothing closed it since).
        unsafe { ffi::uv_close(stream.cast(), Some(on_close)) };
        return;
    }
    if nread == 0 {
        return;
    }
    let length = nread as usize;
    // SAFETY: `buf` is the buffer on_alloc gave libuv, passed back for this call.
    let base = unsafe { (*buf).base };
    // SAFETY: libuv filled `length` bytes of it, and it is not lent again
    // before this callback returns.
    let data = unsafe { std::slice::from_raw_parts(base.cast::<u8>(), length) };
    // SAFETY: the stream is live; the call reads one field. (With an empty
    // write queue, try_write keeps the byte order.)
    let queued = unsafe { ffi::uv_stream_get_write_queue_size(stream) };
    let written = if queued == 0 {
        let out = ffi::uv_buf_t {
            base: data.as_ptr().cast_mut().cast(),
            len: length,
        };
        // SAFETY: the stream is live and not closing; `out` describes
        // `data`, which lives until this call returns.
        let rc = unsafe { ffi::uv_try_write(stream, &out, 1) };
        if rc == ffi::UV_EAGAIN {
            0
        } else if rc < 0 {
            // SAFETY: the handle is live and not closing (as above).
            unsafe { ffi::uv_close(stream.cast(), Some(on_close)) };
            return;
        } else {
            rc as usize
        }
    } else {
        0
    };
    if written == length {
        return;
    }
    let pending = Box::into_raw(Box::new(PendingWrite {
        // SAFETY: an all-zero uv_write_t is valid before uv_write fills it.
        req: unsafe { MaybeUninit::zeroed().assume_init() },
        bytes: data[written..].to_vec(),
    }));
    // SAFETY: `pending` is a fresh allocation; the reference only serves to
    // describe the bytes below, before libuv sees the request.
    let bytes = unsafe { &(*pending).bytes };
    // The bytes live in the Vec's heap buffer, which stays put until
    // on_write frees the request; libuv only reads them.
    let out = ffi::uv_buf_t {
        base: bytes.as_ptr().cast_mut().cast(),
        len: bytes.len(),
    };
    // SAFETY: as above; the projection creates no reference, so `req` keeps
    // the provenance of the whole box, which on_write frees through it.
    let req = unsafe { ptr::addr_of_mut!((*pending).req) };
    // SAFETY: `req` and the bytes `out` describes stay allocated until
    // on_write; libuv copies the uv_buf_t itself; the stream is live and
    // not closing.
    let rc = unsafe { ffi::uv_write(req, stream, &out, 1, Some(on_write)) };
    if rc < 0 {
        // SAFETY: uv_write failed, so libuv holds no pointer to `pending`.
        drop(unsafe { Box::from_raw(pending) });
        // SAFETY: the handle is live and not closing.
        unsafe { ffi::uv_close(stream.cast(), Some(on_close)) };
        return;
    }
    // SAFETY: the stream is live; the call reads one field.
    if unsafe { ffi::uv_stream_get_write_queue_size(stream) } > HIGH_WATER {
        // SAFETY: `connection` is live until on_close; libuv never touches
        // `reading`.
        unsafe { (*connection).reading = false };
        // SAFETY: the stream is live and not closing; pausing reads is
        // allowed at any time on the loop's thread.
        unsafe { ffi::uv_read_stop(stream) };
    }
}

extern "C" fn on_write(req: *mut ffi::uv_write_t, status: c_int) {
    // SAFETY: `req` is the first field of the PendingWrite boxed in on_read
    // (#[repr(C)]), projected from the pointer Box::into_raw returned, and
    // libuv is done with it.
    let pending = unsafe { Box::from_raw(req.cast::<PendingWrite>()) };
    let stream = pending.req.handle;
    drop(pending);
    if status < 0 {
        // ECANCELED: the connection is closing and frees itself in on_close.
        if status != ffi::UV_ECANCELED {
            close_once(stream);
        }
        return;
    }
    // SAFETY: the stream is live while a write request on it completes.
    let queued = unsafe { ffi::uv_stream_get_write_queue_size(stream) };
    // SAFETY: as above; the call reads the handle's flags. (A closing
    // handle is never read again.)
    if queued <= HIGH_WATER / 2 && unsafe { ffi::uv_is_closing(stream.cast()) } == 0 {
        start_reading(stream.cast());
    }
}

extern "C" fn on_shutdown(req: *mut ffi::uv_shutdown_t, _status: c_int) {
    // SAFETY: `req` is the pointer Box::into_raw returned in on_read (cast),
    // and libuv is done with it.
    let shutdown = unsafe { Box::from_raw(req.cast::<MaybeUninit<ffi::uv_shutdown_t>>()) };
    // SAFETY: libuv filled the request before calling us.
    let stream = unsafe { shutdown.assume_init_ref().handle };
    close_once(stream);
}

/// Closes a connection from a request callback unless it is closing already.
fn close_once(stream: *mut ffi::uv_stream_t) {
    // SAFETY: the stream outlives its requests (their callbacks run before
    // its close callback); the call reads the handle's flags.
    let closing = unsafe { ffi::uv_is_closing(stream.cast()) } != 0;
    if !closing {
        // SAFETY: the stream is live and not closing; we are on the loop's
        // thread.
        unsafe { ffi::uv_close(stream.cast(), Some(on_close)) };
    }
}

extern "C" fn on_close(handle: *mut ffi::uv_handle_t) {
    // SAFETY: every handle closed with this callback is the `tcp` field (the
    // first, #[repr(C)]) of a boxed Connection, projected from the pointer
    // Box::into_raw returned; libuv never touches it after this callback.
    drop(unsafe { Box::from_raw(handle.cast::<Connection>()) });
}

fn local_address(server: *mut ffi::uv_tcp_t) -> Result<SocketAddr, String> {
    let mut storage = MaybeUninit::<ffi::sockaddr_storage>::zeroed();
    let mut length = std::mem::size_of::<ffi::sockaddr_storage>() as c_int;
    // SAFETY: `server` is bound; `storage` is large enough for any address.
    let rc = unsafe { ffi::uv_tcp_getsockname(server, storage.as_mut_ptr().cast(), &mut length) };
    check(rc, "uv_tcp_getsockname")?;
    let mut text = [0 as c_char; 64];
    // SAFETY: storage was filled by getsockname; its family field is valid.
    let family = unsafe { (*storage.as_ptr()).ss_family } as c_int;
    let port = if family == socket_address::AF_INET6 {
        // SAFETY: the family says this is a sockaddr_in6.
        let v6 = unsafe { &*storage.as_ptr().cast::<ffi::sockaddr_in6>() };
        // SAFETY: `text` has room for any IPv6 address.
        unsafe { ffi::uv_ip6_name(v6, text.as_mut_ptr(), text.len()) };
        u16::from_be(v6.sin6_port)
    } else {
        // SAFETY: the family says this is a sockaddr_in.
        let v4 = unsafe { &*storage.as_ptr().cast::<ffi::sockaddr_in>() };
        // SAFETY: `text` has room for any IPv4 address.
        unsafe { ffi::uv_ip4_name(v4, text.as_mut_ptr(), text.len()) };
        u16::from_be(v4.sin_port)
    };
    // SAFETY: uv_ip*_name wrote a NUL-terminated string into `text`.
    let ip: IpAddr = unsafe { CStr::from_ptr(text.as_ptr()) }
        .to_str()
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or("unreadable local address")?;
    Ok(SocketAddr::new(ip, port))
}

fn check(rc: c_int, what: &str) -> Result<(), String> {
    if rc < 0 {
        Err(format!("{what}: {}", error_name(rc)))
    } else {
        Ok(())
    }
}

fn error_name(code: c_int) -> String {
    // SAFETY: uv_err_name takes any code.
    let name = unsafe { ffi::uv_err_name(code) };
    // SAFETY: uv_strerror takes any code.
    let message = unsafe { ffi::uv_strerror(code) };
    format!("{} ({})", static_text(name), static_text(message))
}

/// The text of a string libuv returned from uv_err_name or uv_strerror.
fn static_text(text: *const c_char) -> String {
    // SAFETY: both return a NUL-terminated string that is never freed (a
    // static one, or one they leak for unknown codes).
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

/// Socket addresses in the C layout, built with libuv's own parsers.
mod socket_address {
    use std::ffi::{CString, c_int};
    use std::mem::MaybeUninit;
    use std::net::SocketAddr;

    use uv_sys as ffi;

    pub const AF_INET6: c_int = 10;
    pub type Storage = ffi::sockaddr_storage;

    pub fn from_socket_addr(address: SocketAddr) -> Storage {
        let mut storage = MaybeUninit::<Storage>::zeroed();
        let ip = CString::new(address.ip().to_string()).expect("no NUL in an IP address");
        let rc = match address {
            // SAFETY: `ip` is NUL-terminated; sockaddr_storage has room for either family.
            SocketAddr::V4(_) => unsafe {
                ffi::uv_ip4_addr(
                    ip.as_ptr(),
                    address.port().into(),
                    storage.as_mut_ptr().cast(),
                )
            },
            // SAFETY: as above.
            SocketAddr::V6(_) => unsafe {
                ffi::uv_ip6_addr(
                    ip.as_ptr(),
                    address.port().into(),
                    storage.as_mut_ptr().cast(),
                )
            },
        };
        assert_eq!(rc, 0, "a formatted IP address always parses");
        // SAFETY: zeroed, then filled by uv_ip*_addr.
        unsafe { storage.assume_init() }
    }
}
