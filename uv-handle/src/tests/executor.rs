//! The executor of local tasks (`IoTask::spawn_local`): wakes from the loop
//! thread stay on it and wakes from other threads cross through the queue,
//! tasks run in spawn and wake order, the poll budget keeps a task that
//! wakes itself forever from starving timers, I/O and other tasks, panics are
//! reported through the task's completion, the loop finishes its tasks before
//! its thread exits, and callbacks and tasks may spawn, wake and drop freely.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::panic::resume_unwind;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use super::*;
use crate::callback::describe as describe_panic;
use crate::{
    Check, Completion, IoTask, POLL_BUDGET, TaskResult, Tcp, Timer, completion, on_loop_thread,
};

thread_local! {
    /// Set on a loop thread by a task; dropped (and signalled) when that
    /// thread exits.
    static ON_THREAD_EXIT: RefCell<Option<DropSignal>> = const { RefCell::new(None) };
}

/// The output of a local task, re-raising its panic (an assertion that
/// failed inside the task fails the test with its own message).
fn output<T>(task: Completion<TaskResult<T>>) -> T {
    match wait(task) {
        Ok(value) => value,
        Err(payload) => resume_unwind(payload),
    }
}

/// The panic message a local task reported.
fn panic_of<T>(task: Completion<TaskResult<T>>) -> String {
    match wait(task) {
        Ok(_) => panic!("the task finished instead of panicking"),
        Err(payload) => describe_panic(&*payload).to_string(),
    }
}

/// Wakes its own task and returns `Pending` once: the task goes to the back
/// of the ready queue.
fn yield_now() -> impl Future<Output = ()> {
    let mut yielded = false;
    poll_fn(move |context| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        context.waker().wake_by_ref();
        Poll::Pending
    })
}

/// `future`, counting each of its polls in `polls`.
async fn counted<F: Future>(polls: Arc<AtomicUsize>, future: F) -> F::Output {
    let mut future = pin!(future);
    poll_fn(|context| {
        polls.fetch_add(1, Ordering::SeqCst);
        future.as_mut().poll(context)
    })
    .await
}

/// Awaits `completion`; once its waker is registered and it is still
/// pending, sends `()` on `registered` (once), so another thread knows that
/// completing it now must wake the task.
async fn await_registered<T>(
    completion: Completion<T>,
    registered: mpsc::Sender<()>,
) -> Result<T, crate::CompletionError> {
    let mut completion = completion;
    let mut told = false;
    poll_fn(move |context| {
        let poll = Pin::new(&mut completion).poll(context);
        if poll.is_pending() && !told {
            told = true;
            let _ = registered.send(());
        }
        poll
    })
    .await
}

/// A timer on `io_task`'s loop (call it on that loop's thread) and the
/// completion it resolves after `after`. The timer must be kept until then.
fn timer_completion(io_task: &IoTask, after: Duration) -> (Timer, Completion<()>) {
    let (completer, fired) = completion();
    let mut completer = Some(completer);
    let timer = io_task
        .run_here(|event_loop| t!(Timer::new(event_loop)))
        .expect("timer_completion runs on the loop thread");
    t!(timer.start(after, Duration::ZERO, move |_| {
        if let Some(completer) = completer.take() {
            completer.complete(());
        }
    }));
    (timer, fired)
}

/// Sleeps on `io_task`'s loop (from a task on that loop).
async fn sleep(io_task: &IoTask, duration: Duration) {
    let (_timer, fired) = timer_completion(io_task, duration);
    t!(fired.await);
}

/// A listener on `io_task`'s loop (call it on that loop's thread) that
/// hands every connection it accepts to `on_connection`.
fn listen_here(
    io_task: &IoTask,
    mut on_connection: impl FnMut(Tcp) + 'static,
) -> (Tcp, SocketAddr) {
    let listener = io_task
        .run_here(|event_loop| t!(Tcp::new(event_loop)))
        .expect("listen_here runs on the loop thread");
    t!(listener.bind(any_local_address(), Default::default()));
    t!(listener.listen(16, move |server, status| {
        t!(status);
        on_connection(t!(server.accept()));
    }));
    let address = t!(listener.local_addr());
    (listener, address)
}

/// A blocking `std` client of `address`, every wait bounded by [`timeout`].
fn connect_peer(address: SocketAddr) -> TcpStream {
    let peer = t!(TcpStream::connect_timeout(&address, timeout()));
    t!(peer.set_read_timeout(Some(timeout())));
    t!(peer.set_write_timeout(Some(timeout())));
    peer
}

/// Sends `()` on `exited` when the current (loop) thread exits.
fn signal_exit_of_this_thread(exited: mpsc::Sender<()>) {
    ON_THREAD_EXIT.with(|slot| *slot.borrow_mut() = Some(DropSignal(exited)));
}

#[test]
fn a_wake_from_a_loop_callback_resumes_the_task_without_the_cross_thread_queue() {
    let io_task = t!(IoTask::spawn());
    let here = io_task.clone();
    let task = io_task.spawn_local(move || async move {
        assert!(on_loop_thread() && here.is_current());
        let before = here.wakeups();
        // A timer callback completes what the task awaits.
        let (_timer, fired) = timer_completion(&here, Duration::from_millis(5));
        t!(fired.await);
        // An async handle's callback: the send comes from another thread,
        // but the callback, and so the wake, runs on the loop thread.
        let (completer, woken) = completion();
        let mut completer = Some(completer);
        let wake = here
            .run_here(|event_loop| {
                t!(crate::Async::new(event_loop, move |_| {
                    if let Some(completer) = completer.take() {
                        completer.complete("async");
                    }
                }))
            })
            .unwrap();
        let sender = wake.sender();
        let (registered, now) = mpsc::channel();
        thread::spawn(move || {
            t!(now.recv_timeout(timeout()));
            t!(sender.send());
        });
        let woken = t!(await_registered(woken, registered).await);
        (woken, here.wakeups() - before)
    });
    let (woken, crossings) = output(task);
    assert_eq!(woken, "async");
    assert_eq!(
        crossings, 0,
        "a wake on the loop thread went through the cross-thread queue"
    );
}

#[test]
fn a_wake_from_another_thread_crosses_through_the_queue() {
    let io_task = t!(IoTask::spawn());
    let here = io_task.clone();
    let task = io_task.spawn_local(move || async move {
        let (completer, value) = completion();
        let (registered, now) = mpsc::channel();
        thread::spawn(move || {
            t!(now.recv_timeout(timeout()));
            completer.complete(7);
        });
        let before = here.wakeups();
        let value = t!(await_registered(value, registered).await);
        (value, here.wakeups() - before)
    });
    let (value, crossings) = output(task);
    assert_eq!(value, 7);
    assert!(
        crossings >= 1,
        "a wake from another thread did not wake the loop"
    );
}

#[test]
fn a_wake_from_another_loops_thread_crosses_to_the_tasks_loop() {
    let first = t!(IoTask::spawn());
    let second = t!(IoTask::spawn());
    let here = first.clone();
    let task = first.spawn_local(move || async move {
        let (completer, value) = completion();
        let (registered, now) = mpsc::channel();
        // Completed by a task of another loop: its thread runs an executor
        // too, but not this task's.
        let other = second.spawn_local(move || async move {
            t!(now.recv_timeout(timeout()));
            completer.complete(thread::current().id());
        });
        let before = here.wakeups();
        let completed_on = t!(await_registered(value, registered).await);
        t!(other.await).unwrap_or_else(|payload| resume_unwind(payload));
        (
            completed_on != thread::current().id(),
            here.wakeups() - before,
        )
    });
    let (elsewhere, crossings) = output(task);
    assert!(elsewhere);
    assert!(crossings >= 1, "the wake did not reach the task's loop");
}

#[test]
fn a_burst_of_wakes_from_other_threads_costs_one_poll() {
    let io_task = t!(IoTask::spawn());
    let stash: Arc<Mutex<Option<Waker>>> = Arc::default();
    let finish = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(AtomicUsize::new(0));
    let (registered, pending) = mpsc::channel();
    let (task_stash, task_finish) = (Arc::clone(&stash), Arc::clone(&finish));
    // Pending until `finish`, leaving its waker in `stash` at every poll.
    let task = io_task.spawn_local({
        let polls = Arc::clone(&polls);
        move || {
            counted(
                polls,
                poll_fn(move |context| {
                    if task_finish.load(Ordering::SeqCst) {
                        return Poll::Ready(());
                    }
                    *task_stash.lock().unwrap() = Some(context.waker().clone());
                    let _ = registered.send(());
                    Poll::Pending
                }),
            )
        }
    });
    t!(pending.recv_timeout(timeout()));
    let waker = stash
        .lock()
        .unwrap()
        .take()
        .expect("the task left its waker");
    // Hold the loop thread while four threads wake the task 1000 times.
    let (entered, busy) = mpsc::channel();
    let gate = Arc::new(Barrier::new(2));
    let loop_gate = Arc::clone(&gate);
    t!(io_task.interact(move |_| {
        entered.send(()).unwrap();
        loop_gate.wait();
    }));
    t!(busy.recv_timeout(timeout()));
    let wakers: Vec<_> = (0..4)
        .map(|_| {
            let waker = waker.clone();
            thread::spawn(move || {
                for _ in 0..250 {
                    waker.wake_by_ref();
                }
            })
        })
        .collect();
    for waker in wakers {
        waker.join().unwrap();
    }
    gate.wait();
    t!(pending.recv_timeout(timeout()));
    // A task spawned now is polled after every wake queued before it.
    output(io_task.spawn_local(|| async {}));
    assert_eq!(
        polls.load(Ordering::SeqCst),
        2,
        "1000 wakes of a pending task polled it more than once"
    );
    finish.store(true, Ordering::SeqCst);
    stash
        .lock()
        .unwrap()
        .take()
        .expect("the task left its waker")
        .wake();
    output(task);
    assert_eq!(polls.load(Ordering::SeqCst), 3);
}

#[test]
fn tasks_start_in_spawn_order_from_another_thread() {
    let io_task = t!(IoTask::spawn());
    let log = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..50)
        .map(|index| {
            let log = Arc::clone(&log);
            io_task.spawn_local(move || {
                log.lock().unwrap().push(format!("make {index}"));
                async move {
                    log.lock().unwrap().push(format!("start {index}"));
                    index
                }
            })
        })
        .collect();
    for (index, task) in tasks.into_iter().enumerate() {
        assert_eq!(output(task), index);
    }
    let log = log.lock().unwrap();
    for word in ["make", "start"] {
        let seen: Vec<&String> = log.iter().filter(|entry| entry.starts_with(word)).collect();
        let expected: Vec<String> = (0..50).map(|index| format!("{word} {index}")).collect();
        assert_eq!(seen, expected.iter().collect::<Vec<_>>(), "{word} order");
    }
}

#[test]
fn tasks_spawned_by_a_task_start_after_it_yields_in_spawn_order() {
    let io_task = t!(IoTask::spawn());
    let here = io_task.clone();
    let log = Arc::new(Mutex::new(Vec::new()));
    let parent_log = Arc::clone(&log);
    let parent = io_task.spawn_local(move || async move {
        let record = |entry: String| parent_log.lock().unwrap().push(entry);
        let children: Vec<_> = (0..10)
            .map(|index| {
                let log = Arc::clone(&parent_log);
                here.spawn_local(move || {
                    // `make` runs at once, inside spawn_local.
                    log.lock().unwrap().push(format!("make {index}"));
                    async move {
                        log.lock().unwrap().push(format!("start {index}"));
                        index * 10
                    }
                })
            })
            .collect();
        record("spawned".to_string());
        yield_now().await;
        record("resumed".to_string());
        let mut outputs = Vec::new();
        for child in children {
            outputs.push(t!(child.await).unwrap_or_else(|payload| resume_unwind(payload)));
        }
        outputs
    });
    assert_eq!(
        output(parent),
        (0..10).map(|index| index * 10).collect::<Vec<_>>()
    );
    let mut expected: Vec<String> = (0..10).map(|index| format!("make {index}")).collect();
    expected.push("spawned".to_string());
    expected.extend((0..10).map(|index| format!("start {index}")));
    expected.push("resumed".to_string());
    assert_eq!(*log.lock().unwrap(), expected);
}

#[test]
fn woken_tasks_are_polled_in_wake_order() {
    let io_task = t!(IoTask::spawn());
    let order = Arc::new(Mutex::new(Vec::new()));
    let (registered, pending) = mpsc::channel();
    let mut completers = Vec::new();
    let tasks: Vec<_> = (0..3)
        .map(|index| {
            let (completer, woken) = completion::<()>();
            completers.push(completer);
            let (order, registered) = (Arc::clone(&order), registered.clone());
            io_task.spawn_local(move || async move {
                t!(await_registered(woken, registered).await);
                order.lock().unwrap().push(index);
            })
        })
        .collect();
    for _ in 0..3 {
        t!(pending.recv_timeout(timeout()));
    }
    // One loop callback completes them in the order 2, 0, 1.
    let mut completers = completers.into_iter().map(Some).collect::<Vec<_>>();
    let in_wake_order: Vec<_> = [2, 0, 1]
        .into_iter()
        .map(|index| completers[index].take().unwrap())
        .collect();
    t!(io_task.interact(move |_| {
        for completer in in_wake_order {
            completer.complete(());
        }
    }));
    for task in tasks {
        output(task);
    }
    assert_eq!(*order.lock().unwrap(), [2, 0, 1]);
}

#[test]
fn a_task_that_wakes_itself_n_times_finishes_without_crossing_threads() {
    let io_task = t!(IoTask::spawn());
    let here = io_task.clone();
    let polls = Arc::new(AtomicUsize::new(0));
    let times = scaled(10_000, 1_000);
    let task = io_task.spawn_local({
        let polls = Arc::clone(&polls);
        move || {
            counted(polls, async move {
                let before = here.wakeups();
                for _ in 0..times {
                    yield_now().await;
                }
                here.wakeups() - before
            })
        }
    });
    assert_eq!(
        output(task),
        0,
        "a self-wake went through the cross-thread queue"
    );
    assert_eq!(polls.load(Ordering::SeqCst), times + 1);
}

#[test]
fn a_task_that_wakes_itself_forever_does_not_starve_timers_io_or_other_tasks() {
    let io_task = t!(IoTask::spawn());
    let here = io_task.clone();
    let polls = Arc::new(AtomicUsize::new(0));
    let neighbour_done = Arc::new(AtomicBool::new(false));
    let length = scaled(256 * 1024, 64 * 1024);
    let (address_sender, address) = mpsc::channel();
    let spinner = io_task.spawn_local({
        let (polls, neighbour_done) = (Arc::clone(&polls), Arc::clone(&neighbour_done));
        move || {
            let task_polls = Arc::clone(&polls);
            counted(task_polls, async move {
                // A timer ticking every millisecond.
                let ticks = Rc::new(Cell::new(0usize));
                let tick = Rc::clone(&ticks);
                let timer = here
                    .run_here(|event_loop| t!(Timer::new(event_loop)))
                    .unwrap();
                let one_ms = Duration::from_millis(1);
                t!(timer.start(one_ms, one_ms, move |_| tick.set(tick.get() + 1)));
                // A connection whose bytes are read by a libuv callback.
                let received = Rc::new(Cell::new(0usize));
                let connections = Rc::new(RefCell::new(Vec::new()));
                let (sink, kept) = (Rc::clone(&received), Rc::clone(&connections));
                let (_listener, listening) = listen_here(&here, move |connection| {
                    let sink = Rc::clone(&sink);
                    t!(connection.read_start(move |_, chunk| {
                        if let Ok(bytes) = chunk {
                            sink.set(sink.get() + bytes.len());
                        }
                    }));
                    kept.borrow_mut().push(connection);
                });
                address_sender.send(listening).unwrap();
                // The most polls in one loop iteration, seen from a check
                // handle, which runs once per iteration.
                let most = Rc::new(Cell::new(0usize));
                let (seen, last) = (Rc::clone(&most), Cell::new(polls.load(Ordering::SeqCst)));
                let watch = here
                    .run_here(|event_loop| t!(Check::new(event_loop)))
                    .unwrap();
                let check_polls = Arc::clone(&polls);
                t!(watch.start(move |_| {
                    let now = check_polls.load(Ordering::SeqCst);
                    seen.set(seen.get().max(now - last.replace(now)));
                }));
                // Another task, which sleeps on timers three times.
                let neighbour_here = here.clone();
                let done = Arc::clone(&neighbour_done);
                let neighbour = here.spawn_local(move || {
                    counted(polls, async move {
                        for _ in 0..3 {
                            sleep(&neighbour_here, Duration::from_millis(2)).await;
                        }
                        done.store(true, Ordering::SeqCst);
                    })
                });
                let mut spins = 0usize;
                while ticks.get() < 20
                    || received.get() < length
                    || !neighbour_done.load(Ordering::SeqCst)
                {
                    yield_now().await;
                    spins += 1;
                }
                t!(t!(neighbour.await).map_err(|_| "the neighbour panicked"));
                (spins, most.get(), ticks.get(), received.get())
            })
        }
    });
    let mut peer = connect_peer(t!(address.recv_timeout(timeout())));
    t!(peer.write_all(&pattern(length)));
    let (spins, most, ticks, received) = output(spinner);
    assert!(ticks >= 20 && received == length);
    assert!(
        spins > 10 * POLL_BUDGET,
        "the spinner ran only {spins} times: the test did not load the executor"
    );
    assert!(
        most <= POLL_BUDGET,
        "{most} polls in one loop iteration, over the budget of {POLL_BUDGET}"
    );
    assert!(
        most >= POLL_BUDGET / 2,
        "at most {most} polls per iteration: the executor did not batch ready tasks"
    );
}

#[test]
fn with_no_task_ready_the_loop_sleeps_until_a_callback() {
    let io_task = t!(IoTask::spawn());
    let here = io_task.clone();
    let task = io_task.spawn_local(move || async move {
        let iterations = Rc::new(Cell::new(0usize));
        let count = Rc::clone(&iterations);
        let watch = here
            .run_here(|event_loop| t!(Check::new(event_loop)))
            .unwrap();
        t!(watch.start(move |_| count.set(count.get() + 1)));
        sleep(&here, Duration::from_millis(100)).await;
        iterations.get()
    });
    let iterations = output(task);
    assert!(
        iterations <= 5,
        "the loop ran {iterations} iterations while its only task waited 100 ms for a timer"
    );
}

#[test]
fn a_panicking_task_is_reported_through_its_completion_and_others_go_on() {
    let io_task = t!(IoTask::spawn());
    let here = io_task.clone();
    let survivor = io_task.spawn_local(move || async move {
        sleep(&here, Duration::from_millis(20)).await;
        5
    });
    let drops = Drops::new();
    let token = drops.token();
    let failing = io_task.spawn_local(move || async move {
        let _token = token;
        yield_now().await;
        panic!("task boom");
    });
    assert_eq!(panic_of(failing), "task boom");
    // The task's values were dropped before the panic was reported.
    assert_eq!(drops.count(), 1);
    assert_eq!(output(survivor), 5);
    assert_eq!(output(io_task.spawn_local(|| async { 6 })), 6);
}

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("drop boom");
    }
}

/// A future that is ready at once and holds its value until it is dropped,
/// after it finished.
struct ReadyHolding<G>(G);

impl<G> Future for ReadyHolding<G> {
    type Output = u8;

    fn poll(self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<u8> {
        Poll::Ready(3)
    }
}

#[test]
fn a_panic_while_dropping_a_finished_task_is_reported() {
    let io_task = t!(IoTask::spawn());
    let task = io_task.spawn_local(|| ReadyHolding(PanicOnDrop));
    assert_eq!(panic_of(task), "drop boom");
    assert_eq!(output(io_task.spawn_local(|| async { 4 })), 4);
}

#[test]
fn a_panic_in_make_is_reported_and_the_spawner_goes_on() {
    let io_task = t!(IoTask::spawn());
    let failing = io_task.spawn_local(|| -> std::future::Ready<()> { panic!("make boom") });
    assert_eq!(panic_of(failing), "make boom");
    // From inside a task: spawn_local runs `make` at once, yet its panic
    // reaches the child's completion, not the parent.
    let here = io_task.clone();
    let parent = io_task.spawn_local(move || async move {
        let child = here.spawn_local(|| -> std::future::Ready<()> { panic!("inner make boom") });
        let payload = t!(child.await).expect_err("the child's make panicked");
        describe_panic(&*payload).to_string()
    });
    assert_eq!(output(parent), "inner make boom");
}

#[test]
fn dropping_the_last_io_task_with_tasks_ready_finishes_them_then_the_thread_exits() {
    let io_task = t!(IoTask::spawn());
    let (exit_signal, exited) = mpsc::channel();
    let drops = Drops::new();
    let mut kept = Vec::new();
    for index in 0..20usize {
        let here = io_task.clone();
        let token = drops.token();
        let exit_signal = (index == 0).then(|| exit_signal.clone());
        let task = io_task.spawn_local(move || {
            if let Some(exit_signal) = exit_signal {
                signal_exit_of_this_thread(exit_signal);
            }
            async move {
                let _token = token;
                for _ in 0..index * 10 {
                    yield_now().await;
                }
                if index % 2 == 1 {
                    // Pending on a timer when the last IoTask goes.
                    sleep(&here, Duration::from_millis(10)).await;
                }
                index
            }
        });
        // Half the tasks are detached.
        if index % 4 < 2 {
            kept.push((index, task));
        }
    }
    drop(exit_signal);
    drop(io_task);
    for (index, task) in kept {
        assert_eq!(output(task), index);
    }
    t!(exited.recv_timeout(timeout()));
    assert_eq!(drops.count(), 20, "a task was never finished or dropped");
}

#[test]
fn a_stale_waker_of_a_finished_task_is_harmless() {
    let io_task = t!(IoTask::spawn());
    let stash: Arc<Mutex<Option<Waker>>> = Arc::default();
    let (exit_signal, exited) = mpsc::channel();
    let task_stash = Arc::clone(&stash);
    let finished = io_task.spawn_local(move || {
        signal_exit_of_this_thread(exit_signal);
        poll_fn(move |context| {
            *task_stash.lock().unwrap() = Some(context.waker().clone());
            Poll::Ready(())
        })
    });
    output(finished);
    let stale = stash
        .lock()
        .unwrap()
        .take()
        .expect("the task left its waker");

    // A newer task, likely in the finished task's slot, wakes the stale
    // waker on the loop thread: it must not be polled for it.
    let here = io_task.clone();
    let polls = Arc::new(AtomicUsize::new(0));
    let loop_stale = stale.clone();
    let newer = io_task.spawn_local({
        let polls = Arc::clone(&polls);
        move || {
            counted(polls, async move {
                let (_timer, fired) = timer_completion(&here, Duration::from_millis(20));
                loop_stale.wake();
                t!(fired.await);
            })
        }
    });
    output(newer);
    assert_eq!(
        polls.load(Ordering::SeqCst),
        2,
        "a stale wake polled a newer task"
    );

    // The same from another thread, while a newer task waits.
    let polls = Arc::new(AtomicUsize::new(0));
    let (completer, woken) = completion::<()>();
    let (registered, pending) = mpsc::channel();
    let newer = io_task.spawn_local({
        let polls = Arc::clone(&polls);
        move || counted(polls, await_registered(woken, registered))
    });
    t!(pending.recv_timeout(timeout()));
    stale.wake_by_ref();
    // A task spawned after the stale wake is polled after it was handled.
    output(io_task.spawn_local(|| async {}));
    assert_eq!(
        polls.load(Ordering::SeqCst),
        1,
        "a stale wake polled a newer task"
    );
    completer.complete(());
    t!(output(newer));
    assert_eq!(polls.load(Ordering::SeqCst), 2);

    // And once the loop thread is gone.
    drop(io_task);
    t!(exited.recv_timeout(timeout()));
    stale.wake();
}

#[test]
fn a_loop_callback_can_spawn_a_task() {
    let io_task = t!(IoTask::spawn());
    let here = io_task.clone();
    let (sender, spawned) = mpsc::channel();
    let key = {
        let (completer, key) = completion();
        t!(io_task.interact(move |event_loop| {
            let timer = t!(Timer::new(event_loop));
            t!(
                timer.start(Duration::from_millis(1), Duration::ZERO, move |_| {
                    let made = Arc::new(AtomicBool::new(false));
                    let returned = Arc::new(AtomicBool::new(false));
                    let (task_made, task_returned) = (Arc::clone(&made), Arc::clone(&returned));
                    let task = here.spawn_local(move || {
                        task_made.store(true, Ordering::SeqCst);
                        async move { (on_loop_thread(), task_returned.load(Ordering::SeqCst)) }
                    });
                    let made_at_once = made.load(Ordering::SeqCst);
                    returned.store(true, Ordering::SeqCst);
                    sender.send((made_at_once, task)).unwrap();
                })
            );
            completer.complete(event_loop.insert_local(timer));
        }));
        wait(key)
    };
    let (made_at_once, task) = t!(spawned.recv_timeout(timeout()));
    assert!(
        made_at_once,
        "spawn_local on the loop thread did not run make at once"
    );
    assert_eq!(
        output(task),
        (true, true),
        "the task must run on the loop thread, after the callback returned"
    );
    t!(io_task.interact(move |event_loop| drop(event_loop.remove_local(key))));
}

#[test]
fn a_read_callback_that_drops_its_handle_wakes_the_waiting_task() {
    let io_task = t!(IoTask::spawn());
    let here = io_task.clone();
    let (address_sender, address) = mpsc::channel();
    let task = io_task.spawn_local(move || async move {
        let (completer, first_chunk) = completion::<Vec<u8>>();
        let completer = Rc::new(RefCell::new(Some(completer)));
        let connection: Rc<RefCell<Option<Tcp>>> = Rc::default();
        let slot = Rc::clone(&connection);
        let (_listener, listening) = listen_here(&here, move |accepted| {
            let (slot_in_callback, completer) = (Rc::clone(&slot), Rc::clone(&completer));
            t!(accepted.read_start(move |_, chunk| {
                if let Some(completer) = completer.borrow_mut().take() {
                    completer.complete(t!(chunk).to_vec());
                }
                // The handle whose callback this is goes away, here.
                drop(slot_in_callback.borrow_mut().take());
            }));
            *slot.borrow_mut() = Some(accepted);
        });
        address_sender.send(listening).unwrap();
        let chunk = t!(first_chunk.await);
        (chunk, connection.borrow().is_none())
    });
    let mut peer = connect_peer(t!(address.recv_timeout(timeout())));
    t!(peer.write_all(b"hello"));
    let (chunk, dropped) = output(task);
    assert_eq!(chunk, b"hello");
    assert!(dropped);
    let mut rest = Vec::new();
    t!(peer.read_to_end(&mut rest));
    assert!(rest.is_empty(), "the closed connection sent bytes");
}

#[test]
fn a_task_woken_by_a_read_callback_drops_that_handle() {
    let io_task = t!(IoTask::spawn());
    let here = io_task.clone();
    let (address_sender, address) = mpsc::channel();
    let calls_after_drop = Arc::new(AtomicUsize::new(0));
    let task = io_task.spawn_local({
        let calls_after_drop = Arc::clone(&calls_after_drop);
        move || async move {
            let received = Rc::new(RefCell::new(Vec::new()));
            let waiter: Rc<RefCell<Option<Waker>>> = Rc::default();
            let dropped = Rc::new(Cell::new(false));
            let connection: Rc<RefCell<Option<Tcp>>> = Rc::default();
            let (slot, sink, wake, gone) = (
                Rc::clone(&connection),
                Rc::clone(&received),
                Rc::clone(&waiter),
                Rc::clone(&dropped),
            );
            let (_listener, listening) = listen_here(&here, move |accepted| {
                let (sink, wake, gone) = (Rc::clone(&sink), Rc::clone(&wake), Rc::clone(&gone));
                let calls_after_drop = Arc::clone(&calls_after_drop);
                t!(accepted.read_start(move |_, chunk| {
                    if gone.get() {
                        calls_after_drop.fetch_add(1, Ordering::SeqCst);
                    }
                    if let Ok(bytes) = chunk {
                        sink.borrow_mut().extend_from_slice(bytes);
                    }
                    if let Some(waker) = wake.borrow_mut().take() {
                        waker.wake();
                    }
                }));
                *slot.borrow_mut() = Some(accepted);
            });
            address_sender.send(listening).unwrap();
            poll_fn(|context| {
                if received.borrow().len() >= 5 {
                    return Poll::Ready(());
                }
                *waiter.borrow_mut() = Some(context.waker().clone());
                Poll::Pending
            })
            .await;
            // Woken by the read callback: drop the handle it belongs to.
            dropped.set(true);
            drop(connection.borrow_mut().take());
            // Give a wrongly live handle the chance to call back.
            sleep(&here, Duration::from_millis(20)).await;
            received.take()
        }
    });
    let mut peer = connect_peer(t!(address.recv_timeout(timeout())));
    t!(peer.write_all(b"hello"));
    assert_eq!(output(task), b"hello");
    let mut rest = Vec::new();
    t!(peer.read_to_end(&mut rest));
    assert!(rest.is_empty());
    assert_eq!(calls_after_drop.load(Ordering::SeqCst), 0);
}

/// Spawns a task on its loop when dropped, and sends that task's completion.
struct SpawnOnDrop {
    io_task: IoTask,
    spawned: mpsc::Sender<Completion<TaskResult<&'static str>>>,
}

impl Drop for SpawnOnDrop {
    fn drop(&mut self) {
        let task = self
            .io_task
            .spawn_local(|| async { "spawned while dropping" });
        let _ = self.spawned.send(task);
    }
}

#[test]
fn a_finished_task_whose_drop_spawns_a_task() {
    let io_task = t!(IoTask::spawn());
    let (spawned, received) = mpsc::channel();
    let guard = SpawnOnDrop {
        io_task: io_task.clone(),
        spawned,
    };
    let task = io_task.spawn_local(move || ReadyHolding(guard));
    assert_eq!(output(task), 3);
    assert_eq!(
        output(t!(received.recv_timeout(timeout()))),
        "spawned while dropping"
    );
}

/// A task that spawns a chain of `depth` nested tasks and counts them.
fn chain(io_task: IoTask, depth: u32) -> Pin<Box<dyn Future<Output = u32>>> {
    Box::pin(async move {
        if depth == 0 {
            return 0;
        }
        let next = io_task.clone();
        let child = io_task.spawn_local(move || chain(next, depth - 1));
        t!(child.await).unwrap_or_else(|payload| resume_unwind(payload)) + 1
    })
}

#[test]
fn tasks_spawning_tasks_spawning_tasks_all_finish() {
    let io_task = t!(IoTask::spawn());
    let here = io_task.clone();
    let depth = scaled(500, 100) as u32;
    assert_eq!(
        output(io_task.spawn_local(move || chain(here, depth))),
        depth
    );
}

#[test]
fn tasks_with_io_run_on_their_loop_and_exchange_bytes() {
    let io_task = t!(IoTask::spawn());
    let here = io_task.clone();
    let (address_sender, address) = mpsc::channel();
    let length = scaled(1 << 20, 64 * 1024);
    let echo = io_task.spawn_local(move || async move {
        // An echo server whose read callback wakes the task, which writes.
        let pending: Rc<RefCell<Vec<u8>>> = Rc::default();
        let waiter: Rc<RefCell<Option<Waker>>> = Rc::default();
        let ended = Rc::new(Cell::new(false));
        let connection: Rc<RefCell<Option<Tcp>>> = Rc::default();
        let (sink, wake, end, slot) = (
            Rc::clone(&pending),
            Rc::clone(&waiter),
            Rc::clone(&ended),
            Rc::clone(&connection),
        );
        let (_listener, listening) = listen_here(&here, move |accepted| {
            let (sink, wake, end) = (Rc::clone(&sink), Rc::clone(&wake), Rc::clone(&end));
            t!(accepted.read_start(move |_, chunk| {
                match chunk {
                    Ok(bytes) => sink.borrow_mut().extend_from_slice(bytes),
                    Err(_) => end.set(true),
                }
                if let Some(waker) = wake.borrow_mut().take() {
                    waker.wake();
                }
            }));
            *slot.borrow_mut() = Some(accepted);
        });
        address_sender.send(listening).unwrap();
        let mut echoed = 0;
        loop {
            poll_fn(|context| {
                if !pending.borrow().is_empty() || ended.get() {
                    return Poll::Ready(());
                }
                *waiter.borrow_mut() = Some(context.waker().clone());
                Poll::Pending
            })
            .await;
            let bytes = pending.take();
            echoed += bytes.len();
            if let Some(connection) = connection.borrow().as_ref() {
                connection.write(bytes, |result| t!(result));
            }
            if ended.get() && pending.borrow().is_empty() {
                break;
            }
        }
        drop(connection.borrow_mut().take());
        echoed
    });
    let mut peer = connect_peer(t!(address.recv_timeout(timeout())));
    let payload = pattern(length);
    let writer = write_from_thread(t!(peer.try_clone()), payload.clone());
    let echoed_back = read_exactly(&mut peer, length);
    let writer = t!(t!(writer.recv_timeout(timeout())));
    t!(writer.shutdown(std::net::Shutdown::Write));
    assert!(
        echoed_back == payload,
        "the echo differs from what was sent"
    );
    assert_eq!(output(echo), length);
}
