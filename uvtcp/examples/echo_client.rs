//! A client for an echo server: sends messages, checks the echoes, and
//! measures round trips and a bulk transfer.
//!
//! Usage: `cargo run -p uvtcp --example echo_client -- PORT [ROUNDS] [MESSAGE...]`
//! connects to `127.0.0.1:PORT` (set `ECHO_HOST` for another address),
//! echoes each MESSAGE, times ROUNDS one-byte round trips (default 10000),
//! and echoes 8 MiB, checked by a checksum.

use std::io;
use std::net::IpAddr;
use std::time::Instant;

use uvtcp::{IoTask, TcpErrData, TcpSocket, connect};

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .and_then(|text| text.parse().ok())
        .expect("usage: echo_client PORT [ROUNDS] [MESSAGE...]");
    let rounds: u32 = args
        .next()
        .and_then(|text| text.parse().ok())
        .unwrap_or(10_000);
    let messages: Vec<String> = args.collect();
    let host: IpAddr = std::env::var("ECHO_HOST")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    if let Err(error) = run(host, port, rounds, &messages) {
        eprintln!("echo_client: {error}");
        std::process::exit(1);
    }
}

/// Every uvtcp error (`TcpConnectErrData` from `connect`, `TcpErrData` from
/// the rest) passes through `?` into `io::Error`, keeping its `ErrorKind`.
fn run(host: IpAddr, port: u16, rounds: u32, messages: &[String]) -> io::Result<()> {
    let io_task = IoTask::spawn()?;
    let socket = connect(host, port, &io_task)?;
    socket.set_nodelay(true)?;
    println!(
        "connected {} -> {}",
        socket.local_addr()?,
        socket.peer_addr()?
    );
    for message in messages {
        socket.write(message.as_bytes())?;
        let echoed = read_exactly(&socket, message.len())?;
        println!(
            "sent {message:?}, got back {:?}",
            String::from_utf8_lossy(&echoed)
        );
    }

    let started = Instant::now();
    for _ in 0..rounds {
        socket.write(&b"x"[..])?;
        read_exactly(&socket, 1)?;
    }
    let elapsed = started.elapsed();
    if rounds > 0 {
        println!(
            "{rounds} one-byte round trips in {elapsed:.2?}: {:.1} us per round trip",
            elapsed.as_secs_f64() * 1e6 / f64::from(rounds)
        );
    }

    let payload: Vec<u8> = (0..8u32 << 20)
        .map(|i| (i.wrapping_mul(31) >> 3) as u8)
        .collect();
    let started = Instant::now();
    let pending: Vec<_> = payload
        .chunks(256 * 1024)
        .map(|chunk| socket.write_future(chunk))
        .collect();
    let echoed = read_exactly(&socket, payload.len())?;
    for write in pending {
        write.get()?;
    }
    let elapsed = started.elapsed();
    let intact = checksum(&echoed) == checksum(&payload);
    println!(
        "echoed {} MiB in {elapsed:.2?} ({:.0} MiB/s), checksum {}",
        payload.len() >> 20,
        (payload.len() >> 20) as f64 / elapsed.as_secs_f64(),
        if intact { "matches" } else { "DIFFERS" }
    );
    if !intact {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the echoed bytes differ from the bytes sent",
        ));
    }
    socket.shutdown()?;
    match socket.read(10_000) {
        Err(error) if error.is_eof() => println!("the server closed the connection after our FIN"),
        other => println!("after our FIN the server sent {other:?}"),
    }
    Ok(())
}

fn read_exactly(socket: &TcpSocket, length: usize) -> Result<Vec<u8>, TcpErrData> {
    let mut received = Vec::with_capacity(length);
    while received.len() < length {
        received.extend_from_slice(&socket.read(10_000)?);
    }
    Ok(received)
}

/// FNV-1a, 64 bits.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
