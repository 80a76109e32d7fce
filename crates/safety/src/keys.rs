//! The safety key file and the sealing of personal data.
//!
//! Every personal field of the Safety module (a person's details, how to reach them, a
//! contact's address, where a detained person is held, a case note) is sealed with
//! XChaCha20-Poly1305 under a key that lives in a **key file outside the database**, so a
//! seized or leaked database (or backup) alone reveals none of it.
//!
//! # The key file
//!
//! Text, one key a line, newest first; `#` starts a comment:
//!
//! ```text
//! # Talaka safety key file ...
//! talaka-safety-key 2 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//! talaka-safety-key 1 60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752
//! ```
//!
//! The first line's key seals everything new; the others only open what they sealed before.
//! `talaka safety keygen` writes a new file (mode 0600); `talaka safety rotate-key` puts a new
//! key first and re-seals every stored field under it, after which the old lines can be
//! removed. `docs/safety-keys.md` is the operator's guide (generation, backup, rotation).
//!
//! # Sealed format
//!
//! `0x01` (format), the key's number (4 bytes, big-endian), a random 24-byte nonce, then the
//! ciphertext with its 16-byte tag. The associated data binds a seal to its purpose and to the
//! person it belongs to (`person_ref`), so a sealed field copied to another person or another
//! column fails to open instead of showing the wrong data.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use talaka_core::Secret;
use talaka_core::crypto::{hex, random_bytes};
use talaka_store::safety::Sealed;

const FORMAT: u8 = 1;
const NONCE: usize = 24;
const HEADER: usize = 1 + 4 + NONCE;
/// Bytes a sealed field has beyond its plaintext.
pub const OVERHEAD: usize = HEADER + 16;
const LINE_TAG: &str = "talaka-safety-key";

/// What a sealed field is; part of the associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// A person's registered details ([`crate::PersonDetails`]).
    Details,
    /// How to reach the person ([`crate::Reach`]).
    Reach,
    /// A recipient's address ([`crate::Address`]).
    Address,
    /// Where a detained person is held.
    Custody,
    /// A sentence.
    Sentence,
    /// A case note.
    Note,
}

impl Purpose {
    pub const ALL: &'static [Purpose] = &[
        Purpose::Details,
        Purpose::Reach,
        Purpose::Address,
        Purpose::Custody,
        Purpose::Sentence,
        Purpose::Note,
    ];

    fn label(self) -> &'static str {
        match self {
            Purpose::Details => "details",
            Purpose::Reach => "reach",
            Purpose::Address => "address",
            Purpose::Custody => "custody",
            Purpose::Sentence => "sentence",
            Purpose::Note => "note",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    #[error("the safety key file has no key")]
    Empty,
    #[error("line {line} of the safety key file is not `talaka-safety-key NUMBER HEX64`")]
    Malformed { line: usize },
    #[error("key number {0} appears twice in the safety key file")]
    Duplicate(u32),
    #[error("the operating system's random generator failed")]
    Random,
}

/// Why a sealed field did not open. Deliberately without detail: tampering and a wrong key
/// look the same from outside.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("sealed data was made with key {0}, which is not in the safety key file")]
    UnknownKey(u32),
    #[error("sealed data is damaged, was changed, or belongs elsewhere")]
    Tampered,
}

#[derive(Clone)]
struct Entry {
    id: u32,
    raw: [u8; 32],
    cipher: XChaCha20Poly1305,
}

/// The safety keys, newest first. Never printed.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<Entry>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current_id())
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

impl Keyring {
    fn entry(id: u32, raw: [u8; 32]) -> Entry {
        Entry {
            id,
            raw,
            cipher: XChaCha20Poly1305::new(Key::from_slice(&raw)),
        }
    }

    /// A new key file's keys: one fresh random key, number 1.
    pub fn generate() -> Result<Self, KeyFileError> {
        let raw = random_bytes::<32>().map_err(|_| KeyFileError::Random)?;
        Ok(Keyring {
            keys: vec![Self::entry(1, raw)],
        })
    }

    /// This keyring with a fresh key put first (numbered one above the highest); the old keys
    /// stay so existing seals still open until they are re-sealed.
    pub fn rotated(&self) -> Result<Self, KeyFileError> {
        let raw = random_bytes::<32>().map_err(|_| KeyFileError::Random)?;
        let next = self.keys.iter().map(|k| k.id).max().unwrap_or(0) + 1;
        let mut keys = vec![Self::entry(next, raw)];
        keys.extend(self.keys.iter().cloned());
        Ok(Keyring { keys })
    }

    /// This keyring without its old keys (after every seal was re-sealed under the current).
    pub fn current_only(&self) -> Self {
        Keyring {
            keys: self.keys.iter().take(1).cloned().collect(),
        }
    }

    /// Read a key file's text.
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let mut keys: Vec<Entry> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = KeyFileError::Malformed { line: i + 1 };
            let mut parts = line.split_whitespace();
            let (Some(LINE_TAG), Some(id), Some(key), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad);
            };
            let id: u32 = id.parse().map_err(|_| bad.clone())?;
            let raw = parse_hex32(key).ok_or(bad)?;
            if keys.iter().any(|k| k.id == id) {
                return Err(KeyFileError::Duplicate(id));
            }
            keys.push(Self::entry(id, raw));
        }
        if keys.is_empty() {
            return Err(KeyFileError::Empty);
        }
        Ok(Keyring { keys })
    }

    /// The key file's text, to be written with mode 0600.
    pub fn to_file_text(&self) -> Secret<String> {
        let mut s = String::from(
            "# Talaka safety key file: it opens every person's sealed details.\n\
             # Keep it secret, back it up apart from the database (never in the same place),\n\
             # and see docs/safety-keys.md before changing it. The first key seals new data.\n",
        );
        for k in &self.keys {
            s.push_str(&format!("{LINE_TAG} {} {}\n", k.id, hex(&k.raw)));
        }
        Secret::new(s)
    }

    /// How many keys the file holds (more than one during a rotation).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// The number of the key new seals are made with.
    pub fn current_id(&self) -> u32 {
        self.keys.first().map_or(0, |k| k.id)
    }

    fn aad(purpose: Purpose, subject: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(24 + subject.len());
        aad.extend_from_slice(b"talaka.safety.v1\0");
        aad.extend_from_slice(purpose.label().as_bytes());
        aad.push(0);
        aad.extend_from_slice(subject.as_bytes());
        aad
    }

    /// Seal `plain` as `purpose` of `subject` (a `person_ref`) under the current key.
    pub fn seal(&self, purpose: Purpose, subject: &str, plain: &[u8]) -> Sealed {
        let Some(k) = self.keys.first() else {
            unreachable!("a keyring always has a key: parse and generate refuse an empty one")
        };
        // A failing OS random generator is not something to carry on from: nonces must never
        // repeat, and nothing sensible can be written without one.
        let nonce = random_bytes::<NONCE>().unwrap_or_else(|_| {
            panic!("the operating system's random generator failed while sealing")
        });
        let aad = Self::aad(purpose, subject);
        let ciphertext = k
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .unwrap_or_else(|_| unreachable!("XChaCha20-Poly1305 encryption cannot fail"));
        let mut out = Vec::with_capacity(HEADER + ciphertext.len());
        out.push(FORMAT);
        out.extend_from_slice(&k.id.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Sealed(out)
    }

    /// Open a sealed field; any change to it, or another purpose or subject, fails.
    pub fn open(
        &self,
        purpose: Purpose,
        subject: &str,
        sealed: &Sealed,
    ) -> Result<Secret<Vec<u8>>, OpenError> {
        let b = &sealed.0;
        if b.len() < OVERHEAD || b[0] != FORMAT {
            return Err(OpenError::Tampered);
        }
        let id = u32::from_be_bytes([b[1], b[2], b[3], b[4]]);
        let k = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or(OpenError::UnknownKey(id))?;
        let aad = Self::aad(purpose, subject);
        k.cipher
            .decrypt(
                XNonce::from_slice(&b[5..HEADER]),
                Payload {
                    msg: &b[HEADER..],
                    aad: &aad,
                },
            )
            .map(Secret::new)
            .map_err(|_| OpenError::Tampered)
    }

    /// The number of the key `sealed` was made with, if it looks like a seal at all.
    pub fn key_of(sealed: &Sealed) -> Option<u32> {
        let b = &sealed.0;
        (b.len() >= OVERHEAD && b[0] == FORMAT)
            .then(|| u32::from_be_bytes([b[1], b[2], b[3], b[4]]))
    }

    /// Whether `sealed` was made with an older key and should be re-sealed.
    pub fn needs_reseal(&self, sealed: &Sealed) -> bool {
        Self::key_of(sealed) != Some(self.current_id())
    }

    /// Open with whatever key made it and seal again under the current key.
    pub fn reseal(
        &self,
        purpose: Purpose,
        subject: &str,
        sealed: &Sealed,
    ) -> Result<Sealed, OpenError> {
        let plain = self.open(purpose, subject, sealed)?;
        Ok(self.seal(purpose, subject, plain.expose()))
    }

    /// Seal a value as JSON.
    pub fn seal_json<T: serde::Serialize>(
        &self,
        purpose: Purpose,
        subject: &str,
        value: &T,
    ) -> Sealed {
        let json = serde_json::to_vec(value)
            .unwrap_or_else(|_| unreachable!("the sealed types serialise to JSON infallibly"));
        self.seal(purpose, subject, &json)
    }

    /// Open a value sealed with [`Keyring::seal_json`].
    pub fn open_json<T: serde::de::DeserializeOwned>(
        &self,
        purpose: Purpose,
        subject: &str,
        sealed: &Sealed,
    ) -> Result<T, OpenError> {
        let plain = self.open(purpose, subject, sealed)?;
        serde_json::from_slice(plain.expose()).map_err(|_| OpenError::Tampered)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_key_file_round_trips_and_rotation_keeps_old_seals_open() {
        let k1 = Keyring::generate().unwrap();
        let text = k1.to_file_text();
        let again = Keyring::parse(text.expose()).unwrap();
        let sealed = k1.seal(Purpose::Details, "p1", b"Anna Ivanova");
        assert_eq!(
            again
                .open(Purpose::Details, "p1", &sealed)
                .unwrap()
                .expose(),
            b"Anna Ivanova"
        );

        let k2 = again.rotated().unwrap();
        assert_eq!(k2.current_id(), 2);
        assert!(k2.needs_reseal(&sealed));
        let resealed = k2.reseal(Purpose::Details, "p1", &sealed).unwrap();
        assert!(!k2.needs_reseal(&resealed));
        assert_eq!(Keyring::key_of(&resealed), Some(2));
        // After re-sealing, the old key can go; what it alone sealed no longer opens.
        let only_new = k2.current_only();
        assert_eq!(
            only_new
                .open(Purpose::Details, "p1", &resealed)
                .unwrap()
                .expose(),
            b"Anna Ivanova"
        );
        assert_eq!(
            only_new.open(Purpose::Details, "p1", &sealed),
            Err(OpenError::UnknownKey(1))
        );
    }

    #[test]
    fn malformed_key_files_are_refused_with_the_line() {
        assert!(matches!(
            Keyring::parse("# nothing\n"),
            Err(KeyFileError::Empty)
        ));
        assert!(matches!(
            Keyring::parse("talaka-safety-key 1 abc\n"),
            Err(KeyFileError::Malformed { line: 1 })
        ));
        let k = "a".repeat(64);
        assert!(matches!(
            Keyring::parse(&format!(
                "talaka-safety-key 1 {k}\ntalaka-safety-key 1 {k}\n"
            )),
            Err(KeyFileError::Duplicate(1))
        ));
    }

    #[test]
    fn a_seal_does_not_open_for_another_person_or_purpose_or_after_any_change() {
        let k = Keyring::generate().unwrap();
        let s = k.seal(Purpose::Reach, "person-a", b"+375 29 000 00 00");
        assert_eq!(
            k.open(Purpose::Reach, "person-b", &s),
            Err(OpenError::Tampered)
        );
        assert_eq!(
            k.open(Purpose::Details, "person-a", &s),
            Err(OpenError::Tampered)
        );
        let other = Keyring::generate().unwrap();
        assert_eq!(
            other.open(Purpose::Reach, "person-a", &s),
            Err(OpenError::Tampered)
        );
        assert!(!format!("{k:?}").contains(&hex(&k.keys[0].raw)));
    }

    proptest! {
        #[test]
        fn sealing_round_trips_and_every_flipped_bit_is_detected(
            plain in proptest::collection::vec(any::<u8>(), 0..300),
            flip in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let k = Keyring::generate().unwrap();
            let s = k.seal(Purpose::Note, "ref", &plain);
            let opened = k.open(Purpose::Note, "ref", &s).unwrap();
            prop_assert_eq!(opened.expose(), &plain);
            prop_assert!(!s.0.windows(plain.len().max(4)).any(|w| plain.len() >= 4 && w == plain.as_slice()));
            let mut t = s.clone();
            let i = flip.index(t.0.len());
            t.0[i] ^= 1 << bit;
            prop_assert!(k.open(Purpose::Note, "ref", &t).is_err());
        }
    }
}
