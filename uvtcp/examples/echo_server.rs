//! An echo server on the classic interface: `listen` plus a thread per
//! connection.
//!
//! Usage: `cargo run -p uvtcp --example echo_server -- [ADDRESS] [PORT]`
//! (defaults: `127.0.0.1` and port 7878). Try it with `nc 127.0.0.1 7878`.
//! It prints `listening on ADDRESS:PORT` once it accepts connections.

#[path = "support/args.rs"]
mod args;

use std::io::Write;

use uvtcp::{IoTask, TcpErrData, TcpNewConnection, accept, listen};

fn main() {
    let (address, port) = args::address_and_port(&mut std::env::args().skip(1), 7878);
    let io_task = IoTask::spawn().expect("start the I/O task");
    let result = listen(
        address,
        port,
        1024,
        &io_task,
        |_kill| {
            println!("listening on {}", std::net::SocketAddr::new(address, port));
            let _ = std::io::stdout().flush();
        },
        |new_connection, _kill| {
            std::thread::spawn(move || serve(new_connection));
        },
    );
    if let Err(error) = result {
        eprintln!("echo_server: {error}");
        std::process::exit(1);
    }
}

/// Echoes everything the client sends until it closes its side.
fn serve(new_connection: TcpNewConnection) {
    let socket = match accept(new_connection) {
        Ok(socket) => socket,
        Err(error) => return eprintln!("echo_server: accept: {error}"),
    };
    let _ = socket.set_nodelay(true);
    let port = match socket.read_start() {
        Ok(port) => port,
        Err(error) => return eprintln!("echo_server: read_start: {error}"),
    };
    for chunk in port {
        let echoed = chunk.and_then(|bytes| socket.write(bytes));
        if let Err(error) = echoed {
            report(&error);
            return;
        }
    }
    // Dropping the socket shuts the write side down after the last echo.
}

fn report(error: &TcpErrData) {
    if error.err_name != "ECONNRESET" && error.err_name != "EPIPE" {
        eprintln!("echo_server: {error}");
    }
}
