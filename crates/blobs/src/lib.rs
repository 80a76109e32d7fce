//! Photos and other blobs: what a participant's ballot photo or an observer's protocol photo
//! goes through before anything is stored.
//!
//! [`PhotoIntake::accept`]: refuse what is too large or not a JPEG/PNG; strip the metadata
//! ([`strip_metadata`]: EXIF with GPS, camera serials, XMP, comments…); fingerprint the stripped
//! bytes for duplicate detection; encrypt them ([`BlobKey`], XChaCha20-Poly1305 under a key
//! derived from the installation key, the blob id as associated data); store them in a
//! [`BlobStore`].
//!
//! # Nothing at rest confirms a photo to someone who holds it
//!
//! A state that seizes the server and also holds a photo (from a participant's phone, or a
//! photo it planted) must not be able to confirm that the photo was sent. Therefore:
//!
//! - blob names are random ([`BlobId`], 128 bits), never a hash of the content;
//! - the database keeps the photo's *fingerprint*: an HMAC-SHA-256 under the installation key of
//!   the stripped photo's SHA-256 ([`photo_fingerprint`]), not the plain SHA-256. Two sendings of
//!   one photo still have equal fingerprints, so duplicates are found as before, but without the
//!   key the fingerprint cannot be computed from a photo. The fingerprint is what goes into
//!   `BallotReport::photo_sha256` (a 64-hex-character value like a SHA-256). With the key, staff
//!   can still answer "was this photo sent?" for a lawyer, and [`AcceptedPhoto::sha256`] gives the
//!   plain hash to the caller for chain-of-custody records that need it.
//!
//! # Stores
//!
//! [`LocalBlobStore`]: one file per blob in a folder (default `DATA_DIR/blobs`), written to a
//! temporary file, fsynced, renamed into place, and the folder fsynced, so a blob is either
//! whole or absent after a crash. [`MemoryBlobStore`]: the same contract in memory, for tests
//! and demos.
//!
//! [`S3BlobStore`] (`s3.rs`): objects in an S3-compatible bucket (AWS S3, MinIO, Garage, Ceph),
//! path-style URLs signed with AWS Signature Version 4. The same sealed bytes (encrypted here,
//! before they leave the machine, so the storage provider sees only ciphertext) are put under
//! the random id as object key, with a conditional put (`If-None-Match: *`) so that a retried
//! upload never overwrites. This makes talaka-blobs an HTTP client of the S3 service; with the
//! `fake` feature, [`fake::FakeS3`] is an in-memory S3 server on `127.0.0.1` that checks the
//! signatures, for this crate's and the server's tests.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use talaka_core::crypto::{SecretKey, hex, random_bytes};

#[cfg(feature = "fake")]
pub mod fake;
mod s3;
mod seal;
mod sigv4;
mod strip;

pub use s3::{S3BlobStore, S3Settings};
pub use seal::{BlobKey, OVERHEAD};
pub use strip::{PhotoError, PhotoKind, strip_metadata};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    #[error("no such blob")]
    NotFound,
    #[error("the blob was changed or damaged and does not decrypt")]
    Tampered,
    #[error("not a blob id")]
    InvalidId,
    /// The storage failed (disk full, permissions). The message names no blob content.
    #[error("blob storage failed: {0}")]
    Io(String),
    /// The remote object storage failed or refused (unreachable, timeout, an HTTP error status).
    /// The message names the operation and the status, never a key, a signature or content.
    #[error("blob storage failed: {0}")]
    Storage(String),
}

fn io(e: std::io::Error) -> BlobError {
    BlobError::Io(e.to_string())
}

/// A blob's name: 32 lowercase hex characters from the operating system's random generator.
/// It says nothing about the content.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(String);

impl BlobId {
    pub fn random() -> Result<Self, BlobError> {
        let bytes = random_bytes::<16>().map_err(|e| BlobError::Io(e.to_string()))?;
        Ok(Self(hex(&bytes)))
    }

    /// A stored id; anything but 32 lowercase hex characters is refused (so an id can never
    /// name a path outside the blob folder).
    pub fn parse(s: &str) -> Result<Self, BlobError> {
        if s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(s.to_owned()))
        } else {
            Err(BlobError::InvalidId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({})", self.0)
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where blobs live. Implementations encrypt before storing and decrypt on reading: what they
/// keep at rest is never the plaintext.
#[async_trait]
pub trait BlobStore: Send + Sync + fmt::Debug + 'static {
    /// Store `plain`, encrypted, under a new random id. Durable when this returns.
    async fn put(&self, plain: &[u8]) -> Result<BlobId, BlobError>;
    /// The decrypted blob; `Tampered` when its bytes were changed.
    async fn get(&self, id: &BlobId) -> Result<Vec<u8>, BlobError>;
    /// Remove a blob; `false` if there was none.
    async fn delete(&self, id: &BlobId) -> Result<bool, BlobError>;
    /// Check that the store can be written (creating its folder if needed), at start-up.
    async fn check(&self) -> Result<(), BlobError>;
}

// ---------------------------------------------------------------------------------------------
// local folder

/// Blobs as files in a folder: `DIR/ab/abcdef…` (the first two characters fan the files out
/// over 256 subfolders). Folders are created readable by the owner only, files likewise.
#[derive(Clone)]
pub struct LocalBlobStore {
    dir: PathBuf,
    key: BlobKey,
}

impl fmt::Debug for LocalBlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalBlobStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl LocalBlobStore {
    /// A store on `dir` under a key derived from `key`. Touches nothing on disk until used.
    pub fn new(dir: impl Into<PathBuf>, key: &SecretKey) -> Self {
        Self {
            dir: dir.into(),
            key: BlobKey::derive(key),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a blob is stored in (its sealed bytes).
    pub fn path_of(&self, id: &BlobId) -> PathBuf {
        self.dir.join(&id.as_str()[..2]).join(id.as_str())
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<bool> {
    if dir.is_dir() {
        return Ok(false);
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    Ok(true)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Write `bytes` to `dest` so that after a crash the file is either whole or absent: a new
/// temporary file beside it, fsync, rename, fsync the folder.
fn write_durably(dest: &Path, bytes: &[u8]) -> Result<(), BlobError> {
    let dir = dest.parent().ok_or(BlobError::InvalidId)?;
    let created = create_private_dir(dir).map_err(io)?;
    if created && let Some(parent) = dir.parent() {
        sync_dir(parent).map_err(io)?;
    }
    let tmp = dir.join(format!(
        ".tmp-{}",
        hex(&random_bytes::<8>().map_err(|e| BlobError::Io(e.to_string()))?)
    ));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, dest)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BlobError::Io(e.to_string()))?
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, plain: &[u8]) -> Result<BlobId, BlobError> {
        let id = BlobId::random()?;
        let sealed = self.key.seal(&id, plain)?;
        let dest = self.path_of(&id);
        blocking(move || write_durably(&dest, &sealed)).await?;
        Ok(id)
    }

    async fn get(&self, id: &BlobId) -> Result<Vec<u8>, BlobError> {
        let path = self.path_of(id);
        let sealed = blocking(move || match std::fs::read(&path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::NotFound),
            Err(e) => Err(io(e)),
        })
        .await?;
        self.key.open(id, &sealed)
    }

    async fn delete(&self, id: &BlobId) -> Result<bool, BlobError> {
        let path = self.path_of(id);
        blocking(move || match std::fs::remove_file(&path) {
            Ok(()) => {
                if let Some(dir) = path.parent() {
                    sync_dir(dir).map_err(io)?;
                }
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io(e)),
        })
        .await
    }

    async fn check(&self) -> Result<(), BlobError> {
        let dir = self.dir.clone();
        blocking(move || {
            create_private_dir(&dir).map_err(io)?;
            let probe = dir.join(".write-check");
            write_durably(&probe, b"")?;
            std::fs::remove_file(&probe).map_err(io)
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// memory

/// Blobs in memory, sealed like on disk. For tests and settings without a data folder.
#[derive(Clone)]
pub struct MemoryBlobStore {
    key: BlobKey,
    blobs: Arc<Mutex<HashMap<BlobId, Vec<u8>>>>,
}

impl fmt::Debug for MemoryBlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBlobStore").finish_non_exhaustive()
    }
}

impl MemoryBlobStore {
    pub fn new(key: &SecretKey) -> Self {
        Self {
            key: BlobKey::derive(key),
            blobs: Arc::default(),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<BlobId, Vec<u8>>> {
        match self.blobs.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The sealed bytes, as a disk would hold them (for tests).
    pub fn sealed(&self, id: &BlobId) -> Option<Vec<u8>> {
        self.map().get(id).cloned()
    }

    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(&self, plain: &[u8]) -> Result<BlobId, BlobError> {
        let id = BlobId::random()?;
        let sealed = self.key.seal(&id, plain)?;
        self.map().insert(id.clone(), sealed);
        Ok(id)
    }

    async fn get(&self, id: &BlobId) -> Result<Vec<u8>, BlobError> {
        let sealed = self.sealed(id).ok_or(BlobError::NotFound)?;
        self.key.open(id, &sealed)
    }

    async fn delete(&self, id: &BlobId) -> Result<bool, BlobError> {
        Ok(self.map().remove(id).is_some())
    }

    async fn check(&self) -> Result<(), BlobError> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// photo intake

/// The purpose label of photo fingerprints.
const FINGERPRINT_PURPOSE: &str = "talaka.photo-fingerprint.v1";

/// What the database keeps to recognise a photo sent twice: HMAC-SHA-256 under the
/// installation key of the stripped photo's SHA-256, 64 lowercase hex characters. See the crate
/// documentation for why not the plain SHA-256.
pub fn photo_fingerprint(key: &SecretKey, sha256: &[u8; 32]) -> String {
    key.keyed_hash(FINGERPRINT_PURPOSE, sha256)
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    #[error("the photo is larger than {max_kb} KB")]
    TooLarge { max_kb: usize },
    #[error(transparent)]
    Photo(#[from] PhotoError),
    #[error(transparent)]
    Blob(#[from] BlobError),
}

/// A photo as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedPhoto {
    pub blob: BlobId,
    /// [`photo_fingerprint`] of the stripped photo: store this, for duplicate detection.
    pub fingerprint: String,
    /// SHA-256 of the stripped photo. Not for the database (see the crate documentation).
    pub sha256: [u8; 32],
    pub kind: PhotoKind,
    /// Size of the stripped photo.
    pub bytes: usize,
}

/// Size check → strip → fingerprint → encrypt → store.
#[derive(Clone)]
pub struct PhotoIntake {
    blobs: Arc<dyn BlobStore>,
    key: SecretKey,
    max_bytes: usize,
}

impl fmt::Debug for PhotoIntake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhotoIntake")
            .field("blobs", &self.blobs)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl PhotoIntake {
    /// `max_bytes`: the largest photo accepted as sent (config `elections.max_photo_kb`).
    pub fn new(blobs: Arc<dyn BlobStore>, key: &SecretKey, max_bytes: usize) -> Self {
        Self {
            blobs,
            key: key.clone(),
            max_bytes,
        }
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    /// Check, clean and store a photo. Nothing is stored when this fails.
    pub async fn accept(&self, raw: &[u8]) -> Result<AcceptedPhoto, IntakeError> {
        if raw.len() > self.max_bytes {
            return Err(IntakeError::TooLarge {
                max_kb: self.max_bytes / 1024,
            });
        }
        let kind = PhotoKind::detect(raw).ok_or(PhotoError::UnsupportedFormat)?;
        let clean = strip_metadata(raw)?;
        let sha256: [u8; 32] = Sha256::digest(&clean).into();
        let fingerprint = photo_fingerprint(&self.key, &sha256);
        let blob = self.blobs.put(&clean).await?;
        tracing::debug!(bytes = clean.len(), "photo stored");
        Ok(AcceptedPhoto {
            blob,
            fingerprint,
            sha256,
            kind,
            bytes: clean.len(),
        })
    }

    /// Remove a stored photo whose report could not be stored (best effort, logged).
    pub async fn discard(&self, blob: &BlobId) {
        if let Err(e) = self.blobs.delete(blob).await {
            tracing::warn!(error = %e, "could not remove an unused photo");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strip::tests::jpeg_with_exif;

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out
    }

    #[test]
    fn ids_are_random_hex_and_parse_strictly() {
        let a = BlobId::random().unwrap();
        assert_eq!(a.as_str().len(), 32);
        assert_ne!(a, BlobId::random().unwrap());
        assert_eq!(BlobId::parse(a.as_str()).unwrap(), a);
        for bad in ["", "../../etc/passwd", &"A".repeat(32), &"a".repeat(31)] {
            assert_eq!(BlobId::parse(bad), Err(BlobError::InvalidId), "{bad}");
        }
    }

    #[tokio::test]
    async fn local_store_keeps_only_ciphertext_under_random_names() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let store = LocalBlobStore::new(dir.path().join("blobs"), &key);
        store.check().await.unwrap();
        let plain = b"PLAINTEXT-MARKER photo bytes".repeat(10);
        let id = store.put(&plain).await.unwrap();
        assert_eq!(store.get(&id).await.unwrap(), plain);
        let all = files(store.dir());
        assert_eq!(all, vec![store.path_of(&id)], "no temporary file left");
        let on_disk = std::fs::read(store.path_of(&id)).unwrap();
        assert!(!contains(&on_disk, b"PLAINTEXT-MARKER"));
        let sha = hex(&Sha256::digest(&plain));
        assert!(!store.path_of(&id).to_string_lossy().contains(&sha[..16]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path_of(&id))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = std::fs::metadata(store.dir()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }

        // A flipped byte on disk: the blob no longer opens.
        let mut tampered = on_disk.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        std::fs::write(store.path_of(&id), &tampered).unwrap();
        assert_eq!(store.get(&id).await, Err(BlobError::Tampered));
        // A blob copied under another name does not open either (the id is bound).
        let other = BlobId::random().unwrap();
        std::fs::create_dir_all(store.path_of(&other).parent().unwrap()).unwrap();
        std::fs::write(store.path_of(&other), &on_disk).unwrap();
        assert_eq!(store.get(&other).await, Err(BlobError::Tampered));

        assert!(store.delete(&id).await.unwrap());
        assert!(!store.delete(&id).await.unwrap());
        assert_eq!(store.get(&id).await, Err(BlobError::NotFound));
        // Another installation's key opens nothing.
        let stranger = LocalBlobStore::new(store.dir(), &SecretKey::generate().unwrap());
        assert_eq!(stranger.get(&other).await, Err(BlobError::Tampered));
    }

    #[tokio::test]
    async fn intake_strips_fingerprints_and_stores_encrypted() {
        let key = SecretKey::generate().unwrap();
        let memory = MemoryBlobStore::new(&key);
        let intake = PhotoIntake::new(Arc::new(memory.clone()), &key, 4096);
        let raw = jpeg_with_exif("GPS TALAKA-EXIF-MARKER", b"IMAGE-DATA-MARKER");
        let a = intake.accept(&raw).await.unwrap();
        assert_eq!(a.kind, PhotoKind::Jpeg);
        let stored = intake.blobs().get(&a.blob).await.unwrap();
        assert!(!contains(&stored, b"TALAKA-EXIF-MARKER"));
        assert!(contains(&stored, b"IMAGE-DATA-MARKER"));
        let sealed = memory.sealed(&a.blob).unwrap();
        assert!(!contains(&sealed, b"IMAGE-DATA-MARKER"));
        // The fingerprint is keyed: not the plain SHA-256, equal for the same photo (even with
        // different metadata), different under another key.
        assert_eq!(a.sha256, <[u8; 32]>::from(Sha256::digest(&stored)));
        assert_ne!(a.fingerprint, hex(&a.sha256));
        assert_eq!(a.fingerprint.len(), 64);
        let b = intake
            .accept(&jpeg_with_exif("other camera", b"IMAGE-DATA-MARKER"))
            .await
            .unwrap();
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_ne!(a.blob, b.blob);
        let other_key = SecretKey::generate().unwrap();
        assert_ne!(photo_fingerprint(&other_key, &a.sha256), a.fingerprint);

        // Refusals store nothing.
        let before = memory.len();
        assert_eq!(
            intake.accept(&vec![0xFF; 5000]).await,
            Err(IntakeError::TooLarge { max_kb: 4 })
        );
        assert_eq!(
            intake.accept(b"GIF89a").await,
            Err(IntakeError::Photo(PhotoError::UnsupportedFormat))
        );
        assert!(intake.accept(&raw[..raw.len() - 3]).await.is_err());
        assert_eq!(memory.len(), before);
        intake.discard(&a.blob).await;
        assert_eq!(memory.len(), before - 1);
    }
}
