//! `Async` and `AsyncSender`: waking a loop from other threads, coalescing,
//! and senders that outlive their handle.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::{Async, Loop, UvError};

#[test]
fn send_from_another_thread_wakes_the_loop() {
    let event_loop = t!(Loop::new());
    let woken = counter();
    let count = Rc::clone(&woken);
    let wake = t!(Async::new(&event_loop, move |_| count.set(count.get() + 1)));
    let sender = wake.sender();
    let thread = std::thread::spawn(move || sender.send());
    t!(thread.join().unwrap());
    run_until(&event_loop, || woken.get() == 1);
}

#[test]
fn sends_before_the_loop_runs_coalesce_into_one_call() {
    let event_loop = t!(Loop::new());
    let woken = counter();
    let count = Rc::clone(&woken);
    let wake = t!(Async::new(&event_loop, move |_| count.set(count.get() + 1)));
    let sender = wake.sender();
    let thread = std::thread::spawn(move || {
        for _ in 0..100 {
            t!(sender.send());
        }
    });
    thread.join().unwrap();
    run_until(&event_loop, || woken.get() >= 1);
    for _ in 0..5 {
        t!(event_loop.run(RunMode::NoWait));
    }
    assert_eq!(woken.get(), 1);
}

#[test]
fn no_send_from_many_threads_is_lost() {
    let event_loop = t!(Loop::new());
    let threads = 4;
    let per_thread = scaled(1000, 100);
    let sent = Arc::new(AtomicUsize::new(0));
    let seen = Rc::new(std::cell::Cell::new(0));
    let calls = counter();
    let (observed, count, total) = (Rc::clone(&seen), Rc::clone(&calls), Arc::clone(&sent));
    let wake = t!(Async::new(&event_loop, move |_| {
        count.set(count.get() + 1);
        observed.set(total.load(Ordering::SeqCst));
    }));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (sender, sent) = (wake.sender(), Arc::clone(&sent));
            std::thread::spawn(move || {
                for _ in 0..per_thread {
                    // Count first, then wake: the wake-up that follows the
                    // last increment must let the loop see the full count.
                    sent.fetch_add(1, Ordering::SeqCst);
                    t!(sender.send());
                }
            })
        })
        .collect();
    run_until(&event_loop, || seen.get() == threads * per_thread);
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(calls.get() <= threads * per_thread);
}

#[test]
fn callback_gets_its_loop() {
    let event_loop = t!(Loop::new());
    let wake = t!(Async::new(&event_loop, |event_loop| event_loop.stop()));
    t!(wake.sender().send());
    let _watchdog = Watchdog::new(&event_loop);
    // The callback stops the loop, although the async handle keeps it alive.
    assert!(t!(event_loop.run(RunMode::Default)));
}

#[test]
fn unref_lets_run_return() {
    let event_loop = t!(Loop::new());
    let wake = t!(Async::new(&event_loop, |_| {}));
    wake.unref();
    run_idle(&event_loop);
    // An unreferenced handle still wakes the loop while other work runs.
    let woken = counter();
    let count = Rc::clone(&woken);
    let other = t!(Async::new(&event_loop, move |_| count.set(count.get() + 1)));
    t!(other.sender().send());
    run_until(&event_loop, || woken.get() == 1);
}

#[test]
fn sender_of_a_dropped_handle_is_ebadf() {
    let event_loop = t!(Loop::new());
    let drops = Drops::new();
    let token = drops.token();
    let wake = t!(Async::new(&event_loop, move |_| {
        let _token = &token;
    }));
    let sender = wake.sender();
    let clone = sender.clone();
    t!(sender.send());
    drop(wake);
    assert_eq!(sender.send(), Err(UvError::EBADF));
    assert_eq!(clone.send(), Err(UvError::EBADF));
    run_idle(&event_loop);
    assert_eq!(drops.count(), 1);
    assert!(format!("{clone:?}").contains("AsyncSender"));
}

#[test]
fn many_wakes_with_the_loop_running_on_another_thread() {
    // The loop runs on its own thread; the test thread wakes it and waits
    // for each wake to be seen before sending the next.
    let (ready, sender_of) = std::sync::mpsc::channel();
    let (seen, seen_by_test) = std::sync::mpsc::channel();
    let rounds = scaled(200, 20);
    let thread = std::thread::spawn(move || {
        let event_loop = t!(Loop::new());
        let count = counter();
        let tally = Rc::clone(&count);
        let wake = t!(Async::new(&event_loop, move |event_loop| {
            tally.set(tally.get() + 1);
            let _ = seen.send(());
            if tally.get() == rounds {
                event_loop.stop();
            }
        }));
        ready.send(wake.sender()).unwrap();
        let _watchdog = Watchdog::new(&event_loop);
        t!(event_loop.run(RunMode::Default));
        count.get()
    });
    let sender = t!(sender_of.recv_timeout(timeout()));
    for _ in 0..rounds {
        t!(sender.send());
        t!(seen_by_test.recv_timeout(timeout()));
    }
    assert_eq!(thread.join().unwrap(), rounds);
    // The loop (and so the handle) is gone.
    std::thread::sleep(Duration::from_millis(1));
    assert_eq!(sender.send(), Err(UvError::EBADF));
}
