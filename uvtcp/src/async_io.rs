//! The poll functions behind the async I/O traits (the `futures-io` and
//! `tokio` features): they read and write the same stream as every other
//! call, and never block a thread.
//!
//! - Reading copies from the next received chunk; what does not fit stays
//!   queued and comes first to the next read of any kind. End of stream is
//!   `Ok(0)`, repeatedly. Reading this way is subject to the read buffer
//!   limit like every other read.
//! - Writing queues a copy of as many bytes as it reports while the write
//!   queue is below the write buffer limit ([`ASYNC_WRITE_LIMIT`] when none
//!   is set), and is pending above it, woken when the queue drains.
//! - Flushing waits for the write queue to drain; shutting down flushes and
//!   then sends FIN. The socket can still be read afterwards.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use uv_handle::{Completion, UvError, completion};

use crate::error::{TcpErrData, canceled};
use crate::socket::TcpSocket;
use crate::stream::{self, writing};

/// The write queue an async writer may fill when no write buffer limit is
/// set.
pub(crate) const ASYNC_WRITE_LIMIT: usize = 64 * 1024;

/// Where a socket's async shutdown stands.
#[derive(Default)]
pub(crate) enum ShutdownProgress {
    #[default]
    NotStarted,
    Pending(Completion<Result<(), TcpErrData>>),
    Done(Result<(), TcpErrData>),
}

/// The async shutdown state of one socket.
pub(crate) type ShutdownState = Mutex<ShutdownProgress>;

/// Reads into a buffer of `capacity` bytes through `fill`, which receives
/// the bytes read; `Ok(0)` at the end of the stream.
pub(crate) fn poll_read(
    socket: &TcpSocket,
    context: &mut Context<'_>,
    capacity: usize,
    fill: impl FnOnce(&[u8]),
) -> Poll<io::Result<usize>> {
    if capacity == 0 {
        return Poll::Ready(Ok(0));
    }
    let shared = &socket.shared;
    let mut state = shared.lock();
    if state.port.is_some() {
        return Poll::Ready(Err(TcpErrData::from(UvError::EALREADY).into()));
    }
    if let Some(count) = state.read_front(capacity, fill) {
        state.want_async = false;
        return Poll::Ready(Ok(count));
    }
    match state.end {
        Some(UvError::EOF) => Poll::Ready(Ok(0)),
        Some(error) => Poll::Ready(Err(TcpErrData::from(error).into())),
        None => {
            state.add_waker(context.waker());
            state.want_async = true;
            // Ask the loop to read unless it does, or has been asked to.
            let ask = !state.reading;
            state.reading = true;
            drop(state);
            if ask {
                stream::request_refresh(&socket.io_task, socket.key);
            }
            Poll::Pending
        }
    }
}

/// Queues a copy of as much of `bytes` as the write queue has room for.
pub(crate) fn poll_write(
    socket: &TcpSocket,
    context: &mut Context<'_>,
    bytes: &[u8],
) -> Poll<io::Result<usize>> {
    if bytes.is_empty() {
        return Poll::Ready(Ok(0));
    }
    // On the socket's own loop thread with nothing queued, the kernel takes
    // what it can straight from the caller's buffer: no copy, no request.
    let key = socket.key;
    let direct = socket.io_task.run_here(|event_loop| {
        event_loop
            .local(key)
            .and_then(|loop_socket| writing::write_now(&loop_socket, bytes))
    });
    if let Some(Some(written)) = direct {
        return Poll::Ready(written.map_err(|error| TcpErrData::from(error).into()));
    }
    let shared = &socket.shared;
    let limit = match shared.write_limit.load(Ordering::Relaxed) {
        usize::MAX => ASYNC_WRITE_LIMIT,
        limit => limit,
    };
    let mut registered = false;
    loop {
        if let Some(error) = shared.write_error() {
            return Poll::Ready(Err(TcpErrData::from(error).into()));
        }
        let queued = shared.write_queue.load(Ordering::Acquire);
        let room = if queued == 0 {
            limit.max(ASYNC_WRITE_LIMIT)
        } else {
            limit.saturating_sub(queued)
        };
        if room > 0 {
            let count = room.min(bytes.len());
            // The outcome reaches later writes, flushes and `close` through
            // the socket's first write error.
            drop(socket.write_future(&bytes[..count]));
            return Poll::Ready(Ok(count));
        }
        if registered {
            return Poll::Pending;
        }
        // Register, then look again: a drain in between is not missed.
        shared.add_write_waker(context.waker());
        registered = true;
    }
}

/// Ready once the write queue is empty: `Ok`, or the first write error.
pub(crate) fn poll_flush(socket: &TcpSocket, context: &mut Context<'_>) -> Poll<io::Result<()>> {
    let shared = &socket.shared;
    let mut registered = false;
    loop {
        if shared.write_queue.load(Ordering::Acquire) == 0 {
            return Poll::Ready(match shared.write_error() {
                Some(error) => Err(TcpErrData::from(error).into()),
                None => Ok(()),
            });
        }
        if registered {
            return Poll::Pending;
        }
        shared.add_write_waker(context.waker());
        registered = true;
    }
}

/// Flushes, then sends FIN once; the socket can still be read.
pub(crate) fn poll_shutdown(socket: &TcpSocket, context: &mut Context<'_>) -> Poll<io::Result<()>> {
    if let Poll::Ready(Err(error)) = poll_flush(socket, context) {
        return Poll::Ready(Err(error));
    }
    if socket.shared.write_queue.load(Ordering::Acquire) != 0 {
        return Poll::Pending;
    }
    let mut progress = socket
        .shutdown
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let ShutdownProgress::NotStarted = *progress {
        let (completer, result) = completion();
        let started = socket.io_task.run({
            let key = socket.key;
            move |event_loop| match event_loop.local(key) {
                Some(loop_socket) => writing::shutdown(&loop_socket, move |outcome| {
                    completer.complete(outcome.map_err(TcpErrData::from));
                }),
                None => completer.complete(Err(canceled())),
            }
        });
        *progress = match started {
            Ok(()) => ShutdownProgress::Pending(result),
            Err(error) => ShutdownProgress::Done(Err(error)),
        };
    }
    if let ShutdownProgress::Pending(result) = &mut *progress {
        match std::pin::Pin::new(result).poll(context) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(outcome) => {
                *progress = ShutdownProgress::Done(outcome.unwrap_or_else(|_| Err(canceled())));
            }
        }
    }
    match &*progress {
        ShutdownProgress::Done(outcome) => Poll::Ready(outcome.clone().map_err(io::Error::from)),
        _ => Poll::Pending,
    }
}
