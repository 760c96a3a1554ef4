//! Writes that the kernel takes whole, in part, or not at all: a write goes
//! to the kernel first and only its remainder is queued, yet every byte
//! arrives once and in order, `write_queue_size` counts exactly what is not
//! in the kernel, and writes from several threads and local tasks are never
//! interleaved within a write.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use uvtcp::*;
use uvtcp_tests::*;

const MIB: usize = 1 << 20;

/// More than the kernel holds for a peer that does not read.
const BIG: usize = 16 * MIB;

/// The sizes of the writes that together send 32 MiB: two small ones the
/// kernel takes whole, a big one it takes in part, and the rest, which wait
/// in the socket's queue.
fn write_sizes() -> Vec<usize> {
    let mut sizes = vec![1024, 16 * 1024, BIG];
    let mut rest = 32 * MIB - sizes.iter().sum::<usize>();
    for size in [3 * MIB, 5 * MIB + 17, MIB - 1] {
        sizes.push(size);
        rest -= size;
    }
    sizes.push(rest);
    sizes
}

/// `payload` cut into consecutive writes of `sizes`.
fn cut(payload: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut offset = 0;
    sizes
        .iter()
        .map(|&size| {
            let piece = payload[offset..offset + size].to_vec();
            offset += size;
            piece
        })
        .collect()
}

/// What a local task saw while it queued its writes on the socket's loop.
#[derive(Debug)]
struct Queued {
    /// Per write: whether its future was ready when `write_future` returned.
    ready_at_once: Vec<bool>,
    /// `write_queue_size` after each write.
    queue_sizes: Vec<usize>,
    futures: Vec<Future<Result<(), TcpErrData>>>,
}

/// Queues `writes` on `sock` from a local task on its own loop.
fn queue_on_loop(iotask: &IoTask, sock: Arc<TcpSocket>, writes: Vec<Vec<u8>>) -> Queued {
    iotask
        .spawn_local(move || async move {
            let mut queued = Queued {
                ready_at_once: Vec::new(),
                queue_sizes: Vec::new(),
                futures: Vec::new(),
            };
            for write in writes {
                let future = sock.write_future(write);
                queued.ready_at_once.push(future.is_ready());
                queued.queue_sizes.push(sock.write_queue_size());
                queued.futures.push(future);
            }
            queued
        })
        .get()
}

/// The write queue sizes expected after writes of `sizes` that all wait
/// whole behind `queued` bytes.
fn counted_whole(queued: usize, sizes: &[usize]) -> Vec<usize> {
    sizes
        .iter()
        .scan(queued, |queue, size| {
            *queue += size;
            Some(*queue)
        })
        .collect()
}

/// Reads `sock` until `n_bytes` bytes have arrived; their checksum.
fn checksum_of_next(sock: &TcpSocket, n_bytes: usize) -> Checksum {
    let mut received = Checksum::new();
    while received.n_bytes() < n_bytes as u64 {
        received.update(&t!(sock.read(READ_TIMEOUT_MS)));
    }
    received
}

#[test]
fn a_32_mib_burst_to_a_peer_that_does_not_read_arrives_whole_and_in_order() {
    bounded(60, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let server = Arc::new(server);
        let sizes = write_sizes();
        let payload = pattern(32 * MIB, 31);
        let expected = Checksum::of(&payload);
        // The client does not read yet, so the kernel's buffers fill up.
        let queued = queue_on_loop(&iotask, Arc::clone(&server), cut(&payload, &sizes));
        drop(payload);

        // The two small writes went to the kernel whole, with nothing queued.
        assert_eq!(queued.ready_at_once[..2], [true, true]);
        assert_eq!(queued.queue_sizes[..2], [0, 0]);
        // The kernel took part of the big write; the rest is queued.
        assert!(
            !queued.ready_at_once[2],
            "the kernel took {BIG} bytes whole"
        );
        let rest_of_big = queued.queue_sizes[2];
        assert!(
            rest_of_big > 0 && rest_of_big < BIG,
            "{rest_of_big} bytes of the big write are queued: it was not taken in part"
        );
        // Behind it, every later write waits whole and is counted whole.
        assert!(
            queued.ready_at_once[3..].iter().all(|ready| !ready),
            "a write jumped the queue"
        );
        assert_eq!(
            queued.queue_sizes[3..],
            counted_whole(rest_of_big, &sizes[3..])
        );

        assert_eq!(checksum_of_next(&client, 32 * MIB), expected);
        for (index, future) in queued.futures.into_iter().enumerate() {
            assert_eq!(future.get(), Ok(()), "write {index}");
        }
        assert_eq!(server.write_queue_size(), 0);
        drop(server);
        assert_eq!(t!(read_to_eof(&client)), Vec::<u8>::new());
    });
}

#[test]
fn a_32_mib_burst_from_another_thread_arrives_whole_and_in_order() {
    bounded(60, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let sizes = write_sizes();
        let payload = pattern(32 * MIB, 32);
        let expected = Checksum::of(&payload);
        let futures: Vec<_> = cut(&payload, &sizes)
            .into_iter()
            .map(|write| server.write_future(write))
            .collect();
        drop(payload);
        let queued = server.write_queue_size();
        assert!(
            queued > 0 && queued <= 32 * MIB,
            "write_queue_size {queued} with 32 MiB written to a peer that does not read"
        );
        assert_eq!(checksum_of_next(&client, 32 * MIB), expected);
        for (index, future) in futures.into_iter().enumerate() {
            assert_eq!(future.get(), Ok(()), "write {index}");
        }
        assert_eq!(server.write_queue_size(), 0);
    });
}

#[test]
fn writes_held_above_the_write_limit_go_out_in_order() {
    bounded(60, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        server.set_write_buffer_limit(MIB);
        let server = Arc::new(server);
        let mut sizes = vec![BIG];
        sizes.extend([2 * MIB; 8]);
        let payload = pattern(32 * MIB, 33);
        let expected = Checksum::of(&payload);
        let queued = queue_on_loop(&iotask, Arc::clone(&server), cut(&payload, &sizes));
        drop(payload);
        // The first write exceeds the limit but goes alone, in part to the
        // kernel; the others are held back, each counted as queued.
        assert!(queued.ready_at_once.iter().all(|ready| !ready));
        assert!(queued.queue_sizes[0] < BIG);
        assert_eq!(
            queued.queue_sizes[1..],
            counted_whole(queued.queue_sizes[0], &sizes[1..])
        );
        assert_eq!(checksum_of_next(&client, 32 * MIB), expected);
        for (index, future) in queued.futures.into_iter().enumerate() {
            assert_eq!(future.get(), Ok(()), "write {index}");
        }
        assert_eq!(server.write_queue_size(), 0);
    });
}

/// Sizes from 1 byte to 1 MiB, mixed, adding up to about `total`.
fn mixed_sizes(total: usize, seed: u64) -> Vec<usize> {
    let randomness = pattern(4096, seed);
    let mut sizes = Vec::new();
    let mut sum = 0;
    for (index, pair) in randomness.chunks(2).enumerate() {
        if sum >= total {
            break;
        }
        let roll = usize::from(u16::from_le_bytes([pair[0], pair[1]]));
        let size = match index % 4 {
            0 => 1 + roll % 16,
            1 => 1 + roll % 4096,
            2 => 1 + (roll * 16) % (256 * 1024),
            _ => 1 + (roll * 16) % MIB,
        };
        sizes.push(size);
        sum += size;
    }
    sizes
}

#[test]
fn small_and_large_writes_interleaved_keep_their_order() {
    bounded(60, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let server = Arc::new(server);
        // The peer reads while the writes go out, so the kernel takes some
        // whole, some in part, and some not at all.
        let peer = thread::spawn(move || t!(read_to_eof(&client)));

        let from_thread = {
            let sizes = mixed_sizes(12 * MIB, 41);
            let payload = pattern(sizes.iter().sum(), 42);
            for (index, write) in cut(&payload, &sizes).into_iter().enumerate() {
                if index % 3 == 0 {
                    t!(server.write(write));
                } else {
                    drop(server.write_future(write));
                }
            }
            payload
        };
        let from_task = {
            let sizes = mixed_sizes(12 * MIB, 43);
            let payload = pattern(sizes.iter().sum(), 44);
            let writes = cut(&payload, &sizes);
            let sock = Arc::clone(&server);
            iotask
                .spawn_local(move || async move {
                    for (index, write) in writes.into_iter().enumerate() {
                        let future = sock.write_future(write);
                        if index % 5 == 0 {
                            t!(future.await);
                        }
                    }
                })
                .get();
            payload
        };
        drop(server);
        let received = peer.join().unwrap();
        assert_eq!(received.len(), from_thread.len() + from_task.len());
        let (first, second) = received.split_at(from_thread.len());
        assert!(
            first == from_thread,
            "the thread's writes arrived out of order"
        );
        assert!(
            second == from_task,
            "the task's writes arrived out of order"
        );
    });
}

/// A record: `#`, the writer's letter, its sequence number (u16), the body
/// length (u32), then the body, all the letter.
fn record(letter: u8, sequence: u16, length: usize) -> Vec<u8> {
    let mut bytes = vec![b'#', letter];
    bytes.extend_from_slice(&sequence.to_le_bytes());
    bytes.extend_from_slice(&u32::try_from(length).unwrap().to_le_bytes());
    bytes.resize(8 + length, letter);
    bytes
}

/// Splits `stream` into records, failing where two writes are mixed;
/// returns the sequence numbers seen per letter.
fn parse_records(stream: &[u8]) -> HashMap<u8, Vec<u16>> {
    let mut seen: HashMap<u8, Vec<u16>> = HashMap::new();
    let mut offset = 0;
    while offset < stream.len() {
        let header = &stream[offset..offset + 8];
        assert_eq!(header[0], b'#', "no record starts at byte {offset}");
        let letter = header[1];
        let sequence = u16::from_le_bytes([header[2], header[3]]);
        let length = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let body = &stream[offset + 8..offset + 8 + length];
        assert!(
            body.iter().all(|&byte| byte == letter),
            "record {sequence} of writer {} at byte {offset} mixes in another write",
            letter as char
        );
        seen.entry(letter).or_default().push(sequence);
        offset += 8 + length;
    }
    seen
}

#[test]
fn writes_from_several_threads_and_a_task_are_never_interleaved() {
    bounded(60, || {
        const RECORDS: u16 = 120;
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        let server = Arc::new(server);
        let peer = thread::spawn(move || t!(read_to_eof(&client)));
        let length_of = |writer: usize, sequence: u16| {
            let sizes = [7, 1500, 64 * 1024, 300 * 1024];
            sizes[(writer + usize::from(sequence)) % sizes.len()]
        };
        let threads: Vec<_> = (0..4)
            .map(|writer| {
                let server = Arc::clone(&server);
                let letter = b'A' + writer as u8;
                thread::spawn(move || {
                    for sequence in 0..RECORDS {
                        let bytes = record(letter, sequence, length_of(writer, sequence));
                        if sequence % 2 == 0 {
                            t!(server.write(bytes));
                        } else {
                            drop(server.write_future(bytes));
                        }
                    }
                })
            })
            .collect();
        let sock = Arc::clone(&server);
        let task = iotask.spawn_local(move || async move {
            for sequence in 0..RECORDS {
                let future = sock.write_future(record(b'T', sequence, length_of(4, sequence)));
                if sequence % 3 == 0 {
                    t!(future.await);
                }
            }
        });
        for writer in threads {
            writer.join().unwrap();
        }
        task.get();
        match Arc::try_unwrap(server) {
            Ok(server) => drop(server),
            Err(_) => panic!("a writer kept the socket"),
        }
        let seen = parse_records(&peer.join().unwrap());
        let in_order: Vec<u16> = (0..RECORDS).collect();
        for letter in [b'A', b'B', b'C', b'D', b'T'] {
            assert_eq!(
                seen.get(&letter),
                Some(&in_order),
                "the records of writer {}",
                letter as char
            );
        }
    });
}

/// Whether `future` is ready within `limit` (checked every millisecond).
fn ready_within<T>(future: &Future<T>, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while !future.is_ready() {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    true
}

#[test]
fn a_flush_behind_held_writes_resolves_once_they_are_out() {
    bounded(60, || {
        let iotask = new_iotask();
        let (client, server) = connected_pair(&iotask);
        server.set_write_buffer_limit(MIB);
        let payload = pattern(BIG + 1024, 51);
        let expected = Checksum::of(&payload);
        let big = server.write_future(&payload[..BIG]);
        // Held behind the big write; once it is out, the kernel takes this
        // one whole.
        let small = server.write_future(&payload[BIG..]);
        let flush = server.flush_future();
        assert!(
            !flush.is_ready(),
            "a flush was ready before the peer read anything"
        );
        assert_eq!(checksum_of_next(&client, BIG + 1024), expected);
        assert_eq!(big.get(), Ok(()));
        assert_eq!(small.get(), Ok(()));
        assert_eq!(server.write_queue_size(), 0);
        assert!(
            ready_within(&flush, Duration::from_secs(5)),
            "the flush is still pending with every write it waits for done"
        );
        assert_eq!(flush.get(), Ok(()));
    });
}
