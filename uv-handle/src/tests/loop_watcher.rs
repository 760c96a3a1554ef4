//! `Idle` and `Check`: once per loop iteration, where in the iteration,
//! stop, unref, panics in their callbacks, and drops (also from inside
//! their own callback).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::*;
use crate::callback::describe as describe_panic;
use crate::{Check, Idle, Loop, LoopRef, RunMode, Timer, UvError};

/// What the tests do with either handle type.
trait Watcher: Sized + 'static {
    fn create(event_loop: &LoopRef) -> Result<Self, UvError>;
    fn begin(&self, on_run: impl FnMut(&LoopRef) + 'static) -> Result<(), UvError>;
    fn end(&self) -> Result<(), UvError>;
    fn active(&self) -> bool;
    fn detach(&self);
}

macro_rules! watcher {
    ($type:ty) => {
        impl Watcher for $type {
            fn create(event_loop: &LoopRef) -> Result<Self, UvError> {
                <$type>::new(event_loop)
            }
            fn begin(&self, on_run: impl FnMut(&LoopRef) + 'static) -> Result<(), UvError> {
                self.start(on_run)
            }
            fn end(&self) -> Result<(), UvError> {
                self.stop()
            }
            fn active(&self) -> bool {
                self.is_active()
            }
            fn detach(&self) {
                self.unref()
            }
        }
    };
}

watcher!(Idle);
watcher!(Check);

/// Runs loop iterations that do not block until `done()` holds, failing on
/// timeout. (An active check handle alone does not wake a blocked poll, so
/// `run(Default)` would sleep forever.)
fn spin_until(event_loop: &LoopRef, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout();
    while !done() {
        t!(event_loop.run(RunMode::NoWait));
        assert!(Instant::now() < deadline, "timed out spinning the loop");
    }
}

fn fires_once_per_iteration<W: Watcher>() {
    let event_loop = t!(Loop::new());
    let watcher = t!(W::create(&event_loop));
    assert!(!watcher.active());
    let runs = counter();
    let drops = Drops::new();
    let (count, token) = (Rc::clone(&runs), drops.token());
    t!(watcher.begin(move |_| {
        let _token = &token;
        count.set(count.get() + 1);
    }));
    assert!(watcher.active());
    for iteration in 1..=5 {
        assert!(
            t!(event_loop.run(RunMode::NoWait)),
            "the handle keeps the loop alive"
        );
        assert_eq!(runs.get(), iteration);
    }
    t!(watcher.end());
    assert!(!watcher.active());
    assert_eq!(drops.count(), 1, "stop drops the callback");
    // Stopping a stopped handle is fine, and nothing runs any more.
    t!(watcher.end());
    run_idle(&event_loop);
    assert_eq!(runs.get(), 5);
}

#[test]
fn idle_fires_once_per_iteration_until_stopped() {
    fires_once_per_iteration::<Idle>();
}

#[test]
fn check_fires_once_per_iteration_until_stopped() {
    fires_once_per_iteration::<Check>();
}

fn unref_lets_run_return<W: Watcher>() {
    let event_loop = t!(Loop::new());
    let watcher = t!(W::create(&event_loop));
    let runs = counter();
    let count = Rc::clone(&runs);
    t!(watcher.begin(move |_| count.set(count.get() + 1)));
    watcher.detach();
    // Active but unreferenced: run(Default) returns at once.
    run_idle(&event_loop);
    assert!(watcher.active());
    // It still runs while referenced work keeps the loop going.
    let timer = t!(Timer::new(&event_loop));
    t!(timer.start(Duration::from_millis(20), Duration::ZERO, |_| {}));
    run_idle(&event_loop);
    assert!(
        runs.get() >= 1,
        "the unreferenced handle ran {} times",
        runs.get()
    );
}

#[test]
fn unref_idle_lets_run_return() {
    unref_lets_run_return::<Idle>();
}

#[test]
fn unref_check_lets_run_return() {
    unref_lets_run_return::<Check>();
}

#[test]
fn ref_undoes_unref() {
    let event_loop = t!(Loop::new());
    let check = t!(Check::new(&event_loop));
    let idle = t!(Idle::new(&event_loop));
    assert!(check.has_ref() && idle.has_ref());
    check.unref();
    idle.unref();
    assert!(!check.has_ref() && !idle.has_ref());
    check.ref_();
    idle.ref_();
    assert!(check.has_ref() && idle.has_ref());
    // Referenced again, an active check handle keeps the loop alive until
    // its callback stops it.
    let runs = counter();
    let (count, me) = (Rc::clone(&runs), Rc::new(RefCell::new(None::<Check>)));
    let holder = Rc::clone(&me);
    t!(check.start(move |_| {
        count.set(count.get() + 1);
        if count.get() == 3 {
            t!(holder.borrow().as_ref().unwrap().stop());
        }
    }));
    *me.borrow_mut() = Some(check);
    spin_until(&event_loop, || runs.get() == 3);
    assert!(
        !t!(event_loop.run(RunMode::NoWait)),
        "the stopped handle keeps the loop"
    );
    assert_eq!(runs.get(), 3);
    drop(me.take());
}

#[test]
fn idle_runs_before_the_poll_and_check_after_it() {
    let event_loop = t!(Loop::new());
    let order = Rc::new(RefCell::new(Vec::new()));
    let (accepted, client) = tcp_pair(&event_loop);
    let (received, _end) = collect(&accepted);
    let check = t!(Check::new(&event_loop));
    let sink = Rc::clone(&order);
    let seen = Rc::clone(&received);
    t!(check.start(move |_| sink.borrow_mut().push(("check", seen.borrow().len()))));
    let idle = t!(Idle::new(&event_loop));
    let sink = Rc::clone(&order);
    let seen = Rc::clone(&received);
    t!(idle.start(move |_| sink.borrow_mut().push(("idle", seen.borrow().len()))));
    client.write(b"ping".to_vec(), |result| t!(result));
    run_until(&event_loop, || received.borrow().len() == 4);
    let order = order.borrow();
    // In the iteration whose poll read the bytes, the idle callback ran
    // before the read and the check callback after it.
    let arrival = order
        .iter()
        .position(|&(_, length)| length == 4)
        .expect("a callback ran after the bytes arrived");
    assert_eq!(order[arrival].0, "check", "{order:?}");
    assert_eq!(order[arrival - 1], ("idle", 0), "{order:?}");
}

#[test]
fn an_active_idle_handle_keeps_the_poll_from_blocking() {
    let event_loop = t!(Loop::new());
    let timer = t!(Timer::new(&event_loop));
    t!(timer.start(timeout(), Duration::ZERO, |_| panic!("the loop slept")));
    let idle = t!(Idle::new(&event_loop));
    t!(idle.start(|_| {}));
    let started = Instant::now();
    for _ in 0..3 {
        assert!(t!(event_loop.run(RunMode::Once)));
    }
    assert!(started.elapsed() < timeout() / 2, "{:?}", started.elapsed());
    // Once stopped, the loop sleeps again: a check handle does not stop it.
    t!(idle.stop());
    let check = t!(Check::new(&event_loop));
    t!(check.start(|_| {}));
    t!(timer.start(Duration::from_millis(30), Duration::ZERO, |_| {}));
    let started = Instant::now();
    assert!(t!(event_loop.run(RunMode::Once)));
    assert!(
        started.elapsed() >= Duration::from_millis(20),
        "{:?}",
        started.elapsed()
    );
}

fn start_replaces_the_callback_from_inside_it<W: Watcher>() {
    let event_loop = t!(Loop::new());
    let watcher = Rc::new(t!(W::create(&event_loop)));
    let calls = Rc::new(RefCell::new(Vec::new()));
    let drops = Drops::new();
    let (sink, token, me) = (Rc::clone(&calls), drops.token(), Rc::downgrade(&watcher));
    t!(watcher.begin(move |_| {
        let _token = &token;
        sink.borrow_mut().push("first");
        let sink = Rc::clone(&sink);
        let again = me.clone();
        t!(me.upgrade().unwrap().begin(move |_| {
            sink.borrow_mut().push("second");
            t!(again.upgrade().unwrap().end());
        }));
    }));
    spin_until(&event_loop, || calls.borrow().len() == 2);
    run_idle(&event_loop);
    assert_eq!(*calls.borrow(), vec!["first", "second"]);
    assert_eq!(drops.count(), 1, "the replaced callback is dropped");
    assert!(!watcher.active());
}

#[test]
fn idle_callback_can_replace_itself() {
    start_replaces_the_callback_from_inside_it::<Idle>();
}

#[test]
fn check_callback_can_replace_itself() {
    start_replaces_the_callback_from_inside_it::<Check>();
}

fn panic_is_raised_and_the_handle_stops<W: Watcher>() {
    let event_loop = t!(Loop::new());
    let watcher = t!(W::create(&event_loop));
    let drops = Drops::new();
    let token = drops.token();
    t!(watcher.begin(move |_| {
        let _token = &token;
        panic!("watcher boom");
    }));
    // Another handle's callback due in the same iteration still runs.
    let other = t!(W::create(&event_loop));
    let runs = counter();
    let count = Rc::clone(&runs);
    t!(other.begin(move |_| count.set(count.get() + 1)));
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        event_loop.run(RunMode::NoWait)
    }))
    .expect_err("run re-raises the panic");
    assert_eq!(describe_panic(&*payload), "watcher boom");
    assert_eq!(drops.count(), 1, "the panicking callback is dropped");
    assert!(!watcher.active(), "the panicking handle is stopped");
    assert_eq!(runs.get(), 1);
    // The loop and the handle work on.
    t!(other.end());
    let count = Rc::clone(&runs);
    t!(watcher.begin(move |_| count.set(count.get() + 10)));
    t!(event_loop.run(RunMode::NoWait));
    assert_eq!(runs.get(), 11);
}

#[test]
fn panic_in_an_idle_callback_is_raised_and_stops_it() {
    panic_is_raised_and_the_handle_stops::<Idle>();
}

#[test]
fn panic_in_a_check_callback_is_raised_and_stops_it() {
    panic_is_raised_and_the_handle_stops::<Check>();
}

fn drop_while_active<W: Watcher>() {
    let event_loop = t!(Loop::new());
    let watcher = t!(W::create(&event_loop));
    let runs = counter();
    let drops = Drops::new();
    let (count, token) = (Rc::clone(&runs), drops.token());
    t!(watcher.begin(move |_| {
        let _token = &token;
        count.set(count.get() + 1);
    }));
    drop(watcher);
    run_idle(&event_loop);
    assert_eq!(runs.get(), 0);
    assert_eq!(drops.count(), 1, "the close callback drops the callback");
}

#[test]
fn dropping_an_active_idle_handle_closes_it() {
    drop_while_active::<Idle>();
}

#[test]
fn dropping_an_active_check_handle_closes_it() {
    drop_while_active::<Check>();
}

fn drop_inside_its_own_callback<W: Watcher>() {
    let event_loop = t!(Loop::new());
    let holder: Rc<RefCell<Option<W>>> = Rc::new(RefCell::new(None));
    let watcher = t!(W::create(&event_loop));
    let runs = counter();
    let drops = Drops::new();
    let (count, token, cell) = (Rc::clone(&runs), drops.token(), Rc::clone(&holder));
    t!(watcher.begin(move |_| {
        let _token = &token;
        count.set(count.get() + 1);
        drop(cell.borrow_mut().take());
    }));
    *holder.borrow_mut() = Some(watcher);
    spin_until(&event_loop, || runs.get() == 1);
    run_idle(&event_loop);
    assert_eq!(runs.get(), 1);
    assert_eq!(drops.count(), 1);
}

#[test]
fn dropping_an_idle_handle_in_its_own_callback_is_safe() {
    drop_inside_its_own_callback::<Idle>();
}

#[test]
fn dropping_a_check_handle_in_its_own_callback_is_safe() {
    drop_inside_its_own_callback::<Check>();
}

#[test]
fn handles_of_a_closed_loop_are_ebadf() {
    let event_loop = t!(Loop::new());
    let idle = t!(Idle::new(&event_loop));
    let check = t!(Check::new(&event_loop));
    t!(check.start(|_| {}));
    drop(event_loop);
    assert_eq!(idle.start(|_| {}), Err(UvError::EBADF));
    assert_eq!(check.stop(), Err(UvError::EBADF));
    assert!(!check.is_active());
    // Harmless on a closed handle.
    check.unref();
    idle.ref_();
    assert!(format!("{idle:?}").starts_with("Idle"));
    assert!(format!("{check:?}").contains("closing: true"));
}
