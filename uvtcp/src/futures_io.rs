//! `futures_io::AsyncRead` and `AsyncWrite` for [`TcpSocket`] and
//! `&TcpSocket` (cargo feature `futures-io`); see [`crate::async_io`] for
//! their semantics.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::async_io;
use crate::socket::TcpSocket;

impl futures_io::AsyncRead for &TcpSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let capacity = buffer.len();
        async_io::poll_read(self.get_mut(), context, capacity, |bytes| {
            buffer[..bytes.len()].copy_from_slice(bytes);
        })
    }
}

impl futures_io::AsyncWrite for &TcpSocket {
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

    fn poll_close(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        async_io::poll_shutdown(self.get_mut(), context)
    }
}

impl futures_io::AsyncRead for TcpSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_read(context, buffer)
    }
}

impl futures_io::AsyncWrite for TcpSocket {
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

    fn poll_close(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_close(context)
    }
}
