//! Crowd evidence (the Golos method). Each photo-verified ballot report is one person who proved
//! they voted for an option at a station. If more people proved a vote for an option than the
//! official protocol gives that option, the protocol's figure is provably false: *proven
//! falsification*. Unverified reports above the official figure are weaker evidence (people
//! said so, nobody checked) and are labelled as such.
//!
//! From individual reports ([`tally_reports`]):
//! - only each participant's latest report counts (largest `at`; on a tie, the later one in the
//!   input), so a participant who changes their report is counted once, where they last said;
//! - a report counts as verified only when its `verification` is `PhotoVerified`;
//! - a ballot photo proves one vote: when several counted reports carry the same photo hash,
//!   only the earliest of them (smallest `at`, then first in input) stays verified; the others
//!   count as unverified reports. Hashes are compared across the whole election, not per
//!   station.
//!
//! The reports passed in must belong to one election.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::model::{BallotReport, CrowdTally, ElectionInfo, ProtocolFigures, Verification};
use crate::words::{option_name, thousands};

/// How strong the crowd's evidence against an official figure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    /// Photo-verified reports exceed the official figure.
    Proven,
    /// Only unverified reports (all reports, verified or not) exceed it.
    Weak,
}

/// The crowd's count for one option at one station against the official figure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CrowdFinding {
    pub option: String,
    pub strength: Strength,
    pub official: u32,
    /// Photo-verified reports for the option.
    pub verified: u32,
    /// All reports for the option (verified ones included).
    pub reported: u32,
    pub sentence: String,
}

fn lookup(list: &[(String, u32)], code: &str) -> Option<u32> {
    list.iter().find(|(c, _)| c == code).map(|(_, v)| *v)
}

/// Merges several tallies of one station without ever over-counting: per option, the largest
/// count any one tally gives (a lower bound of the people who reported stays a lower bound).
pub fn merge_tallies<'a>(
    tallies: impl IntoIterator<Item = &'a CrowdTally>,
) -> Option<Cow<'a, CrowdTally>> {
    let mut it = tallies.into_iter();
    let first = it.next()?;
    let Some(second) = it.next() else {
        return Some(Cow::Borrowed(first));
    };
    let mut merged = first.clone();
    for t in std::iter::once(second).chain(it) {
        for (list, into) in [
            (&t.reported, &mut merged.reported),
            (&t.verified, &mut merged.verified),
        ] {
            for (code, v) in list {
                match into.iter_mut().find(|(c, _)| c == code) {
                    Some((_, have)) => *have = (*have).max(*v),
                    None => into.push((code.clone(), *v)),
                }
            }
        }
    }
    Some(Cow::Owned(merged))
}

/// The crowd's findings at one station: for every option with an official figure, proven
/// falsification where verified reports exceed it, weaker evidence where only all reports do.
pub fn findings(
    info: &ElectionInfo,
    station: &str,
    official: &ProtocolFigures,
    tally: &CrowdTally,
) -> Vec<CrowdFinding> {
    let mut out = Vec::new();
    for (option, official_votes) in &official.votes {
        let official_votes = *official_votes;
        let verified = lookup(&tally.verified, option).unwrap_or(0);
        // `verified` ⊆ `reported`; a source that lists fewer reports than verified ones is
        // read as having at least the verified ones.
        let reported = lookup(&tally.reported, option).unwrap_or(0).max(verified);
        let name = option_name(info, option);
        if verified > official_votes {
            out.push(CrowdFinding {
                option: option.clone(),
                strength: Strength::Proven,
                official: official_votes,
                verified,
                reported,
                sentence: format!(
                    "At station {station}, {} voters proved with a photo of their ballot that they voted for {name}; the official protocol gives {name} {} votes.",
                    thousands(i64::from(verified)),
                    thousands(i64::from(official_votes))
                ),
            });
        } else if reported > official_votes {
            out.push(CrowdFinding {
                option: option.clone(),
                strength: Strength::Weak,
                official: official_votes,
                verified,
                reported,
                sentence: format!(
                    "At station {station}, {} voters reported voting for {name} ({} of them with a verified ballot photo, which alone does not exceed the protocol); the official protocol gives {name} {} votes. Unverified reports are weaker evidence.",
                    thousands(i64::from(reported)),
                    thousands(i64::from(verified)),
                    thousands(i64::from(official_votes))
                ),
            });
        }
    }
    out
}

/// Per-station tallies from individual reports of one election, by the rules in the module
/// documentation. Stations and options come out sorted by code.
pub fn tally_reports(reports: &[BallotReport]) -> Vec<CrowdTally> {
    // The latest report of each participant.
    let mut latest: HashMap<&str, usize> = HashMap::with_capacity(reports.len());
    for (i, r) in reports.iter().enumerate() {
        latest
            .entry(r.participant.as_str())
            .and_modify(|j| {
                if r.at >= reports[*j].at {
                    *j = i;
                }
            })
            .or_insert(i);
    }
    let mut counted: Vec<usize> = latest.into_values().collect();
    // Earliest first, so the first report with a photo keeps its verification.
    counted.sort_unstable_by_key(|&i| (reports[i].at, i));

    let mut photos: HashSet<&str> = HashSet::new();
    // station → option → (reported, verified)
    let mut by_station: BTreeMap<&str, BTreeMap<&str, (u32, u32)>> = BTreeMap::new();
    for i in counted {
        let r = &reports[i];
        let mut verified = r.verification == Verification::PhotoVerified;
        if verified && let Some(hash) = r.photo_sha256.as_deref() {
            verified = photos.insert(hash);
        }
        let cell = by_station
            .entry(r.station.as_str())
            .or_default()
            .entry(r.option.as_str())
            .or_default();
        cell.0 = cell.0.saturating_add(1);
        if verified {
            cell.1 = cell.1.saturating_add(1);
        }
    }
    by_station
        .into_iter()
        .map(|(station, options)| CrowdTally {
            station: station.to_owned(),
            reported: options
                .iter()
                .map(|(o, (r, _))| ((*o).to_owned(), *r))
                .collect(),
            verified: options
                .iter()
                .filter(|(_, (_, v))| *v > 0)
                .map(|(o, (_, v))| ((*o).to_owned(), *v))
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BallotOption, OptionKind};

    fn info() -> ElectionInfo {
        ElectionInfo {
            code: "by".into(),
            name: "BY".into(),
            date: "2020-08-09".into(),
            options: vec![BallotOption {
                code: "tihanovkaja".into(),
                name: "Tsikhanouskaya".into(),
                kind: OptionKind::Candidate,
            }],
        }
    }

    fn official(v: u32) -> ProtocolFigures {
        ProtocolFigures {
            votes: vec![("tihanovkaja".into(), v), ("lukashenko".into(), 1000)],
            ..ProtocolFigures::default()
        }
    }

    fn tally(reported: u32, verified: u32) -> CrowdTally {
        CrowdTally {
            station: "01-010-0001".into(),
            reported: vec![("tihanovkaja".into(), reported), ("lukashenko".into(), 3)],
            verified: vec![("tihanovkaja".into(), verified)],
        }
    }

    #[test]
    fn verified_above_official_is_proven() {
        let f = findings(&info(), "01-010-0001", &official(252), &tally(466, 253));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].strength, Strength::Proven);
        assert_eq!(
            (f[0].official, f[0].verified, f[0].reported),
            (252, 253, 466)
        );
        assert_eq!(
            f[0].sentence,
            "At station 01-010-0001, 253 voters proved with a photo of their ballot that they voted for Tsikhanouskaya; the official protocol gives Tsikhanouskaya 252 votes."
        );
    }

    #[test]
    fn equal_is_not_proven_and_reports_alone_are_weak() {
        assert!(findings(&info(), "s", &official(466), &tally(466, 253)).is_empty());
        let f = findings(&info(), "s", &official(253), &tally(466, 253));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].strength, Strength::Weak);
        assert!(f[0].sentence.contains("weaker evidence"));
    }

    #[test]
    fn merged_tallies_take_the_maximum() {
        let a = tally(10, 4);
        let mut b = tally(7, 6);
        b.verified.push(("lukashenko".into(), 1));
        let m = merge_tallies([&a, &b]).expect("two tallies");
        assert_eq!(lookup(&m.reported, "tihanovkaja"), Some(10));
        assert_eq!(lookup(&m.verified, "tihanovkaja"), Some(6));
        assert_eq!(lookup(&m.verified, "lukashenko"), Some(1));
        assert!(merge_tallies(std::iter::empty()).is_none());
    }

    fn report(
        p: &str,
        station: &str,
        option: &str,
        v: Verification,
        photo: Option<&str>,
        at: i64,
    ) -> BallotReport {
        BallotReport {
            participant: p.into(),
            station: station.into(),
            option: option.into(),
            verification: v,
            photo_sha256: photo.map(Into::into),
            at,
        }
    }

    #[test]
    fn only_the_latest_report_counts_and_photos_count_once() {
        use Verification::*;
        let reports = vec![
            // p1 changed their mind: only the later report counts.
            report("p1", "S1", "a", PhotoVerified, Some("h1"), 10),
            report("p1", "S2", "b", Unverified, None, 20),
            // p2 and p3 send the same photo: only p2 (earlier) stays verified.
            report("p3", "S1", "a", PhotoVerified, Some("h2"), 31),
            report("p2", "S1", "a", PhotoVerified, Some("h2"), 30),
            // p4 verified without a stored hash still counts as verified.
            report("p4", "S1", "a", PhotoVerified, None, 40),
            // p5 reports twice at the same instant: the later in the input wins.
            report("p5", "S1", "a", Unverified, None, 50),
            report("p5", "S1", "b", Unverified, None, 50),
            // The h1 photo is free again after p1 withdrew it.
            report("p6", "S2", "b", PhotoVerified, Some("h1"), 60),
        ];
        let t = tally_reports(&reports);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].station, "S1");
        assert_eq!(t[0].reported, vec![("a".into(), 3), ("b".into(), 1)]);
        assert_eq!(t[0].verified, vec![("a".into(), 2)]);
        assert_eq!(t[1].station, "S2");
        assert_eq!(t[1].reported, vec![("b".into(), 2)]);
        assert_eq!(t[1].verified, vec![("b".into(), 1)]);
    }
}
