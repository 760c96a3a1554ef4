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

    /// The server's resident memory in KiB (`VmRSS`).
    pub fn resident_kib(&self) -> Result<u64, Error> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| Error::new("no VmRSS for the server process"))
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
