//! Concurrent connections held: many connections open at once, each checked
//! with a round trip, and the resident memory they cost. The server ends
//! are uvtcp sockets in this process; the client ends are uvtcp sockets in
//! a child process (this binary in `clients` mode), so that each process
//! needs one descriptor per connection, not two.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use uvtcp::{IoTask, TcpListener, TcpSocket, connect};

use super::report::{CaseReport, Table};
use super::system::{FdLimit, open_fds, raise_fd_limit, resident_kib, wait_until};
use super::{Scale, join, localhost};

/// Descriptors kept free for everything else a process holds.
const SPARE_FDS: u64 = 256;
/// Threads that open the client ends, and that answer on the server ends.
const WORKERS: usize = 2;

/// Runs the case.
pub fn run(scale: &Scale) -> CaseReport {
    let mut report = CaseReport::new("Concurrent connections held");
    let wanted = scale.connections;
    let limit = raise_fd_limit(wanted as u64 + SPARE_FDS);
    let count = wanted.min(limit.now.saturating_sub(SPARE_FDS) as usize);
    report.tried.push(format!(
        "{count} connections opened and held at once: the server ends are uvtcp sockets \
         accepted by a `TcpListener` in this process, the client ends uvtcp sockets connected \
         from a child process, both on their own IoTask."
    ));
    report.tried.push(
        "Each connection is checked with a round trip of its own 8-byte id, client to server \
         and back, while all are open."
            .to_string(),
    );
    report.tried.push(
        "Memory per connection is the growth of a process's resident set (`VmRSS`) from before \
         the first connection to after the last round trip, divided by the count: for the \
         server ends in this process, and for the client ends in the child."
            .to_string(),
    );
    report.tried.push(
        "The client ends live in another process so that each process needs one descriptor per \
         connection: a hard RLIMIT_NOFILE may not allow two."
            .to_string(),
    );
    let limit_note = describe(&limit);
    report.check(count == wanted, || {
        format!("only {count} of {wanted} connections fit: {limit_note}")
    });

    let fds_before = open_fds();
    let resident_before = resident_kib();
    let started = Instant::now();
    let held = match hold(count, scale) {
        Ok(held) => held,
        Err(error) => {
            report.failures.push(error);
            return report;
        }
    };
    let resident_after = resident_kib();
    let fds_held = open_fds() - fds_before;
    let (open_seconds, verify_seconds, client_growth_kib) = (
        held.open_seconds,
        held.verify_seconds,
        held.client_growth_kib,
    );
    held.release();
    let closed = wait_until(scale.seconds(30), || open_fds() <= fds_before);
    let fds_after = open_fds();
    let growth = resident_after.saturating_sub(resident_before);

    let mut table = Table::new(&["measure", "value"]);
    table.row(vec!["connections held at once".into(), count.to_string()]);
    table.row(vec![
        "round trips verified".into(),
        format!("{count} of {count}"),
    ]);
    table.row(vec![
        "all accepted in".into(),
        format!(
            "{:.2} s from starting the client process ({:.0} connections/s)",
            open_seconds,
            count as f64 / open_seconds
        ),
    ]);
    table.row(vec![
        "all round trips in".into(),
        format!("{verify_seconds:.2} s"),
    ]);
    table.row(vec![
        "descriptors held by the server process".into(),
        format!("{fds_held} (one per connection, the listener, the loop)"),
    ]);
    table.row(vec![
        "memory per server end (this process)".into(),
        format!(
            "{:.2} KiB ({:.1} MiB for {count})",
            growth as f64 / count as f64,
            growth as f64 / 1024.0
        ),
    ]);
    table.row(vec![
        "memory per client end (child process)".into(),
        format!(
            "{:.2} KiB ({:.1} MiB for {count})",
            client_growth_kib as f64 / count as f64,
            client_growth_kib as f64 / 1024.0
        ),
    ]);
    table.row(vec!["descriptor limit".into(), limit_note]);
    table.row(vec![
        "descriptors after closing all".into(),
        format!("{fds_after} (before: {fds_before})"),
    ]);
    table.row(vec![
        "total time".into(),
        format!("{:.1} s", started.elapsed().as_secs_f64()),
    ]);
    report.tables.push(table);
    report.check(closed, || {
        format!("descriptors did not return to {fds_before} after closing: {fds_after}")
    });
    report
}

fn describe(limit: &FdLimit) -> String {
    match &limit.refused {
        None if limit.before == limit.now => format!("RLIMIT_NOFILE {} was enough", limit.now),
        None => format!(
            "RLIMIT_NOFILE raised from {} to {} with setrlimit",
            limit.before, limit.now
        ),
        Some(reason) => format!("RLIMIT_NOFILE could not be raised enough ({reason})"),
    }
}

/// The connections, open, and what holding them cost.
struct Held {
    servers: Vec<TcpSocket>,
    clients: Child,
    open_seconds: f64,
    verify_seconds: f64,
    client_growth_kib: u64,
}

impl Held {
    /// Lets the client process close its ends and exit, and closes ours.
    fn release(mut self) {
        // Closing its stdin tells the child to drop its sockets and exit.
        drop(self.clients.stdin.take());
        let exited = wait_until(Duration::from_secs(30), || {
            self.clients.try_wait().ok().flatten().is_some()
        });
        if !exited {
            let _ = self.clients.kill();
            let _ = self.clients.wait();
        }
        drop(self.servers);
    }
}

/// Opens `count` connections from a child process and answers the round
/// trip of each; returns them all, still open.
fn hold(count: usize, scale: &Scale) -> Result<Held, String> {
    let server_task = IoTask::spawn().map_err(|e| format!("IoTask::spawn: {e}"))?;
    let listener = Arc::new(
        TcpListener::bind(localhost(), 0, 1024, &server_task).map_err(|e| format!("bind: {e}"))?,
    );
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let timeout = scale.msecs(30_000);

    let opening = Instant::now();
    let program = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut child = Command::new(program)
        .args([
            "clients",
            &port.to_string(),
            &count.to_string(),
            &timeout.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the client process: {e}"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or("the client process has no stdout")?;
    let (line_sender, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if line_sender.send(line.unwrap_or_default()).is_err() {
                return;
            }
        }
    });
    let fail = |mut child: Child, error: String| {
        let _ = child.kill();
        let _ = child.wait();
        error
    };
    let mut servers = Vec::with_capacity(count);
    for index in 0..count {
        match listener.accept_timeout(timeout) {
            Ok(server) => servers.push(server),
            Err(error) => return Err(fail(child, format!("accept {index}: {error}"))),
        }
    }
    let open_seconds = opening.elapsed().as_secs_f64();

    let verifying = Instant::now();
    let servers = Arc::new(servers);
    let echoers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let servers = Arc::clone(&servers);
            thread::spawn(move || -> Result<(), String> {
                for server in servers.iter().skip(worker).step_by(WORKERS) {
                    let id = read_exactly(server, 8, timeout)?;
                    server.write(id).map_err(|e| format!("echo write: {e}"))?;
                }
                Ok(())
            })
        })
        .collect();
    for echoer in echoers {
        if let Err(error) = join(echoer) {
            return Err(fail(child, error));
        }
    }
    let line = match lines.recv_timeout(Duration::from_millis(u64::from(timeout))) {
        Ok(line) => line,
        Err(_) => return Err(fail(child, "the client process said nothing".into())),
    };
    let verify_seconds = verifying.elapsed().as_secs_f64();
    let Some(client_growth_kib) = line
        .strip_prefix("verified ")
        .and_then(|growth| growth.parse().ok())
    else {
        return Err(fail(child, format!("the client process said {line:?}")));
    };
    let servers = Arc::try_unwrap(servers).map_err(|_| "the echo threads kept the sockets")?;
    Ok(Held {
        servers,
        clients: child,
        open_seconds,
        verify_seconds,
        client_growth_kib,
    })
}

/// The client process: `clients PORT COUNT TIMEOUT_MS`. Connects COUNT
/// uvtcp sockets to PORT, sends each its id and checks that the same id
/// comes back, prints `verified <KiB of resident memory grown>`, then holds
/// the sockets until its stdin closes.
pub fn clients_main(args: &[String]) -> ExitCode {
    let parsed = match args {
        [port, count, timeout] => port
            .parse::<u16>()
            .ok()
            .zip(count.parse::<usize>().ok())
            .zip(timeout.parse::<u32>().ok()),
        _ => None,
    };
    let Some(((port, count), timeout)) = parsed else {
        eprintln!("usage: reliability clients PORT COUNT TIMEOUT_MS");
        return ExitCode::FAILURE;
    };
    raise_fd_limit(count as u64 + SPARE_FDS);
    let resident_before = resident_kib();
    match open_and_verify(port, count, timeout) {
        Ok(clients) => {
            println!(
                "verified {}",
                resident_kib().saturating_sub(resident_before)
            );
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            drop(clients);
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("error {error}");
            ExitCode::FAILURE
        }
    }
}

fn open_and_verify(port: u16, count: usize, timeout: u32) -> Result<Vec<TcpSocket>, String> {
    let io_task = IoTask::spawn().map_err(|e| format!("IoTask::spawn: {e}"))?;
    let connectors: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let io_task = io_task.clone();
            let share = count / WORKERS + usize::from(worker < count % WORKERS);
            thread::spawn(move || -> Result<Vec<TcpSocket>, String> {
                (0..share)
                    .map(|index| {
                        connect(localhost(), port, &io_task)
                            .map_err(|e| format!("connect {index} of worker {worker}: {e}"))
                    })
                    .collect()
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(count);
    for connector in connectors {
        clients.extend(join(connector)?);
    }
    let sends: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(id, client)| client.write_future((id as u64).to_le_bytes().to_vec()))
        .collect();
    for (id, send) in sends.into_iter().enumerate() {
        send.get().map_err(|e| format!("client {id} write: {e}"))?;
    }
    for (id, client) in clients.iter().enumerate() {
        let echoed = read_exactly(client, 8, timeout)?;
        if echoed != (id as u64).to_le_bytes() {
            return Err(format!("client {id} got {echoed:?} back"));
        }
    }
    Ok(clients)
}

/// Reads until exactly `n_bytes` bytes arrived.
fn read_exactly(socket: &TcpSocket, n_bytes: usize, timeout: u32) -> Result<Vec<u8>, String> {
    let mut received = Vec::with_capacity(n_bytes);
    while received.len() < n_bytes {
        let chunk = socket
            .read(timeout)
            .map_err(|e| format!("read after {} bytes: {e}", received.len()))?;
        received.extend_from_slice(&chunk);
    }
    if received.len() > n_bytes {
        return Err(format!(
            "{} bytes where {n_bytes} were sent",
            received.len()
        ));
    }
    Ok(received)
}
