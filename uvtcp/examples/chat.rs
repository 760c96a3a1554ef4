//! A line-based chat room: everyone connected sees every line the others
//! send. Join it with several `nc 127.0.0.1 7879` sessions.
//!
//! Usage: `cargo run -p uvtcp --example chat -- [ADDRESS] [PORT]`
//! (defaults: `127.0.0.1` and port 7879).

#[path = "support/args.rs"]
mod args;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use uvtcp::{IoTask, TcpNewConnection, TcpSocket, accept, listen};

/// Everyone in the room, by member number.
type Room = Arc<Mutex<HashMap<u64, Arc<TcpSocket>>>>;

fn main() {
    let (address, port) = args::address_and_port(&mut std::env::args().skip(1), 7879);
    let io_task = IoTask::spawn().expect("start the I/O task");
    let room: Room = Arc::default();
    let next_member = AtomicU64::new(1);
    let result = listen(
        address,
        port,
        128,
        &io_task,
        |_kill| {
            println!("chat room open on {}", SocketAddr::new(address, port));
            let _ = std::io::stdout().flush();
        },
        |new_connection, _kill| {
            let member = next_member.fetch_add(1, Ordering::Relaxed);
            let room = Arc::clone(&room);
            std::thread::spawn(move || join(member, new_connection, room));
        },
    );
    if let Err(error) = result {
        eprintln!("chat: {error}");
        std::process::exit(1);
    }
}

/// Serves one member: reads lines and relays them to everyone else.
fn join(member: u64, new_connection: TcpNewConnection, room: Room) {
    let Ok(socket) = accept(new_connection) else {
        return;
    };
    // The member's thread reads; other members' threads write to it, so
    // the socket (which is `Sync`) is shared.
    let socket = Arc::new(socket);
    let peer = socket
        .peer_addr()
        .map(|address| address.to_string())
        .unwrap_or_default();
    let _ = socket.write(format!("welcome, you are member {member}\n"));
    // In the room before the others hear of it, so that a line they send
    // once they saw the announcement reaches the new member.
    room.lock().unwrap().insert(member, Arc::clone(&socket));
    broadcast(
        &room,
        member,
        format!("* member {member} ({peer}) joined\n"),
    );
    let mut pending = Vec::new();
    while let Ok(chunk) = socket.read(0) {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end();
            if !text.is_empty() {
                broadcast(&room, member, format!("member {member}: {text}\n"));
            }
        }
    }
    room.lock().unwrap().remove(&member);
    broadcast(&room, member, format!("* member {member} left\n"));
}

/// Sends `line` to every member but `from`, without waiting for slow ones.
fn broadcast(room: &Room, from: u64, line: String) {
    print!("{line}");
    let members: Vec<Arc<TcpSocket>> = room
        .lock()
        .unwrap()
        .iter()
        .filter(|(member, _)| **member != from)
        .map(|(_, socket)| Arc::clone(socket))
        .collect();
    for socket in members {
        // The write is queued; dropping its future is safe.
        drop(socket.write_future(line.as_bytes()));
    }
}
