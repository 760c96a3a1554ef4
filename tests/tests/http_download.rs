//! A uvtcp client downloads 64 MiB from the real Python `http.server` on
//! loopback, on tokio's current-thread runtime: `connect_future` awaited
//! there, the request written and the head read through tokio's io traits,
//! and the body moved by `tokio::io::copy` from the socket into a sink that
//! checksums it.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use uvtcp::{TcpSocket, connect_future};
use uvtcp_tests::programs::{Program, require_program};
use uvtcp_tests::{Checksum, bounded, localhost_v4, new_iotask, pattern};

const STARTUP: Duration = Duration::from_secs(10);
const FILE_BYTES: usize = 64 << 20;
/// The largest response head the client accepts.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// A directory in the temporary directory, removed with its files when
/// dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("uvtcp-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&path).expect("creating a temporary directory failed");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts `python3 -m http.server` on a free loopback port, serving
/// `directory`, and returns it with its port; it is killed by its PID when
/// dropped.
fn start_python_server(directory: &Path) -> (Program, u16) {
    require_program("python3", "python3");
    // `-u`: unbuffered, so the banner arrives through the pipe at once.
    let server = Program::start(
        Command::new("python3")
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
            .arg("--directory")
            .arg(directory),
    );
    // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
    let banner = server.expect_line("Serving HTTP on ", STARTUP);
    let port = banner
        .split_once(" port ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in the banner {banner:?}"));
    (server, port)
}

/// An `AsyncWrite` that checksums what it is given and keeps nothing.
#[derive(Debug, Default)]
struct ChecksumSink(Checksum);

impl AsyncWrite for ChecksumSink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _context: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.update(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A response head: the status code and the `Content-Length`.
#[derive(Debug)]
struct Head {
    status: u16,
    content_length: u64,
}

/// Reads the response head from `socket`, through the empty line that ends
/// it; returns it with the bytes of the body read with it.
async fn read_head(socket: &TcpSocket) -> io::Result<(Head, Vec<u8>)> {
    let mut received = Vec::new();
    let head_end = loop {
        if let Some(at) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            break at + 4;
        }
        if received.len() > MAX_HEAD_BYTES {
            return Err(io::Error::other("the response head is too long"));
        }
        let mut buffer = [0; 1024];
        // The socket's own `read` (a blocking call) shadows the trait's.
        let count = AsyncReadExt::read(&mut &*socket, &mut buffer).await?;
        if count == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        received.extend_from_slice(&buffer[..count]);
    };
    let body_start = received.split_off(head_end);
    let head = parse_head(&String::from_utf8_lossy(&received))
        .ok_or_else(|| io::Error::other(format!("a bad response head: {received:?}")))?;
    Ok((head, body_start))
}

/// Parses a response head (status line and header lines).
fn parse_head(head: &str) -> Option<Head> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let (version, rest) = status_line.split_once(' ')?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let status = rest.get(..3)?.parse().ok()?;
    let content_length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())?;
    Some(Head {
        status,
        content_length,
    })
}

#[test]
fn a_64_mib_download_from_python_http_server_through_tokio_io_copy() {
    let directory = TempDir::new("download");
    let payload = pattern(FILE_BYTES, 64);
    let expected = Checksum::of(&payload);
    std::fs::write(directory.path().join("payload.bin"), &payload)
        .expect("writing the payload failed");
    drop(payload);
    let (server, port) = start_python_server(directory.path());
    let (head, received, after_body) = bounded(120, move || {
        let io_task = new_iotask();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("building tokio's runtime failed");
        runtime.block_on(async move {
            let socket = connect_future(localhost_v4(), port, &io_task).await?;
            let request = format!(
                "GET /payload.bin HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
            );
            (&socket).write_all(request.as_bytes()).await?;
            let (head, body_start) = read_head(&socket).await?;
            let mut sink = ChecksumSink::default();
            sink.0.update(&body_start);
            let rest = head.content_length.saturating_sub(body_start.len() as u64);
            let copied = tokio::io::copy(&mut (&socket).take(rest), &mut sink).await?;
            assert_eq!(copied, rest, "the body ended early");
            // The server closes the connection after the body: nothing follows.
            let mut after_body = Vec::new();
            (&socket).read_to_end(&mut after_body).await?;
            io::Result::Ok((head, sink.0, after_body))
        })
        .expect("the download failed")
    });
    assert_eq!(head.status, 200, "python said: {}", server.stderr());
    assert_eq!(head.content_length, FILE_BYTES as u64);
    assert_eq!(received.n_bytes(), FILE_BYTES as u64);
    assert_eq!(received, expected, "the body's checksum differs");
    assert!(
        after_body.is_empty(),
        "{} bytes after the body",
        after_body.len()
    );
}
