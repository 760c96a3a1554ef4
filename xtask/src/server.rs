//! Echo server processes for the demo and the benchmark.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::command::Error;

/// A server process that prints a banner line (`listening on ADDRESS`)
/// once it accepts connections; killed on drop.
pub struct Server {
    child: Child,
    /// The first line the server printed.
    pub banner: String,
}

impl Server {
    /// Starts `command` and waits for its banner.
    pub fn start(command: &mut Command) -> Result<Server, Error> {
        let mut child = command.stdout(Stdio::piped()).spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut banner = String::new();
        BufReader::new(stdout).read_line(&mut banner)?;
        if banner.is_empty() {
            let _ = child.kill();
            return Err(Error::new("the server exited before it listened"));
        }
        Ok(Server {
            child,
            banner: banner.trim().to_string(),
        })
    }

    /// The address in a `listening on ADDRESS` banner.
    pub fn address(&self) -> Result<std::net::SocketAddr, Error> {
        self.banner
            .rsplit(' ')
            .next()
            .and_then(|address| address.parse().ok())
            .ok_or_else(|| Error::new(format!("no address in the banner {:?}", self.banner)))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory in KiB (`VmRSS`).
    pub fn resident_kib(&self) -> Result<u64, Error> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| Error::new("no VmRSS for the server process"))
    }

    /// CPU time the server has used so far, user and system, in seconds,
    /// from /proc/PID/stat (threads that have ended included).
    pub fn cpu_seconds(&self) -> Result<f64, Error> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        cpu_seconds(&stat)
    }
}

/// The clock ticks per second in which /proc reports CPU time (`USER_HZ`,
/// which Linux fixes at 100 for user space).
const USER_HZ: f64 = 100.0;

/// `utime` + `stime` (fields 14 and 15) of a /proc/PID/stat line, in
/// seconds. The command name (field 2) is in parentheses and may hold
/// spaces, so fields are counted after its closing parenthesis.
fn cpu_seconds(stat: &str) -> Result<f64, Error> {
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |field: usize| {
        fields
            .get(field - 3)
            .and_then(|text| text.parse::<u64>().ok())
    };
    match (ticks(14), ticks(15)) {
        (Some(user), Some(system)) => Ok((user + system) as f64 / USER_HZ),
        _ => Err(Error::new(format!("cannot read CPU time from {stat:?}"))),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago (the OS picks it).
pub fn free_port() -> Result<u16, Error> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(probe.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_the_command_name() {
        let stat = "4242 (echo (two) x) S 1 4242 4242 0 -1 4194560 300 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(cpu_seconds(stat).unwrap(), 3.0);
        assert!(cpu_seconds("4242 (echo) S 1").is_err());
    }
}
