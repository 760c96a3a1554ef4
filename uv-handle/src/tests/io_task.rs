//! `IoTask`: tasks run in order on the loop thread, bursts coalesce into few
//! wake-ups, a panicking task is dropped, and the thread finishes its work
//! and exits after the last clone is dropped.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::{CompletionError, IoTask, Tcp, Timer, completion, on_loop_thread};

thread_local! {
    /// Set on a loop thread by a task; dropped (and signalled) when that
    /// thread exits.
    static ON_THREAD_EXIT: RefCell<Option<DropSignal>> = const { RefCell::new(None) };
}

/// Arranges for `exited` to receive `()` when the loop thread exits.
fn signal_thread_exit(io_task: &IoTask) -> mpsc::Receiver<()> {
    let (signal, exited) = mpsc::channel();
    t!(io_task.interact(move |_| {
        ON_THREAD_EXIT.with(|slot| *slot.borrow_mut() = Some(DropSignal(signal)));
    }));
    exited
}

/// Runs `task` on the loop thread and waits for its result.
fn on_loop<T: Send + 'static>(
    io_task: &IoTask,
    task: impl FnOnce(&crate::LoopRef) -> T + Send + 'static,
) -> T {
    let (completer, completion) = completion();
    t!(io_task.interact(move |event_loop| completer.complete(task(event_loop))));
    wait(completion)
}

/// Accepts one connection, failing after [`timeout`].
fn accept(listener: &TcpListener) -> TcpStream {
    t!(listener.set_nonblocking(true));
    let deadline = Instant::now() + timeout();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                t!(stream.set_nonblocking(false));
                t!(stream.set_read_timeout(Some(timeout())));
                return stream;
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no connection came");
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(error) => panic!("accept failed: {error}"),
        }
    }
}

#[test]
fn interact_runs_tasks_in_order_on_the_loop_thread() {
    let io_task = t!(IoTask::spawn());
    assert!(io_task.name().starts_with("uv-io-"));
    assert!(!on_loop_thread());
    assert!(!io_task.is_current());
    let seen = Arc::new(Mutex::new(Vec::new()));
    for index in 0..100 {
        let (sink, me) = (Arc::clone(&seen), io_task.clone());
        t!(io_task.interact(move |event_loop| {
            assert!(on_loop_thread() && me.is_current() && !event_loop.is_closed());
            sink.lock().unwrap().push(index);
        }));
    }
    let name = io_task.name().to_string();
    let thread_name = on_loop(&io_task, |_| {
        std::thread::current().name().map(str::to_string)
    });
    assert_eq!(thread_name, Some(name));
    assert_eq!(*seen.lock().unwrap(), (0..100).collect::<Vec<_>>());
    assert!(!on_loop_thread());
}

#[test]
fn clones_share_one_loop() {
    let io_task = t!(IoTask::spawn());
    let clone = io_task.clone();
    let other = t!(IoTask::spawn());
    assert!(io_task.same_loop(&clone));
    assert!(!io_task.same_loop(&other));
    assert_eq!(io_task.name(), clone.name());
    assert_ne!(io_task.name(), other.name());
    assert!(format!("{io_task:?}").contains(io_task.name()));
    let from_clone = on_loop(&clone, |_| std::thread::current().id());
    let from_original = on_loop(&io_task, |_| std::thread::current().id());
    assert_eq!(from_clone, from_original);
}

#[test]
fn tasks_from_many_threads_all_run() {
    let io_task = t!(IoTask::spawn());
    let key = on_loop(&io_task, |event_loop| {
        event_loop.insert_local(Cell::new(0usize))
    });
    let threads = 4;
    let per_thread = scaled(250, 50);
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let io_task = io_task.clone();
            std::thread::spawn(move || {
                for _ in 0..per_thread {
                    t!(io_task.interact(move |event_loop| {
                        let count = event_loop.local(key).unwrap();
                        count.set(count.get() + 1);
                    }));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let total = on_loop(&io_task, move |event_loop| {
        event_loop.local(key).unwrap().get()
    });
    assert_eq!(total, threads * per_thread);
}

#[test]
fn a_burst_of_interacts_while_the_loop_is_busy_costs_few_wakeups() {
    let io_task = t!(IoTask::spawn());
    let (entered, busy) = mpsc::channel();
    let release = Arc::new(Barrier::new(2));
    let gate = Arc::clone(&release);
    t!(io_task.interact(move |_| {
        entered.send(()).unwrap();
        gate.wait();
    }));
    t!(busy.recv_timeout(timeout()));
    let before = io_task.wakeups();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let burst = 1000;
    for index in 0..burst {
        let sink = Arc::clone(&ran);
        t!(io_task.interact(move |_| sink.lock().unwrap().push(index)));
    }
    release.wait();
    on_loop(&io_task, |_| ());
    let after = io_task.wakeups();
    assert_eq!(*ran.lock().unwrap(), (0..burst).collect::<Vec<_>>());
    assert!(
        after - before <= 2,
        "{burst} tasks queued while the loop was busy took {} wake-ups",
        after - before
    );
}

#[test]
fn the_loop_thread_exits_after_the_last_clone_is_dropped() {
    let io_task = t!(IoTask::spawn());
    let exited = signal_thread_exit(&io_task);
    let (signal, local_dropped) = mpsc::channel();
    on_loop(&io_task, move |event_loop| {
        event_loop.insert_local(DropSignal(signal));
    });
    // A clone on another thread keeps the loop alive.
    let clone = io_task.clone();
    drop(io_task);
    let holder = std::thread::spawn(move || {
        on_loop(&clone, |_| ());
        clone
    });
    let clone = holder.join().unwrap();
    assert_eq!(
        local_dropped.recv_timeout(Duration::from_millis(20)),
        Err(mpsc::RecvTimeoutError::Timeout),
        "the loop closed while a clone was alive"
    );
    drop(clone);
    t!(local_dropped.recv_timeout(timeout()));
    t!(exited.recv_timeout(timeout()));
}

#[test]
fn a_listener_left_in_the_local_values_does_not_keep_the_thread_alive() {
    let io_task = t!(IoTask::spawn());
    let exited = signal_thread_exit(&io_task);
    on_loop(&io_task, |event_loop| {
        // An active handle that only the local values own.
        let server = Server::new(event_loop);
        event_loop.insert_local(server);
    });
    drop(io_task);
    t!(exited.recv_timeout(timeout()));
}

#[test]
fn pending_writes_complete_after_the_last_clone_is_dropped() {
    let listener = t!(TcpListener::bind(any_local_address()));
    let address = t!(listener.local_addr());
    let io_task = t!(IoTask::spawn());
    let exited = signal_thread_exit(&io_task);
    let length = scaled(8 << 20, 2 << 20);
    let (written, write_result) = mpsc::channel();
    t!(io_task.interact(move |event_loop| {
        // The handle lives only in its own request callbacks.
        let tcp = Rc::new(t!(Tcp::new(event_loop)));
        let keep = Rc::clone(&tcp);
        tcp.connect(address, move |_, result| {
            t!(result);
            let again = Rc::clone(&keep);
            keep.write(pattern(length), move |result| {
                let _ = written.send(result);
                let last = Rc::clone(&again);
                again.shutdown(move |_| drop(last));
            });
        });
    }));
    drop(io_task);
    let mut peer = accept(&listener);
    let mut everything = Vec::new();
    t!(peer.read_to_end(&mut everything));
    assert_eq!(everything.len(), length);
    assert!(everything == pattern(length));
    t!(t!(write_result.recv_timeout(timeout())));
    t!(exited.recv_timeout(timeout()));
}

#[test]
fn a_panicking_task_is_dropped_and_the_loop_goes_on() {
    let io_task = t!(IoTask::spawn());
    let (completer, completion) = completion::<u8>();
    t!(io_task.interact(move |_| {
        let _completer = completer;
        panic!("task boom");
    }));
    assert_eq!(
        completion.wait_timeout(timeout()),
        Err(CompletionError::Abandoned)
    );
    assert_eq!(on_loop(&io_task, |_| 7), 7);
}

#[test]
fn a_panicking_callback_on_the_loop_thread_leaves_the_loop_serving() {
    let io_task = t!(IoTask::spawn());
    let (fired, fired_on_loop) = mpsc::channel();
    let key = on_loop(&io_task, move |event_loop| {
        let timer = t!(Timer::new(event_loop));
        t!(
            timer.start(Duration::from_millis(1), Duration::ZERO, move |_| {
                let _ = fired.send(());
                panic!("callback boom");
            })
        );
        event_loop.insert_local(timer)
    });
    t!(fired_on_loop.recv_timeout(timeout()));
    // The loop thread caught the re-raised panic and runs tasks again.
    assert_eq!(on_loop(&io_task, |_| "alive"), "alive");
    assert!(on_loop(&io_task, move |event_loop| event_loop
        .remove_local(key)
        .is_some()));
}

#[test]
fn an_io_task_serves_tcp() {
    let io_task = t!(IoTask::spawn());
    let (key, address) = on_loop(&io_task, |event_loop| {
        let server = t!(Tcp::new(event_loop));
        t!(server.bind(any_local_address(), Default::default()));
        let connections: Rc<RefCell<Vec<Tcp>>> = Rc::new(RefCell::new(Vec::new()));
        t!(server.listen(16, move |server, status| {
            t!(status);
            let connection = t!(server.accept());
            t!(connection.read_start(|connection, chunk| match chunk {
                Ok(bytes) => connection.write(bytes.to_vec(), |_| {}),
                Err(_) => connection.close(),
            }));
            connections.borrow_mut().push(connection);
        }));
        let address = t!(server.local_addr());
        (event_loop.insert_local(server), address)
    });
    let mut client = t!(TcpStream::connect(address));
    t!(client.set_read_timeout(Some(timeout())));
    t!(client.write_all(b"echo me"));
    let mut echoed = [0; 7];
    t!(client.read_exact(&mut echoed));
    assert_eq!(&echoed, b"echo me");
    // Closing the listener (its local value) closes the connections too.
    assert!(on_loop(&io_task, move |event_loop| event_loop
        .remove_local(key)
        .is_some()));
    let mut rest = Vec::new();
    t!(client.read_to_end(&mut rest));
    assert!(rest.is_empty());
}
