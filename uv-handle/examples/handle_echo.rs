//! A TCP echo server on uv-handle, in safe code only: the counterpart of
//! `uv-sys/examples/raw_echo.rs`, which does the same on the raw bindings.
//!
//! Usage: `cargo run -p uv-handle --example handle_echo -- [ADDRESS] [PORT]`
//! (defaults: `127.0.0.1` and port 0, which picks a free port). The server
//! prints `listening on ADDRESS:PORT` once it accepts connections.
//!
//! It does what the raw version does:
//! - no allocation per read: uv-handle lends the loop's one read buffer to
//!   every read;
//! - echo with `try_write` first, so the common case copies nothing; only
//!   what the kernel did not take is copied into a write request;
//! - backpressure: reading pauses while more than `HIGH_WATER` bytes wait
//!   to be written, and resumes when the queue has drained to half of it;
//! - after the client's EOF, a shutdown (sent once the queued echoes are
//!   written), then close.
//!
//! Ownership is what the raw version does by hand: a connection is kept
//! alive by its read callback and its pending requests, and closing the
//! handle drops them all.

use std::cell::Cell;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use uv_handle::{Loop, RunMode, Tcp, TcpRef, UvError};

/// Reading pauses while more than this many bytes are queued for writing.
const HIGH_WATER: usize = 1024 * 1024;

/// One client connection.
struct Connection {
    tcp: Tcp,
    /// Reading is paused for backpressure.
    paused: Cell<bool>,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let address: IpAddr = args
        .next()
        .map(|text| text.parse().expect("ADDRESS must be an IP address"))
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let port: u16 = args
        .next()
        .map(|text| text.parse().expect("PORT must be a number from 0 to 65535"))
        .unwrap_or(0);
    if let Err(message) = serve(SocketAddr::new(address, port)) {
        eprintln!("handle_echo: {message}");
        std::process::exit(1);
    }
}

fn serve(address: SocketAddr) -> Result<(), String> {
    let event_loop = Loop::new().map_err(|error| format!("uv_loop_init: {error}"))?;
    let server = Tcp::new(&event_loop).map_err(|error| format!("uv_tcp_init: {error}"))?;
    server
        .bind(address, Default::default())
        .map_err(|error| format!("uv_tcp_bind: {error}"))?;
    server
        .listen(1024, on_connection)
        .map_err(|error| format!("uv_listen: {error}"))?;
    let bound = server
        .local_addr()
        .map_err(|error| format!("uv_tcp_getsockname: {error}"))?;
    println!("listening on {bound}");
    std::io::stdout()
        .flush()
        .map_err(|error| error.to_string())?;
    event_loop
        .run(RunMode::Default)
        .map_err(|error| format!("uv_run: {error}"))?;
    Ok(())
}

fn on_connection(server: &TcpRef, status: Result<(), UvError>) {
    if let Err(error) = status {
        eprintln!("handle_echo: connection failed: {error}");
        return;
    }
    let tcp = match server.accept() {
        Ok(tcp) => tcp,
        Err(error) => {
            eprintln!("handle_echo: accept failed: {error}");
            return;
        }
    };
    // Echo servers answer small messages at once.
    let _ = tcp.set_nodelay(true);
    let connection = Rc::new(Connection {
        tcp,
        paused: Cell::new(false),
    });
    start_reading(&connection);
}

fn start_reading(connection: &Rc<Connection>) {
    let this = Rc::clone(connection);
    let started = connection
        .tcp
        .read_start(move |tcp, chunk| on_read(&this, tcp, chunk));
    if started.is_err() {
        connection.tcp.close();
    }
}

fn on_read(connection: &Rc<Connection>, tcp: &TcpRef, chunk: Result<&[u8], UvError>) {
    let data = match chunk {
        Ok(data) => data,
        Err(UvError::EOF) => {
            // The client is done sending: finish the queued echoes, send
            // FIN, then close.
            let this = Rc::clone(connection);
            tcp.shutdown(move |_| this.tcp.close());
            return;
        }
        Err(_) => {
            // A read error: close; queued writes complete with ECANCELED.
            tcp.close();
            return;
        }
    };
    // With an empty write queue, try_write keeps the byte order.
    let written = if tcp.write_queue_size() == 0 {
        match tcp.try_write(data) {
            Ok(written) => written,
            Err(UvError::EAGAIN) => 0,
            Err(_) => {
                tcp.close();
                return;
            }
        }
    } else {
        0
    };
    if written == data.len() {
        return;
    }
    let this = Rc::clone(connection);
    tcp.write(data[written..].to_vec(), move |result| {
        on_written(&this, result)
    });
    if tcp.write_queue_size() > HIGH_WATER {
        connection.paused.set(true);
        let _ = tcp.read_stop();
    }
}

fn on_written(connection: &Rc<Connection>, result: Result<(), UvError>) {
    let tcp = &connection.tcp;
    match result {
        // The connection is closing; nothing to do.
        Err(UvError::ECANCELED) => {}
        Err(_) => tcp.close(),
        Ok(()) => {
            let drained = tcp.write_queue_size() <= HIGH_WATER / 2;
            if connection.paused.get() && drained && !tcp.is_closing() {
                connection.paused.set(false);
                start_reading(connection);
            }
        }
    }
}
