//! `cargo xtask demo`: starts the uvtcp echo server, runs the echo client
//! against it, and prints what happened; then the same client against the
//! raw libuv echo server, for comparison.

use std::path::Path;
use std::process::Command;

use crate::command::{Error, cargo, run, target_dir};
use crate::server::{Server, free_port};
use crate::vendor;

/// Builds the examples and runs the demo.
pub fn demo() -> Result<(), Error> {
    vendor::ensure()?;
    cargo(&[
        "build",
        "--quiet",
        "--release",
        "--package",
        "uvtcp",
        "--examples",
    ])?;
    cargo(&[
        "build",
        "--quiet",
        "--release",
        "--package",
        "uv-sys",
        "--example",
        "raw_echo",
    ])?;
    let examples = target_dir()?.join("release").join("examples");
    let client = examples.join("echo_client");

    println!(
        "== uvtcp echo server (uvtcp/examples/echo_server.rs: listen + a thread per connection)"
    );
    let port = free_port()?;
    let server = Server::start(
        Command::new(examples.join("echo_server")).args(["127.0.0.1", &port.to_string()]),
    )?;
    println!("{}", server.banner);
    run_client(&client, port, &["hello, uvtcp", "a second message"])?;
    drop(server);

    println!();
    println!("== the same client against the raw libuv echo server (uv-sys/examples/raw_echo.rs)");
    let port = free_port()?;
    let server = Server::start(
        Command::new(examples.join("raw_echo")).args(["127.0.0.1", &port.to_string()]),
    )?;
    println!("{}", server.banner);
    run_client(&client, port, &["hello, libuv"])
}

fn run_client(client: &Path, port: u16, messages: &[&str]) -> Result<(), Error> {
    let port = port.to_string();
    let mut args = vec![port.as_str(), "10000"];
    args.extend_from_slice(messages);
    run(Command::new(client).args(&args))
}
