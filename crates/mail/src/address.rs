//! E-mail addresses, validated once so that the SMTP envelope and the headers can be written
//! without further escaping.

use std::fmt;

/// The longest address SMTP can carry in a path (RFC 5321 §4.5.3.1.3: 256 octets including the
/// angle brackets).
pub const MAX_ADDRESS_LEN: usize = 254;

/// Why a string is not an address Talaka sends to. Holds nothing of the input: addresses are
/// personal data and errors end up in logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("the address is empty")]
    Empty,
    #[error("the address is longer than {MAX_ADDRESS_LEN} characters")]
    TooLong,
    #[error("the address needs exactly one @")]
    NotOneAt,
    #[error("the part before the @ is empty")]
    EmptyLocalPart,
    #[error("the domain is empty or has an empty label")]
    BadDomain,
    #[error(
        "the address contains whitespace, a control character or a character SMTP headers give a meaning to"
    )]
    ForbiddenCharacter,
}

/// A syntactically plausible e-mail address (`local@domain`), trimmed.
///
/// Deliberately stricter than RFC 5321: no whitespace, control characters, angle brackets, or
/// the characters only quoted local parts may hold (`" , ; : ( ) [ ] \`). Those would let an
/// address change the meaning of the envelope (`RCPT TO:<…>`) or of the `To:` header (a comma
/// adds a recipient); real mailboxes almost never need them. Non-ASCII is allowed (RFC 6531); the
/// client then needs the server's `SMTPUTF8` extension.
///
/// `Debug` prints `EmailAddress([redacted])` and there is no `Display`: an address is personal
/// data, so reading it takes a deliberate [`EmailAddress::as_str`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        if s.chars().count() > MAX_ADDRESS_LEN {
            return Err(AddressError::TooLong);
        }
        if s.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(
                    c,
                    '<' | '>' | '"' | ',' | ';' | ':' | '(' | ')' | '[' | ']' | '\\'
                )
        }) {
            return Err(AddressError::ForbiddenCharacter);
        }
        let mut parts = s.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(AddressError::NotOneAt);
        };
        if local.is_empty() {
            return Err(AddressError::EmptyLocalPart);
        }
        if domain.split('.').any(str::is_empty) {
            return Err(AddressError::BadDomain);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the address needs the `SMTPUTF8` extension to be sent.
    pub(crate) fn is_ascii(&self) -> bool {
        self.0.is_ascii()
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailAddress([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses_trimmed() {
        let a = EmailAddress::parse("  ala.makota+alerts@example.by \n").unwrap();
        assert_eq!(a.as_str(), "ala.makota+alerts@example.by");
        assert!(EmailAddress::parse("юрыст@прыклад.бел").is_ok());
    }

    #[test]
    fn refuses_what_could_change_the_envelope_or_headers() {
        use AddressError::*;
        let cases = [
            ("", Empty),
            ("   ", Empty),
            ("no-at.example", NotOneAt),
            ("a@b@c", NotOneAt),
            ("@example.by", EmptyLocalPart),
            ("a@", BadDomain),
            ("a@example..by", BadDomain),
            ("a@.by", BadDomain),
            ("a@example.by.", BadDomain),
            ("a b@example.by", ForbiddenCharacter),
            ("a@example.by\r\nRCPT TO:<x@y>", ForbiddenCharacter),
            ("a@ex\nample.by", ForbiddenCharacter),
            ("a>@example.by", ForbiddenCharacter),
            ("<a@example.by", ForbiddenCharacter),
            ("a@example.by,b@example.by", ForbiddenCharacter),
            ("a\u{0}@example.by", ForbiddenCharacter),
        ];
        for (input, want) in cases {
            assert_eq!(EmailAddress::parse(input), Err(want), "{input:?}");
        }
        let long = format!("{}@example.by", "a".repeat(250));
        assert_eq!(EmailAddress::parse(&long), Err(TooLong));
        let just = format!("{}@example.by", "a".repeat(254 - 11));
        assert!(EmailAddress::parse(&just).is_ok());
    }

    #[test]
    fn debug_and_errors_never_show_the_address() {
        let a = EmailAddress::parse("secret.person@example.by").unwrap();
        let shown = format!("{a:?} {:#?}", Some(&a));
        assert!(!shown.contains("secret"), "{shown}");
        let e = EmailAddress::parse("secret person@example.by").unwrap_err();
        assert!(!format!("{e} {e:?}").contains("secret"));
    }
}
