//! Open data: everything about an election that identifies no person, as CSV and JSON.
//!
//! Left out on purpose: participants' pseudonyms, receipts and photo hashes (participants appear
//! only as counts per station and option) and observers' pseudonyms (an observer's copy is
//! numbered within its station). Every CSV cell passes [`talaka_core::csv::cell`], so nothing a
//! source or participant typed can run as a spreadsheet formula.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use talaka_core::csv::cell;
use talaka_elections::estimate::{RatioEstimate, Totals};
use talaka_elections::{
    Area, CrowdTally, ElectionInfo, ExitPollTally, ProtocolFigures, ProtocolSource, Station,
    Summary,
};
use talaka_store::elections::{PROTOCOL_LINES, protocol_lines};

use super::compute::{self, ElectionView, worst};
use super::kind_slug;
use crate::AppState;
use crate::error::AppError;

/// The files offered, in the order the glance page lists them.
pub const FILES: [&str; 5] = [
    "stations.csv",
    "protocols.csv",
    "verdicts.csv",
    "crowd.csv",
    "dataset.json",
];

fn row(out: &mut String, cells: &[&str]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&cell(c));
    }
    out.push_str("\r\n");
}

fn num(v: Option<u32>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

/// Station code → its observer copies numbered 1, 2, … in stored order; the official protocol
/// is copy 0.
fn numbered(view: &ElectionView) -> Vec<(&str, usize, &ProtocolFigures)> {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    view.dataset
        .protocols
        .iter()
        .map(|p| match p.source {
            ProtocolSource::Official => (p.station.as_str(), 0, &p.figures),
            ProtocolSource::ObserverCopy { .. } => {
                let n = seen.entry(p.station.as_str()).or_default();
                *n += 1;
                (p.station.as_str(), *n, &p.figures)
            }
        })
        .collect()
}

pub fn stations_csv(view: &ElectionView) -> String {
    let mut out = String::new();
    row(
        &mut out,
        &[
            "station",
            "name",
            "area",
            "area_name",
            "top_area",
            "abroad",
            "registered",
            "latitude",
            "longitude",
            "official_protocol",
            "observer_copies",
            "exit_poll",
            "crowd",
            "worst_verdict",
            "verdicts",
        ],
    );
    for s in &view.dataset.stations {
        let v = view.station_verdicts(&s.code);
        let area = s.area.as_deref().unwrap_or("");
        let kinds: Vec<&str> = v
            .map(|v| {
                let mut k: Vec<&str> = v.verdicts.iter().map(|x| kind_slug(x.kind)).collect();
                k.dedup();
                k
            })
            .unwrap_or_default();
        row(
            &mut out,
            &[
                &s.code,
                &s.name,
                area,
                if area.is_empty() {
                    ""
                } else {
                    view.area_name(area)
                },
                if area.is_empty() {
                    ""
                } else {
                    view.top_area(area)
                },
                if s.abroad { "yes" } else { "no" },
                &num(s.registered),
                &s.coordinates
                    .map_or_else(String::new, |c| format!("{:.6}", c.lat)),
                &s.coordinates
                    .map_or_else(String::new, |c| format!("{:.6}", c.lon)),
                if v.is_some_and(|v| v.has_official) {
                    "yes"
                } else {
                    "no"
                },
                &v.map_or(0, |v| v.observer_copies).to_string(),
                if v.is_some_and(|v| v.has_exit_poll) {
                    "yes"
                } else {
                    "no"
                },
                if v.is_some_and(|v| v.has_crowd) {
                    "yes"
                } else {
                    "no"
                },
                v.and_then(worst).map_or("", kind_slug),
                &kinds.join(";"),
            ],
        );
    }
    out
}

pub fn protocols_csv(view: &ElectionView) -> String {
    let info = &view.dataset.info;
    let mut out = String::new();
    let mut header: Vec<String> = vec!["station".into(), "source".into(), "copy".into()];
    header.extend(PROTOCOL_LINES.iter().map(|l| (*l).to_owned()));
    header.extend(info.options.iter().map(|o| format!("votes:{}", o.code)));
    row(
        &mut out,
        &header.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    for (station, copy, f) in numbered(view) {
        let mut cells: Vec<String> = vec![
            station.to_owned(),
            if copy == 0 {
                "official"
            } else {
                "observer_copy"
            }
            .to_owned(),
            if copy == 0 {
                String::new()
            } else {
                copy.to_string()
            },
        ];
        cells.extend(protocol_lines(f).into_iter().map(num));
        cells.extend(info.options.iter().map(|o| num(f.votes_for(&o.code))));
        row(
            &mut out,
            &cells.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }
    out
}

pub fn verdicts_csv(view: &ElectionView) -> String {
    let mut out = String::new();
    row(&mut out, &["station", "verdict", "option", "evidence"]);
    for s in &view.verdicts {
        for v in &s.verdicts {
            row(
                &mut out,
                &[
                    &s.station,
                    kind_slug(v.kind),
                    v.option.as_deref().unwrap_or(""),
                    &v.evidence,
                ],
            );
        }
    }
    out
}

/// Per station and option: the larger of the imported tally and the participants' counted
/// reports (the figures the verdicts use). Counts only.
fn merged_crowd(view: &ElectionView) -> Vec<CrowdTally> {
    let mut order: Vec<&str> = Vec::new();
    let mut by: std::collections::HashMap<&str, Vec<&CrowdTally>> =
        std::collections::HashMap::new();
    for c in &view.dataset.crowd {
        let e = by.entry(c.station.as_str()).or_default();
        if e.is_empty() {
            order.push(c.station.as_str());
        }
        e.push(c);
    }
    order
        .into_iter()
        .filter_map(|s| {
            talaka_elections::crowd::merge_tallies(by.remove(s).unwrap_or_default())
                .map(std::borrow::Cow::into_owned)
        })
        .collect()
}

pub fn crowd_csv(view: &ElectionView) -> String {
    let mut out = String::new();
    row(&mut out, &["station", "option", "reported", "verified"]);
    for t in merged_crowd(view) {
        for o in &view.dataset.info.options {
            let r = t.reported.iter().find(|(c, _)| *c == o.code).map(|x| x.1);
            let v = t.verified.iter().find(|(c, _)| *c == o.code).map(|x| x.1);
            if r.is_none() && v.is_none() {
                continue;
            }
            row(&mut out, &[&t.station, &o.code, &num(r), &num(v)]);
        }
    }
    out
}

#[derive(Serialize)]
struct ProtocolOut<'a> {
    station: &'a str,
    /// `official` or `observer_copy`.
    source: &'static str,
    /// The observer copy's number within its station; absent for the official protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    copy: Option<usize>,
    figures: &'a ProtocolFigures,
}

#[derive(Serialize)]
struct VerdictOut<'a> {
    station: &'a str,
    kind: &'static str,
    option: Option<&'a str>,
    evidence: &'a str,
}

#[derive(Serialize)]
struct Estimates<'a> {
    exit_poll: &'a [RatioEstimate],
    pvt: &'a [RatioEstimate],
}

#[derive(Serialize)]
struct DatasetOut<'a> {
    about: &'static str,
    election: &'a ElectionInfo,
    areas: &'a [Area],
    stations: &'a [Station],
    protocols: Vec<ProtocolOut<'a>>,
    crowd: Vec<CrowdTally>,
    exit_polls: &'a [ExitPollTally],
    verdicts: Vec<VerdictOut<'a>>,
    summary: &'a Summary,
    totals: &'a Totals,
    estimates: Estimates<'a>,
}

pub fn dataset_json(view: &ElectionView) -> Result<String, AppError> {
    let out = DatasetOut {
        about: "Open data exported by Talaka. Identifies no person: participants appear only as counts per station and option, observers' copies are numbered within their station.",
        election: &view.dataset.info,
        areas: &view.dataset.areas,
        stations: &view.dataset.stations,
        protocols: numbered(view)
            .into_iter()
            .map(|(station, copy, figures)| ProtocolOut {
                station,
                source: if copy == 0 {
                    "official"
                } else {
                    "observer_copy"
                },
                copy: (copy > 0).then_some(copy),
                figures,
            })
            .collect(),
        crowd: merged_crowd(view),
        exit_polls: &view.dataset.exit_polls,
        verdicts: view
            .verdicts
            .iter()
            .flat_map(|s| {
                s.verdicts.iter().map(|v| VerdictOut {
                    station: &s.station,
                    kind: kind_slug(v.kind),
                    option: v.option.as_deref(),
                    evidence: &v.evidence,
                })
            })
            .collect(),
        summary: &view.summary,
        totals: &view.totals,
        estimates: Estimates {
            exit_poll: &view.exit_poll,
            pvt: &view.pvt,
        },
    };
    serde_json::to_string_pretty(&out).map_err(|e| AppError::Internal(format!("json: {e}")))
}

/// A file name safe in a `Content-Disposition` header.
fn file_name(code: &str, file: &str) -> String {
    let mut name = String::new();
    for c in code.chars().take(80) {
        let _ = write!(
            name,
            "{}",
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        );
    }
    format!("{name}-{file}")
}

/// `GET /elections/{code}/export/{file}`.
pub async fn file(
    State(state): State<AppState>,
    Path((code, file)): Path<(String, String)>,
) -> Result<Response, AppError> {
    if !FILES.contains(&file.as_str()) {
        return Err(AppError::NotFound);
    }
    let view = compute::view(&state, &code)
        .await?
        .ok_or(AppError::NotFound)?;
    let (body, content_type) = match file.as_str() {
        "stations.csv" => (stations_csv(&view), "text/csv; charset=utf-8"),
        "protocols.csv" => (protocols_csv(&view), "text/csv; charset=utf-8"),
        "verdicts.csv" => (verdicts_csv(&view), "text/csv; charset=utf-8"),
        "crowd.csv" => (crowd_csv(&view), "text/csv; charset=utf-8"),
        _ => (dataset_json(&view)?, "application/json"),
    };
    let disposition = format!("attachment; filename=\"{}\"", file_name(&code, &file));
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_header_safe() {
        assert_eq!(file_name("by-2020", "x.csv"), "by-2020-x.csv");
        assert_eq!(file_name("a\"b\r\nc/д", "x.csv"), "a_b__c__-x.csv");
    }
}
