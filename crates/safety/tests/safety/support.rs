//! What every Safety test needs: a real SQLite file (migrated), a fresh safety key file, a
//! [`Safety`] on a [`ManualClock`] the test moves by hand, and marker-laden personal details;
//! and every log line the binary writes, at every level, for the log-hygiene checks
//! (SECURITY-CHECKLIST item 11).

#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use talaka_core::config::{OrganisationConfig, SafetyConfig};
use talaka_core::crypto::SecretKey;
use talaka_core::{ManualClock, Timestamp};
use talaka_safety::{Keyring, Safety};
use talaka_store::Store;
use talaka_store_sqlite::SqliteStore;

/// A test's world. Keep it alive for the test's length: it owns the temporary folder.
pub struct World {
    pub dir: tempfile::TempDir,
    pub db_path: PathBuf,
    pub store: Arc<SqliteStore>,
    pub clock: Arc<ManualClock>,
    pub safety: Safety,
}

/// A fixed start time: 2026-03-01 12:00 UTC.
pub const T0: Timestamp = Timestamp(1_772_366_400_000);

pub fn config() -> SafetyConfig {
    SafetyConfig {
        enabled: true,
        cancel_window_seconds: 60,
        organisations: vec![OrganisationConfig {
            key: "viasna".into(),
            name: "Viasna".into(),
            telegram_chat_ids: vec![900_001],
            emails: vec!["duty@viasna.example".into()],
            language: String::new(),
        }],
        ..SafetyConfig::default()
    }
}

/// The log lines of the whole test binary (the `log` records of reqwest, hyper and sqlx
/// included), captured from the first [`world`] on.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Install the process-wide TRACE capture (once) and return it.
pub fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        // No timestamps: their digits could match a code or chat id by chance, and the checks
        // below look for exactly such digits.
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .without_time()
            .with_writer(move || writer.clone())
            .try_init();
        captured
    })
}

/// Everything logged so far by every test of the binary.
pub fn logs_text() -> String {
    String::from_utf8_lossy(&logs().0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

/// Fail if any of `secrets` is in the captured logs. Tests run in parallel into one capture,
/// so each test passes the markers only it uses: a hit is then its own leak.
pub fn assert_not_logged<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) {
    let logs = logs_text();
    assert!(
        logs.contains("safety"),
        "the logs were not captured: {} bytes",
        logs.len()
    );
    for s in secrets {
        let s = s.as_ref();
        assert!(!s.is_empty(), "an empty marker checks nothing");
        assert!(!logged(&logs, s), "{s:?} reached the logs");
    }
}

/// Whether `marker` is in `logs`. A marker of digits only (a code, a chat id) counts only as a
/// whole number: not inside a longer one, nor as the decimals of a duration ("1.739146ms").
fn logged(logs: &str, marker: &str) -> bool {
    if !marker.bytes().all(|b| b.is_ascii_digit()) {
        return logs.contains(marker);
    }
    let bytes = logs.as_bytes();
    logs.match_indices(marker).any(|(at, _)| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let end = at + marker.len();
        let after = bytes.get(end).copied();
        let after2 = bytes.get(end + 1).copied();
        let digit = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_digit());
        let longer = digit(before) || digit(after);
        let decimals = before == Some(b'.') || (after == Some(b'.') && digit(after2));
        !longer && !decimals
    })
}

pub async fn world_with(config: SafetyConfig) -> World {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("talaka.db");
    let store = Arc::new(SqliteStore::open(&db_path).await.unwrap());
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let safety = Safety::new(
        store.clone(),
        Keyring::generate().unwrap(),
        SecretKey::generate().unwrap(),
        config,
        clock.clone(),
    );
    World {
        dir,
        db_path,
        store,
        clock,
        safety,
    }
}

pub async fn world() -> World {
    world_with(config()).await
}

impl World {
    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    /// Every byte of the SQLite database and its WAL, for plaintext checks.
    pub fn database_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for suffix in ["", "-wal"] {
            let mut p = self.db_path.clone().into_os_string();
            p.push(suffix);
            if let Ok(b) = std::fs::read(&p) {
                all.extend(b);
            }
        }
        all
    }
}
