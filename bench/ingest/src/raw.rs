//! A minimal HTTP/1.1 keep-alive client for the load generator: the request is written as bytes
//! and the answer read by `Content-Length`, so that the generator, which shares the machine's
//! two cores with the server, spends as little CPU per request as it can.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Conn {
    addr: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

/// A response: its status and body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

impl Conn {
    pub fn new(addr: &str) -> Self {
        Self {
            addr: addr.to_owned(),
            stream: None,
            buf: Vec::with_capacity(8192),
        }
    }

    /// Send `request` (a whole HTTP/1.1 request) and read the answer. On any error the
    /// connection is dropped and the next call opens a new one.
    pub async fn send(&mut self, request: &[u8], timeout: Duration) -> Res<Answer> {
        match tokio::time::timeout(timeout, self.exchange(request)).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(e)) => {
                self.stream = None;
                Err(e)
            }
            Err(_) => {
                self.stream = None;
                Err("timed out".into())
            }
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> Res<Answer> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
            self.buf.clear();
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err("no connection".into());
        };
        stream.write_all(request).await?;
        // Read until the end of the headers.
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            read_more(stream, &mut self.buf).await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end])?;
        let status: u16 = head.split(' ').nth(1).ok_or("no status line")?.parse()?;
        let mut length = None;
        let mut close = false;
        for line in head.split("\r\n").skip(1) {
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = Some(value.parse::<usize>()?);
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    return Err("chunked answers are not supported by this client".into());
                } else if name.eq_ignore_ascii_case("connection")
                    && value.eq_ignore_ascii_case("close")
                {
                    close = true;
                }
            }
        }
        let length = length.ok_or("no content-length")?;
        while self.buf.len() < head_end + length {
            read_more(stream, &mut self.buf).await?;
        }
        let body = self.buf[head_end..head_end + length].to_vec();
        self.buf.drain(..head_end + length);
        if close {
            self.stream = None;
        }
        Ok(Answer { status, body })
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Res<()> {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await?;
    if n == 0 {
        return Err("connection closed".into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Every `"receipt":"…"` value in a JSON answer, in order (the server's JSON has no spaces).
pub fn receipts(body: &[u8]) -> Vec<&str> {
    const KEY: &[u8] = b"\"receipt\":\"";
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = find(rest, KEY) {
        rest = &rest[i + KEY.len()..];
        let Some(end) = rest.iter().position(|&b| b == b'"') else {
            break;
        };
        if let Ok(r) = std::str::from_utf8(&rest[..end]) {
            out.push(r);
        }
        rest = &rest[end..];
    }
    out
}
