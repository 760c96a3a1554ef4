//! A waker that panics when the loop wakes it (a faulty executor) must not
//! break the socket: the panic is contained where the loop wakes, and the
//! socket's reading, writing and timers go on for its other users.

use std::future::Future as _;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use uvtcp_tests::*;

/// Panics the first `panics` times it is woken.
struct FaultyWaker {
    panics: AtomicUsize,
}

impl Wake for FaultyWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let left = self.panics.load(Ordering::SeqCst);
        if left > 0 {
            self.panics.store(left - 1, Ordering::SeqCst);
            panic!("a faulty executor's waker");
        }
    }
}

/// Polls `future` with `waker` until it is ready, for at most 5 seconds.
fn poll_until_ready<F: std::future::Future>(future: F, waker: &Waker) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(waker);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        assert!(Instant::now() < deadline, "the future never became ready");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_port_keeps_reading_after_a_waker_panicked_in_the_read_callback() {
    bounded(20, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let waker = Waker::from(Arc::new(FaultyWaker {
            panics: AtomicUsize::new(1),
        }));
        let port = t!(server.read_start());
        let mut context = Context::from_waker(&waker);
        let mut first = pin!(port.recv_async());
        assert!(first.as_mut().poll(&mut context).is_pending());
        t!(client.write("first"));
        assert_eq!(poll_until_ready(first, &waker), Ok(b"first".to_vec()));
        t!(client.write("later"));
        assert_eq!(
            port.recv_timeout(Duration::from_secs(5)),
            Ok(b"later".to_vec())
        );
    });
}

#[test]
fn writes_flushes_and_sleeps_go_on_after_their_waker_panicked() {
    bounded(20, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        server.set_write_buffer_limit(64 * 1024);
        let waker = Waker::from(Arc::new(FaultyWaker {
            panics: AtomicUsize::new(3),
        }));
        // Held by the limit until the peer reads: the completion of the big
        // write wakes the faulty waker from the loop's write callback.
        let big = server.write_future(pattern(8 << 20, 1));
        let after = server.write_future("after");
        let flushed = server.flush_future();
        let reader = std::thread::spawn(move || read_at_least(&client, (8 << 20) + 5));
        assert_eq!(poll_until_ready(big, &waker), Ok(()));
        assert_eq!(poll_until_ready(after, &waker), Ok(()));
        assert_eq!(poll_until_ready(flushed, &waker), Ok(()));
        let received = t!(reader.join().unwrap());
        assert_eq!(&received[8 << 20..], b"after");
        poll_until_ready(iotask.sleep(Duration::from_millis(5)), &waker);
        // The loop still serves other sockets.
        let (other_client, other_server) = connected_pair(&iotask);
        t!(other_client.write("still fine"));
        assert_eq!(t!(read_at_least(&other_server, 10)), b"still fine");
    });
}
