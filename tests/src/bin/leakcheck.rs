//! A workout of the public API for valgrind's leak checker
//! (`cargo xtask valgrind` runs it): listen, connect, reads and writes of
//! every kind, drops in every order, resets, timeouts and a local task, on a
//! private loop that must end with every byte of memory freed.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use uvtcp::{IoTask, TcpErrData, TcpListener, connect, socket_buf};

fn main() -> Result<(), TcpErrData> {
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let threads_before = threads();
    {
        let io_task = IoTask::spawn()?;
        let listener = TcpListener::bind(localhost, 0, 16, &io_task).expect("bind");
        let port = listener.local_addr()?.port();

        // Blocking reads and writes, a timeout, EOF.
        let client = connect(localhost, port, &io_task).expect("connect");
        let server = listener.accept_timeout(10_000)?;
        client.write("hello")?;
        assert_eq!(server.read(10_000)?, b"hello");
        assert_eq!(server.read(20).unwrap_err().err_name, "ETIMEDOUT");
        client.shutdown()?;
        assert_eq!(server.read(10_000).unwrap_err().err_name, "EOF");

        // A read port, write futures dropped unresolved, the socket dropped
        // while writes are queued.
        let client = connect(localhost, port, &io_task).expect("connect");
        let server = listener.accept_timeout(10_000)?;
        let read_port = server.read_start()?;
        for _ in 0..100 {
            drop(client.write_future(vec![7u8; 1000]));
        }
        drop(client);
        let mut received = 0;
        for chunk in read_port {
            received += chunk?.len();
        }
        assert_eq!(received, 100_000);

        // A reset with writes pending, a pending read_future, buffered I/O.
        let client = connect(localhost, port, &io_task).expect("connect");
        let server = listener.accept_timeout(10_000)?;
        let pending_read = server.read_future(0);
        drop(client.write_future(vec![1u8; 1 << 20]));
        client.close_reset()?;
        let _ = pending_read.get();
        let mut buffered = socket_buf(server);
        let _ = std::io::Write::write_all(&mut buffered, b"late");
        drop(buffered);

        // A local task, an unaccepted connection, a listener dropped last.
        let echo = io_task.spawn_local(|| async { 2 + 2 });
        assert_eq!(echo.get(), 4);
        let _unaccepted = connect(localhost, port, &io_task).expect("connect");
        drop(listener);
    }
    // The loop thread exits once everything on it is gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    while threads() > threads_before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(threads() <= threads_before, "the loop thread did not exit");
    println!("leakcheck: done");
    Ok(())
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| tasks.count())
        .unwrap_or(0)
}
