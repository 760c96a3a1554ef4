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
//! Speeds are the median of several rounds, shown with their spread; the
//! ratios, taken in one run, are what to compare across machines.
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

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::command::{Error, project_root, require, run};
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

/// The directory of the build profile this binary belongs to
/// (`TARGET/debug` or `TARGET/release`).
fn profile_dir() -> Result<PathBuf, Error> {
    let executable = std::env::current_exe()?;
    executable
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| Error::new("cannot tell where xtask's binary lives"))
}

/// Builds the servers and xtask in release mode, then measures.
pub fn bench(flags: &[&str]) -> Result<(), Error> {
    let quick = quick(flags)?;
    for tool in ["strace", "taskset", "prlimit"] {
        require(tool)?;
    }
    vendor::ensure()?;
    servers::build()?;
    let release = profile_dir()?.with_file_name("release");
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
    let release = profile_dir()?;
    let output = if quick {
        release.with_file_name("bench")
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
    let mut rows = Vec::new();
    for (index, contender) in CONTENDERS.iter().enumerate() {
        let progress = Progress(format!(
            "[{}/{} {}]",
            index + 1,
            CONTENDERS.len(),
            contender.name
        ));
        let figures = bench
            .measure(contender, &progress)
            .map_err(|error| Error::new(format!("{}: {error}", contender.name)))?;
        rows.push(Row {
            contender: *contender,
            figures,
        });
    }
    let run = Run {
        setting: setting(quick),
        load: bench.describe(),
        rows,
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

/// A progress line's prefix: which server of how many.
struct Progress(String);

impl Progress {
    fn say(&self, what: impl std::fmt::Display) {
        eprintln!("{} {what}", self.0);
    }
}

struct Bench<'a> {
    settings: &'a Settings,
    release: PathBuf,
    scratch: PathBuf,
    placement: Placement,
    idle_connections: usize,
}

impl Bench<'_> {
    /// Every figure of one server.
    fn measure(&self, contender: &Contender, progress: &Progress) -> Result<Figures, Error> {
        let server = contender.start(&self.release)?;
        let address = server.address()?;
        progress.say(format_args!(
            "listening on {address} (pid {})",
            server.pid()
        ));
        let mut figures = Figures::new();
        // Memory first, while the server's allocator holds nothing freed by
        // the other loads.
        let memory = self.memory(&server, address)?;
        figures.insert(Metric::Memory, Sample::once(memory));
        progress.say(format_args!(
            "{} idle connections: {} KiB each",
            self.idle_connections,
            Metric::Memory.format(memory)
        ));
        self.one_connection(&server, address, &mut figures, progress)?;
        self.fleet(&server, address, &mut figures, progress)?;

        let (rates, _) = self.rounds(|| load::pump(address, self.settings.round))?;
        let mib: Vec<f64> = rates.iter().map(|rate| rate / f64::from(1 << 20)).collect();
        self.record(&mut figures, Metric::Pump, Sample::of(&mib), progress);
        let (rates, _) = self.rounds(|| load::churn(address, self.settings.round))?;
        self.record(
            &mut figures,
            Metric::ConnectionRate,
            Sample::of(&rates),
            progress,
        );
        Ok(figures)
    }

    fn record(&self, figures: &mut Figures, metric: Metric, sample: Sample, progress: &Progress) {
        progress.say(format_args!(
            "{}: {}",
            metric.description(),
            metric.format_sample(&sample)
        ));
        figures.insert(metric, sample);
    }

    /// Resident KiB per idle connection.
    fn memory(&self, server: &Server, address: std::net::SocketAddr) -> Result<f64, Error> {
        // A first connection sets up whatever the server makes lazily.
        PingPong::connect(address)?.run(self.settings.warm_up)?;
        settle(server)?;
        let before = server.resident_kib()?;
        let idle = load::open_idle(address, self.idle_connections)?;
        settle(server)?;
        let after = server.resident_kib()?;
        drop(idle);
        settle(server)?;
        Ok(after.saturating_sub(before) as f64 / self.idle_connections as f64)
    }

    /// Round trips on one connection: on one CPU with the server's CPU
    /// time, then on two, and the server's system calls.
    fn one_connection(
        &self,
        server: &Server,
        address: std::net::SocketAddr,
        figures: &mut Figures,
        progress: &Progress,
    ) -> Result<(), Error> {
        let placement = &self.placement;
        os::pin_process(server.pid(), &[placement.client])?;
        os::pin_current_thread(&[placement.client])?;
        let mut ping = PingPong::connect(address)?;
        ping.run(self.settings.warm_up)?;
        let cpu_before = server.cpu_seconds()?;
        let (rates, round_trips) = self.rounds(|| ping.run_for(self.settings.round))?;
        let cpu_seconds = server.cpu_seconds()? - cpu_before;
        self.record(
            figures,
            Metric::RoundTripsOneCpu,
            Sample::of(&rates),
            progress,
        );
        let cpu = Sample::once(cpu_seconds * 1e6 / round_trips as f64);
        self.record(figures, Metric::CpuPerRoundTrip, cpu, progress);

        os::pin_process(server.pid(), &[placement.server])?;
        ping.run(self.settings.warm_up)?;
        let (rates, _) = self.rounds(|| ping.run_for(self.settings.round))?;
        self.record(
            figures,
            Metric::RoundTripsTwoCpus,
            Sample::of(&rates),
            progress,
        );

        let traced = self.settings.traced_round_trips;
        let calls = strace::per_round_trip(server.pid(), &self.scratch, || {
            ping.run_paced(traced, TRACED_PAUSE)?;
            Ok(traced)
        })?;
        self.record(
            figures,
            Metric::Syscalls,
            Sample::once(calls.syscalls),
            progress,
        );
        self.record(figures, Metric::Futex, Sample::once(calls.futex), progress);
        drop(ping);
        os::pin_process(server.pid(), &placement.all)?;
        os::pin_current_thread(&placement.all)?;
        settle(server)
    }

    /// Round trips on 32 connections at once, and their system calls.
    fn fleet(
        &self,
        server: &Server,
        address: std::net::SocketAddr,
        figures: &mut Figures,
        progress: &Progress,
    ) -> Result<(), Error> {
        let mut fleet = Fleet::connect(address, FLEET)?;
        fleet.run_each(self.settings.warm_up / FLEET as u64)?;
        let (rates, _) = self.rounds(|| fleet.run_for(self.settings.round))?;
        self.record(figures, Metric::RoundTrips32, Sample::of(&rates), progress);
        let each = self.settings.traced_round_trips_each;
        let calls = strace::per_round_trip(server.pid(), &self.scratch, || fleet.run_each(each))?;
        self.record(
            figures,
            Metric::Syscalls32,
            Sample::once(calls.syscalls),
            progress,
        );
        self.record(
            figures,
            Metric::Futex32,
            Sample::once(calls.futex),
            progress,
        );
        drop(fleet);
        settle(server)
    }

    /// Runs `round` once per round and returns the rate of each (what it
    /// counted per second) and the total count.
    fn rounds(
        &self,
        mut round: impl FnMut() -> Result<u64, Error>,
    ) -> Result<(Vec<f64>, u64), Error> {
        let mut rates = Vec::with_capacity(self.settings.rounds);
        let mut total = 0;
        for _ in 0..self.settings.rounds {
            let started = Instant::now();
            let count = round()?;
            rates.push(count as f64 / started.elapsed().as_secs_f64());
            total += count;
        }
        Ok((rates, total))
    }

    /// The load, in a sentence for the report.
    fn describe(&self) -> String {
        let settings = self.settings;
        format!(
            "Load: {} rounds of {} ms per speed; {} idle connections for memory; \
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
