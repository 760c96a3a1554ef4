//! Property test of the stream: random sequences of socket operations
//! (`write`, `write_future`, `read`, `read_future`, `read_start` / `recv` /
//! `read_stop`, `flush`, read and write limits, short sleeps) on both ends
//! of a connection, after which each end must have received exactly the
//! bytes the other sent, in order.
//!
//! `cargo test` runs a few cases; `PROPTEST_CASES=N` runs N (`cargo xtask
//! reliability` runs many more).

use std::time::Duration;

use proptest::prelude::*;
use uvtcp::*;
use uvtcp_tests::*;

/// Cases when `PROPTEST_CASES` is not set: enough to catch a regression,
/// few enough for every CI run.
const DEFAULT_CASES: u32 = 16;
/// The timeout of the reads the sequences make, in milliseconds.
const SHORT_READ_MS: u32 = 5;
/// Unread bytes in one direction above which a blocking write or a flush
/// first has the other end read everything (so that no call waits on a
/// peer that is not reading).
const IN_FLIGHT_BOUND: usize = 64 * 1024;

/// One end of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Client,
    Server,
}

#[derive(Clone, Debug)]
enum Operation {
    Write { end: End, length: usize },
    WriteFuture { end: End, length: usize, keep: bool },
    Read { end: End },
    ReadFuture { end: End },
    Port { end: End, receives: u8 },
    Flush { end: End },
    ReadLimit { end: End, bytes: usize },
    WriteLimit { end: End, bytes: usize },
    Sleep { millis: u64 },
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![Just(End::Client), Just(End::Server)]
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        3 => (end(), 1..64 * 1024usize).prop_map(|(end, length)| Operation::Write { end, length }),
        3 => (end(), 1..64 * 1024usize, any::<bool>())
            .prop_map(|(end, length, keep)| Operation::WriteFuture { end, length, keep }),
        2 => end().prop_map(|end| Operation::Read { end }),
        2 => end().prop_map(|end| Operation::ReadFuture { end }),
        2 => (end(), 0..4u8).prop_map(|(end, receives)| Operation::Port { end, receives }),
        1 => end().prop_map(|end| Operation::Flush { end }),
        1 => (end(), 0..256 * 1024usize).prop_map(|(end, bytes)| Operation::ReadLimit { end, bytes }),
        1 => (end(), 0..256 * 1024usize).prop_map(|(end, bytes)| Operation::WriteLimit { end, bytes }),
        1 => (0..3u64).prop_map(|millis| Operation::Sleep { millis }),
    ]
}

/// The bytes of one direction: what was handed to the writes, and what the
/// other end has read so far.
#[derive(Default)]
struct Direction {
    sent: Vec<u8>,
    received: Vec<u8>,
    /// Tells this direction's bytes from the other's.
    salt: u8,
}

impl Direction {
    /// The next `length` bytes of this direction's stream.
    fn next_bytes(&mut self, length: usize) -> Vec<u8> {
        let start = self.sent.len();
        let bytes: Vec<u8> = (start..start + length)
            .map(|index| ((index as u32).wrapping_mul(0x9e37_79b1) >> 24) as u8 ^ self.salt)
            .collect();
        self.sent.extend_from_slice(&bytes);
        bytes
    }

    /// Records a received chunk; it must continue the sent stream exactly.
    fn receive(&mut self, chunk: &[u8]) {
        assert!(!chunk.is_empty(), "a read returned an empty chunk");
        let start = self.received.len();
        let end = start + chunk.len();
        assert!(
            end <= self.sent.len(),
            "received {end} bytes, but only {} were sent",
            self.sent.len()
        );
        assert!(
            self.sent[start..end] == *chunk,
            "bytes {start}..{end} differ from what was sent"
        );
        self.received.extend_from_slice(chunk);
    }

    fn in_flight(&self) -> usize {
        self.sent.len() - self.received.len()
    }
}

/// Both ends and both directions.
struct Connection {
    client: TcpSocket,
    server: TcpSocket,
    /// Client to server.
    up: Direction,
    /// Server to client.
    down: Direction,
    kept: Vec<Future<Result<(), TcpErrData>>>,
}

impl Connection {
    fn socket(&self, end: End) -> &TcpSocket {
        match end {
            End::Client => &self.client,
            End::Server => &self.server,
        }
    }

    /// The direction `end` writes to.
    fn outgoing(&mut self, end: End) -> &mut Direction {
        match end {
            End::Client => &mut self.up,
            End::Server => &mut self.down,
        }
    }

    /// The direction `end` reads from.
    fn incoming(&mut self, end: End) -> &mut Direction {
        match end {
            End::Client => &mut self.down,
            End::Server => &mut self.up,
        }
    }

    /// A read result at `end`: a chunk goes into the model; only a timeout
    /// may fail.
    fn take(&mut self, end: End, result: Result<Vec<u8>, TcpErrData>) {
        match result {
            Ok(chunk) => self.incoming(end).receive(&chunk),
            Err(error) => assert_eq!(error.err_name, "ETIMEDOUT", "read at {end:?}: {error}"),
        }
    }

    /// Has the peer of `end` read everything `end` sent, if too much is
    /// unread for a blocking call of `end` to be sure to return.
    fn drain_peer_if_needed(&mut self, end: End, adding: usize) {
        if self.outgoing(end).in_flight() + adding <= IN_FLIGHT_BOUND {
            return;
        }
        let peer = match end {
            End::Client => End::Server,
            End::Server => End::Client,
        };
        while self.outgoing(end).in_flight() > 0 {
            let chunk = t!(self.socket(peer).read(READ_TIMEOUT_MS));
            self.incoming(peer).receive(&chunk);
        }
    }

    fn apply(&mut self, operation: &Operation) {
        match *operation {
            Operation::Write { end, length } => {
                self.drain_peer_if_needed(end, length);
                let bytes = self.outgoing(end).next_bytes(length);
                t!(self.socket(end).write(bytes));
            }
            Operation::WriteFuture { end, length, keep } => {
                let bytes = self.outgoing(end).next_bytes(length);
                let future = self.socket(end).write_future(bytes);
                if keep {
                    self.kept.push(future);
                }
            }
            Operation::Read { end } => {
                let result = self.socket(end).read(SHORT_READ_MS);
                self.take(end, result);
            }
            Operation::ReadFuture { end } => {
                let result = self.socket(end).read_future(SHORT_READ_MS).get();
                self.take(end, result);
            }
            Operation::Port { end, receives } => {
                let port = t!(self.socket(end).read_start());
                for _ in 0..receives {
                    let result = port.recv_timeout(Duration::from_millis(u64::from(SHORT_READ_MS)));
                    self.take(end, result);
                }
                t!(self.socket(end).read_stop(port));
            }
            Operation::Flush { end } => {
                self.drain_peer_if_needed(end, 0);
                t!(self.socket(end).flush());
            }
            Operation::ReadLimit { end, bytes } => self.socket(end).set_read_buffer_limit(bytes),
            Operation::WriteLimit { end, bytes } => self.socket(end).set_write_buffer_limit(bytes),
            Operation::Sleep { millis } => std::thread::sleep(Duration::from_millis(millis)),
        }
    }

    /// Ends both directions and reads each to EOF; each end must have
    /// received exactly what the other sent.
    fn finish(mut self) {
        for end in [End::Client, End::Server] {
            self.drain_peer_if_needed(end, 0);
        }
        t!(self.client.shutdown());
        t!(self.server.shutdown());
        for future in std::mem::take(&mut self.kept) {
            t!(future.get());
        }
        for end in [End::Client, End::Server] {
            loop {
                match self.socket(end).read(READ_TIMEOUT_MS) {
                    Ok(chunk) => self.incoming(end).receive(&chunk),
                    Err(error) if is_eof(&error) => break,
                    Err(error) => panic!("read to EOF at {end:?}: {error}"),
                }
            }
        }
        assert_eq!(
            self.up.received.len(),
            self.up.sent.len(),
            "client to server"
        );
        assert_eq!(
            self.down.received.len(),
            self.down.sent.len(),
            "server to client"
        );
    }
}

fn run_sequence(operations: Vec<Operation>) {
    bounded(60, move || {
        let client_task = new_iotask();
        let server_task = new_iotask();
        let (client, server) = connected_pair_on(localhost_v4(), &client_task, &server_task);
        let mut connection = Connection {
            client,
            server,
            up: Direction {
                salt: 0x00,
                ..Direction::default()
            },
            down: Direction {
                salt: 0xa5,
                ..Direction::default()
            },
            kept: Vec::new(),
        };
        for operation in &operations {
            connection.apply(operation);
        }
        connection.finish();
    });
}

fn config() -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        // The default configuration reads PROPTEST_CASES.
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(DEFAULT_CASES)
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn each_end_receives_exactly_the_stream_the_other_sent(
        operations in proptest::collection::vec(operation(), 1..40)
    ) {
        run_sequence(operations);
    }
}
