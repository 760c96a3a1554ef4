//! `cargo xtask demo`: starts the uvtcp echo server, runs the echo client
//! against it, and prints what happened; then the same client against the
//! raw libuv echo server, for comparison.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::command::{Error, cargo, project_root, run};
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
    let examples = project_root().join("target/release/examples");
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

/// A port that was free a moment ago (the OS picks it).
fn free_port() -> Result<u16, Error> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(probe.local_addr()?.port())
}

/// A server process that prints a banner line first; killed on drop.
struct Server {
    child: Child,
    banner: String,
}

impl Server {
    fn start(command: &mut Command) -> Result<Server, Error> {
        let mut child = command.stdout(Stdio::piped()).spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut banner = String::new();
        BufReader::new(stdout).read_line(&mut banner)?;
        if banner.is_empty() {
            let _ = child.kill();
            return Err(Error::new("the server exited before it listened"));
        }
        Ok(Server {
            child,
            banner: banner.trim().to_string(),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
