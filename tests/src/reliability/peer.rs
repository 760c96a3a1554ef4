//! The far end of a fault-injection round: a plain `std::net` peer that
//! sends and receives at random until its fault. It runs on a thread of
//! this process (closing or resetting at the end of its script), or as a
//! child process (`reliability peer connect PORT SEED` or `reliability
//! peer listen SEED`) that the round kills with SIGKILL.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::system::Rng;

/// Sends and receives at random on `stream` for `duration` (forever when
/// `None`); stops early when the connection fails.
pub fn chatter(stream: &mut TcpStream, seed: u64, duration: Option<Duration>) {
    let mut rng = Rng::new(seed);
    // Short timeouts: the peer never blocks long, so it keeps to its script
    // even when the other side neither reads nor writes.
    let step = Duration::from_millis(2);
    if stream.set_read_timeout(Some(step)).is_err() || stream.set_write_timeout(Some(step)).is_err()
    {
        return;
    }
    let started = Instant::now();
    let mut buffer = vec![0u8; 64 * 1024];
    while duration.is_none_or(|duration| started.elapsed() < duration) {
        let outcome = match rng.below(3) {
            0 => {
                let length = 1 + rng.index(buffer.len());
                buffer[..length].fill(rng.next_u64() as u8);
                stream.write(&buffer[..length]).map(drop)
            }
            1 => match stream.read(&mut buffer) {
                Ok(0) => return,
                other => other.map(drop),
            },
            _ => {
                std::thread::sleep(Duration::from_micros(rng.below(1000)));
                Ok(())
            }
        };
        match outcome {
            Ok(()) => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// The child-process peer: `connect PORT SEED` or `listen SEED`. Prints
/// `ready` (or the port it listens on) once connected, then chatters until
/// it is killed.
pub fn main(args: &[String]) -> ExitCode {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let connected = match args.as_slice() {
        ["connect", port, seed] => {
            port.parse::<u16>()
                .ok()
                .zip(seed.parse().ok())
                .and_then(|(port, seed)| {
                    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
                    println!("ready");
                    Some((stream, seed))
                })
        }
        ["listen", seed] => seed.parse().ok().and_then(|seed| {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
            println!("{}", listener.local_addr().ok()?.port());
            let (stream, _) = listener.accept().ok()?;
            Some((stream, seed))
        }),
        _ => {
            eprintln!("usage: reliability peer (connect PORT SEED | listen SEED)");
            return ExitCode::FAILURE;
        }
    };
    let Some((mut stream, seed)) = connected else {
        return ExitCode::FAILURE;
    };
    chatter(&mut stream, seed, None);
    // The connection failed before the kill came: wait for it.
    loop {
        std::thread::park();
    }
}
