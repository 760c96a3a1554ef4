//! The async I/O traits (`tokio` and `futures-io` features) and
//! `IoTask::sleep`, on tokio, on `futures::executor` and in local tasks:
//! partial reads, EOF, write backpressure without blocking, flush and
//! shutdown, over real loopback sockets.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uvtcp::{IoTask, TcpSocket};
use uvtcp_tests::{Checksum, READ_TIMEOUT_MS, bounded, connected_pair, new_iotask, pattern};

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

#[test]
fn a_partial_read_leaves_the_rest_for_any_other_read() {
    bounded(20, || {
        let io_task = new_iotask();
        let (client, server) = connected_pair(&io_task);
        client.write("hello world").unwrap();
        let mut first = [0u8; 5];
        let count = current_thread()
            .block_on(async { AsyncReadExt::read(&mut &server, &mut first).await.unwrap() });
        assert_eq!(&first[..count], &b"hello world"[..count]);
        // The rest comes first to a plain read, then to a port.
        let rest = server.read(READ_TIMEOUT_MS).unwrap();
        assert_eq!([&first[..count], &rest[..]].concat(), b"hello world");
        client.write("next").unwrap();
        let port = server.read_start().unwrap();
        assert_eq!(port.recv_timeout(Duration::from_secs(5)).unwrap(), b"next");
    });
}

#[test]
fn tokio_echo_of_eight_mib_with_checksums_and_eof() {
    bounded(60, || {
        let io_task = new_iotask();
        let (client, server) = connected_pair(&io_task);
        let data = pattern(8 << 20, 7);
        let expected = Checksum::of(&data);
        let runtime = current_thread();
        let received = runtime.block_on(async move {
            let echo = tokio::spawn(async move {
                let mut server = server;
                let mut buffer = vec![0u8; 100_000];
                loop {
                    let count = AsyncReadExt::read(&mut server, &mut buffer).await.unwrap();
                    if count == 0 {
                        break;
                    }
                    server.write_all(&buffer[..count]).await.unwrap();
                }
                AsyncWriteExt::shutdown(&mut server).await.unwrap();
                // EOF repeats.
                assert_eq!(
                    AsyncReadExt::read(&mut server, &mut buffer).await.unwrap(),
                    0
                );
            });
            let (mut reader, mut writer) = tokio::io::split(client);
            let sender = tokio::spawn(async move {
                writer.write_all(&data).await.unwrap();
                AsyncWriteExt::shutdown(&mut writer).await.unwrap();
            });
            let mut received = Vec::new();
            reader.read_to_end(&mut received).await.unwrap();
            sender.await.unwrap();
            echo.await.unwrap();
            received
        });
        assert_eq!(Checksum::of(&received), expected);
    });
}

#[test]
fn poll_write_is_pending_above_the_limit_and_never_blocks_the_runtime() {
    bounded(60, || {
        let io_task = new_iotask();
        let (client, server) = connected_pair(&io_task);
        client.set_write_buffer_limit(64 * 1024);
        let data = pattern(16 << 20, 3);
        let expected = Checksum::of(&data);
        let ticks = Arc::new(AtomicUsize::new(0));
        let runtime = current_thread();
        runtime.block_on(async {
            let counter = Arc::clone(&ticks);
            let ticker = tokio::spawn(async move {
                for _ in 0..20 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            });
            let writer = tokio::spawn(async move {
                let mut client = client;
                client.write_all(&data).await.unwrap();
                AsyncWriteExt::flush(&mut client).await.unwrap();
                client
            });
            // The peer does not read yet: the writer waits, the runtime runs on.
            ticker.await.unwrap();
            assert_eq!(ticks.load(Ordering::Relaxed), 20);
            assert!(!writer.is_finished());
            let mut server = server;
            let mut received = vec![0u8; 16 << 20];
            server.read_exact(&mut received).await.unwrap();
            assert_eq!(Checksum::of(&received), expected);
            let client = writer.await.unwrap();
            assert_eq!(client.write_queue_size(), 0);
        });
    });
}

#[test]
fn shutdown_sends_fin_and_the_socket_still_reads() {
    bounded(20, || {
        let io_task = new_iotask();
        let (client, server) = connected_pair(&io_task);
        current_thread().block_on(async move {
            let mut client = client;
            client.write_all(b"request").await.unwrap();
            AsyncWriteExt::shutdown(&mut client).await.unwrap();
            assert_eq!(uvtcp_tests::read_to_eof(&server).unwrap(), b"request");
            server.write("response").unwrap();
            drop(server);
            let mut reply = Vec::new();
            client.read_to_end(&mut reply).await.unwrap();
            assert_eq!(reply, b"response");
        });
    });
}

#[test]
fn flush_reports_a_failed_write() {
    bounded(20, || {
        let io_task = new_iotask();
        let (client, server) = connected_pair(&io_task);
        server.close_reset().unwrap();
        current_thread().block_on(async move {
            let mut client = client;
            // Writes go until the reset is seen; then write or flush fails.
            let chunk = vec![0u8; 64 * 1024];
            let mut failed = false;
            for _ in 0..1000 {
                let outcome = match client.write_all(&chunk).await {
                    Ok(()) => AsyncWriteExt::flush(&mut client).await,
                    Err(error) => Err(error),
                };
                if let Err(error) = outcome {
                    assert!(
                        matches!(
                            error.kind(),
                            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                        ),
                        "{error}"
                    );
                    failed = true;
                    break;
                }
            }
            assert!(failed, "writes to a reset peer kept succeeding");
        });
    });
}

#[test]
fn futures_io_copy_on_futures_executor() {
    bounded(30, || {
        let io_task = new_iotask();
        let (client, server) = connected_pair(&io_task);
        let data = pattern(4 << 20, 11);
        let expected = Checksum::of(&data);
        let reader = std::thread::spawn(move || {
            futures::executor::block_on(async move {
                let mut server = server;
                let mut received = Vec::new();
                futures::io::AsyncReadExt::read_to_end(&mut server, &mut received)
                    .await
                    .unwrap();
                received
            })
        });
        futures::executor::block_on(async move {
            let mut client = client;
            futures::io::AsyncWriteExt::write_all(&mut client, &data)
                .await
                .unwrap();
            futures::io::AsyncWriteExt::close(&mut client)
                .await
                .unwrap();
            drop(client);
        });
        assert_eq!(Checksum::of(&reader.join().unwrap()), expected);
    });
}

#[test]
fn the_traits_work_in_local_tasks() {
    bounded(30, || {
        let io_task = new_iotask();
        let (client, server) = connected_pair(&io_task);
        let data = pattern(2 << 20, 5);
        let expected = Checksum::of(&data);
        let echo = io_task.spawn_local(move || async move {
            let mut server = server;
            let mut buffer = vec![0u8; 10_000];
            loop {
                let count = AsyncReadExt::read(&mut server, &mut buffer).await.unwrap();
                if count == 0 {
                    break;
                }
                server.write_all(&buffer[..count]).await.unwrap();
            }
            AsyncWriteExt::shutdown(&mut server).await.unwrap();
        });
        let sender = std::thread::spawn(move || {
            let mut received = Vec::new();
            let reader = std::thread::scope(|scope| {
                scope.spawn(|| {
                    for piece in data.chunks(100_000) {
                        client.write(piece.to_vec()).unwrap();
                    }
                    client.shutdown().unwrap();
                });
                uvtcp_tests::read_to_eof(&client).unwrap()
            });
            received.extend(reader);
            received
        });
        let received = sender.join().unwrap();
        echo.get();
        assert_eq!(Checksum::of(&received), expected);
    });
}

#[test]
fn sleep_never_fires_early_and_works_everywhere() {
    bounded(30, || {
        let io_task = new_iotask();
        for millis in [0u64, 1, 2, 5, 13, 30] {
            let duration = Duration::from_millis(millis);
            let start = Instant::now();
            io_task.sleep(duration).get();
            assert!(start.elapsed() >= duration, "{millis} ms fired early");
        }
        // Awaited on tokio.
        let sleeper = io_task.clone();
        current_thread().block_on(async move {
            let start = Instant::now();
            sleeper.sleep(Duration::from_millis(10)).await;
            assert!(start.elapsed() >= Duration::from_millis(10));
        });
        // In a local task, many at once.
        let timer = io_task.clone();
        let order = io_task
            .spawn_local(move || async move {
                let start = Instant::now();
                let long = timer.sleep(Duration::from_millis(30));
                let short = timer.sleep(Duration::from_millis(10));
                short.await;
                let after_short = start.elapsed();
                long.await;
                (after_short, start.elapsed())
            })
            .get();
        assert!(order.0 >= Duration::from_millis(10));
        assert!(order.1 >= Duration::from_millis(30));
    });
}

#[test]
fn a_dropped_sleep_is_cancelled_and_does_not_keep_the_loop() {
    bounded(30, || {
        let io_task = IoTask::spawn().unwrap();
        let long = io_task.sleep(Duration::from_secs(3600));
        assert!(!long.is_ready());
        drop(long);
        // The loop thread exits promptly once its IoTask is gone.
        let probe = io_task.sleep(Duration::from_millis(1));
        probe.get();
        let threads_before = thread_count();
        drop(io_task);
        let deadline = Instant::now() + Duration::from_secs(10);
        while thread_count() >= threads_before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            thread_count() < threads_before,
            "the loop thread did not exit"
        );
    });
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

#[allow(dead_code)]
fn assert_traits() {
    fn tokio_io<T: tokio::io::AsyncRead + tokio::io::AsyncWrite>() {}
    fn futures_io<T: futures::io::AsyncRead + futures::io::AsyncWrite>() {}
    tokio_io::<TcpSocket>();
    tokio_io::<&TcpSocket>();
    futures_io::<TcpSocket>();
    futures_io::<&TcpSocket>();
}
