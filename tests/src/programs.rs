//! Real programs for the tests that show uvtcp working with software written
//! elsewhere (`curl`, `nc`, `redis-server`), and the uvtcp examples those
//! tests drive.
//!
//! A [`Program`] is stopped by its PID when dropped. Tests create it on the
//! test's own thread, outside [`bounded`](crate::bounded), and hand the body
//! a [`Process`] reference, so a body that times out still leaves no process
//! behind. Every wait here is bounded in time.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Panics with one line naming the Debian package to install when
/// `program` is not on the `PATH`.
pub fn require_program(program: &str, debian_package: &str) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|dir| dir.join(program).is_file());
    assert!(
        found,
        "`{program}` is not installed: apt-get install {debian_package}"
    );
}

/// The path of the uvtcp example `name`, built by cargo (once per test
/// binary) in the profile of the running tests.
///
/// Cargo builds examples for `cargo test` only without a target filter, and
/// `--all-targets` builds them as test harnesses, so the tests ask cargo
/// for the real program. Examples are built with uvtcp's `tokio` feature,
/// which the ones using tokio's io traits (`hyper_server`) require.
pub fn example_binary(name: &str) -> PathBuf {
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--package", "uvtcp", "--features", "tokio"])
        .args(["--example", name])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest);
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    let output = command
        .stderr(Stdio::piped())
        .output()
        .expect("cargo did not start");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let marker = "\"executable\":\"";
    let path = stdout
        .lines()
        .filter(|line| line.contains(&format!("\"name\":\"{name}\"")))
        .find_map(|line| {
            let start = line.find(marker)? + marker.len();
            let end = start + line[start..].find('"')?;
            Some(PathBuf::from(&line[start..end]))
        });
    let Some(path) = path.filter(|_| output.status.success()) else {
        panic!(
            "building the example `{name}` failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    built.insert(name.to_string(), path.clone());
    path
}

/// A running program, stopped (SIGKILL to its PID) and reaped when dropped.
///
/// It derefs to its [`Process`]; [`process`](Self::process) hands out a
/// reference that does not stop it.
#[derive(Debug)]
pub struct Program {
    process: Arc<Process>,
}

/// A running program: its stdin, its stdout read line by line, and its PID.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Mutex<Child>,
    stdin: Mutex<Option<ChildStdin>>,
    lines: Mutex<Receiver<String>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Mutex<Option<JoinHandle<()>>>,
}

impl Program {
    /// Starts `command` with its stdin, stdout and stderr piped.
    ///
    /// Panics if it does not start; a program that is not installed should
    /// be checked first with [`require_program`].
    pub fn start(command: &mut Command) -> Program {
        let name = Path::new(command.get_program())
            .file_name()
            .map(OsStr::to_string_lossy)
            .unwrap_or_default()
            .into_owned();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("`{name}` did not start: {error}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
        let (line_sender, lines) = mpsc::channel();
        thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = Vec::new();
            while matches!(stdout.read_until(b'\n', &mut line), Ok(1..)) {
                let text = String::from_utf8_lossy(&line).trim_end().to_string();
                if line_sender.send(text).is_err() {
                    return;
                }
                line.clear();
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stderr_sink = Arc::clone(&stderr);
        let stderr_reader = thread::spawn(move || {
            let mut buffer = [0; 4096];
            while let Ok(count @ 1..) = stderr_pipe.read(&mut buffer) {
                stderr_sink
                    .lock()
                    .unwrap()
                    .extend_from_slice(&buffer[..count]);
            }
        });
        let process = Process {
            name,
            child: Mutex::new(child),
            stdin: Mutex::new(stdin),
            lines: Mutex::new(lines),
            stderr,
            stderr_reader: Mutex::new(Some(stderr_reader)),
        };
        Program {
            process: Arc::new(process),
        }
    }

    /// A reference to the process that does not stop it when dropped.
    pub fn process(&self) -> Arc<Process> {
        Arc::clone(&self.process)
    }
}

impl Deref for Program {
    type Target = Process;

    fn deref(&self) -> &Process {
        &self.process
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        self.process.kill();
    }
}

impl Process {
    /// The program's process id.
    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    /// Writes `bytes` to the program's stdin.
    pub fn send(&self, bytes: &[u8]) {
        let mut stdin = self.stdin.lock().unwrap();
        let stdin = stdin.as_mut().expect("stdin was closed");
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|error| panic!("writing to `{}` failed: {error}", self.name));
    }

    /// The next line the program prints, without its line end; `None` when
    /// none comes within `timeout` or the program closed its stdout.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.lock().unwrap().recv_timeout(timeout).ok()
    }

    /// Reads lines until one contains `wanted` and returns it; `Err` holds
    /// the lines read when none does within `timeout` or the program
    /// closed its stdout.
    pub fn find_line(&self, wanted: &str, timeout: Duration) -> Result<String, Vec<String>> {
        let deadline = Instant::now() + timeout;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_line(left) {
                Some(line) if line.contains(wanted) => return Ok(line),
                Some(line) => skipped.push(line),
                None => return Err(skipped),
            }
        }
    }

    /// Like [`find_line`](Self::find_line), but panics with the lines read
    /// and the program's stderr when no line contains `wanted`.
    pub fn expect_line(&self, wanted: &str, timeout: Duration) -> String {
        self.find_line(wanted, timeout).unwrap_or_else(|skipped| {
            panic!(
                "`{}` printed no line with {wanted:?} within {timeout:?}; \
                 it printed {skipped:?}, stderr: {:?}",
                self.name,
                self.stderr()
            )
        })
    }

    /// What the program wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`, ...) to the program's PID
    /// with `kill` (Debian: `apt-get install procps`).
    pub fn signal(&self, signal: &str) {
        require_program("kill", "procps");
        let status = Command::new("kill")
            .args(["-s", signal, &self.pid().to_string()])
            .status()
            .expect("kill did not start");
        assert!(status.success(), "kill -s {signal} {} failed", self.name);
    }

    /// Sends SIGKILL to the program's PID and reaps it.
    pub fn kill(&self) {
        let mut child = self.child.lock().unwrap();
        // An error means the program has already exited.
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Waits up to `timeout` for the program to exit on its own; once it
    /// has, [`stderr`](Self::stderr) holds all it wrote there.
    pub fn wait_for_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.lock().unwrap().try_wait() {
                // Its stderr ends with it (unless it left children behind).
                if let Some(reader) = self.stderr_reader.lock().unwrap().take() {
                    let _ = reader.join();
                }
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}
