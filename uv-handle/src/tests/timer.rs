//! `Timer`: one-shot and repeating timers, stop, restart, and when their
//! callbacks are dropped.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::*;
use crate::{Loop, Timer, UvError};

const MS: Duration = Duration::from_millis(1);

#[test]
fn one_shot_timer_fires_once_and_drops_its_callback() {
    // Timeouts count from the loop's cached time, taken when it starts.
    let started = Instant::now();
    let event_loop = t!(Loop::new());
    let timer = t!(Timer::new(&event_loop));
    let fired = counter();
    let drops = Drops::new();
    let (count, token) = (Rc::clone(&fired), drops.token());
    t!(timer.start(20 * MS, Duration::ZERO, move |_| {
        let _token = &token;
        count.set(count.get() + 1);
    }));
    run_idle(&event_loop);
    // The loop clock is coarse (a few milliseconds).
    assert!(started.elapsed() >= 15 * MS, "{:?}", started.elapsed());
    assert_eq!(fired.get(), 1);
    assert_eq!(
        drops.count(),
        1,
        "a fired one-shot timer keeps its callback"
    );
    // It can be started again.
    let count = Rc::clone(&fired);
    t!(timer.start(Duration::ZERO, Duration::ZERO, move |_| count
        .set(count.get() + 1)));
    run_idle(&event_loop);
    assert_eq!(fired.get(), 2);
}

#[test]
fn repeating_timer_fires_until_stopped() {
    let event_loop = t!(Loop::new());
    let timer = t!(Timer::new(&event_loop));
    let fired = counter();
    let drops = Drops::new();
    let (count, token) = (Rc::clone(&fired), drops.token());
    t!(timer.start(MS, MS, move |_| {
        let _token = &token;
        count.set(count.get() + 1);
    }));
    run_until(&event_loop, || fired.get() >= 3);
    t!(timer.stop());
    assert_eq!(drops.count(), 1, "stop drops the callback");
    let after_stop = fired.get();
    // Nothing keeps the loop alive any more.
    run_idle(&event_loop);
    assert_eq!(fired.get(), after_stop);
}

#[test]
fn stop_before_the_timeout_means_no_call() {
    let event_loop = t!(Loop::new());
    let timer = t!(Timer::new(&event_loop));
    let fired = counter();
    let count = Rc::clone(&fired);
    t!(timer.start(MS, Duration::ZERO, move |_| count.set(count.get() + 1)));
    t!(timer.stop());
    // Stopping a stopped timer is fine.
    t!(timer.stop());
    run_idle(&event_loop);
    assert_eq!(fired.get(), 0);
}

#[test]
fn start_replaces_the_previous_callback() {
    let event_loop = t!(Loop::new());
    let timer = t!(Timer::new(&event_loop));
    let calls = Rc::new(RefCell::new(Vec::new()));
    let drops = Drops::new();
    let (sink, token) = (Rc::clone(&calls), drops.token());
    t!(timer.start(MS, Duration::ZERO, move |_| {
        let _token = &token;
        sink.borrow_mut().push("first");
    }));
    let sink = Rc::clone(&calls);
    t!(timer.start(MS, Duration::ZERO, move |_| sink
        .borrow_mut()
        .push("second")));
    assert_eq!(drops.count(), 1, "the replaced callback is dropped at once");
    run_idle(&event_loop);
    assert_eq!(*calls.borrow(), vec!["second"]);
}

#[test]
fn timers_fire_in_timeout_order() {
    let event_loop = t!(Loop::new());
    let order = Rc::new(RefCell::new(Vec::new()));
    let timers: Vec<Timer> = [30u64, 10, 20, 0]
        .into_iter()
        .map(|millis| {
            let timer = t!(Timer::new(&event_loop));
            let sink = Rc::clone(&order);
            t!(
                timer.start(Duration::from_millis(millis), Duration::ZERO, move |_| {
                    sink.borrow_mut().push(millis)
                })
            );
            timer
        })
        .collect();
    run_idle(&event_loop);
    assert_eq!(*order.borrow(), vec![0, 10, 20, 30]);
    drop(timers);
}

#[test]
fn repeating_timer_stopped_from_its_own_callback_drops_the_callback() {
    let event_loop = t!(Loop::new());
    let timer = Rc::new(t!(Timer::new(&event_loop)));
    let fired = counter();
    let drops = Drops::new();
    let (count, token, me) = (Rc::clone(&fired), drops.token(), Rc::downgrade(&timer));
    t!(timer.start(MS, MS, move |_| {
        let _token = &token;
        count.set(count.get() + 1);
        if count.get() == 2 {
            t!(me.upgrade().unwrap().stop());
        }
    }));
    run_idle(&event_loop);
    assert_eq!(fired.get(), 2);
    assert_eq!(
        drops.count(),
        1,
        "a stopped timer must not keep its callback"
    );
}

#[test]
fn callback_can_restart_its_timer() {
    let event_loop = t!(Loop::new());
    let timer = Rc::new(t!(Timer::new(&event_loop)));
    let fired = counter();
    let (count, me) = (Rc::clone(&fired), Rc::downgrade(&timer));
    fn restart(timer: &Timer, count: Rc<std::cell::Cell<usize>>, me: std::rc::Weak<Timer>) {
        t!(timer.start(MS, Duration::ZERO, move |_| {
            count.set(count.get() + 1);
            if count.get() < 3 {
                let timer = me.upgrade().unwrap();
                restart(&timer, Rc::clone(&count), me.clone());
            }
        }));
    }
    restart(&timer, count, me);
    run_idle(&event_loop);
    assert_eq!(fired.get(), 3);
}

#[test]
fn dropping_a_timer_in_its_own_callback_is_safe() {
    let event_loop = t!(Loop::new());
    let holder: Rc<RefCell<Option<Timer>>> = Rc::new(RefCell::new(None));
    let timer = t!(Timer::new(&event_loop));
    let fired = counter();
    let drops = Drops::new();
    let (count, token, cell) = (Rc::clone(&fired), drops.token(), Rc::clone(&holder));
    t!(timer.start(MS, MS, move |_| {
        let _token = &token;
        count.set(count.get() + 1);
        drop(cell.borrow_mut().take());
    }));
    *holder.borrow_mut() = Some(timer);
    run_idle(&event_loop);
    assert_eq!(fired.get(), 1);
    assert_eq!(drops.count(), 1);
}

#[test]
fn dropping_a_started_timer_cancels_it() {
    let event_loop = t!(Loop::new());
    let timer = t!(Timer::new(&event_loop));
    let fired = counter();
    let drops = Drops::new();
    let (count, token) = (Rc::clone(&fired), drops.token());
    t!(timer.start(MS, MS, move |_| {
        let _token = &token;
        count.set(count.get() + 1);
    }));
    drop(timer);
    run_idle(&event_loop);
    assert_eq!(fired.get(), 0);
    assert_eq!(
        drops.count(),
        1,
        "the close callback drops the timer callback"
    );
}

#[test]
fn timer_of_a_closed_loop_is_ebadf() {
    let event_loop = t!(Loop::new());
    let timer = t!(Timer::new(&event_loop));
    drop(event_loop);
    assert_eq!(timer.start(MS, MS, |_| {}), Err(UvError::EBADF));
    assert_eq!(timer.stop(), Err(UvError::EBADF));
    assert!(format!("{timer:?}").contains("closing: true"));
}

#[test]
fn loop_time_advances() {
    let event_loop = t!(Loop::new());
    let before = event_loop.now();
    let timer = t!(Timer::new(&event_loop));
    t!(timer.start(15 * MS, Duration::ZERO, |_| {}));
    run_idle(&event_loop);
    assert!(event_loop.now() >= before + 15);
}
