//! `uvtcp/examples/http_hello.rs`, an HTTP/1.1 server on the plain uvtcp
//! API, driven by the real `curl` and by raw `std::net` clients: keep-alive,
//! `Content-Length` bodies, `100 Continue`, pipelining, `Connection: close`
//! and bad requests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use uvtcp_tests::programs::{Program, example_binary, require_program};
use uvtcp_tests::{bounded, pattern};

const STARTUP: Duration = Duration::from_secs(10);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts the example on a free port and returns it with its address.
fn start_server() -> (Program, SocketAddr) {
    let server =
        Program::start(Command::new(example_binary("http_hello")).args(["127.0.0.1", "0"]));
    let banner = server.expect_line("listening on ", STARTUP);
    let address = banner
        .rsplit(' ')
        .next()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("no address in the banner {banner:?}"));
    (server, address)
}

/// Runs `curl -sS --max-time 10` with `args` and returns its stdout and
/// stderr; panics unless it succeeded.
fn curl(args: &[&str]) -> (String, String) {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl did not start");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "curl {args:?} failed ({}): {stderr}",
        output.status
    );
    (stdout, stderr)
}

/// A file in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("uvtcp-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("writing a temporary file failed");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("the temporary directory is UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn curl_sends_several_requests_on_one_connection() {
    require_program("curl", "curl");
    let (_server, address) = start_server();
    bounded(20, move || {
        let root = format!("http://{address}/");
        let missing = format!("http://{address}/missing");
        // `num_connects` is 1 for a new connection and 0 for a reused one.
        let report = "%{http_code} %{num_connects}\n";
        let (stdout, _) = curl(&["-w", report, &root, &root, &missing, &root]);
        assert_eq!(
            stdout,
            "Hello, world!\n200 1\nHello, world!\n200 0\nnot found\n404 0\nHello, world!\n200 0\n"
        );
        // HEAD: the same headers as GET, no body.
        let (headers, _) = curl(&["--head", &root]);
        assert!(headers.starts_with("HTTP/1.1 200 OK\r\n"), "{headers:?}");
        assert!(headers.contains("Content-Length: 14\r\n"), "{headers:?}");
        assert!(headers.ends_with("\r\n\r\n"), "{headers:?}");
    });
}

#[test]
fn curl_posts_get_their_bodies_back_on_one_connection() {
    require_program("curl", "curl");
    let (_server, address) = start_server();
    bounded(20, move || {
        let url = format!("http://{address}/echo");
        // Every byte value, then 2 MiB, for which curl sends
        // `Expect: 100-continue` and waits for the server's go-ahead.
        let small_body: Vec<u8> = (0..=255).cycle().take(10_000).collect();
        let large_body = pattern(2 << 20, 7);
        let small = TempFile::new("small-post", &small_body);
        let large = TempFile::new("large-post", &large_body);
        let small_echo = TempFile::new("small-echo", b"");
        let large_echo = TempFile::new("large-echo", b"");
        let report = "%{http_code} %{num_connects}\n";
        let (stdout, stderr) = curl(&[
            "-v",
            "--data-binary",
            &format!("@{}", small.path()),
            "-o",
            small_echo.path(),
            "-w",
            report,
            &url,
            "--next",
            "-sS",
            "-v",
            "--data-binary",
            &format!("@{}", large.path()),
            "-o",
            large_echo.path(),
            "-w",
            report,
            &url,
        ]);
        assert_eq!(stdout, "200 1\n200 0\n");
        assert!(
            stderr.contains("< HTTP/1.1 100 Continue"),
            "no 100 Continue: {stderr}"
        );
        assert!(std::fs::read(&small_echo.0).unwrap() == small_body);
        assert!(std::fs::read(&large_echo.0).unwrap() == large_body);
    });
}

#[test]
fn curl_gets_connection_close_honoured() {
    require_program("curl", "curl");
    let (_server, address) = start_server();
    bounded(20, move || {
        let root = format!("http://{address}/");
        let report = "%{http_code} %{num_connects}\n";
        let (stdout, _) = curl(&[
            "-H",
            "Connection: close",
            "-D",
            "-",
            // One `-o` per URL.
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-w",
            report,
            &root,
            &root,
        ]);
        let responses: Vec<&str> = stdout.split("HTTP/1.1 ").skip(1).collect();
        assert_eq!(responses.len(), 2, "{stdout:?}");
        for response in responses {
            assert!(response.starts_with("200 OK\r\n"), "{stdout:?}");
            assert!(response.contains("Connection: close\r\n"), "{stdout:?}");
            assert!(response.ends_with("\r\n\r\n200 1\n"), "{stdout:?}");
        }
        // HTTP/1.0 closes by default, and keeps the connection on request.
        let (stdout, _) = curl(&["--http1.0", "-w", report, &root, &root]);
        assert_eq!(stdout, "Hello, world!\n200 1\nHello, world!\n200 1\n");
        let (stdout, _) = curl(&[
            "--http1.0",
            "-H",
            "Connection: keep-alive",
            "-w",
            report,
            &root,
            &root,
        ]);
        assert_eq!(stdout, "Hello, world!\n200 1\nHello, world!\n200 0\n");
    });
}

/// One response as a client reads it.
#[derive(Debug, PartialEq)]
struct Response {
    status: u16,
    connection: Option<String>,
    body: Vec<u8>,
}

/// Parses the response at the start of `bytes` to a `method` request (a
/// HEAD response has no body): the response and its length, or `None` while
/// it is incomplete.
fn parse_response(bytes: &[u8], method: &str) -> Option<(Response, usize)> {
    let head_end = bytes.windows(4).position(|window| window == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&bytes[..head_end]).expect("the head is text");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut content_length = None;
    let mut connection = None;
    for line in lines.filter(|line| !line.is_empty()) {
        let (name, value) = line.split_once(": ").expect("a header line");
        match name {
            "Content-Length" => content_length = Some(value.parse::<usize>().unwrap()),
            "Connection" => connection = Some(value.to_string()),
            _ => {}
        }
    }
    let length = content_length.expect("every response has a Content-Length");
    let body_end = head_end + if method == "HEAD" { 0 } else { length };
    let body = bytes.get(head_end..body_end)?.to_vec();
    let response = Response {
        status,
        connection,
        body,
    };
    Some((response, body_end))
}

/// Parses one response per request method in `methods`; returns them and
/// the bytes that follow.
fn parse_responses<'a>(mut bytes: &'a [u8], methods: &[&str]) -> (Vec<Response>, &'a [u8]) {
    let mut responses = Vec::new();
    for method in methods {
        let Some((response, length)) = parse_response(bytes, method) else {
            panic!(
                "a response is missing or cut short: {:?}",
                String::from_utf8_lossy(bytes)
            );
        };
        responses.push(response);
        bytes = &bytes[length..];
    }
    (responses, bytes)
}

/// Reads one response to a `method` request.
fn read_response(client: &mut TcpStream, method: &str) -> Response {
    let mut received = Vec::new();
    loop {
        if let Some((response, length)) = parse_response(&received, method) {
            assert_eq!(length, received.len(), "bytes after the response");
            return response;
        }
        let mut buffer = [0; 4096];
        let count = client.read(&mut buffer).expect("no response in time");
        assert_ne!(count, 0, "the server closed the connection");
        received.extend_from_slice(&buffer[..count]);
    }
}

/// Connects with `std::net`, every read bounded in time.
fn raw_client(address: SocketAddr) -> TcpStream {
    let client = TcpStream::connect(address).expect("connecting to the server failed");
    client.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    client.set_nodelay(true).unwrap();
    client
}

/// Reads until the server closes the connection.
fn read_to_close(client: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    client
        .read_to_end(&mut received)
        .expect("the server did not close the connection in time");
    received
}

fn expected(status: u16, connection: Option<&str>, body: &[u8]) -> Response {
    Response {
        status,
        connection: connection.map(str::to_string),
        body: body.to_vec(),
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (_server, address) = start_server();
    bounded(20, move || {
        let mut client = raw_client(address);
        let mut requests = Vec::new();
        let mut methods = Vec::new();
        let mut answers = Vec::new();
        for round in 0..20 {
            let body = format!("body of request {round}");
            requests.extend_from_slice(
                format!(
                    "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
            requests.extend_from_slice(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n");
            requests.extend_from_slice(b"HEAD / HTTP/1.1\r\nHost: test\r\n\r\n");
            requests.extend_from_slice(b"GET /nothing HTTP/1.1\r\nhost: test\r\n\r\n");
            requests.extend_from_slice(b"DELETE / HTTP/1.1\r\nHost: test\r\n\r\n");
            methods.extend(["POST", "GET", "HEAD", "GET", "DELETE"]);
            answers.push(expected(200, None, body.as_bytes()));
            answers.push(expected(200, None, b"Hello, world!\n"));
            answers.push(expected(200, None, b""));
            answers.push(expected(404, None, b"not found\n"));
            answers.push(expected(405, None, b"method not allowed\n"));
        }
        requests.extend_from_slice(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        methods.push("GET");
        answers.push(expected(200, Some("close"), b"Hello, world!\n"));

        // All of it in one write: the server sees many requests per read.
        client.write_all(&requests).unwrap();
        let received = read_to_close(&mut client);
        let (responses, rest) = parse_responses(&received, &methods);
        assert_eq!(responses, answers);
        assert!(rest.is_empty(), "bytes after the last response: {rest:?}");
    });
}

#[test]
fn a_request_written_byte_by_byte_is_answered() {
    let (_server, address) = start_server();
    bounded(20, move || {
        let mut client = raw_client(address);
        let request = b"POST /slow HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello";
        for byte in request {
            client.write_all(&[*byte]).unwrap();
        }
        // Then one request cut in two in the middle of its head.
        client.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        client
            .write_all(b"st: test\r\nConnection: close\r\n\r\n")
            .unwrap();
        let received = read_to_close(&mut client);
        let (responses, rest) = parse_responses(&received, &["POST", "GET"]);
        assert_eq!(
            responses,
            [
                expected(200, None, b"hello"),
                expected(200, Some("close"), b"Hello, world!\n")
            ]
        );
        assert!(rest.is_empty());
    });
}

#[test]
fn requests_after_connection_close_are_not_answered() {
    let (_server, address) = start_server();
    bounded(20, move || {
        let mut client = raw_client(address);
        client
            .write_all(
                b"GET / HTTP/1.1\r\nHost: test\r\nConnection: keep-alive, close\r\n\r\n\
                  GET / HTTP/1.1\r\nHost: test\r\n\r\n",
            )
            .unwrap();
        let received = read_to_close(&mut client);
        let (responses, rest) = parse_responses(&received, &["GET"]);
        assert_eq!(
            responses,
            [expected(200, Some("close"), b"Hello, world!\n")]
        );
        assert!(rest.is_empty(), "the second request was answered");
    });
}

#[test]
fn bad_requests_get_an_error_status_and_a_close() {
    let (_server, address) = start_server();
    bounded(20, move || {
        let long_header = format!(
            "GET / HTTP/1.1\r\nHost: test\r\nX-Long: {}\r\n\r\n",
            "x".repeat(20_000)
        );
        let cases: [(&[u8], u16); 8] = [
            (b"this is not http\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost : test\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\nHost: test\r\n\r\n", 505),
            (
                b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n",
                501,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 9999999999\r\n\r\n",
                413,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                400,
            ),
            (long_header.as_bytes(), 431),
        ];
        for (request, status) in cases {
            let mut client = raw_client(address);
            client.write_all(request).unwrap();
            let received = read_to_close(&mut client);
            let (responses, rest) = parse_responses(&received, &["GET"]);
            assert_eq!(
                (responses[0].status, responses[0].connection.as_deref()),
                (status, Some("close")),
                "for the request {:?}",
                String::from_utf8_lossy(&request[..request.len().min(80)])
            );
            assert!(rest.is_empty());
        }
    });
}

#[test]
fn many_connections_are_served_at_once() {
    let (_server, address) = start_server();
    bounded(20, move || {
        let clients: Vec<_> = (0..16)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut client = raw_client(address);
                    for _ in 0..10 {
                        client
                            .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
                            .unwrap();
                        let response = read_response(&mut client, "GET");
                        assert_eq!(response, expected(200, None, b"Hello, world!\n"));
                    }
                })
            })
            .collect();
        for client in clients {
            client.join().expect("a client failed");
        }
    });
}
