//! What the Linux kernel says about this process's sockets and threads,
//! read from `/proc`: a socket's row in `/proc/net/tcp` (its inode and its
//! timer), whether a descriptor of this process still refers to a socket,
//! and whether a thread still runs.
//!
//! Tests of one binary run in parallel, so counting every descriptor or
//! thread of the process would see the other tests come and go; these
//! helpers look at one socket (by its inode) or one thread (by its id).

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

/// The kernel's view of one IPv4 TCP socket, from `/proc/net/tcp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRow {
    /// The socket's inode: `/proc/self/fd/N` links to `socket:[inode]`.
    pub inode: u64,
    /// The active timer (`tr`): 0 none, 1 retransmit, 2 keep-alive (or
    /// another socket timer), 4 zero-window probe.
    pub timer: u8,
    /// When that timer expires, from now.
    pub timer_expires_in: Duration,
}

/// The row of `/proc/net/tcp` for the IPv4 connection from `local` to
/// `peer`, if the kernel still has one.
///
/// # Panics
///
/// For IPv6 addresses (only `/proc/net/tcp` is read) and when
/// `/proc/net/tcp` cannot be read or parsed.
pub fn tcp_row(local: SocketAddr, peer: SocketAddr) -> Option<TcpRow> {
    let table = fs::read_to_string("/proc/net/tcp").expect("reading /proc/net/tcp failed");
    let (local, peer) = (proc_address(local), proc_address(peer));
    table.lines().skip(1).find_map(|line| {
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 10 || fields[1] != local || fields[2] != peer {
            return None;
        }
        let (timer, when) = fields[5]
            .split_once(':')
            .expect("a tr:tm->when field in /proc/net/tcp");
        let ticks = u64::from_str_radix(when, 16).expect("a hexadecimal tm->when");
        Some(TcpRow {
            inode: fields[9].parse().expect("a decimal inode"),
            timer: u8::from_str_radix(timer, 16).expect("a hexadecimal tr"),
            // The kernel reports clock ticks of USER_HZ, 100 on Linux.
            timer_expires_in: Duration::from_millis(ticks * 10),
        })
    })
}

/// `address` as `/proc/net/tcp` prints it: the IPv4 address as the kernel's
/// 32-bit word in host byte order, then the port, both in hexadecimal.
fn proc_address(address: SocketAddr) -> String {
    let IpAddr::V4(ip) = address.ip() else {
        panic!("only IPv4 sockets are looked up in /proc/net/tcp, not {address}");
    };
    format!(
        "{:08X}:{:04X}",
        u32::from_ne_bytes(ip.octets()),
        address.port()
    )
}

/// Whether a descriptor of this process refers to the socket `inode`.
///
/// # Panics
///
/// When `/proc/self/fd` cannot be listed.
pub fn descriptor_open(inode: u64) -> bool {
    let target = format!("socket:[{inode}]");
    fs::read_dir("/proc/self/fd")
        .expect("listing /proc/self/fd failed")
        .filter_map(Result::ok)
        // A descriptor closed while listing has no link any more.
        .filter_map(|entry| fs::read_link(entry.path()).ok())
        .any(|link| link.as_os_str() == target.as_str())
}

/// The kernel's id of the calling thread.
///
/// # Panics
///
/// When `/proc/thread-self` cannot be read.
pub fn current_thread_id() -> u32 {
    let link = fs::read_link("/proc/thread-self").expect("reading /proc/thread-self failed");
    // "<pid>/task/<tid>"
    link.file_name()
        .and_then(|tid| tid.to_str())
        .and_then(|tid| tid.parse().ok())
        .unwrap_or_else(|| panic!("/proc/thread-self links to {link:?}"))
}

/// Whether the thread `thread_id` of this process still runs.
pub fn thread_alive(thread_id: u32) -> bool {
    Path::new(&format!("/proc/self/task/{thread_id}")).exists()
}
