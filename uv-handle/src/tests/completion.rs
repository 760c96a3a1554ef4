//! `completion()`: one value from one thread to another, by blocking, with
//! a timeout, by polling, or as a `Future`; abandonment when the completer
//! is dropped.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use super::*;
use crate::{CompletionError, IoTask, completion};

/// A waker that counts its wake-ups.
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    (Arc::clone(&counter), Waker::from(counter))
}

#[test]
fn value_crosses_threads() {
    let (completer, completion) = completion();
    let thread = std::thread::spawn(move || completer.complete(vec![1, 2, 3]));
    assert_eq!(completion.wait_timeout(timeout()), Ok(vec![1, 2, 3]));
    thread.join().unwrap();
}

#[test]
fn dropped_completer_abandons() {
    let (completer, completion) = completion::<()>();
    assert!(!completion.is_ready());
    std::thread::spawn(move || drop(completer)).join().unwrap();
    assert!(completion.is_ready());
    assert_eq!(completion.wait(), Err(CompletionError::Abandoned));
}

#[test]
fn wait_timeout_times_out_then_still_receives() {
    let (completer, completion) = completion::<u8>();
    let started = Instant::now();
    assert_eq!(
        completion.wait_timeout(Duration::from_millis(20)),
        Err(CompletionError::TimedOut)
    );
    assert!(started.elapsed() >= Duration::from_millis(20));
    completer.complete(9);
    assert_eq!(completion.wait_timeout(Duration::ZERO), Ok(9));
    // The value is taken once.
    assert_eq!(
        completion.wait_timeout(Duration::ZERO),
        Err(CompletionError::TimedOut)
    );
}

#[test]
fn huge_timeouts_do_not_overflow() {
    let (completer, completion) = completion();
    completer.complete("now");
    assert_eq!(completion.wait_timeout(Duration::MAX), Ok("now"));
}

#[test]
fn try_complete_hands_the_value_back_when_nobody_waits() {
    let (completer, receiver) = completion::<String>();
    assert!(!completer.is_abandoned());
    drop(receiver);
    assert!(completer.is_abandoned());
    assert_eq!(
        completer.try_complete("kept".into()),
        Err("kept".to_string())
    );

    let (completer, receiver) = completion::<String>();
    assert_eq!(completer.try_complete("sent".into()), Ok(()));
    assert_eq!(receiver.wait(), Ok("sent".to_string()));
}

#[test]
fn completion_is_a_future() {
    let (completer, completion) = completion::<u32>();
    let (counter, waker) = counting_waker();
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(completion);
    assert_eq!(future.as_mut().poll(&mut context), Poll::Pending);
    // Polling again with the same waker keeps one registration.
    assert_eq!(future.as_mut().poll(&mut context), Poll::Pending);
    std::thread::spawn(move || completer.complete(42))
        .join()
        .unwrap();
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    assert_eq!(future.as_mut().poll(&mut context), Poll::Ready(Ok(42)));
}

#[test]
fn abandoned_future_wakes_and_resolves() {
    let (completer, completion) = completion::<u32>();
    let (counter, waker) = counting_waker();
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(completion);
    assert_eq!(future.as_mut().poll(&mut context), Poll::Pending);
    drop(completer);
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    assert_eq!(
        future.as_mut().poll(&mut context),
        Poll::Ready(Err(CompletionError::Abandoned))
    );
}

#[test]
fn a_new_waker_replaces_the_old_one() {
    let (completer, completion) = completion::<()>();
    let (first, first_waker) = counting_waker();
    let (second, second_waker) = counting_waker();
    let mut future = pin!(completion);
    let _ = future.as_mut().poll(&mut Context::from_waker(&first_waker));
    let _ = future
        .as_mut()
        .poll(&mut Context::from_waker(&second_waker));
    completer.complete(());
    assert_eq!(first.0.load(Ordering::SeqCst), 0);
    assert_eq!(second.0.load(Ordering::SeqCst), 1);
}

#[test]
fn completion_carries_a_loop_result_back() {
    let io_task = t!(IoTask::spawn());
    let (completer, completion) = completion();
    t!(io_task.interact(move |event_loop| {
        let address = crate::Tcp::new(event_loop).and_then(|tcp| {
            tcp.bind(any_local_address(), Default::default())?;
            tcp.local_addr()
        });
        completer.complete(address);
    }));
    let address = t!(wait(completion));
    assert!(address.ip().is_loopback());
    assert_ne!(address.port(), 0);
}

#[test]
fn debug_output() {
    let (completer, completion) = completion::<()>();
    assert!(format!("{completer:?}").starts_with("Completer"));
    assert!(format!("{completion:?}").contains("ready: false"));
    assert_eq!(
        CompletionError::Abandoned.to_string(),
        "the operation was abandoned before it completed"
    );
}
