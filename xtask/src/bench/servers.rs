//! The echo servers the bench measures: how each is built and started.

use std::path::Path;
use std::process::Command;

use crate::command::{Error, cargo_command, run};
use crate::server::{Server, free_port};

/// Where a server comes from, which sets its colour in the chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// libuv driven by hand: the ceiling.
    Libuv,
    /// uvtcp, the library under test.
    Uvtcp,
    /// Servers that do not use libuv.
    Peer,
}

/// How a server is run.
#[derive(Clone, Copy, Debug)]
enum Program {
    /// An example of a workspace package: `ADDRESS PORT` as arguments.
    Example {
        package: &'static str,
        /// The example picks a free port itself when given port 0.
        picks_port: bool,
    },
    /// A hidden xtask command (see `peers`).
    Peer(&'static str),
}

/// One server under test.
#[derive(Clone, Copy, Debug)]
pub struct Contender {
    /// The name the tables use: the example's name, or the peer's.
    pub name: &'static str,
    pub description: &'static str,
    pub family: Family,
    program: Program,
}

/// The ceiling every ratio is taken against.
pub const RAW: &str = "raw_echo";
/// The peer every ratio is also taken against.
pub const TOKIO_CURRENT: &str = "tokio_current";
/// uvtcp with local tasks.
pub const LOCAL: &str = "local_echo";
/// uvtcp with a thread per connection.
pub const THREADS: &str = "echo_server";
/// uvtcp awaited on another executor.
pub const FOREIGN: &str = "foreign_echo";
/// uvtcp with a loop per core.
pub const MULTICORE: &str = "multicore_echo";
/// std::net with a thread per connection.
pub const STD_THREADS: &str = "std_threads";

/// Every server, in the order of the tables.
pub const CONTENDERS: [Contender; 9] = [
    Contender {
        name: RAW,
        description: "raw libuv callbacks, `uv_try_write` first, one read buffer per loop (uv-sys/examples/raw_echo.rs): the ceiling",
        family: Family::Libuv,
        program: Program::Example {
            package: "uv-sys",
            picks_port: true,
        },
    },
    Contender {
        name: "handle_echo",
        description: "the same on uv-handle's safe types (uv-handle/examples/handle_echo.rs)",
        family: Family::Libuv,
        program: Program::Example {
            package: "uv-handle",
            picks_port: true,
        },
    },
    Contender {
        name: LOCAL,
        description: "uvtcp, a local task per connection on the loop thread: `recv_async` + `write_future` (uvtcp/examples/local_echo.rs)",
        family: Family::Uvtcp,
        program: Program::Example {
            package: "uvtcp",
            picks_port: true,
        },
    },
    Contender {
        name: THREADS,
        description: "uvtcp, a thread per connection: `ReadPort` + blocking `write` (uvtcp/examples/echo_server.rs)",
        family: Family::Uvtcp,
        program: Program::Example {
            package: "uvtcp",
            picks_port: false,
        },
    },
    Contender {
        name: FOREIGN,
        description: "uvtcp sockets served by tasks on tokio's current-thread runtime: `recv_async` + `write_future` (uvtcp/examples/foreign_echo.rs)",
        family: Family::Uvtcp,
        program: Program::Example {
            package: "uvtcp",
            picks_port: true,
        },
    },
    Contender {
        name: MULTICORE,
        description: "uvtcp, one loop per core, each with a reuse-port listener and local tasks (uvtcp/examples/multicore_echo.rs)",
        family: Family::Uvtcp,
        program: Program::Example {
            package: "uvtcp",
            picks_port: true,
        },
    },
    Contender {
        name: TOKIO_CURRENT,
        description: "tokio's current-thread runtime, a task per connection (`xtask __tokio-current-echo`)",
        family: Family::Peer,
        program: Program::Peer("__tokio-current-echo"),
    },
    Contender {
        name: "tokio_multi",
        description: "tokio's multi-thread runtime, one worker per core (`xtask __tokio-multi-echo`)",
        family: Family::Peer,
        program: Program::Peer("__tokio-multi-echo"),
    },
    Contender {
        name: STD_THREADS,
        description: "std::net, a thread per connection (`xtask __std-echo`)",
        family: Family::Peer,
        program: Program::Peer("__std-echo"),
    },
];

/// Builds, in release mode, every example server and xtask itself (whose
/// release binary runs the peers and the load).
pub fn build() -> Result<(), Error> {
    let mut packages = vec!["xtask"];
    let mut targets = vec!["--bin", "xtask"];
    for contender in CONTENDERS {
        if let Program::Example { package, .. } = contender.program {
            if !packages.contains(&package) {
                packages.push(package);
            }
            targets.extend(["--example", contender.name]);
        }
    }
    let mut command = cargo_command(&["build", "--quiet", "--release"]);
    for package in packages {
        command.args(["--package", package]);
    }
    run(command.args(targets))
}

impl Contender {
    /// Starts the server on 127.0.0.1 and waits until it listens.
    /// `release` is the directory of the release binaries.
    pub fn start(&self, release: &Path) -> Result<Server, Error> {
        let mut command = match self.program {
            Program::Example { picks_port, .. } => {
                let port = if picks_port { 0 } else { free_port()? };
                let mut command = Command::new(release.join("examples").join(self.name));
                command.args(["127.0.0.1".to_string(), port.to_string()]);
                command
            }
            Program::Peer(subcommand) => {
                let mut command = Command::new(release.join("xtask"));
                command.arg(subcommand);
                command
            }
        };
        Server::start(&mut command)
    }
}
