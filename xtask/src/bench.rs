//! `cargo xtask bench [--quick]`: the echo servers of every layer, uvtcp's
//! ways of serving, and tokio and std::net peers, under the same loads in
//! one run, reported as figures and as ratios against raw libuv and against
//! tokio's current-thread runtime.
//!
//! Each server runs in its own process; the load comes from this process
//! over loopback (see `load`):
//! - round trips on 1 connection, client and server on one CPU, then on
//!   two; the server's CPU time per round trip over the former, where
//!   neither waits for the other to wake up;
//! - round trips on 32 connections at once;
//! - a pump: bulk echo with 256 KiB in flight;
//! - connection rate: connect, one-byte echo, close, one after another;
//! - memory: the server's resident memory per idle connection, over 10,000;
//! - system calls and futex calls per round trip, counted by strace on 1
//!   and on 32 connections.
//!
//! Speeds are the median of several rounds, shown with their spread; within
//! a round the servers take turns, so that whatever else the machine does
//! falls on all of them alike. The ratios, taken in one run, are what to
//! compare across machines.
//! `bench` builds everything in release mode, then runs the release build
//! of xtask as `xtask __bench`, so that the peers and the load are
//! optimised as the servers are. A full run writes `bench/RESULTS.md` and
//! `bench/results.svg`; `--quick` checks that the bench works in well under
//! a minute and writes its report under the target directory instead.

mod chart;
mod figures;
mod load;
mod os;
pub mod peers;
mod report;
mod servers;
mod stats;
mod strace;
mod targets;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::command::{Error, project_root, require, run, target_dir};
use crate::server::Server;
use crate::vendor;
use figures::{Figures, Metric};
use load::{Fleet, PingPong};
use report::{Row, Run};
use servers::{CONTENDERS, Contender};
use stats::Sample;

/// How much load a run puts on each server.
struct Settings {
    /// Rounds per speed.
    rounds: usize,
    /// Length of a round.
    round: Duration,
    /// Connections held open for the memory figure.
    idle_connections: usize,
    /// Round trips made on one connection before measuring.
    warm_up: u64,
    /// Round trips strace watches on 1 connection.
    traced_round_trips: u64,
    /// Round trips strace watches on each of the fleet's connections.
    traced_round_trips_each: u64,
}

const FULL: Settings = Settings {
    rounds: 5,
    round: Duration::from_secs(1),
    idle_connections: 10_000,
    warm_up: 2_000,
    traced_round_trips: 2_000,
    traced_round_trips_each: 100,
};

const QUICK: Settings = Settings {
    rounds: 2,
    round: Duration::from_millis(100),
    idle_connections: 300,
    warm_up: 200,
    traced_round_trips: 200,
    traced_round_trips_each: 5,
};

/// The client's pause before each round trip that strace watches on one
/// connection: strace slows the server down so much that the next byte
/// would otherwise be there before the server waits for it, which it never
/// is unwatched.
const TRACED_PAUSE: Duration = Duration::from_millis(1);

/// Connections of the many-connection round trips.
const FLEET: usize = 32;

/// The longest the bench waits for an idle server to stop using CPU.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

const CHART: &str = "results.svg";

fn quick(flags: &[&str]) -> Result<bool, Error> {
    match flags {
        [] => Ok(false),
        ["--quick"] => Ok(true),
        _ => Err(Error::new(format!(
            "unknown bench flags `{}`: the only one is --quick",
            flags.join(" ")
        ))),
    }
}

/// Builds the servers and xtask in release mode, then measures.
pub fn bench(flags: &[&str]) -> Result<(), Error> {
    let quick = quick(flags)?;
    for tool in ["strace", "taskset", "prlimit"] {
        require(tool)?;
    }
    vendor::ensure()?;
    servers::build()?;
    let release = target_dir()?.join("release");
    let mut command = Command::new(release.join("xtask"));
    command.arg("__bench").args(quick.then_some("--quick"));
    run(&mut command)
}

/// Measures every server (`xtask __bench`, run by `bench` from the release
/// build) and writes the report.
pub fn measure(flags: &[&str]) -> Result<(), Error> {
    let quick = quick(flags)?;
    let started = Instant::now();
    let settings = if quick { &QUICK } else { &FULL };
    let target = target_dir()?;
    let release = target.join("release");
    let output = if quick {
        target.join("bench")
    } else {
        project_root().join("bench")
    };
    std::fs::create_dir_all(&output)?;
    let descriptors = os::raise_descriptor_limit()?;
    let idle_connections = settings
        .idle_connections
        .min(usize::try_from(descriptors.saturating_sub(64)).unwrap_or(usize::MAX));
    let cpus = os::allowed_cpus()?;
    let placement = Placement {
        client: cpus[0],
        server: cpus[cpus.len() - 1],
        all: cpus,
    };
    let bench = Bench {
        settings,
        release,
        scratch: output.clone(),
        placement,
        idle_connections,
    };
    let mut subjects = bench.start_all()?;
    bench.one_connection(&mut subjects)?;
    bench.fleet(&mut subjects)?;
    let mib = 1.0 / f64::from(1 << 20);
    bench.interleaved(&mut subjects, Metric::Pump, mib, |_, subject| {
        load::pump(subject.address, settings.round)
    })?;
    bench.interleaved(&mut subjects, Metric::ConnectionRate, 1.0, |_, subject| {
        load::churn(subject.address, settings.round)
    })?;
    say("http", "hyper_server on uvtcp and on tokio under wrk");
    let http = crate::http_load::hyper_vs_tokio(quick)?;
    let run = Run {
        setting: setting(quick),
        load: bench.describe(),
        cpus: bench.placement.all.len(),
        http,
        rows: subjects
            .into_iter()
            .map(|subject| Row {
                contender: subject.contender,
                figures: subject.figures,
            })
            .collect(),
    };
    report::print(&run);
    report::write(&run, &output, CHART)?;
    std::fs::write(output.join(CHART), chart::svg(&run.rows))?;
    println!();
    println!(
        "wrote {} and {} in {:.0} s",
        output.join("RESULTS.md").display(),
        output.join(CHART).display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Where the client and the servers run.
struct Placement {
    /// The client's CPU when it is pinned.
    client: usize,
    /// The server's CPU when it has a CPU of its own.
    server: usize,
    /// Every CPU this process may use.
    all: Vec<usize>,
}

/// A running server and its figures so far.
struct Subject {
    contender: Contender,
    server: Server,
    address: SocketAddr,
    figures: Figures,
}

impl Subject {
    fn name(&self) -> &'static str {
        self.contender.name
    }

    /// `error`, saying which server it concerns.
    fn fail(&self, error: Error) -> Error {
        Error::new(format!("{}: {error}", self.name()))
    }

    /// Records a figure taken once and says what it is.
    fn record(&mut self, metric: Metric, value: f64) {
        say(
            metric.heading(),
            format_args!("{}: {}", self.name(), metric.format(value)),
        );
        self.figures.insert(metric, Sample::once(value));
    }
}

/// Prints a progress line for the step `step`.
fn say(step: &str, what: impl std::fmt::Display) {
    eprintln!("[{step}] {what}");
}

struct Bench<'a> {
    settings: &'a Settings,
    release: PathBuf,
    scratch: PathBuf,
    placement: Placement,
    idle_connections: usize,
}

impl Bench<'_> {
    /// Starts every server and measures its memory per idle connection
    /// while it is new, before its allocator holds anything freed by the
    /// other loads.
    fn start_all(&self) -> Result<Vec<Subject>, Error> {
        let step = Metric::Memory.heading();
        say(
            step,
            format_args!(
                "each server in turn: {} with {} connections",
                Metric::Memory.description(),
                self.idle_connections
            ),
        );
        let mut subjects = Vec::with_capacity(CONTENDERS.len());
        for contender in CONTENDERS {
            let server = contender
                .start(&self.release)
                .map_err(|error| Error::new(format!("{}: {error}", contender.name)))?;
            let mut subject = Subject {
                contender,
                address: server.address()?,
                server,
                figures: Figures::new(),
            };
            say(
                step,
                format_args!(
                    "{} listening on {} (pid {})",
                    subject.name(),
                    subject.address,
                    subject.server.pid()
                ),
            );
            let memory = self.memory(&subject).map_err(|error| subject.fail(error))?;
            subject.record(Metric::Memory, memory);
            subjects.push(subject);
        }
        Ok(subjects)
    }

    /// Resident KiB per idle connection.
    fn memory(&self, subject: &Subject) -> Result<f64, Error> {
        let server = &subject.server;
        // A first connection sets up whatever the server makes lazily.
        PingPong::connect(subject.address)?.run(self.settings.warm_up)?;
        settle(server)?;
        let before = server.resident_kib()?;
        let idle = load::open_idle(subject.address, self.idle_connections)?;
        settle(server)?;
        let after = server.resident_kib()?;
        drop(idle);
        settle(server)?;
        Ok(after.saturating_sub(before) as f64 / self.idle_connections as f64)
    }

    /// Round trips on one connection per server: on one CPU with the
    /// server's CPU time, then on two, then the server's system calls.
    fn one_connection(&self, subjects: &mut [Subject]) -> Result<(), Error> {
        let placement = &self.placement;
        os::pin_current_thread(&[placement.client])?;
        pin_all(subjects, &[placement.client])?;
        let mut pings = subjects
            .iter()
            .map(|subject| {
                let mut ping = PingPong::connect(subject.address)?;
                ping.run(self.settings.warm_up)?;
                Ok(ping)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let cpu_before = cpu_seconds(subjects)?;
        let round_trips =
            self.interleaved(subjects, Metric::RoundTripsOneCpu, 1.0, |index, _| {
                pings[index].run_for(self.settings.round)
            })?;
        for ((subject, before), round_trips) in subjects.iter_mut().zip(cpu_before).zip(round_trips)
        {
            let seconds = subject.server.cpu_seconds()? - before;
            subject.record(Metric::CpuPerRoundTrip, seconds * 1e6 / round_trips as f64);
        }

        pin_all(subjects, &[placement.server])?;
        for ping in &mut pings {
            ping.run(self.settings.warm_up)?;
        }
        self.interleaved(subjects, Metric::RoundTripsTwoCpus, 1.0, |index, _| {
            pings[index].run_for(self.settings.round)
        })?;

        let traced = self.settings.traced_round_trips;
        for (subject, ping) in subjects.iter_mut().zip(&mut pings) {
            let calls = strace::per_round_trip(subject.server.pid(), &self.scratch, || {
                ping.run_paced(traced, TRACED_PAUSE)?;
                Ok(traced)
            })
            .map_err(|error| subject.fail(error))?;
            subject.record(Metric::Syscalls, calls.syscalls);
            subject.record(Metric::Futex, calls.futex);
        }
        drop(pings);
        os::pin_current_thread(&placement.all)?;
        pin_all(subjects, &placement.all)?;
        settle_all(subjects)
    }

    /// Round trips on 32 connections per server, and the server's system
    /// calls.
    fn fleet(&self, subjects: &mut [Subject]) -> Result<(), Error> {
        let mut fleets = subjects
            .iter()
            .map(|subject| {
                let mut fleet = Fleet::connect(subject.address, FLEET)?;
                fleet.run_each(self.settings.warm_up / FLEET as u64)?;
                Ok(fleet)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        self.interleaved(subjects, Metric::RoundTrips32, 1.0, |index, _| {
            fleets[index].run_for(self.settings.round)
        })?;
        let each = self.settings.traced_round_trips_each;
        for (subject, fleet) in subjects.iter_mut().zip(&mut fleets) {
            let calls = strace::per_round_trip(subject.server.pid(), &self.scratch, || {
                fleet.run_each(each)
            })
            .map_err(|error| subject.fail(error))?;
            subject.record(Metric::Syscalls32, calls.syscalls);
            subject.record(Metric::Futex32, calls.futex);
        }
        drop(fleets);
        settle_all(subjects)
    }

    /// Runs `round` on every server once per round, taking the servers in
    /// turn within a round, so that whatever else the machine does falls
    /// on all of them alike. Records the median rate as `metric` (what
    /// `round` counts per second, times `scale`) and returns what each
    /// server's rounds counted in all.
    fn interleaved(
        &self,
        subjects: &mut [Subject],
        metric: Metric,
        scale: f64,
        mut round: impl FnMut(usize, &Subject) -> Result<u64, Error>,
    ) -> Result<Vec<u64>, Error> {
        let step = metric.heading();
        let rounds = self.settings.rounds;
        say(
            step,
            format_args!(
                "{rounds} rounds of {} ms, the servers in turn: {}",
                self.settings.round.as_millis(),
                metric.description()
            ),
        );
        let mut rates = vec![Vec::with_capacity(rounds); subjects.len()];
        let mut totals = vec![0; subjects.len()];
        for number in 1..=rounds {
            let mut line = Vec::with_capacity(subjects.len());
            for (index, subject) in subjects.iter().enumerate() {
                let started = Instant::now();
                let count = round(index, subject).map_err(|error| subject.fail(error))?;
                let rate = count as f64 / started.elapsed().as_secs_f64() * scale;
                rates[index].push(rate);
                totals[index] += count;
                line.push(format!("{} {}", subject.name(), metric.format(rate)));
            }
            say(
                step,
                format_args!("round {number}/{rounds}: {}", line.join(", ")),
            );
        }
        let mut medians = Vec::with_capacity(subjects.len());
        for (subject, rates) in subjects.iter_mut().zip(rates) {
            let sample = Sample::of(&rates);
            medians.push(format!(
                "{} {}",
                subject.name(),
                metric.format_sample(&sample)
            ));
            subject.figures.insert(metric, sample);
        }
        say(step, format_args!("medians: {}", medians.join(", ")));
        Ok(totals)
    }

    /// The load, in a sentence for the report.
    fn describe(&self) -> String {
        let settings = self.settings;
        format!(
            "Load: {} rounds of {} ms per speed, the servers taking turns within each round; \
             {} idle connections for memory; \
             strace over {} round trips on 1 connection, each after a {} ms pause, \
             and {} on each of {FLEET}; \
             pinned client on CPU {}, server on CPU {} for the 2-CPU round trips.",
            settings.rounds,
            settings.round.as_millis(),
            self.idle_connections,
            settings.traced_round_trips,
            TRACED_PAUSE.as_millis(),
            settings.traced_round_trips_each,
            self.placement.client,
            self.placement.server
        )
    }
}

/// Lets every thread of every server run only on `cpus`.
fn pin_all(subjects: &[Subject], cpus: &[usize]) -> Result<(), Error> {
    for subject in subjects {
        os::pin_process(subject.server.pid(), cpus).map_err(|error| subject.fail(error))?;
    }
    Ok(())
}

/// Each server's CPU time so far.
fn cpu_seconds(subjects: &[Subject]) -> Result<Vec<f64>, Error> {
    subjects
        .iter()
        .map(|subject| subject.server.cpu_seconds())
        .collect()
}

/// Waits until no server uses CPU any more.
fn settle_all(subjects: &[Subject]) -> Result<(), Error> {
    for subject in subjects {
        settle(&subject.server).map_err(|error| subject.fail(error))?;
    }
    Ok(())
}

/// Waits until the server uses no more CPU (its CPU time stays the same
/// for 100 ms), so that the work of one load does not count in the next.
fn settle(server: &Server) -> Result<(), Error> {
    let deadline = Instant::now() + SETTLE_LIMIT;
    let mut last = server.cpu_seconds()?;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let now = server.cpu_seconds()?;
        if now == last {
            return Ok(());
        }
        last = now;
    }
    Err(Error::new(format!(
        "the server was still using CPU {} s after its load ended",
        SETTLE_LIMIT.as_secs()
    )))
}

/// When and on what the run was made, in a sentence.
fn setting(quick: bool) -> String {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .unwrap_or_default();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("an unknown CPU", |(_, model)| model.trim());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    format!(
        "Measured {date} on {model} ({cpus} CPUs), Linux {}{}.",
        kernel.trim(),
        if quick {
            "; a --quick run, which checks that the bench works: its figures are rough"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_quick_is_a_flag() {
        assert!(!quick(&[]).unwrap());
        assert!(quick(&["--quick"]).unwrap());
        assert!(quick(&["--fast"]).is_err());
    }
}
