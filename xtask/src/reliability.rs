//! `cargo xtask reliability [--quick]`: the heavy reliability cases, run
//! from a release build of the tests crate's `reliability` binary, then the
//! same binary under valgrind's leak checker, then the property test of the
//! stream with more cases than `cargo test` runs.
//!
//! The full run rewrites `RELIABILITY.md` at the root with the figures it
//! measured. `--quick` runs the light version of every case (CI runs it)
//! and writes nothing.
//!
//! xtask does not depend on the library crates (it must build before libuv
//! is vendored): the workloads live in `tests/src/reliability/` and are
//! only run from here.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::command::{self, Error, cargo, project_root, target_dir};
use crate::vendor;

/// Property-test cases in the full run (`cargo test` runs the default of
/// `tests/tests/proptest_stream.rs`).
const PROPTEST_CASES: u32 = 1_000;
/// How many times longer time bounds are under valgrind.
const VALGRIND_SLOWDOWN: &str = "20";

/// How much to run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every case at full size; rewrites `RELIABILITY.md`.
    Full,
    /// The light version for CI; writes nothing.
    Quick,
}

/// Runs the cases, valgrind and the property test; in full mode, writes
/// `RELIABILITY.md`.
pub fn reliability(mode: Mode) -> Result<(), Error> {
    vendor::ensure()?;
    command::require("valgrind")?;
    cargo(&[
        "build",
        "--quiet",
        "--release",
        "--locked",
        "--package",
        "uvtcp-tests",
        "--bin",
        "reliability",
    ])?;
    let target = target_dir()?;
    let binary = target.join("release").join("reliability");
    let sections = target.join("reliability-cases.md");
    let scale = match mode {
        Mode::Full => None,
        Mode::Quick => Some("--quick"),
    };

    let mut cases = Command::new(&binary);
    cases.args(scale).arg("--markdown").arg(&sections);
    let cases_passed = command::run(&mut cases).is_ok();

    let leaks = valgrind(&binary, mode, &target.join("reliability-valgrind.log"))?;
    eprintln!("{}", leaks.summary());

    let proptest = match mode {
        Mode::Full => Some(proptest()?),
        // `cargo test` (and so CI) already runs the property test with its
        // default number of cases.
        Mode::Quick => None,
    };

    if mode == Mode::Full {
        let cases = std::fs::read_to_string(&sections)?;
        let document = document(&cases, &leaks, proptest.as_ref(), &binary);
        std::fs::write(project_root().join("RELIABILITY.md"), document)?;
        eprintln!("wrote RELIABILITY.md");
    }
    match (cases_passed, leaks.clean()) {
        (true, true) => Ok(()),
        (false, _) => Err(Error::new(
            "a reliability case failed: see its failures above",
        )),
        (true, false) => Err(Error::new(format!(
            "valgrind found errors or leaks: {}",
            leaks.summary()
        ))),
    }
}

/// What valgrind's leak checker reported.
struct Leaks {
    command: String,
    seconds: f64,
    errors: Option<u64>,
    definitely_lost: u64,
    indirectly_lost: u64,
    possibly_lost: u64,
    still_reachable: u64,
    allocations: String,
    exit_ok: bool,
}

impl Leaks {
    fn clean(&self) -> bool {
        self.exit_ok && self.errors == Some(0) && self.definitely_lost == 0
    }

    fn summary(&self) -> String {
        format!(
            "valgrind: {} errors, {} bytes definitely lost, {} possibly lost ({:.0} s)",
            self.errors
                .map_or_else(|| "unknown".to_string(), |count| count.to_string()),
            self.definitely_lost,
            self.possibly_lost,
            self.seconds
        )
    }
}

/// Runs the reliability binary under valgrind: the quick version of every
/// case in the full run, the smaller one in the quick run.
fn valgrind(binary: &Path, mode: Mode, log: &Path) -> Result<Leaks, Error> {
    let scale = match mode {
        Mode::Full => "--quick",
        Mode::Quick => "--small",
    };
    let mut command = Command::new("valgrind");
    command
        .args(["--leak-check=full", "--error-exitcode=1"])
        .arg(format!("--log-file={}", log.display()))
        .arg(binary)
        .args([scale, "--slowdown", VALGRIND_SLOWDOWN]);
    let shown = format!(
        "valgrind --leak-check=full --error-exitcode=1 reliability {scale} --slowdown {VALGRIND_SLOWDOWN}"
    );
    let started = Instant::now();
    let exit_ok = command::run(&mut command).is_ok();
    let seconds = started.elapsed().as_secs_f64();
    let report = std::fs::read_to_string(log)?;
    Ok(Leaks {
        command: shown,
        seconds,
        errors: number_after(&report, "ERROR SUMMARY:"),
        definitely_lost: number_after(&report, "definitely lost:").unwrap_or(0),
        indirectly_lost: number_after(&report, "indirectly lost:").unwrap_or(0),
        possibly_lost: number_after(&report, "possibly lost:").unwrap_or(0),
        still_reachable: number_after(&report, "still reachable:").unwrap_or(0),
        allocations: report
            .lines()
            .find_map(|line| line.split("total heap usage:").nth(1))
            .map_or_else(String::new, |usage| usage.trim().to_string()),
        exit_ok,
    })
}

/// The number (with thousands separators) that follows `label` in
/// valgrind's report, e.g. `definitely lost: 1,024 bytes in 2 blocks`.
fn number_after(report: &str, label: &str) -> Option<u64> {
    let rest = report.lines().find_map(|line| line.split(label).nth(1))?;
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// What the property test's long run did.
struct Proptest {
    cases: u32,
    seconds: f64,
}

/// Runs the property test of the stream with `PROPTEST_CASES` cases.
fn proptest() -> Result<Proptest, Error> {
    let test = [
        "test",
        "--quiet",
        "--release",
        "--locked",
        "--package",
        "uvtcp-tests",
        "--test",
        "proptest_stream",
    ];
    // Built first, so that the time measured is the cases'.
    cargo(&[&test[..], &["--no-run"]].concat())?;
    let started = Instant::now();
    command::run(command::cargo_command(&test).env("PROPTEST_CASES", PROPTEST_CASES.to_string()))?;
    Ok(Proptest {
        cases: PROPTEST_CASES,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `RELIABILITY.md`: how and where it was measured, the case sections the
/// binary wrote, valgrind's figures and the property test's.
fn document(cases: &str, leaks: &Leaks, proptest: Option<&Proptest>, binary: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Reliability\n");
    let _ = writeln!(
        out,
        "What uvtcp was put through beyond its tests, and what it did, as measured by the last \
         full run of `cargo xtask reliability` on {} (UTC).",
        today()
    );
    let _ = writeln!(out, "Machine: {}.", machine());
    let _ = writeln!(
        out,
        "Figures depend on the machine and its load; what must hold (nothing lost, nothing \
         stuck, nothing leaked) does not.\n"
    );
    let _ = writeln!(out, "## How to reproduce\n");
    let _ = writeln!(
        out,
        "`cargo xtask reliability` builds the `reliability` binary of the tests crate in release \
         mode, runs every case at full size, then runs the binary under valgrind and the \
         property test with {PROPTEST_CASES} cases, and rewrites this file (a few minutes; \
         valgrind must be installed: `apt-get install valgrind`)."
    );
    let _ = writeln!(
        out,
        "`cargo xtask reliability --quick` runs the light version of every case, as `cargo \
         xtask ci` does, and writes nothing."
    );
    let _ = writeln!(
        out,
        "One case at a time: `{} [--quick] CASE`, with CASE one of `connections`, `duplex`, \
         `faults`, `drop-orders`, `bad-inputs`, `panics`, `pending-reads`, \
         `panicking-wakers`; random choices follow `--seed N` (1 here).",
        binary
            .strip_prefix(project_root())
            .unwrap_or(binary)
            .display()
    );
    let _ = writeln!(
        out,
        "The cases are in `tests/src/reliability/`, one file each, and the property test in \
         `tests/tests/proptest_stream.rs`.\n"
    );
    out.push_str(cases);
    let _ = writeln!(out, "## Leaks found\n");
    let _ = writeln!(
        out,
        "The quick version of every case above, run under valgrind's memcheck with every time \
         bound {VALGRIND_SLOWDOWN} times longer: `{}`.",
        leaks.command
    );
    let _ = writeln!(
        out,
        "Child processes (the killed peers and the client ends) run outside valgrind.\n"
    );
    let verdict = if leaks.clean() { "passed" } else { "FAILED" };
    let _ = writeln!(out, "Result: **{verdict}** in {:.1} s.\n", leaks.seconds);
    let _ = writeln!(out, "| measure | value |\n| --- | --- |");
    let errors = leaks
        .errors
        .map_or_else(|| "not reported".to_string(), |count| count.to_string());
    for (measure, value) in [
        ("errors (ERROR SUMMARY)", errors),
        (
            "definitely lost",
            format!("{} bytes", leaks.definitely_lost),
        ),
        (
            "indirectly lost",
            format!("{} bytes", leaks.indirectly_lost),
        ),
        ("possibly lost", format!("{} bytes", leaks.possibly_lost)),
        (
            "still reachable at exit (std's and libuv's process-wide state)",
            format!("{} bytes", leaks.still_reachable),
        ),
        ("heap usage", leaks.allocations.clone()),
    ] {
        let _ = writeln!(out, "| {measure} | {value} |");
    }
    out.push('\n');
    if let Some(proptest) = proptest {
        let _ = writeln!(out, "## Property test of the stream\n");
        let _ = writeln!(
            out,
            "`tests/tests/proptest_stream.rs` drives random sequences of socket operations \
             (`write`, `write_future`, `read`, `read_future`, `read_start`/`recv`/`read_stop`, \
             `flush`, read and write limits, short sleeps) on both ends of a connection and \
             checks that each end receives exactly the stream the other sent."
        );
        let _ = writeln!(
            out,
            "`cargo test` runs a few cases; this run set `PROPTEST_CASES={}`.\n",
            proptest.cases
        );
        let _ = writeln!(
            out,
            "Result: **passed**: {} cases in {:.1} s.",
            proptest.cases, proptest.seconds
        );
    }
    out
}

/// The cores, the processor and the kernel of this machine.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |count| count.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let processor = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map_or("an unknown processor", |rest| {
            rest.trim_start_matches([' ', '\t', ':'])
        })
        .to_string();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cores} cores of {processor}, Linux {}, {}",
        kernel.trim(),
        std::env::consts::ARCH
    )
}

/// Today's date in UTC, `YYYY-MM-DD`.
fn today() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let (year, month, day) = civil_from_days(seconds / 86_400);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01, by Howard
/// Hinnant's `civil_from_days` algorithm.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }

    #[test]
    fn valgrind_figures_are_read_with_their_separators() {
        let report = "==1== LEAK SUMMARY:\n\
                      ==1==    definitely lost: 1,024 bytes in 2 blocks\n\
                      ==1==      possibly lost: 0 bytes in 0 blocks\n\
                      ==1== ERROR SUMMARY: 3 errors from 1 contexts (suppressed: 0 from 0)\n";
        assert_eq!(number_after(report, "definitely lost:"), Some(1024));
        assert_eq!(number_after(report, "possibly lost:"), Some(0));
        assert_eq!(number_after(report, "ERROR SUMMARY:"), Some(3));
        assert_eq!(number_after(report, "still reachable:"), None);
    }
}
