//! Requests (write, connect, shutdown, getaddrinfo): each calls back exactly
//! once, in order, and owns its buffers until then, also when its handle is
//! closed first (`ECANCELED`).

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;

use super::*;
use crate::{Loop, Tcp, UvError, getaddrinfo};

#[test]
fn getaddrinfo_of_localhost_finds_loopback() {
    let event_loop = t!(Loop::new());
    let found = slot();
    let result = Rc::clone(&found);
    getaddrinfo(&event_loop, "localhost", move |addresses| {
        *result.borrow_mut() = Some(addresses)
    });
    run_until(&event_loop, || found.borrow().is_some());
    let addresses = t!(found.take().unwrap());
    assert!(!addresses.is_empty());
    assert!(addresses.iter().all(IpAddr::is_loopback), "{addresses:?}");
    // Duplicates are removed.
    let mut unique = addresses.clone();
    unique.dedup();
    assert_eq!(unique.len(), addresses.len());
}

#[test]
fn getaddrinfo_of_a_numeric_address_needs_no_lookup() {
    let event_loop = t!(Loop::new());
    let found = slot();
    let result = Rc::clone(&found);
    getaddrinfo(&event_loop, "127.0.0.1", move |addresses| {
        *result.borrow_mut() = Some(addresses)
    });
    run_until(&event_loop, || found.borrow().is_some());
    let expected: IpAddr = "127.0.0.1".parse().unwrap();
    assert_eq!(t!(found.take().unwrap()), vec![expected]);
}

#[test]
fn getaddrinfo_of_a_name_with_nul_is_einval_at_once() {
    let event_loop = t!(Loop::new());
    let found = slot();
    let result = Rc::clone(&found);
    getaddrinfo(&event_loop, "local\0host", move |addresses| {
        *result.borrow_mut() = Some(addresses)
    });
    assert_eq!(found.take(), Some(Err(UvError::EINVAL)));
}

#[test]
fn writes_complete_once_each_and_in_order() {
    let event_loop = t!(Loop::new());
    let (client, mut peer) = std_peer(&event_loop);
    let order = Rc::new(RefCell::new(Vec::new()));
    let drops = Drops::new();
    let writes = 50;
    for index in 0..writes {
        let (sink, token) = (Rc::clone(&order), drops.token());
        client.write(format!("{index:03}").into_bytes(), move |result| {
            let _token = token;
            t!(result);
            sink.borrow_mut().push(index);
        });
    }
    run_until(&event_loop, || order.borrow().len() == writes);
    assert_eq!(*order.borrow(), (0..writes).collect::<Vec<_>>());
    assert_eq!(drops.count(), writes);
    let expected: String = (0..writes).map(|index| format!("{index:03}")).collect();
    assert_eq!(read_exactly(&mut peer, expected.len()), expected.as_bytes());
}

#[test]
fn close_cancels_a_pending_connect_and_the_write_behind_it() {
    let event_loop = t!(Loop::new());
    let listener = t!(std::net::TcpListener::bind(any_local_address()));
    let client = t!(Tcp::new(&event_loop));
    let outcomes = Rc::new(RefCell::new(Vec::new()));
    let drops = Drops::new();
    let (sink, token) = (Rc::clone(&outcomes), drops.token());
    client.connect(t!(listener.local_addr()), move |_, result| {
        let _token = token;
        sink.borrow_mut().push(("connect", result));
    });
    // Queued behind the connect.
    let (sink, token) = (Rc::clone(&outcomes), drops.token());
    client.write(pattern(1 << 16), move |result| {
        let _token = token;
        sink.borrow_mut().push(("write", result));
    });
    client.close();
    assert!(
        outcomes.borrow().is_empty(),
        "callbacks run from the loop only"
    );
    run_idle(&event_loop);
    assert_eq!(
        *outcomes.borrow(),
        vec![
            ("connect", Err(UvError::ECANCELED)),
            ("write", Err(UvError::ECANCELED))
        ]
    );
    assert_eq!(drops.count(), 2, "each callback ran once and was freed");
}

#[test]
fn close_cancels_a_queued_write_and_frees_its_buffer() {
    let event_loop = t!(Loop::new());
    let (client, _peer) = std_peer(&event_loop);
    let outcome = slot();
    let drops = Drops::new();
    let (result, token) = (Rc::clone(&outcome), drops.token());
    // More than the kernel takes while the peer does not read.
    client.write(pattern(scaled(16 << 20, 8 << 20)), move |status| {
        let _token = token;
        *result.borrow_mut() = Some(status);
    });
    assert!(client.write_queue_size() > 0);
    client.close();
    run_idle(&event_loop);
    assert_eq!(outcome.take(), Some(Err(UvError::ECANCELED)));
    assert_eq!(drops.count(), 1);
}

#[test]
fn close_cancels_a_pending_shutdown() {
    let event_loop = t!(Loop::new());
    let (_accepted, client) = tcp_pair(&event_loop);
    let outcome = slot();
    let drops = Drops::new();
    let (result, token) = (Rc::clone(&outcome), drops.token());
    client.shutdown(move |status| {
        let _token = token;
        *result.borrow_mut() = Some(status);
    });
    client.close();
    run_idle(&event_loop);
    assert_eq!(outcome.take(), Some(Err(UvError::ECANCELED)));
    assert_eq!(drops.count(), 1);
}

#[test]
fn shutdown_waits_for_queued_writes() {
    let event_loop = t!(Loop::new());
    let (client, peer) = std_peer(&event_loop);
    let length = scaled(8 << 20, 4 << 20);
    let order = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&order);
    client.write(pattern(length), move |result| {
        t!(result);
        sink.borrow_mut().push("write");
    });
    let sink = Rc::clone(&order);
    client.shutdown(move |result| {
        t!(result);
        sink.borrow_mut().push("shutdown");
    });
    let (received, reader) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut peer = peer;
        let mut everything = Vec::new();
        let outcome = std::io::Read::read_to_end(&mut peer, &mut everything).map(|_| everything);
        let _ = received.send(outcome);
    });
    run_until(&event_loop, || order.borrow().len() == 2);
    assert_eq!(*order.borrow(), vec!["write", "shutdown"]);
    let everything = t!(t!(reader.recv_timeout(timeout())));
    assert!(everything == pattern(length));
}

#[test]
fn dropping_the_handle_does_not_drop_its_requests() {
    let event_loop = t!(Loop::new());
    let (client, _peer) = std_peer(&event_loop);
    let outcome = slot();
    let drops = Drops::new();
    let (result, token) = (Rc::clone(&outcome), drops.token());
    client.write(pattern(scaled(16 << 20, 8 << 20)), move |status| {
        let _token = token;
        *result.borrow_mut() = Some(status);
    });
    drop(client);
    assert_eq!(drops.count(), 0, "the request outlives its handle");
    run_idle(&event_loop);
    assert_eq!(outcome.take(), Some(Err(UvError::ECANCELED)));
    assert_eq!(drops.count(), 1);
}

#[test]
fn request_callback_may_queue_more_requests() {
    let event_loop = t!(Loop::new());
    let (client, mut peer) = std_peer(&event_loop);
    let client = Rc::new(client);
    let me = Rc::downgrade(&client);
    let done = counter();
    let count = Rc::clone(&done);
    client.write(b"one".to_vec(), move |result| {
        t!(result);
        let client = me.upgrade().unwrap();
        client.write(b"two".to_vec(), move |result| {
            t!(result);
            count.set(1);
        });
    });
    run_until(&event_loop, || done.get() == 1);
    assert_eq!(read_exactly(&mut peer, 6), b"onetwo");
}

#[test]
fn getaddrinfo_on_a_closed_loop_is_ebadf() {
    let event_loop = t!(Loop::new());
    let tcp = t!(Tcp::new(&event_loop));
    drop(event_loop);
    let found = slot();
    let result = Rc::clone(&found);
    getaddrinfo(tcp.event_loop(), "localhost", move |addresses| {
        *result.borrow_mut() = Some(addresses)
    });
    assert_eq!(found.take(), Some(Err(UvError::EBADF)));
}
