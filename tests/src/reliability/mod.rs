//! The cases of the `reliability` binary, one module each, and the scale
//! they run at.

pub mod bad_inputs;
pub mod connections;
pub mod drop_orders;
pub mod duplex;
pub mod faults;
pub mod panicking_wakers;
pub mod panics;
pub mod peer;
pub mod pending_reads;
pub mod report;
pub mod system;

use std::net::{IpAddr, Ipv4Addr};
use std::thread;

use std::time::Duration;
use uvtcp::{IoTask, TcpErrData, TcpListener, TcpSocket, connect};

/// How hard each case pushes.
#[derive(Debug, Clone)]
pub struct Scale {
    /// `full`, `quick` or `small`.
    pub name: &'static str,
    /// Connections held open at once.
    pub connections: usize,
    /// Bytes sent in each direction of the full-duplex transfer.
    pub duplex_bytes: u64,
    /// Rounds of fault injection.
    pub fault_rounds: usize,
    /// Drop orders tried: `None` for all 5040, else that many at random.
    pub drop_orders: Option<usize>,
    /// Rounds of a one-shot read pending across a port's start and stop.
    pub pending_read_rounds: usize,
    /// Rounds of each awaitable under a panicking waker.
    pub waker_rounds: usize,
    /// How many times longer every time bound is (valgrind runs code many
    /// times slower).
    pub slowdown: u32,
    /// The seed of every random choice.
    pub seed: u64,
}

impl Scale {
    /// The heavy cases, for `RELIABILITY.md`.
    pub fn full(seed: u64) -> Scale {
        Scale {
            name: "full",
            connections: 10_000,
            duplex_bytes: 1 << 30,
            fault_rounds: 1_000,
            drop_orders: None,
            pending_read_rounds: 1_000,
            waker_rounds: 200,
            slowdown: 1,
            seed,
        }
    }

    /// The light version that CI runs.
    pub fn quick(seed: u64) -> Scale {
        Scale {
            name: "quick",
            connections: 500,
            duplex_bytes: 32 << 20,
            fault_rounds: 50,
            drop_orders: Some(200),
            pending_read_rounds: 100,
            waker_rounds: 20,
            slowdown: 1,
            seed,
        }
    }

    /// A smaller version still, for valgrind's leak checker in CI.
    pub fn small(seed: u64) -> Scale {
        Scale {
            name: "small",
            connections: 50,
            duplex_bytes: 2 << 20,
            fault_rounds: 12,
            drop_orders: Some(12),
            pending_read_rounds: 10,
            waker_rounds: 3,
            slowdown: 1,
            seed,
        }
    }

    /// `seconds` seconds, stretched by the slowdown.
    pub fn seconds(&self, seconds: u64) -> Duration {
        Duration::from_secs(seconds * u64::from(self.slowdown))
    }

    /// `msecs` milliseconds as a uvtcp timeout, stretched by the slowdown.
    pub fn msecs(&self, msecs: u32) -> u32 {
        msecs.saturating_mul(self.slowdown)
    }
}

/// `127.0.0.1`.
pub fn localhost() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// A connected pair on loopback, the client on `client_task` and the server
/// end on `server_task`: `(client, server)`.
pub fn pair_on(
    client_task: &IoTask,
    server_task: &IoTask,
) -> Result<(TcpSocket, TcpSocket), TcpErrData> {
    let listener = TcpListener::bind(localhost(), 0, 4, server_task)?;
    let port = listener.local_addr()?.port();
    let client = connect(localhost(), port, client_task)?;
    let server = listener.accept_timeout(5000)?;
    Ok((client, server))
}

/// A connected pair on loopback, both ends on `io_task`: `(client, server)`.
pub fn pair(io_task: &IoTask) -> Result<(TcpSocket, TcpSocket), TcpErrData> {
    pair_on(io_task, io_task)
}

/// Reads `socket` with `timeout` until EOF, handing each chunk to
/// `on_chunk`; returns how many bytes came.
pub fn read_to_eof(
    socket: &TcpSocket,
    timeout: u32,
    mut on_chunk: impl FnMut(&[u8]),
) -> Result<u64, String> {
    let mut n_bytes = 0;
    loop {
        match socket.read(timeout) {
            Ok(chunk) => {
                n_bytes += chunk.len() as u64;
                on_chunk(&chunk);
            }
            Err(error) if error.is_eof() => return Ok(n_bytes),
            Err(error) => return Err(format!("read after {n_bytes} bytes: {error}")),
        }
    }
}

/// Joins a helper thread of a case and returns its result.
pub fn join<T>(handle: thread::JoinHandle<Result<T, String>>) -> Result<T, String> {
    handle
        .join()
        .map_err(|_| "a helper thread panicked".to_string())?
}
