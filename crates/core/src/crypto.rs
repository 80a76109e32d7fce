//! Cryptographic building blocks: argon2id password hashes, random tokens from the operating
//! system, SHA-256 fingerprints of tokens (the database stores only these), and keyed hashes
//! (HMAC-SHA-256 under the installation's secret key) for pseudonyms and CSRF tokens.

use std::fmt;
use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Secret;
use crate::user::NewPassword;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the operating system's random generator failed: {0}")]
    Random(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Fill a buffer from the operating system's random generator.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| CryptoError::Random(e.to_string()))?;
    Ok(buf)
}

/// A fresh 256-bit token, URL-safe base64 (43 characters): session cookies, invite links.
pub fn random_token() -> Result<Secret<String>, CryptoError> {
    Ok(Secret::new(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)))
}

/// What the database keeps instead of a token: its SHA-256, hex. A stolen database therefore
/// yields no usable session or invite.
pub fn token_fingerprint(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Constant-time comparison of two strings (tokens, CSRF values).
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// A one-time password for a new account, easy to read aloud: five groups of four characters
/// from an alphabet without look-alikes (about 100 bits).
pub fn one_time_password() -> Result<Secret<String>, CryptoError> {
    const ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz23456789_";
    let bytes = random_bytes::<20>()?;
    let mut s = String::with_capacity(24);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            s.push('-');
        }
        let c = ALPHABET[(b & 31) as usize];
        s.push(if c == b'_' { 'x' } else { c as char });
    }
    Ok(Secret::new(s))
}

fn argon2() -> Argon2<'static> {
    // argon2id, m = 19 MiB, t = 2, p = 1: OWASP's recommended minimum.
    Argon2::default()
}

/// Hash a new password with argon2id and a random salt, in PHC string format.
pub fn hash_password(password: &NewPassword) -> Result<String, CryptoError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| CryptoError::Hash(e.to_string()))?;
    argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CryptoError::Hash(e.to_string()))
}

/// Check a password against a stored hash. A malformed hash verifies nothing.
pub fn verify_password(stored_hash: &str, candidate: &str) -> bool {
    match PasswordHash::new(stored_hash) {
        Ok(parsed) => argon2()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Verify `candidate` against the user's hash if there is a user, and against a fixed dummy
/// hash otherwise, so that a login for an unknown name costs the same time as a wrong password.
pub fn verify_password_or_dummy(stored_hash: Option<&str>, candidate: &str) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        let p = NewPassword::parse("talaka-dummy-password-for-timing").expect("valid dummy password");
        hash_password(&p).unwrap_or_else(|_| {
            // Still a valid PHC string with the same cost, so timing stays level.
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$n9ZP6ybxK5IwoW6QpGHcXeDgOoB9UNyAnoeH2EF4aUk".to_owned()
        })
    });
    match stored_hash {
        Some(h) => verify_password(h, candidate),
        None => {
            let _ = verify_password(dummy, candidate);
            false
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the secret key is not set; generate one with `talaka config gen-key`")]
    Missing,
    #[error(
        "the secret key must be 64 hexadecimal characters (32 bytes); generate one with `talaka config gen-key`"
    )]
    Malformed,
    #[error(
        "the secret key is a well-known example value; generate your own with `talaka config gen-key`"
    )]
    Weak,
}

/// The installation's 32-byte secret key. Keyed hashes made with it (participant pseudonyms,
/// CSRF tokens, login-throttle keys) mean nothing to someone who has only the database.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

impl SecretKey {
    /// Parse 64 hex characters. Refuses an empty key and keys with no entropy (all one byte,
    /// or a short repeating pattern such as the examples people paste from documentation).
    pub fn parse_hex(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(KeyError::Missing);
        }
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyError::Malformed);
        }
        let mut key = [0u8; 32];
        for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
            let hi = (chunk[0] as char).to_digit(16).unwrap_or(0);
            let lo = (chunk[1] as char).to_digit(16).unwrap_or(0);
            key[i] = (hi * 16 + lo) as u8;
        }
        let distinct = {
            let mut seen = [false; 256];
            key.iter().for_each(|b| seen[*b as usize] = true);
            seen.iter().filter(|x| **x).count()
        };
        if distinct < 16 {
            return Err(KeyError::Weak);
        }
        Ok(Self(key))
    }

    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self(random_bytes::<32>()?))
    }

    /// The key as 64 hex characters, for writing into a new config file.
    pub fn to_hex(&self) -> Secret<String> {
        Secret::new(hex(&self.0))
    }

    /// HMAC-SHA-256 of `data` under this key, separated by `purpose` so that a value keyed for
    /// one use can never be replayed for another. Hex encoded.
    pub fn keyed_hash(&self, purpose: &str, data: &[u8]) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        hex(&mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn password_hash_verifies_only_the_right_password() {
        let p = NewPassword::parse("correct horse battery staple").unwrap();
        let h = hash_password(&p).unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password(&h, "correct horse battery staple"));
        assert!(!verify_password(&h, "correct horse battery stapl"));
        assert!(!verify_password("not a hash", "anything"));
        assert!(!verify_password_or_dummy(
            None,
            "correct horse battery staple"
        ));
        assert!(verify_password_or_dummy(
            Some(&h),
            "correct horse battery staple"
        ));
        // Two hashes of one password differ: the salt is random.
        assert_ne!(h, hash_password(&p).unwrap());
    }

    #[test]
    fn tokens_are_long_random_and_distinct() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(token_fingerprint(a.expose()).len(), 64);
        assert_ne!(token_fingerprint(a.expose()), a.expose().as_str());
    }

    #[test]
    fn one_time_passwords_meet_the_policy() {
        let p = one_time_password().unwrap();
        assert!(NewPassword::parse(p.expose()).is_ok(), "{}", p.expose());
        assert_eq!(p.expose().len(), 24);
    }

    #[test]
    fn secret_keys_refuse_empty_malformed_and_weak() {
        assert_eq!(SecretKey::parse_hex("").unwrap_err(), KeyError::Missing);
        assert_eq!(
            SecretKey::parse_hex("abc").unwrap_err(),
            KeyError::Malformed
        );
        assert_eq!(
            SecretKey::parse_hex(&"0".repeat(64)).unwrap_err(),
            KeyError::Weak
        );
        assert_eq!(
            SecretKey::parse_hex(&"0123456789abcdef".repeat(4)).unwrap_err(),
            KeyError::Weak
        );
        let k = SecretKey::generate().unwrap();
        let again = SecretKey::parse_hex(k.to_hex().expose()).unwrap();
        assert_eq!(k.keyed_hash("csrf", b"x"), again.keyed_hash("csrf", b"x"));
        assert_ne!(k.keyed_hash("csrf", b"x"), k.keyed_hash("login", b"x"));
        assert!(!format!("{k:?}").contains(&k.to_hex().expose()[..8]));
    }

    proptest! {
        #[test]
        fn ct_eq_agrees_with_eq(a in ".{0,20}", b in ".{0,20}") {
            prop_assert_eq!(ct_eq(&a, &b), a == b);
        }
    }
}
