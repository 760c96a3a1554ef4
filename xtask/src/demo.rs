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
    demo_server(
        &examples,
        "echo_server",
        &client,
        &["hello, uvtcp", "a second message"],
    )?;

    println!();
    println!(
        "== the same client against uvtcp local tasks (uvtcp/examples/local_echo.rs: a task per \
         connection on the loop thread, no thread hand-off)"
    );
    demo_server(&examples, "local_echo", &client, &["hello, local tasks"])?;

    println!();
    println!("== the same client against the raw libuv echo server (uv-sys/examples/raw_echo.rs)");
    demo_server(&examples, "raw_echo", &client, &["hello, libuv"])
}

/// Starts the example server `name` on a free port, runs the client
/// against it, and stops it.
fn demo_server(examples: &Path, name: &str, client: &Path, messages: &[&str]) -> Result<(), Error> {
    let port = free_port()?;
    let server =
        Server::start(Command::new(examples.join(name)).args(["127.0.0.1", &port.to_string()]))?;
    println!("{}", server.banner);
    run_client(client, port, messages)
}

fn run_client(client: &Path, port: u16, messages: &[&str]) -> Result<(), Error> {
    let port = port.to_string();
    let mut args = vec![port.as_str(), "10000"];
    args.extend_from_slice(messages);
    run(Command::new(client).args(&args))
}
