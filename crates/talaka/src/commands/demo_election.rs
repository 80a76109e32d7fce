//! The demo's synthetic election (`talaka_elections::synthetic`): generated, stored through
//! the same import as `talaka import`, and the participants' own reports submitted as the
//! channels would submit them.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use talaka_core::crypto::SecretKey;
use talaka_elections::synthetic::{self, Fraud, SyntheticParams};
use talaka_store::Stores;

use crate::commands::import::store_dataset;

/// Reports per transaction.
const REPORT_BATCH: usize = 500;

/// What was loaded, for the demo's greeting.
#[derive(Debug)]
pub struct Loaded {
    pub code: String,
    pub stations: usize,
    pub honest: usize,
    pub incremental: usize,
    pub extreme: usize,
    pub reports: usize,
    pub took: Duration,
}

/// Generate the synthetic election and store it. Pseudonyms are the installation key's keyed
/// hash of made-up identifiers, as real participants' would be of theirs.
pub async fn load(store: &dyn Stores, key: &SecretKey) -> Result<Loaded> {
    let start = Instant::now();
    let params = SyntheticParams::default();
    let pseudonym = |id: &str| key.keyed_hash("participant", id.as_bytes());
    let s = synthetic::generate(&params, &pseudonym);
    store_dataset(store, &s.dataset, "synthetic demo election").await?;
    for batch in s.reports.chunks(REPORT_BATCH) {
        store
            .submit_ballot_reports(&params.code, batch)
            .await
            .context("cannot store the demo's ballot reports")?;
    }
    Ok(Loaded {
        code: params.code,
        stations: s.dataset.stations.len(),
        honest: s.count(Fraud::Honest),
        incremental: s.count(Fraud::Incremental),
        extreme: s.count(Fraud::Extreme),
        reports: s.reports.len(),
        took: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use talaka_store::ElectionStore;
    use talaka_store_sqlite::SqliteStore;

    #[tokio::test]
    async fn the_demo_election_imports_cleanly_and_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("talaka.db"))
            .await
            .expect("open");
        talaka_store::Store::migrate(&store).await.expect("migrate");
        let key = SecretKey::generate().expect("key");
        let loaded = load(&store, &key).await.expect("load");
        assert!(loaded.stations > 2_500, "{loaded:?}");
        assert!(loaded.incremental > 0 && loaded.extreme > 0 && loaded.honest > 0);

        let summary = ElectionStore::elections(&store).await.expect("list");
        assert_eq!(summary.len(), 1);
        let e = &summary[0];
        assert_eq!(e.code, loaded.code);
        assert_eq!(e.stations as usize, loaded.stations);
        assert!(e.observer_copies > 50, "{e:?}");
        assert!(e.exit_polls > 20, "{e:?}");
        assert_eq!(e.reports as usize, loaded.reports);
        assert!(
            e.counted_reports < e.reports,
            "some participants changed their report"
        );

        // Stored as generated: importing it again changes nothing.
        let params = SyntheticParams::default();
        let again = synthetic::generate(&params, &|id: &str| {
            key.keyed_hash("participant", id.as_bytes())
        });
        let summary = store_dataset(&store, &again.dataset, "again")
            .await
            .expect("re-import");
        assert!(summary.is_unchanged(), "{summary}");
    }
}
