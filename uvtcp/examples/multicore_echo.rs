//! An echo server with one loop per core: an `IoTask` for each core
//! (`std::thread::available_parallelism`), each with its own listener on the
//! same port (`TcpListener::bind_reuse_port`), so the kernel spreads the
//! connections over the loops. Each loop serves its connections with local
//! tasks, as `local_echo` does, and nothing is shared between loops.
//!
//! Usage: `cargo run -p uvtcp --example multicore_echo -- [ADDRESS] [PORT] [LOOPS]`
//! (defaults: `127.0.0.1`, port 0, which picks a free port, and one loop
//! per core). It prints `listening on ADDRESS:PORT` once every loop
//! accepts connections.

use std::io::Write;
use std::net::IpAddr;
use std::num::NonZeroUsize;

use uvtcp::{Future, IoTask, TcpErrData, TcpListener, TcpSocket};

fn main() {
    let mut args = std::env::args().skip(1);
    let address: IpAddr = args
        .next()
        .map(|text| text.parse().expect("ADDRESS must be an IP address"))
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let mut port: u16 = args
        .next()
        .map(|text| text.parse().expect("PORT must be a number from 0 to 65535"))
        .unwrap_or(0);
    let loops: NonZeroUsize = args
        .next()
        .map(|text| text.parse().expect("LOOPS must be a positive number"))
        .unwrap_or_else(|| std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN));
    let mut servers = Vec::with_capacity(loops.get());
    let mut banner = None;
    for _ in 0..loops.get() {
        let io_task = IoTask::spawn().expect("start an I/O task");
        // With port 0 the first listener picks the port; the others join it.
        let listener = match TcpListener::bind_reuse_port(address, port, 1024, &io_task) {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("multicore_echo: {error}");
                std::process::exit(1);
            }
        };
        let local = listener.local_addr().expect("bound");
        port = local.port();
        banner.get_or_insert(local);
        servers.push(serve(&io_task, listener));
    }
    if let Some(local) = banner {
        println!("listening on {local}");
    }
    let _ = std::io::stdout().flush();
    for server in servers {
        if let Err(error) = server.get() {
            eprintln!("multicore_echo: {error}");
        }
    }
}

/// Accepts on `listener` in a local task of `io_task`, and serves each
/// connection in a local task of its own on the same loop.
fn serve(io_task: &IoTask, listener: TcpListener) -> Future<Result<(), TcpErrData>> {
    let spawner = io_task.clone();
    io_task.spawn_local(move || async move {
        loop {
            let socket = listener.accept_future().await?;
            // Dropping the task's future detaches it.
            drop(spawner.spawn_local(move || echo(socket)));
        }
    })
}

/// Echoes what the client sends until it closes its side.
async fn echo(socket: TcpSocket) {
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
