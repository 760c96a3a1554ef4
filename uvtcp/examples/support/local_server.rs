//! A server whose connections are local tasks on the loop thread: one task
//! accepts, and each connection gets a task of its own.

use std::future::Future as StdFuture;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use uvtcp::{Future, IoTask, TcpErrData, TcpListener, TcpSocket};

/// Binds `address:port` on a new I/O task, prints `listening on ADDRESS:PORT`
/// and serves every connection with `serve` in a local task until accepting
/// fails. Exits with a message naming `program` when binding fails.
pub fn run<F, Fut>(program: &str, address: IpAddr, port: u16, serve: F) -> Result<(), TcpErrData>
where
    F: Fn(TcpSocket, &IoTask) -> Fut + Clone + Send + 'static,
    Fut: StdFuture<Output = ()> + 'static,
{
    let io_task = IoTask::spawn()?;
    let listener = match TcpListener::bind(address, port, 1024, &io_task) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("{program}: {error}");
            std::process::exit(1);
        }
    };
    announce(listener.local_addr()?);
    accept_in_local_tasks(&io_task, listener, serve).get()
}

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
