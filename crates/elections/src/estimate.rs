//! Estimates by region (country abroad) and nationally: the official totals beside the crowd's
//! hard lower bounds, and ratio estimates from exit polls and from observers' protocol copies
//! (parallel vote tabulation), stratified by region, with margins of error. The formulas are in
//! `docs/exit-poll-bound.md` ("Estimates").
//!
//! Strata are the top-level areas (region, or country abroad); a station without an area is in
//! the stratum `""`.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::crowd::merge_tallies;
use crate::model::{ElectionDataset, ProtocolFigures, ProtocolSource};

/// z for a two-sided 95 % margin of error.
pub const Z95: f64 = 1.959_963_984_540_054;

/// One option's official total beside what the crowd proves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OptionTotals {
    pub option: String,
    /// Σ official votes over the area's stations with a published protocol.
    pub official: u64,
    /// Σ photo-verified reports: a hard lower bound of the option's real votes in the area.
    pub verified: u64,
    /// Σ reports, verified or not.
    pub reported: u64,
    /// Σ verified over the stations with a published protocol, to set beside `official`.
    pub verified_where_published: u64,
}

/// Official and crowd totals of one area (`area: None` is the whole country).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AreaTotals {
    pub area: Option<String>,
    pub name: String,
    pub stations: usize,
    pub with_official: usize,
    pub with_crowd: usize,
    pub options: Vec<OptionTotals>,
}

/// Totals nationally and per top-level area, areas sorted by code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub national: AreaTotals,
    pub regions: Vec<AreaTotals>,
}

/// The top-level area of every area code (following `parent` links; cycles stop).
fn top_areas(ds: &ElectionDataset) -> HashMap<&str, &str> {
    let parent: HashMap<&str, Option<&str>> = ds
        .areas
        .iter()
        .map(|a| (a.code.as_str(), a.parent.as_deref()))
        .collect();
    let mut top = HashMap::with_capacity(parent.len());
    for a in &ds.areas {
        let mut at = a.code.as_str();
        for _ in 0..=parent.len() {
            match parent.get(at).copied().flatten() {
                Some(p) if parent.contains_key(p) => at = p,
                Some(p) => {
                    at = p;
                    break;
                }
                None => break,
            }
        }
        top.insert(a.code.as_str(), at);
    }
    top
}

/// The stratum (top-level area code) of each station code, `""` when unknown.
fn strata(ds: &ElectionDataset) -> HashMap<&str, &str> {
    let top = top_areas(ds);
    ds.stations
        .iter()
        .map(|s| {
            let stratum = s
                .area
                .as_deref()
                .map(|a| top.get(a).copied().unwrap_or(a))
                .unwrap_or("");
            (s.code.as_str(), stratum)
        })
        .collect()
}

fn official_by_station(ds: &ElectionDataset) -> HashMap<&str, &ProtocolFigures> {
    let mut m = HashMap::with_capacity(ds.protocols.len());
    for p in &ds.protocols {
        if p.source == ProtocolSource::Official {
            m.entry(p.station.as_str()).or_insert(&p.figures);
        }
    }
    m
}

#[derive(Default)]
struct Acc {
    stations: std::collections::HashSet<String>,
    with_official: usize,
    with_crowd: usize,
    options: BTreeMap<String, OptionTotals>,
}

impl Acc {
    fn option(&mut self, code: &str) -> &mut OptionTotals {
        self.options
            .entry(code.to_owned())
            .or_insert_with(|| OptionTotals {
                option: code.to_owned(),
                official: 0,
                verified: 0,
                reported: 0,
                verified_where_published: 0,
            })
    }
}

/// Official totals beside the crowd's lower bounds, nationally and per top-level area. Options
/// come in the election's order, then any others by code.
pub fn totals(ds: &ElectionDataset) -> Totals {
    let strata = strata(ds);
    let official = official_by_station(ds);
    let mut national = Acc::default();
    let mut regions: BTreeMap<&str, Acc> = BTreeMap::new();
    for s in &ds.stations {
        regions.entry(strata[s.code.as_str()]).or_default();
    }
    let stratum_of = |code: &str| strata.get(code).copied().unwrap_or("");

    for (&station, &f) in &official {
        let region = regions.entry(stratum_of(station)).or_default();
        for acc in [&mut national, region] {
            acc.stations.insert(station.to_owned());
            acc.with_official += 1;
            for (o, v) in &f.votes {
                acc.option(o).official += u64::from(*v);
            }
        }
    }
    let mut by_station: HashMap<&str, Vec<&crate::model::CrowdTally>> = HashMap::new();
    for c in &ds.crowd {
        by_station.entry(c.station.as_str()).or_default().push(c);
    }
    for (station, tallies) in by_station {
        let Some(t) = merge_tallies(tallies) else {
            continue;
        };
        let published = official.contains_key(station);
        let region = regions.entry(stratum_of(station)).or_default();
        for acc in [&mut national, region] {
            acc.stations.insert(station.to_owned());
            acc.with_crowd += 1;
            for (o, v) in &t.reported {
                acc.option(o).reported += u64::from(*v);
            }
            for (o, v) in &t.verified {
                let opt = acc.option(o);
                opt.verified += u64::from(*v);
                if published {
                    opt.verified_where_published += u64::from(*v);
                }
            }
        }
    }
    for s in &ds.stations {
        national.stations.insert(s.code.clone());
        if let Some(r) = regions.get_mut(stratum_of(&s.code)) {
            r.stations.insert(s.code.clone());
        }
    }

    let names: HashMap<&str, &str> = ds
        .areas
        .iter()
        .map(|a| (a.code.as_str(), a.name.as_str()))
        .collect();
    let order: Vec<&str> = ds.info.options.iter().map(|o| o.code.as_str()).collect();
    let finish = |area: Option<&str>, name: String, acc: Acc| {
        let mut options: Vec<OptionTotals> = acc.options.into_values().collect();
        options.sort_by_key(|o| {
            (
                order
                    .iter()
                    .position(|c| *c == o.option)
                    .unwrap_or(usize::MAX),
                o.option.clone(),
            )
        });
        AreaTotals {
            area: area.map(str::to_owned),
            name,
            stations: acc.stations.len(),
            with_official: acc.with_official,
            with_crowd: acc.with_crowd,
            options,
        }
    };
    let regions = regions
        .into_iter()
        .map(|(code, acc)| {
            let name = names
                .get(code)
                .map_or_else(|| code.to_owned(), |n| (*n).to_owned());
            finish(Some(code), name, acc)
        })
        .collect();
    Totals {
        national: finish(None, ds.info.name.clone(), national),
        regions,
    }
}

/// One sampled station for a ratio estimator: `y` people for the option out of `x`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sample {
    pub stratum: String,
    pub y: f64,
    pub x: f64,
}

/// The estimate within one stratum.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StratumEstimate {
    pub stratum: String,
    /// Stations sampled, and all stations of the stratum in the dataset (at least the sampled).
    pub sampled: usize,
    pub stations: usize,
    /// The stratum's share of the weight among the sampled strata.
    pub weight: f64,
    /// r_h = Σy / Σx.
    pub share: f64,
    /// Standard error of r_h.
    pub standard_error: f64,
    /// The official share Σ official votes / Σ official total over the sampled stations.
    pub official_share: Option<f64>,
}

/// A stratified ratio estimate of one option's share, with its 95 % margin of error.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RatioEstimate {
    pub option: String,
    pub share: f64,
    pub standard_error: f64,
    /// Z95 · standard error.
    pub margin: f64,
    /// The weight (official ballots) of the sampled strata as a share of all strata's.
    pub coverage: f64,
    /// Strata with a single sampled station: their between-station variance is unknown, so
    /// the margin understates the uncertainty there.
    pub single_station_strata: usize,
    /// The official share over the sampled stations, weighted the same way.
    pub official_share: Option<f64>,
    pub strata: Vec<StratumEstimate>,
}

/// Stratified ratio estimator. `weights` gives each stratum's weight (e.g. its official ballots)
/// and station count; strata without weight fall back to their Σx. `official` gives, per sample
/// in the same order, the official (votes for the option, total) when known.
pub fn stratified_ratio(
    option: &str,
    samples: &[Sample],
    official: &[Option<(f64, f64)>],
    weights: &HashMap<String, (f64, usize)>,
) -> Option<RatioEstimate> {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in samples.iter().enumerate() {
        if s.x > 0.0 {
            groups.entry(s.stratum.as_str()).or_default().push(i);
        }
    }
    if groups.is_empty() {
        return None;
    }
    let mut strata = Vec::with_capacity(groups.len());
    let mut raw_weights = Vec::with_capacity(groups.len());
    for (stratum, idx) in &groups {
        let m = idx.len();
        let sx: f64 = idx.iter().map(|&i| samples[i].x).sum();
        let sy: f64 = idx.iter().map(|&i| samples[i].y).sum();
        let r = sy / sx;
        let (w, stations) = weights
            .get(*stratum)
            .copied()
            .filter(|(w, _)| *w > 0.0)
            .unwrap_or((sx, m));
        let stations = stations.max(m);
        let f = m as f64 / stations as f64;
        let xbar = sx / m as f64;
        let between = if m >= 2 {
            let s2: f64 = idx
                .iter()
                .map(|&i| (samples[i].y - r * samples[i].x).powi(2))
                .sum::<f64>()
                / (m as f64 - 1.0);
            (1.0 - f) * s2 / (m as f64 * xbar * xbar)
        } else {
            0.0
        };
        let within: f64 = idx
            .iter()
            .map(|&i| {
                let p = (samples[i].y / samples[i].x).clamp(0.0, 1.0);
                samples[i].x * p * (1.0 - p)
            })
            .sum::<f64>()
            / (sx * sx);
        let var = between + f * within;
        let (oy, ot) = idx
            .iter()
            .filter_map(|&i| official.get(i).copied().flatten())
            .fold((0.0, 0.0), |(a, b), (y, t)| (a + y, b + t));
        raw_weights.push(w);
        strata.push(StratumEstimate {
            stratum: (*stratum).to_owned(),
            sampled: m,
            stations,
            weight: w,
            share: r,
            standard_error: var.sqrt(),
            official_share: (ot > 0.0).then(|| oy / ot),
        });
    }
    let total_w: f64 = raw_weights.iter().sum();
    let all_w: f64 = weights.values().map(|(w, _)| *w).sum::<f64>().max(total_w);
    for s in &mut strata {
        s.weight /= total_w;
    }
    let share: f64 = strata.iter().map(|s| s.weight * s.share).sum();
    let var: f64 = strata
        .iter()
        .map(|s| s.weight * s.weight * s.standard_error * s.standard_error)
        .sum();
    let official_share = if strata.iter().all(|s| s.official_share.is_some()) {
        Some(
            strata
                .iter()
                .map(|s| s.weight * s.official_share.unwrap_or(0.0))
                .sum(),
        )
    } else {
        None
    };
    Some(RatioEstimate {
        option: option.to_owned(),
        share,
        standard_error: var.sqrt(),
        margin: Z95 * var.sqrt(),
        coverage: if all_w > 0.0 { total_w / all_w } else { 1.0 },
        single_station_strata: strata.iter().filter(|s| s.sampled == 1).count(),
        official_share,
        strata,
    })
}

/// Weights per stratum: the official ballots cast (Σ votes) of its stations, else its
/// registered voters; and its number of stations.
fn stratum_weights(ds: &ElectionDataset) -> HashMap<String, (f64, usize)> {
    let strata = strata(ds);
    let official = official_by_station(ds);
    let mut w: HashMap<String, (f64, f64, usize)> = HashMap::new();
    for s in &ds.stations {
        let e = w.entry(strata[s.code.as_str()].to_owned()).or_default();
        e.2 += 1;
        if let Some(f) = official.get(s.code.as_str()) {
            e.0 += f.votes_total() as f64;
        }
        e.1 += f64::from(s.registered.unwrap_or(0));
    }
    w.into_iter()
        .map(|(k, (ballots, registered, n))| {
            (k, (if ballots > 0.0 { ballots } else { registered }, n))
        })
        .collect()
}

/// Exit-poll estimates of every option's share among voters who named an option, stratified by
/// top-level area. Each station's tallies are added up; the estimate assumes those who declined
/// voted like those who answered (unlike the verdicts, which assume the worst).
pub fn exit_poll_estimates(ds: &ElectionDataset) -> Vec<RatioEstimate> {
    let strata = strata(ds);
    let official = official_by_station(ds);
    let mut per_station: BTreeMap<&str, BTreeMap<&str, f64>> = BTreeMap::new();
    for t in &ds.exit_polls {
        let e = per_station.entry(t.station.as_str()).or_default();
        for (o, v) in &t.answers {
            *e.entry(o.as_str()).or_default() += f64::from(*v);
        }
    }
    let options = options_seen(ds, per_station.values().flat_map(|m| m.keys().copied()));
    estimates_for(ds, &strata, &official, &per_station, &options)
}

/// Parallel vote tabulation from observers' protocol copies: each option's share of the votes on
/// the copies, stratified by top-level area. One copy per station (the first in the dataset).
pub fn pvt_estimates(ds: &ElectionDataset) -> Vec<RatioEstimate> {
    let strata = strata(ds);
    let official = official_by_station(ds);
    let mut per_station: BTreeMap<&str, BTreeMap<&str, f64>> = BTreeMap::new();
    for p in &ds.protocols {
        if matches!(p.source, ProtocolSource::ObserverCopy { .. })
            && !per_station.contains_key(p.station.as_str())
        {
            per_station.insert(
                p.station.as_str(),
                p.figures
                    .votes
                    .iter()
                    .map(|(o, v)| (o.as_str(), f64::from(*v)))
                    .collect(),
            );
        }
    }
    let options = options_seen(ds, per_station.values().flat_map(|m| m.keys().copied()));
    estimates_for(ds, &strata, &official, &per_station, &options)
}

fn options_seen<'a>(ds: &'a ElectionDataset, seen: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let seen: std::collections::BTreeSet<&str> = seen.collect();
    let mut out: Vec<&str> = ds
        .info
        .options
        .iter()
        .map(|o| o.code.as_str())
        .filter(|c| seen.contains(c))
        .collect();
    for c in seen {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

fn estimates_for(
    ds: &ElectionDataset,
    strata: &HashMap<&str, &str>,
    official: &HashMap<&str, &ProtocolFigures>,
    per_station: &BTreeMap<&str, BTreeMap<&str, f64>>,
    options: &[&str],
) -> Vec<RatioEstimate> {
    let weights = stratum_weights(ds);
    options
        .iter()
        .filter_map(|&option| {
            let mut samples = Vec::with_capacity(per_station.len());
            let mut off = Vec::with_capacity(per_station.len());
            for (&station, answers) in per_station {
                let x: f64 = answers.values().sum();
                samples.push(Sample {
                    stratum: strata.get(station).copied().unwrap_or("").to_owned(),
                    y: answers.get(option).copied().unwrap_or(0.0),
                    x,
                });
                off.push(official.get(station).and_then(|f| {
                    let total = f.votes_total() as f64;
                    Some((f64::from(f.votes_for(option)?), total)).filter(|_| total > 0.0)
                }));
            }
            stratified_ratio(option, &samples, &off, &weights)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Area, AreaKind, BallotOption, CrowdTally, ElectionInfo, ExitPollTally, OptionKind,
        Protocol, Station,
    };

    fn dataset() -> ElectionDataset {
        let opt = |c: &str| BallotOption {
            code: c.into(),
            name: c.into(),
            kind: OptionKind::Candidate,
        };
        let mut ds = ElectionDataset::new(ElectionInfo {
            code: "e".into(),
            name: "Nation".into(),
            date: "2024-03-17".into(),
            options: vec![opt("a"), opt("b")],
        });
        for (code, name, kind, parent) in [
            ("R1", "Region 1", AreaKind::Region, None),
            ("R1-D1", "District", AreaKind::District, Some("R1")),
            ("R2", "Region 2", AreaKind::Region, None),
        ] {
            ds.areas.push(Area {
                code: code.into(),
                name: name.into(),
                kind,
                parent: parent.map(Into::into),
            });
        }
        for (code, area) in [("s1", "R1-D1"), ("s2", "R1-D1"), ("s3", "R2"), ("s4", "R2")] {
            ds.stations.push(Station {
                code: code.into(),
                name: String::new(),
                area: Some(area.into()),
                abroad: false,
                registered: Some(1000),
                coordinates: None,
            });
        }
        for (s, a, b) in [("s1", 300, 500), ("s2", 100, 700), ("s3", 50, 150)] {
            ds.protocols.push(Protocol {
                station: s.into(),
                source: ProtocolSource::Official,
                figures: ProtocolFigures {
                    votes: vec![("a".into(), a), ("b".into(), b)],
                    ..ProtocolFigures::default()
                },
            });
        }
        for (s, va, ra) in [("s1", 320, 400), ("s2", 80, 90), ("s4", 10, 12)] {
            ds.crowd.push(CrowdTally {
                station: s.into(),
                reported: vec![("a".into(), ra)],
                verified: vec![("a".into(), va)],
            });
        }
        ds
    }

    #[test]
    fn official_totals_beside_crowd_lower_bounds() {
        let t = totals(&dataset());
        let a = &t.national.options[0];
        assert_eq!(a.option, "a");
        assert_eq!(
            (
                a.official,
                a.verified,
                a.reported,
                a.verified_where_published
            ),
            (450, 410, 502, 400)
        );
        assert_eq!(
            (
                t.national.stations,
                t.national.with_official,
                t.national.with_crowd
            ),
            (4, 3, 3)
        );
        assert_eq!(t.regions.len(), 2);
        let r1 = &t.regions[0];
        assert_eq!(
            (r1.area.as_deref(), r1.name.as_str()),
            (Some("R1"), "Region 1")
        );
        assert_eq!((r1.options[0].official, r1.options[0].verified), (400, 400));
        let r2 = &t.regions[1];
        assert_eq!(
            (r2.stations, r2.options[0].official, r2.options[0].verified),
            (2, 50, 10)
        );
    }

    #[test]
    fn ratio_estimator_by_hand() {
        // One stratum, two stations: (y, x) = (30, 100), (50, 100); 4 stations in all.
        // r = 80/200 = 0.4; residuals −10, +10, s² = 200; f = 0.5; x̄ = 100:
        // between = 0.5·200/(2·100²) = 0.005; within = (100·0.3·0.7 + 100·0.5·0.5)/200² = 0.00115;
        // var = 0.005 + 0.5·0.00115 = 0.005575.
        let samples = vec![
            Sample {
                stratum: "h".into(),
                y: 30.0,
                x: 100.0,
            },
            Sample {
                stratum: "h".into(),
                y: 50.0,
                x: 100.0,
            },
        ];
        let weights = HashMap::from([("h".to_owned(), (1000.0, 4))]);
        let e = stratified_ratio("a", &samples, &[None, None], &weights).expect("estimate");
        assert!((e.share - 0.4).abs() < 1e-12);
        assert!((e.standard_error - 0.005_575_f64.sqrt()).abs() < 1e-12);
        assert!((e.margin - Z95 * 0.005_575_f64.sqrt()).abs() < 1e-12);
        assert_eq!(e.single_station_strata, 0);
        assert_eq!(e.official_share, None);
    }

    #[test]
    fn strata_are_weighted_by_official_ballots() {
        let mut ds = dataset();
        for (s, a, b) in [("s1", 10, 90), ("s3", 60, 40)] {
            ds.exit_polls.push(ExitPollTally {
                station: s.into(),
                window: String::new(),
                surveyed: 120,
                answers: vec![("a".into(), a), ("b".into(), b)],
                declined: 20,
                spoiled_or_unknown: 0,
                counted_at_exit: None,
            });
        }
        let e = exit_poll_estimates(&ds);
        assert_eq!(e.len(), 2);
        let a = &e[0];
        // R1 weight: official ballots 800 + 800 = 1600; R2: 200 → 8/9 · 0.1 + 1/9 · 0.6.
        let (w1, w2) = (8.0 / 9.0, 1.0 / 9.0);
        assert!(
            (a.share - (w1 * 0.1 + w2 * 0.6)).abs() < 1e-12,
            "{}",
            a.share
        );
        assert_eq!(a.strata.len(), 2);
        assert!((a.strata[0].weight - w1).abs() < 1e-12);
        assert_eq!(a.single_station_strata, 2);
        // Official shares of the sampled stations: s1 300/800, s3 50/200.
        assert!((a.official_share.expect("official") - (w1 * 0.375 + w2 * 0.25)).abs() < 1e-12);
        assert!(a.margin > 0.0);
        assert!((a.coverage - 1.0).abs() < 1e-12);
    }

    #[test]
    fn pvt_uses_observer_copies() {
        let mut ds = dataset();
        ds.protocols.push(Protocol {
            station: "s2".into(),
            source: ProtocolSource::ObserverCopy {
                observer: "o".into(),
            },
            figures: ProtocolFigures {
                votes: vec![("a".into(), 400), ("b".into(), 400)],
                ..ProtocolFigures::default()
            },
        });
        let e = pvt_estimates(&ds);
        assert_eq!(e[0].option, "a");
        assert!((e[0].share - 0.5).abs() < 1e-12);
        assert!((e[0].official_share.expect("official") - 0.125).abs() < 1e-12);
        assert!(exit_poll_estimates(&ds).is_empty());
    }
}
