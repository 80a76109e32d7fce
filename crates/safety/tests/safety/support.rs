//! What every Safety test needs: a real SQLite file (migrated), a fresh safety key file, a
//! [`Safety`] on a [`ManualClock`] the test moves by hand, and marker-laden personal details.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
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
        }],
        ..SafetyConfig::default()
    }
}

pub async fn world_with(config: SafetyConfig) -> World {
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
