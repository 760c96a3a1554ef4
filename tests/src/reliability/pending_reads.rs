//! Reads pending across ports: a one-shot `read_future` is left pending
//! while a port of the same socket starts and stops, with a peer sending at
//! random moments. The pending read must resolve with a chunk of the stream
//! at a boundary between ports (what the last port left, or the next chunk),
//! and every byte must arrive once, in order.

use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use uvtcp::{Future, IoTask, ReadPort, TcpErrData};
use uvtcp_tests::{Checksum, pattern};

use super::report::{CaseReport, Table, mib};
use super::system::{Rng, wait_until, within};
use super::{Scale, pair_on, read_to_eof};

/// The largest chunk the peer writes.
const MAX_CHUNK: u64 = 64 * 1024;
/// The most chunks the peer writes in a round.
const MAX_CHUNKS: u64 = 16;
/// The most port start / stop cycles while the read is pending.
const MAX_CYCLES: u64 = 3;

/// What the rounds saw.
#[derive(Default)]
struct Tally {
    rounds: usize,
    bytes: u64,
    cycles: u64,
    port_chunks: u64,
    awaited_in_a_task: usize,
    /// Where the pending read's chunk fell: before the first port, after
    /// port N.
    boundaries: [usize; MAX_CYCLES as usize + 1],
    at_eof: usize,
    slowest: Duration,
}

/// Runs the case.
pub fn run(scale: &Scale) -> CaseReport {
    let mut report = CaseReport::new("Reads pending across ports");
    report.tried.push(format!(
        "{} rounds; in each, a fresh connection whose uvtcp server end has a `read_future(0)` \
         pending while one to {MAX_CYCLES} ports start and stop on it.",
        scale.pending_read_rounds
    ));
    report.tried.push(
        "The pending read is awaited on a plain thread (`get`) or in a local task of the \
         socket's loop, at random; the ports take none, some or all of what arrived, with \
         `try_recv` and short `recv_timeout`s."
            .to_string(),
    );
    report.tried.push(format!(
        "The peer, on another IoTask, writes up to {MAX_CHUNKS} chunks of up to {} KiB with \
         random pauses of up to 2 ms, then shuts down.",
        MAX_CHUNK / 1024
    ));
    report.tried.push(
        "The pending read must resolve with the next bytes of the stream at a boundary \
         between ports (before the first one, or after the one that left them), and reading \
         on to EOF must give every byte once, in order: length and FNV-1a checksum equal."
            .to_string(),
    );
    report.tried.push(
        "Each wait is bounded to 2 s and each round to 30 s; the case stops after 3 failed rounds."
            .to_string(),
    );
    let tasks = IoTask::spawn().and_then(|server| Ok((server, IoTask::spawn()?)));
    let (server_task, client_task) = match tasks {
        Ok(tasks) => tasks,
        Err(error) => {
            report.failures.push(format!("IoTask::spawn: {error}"));
            return report;
        }
    };
    let mut rng = Rng::new(scale.seed);
    let mut tally = Tally::default();
    let started = Instant::now();
    for round in 0..scale.pending_read_rounds {
        let seed = rng.next_u64();
        let (server_task, client_task) = (server_task.clone(), client_task.clone());
        let timeout = scale.msecs(2_000);
        let round_started = Instant::now();
        let outcome = within(scale.seconds(30), move || {
            one_round(&server_task, &client_task, seed, timeout)
        });
        tally.slowest = tally.slowest.max(round_started.elapsed());
        match outcome {
            Ok(Ok(seen)) => tally.add(&seen),
            Ok(Err(error)) => report.failures.push(format!("round {round}: {error}")),
            Err(failure) => report.failures.push(format!("round {round}: {failure:?}")),
        }
        if report.failures.len() >= 3 {
            report
                .failures
                .push("stopped after 3 failed rounds".to_string());
            break;
        }
    }
    let mut table = Table::new(&["measure", "value"]);
    let boundaries = tally
        .boundaries
        .iter()
        .enumerate()
        .map(|(after, count)| match after {
            0 => format!("before the first port {count}"),
            after => format!("after port {after} {count}"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    for (measure, value) in [
        (
            "rounds verified",
            format!("{} of {}", tally.rounds, scale.pending_read_rounds),
        ),
        (
            "pending reads awaited in a local task",
            tally.awaited_in_a_task.to_string(),
        ),
        ("port start / stop cycles", tally.cycles.to_string()),
        ("chunks taken from ports", tally.port_chunks.to_string()),
        ("pending read resolved with bytes", boundaries),
        (
            "pending read resolved with EOF (the ports took everything)",
            tally.at_eof.to_string(),
        ),
        (
            "bytes verified (length and checksum)",
            format!("{} ({})", tally.bytes, mib(tally.bytes)),
        ),
        ("slowest round", format!("{} ms", tally.slowest.as_millis())),
        (
            "total time",
            format!("{:.1} s", started.elapsed().as_secs_f64()),
        ),
    ] {
        table.row(vec![measure.to_string(), value]);
    }
    report.tables.push(table);
    report.check(tally.rounds == scale.pending_read_rounds, || {
        format!(
            "{} of {} rounds verified",
            tally.rounds, scale.pending_read_rounds
        )
    });
    report
}

impl Tally {
    fn add(&mut self, seen: &Seen) {
        self.rounds += 1;
        self.bytes += seen.bytes;
        self.cycles += seen.cycles;
        self.port_chunks += seen.port_chunks;
        self.awaited_in_a_task += usize::from(seen.in_a_task);
        match seen.boundary {
            Some(after) => self.boundaries[after] += 1,
            None => self.at_eof += 1,
        }
    }
}

/// What one round saw.
struct Seen {
    bytes: u64,
    cycles: u64,
    port_chunks: u64,
    in_a_task: bool,
    /// After how many ports the pending read's bytes came; `None`: EOF.
    boundary: Option<usize>,
}

/// The pending read, awaited on this thread or by a local task.
enum Pending {
    Here(Future<Result<Vec<u8>, TcpErrData>>),
    InTask(Future<Result<Vec<u8>, TcpErrData>>),
}

fn one_round(
    server_task: &IoTask,
    client_task: &IoTask,
    seed: u64,
    timeout: u32,
) -> Result<Seen, String> {
    let mut rng = Rng::new(seed);
    let (client, server) = pair_on(client_task, server_task).map_err(|e| e.to_string())?;
    let server = Arc::new(server);
    let n_chunks = 1 + rng.below(MAX_CHUNKS);
    let sizes: Vec<usize> = (0..n_chunks)
        .map(|_| 1 + rng.below(MAX_CHUNK) as usize)
        .collect();
    let stream = pattern(sizes.iter().sum(), seed);
    let pending = if rng.below(2) == 0 {
        Pending::Here(server.read_future(0))
    } else {
        let (issued, is_issued) = mpsc::channel();
        let reader = Arc::clone(&server);
        let task = server_task.spawn_local(move || async move {
            let read = reader.read_future(0);
            let _ = issued.send(());
            read.await
        });
        is_issued
            .recv_timeout(Duration::from_millis(u64::from(timeout)))
            .map_err(|_| "the local task never issued its read".to_string())?;
        Pending::InTask(task)
    };
    let writer = {
        let stream = stream.clone();
        let mut rng = Rng::new(seed ^ 0x5eed);
        thread::spawn(move || -> Result<(), String> {
            let mut offset = 0;
            for size in sizes {
                pause(&mut rng);
                client
                    .write(&stream[offset..offset + size])
                    .map_err(|e| format!("peer write: {e}"))?;
                offset += size;
            }
            client.shutdown().map_err(|e| format!("peer shutdown: {e}"))
        })
    };
    pause(&mut rng);
    let cycles = 1 + rng.below(MAX_CYCLES);
    let mut taken_by_port = Vec::new();
    let mut port_chunks = 0;
    for _ in 0..cycles {
        let port = server
            .read_start()
            .map_err(|e| format!("read_start: {e}"))?;
        let mut taken = Vec::new();
        for _ in 0..rng.below(4) {
            pause(&mut rng);
            match take(&port, &mut rng) {
                Some(Ok(chunk)) => {
                    port_chunks += 1;
                    taken.extend_from_slice(&chunk);
                }
                Some(Err(error)) if error.is_eof() => break,
                Some(Err(error)) => return Err(format!("port: {error}")),
                None => {}
            }
        }
        pause(&mut rng);
        server
            .read_stop(port)
            .map_err(|e| format!("read_stop: {e}"))?;
        taken_by_port.push(taken);
    }
    let (pending, in_a_task) = match pending {
        Pending::Here(read) => (read, false),
        Pending::InTask(task) => (task, true),
    };
    if !wait_until(Duration::from_millis(u64::from(timeout)), || {
        pending.is_ready()
    }) {
        let taken: Vec<usize> = taken_by_port.iter().map(Vec::len).collect();
        return Err(format!(
            "the pending read (awaited {}) never resolved; {cycles} ports took {taken:?} \
             bytes of the {} sent in {n_chunks} chunks",
            if in_a_task {
                "in a local task"
            } else {
                "with get"
            },
            stream.len()
        ));
    }
    let resolved = pending.get();
    let mut rest = Vec::new();
    read_to_eof(&server, timeout, |chunk| rest.extend_from_slice(chunk))?;
    writer
        .join()
        .map_err(|_| "the peer's writer panicked".to_string())??;
    let boundary = match resolved {
        Ok(chunk) => Some(
            place(&stream, &taken_by_port, &chunk, &rest).ok_or_else(|| {
                format!(
                    "the pending read's {} bytes, the ports' {:?} bytes and the {} bytes read \
                     after them do not make the {} bytes sent at any boundary between ports",
                    chunk.len(),
                    taken_by_port.iter().map(Vec::len).collect::<Vec<_>>(),
                    rest.len(),
                    stream.len()
                )
            })?,
        ),
        Err(error) if error.is_eof() => {
            let received: Vec<u8> = taken_by_port.concat();
            if Checksum::of(&received) != Checksum::of(&stream) || !rest.is_empty() {
                return Err(format!(
                    "the pending read got EOF, but the ports took {} of {} bytes",
                    received.len(),
                    stream.len()
                ));
            }
            None
        }
        Err(error) => return Err(format!("the pending read: {error}")),
    };
    Ok(Seen {
        bytes: stream.len() as u64,
        cycles,
        port_chunks,
        in_a_task,
        boundary,
    })
}

/// After how many ports `chunk` must sit so that the ports' bytes, the
/// chunk and `rest` make `stream`, if any.
fn place(stream: &[u8], taken_by_port: &[Vec<u8>], chunk: &[u8], rest: &[u8]) -> Option<usize> {
    let sent = Checksum::of(stream);
    (0..=taken_by_port.len()).find(|&after| {
        let mut received = Checksum::new();
        for taken in &taken_by_port[..after] {
            received.update(taken);
        }
        received.update(chunk);
        for taken in &taken_by_port[after..] {
            received.update(taken);
        }
        received.update(rest);
        received == sent
    })
}

/// One receive from `port`: `try_recv`, or a `recv_timeout` of up to 2 ms.
fn take(port: &ReadPort, rng: &mut Rng) -> Option<Result<Vec<u8>, TcpErrData>> {
    if rng.below(2) == 0 {
        return port.try_recv();
    }
    match port.recv_timeout(Duration::from_micros(rng.below(2_000))) {
        Err(error) if error.err_name == "ETIMEDOUT" => None,
        other => Some(other),
    }
}

/// No pause, a yield, or a sleep of up to 2 ms.
fn pause(rng: &mut Rng) {
    match rng.below(3) {
        0 => {}
        1 => thread::yield_now(),
        _ => thread::sleep(Duration::from_micros(rng.below(2_000))),
    }
}
