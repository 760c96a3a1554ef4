//! Bad inputs tried: a table of calls that misuse the API or pass extreme
//! values. Each must return (an error with libuv's name where the call is
//! wrong, success where the value is merely extreme), and none may panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use uvtcp::{IoTask, TcpErrData, TcpListener, TcpSocket, connect, connect_timeout, ip, listen};

use super::report::{CaseReport, Table};
use super::system::{Failure, within};
use super::{Scale, localhost};

/// What a call should give.
#[derive(Clone, Copy)]
enum Expect {
    /// `Ok`.
    Success,
    /// This error.
    Error(&'static str),
    /// Some error; which one depends on the system.
    AnyError,
    /// `Ok` or an error, as long as it returns.
    Returns,
}

impl Expect {
    fn describe(self) -> String {
        match self {
            Expect::Success => "Ok".to_string(),
            Expect::Error(name) => format!("Err {name}"),
            Expect::AnyError => "an error".to_string(),
            Expect::Returns => "returns".to_string(),
        }
    }

    fn holds(self, result: &Result<(), TcpErrData>) -> bool {
        match (self, result) {
            (Expect::Success, Ok(())) | (Expect::Returns, Ok(())) => true,
            (Expect::Error(name), Err(error)) => error.err_name == name,
            (Expect::AnyError, Err(error)) | (Expect::Returns, Err(error)) => {
                libuv_name(&error.err_name)
            }
            _ => false,
        }
    }
}

/// Whether `name` looks like a libuv error name (`EOF`, `EINVAL`,
/// `EAI_NONAME`, ...).
fn libuv_name(name: &str) -> bool {
    name.starts_with('E')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

type Call = Box<dyn FnOnce(&Fixture) -> Result<(), TcpErrData> + Send>;

/// A loop, a listener and what each call needs around it.
struct Fixture {
    io_task: IoTask,
    listener: TcpListener,
    port: u16,
    timeout: u32,
}

impl Fixture {
    /// A fresh connected pair: `(client, server)`.
    fn pair(&self) -> Result<(TcpSocket, TcpSocket), TcpErrData> {
        let client = connect(localhost(), self.port, &self.io_task)?;
        let server = self.listener.accept_timeout(self.timeout)?;
        Ok((client, server))
    }
}

/// Runs the case.
pub fn run(scale: &Scale) -> CaseReport {
    let mut report = CaseReport::new("Bad inputs tried");
    let fixture = match setup(scale) {
        Ok(fixture) => Arc::new(fixture),
        Err(error) => {
            report.failures.push(format!("setup: {error}"));
            return report;
        }
    };
    let calls = calls();
    report.tried.push(format!(
        "{} calls that misuse the API or pass extreme values, each on fresh sockets and bounded \
         to {} s.",
        calls.len(),
        scale.seconds(10).as_secs()
    ));
    report
        .tried
        .push("An error must carry libuv's name; no call may panic.".to_string());
    let mut table = Table::new(&["call", "expected", "got", "verdict"]);
    for (what, expect, call) in calls {
        let fixture = Arc::clone(&fixture);
        let outcome = within(scale.seconds(10), move || call(&fixture));
        let (got, holds) = match &outcome {
            Ok(Ok(())) => ("Ok".to_string(), expect.holds(&Ok(()))),
            Ok(Err(error)) => (
                format!("Err {} ({})", error.err_name, error.err_msg),
                expect.holds(&Err(error.clone())),
            ),
            Err(Failure::Panicked(message)) => (format!("PANIC: {message}"), false),
            Err(Failure::Hung) => ("HANG".to_string(), false),
        };
        report.check(holds, || {
            format!("{what}: expected {}, got {got}", expect.describe())
        });
        table.row(vec![
            format!("`{what}`"),
            expect.describe(),
            got,
            if holds { "ok" } else { "WRONG" }.to_string(),
        ]);
        if matches!(outcome, Err(Failure::Hung)) {
            break;
        }
    }
    report.tables.push(table);
    report
}

fn setup(scale: &Scale) -> Result<Fixture, TcpErrData> {
    let io_task = IoTask::spawn()?;
    let listener = TcpListener::bind(localhost(), 0, 16, &io_task).map_err(TcpErrData::from)?;
    let port = listener.local_addr()?.port();
    Ok(Fixture {
        io_task,
        listener,
        port,
        timeout: scale.msecs(5000),
    })
}

/// An address no machine has (TEST-NET-1, RFC 5737).
fn documentation_address() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
}

/// Writes `data` on `client` from a thread after 20 ms; the thread
/// returns the socket.
fn write_later(client: TcpSocket, data: &'static [u8]) -> thread::JoinHandle<TcpSocket> {
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        let _ = client.write(data);
        client
    })
}

/// A round trip of `n_bytes` from `client` to `server`.
fn round_trip(client: &TcpSocket, server: &TcpSocket, n_bytes: usize) -> Result<(), TcpErrData> {
    let sent = client.write_future(vec![9u8; n_bytes]);
    let mut received = 0;
    while received < n_bytes {
        received += server.read(5000)?.len();
    }
    sent.get()
}

fn calls() -> Vec<(&'static str, Expect, Call)> {
    vec![
        (
            "read_stop with another socket's port",
            Expect::Error("EINVAL"),
            Box::new(|f: &Fixture| {
                let (client, server) = f.pair()?;
                let foreign = server.read_start()?;
                client.read_stop(foreign)
            }),
        ),
        (
            "read while a port is active",
            Expect::Error("EALREADY"),
            Box::new(|f: &Fixture| {
                let (_client, server) = f.pair()?;
                let _port = server.read_start()?;
                server.read(10).map(drop)
            }),
        ),
        (
            "read_future while a port is active",
            Expect::Error("EALREADY"),
            Box::new(|f: &Fixture| {
                let (_client, server) = f.pair()?;
                let _port = server.read_start()?;
                server.read_future(10).get().map(drop)
            }),
        ),
        (
            "read_start while a port is active",
            Expect::Error("EALREADY"),
            Box::new(|f: &Fixture| {
                let (_client, server) = f.pair()?;
                let _port = server.read_start()?;
                server.read_start().map(drop)
            }),
        ),
        (
            "write after shutdown",
            Expect::Error("EPIPE"),
            Box::new(|f: &Fixture| {
                let (client, _server) = f.pair()?;
                client.shutdown()?;
                client.write("late")
            }),
        ),
        (
            "write_future after shutdown",
            Expect::Error("EPIPE"),
            Box::new(|f: &Fixture| {
                let (client, _server) = f.pair()?;
                client.shutdown()?;
                client.write_future("late").get()
            }),
        ),
        (
            "shutdown twice",
            Expect::Returns,
            Box::new(|f: &Fixture| {
                let (client, _server) = f.pair()?;
                client.shutdown()?;
                client.shutdown()
            }),
        ),
        (
            "write of zero bytes",
            Expect::Success,
            Box::new(|f: &Fixture| {
                let (client, _server) = f.pair()?;
                client.write(Vec::new())
            }),
        ),
        (
            "read after EOF, twice",
            Expect::Error("EOF"),
            Box::new(|f: &Fixture| {
                let (client, server) = f.pair()?;
                drop(client);
                match server.read(5000) {
                    Err(error) if error.is_eof() => server.read(5000).map(drop),
                    other => other.map(drop),
                }
            }),
        ),
        (
            "write after the peer reset",
            Expect::AnyError,
            Box::new(|f: &Fixture| {
                let (client, server) = f.pair()?;
                server.close_reset()?;
                // The reset may arrive after the first write.
                for _ in 0..100 {
                    client.write("after reset")?;
                    thread::sleep(Duration::from_millis(5));
                }
                Ok(())
            }),
        ),
        (
            "connect to port 0",
            Expect::AnyError,
            Box::new(|f: &Fixture| {
                connect(localhost(), 0, &f.io_task)
                    .map(drop)
                    .map_err(Into::into)
            }),
        ),
        (
            "connect to [::1] port 0",
            Expect::AnyError,
            Box::new(|f: &Fixture| {
                connect(IpAddr::V6(Ipv6Addr::LOCALHOST), 0, &f.io_task)
                    .map(drop)
                    .map_err(Into::into)
            }),
        ),
        (
            "connect to the broadcast address",
            Expect::AnyError,
            Box::new(|f: &Fixture| {
                connect_timeout(IpAddr::V4(Ipv4Addr::BROADCAST), 80, &f.io_task, 2000)
                    .map(drop)
                    .map_err(Into::into)
            }),
        ),
        (
            "connect_timeout of 1 ms to an unroutable address",
            Expect::AnyError,
            Box::new(|f: &Fixture| {
                connect_timeout(documentation_address(), 80, &f.io_task, 1)
                    .map(drop)
                    .map_err(Into::into)
            }),
        ),
        (
            "TcpListener::bind to a non-local address",
            Expect::Error("EADDRNOTAVAIL"),
            Box::new(|f: &Fixture| {
                TcpListener::bind(documentation_address(), 0, 16, &f.io_task)
                    .map(drop)
                    .map_err(Into::into)
            }),
        ),
        (
            "TcpListener::bind to a port in use",
            Expect::Error("EADDRINUSE"),
            Box::new(|f: &Fixture| {
                TcpListener::bind(localhost(), f.port, 16, &f.io_task)
                    .map(drop)
                    .map_err(Into::into)
            }),
        ),
        (
            "TcpListener::bind with backlog 0 and u32::MAX, then a connection each",
            Expect::Success,
            Box::new(|f: &Fixture| {
                for backlog in [0, u32::MAX] {
                    let listener = TcpListener::bind(localhost(), 0, backlog, &f.io_task)
                        .map_err(TcpErrData::from)?;
                    let port = listener.local_addr()?.port();
                    let _client = connect(localhost(), port, &f.io_task)?;
                    listener.accept_timeout(5000)?;
                }
                Ok(())
            }),
        ),
        (
            "listen on a non-local address",
            Expect::Error("EADDRNOTAVAIL"),
            Box::new(|f: &Fixture| {
                listen(documentation_address(), 0, 16, &f.io_task, drop, |_, _| {})
                    .map_err(Into::into)
            }),
        ),
        (
            "read(1) with nothing sent",
            Expect::Error("ETIMEDOUT"),
            Box::new(|f: &Fixture| {
                let (_client, server) = f.pair()?;
                server.read(1).map(drop)
            }),
        ),
        (
            "read(u32::MAX), data after 20 ms",
            Expect::Success,
            Box::new(|f: &Fixture| {
                let (client, server) = f.pair()?;
                let writer = write_later(client, b"late");
                let result = server.read(u32::MAX).map(drop);
                let _ = writer.join();
                result
            }),
        ),
        (
            "read_future(u32::MAX), data after 20 ms",
            Expect::Success,
            Box::new(|f: &Fixture| {
                let (client, server) = f.pair()?;
                let writer = write_later(client, b"late");
                let result = server.read_future(u32::MAX).get().map(drop);
                let _ = writer.join();
                result
            }),
        ),
        (
            "recv_timeout(Duration::ZERO) with nothing sent",
            Expect::Error("ETIMEDOUT"),
            Box::new(|f: &Fixture| {
                let (_client, server) = f.pair()?;
                let port = server.read_start()?;
                port.recv_timeout(Duration::ZERO).map(drop)
            }),
        ),
        (
            "recv_timeout(Duration::MAX), data after 20 ms",
            Expect::Success,
            Box::new(|f: &Fixture| {
                let (client, server) = f.pair()?;
                let port = server.read_start()?;
                let writer = write_later(client, b"late");
                let result = port.recv_timeout(Duration::MAX).map(drop);
                let _ = writer.join();
                result
            }),
        ),
        (
            "accept_timeout(1) with nobody connecting",
            Expect::Error("ETIMEDOUT"),
            Box::new(|f: &Fixture| f.listener.accept_timeout(1).map(drop)),
        ),
        (
            "accept_timeout(u32::MAX), a connection after 20 ms",
            Expect::Success,
            Box::new(|f: &Fixture| {
                let io_task = f.io_task.clone();
                let port = f.port;
                let client = thread::spawn(move || {
                    thread::sleep(Duration::from_millis(20));
                    connect(localhost(), port, &io_task)
                });
                let result = f.listener.accept_timeout(u32::MAX).map(drop);
                let _ = client.join();
                result
            }),
        ),
        (
            "connect_timeout(u32::MAX)",
            Expect::Success,
            Box::new(|f: &Fixture| {
                let client = connect_timeout(localhost(), f.port, &f.io_task, u32::MAX)?;
                f.listener.accept_timeout(5000)?;
                drop(client);
                Ok(())
            }),
        ),
        (
            "set_keepalive(Some(Duration::ZERO)) (rounded up to 1 s, as documented)",
            Expect::Success,
            Box::new(|f: &Fixture| f.pair()?.0.set_keepalive(Some(Duration::ZERO))),
        ),
        (
            "set_keepalive(Some(Duration::MAX))",
            Expect::Returns,
            Box::new(|f: &Fixture| f.pair()?.0.set_keepalive(Some(Duration::MAX))),
        ),
        (
            "set_keepalive_ex(0 s, 0 s, 0)",
            Expect::Error("EINVAL"),
            Box::new(|f: &Fixture| {
                f.pair()?
                    .0
                    .set_keepalive_ex(Duration::ZERO, Duration::ZERO, 0)
            }),
        ),
        (
            "set_keepalive_ex(Duration::MAX, Duration::MAX, u32::MAX)",
            Expect::Error("EINVAL"),
            Box::new(|f: &Fixture| {
                f.pair()?
                    .0
                    .set_keepalive_ex(Duration::MAX, Duration::MAX, u32::MAX)
            }),
        ),
        (
            "read and write limits of usize::MAX, then 1 MiB through",
            Expect::Success,
            Box::new(|f: &Fixture| {
                let (client, server) = f.pair()?;
                client.set_write_buffer_limit(usize::MAX);
                server.set_read_buffer_limit(usize::MAX);
                round_trip(&client, &server, 1 << 20)
            }),
        ),
        (
            "read and write limits of 0, then 1 MiB through",
            Expect::Success,
            Box::new(|f: &Fixture| {
                let (client, server) = f.pair()?;
                client.set_write_buffer_limit(0);
                server.set_read_buffer_limit(0);
                round_trip(&client, &server, 1 << 20)
            }),
        ),
        (
            "set_close_timeout(Some(Duration::ZERO)), then close with a write queued",
            Expect::Returns,
            Box::new(|f: &Fixture| {
                let (client, _server) = f.pair()?;
                client.set_close_timeout(Some(Duration::ZERO));
                drop(client.write_future(vec![1u8; 8 << 20]));
                client.close()
            }),
        ),
        (
            "set_close_timeout(Some(Duration::MAX)), then close",
            Expect::Success,
            Box::new(|f: &Fixture| {
                let (client, _server) = f.pair()?;
                client.set_close_timeout(Some(Duration::MAX));
                client.write("bye")?;
                client.close()
            }),
        ),
        (
            "IoTask::sleep(Duration::ZERO), awaited",
            Expect::Success,
            Box::new(|f: &Fixture| {
                f.io_task.sleep(Duration::ZERO).get();
                Ok(())
            }),
        ),
        (
            "IoTask::sleep(Duration::MAX), dropped after 10 ms",
            Expect::Success,
            Box::new(|f: &Fixture| {
                let forever = f.io_task.sleep(Duration::MAX);
                thread::sleep(Duration::from_millis(10));
                assert!(!forever.is_ready(), "a sleep of Duration::MAX ended");
                drop(forever);
                Ok(())
            }),
        ),
        (
            "read in a local task (a blocking call on a loop thread)",
            Expect::Error("EAGAIN"),
            Box::new(|f: &Fixture| {
                let (_client, server) = f.pair()?;
                f.io_task
                    .spawn_local(move || async move { server.read(10).map(drop) })
                    .get()
            }),
        ),
        (
            "TcpListener::accept in a local task",
            Expect::Error("EAGAIN"),
            Box::new(|f: &Fixture| {
                let listener =
                    TcpListener::bind(localhost(), 0, 4, &f.io_task).map_err(TcpErrData::from)?;
                f.io_task
                    .spawn_local(move || async move { listener.accept().map(drop) })
                    .get()
            }),
        ),
        (
            "connect in a local task",
            Expect::Error("EAGAIN"),
            Box::new(|f: &Fixture| {
                let io_task = f.io_task.clone();
                let port = f.port;
                f.io_task
                    .spawn_local(move || async move {
                        connect(localhost(), port, &io_task)
                            .map(drop)
                            .map_err(Into::into)
                    })
                    .get()
            }),
        ),
        (
            "ip::get_addr of an empty name",
            Expect::AnyError,
            Box::new(|f: &Fixture| ip::get_addr("", &f.io_task).map(drop)),
        ),
        (
            "ip::get_addr of a name with a NUL byte",
            Expect::AnyError,
            Box::new(|f: &Fixture| ip::get_addr("local\0host", &f.io_task).map(drop)),
        ),
        (
            "a socket used after its IoTask clone was dropped",
            Expect::Success,
            Box::new(|f: &Fixture| {
                let io_task = IoTask::spawn()?;
                let listener =
                    TcpListener::bind(localhost(), 0, 4, &io_task).map_err(TcpErrData::from)?;
                let port = listener.local_addr()?.port();
                let client = connect(localhost(), port, &f.io_task)?;
                let server = listener.accept_timeout(5000)?;
                drop(io_task);
                drop(listener);
                round_trip(&client, &server, 1000)
            }),
        ),
    ]
}
