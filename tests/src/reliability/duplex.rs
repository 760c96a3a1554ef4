//! Bytes verified: a full-duplex transfer over one connection, both
//! directions at once, each checksummed by its sender and by its receiver.

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use uvtcp::{IoTask, TcpListener, connect};
use uvtcp_tests::{Checksum, pattern};

use super::report::{CaseReport, Table, mib};
use super::{Scale, join, localhost, read_to_eof};

const CHUNK: usize = 256 * 1024;
/// Write futures kept in flight by the sender that uses them.
const WINDOW: usize = 8;

/// Runs the case.
pub fn run(scale: &Scale) -> CaseReport {
    let mut report = CaseReport::new("Bytes verified");
    let bytes = scale.duplex_bytes;
    report.tried.push(format!(
        "{} sent each way over one connection at the same time, the two ends on two IoTasks.",
        mib(bytes)
    ));
    report.tried.push(format!(
        "Client to server: blocking `write` of {} KiB chunks, read with `read`.",
        CHUNK / 1024
    ));
    report.tried.push(format!(
        "Server to client: `write_future` with {WINDOW} in flight, read through a `ReadPort`."
    ));
    report.tried.push(
        "Each chunk carries its index; every byte goes through an FNV-1a checksum on both \
         sides, and both ends finish with `shutdown` and read to EOF."
            .to_string(),
    );
    match transfer(scale) {
        Ok(figures) => {
            let mut table = Table::new(&[
                "direction",
                "bytes sent",
                "bytes received",
                "checksums (sent = received)",
                "throughput",
            ]);
            for (name, sent, received) in [
                ("client to server", figures.up_sent, figures.up_received),
                ("server to client", figures.down_sent, figures.down_received),
            ] {
                table.row(vec![
                    name.to_string(),
                    sent.n_bytes().to_string(),
                    received.n_bytes().to_string(),
                    if sent == received {
                        "equal".to_string()
                    } else {
                        "DIFFERENT".to_string()
                    },
                    format!(
                        "{:.0} MiB/s",
                        received.n_bytes() as f64 / figures.seconds / f64::from(1u32 << 20)
                    ),
                ]);
                report.check(sent == received && sent.n_bytes() == bytes, || {
                    format!("{name}: sent {sent:?}, received {received:?}, expected {bytes} bytes")
                });
            }
            report.tables.push(table);
            let mut total = Table::new(&["measure", "value"]);
            total.row(vec![
                "both directions".into(),
                format!(
                    "{} in {:.2} s ({:.0} MiB/s together)",
                    mib(2 * bytes),
                    figures.seconds,
                    2.0 * bytes as f64 / figures.seconds / f64::from(1u32 << 20)
                ),
            ]);
            report.tables.push(total);
        }
        Err(error) => report.failures.push(error),
    }
    report
}

struct Figures {
    up_sent: Checksum,
    up_received: Checksum,
    down_sent: Checksum,
    down_received: Checksum,
    seconds: f64,
}

fn transfer(scale: &Scale) -> Result<Figures, String> {
    let client_task = IoTask::spawn().map_err(|e| format!("IoTask::spawn: {e}"))?;
    let server_task = IoTask::spawn().map_err(|e| format!("IoTask::spawn: {e}"))?;
    let listener =
        TcpListener::bind(localhost(), 0, 4, &server_task).map_err(|e| format!("bind: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let client = Arc::new(connect(localhost(), port, &client_task).map_err(|e| e.to_string())?);
    let server = Arc::new(
        listener
            .accept_timeout(scale.msecs(10_000))
            .map_err(|e| e.to_string())?,
    );
    let n_chunks = scale.duplex_bytes.div_ceil(CHUNK as u64);
    let total = scale.duplex_bytes;
    let timeout = scale.msecs(30_000);
    let started = Instant::now();

    let up_writer = {
        let client = Arc::clone(&client);
        thread::spawn(move || -> Result<Checksum, String> {
            let block = pattern(CHUNK, 1);
            let mut sent = Checksum::new();
            for index in 0..n_chunks {
                let chunk = chunk_of(&block, index, total);
                sent.update(&chunk);
                client.write(chunk).map_err(|e| format!("write: {e}"))?;
            }
            client.shutdown().map_err(|e| format!("shutdown: {e}"))?;
            Ok(sent)
        })
    };
    let down_writer = {
        let server = Arc::clone(&server);
        thread::spawn(move || -> Result<Checksum, String> {
            let block = pattern(CHUNK, 2);
            let mut sent = Checksum::new();
            let mut in_flight = VecDeque::new();
            for index in 0..n_chunks {
                let chunk = chunk_of(&block, index, total);
                sent.update(&chunk);
                in_flight.push_back(server.write_future(chunk));
                if in_flight.len() >= WINDOW {
                    let oldest = in_flight.pop_front().expect("the window is full");
                    oldest.get().map_err(|e| format!("write_future: {e}"))?;
                }
            }
            for pending in in_flight {
                pending.get().map_err(|e| format!("write_future: {e}"))?;
            }
            server.shutdown().map_err(|e| format!("shutdown: {e}"))?;
            Ok(sent)
        })
    };
    let up_reader = {
        let server = Arc::clone(&server);
        thread::spawn(move || -> Result<Checksum, String> {
            let port = server
                .read_start()
                .map_err(|e| format!("read_start: {e}"))?;
            let mut received = Checksum::new();
            loop {
                match port.recv_timeout(std::time::Duration::from_millis(u64::from(timeout))) {
                    Ok(chunk) => received.update(&chunk),
                    Err(error) if error.is_eof() => break,
                    Err(error) => {
                        return Err(format!("recv after {} bytes: {error}", received.n_bytes()));
                    }
                }
            }
            server
                .read_stop(port)
                .map_err(|e| format!("read_stop: {e}"))?;
            Ok(received)
        })
    };
    let mut down_received = Checksum::new();
    read_to_eof(&client, timeout, |chunk| down_received.update(chunk))?;
    let down_sent = join(down_writer)?;
    let up_sent = join(up_writer)?;
    let up_received = join(up_reader)?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(Figures {
        up_sent,
        up_received,
        down_sent,
        down_received,
        seconds,
    })
}

/// Chunk `index` of a transfer of `total` bytes: the block stamped with
/// its index, cut short at the end.
fn chunk_of(block: &[u8], index: u64, total: u64) -> Vec<u8> {
    let start = index * CHUNK as u64;
    let length = (total - start).min(CHUNK as u64) as usize;
    let mut chunk = block[..length].to_vec();
    let stamp = index.to_le_bytes();
    let stamped = stamp.len().min(length);
    chunk[..stamped].copy_from_slice(&stamp[..stamped]);
    chunk
}
