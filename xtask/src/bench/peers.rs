//! The peer echo servers the project's servers are compared with, each run
//! as a hidden xtask command (`xtask __std-echo`, ...) so that it has a
//! process of its own. Each prints `listening on ADDRESS` once it accepts
//! connections, as the project's examples do.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::Shutdown;

use crate::command::Error;

/// Bytes a server reads at once.
const READ_SIZE: usize = 64 * 1024;

fn announce(address: std::net::SocketAddr) -> Result<(), Error> {
    println!("listening on {address}");
    std::io::stdout().flush()?;
    Ok(())
}

/// std::net with a thread per connection.
pub fn std_echo() -> Result<(), Error> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    announce(listener.local_addr()?)?;
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else {
            continue;
        };
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let mut buffer = vec![0u8; READ_SIZE];
            loop {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(count) => {
                        if stream.write_all(&buffer[..count]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = stream.shutdown(Shutdown::Write);
        });
    }
    Ok(())
}

/// Which of tokio's schedulers serves the connections.
#[derive(Clone, Copy, Debug)]
pub enum Scheduler {
    /// Every task on the thread that runs the server.
    CurrentThread,
    /// Tasks spread over one worker thread per core.
    MultiThread,
}

/// tokio, a task per connection, tuned as `raw_echo` is: one read buffer
/// per thread instead of one per connection, and the echo written at once
/// with `try_write`, so that only what the kernel does not take is copied
/// and awaited.
pub fn tokio_echo(scheduler: Scheduler) -> Result<(), Error> {
    let mut builder = match scheduler {
        Scheduler::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Scheduler::MultiThread => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = builder.enable_io().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        announce(listener.local_addr()?)?;
        loop {
            // An accept error (out of descriptors, say) drops that
            // connection only.
            if let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = echo(stream).await;
                });
            }
        }
    })
}

thread_local! {
    /// The read buffer of the runtime thread, borrowed only between two
    /// awaits.
    static READ_BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_SIZE]);
}

/// What one readiness of a connection gave.
enum Echo {
    /// The peer closed its side.
    End,
    /// The readiness was stale: nothing to read.
    Nothing,
    /// The bytes read that the kernel did not take back at once.
    Rest(Vec<u8>),
}

/// Echoes what the client sends until it closes its side.
async fn echo(mut stream: tokio::net::TcpStream) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    stream.set_nodelay(true)?;
    loop {
        stream.readable().await?;
        let echo = READ_BUFFER.with_borrow_mut(|buffer| {
            let count = match stream.try_read(buffer) {
                Ok(0) => return Ok(Echo::End),
                Ok(count) => count,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                    return Ok(Echo::Nothing);
                }
                Err(error) => return Err(error),
            };
            let written = match stream.try_write(&buffer[..count]) {
                Ok(written) => written,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => 0,
                Err(error) => return Err(error),
            };
            Ok(Echo::Rest(buffer[written..count].to_vec()))
        })?;
        match echo {
            Echo::End => return stream.shutdown().await,
            Echo::Nothing => {}
            Echo::Rest(rest) => stream.write_all(&rest).await?,
        }
    }
}
