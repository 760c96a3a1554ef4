//! The RESP client of `uvtcp/examples/redis_client.rs` against a real
//! `redis-server`: binary values up to 1 MiB byte for byte, 1000 pipelined
//! PINGs in order, and a clear error, never a hang, when the server is
//! killed or stops answering in the middle of a request.

// The example's `main` and demo run only in the example program.
#[allow(dead_code)]
#[path = "../../uvtcp/examples/redis_client.rs"]
mod redis_client;

use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use redis_client::redis::{Client, Error, Value};
use uvtcp::{IoTask, TcpConnectErrData};
use uvtcp_tests::programs::{Program, example_binary, require_program};
use uvtcp_tests::{bounded, free_port, localhost_v4, pattern, t};

/// How long the client waits for a reply before giving up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How soon a call must fail once the server is gone: far below
/// `REPLY_TIMEOUT`, so the error comes from the lost connection.
const PROMPT: Duration = Duration::from_secs(2);

/// Starts `redis-server` on a free loopback port, with no persistence;
/// returns it (stopped by its PID when dropped) and its port.
fn start_redis() -> (Program, u16) {
    require_program("redis-server", "redis-server");
    let directory = std::env::temp_dir();
    let mut failures = Vec::new();
    // The free port can be taken by someone else before the server binds it.
    for _ in 0..3 {
        let port = free_port(localhost_v4());
        let server = Program::start(
            Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&directory),
        );
        match server.find_line("Ready to accept connections", Duration::from_secs(10)) {
            Ok(_) => return (server, port),
            Err(lines) => failures.push(lines),
        }
    }
    panic!("redis-server did not start: {failures:?}");
}

fn connect(io_task: &IoTask, port: u16) -> Client {
    t!(Client::connect("127.0.0.1", port, io_task, REPLY_TIMEOUT))
}

/// Asserts that `outcome` is a lost connection, which reads clearly.
fn assert_connection_lost<T: std::fmt::Debug>(outcome: Result<T, Error>) {
    match outcome {
        Err(error @ Error::ConnectionLost(_)) => {
            let message = error.to_string();
            assert!(
                message.starts_with("the connection to the server was lost: "),
                "{message}"
            );
            let Error::ConnectionLost(cause) = error else {
                unreachable!()
            };
            assert!(
                ["EOF", "ECONNRESET", "EPIPE"].contains(&cause.err_name.as_str()),
                "{cause:?}"
            );
        }
        other => panic!("expected a lost connection, got {other:?}"),
    }
}

#[test]
fn binary_values_up_to_one_mebibyte_come_back_byte_for_byte() {
    let (_server, port) = start_redis();
    bounded(30, move || {
        let io_task = t!(IoTask::spawn());
        let mut client = connect(&io_task, port);
        let every_byte: Vec<u8> = (0..=255).collect();
        // Bytes that look like RESP inside a value must not confuse the parser.
        let lookalike = b"\r\n$-1\r\n*2\r\n+OK\r\n-ERR\r\n:1\r\n".repeat(41_000);
        let values: Vec<Vec<u8>> = vec![
            Vec::new(),
            every_byte.clone(),
            every_byte
                .iter()
                .rev()
                .cycle()
                .take(70_000)
                .copied()
                .collect(),
            pattern(1 << 20, 1),
            lookalike[..1 << 20].to_vec(),
        ];
        for (index, value) in values.iter().enumerate() {
            let mut key = every_byte.clone();
            key.push(index as u8);
            t!(client.set(&key, value));
            let stored = t!(client.get(&key)).expect("the key was just set");
            assert_eq!(stored.len(), value.len(), "value {index}");
            if let Some(at) = stored.iter().zip(value).position(|(a, b)| a != b) {
                panic!("value {index} differs at byte {at}");
            }
        }
        assert_eq!(t!(client.get(b"uvtcp:test:missing")), None);

        // The same through one pipeline, replies in order.
        let keys: Vec<Vec<u8>> = (0..values.len())
            .map(|index| vec![0, 255, index as u8])
            .collect();
        let mut commands: Vec<Vec<&[u8]>> = Vec::new();
        for (key, value) in keys.iter().zip(&values) {
            commands.push(vec![b"SET", key, value]);
        }
        for key in &keys {
            commands.push(vec![b"GET", key]);
        }
        let commands: Vec<&[&[u8]]> = commands.iter().map(Vec::as_slice).collect();
        let replies = t!(client.pipeline(&commands));
        let (set_replies, get_replies) = replies.split_at(values.len());
        assert!(
            set_replies
                .iter()
                .all(|reply| *reply == Value::Simple("OK".into()))
        );
        for (index, (reply, value)) in get_replies.iter().zip(&values).enumerate() {
            assert!(
                *reply == Value::Bulk(value.clone()),
                "pipelined value {index} differs"
            );
        }
    });
}

#[test]
fn a_thousand_pipelined_pings_are_answered_in_order() {
    let (_server, port) = start_redis();
    bounded(30, move || {
        let io_task = t!(IoTask::spawn());
        let mut client = connect(&io_task, port);
        let ping: &[&[u8]] = &[b"PING"];
        let replies = t!(client.pipeline(&vec![ping; 1000]));
        assert_eq!(replies, vec![Value::Simple("PONG".into()); 1000]);

        // `PING message` answers the message, which shows the order.
        let messages: Vec<Vec<u8>> = (0..1000)
            .map(|index| format!("ping {index}").into_bytes())
            .collect();
        let commands: Vec<[&[u8]; 2]> = messages
            .iter()
            .map(|message| [b"PING".as_slice(), message])
            .collect();
        let commands: Vec<&[&[u8]]> = commands.iter().map(|command| command.as_slice()).collect();
        let replies = t!(client.pipeline(&commands));
        let expected: Vec<Value> = messages.into_iter().map(Value::Bulk).collect();
        assert_eq!(replies, expected);

        // An error reply in a pipeline does not hide the others.
        let unknown: &[&[u8]] = &[b"NO-SUCH-COMMAND"];
        let replies = t!(client.pipeline(&[ping, unknown, ping]));
        assert!(matches!(&replies[1], Value::Error(message) if message.starts_with("ERR")));
        assert_eq!(replies[0], replies[2]);
        assert!(matches!(client.command(unknown), Err(Error::Server(_))));
        t!(client.ping());
    });
}

#[test]
fn killing_the_server_while_a_reply_is_due_fails_the_call_at_once() {
    let (server, port) = start_redis();
    let process = server.process();
    bounded(30, move || {
        let io_task = t!(IoTask::spawn());
        let mut waiting = connect(&io_task, port);
        let mut observer = connect(&io_task, port);
        let (outcome_sender, outcome) = mpsc::channel();
        let waiter = thread::spawn(move || {
            // Waits for an item that never comes: the server owes a reply.
            let result = waiting.command(&[b"BLPOP", b"uvtcp:test:never", b"0"]);
            outcome_sender.send((result, Instant::now())).unwrap();
            waiting
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let info = t!(observer.command(&[b"INFO", b"clients"]));
            let Value::Bulk(info) = info else {
                panic!("INFO answered {info:?}")
            };
            if String::from_utf8_lossy(&info).contains("blocked_clients:1") {
                break;
            }
            assert!(Instant::now() < deadline, "BLPOP never blocked");
            thread::sleep(Duration::from_millis(10));
        }

        process.kill();
        let killed = Instant::now();
        let (result, failed) = outcome
            .recv_timeout(PROMPT)
            .expect("the call did not fail within 2 s of the kill");
        assert!(failed - killed < PROMPT);
        assert_connection_lost(result);

        // Later calls fail at once with the same error; reconnecting is refused.
        let mut waiting = waiter.join().unwrap();
        assert_connection_lost(waiting.ping());
        assert_connection_lost(observer.ping());
        match Client::connect("127.0.0.1", port, &io_task, REPLY_TIMEOUT) {
            Err(error @ Error::Connect(_, TcpConnectErrData::ConnectionRefused)) => {
                assert!(
                    error
                        .to_string()
                        .starts_with("cannot connect to 127.0.0.1:")
                );
            }
            other => panic!("expected a refused connection, got {other:?}"),
        }
    });
}

#[test]
fn killing_the_server_in_the_middle_of_a_large_request_fails_the_call_at_once() {
    let (server, port) = start_redis();
    let process = server.process();
    bounded(30, move || {
        let io_task = t!(IoTask::spawn());
        let mut client = connect(&io_task, port);
        t!(client.ping());
        // A stopped server reads nothing, so the request below stays in
        // flight: more than the kernel's socket buffers hold.
        process.signal("STOP");
        let value = pattern(1 << 20, 2);
        let (outcome_sender, outcome) = mpsc::channel();
        thread::spawn(move || {
            let keys: Vec<Vec<u8>> = (0..32)
                .map(|index| format!("uvtcp:test:{index}").into_bytes())
                .collect();
            let commands: Vec<[&[u8]; 3]> = keys
                .iter()
                .map(|key| [b"SET".as_slice(), key, &value])
                .collect();
            let commands: Vec<&[&[u8]]> =
                commands.iter().map(|command| command.as_slice()).collect();
            outcome_sender.send(client.pipeline(&commands)).unwrap();
        });
        assert!(
            outcome.recv_timeout(Duration::from_millis(300)).is_err(),
            "the pipeline finished although the server was stopped"
        );

        process.kill();
        let result = outcome
            .recv_timeout(PROMPT)
            .expect("the call did not fail within 2 s of the kill");
        assert_connection_lost(result);
    });
}

#[test]
fn a_server_that_stops_answering_gives_a_timeout() {
    let (server, port) = start_redis();
    let process = server.process();
    bounded(30, move || {
        let io_task = t!(IoTask::spawn());
        let timeout = Duration::from_millis(300);
        let mut client = t!(Client::connect("127.0.0.1", port, &io_task, timeout));
        t!(client.ping());
        process.signal("STOP");
        let started = Instant::now();
        let error = client.ping().unwrap_err();
        let waited = started.elapsed();
        assert_eq!(error, Error::TimedOut(timeout));
        assert_eq!(error.to_string(), "the server did not answer within 300ms");
        assert!(waited >= timeout && waited < timeout + PROMPT, "{waited:?}");
        // A late reply could no longer be matched to its command.
        process.signal("CONT");
        assert_eq!(client.ping(), Err(Error::TimedOut(timeout)));
    });
}

#[test]
fn the_example_program_runs_its_demo() {
    let (server, port) = start_redis();
    let demo = Program::start(
        Command::new(example_binary("redis_client")).args(["--port", &port.to_string()]),
    );
    let process = demo.process();
    bounded(30, move || {
        process.expect_line("PING -> PONG", Duration::from_secs(10));
        process.expect_line(
            "GET uvtcp:demo:greeting -> \"hello from uvtcp\"",
            Duration::from_secs(10),
        );
        process.expect_line(
            "pipelined INCR, INCR, DEL -> [Integer(1), Integer(2), Integer(2)]",
            Duration::from_secs(10),
        );
        process.expect_line(
            "NO-SUCH-COMMAND -> Err(Server(\"ERR unknown command",
            Duration::from_secs(10),
        );
        let status = process.wait_for_exit(Duration::from_secs(10));
        assert!(status.is_some_and(|status| status.success()), "{status:?}");
    });
    // Nobody listens on the port any more: one clear line, exit status 1.
    drop(server);
    let refused = Program::start(
        Command::new(example_binary("redis_client")).args(["--port", &port.to_string()]),
    );
    let process = refused.process();
    bounded(30, move || {
        let status = process.wait_for_exit(Duration::from_secs(10));
        assert_eq!(status.and_then(|status| status.code()), Some(1));
        assert_eq!(
            process.stderr(),
            format!(
                "redis_client: cannot connect to 127.0.0.1:{port}: ECONNREFUSED: connection refused\n"
            )
        );
    });
}
