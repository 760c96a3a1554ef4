//! `cargo xtask demo`: starts the raw libuv echo server, talks to it over
//! loopback and prints what happened.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::command::{Error, cargo, project_root};
use crate::vendor;

/// Builds the echo server, runs a few clients against it and reports.
pub fn demo() -> Result<(), Error> {
    vendor::ensure()?;
    cargo(&[
        "build",
        "--quiet",
        "--release",
        "--package",
        "uv-sys",
        "--example",
        "raw_echo",
    ])?;
    let binary = project_root().join("target/release/examples/raw_echo");
    let mut server = Server::start(Command::new(binary).args(["127.0.0.1", "0"]))?;
    let address = server.address.clone();
    println!(
        "echo server (uv-sys/examples/raw_echo.rs) is {}",
        server.banner
    );

    let mut stream = TcpStream::connect(&address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_nodelay(true)?;
    for line in ["hello, libuv", "a second line", "and a third"] {
        let mut echoed = vec![0; line.len()];
        stream.write_all(line.as_bytes())?;
        stream.read_exact(&mut echoed)?;
        println!(
            "sent {line:?}, got back {:?}",
            String::from_utf8_lossy(&echoed)
        );
    }

    let round_trips = 10_000;
    let started = Instant::now();
    let mut byte = [0u8; 1];
    for _ in 0..round_trips {
        stream.write_all(b"x")?;
        stream.read_exact(&mut byte)?;
    }
    let elapsed = started.elapsed();
    println!(
        "{round_trips} one-byte round trips in {elapsed:.2?} ({:.1} us each)",
        elapsed.as_secs_f64() * 1e6 / f64::from(round_trips)
    );

    let payload: Vec<u8> = (0..8u32 << 20).map(|i| (i * 7 + i / 251) as u8).collect();
    let started = Instant::now();
    let mut writer = stream.try_clone()?;
    let to_send = payload.clone();
    let sender = std::thread::spawn(move || -> std::io::Result<()> {
        writer.write_all(&to_send)?;
        writer.shutdown(std::net::Shutdown::Write)
    });
    let mut received = Vec::with_capacity(payload.len());
    stream.read_to_end(&mut received)?;
    sender.join().expect("the sender thread does not panic")?;
    let elapsed = started.elapsed();
    let intact = received == payload;
    println!(
        "echoed {} MiB in {elapsed:.2?} ({:.0} MiB/s), intact: {intact}",
        payload.len() >> 20,
        (payload.len() >> 20) as f64 / elapsed.as_secs_f64()
    );
    server.stop();
    if intact {
        Ok(())
    } else {
        Err(Error::new("the echoed bytes differ from the bytes sent"))
    }
}

/// A server process that prints `listening on ADDRESS` first; killed on drop.
struct Server {
    child: Child,
    address: String,
    banner: String,
}

impl Server {
    fn start(command: &mut Command) -> Result<Server, Error> {
        let mut child = command.stdout(Stdio::piped()).spawn()?;
        let mut banner = String::new();
        let stdout = child.stdout.take().expect("stdout is piped");
        BufReader::new(stdout).read_line(&mut banner)?;
        let banner = banner.trim().to_string();
        let Some(address) = banner.strip_prefix("listening on ") else {
            let _ = child.kill();
            return Err(Error::new(format!("the server printed {banner:?}")));
        };
        let address = address.to_string();
        Ok(Server {
            child,
            address,
            banner,
        })
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
