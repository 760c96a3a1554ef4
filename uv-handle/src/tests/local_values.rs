//! Values stored with a loop (`insert_local`): lookup, removal, stale keys,
//! keys of other loops, and release when the loop closes.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc;

use super::*;
use crate::{Loop, Tcp};

#[test]
fn insert_get_and_remove() {
    let event_loop = t!(Loop::new());
    assert_eq!(event_loop.local_count(), 0);
    let name = event_loop.insert_local(String::from("name"));
    let number = event_loop.insert_local(Cell::new(1u32));
    assert_eq!(event_loop.local_count(), 2);
    assert_eq!(event_loop.local(name).unwrap().as_str(), "name");
    event_loop.local(number).unwrap().set(2);
    assert_eq!(event_loop.local(number).unwrap().get(), 2);

    let removed = event_loop.remove_local(name).unwrap();
    assert_eq!(removed.as_str(), "name");
    assert_eq!(event_loop.local_count(), 1);
    assert!(event_loop.local(name).is_none());
    assert!(event_loop.remove_local(name).is_none());
    assert_eq!(event_loop.local(number).unwrap().get(), 2);
}

#[test]
fn a_stale_key_does_not_find_the_value_that_reuses_its_slot() {
    let event_loop = t!(Loop::new());
    let old = event_loop.insert_local(1u64);
    assert!(event_loop.remove_local(old).is_some());
    let new = event_loop.insert_local(2u64);
    assert_ne!(old, new);
    assert!(event_loop.local(old).is_none());
    assert!(event_loop.remove_local(old).is_none());
    assert_eq!(*event_loop.local(new).unwrap(), 2);
    assert_eq!(event_loop.local_count(), 1);
}

#[test]
fn keys_of_another_loop_find_nothing() {
    let first = t!(Loop::new());
    let second = t!(Loop::new());
    let key = first.insert_local(String::from("first's"));
    let other = second.insert_local(String::from("second's"));
    // Same slot index and generation, different loops.
    assert!(second.local(key).is_none());
    assert!(second.remove_local(key).is_none());
    assert!(first.local(other).is_none());
    assert_eq!(second.local_count(), 1);
    assert_eq!(first.local(key).unwrap().as_str(), "first's");
}

#[test]
fn keys_are_copy_and_debug() {
    let event_loop = t!(Loop::new());
    let key = event_loop.insert_local(());
    let copy = key;
    assert_eq!(key, copy);
    assert!(format!("{key:?}").starts_with("LocalKey("));
}

#[test]
fn values_are_dropped_when_the_loop_closes() {
    let event_loop = t!(Loop::new());
    let drops = Drops::new();
    event_loop.insert_local(drops.token());
    let kept = event_loop.insert_local(drops.token());
    let held = event_loop.local(kept).unwrap();
    drop(event_loop);
    assert_eq!(drops.count(), 1, "one value is still referenced");
    drop(held);
    assert_eq!(drops.count(), 2);
}

#[test]
fn a_local_handle_is_closed_with_the_loop() {
    // A handle stored with its own loop holds a reference to the loop: the
    // loop must still close it and release both.
    let event_loop = t!(Loop::new());
    let (signal, dropped) = mpsc::channel();
    let (accepted, client) = tcp_pair(&event_loop);
    let token = DropSignal(signal);
    t!(accepted.read_start(move |_, _| {
        let _token = &token;
    }));
    let key = event_loop.insert_local(accepted);
    let tcp: Rc<Tcp> = event_loop.local(key).unwrap();
    assert!(tcp.is_reading());
    drop(tcp);
    drop(event_loop);
    t!(dropped.try_recv());
    drop(client);
}

#[test]
fn a_value_dropped_at_close_may_use_the_loop() {
    struct Reentrant(Rc<Tcp>, Rc<Cell<bool>>);
    impl Drop for Reentrant {
        fn drop(&mut self) {
            // The loop is still open while its values are dropped.
            self.1.set(!self.0.event_loop().is_closed());
            self.0.close();
        }
    }
    let event_loop = t!(Loop::new());
    let tcp = Rc::new(t!(Tcp::new(&event_loop)));
    let loop_was_open = Rc::new(Cell::new(false));
    event_loop.insert_local(Reentrant(Rc::clone(&tcp), Rc::clone(&loop_was_open)));
    drop(event_loop);
    assert!(loop_was_open.get());
    assert!(tcp.is_closing());
}
