//! What the pages of one election are drawn from: the stored dataset with the participants'
//! counted reports merged in, every station's verdicts, the summary, the totals and the
//! estimates. [`compute`] is pure (benchmark it on its own); [`view`] loads and caches it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use talaka_elections::estimate::{self, RatioEstimate, Totals};
use talaka_elections::{
    CrowdTally, ElectionDataset, StationVerdicts, Summary, VerdictKind, summarize, verdicts,
};
use talaka_store::{ElectionError, Stores};

use crate::AppState;
use crate::error::AppError;

/// Everything the public pages of one election show, computed once.
#[derive(Debug)]
pub struct ElectionView {
    /// The stored dataset; its `crowd` holds the imported tallies AND the participants'
    /// counted reports per station (merged per station without over-counting by the verdicts
    /// and totals: per option the larger of the two counts).
    pub dataset: ElectionDataset,
    /// One entry per station, in dataset order.
    pub verdicts: Vec<StationVerdicts>,
    /// Station code → index into `verdicts`.
    pub by_station: HashMap<String, usize>,
    pub summary: Summary,
    pub totals: Totals,
    pub exit_poll: Vec<RatioEstimate>,
    pub pvt: Vec<RatioEstimate>,
    /// Area code → the area and its ancestors' codes (itself first).
    pub area_chain: HashMap<String, Vec<String>>,
}

impl ElectionView {
    pub fn station_verdicts(&self, station: &str) -> Option<&StationVerdicts> {
        self.by_station.get(station).map(|&i| &self.verdicts[i])
    }

    /// The top-level area (region or country) of an area code.
    pub fn top_area<'a>(&'a self, area: &'a str) -> &'a str {
        self.area_chain
            .get(area)
            .and_then(|c| c.last())
            .map_or(area, String::as_str)
    }

    pub fn area_name<'a>(&'a self, area: &'a str) -> &'a str {
        self.dataset
            .areas
            .iter()
            .find(|a| a.code == area)
            .map_or(area, |a| a.name.as_str())
    }
}

/// Combines a stored dataset with the participants' counted reports per station
/// ([`talaka_store::ElectionStore::crowd_counts`]) and draws every verdict, the summary, the
/// totals and the exit-poll and PVT estimates. Pure and deterministic.
pub fn compute(mut dataset: ElectionDataset, counts: Vec<CrowdTally>) -> ElectionView {
    dataset.crowd.extend(counts);
    let verdicts = verdicts(&dataset);
    let summary = summarize(&verdicts);
    let totals = estimate::totals(&dataset);
    let exit_poll = estimate::exit_poll_estimates(&dataset);
    let pvt = estimate::pvt_estimates(&dataset);
    let by_station = verdicts
        .iter()
        .enumerate()
        .map(|(i, v)| (v.station.clone(), i))
        .collect();
    let parent: HashMap<&str, Option<&str>> = dataset
        .areas
        .iter()
        .map(|a| (a.code.as_str(), a.parent.as_deref()))
        .collect();
    let area_chain = dataset
        .areas
        .iter()
        .map(|a| {
            let mut chain = vec![a.code.clone()];
            let mut at = a.parent.as_deref();
            while let Some(p) = at {
                if chain.iter().any(|c| c == p) || chain.len() > parent.len() {
                    break;
                }
                chain.push(p.to_owned());
                at = parent.get(p).copied().flatten();
            }
            (a.code.clone(), chain)
        })
        .collect();
    ElectionView {
        dataset,
        verdicts,
        by_station,
        summary,
        totals,
        exit_poll,
        pvt,
        area_chain,
    }
}

/// The most serious verdict at a station, for colours and the station list.
pub fn worst(v: &StationVerdicts) -> Option<VerdictKind> {
    SEVERITY.iter().copied().find(|k| v.has(*k))
}

/// Verdict kinds from the most to the least serious.
pub const SEVERITY: [VerdictKind; 5] = [
    VerdictKind::ProvenFalsification,
    VerdictKind::ExitPollInconsistent,
    VerdictKind::ArithmeticViolation,
    VerdictKind::ObserverCopyDiffers,
    VerdictKind::WeakCrowdEvidence,
];

/// How long a computed view is reused. Short, so several instances behind one database agree
/// within seconds; an import through this instance drops it at once.
const TTL: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 32;

/// Cache entries are keyed by the store's address and the election code. The entry keeps a
/// weak reference to its store: while it lives the address cannot be reused by another store,
/// and an entry whose store is gone is never served.
struct Entry {
    store: Weak<dyn Stores>,
    at: Instant,
    value: Arc<ElectionView>,
}

type Key = (usize, String);

fn cache() -> &'static Mutex<HashMap<Key, Entry>> {
    static CACHE: OnceLock<Mutex<HashMap<Key, Entry>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn key(store: &Arc<dyn Stores>, code: &str) -> Key {
    (Arc::as_ptr(store) as *const () as usize, code.to_owned())
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<Key, Entry>> {
    match cache().lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Forget the cached view of an election (after an import).
pub fn invalidate(state: &AppState, code: &str) {
    let store = state.store_arc();
    lock().remove(&key(&store, code));
}

pub fn store_error(e: ElectionError) -> AppError {
    match e {
        ElectionError::UnknownElection(_) => AppError::NotFound,
        ElectionError::Invalid(msg) => AppError::Internal(format!("invalid stored data: {msg}")),
        ElectionError::Store(e) => AppError::Store(e),
    }
}

/// The view of an election, computed at most once per [`TTL`]; `None` for an unknown code.
pub async fn view(state: &AppState, code: &str) -> Result<Option<Arc<ElectionView>>, AppError> {
    let store = state.store_arc();
    let k = key(&store, code);
    let cached = || {
        let map = lock();
        map.get(&k)
            .filter(|e| {
                e.at.elapsed() < TTL && e.store.upgrade().is_some_and(|s| Arc::ptr_eq(&s, &store))
            })
            .map(|e| e.value.clone())
    };
    if let Some(v) = cached() {
        return Ok(Some(v));
    }
    // One computation at a time: when the view expires under load, the requests waiting here
    // find the fresh one instead of each computing their own.
    static COMPUTING: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    let _turn = COMPUTING.get_or_init(Default::default).lock().await;
    if let Some(v) = cached() {
        return Ok(Some(v));
    }
    // Both reads at once, on two of the pool's connections.
    let (dataset, counts) = tokio::join!(
        state.elections().dataset(code),
        state.elections().crowd_counts(code)
    );
    let Some(dataset) = dataset.map_err(store_error)? else {
        return Ok(None);
    };
    let mut counts = counts.map_err(store_error)?;
    if !state.settings().count_unreviewed_photos {
        let confirmed = crate::moderation::confirmed(state, code, None).await?;
        talaka_store::moderation::only_confirmed(&mut counts, &confirmed);
    }
    let value = tokio::task::spawn_blocking(move || compute(dataset, counts))
        .await
        .map_err(|e| AppError::Internal(format!("computing verdicts: {e}")))?;
    let value = Arc::new(value);
    let mut map = lock();
    map.retain(|_, e| e.at.elapsed() < TTL && e.store.strong_count() > 0);
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(
        k,
        Entry {
            store: Arc::downgrade(&store),
            at: Instant::now(),
            value: value.clone(),
        },
    );
    Ok(Some(value))
}
