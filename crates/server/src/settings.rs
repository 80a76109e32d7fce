//! What the web tier needs from the configuration, validated once at start-up.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use talaka_blobs::{BlobStore, LocalBlobStore, MemoryBlobStore, S3BlobStore, S3Settings};
use talaka_core::Secret;
use talaka_core::config::{Config, ConfigError};
use talaka_core::crypto::SecretKey;

/// Validated settings. Building them refuses a missing, malformed or example secret key, so a
/// server cannot start without one.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    pub key: SecretKey,
    /// Served over TLS (directly or by a proxy): cookies are `Secure` with the `__Host-` prefix.
    pub https: bool,
    /// `scheme://host[:port]` of `server.public_url`; a form posted from elsewhere is refused.
    pub public_origin: String,
    pub session_idle: Duration,
    pub session_lifetime: Duration,
    pub login_max_failures: u32,
    pub login_window: Duration,
    pub invite_valid: Duration,
    pub metrics_enabled: bool,
    pub metrics_token: Option<Secret<String>>,
    /// Largest file a coordinator may upload for import (`elections.max_import_mb`), in bytes.
    pub max_import_bytes: usize,
    /// Where photos are kept, encrypted: the folder `elections.blob_dir` (default
    /// `DATA_DIR/blobs`), or the S3-compatible bucket of `[elections.s3]` when
    /// `elections.blob_store = "s3"`; in memory for [`ServerSettings::for_origin`].
    pub blobs: Arc<dyn BlobStore>,
    /// Largest photo accepted (`elections.max_photo_kb`), in bytes.
    pub max_photo_bytes: usize,
    /// `elections.count_unreviewed_photos`: when false, only ballot photos a reviewer confirmed
    /// count as photo-verified in the verdicts and on the station pages.
    pub count_unreviewed_photos: bool,
}

impl ServerSettings {
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let key = config.secret_key()?;
        let blobs = blob_store(config, &key)?;
        let https = config.is_https()?;
        let token = config.metrics.token.expose().trim().to_owned();
        Ok(Self {
            key,
            https,
            public_origin: origin_of(&config.server.public_url),
            session_idle: config.session_idle(),
            session_lifetime: config.session_lifetime(),
            login_max_failures: config.security.login_max_failures.max(1),
            login_window: Duration::from_secs(config.security.login_window_minutes.max(1) * 60),
            invite_valid: Duration::from_secs(config.security.invite_valid_hours.max(1) * 3600),
            metrics_enabled: config.metrics.enabled,
            metrics_token: (!token.is_empty()).then(|| Secret::new(token)),
            max_import_bytes: mb_to_bytes(config.elections.max_import_mb),
            blobs,
            max_photo_bytes: kb_to_bytes(config.elections.max_photo_kb),
            count_unreviewed_photos: config.elections.count_unreviewed_photos,
        })
    }

    /// Settings for tests and the demo: a given key, plain HTTP at `origin`.
    pub fn for_origin(key: SecretKey, origin: &str) -> Self {
        let d = Config::default();
        let blobs: Arc<dyn BlobStore> = Arc::new(MemoryBlobStore::new(&key));
        Self {
            key,
            https: origin.starts_with("https://"),
            public_origin: origin_of(origin),
            session_idle: d.session_idle(),
            session_lifetime: d.session_lifetime(),
            login_max_failures: d.security.login_max_failures,
            login_window: Duration::from_secs(d.security.login_window_minutes * 60),
            invite_valid: Duration::from_secs(d.security.invite_valid_hours * 3600),
            metrics_enabled: true,
            metrics_token: None,
            max_import_bytes: mb_to_bytes(d.elections.max_import_mb),
            blobs,
            max_photo_bytes: kb_to_bytes(d.elections.max_photo_kb),
            count_unreviewed_photos: d.elections.count_unreviewed_photos,
        }
    }
}

/// Megabytes to bytes, at least one megabyte, saturating on 32-bit targets.
fn mb_to_bytes(mb: u64) -> usize {
    usize::try_from(mb.max(1).saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
}

/// Kilobytes to bytes, at least one kilobyte, saturating on 32-bit targets.
fn kb_to_bytes(kb: u64) -> usize {
    usize::try_from(kb.max(1).saturating_mul(1024)).unwrap_or(usize::MAX)
}

/// The configured blob store. Makes no request: `talaka serve` calls [`BlobStore::check`].
pub fn blob_store(config: &Config, key: &SecretKey) -> Result<Arc<dyn BlobStore>, ConfigError> {
    let Some(s3) = config.s3_blob_store()? else {
        return Ok(Arc::new(LocalBlobStore::new(blob_dir(config), key)));
    };
    let settings = S3Settings {
        endpoint: s3.endpoint.clone(),
        bucket: s3.bucket.clone(),
        region: s3.region.clone(),
        prefix: s3.prefix.clone(),
        access_key_id: s3.access_key_id.clone(),
        secret_access_key: s3.secret_access_key.clone(),
        timeout: S3_TIMEOUT,
    };
    let store = S3BlobStore::new(settings, key).map_err(|e| ConfigError::S3 {
        key: "endpoint",
        reason: e.to_string(),
    })?;
    Ok(Arc::new(store))
}

/// Longest one request to the S3 service may take (a photo is at most `max_photo_kb`).
const S3_TIMEOUT: Duration = Duration::from_secs(60);

/// `elections.blob_dir`, or `DATA_DIR/blobs` when it is empty.
pub fn blob_dir(config: &Config) -> PathBuf {
    if config.elections.blob_dir.as_os_str().is_empty() {
        config.data_dir.join("blobs")
    } else {
        config.elections.blob_dir.clone()
    }
}

/// `https://example.org/talaka/` → `https://example.org`.
pub fn origin_of(url: &str) -> String {
    let url = url.trim();
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            format!(
                "{}://{}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            )
        }
        None => url.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("https://Example.org/talaka/"),
            "https://example.org"
        );
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }

    #[test]
    fn refuses_to_start_without_a_key() {
        assert!(ServerSettings::from_config(&Config::default()).is_err());
        let mut c = Config::default();
        c.apply_env([("TALAKA_SECRET_KEY", "0".repeat(64))])
            .expect("env");
        assert!(ServerSettings::from_config(&c).is_err());
    }

    fn with_key(toml: &str) -> Config {
        let mut c = Config::from_toml(toml).expect("toml");
        c.apply_env([(
            "TALAKA_SECRET_KEY",
            SecretKey::generate().unwrap().to_hex().expose(),
        )])
        .expect("env");
        c
    }

    #[test]
    fn the_blob_store_is_the_configured_one() {
        let local = ServerSettings::from_config(&with_key("")).unwrap();
        assert!(format!("{:?}", local.blobs).starts_with("LocalBlobStore"));

        let s3 = "[elections]\nblob_store = \"s3\"\n[elections.s3]\n\
            endpoint = \"http://127.0.0.1:9000\"\nbucket = \"photos\"\n\
            access_key_id = \"AK\"\n";
        let e = ServerSettings::from_config(&with_key(s3)).unwrap_err();
        assert!(e.to_string().contains("secret_access_key"), "{e}");
        let mut c = with_key(s3);
        c.apply_env([("TALAKA_S3_SECRET_ACCESS_KEY", "s3-secret-marker")])
            .expect("env");
        let settings = ServerSettings::from_config(&c).unwrap();
        let shown = format!("{settings:?}");
        assert!(shown.contains("S3BlobStore"), "{shown}");
        assert!(!shown.contains("s3-secret-marker"), "{shown}");
    }
}
