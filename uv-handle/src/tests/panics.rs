//! Panics in callbacks: `run` re-raises them on the loop's thread, the
//! callback that panicked is dropped, and the loop and its other handles go
//! on working.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::Duration;

use super::*;
use crate::callback::describe as describe_panic;
use crate::{Async, Loop, RunMode, Tcp, Timer, UvError, getaddrinfo};

const MS: Duration = Duration::from_millis(1);

#[test]
fn panic_in_a_timer_callback_is_raised_by_run_and_other_timers_still_fire() {
    let event_loop = t!(Loop::new());
    let drops = Drops::new();
    let panicking = t!(Timer::new(&event_loop));
    let token = drops.token();
    t!(panicking.start(5 * MS, 5 * MS, move |_| {
        let _token = &token;
        panic!("timer boom");
    }));
    // Due in the same iteration, right after the one that panics.
    let fired = counter();
    let other = t!(Timer::new(&event_loop));
    let count = Rc::clone(&fired);
    t!(other.start(5 * MS, Duration::ZERO, move |_| count.set(count.get() + 1)));

    let payload = run_and_catch(&event_loop);
    assert_eq!(describe_panic(&*payload), "timer boom");
    assert_eq!(drops.count(), 1, "the panicking callback is dropped");
    // The loop runs again; the repeating timer stopped with its callback.
    run_idle(&event_loop);
    assert_eq!(
        fired.get(),
        1,
        "a timer due with the panicking one still fires"
    );
    let count = Rc::clone(&fired);
    t!(panicking.start(MS, Duration::ZERO, move |_| count.set(count.get() + 10)));
    run_idle(&event_loop);
    assert_eq!(fired.get(), 11);
}

#[test]
fn two_panics_in_one_iteration_raise_the_first() {
    let event_loop = t!(Loop::new());
    let timers: Vec<Timer> = ["first", "second"]
        .into_iter()
        .map(|name| {
            let timer = t!(Timer::new(&event_loop));
            t!(timer.start(2 * MS, Duration::ZERO, move |_| panic!("{name}")));
            timer
        })
        .collect();
    let payload = run_and_catch(&event_loop);
    assert_eq!(describe_panic(&*payload), "first");
    // Nothing is left to re-raise.
    run_idle(&event_loop);
    drop(timers);
}

#[test]
fn panic_in_a_read_callback_stops_that_read_only() {
    let event_loop = t!(Loop::new());
    let (failing, failing_peer) = tcp_pair(&event_loop);
    let (healthy, healthy_peer) = tcp_pair(&event_loop);
    let drops = Drops::new();
    let token = drops.token();
    t!(failing.read_start(move |_, _| {
        let _token = &token;
        panic!("read boom");
    }));
    let (received, _) = collect(&healthy);
    failing_peer.write(b"x".to_vec(), |result| t!(result));
    healthy_peer.write(b"before".to_vec(), |result| t!(result));

    let payload = run_and_catch(&event_loop);
    assert_eq!(describe_panic(&*payload), "read boom");
    assert!(!failing.is_reading(), "the read stops with its callback");
    assert_eq!(drops.count(), 1);
    assert!(!failing.is_closing());

    healthy_peer.write(b" after".to_vec(), |result| t!(result));
    run_until(&event_loop, || {
        received.borrow().as_slice() == b"before after"
    });
    // The failed handle can read again.
    let (again, _) = collect(&failing);
    failing_peer.write(b"y".to_vec(), |result| t!(result));
    run_until(&event_loop, || !again.borrow().is_empty());
}

#[test]
fn panic_in_a_connection_callback_closes_that_listener_only() {
    let event_loop = t!(Loop::new());
    let failing = t!(Tcp::new(&event_loop));
    t!(failing.bind(any_local_address(), Default::default()));
    let drops = Drops::new();
    let token = drops.token();
    t!(failing.listen(16, move |_, _| {
        let _token = &token;
        panic!("connection boom");
    }));
    let client = t!(Tcp::new(&event_loop));
    client.connect(t!(failing.local_addr()), |_, _| {});

    let payload = run_and_catch(&event_loop);
    assert_eq!(describe_panic(&*payload), "connection boom");
    assert!(
        failing.is_closing(),
        "the listener closes so nobody waits on it"
    );
    run_idle(&event_loop);
    assert_eq!(drops.count(), 1);

    // Other listeners and connections still work.
    let (accepted, client) = tcp_pair(&event_loop);
    let (received, _) = collect(&accepted);
    client.write(b"still served".to_vec(), |result| t!(result));
    run_until(&event_loop, || {
        received.borrow().as_slice() == b"still served"
    });
}

#[test]
fn panic_in_a_write_callback_is_raised_and_the_stream_goes_on() {
    let event_loop = t!(Loop::new());
    let (client, mut peer) = std_peer(&event_loop);
    let drops = Drops::new();
    let token = drops.token();
    client.write(b"one".to_vec(), move |_| {
        let _token = token;
        panic!("write boom");
    });
    let payload = run_and_catch(&event_loop);
    assert_eq!(describe_panic(&*payload), "write boom");
    assert_eq!(drops.count(), 1, "the request and its callback are freed");
    let done = counter();
    let count = Rc::clone(&done);
    client.write(b"two".to_vec(), move |result| {
        t!(result);
        count.set(1);
    });
    run_until(&event_loop, || done.get() == 1);
    assert_eq!(read_exactly(&mut peer, 6), b"onetwo");
}

#[test]
fn panic_in_a_connect_callback_is_raised() {
    let event_loop = t!(Loop::new());
    let client = t!(Tcp::new(&event_loop));
    client.connect(refusing_address(), |_, result| {
        panic!("connect boom: {result:?}");
    });
    let payload = run_and_catch(&event_loop);
    assert!(describe_panic(&*payload).starts_with("connect boom"));
    run_idle(&event_loop);
}

#[test]
fn panic_in_a_getaddrinfo_callback_is_raised() {
    let event_loop = t!(Loop::new());
    getaddrinfo(&event_loop, "127.0.0.1", |_| panic!("lookup boom"));
    let payload = run_and_catch(&event_loop);
    assert_eq!(describe_panic(&*payload), "lookup boom");
    run_idle(&event_loop);
}

#[test]
fn panic_in_an_async_callback_drops_that_callback() {
    let event_loop = t!(Loop::new());
    let drops = Drops::new();
    let token = drops.token();
    let wake = t!(Async::new(&event_loop, move |_| {
        let _token = &token;
        panic!("wake boom");
    }));
    t!(wake.sender().send());
    let payload = run_and_catch(&event_loop);
    assert_eq!(describe_panic(&*payload), "wake boom");
    assert_eq!(drops.count(), 1);
    // The handle stays open; waking it again does nothing.
    t!(wake.sender().send());
    for _ in 0..3 {
        t!(event_loop.run(RunMode::NoWait));
    }
    drop(wake);
    run_idle(&event_loop);
}

#[test]
fn panic_in_a_callback_during_teardown_is_reported_not_raised() {
    let event_loop = t!(Loop::new());
    let (client, _peer) = std_peer(&event_loop);
    client.write(pattern(scaled(16 << 20, 8 << 20)), |result| {
        assert_eq!(result, Err(UvError::ECANCELED));
        panic!("teardown boom");
    });
    let fired = counter();
    let count = Rc::clone(&fired);
    client.shutdown(move |_| count.set(count.get() + 1));
    let outcome = catch_unwind(AssertUnwindSafe(|| drop(event_loop)));
    assert!(outcome.is_ok(), "dropping a loop never panics");
    assert_eq!(fired.get(), 1, "callbacks after the panic still run");
    drop(client);
}

#[test]
fn describe_panic_reads_string_payloads() {
    let text: Box<dyn Any + Send> = Box::new("static text");
    assert_eq!(describe_panic(&*text), "static text");
    let owned: Box<dyn Any + Send> = Box::new(String::from("owned text"));
    assert_eq!(describe_panic(&*owned), "owned text");
    let other: Box<dyn Any + Send> = Box::new(7u32);
    assert!(describe_panic(&*other).contains("not a string"));
}

#[test]
fn run_from_inside_a_callback_is_ebusy() {
    let event_loop = t!(Loop::new());
    let timer = t!(Timer::new(&event_loop));
    let outcome = Rc::new(RefCell::new(None));
    let (result, tcp) = (Rc::clone(&outcome), Rc::new(t!(Tcp::new(&event_loop))));
    let nested = Rc::clone(&tcp);
    t!(timer.start(MS, Duration::ZERO, move |_| {
        *result.borrow_mut() = Some(nested.event_loop().run(RunMode::NoWait));
    }));
    run_idle(&event_loop);
    assert_eq!(outcome.take(), Some(Err(UvError::EBUSY)));
}
