//! A fake SMTP server for tests, on `127.0.0.1` with a random port. Plain SMTP only (no TLS).
//!
//! It speaks real SMTP over TCP: `EHLO` (multi-line, offering `AUTH PLAIN`, `8BITMIME`,
//! `SMTPUTF8`), `HELO`, `AUTH PLAIN` (with the initial response or after `334`), `MAIL`,
//! `RCPT`, `DATA` (dot-unstuffed), `RSET`, `NOOP` and `QUIT`. By default it accepts any login;
//! [`FakeSmtp::require_credentials`] makes it check one and refuse `MAIL` before a login.
//!
//! The test side: read what arrived ([`FakeSmtp::received`], [`FakeSmtp::wait_for`]) with
//! helpers to decode the headers and body ([`Received::header`], [`Received::subject`],
//! [`Received::body_text`]), and make the next sessions fail ([`FakeSmtp::fail_next`]).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::message::dot_unstuff;

/// How one whole session (connection) fails instead of going normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpFault {
    /// `451 4.3.0` to `RCPT TO`: try again later.
    Transient,
    /// `550 5.1.1` to `RCPT TO`: no such mailbox.
    Permanent,
    /// Accept the connection and never say anything.
    Hang,
    /// Send the greeting, then close the connection.
    Drop,
    /// `502` to `EHLO` (an old server): the client must fall back to `HELO`.
    NoEhlo,
}

/// One message the fake accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The `MAIL FROM` address.
    pub from: String,
    /// The `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message as sent after `DATA`, dot-unstuffed, without the final `.` line.
    pub data: String,
    /// The user name of the session's successful `AUTH PLAIN`, if any.
    pub user: Option<String>,
}

impl Received {
    /// The first header called `name` (case-insensitive), unfolded, without the leading space.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", "\t");
        unfolded.split("\r\n").find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name)
                .then(|| v.strip_prefix(' ').unwrap_or(v).to_owned())
        })
    }

    /// The `Subject` with RFC 2047 `B` encoded-words in UTF-8 decoded (the only kind the client
    /// writes); `None` if absent or not decodable.
    pub fn subject(&self) -> Option<String> {
        let raw = self.header("Subject")?;
        if !raw.contains("=?") {
            return Some(raw);
        }
        let mut bytes = Vec::new();
        // Whitespace between adjacent encoded-words is not part of the text (RFC 2047 §6.2).
        for word in raw.split_whitespace() {
            let lower = word.to_ascii_lowercase();
            if !lower.starts_with("=?utf-8?b?") || !lower.ends_with("?=") {
                return None;
            }
            bytes.extend(B64.decode(word.get(10..word.len() - 2)?).ok()?);
        }
        String::from_utf8(bytes).ok()
    }

    /// The body decoded by its `Content-Transfer-Encoding` (base64, or none); `None` if it does
    /// not decode to UTF-8.
    pub fn body_text(&self) -> Option<String> {
        let (_, body) = self.data.split_once("\r\n\r\n")?;
        let encoding = self.header("Content-Transfer-Encoding").unwrap_or_default();
        if encoding.trim().eq_ignore_ascii_case("base64") {
            let compact: String = body.split_whitespace().collect();
            String::from_utf8(B64.decode(compact).ok()?).ok()
        } else {
            Some(body.to_owned())
        }
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    faults: VecDeque<SmtpFault>,
    credentials: Option<(String, String)>,
    logins: Vec<(String, String)>,
    connections: usize,
}

struct Shared {
    state: Mutex<State>,
    received: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The fake server; stops, with all its sessions, when dropped.
pub struct FakeSmtp {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeSmtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSmtp")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        // The sessions live in the accept task's JoinSet, which aborts them when dropped.
        self.task.abort();
    }
}

impl FakeSmtp {
    /// Start on `127.0.0.1:0`.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            received: Notify::new(),
        });
        let task = tokio::spawn({
            let shared = shared.clone();
            async move {
                let mut sessions = JoinSet::new();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    while sessions.try_join_next().is_some() {}
                    let fault = {
                        let mut s = shared.lock();
                        s.connections += 1;
                        s.faults.pop_front()
                    };
                    sessions.spawn(session(shared.clone(), stream, fault));
                }
            }
        });
        Ok(Self { shared, addr, task })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Accept only this login, and refuse `MAIL` before it.
    pub fn require_credentials(&self, user: &str, password: &str) {
        self.shared.lock().credentials = Some((user.to_owned(), password.to_owned()));
    }

    /// Make each of the next `n` sessions fail with `fault`.
    pub fn fail_next(&self, n: usize, fault: SmtpFault) {
        self.shared
            .lock()
            .faults
            .extend(std::iter::repeat_n(fault, n));
    }

    /// Every message accepted, in order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }

    /// Every `AUTH PLAIN` attempt as (user, password), accepted or not.
    pub fn logins(&self) -> Vec<(String, String)> {
        self.shared.lock().logins.clone()
    }

    /// How many connections were accepted in all.
    pub fn connections(&self) -> usize {
        self.shared.lock().connections
    }

    /// Wait until at least `count` messages arrived in all; `None` after `timeout`.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Option<Vec<Received>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.received.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let s = self.shared.lock();
                if s.received.len() >= count {
                    return Some(s.received.clone());
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }
}

/// One line from the client without its CRLF; `None` when the connection ends or the line is
/// absurdly long.
async fn read_line(conn: &mut BufReader<TcpStream>) -> Option<String> {
    let mut raw = Vec::new();
    let n = (&mut *conn)
        .take(1 << 20)
        .read_until(b'\n', &mut raw)
        .await
        .ok()?;
    if n == 0 || raw.last() != Some(&b'\n') {
        return None;
    }
    Some(String::from_utf8_lossy(&raw).into_owned())
}

async fn session(shared: Arc<Shared>, stream: TcpStream, fault: Option<SmtpFault>) {
    if fault == Some(SmtpFault::Hang) {
        let _keep_open = stream;
        std::future::pending::<()>().await;
        return;
    }
    let mut conn = BufReader::new(stream);
    // Errors writing mean the client went away; the session just ends.
    let _ = serve(&shared, &mut conn, fault).await;
}

async fn serve(
    shared: &Shared,
    conn: &mut BufReader<TcpStream>,
    fault: Option<SmtpFault>,
) -> std::io::Result<()> {
    // One write per reply: two small writes would meet Nagle's algorithm and the client's
    // delayed acknowledgement, and every session would stall for tens of milliseconds.
    async fn reply(conn: &mut BufReader<TcpStream>, text: &str) -> std::io::Result<()> {
        conn.get_mut()
            .write_all(format!("{text}\r\n").as_bytes())
            .await
    }
    reply(conn, "220 127.0.0.1 fake ESMTP ready").await?;
    if fault == Some(SmtpFault::Drop) {
        return Ok(());
    }
    let mut greeted = false;
    let mut user: Option<String> = None;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    while let Some(line) = read_line(conn).await {
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" if fault == Some(SmtpFault::NoEhlo) => {
                reply(conn, "502 5.5.1 EHLO not implemented").await?;
            }
            "EHLO" => {
                greeted = true;
                reply(
                    conn,
                    "250-127.0.0.1 greets you\r\n250-AUTH PLAIN\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760",
                )
                .await?;
            }
            "HELO" => {
                greeted = true;
                reply(conn, "250 127.0.0.1").await?;
            }
            "AUTH" => {
                let mut parts = arg.split_whitespace();
                if !parts
                    .next()
                    .is_some_and(|m| m.eq_ignore_ascii_case("PLAIN"))
                {
                    reply(conn, "504 5.5.4 only PLAIN").await?;
                    continue;
                }
                let token = match parts.next() {
                    Some(t) => t.to_owned(),
                    None => {
                        reply(conn, "334 ").await?;
                        read_line(conn).await.unwrap_or_default().trim().to_owned()
                    }
                };
                let decoded = B64
                    .decode(token)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok());
                let Some((login, password)) = decoded.as_deref().and_then(|d| {
                    let mut p = d.split('\0');
                    let (_authz, login, password) = (p.next()?, p.next()?, p.next()?);
                    Some((login.to_owned(), password.to_owned()))
                }) else {
                    reply(conn, "501 5.5.2 cannot decode").await?;
                    continue;
                };
                let ok = {
                    let mut s = shared.lock();
                    s.logins.push((login.clone(), password.clone()));
                    s.credentials
                        .as_ref()
                        .is_none_or(|(u, p)| *u == login && *p == password)
                };
                if ok {
                    user = Some(login);
                    reply(conn, "235 2.7.0 Authentication successful").await?;
                } else {
                    reply(conn, "535 5.7.8 Authentication credentials invalid").await?;
                }
            }
            "MAIL" => {
                let needs_login = shared.lock().credentials.is_some() && user.is_none();
                if !greeted {
                    reply(conn, "503 5.5.1 EHLO first").await?;
                } else if needs_login {
                    reply(conn, "530 5.7.0 Authentication required").await?;
                } else if let Some(addr) = path(arg, "FROM:") {
                    from = Some(addr);
                    to.clear();
                    reply(conn, "250 2.1.0 Ok").await?;
                } else {
                    reply(conn, "501 5.5.4 Syntax: MAIL FROM:<address>").await?;
                }
            }
            "RCPT" => match (fault, &from, path(arg, "TO:")) {
                (_, None, _) => reply(conn, "503 5.5.1 MAIL first").await?,
                (_, _, None) => reply(conn, "501 5.5.4 Syntax: RCPT TO:<address>").await?,
                (Some(SmtpFault::Transient), _, _) => {
                    reply(conn, "451 4.3.0 Try again later").await?;
                }
                (Some(SmtpFault::Permanent), _, _) => {
                    reply(conn, "550 5.1.1 Mailbox unavailable").await?;
                }
                (_, Some(_), Some(addr)) => {
                    to.push(addr);
                    reply(conn, "250 2.1.5 Ok").await?;
                }
            },
            "DATA" => {
                if from.is_none() || to.is_empty() {
                    reply(conn, "503 5.5.1 RCPT first").await?;
                    continue;
                }
                reply(conn, "354 End data with <CR><LF>.<CR><LF>").await?;
                let mut raw = String::new();
                loop {
                    let Some(line) = read_line(conn).await else {
                        return Ok(());
                    };
                    if line == ".\r\n" {
                        break;
                    }
                    raw.push_str(&line);
                }
                let message = Received {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    data: dot_unstuff(&raw),
                    user: user.clone(),
                };
                shared.lock().received.push(message);
                shared.received.notify_waiters();
                reply(conn, "250 2.0.0 Ok: queued").await?;
            }
            "RSET" => {
                from = None;
                to.clear();
                reply(conn, "250 2.0.0 Ok").await?;
            }
            "NOOP" => reply(conn, "250 2.0.0 Ok").await?,
            "QUIT" => {
                reply(conn, "221 2.0.0 Bye").await?;
                return Ok(());
            }
            "STARTTLS" => reply(conn, "502 5.5.1 TLS not available").await?,
            _ => reply(conn, "500 5.5.2 Command not recognized").await?,
        }
    }
    Ok(())
}

/// The address in `FROM:<addr> PARAMS` (or `TO:`), without the brackets.
fn path(arg: &str, prefix: &str) -> Option<String> {
    let rest = arg
        .get(..prefix.len())?
        .eq_ignore_ascii_case(prefix)
        .then(|| &arg[prefix.len()..])?;
    let rest = rest.trim_start().strip_prefix('<')?;
    let (addr, _params) = rest.split_once('>')?;
    Some(addr.to_owned())
}
