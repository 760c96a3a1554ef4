//! `cargo xtask bench`: the echo servers of every layer, and a std::net
//! peer, under the same load, measured in one run and reported as ratios
//! against the raw libuv server.
//!
//! The load comes from this process over loopback with std::net:
//! - round trips: one connection, one byte back and forth;
//! - throughput: four connections echoing 32 MiB each at once;
//! - connection rate: connect, one-byte echo, close, one after another;
//! - memory: the server's resident memory growth per idle connection.
//!
//! Figures vary with the machine and its load; the ratios, taken in one
//! run, are what to compare.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::command::{Error, cargo, target_dir};
use crate::server::{Server, free_port};
use crate::vendor;

const ROUND_TRIPS: u32 = 20_000;
const STREAMS: usize = 4;
const STREAM_BYTES: usize = 32 << 20;
const CONNECTIONS: u32 = 2_000;
const IDLE_CONNECTIONS: usize = 500;

/// One server's figures.
struct Figures {
    name: &'static str,
    round_trip_us: f64,
    throughput_mib_s: f64,
    connections_per_s: f64,
    kib_per_connection: f64,
}

/// Builds the servers in release mode and measures each.
pub fn bench() -> Result<(), Error> {
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
    cargo(&[
        "build",
        "--quiet",
        "--release",
        "--package",
        "uv-handle",
        "--example",
        "handle_echo",
    ])?;
    cargo(&[
        "build",
        "--quiet",
        "--release",
        "--package",
        "uvtcp",
        "--example",
        "echo_server",
    ])?;
    let examples = target_dir()?.join("release").join("examples");
    let xtask = std::env::current_exe()?;

    let mut results = Vec::new();
    let peers: [(&'static str, Command); 5] = [
        ("raw libuv (uv-sys/examples/raw_echo)", {
            let mut command = Command::new(examples.join("raw_echo"));
            command.args(["127.0.0.1", "0"]);
            command
        }),
        ("uv-handle (uv-handle/examples/handle_echo)", {
            let mut command = Command::new(examples.join("handle_echo"));
            command.args(["127.0.0.1", "0"]);
            command
        }),
        (
            "uvtcp, thread per connection (uvtcp/examples/echo_server)",
            {
                let mut command = Command::new(examples.join("echo_server"));
                command.args(["127.0.0.1".to_string(), free_port()?.to_string()]);
                command
            },
        ),
        ("uvtcp, local tasks (uvtcp/examples/local_echo)", {
            let mut command = Command::new(examples.join("local_echo"));
            command.args(["127.0.0.1", "0"]);
            command
        }),
        ("std::net, thread per connection", {
            let mut command = Command::new(&xtask);
            command.arg("__std-echo");
            command
        }),
    ];
    for (name, mut command) in peers {
        let server = Server::start(&mut command)?;
        let address = server.address()?;
        eprintln!("measuring {name} at {address}");
        // Memory first, while the server's allocator holds nothing freed
        // by earlier phases.
        let kib_per_connection = memory_per_connection(&server, address)?;
        results.push(Figures {
            name,
            round_trip_us: round_trips(address)?,
            throughput_mib_s: throughput(address)?,
            connections_per_s: connection_rate(address)?,
            kib_per_connection,
        });
    }
    report(&results);
    Ok(())
}

fn report(results: &[Figures]) {
    let base = &results[0];
    println!();
    println!(
        "{:<58} {:>16} {:>18} {:>16} {:>16}",
        "server", "round trip", "throughput", "connections", "memory/conn"
    );
    for figures in results {
        println!(
            "{:<58} {:>7.1} us x{:<5.2} {:>7.0} MiB/s x{:<5.2} {:>7.0}/s x{:<5.2} {:>7.1} KiB x{:<5.2}",
            figures.name,
            figures.round_trip_us,
            figures.round_trip_us / base.round_trip_us,
            figures.throughput_mib_s,
            figures.throughput_mib_s / base.throughput_mib_s,
            figures.connections_per_s,
            figures.connections_per_s / base.connections_per_s,
            figures.kib_per_connection,
            figures.kib_per_connection / base.kib_per_connection.max(0.1),
        );
    }
    println!();
    println!("Ratios are against the raw libuv server of the same run: for round trips and");
    println!("memory lower is better, for throughput and connections higher is better.");
}

fn connect(address: SocketAddr) -> Result<TcpStream, Error> {
    let stream = TcpStream::connect(address)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    Ok(stream)
}

/// Microseconds per one-byte round trip on one connection.
fn round_trips(address: SocketAddr) -> Result<f64, Error> {
    let mut stream = connect(address)?;
    let mut byte = [0u8; 1];
    let started = Instant::now();
    for _ in 0..ROUND_TRIPS {
        stream.write_all(b"x")?;
        stream.read_exact(&mut byte)?;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / f64::from(ROUND_TRIPS))
}

/// MiB per second echoed by `STREAMS` connections at once, checked.
fn throughput(address: SocketAddr) -> Result<f64, Error> {
    let payload: Vec<u8> = (0..STREAM_BYTES).map(|i| (i % 251) as u8).collect();
    let payload = std::sync::Arc::new(payload);
    let started = Instant::now();
    let workers: Vec<_> = (0..STREAMS)
        .map(|_| {
            let payload = std::sync::Arc::clone(&payload);
            std::thread::spawn(move || -> Result<bool, Error> {
                let mut stream = connect(address)?;
                let mut writer = stream.try_clone()?;
                let to_send = std::sync::Arc::clone(&payload);
                let sender = std::thread::spawn(move || -> std::io::Result<()> {
                    for chunk in to_send.chunks(256 * 1024) {
                        writer.write_all(chunk)?;
                    }
                    writer.shutdown(Shutdown::Write)
                });
                let mut echoed = Vec::with_capacity(payload.len());
                stream.read_to_end(&mut echoed)?;
                sender
                    .join()
                    .map_err(|_| Error::new("a sender panicked"))??;
                Ok(echoed == *payload)
            })
        })
        .collect();
    for worker in workers {
        let intact = worker
            .join()
            .map_err(|_| Error::new("a stream worker panicked"))??;
        if !intact {
            return Err(Error::new("an echoed stream differs from what was sent"));
        }
    }
    let mib = (STREAMS * STREAM_BYTES) as f64 / f64::from(1 << 20);
    Ok(mib / started.elapsed().as_secs_f64())
}

/// Connections per second: connect, echo one byte, close.
fn connection_rate(address: SocketAddr) -> Result<f64, Error> {
    let started = Instant::now();
    let mut byte = [0u8; 1];
    for _ in 0..CONNECTIONS {
        let mut stream = connect(address)?;
        stream.write_all(b"c")?;
        stream.read_exact(&mut byte)?;
    }
    Ok(f64::from(CONNECTIONS) / started.elapsed().as_secs_f64())
}

/// KiB of server memory per idle connection (each has echoed one byte).
fn memory_per_connection(server: &Server, address: SocketAddr) -> Result<f64, Error> {
    std::thread::sleep(Duration::from_millis(200));
    let before = server.resident_kib()?;
    let mut idle = Vec::with_capacity(IDLE_CONNECTIONS);
    let mut byte = [0u8; 1];
    for _ in 0..IDLE_CONNECTIONS {
        let mut stream = connect(address)?;
        stream.write_all(b"m")?;
        stream.read_exact(&mut byte)?;
        idle.push(stream);
    }
    std::thread::sleep(Duration::from_millis(200));
    let after = server.resident_kib()?;
    drop(idle);
    Ok(after.saturating_sub(before) as f64 / IDLE_CONNECTIONS as f64)
}

/// The std::net peer: an echo server with a thread per connection, run as
/// `xtask __std-echo` so that it has a process of its own.
pub fn std_echo() -> Result<(), Error> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    println!("listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else {
            continue;
        };
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(count) => {
                        if stream.write_all(&buffer[..count]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = stream.shutdown(Shutdown::Write);
        });
    }
    Ok(())
}
