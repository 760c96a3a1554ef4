//! The `main` of a server whose connections are local tasks: bind, announce,
//! serve (with `local_server.rs`, which an example includes beside it).

use std::future::Future as StdFuture;
use std::net::IpAddr;

use uvtcp::{IoTask, TcpErrData, TcpListener, TcpSocket};

use crate::local_server::{accept_in_local_tasks, announce};

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
