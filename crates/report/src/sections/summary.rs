//! The summary at the top: the election's key numbers and every test's finding in plain words.

use crate::fmt::fixed;
use crate::fmt::{int, pct};
use crate::page::Section;
use crate::page::{Table, render_table};
use crate::svg::esc;
use std::fmt::Write as _;
use talaka_forensics::Reading;
use talaka_forensics::analysis::OptionTotal;

pub(crate) struct Kpis<'a> {
    pub election: &'a str,
    pub leader: &'a str,
    pub stations: u64,
    pub registered: u64,
    pub turnout: f64,
    pub leader_share: f64,
}

pub(crate) fn section(k: &Kpis<'_>, options: &[OptionTotal], readings: &[Reading]) -> Section {
    let mut kpis = String::from("<div class=\"kpis\">");
    for (value, label) in [
        (int(k.stations as f64), "polling stations".to_owned()),
        (int(k.registered as f64), "registered voters".to_owned()),
        (
            pct(k.turnout, 2),
            "turnout (ballots issued / registered)".to_owned(),
        ),
        (
            pct(k.leader_share, 2),
            format!("{} (share of ballots cast)", k.leader),
        ),
    ] {
        let _ = write!(
            kpis,
            "<div class=\"kpi\"><b>{}</b><span>{}</span></div>",
            esc(&value),
            esc(&label)
        );
    }
    kpis.push_str("</div>");

    let mut findings = String::from("<ol class=\"findings\">");
    for r in readings {
        let _ = write!(
            findings,
            "<li><strong>{}.</strong> {} <span class=\"caveat\">{}</span></li>",
            esc(r.test),
            esc(&r.finding),
            esc(&r.caveat)
        );
    }
    findings.push_str("</ol>");

    let mut totals = String::new();
    render_table(
        &mut totals,
        &Table {
            caption: "Official totals".to_owned(),
            head: ["Option", "votes", "share of ballots cast, %"]
                .map(str::to_owned)
                .to_vec(),
            rows: options
                .iter()
                .map(|o| vec![o.name.clone(), int(o.votes as f64), fixed(o.share, 2)])
                .collect(),
        },
    );

    Section::new("summary", "Summary")
        .html(kpis)
        .html(
            "<p class=\"notice\"><strong>How to read this report.</strong> Each test below \
             looks for a pattern that falsification is known to leave in polling-station \
             results. A statistical anomaly is not proof of fraud: it says where to look. \
             Proof comes from protocols, ballots, observers' records and witnesses.</p>",
        )
        .para(format!(
            "Election: {}. Tests examine the votes for {}.",
            k.election, k.leader
        ))
        .html("<h3>Key findings</h3>")
        .html(findings)
        .html(totals)
}
