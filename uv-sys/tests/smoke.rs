//! Link and layout checks: the committed bindings describe the libuv we link.

use std::ffi::CStr;
use std::mem::{MaybeUninit, size_of};

use uv_sys as ffi;

#[test]
fn version_is_the_vendored_one() {
    // SAFETY: uv_version_string returns a pointer to a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(ffi::uv_version_string()) };
    assert_eq!(version.to_str().unwrap(), "1.53.0");
    // SAFETY: uv_version has no preconditions.
    let hex = unsafe { ffi::uv_version() };
    assert_eq!(hex, (1 << 16) | (53 << 8));
}

#[test]
fn handle_sizes_match_the_library() {
    let expected: &[(ffi::uv_handle_type, usize, &str)] = &[
        (ffi::UV_ASYNC, size_of::<ffi::uv_async_t>(), "uv_async_t"),
        (ffi::UV_CHECK, size_of::<ffi::uv_check_t>(), "uv_check_t"),
        (
            ffi::UV_FS_EVENT,
            size_of::<ffi::uv_fs_event_t>(),
            "uv_fs_event_t",
        ),
        (
            ffi::UV_FS_POLL,
            size_of::<ffi::uv_fs_poll_t>(),
            "uv_fs_poll_t",
        ),
        (ffi::UV_HANDLE, size_of::<ffi::uv_handle_t>(), "uv_handle_t"),
        (ffi::UV_IDLE, size_of::<ffi::uv_idle_t>(), "uv_idle_t"),
        (ffi::UV_NAMED_PIPE, size_of::<ffi::uv_pipe_t>(), "uv_pipe_t"),
        (ffi::UV_POLL, size_of::<ffi::uv_poll_t>(), "uv_poll_t"),
        (
            ffi::UV_PREPARE,
            size_of::<ffi::uv_prepare_t>(),
            "uv_prepare_t",
        ),
        (
            ffi::UV_PROCESS,
            size_of::<ffi::uv_process_t>(),
            "uv_process_t",
        ),
        (ffi::UV_STREAM, size_of::<ffi::uv_stream_t>(), "uv_stream_t"),
        (ffi::UV_TCP, size_of::<ffi::uv_tcp_t>(), "uv_tcp_t"),
        (ffi::UV_TIMER, size_of::<ffi::uv_timer_t>(), "uv_timer_t"),
        (ffi::UV_TTY, size_of::<ffi::uv_tty_t>(), "uv_tty_t"),
        (ffi::UV_UDP, size_of::<ffi::uv_udp_t>(), "uv_udp_t"),
        (ffi::UV_SIGNAL, size_of::<ffi::uv_signal_t>(), "uv_signal_t"),
    ];
    // Every handle type between the first and the last is listed above.
    assert_eq!(expected.len(), (ffi::UV_HANDLE_TYPE_MAX - 2) as usize);
    for &(handle_type, bound_size, name) in expected {
        // SAFETY: uv_handle_size accepts any uv_handle_type value.
        let library_size = unsafe { ffi::uv_handle_size(handle_type) };
        assert_eq!(bound_size, library_size, "size of {name}");
    }
}

#[test]
fn request_sizes_match_the_library() {
    let expected: &[(ffi::uv_req_type, usize, &str)] = &[
        (ffi::UV_REQ, size_of::<ffi::uv_req_t>(), "uv_req_t"),
        (
            ffi::UV_CONNECT,
            size_of::<ffi::uv_connect_t>(),
            "uv_connect_t",
        ),
        (ffi::UV_WRITE, size_of::<ffi::uv_write_t>(), "uv_write_t"),
        (
            ffi::UV_SHUTDOWN,
            size_of::<ffi::uv_shutdown_t>(),
            "uv_shutdown_t",
        ),
        (
            ffi::UV_UDP_SEND,
            size_of::<ffi::uv_udp_send_t>(),
            "uv_udp_send_t",
        ),
        (ffi::UV_FS, size_of::<ffi::uv_fs_t>(), "uv_fs_t"),
        (ffi::UV_WORK, size_of::<ffi::uv_work_t>(), "uv_work_t"),
        (
            ffi::UV_GETADDRINFO,
            size_of::<ffi::uv_getaddrinfo_t>(),
            "uv_getaddrinfo_t",
        ),
        (
            ffi::UV_GETNAMEINFO,
            size_of::<ffi::uv_getnameinfo_t>(),
            "uv_getnameinfo_t",
        ),
        (ffi::UV_RANDOM, size_of::<ffi::uv_random_t>(), "uv_random_t"),
    ];
    assert_eq!(expected.len(), (ffi::UV_REQ_TYPE_MAX - 1) as usize);
    for &(request_type, bound_size, name) in expected {
        // SAFETY: uv_req_size accepts any uv_req_type value.
        let library_size = unsafe { ffi::uv_req_size(request_type) };
        assert_eq!(bound_size, library_size, "size of {name}");
    }
    // SAFETY: uv_loop_size has no preconditions.
    assert_eq!(size_of::<ffi::uv_loop_t>(), unsafe { ffi::uv_loop_size() });
}

#[test]
fn a_loop_can_be_created_run_and_closed() {
    let mut event_loop = MaybeUninit::<ffi::uv_loop_t>::uninit();
    // SAFETY: uv_loop_init initialises the loop memory we own and do not move.
    let rc = unsafe { ffi::uv_loop_init(event_loop.as_mut_ptr()) };
    assert_eq!(rc, 0);
    let event_loop = event_loop.as_mut_ptr();
    // SAFETY: the loop was initialised above and has no handles, so it returns at once.
    let rc = unsafe { ffi::uv_run(event_loop, ffi::UV_RUN_DEFAULT) };
    assert_eq!(rc, 0, "a loop without handles has nothing left to do");
    // SAFETY: the loop is initialised, not running, and holds no handles.
    let rc = unsafe { ffi::uv_loop_close(event_loop) };
    assert_eq!(rc, 0);
    // An error name round-trips through the library.
    // SAFETY: uv_err_name returns a static string for a known code.
    let name = unsafe { CStr::from_ptr(ffi::uv_err_name(ffi::UV_EOF)) };
    assert_eq!(name.to_str().unwrap(), "EOF");
}
