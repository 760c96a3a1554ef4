//! `Tcp`: the happy path of every operation over loopback, socket options,
//! addresses, and the errors libuv reports.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use super::*;
use crate::{BindFlags, Loop, READ_BUFFER_SIZE, Tcp, UvError};

#[test]
fn connect_accept_read_and_write_round_trip() {
    let event_loop = t!(Loop::new());
    let (accepted, client) = tcp_pair(&event_loop);
    let (at_server, _) = collect(&accepted);
    let (at_client, _) = collect(&client);

    let written = counter();
    let count = Rc::clone(&written);
    client.write(b"ping".to_vec(), move |result| {
        t!(result);
        count.set(count.get() + 1);
    });
    run_until(&event_loop, || at_server.borrow().as_slice() == b"ping");
    let count = Rc::clone(&written);
    accepted.write(b"pong".to_vec(), move |result| {
        t!(result);
        count.set(count.get() + 1);
    });
    run_until(&event_loop, || at_client.borrow().as_slice() == b"pong");
    run_until(&event_loop, || written.get() == 2);

    assert!(client.is_reading() && accepted.is_reading());
    assert_eq!(t!(client.local_addr()), t!(accepted.peer_addr()));
    assert_eq!(t!(client.peer_addr()), t!(accepted.local_addr()));
    assert!(t!(client.peer_addr()).ip().is_loopback());
}

#[test]
fn listener_accepts_several_connections() {
    let event_loop = t!(Loop::new());
    let server = Server::new(&event_loop);
    let connected = counter();
    let clients: Vec<Tcp> = (0..3)
        .map(|_| {
            let client = t!(Tcp::new(&event_loop));
            let count = Rc::clone(&connected);
            client.connect(server.address(), move |_, result| {
                t!(result);
                count.set(count.get() + 1);
            });
            client
        })
        .collect();
    run_until(&event_loop, || {
        connected.get() == 3 && server.accepted.borrow().len() == 3
    });
    let mut client_ports: Vec<u16> = clients.iter().map(|c| t!(c.local_addr()).port()).collect();
    let mut peer_ports: Vec<u16> = server
        .accepted
        .borrow()
        .iter()
        .map(|c| t!(c.peer_addr()).port())
        .collect();
    client_ports.sort_unstable();
    peer_ports.sort_unstable();
    assert_eq!(client_ports, peer_ports);
}

#[test]
fn ipv6_loopback_round_trip_and_addresses() {
    let Some(address) = any_local_ipv6_address() else {
        eprintln!("no IPv6 loopback on this machine: only IPv4 was tested");
        return;
    };
    let event_loop = t!(Loop::new());
    let (accepted, client) = tcp_pair_on(&event_loop, address);
    let local = t!(client.local_addr());
    assert!(matches!(local, SocketAddr::V6(_)));
    assert_eq!(local.ip(), address.ip());
    assert_eq!(t!(accepted.peer_addr()), local);
    assert_eq!(t!(client.peer_addr()), t!(accepted.local_addr()));

    let (received, _) = collect(&accepted);
    client.write(b"over v6".to_vec(), |result| t!(result));
    run_until(&event_loop, || received.borrow().as_slice() == b"over v6");
}

#[test]
fn ipv6_only_listener_binds() {
    let Some(address) = any_local_ipv6_address() else {
        return;
    };
    let event_loop = t!(Loop::new());
    let listener = t!(Tcp::new(&event_loop));
    let flags = BindFlags {
        ipv6_only: true,
        ..Default::default()
    };
    t!(listener.bind(address, flags));
    assert_eq!(t!(listener.local_addr()).ip(), address.ip());
}

#[test]
fn vectored_write_arrives_whole_and_in_order() {
    let event_loop = t!(Loop::new());
    let (client, mut peer) = std_peer(&event_loop);
    let done = counter();
    let count = Rc::clone(&done);
    client.write_vectored(
        vec![
            b"one ".to_vec(),
            Vec::new(),
            b"two ".to_vec(),
            b"three".to_vec(),
        ],
        move |result| {
            t!(result);
            count.set(count.get() + 1);
        },
    );
    let count = Rc::clone(&done);
    client.write(b" four".to_vec(), move |result| {
        t!(result);
        count.set(count.get() + 1);
    });
    run_until(&event_loop, || done.get() == 2);
    assert_eq!(read_exactly(&mut peer, 18), b"one two three four");
}

#[test]
fn try_write_sends_without_queueing() {
    let event_loop = t!(Loop::new());
    let (client, mut peer) = std_peer(&event_loop);
    assert_eq!(t!(client.try_write(b"direct")), 6);
    assert_eq!(client.write_queue_size(), 0);
    assert_eq!(read_exactly(&mut peer, 6), b"direct");
}

#[test]
fn shutdown_makes_the_peer_read_eof() {
    let event_loop = t!(Loop::new());
    let (accepted, client) = tcp_pair(&event_loop);
    let (received, end) = collect(&accepted);
    client.write(b"last words".to_vec(), |result| t!(result));
    let shut = slot();
    let result = Rc::clone(&shut);
    client.shutdown(move |status| *result.borrow_mut() = Some(status));
    run_until(&event_loop, || {
        end.borrow().is_some() && shut.borrow().is_some()
    });
    t!(shut.take().unwrap());
    assert_eq!(end.take(), Some(UvError::EOF));
    assert_eq!(received.borrow().as_slice(), b"last words");
    // The stream ended, so the handle is no longer reading.
    assert!(!accepted.is_reading());
    // The write side is shut: a second shutdown is refused.
    let again = slot();
    let result = Rc::clone(&again);
    client.shutdown(move |status| *result.borrow_mut() = Some(status));
    run_until(&event_loop, || again.borrow().is_some());
    assert!(again.take().unwrap().is_err());
}

#[test]
fn shutdown_reaches_a_std_peer_as_eof() {
    let event_loop = t!(Loop::new());
    let (client, mut peer) = std_peer(&event_loop);
    client.write(b"bye".to_vec(), |result| t!(result));
    let shut = slot();
    let result = Rc::clone(&shut);
    client.shutdown(move |status| *result.borrow_mut() = Some(status));
    run_until(&event_loop, || shut.borrow().is_some());
    t!(shut.take().unwrap());
    let mut everything = Vec::new();
    t!(peer.read_to_end(&mut everything));
    assert_eq!(everything, b"bye");
}

#[test]
fn close_reset_makes_the_peer_read_econnreset() {
    let event_loop = t!(Loop::new());
    let (accepted, client) = tcp_pair(&event_loop);
    let (_, end) = collect(&client);
    t!(accepted.close_reset());
    assert!(accepted.is_closing());
    run_until(&event_loop, || end.borrow().is_some());
    assert_eq!(end.take(), Some(UvError::ECONNRESET));
    // A second close is a no-op, a second reset an error.
    accepted.close();
    assert_eq!(accepted.close_reset(), Err(UvError::EBADF));
}

#[test]
fn close_reset_after_shutdown_is_einval() {
    let event_loop = t!(Loop::new());
    let (_accepted, client) = tcp_pair(&event_loop);
    client.shutdown(|_| {});
    assert_eq!(client.close_reset(), Err(UvError::EINVAL));
    assert!(!client.is_closing());
}

#[test]
fn close_stops_reading_and_peer_sees_eof() {
    let event_loop = t!(Loop::new());
    let (client, mut peer) = std_peer(&event_loop);
    let (_, end) = collect(&client);
    client.close();
    assert!(client.is_closing());
    run_idle(&event_loop);
    // Reads stopped silently: a closed handle's read callback never runs.
    assert_eq!(end.take(), None);
    let mut rest = Vec::new();
    t!(peer.read_to_end(&mut rest));
    assert!(rest.is_empty());
}

#[test]
fn read_stop_pauses_and_read_start_resumes() {
    let event_loop = t!(Loop::new());
    let (client, mut peer) = std_peer(&event_loop);
    let (received, _) = collect(&client);
    t!(peer.write_all(b"first"));
    run_until(&event_loop, || received.borrow().len() == 5);
    t!(client.read_stop());
    assert!(!client.is_reading());
    // Stopping twice is fine.
    t!(client.read_stop());
    t!(peer.write_all(b"second"));
    // Nothing is read while stopped.
    for _ in 0..5 {
        t!(event_loop.run(RunMode::NoWait));
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(received.borrow().as_slice(), b"first");
    let sink = Rc::clone(&received);
    t!(client.read_start(move |_, chunk| sink.borrow_mut().extend_from_slice(t!(chunk))));
    run_until(&event_loop, || received.borrow().len() == 11);
    assert_eq!(received.borrow().as_slice(), b"firstsecond");
}

#[test]
fn read_callback_can_stop_and_restart_reading() {
    let event_loop = t!(Loop::new());
    let (client, mut peer) = std_peer(&event_loop);
    let calls = counter();
    let count = Rc::clone(&calls);
    // The callback stops its own read after the first chunk.
    t!(client.read_start(move |tcp, chunk| {
        t!(chunk);
        count.set(count.get() + 1);
        t!(tcp.read_stop());
    }));
    t!(peer.write_all(b"a"));
    run_until(&event_loop, || calls.get() == 1);
    assert!(!client.is_reading());
    // A new read, whose callback replaces itself with another one.
    let replaced = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&replaced);
    t!(client.read_start(move |tcp, chunk| {
        let first = t!(chunk).to_vec();
        let sink = Rc::clone(&sink);
        sink.borrow_mut().push(first);
        t!(tcp.read_stop());
        let later = Rc::clone(&sink);
        t!(tcp.read_start(move |_, chunk| later.borrow_mut().push(t!(chunk).to_vec())));
    }));
    t!(peer.write_all(b"b"));
    run_until(&event_loop, || replaced.borrow().len() == 1);
    t!(peer.write_all(b"c"));
    run_until(&event_loop, || replaced.borrow().len() == 2);
    assert_eq!(*replaced.borrow(), vec![b"b".to_vec(), b"c".to_vec()]);
    assert!(client.is_reading());
}

#[test]
fn socket_options_apply_to_a_connected_socket() {
    let event_loop = t!(Loop::new());
    let (accepted, client) = tcp_pair(&event_loop);
    for tcp in [&accepted, &client] {
        t!(tcp.set_nodelay(true));
        t!(tcp.set_nodelay(false));
        t!(tcp.set_keepalive(Some(Duration::from_secs(30))));
        t!(tcp.set_keepalive(Some(Duration::from_millis(1500))));
        t!(tcp.set_keepalive(None));
        t!(tcp.set_keepalive_ex(Duration::from_secs(60), Duration::from_secs(5), 3));
        t!(tcp.set_keepalive_ex(Duration::ZERO, Duration::ZERO, 1));
        assert_eq!(
            tcp.set_keepalive_ex(Duration::from_secs(60), Duration::from_secs(5), 0),
            Err(UvError::EINVAL)
        );
    }
    // Options still set on a socket that is not open yet are kept by libuv.
    let fresh = t!(Tcp::new(&event_loop));
    t!(fresh.set_nodelay(true));
    t!(fresh.set_keepalive(Some(Duration::from_secs(10))));
}

#[test]
fn buffer_sizes_can_be_read_and_set() {
    let event_loop = t!(Loop::new());
    let (client, _peer) = std_peer(&event_loop);
    assert!(t!(client.send_buffer_size()) > 0);
    assert!(t!(client.recv_buffer_size()) > 0);
    t!(client.set_send_buffer_size(64 * 1024));
    t!(client.set_recv_buffer_size(64 * 1024));
    // Linux doubles the value to account for bookkeeping.
    assert!(t!(client.send_buffer_size()) >= 64 * 1024);
    assert!(t!(client.recv_buffer_size()) >= 64 * 1024);
    assert_eq!(
        client.set_send_buffer_size(usize::MAX),
        Err(UvError::EINVAL)
    );
    // No socket yet: EBADF.
    let fresh = t!(Tcp::new(&event_loop));
    assert_eq!(fresh.send_buffer_size(), Err(UvError::EBADF));
    assert_eq!(fresh.recv_buffer_size(), Err(UvError::EBADF));
}

#[test]
fn write_queue_grows_while_the_peer_does_not_read_and_drains() {
    let event_loop = t!(Loop::new());
    let (client, peer) = std_peer(&event_loop);
    let length = scaled(16 << 20, 4 << 20);
    let data = pattern(length);
    let done = slot();
    let result = Rc::clone(&done);
    client.write(data.clone(), move |status| {
        *result.borrow_mut() = Some(status)
    });
    let queued = client.write_queue_size();
    assert!(queued > 0, "the kernel took all {length} bytes at once");
    assert!(queued <= length);
    // A try_write behind queued bytes would reorder them: libuv refuses.
    assert_eq!(client.try_write(b"x"), Err(UvError::EAGAIN));

    let (received, reader) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut peer = peer;
        let mut everything = vec![0; length];
        let outcome = peer.read_exact(&mut everything).map(|()| everything);
        let _ = received.send(outcome);
    });
    run_until(&event_loop, || done.borrow().is_some());
    t!(done.take().unwrap());
    assert_eq!(client.write_queue_size(), 0);
    let everything = t!(t!(reader.recv_timeout(timeout())));
    assert!(everything == data, "the peer received different bytes");
}

#[test]
fn chunks_larger_than_the_read_buffer_arrive_intact() {
    let event_loop = t!(Loop::new());
    let (client, peer) = std_peer(&event_loop);
    let length = scaled(4 << 20, 1 << 20);
    let data = pattern(length);
    let (received, end) = collect(&client);
    let writer = write_from_thread(peer, data.clone());
    run_until(&event_loop, || received.borrow().len() == length);
    let peer = t!(t!(writer.recv_timeout(timeout())));
    drop(peer);
    run_until(&event_loop, || end.borrow().is_some());
    assert_eq!(end.take(), Some(UvError::EOF));
    assert!(*received.borrow() == data);
}

#[test]
fn bind_to_an_address_in_use_fails_with_eaddrinuse() {
    let event_loop = t!(Loop::new());
    let first = Server::new(&event_loop);
    let second = t!(Tcp::new(&event_loop));
    // libuv may defer the error from bind to listen.
    let outcome = second
        .bind(first.address(), Default::default())
        .and_then(|()| second.listen(16, |_, _| {}));
    assert_eq!(outcome, Err(UvError::EADDRINUSE));
    assert!(!second.is_closing());
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let event_loop = t!(Loop::new());
    let client = t!(Tcp::new(&event_loop));
    let outcome = slot();
    let result = Rc::clone(&outcome);
    client.connect(refusing_address(), move |_, status| {
        *result.borrow_mut() = Some(status)
    });
    run_until(&event_loop, || outcome.borrow().is_some());
    assert_eq!(outcome.take(), Some(Err(UvError::ECONNREFUSED)));
    assert_eq!(client.peer_addr(), Err(UvError::ENOTCONN));
}

#[test]
fn read_start_twice_is_ealready() {
    let event_loop = t!(Loop::new());
    let (_accepted, client) = tcp_pair(&event_loop);
    t!(client.read_start(|_, _| {}));
    assert_eq!(client.read_start(|_, _| {}), Err(UvError::EALREADY));
    assert!(client.is_reading());
}

#[test]
fn accept_without_a_pending_connection_is_eagain() {
    let event_loop = t!(Loop::new());
    let server = Server::new(&event_loop);
    assert_eq!(server.listener.accept().err(), Some(UvError::EAGAIN));
}

#[test]
fn listen_on_an_unbound_handle_binds_any_port() {
    let event_loop = t!(Loop::new());
    let listener = t!(Tcp::new(&event_loop));
    // libuv binds an unbound listener to 0.0.0.0 and a free port.
    t!(listener.listen(1, |_, _| {}));
    assert_ne!(t!(listener.local_addr()).port(), 0);
}

#[test]
fn every_operation_on_a_closed_handle_is_ebadf() {
    let event_loop = t!(Loop::new());
    let (accepted, client) = tcp_pair(&event_loop);
    client.close();
    accepted.close();
    for tcp in [&accepted, &client] {
        assert!(tcp.is_closing());
        assert_eq!(
            tcp.bind(any_local_address(), Default::default()),
            Err(UvError::EBADF)
        );
        assert_eq!(tcp.listen(1, |_, _| {}), Err(UvError::EBADF));
        assert_eq!(tcp.accept().err(), Some(UvError::EBADF));
        assert_eq!(tcp.read_start(|_, _| {}), Err(UvError::EBADF));
        assert_eq!(tcp.read_stop(), Err(UvError::EBADF));
        assert_eq!(tcp.try_write(b"x"), Err(UvError::EBADF));
        assert_eq!(tcp.set_nodelay(true), Err(UvError::EBADF));
        assert_eq!(tcp.set_keepalive(None), Err(UvError::EBADF));
        assert_eq!(
            tcp.set_keepalive_ex(Duration::from_secs(1), Duration::from_secs(1), 1),
            Err(UvError::EBADF)
        );
        assert_eq!(tcp.peer_addr(), Err(UvError::EBADF));
        assert_eq!(tcp.local_addr(), Err(UvError::EBADF));
        assert_eq!(tcp.send_buffer_size(), Err(UvError::EBADF));
        assert_eq!(tcp.set_recv_buffer_size(1 << 16), Err(UvError::EBADF));
        assert_eq!(tcp.close_reset(), Err(UvError::EBADF));
        // Requests on a closed handle call back at once, before returning.
        let outcomes = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&outcomes);
        tcp.write(b"x".to_vec(), move |r| sink.borrow_mut().push(r));
        let sink = Rc::clone(&outcomes);
        tcp.write_vectored(vec![b"x".to_vec()], move |r| sink.borrow_mut().push(r));
        let sink = Rc::clone(&outcomes);
        tcp.shutdown(move |r| sink.borrow_mut().push(r));
        let sink = Rc::clone(&outcomes);
        tcp.connect(any_local_address(), move |_, r| sink.borrow_mut().push(r));
        assert_eq!(*outcomes.borrow(), vec![Err(UvError::EBADF); 4]);
    }
    run_idle(&event_loop);
}

#[test]
fn unconnected_handle_reports_not_connected() {
    let event_loop = t!(Loop::new());
    let tcp = t!(Tcp::new(&event_loop));
    assert_eq!(tcp.read_start(|_, _| {}), Err(UvError::ENOTCONN));
    assert!(!tcp.is_reading());
    assert!(tcp.peer_addr().is_err());
    assert!(tcp.try_write(b"x").is_err());
    let outcome = Rc::new(Cell::new(None));
    let result = Rc::clone(&outcome);
    tcp.write(b"x".to_vec(), move |r| result.set(Some(r)));
    run_idle(&event_loop);
    assert!(matches!(outcome.get(), Some(Err(_))));
}

#[test]
fn debug_output_names_the_state() {
    let event_loop = t!(Loop::new());
    let tcp = t!(Tcp::new(&event_loop));
    let text = format!("{tcp:?}");
    assert!(text.contains("closing: false"), "{text}");
    tcp.close();
    assert!(format!("{tcp:?}").contains("closing: true"));
    assert!(format!("{event_loop:?}").contains("closed: false"));
}

/// FNV-1a, 64 bits: a checksum of a transfer.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn write_from_sends_the_rest_of_a_partial_try_write() {
    let event_loop = t!(Loop::new());
    let (client, peer) = std_peer(&event_loop);
    t!(client.set_send_buffer_size(64 * 1024));
    let length = scaled(16 << 20, 4 << 20);
    let data = pattern(length);
    let sent_checksum = checksum(&data);
    // The peer does not read yet: try_write fills the socket, then stops
    // part way through the buffer.
    let mut offset = 0;
    loop {
        match client.try_write(&data[offset..]) {
            Ok(written) => offset += written,
            Err(UvError::EAGAIN) => break,
            Err(error) => panic!("try_write failed: {error:?}"),
        }
        assert!(offset < length, "the kernel took all {length} bytes");
    }
    assert!(offset > 0, "try_write wrote nothing");
    let done = slot();
    let result = Rc::clone(&done);
    client.write_from(data, offset, move |status| {
        *result.borrow_mut() = Some(status)
    });
    assert!(client.write_queue_size() > 0);

    let (received, reader) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut peer = peer;
        let mut everything = vec![0; length];
        let outcome = peer.read_exact(&mut everything).map(|()| everything);
        let _ = received.send(outcome);
    });
    run_until(&event_loop, || done.borrow().is_some());
    t!(done.take().unwrap());
    let everything = t!(t!(reader.recv_timeout(timeout())));
    assert_eq!(everything.len(), length);
    assert_eq!(
        checksum(&everything),
        sent_checksum,
        "the peer received other bytes, first difference at {:?}",
        everything
            .iter()
            .zip(pattern(length))
            .position(|(a, b)| *a != b)
    );
}

#[test]
fn write_from_an_offset_past_the_end_is_einval_at_once() {
    let event_loop = t!(Loop::new());
    let (client, mut peer) = std_peer(&event_loop);
    let refused = slot();
    let result = Rc::clone(&refused);
    client.write_from(b"abc".to_vec(), 4, move |status| {
        *result.borrow_mut() = Some(status)
    });
    assert_eq!(refused.take(), Some(Err(UvError::EINVAL)));
    // An offset at the end writes nothing; the stream goes on in order.
    let done = Rc::new(RefCell::new(Vec::new()));
    for (bytes, offset) in [(&b"abc"[..], 3), (b"xyz", 1), (b"!", 0)] {
        let sink = Rc::clone(&done);
        client.write_from(bytes.to_vec(), offset, move |status| {
            sink.borrow_mut().push(status)
        });
    }
    run_until(&event_loop, || done.borrow().len() == 3);
    assert_eq!(*done.borrow(), vec![Ok(()); 3]);
    assert_eq!(read_exactly(&mut peer, 3), b"yz!");
    // A closed handle still checks the offset first; both fail at once.
    client.close();
    let failed = Rc::new(RefCell::new(Vec::new()));
    for offset in [0, 9] {
        let sink = Rc::clone(&failed);
        client.write_from(b"abc".to_vec(), offset, move |status| {
            sink.borrow_mut().push(status)
        });
    }
    assert_eq!(
        *failed.borrow(),
        vec![Err(UvError::EBADF), Err(UvError::EINVAL)]
    );
}

#[test]
fn owned_reads_hand_full_buffers_over_and_copy_small_ones() {
    let event_loop = t!(Loop::new());
    let (client, peer) = std_peer(&event_loop);
    let length = scaled(4 << 20, 1 << 20);
    let data = pattern(length);
    let received = Rc::new(RefCell::new(Vec::new()));
    let capacities = Rc::new(RefCell::new(Vec::new()));
    let end = slot();
    let (bytes, sizes, ended) = (
        Rc::clone(&received),
        Rc::clone(&capacities),
        Rc::clone(&end),
    );
    t!(client.read_start_owned(move |_, chunk| match chunk {
        Ok(chunk) => {
            sizes.borrow_mut().push((chunk.len(), chunk.capacity()));
            bytes.borrow_mut().extend_from_slice(&chunk);
        }
        Err(error) => *ended.borrow_mut() = Some(error),
    }));
    let writer = write_from_thread(peer, data.clone());
    run_until(&event_loop, || received.borrow().len() == length);
    let mut peer = t!(t!(writer.recv_timeout(timeout())));
    // One small write: a read of a few bytes is copied into a vector of its size.
    t!(peer.write_all(b"tail"));
    run_until(&event_loop, || received.borrow().len() == length + 4);
    drop(peer);
    run_until(&event_loop, || end.borrow().is_some());
    assert_eq!(end.take(), Some(UvError::EOF));
    assert!(received.borrow()[..length] == data[..]);
    assert_eq!(&received.borrow()[length..], b"tail");
    let capacities = capacities.borrow();
    for &(length, capacity) in capacities.iter() {
        if length >= READ_BUFFER_SIZE / 2 {
            assert_eq!(
                capacity, READ_BUFFER_SIZE,
                "a large read is the buffer itself"
            );
        } else {
            assert_eq!(capacity, length, "a small read is an exact copy");
        }
    }
    assert!(
        capacities
            .iter()
            .any(|&(length, _)| length >= READ_BUFFER_SIZE / 2),
        "a bulk transfer fills the read buffer at least once"
    );
}
