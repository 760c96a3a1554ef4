//! What the reliability cases measure about the process itself (open
//! descriptors, resident memory, threads, the descriptor limit, panics), and
//! the two tools every case runs its work with: a run bounded in time and a
//! seeded random number generator.

use std::any::Any;
use std::net::TcpStream;
use std::panic;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The number of open descriptors of this process (`/proc/self/fd`).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|entries| entries.count())
        .unwrap_or(0)
}

/// The number of threads of this process (`/proc/self/task`).
pub fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|entries| entries.count())
        .unwrap_or(0)
}

/// The resident memory of this process in KiB (`VmRSS` of `/proc/self/status`).
pub fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub use uvtcp_tests::wait_until;

/// What became of the descriptor limit.
#[derive(Debug)]
pub struct FdLimit {
    /// The soft limit before.
    pub before: u64,
    /// The soft limit now.
    pub now: u64,
    /// Why it could not be raised as far as wanted, if it could not.
    pub refused: Option<String>,
}

/// Raises the soft `RLIMIT_NOFILE` to at least `wanted`, raising the hard
/// limit too where the process may (root may).
pub fn raise_fd_limit(wanted: u64) -> FdLimit {
    let limit = getrlimit(Resource::Nofile);
    let before = limit.current.unwrap_or(u64::MAX);
    if before >= wanted {
        return FdLimit {
            before,
            now: before,
            refused: None,
        };
    }
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let raised = Rlimit {
        current: Some(wanted),
        maximum: Some(hard.max(wanted)),
    };
    let refused = match setrlimit(Resource::Nofile, raised) {
        Ok(()) => None,
        Err(error) => {
            // Not allowed above the hard limit: take what it allows.
            let capped = Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            };
            let _ = setrlimit(Resource::Nofile, capped);
            Some(format!(
                "setrlimit(RLIMIT_NOFILE, {wanted}) failed: {error}"
            ))
        }
    };
    FdLimit {
        before,
        now: getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX),
        refused,
    }
}

/// Makes the next close of `stream` abortive: `SO_LINGER` with a zero
/// timeout, so the kernel sends a reset instead of a FIN.
pub fn linger_zero(stream: &TcpStream) -> std::io::Result<()> {
    rustix::net::sockopt::set_socket_linger(stream, Some(Duration::ZERO))?;
    Ok(())
}

static PANICS: AtomicUsize = AtomicUsize::new(0);
static LAST_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Counts every panic of the process, on any thread (the loop threads
/// included), instead of printing it; [`panics`] and [`panic_messages`]
/// report them.
pub fn count_panics() {
    panic::set_hook(Box::new(|info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        let thread = thread::current();
        let message = format!(
            "{} at {} (thread {})",
            payload_text(info.payload()),
            info.location()
                .map_or_else(String::new, ToString::to_string),
            thread.name().unwrap_or("unnamed")
        );
        let mut messages = LAST_PANICS.lock().unwrap_or_else(|e| e.into_inner());
        if messages.len() < 20 {
            messages.push(message);
        }
    }));
}

/// How many panics happened so far in the process.
pub fn panics() -> usize {
    PANICS.load(Ordering::SeqCst)
}

/// The messages of the first panics (at most 20), to explain a failure.
pub fn panic_messages() -> Vec<String> {
    LAST_PANICS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// The text of a panic payload.
pub fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-text payload".to_string()
    }
}

/// Why a bounded run gave no value.
#[derive(Debug)]
pub enum Failure {
    /// It panicked, with this message.
    Panicked(String),
    /// It had not returned when its time was up (its thread is left behind).
    Hung,
}

/// Runs `body` on its own thread and waits at most `limit` for it.
pub fn within<T: Send + 'static>(
    limit: Duration,
    body: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Failure> {
    let (sender, receiver) = mpsc::channel();
    let worker = thread::Builder::new()
        .name("bounded".into())
        .spawn(move || {
            let outcome = panic::catch_unwind(panic::AssertUnwindSafe(body));
            let _ = sender.send(outcome);
        })
        .expect("spawning a thread failed");
    match receiver.recv_timeout(limit) {
        Ok(outcome) => {
            let _ = worker.join();
            outcome.map_err(|payload| Failure::Panicked(payload_text(payload.as_ref())))
        }
        Err(_) => Err(Failure::Hung),
    }
}

/// A small seeded generator (splitmix64): the same seed gives the same run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// An index into a collection of `len` items (`len` > 0).
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// A random permutation of `0..n` (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut items: Vec<usize> = (0..n).collect();
        for last in (1..n).rev() {
            let other = self.index(last + 1);
            items.swap(last, other);
        }
        items
    }
}
