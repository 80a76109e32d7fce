//! E-mail for Talaka's Safety module: a small async SMTP client that delivers detention alerts,
//! and, with the `fake` feature, a fake SMTP server on `127.0.0.1` for tests.
//!
//! # Design
//!
//! * **One connection per message.** [`SmtpClient::send`] connects, greets (`EHLO`, or `HELO`
//!   for old servers), upgrades with `STARTTLS` or starts in TLS, logs in with `AUTH PLAIN`,
//!   sends one message to one recipient and says `QUIT`. Alerts are few and urgent; a pooled
//!   connection would save little and bring stale-connection failures at the worst moment.
//!   The whole exchange runs under one timeout, so a hanging server cannot hold up the delivery
//!   worker.
//! * **At-least-once, with de-duplication downstream.** The delivery worker retries what
//!   [`MailError::is_transient`] calls transient (network trouble, timeouts, `4xx` answers) with
//!   back-off and gives up on permanent failures (`5xx`, bad settings). A retry after a lost
//!   answer can deliver twice, so every [`Email`] carries a caller-derived `message_id`,
//!   written as `Message-ID:`, that receiving systems use to drop duplicates.
//! * **TLS with the webpki roots.** `rustls` with the Mozilla root certificates compiled in
//!   (`webpki-roots`): the result does not depend on the host's certificate store, which on a
//!   seized or tampered machine is one more thing to trust. `STARTTLS` never falls back to plain
//!   text, and a password never goes over plain text except to `localhost`.
//! * **No personal data in errors or logs.** Addresses ([`EmailAddress`]) and e-mails print as
//!   redacted in `Debug`; errors carry SMTP codes and stages, never the server's reply text
//!   (which often quotes the recipient), the body or the password.
//! * **A 7-bit message.** Subject as RFC 2047 encoded-words when not ASCII, body as base64, CRLF
//!   line endings, dot-stuffing in `DATA`; CR or LF in the subject or message id is refused
//!   (header injection).

pub mod address;
pub mod client;
#[cfg(feature = "fake")]
pub mod fake;
pub mod message;

pub use address::{AddressError, EmailAddress};
pub use client::{MailError, Security, SmtpClient, SmtpSettings};
pub use message::{Email, dot_stuff, dot_unstuff};
