//! The operating system settings the bench changes: which CPUs a process or
//! thread may run on, the descriptor limit, and a signal to stop a tracer.
//!
//! xtask has no unsafe code, so these go through util-linux's `taskset` and
//! `prlimit` and procps's `kill`, which every Debian system has.

use std::process::Command;

use crate::command::Error;

/// The CPUs this process may run on (`Cpus_allowed_list` of /proc/self/status).
pub fn allowed_cpus() -> Result<Vec<usize>, Error> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let list = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .ok_or_else(|| Error::new("no Cpus_allowed_list in /proc/self/status"))?;
    parse_cpu_list(list.trim())
}

/// Parses a CPU list such as `0-3,6`.
fn parse_cpu_list(list: &str) -> Result<Vec<usize>, Error> {
    let bad = || Error::new(format!("cannot read the CPU list {list:?}"));
    let mut cpus = Vec::new();
    for range in list.split(',') {
        let (first, last) = range.split_once('-').unwrap_or((range, range));
        let first: usize = first.parse().map_err(|_| bad())?;
        let last: usize = last.parse().map_err(|_| bad())?;
        cpus.extend(first..=last);
    }
    Ok(cpus)
}

fn cpu_list(cpus: &[usize]) -> String {
    let names: Vec<String> = cpus.iter().map(usize::to_string).collect();
    names.join(",")
}

/// Lets every thread of process `pid` run only on `cpus`. Threads it starts
/// later inherit the setting from the thread that starts them.
pub fn pin_process(pid: u32, cpus: &[usize]) -> Result<(), Error> {
    quiet(
        Command::new("taskset")
            .args(["--all-tasks", "--pid", "--cpu-list"])
            .args([cpu_list(cpus), pid.to_string()]),
    )
}

/// Lets the calling thread run only on `cpus`.
pub fn pin_current_thread(cpus: &[usize]) -> Result<(), Error> {
    // /proc/thread-self links to PID/task/TID.
    let link = std::fs::read_link("/proc/thread-self")?;
    let thread_id = link
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| Error::new("cannot read the thread id from /proc/thread-self"))?
        .to_string();
    quiet(
        Command::new("taskset")
            .args(["--pid", "--cpu-list"])
            .args([cpu_list(cpus), thread_id]),
    )
}

/// Raises this process's soft limit on open descriptors to its hard limit,
/// so that it and the servers it starts can hold many connections, and
/// returns the limit now in force.
pub fn raise_descriptor_limit() -> Result<u64, Error> {
    let pid = std::process::id().to_string();
    let output = Command::new("prlimit")
        .args([
            "--pid",
            &pid,
            "--nofile",
            "--noheadings",
            "--output",
            "HARD",
        ])
        .output()
        .map_err(|error| Error::new(format!("could not run prlimit: {error}")))?;
    let hard = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let limit = if hard == "unlimited" {
        1 << 20
    } else {
        hard.parse()
            .map_err(|_| Error::new(format!("prlimit printed no descriptor limit: {hard:?}")))?
    };
    quiet(Command::new("prlimit").args(["--pid", &pid, &format!("--nofile={limit}:")]))?;
    Ok(limit)
}

/// Sends SIGINT to process `pid`.
pub fn interrupt(pid: u32) -> Result<(), Error> {
    quiet(Command::new("kill").args(["-s", "INT", &pid.to_string()]))
}

/// Runs a short command, silent unless it fails.
fn quiet(command: &mut Command) -> Result<(), Error> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .output()
        .map_err(|error| Error::new(format!("could not run {program}: {error}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "{program} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_are_read_as_the_kernel_writes_them() {
        assert_eq!(parse_cpu_list("0").unwrap(), [0]);
        assert_eq!(parse_cpu_list("0-3,6").unwrap(), [0, 1, 2, 3, 6]);
        assert!(parse_cpu_list("zero").is_err());
    }

    #[test]
    fn this_process_may_run_on_some_cpu() {
        assert!(!allowed_cpus().unwrap().is_empty());
    }
}
