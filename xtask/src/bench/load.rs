//! The loads the bench puts on a server, from this process over loopback.
//!
//! One connection is driven by a blocking std::net client (the cheapest
//! client there is: two system calls per round trip); many connections and
//! the pump by tokio on one thread, so the client takes one CPU at most.
//! Every wait is bounded by [`PATIENCE`]: a server that stops answering
//! fails the bench instead of hanging it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

use crate::command::Error;

/// The longest the bench waits for a server to answer.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Bytes the pump keeps sent but not yet echoed.
pub const IN_FLIGHT: usize = 256 * 1024;

/// Bytes per write of the pump.
const CHUNK: usize = 64 * 1024;

/// The pump's bytes repeat with this period, so that a lost, repeated or
/// reordered chunk is seen.
const PERIOD: usize = 251;

fn connect(address: SocketAddr) -> Result<TcpStream, Error> {
    let stream = TcpStream::connect_timeout(&address, PATIENCE)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.set_write_timeout(Some(PATIENCE))?;
    Ok(stream)
}

/// Sends one byte and reads it back.
fn round_trip(stream: &mut TcpStream) -> Result<(), Error> {
    stream.write_all(b"x")?;
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte)?;
    if byte == *b"x" {
        Ok(())
    } else {
        Err(Error::new(
            "the server echoed another byte than it was sent",
        ))
    }
}

/// One connection echoing one byte at a time, driven by a blocking client.
pub struct PingPong {
    stream: TcpStream,
}

impl PingPong {
    pub fn connect(address: SocketAddr) -> Result<PingPong, Error> {
        Ok(PingPong {
            stream: connect(address)?,
        })
    }

    /// Makes `count` round trips.
    pub fn run(&mut self, count: u64) -> Result<(), Error> {
        for _ in 0..count {
            round_trip(&mut self.stream)?;
        }
        Ok(())
    }

    /// Makes `count` round trips with a pause before each, so that the
    /// server is back waiting when the next byte comes, as it is between
    /// round trips when nothing slows it down (under strace, say).
    pub fn run_paced(&mut self, count: u64, pause: Duration) -> Result<(), Error> {
        for _ in 0..count {
            std::thread::sleep(pause);
            round_trip(&mut self.stream)?;
        }
        Ok(())
    }

    /// Makes round trips until `duration` has passed; returns how many.
    pub fn run_for(&mut self, duration: Duration) -> Result<u64, Error> {
        let deadline = Instant::now() + duration;
        let mut count = 0;
        while Instant::now() < deadline {
            self.run(64)?;
            count += 64;
        }
        Ok(count)
    }
}

/// When the connections of a [`Fleet`] stop making round trips.
#[derive(Clone, Copy)]
enum Stop {
    At(Instant),
    After(u64),
}

/// Many connections, each echoing one byte at a time, driven by tokio on
/// the calling thread.
pub struct Fleet {
    runtime: Runtime,
    streams: Vec<tokio::net::TcpStream>,
}

impl Fleet {
    /// Opens `connections` connections and makes one round trip on each.
    pub fn connect(address: SocketAddr, connections: usize) -> Result<Fleet, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let streams = runtime.block_on(async {
            let mut streams = Vec::with_capacity(connections);
            for _ in 0..connections {
                let stream =
                    tokio::time::timeout(PATIENCE, tokio::net::TcpStream::connect(address))
                        .await
                        .map_err(|_| Error::new("connecting took too long"))??;
                stream.set_nodelay(true)?;
                streams.push(stream);
            }
            Ok::<_, Error>(streams)
        })?;
        let mut fleet = Fleet { runtime, streams };
        fleet.run(Stop::After(1))?;
        Ok(fleet)
    }

    /// Every connection makes round trips until `duration` has passed;
    /// returns how many they made in all.
    pub fn run_for(&mut self, duration: Duration) -> Result<u64, Error> {
        self.run(Stop::At(Instant::now() + duration))
    }

    /// Every connection makes `count` round trips; returns how many they
    /// made in all.
    pub fn run_each(&mut self, count: u64) -> Result<u64, Error> {
        self.run(Stop::After(count))
    }

    fn run(&mut self, stop: Stop) -> Result<u64, Error> {
        let streams = std::mem::take(&mut self.streams);
        let bound = match stop {
            Stop::At(deadline) => deadline.saturating_duration_since(Instant::now()) + PATIENCE,
            Stop::After(_) => PATIENCE,
        };
        let (streams, total) = self.runtime.block_on(async move {
            let tasks: Vec<_> = streams
                .into_iter()
                .map(|stream| tokio::spawn(ping_pong(stream, stop)))
                .collect();
            let all = async {
                let mut streams = Vec::with_capacity(tasks.len());
                let mut total = 0;
                for task in tasks {
                    let (stream, count) = task
                        .await
                        .map_err(|error| Error::new(format!("a client task failed: {error}")))??;
                    streams.push(stream);
                    total += count;
                }
                Ok::<_, Error>((streams, total))
            };
            tokio::time::timeout(bound, all)
                .await
                .map_err(|_| Error::new("the server stopped answering"))?
        })?;
        self.streams = streams;
        Ok(total)
    }
}

async fn ping_pong(
    mut stream: tokio::net::TcpStream,
    stop: Stop,
) -> Result<(tokio::net::TcpStream, u64), Error> {
    let mut count = 0;
    let mut byte = [0u8; 1];
    loop {
        let done = match stop {
            Stop::At(deadline) => Instant::now() >= deadline,
            Stop::After(limit) => count >= limit,
        };
        if done {
            return Ok((stream, count));
        }
        stream.write_all(b"x").await?;
        stream.read_exact(&mut byte).await?;
        if byte != *b"x" {
            return Err(Error::new(
                "the server echoed another byte than it was sent",
            ));
        }
        count += 1;
    }
}

/// Pumps bytes through a new connection for `duration`, keeping
/// [`IN_FLIGHT`] bytes sent and not yet echoed, then closes the sending
/// side and reads the echo to its end; checks every byte and returns how
/// many were echoed.
pub fn pump(address: SocketAddr, duration: Duration) -> Result<u64, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    runtime.block_on(async {
        tokio::time::timeout(duration + PATIENCE, pump_once(address, duration))
            .await
            .map_err(|_| Error::new("the server stopped echoing"))?
    })
}

async fn pump_once(address: SocketAddr, duration: Duration) -> Result<u64, Error> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (mut reader, mut writer) = stream.split();
    let pattern: Vec<u8> = (0..CHUNK + PERIOD).map(|i| (i % PERIOD) as u8).collect();
    let window = Semaphore::new(IN_FLIGHT);
    let deadline = Instant::now() + duration;
    let send = async {
        let mut sent = 0;
        while Instant::now() < deadline {
            window
                .acquire_many(CHUNK as u32)
                .await
                .map_err(|_| Error::new("the pump's window closed"))?
                .forget();
            let phase = sent % PERIOD;
            writer.write_all(&pattern[phase..phase + CHUNK]).await?;
            sent += CHUNK;
        }
        writer.shutdown().await?;
        Ok::<_, Error>(sent)
    };
    let receive = async {
        let mut buffer = vec![0u8; CHUNK];
        let mut received = 0;
        loop {
            let count = reader.read(&mut buffer).await?;
            if count == 0 {
                return Ok::<_, Error>(received);
            }
            let phase = received % PERIOD;
            if buffer[..count] != pattern[phase..phase + count] {
                return Err(Error::new("the echoed bytes differ from the bytes sent"));
            }
            received += count;
            window.add_permits(count);
        }
    };
    let (sent, received) = tokio::try_join!(send, receive)?;
    if received == sent {
        Ok(received as u64)
    } else {
        Err(Error::new(format!(
            "the server echoed {received} of {sent} bytes before it closed"
        )))
    }
}

/// Connects, echoes one byte and closes, one connection after another,
/// until `duration` has passed; returns how many connections were made.
pub fn churn(address: SocketAddr, duration: Duration) -> Result<u64, Error> {
    let deadline = Instant::now() + duration;
    let mut count = 0;
    while Instant::now() < deadline {
        round_trip(&mut connect(address)?)?;
        count += 1;
    }
    Ok(count)
}

/// Opens `count` connections that each echo one byte and then stay idle
/// until they are dropped.
pub fn open_idle(address: SocketAddr, count: usize) -> Result<Vec<TcpStream>, Error> {
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = connect(address)?;
        round_trip(&mut stream)?;
        idle.push(stream);
    }
    Ok(idle)
}
