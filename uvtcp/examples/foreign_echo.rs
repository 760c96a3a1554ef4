//! An echo server whose uvtcp sockets are served by tasks on another
//! executor, tokio's current-thread runtime: the tasks await uvtcp's
//! futures (`accept_future`, `recv_async`, `write_future`) while uvtcp's
//! I/O task does the I/O. The runtime needs no I/O driver of its own.
//!
//! Usage: `cargo run -p uvtcp --example foreign_echo -- [ADDRESS] [PORT]`
//! (defaults: `127.0.0.1` and port 0, which picks a free port). It prints
//! `listening on ADDRESS:PORT` once it accepts connections.

#[path = "support/args.rs"]
mod args;
#[path = "support/echo.rs"]
mod echo;

use std::io::Write;

use uvtcp::{IoTask, TcpListener};

fn main() {
    let (address, port) = args::address_and_port(&mut std::env::args().skip(1), 0);
    let io_task = IoTask::spawn().expect("start the I/O task");
    let listener = match TcpListener::bind(address, port, 1024, &io_task) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("foreign_echo: {error}");
            std::process::exit(1);
        }
    };
    println!("listening on {}", listener.local_addr().expect("bound"));
    let _ = std::io::stdout().flush();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("start tokio's runtime");
    runtime.block_on(async {
        loop {
            match listener.accept_future().await {
                Ok(socket) => drop(tokio::spawn(echo::echo(socket))),
                Err(error) => return eprintln!("foreign_echo: {error}"),
            }
        }
    });
}
