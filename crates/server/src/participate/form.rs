//! Reading a participant's form: `multipart/form-data` (with a photo) or urlencoded, with
//! limits on every field, and the validation helpers that name the field that is wrong.

use std::collections::HashMap;

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;

/// Longest text field accepted, in bytes.
const MAX_TEXT: usize = 4096;
/// Most fields in one form.
const MAX_FIELDS: usize = 200;
/// Largest urlencoded form.
const MAX_URLENCODED: usize = 64 * 1024;
/// The file field of every form.
pub const PHOTO_FIELD: &str = "photo";

/// What a participant sent.
#[derive(Debug, Default)]
pub struct Submitted {
    pub fields: HashMap<String, String>,
    /// The photo's bytes as sent; `None` when no file was chosen or it was too large.
    pub photo: Option<Vec<u8>>,
    /// The photo was larger than the limit; reading stopped there, and the fields before it
    /// (the form puts the photo last) are kept for showing the form again.
    pub photo_too_large: bool,
}

/// Why a form could not be read at all: too many fields, a text field too long, not UTF-8, a
/// broken multipart body.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

/// Read a form body. The photo is read up to `max_photo` bytes and refused beyond.
pub async fn read(req: Request, max_photo: usize) -> Result<Submitted, Malformed> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        read_multipart(req, max_photo).await
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_URLENCODED)
            .await
            .map_err(|_| Malformed)?;
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| Malformed)?;
        if pairs.len() > MAX_FIELDS {
            return Err(Malformed);
        }
        Ok(Submitted {
            fields: pairs.into_iter().collect(),
            ..Submitted::default()
        })
    } else {
        Err(Malformed)
    }
}

async fn read_multipart(req: Request, max_photo: usize) -> Result<Submitted, Malformed> {
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|_| Malformed)?;
    let mut out = Submitted::default();
    let mut count = 0usize;
    while let Some(mut field) = multipart.next_field().await.map_err(|_| Malformed)? {
        count += 1;
        if count > MAX_FIELDS {
            return Err(Malformed);
        }
        let name = field.name().unwrap_or_default().to_owned();
        let is_file = field.file_name().is_some();
        let limit = if name == PHOTO_FIELD {
            max_photo
        } else {
            MAX_TEXT
        };
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|_| Malformed)? {
            if buf.len() + chunk.len() > limit {
                if name == PHOTO_FIELD {
                    out.photo = None;
                    out.photo_too_large = true;
                    return Ok(out);
                }
                return Err(Malformed);
            }
            buf.extend_from_slice(&chunk);
        }
        if name == PHOTO_FIELD {
            // An empty file input still sends a part, with no bytes.
            if !buf.is_empty() {
                out.photo = Some(buf);
            }
        } else if !is_file {
            let text = String::from_utf8(buf).map_err(|_| Malformed)?;
            out.fields.insert(name, text);
        }
    }
    Ok(out)
}

/// A field the participant must correct: which one, its label as shown, and what is wrong
/// (an i18n key under `participate.problem`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub label: String,
    pub problem: &'static str,
}

/// The largest count a form accepts: more voters than any polling station has.
pub const MAX_COUNT: u32 = 1_000_000;

/// A count typed by a person: digits, with spaces allowed as thousands separators. Empty is
/// `Ok(None)`.
pub fn parse_count(s: &str) -> Result<Option<u32>, &'static str> {
    let digits: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{202f}')
        .collect();
    if digits.is_empty() {
        return Ok(None);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("participate.problem.number");
    }
    match digits.parse::<u32>() {
        Ok(n) if n <= MAX_COUNT => Ok(Some(n)),
        _ => Err("participate.problem.too_large"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(parse_count(""), Ok(None));
        assert_eq!(parse_count(" 1 250 "), Ok(Some(1250)));
        assert_eq!(parse_count("0"), Ok(Some(0)));
        assert_eq!(parse_count("-3"), Err("participate.problem.number"));
        assert_eq!(parse_count("12a"), Err("participate.problem.number"));
        assert_eq!(parse_count("3.5"), Err("participate.problem.number"));
        assert_eq!(parse_count("1000001"), Err("participate.problem.too_large"));
        assert_eq!(
            parse_count("99999999999999999999"),
            Err("participate.problem.too_large")
        );
    }
}
