//! The forensics report on an election's official protocols: the stored dataset converted to a
//! forensics [`Election`], analysed by `talaka-forensics` and rendered by `talaka-report` as its
//! own self-contained page.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use talaka_elections::{ElectionDataset, OptionKind, ProtocolSource};
use talaka_forensics::Election;
use talaka_forensics::analysis::{AnalyzeOptions, analyze};
use talaka_forensics::election::{ElectionBuilder, Station};
use talaka_store::Stores;

use super::compute::store_error;
use crate::AppState;
use crate::error::AppError;

/// The official protocols of a dataset as a forensics [`Election`]: one station per official
/// protocol with V (the protocol's registered voters, else the station's), G (ballots issued,
/// else voters who took part) and R (valid + invalid, else ballots in the boxes, else voters,
/// else Σ votes). Stations without V are left out (turnout needs it), as are spoiled-ballot
/// options. Regions are the top-level areas. The leader is the option with the most official
/// votes. `None` when no station qualifies.
pub fn forensics_election(ds: &ElectionDataset) -> Option<Election> {
    let options: Vec<&talaka_elections::BallotOption> = ds
        .info
        .options
        .iter()
        .filter(|o| o.kind != OptionKind::Spoiled)
        .collect();
    if options.is_empty() {
        return None;
    }
    let parent: HashMap<&str, Option<&str>> = ds
        .areas
        .iter()
        .map(|a| (a.code.as_str(), a.parent.as_deref()))
        .collect();
    let names: HashMap<&str, &str> = ds
        .areas
        .iter()
        .map(|a| (a.code.as_str(), a.name.as_str()))
        .collect();
    let top = |area: &str| {
        let mut at = area;
        for _ in 0..=parent.len() {
            match parent.get(at).copied().flatten() {
                Some(p) if parent.contains_key(p) => at = p,
                _ => break,
            }
        }
        at.to_owned()
    };
    let stations: HashMap<&str, &talaka_elections::Station> =
        ds.stations.iter().map(|s| (s.code.as_str(), s)).collect();
    let mut regions: Vec<String> = Vec::new();
    let mut region_index: HashMap<String, u32> = HashMap::new();
    let mut rows = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in &ds.protocols {
        if p.source != ProtocolSource::Official || !seen.insert(p.station.as_str()) {
            continue;
        }
        let f = &p.figures;
        let st = stations.get(p.station.as_str());
        let Some(registered) = f.registered.or_else(|| st.and_then(|s| s.registered)) else {
            continue;
        };
        let votes: Vec<u32> = options
            .iter()
            .map(|o| f.votes_for(&o.code).unwrap_or(0))
            .collect();
        let sum = votes.iter().fold(0u32, |a, &b| a.saturating_add(b));
        let cast = match (f.valid, f.invalid) {
            (Some(v), Some(i)) => Some(v.saturating_add(i)),
            _ => f.in_boxes().or(f.voters),
        }
        .unwrap_or(sum);
        let issued = f.issued().or(f.voters).unwrap_or(cast);
        let region_code = st
            .and_then(|s| s.area.as_deref())
            .map(&top)
            .unwrap_or_default();
        let region = *region_index.entry(region_code.clone()).or_insert_with(|| {
            let name = names
                .get(region_code.as_str())
                .map_or(region_code.clone(), |n| (*n).to_owned());
            regions.push(name);
            (regions.len() - 1) as u32
        });
        let label = match st.map(|s| s.name.as_str()).filter(|n| !n.is_empty()) {
            Some(name) => format!("{} ({name})", p.station),
            None => p.station.clone(),
        };
        rows.push(Station {
            label,
            region,
            registered,
            issued,
            cast,
            votes,
        });
    }
    if rows.is_empty() {
        return None;
    }
    let mut totals = vec![0u64; options.len()];
    for r in &rows {
        for (t, v) in totals.iter_mut().zip(&r.votes) {
            *t += u64::from(*v);
        }
    }
    let leader = totals
        .iter()
        .enumerate()
        .max_by_key(|(i, t)| (**t, std::cmp::Reverse(*i)))
        .map_or(0, |(i, _)| i);
    let mut b = ElectionBuilder::new(
        ds.info.name.clone(),
        options.iter().map(|o| o.name.clone()).collect(),
        leader,
        regions,
    )
    .ok()?
    .with_capacity(rows.len());
    for r in rows {
        b.push(r).ok()?;
    }
    Some(b.finish())
}

/// The report is costly (seconds for a large election): kept for a few minutes per election,
/// and dropped by an import through this instance.
const TTL: Duration = Duration::from_secs(300);

struct Entry {
    store: Weak<dyn Stores>,
    at: Instant,
    html: Arc<String>,
}

type Key = (usize, String);

fn cache() -> std::sync::MutexGuard<'static, HashMap<Key, Entry>> {
    static CACHE: OnceLock<Mutex<HashMap<Key, Entry>>> = OnceLock::new();
    match CACHE.get_or_init(Default::default).lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn key(store: &Arc<dyn Stores>, code: &str) -> Key {
    (Arc::as_ptr(store) as *const () as usize, code.to_owned())
}

pub fn invalidate(state: &AppState, code: &str) {
    cache().remove(&key(&state.store_arc(), code));
}

/// The report's own policy: its CSS is inline, and nothing else is allowed at all.
const REPORT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
                          base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /elections/{code}/forensics`.
pub async fn report(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Response, AppError> {
    let store = state.store_arc();
    let k = key(&store, &code);
    let cached = cache().get(&k).and_then(|e| {
        (e.at.elapsed() < TTL && e.store.upgrade().is_some_and(|s| Arc::ptr_eq(&s, &store)))
            .then(|| e.html.clone())
    });
    let html = match cached {
        Some(html) => html,
        None => {
            let ds = state
                .elections()
                .dataset(&code)
                .await
                .map_err(store_error)?
                .ok_or(AppError::NotFound)?;
            let html = tokio::task::spawn_blocking(move || {
                forensics_election(&ds).map(|e| {
                    let options = AnalyzeOptions {
                        mc_replicates: 200,
                        seed: 1,
                        // The fraud-model fit takes minutes on a large election; `talaka
                        // analyze` runs it.
                        klimek: false,
                        threads: 1,
                    };
                    talaka_report::html(&analyze(&e, &options))
                })
            })
            .await
            .map_err(|e| AppError::Internal(format!("forensics: {e}")))?;
            let Some(html) = html else {
                return Err(AppError::BadRequest("elections.forensics.no_data"));
            };
            let html = Arc::new(html);
            let mut map = cache();
            map.retain(|_, e| e.at.elapsed() < TTL && e.store.strong_count() > 0);
            map.insert(
                k,
                Entry {
                    store: Arc::downgrade(&store),
                    at: Instant::now(),
                    html: html.clone(),
                },
            );
            html
        }
    };
    let mut res = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html.as_str().to_owned(),
    )
        .into_response();
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(REPORT_CSP),
    );
    res.extensions_mut().insert(crate::error::Rendered);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use talaka_elections::{
        Area, AreaKind, BallotOption, ElectionInfo, Protocol, ProtocolFigures, Station as ElStation,
    };

    #[test]
    fn official_protocols_become_forensics_stations() {
        let opt = |c: &str, kind| BallotOption {
            code: c.into(),
            name: c.to_uppercase(),
            kind,
        };
        let mut ds = ElectionDataset::new(ElectionInfo {
            code: "e".into(),
            name: "E".into(),
            date: "2020-08-09".into(),
            options: vec![
                opt("a", OptionKind::Candidate),
                opt("b", OptionKind::Candidate),
                opt("x", OptionKind::Spoiled),
            ],
        });
        ds.areas = vec![
            Area {
                code: "r".into(),
                name: "Region".into(),
                kind: AreaKind::Region,
                parent: None,
            },
            Area {
                code: "r/d".into(),
                name: "District".into(),
                kind: AreaKind::District,
                parent: Some("r".into()),
            },
        ];
        for (code, reg) in [("1", Some(1000)), ("2", None), ("3", Some(500))] {
            ds.stations.push(ElStation {
                code: code.into(),
                name: String::new(),
                area: Some("r/d".into()),
                abroad: false,
                registered: reg,
                coordinates: None,
            });
            ds.protocols.push(Protocol {
                station: code.into(),
                source: ProtocolSource::Official,
                figures: ProtocolFigures {
                    voters: Some(400),
                    votes: vec![("a".into(), 100), ("b".into(), 290), ("x".into(), 10)],
                    ..Default::default()
                },
            });
        }
        let e = forensics_election(&ds).unwrap();
        assert_eq!(e.len(), 2, "station 2 has no registered voters");
        assert_eq!(e.options, vec!["A", "B"]);
        assert_eq!(e.leader, 1);
        assert_eq!(e.regions, vec!["Region"]);
        assert_eq!(e.registered, vec![1000, 500]);
        assert_eq!(e.issued, vec![400, 400]);
        assert_eq!(e.cast, vec![400, 400]);
    }
}
