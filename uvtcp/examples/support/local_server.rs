//! Serving a listener with local tasks on the loop thread: one task accepts,
//! and each connection gets a task of its own.

use std::future::Future as StdFuture;
use std::io::Write;
use std::net::SocketAddr;

use uvtcp::{Future, IoTask, TcpErrData, TcpListener, TcpSocket};

/// Prints the address clients connect to, at once.
pub fn announce(address: SocketAddr) {
    println!("listening on {address}");
    let _ = std::io::stdout().flush();
}

/// Accepts on `listener` in a local task of `io_task` and serves each
/// connection with `serve` in a task of its own (its future dropped, which
/// detaches it). Resolves when accepting fails.
pub fn accept_in_local_tasks<F, Fut>(
    io_task: &IoTask,
    listener: TcpListener,
    serve: F,
) -> Future<Result<(), TcpErrData>>
where
    F: Fn(TcpSocket, &IoTask) -> Fut + Clone + Send + 'static,
    Fut: StdFuture<Output = ()> + 'static,
{
    let spawner = io_task.clone();
    io_task.spawn_local(move || async move {
        loop {
            let socket = listener.accept_future().await?;
            let serve = serve.clone();
            let io_task = spawner.clone();
            drop(spawner.spawn_local(move || serve(socket, &io_task)));
        }
    })
}
