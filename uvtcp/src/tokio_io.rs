//! `tokio::io::AsyncRead` and `AsyncWrite` for [`TcpSocket`] and
//! `&TcpSocket` (cargo feature `tokio`: tokio's io traits only, no runtime
//! needed); see [`crate::async_io`] for their semantics.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::ReadBuf;

use crate::async_io;
use crate::socket::TcpSocket;

impl tokio::io::AsyncRead for &TcpSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let capacity = buffer.remaining();
        async_io::poll_read(self.get_mut(), context, capacity, |bytes| {
            buffer.put_slice(bytes);
        })
        .map_ok(drop)
    }
}

impl tokio::io::AsyncWrite for &TcpSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        async_io::poll_write(self.get_mut(), context, bytes)
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        async_io::poll_flush(self.get_mut(), context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        async_io::poll_shutdown(self.get_mut(), context)
    }
}

impl tokio::io::AsyncRead for TcpSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_read(context, buffer)
    }
}

impl tokio::io::AsyncWrite for TcpSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write(context, bytes)
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_shutdown(context)
    }
}
