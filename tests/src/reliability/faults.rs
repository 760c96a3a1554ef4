//! Faults injected: a uvtcp socket talks to a peer that resets, closes, or
//! is killed with SIGKILL at a random point, while the socket goes through
//! random operations. Every call must return (success or an error), none
//! may panic or hang, and every descriptor must come back.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use uvtcp::{Future, IoTask, TcpErrData, TcpListener, TcpSocket, connect_timeout};

use super::peer::chatter;
use super::report::{CaseReport, Table};
use super::system::{Failure, Rng, linger_zero, open_fds, wait_until, within};
use super::{Scale, localhost};

/// The close timeout set on every socket of this case.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(200);
/// The most random operations in one round before the final drain.
const MAX_OPERATIONS: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    Reset,
    Close,
    Kill,
}

impl Fault {
    fn describe(self) -> &'static str {
        match self {
            Fault::Reset => "peer resets (SO_LINGER 0, close)",
            Fault::Close => "peer closes (FIN)",
            Fault::Kill => "peer process killed (SIGKILL)",
        }
    }
}

/// What the calls of the rounds returned.
#[derive(Default)]
struct Tally {
    calls: u64,
    successes: u64,
    errors: BTreeMap<String, u64>,
    /// How the fault showed at the end of each round, by error name.
    seen_as: BTreeMap<String, u64>,
}

impl Tally {
    fn record<T>(&mut self, result: &Result<T, TcpErrData>) {
        self.calls += 1;
        match result {
            Ok(_) => self.successes += 1,
            Err(error) => *self.errors.entry(error.err_name.clone()).or_default() += 1,
        }
    }

    fn merge(&mut self, other: Tally) {
        self.calls += other.calls;
        self.successes += other.successes;
        for (name, count) in other.errors {
            *self.errors.entry(name).or_default() += count;
        }
        for (name, count) in other.seen_as {
            *self.seen_as.entry(name).or_default() += count;
        }
    }
}

/// What every round shares: the loop, a uvtcp listener for peers that
/// connect, and a std listener for peers that are connected to.
struct Shared {
    io_task: IoTask,
    listener: TcpListener,
    std_listener: std::net::TcpListener,
    scale: Scale,
}

/// Runs the case.
pub fn run(scale: &Scale) -> CaseReport {
    let mut report = CaseReport::new("Faults injected");
    report.tried.push(format!(
        "{} rounds; in each, one uvtcp socket (accepted by a `TcpListener`, or connected to a \
         std listener) goes through up to {MAX_OPERATIONS} random operations (`write`, \
         `write_future` kept or dropped, `read`, `read_future`, `read_start`/`recv_timeout`/\
         `read_stop`, `flush`, `shutdown`, setters) while its peer sends and receives at random \
         and then, at a random point within 20 ms, resets (SO_LINGER 0), closes, or, being a \
         child process, is killed with SIGKILL.",
        scale.fault_rounds
    ));
    report.tried.push(format!(
        "Then the socket reads until the fault shows, and ends with `close`, `close_reset` or a \
         drop, with a close timeout of {} ms.",
        CLOSE_TIMEOUT.as_millis()
    ));
    report.tried.push(format!(
        "Each round is bounded to {} s; the descriptors of the process must be back to their \
         count from before the case at the end.",
        scale.seconds(10).as_secs()
    ));
    let fds_before = open_fds();
    let started = Instant::now();
    let shared = match setup(scale) {
        Ok(shared) => Arc::new(shared),
        Err(error) => {
            report.failures.push(error);
            return report;
        }
    };
    let mut rng = Rng::new(scale.seed ^ 0xfa17);
    let mut tally = Tally::default();
    let mut rounds: BTreeMap<(Fault, &'static str), u64> = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    for round in 0..scale.fault_rounds {
        let fault = [Fault::Reset, Fault::Close, Fault::Kill][rng.index(3)];
        let uvtcp_accepts = rng.below(2) == 0;
        let round_seed = rng.next_u64();
        let round_shared = Arc::clone(&shared);
        let round_started = Instant::now();
        let outcome = within(scale.seconds(10), move || {
            one_round(&round_shared, fault, uvtcp_accepts, round_seed)
        });
        slowest = slowest.max(round_started.elapsed());
        let role = if uvtcp_accepts {
            "accepted"
        } else {
            "connected"
        };
        *rounds.entry((fault, role)).or_default() += 1;
        match outcome {
            Ok(Ok(round_tally)) => tally.merge(round_tally),
            Ok(Err(error)) => report
                .failures
                .push(format!("round {round} ({fault:?}, {role}): {error}")),
            Err(Failure::Panicked(message)) => report.failures.push(format!(
                "round {round} ({fault:?}, {role}) panicked: {message}"
            )),
            Err(Failure::Hung) => {
                report.failures.push(format!(
                    "round {round} ({fault:?}, {role}) hung for {} s",
                    scale.seconds(10).as_secs()
                ));
                break;
            }
        }
    }
    drop(shared);
    let settled = wait_until(CLOSE_TIMEOUT + scale.seconds(5), || {
        open_fds() <= fds_before
    });
    let fds_after = open_fds();
    report.check(settled, || {
        format!("descriptors: {fds_before} before the case, {fds_after} after it")
    });

    let mut table = Table::new(&["fault", "uvtcp socket", "rounds"]);
    for ((fault, role), count) in &rounds {
        table.row(vec![
            fault.describe().to_string(),
            (*role).to_string(),
            count.to_string(),
        ]);
    }
    report.tables.push(table);
    let mut figures = Table::new(&["measure", "value"]);
    figures.row(vec!["uvtcp calls made".into(), tally.calls.to_string()]);
    figures.row(vec!["returned Ok".into(), tally.successes.to_string()]);
    figures.row(vec!["returned an error".into(), counted(&tally.errors)]);
    figures.row(vec![
        "fault seen by the final reads as".into(),
        counted(&tally.seen_as),
    ]);
    figures.row(vec![
        "panics, hangs".into(),
        format!(
            "{}, {}",
            report.failures_mentioning("panicked"),
            report.failures_mentioning("hung")
        ),
    ]);
    figures.row(vec![
        "slowest round".into(),
        format!("{} ms", slowest.as_millis()),
    ]);
    figures.row(vec![
        "descriptors before / after".into(),
        format!("{fds_before} / {fds_after}"),
    ]);
    figures.row(vec![
        "total time".into(),
        format!("{:.1} s", started.elapsed().as_secs_f64()),
    ]);
    report.tables.push(figures);
    report
}

fn setup(scale: &Scale) -> Result<Shared, String> {
    let io_task = IoTask::spawn().map_err(|e| format!("IoTask::spawn: {e}"))?;
    let listener =
        TcpListener::bind(localhost(), 0, 16, &io_task).map_err(|e| format!("bind: {e}"))?;
    let std_listener =
        std::net::TcpListener::bind((localhost(), 0)).map_err(|e| format!("std bind: {e}"))?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| format!("std set_nonblocking: {e}"))?;
    Ok(Shared {
        io_task,
        listener,
        std_listener,
        scale: scale.clone(),
    })
}

/// The peer of one round.
enum Peer {
    Thread(thread::JoinHandle<()>),
    Child(Child),
}

fn one_round(
    shared: &Shared,
    fault: Fault,
    uvtcp_accepts: bool,
    seed: u64,
) -> Result<Tally, String> {
    let mut rng = Rng::new(seed);
    let fault_after = Duration::from_micros(rng.below(20_000));
    let scale = &shared.scale;
    let (socket, peer) = match fault {
        Fault::Kill => {
            let (socket, child) = child_peer(shared, uvtcp_accepts, seed)?;
            (socket, Peer::Child(child))
        }
        Fault::Reset | Fault::Close => {
            let (socket, stream) = thread_peer(shared, uvtcp_accepts)?;
            let peer = thread::spawn(move || {
                let mut stream = stream;
                chatter(&mut stream, seed, Some(fault_after));
                if fault == Fault::Reset {
                    let _ = linger_zero(&stream);
                }
                drop(stream);
            });
            (socket, Peer::Thread(peer))
        }
    };
    socket.set_close_timeout(Some(CLOSE_TIMEOUT));
    let killer = match peer {
        Peer::Child(mut child) => Some(thread::spawn(move || {
            thread::sleep(fault_after);
            let _ = child.kill();
            let _ = child.wait();
        })),
        Peer::Thread(handle) => {
            // The thread faults by itself; it is joined below.
            Some(handle)
        }
    };

    let mut tally = Tally::default();
    let mut kept: Vec<Future<Result<(), TcpErrData>>> = Vec::new();
    let mut broken = 0;
    for _ in 0..1 + rng.index(MAX_OPERATIONS) {
        let failed = operate(&socket, &mut rng, &mut tally, &mut kept, scale);
        broken += usize::from(failed);
        if broken > 3 {
            break;
        }
    }
    // Read until the fault shows as an error (peer data is read through).
    let mut seen = None;
    let deadline = Instant::now() + scale.seconds(5);
    while seen.is_none() && Instant::now() < deadline {
        let result = socket.read(scale.msecs(100));
        tally.record(&result);
        match result {
            Err(error) if error.err_name != "ETIMEDOUT" => seen = Some(error.err_name),
            _ => {}
        }
    }
    let Some(seen) = seen else {
        return Err("the fault never showed as a read error".to_string());
    };
    *tally.seen_as.entry(seen).or_default() += 1;
    for future in kept {
        let result = future.get();
        tally.record(&result);
    }
    match rng.below(3) {
        0 => {
            let result = socket.close();
            tally.record(&result);
        }
        1 => {
            let result = socket.close_reset();
            tally.record(&result);
        }
        _ => drop(socket),
    }
    if let Some(killer) = killer {
        killer
            .join()
            .map_err(|_| "the peer thread panicked".to_string())?;
    }
    Ok(tally)
}

/// One random operation on `socket`; returns whether it failed with an
/// error other than a timeout.
fn operate(
    socket: &TcpSocket,
    rng: &mut Rng,
    tally: &mut Tally,
    kept: &mut Vec<Future<Result<(), TcpErrData>>>,
    scale: &Scale,
) -> bool {
    let size = 1 + rng.index(128 * 1024);
    match rng.below(10) {
        0 => {
            let result = socket.write(vec![0x42; size]);
            tally.record(&result);
            failed(&result)
        }
        1 => {
            let future = socket.write_future(vec![0x43; size]);
            if rng.below(2) == 0 {
                kept.push(future);
            }
            false
        }
        2 | 3 => {
            let result = socket.read(scale.msecs(1 + rng.below(10) as u32));
            tally.record(&result);
            failed(&result)
        }
        4 => {
            let result = socket.read_future(scale.msecs(5)).get();
            tally.record(&result);
            failed(&result)
        }
        5 => {
            let port = socket.read_start();
            tally.record(&port);
            let Ok(port) = port else { return true };
            let mut any_failed = false;
            for _ in 0..rng.below(4) {
                let result = port.recv_timeout(Duration::from_millis(2));
                tally.record(&result);
                any_failed |= failed(&result);
            }
            let result = socket.read_stop(port);
            tally.record(&result);
            any_failed || failed(&result)
        }
        6 => {
            let result = socket.flush();
            tally.record(&result);
            failed(&result)
        }
        7 => {
            let result = if rng.below(8) == 0 {
                socket.shutdown()
            } else {
                socket.set_nodelay(rng.below(2) == 0)
            };
            tally.record(&result);
            failed(&result)
        }
        8 => {
            let result = socket.set_keepalive(Some(Duration::from_secs(1 + rng.below(60))));
            tally.record(&result);
            let address = socket.peer_addr();
            tally.record(&address);
            let _ = socket.write_queue_size();
            failed(&result)
        }
        _ => {
            socket.set_write_buffer_limit(rng.index(256 * 1024));
            socket.set_read_buffer_limit(rng.index(256 * 1024));
            false
        }
    }
}

/// Whether `result` is an error other than a timeout.
fn failed<T>(result: &Result<T, TcpErrData>) -> bool {
    result
        .as_ref()
        .is_err_and(|error| error.err_name != "ETIMEDOUT")
}

/// A uvtcp socket and its std peer, on this process.
fn thread_peer(shared: &Shared, uvtcp_accepts: bool) -> Result<(TcpSocket, TcpStream), String> {
    let scale = &shared.scale;
    if uvtcp_accepts {
        let port = shared
            .listener
            .local_addr()
            .map_err(|e| e.to_string())?
            .port();
        let stream =
            TcpStream::connect((localhost(), port)).map_err(|e| format!("std connect: {e}"))?;
        let socket = shared
            .listener
            .accept_timeout(scale.msecs(5000))
            .map_err(|e| format!("accept: {e}"))?;
        Ok((socket, stream))
    } else {
        let port = shared
            .std_listener
            .local_addr()
            .map_err(|e| e.to_string())?
            .port();
        let socket = connect_timeout(localhost(), port, &shared.io_task, scale.msecs(5000))
            .map_err(|e| format!("connect: {e}"))?;
        let mut accepted = None;
        let arrived = wait_until(scale.seconds(5), || {
            accepted = shared.std_listener.accept().ok();
            accepted.is_some()
        });
        let (stream, _) = accepted
            .filter(|_| arrived)
            .ok_or("the std listener got no connection")?;
        stream
            .set_nonblocking(false)
            .map_err(|e| format!("std set_nonblocking: {e}"))?;
        Ok((socket, stream))
    }
}

/// A uvtcp socket and its peer in a child process (this binary, in peer
/// mode).
fn child_peer(
    shared: &Shared,
    uvtcp_accepts: bool,
    seed: u64,
) -> Result<(TcpSocket, Child), String> {
    let scale = &shared.scale;
    let program = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut command = Command::new(program);
    command.stdout(Stdio::piped()).stdin(Stdio::null());
    if uvtcp_accepts {
        let port = shared
            .listener
            .local_addr()
            .map_err(|e| e.to_string())?
            .port();
        command.args(["peer", "connect", &port.to_string(), &seed.to_string()]);
    } else {
        command.args(["peer", "listen", &seed.to_string()]);
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("starting the peer process: {e}"))?;
    let mut line = String::new();
    let stdout = child.stdout.take().ok_or("the peer has no stdout")?;
    let read = BufReader::new(stdout).read_line(&mut line);
    let reaped = |mut child: Child, error: String| {
        let _ = child.kill();
        let _ = child.wait();
        error
    };
    if read.is_err() || line.is_empty() {
        return Err(reaped(child, "the peer process printed nothing".into()));
    }
    let socket = if uvtcp_accepts {
        shared
            .listener
            .accept_timeout(scale.msecs(5000))
            .map_err(|e| format!("accept: {e}"))
    } else {
        match line.trim().parse::<u16>() {
            Ok(port) => connect_timeout(localhost(), port, &shared.io_task, scale.msecs(5000))
                .map_err(|e| format!("connect: {e}")),
            Err(_) => Err(format!("the peer printed {line:?}")),
        }
    };
    match socket {
        Ok(socket) => Ok((socket, child)),
        Err(error) => Err(reaped(child, error)),
    }
}

/// `NAME count, NAME count, ...` for a tally of error names.
fn counted(tally: &BTreeMap<String, u64>) -> String {
    tally
        .iter()
        .map(|(name, count)| format!("{name} {count}"))
        .collect::<Vec<_>>()
        .join(", ")
}
