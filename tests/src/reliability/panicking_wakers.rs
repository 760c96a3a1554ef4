//! Panicking wakers: each awaitable of a socket, and `IoTask::sleep`, is
//! awaited by a tiny executor whose waker panics the first few times it is
//! woken. The wake runs on the loop thread, whose panic guard must catch
//! and report the panic; the socket's other users must go on, and a later
//! await with a sound waker must still complete. Every wait is bounded.

use std::future::Future as StdFuture;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use uvtcp::{IoTask, TcpSocket};
use uvtcp_tests::{Checksum, pattern};

use super::panics::goes_on;
use super::report::{CaseReport, Table};
use super::system::{Rng, panics, within};
use super::{Scale, join, pair, read_to_eof};

/// The message of every planned panic of a waker.
const PLANNED: &str = "planned panic in a waker";
/// The most panics planned for one await.
const MAX_PANICS: u64 = 3;
/// What a write or a flush leaves queued: more than the kernel takes
/// before the peer reads, so the await waits for the loop.
const BIG_WRITE: usize = 16 << 20;

/// The awaitables tried.
#[derive(Clone, Copy)]
enum Kind {
    ReadFuture,
    RecvAsync,
    WriteFuture,
    FlushFuture,
    Sleep,
}

const KINDS: [Kind; 5] = [
    Kind::ReadFuture,
    Kind::RecvAsync,
    Kind::WriteFuture,
    Kind::FlushFuture,
    Kind::Sleep,
];

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::ReadFuture => "`read_future(0)`",
            Kind::RecvAsync => "`ReadPort::recv_async`",
            Kind::WriteFuture => "`write_future` of 16 MiB",
            Kind::FlushFuture => "`flush_future` behind 16 MiB",
            Kind::Sleep => "`IoTask::sleep` of up to 3 ms",
        }
    }
}

/// A waker that panics the first `panics_left` times it is woken, then
/// unparks its thread; it counts where it panicked.
struct PanickyWaker {
    panics_left: AtomicUsize,
    thread: Thread,
    on_loop_thread: AtomicUsize,
    elsewhere: AtomicUsize,
}

impl PanickyWaker {
    fn new(panics: usize) -> Arc<PanickyWaker> {
        Arc::new(PanickyWaker {
            panics_left: AtomicUsize::new(panics),
            thread: thread::current(),
            on_loop_thread: AtomicUsize::new(0),
            elsewhere: AtomicUsize::new(0),
        })
    }
}

impl Wake for PanickyWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let planned = self
            .panics_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        if planned {
            let on_loop = thread::current()
                .name()
                .is_some_and(|name| name.starts_with("uv-io-"));
            let counter = if on_loop {
                &self.on_loop_thread
            } else {
                &self.elsewhere
            };
            counter.fetch_add(1, Ordering::SeqCst);
            panic!("{PLANNED}");
        }
        self.thread.unpark();
    }
}

/// A tiny executor: polls `future` with `waker` on this thread until it is
/// ready or `limit` passed. Without `repoll` it sleeps until woken (a
/// sound waker must wake it); with it, it polls every millisecond too,
/// since a waker that panicked woke nobody. A panic out of `poll` (a wake
/// made inline) is caught, counted by the waker, and polling goes on.
fn await_bounded<F: StdFuture>(
    future: F,
    waker: &Arc<PanickyWaker>,
    repoll: bool,
    limit: Duration,
) -> Result<F::Output, String> {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::clone(waker));
    let mut context = Context::from_waker(&waker);
    let deadline = Instant::now() + limit;
    loop {
        match panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut context))) {
            Ok(Poll::Ready(output)) => return Ok(output),
            Ok(Poll::Pending) => {}
            Err(_) => {}
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(format!(
                "an await {}: still pending after {} ms",
                if repoll {
                    "with the panicking waker"
                } else {
                    "with a sound waker"
                },
                limit.as_millis()
            ));
        }
        let wait = if repoll {
            Duration::from_millis(1)
        } else {
            deadline - now
        };
        thread::park_timeout(wait.min(deadline - now));
    }
}

/// What the rounds of one kind saw.
#[derive(Default, Clone, Copy)]
struct Tally {
    rounds: usize,
    planned: usize,
    on_loop_thread: usize,
    elsewhere: usize,
    sound_awaits: usize,
}

/// Runs the case.
pub fn run(scale: &Scale) -> CaseReport {
    let mut report = CaseReport::new("Panicking wakers");
    let kinds: Vec<&str> = KINDS.iter().map(|kind| kind.describe()).collect();
    report.tried.push(format!(
        "{} rounds of each of {}, on a fresh connection of one IoTask.",
        scale.waker_rounds,
        kinds.join(", ")
    ));
    report.tried.push(format!(
        "Each await runs on a tiny executor (poll, then park) whose waker panics the first 1 \
         to {MAX_PANICS} times it is woken, on whatever thread wakes it."
    ));
    report.tried.push(
        "A panic on the loop thread must be caught there; the await must still complete (the \
         executor polls again every millisecond, since its wakes were lost), and its bytes \
         must be the ones sent, checksummed."
            .to_string(),
    );
    report.tried.push(
        "After it, the same socket must carry a round trip each way, a later await of the same \
         kind with a sound waker must complete on its wake alone, and a socket pair of the \
         same loop must carry a round trip and a new local task must run."
            .to_string(),
    );
    report
        .tried
        .push("Every await is bounded to 2 s and every round to 30 s.".to_string());
    let io_task = match IoTask::spawn() {
        Ok(io_task) => io_task,
        Err(error) => {
            report.failures.push(format!("IoTask::spawn: {error}"));
            return report;
        }
    };
    let bystanders = match pair(&io_task) {
        Ok(pair) => Arc::new(pair),
        Err(error) => {
            report.failures.push(format!("a socket pair: {error}"));
            return report;
        }
    };
    let panics_before = panics();
    let mut rng = Rng::new(scale.seed);
    let mut table = Table::new(&[
        "awaitable",
        "rounds passed",
        "panics planned",
        "panics on the loop thread (caught)",
        "panics on other threads",
        "later awaits with a sound waker",
    ]);
    let mut all_panicked = 0;
    // The panics of a failed round are not counted.
    let mut failed = false;
    for kind in KINDS {
        let mut tally = Tally::default();
        for round in 0..scale.waker_rounds {
            let n_panics = 1 + rng.below(MAX_PANICS) as usize;
            let seed = rng.next_u64();
            let (io_task, bystanders) = (io_task.clone(), Arc::clone(&bystanders));
            let limit = scale.seconds(2);
            let outcome = within(scale.seconds(30), move || {
                let seen = one_round(kind, &io_task, n_panics, seed, limit)?;
                goes_on(&io_task, &bystanders).map(|()| seen)
            });
            match outcome {
                Ok(Ok(seen)) => {
                    tally.rounds += 1;
                    tally.planned += n_panics;
                    tally.on_loop_thread += seen.on_loop_thread;
                    tally.elsewhere += seen.elsewhere;
                    tally.sound_awaits += 1;
                    all_panicked += seen.on_loop_thread + seen.elsewhere;
                }
                Ok(Err(error)) => report
                    .failures
                    .push(format!("{} round {round}: {error}", kind.describe())),
                Err(failure) => report
                    .failures
                    .push(format!("{} round {round}: {failure:?}", kind.describe())),
            }
            if tally.rounds <= round {
                // A kind that failed is not tried further: each failure
                // can cost a full bound.
                report.failures.push(format!(
                    "{}: stopped after its first failed round",
                    kind.describe()
                ));
                break;
            }
        }
        table.row(vec![
            kind.describe().to_string(),
            format!("{} of {}", tally.rounds, scale.waker_rounds),
            tally.planned.to_string(),
            tally.on_loop_thread.to_string(),
            tally.elsewhere.to_string(),
            format!("{} completed", tally.sound_awaits),
        ]);
        failed |= tally.rounds < scale.waker_rounds;
        report.check(
            tally.rounds == 0 || tally.on_loop_thread + tally.elsewhere > 0,
            || format!("{}: no waker was ever woken", kind.describe()),
        );
    }
    report.tables.push(table);
    let panicked = panics() - panics_before;
    report.check(failed || panicked == all_panicked, || {
        format!("{panicked} panics happened where the wakers made {all_panicked}")
    });
    report
}

/// Where the panicking waker of one round panicked.
struct Seen {
    on_loop_thread: usize,
    elsewhere: usize,
}

impl Seen {
    fn of(waker: &PanickyWaker) -> Seen {
        Seen {
            on_loop_thread: waker.on_loop_thread.load(Ordering::SeqCst),
            elsewhere: waker.elsewhere.load(Ordering::SeqCst),
        }
    }
}

/// One await of `kind` with a panicking waker, the socket's other users,
/// and a later await with a sound waker.
fn one_round(
    kind: Kind,
    io_task: &IoTask,
    n_panics: usize,
    seed: u64,
    limit: Duration,
) -> Result<Seen, String> {
    let mut rng = Rng::new(seed);
    let (client, server) = pair(io_task).map_err(|e| e.to_string())?;
    let client = Arc::new(client);
    let panicky = PanickyWaker::new(n_panics);
    let sound = PanickyWaker::new(0);
    let timeout = u32::try_from(limit.as_millis()).unwrap_or(u32::MAX);
    let delay = Duration::from_micros(rng.below(3_000));
    match kind {
        Kind::ReadFuture => {
            let read = server.read_future(0);
            let writer = write_later(&client, b"first", delay);
            let first = await_bounded(read, &panicky, true, limit)?;
            join(writer)?;
            expect(first, b"first")?;
            let later = server.read_future(0);
            let writer = write_later(&client, b"later", delay);
            let later = await_bounded(later, &sound, false, limit)?;
            join(writer)?;
            expect(later, b"later")?;
        }
        Kind::RecvAsync => {
            let port = server
                .read_start()
                .map_err(|e| format!("read_start: {e}"))?;
            let writer = write_later(&client, b"first", delay);
            let first = await_bounded(port.recv_async(), &panicky, true, limit)?;
            join(writer)?;
            expect(first, b"first")?;
            let writer = write_later(&client, b"later", delay);
            let later = await_bounded(port.recv_async(), &sound, false, limit)?;
            join(writer)?;
            expect(later, b"later")?;
            server
                .read_stop(port)
                .map_err(|e| format!("read_stop: {e}"))?;
        }
        Kind::WriteFuture | Kind::FlushFuture => {
            let big = pattern(BIG_WRITE, seed);
            let mut sent = Checksum::of(&big);
            sent.update(b"later");
            let written = server.write_future(big);
            // The socket's other user: its peer, reading everything.
            let reader = {
                let client = Arc::clone(&client);
                thread::spawn(move || {
                    thread::sleep(delay);
                    let mut received = Checksum::new();
                    read_to_eof(&client, timeout, |chunk| received.update(chunk)).map(|_| received)
                })
            };
            if let Kind::WriteFuture = kind {
                await_bounded(written, &panicky, true, limit)?
                    .map_err(|e| format!("write_future: {e}"))?;
                await_bounded(server.write_future("later"), &sound, false, limit)?
                    .map_err(|e| format!("a later write_future: {e}"))?;
            } else {
                drop(written);
                await_bounded(server.flush_future(), &panicky, true, limit)?
                    .map_err(|e| format!("flush_future: {e}"))?;
                drop(server.write_future("later"));
                await_bounded(server.flush_future(), &sound, false, limit)?
                    .map_err(|e| format!("a later flush_future: {e}"))?;
            }
            server.shutdown().map_err(|e| format!("shutdown: {e}"))?;
            let received = join(reader)?;
            if received != sent {
                return Err(format!("the peer received {received:?}, sent {sent:?}"));
            }
            return Ok(Seen::of(&panicky));
        }
        Kind::Sleep => {
            await_bounded(io_task.sleep(delay), &panicky, true, limit)?;
            await_bounded(
                io_task.sleep(Duration::from_millis(1)),
                &sound,
                false,
                limit,
            )?;
        }
    }
    round_trips(&client, &server, timeout)?;
    Ok(Seen::of(&panicky))
}

/// A round trip each way on the pair whose waker panicked.
fn round_trips(client: &TcpSocket, server: &TcpSocket, timeout: u32) -> Result<(), String> {
    server
        .write("to the client")
        .map_err(|e| format!("write after the panics: {e}"))?;
    expect(client.read(timeout), b"to the client")?;
    client
        .write("to the server")
        .map_err(|e| format!("write after the panics: {e}"))?;
    expect(server.read(timeout), b"to the server")
}

fn write_later(
    client: &Arc<TcpSocket>,
    data: &'static [u8],
    delay: Duration,
) -> thread::JoinHandle<Result<(), String>> {
    let client = Arc::clone(client);
    thread::spawn(move || {
        thread::sleep(delay);
        client.write(data).map_err(|e| format!("peer write: {e}"))
    })
}

fn expect(read: Result<Vec<u8>, uvtcp::TcpErrData>, wanted: &[u8]) -> Result<(), String> {
    match read {
        Ok(bytes) if bytes == wanted => Ok(()),
        other => Err(format!(
            "read {other:?} where {:?} was sent",
            String::from_utf8_lossy(wanted)
        )),
    }
}
