//! The cases of the `reliability` binary, one module each, and the scale
//! they run at.

pub mod bad_inputs;
pub mod connections;
pub mod drop_orders;
pub mod duplex;
pub mod faults;
pub mod panics;
pub mod peer;
pub mod report;
pub mod system;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// How hard each case pushes.
#[derive(Debug, Clone)]
pub struct Scale {
    /// `full`, `quick` or `small`.
    pub name: &'static str,
    /// Connections held open at once.
    pub connections: usize,
    /// Bytes sent in each direction of the full-duplex transfer.
    pub duplex_bytes: u64,
    /// Rounds of fault injection.
    pub fault_rounds: usize,
    /// Drop orders tried: `None` for all 5040, else that many at random.
    pub drop_orders: Option<usize>,
    /// How many times longer every time bound is (valgrind runs code many
    /// times slower).
    pub slowdown: u32,
    /// The seed of every random choice.
    pub seed: u64,
}

impl Scale {
    /// The heavy cases, for `RELIABILITY.md`.
    pub fn full(seed: u64) -> Scale {
        Scale {
            name: "full",
            connections: 10_000,
            duplex_bytes: 1 << 30,
            fault_rounds: 1_000,
            drop_orders: None,
            slowdown: 1,
            seed,
        }
    }

    /// The light version that CI runs.
    pub fn quick(seed: u64) -> Scale {
        Scale {
            name: "quick",
            connections: 500,
            duplex_bytes: 32 << 20,
            fault_rounds: 50,
            drop_orders: Some(200),
            slowdown: 1,
            seed,
        }
    }

    /// A smaller version still, for valgrind's leak checker in CI.
    pub fn small(seed: u64) -> Scale {
        Scale {
            name: "small",
            connections: 50,
            duplex_bytes: 2 << 20,
            fault_rounds: 12,
            drop_orders: Some(12),
            slowdown: 1,
            seed,
        }
    }

    /// `seconds` seconds, stretched by the slowdown.
    pub fn seconds(&self, seconds: u64) -> Duration {
        Duration::from_secs(seconds * u64::from(self.slowdown))
    }

    /// `msecs` milliseconds as a uvtcp timeout, stretched by the slowdown.
    pub fn msecs(&self, msecs: u32) -> u32 {
        msecs.saturating_mul(self.slowdown)
    }
}

/// `127.0.0.1`.
pub fn localhost() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}
