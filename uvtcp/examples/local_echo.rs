//! An echo server whose connections are served by local tasks on the loop
//! thread (`IoTask::spawn_local`): no thread per connection and no thread
//! hand-off per read or write.
//!
//! Usage: `cargo run -p uvtcp --example local_echo -- [ADDRESS] [PORT]`
//! (defaults: `127.0.0.1` and port 0, which picks a free port). It prints
//! `listening on ADDRESS:PORT` once it accepts connections.

#[path = "support/args.rs"]
mod args;
#[path = "support/echo.rs"]
mod echo;
#[path = "support/local_server.rs"]
mod local_server;
#[path = "support/serve_local.rs"]
mod serve_local;

fn main() {
    let (address, port) = args::address_and_port(&mut std::env::args().skip(1), 0);
    let served = serve_local::run("local_echo", address, port, |socket, _| echo::echo(socket));
    if let Err(error) = served {
        eprintln!("local_echo: {error}");
    }
}
