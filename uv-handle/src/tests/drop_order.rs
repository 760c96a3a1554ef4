//! Every drop order: handles before their loop, the loop before its handles,
//! requests outliving their handle, senders outliving their `Async`, a loop
//! dropped with work in flight or from inside one of its own callbacks.
//! Nothing may crash, leak or call back twice; handles of a closed loop
//! answer `EBADF`.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use super::*;
use crate::{Async, Loop, LoopRef, RunMode, Tcp, Timer, UvError, getaddrinfo};

const MS: Duration = Duration::from_millis(1);

#[test]
fn handles_dropped_before_their_loop() {
    let event_loop = t!(Loop::new());
    let drops = Drops::new();
    let (accepted, client) = tcp_pair(&event_loop);
    let token = drops.token();
    t!(client.read_start(move |_, _| {
        let _token = &token;
    }));
    let timer = t!(Timer::new(&event_loop));
    let token = drops.token();
    t!(timer.start(MS, MS, move |_| {
        let _token = &token;
    }));
    let token = drops.token();
    let wake = t!(Async::new(&event_loop, move |_| {
        let _token = &token;
    }));
    drop((accepted, client, timer, wake));
    // Closing is asynchronous: the callbacks go with the close callbacks.
    run_idle(&event_loop);
    assert_eq!(drops.count(), 3);
    drop(event_loop);
}

#[test]
fn handles_dropped_before_their_loop_without_running_it_again() {
    let event_loop = t!(Loop::new());
    let (accepted, client) = tcp_pair(&event_loop);
    let timer = t!(Timer::new(&event_loop));
    t!(timer.start(MS, MS, |_| {}));
    drop((accepted, client, timer));
    // The loop's own teardown runs the close callbacks.
    drop(event_loop);
}

#[test]
fn loop_dropped_before_its_handles_makes_them_inert() {
    let event_loop = t!(Loop::new());
    let drops = Drops::new();
    let server = Server::new(&event_loop);
    let (accepted, client) = tcp_pair(&event_loop);
    let token = drops.token();
    t!(client.read_start(move |_, _| {
        let _token = &token;
    }));
    let timer = t!(Timer::new(&event_loop));
    let token = drops.token();
    t!(timer.start(MS, MS, move |_| {
        let _token = &token;
    }));
    let token = drops.token();
    let wake = t!(Async::new(&event_loop, move |_| {
        let _token = &token;
    }));
    let sender = wake.sender();

    drop(event_loop);
    // The loop closed every handle, and their callbacks were dropped.
    assert_eq!(drops.count(), 3);
    for tcp in [&server.listener, &accepted, &client] {
        assert!(tcp.is_closing());
        assert!(tcp.event_loop().is_closed());
        assert_eq!(tcp.read_start(|_, _| {}), Err(UvError::EBADF));
        assert_eq!(tcp.set_nodelay(true), Err(UvError::EBADF));
        assert_eq!(tcp.local_addr(), Err(UvError::EBADF));
        assert_eq!(tcp.accept().err(), Some(UvError::EBADF));
        assert_eq!(tcp.write_queue_size(), 0);
        let outcome = slot();
        let result = Rc::clone(&outcome);
        tcp.write(b"x".to_vec(), move |status| {
            *result.borrow_mut() = Some(status)
        });
        assert_eq!(outcome.take(), Some(Err(UvError::EBADF)));
        tcp.close();
    }
    assert_eq!(timer.start(MS, MS, |_| {}), Err(UvError::EBADF));
    assert_eq!(sender.send(), Err(UvError::EBADF));
    wake.unref();
    // New handles and runs are refused; the loop's other queries still work.
    let closed_loop: &LoopRef = client.event_loop();
    assert_eq!(Tcp::new(closed_loop).err(), Some(UvError::EBADF));
    assert_eq!(Timer::new(closed_loop).err(), Some(UvError::EBADF));
    assert_eq!(Async::new(closed_loop, |_| {}).err(), Some(UvError::EBADF));
    assert_eq!(closed_loop.run(RunMode::Default), Err(UvError::EBADF));
    closed_loop.stop();
    let _ = closed_loop.now();
    drop((server, accepted, client, timer, wake));
}

#[test]
fn loop_dropped_with_pending_requests_cancels_them() {
    let event_loop = t!(Loop::new());
    let drops = Drops::new();
    let outcomes = Rc::new(RefCell::new(Vec::new()));

    // A write the peer does not read, and a shutdown queued behind it.
    let (writer, _peer) = std_peer(&event_loop);
    let (sink, token) = (Rc::clone(&outcomes), drops.token());
    writer.write(pattern(scaled(16 << 20, 8 << 20)), move |result| {
        let _token = token;
        sink.borrow_mut().push(("write", result));
    });
    let (sink, token) = (Rc::clone(&outcomes), drops.token());
    writer.shutdown(move |result| {
        let _token = token;
        sink.borrow_mut().push(("shutdown", result));
    });
    // A connect in flight.
    let listener = t!(std::net::TcpListener::bind(any_local_address()));
    let connecting = t!(Tcp::new(&event_loop));
    let (sink, token) = (Rc::clone(&outcomes), drops.token());
    connecting.connect(t!(listener.local_addr()), move |_, result| {
        let _token = token;
        sink.borrow_mut().push(("connect", result));
    });
    // A name lookup on the thread pool.
    let (sink, token) = (Rc::clone(&outcomes), drops.token());
    getaddrinfo(&event_loop, "localhost", move |result| {
        let _token = token;
        sink.borrow_mut().push(("getaddrinfo", result.map(drop)));
    });

    drop(event_loop);
    assert_eq!(drops.count(), 4, "every request called back and was freed");
    let outcomes = outcomes.borrow();
    for name in ["connect", "write", "shutdown"] {
        assert!(
            outcomes.contains(&(name, Err(UvError::ECANCELED))),
            "{name}: {outcomes:?}"
        );
    }
    // The lookup is not cancelled: the loop waits for it.
    assert!(outcomes.contains(&("getaddrinfo", Ok(()))), "{outcomes:?}");
    assert_eq!(outcomes.len(), 4);
    drop((connecting, writer));
}

#[test]
fn request_outlives_its_handle() {
    let event_loop = t!(Loop::new());
    let (client, mut peer) = std_peer(&event_loop);
    let outcome = slot();
    let drops = Drops::new();
    let (result, token) = (Rc::clone(&outcome), drops.token());
    // Small enough for the kernel to take at once: the write succeeds,
    // although the handle is dropped before the loop runs its callback.
    client.write(b"still sent".to_vec(), move |status| {
        let _token = token;
        *result.borrow_mut() = Some(status);
    });
    drop(client);
    run_idle(&event_loop);
    assert_eq!(drops.count(), 1);
    assert!(outcome.take().is_some());
    let mut everything = Vec::new();
    t!(std::io::Read::read_to_end(&mut peer, &mut everything));
    assert_eq!(everything, b"still sent");
}

#[test]
fn async_dropped_while_another_thread_keeps_sending() {
    let event_loop = t!(Loop::new());
    let woken = counter();
    let count = Rc::clone(&woken);
    let wake = t!(Async::new(&event_loop, move |_| count.set(count.get() + 1)));
    let sender = wake.sender();
    let (started, sending) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut sent = 0usize;
        loop {
            match sender.send() {
                Ok(()) => sent += 1,
                Err(error) => return (sent, error),
            }
            if sent == 1000 {
                let _ = started.send(());
            }
        }
    });
    t!(sending.recv_timeout(timeout()));
    run_until(&event_loop, || woken.get() > 0);
    drop(wake);
    let (sent, error) = thread.join().unwrap();
    assert!(sent >= 1000);
    assert_eq!(error, UvError::EBADF);
    run_idle(&event_loop);
}

#[test]
fn loop_dropped_while_another_thread_keeps_sending() {
    let event_loop = t!(Loop::new());
    let wake = t!(Async::new(&event_loop, |_| {}));
    let sender = wake.sender();
    let (started, sending) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut sent = 0usize;
        loop {
            if let Err(error) = sender.send() {
                return error;
            }
            sent += 1;
            if sent == 1000 {
                let _ = started.send(());
            }
        }
    });
    t!(sending.recv_timeout(timeout()));
    drop(event_loop);
    assert_eq!(thread.join().unwrap(), UvError::EBADF);
    drop(wake);
}

#[test]
fn loop_dropped_with_a_listener_and_connections_in_callbacks() {
    // Handles owned only by callbacks of other handles: the loop's teardown
    // must find and close them all (valgrind checks nothing leaks).
    let event_loop = t!(Loop::new());
    let drops = Drops::new();
    let server = Server::new(&event_loop);
    let client = t!(Tcp::new(&event_loop));
    let token = drops.token();
    client.connect(server.address(), move |_, result| {
        let _token = token;
        t!(result);
    });
    run_until(&event_loop, || !server.accepted.borrow().is_empty());
    let accepted = server.take();
    let token = drops.token();
    t!(accepted.read_start(move |_, _| {
        let _token = &token;
    }));
    // The accepted handle now lives only inside the listener's callback.
    let keeper = Rc::new(RefCell::new(Some(accepted)));
    let held = Rc::clone(&keeper);
    t!(server.listener.listen(16, move |_, _| {
        let _held = &held;
    }));
    drop(keeper);
    drop(event_loop);
    assert_eq!(drops.count(), 2);
    drop((server, client));
}

#[test]
fn loop_stopped_outside_run_and_then_dropped() {
    let event_loop = t!(Loop::new());
    let (accepted, client) = tcp_pair(&event_loop);
    let timer = t!(Timer::new(&event_loop));
    t!(timer.start(MS, MS, |_| {}));
    // A stop request with the loop not running must not break teardown.
    event_loop.stop();
    drop(event_loop);
    assert!(accepted.is_closing() && client.is_closing() && timer.stop().is_err());
}

#[test]
fn callback_that_stops_the_loop_during_teardown() {
    let event_loop = t!(Loop::new());
    let (client, _peer) = std_peer(&event_loop);
    let drops = Drops::new();
    let token = drops.token();
    client.write(pattern(scaled(16 << 20, 8 << 20)), move |result| {
        let _token = token;
        assert_eq!(result, Err(UvError::ECANCELED));
    });
    let token = drops.token();
    let stopper = Rc::new(t!(Tcp::new(&event_loop)));
    let weak = Rc::downgrade(&stopper);
    client.shutdown(move |_| {
        let _token = token;
        // Called with ECANCELED while the loop is being torn down.
        if let Some(tcp) = weak.upgrade() {
            tcp.event_loop().stop();
        }
    });
    // Work that outlives the iteration in which the loop was stopped.
    let token = drops.token();
    getaddrinfo(&event_loop, "localhost", move |_| {
        let _token = token;
    });
    drop(event_loop);
    assert_eq!(drops.count(), 3);
    drop((client, stopper));
}

#[test]
fn loop_dropped_from_inside_its_own_callback() {
    // The Loop is reachable from a callback when it is kept in shared state
    // and the loop is run through a handle's `event_loop()`.
    let holder: Rc<RefCell<Option<Loop>>> = Rc::new(RefCell::new(Some(t!(Loop::new()))));
    let guard = holder.borrow();
    let event_loop: &Loop = guard.as_ref().unwrap();
    let (accepted, client) = tcp_pair(event_loop);
    let timer = t!(Timer::new(event_loop));
    let drops = Drops::new();
    let (received, _) = collect(&accepted);
    let (token, cell) = (drops.token(), Rc::clone(&holder));
    t!(timer.start(MS, Duration::ZERO, move |_| {
        let _token = &token;
        drop(cell.borrow_mut().take());
    }));
    client.write(b"in flight".to_vec(), |_| {});
    drop(guard);
    let running: &LoopRef = client.event_loop();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        running.run(RunMode::Default)
    }));
    assert!(outcome.is_ok(), "run must not panic");
    assert!(holder.borrow().is_none());
    assert!(running.is_closed(), "the loop is closed once run returns");
    assert_eq!(drops.count(), 1);
    assert!(accepted.is_closing() && client.is_closing());
    assert_eq!(running.run(RunMode::Default), Err(UvError::EBADF));
    let _ = received;
}

#[test]
fn loop_dropped_from_inside_a_read_callback() {
    // Dropped while libuv walks the I/O events of one poll: the loop must
    // not be closed under it (valgrind checks the memory).
    let holder: Rc<RefCell<Option<Loop>>> = Rc::new(RefCell::new(Some(t!(Loop::new()))));
    let guard = holder.borrow();
    let event_loop: &Loop = guard.as_ref().unwrap();
    let pairs: Vec<(Tcp, Tcp)> = (0..3).map(|_| tcp_pair(event_loop)).collect();
    let reads = counter();
    for (accepted, client) in &pairs {
        let (cell, count) = (Rc::clone(&holder), Rc::clone(&reads));
        t!(accepted.read_start(move |_, _| {
            count.set(count.get() + 1);
            drop(cell.borrow_mut().take());
        }));
        client.write(b"wake".to_vec(), |_| {});
    }
    drop(guard);
    let running: &LoopRef = pairs[0].0.event_loop();
    // Let every write reach its peer, so one poll sees several reads.
    std::thread::sleep(Duration::from_millis(20));
    t!(running.run(RunMode::Default));
    assert!(running.is_closed());
    assert!(holder.borrow().is_none());
    assert!(reads.get() >= 1);
    for (accepted, client) in &pairs {
        assert!(accepted.is_closing() && client.is_closing());
    }
}

#[test]
fn run_from_a_callback_during_teardown_is_ebusy() {
    let event_loop = t!(Loop::new());
    let (client, _peer) = std_peer(&event_loop);
    let outcome = slot();
    let result = Rc::clone(&outcome);
    let other = Rc::new(t!(Tcp::new(&event_loop)));
    let nested = Rc::clone(&other);
    client.write(pattern(scaled(16 << 20, 8 << 20)), move |_| {
        // Runs with ECANCELED inside the loop's teardown.
        *result.borrow_mut() = Some(nested.event_loop().run(RunMode::NoWait));
    });
    drop(event_loop);
    assert_eq!(outcome.take(), Some(Err(UvError::EBUSY)));
    drop((client, other));
}
