//! `uvtcp::Future`: `from_value`, `is_ready`, `get`, and awaiting it (and
//! `ReadPort::recv_async`) with a small hand-written `block_on`.

use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use uvtcp::*;
use uvtcp_tests::*;

#[test]
fn from_value_is_ready_and_get_returns_the_value() {
    let future = Future::from_value(42u32);
    assert!(future.is_ready());
    assert_eq!(future.get(), 42);
}

#[test]
fn from_value_works_for_values_that_are_not_send() {
    let future = Future::from_value(Rc::new("local"));
    assert!(future.is_ready());
    assert_eq!(*future.get(), "local");
}

#[test]
fn from_value_can_be_awaited() {
    assert_eq!(block_on(Future::from_value(String::from("now"))), "now");
}

#[test]
fn read_future_becomes_ready_when_data_arrives() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let future = server.read_future(READ_TIMEOUT_MS);
        assert!(!future.is_ready(), "read_future ready with nothing sent");
        t!(client.write(&b"ready"[..]));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !future.is_ready() {
            assert!(Instant::now() < deadline, "read_future never became ready");
            thread::sleep(Duration::from_millis(5));
        }
        let chunk = t!(future.get());
        assert!(
            b"ready".starts_with(&chunk) && !chunk.is_empty(),
            "got {chunk:?}"
        );
    });
}

#[test]
fn read_future_awaited_with_block_on_wakes_when_data_arrives() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(150));
            t!(client.write(&b"w"[..]));
            client
        });
        assert_eq!(t!(block_on(server.read_future(READ_TIMEOUT_MS))), b"w");
        drop(writer.join().unwrap());
    });
}

#[test]
fn write_future_awaited_with_block_on_resolves_ok() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        assert_eq!(block_on(client.write_future(vec![3u8; 100_000])), Ok(()));
        assert_eq!(t!(read_at_least(&server, 100_000)), vec![3u8; 100_000]);
    });
}

#[test]
fn futures_can_be_awaited_inside_an_async_block() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let round_trip = async {
            client.write_future("marco").await?;
            let mut received = Vec::new();
            while received.len() < 5 {
                received.extend(server.read_future(READ_TIMEOUT_MS).await?);
            }
            server.write_future(&b"polo"[..]).await?;
            let mut answer = Vec::new();
            while answer.len() < 4 {
                answer.extend(client.read_future(READ_TIMEOUT_MS).await?);
            }
            Ok::<_, TcpErrData>((received, answer))
        };
        let (received, answer) = t!(block_on(round_trip));
        assert_eq!(received, b"marco");
        assert_eq!(answer, b"polo");
    });
}

#[test]
fn a_future_moves_to_another_thread_before_get() {
    bounded(10, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let future = client.write_future(&b"sent"[..]);
        let getter = thread::spawn(move || future.get());
        assert_eq!(getter.join().unwrap(), Ok(()));
        assert_eq!(t!(read_at_least(&server, 4)), b"sent");
    });
}
