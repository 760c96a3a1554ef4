//! Helpers for the documentation examples (hidden from the docs).

use std::net::{IpAddr, Ipv4Addr};

use crate::{IoTask, TcpListener, TcpSocket, connect, global_loop};

/// A connected pair of sockets on the global loop: `(client, server)`.
pub fn pair() -> (TcpSocket, TcpSocket) {
    let (listener, io_task) = listener();
    let port = listener.local_addr().expect("bound").port();
    let client = connect(IpAddr::V4(Ipv4Addr::LOCALHOST), port, &io_task).expect("connect");
    let server = listener.accept_timeout(10_000).expect("accept");
    (client, server)
}

/// A listener on a free loopback port of the global loop.
pub fn listener() -> (TcpListener, IoTask) {
    let io_task = global_loop();
    let listener = TcpListener::bind(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 64, &io_task)
        .expect("bind a free loopback port");
    (listener, io_task)
}
