//! `uvtcp/examples/chat.rs` driven by three real `nc` clients: every line
//! one member sends reaches the other two, and only them.

use std::process::Command;
use std::time::Duration;

use uvtcp_tests::programs::{Process, Program, example_binary, require_program};
use uvtcp_tests::{bounded, free_port, localhost_v4};

const WAIT: Duration = Duration::from_secs(10);

/// Starts the chat example on a free loopback port; returns it (stopped by
/// its PID when dropped) and the port.
fn start_chat() -> (Program, u16) {
    let mut failures = Vec::new();
    // `listen` cannot report the port it got for port 0, so the test picks
    // one, which someone else could take before the server binds it.
    for _ in 0..3 {
        let port = free_port(localhost_v4());
        let chat = Program::start(
            Command::new(example_binary("chat")).args(["127.0.0.1", &port.to_string()]),
        );
        match chat.find_line("chat room open on", WAIT) {
            Ok(_) => return (chat, port),
            Err(lines) => failures.push((lines, chat.stderr())),
        }
    }
    panic!("the chat example did not start: {failures:?}");
}

/// Joins the room with `nc` and returns it with its member number, once
/// every member already present has heard of it.
fn join(port: u16, present: &[(Program, u32)]) -> (Program, u32) {
    let client = Program::start(Command::new("nc").args(["127.0.0.1", &port.to_string()]));
    let welcome = client.expect_line("welcome, you are member ", WAIT);
    let member: u32 = welcome
        .rsplit(' ')
        .next()
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no member number in {welcome:?}"));
    for (other, _) in present {
        other.expect_line(&format!("* member {member} "), WAIT);
    }
    (client, member)
}

/// Reads lines until every line of `wanted` came, in order per sender, and
/// checks that none came from `own_member`.
fn expect_lines(client: &Process, own_member: u32, wanted: &[String]) {
    let mut missing: Vec<&String> = wanted.iter().collect();
    while !missing.is_empty() {
        let line = client.next_line(WAIT).unwrap_or_else(|| {
            let first: String = missing[0].chars().take(80).collect();
            panic!(
                "member {own_member} still misses {} lines, the first {first:?}",
                missing.len()
            )
        });
        assert!(
            !line.starts_with(&format!("member {own_member}:")),
            "member {own_member} got its own line back: {line:?}"
        );
        if let Some(at) = missing.iter().position(|expected| **expected == line) {
            // Lines of one sender come in the order it sent them.
            let sender = line.split(':').next();
            assert!(
                missing[..at]
                    .iter()
                    .all(|earlier| earlier.split(':').next() != sender),
                "member {own_member} got {line:?} before an earlier line of the same sender"
            );
            missing.remove(at);
        }
    }
}

#[test]
fn every_line_a_member_sends_reaches_the_other_two() {
    require_program("nc", "netcat-openbsd");
    let (_chat, port) = start_chat();
    let mut members = Vec::new();
    for _ in 0..3 {
        let joined = join(port, &members);
        members.push(joined);
    }
    let members: Vec<(std::sync::Arc<Process>, u32)> = members
        .iter()
        .map(|(client, member)| (client.process(), *member))
        .collect();
    bounded(30, move || {
        let long_line = "x".repeat(100_000);
        let mut sent: Vec<Vec<String>> = vec![Vec::new(); members.len()];
        for round in 0..5 {
            for (index, (client, member)) in members.iter().enumerate() {
                let text = format!("line {round} from member {member}");
                client.send(format!("{text}\n").as_bytes());
                sent[index].push(format!("member {member}: {text}"));
            }
        }
        // A line sent in two pieces, and a line longer than a read.
        let (first, first_member) = &members[0];
        first.send(b"one line in ");
        std::thread::sleep(Duration::from_millis(50));
        first.send(b"two pieces\n");
        sent[0].push(format!("member {first_member}: one line in two pieces"));
        let (second, second_member) = &members[1];
        second.send(format!("{long_line}\n").as_bytes());
        sent[1].push(format!("member {second_member}: {long_line}"));

        for (index, (client, member)) in members.iter().enumerate() {
            let from_others: Vec<String> = sent
                .iter()
                .enumerate()
                .filter(|(sender, _)| *sender != index)
                .flat_map(|(_, lines)| lines.iter().cloned())
                .collect();
            expect_lines(client, *member, &from_others);
        }

        // A member that leaves is announced to the others.
        let (leaving, leaving_member) = &members[2];
        leaving.kill();
        for (client, _) in &members[..2] {
            client.expect_line(&format!("* member {leaving_member} left"), WAIT);
        }
    });
}
