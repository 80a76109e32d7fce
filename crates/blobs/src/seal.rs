//! Encryption at rest: XChaCha20-Poly1305 under a key derived from the installation key, a
//! fresh random 24-byte nonce per blob (random nonces of this length never repeat in practice),
//! and the blob's id as associated data, so a blob copied under another id does not open.
//!
//! Sealed format: `TKB1` (4 bytes: format and key version), the nonce (24 bytes), then the
//! ciphertext with its 16-byte tag.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use talaka_core::crypto::{SecretKey, random_bytes};

use crate::{BlobError, BlobId};

const MAGIC: &[u8; 4] = b"TKB1";
const NONCE: usize = 24;
/// Bytes a sealed blob has beyond its plaintext.
pub const OVERHEAD: usize = MAGIC.len() + NONCE + 16;

/// The purpose label of the derived key; a new label (and magic) would rotate the key.
const PURPOSE: &str = "talaka.blobs.xchacha20poly1305.v1";

/// The blob encryption key: `HMAC-SHA-256(installation key, PURPOSE)`. Never printed.
#[derive(Clone)]
pub struct BlobKey(XChaCha20Poly1305);

impl fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlobKey([redacted])")
    }
}

impl BlobKey {
    pub fn derive(key: &SecretKey) -> Self {
        let hex = key.keyed_hash(PURPOSE, b"");
        let mut k = [0u8; 32];
        for (i, pair) in hex.as_bytes().chunks(2).take(32).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            k[i] = digit(pair[0]) << 4 | digit(pair[1]);
        }
        Self(XChaCha20Poly1305::new(Key::from_slice(&k)))
    }

    /// Encrypt `plain` for the blob `id`.
    pub fn seal(&self, id: &BlobId, plain: &[u8]) -> Result<Vec<u8>, BlobError> {
        let nonce = random_bytes::<NONCE>().map_err(|e| BlobError::Io(e.to_string()))?;
        let sealed = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: id.as_str().as_bytes(),
                },
            )
            .map_err(|_| BlobError::Io("encryption failed".into()))?;
        let mut out = Vec::with_capacity(OVERHEAD + plain.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypt a sealed blob stored as `id`; any change to it (or another id) fails.
    pub fn open(&self, id: &BlobId, sealed: &[u8]) -> Result<Vec<u8>, BlobError> {
        if sealed.len() < OVERHEAD || !sealed.starts_with(MAGIC) {
            return Err(BlobError::Tampered);
        }
        let nonce = &sealed[MAGIC.len()..MAGIC.len() + NONCE];
        self.0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: &sealed[MAGIC.len() + NONCE..],
                    aad: id.as_str().as_bytes(),
                },
            )
            .map_err(|_| BlobError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> BlobKey {
        BlobKey::derive(&SecretKey::generate().unwrap())
    }

    #[test]
    fn keys_differ_per_installation_and_never_print() {
        let id = BlobId::random().unwrap();
        let (a, b) = (key(), key());
        let sealed = a.seal(&id, b"photo").unwrap();
        assert!(b.open(&id, &sealed).is_err());
        assert_eq!(a.open(&id, &sealed).unwrap(), b"photo");
        assert_eq!(format!("{a:?}"), "BlobKey([redacted])");
        // Two sealings of the same bytes differ (fresh nonce).
        assert_ne!(a.seal(&id, b"photo").unwrap(), sealed);
    }

    proptest! {
        #[test]
        fn round_trip(plain in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let k = key();
            let id = BlobId::random().unwrap();
            let sealed = k.seal(&id, &plain).unwrap();
            prop_assert_eq!(sealed.len(), plain.len() + OVERHEAD);
            prop_assert_eq!(k.open(&id, &sealed).unwrap(), plain);
        }

        #[test]
        fn any_tampering_fails(
            plain in proptest::collection::vec(any::<u8>(), 0..512),
            at in any::<proptest::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let k = key();
            let id = BlobId::random().unwrap();
            let mut sealed = k.seal(&id, &plain).unwrap();
            let i = at.index(sealed.len());
            sealed[i] ^= flip;
            prop_assert_eq!(k.open(&id, &sealed), Err(BlobError::Tampered));
        }

        #[test]
        fn another_id_or_a_cut_fails(plain in proptest::collection::vec(any::<u8>(), 0..256), cut in 1usize..64) {
            let k = key();
            let id = BlobId::random().unwrap();
            let sealed = k.seal(&id, &plain).unwrap();
            let other = BlobId::random().unwrap();
            prop_assert_eq!(k.open(&other, &sealed), Err(BlobError::Tampered));
            let short = &sealed[..sealed.len().saturating_sub(cut)];
            prop_assert_eq!(k.open(&id, short), Err(BlobError::Tampered));
        }
    }
}
