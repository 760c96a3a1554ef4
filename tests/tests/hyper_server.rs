//! `uvtcp/examples/hyper_server.rs`, hyper 1.x serving uvtcp sockets in
//! local tasks, driven by the real `curl`: several requests on one
//! connection, a 1 MiB POST body echoed back, many connections at once.
//! Each test also runs against the example's `--tokio` mode (the same hyper
//! service on tokio), the peer `cargo xtask bench` compares it with.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use uvtcp_tests::programs::{Program, example_binary, require_program};
use uvtcp_tests::{Checksum, bounded, pattern};

const STARTUP: Duration = Duration::from_secs(10);

/// The example's modes: uvtcp's local tasks, and tokio.
const MODES: [&[&str]; 2] = [&[], &["--tokio"]];

/// Starts the example with `mode`'s flags on a free port and returns it
/// with its address; the server is killed by its PID when dropped.
fn start_server(mode: &[&str]) -> (Program, SocketAddr) {
    let server = Program::start(
        Command::new(example_binary("hyper_server"))
            .args(mode)
            .args(["127.0.0.1", "0"]),
    );
    let banner = server.expect_line("listening on ", STARTUP);
    let address = banner
        .rsplit(' ')
        .next()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("no address in the banner {banner:?}"));
    (server, address)
}

/// Runs `curl -sS --max-time 10` with `args`, feeding it `stdin`, and
/// returns its stdout; panics unless it succeeded.
fn curl(args: &[&str], stdin: Vec<u8>) -> Vec<u8> {
    let mut child = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("curl did not start");
    let mut input = child.stdin.take().expect("stdin is piped");
    // Written from another thread: curl may answer before it read it all.
    let writer = std::thread::spawn(move || input.write_all(&stdin));
    let output = child.wait_with_output().expect("waiting for curl failed");
    writer
        .join()
        .expect("the stdin writer panicked")
        .expect("writing curl's stdin failed");
    assert!(
        output.status.success(),
        "curl {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn curl_sends_several_requests_on_one_connection() {
    require_program("curl", "curl");
    for mode in MODES {
        let (_server, address) = start_server(mode);
        bounded(20, move || {
            let root = format!("http://{address}/");
            let missing = format!("http://{address}/missing");
            let echo = format!("http://{address}/echo");
            // `num_connects` is 1 for a new connection and 0 for a reused one.
            let report = "%{http_code} %{num_connects}\n";
            let stdout = curl(
                &[
                    "-w",
                    report,
                    &root,
                    &missing,
                    &root,
                    "--next",
                    "-sS",
                    "-w",
                    report,
                    "--data-binary",
                    "ping",
                    &echo,
                ],
                Vec::new(),
            );
            assert_eq!(
                String::from_utf8_lossy(&stdout),
                "Hello, world!\n200 1\nnot found\n404 0\nHello, world!\n200 0\nping200 0\n",
                "mode {mode:?}"
            );
            // HEAD: the headers of GET, no body.
            let headers = String::from_utf8(curl(&["--head", &root], Vec::new())).unwrap();
            assert!(headers.starts_with("HTTP/1.1 200 OK\r\n"), "{headers:?}");
            assert!(headers.contains("content-length: 14\r\n"), "{headers:?}");
            assert!(headers.ends_with("\r\n\r\n"), "{headers:?}");
        });
    }
}

#[test]
fn curl_gets_a_mebibyte_post_body_back() {
    require_program("curl", "curl");
    for mode in MODES {
        let (_server, address) = start_server(mode);
        bounded(30, move || {
            let body = pattern(1 << 20, 9);
            let sent = Checksum::of(&body);
            // The body comes from stdin; the report follows the echoed
            // body on stdout, after a line end.
            let report = "\n%{http_code} %{num_connects} %header{content-length}";
            let stdout = curl(
                &[
                    "--data-binary",
                    "@-",
                    "-w",
                    report,
                    &format!("http://{address}/echo"),
                ],
                body,
            );
            let split = stdout
                .iter()
                .rposition(|&byte| byte == b'\n')
                .expect("curl printed its report");
            let (echoed, report) = stdout.split_at(split);
            assert_eq!(
                String::from_utf8_lossy(report),
                format!("\n200 1 {}", 1 << 20),
                "mode {mode:?}"
            );
            assert_eq!(Checksum::of(echoed), sent, "mode {mode:?}");
        });
    }
}

#[test]
fn many_connections_are_served_at_once() {
    require_program("curl", "curl");
    for mode in MODES {
        let (server, address) = start_server(mode);
        bounded(30, move || {
            let root = format!("http://{address}/");
            let urls = vec![root.as_str(); 64];
            // Up to 32 connections open at the same time.
            let mut args = vec!["--parallel", "--parallel-immediate", "--parallel-max", "32"];
            args.extend(urls);
            let stdout = curl(&args, Vec::new());
            assert_eq!(
                String::from_utf8_lossy(&stdout),
                "Hello, world!\n".repeat(64),
                "mode {mode:?}"
            );
        });
        // The server served them all and is still up; the drop kills it.
        assert!(
            server.wait_for_exit(Duration::ZERO).is_none(),
            "the server exited: {}",
            server.stderr()
        );
    }
}
