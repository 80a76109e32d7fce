//! Building the RFC 5322 message and the SMTP `DATA` transparency (dot-stuffing).
//!
//! The message is 7-bit clean whatever the text: the subject becomes RFC 2047 encoded-words
//! when it is not plain ASCII and the body is base64, so no relay on the way can mangle
//! Cyrillic text and no body line can be mistaken for SMTP's end-of-data.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::address::EmailAddress;
use crate::client::MailError;

/// The longest `message_id` accepted; it sits on one header line (at most 998 octets).
pub const MAX_MESSAGE_ID_LEN: usize = 250;

/// One e-mail to one recipient.
///
/// `Debug` shows only the `message_id`: the recipient, subject and body of a detention alert are
/// personal data.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    pub to: EmailAddress,
    pub subject: String,
    /// Plain text. Line breaks (`\n`, `\r\n` or `\r`) are sent as CRLF, MIME's canonical form.
    pub body: String,
    /// The idempotency key the caller derives from what the e-mail is about, e.g.
    /// `alert-17.recipient-3.email@talaka`. Sent as `Message-ID: <…>`, so that when a retry
    /// delivers the same alert twice (the server accepted it but the answer was lost), receiving
    /// systems and clients can drop the duplicate. Printable ASCII with exactly one `@`, no
    /// whitespace or angle brackets.
    pub message_id: String,
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("to", &self.to)
            .field("subject", &"[redacted]")
            .field("body", &"[redacted]")
            .field("message_id", &self.message_id)
            .finish()
    }
}

impl Email {
    /// Check what could break the headers: a CR or LF in the subject or message id would let
    /// text become headers of its own (header injection).
    pub fn validate(&self) -> Result<(), MailError> {
        if self.subject.contains(['\r', '\n']) {
            return Err(MailError::Invalid("the subject contains a line break"));
        }
        let id = &self.message_id;
        if id.contains(['\r', '\n']) {
            return Err(MailError::Invalid("the message id contains a line break"));
        }
        if id.is_empty() || id.len() > MAX_MESSAGE_ID_LEN {
            return Err(MailError::Invalid("the message id is empty or too long"));
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
        {
            return Err(MailError::Invalid(
                "the message id must be printable ASCII without angle brackets",
            ));
        }
        let mut halves = id.split('@');
        match (halves.next(), halves.next(), halves.next()) {
            (Some(left), Some(right), None) if !left.is_empty() && !right.is_empty() => Ok(()),
            _ => Err(MailError::Invalid(
                "the message id needs the form left@right",
            )),
        }
    }

    /// The complete message (headers and base64 body) with CRLF line endings, before
    /// dot-stuffing. `date` is the `Date:` header.
    pub fn render(&self, from: &EmailAddress, date: SystemTime) -> Result<String, MailError> {
        self.validate()?;
        let mut m = String::with_capacity(self.body.len() * 4 / 3 + 512);
        m.push_str("Date: ");
        m.push_str(&rfc5322_date(date));
        m.push_str("\r\nFrom: <");
        m.push_str(from.as_str());
        m.push_str(">\r\nTo: <");
        m.push_str(self.to.as_str());
        m.push_str(">\r\nSubject:");
        m.push_str(&encode_subject(&self.subject));
        m.push_str("\r\nMessage-ID: <");
        m.push_str(&self.message_id);
        m.push_str(">\r\nMIME-Version: 1.0\r\n");
        m.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        m.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
        let body = B64.encode(crlf_line_breaks(&self.body));
        // RFC 2045 §6.8: encoded lines of at most 76 characters. Base64 is ASCII, so slicing
        // by bytes is slicing by characters.
        for line in body.as_bytes().chunks(76) {
            m.push_str(&String::from_utf8_lossy(line));
            m.push_str("\r\n");
        }
        Ok(m)
    }
}

/// The subject's header value, with its leading space: as is when it is short printable ASCII,
/// otherwise RFC 2047 encoded-words (`=?UTF-8?B?…?=`) of at most 75 characters each, folded
/// onto continuation lines so that no line exceeds 78 characters.
fn encode_subject(subject: &str) -> String {
    let plain = subject.len() <= 68 // "Subject: " + 68 < 78
        && subject.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
        && !subject.contains("=?"); // would be read as an encoded-word
    if plain {
        return format!(" {subject}");
    }
    if subject.is_empty() {
        return String::new();
    }
    // 42 bytes are 56 base64 characters, a 68-character encoded-word ("=?UTF-8?B?" + 56 +
    // "?="): with "Subject: " in front, 77. Chunks end on character boundaries: an encoded-word
    // must hold whole characters (RFC 2047 §5).
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in subject.chars() {
        if chunk.len() + c.len_utf8() > 42 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    words.push(chunk);
    words
        .iter()
        .map(|w| format!(" =?UTF-8?B?{}?=", B64.encode(w)))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Every line break (`\r\n`, a lone `\n` or a lone `\r`) as CRLF.
fn crlf_line_breaks(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\r\n");
            }
            '\n' => out.push_str("\r\n"),
            c => out.push(c),
        }
    }
    out
}

/// SMTP transparency (RFC 5321 §4.5.2): one more `.` in front of every line that starts with
/// one, so that no line of the content can be the end-of-data line `.`. A line starts at the
/// beginning and after every `\n` (also a bare one: some servers treat it as a line end).
pub fn dot_stuff(data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 16);
    let mut at_line_start = true;
    for c in data.chars() {
        if at_line_start && c == '.' {
            out.push('.');
        }
        out.push(c);
        at_line_start = c == '\n';
    }
    out
}

/// The receiving side of [`dot_stuff`]: drops the first `.` of every line that starts with one.
pub fn dot_unstuff(data: &str) -> String {
    let mut out = String::with_capacity(data.len());
    let mut at_line_start = true;
    for c in data.chars() {
        if !(at_line_start && c == '.') {
            out.push(c);
        }
        at_line_start = c == '\n';
    }
    out
}

/// `Thu, 01 Jan 1970 00:00:00 +0000` (RFC 5322 §3.3), in UTC.
fn rfc5322_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = WEEKDAYS[usize::try_from(days.rem_euclid(7)).unwrap_or(0)];
    let month = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    format!(
        "{weekday}, {day:02} {month} {year} {:02}:{:02}:{:02} +0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month 1..=12, day).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    fn email(subject: &str, body: &str, id: &str) -> Email {
        Email {
            to: EmailAddress::parse("to@example.by").unwrap(),
            subject: subject.into(),
            body: body.into(),
            message_id: id.into(),
        }
    }

    #[test]
    fn dates_are_rfc5322() {
        let at = |s| rfc5322_date(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(at(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 +0000");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(at(4_102_444_799), "Thu, 31 Dec 2099 23:59:59 +0000");
    }

    #[test]
    fn subject_lines_stay_short_and_decode_back() {
        let subject =
            "Затрыманне: Мінск, Партызанскі раён — патрэбны адвакат, тэрмінова! ".repeat(3);
        let encoded = encode_subject(&subject);
        let mut decoded = Vec::new();
        for (i, line) in encoded.split("\r\n").enumerate() {
            let prefix = if i == 0 { "Subject:".len() } else { 0 };
            assert!(prefix + line.len() <= 78, "{line}");
            let word = line
                .strip_prefix(" =?UTF-8?B?")
                .unwrap()
                .strip_suffix("?=")
                .unwrap();
            assert!(line.len() - 1 <= 75);
            // Every word is valid UTF-8 on its own.
            let bytes = B64.decode(word).unwrap();
            assert!(String::from_utf8(bytes.clone()).is_ok());
            decoded.extend(bytes);
        }
        assert_eq!(String::from_utf8(decoded).unwrap(), subject);
        assert_eq!(encode_subject("Detention alert"), " Detention alert");
        assert!(encode_subject("=?UTF-8?B?x?=").starts_with(" =?UTF-8?B?"));
    }

    #[test]
    fn header_injection_is_refused() {
        let from = EmailAddress::parse("from@example.by").unwrap();
        for e in [
            email("Alert\r\nBcc: spy@example.com", "b", "a@t"),
            email("Alert\nBcc: spy@example.com", "b", "a@t"),
            email("Alert", "b", "a@t>\r\nBcc: spy@example.com"),
            email("Alert", "b", "a@t\n"),
            email("Alert", "b", "a b@t"),
            email("Alert", "b", "no-at"),
            email("Alert", "b", ""),
        ] {
            assert!(
                matches!(e.render(&from, UNIX_EPOCH), Err(MailError::Invalid(_))),
                "{e:?}"
            );
        }
    }

    #[test]
    fn body_is_base64_of_the_crlf_text_in_short_lines() {
        let from = EmailAddress::parse("from@example.by").unwrap();
        let body = "Радок 1\n.радок з кропкай\r\nрадок 3\rканец".repeat(10);
        let m = email("S", &body, "id@t").render(&from, UNIX_EPOCH).unwrap();
        let (head, encoded) = m.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("Message-ID: <id@t>\r\n"));
        assert!(m.lines().all(|l| l.len() <= 78));
        assert!(
            !m.replace("\r\n", "").contains(['\r', '\n']),
            "bare CR or LF"
        );
        let decoded = B64.decode(encoded.replace("\r\n", "")).unwrap();
        let want = body
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .replace('\n', "\r\n");
        assert_eq!(String::from_utf8(decoded).unwrap(), want);
    }

    #[test]
    fn debug_hides_the_content() {
        let shown = format!("{:?}", email("Secret subject", "secret body", "alert-1@t"));
        assert!(!shown.contains("ecret"), "{shown}");
        assert!(shown.contains("alert-1@t"));
    }

    #[test]
    fn dot_stuffing_examples() {
        assert_eq!(dot_stuff(".\r\n"), "..\r\n");
        assert_eq!(dot_stuff("a\r\n.b\r\n..c"), "a\r\n..b\r\n...c");
        assert_eq!(dot_stuff("a.b"), "a.b");
    }

    proptest! {
        #[test]
        fn dot_stuffing_round_trips_and_never_ends_data_early(
            body in "(\\.|\r|\n|\r\n|[a-zа-я .]){0,200}"
        ) {
            let stuffed = dot_stuff(&body);
            prop_assert_eq!(dot_unstuff(&stuffed), body);
            prop_assert!(!stuffed.contains("\r\n.\r\n"));
            prop_assert!(!stuffed.starts_with(".\r\n"));
        }

        #[test]
        fn dot_stuffing_round_trips_any_text(body in any::<String>()) {
            prop_assert_eq!(dot_unstuff(&dot_stuff(&body)), body);
        }
    }
}
