//! An HTTP/1.1 "hello" server on the plain uvtcp API, with no HTTP crate:
//! every connection is a local task on the loop thread
//! (`IoTask::spawn_local`) that awaits `read_future` and `write_future`.
//!
//! Connections stay open between requests (keep-alive), pipelined requests
//! are answered in order, every response is framed by `Content-Length`, and
//! the server closes the connection after a request that says
//! `Connection: close` (or an HTTP/1.0 request that does not ask for
//! keep-alive). `GET /` and `HEAD /` answer `Hello, world!`, `POST` to any
//! path echoes the request body, other paths are 404 and other methods 405.
//! Request bodies need a `Content-Length` (chunked ones get 501).
//!
//! Usage: `cargo run -p uvtcp --example http_hello -- [ADDRESS] [PORT]`
//! (defaults: `127.0.0.1` and port 0, which picks a free port). It prints
//! `listening on ADDRESS:PORT` once it accepts connections; then try
//! `curl -v http://ADDRESS:PORT/ http://ADDRESS:PORT/` (one connection, two
//! requests) or `curl --data-binary 'some bytes' http://ADDRESS:PORT/echo`.

#[path = "support/args.rs"]
mod args;
#[path = "support/local_server.rs"]
mod local_server;
#[path = "support/serve_local.rs"]
mod serve_local;

use uvtcp::TcpSocket;

/// The body of `GET /`.
const HELLO: &[u8] = b"Hello, world!\n";
/// The largest request head (request line and headers) accepted.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The largest request body accepted.
const MAX_BODY_BYTES: u64 = 8 * 1024 * 1024;
/// How long a connection may stay silent before the server closes it.
const IDLE_TIMEOUT_MS: u32 = 30_000;

fn main() {
    let (address, port) = args::address_and_port(&mut std::env::args().skip(1), 0);
    let served = serve_local::run("http_hello", address, port, |socket, _| serve(socket));
    if let Err(error) = served {
        eprintln!("http_hello: {error}");
        std::process::exit(1);
    }
}

/// Answers the requests of one connection until it closes, goes idle for
/// too long, or a request asks to close it.
async fn serve(socket: TcpSocket) {
    let _ = socket.set_nodelay(true);
    let mut received = Vec::new();
    let mut continue_sent = false;
    loop {
        // Answer every complete request received so far, in order, with one
        // write: a pipelining client gets its responses in one go.
        let mut replies = Vec::new();
        let mut consumed = 0;
        let mut keep_open = true;
        while keep_open {
            match parse(&received[consumed..]) {
                Parse::Complete(request, length) => {
                    keep_open = request.keep_alive;
                    respond(&request, &mut replies);
                    consumed += length;
                    continue_sent = false;
                }
                Parse::Incomplete { expects_continue } => {
                    if expects_continue && !continue_sent {
                        replies.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                        continue_sent = true;
                    }
                    break;
                }
                Parse::Invalid(status) => {
                    let body = format!("{}\n", reason(status));
                    write_response(
                        &mut replies,
                        status,
                        "Connection: close\r\n",
                        "text/plain",
                        body.as_bytes(),
                        true,
                    );
                    keep_open = false;
                }
            }
        }
        received.drain(..consumed);
        if socket.write_future(replies).await.is_err() || !keep_open {
            // Dropping the socket sends what is queued, then closes.
            return;
        }
        match socket.read_future(IDLE_TIMEOUT_MS).await {
            Ok(chunk) => received.extend_from_slice(&chunk),
            // The end of the stream, an idle timeout or a network error.
            Err(_) => return,
        }
    }
}

/// One request, borrowed from the bytes received.
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    body: &'a [u8],
    /// HTTP/1.0 rather than HTTP/1.1.
    old_version: bool,
    /// Whether the connection stays open after the response.
    keep_alive: bool,
}

/// What the bytes received so far hold.
enum Parse<'a> {
    /// A whole request, and the number of bytes it takes.
    Complete(Request<'a>, usize),
    /// The start of a request; `expects_continue` when its head is complete,
    /// no byte of its body has arrived and it asks for `100 Continue`.
    Incomplete { expects_continue: bool },
    /// A request the server cannot serve: answer with this status and close.
    Invalid(u16),
}

/// Parses the request at the start of `input` (RFC 9112).
fn parse(input: &[u8]) -> Parse<'_> {
    // Empty lines before a request line are ignored (RFC 9112, 2.2).
    let start = input
        .iter()
        .position(|&byte| byte != b'\r' && byte != b'\n')
        .unwrap_or(input.len());
    let Some(head_length) = head_length(&input[start..]) else {
        return if input.len() > MAX_HEAD_BYTES {
            Parse::Invalid(431)
        } else {
            Parse::Incomplete {
                expects_continue: false,
            }
        };
    };
    if head_length > MAX_HEAD_BYTES {
        return Parse::Invalid(431);
    }
    let Ok(head) = std::str::from_utf8(&input[start..start + head_length]) else {
        return Parse::Invalid(400);
    };
    let head = match parse_head(head) {
        Ok(head) => head,
        Err(status) => return Parse::Invalid(status),
    };
    let body_start = start + head_length;
    // The length fits: it is at most MAX_BODY_BYTES.
    let body_end = body_start + head.content_length as usize;
    if input.len() < body_end {
        return Parse::Incomplete {
            expects_continue: head.expects_continue && input.len() == body_start,
        };
    }
    let request = Request {
        method: head.method,
        path: head.path,
        body: &input[body_start..body_end],
        old_version: head.old_version,
        keep_alive: head.keep_alive,
    };
    Parse::Complete(request, body_end)
}

/// The length of the request head at the start of `input`, through the
/// empty line that ends it, once all of it has arrived.
fn head_length(input: &[u8]) -> Option<usize> {
    input
        .iter()
        .enumerate()
        .filter(|&(_, &byte)| byte == b'\n')
        .find_map(|(at, _)| {
            let rest = &input[at + 1..];
            if rest.starts_with(b"\n") {
                Some(at + 2)
            } else if rest.starts_with(b"\r\n") {
                Some(at + 3)
            } else {
                None
            }
        })
}

/// A parsed request line and the headers the server acts on.
struct Head<'a> {
    method: &'a str,
    path: &'a str,
    old_version: bool,
    keep_alive: bool,
    content_length: u64,
    expects_continue: bool,
}

/// Parses a complete request head; `Err` holds the status to answer.
fn parse_head(head: &str) -> Result<Head<'_>, u16> {
    let mut lines = head
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .take_while(|line| !line.is_empty());
    let request_line = lines.next().ok_or(400u16)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(path), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    if method.is_empty()
        || !method.bytes().all(|byte| byte.is_ascii_alphabetic())
        || path.is_empty()
    {
        return Err(400);
    }
    let old_version = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ if version.starts_with("HTTP/") => return Err(505),
        _ => return Err(400),
    };
    let mut content_length = None;
    let mut close = false;
    let mut keep_alive_asked = false;
    let mut expects_continue = false;
    let mut hosts = 0;
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(400u16)?;
        // No whitespace in or around a field name, and no line folding.
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(400);
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-length") {
            if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
                return Err(400);
            }
            let length = value.parse::<u64>().map_err(|_| 413u16)?;
            if content_length.is_some_and(|earlier| earlier != length) {
                return Err(400);
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // This server reads only bodies framed by Content-Length.
            return Err(501);
        } else if name.eq_ignore_ascii_case("connection") {
            for option in value.split(',').map(str::trim) {
                close |= option.eq_ignore_ascii_case("close");
                keep_alive_asked |= option.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expects_continue = value.eq_ignore_ascii_case("100-continue");
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        }
    }
    // An HTTP/1.1 request names exactly one host (RFC 9112, 3.2).
    if !old_version && hosts != 1 {
        return Err(400);
    }
    let content_length = content_length.unwrap_or(0);
    if content_length > MAX_BODY_BYTES {
        return Err(413);
    }
    Ok(Head {
        method,
        path,
        old_version,
        keep_alive: !close && (!old_version || keep_alive_asked),
        content_length,
        expects_continue,
    })
}

/// Appends the response to `request` to `replies`.
fn respond(request: &Request<'_>, replies: &mut Vec<u8>) {
    let mut headers = String::new();
    if !request.keep_alive {
        headers.push_str("Connection: close\r\n");
    } else if request.old_version {
        headers.push_str("Connection: keep-alive\r\n");
    }
    let (status, content_type, body) = match (request.method, request.path) {
        ("GET" | "HEAD", "/") => (200, "text/plain", HELLO),
        ("GET" | "HEAD", _) => (404, "text/plain", &b"not found\n"[..]),
        ("POST", _) => (200, "application/octet-stream", request.body),
        _ => {
            headers.push_str("Allow: GET, HEAD, POST\r\n");
            (405, "text/plain", &b"method not allowed\n"[..])
        }
    };
    let send_body = request.method != "HEAD";
    write_response(replies, status, &headers, content_type, body, send_body);
}

/// Appends a response with `Content-Length` framing to `replies`;
/// `headers` are extra header lines, each ending in CRLF.
fn write_response(
    replies: &mut Vec<u8>,
    status: u16,
    headers: &str,
    content_type: &str,
    body: &[u8],
    send_body: bool,
) {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{headers}\r\n",
        reason(status),
        body.len()
    );
    replies.extend_from_slice(head.as_bytes());
    if send_body {
        replies.extend_from_slice(body);
    }
}

/// The reason phrase of a status code this server sends.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}
