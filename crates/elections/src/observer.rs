//! Observer copies of the protocol against the published protocol. Commissions must post a
//! copy of the signed protocol at the station; observers photograph and transcribe it. A
//! published figure that differs from the posted copy was changed after the count (or the copy
//! was transcribed wrongly, which the photo settles). Several copies of one station that
//! disagree with each other are shown as conflicts.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{ElectionInfo, ProtocolFigures};
use crate::words::{option_name, thousands};

/// A protocol line present on both sides with different numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineDifference {
    /// Stable key: `registered`, `valid`, …, `votes:<option>`.
    pub line: String,
    /// In words: "valid ballots", "votes for Putin".
    pub label: String,
    pub copy: u32,
    pub published: u32,
}

/// One observer copy that differs from the published protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CopyComparison {
    /// The observer's pseudonym (kept for staff; not in the sentence).
    pub observer: String,
    pub differences: Vec<LineDifference>,
    pub sentence: String,
}

/// A line on which a station's observer copies disagree with each other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineConflict {
    pub line: String,
    pub label: String,
    /// Each value with the pseudonyms of the copies that give it, values ascending.
    pub values: Vec<(u32, Vec<String>)>,
}

/// The protocol's lines that are present, as (key, words, value), in protocol order.
pub fn lines(info: &ElectionInfo, f: &ProtocolFigures) -> Vec<(String, String, u32)> {
    let fixed = [
        ("registered", "voters on the list", f.registered),
        ("ballots_received", "ballots received", f.ballots_received),
        ("issued_early", "ballots issued early", f.issued_early),
        (
            "issued_at_station",
            "ballots issued at the station",
            f.issued_at_station,
        ),
        (
            "issued_outside",
            "ballots issued outside the station",
            f.issued_outside,
        ),
        ("cancelled", "ballots cancelled", f.cancelled),
        (
            "in_portable_boxes",
            "ballots in portable boxes",
            f.in_portable_boxes,
        ),
        (
            "in_stationary_boxes",
            "ballots in stationary boxes",
            f.in_stationary_boxes,
        ),
        ("invalid", "invalid ballots", f.invalid),
        ("valid", "valid ballots", f.valid),
        ("lost", "ballots lost", f.lost),
        ("unaccounted", "ballots not accounted for", f.unaccounted),
        ("voters", "voters", f.voters),
    ];
    let mut out: Vec<(String, String, u32)> = fixed
        .iter()
        .filter_map(|(k, l, v)| v.map(|v| ((*k).to_owned(), (*l).to_owned(), v)))
        .collect();
    for (code, v) in &f.votes {
        out.push((
            format!("votes:{code}"),
            format!("votes for {}", option_name(info, code)),
            *v,
        ));
    }
    out
}

/// The lines on which `copy` differs from `published`, or `None` when every shared line agrees.
pub fn compare(
    info: &ElectionInfo,
    station: &str,
    published: &ProtocolFigures,
    observer: &str,
    copy: &ProtocolFigures,
) -> Option<CopyComparison> {
    let published_lines = lines(info, published);
    let differences: Vec<LineDifference> = lines(info, copy)
        .into_iter()
        .filter_map(|(line, label, c)| {
            let (_, _, p) = published_lines.iter().find(|(l, _, _)| *l == line)?;
            (c != *p).then_some(LineDifference {
                line,
                label,
                copy: c,
                published: *p,
            })
        })
        .collect();
    if differences.is_empty() {
        return None;
    }
    let parts: Vec<String> = differences
        .iter()
        .map(|d| {
            format!(
                "{} {} on the copy, {} published",
                d.label,
                thousands(i64::from(d.copy)),
                thousands(i64::from(d.published))
            )
        })
        .collect();
    Some(CopyComparison {
        observer: observer.to_owned(),
        sentence: format!(
            "At station {station} an observer's copy of the protocol posted at the station differs from the published protocol: {}.",
            parts.join("; ")
        ),
        differences,
    })
}

/// The lines on which several copies of one station's protocol disagree.
pub fn conflicts(info: &ElectionInfo, copies: &[(&str, &ProtocolFigures)]) -> Vec<LineConflict> {
    if copies.len() < 2 {
        return Vec::new();
    }
    // line → (label, value → observers), lines in first-seen order.
    let mut order: Vec<String> = Vec::new();
    let mut by_line: BTreeMap<String, (String, BTreeMap<u32, Vec<String>>)> = BTreeMap::new();
    for (observer, f) in copies {
        for (line, label, v) in lines(info, f) {
            if !by_line.contains_key(&line) {
                order.push(line.clone());
            }
            by_line
                .entry(line)
                .or_insert_with(|| (label, BTreeMap::new()))
                .1
                .entry(v)
                .or_default()
                .push((*observer).to_owned());
        }
    }
    order
        .into_iter()
        .filter_map(|line| {
            let (label, values) = by_line.remove(&line)?;
            (values.len() > 1).then(|| LineConflict {
                line,
                label,
                values: values.into_iter().collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BallotOption, OptionKind};

    fn info() -> ElectionInfo {
        ElectionInfo {
            code: "ru".into(),
            name: "RU".into(),
            date: "2024-03-17".into(),
            options: vec![BallotOption {
                code: "putin".into(),
                name: "Putin".into(),
                kind: OptionKind::Candidate,
            }],
        }
    }

    fn figures(valid: u32, putin: u32) -> ProtocolFigures {
        ProtocolFigures {
            valid: Some(valid),
            votes: vec![("putin".into(), putin), ("davankov".into(), 100)],
            ..ProtocolFigures::default()
        }
    }

    #[test]
    fn differing_lines_are_named_with_both_numbers() {
        let c = compare(
            &info(),
            "8015",
            &figures(2196, 774),
            "obs-1",
            &figures(2196, 600),
        )
        .expect("differs");
        assert_eq!(
            c.differences,
            vec![LineDifference {
                line: "votes:putin".into(),
                label: "votes for Putin".into(),
                copy: 600,
                published: 774
            }]
        );
        assert_eq!(
            c.sentence,
            "At station 8015 an observer's copy of the protocol posted at the station differs from the published protocol: votes for Putin 600 on the copy, 774 published."
        );
        assert!(!c.sentence.contains("obs-1"));
    }

    #[test]
    fn identical_or_disjoint_lines_do_not_differ() {
        assert!(compare(&info(), "s", &figures(2196, 774), "o", &figures(2196, 774)).is_none());
        let only_registered = ProtocolFigures {
            registered: Some(3000),
            ..ProtocolFigures::default()
        };
        assert!(compare(&info(), "s", &figures(2196, 774), "o", &only_registered).is_none());
    }

    #[test]
    fn copies_that_disagree_are_conflicts() {
        let a = figures(2196, 600);
        let b = figures(2196, 600);
        let c = figures(2196, 610);
        let found = conflicts(&info(), &[("a", &a), ("b", &b), ("c", &c)]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, "votes:putin");
        assert_eq!(
            found[0].values,
            vec![(600, vec!["a".into(), "b".into()]), (610, vec!["c".into()])]
        );
        assert!(conflicts(&info(), &[("a", &a), ("b", &b)]).is_empty());
    }
}
