//! The echo that the async echo servers (local tasks, one loop per core,
//! tokio) run for each connection.

use uvtcp::TcpSocket;

/// Echoes what the client sends until it closes its side.
pub async fn echo(socket: TcpSocket) {
    let _ = socket.set_nodelay(true);
    let Ok(port) = socket.read_start() else {
        return;
    };
    while let Ok(chunk) = port.recv_async().await {
        if socket.write_future(chunk).await.is_err() {
            return;
        }
    }
    // Dropping the socket shuts the write side down after the last echo.
}
