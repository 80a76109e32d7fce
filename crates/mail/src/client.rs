//! The SMTP client: settings, errors, and one SMTP session per [`SmtpClient::send`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use talaka_core::Secret;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::address::EmailAddress;
use crate::message::{Email, dot_stuff};

/// How the connection to the server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// No TLS at all. Only sensible for a relay on the same machine (`localhost`): anything else
    /// lets the network read the alerts. A password is never sent this way to another host.
    Plain,
    /// Plain TCP, then `STARTTLS` before anything else (usually port 587). If the server does
    /// not offer `STARTTLS` the send fails: no silent downgrade to plain text.
    StartTls,
    /// TLS from the first byte ("implicit TLS", usually port 465).
    Tls,
}

/// Where and how to send.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// Set to log in with `AUTH PLAIN` (then `password` is needed too).
    pub username: Option<String>,
    pub password: Option<Secret<String>>,
    /// The envelope sender (`MAIL FROM`) and the `From:` header.
    pub from: EmailAddress,
    /// The name this host gives in `EHLO`; some servers want a real host name.
    pub hello_name: String,
    /// The limit for one whole send: connecting, TLS, the SMTP exchange.
    pub timeout: Duration,
}

impl SmtpSettings {
    /// No login, `hello_name` "localhost", a 30-second timeout.
    pub fn new(host: impl Into<String>, port: u16, security: Security, from: EmailAddress) -> Self {
        Self {
            host: host.into(),
            port,
            security,
            username: None,
            password: None,
            from,
            hello_name: "localhost".into(),
            timeout: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username.as_ref().map(|_| "[redacted]"))
            .field("password", &self.password)
            .field("from", &self.from)
            .field("hello_name", &self.hello_name)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a send failed. No variant holds the recipient, the password, the message or the
/// server's reply text (which often quotes the recipient): these messages go to logs.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The settings cannot work; fix them and restart.
    #[error("SMTP settings: {0}")]
    Config(String),
    /// The e-mail cannot be sent as it is (e.g. a line break in the subject).
    #[error("invalid e-mail: {0}")]
    Invalid(&'static str),
    /// The server lacks something this e-mail needs (`SMTPUTF8` for a non-ASCII address).
    #[error("the SMTP server does not support {0}")]
    Unsupported(&'static str),
    #[error("cannot connect to the SMTP server: {0}")]
    Connect(String),
    #[error("the SMTP exchange timed out")]
    Timeout,
    #[error("TLS with the SMTP server failed: {0}")]
    Tls(String),
    /// The server answered `code` at `stage` (`greeting`, `ehlo`, `helo`, `starttls`, `auth`,
    /// `mail`, `rcpt`, `data` or `message`, the answer to the message itself).
    #[error("the SMTP server answered {code} at {stage}")]
    Rejected { code: u16, stage: &'static str },
    /// The connection broke or the server spoke something other than SMTP.
    #[error("SMTP protocol: {0}")]
    Protocol(String),
}

impl MailError {
    /// Whether trying again later can succeed: network trouble, timeouts, TLS handshakes
    /// (including a missing `STARTTLS` offer or a certificate not yet renewed: the worker's
    /// limit on attempts ends those), `4xx` answers and broken connections. `5xx` answers,
    /// bad settings and invalid e-mails are permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect(_) | Self::Timeout | Self::Tls(_) | Self::Protocol(_) => true,
            Self::Rejected { code, .. } => (400..500).contains(code),
            Self::Config(_) | Self::Invalid(_) | Self::Unsupported(_) => false,
        }
    }
}

/// Longest reply line read (RFC 5321 allows 512; some servers send more) and most lines in one
/// reply: a hostile server cannot make the client buffer without end.
const MAX_REPLY_LINE: u64 = 4096;
const MAX_REPLY_LINES: usize = 100;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Conn = BufReader<Box<dyn Io>>;

/// An SMTP client. Cheap to share; every [`SmtpClient::send`] opens its own connection.
pub struct SmtpClient {
    settings: SmtpSettings,
    tls: TlsConnector,
    server_name: ServerName<'static>,
}

impl fmt::Debug for SmtpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn is_loopback(host: &str) -> bool {
    matches!(
        host.trim_start_matches('[').trim_end_matches(']'),
        "localhost" | "127.0.0.1" | "::1"
    )
}

impl SmtpClient {
    /// Check the settings and prepare TLS (the Mozilla roots of `webpki-roots`, so the
    /// machine's certificate store plays no part).
    pub fn new(settings: SmtpSettings) -> Result<Self, MailError> {
        let config = |m: &str| Err(MailError::Config(m.to_owned()));
        if settings.host.is_empty() {
            return config("the host is empty");
        }
        let hello = &settings.hello_name;
        if hello.is_empty() || !hello.bytes().all(|b| b.is_ascii_graphic()) {
            return config("hello_name must be a non-empty host name");
        }
        match (&settings.username, &settings.password) {
            (None, None) => {}
            (Some(user), Some(password)) => {
                // AUTH PLAIN separates the parts with NUL.
                if user.is_empty() || user.contains('\0') || password.expose().contains('\0') {
                    return config("the username must be non-empty and neither may contain NUL");
                }
                if settings.security == Security::Plain && !is_loopback(&settings.host) {
                    return config(
                        "refusing to send the password without TLS to a host other than localhost",
                    );
                }
            }
            _ => return config("username and password go together"),
        }
        let server_name = ServerName::try_from(
            settings
                .host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        )
        .map_err(|_| MailError::Config("the host is not a valid DNS name or IP address".into()))?;
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        // An explicit provider: the process-wide default is ambiguous when another dependency
        // enables a second one.
        let tls_config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| MailError::Config(format!("TLS: {e}")))?
                .with_root_certificates(roots)
                .with_no_client_auth();
        Ok(Self {
            settings,
            tls: TlsConnector::from(Arc::new(tls_config)),
            server_name,
        })
    }

    pub fn settings(&self) -> &SmtpSettings {
        &self.settings
    }

    /// Deliver `email` over a new connection. `Ok` means the server accepted the message (its
    /// `250` after the data); whatever goes wrong with `QUIT` afterwards is ignored, so that a
    /// retry does not send it twice. An error that [`MailError::is_transient`] may still mean the
    /// message arrived (the answer was lost): the `Message-ID` lets receivers drop duplicates.
    pub async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = email.render(&self.settings.from, SystemTime::now())?;
        let deadline = Instant::now() + self.settings.timeout;
        let mut conn = tokio::time::timeout_at(deadline, self.deliver(email, &message))
            .await
            .map_err(|_| MailError::Timeout)??;
        let quit = async {
            send_line(&mut conn, "QUIT").await?;
            read_reply(&mut conn).await
        };
        if tokio::time::timeout_at(deadline, quit).await.is_err() {
            tracing::debug!("SMTP QUIT unanswered after the message was accepted");
        }
        Ok(())
    }

    /// Everything up to the server's acceptance of the message; returns the connection for
    /// `QUIT`.
    async fn deliver(&self, email: &Email, message: &str) -> Result<Conn, MailError> {
        let s = &self.settings;
        let tcp = TcpStream::connect((s.host.as_str(), s.port))
            .await
            .map_err(|e| MailError::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let mut conn: Conn = match s.security {
            Security::Tls => BufReader::new(self.tls_handshake(Box::new(tcp)).await?),
            Security::Plain | Security::StartTls => BufReader::new(Box::new(tcp)),
        };
        expect(&mut conn, 220, "greeting").await?;
        let mut ext = hello(&mut conn, &s.hello_name).await?;

        if s.security == Security::StartTls {
            if !ext.starttls {
                return Err(MailError::Tls("the server does not offer STARTTLS".into()));
            }
            send_line(&mut conn, "STARTTLS").await?;
            expect(&mut conn, 220, "starttls").await?;
            // Anything the server sent after its 220 would otherwise be read as if it came
            // through TLS (the STARTTLS command injection attack): refuse.
            if !conn.buffer().is_empty() {
                return Err(MailError::Protocol("data after the STARTTLS answer".into()));
            }
            conn = BufReader::new(self.tls_handshake(conn.into_inner()).await?);
            ext = hello(&mut conn, &s.hello_name).await?;
        }

        if let (Some(user), Some(password)) = (&s.username, &s.password) {
            let token = B64.encode(format!("\0{user}\0{}", password.expose()));
            send_line(&mut conn, &format!("AUTH PLAIN {token}")).await?;
            expect(&mut conn, 235, "auth").await?;
        }

        let utf8 = !(s.from.is_ascii() && email.to.is_ascii());
        if utf8 && !ext.smtputf8 {
            return Err(MailError::Unsupported(
                "SMTPUTF8 (needed for a non-ASCII address)",
            ));
        }
        let mail = format!(
            "MAIL FROM:<{}>{}",
            s.from.as_str(),
            if utf8 { " SMTPUTF8" } else { "" }
        );
        send_line(&mut conn, &mail).await?;
        expect(&mut conn, 250, "mail").await?;
        send_line(&mut conn, &format!("RCPT TO:<{}>", email.to.as_str())).await?;
        expect_any(&mut conn, &[250, 251], "rcpt").await?;
        send_line(&mut conn, "DATA").await?;
        expect(&mut conn, 354, "data").await?;
        let mut data = dot_stuff(message);
        data.push_str(".\r\n"); // `message` ends with CRLF.
        write(&mut conn, &data).await?;
        expect(&mut conn, 250, "message").await?;
        Ok(conn)
    }

    async fn tls_handshake(&self, io: Box<dyn Io>) -> Result<Box<dyn Io>, MailError> {
        let stream = self
            .tls
            .connect(self.server_name.clone(), io)
            .await
            .map_err(|e| MailError::Tls(e.to_string()))?;
        Ok(Box::new(stream))
    }
}

/// What the server offered in its `EHLO` answer (nothing after `HELO`).
#[derive(Debug, Default)]
struct Extensions {
    starttls: bool,
    smtputf8: bool,
}

/// `EHLO`, or `HELO` when the server does not know `EHLO` (a `5xx` answer).
async fn hello(conn: &mut Conn, name: &str) -> Result<Extensions, MailError> {
    send_line(conn, &format!("EHLO {name}")).await?;
    let (code, lines) = read_reply(conn).await?;
    match code {
        250 => Ok(Extensions {
            // The first line is the greeting, the rest one extension each.
            starttls: lines.iter().skip(1).any(|l| keyword(l) == "STARTTLS"),
            smtputf8: lines.iter().skip(1).any(|l| keyword(l) == "SMTPUTF8"),
        }),
        500..=599 => {
            send_line(conn, &format!("HELO {name}")).await?;
            expect(conn, 250, "helo").await?;
            Ok(Extensions::default())
        }
        code => Err(unexpected(code, "ehlo")),
    }
}

fn keyword(line: &str) -> String {
    line.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

async fn write(conn: &mut Conn, data: &str) -> Result<(), MailError> {
    conn.write_all(data.as_bytes()).await.map_err(broken)?;
    conn.flush().await.map_err(broken)
}

async fn send_line(conn: &mut Conn, line: &str) -> Result<(), MailError> {
    write(conn, &format!("{line}\r\n")).await
}

fn broken(e: std::io::Error) -> MailError {
    MailError::Protocol(format!("connection: {}", e.kind()))
}

fn unexpected(code: u16, stage: &'static str) -> MailError {
    if (400..600).contains(&code) {
        MailError::Rejected { code, stage }
    } else {
        MailError::Protocol(format!("unexpected answer {code} at {stage}"))
    }
}

async fn expect(conn: &mut Conn, want: u16, stage: &'static str) -> Result<(), MailError> {
    expect_any(conn, &[want], stage).await
}

async fn expect_any(conn: &mut Conn, want: &[u16], stage: &'static str) -> Result<(), MailError> {
    let (code, _) = read_reply(conn).await?;
    if want.contains(&code) {
        Ok(())
    } else {
        Err(unexpected(code, stage))
    }
}

/// One reply, possibly multi-line (`250-first`, `250-…`, `250 last`): its code and the text of
/// each line.
async fn read_reply(conn: &mut Conn) -> Result<(u16, Vec<String>), MailError> {
    let mut lines = Vec::new();
    loop {
        let mut raw = Vec::new();
        let n = (&mut *conn)
            .take(MAX_REPLY_LINE)
            .read_until(b'\n', &mut raw)
            .await
            .map_err(broken)?;
        if n == 0 {
            return Err(MailError::Protocol(
                "the server closed the connection".into(),
            ));
        }
        if raw.last() != Some(&b'\n') {
            return Err(MailError::Protocol("reply line too long".into()));
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\r', '\n']);
        let code = line
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (200..600).contains(c))
            .ok_or_else(|| MailError::Protocol("malformed reply".into()))?;
        let last = match line.as_bytes().get(3) {
            None | Some(b' ') => true,
            Some(b'-') => false,
            Some(_) => return Err(MailError::Protocol("malformed reply".into())),
        };
        lines.push((code, line.get(4..).unwrap_or_default().to_owned()));
        if lines.iter().any(|(c, _)| *c != code) {
            return Err(MailError::Protocol(
                "reply lines with different codes".into(),
            ));
        }
        if last {
            return Ok((code, lines.into_iter().map(|(_, text)| text).collect()));
        }
        if lines.len() >= MAX_REPLY_LINES {
            return Err(MailError::Protocol("reply with too many lines".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn reply_of(bytes: &'static [u8]) -> Result<(u16, Vec<String>), MailError> {
        let io: Box<dyn Io> = Box::new(tokio_test_io(bytes));
        let mut conn = BufReader::new(io);
        read_reply(&mut conn).await
    }

    /// A duplex stream whose other end already wrote `bytes` and closed.
    fn tokio_test_io(bytes: &'static [u8]) -> tokio::io::DuplexStream {
        let (client, mut server) = tokio::io::duplex(8192);
        tokio::spawn(async move {
            let _ = server.write_all(bytes).await;
        });
        client
    }

    #[tokio::test]
    async fn multi_line_replies_are_read_whole() {
        let (code, lines) =
            reply_of(b"250-mx.example greets you\r\n250-SMTPUTF8\r\n250 STARTTLS\r\n")
                .await
                .unwrap();
        assert_eq!(code, 250);
        assert_eq!(lines, ["mx.example greets you", "SMTPUTF8", "STARTTLS"]);
        assert_eq!(reply_of(b"354\r\n").await.unwrap().0, 354);
    }

    #[tokio::test]
    async fn broken_replies_are_protocol_errors() {
        for bytes in [
            &b"250-a\r\n"[..],     // closed mid-reply
            b"25O ok\r\n",         // not a code
            b"250-a\r\n550 b\r\n", // codes differ
            b"250*a\r\n",          // neither ' ' nor '-'
            b"hello\r\n",
        ] {
            let e = reply_of(bytes).await.unwrap_err();
            assert!(matches!(e, MailError::Protocol(_)), "{bytes:?}: {e:?}");
            assert!(e.is_transient());
        }
        let long: &'static [u8] = Box::leak(vec![b'2'; 10_000].into_boxed_slice());
        assert!(matches!(reply_of(long).await, Err(MailError::Protocol(_))));
    }

    #[test]
    fn transient_and_permanent() {
        let rejected = |code| MailError::Rejected {
            code,
            stage: "rcpt",
        };
        assert!(rejected(451).is_transient());
        assert!(rejected(421).is_transient());
        assert!(!rejected(550).is_transient());
        assert!(!rejected(535).is_transient());
        assert!(MailError::Timeout.is_transient());
        assert!(MailError::Connect("refused".into()).is_transient());
        assert!(!MailError::Config("x".into()).is_transient());
        assert!(!MailError::Invalid("x").is_transient());
    }

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "127.0.0.1", "::1", "[::1]"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "mail.example.by",
            "127.0.0.2.example",
            "10.0.0.1",
            "localhost.evil",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
