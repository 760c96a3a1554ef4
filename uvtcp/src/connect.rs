//! Clients: [`connect`].

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;

use uv_handle::{LoopRef, Tcp, UvError, completion};

use crate::error::{TcpConnectErrData, canceled, forbid_blocking};
use crate::io_task::IoTask;
use crate::socket::TcpSocket;
use crate::stream::{self, SocketKey, SocketShared};

type Connected = Result<(SocketKey, Arc<SocketShared>), UvError>;

/// Connects to `input_ip:port` (IPv4 or IPv6) from `iotask`'s loop.
///
/// # Errors
///
/// `ConnectionRefused` when nobody listens; otherwise `GenericConnectErr`
/// with libuv's name and message (`EAGAIN` on a loop thread).
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use uvtcp::{IoTask, TcpConnectErrData, connect};
///
/// let io_task = IoTask::spawn().unwrap();
/// let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
/// let refused = connect(IpAddr::V4(Ipv4Addr::LOCALHOST), unused, &io_task);
/// assert_eq!(refused.unwrap_err(), TcpConnectErrData::ConnectionRefused);
/// ```
#[doc(alias = "net::tcp::connect")]
pub fn connect(
    input_ip: IpAddr,
    port: u16,
    iotask: &IoTask,
) -> Result<TcpSocket, TcpConnectErrData> {
    forbid_blocking()?;
    let address = SocketAddr::new(input_ip, port);
    let (completer, result) = completion::<Connected>();
    iotask.run(move |event_loop| {
        start_connect(event_loop, address, move |outcome| {
            completer.complete(outcome)
        })
    })?;
    let (key, shared) = result
        .wait()
        .map_err(|_| TcpConnectErrData::from(canceled()))??;
    Ok(TcpSocket::new(iotask.clone(), key, shared))
}

/// Opens a handle and connects it; `on_done` gets the registered socket.
fn start_connect(
    event_loop: &LoopRef,
    address: SocketAddr,
    on_done: impl FnOnce(Connected) + 'static,
) {
    let tcp = match Tcp::new(event_loop) {
        Ok(tcp) => tcp,
        Err(error) => return on_done(Err(error)),
    };
    // The handle waits in the loop's locals until the connection is made,
    // so a loop that closes first closes it too (and the callback sees
    // ECANCELED).
    let pending = event_loop.insert_local(tcp);
    let Some(handle) = event_loop.local(pending) else {
        return on_done(Err(UvError::EBADF));
    };
    handle.connect(address, move |tcp, status| {
        let event_loop = tcp.event_loop();
        let owner = event_loop.remove_local(pending);
        let outcome = status.and_then(|()| {
            let owner = owner.ok_or(UvError::ECANCELED)?;
            let tcp = Rc::try_unwrap(owner).map_err(|_| UvError::EBUSY)?;
            stream::register(event_loop, tcp)
        });
        on_done(outcome);
    });
}
