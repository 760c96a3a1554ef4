//! Panics in the `Drop` of a callback. Wherever libuv calls into the crate
//! and a user closure is dropped there (a one-shot timer after it fired, a
//! read callback once reading stopped, a listener's callback once it closed,
//! an async callback, request callbacks, the callbacks a close callback
//! releases), the drop runs under the same panic guard as the call: a panic
//! in it never unwinds into C, which would abort the process. `run`
//! re-raises it like a panic in the call, and the loop goes on serving.
//!
//! Each closure here captures a [`PanicOnDrop`], whose destructor panics
//! with `"drop boom"`.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::Duration;

use super::*;
use crate::callback::describe as describe_panic;
use crate::{Async, Check, Idle, Loop, LoopRef, Tcp, Timer, UvError, getaddrinfo};

const MS: Duration = Duration::from_millis(1);

/// Runs the loop until it re-raises the panic of a failed drop, then checks
/// that the loop still serves a timer.
fn expect_drop_panic(event_loop: &LoopRef) {
    let payload = run_and_catch(event_loop);
    assert_eq!(describe_panic(&*payload), "drop boom");
    expect_still_serving(event_loop);
}

/// Runs the loop until it re-raises the panic of a callback that panicked
/// and whose drop failed as well: the first panic is the one raised.
fn expect_call_panic(event_loop: &LoopRef, message: &str) {
    let payload = run_and_catch(event_loop);
    assert_eq!(describe_panic(&*payload), message);
    expect_still_serving(event_loop);
}

fn expect_still_serving(event_loop: &LoopRef) {
    let timer = t!(Timer::new(event_loop));
    let fired = counter();
    let count = Rc::clone(&fired);
    t!(timer.start(MS, Duration::ZERO, move |_| count.set(1)));
    run_until(event_loop, || fired.get() == 1);
}

#[test]
fn a_one_shot_timer_drops_its_callback_after_it_fired() {
    let event_loop = t!(Loop::new());
    let timer = t!(Timer::new(&event_loop));
    let fired = counter();
    let count = Rc::clone(&fired);
    let bomb = PanicOnDrop;
    t!(timer.start(MS, Duration::ZERO, move |_| {
        let _bomb = &bomb;
        count.set(1);
    }));
    expect_drop_panic(&event_loop);
    assert_eq!(fired.get(), 1);
}

#[test]
fn a_timer_callback_replaced_from_inside_itself_is_dropped_after_it_returned() {
    let event_loop = t!(Loop::new());
    let timer = Rc::new(t!(Timer::new(&event_loop)));
    let fired = counter();
    let (count, me) = (Rc::clone(&fired), Rc::downgrade(&timer));
    let bomb = PanicOnDrop;
    t!(timer.start(MS, MS, move |_| {
        let _bomb = &bomb;
        let count = Rc::clone(&count);
        let timer = me.upgrade().unwrap();
        t!(timer.start(MS, Duration::ZERO, move |_| count.set(2)));
    }));
    expect_drop_panic(&event_loop);
    assert_eq!(fired.get(), 2, "the replacement still fires");
}

#[test]
fn a_repeating_timer_callback_that_panics_and_fails_to_drop_raises_the_first_panic() {
    let event_loop = t!(Loop::new());
    let timer = t!(Timer::new(&event_loop));
    let bomb = PanicOnDrop;
    t!(timer.start(MS, MS, move |_| {
        let _bomb = &bomb;
        panic!("timer boom");
    }));
    expect_call_panic(&event_loop, "timer boom");
}

#[test]
fn a_read_callback_that_stops_reading_is_dropped_under_the_guard() {
    let event_loop = t!(Loop::new());
    let (accepted, client) = tcp_pair(&event_loop);
    let received = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&received);
    let bomb = PanicOnDrop;
    t!(accepted.read_start(move |tcp, chunk| {
        let _bomb = &bomb;
        sink.borrow_mut().extend_from_slice(t!(chunk));
        t!(tcp.read_stop());
    }));
    client.write(b"once".to_vec(), |result| t!(result));
    expect_drop_panic(&event_loop);
    assert_eq!(received.borrow().as_slice(), b"once");
    assert!(!accepted.is_reading());
    // The handle reads again with a new callback.
    let (again, _) = collect(&accepted);
    client.write(b"twice".to_vec(), |result| t!(result));
    run_until(&event_loop, || again.borrow().as_slice() == b"twice");
}

#[test]
fn a_read_callback_is_dropped_under_the_guard_at_end_of_stream() {
    let event_loop = t!(Loop::new());
    let (accepted, client) = tcp_pair(&event_loop);
    let end = slot();
    let sink = Rc::clone(&end);
    let bomb = PanicOnDrop;
    t!(accepted.read_start(move |_, chunk| {
        let _bomb = &bomb;
        *sink.borrow_mut() = Some(chunk.map(<[u8]>::len));
    }));
    client.shutdown(|result| t!(result));
    expect_drop_panic(&event_loop);
    assert_eq!(end.take(), Some(Err(UvError::EOF)));
    assert!(!accepted.is_reading());
}

#[test]
fn a_read_callback_that_panics_and_fails_to_drop_raises_the_first_panic() {
    let event_loop = t!(Loop::new());
    let (accepted, client) = tcp_pair(&event_loop);
    let bomb = PanicOnDrop;
    t!(accepted.read_start(move |_, _| {
        let _bomb = &bomb;
        panic!("read boom");
    }));
    client.write(b"x".to_vec(), |result| t!(result));
    expect_call_panic(&event_loop, "read boom");
    assert!(!accepted.is_reading());
}

#[test]
fn a_read_callback_that_closes_its_handle_and_panics_is_dropped_under_the_guard() {
    let event_loop = t!(Loop::new());
    let (accepted, client) = tcp_pair(&event_loop);
    let bomb = PanicOnDrop;
    t!(accepted.read_start(move |tcp, _| {
        let _bomb = &bomb;
        tcp.close();
        panic!("read boom");
    }));
    client.write(b"x".to_vec(), |result| t!(result));
    expect_call_panic(&event_loop, "read boom");
    assert!(accepted.is_closing());
}

#[test]
fn a_connection_callback_that_closes_its_listener_is_dropped_under_the_guard() {
    let event_loop = t!(Loop::new());
    let listener = t!(Tcp::new(&event_loop));
    t!(listener.bind(any_local_address(), Default::default()));
    let accepted = slot();
    let sink = Rc::clone(&accepted);
    let bomb = PanicOnDrop;
    t!(listener.listen(16, move |server, status| {
        let _bomb = &bomb;
        t!(status);
        *sink.borrow_mut() = Some(t!(server.accept()));
        server.close();
    }));
    let client = t!(Tcp::new(&event_loop));
    client.connect(t!(listener.local_addr()), |_, result| t!(result));
    expect_drop_panic(&event_loop);
    assert!(listener.is_closing());
    assert!(accepted.borrow().is_some(), "the connection was accepted");
}

#[test]
fn a_connection_callback_that_panics_and_fails_to_drop_raises_the_first_panic() {
    let event_loop = t!(Loop::new());
    let listener = t!(Tcp::new(&event_loop));
    t!(listener.bind(any_local_address(), Default::default()));
    let bomb = PanicOnDrop;
    t!(listener.listen(16, move |_, _| {
        let _bomb = &bomb;
        panic!("connection boom");
    }));
    let client = t!(Tcp::new(&event_loop));
    client.connect(t!(listener.local_addr()), |_, _| {});
    expect_call_panic(&event_loop, "connection boom");
    assert!(listener.is_closing());
}

#[test]
fn an_async_callback_that_closes_its_handle_is_dropped_under_the_guard() {
    let event_loop = t!(Loop::new());
    let owner: Slot<Async> = slot();
    let inside = Rc::clone(&owner);
    let bomb = PanicOnDrop;
    let wake = t!(Async::new(&event_loop, move |_| {
        let _bomb = &bomb;
        drop(inside.borrow_mut().take());
    }));
    let sender = wake.sender();
    *owner.borrow_mut() = Some(wake);
    t!(sender.send());
    expect_drop_panic(&event_loop);
    assert!(owner.borrow().is_none());
    assert_eq!(sender.send(), Err(UvError::EBADF));
}

#[test]
fn an_async_callback_that_panics_and_fails_to_drop_raises_the_first_panic() {
    let event_loop = t!(Loop::new());
    let bomb = PanicOnDrop;
    let wake = t!(Async::new(&event_loop, move |_| {
        let _bomb = &bomb;
        panic!("wake boom");
    }));
    t!(wake.sender().send());
    expect_call_panic(&event_loop, "wake boom");
    // The handle stays open; waking it again does nothing.
    t!(wake.sender().send());
    expect_still_serving(&event_loop);
}

#[test]
fn idle_and_check_callbacks_that_stop_their_handle_are_dropped_under_the_guard() {
    let event_loop = t!(Loop::new());
    let idle = Rc::new(t!(Idle::new(&event_loop)));
    let me = Rc::downgrade(&idle);
    let bomb = PanicOnDrop;
    t!(idle.start(move |_| {
        let _bomb = &bomb;
        t!(me.upgrade().unwrap().stop());
    }));
    expect_drop_panic(&event_loop);
    assert!(!idle.is_active());

    let check = Rc::new(t!(Check::new(&event_loop)));
    let me = Rc::downgrade(&check);
    let bomb = PanicOnDrop;
    t!(check.start(move |_| {
        let _bomb = &bomb;
        t!(me.upgrade().unwrap().stop());
    }));
    // A check callback runs after the poll; a timer ends the poll.
    let timer = t!(Timer::new(&event_loop));
    t!(timer.start(MS, Duration::ZERO, |_| {}));
    expect_drop_panic(&event_loop);
    assert!(!check.is_active());
}

#[test]
fn request_callbacks_are_dropped_under_the_guard() {
    let event_loop = t!(Loop::new());
    let (client, mut peer) = std_peer(&event_loop);
    let bomb = PanicOnDrop;
    client.write(b"ok".to_vec(), move |result| {
        let _bomb = &bomb;
        t!(result);
    });
    expect_drop_panic(&event_loop);
    assert_eq!(read_exactly(&mut peer, 2), b"ok");

    let bomb = PanicOnDrop;
    client.shutdown(move |result| {
        let _bomb = &bomb;
        t!(result);
    });
    expect_drop_panic(&event_loop);
    let mut rest = Vec::new();
    t!(std::io::Read::read_to_end(&mut peer, &mut rest));
    assert!(rest.is_empty(), "the peer reads end of stream");

    let refused = t!(Tcp::new(&event_loop));
    let bomb = PanicOnDrop;
    refused.connect(refusing_address(), move |_, result| {
        let _bomb = &bomb;
        assert_eq!(result, Err(UvError::ECONNREFUSED));
    });
    expect_drop_panic(&event_loop);

    let bomb = PanicOnDrop;
    getaddrinfo(&event_loop, "127.0.0.1", move |result| {
        let _bomb = &bomb;
        t!(result);
    });
    expect_drop_panic(&event_loop);
}

#[test]
fn callbacks_released_by_close_callbacks_are_dropped_under_the_guard() {
    let event_loop = t!(Loop::new());
    let hour = Duration::from_secs(3600);

    let timer = t!(Timer::new(&event_loop));
    let bomb = PanicOnDrop;
    t!(timer.start(hour, Duration::ZERO, move |_| {
        let _bomb = &bomb;
    }));
    drop(timer);
    expect_drop_panic(&event_loop);

    let bomb = PanicOnDrop;
    let wake = t!(Async::new(&event_loop, move |_| {
        let _bomb = &bomb;
    }));
    drop(wake);
    expect_drop_panic(&event_loop);

    let idle = t!(Idle::new(&event_loop));
    let bomb = PanicOnDrop;
    t!(idle.start(move |_| {
        let _bomb = &bomb;
    }));
    drop(idle);
    expect_drop_panic(&event_loop);

    let check = t!(Check::new(&event_loop));
    let bomb = PanicOnDrop;
    t!(check.start(move |_| {
        let _bomb = &bomb;
    }));
    drop(check);
    expect_drop_panic(&event_loop);

    let (accepted, _client) = tcp_pair(&event_loop);
    let bomb = PanicOnDrop;
    t!(accepted.read_start(move |_, _| {
        let _bomb = &bomb;
    }));
    drop(accepted);
    expect_drop_panic(&event_loop);

    let listener = t!(Tcp::new(&event_loop));
    t!(listener.bind(any_local_address(), Default::default()));
    let bomb = PanicOnDrop;
    t!(listener.listen(16, move |_, _| {
        let _bomb = &bomb;
    }));
    drop(listener);
    expect_drop_panic(&event_loop);
}

#[test]
fn a_callback_that_fails_to_drop_during_teardown_is_reported_not_raised() {
    let event_loop = t!(Loop::new());
    let timer = t!(Timer::new(&event_loop));
    let bomb = PanicOnDrop;
    t!(
        timer.start(Duration::from_secs(3600), Duration::ZERO, move |_| {
            let _bomb = &bomb;
        })
    );
    // The loop closes the timer, whose close callback drops the callback.
    let outcome = catch_unwind(AssertUnwindSafe(|| drop(event_loop)));
    assert!(outcome.is_ok(), "dropping a loop never panics");
    assert_eq!(timer.stop(), Err(UvError::EBADF));
}
