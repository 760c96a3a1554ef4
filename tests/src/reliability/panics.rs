//! Panics contained: a panic in a local task, in the `make` closure of
//! one, in a local task that holds a socket, and in both `listen`
//! callbacks. Each panic must reach the caller that asked for the work, and
//! the loop and its other sockets must go on.

use std::panic::{self, AssertUnwindSafe};
use std::thread;
use std::time::Duration;

use uvtcp::{IoTask, TcpConnectErrData, TcpErrData, TcpListener, TcpSocket, connect, listen};

use super::report::{CaseReport, Table};
use super::system::{panics, payload_text, within};
use super::{Scale, localhost};

/// One panic and what must hold after it.
struct Trial {
    what: &'static str,
    /// Makes the panic happen; returns where it surfaced.
    provoke: fn(&IoTask) -> Result<String, String>,
}

const TRIALS: [Trial; 5] = [
    Trial {
        what: "a local task panics",
        provoke: |io_task| {
            let task = io_task.spawn_local(|| async { panic!("planned panic in a local task") });
            surfaced(|| task.get(), "planned panic in a local task")
        },
    },
    Trial {
        what: "the `make` closure of a local task panics",
        provoke: |io_task| {
            let task = io_task
                .spawn_local(|| -> std::future::Ready<()> { panic!("planned panic in make") });
            surfaced(|| task.get(), "planned panic in make")
        },
    },
    Trial {
        what: "a local task holding a socket panics after writing to it",
        provoke: |io_task| {
            let (client, server) = pair(io_task).map_err(|e| e.to_string())?;
            let task = io_task.spawn_local(move || async move {
                let _ = server.write_future("last words").await;
                panic!("planned panic holding a socket");
            });
            let raised = surfaced(|| task.get(), "planned panic holding a socket")?;
            // The socket was closed gracefully: its bytes, then EOF.
            let words = client.read(5000).map_err(|e| format!("peer read: {e}"))?;
            let end = client.read(5000);
            match (words.as_slice(), end) {
                (b"last words", Err(error)) if error.is_eof() => {
                    Ok(format!("{raised}; the peer read its bytes, then EOF"))
                }
                (words, end) => Err(format!("the peer read {words:?}, then {end:?}")),
            }
        },
    },
    Trial {
        what: "`listen`'s new_connect_cb panics",
        provoke: |io_task| {
            let port = free_port()?;
            let client_task = io_task.clone();
            let outcome = surfaced(
                || {
                    listen(
                        localhost(),
                        port,
                        16,
                        io_task,
                        move |_kill| {
                            let client_task = client_task.clone();
                            thread::spawn(move || connect(localhost(), port, &client_task));
                        },
                        |_new_connection, _kill| panic!("planned panic in new_connect_cb"),
                    )
                },
                "planned panic in new_connect_cb",
            )?;
            refused_after(port, io_task).map(|refused| format!("{outcome}; {refused}"))
        },
    },
    Trial {
        what: "`listen`'s on_establish_cb panics",
        provoke: |io_task| {
            let port = free_port()?;
            let outcome = surfaced(
                || {
                    listen(
                        localhost(),
                        port,
                        16,
                        io_task,
                        |_kill| panic!("planned panic in on_establish_cb"),
                        |_, _| {},
                    )
                },
                "planned panic in on_establish_cb",
            )?;
            refused_after(port, io_task).map(|refused| format!("{outcome}; {refused}"))
        },
    },
];

/// Runs the case.
pub fn run(scale: &Scale) -> CaseReport {
    let mut report = CaseReport::new("Panics contained");
    report
        .tried
        .push(format!("{} planned panics on one IoTask.", TRIALS.len()));
    report.tried.push(
        "After each, the panic must have reached the caller (`Future::get` of the task, or the \
         thread that called `listen`), a socket pair made before it on the same loop must still \
         carry a round trip, and a new local task must run."
            .to_string(),
    );
    let mut table = Table::new(&[
        "panic",
        "where it surfaced",
        "loop and other sockets after it",
    ]);
    let io_task = match IoTask::spawn() {
        Ok(io_task) => io_task,
        Err(error) => {
            report.failures.push(format!("IoTask::spawn: {error}"));
            return report;
        }
    };
    let bystanders = match pair(&io_task) {
        Ok(pair) => pair,
        Err(error) => {
            report.failures.push(format!("a socket pair: {error}"));
            return report;
        }
    };
    let panics_before = panics();
    for trial in TRIALS {
        let trial_task = io_task.clone();
        let surfaced = match within(scale.seconds(10), move || (trial.provoke)(&trial_task)) {
            Ok(outcome) => outcome,
            Err(failure) => Err(format!("{failure:?}")),
        };
        let after = goes_on(&io_task, &bystanders);
        report.check(surfaced.is_ok() && after.is_ok(), || {
            format!("{}: {surfaced:?}; after it: {after:?}", trial.what)
        });
        table.row(vec![
            trial.what.to_string(),
            surfaced.unwrap_or_else(|e| format!("WRONG: {e}")),
            after.map_or_else(|e| format!("WRONG: {e}"), |()| "go on".to_string()),
        ]);
    }
    let panicked = panics() - panics_before;
    report.check(panicked == TRIALS.len(), || {
        format!(
            "{panicked} panics happened where {} were planned",
            TRIALS.len()
        )
    });
    report.tables.push(table);
    report
}

/// Calls `body`, which must panic with `message`; says where it surfaced.
fn surfaced<T>(body: impl FnOnce() -> T, message: &str) -> Result<String, String> {
    match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(_) => Err("no panic reached the caller".to_string()),
        Err(payload) => {
            let text = payload_text(payload.as_ref());
            if text == message {
                Ok("re-raised to the caller with its message".to_string())
            } else {
                Err(format!("the caller got another panic: {text}"))
            }
        }
    }
}

/// A round trip on the bystander pair, and a new local task.
fn goes_on(io_task: &IoTask, (client, server): &(TcpSocket, TcpSocket)) -> Result<(), String> {
    client
        .write("still here")
        .map_err(|e| format!("write: {e}"))?;
    let echoed = server.read(5000).map_err(|e| format!("read: {e}"))?;
    if echoed != b"still here" {
        return Err(format!("read {echoed:?}"));
    }
    let answer = io_task.spawn_local(|| async { 6 * 7 });
    let answer = within(Duration::from_secs(10), move || answer.get())
        .map_err(|failure| format!("a new local task: {failure:?}"))?;
    if answer == 42 {
        Ok(())
    } else {
        Err(format!("a new local task gave {answer}"))
    }
}

/// Checks that a connection to `port` is refused now that `listen` is gone.
fn refused_after(port: u16, io_task: &IoTask) -> Result<String, String> {
    match connect(localhost(), port, io_task) {
        Err(TcpConnectErrData::ConnectionRefused) => Ok("its port refuses connections".to_string()),
        other => Err(format!("a connect after listen returned gave {other:?}")),
    }
}

fn pair(io_task: &IoTask) -> Result<(TcpSocket, TcpSocket), TcpErrData> {
    let listener = TcpListener::bind(localhost(), 0, 4, io_task)?;
    let port = listener.local_addr()?.port();
    let client = connect(localhost(), port, io_task)?;
    let server = listener.accept_timeout(5000)?;
    Ok((client, server))
}

fn free_port() -> Result<u16, String> {
    let listener =
        std::net::TcpListener::bind((localhost(), 0)).map_err(|e| format!("std bind: {e}"))?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}
