//! [`SocketShared`]: what both the loop thread and user threads see of a
//! socket: the queue of received chunks, the end of the stream, the active
//! read port, the write counters, and who waits for them.
//!
//! One mutex guards the read side. It is taken through a [`StateGuard`],
//! which signals waiters only after the mutex is released, and only the
//! waiters that exist: the condition variable when a thread sleeps on it,
//! and the wakers registered by tasks. Nobody waiting costs no system call.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use uv_handle::{UvError, Wakeup};

use crate::error::TcpErrData;

/// The default backpressure limit: bytes received but not yet read.
pub(crate) const DEFAULT_READ_BUFFER_LIMIT: usize = 1024 * 1024;

/// How long a graceful close may take by default before the connection is
/// reset.
pub(crate) const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(60);

/// `close_timeout_ms` when there is no bound.
const NO_CLOSE_TIMEOUT: u64 = u64::MAX;

/// What both the loop thread and user threads see of a socket.
pub(crate) struct SocketShared {
    state: Mutex<ReadState>,
    readable: Condvar,
    pub(crate) read_limit: AtomicUsize,
    /// Bytes given to `write` / `write_future` and not yet in the kernel.
    pub(crate) write_queue: AtomicUsize,
    /// The write buffer limit; `usize::MAX` when none is set.
    pub(crate) write_limit: AtomicUsize,
    /// The close timeout in milliseconds; `NO_CLOSE_TIMEOUT`: none.
    close_timeout_ms: AtomicU64,
    /// The libuv code of the first write that failed (0: none): flushes,
    /// `close` and the async writers report it.
    write_error: AtomicI32,
    /// Tasks waiting for the write queue to drain (`poll_write` above the
    /// limit, `poll_flush`); `writers_waiting` lets the loop skip the lock
    /// when there are none.
    write_wakers: Mutex<Vec<Waker>>,
    writers_waiting: AtomicBool,
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
}

/// The read side, guarded by `SocketShared::state`.
pub(crate) struct ReadState {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the first chunk already read by a partial read: the chunk
    /// is not shifted for each one.
    front_read: usize,
    /// Unread bytes queued.
    buffered: usize,
    /// How the stream ended (EOF, a read error, or ECANCELED once closed);
    /// every reader gets it, repeatedly, once the chunks are drained.
    pub(crate) end: Option<UvError>,
    /// The loop is reading, or a user thread has queued a request to.
    pub(crate) reading: bool,
    /// The id of the active read port.
    pub(crate) port: Option<u64>,
    next_port: u64,
    /// Threads blocked on the condition variable.
    sleepers: usize,
    /// Tasks waiting for a change of the read side.
    wakers: Deferred<Waker>,
    /// A change that waiters have not been told of yet.
    changed: bool,
    /// One-shot reads completed under the lock, told after it is released.
    wakeups: Deferred<Wakeup>,
    /// An async reader (`poll_read`) waits for bytes.
    pub(crate) want_async: bool,
}

/// The locked read side. Dropping it unlocks first, then tells the waiters
/// of a change made through it, so no waker runs under the lock.
pub(crate) struct StateGuard<'a> {
    shared: &'a SocketShared,
    guard: Option<MutexGuard<'a, ReadState>>,
}

/// Whether a reader with `buffered` unread bytes may receive more. A limit
/// of zero means one chunk at a time.
pub(crate) fn has_room(buffered: usize, limit: usize) -> bool {
    buffered < limit.max(1)
}

impl SocketShared {
    pub(crate) fn new(local: SocketAddr, peer: SocketAddr) -> SocketShared {
        SocketShared {
            state: Mutex::new(ReadState {
                chunks: VecDeque::new(),
                front_read: 0,
                buffered: 0,
                end: None,
                reading: false,
                port: None,
                next_port: 0,
                sleepers: 0,
                wakers: Deferred::default(),
                changed: false,
                wakeups: Deferred::default(),
                want_async: false,
            }),
            readable: Condvar::new(),
            read_limit: AtomicUsize::new(DEFAULT_READ_BUFFER_LIMIT),
            write_queue: AtomicUsize::new(0),
            write_limit: AtomicUsize::new(usize::MAX),
            close_timeout_ms: AtomicU64::new(DEFAULT_CLOSE_TIMEOUT.as_millis() as u64),
            write_error: AtomicI32::new(0),
            write_wakers: Mutex::new(Vec::new()),
            writers_waiting: AtomicBool::new(false),
            local,
            peer,
        }
    }

    pub(crate) fn lock(&self) -> StateGuard<'_> {
        StateGuard {
            shared: self,
            guard: Some(
                self.state
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            ),
        }
    }

    /// Records a failed write; the first failure is kept.
    pub(crate) fn record_write_error(&self, error: UvError) {
        let _ =
            self.write_error
                .compare_exchange(0, error.code(), Ordering::AcqRel, Ordering::Acquire);
    }

    /// The first write that failed, if any.
    pub(crate) fn write_error(&self) -> Option<UvError> {
        match self.write_error.load(Ordering::Acquire) {
            0 => None,
            code => Some(UvError::from_code(code)),
        }
    }

    /// Registers a task to wake when the write queue shrinks.
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub(crate) fn add_write_waker(&self, waker: &Waker) {
        let mut wakers = self
            .write_wakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !wakers.iter().any(|known| known.will_wake(waker)) {
            wakers.push(waker.clone());
        }
        self.writers_waiting.store(true, Ordering::Release);
    }

    /// Counts `length` queued bytes as out of the queue, and wakes the tasks
    /// waiting for it to shrink (after releasing the lock).
    pub(crate) fn written_out(&self, length: usize) {
        self.write_queue.fetch_sub(length, Ordering::AcqRel);
        if self.writers_waiting.swap(false, Ordering::AcqRel) {
            let wakers = std::mem::take(
                &mut *self
                    .write_wakers
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            );
            for waker in wakers {
                uv_handle::wake(waker);
            }
        }
    }

    /// The bound of a graceful close, if any.
    pub(crate) fn close_timeout(&self) -> Option<Duration> {
        match self.close_timeout_ms.load(Ordering::Relaxed) {
            NO_CLOSE_TIMEOUT => None,
            millis => Some(Duration::from_millis(millis)),
        }
    }

    /// Sets the bound of a graceful close (`None`: none); a bound beyond
    /// what fits in milliseconds is no bound.
    pub(crate) fn set_close_timeout(&self, timeout: Option<Duration>) {
        let millis = timeout.map_or(NO_CLOSE_TIMEOUT, |timeout| {
            u64::try_from(timeout.as_millis()).unwrap_or(NO_CLOSE_TIMEOUT)
        });
        self.close_timeout_ms.store(millis, Ordering::Relaxed);
    }

    pub(crate) fn limit(&self) -> usize {
        self.read_limit.load(Ordering::Relaxed)
    }

    /// Takes the next chunk, or the end of the stream, if either is there.
    /// Returns whether the loop must be asked to resume reading.
    pub(crate) fn take(
        &self,
        state: &mut ReadState,
    ) -> (Option<Result<Vec<u8>, TcpErrData>>, bool) {
        if let Some(chunk) = state.pop_chunk() {
            let resume = self.claim_resume(state);
            return (Some(Ok(chunk)), resume);
        }
        (state.end.map(|end| Err(end.into())), false)
    }

    /// Whether an active port has room again while the loop is not reading;
    /// if so, marks reading as requested (the caller then asks the loop).
    pub(crate) fn claim_resume(&self, state: &mut ReadState) -> bool {
        let resume = state.port.is_some()
            && !state.reading
            && state.end.is_none()
            && has_room(state.buffered, self.limit());
        if resume {
            state.reading = true;
        }
        resume
    }

    /// Opens a read port, or fails with `EALREADY` while one is active.
    pub(crate) fn open_port(&self, state: &mut ReadState) -> Result<(u64, bool), TcpErrData> {
        if state.port.is_some() {
            return Err(UvError::EALREADY.into());
        }
        state.next_port += 1;
        state.port = Some(state.next_port);
        Ok((state.next_port, self.claim_resume(state)))
    }

    /// Closes port `id`; returns whether the loop should re-check reading
    /// (it reads, or queued chunks or the end of the stream may be owed to a
    /// pending one-shot read).
    pub(crate) fn close_port(&self, state: &mut ReadState, id: u64) -> Result<bool, TcpErrData> {
        if state.port != Some(id) {
            return Err(UvError::EINVAL.into());
        }
        state.port = None;
        Ok(state.reading || !state.chunks.is_empty() || state.end.is_some())
    }
}

impl ReadState {
    /// Queues a received chunk behind the others.
    pub(crate) fn push_chunk(&mut self, chunk: Vec<u8>) {
        self.buffered += chunk.len();
        self.chunks.push_back(chunk);
        self.changed = true;
    }

    /// Puts a chunk just taken back at the front: it is the next one read.
    pub(crate) fn unread(&mut self, chunk: Vec<u8>) {
        debug_assert_eq!(
            self.front_read, 0,
            "a chunk goes back only after a whole take"
        );
        if !chunk.is_empty() {
            self.buffered += chunk.len();
            self.chunks.push_front(chunk);
        }
    }

    /// Takes the first queued chunk (what a partial read left of it), if any.
    pub(crate) fn pop_chunk(&mut self) -> Option<Vec<u8>> {
        let mut chunk = self.chunks.pop_front()?;
        if self.front_read > 0 {
            chunk.drain(..std::mem::take(&mut self.front_read));
        }
        self.buffered -= chunk.len();
        Some(chunk)
    }

    /// Reads up to `capacity` bytes of the first queued chunk through
    /// `fill`; what does not fit stays first in the queue. `None` when no
    /// chunk is queued.
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub(crate) fn read_front(
        &mut self,
        capacity: usize,
        fill: impl FnOnce(&[u8]),
    ) -> Option<usize> {
        let chunk = self.chunks.front()?;
        let rest = &chunk[self.front_read..];
        let count = capacity.min(rest.len());
        fill(&rest[..count]);
        self.buffered -= count;
        if count == rest.len() {
            self.chunks.pop_front();
            self.front_read = 0;
        } else {
            self.front_read += count;
        }
        Some(count)
    }

    pub(crate) fn has_chunks(&self) -> bool {
        !self.chunks.is_empty()
    }

    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    /// Records how the stream ended, keeping the first end.
    pub(crate) fn set_end(&mut self, error: UvError) {
        if self.end.is_none() {
            self.end = Some(error);
        }
        self.reading = false;
        self.changed = true;
    }

    /// Marks a change waiters must hear of (a port opened or closed, the
    /// reading state flipped).
    pub(crate) fn touch(&mut self) {
        self.changed = true;
    }

    /// Tells the waiter of a completed one-shot read once the lock is
    /// released.
    pub(crate) fn defer(&mut self, wakeup: Wakeup) {
        self.wakeups.push(wakeup);
    }

    pub(crate) fn add_waker(&mut self, waker: &Waker) {
        if !self.wakers.iter().any(|known| known.will_wake(waker)) {
            self.wakers.push(waker.clone());
        }
    }
}

/// What a lock holder leaves to do once the lock is released (wakers to
/// wake, waiters to tell): nearly always one at most, held without an
/// allocation; more go to a vector that keeps its capacity.
pub(crate) struct Deferred<T> {
    first: Option<T>,
    more: Vec<T>,
}

impl<T> Default for Deferred<T> {
    fn default() -> Self {
        Deferred {
            first: None,
            more: Vec::new(),
        }
    }
}

impl<T> Deferred<T> {
    fn push(&mut self, value: T) {
        match self.first {
            None => self.first = Some(value),
            Some(_) => self.more.push(value),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.first.iter().chain(&self.more)
    }

    /// Takes everything out; an empty overflow vector stays, with its
    /// capacity.
    fn take(&mut self) -> Deferred<T> {
        Deferred {
            first: self.first.take(),
            more: if self.more.is_empty() {
                Vec::new()
            } else {
                std::mem::take(&mut self.more)
            },
        }
    }
}

impl<T> IntoIterator for Deferred<T> {
    type Item = T;
    type IntoIter = std::iter::Chain<std::option::IntoIter<T>, std::vec::IntoIter<T>>;

    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.more)
    }
}

impl StateGuard<'_> {
    /// Waits on the condition variable, up to `timeout` (`None`: forever).
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) {
        let mut guard = self.guard.take().expect("the guard holds its lock");
        guard.sleepers += 1;
        let readable = &self.shared.readable;
        let mut guard = match timeout {
            None => readable
                .wait(guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            Some(timeout) => {
                readable
                    .wait_timeout(guard, timeout)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0
            }
        };
        guard.sleepers -= 1;
        self.guard = Some(guard);
    }
}

impl Deref for StateGuard<'_> {
    type Target = ReadState;

    fn deref(&self) -> &ReadState {
        self.guard.as_ref().expect("the guard holds its lock")
    }
}

impl DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut ReadState {
        self.guard.as_mut().expect("the guard holds its lock")
    }
}

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        let wakeups = guard.wakeups.take();
        if !guard.changed {
            drop(guard);
            drop(wakeups);
            return;
        }
        guard.changed = false;
        let notify = guard.sleepers > 0;
        let wakers = guard.wakers.take();
        drop(guard);
        drop(wakeups);
        if notify {
            self.shared.readable.notify_all();
        }
        for waker in wakers {
            uv_handle::wake(waker);
        }
    }
}
