//! A small Redis client on uvtcp's blocking API: commands and pipelines in
//! RESP2, Redis's wire protocol, over one `TcpSocket`, with a time limit on
//! every wait, so a server that dies or hangs gives an error, never a hang.
//!
//! The `redis` module is the client; `main` runs a short demo with it.
//!
//! Usage: `cargo run -p uvtcp --example redis_client -- [--host HOST] [--port PORT]`
//! (defaults: `127.0.0.1` and 6379). A throwaway server to try it on:
//! `redis-server --port 6390 --bind 127.0.0.1 --save '' --appendonly no`
//! (Debian: `apt-get install redis-server`).

use std::time::Duration;

use redis::{Client, Error};
use uvtcp::IoTask;

fn main() {
    let mut host = String::from("127.0.0.1");
    let mut port: u16 = 6379;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        match (flag.as_str(), value) {
            ("--host", Some(value)) => host = value,
            ("--port", Some(value)) => port = value.parse().expect("PORT must be a number"),
            _ => {
                eprintln!("usage: redis_client [--host HOST] [--port PORT]");
                std::process::exit(2);
            }
        }
    }
    if let Err(error) = demo(&host, port) {
        eprintln!("redis_client: {error}");
        std::process::exit(1);
    }
}

/// Connects, then shows a PING, a SET and a GET, and a pipeline.
fn demo(host: &str, port: u16) -> Result<(), Error> {
    let io_task = IoTask::spawn().map_err(Error::ConnectionLost)?;
    let mut client = Client::connect(host, port, &io_task, Duration::from_secs(5))?;
    client.ping()?;
    println!("PING -> PONG");
    client.set(b"uvtcp:demo:greeting", b"hello from uvtcp")?;
    println!("SET uvtcp:demo:greeting -> OK");
    let greeting = client.get(b"uvtcp:demo:greeting")?.unwrap_or_default();
    println!(
        "GET uvtcp:demo:greeting -> {:?}",
        String::from_utf8_lossy(&greeting)
    );
    let increment: &[&[u8]] = &[b"INCR", b"uvtcp:demo:counter"];
    let delete: &[&[u8]] = &[b"DEL", b"uvtcp:demo:greeting", b"uvtcp:demo:counter"];
    let replies = client.pipeline(&[increment, increment, delete])?;
    println!("pipelined INCR, INCR, DEL -> {replies:?}");
    let unknown = client.command(&[b"NO-SUCH-COMMAND"]);
    println!("NO-SUCH-COMMAND -> {unknown:?}");
    Ok(())
}

/// A Redis client speaking RESP2 over a uvtcp socket.
pub mod redis {
    use std::fmt;
    use std::time::Duration;

    use uvtcp::{IoTask, TcpConnectErrData, TcpErrData, TcpSocket, connect_host};

    /// A reply of the server (RESP2).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Value {
        /// A simple string, such as `OK` or `PONG`.
        Simple(String),
        /// An error reply, such as `ERR unknown command`.
        Error(String),
        /// An integer.
        Integer(i64),
        /// A binary-safe string.
        Bulk(Vec<u8>),
        /// An array of replies.
        Array(Vec<Value>),
        /// The null bulk string or null array (a missing key, say).
        Nil,
    }

    /// Why a call failed.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Error {
        /// The connection could not be made.
        Connect(String, TcpConnectErrData),
        /// The connection broke (the server closed or reset it).
        ConnectionLost(TcpErrData),
        /// The server sent nothing for this long while a reply was due.
        TimedOut(Duration),
        /// The server sent bytes that are not RESP2.
        Protocol(String),
        /// The server answered with an error reply.
        Server(String),
        /// The server answered with a reply of the wrong type.
        UnexpectedReply(Value),
    }

    impl fmt::Display for Error {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Error::Connect(address, error) => write!(f, "cannot connect to {address}: {error}"),
                Error::ConnectionLost(error) => {
                    write!(f, "the connection to the server was lost: {error}")
                }
                Error::TimedOut(timeout) => {
                    write!(f, "the server did not answer within {timeout:?}")
                }
                Error::Protocol(problem) => write!(f, "the server broke the protocol: {problem}"),
                Error::Server(message) => write!(f, "the server answered: {message}"),
                Error::UnexpectedReply(reply) => write!(f, "unexpected reply {reply:?}"),
            }
        }
    }

    impl std::error::Error for Error {}

    /// A connection to a Redis server.
    ///
    /// After a lost connection, a timeout or a protocol error, the replies
    /// on the connection can no longer be matched to commands: every later
    /// call fails with the same error.
    #[derive(Debug)]
    pub struct Client {
        socket: TcpSocket,
        /// Bytes received and not yet parsed.
        received: Vec<u8>,
        timeout: Duration,
        broken: Option<Error>,
    }

    impl Client {
        /// Connects to `host` (a name or an address) and `port`; connecting
        /// and every later wait for a reply give up after `timeout`.
        pub fn connect(
            host: &str,
            port: u16,
            io_task: &IoTask,
            timeout: Duration,
        ) -> Result<Client, Error> {
            let socket = connect_host(host, port, io_task, milliseconds(timeout))
                .map_err(|error| Error::Connect(format!("{host}:{port}"), error))?;
            let _ = socket.set_nodelay(true);
            Ok(Client {
                socket,
                received: Vec::new(),
                timeout,
                broken: None,
            })
        }

        /// Sends one command (its name and arguments) and returns the reply;
        /// an error reply is `Err(Error::Server)`.
        pub fn command(&mut self, args: &[&[u8]]) -> Result<Value, Error> {
            match self.pipeline(&[args])?.pop() {
                Some(Value::Error(message)) => Err(Error::Server(message)),
                Some(reply) => Ok(reply),
                None => unreachable!("a pipeline of one command has one reply"),
            }
        }

        /// Sends every command in one write, then reads their replies, in
        /// order. Error replies are `Value::Error` items, so one failed
        /// command does not hide the replies of the others.
        pub fn pipeline(&mut self, commands: &[&[&[u8]]]) -> Result<Vec<Value>, Error> {
            if let Some(error) = &self.broken {
                return Err(error.clone());
            }
            let result = self.exchange(commands);
            if let Err(error) = &result {
                self.broken = Some(error.clone());
            }
            result
        }

        /// `PING`, expecting `PONG`.
        pub fn ping(&mut self) -> Result<(), Error> {
            match self.command(&[b"PING"])? {
                Value::Simple(pong) if pong == "PONG" => Ok(()),
                other => Err(Error::UnexpectedReply(other)),
            }
        }

        /// `SET key value`.
        pub fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), Error> {
            match self.command(&[b"SET", key, value])? {
                Value::Simple(ok) if ok == "OK" => Ok(()),
                other => Err(Error::UnexpectedReply(other)),
            }
        }

        /// `GET key`: the value, or `None` when the key does not exist.
        pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
            match self.command(&[b"GET", key])? {
                Value::Bulk(value) => Ok(Some(value)),
                Value::Nil => Ok(None),
                other => Err(Error::UnexpectedReply(other)),
            }
        }

        fn exchange(&mut self, commands: &[&[&[u8]]]) -> Result<Vec<Value>, Error> {
            let mut request = Vec::new();
            for args in commands {
                encode(args, &mut request);
            }
            // Queued without waiting, so a server that answers while it
            // still reads a long pipeline is read from at the same time.
            let sent = self.socket.write_future(request);
            let mut replies = Vec::with_capacity(commands.len());
            let mut parsed = 0;
            while replies.len() < commands.len() {
                match parse(&self.received[parsed..])? {
                    Some((reply, length)) => {
                        replies.push(reply);
                        parsed += length;
                    }
                    None => {
                        self.received.drain(..parsed);
                        parsed = 0;
                        let chunk =
                            self.socket
                                .read(milliseconds(self.timeout))
                                .map_err(|error| {
                                    if error.err_name == "ETIMEDOUT" {
                                        Error::TimedOut(self.timeout)
                                    } else {
                                        Error::ConnectionLost(error)
                                    }
                                })?;
                        self.received.extend_from_slice(&chunk);
                    }
                }
            }
            self.received.drain(..parsed);
            sent.get().map_err(Error::ConnectionLost)?;
            Ok(replies)
        }
    }

    /// A timeout in whole milliseconds for uvtcp, at least 1 (0 would mean
    /// no limit).
    fn milliseconds(timeout: Duration) -> u32 {
        u32::try_from(timeout.as_millis())
            .unwrap_or(u32::MAX)
            .max(1)
    }

    /// Appends a command in RESP2 (an array of bulk strings) to `out`.
    pub fn encode(args: &[&[u8]], out: &mut Vec<u8>) {
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Parses the reply at the start of `input`: the reply and the number of
    /// bytes it takes, or `None` while it is incomplete.
    pub fn parse(input: &[u8]) -> Result<Option<(Value, usize)>, Error> {
        let Some(line_length) = input.windows(2).position(|pair| pair == b"\r\n") else {
            return Ok(None);
        };
        let line = &input[1..line_length];
        let mut length = line_length + 2;
        let reply = match input[0] {
            b'+' => Value::Simple(text(line)?),
            b'-' => Value::Error(text(line)?),
            b':' => Value::Integer(number(line)?),
            b'$' => match number(line)? {
                -1 => Value::Nil,
                size => {
                    let size = usize::try_from(size)
                        .map_err(|_| Error::Protocol(format!("a bulk string of size {size}")))?;
                    let end = length + size;
                    match input.get(end..end + 2) {
                        None => return Ok(None),
                        Some(b"\r\n") => {}
                        Some(_) => {
                            return Err(Error::Protocol("a bulk string without its CRLF".into()));
                        }
                    }
                    let bulk = input[length..end].to_vec();
                    length = end + 2;
                    Value::Bulk(bulk)
                }
            },
            b'*' => match number(line)? {
                -1 => Value::Nil,
                count => {
                    let count = usize::try_from(count)
                        .map_err(|_| Error::Protocol(format!("an array of {count} items")))?;
                    let mut items = Vec::with_capacity(count.min(1024));
                    for _ in 0..count {
                        let Some((item, item_length)) = parse(&input[length..])? else {
                            return Ok(None);
                        };
                        items.push(item);
                        length += item_length;
                    }
                    Value::Array(items)
                }
            },
            other => {
                return Err(Error::Protocol(format!(
                    "a reply starting with byte {other:#04x}"
                )));
            }
        };
        Ok(Some((reply, length)))
    }

    fn text(line: &[u8]) -> Result<String, Error> {
        String::from_utf8(line.to_vec())
            .map_err(|_| Error::Protocol("a line that is not UTF-8".into()))
    }

    fn number(line: &[u8]) -> Result<i64, Error> {
        std::str::from_utf8(line)
            .ok()
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(|| {
                Error::Protocol(format!(
                    "{:?} is not a number",
                    String::from_utf8_lossy(line)
                ))
            })
    }
}
