//! Host name resolution on the loop.

use std::net::IpAddr;

use uv_handle::completion;

use crate::error::{TcpErrData, canceled, forbid_blocking};
use crate::io_task::IoTask;

/// Resolves `node` (a host name or an address literal) to its addresses,
/// on `iotask`'s loop (`uv_getaddrinfo`, which runs in libuv's thread pool).
///
/// # Errors
///
/// libuv's resolver errors, such as `EAI_NONAME`; `EAGAIN` on a loop thread.
///
/// ```
/// let io_task = uvtcp::IoTask::spawn()?;
/// let addresses = uvtcp::ip::get_addr("localhost", &io_task)?;
/// assert!(addresses.iter().any(|ip| ip.is_loopback()));
/// # Ok::<(), uvtcp::TcpErrData>(())
/// ```
#[doc(alias = "ip::get_addr")]
pub fn get_addr(node: &str, iotask: &IoTask) -> Result<Vec<IpAddr>, TcpErrData> {
    forbid_blocking("get_addr", "resolve before `spawn_local` instead")?;
    let node = node.to_string();
    let (completer, result) = completion();
    iotask.run(move |event_loop| {
        uv_handle::getaddrinfo(event_loop, &node, move |outcome| {
            completer.complete(outcome.map_err(TcpErrData::from));
        });
    })?;
    result.wait().unwrap_or_else(|_| Err(canceled()))
}
