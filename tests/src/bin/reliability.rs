//! `reliability`: the heavy reliability cases of uvtcp, which
//! `cargo xtask reliability` builds in release mode and runs.
//!
//! ```text
//! reliability [--quick | --small] [--slowdown N] [--seed N] [--markdown FILE] [CASE...]
//! reliability peer (connect PORT SEED | listen SEED)
//! reliability clients PORT COUNT TIMEOUT_MS
//! ```
//!
//! Without a scale flag every case runs at full size (10,000 connections,
//! 1 GiB each way, 1,000 fault rounds, all 5,040 drop orders, 1,000
//! rounds of reads pending across ports, 200 of each panicking waker); `--quick` is
//! the light version CI runs, `--small` a smaller one for valgrind's leak
//! checker in CI. `--slowdown N` makes every time bound N times longer (for
//! runs under valgrind). `--markdown` writes one section per case, with the figures
//! measured, to FILE. CASE names (`connections`, `duplex`, `faults`,
//! `drop-orders`, `bad-inputs`, `panics`, `pending-reads`,
//! `panicking-wakers`) pick some of the cases. The exit
//! status is non-zero when any case failed. `peer` is the child process
//! that the fault cases kill, `clients` the child process that holds the
//! client ends of the connections case.

#[path = "../reliability/mod.rs"]
mod reliability;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use reliability::report::CaseReport;
use reliability::system::{count_panics, open_fds, panic_messages, panics, threads, wait_until};
use reliability::{
    Scale, bad_inputs, connections, drop_orders, duplex, faults, panicking_wakers, panics, peer,
    pending_reads,
};

/// A case: its name on the command line, its function, and whether it
/// panics on purpose (it then checks its own panics).
type Case = (&'static str, fn(&Scale) -> CaseReport, bool);

/// Every case, in the order they run.
const CASES: [Case; 8] = [
    ("connections", connections::run, false),
    ("duplex", duplex::run, false),
    ("faults", faults::run, false),
    ("drop-orders", drop_orders::run, false),
    ("bad-inputs", bad_inputs::run, false),
    ("panics", panics::run, true),
    ("pending-reads", pending_reads::run, false),
    ("panicking-wakers", panicking_wakers::run, true),
];

const USAGE: &str = "usage: reliability [--quick | --small] [--slowdown N] [--seed N] [--markdown FILE] [CASE...]\n\
                     cases: connections duplex faults drop-orders bad-inputs panics pending-reads \
                     panicking-wakers";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("peer") => return peer::main(&args[1..]),
        Some("clients") => return connections::clients_main(&args[1..]),
        _ => {}
    }
    // The cases run on a thread of their own: std never frees the handle of
    // the main thread once something asked for it, which valgrind would
    // count as possibly lost memory.
    let cases = std::thread::Builder::new()
        .name("cases".into())
        .spawn(move || run(&args))
        .map_err(|error| format!("spawning the cases thread: {error}"));
    let outcome = cases.and_then(|cases| {
        cases
            .join()
            .map_err(|_| "the cases thread panicked".to_string())?
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("reliability: {error}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Runs the cases the arguments ask for; returns whether all passed.
fn run(args: &[String]) -> Result<bool, String> {
    let mut scale_name = "full";
    let mut seed = 1;
    let mut slowdown = 1;
    let mut markdown = None;
    let mut chosen = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => scale_name = "quick",
            "--small" => scale_name = "small",
            "--slowdown" => {
                let value = args.next().ok_or("--slowdown needs a number")?;
                slowdown = value.parse().map_err(|_| format!("bad slowdown {value}"))?;
            }
            "--seed" => {
                let value = args.next().ok_or("--seed needs a number")?;
                seed = value.parse().map_err(|_| format!("bad seed {value}"))?;
            }
            "--markdown" => markdown = Some(args.next().ok_or("--markdown needs a file")?),
            name if CASES.iter().any(|(case, _, _)| *case == name) => chosen.push(name.to_string()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let mut scale = match scale_name {
        "quick" => Scale::quick(seed),
        "small" => Scale::small(seed),
        _ => Scale::full(seed),
    };
    scale.slowdown = slowdown;
    count_panics();
    // libuv opens a process-wide pipe with its first loop and keeps it for
    // the life of the process: start that first loop before any case
    // measures its descriptor baseline.
    let first_loop = uvtcp::IoTask::spawn().map_err(|e| format!("IoTask::spawn: {e}"))?;
    drop(first_loop);
    let threads_before = threads();
    wait_until(Duration::from_secs(10), || threads() < threads_before);
    let (base_fds, base_threads) = (open_fds(), threads());
    eprintln!(
        "reliability: {} scale, seed {seed}, time bounds x{slowdown}",
        scale.name
    );
    let mut sections = Vec::new();
    let mut all_passed = true;
    for (name, case, panics_on_purpose) in CASES {
        if !chosen.is_empty() && !chosen.iter().any(|chosen| chosen == name) {
            continue;
        }
        eprintln!("running {name}...");
        let panics_before = panics();
        let started = Instant::now();
        let mut report = case(&scale);
        report.seconds = started.elapsed().as_secs_f64();
        // Whatever a case leaves closing must be gone before the next one
        // measures its own baseline.
        let settled = wait_until(scale.seconds(20), || {
            open_fds() <= base_fds && threads() <= base_threads
        });
        if !settled {
            report.failures.push(format!(
                "{} descriptors and {} threads left 20 s after the case (before it: {base_fds} \
                 and {base_threads})",
                open_fds(),
                threads()
            ));
        }
        let unplanned = panics() - panics_before;
        if !panics_on_purpose && unplanned > 0 {
            report.failures.push(format!(
                "{unplanned} panics on some thread: {}",
                panic_messages().join("; ")
            ));
        }
        eprint!("{}", report.summary());
        all_passed &= report.passed();
        sections.push(report.markdown());
    }
    if let Some(file) = markdown {
        std::fs::write(file, sections.join("\n"))
            .map_err(|error| format!("writing {file}: {error}"))?;
    }
    Ok(all_passed)
}
