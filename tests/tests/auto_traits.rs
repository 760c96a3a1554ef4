//! Compile-time checks of the `Send` / `Sync` promises of API.md.

use uvtcp::*;

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}

#[test]
fn io_task_socket_and_listener_are_send_and_sync() {
    assert_send::<IoTask>();
    assert_sync::<IoTask>();
    assert_send::<TcpSocket>();
    assert_sync::<TcpSocket>();
    assert_send::<TcpListener>();
    assert_sync::<TcpListener>();
}

#[test]
fn ports_futures_buffers_and_new_connections_are_send() {
    assert_send::<ReadPort>();
    assert_send::<Future<Result<(), TcpErrData>>>();
    assert_send::<Future<Result<Vec<u8>, TcpErrData>>>();
    assert_send::<Future<Result<TcpSocket, TcpConnectErrData>>>();
    assert_send::<TcpSocketBuf>();
    assert_send::<TcpNewConnection>();
    assert_send::<KillChan>();
}

#[test]
fn error_types_are_send_sync_and_std_errors() {
    fn assert_error<T: std::error::Error + Send + Sync + 'static>() {}
    assert_error::<TcpErrData>();
    assert_send::<TcpConnectErrData>();
    assert_sync::<TcpConnectErrData>();
    assert_send::<TcpListenErrData>();
    assert_sync::<TcpListenErrData>();
}

#[test]
fn io_task_is_clone() {
    fn assert_clone<T: Clone>() {}
    assert_clone::<IoTask>();
}
