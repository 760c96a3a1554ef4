//! Error values: libuv names for refused, reset, broken pipe and EOF, the
//! listen error variants, `Display`, the conversions that let `?` pass every
//! error type on as `io::Error` or `TcpErrData`, and the message of a
//! blocking call refused on a loop thread.

use std::io::{self, ErrorKind};
use std::thread;
use std::time::Duration;

use uvtcp::*;
use uvtcp_tests::*;

fn err(name: &str) -> TcpErrData {
    TcpErrData {
        err_name: name.to_string(),
        err_msg: format!("message of {name}"),
    }
}

#[test]
fn refused_connect_is_the_connection_refused_variant() {
    bounded(10, || {
        let iotask = new_iotask();
        let port = free_port(localhost_v4());
        match connect(localhost_v4(), port, &iotask) {
            Err(TcpConnectErrData::ConnectionRefused) => {}
            Err(other) => panic!("expected ConnectionRefused, got {other:?}"),
            Ok(_) => panic!("connect to a closed port returned Ok"),
        }
    });
}

#[test]
fn peer_close_reset_gives_econnreset_on_read() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        t!(client.close_reset());
        let error = server
            .read(READ_TIMEOUT_MS)
            .expect_err("read after a reset returned Ok");
        assert_eq!(error.err_name, "ECONNRESET", "got {error:?}");
        assert!(!error.err_msg.is_empty());
        assert_eq!(
            std::io::Error::from(error).kind(),
            ErrorKind::ConnectionReset
        );
    });
}

#[test]
fn read_after_a_reset_repeats_the_reset() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        t!(client.close_reset());
        for attempt in 0..3 {
            let error = server
                .read(READ_TIMEOUT_MS)
                .expect_err("read after a reset returned Ok");
            assert_eq!(error.err_name, "ECONNRESET", "attempt {attempt}: {error:?}");
        }
    });
}

#[test]
fn writing_to_a_reset_peer_fails_with_epipe_or_econnreset() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        t!(client.close_reset());
        let mut failure = None;
        for _ in 0..200 {
            match server.write(vec![0u8; 1024]) {
                Ok(()) => thread::sleep(Duration::from_millis(10)),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        let error = failure.expect("200 writes to a reset peer all returned Ok");
        assert!(
            error.err_name == "EPIPE" || error.err_name == "ECONNRESET",
            "expected EPIPE or ECONNRESET, got {error:?}"
        );
        // Later writes fail too.
        let error = server
            .write(&b"again"[..])
            .expect_err("write after a failure returned Ok");
        assert!(
            error.err_name == "EPIPE" || error.err_name == "ECONNRESET",
            "expected EPIPE or ECONNRESET, got {error:?}"
        );
    });
}

#[test]
fn eof_is_reported_repeatedly_as_eof() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        drop(client);
        for attempt in 0..5 {
            let error = server
                .read(READ_TIMEOUT_MS)
                .expect_err("read at EOF returned Ok");
            assert_eq!(error.err_name, "EOF", "attempt {attempt}: {error:?}");
            assert!(!error.err_msg.is_empty());
        }
    });
}

#[test]
fn close_reset_on_an_idle_socket_is_ok() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, _server) = connected_pair(&iotask);
        assert_eq!(client.close_reset(), Ok(()));
    });
}

#[test]
fn tcp_err_data_displays_name_colon_message() {
    let error = TcpErrData {
        err_name: "ECONNRESET".to_string(),
        err_msg: "connection reset by peer".to_string(),
    };
    assert_eq!(error.to_string(), "ECONNRESET: connection reset by peer");
    let as_std_error: &dyn std::error::Error = &error;
    assert_eq!(
        as_std_error.to_string(),
        "ECONNRESET: connection reset by peer"
    );
}

#[test]
fn tcp_err_data_converts_to_io_error_kinds() {
    let cases = [
        ("EOF", ErrorKind::UnexpectedEof),
        ("ETIMEDOUT", ErrorKind::TimedOut),
        ("ECONNRESET", ErrorKind::ConnectionReset),
        ("EPIPE", ErrorKind::BrokenPipe),
    ];
    for (name, kind) in cases {
        let io_error = std::io::Error::from(err(name));
        assert_eq!(io_error.kind(), kind, "{name}");
    }
}

#[test]
fn a_real_read_timeout_converts_to_timed_out() {
    bounded(10, || {
        let iotask = new_iotask();
        let (_client, server) = connected_pair(&iotask);
        let error = server
            .read(50)
            .expect_err("read with nothing sent returned Ok");
        assert_eq!(std::io::Error::from(error).kind(), ErrorKind::TimedOut);
    });
}

#[test]
fn error_types_compare_by_value() {
    assert_eq!(err("EPIPE"), err("EPIPE").clone());
    assert_ne!(err("EPIPE"), err("ECONNRESET"));
    assert_eq!(
        TcpConnectErrData::GenericConnectErr("ENETUNREACH".into(), "network is unreachable".into()),
        TcpConnectErrData::GenericConnectErr("ENETUNREACH".into(), "network is unreachable".into())
    );
    assert_ne!(
        TcpListenErrData::AddressInUse,
        TcpListenErrData::AccessDenied
    );
}

#[test]
fn listen_with_a_port_in_use_is_address_in_use_without_callbacks() {
    bounded(10, || {
        let iotask = new_iotask();
        let holder = std::net::TcpListener::bind((localhost_v4(), 0)).unwrap();
        let port = holder.local_addr().unwrap().port();
        let result = start_listen_server(localhost_v4(), port, &iotask, |_new_conn, _kill| {
            panic!("new_connect_cb ran although bind failed")
        });
        assert_eq!(result.err(), Some(TcpListenErrData::AddressInUse));
    });
}

#[test]
fn read_start_after_a_reset_repeats_the_reset_and_read_stop_is_ok() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        t!(client.close_reset());
        let error = server
            .read(READ_TIMEOUT_MS)
            .expect_err("read after a reset returned Ok");
        assert_eq!(error.err_name, "ECONNRESET");
        let port = t!(server.read_start());
        for attempt in 0..3 {
            let error = port
                .recv_timeout(Duration::from_secs(5))
                .expect_err("recv after a reset returned Ok");
            assert_eq!(error.err_name, "ECONNRESET", "attempt {attempt}: {error:?}");
        }
        assert_eq!(server.read_stop(port), Ok(()));
    });
}

#[test]
fn connect_errors_convert_to_tcp_err_data_and_io_error() {
    let cases = [
        (
            TcpConnectErrData::ConnectionRefused,
            err_data("ECONNREFUSED", "connection refused"),
            ErrorKind::ConnectionRefused,
        ),
        (
            TcpConnectErrData::GenericConnectErr("ETIMEDOUT".into(), "message of ETIMEDOUT".into()),
            err("ETIMEDOUT"),
            ErrorKind::TimedOut,
        ),
        (
            TcpConnectErrData::GenericConnectErr(
                "ENETUNREACH".into(),
                "message of ENETUNREACH".into(),
            ),
            err("ENETUNREACH"),
            ErrorKind::NetworkUnreachable,
        ),
        (
            TcpConnectErrData::GenericConnectErr(
                "EAI_NONAME".into(),
                "message of EAI_NONAME".into(),
            ),
            err("EAI_NONAME"),
            ErrorKind::NotFound,
        ),
        (
            TcpConnectErrData::GenericConnectErr("ECANCELED".into(), "message of ECANCELED".into()),
            err("ECANCELED"),
            ErrorKind::Other,
        ),
    ];
    for (error, data, kind) in cases {
        assert_eq!(error.to_string(), data.to_string(), "{error:?}");
        assert_eq!(TcpErrData::from(error.clone()), data, "{error:?}");
        assert_eq!(
            TcpConnectErrData::from(data.clone()),
            error,
            "back from {data:?}"
        );
        assert_io_error(io::Error::from(error), kind, &data);
    }
}

#[test]
fn listen_errors_convert_to_tcp_err_data_and_io_error() {
    let cases = [
        (
            TcpListenErrData::AddressInUse,
            err_data("EADDRINUSE", "address already in use"),
            ErrorKind::AddrInUse,
        ),
        (
            TcpListenErrData::AccessDenied,
            err_data("EACCES", "permission denied"),
            ErrorKind::PermissionDenied,
        ),
        (
            TcpListenErrData::GenericListenErr(
                "EADDRNOTAVAIL".into(),
                "message of EADDRNOTAVAIL".into(),
            ),
            err("EADDRNOTAVAIL"),
            ErrorKind::AddrNotAvailable,
        ),
        (
            TcpListenErrData::GenericListenErr("EINVAL".into(), "message of EINVAL".into()),
            err("EINVAL"),
            ErrorKind::InvalidInput,
        ),
        (
            TcpListenErrData::GenericListenErr("EMFILE".into(), "message of EMFILE".into()),
            err("EMFILE"),
            ErrorKind::Other,
        ),
    ];
    for (error, data, kind) in cases {
        assert_eq!(error.to_string(), data.to_string(), "{error:?}");
        assert_eq!(TcpErrData::from(error.clone()), data, "{error:?}");
        assert_eq!(
            TcpListenErrData::from(data.clone()),
            error,
            "back from {data:?}"
        );
        assert_io_error(io::Error::from(error), kind, &data);
    }
    // EPERM is refused access too; it comes back as EACCES.
    assert_eq!(
        TcpListenErrData::from(err("EPERM")),
        TcpListenErrData::AccessDenied
    );
}

#[test]
fn a_refused_connect_propagates_with_question_mark() {
    fn into_io_error(port: u16, iotask: &IoTask) -> io::Result<TcpSocket> {
        Ok(connect(localhost_v4(), port, iotask)?)
    }
    fn into_tcp_err_data(port: u16, iotask: &IoTask) -> Result<TcpSocket, TcpErrData> {
        Ok(connect(localhost_v4(), port, iotask)?)
    }
    bounded(10, || {
        let iotask = new_iotask();
        let port = free_port(localhost_v4());
        let error = into_io_error(port, &iotask).expect_err("connect to a closed port");
        assert_io_error(
            error,
            ErrorKind::ConnectionRefused,
            &err_data("ECONNREFUSED", "connection refused"),
        );
        let error = into_tcp_err_data(port, &iotask).expect_err("connect to a closed port");
        assert_eq!(error, err_data("ECONNREFUSED", "connection refused"));
    });
}

#[test]
fn an_address_in_use_propagates_with_question_mark() {
    fn bind_io(port: u16, iotask: &IoTask) -> io::Result<TcpListener> {
        Ok(TcpListener::bind(localhost_v4(), port, 16, iotask)?)
    }
    fn bind_tcp_err_data(port: u16, iotask: &IoTask) -> Result<TcpListener, TcpErrData> {
        Ok(TcpListener::bind(localhost_v4(), port, 16, iotask)?)
    }
    fn listen_io(port: u16, iotask: &IoTask) -> io::Result<()> {
        listen(
            localhost_v4(),
            port,
            16,
            iotask,
            drop,
            |_new_conn, _kill| panic!("new_connect_cb ran although bind failed"),
        )?;
        Ok(())
    }
    bounded(10, || {
        let iotask = new_iotask();
        let holder = t!(TcpListener::bind(localhost_v4(), 0, 16, &iotask));
        let port = t!(holder.local_addr()).port();
        let in_use = err_data("EADDRINUSE", "address already in use");
        let error = bind_io(port, &iotask).expect_err("bind of a port in use");
        assert_io_error(error, ErrorKind::AddrInUse, &in_use);
        let error = listen_io(port, &iotask).expect_err("listen on a port in use");
        assert_io_error(error, ErrorKind::AddrInUse, &in_use);
        let error = bind_tcp_err_data(port, &iotask).expect_err("bind of a port in use");
        assert_eq!(error, in_use);
    });
}

#[test]
fn blocking_calls_in_a_local_task_say_what_to_await_instead() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let listener = t!(TcpListener::bind(localhost_v4(), 0, 16, &iotask));
        let task_handle = iotask.clone();
        let refusals = iotask.spawn_local(move || async move {
            let port = t!(server.read_start());
            let ip = localhost_v4();
            let io_task = &task_handle;
            let refusals: Vec<(&str, &str, Option<TcpErrData>)> = vec![
                ("read", "`read_future`", server.read(100).err()),
                ("write", "`write_future`", client.write("x").err()),
                ("recv", "`recv_async`", port.recv().err()),
                ("accept", "`accept_future`", listener.accept().err()),
                (
                    "connect",
                    "`connect_future`",
                    connect(ip, 1, io_task).err().map(Into::into),
                ),
                (
                    "connect_host",
                    "`connect_future`",
                    connect_host("localhost", 1, io_task, 100)
                        .err()
                        .map(Into::into),
                ),
                (
                    "bind",
                    "`spawn_local`",
                    TcpListener::bind(ip, 0, 1, io_task).err().map(Into::into),
                ),
                (
                    "get_addr",
                    "`spawn_local`",
                    ip::get_addr("localhost", io_task).err(),
                ),
                ("flush", "`flush_future`", client.flush().err()),
                ("shutdown", "`close_future`", client.shutdown().err()),
                ("close", "`close_future`", client.close().err()),
            ];
            t!(server.read_stop(port));
            refusals
        });
        for (call, alternative, refusal) in refusals.get() {
            let error = refusal.unwrap_or_else(|| panic!("`{call}` in a local task did not fail"));
            assert_eq!(error.err_name, "EAGAIN", "{call}: {error:?}");
            assert!(
                error
                    .err_msg
                    .starts_with(&format!("`{call}` would block the loop thread; "))
                    && error.err_msg.contains(alternative),
                "the message of `{call}` should name it and {alternative}: {:?}",
                error.err_msg
            );
            assert_eq!(
                io::Error::from(error).kind(),
                ErrorKind::WouldBlock,
                "{call}"
            );
        }
    });
}

fn err_data(name: &str, message: &str) -> TcpErrData {
    TcpErrData {
        err_name: name.to_string(),
        err_msg: message.to_string(),
    }
}

/// `error` has `kind`, displays as `data` and carries it.
#[track_caller]
fn assert_io_error(error: io::Error, kind: ErrorKind, data: &TcpErrData) {
    assert_eq!(error.kind(), kind, "{error}");
    assert_eq!(error.to_string(), data.to_string());
    let inner = error
        .into_inner()
        .expect("the io::Error carries the TcpErrData");
    assert_eq!(inner.downcast_ref::<TcpErrData>(), Some(data));
}
