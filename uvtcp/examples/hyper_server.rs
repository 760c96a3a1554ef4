//! An HTTP/1.1 server made with hyper, whose connections are uvtcp sockets
//! served by local tasks on the loop thread (`IoTask::spawn_local`). hyper
//! reads and writes them through tokio's io traits (uvtcp's cargo feature
//! `tokio`) and hyper-util's `TokioIo` adapter; no tokio runtime runs. Its
//! timer (for the 30 s limit on reading a request head) is the loop's own,
//! `IoTask::sleep`.
//!
//! `GET /` and `HEAD /` answer `Hello, world!`, `POST /echo` streams the
//! request body back as it arrives, and every other request gets a 404.
//! Connections stay open between requests.
//!
//! With `--tokio`, the same hyper service runs on tokio's current-thread
//! runtime with tokio's `TcpListener` and timer instead, for comparison
//! (`cargo xtask bench` loads both).
//!
//! Usage: `cargo run -p uvtcp --features tokio --example hyper_server --
//! [--tokio] [ADDRESS] [PORT]` (defaults: `127.0.0.1` and port 0, which
//! picks a free port). It prints `listening on ADDRESS:PORT` once it
//! accepts connections; then try `curl -v http://ADDRESS:PORT/
//! http://ADDRESS:PORT/` (one connection, two requests) or
//! `curl --data-binary 'some bytes' http://ADDRESS:PORT/echo`.

#[path = "support/args.rs"]
mod args;
#[path = "support/local_server.rs"]
mod local_server;
#[path = "support/serve_local.rs"]
mod serve_local;

use std::convert::Infallible;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use uvtcp::{IoTask, TcpErrData};

/// The body of `GET /`.
const HELLO: &[u8] = b"Hello, world!\n";

/// The body of every response: a fixed text or the request's own body.
type Body = BoxBody<Bytes, hyper::Error>;

fn main() {
    let mut on_tokio = false;
    let mut positional = Vec::new();
    for arg in std::env::args().skip(1) {
        if arg == "--tokio" {
            on_tokio = true;
        } else {
            positional.push(arg);
        }
    }
    let (address, port) = args::address_and_port(&mut positional.into_iter(), 0);
    let result = if on_tokio {
        serve_on_tokio(address, port)
    } else {
        serve_on_uvtcp(address, port).map_err(std::io::Error::from)
    };
    if let Err(error) = result {
        eprintln!("hyper_server: {error}");
        std::process::exit(1);
    }
}

/// Accepts connections with uvtcp and serves each in a local task of the
/// I/O task's loop.
fn serve_on_uvtcp(address: IpAddr, port: u16) -> Result<(), TcpErrData> {
    serve_local::run("hyper_server", address, port, |socket, io_task| {
        let _ = socket.set_nodelay(true);
        serve_connection(socket, LoopTimer(io_task.clone()))
    })
}

/// Accepts connections with tokio and serves each in a task of tokio's
/// current-thread runtime.
fn serve_on_tokio(address: IpAddr, port: u16) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((address, port)).await?;
        local_server::announce(listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve_connection(stream, TokioTimer::new()));
        }
    })
}

/// Serves the requests of one connection until it closes: the code both
/// servers share.
async fn serve_connection<S, T>(stream: S, timer: T)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: hyper::rt::Timer + Send + Sync + 'static,
{
    let mut builder = http1::Builder::new();
    builder.timer(timer);
    // An error ends only this connection: a client that went away in the
    // middle of a request, a malformed request, a request head that took
    // too long.
    let _ = builder
        .serve_connection(TokioIo::new(stream), service_fn(respond))
        .await;
}

/// The service: the response to one request.
async fn respond(request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let response = match (request.method(), request.uri().path()) {
        // hyper leaves out the body of the answer to HEAD.
        (&Method::GET | &Method::HEAD, "/") => Response::new(fixed(HELLO)),
        // Streamed back frame by frame, with the request's Content-Length.
        (&Method::POST, "/echo") => Response::new(request.into_body().boxed()),
        _ => {
            let mut response = Response::new(fixed(b"not found\n"));
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
    };
    Ok(response)
}

/// A body of fixed bytes.
fn fixed(bytes: &'static [u8]) -> Body {
    Full::new(Bytes::from_static(bytes))
        .map_err(|never| match never {})
        .boxed()
}

/// hyper's timer on the I/O task's loop: every sleep is a libuv timer
/// (`IoTask::sleep`), cancelled when hyper drops it.
#[derive(Clone, Debug)]
struct LoopTimer(IoTask);

impl hyper::rt::Timer for LoopTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(LoopSleep(self.0.sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep(deadline.saturating_duration_since(Instant::now()))
    }
}

/// One sleep of [`LoopTimer`].
#[derive(Debug)]
struct LoopSleep(uvtcp::Future<()>);

impl std::future::Future for LoopSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(context)
    }
}

impl hyper::rt::Sleep for LoopSleep {}
