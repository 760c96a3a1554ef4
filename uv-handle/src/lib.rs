//! Safe RAII types over libuv, and a loop thread to run them on.
//!
//! - [`Loop`] owns a `uv_loop_t`; [`Tcp`], [`Timer`], [`Async`], [`Idle`]
//!   and [`Check`] own handles on it; requests (write, connect, shutdown, [`getaddrinfo`]) are
//!   methods that take a completion closure and own their buffers until it
//!   runs.
//! - [`IoTask`] runs a loop on its own thread and lets any thread queue
//!   closures onto it; [`completion`] carries results back.
//! - [`UvError`] is a libuv error code with its name and message.
//!
//! Handles and loops are not `Send`: they belong to the thread that created
//! them, and the compiler enforces it. Callbacks are Rust closures that run
//! on that thread, from inside [`LoopRef::run`].
//!
//! ```
//! use std::{cell::RefCell, rc::Rc};
//! use uv_handle::{Loop, RunMode, Tcp};
//!
//! // An echo server and a client on one loop.
//! let event_loop = Loop::new()?;
//! let server = Tcp::new(&event_loop)?;
//! server.bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
//! let connections = Rc::new(RefCell::new(Vec::new()));
//! let kept = connections.clone();
//! server.listen(16, move |server, _| {
//!     let connection = server.accept().unwrap();
//!     connection.read_start(|connection, chunk| match chunk {
//!         Ok(bytes) => connection.write(bytes.to_vec(), |_| {}),
//!         Err(_) => connection.close(),
//!     }).unwrap();
//!     kept.borrow_mut().push(connection);
//!     server.close();
//! })?;
//!
//! let client = Tcp::new(&event_loop)?;
//! let echoed = Rc::new(RefCell::new(Vec::new()));
//! let sink = echoed.clone();
//! client.connect(server.local_addr()?, move |client, result| {
//!     result.unwrap();
//!     client.write(b"ping".to_vec(), |result| result.unwrap());
//!     client.read_start(move |client, chunk| {
//!         sink.borrow_mut().extend_from_slice(chunk.unwrap());
//!         client.close();
//!     }).unwrap();
//! });
//! event_loop.run(RunMode::Default)?;
//! assert_eq!(echoed.borrow().as_slice(), b"ping");
//! # drop(client); drop(connections);
//! # Ok::<(), uv_handle::UvError>(())
//! ```
//!
//! # Panics in callbacks
//!
//! No panic ever unwinds into C: every `extern "C"` callback runs its Rust
//! body under `catch_unwind`. A panic in a callback is stored with its loop,
//! the loop is stopped, and [`LoopRef::run`] re-raises it on the loop's
//! thread once `uv_run` has returned. The callback that panicked is dropped:
//! a read callback stops its read, a listener closes, a timer, idle or
//! check handle stops. The callbacks of other handles due in the same
//! iteration still run, and the loop stays usable. A callback is also
//! dropped under that guard wherever libuv calls in (a one-shot timer once
//! it fired, a read callback once reading stopped, the callbacks a close
//! callback releases, ...): a panic in the `Drop` of a value it captured is
//! raised by `run` like a panic in the call. During the teardown of a loop
//! such panics are reported on stderr. On an [`IoTask`] thread
//! the re-raised panic is reported on stderr and the loop goes on serving
//! every other handle; a queued task that panics is dropped the same way, so
//! the operations it owned fail (their [`Completer`]s are dropped, and the
//! waiters see [`CompletionError::Abandoned`]).
//!
//! # Unsafe audit
//!
//! All the hand-written unsafe code of the project is in this crate; each
//! block holds one unsafe operation and has a `// SAFETY:` comment (clippy's
//! `undocumented_unsafe_blocks` and `multiple_unsafe_ops_per_block` are
//! denied). The modules that hold it, and what they
//! rely on:
//!
//! - `handle`: the close protocol. A handle's Rust value and its `uv_*_t`
//!   share one `Rc` allocation, the C struct first (`#[repr(C)]`), so the
//!   C pointer is the Rust pointer. libuv owns one strong reference from
//!   `uv_*_init` until the close callback, where it is released; `data`
//!   holds the type's release function. Memory is therefore freed only
//!   after the close callback and after the last Rust reference is gone.
//!   Provenance: the pointer `Rc::into_raw` returned for libuv's reference
//!   is kept in the value, and every pointer libuv gets for the handle is
//!   projected from it (never from a reference to the `uv_*_t` field), so
//!   the casts from a callback's handle to the whole value, and the
//!   `Rc::from_raw` of the close callback, stay within its provenance.
//!   Handles hold `Rc`s, so they are neither `Send` nor `Sync`: a `&` to
//!   one never leaves the loop thread, and every call is made there.
//! - `event_loop`: the `uv_loop_t` lives inside an `Rc<LoopRef>` that every
//!   handle holds, so loop memory outlives its handles. Teardown drops the
//!   loop's local values, closes every handle (`uv_walk`), runs until the
//!   close callbacks fired and `uv_loop_close` succeeds. The shared read
//!   buffer is lent to exactly one read at a time (libuv's alloc/read
//!   callback pairing; `run` refuses re-entry).
//! - `tcp`, `timer`, `async_handle`, `loop_watcher`: casts from the C
//!   handle in callbacks to the Rust value (`handle::from_raw`, valid by the
//!   layout and provenance rules of `handle`), and libuv calls on handles
//!   checked not to be closing (`uv_is_closing`) first, or, inside a
//!   callback that may have closed its handle, calls libuv allows then.
//!   `async_handle` has the only `unsafe impl Send`/`Sync`: the pointer
//!   senders use is behind an `RwLock` and cleared before the handle is
//!   released, and `uv_async_send` is documented thread-safe.
//! - `req`: requests are boxed with the buffers they borrow, leaked when
//!   libuv accepts them and rebuilt in the completion callback, which libuv
//!   calls exactly once, also with `ECANCELED` when the handle closes first.
//!   libuv's pointer to the `uv_*_t` is projected from the one
//!   `Box::into_raw` returned, so `Box::from_raw` on it is valid.
//! - `socket_address`: reads of C socket addresses of the family they say.
//! - `error`: `uv_err_name_r` / `uv_strerror_r` into stack buffers.

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc,
    clippy::multiple_unsafe_ops_per_block
)]
#![warn(missing_debug_implementations)]

mod async_handle;
mod callback;
mod completion;
mod error;
mod event_loop;
mod executor;
mod handle;
mod io_task;
mod loop_watcher;
mod req;
mod socket_address;
mod tcp;
mod timer;

#[cfg(test)]
mod tests;

pub use async_handle::{Async, AsyncSender};
pub use completion::{Completer, Completion, CompletionError, Wakeup, completion, wake};
pub use error::UvError;
pub use event_loop::{LocalKey, Loop, LoopRef, READ_BUFFER_SIZE, RunMode};
pub use executor::{POLL_BUDGET, TaskResult};
pub use io_task::{IoTask, on_loop_thread};
pub use loop_watcher::{Check, Idle};
pub use req::getaddrinfo;
pub use tcp::{BindFlags, Tcp, TcpRef};
pub use timer::Timer;
