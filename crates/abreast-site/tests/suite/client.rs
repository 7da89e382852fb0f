//! A minimal blocking HTTP/1.1 client for the tests: it reports exactly what arrived and how the
//! exchange ended (complete, early EOF, reset, timeout), which a real client would hide.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How a response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The whole body arrived, as framed by Content-Length or chunked encoding.
    Complete,
    /// The connection closed cleanly (FIN) before the framing said the body was done.
    EarlyEof,
    /// The connection was reset (RST).
    Reset,
    /// Nothing more arrived within the read timeout.
    TimedOut,
}

/// What came back for one request.
#[derive(Debug)]
pub struct Reply {
    /// The status code, or `None` if the status line never arrived.
    pub status: Option<u16>,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body bytes that arrived (dechunked; empty when the connection discards bodies).
    pub body: Vec<u8>,
    /// How many body bytes arrived.
    pub body_len: u64,
    /// How it ended.
    pub end: End,
}

impl Reply {
    /// The first header of this (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive connection.
pub struct Connection {
    reader: BufReader<TcpStream>,
    /// Count body bytes without keeping them (for huge bodies).
    pub discard_bodies: bool,
}

impl Connection {
    /// Connects, with this read timeout.
    pub fn open(addr: SocketAddr, timeout: Duration) -> Connection {
        let stream = TcpStream::connect(addr).expect("the test site accepts connections");
        stream.set_read_timeout(Some(timeout)).unwrap();
        Connection {
            reader: BufReader::new(stream),
            discard_bodies: false,
        }
    }

    /// Sends `GET path` and reads the reply.
    pub fn get(&mut self, path: &str) -> Reply {
        self.request("GET", path)
    }

    /// Sends `method path` and reads the reply (no body for HEAD).
    pub fn request(&mut self, method: &str, path: &str) -> Reply {
        let request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n\r\n");
        self.reader
            .get_mut()
            .write_all(request.as_bytes())
            .expect("the request is sent");
        let mut reply = Reply {
            status: None,
            headers: Vec::new(),
            body: Vec::new(),
            body_len: 0,
            end: End::Complete,
        };
        let keep = !self.discard_bodies;
        let mut line = String::new();
        match read_line(&mut self.reader, &mut line) {
            Ok(0) => {
                reply.end = End::EarlyEof;
                return reply;
            }
            Ok(_) => {}
            Err(error) => {
                reply.end = classify(&error);
                return reply;
            }
        }
        reply.status = line.split(' ').nth(1).and_then(|code| code.parse().ok());
        loop {
            line.clear();
            match read_line(&mut self.reader, &mut line) {
                Ok(0) => {
                    reply.end = End::EarlyEof;
                    return reply;
                }
                Ok(_) => {}
                Err(error) => {
                    reply.end = classify(&error);
                    return reply;
                }
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("a header line has a colon");
            reply
                .headers
                .push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        // A HEAD, a 204 and a 304 have no body (RFC 9112, section 6.3).
        if method == "HEAD" || matches!(reply.status, Some(204 | 304)) {
            return reply;
        }
        let result = if reply.header("transfer-encoding") == Some("chunked") {
            read_chunked(&mut self.reader, &mut reply, keep)
        } else if let Some(length) = reply.header("content-length") {
            let length: u64 = length.parse().unwrap();
            read_exact_or_short(&mut self.reader, length, &mut reply, keep)
        } else {
            read_exact_or_short(&mut self.reader, u64::MAX, &mut reply, keep).map(|_| End::Complete)
        };
        reply.end = result.unwrap_or_else(|error| classify(&error));
        reply
    }
}

/// Opens a connection, sends one GET, reads the reply (a read timeout only a hang reaches).
pub fn get(addr: SocketAddr, path: &str) -> Reply {
    Connection::open(addr, Duration::from_secs(60)).get(path)
}

fn read_line(reader: &mut BufReader<TcpStream>, line: &mut String) -> io::Result<usize> {
    reader.read_line(line)
}

fn classify(error: &io::Error) -> End {
    match error.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => End::Reset,
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => End::TimedOut,
        io::ErrorKind::UnexpectedEof => End::EarlyEof,
        _ => panic!("unexpected error from the test site: {error}"),
    }
}

fn read_exact_or_short(
    reader: &mut BufReader<TcpStream>,
    length: u64,
    reply: &mut Reply,
    keep: bool,
) -> io::Result<End> {
    let mut buffer = vec![0; 64 * 1024];
    let mut left = length;
    while left > 0 {
        let want = buffer
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        let got = reader.read(&mut buffer[..want])?;
        if got == 0 {
            return Ok(End::EarlyEof);
        }
        if keep {
            reply.body.extend_from_slice(&buffer[..got]);
        }
        reply.body_len += got as u64;
        left -= got as u64;
    }
    Ok(End::Complete)
}

fn read_chunked(
    reader: &mut BufReader<TcpStream>,
    reply: &mut Reply,
    keep: bool,
) -> io::Result<End> {
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(End::EarlyEof);
        }
        let size = usize::from_str_radix(line.trim_end(), 16).expect("a chunk size line");
        if size == 0 {
            line.clear();
            reader.read_line(&mut line)?;
            return Ok(End::Complete);
        }
        if read_exact_or_short(reader, size as u64, reply, keep)? != End::Complete {
            return Ok(End::EarlyEof);
        }
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
    }
}
