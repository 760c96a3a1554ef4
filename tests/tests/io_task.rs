//! `IoTask::spawn` (private loops, lifetime) and `IoTask::spawn_local`
//! (local tasks on the loop thread, `EAGAIN` for blocking calls, panics).

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::thread;

use uvtcp::*;
use uvtcp_tests::*;

/// The text of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        String::from("<non-string panic payload>")
    }
}

#[test]
fn spawned_io_tasks_are_independent_working_loops() {
    bounded(10, || {
        let first = new_iotask();
        let second = new_iotask();
        let (client, server) = connected_pair_on(localhost_v4(), &first, &second);
        drop(first);
        t!(client.write(&b"between loops"[..]));
        assert_eq!(t!(read_at_least(&server, 13)), b"between loops");
    });
}

#[test]
fn sockets_keep_their_loop_alive_after_every_io_task_handle_is_dropped() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        drop(iotask);
        t!(client.write(&b"still running"[..]));
        assert_eq!(t!(read_at_least(&server, 13)), b"still running");
        drop(client);
        assert_eq!(t!(read_to_eof(&server)), Vec::<u8>::new());
    });
}

#[test]
fn a_listener_keeps_its_loop_alive_after_the_io_task_is_dropped() {
    bounded(10, || {
        let iotask = new_iotask();
        let listener = t!(TcpListener::bind(localhost_v4(), 0, 16, &iotask));
        drop(iotask);
        let port = t!(listener.local_addr()).port();
        let client_task = new_iotask();
        let client = t!(connect(localhost_v4(), port, &client_task));
        let server = t!(listener.accept_timeout(READ_TIMEOUT_MS));
        assert_eq!(t!(server.peer_addr()), t!(client.local_addr()));
    });
}

#[test]
fn a_clone_of_an_io_task_works_on_another_thread() {
    bounded(10, || {
        let iotask = new_iotask();
        let clone = iotask.clone();
        let worker = thread::spawn(move || connected_pair(&clone));
        let (client, server) = worker.join().unwrap();
        drop(iotask);
        t!(server.write(&b"clone"[..]));
        assert_eq!(t!(read_at_least(&client, 5)), b"clone");
    });
}

#[test]
fn many_io_tasks_can_be_spawned_and_dropped() {
    bounded(20, || {
        for _ in 0..20 {
            let iotask = new_iotask();
            let (client, server) = connected_pair(&iotask);
            t!(client.write(&b"x"[..]));
            assert_eq!(t!(read_at_least(&server, 1)), b"x");
        }
    });
}

#[test]
fn spawn_local_runs_an_async_echo_on_the_loop_thread() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let echo = iotask.spawn_local(move || async move {
            let port = server.read_start()?;
            let mut echoed = Vec::new();
            loop {
                match port.recv_async().await {
                    Ok(chunk) => {
                        echoed.extend_from_slice(&chunk);
                        server.write_future(chunk).await?;
                    }
                    Err(error) if error.err_name == "EOF" => break,
                    Err(error) => return Err(error),
                }
            }
            server.read_stop(port)?;
            Ok::<_, TcpErrData>(echoed)
        });
        t!(client.write(&b"hello "[..]));
        t!(client.write(&b"loop"[..]));
        assert_eq!(t!(read_at_least(&client, 10)), b"hello loop");
        t!(client.shutdown());
        assert_eq!(t!(echo.get()), b"hello loop");
        assert_eq!(t!(read_to_eof(&client)), Vec::<u8>::new());
    });
}

#[test]
fn spawn_local_accepts_and_connects_with_futures() {
    bounded(10, || {
        let iotask = new_iotask();
        let listener = t!(TcpListener::bind(localhost_v4(), 0, 16, &iotask));
        let port = t!(listener.local_addr()).port();
        let task_handle = iotask.clone();
        let exchanged = iotask.spawn_local(move || async move {
            let accepted = listener.accept_future();
            let client = t!(connect_future(localhost_v4(), port, &task_handle).await);
            let server = t!(accepted.await);
            t!(client.write_future("inside").await);
            let mut received = Vec::new();
            while received.len() < 6 {
                received.extend(t!(server.read_future(READ_TIMEOUT_MS).await));
            }
            received
        });
        assert_eq!(exchanged.get(), b"inside");
    });
}

#[test]
fn blocking_calls_inside_a_local_task_fail_with_eagain() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let task_handle = iotask.clone();
        let outcomes = iotask.spawn_local(move || async move {
            let name = |result: Result<(), TcpErrData>| match result {
                Ok(()) => "Ok".to_string(),
                Err(error) => error.err_name,
            };
            let connect_name = match connect(localhost_v4(), 1, &task_handle) {
                Ok(_) => "Ok".to_string(),
                Err(TcpConnectErrData::GenericConnectErr(err_name, _)) => err_name,
                Err(other) => format!("{other:?}"),
            };
            vec![
                ("read", name(server.read(100).map(|_| ()))),
                ("write", name(client.write(&b"x"[..]))),
                ("shutdown", name(client.shutdown())),
                ("connect", connect_name),
            ]
        });
        for (call, outcome) in outcomes.get() {
            assert_eq!(outcome, "EAGAIN", "{call} inside a local task");
        }
    });
}

#[test]
fn local_tasks_start_in_spawn_order() {
    bounded(10, || {
        let iotask = new_iotask();
        let order = Arc::new(Mutex::new(Vec::new()));
        let futures: Vec<_> = (0..20)
            .map(|index| {
                let order = Arc::clone(&order);
                iotask.spawn_local(move || {
                    order.lock().unwrap().push(index);
                    async move { index }
                })
            })
            .collect();
        for (index, future) in futures.into_iter().enumerate() {
            assert_eq!(future.get(), index);
        }
        assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
    });
}

#[test]
fn a_panic_in_a_local_task_is_reraised_by_get_and_the_loop_goes_on() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let failing = iotask.spawn_local(|| async {
            panic!("deliberate panic in a local task");
        });
        let result = panic::catch_unwind(AssertUnwindSafe(|| failing.get()));
        let payload = result.expect_err("get on a panicked task returned");
        assert!(
            panic_message(payload.as_ref()).contains("deliberate panic"),
            "re-raised payload: {}",
            panic_message(payload.as_ref())
        );
        // The loop and its sockets go on.
        t!(client.write(&b"after panic"[..]));
        assert_eq!(t!(read_at_least(&server, 11)), b"after panic");
        assert_eq!(iotask.spawn_local(|| async { 7 }).get(), 7);
    });
}

#[test]
fn a_panic_in_the_make_closure_is_reraised_by_get() {
    bounded(10, || {
        let iotask = new_iotask();
        let failing = iotask.spawn_local(|| -> std::future::Ready<()> {
            panic!("deliberate panic in make");
        });
        let result = panic::catch_unwind(AssertUnwindSafe(|| failing.get()));
        assert!(
            result.is_err(),
            "get on a task whose make panicked returned"
        );
        assert_eq!(iotask.spawn_local(|| async { 8 }).get(), 8);
    });
}

#[test]
fn future_get_inside_a_local_task_panics_naming_await() {
    bounded(10, || {
        let iotask = new_iotask();
        let outer = iotask.spawn_local(|| async { Future::from_value(1).get() });
        let result = panic::catch_unwind(AssertUnwindSafe(|| outer.get()));
        let payload = result.expect_err("Future::get on the loop thread did not panic");
        let message = panic_message(payload.as_ref());
        assert!(
            message.contains("await"),
            "panic message does not name .await: {message}"
        );
    });
}

#[test]
fn dropping_a_spawn_local_future_detaches_the_task() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        drop(iotask.spawn_local(move || async move {
            let request = t!(server.read_future(READ_TIMEOUT_MS).await);
            t!(server.write_future(request).await);
        }));
        t!(client.write(&b"detached"[..]));
        assert_eq!(t!(read_at_least(&client, 8)), b"detached");
    });
}

#[test]
fn spawn_local_inside_a_local_task_returns_at_once() {
    bounded(10, || {
        let iotask = new_iotask();
        let task_handle = iotask.clone();
        let outer = iotask.spawn_local(move || async move {
            let inner = task_handle.spawn_local(|| async { 5 });
            inner.await + 1
        });
        assert_eq!(outer.get(), 6);
    });
}

#[test]
fn a_pending_local_task_keeps_its_loop_alive() {
    bounded(10, || {
        let task_loop = new_iotask();
        let socket_loop = new_iotask();
        let (client, server) = connected_pair(&socket_loop);
        // The task's loop owns no socket: only the pending task keeps it alive.
        drop(task_loop.spawn_local(move || async move {
            let request = t!(server.read_future(0).await);
            t!(server.write_future(request).await);
        }));
        drop(task_loop);
        thread::sleep(std::time::Duration::from_millis(200));
        t!(client.write(&b"alive"[..]));
        assert_eq!(t!(read_at_least(&client, 5)), b"alive");
    });
}
