//! System calls a server makes per round trip, counted by `strace -c -f`
//! attached to it over a fixed number of round trips. Unlike timings, the
//! counts do not depend on the machine's noise.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use super::os;
use crate::command::Error;

/// What a server's threads asked of the kernel, per round trip.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Calls {
    pub syscalls: f64,
    pub futex: f64,
}

/// Attaches `strace -c -f` to every thread of process `pid`, runs `load`
/// (which returns how many round trips it made), detaches, and returns the
/// calls per round trip. strace writes its summary to a file in `scratch`.
pub fn per_round_trip(
    pid: u32,
    scratch: &Path,
    load: impl FnOnce() -> Result<u64, Error>,
) -> Result<Calls, Error> {
    let summary = scratch.join(format!("strace-{pid}.txt"));
    let mut strace = Command::new("strace")
        .args(["-c", "-f", "-p", &pid.to_string(), "-o"])
        .arg(&summary)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| Error::new(format!("could not start strace: {error}")))?;
    // strace says `Process PID attached` (`... with N threads`) once it
    // traces every thread of the process.
    let stderr = strace.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    let mut said = String::new();
    let attached = loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("attached") => break true,
            Some(Ok(line)) => said.push_str(&line),
            _ => break false,
        }
    };
    if !attached {
        let _ = strace.wait();
        return Err(Error::new(format!(
            "strace could not attach to the server: {said}"
        )));
    }
    let round_trips = load();
    os::interrupt(strace.id())?;
    // Read what strace says while it detaches, so that it never blocks on
    // a full pipe, then let it write its summary.
    lines.for_each(drop);
    strace.wait()?;
    let round_trips = round_trips? as f64;
    let (syscalls, futex) = parse_summary(&std::fs::read_to_string(&summary)?)?;
    let _ = std::fs::remove_file(&summary);
    Ok(Calls {
        syscalls: syscalls as f64 / round_trips,
        futex: futex as f64 / round_trips,
    })
}

/// The total calls and the futex calls in a `strace -c` summary.
fn parse_summary(text: &str) -> Result<(u64, u64), Error> {
    let mut total = None;
    let mut futex = 0;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        // % time, seconds, usecs/call, calls, [errors], syscall
        if words.len() < 5 {
            continue;
        }
        let Ok(calls) = words[3].parse::<u64>() else {
            continue;
        };
        match words[words.len() - 1] {
            "total" => total = Some(calls),
            "futex" => futex = calls,
            _ => {}
        }
    }
    total
        .map(|total| (total, futex))
        .ok_or_else(|| Error::new(format!("no total in strace's summary:\n{text}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_gives_its_total_and_futex_calls() {
        let summary = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 60.00    0.000600           3       200           write
 30.00    0.000300           1       210        10 read
 10.00    0.000100           1        40         2 futex
------ ----------- ----------- --------- --------- ----------------
100.00    0.001000           2       450        12 total
";
        assert_eq!(parse_summary(summary).unwrap(), (450, 40));
        let quiet = summary.replace("futex", "epoll_wait");
        assert_eq!(parse_summary(&quiet).unwrap(), (450, 0));
        assert!(parse_summary("strace: nothing").is_err());
    }
}
