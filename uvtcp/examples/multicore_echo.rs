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

#[path = "support/args.rs"]
mod args;
#[path = "support/echo.rs"]
mod echo;
#[path = "support/local_server.rs"]
mod local_server;

use std::num::NonZeroUsize;

use uvtcp::{IoTask, TcpListener};

fn main() {
    let mut args = std::env::args().skip(1);
    let (address, mut port) = args::address_and_port(&mut args, 0);
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
        servers.push(local_server::accept_in_local_tasks(
            &io_task,
            listener,
            |socket, _| echo::echo(socket),
        ));
    }
    if let Some(local) = banner {
        local_server::announce(local);
    }
    for server in servers {
        if let Err(error) = server.get() {
            eprintln!("multicore_echo: {error}");
        }
    }
}
