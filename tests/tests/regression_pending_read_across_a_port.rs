//! A one-shot read pending while a read port comes and goes gets what the
//! port leaves: a read issued just before `read_start` waits (it is not
//! refused with `EALREADY`, since no port was active when it was issued), and
//! a read pending when the port saw the end of the stream gets that end once
//! the port is stopped.

use std::thread;
use std::time::Duration;

use uvtcp_tests::*;

#[test]
fn a_read_issued_just_before_read_start_waits_behind_the_port() {
    bounded(20, || {
        let iotask = new_iotask();
        for _ in 0..50 {
            let (client, server) = connected_pair(&iotask);
            let pending = server.read_future(0);
            let port = t!(server.read_start());
            thread::sleep(Duration::from_millis(2));
            t!(server.read_stop(port));
            t!(client.write("x"));
            assert_eq!(pending.get(), Ok(b"x".to_vec()));
        }
    });
}

#[test]
fn a_read_pending_when_the_port_saw_eof_gets_eof_after_read_stop() {
    bounded(20, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let pending = server.read_future(0);
        thread::sleep(Duration::from_millis(50));
        let port = t!(server.read_start());
        t!(client.write("all"));
        t!(client.shutdown());
        assert_eq!(
            port.recv_timeout(Duration::from_secs(5)),
            Ok(b"all".to_vec())
        );
        assert!(
            port.recv_timeout(Duration::from_secs(5))
                .unwrap_err()
                .is_eof()
        );
        t!(server.read_stop(port));
        assert!(pending.get().unwrap_err().is_eof());
    });
}
