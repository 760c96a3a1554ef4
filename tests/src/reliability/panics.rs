//! Panics contained: a panic in a local task, in the `make` closure of
//! one, in a local task that holds a socket, in both `listen` callbacks,
//! and in the `Drop` of a value that a local task or a `make` closure holds
//! with a socket. Each panic must reach the caller that asked for the work
//! (a detached task has none), nothing may abort, and the loop and its
//! other sockets must go on.

use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use uvtcp::{Future, IoTask, TcpConnectErrData, TcpErrData, TcpSocket, connect, listen};

use super::report::{CaseReport, Table};
use super::system::{panics, payload_text, threads, wait_until, within};
use super::{Scale, localhost, pair, pair_on};

/// One panic and what must hold after it.
struct Trial {
    what: &'static str,
    /// Makes the panic happen; returns where it surfaced.
    provoke: fn(&IoTask) -> Result<String, String>,
}

const TRIALS: [Trial; 9] = [
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
            closed_gracefully(&client).map(|closed| format!("{raised}; {closed}"))
        },
    },
    Trial {
        what: "a value whose `Drop` panics, dropped with a socket at the end of a local task",
        provoke: |io_task| {
            let (client, server) = pair(io_task).map_err(|e| e.to_string())?;
            let bomb = PanicOnDrop("planned panic in a drop at the end of a task");
            let task = io_task.spawn_local(move || async move {
                let server = server;
                // Dropped first, so the socket is dropped while it unwinds.
                let _bomb = bomb;
                server.write_future("last words").await
            });
            let raised = surfaced(
                || task.get(),
                "planned panic in a drop at the end of a task",
            )?;
            closed_gracefully(&client).map(|closed| format!("{raised}; {closed}"))
        },
    },
    Trial {
        what: "a value whose `Drop` panics, held with a socket by a task's future, dropped \
               after it finished",
        provoke: |io_task| {
            let (client, server) = pair(io_task).map_err(|e| e.to_string())?;
            let task = io_task.spawn_local(move || Holding {
                _bomb: PanicOnDrop("planned panic dropping a finished task"),
                write: server.write_future("last words"),
                _socket: server,
            });
            let raised = surfaced(|| task.get(), "planned panic dropping a finished task")?;
            closed_gracefully(&client).map(|closed| format!("{raised}; {closed}"))
        },
    },
    Trial {
        what: "a value whose `Drop` panics, held with a socket by a detached task that waits \
               on it when the last handle of its loop is dropped",
        provoke: |io_task| {
            let threads_before = threads();
            let own_loop = IoTask::spawn().map_err(|e| format!("IoTask::spawn: {e}"))?;
            let (client, server) = pair_on(io_task, &own_loop).map_err(|e| e.to_string())?;
            let bomb = PanicOnDrop("planned panic in a detached task");
            drop(own_loop.spawn_local(move || async move {
                let server = server;
                let _bomb = bomb;
                let _ = server.read_future(0).await;
                server.write_future("last words").await
            }));
            drop(own_loop);
            client.write("go").map_err(|e| format!("write: {e}"))?;
            let closed = closed_gracefully(&client)?;
            if !wait_until(Duration::from_secs(10), || threads() <= threads_before) {
                return Err("the loop thread did not exit".to_string());
            }
            Ok(format!(
                "nowhere (detached); {closed}; the loop thread exited"
            ))
        },
    },
    Trial {
        what: "a value whose `Drop` panics, captured with a socket by the `make` closure of a \
               local task",
        provoke: |io_task| {
            let (client, server) = pair(io_task).map_err(|e| e.to_string())?;
            let bomb = PanicOnDrop("planned panic dropping make's capture");
            let task = io_task.spawn_local(move || {
                let write = server.write_future("last words");
                // Dropped before make returns: the socket and the write
                // queued on it are dropped while make unwinds. A panic in a
                // drop after the return value is built would leak that
                // value (the compiler skips its drop), socket included.
                drop(bomb);
                async move {
                    let _server = server;
                    write.await
                }
            });
            let raised = surfaced(|| task.get(), "planned panic dropping make's capture")?;
            closed_gracefully(&client).map(|closed| format!("{raised}; {closed}"))
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
        "Four of them are in the `Drop` of a value held with a socket: by a local task's \
         future, by a detached task when the last handle of its loop goes, and by the `make` \
         closure of `spawn_local`."
            .to_string(),
    );
    report.tried.push(
        "After each, the panic must have reached the caller (`Future::get` of the task, or the \
         thread that called `listen`), a socket pair made before it on the same loop must still \
         carry a round trip, and a new local task must run."
            .to_string(),
    );
    report.tried.push(
        "A socket held where a panic happened must close gracefully: its peer reads the bytes \
         written before the panic, then EOF."
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
pub fn goes_on(io_task: &IoTask, (client, server): &(TcpSocket, TcpSocket)) -> Result<(), String> {
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

/// Checks that the peer of a socket closed gracefully reads `last words`,
/// then EOF.
fn closed_gracefully(client: &TcpSocket) -> Result<String, String> {
    let words = client.read(5000).map_err(|e| format!("peer read: {e}"))?;
    let end = client.read(5000);
    match (words.as_slice(), end) {
        (b"last words", Err(error)) if error.is_eof() => {
            Ok("the peer read its bytes, then EOF".to_string())
        }
        (words, end) => Err(format!("the peer read {words:?}, then {end:?}")),
    }
}

/// A value whose `Drop` panics with its message (unless the thread is
/// already unwinding, where a second panic would abort the process).
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

/// A task's future that holds a value and a socket beside the write it
/// waits for: they are dropped with the future, after it finished.
struct Holding {
    _bomb: PanicOnDrop,
    write: Future<Result<(), TcpErrData>>,
    _socket: TcpSocket,
}

impl std::future::Future for Holding {
    type Output = Result<(), TcpErrData>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.write).poll(context)
    }
}

fn free_port() -> Result<u16, String> {
    let listener =
        std::net::TcpListener::bind((localhost(), 0)).map_err(|e| format!("std bind: {e}"))?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}
