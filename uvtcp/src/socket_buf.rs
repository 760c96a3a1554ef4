//! [`TcpSocketBuf`]: a buffered reader and writer over a [`TcpSocket`].

use std::fmt;
use std::io::{self, BufRead, Read, Write};

use crate::error::{TcpErrData, forbid_blocking};
use crate::socket::TcpSocket;

/// Once this many bytes are buffered they are sent without waiting for
/// `flush`; a write that would go beyond it first waits for what was sent.
const WRITE_BUFFER_SIZE: usize = 64 * 1024;

/// What to use on a loop thread instead of the blocking writes.
const INSTEAD: &str = "await `write_future` and `flush_future` on the socket instead";

/// A buffered reader and writer over a [`TcpSocket`]. `Send`.
///
/// Reads take whole chunks from the socket and hand them out byte by byte
/// or line by line; writes collect in a buffer sent by `flush`,
/// [`into_inner`](Self::into_inner) or drop (or once 64 KiB are pending).
///
/// No byte that `write` accepted is dropped: it stays in the buffer until
/// it is handed to the socket, in order, and the socket then sends it or
/// records why it could not. `flush` waits until every byte written so far
/// is in the kernel and returns the first write error of the socket, every
/// time it is called. `write` fails only without taking any of its input.
///
/// ```
/// use std::io::{BufRead, Write};
/// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
/// # let io_task = uvtcp::global_loop();
/// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
/// # let port = listener.local_addr().unwrap().port();
/// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
/// # let server = listener.accept_timeout(10_000).unwrap();
/// let mut writer = uvtcp::socket_buf(client);
/// writer.write_all(b"first line\nsecond line\n")?;
/// writer.flush()?;
/// let mut reader = uvtcp::socket_buf(server);
/// let mut line = String::new();
/// reader.read_line(&mut line)?;
/// assert_eq!(line, "first line\n");
/// # Ok::<(), std::io::Error>(())
/// ```
#[doc(alias = "tcp_socket_buf")]
pub struct TcpSocketBuf {
    socket: Option<TcpSocket>,
    read_buffer: Vec<u8>,
    read_position: usize,
    end: Option<TcpErrData>,
    consumed: u64,
    write_buffer: Vec<u8>,
}

/// Wraps `sock` in a buffered reader and writer.
///
/// ```
/// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
/// # let io_task = uvtcp::global_loop();
/// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
/// # let port = listener.local_addr().unwrap().port();
/// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
/// # let _server = listener.accept_timeout(10_000).unwrap();
/// let buffered = uvtcp::socket_buf(client);
/// assert_eq!(buffered.tell(), 0);
/// ```
#[doc(alias = "net::tcp::socket_buf")]
pub fn socket_buf(sock: TcpSocket) -> TcpSocketBuf {
    TcpSocketBuf {
        socket: Some(sock),
        read_buffer: Vec::new(),
        read_position: 0,
        end: None,
        consumed: 0,
        write_buffer: Vec::new(),
    }
}

impl TcpSocketBuf {
    fn buffered(&self) -> &[u8] {
        &self.read_buffer[self.read_position..]
    }

    /// Makes sure unread bytes are buffered unless the stream has ended.
    /// Returns the error that ended it, other than EOF, once nothing is left.
    fn fill(&mut self) -> Result<(), TcpErrData> {
        if !self.buffered().is_empty() || self.end.is_some() {
            return match &self.end {
                Some(end) if !end.is_eof() && self.buffered().is_empty() => Err(end.clone()),
                _ => Ok(()),
            };
        }
        match self.socket().read(0) {
            Ok(chunk) => {
                self.read_buffer = chunk;
                self.read_position = 0;
                Ok(())
            }
            Err(error) if error.is_eof() => {
                self.end = Some(error);
                Ok(())
            }
            Err(error) if error.err_name == "EAGAIN" => Err(error),
            Err(error) => {
                self.end = Some(error.clone());
                Err(error)
            }
        }
    }

    fn advance(&mut self, count: usize) {
        self.read_position += count;
        self.consumed += count as u64;
    }

    /// Reads `amt` bytes; fewer only at the end of the stream (an empty
    /// vector when nothing is left).
    ///
    /// # Errors
    ///
    /// A read error other than EOF (`ECONNRESET`, ...). Bytes read before it
    /// stay buffered for the next read.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// client.write("abcdef")?;
    /// drop(client);
    /// let mut reader = uvtcp::socket_buf(server);
    /// assert_eq!(reader.read_bytes(4)?, b"abcd");
    /// assert_eq!(reader.read_bytes(4)?, b"ef");
    /// assert_eq!(reader.read_bytes(4)?, b"");
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn read_bytes(&mut self, amt: usize) -> Result<Vec<u8>, TcpErrData> {
        let mut bytes = Vec::with_capacity(amt.min(1 << 20));
        while bytes.len() < amt {
            if let Err(error) = self.fill() {
                // Put back what this call took, so nothing is lost.
                let taken = bytes.len();
                let mut rest = bytes;
                rest.extend_from_slice(self.buffered());
                self.read_buffer = rest;
                self.read_position = 0;
                self.consumed -= taken as u64;
                return Err(error);
            }
            let available = self.buffered();
            if available.is_empty() {
                break;
            }
            let take = available.len().min(amt - bytes.len());
            bytes.extend_from_slice(&available[..take]);
            self.advance(take);
        }
        Ok(bytes)
    }

    /// Reads one byte; `None` at the end of the stream (or on a read error).
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// client.write("z")?;
    /// drop(client);
    /// let mut reader = uvtcp::socket_buf(server);
    /// assert_eq!(reader.read_byte(), Some(b'z'));
    /// assert_eq!(reader.read_byte(), None);
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn read_byte(&mut self) -> Option<u8> {
        self.fill().ok()?;
        let byte = *self.buffered().first()?;
        self.advance(1);
        Some(byte)
    }

    /// Pushes `byte` back: the next read returns it first, and
    /// [`tell`](Self::tell) steps back by one.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// client.write("b")?;
    /// let mut reader = uvtcp::socket_buf(server);
    /// reader.unread_byte(b'a');
    /// assert_eq!(reader.read_bytes(2)?, b"ab");
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn unread_byte(&mut self, byte: u8) {
        if self.read_position > 0 {
            self.read_position -= 1;
            self.read_buffer[self.read_position] = byte;
        } else {
            self.read_buffer.insert(0, byte);
        }
        self.consumed = self.consumed.saturating_sub(1);
    }

    /// Whether the end of the stream was seen and nothing is left to read.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// drop(client);
    /// let mut reader = uvtcp::socket_buf(server);
    /// assert!(!reader.eof());
    /// assert_eq!(reader.read_byte(), None);
    /// assert!(reader.eof());
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn eof(&self) -> bool {
        self.end.is_some() && self.buffered().is_empty()
    }

    /// The number of bytes consumed so far, through every read path.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// client.write("12345")?;
    /// let mut reader = uvtcp::socket_buf(server);
    /// reader.read_bytes(3)?;
    /// assert_eq!(reader.tell(), 3);
    /// # Ok::<(), uvtcp::TcpErrData>(())
    /// ```
    pub fn tell(&self) -> u64 {
        self.consumed
    }

    /// The socket underneath.
    ///
    /// ```
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let _server = listener.accept_timeout(10_000).unwrap();
    /// let buffered = uvtcp::socket_buf(client);
    /// assert!(buffered.get_ref().peer_addr().is_ok());
    /// ```
    pub fn get_ref(&self) -> &TcpSocket {
        self.socket()
    }

    /// Flushes pending writes and returns the socket. Unread buffered bytes
    /// are dropped.
    ///
    /// The pending writes are handed to the socket, in order, before any
    /// write made on the returned socket, and waited for (except on a loop
    /// thread, where nothing blocks). They are never lost silently: if they
    /// fail, the returned socket's [`flush`](TcpSocket::flush) and
    /// [`close`](TcpSocket::close) report the error.
    ///
    /// ```
    /// use std::io::Write;
    /// # let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    /// # let io_task = uvtcp::global_loop();
    /// # let listener = uvtcp::TcpListener::bind(localhost, 0, 64, &io_task).unwrap();
    /// # let port = listener.local_addr().unwrap().port();
    /// # let client = uvtcp::connect(localhost, port, &io_task).unwrap();
    /// # let server = listener.accept_timeout(10_000).unwrap();
    /// let mut buffered = uvtcp::socket_buf(client);
    /// buffered.write_all(b"flushed")?;
    /// let client = buffered.into_inner();
    /// assert_eq!(server.read(5000).unwrap(), b"flushed");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_inner(mut self) -> TcpSocket {
        self.hand_over();
        if !uv_handle::on_loop_thread() {
            // A failure stays recorded in the socket for its flush or close.
            let _ = self.socket().flush();
        }
        self.socket
            .take()
            .expect("the socket is only taken by into_inner")
    }

    fn socket(&self) -> &TcpSocket {
        self.socket
            .as_ref()
            .expect("the socket is only taken by into_inner")
    }

    /// Hands the buffered writes to the socket, in order, without waiting.
    /// From then on the socket sends them or records why it could not; its
    /// flush and close report that.
    fn hand_over(&mut self) {
        if !self.write_buffer.is_empty() {
            let pending = std::mem::take(&mut self.write_buffer);
            drop(self.socket().write_future(pending));
        }
    }

    /// Sends the buffered writes and waits until every byte written so far
    /// is in the kernel; the first write error of the socket otherwise. On
    /// a loop thread it fails with `EAGAIN` and keeps the buffer.
    fn flush_writes(&mut self) -> Result<(), TcpErrData> {
        forbid_blocking("TcpSocketBuf::flush", INSTEAD)?;
        self.hand_over();
        self.socket().flush()
    }
}

impl Read for TcpSocketBuf {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let count = available.len().min(out.len());
        out[..count].copy_from_slice(&available[..count]);
        self.consume(count);
        Ok(count)
    }
}

impl BufRead for TcpSocketBuf {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.fill()?;
        Ok(self.buffered())
    }

    fn consume(&mut self, amount: usize) {
        let amount = amount.min(self.buffered().len());
        self.advance(amount);
    }
}

impl Write for TcpSocketBuf {
    /// Buffers `bytes`. When they would take the buffer beyond 64 KiB, it
    /// first waits until what was buffered before is in the kernel; once
    /// 64 KiB are buffered they are sent without waiting.
    ///
    /// An error means that none of `bytes` was taken: `EAGAIN` on a loop
    /// thread, or the error of the flush that had to make room (a write
    /// error of the socket, such as `EPIPE`).
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        forbid_blocking("TcpSocketBuf::write", INSTEAD)?;
        if self.write_buffer.len() + bytes.len() > WRITE_BUFFER_SIZE {
            self.flush_writes()?;
        }
        self.write_buffer.extend_from_slice(bytes);
        if self.write_buffer.len() >= WRITE_BUFFER_SIZE {
            self.hand_over();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(self.flush_writes()?)
    }
}

impl Drop for TcpSocketBuf {
    /// Hands the pending writes to the socket without blocking (also on a
    /// loop thread); the socket's graceful close then sends them.
    fn drop(&mut self) {
        if self.socket.is_some() {
            self.hand_over();
        }
    }
}

impl fmt::Debug for TcpSocketBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSocketBuf")
            .field("socket", &self.socket)
            .field("buffered", &self.buffered().len())
            .field("pending_writes", &self.write_buffer.len())
            .field("tell", &self.consumed)
            .finish()
    }
}
