//! The Sobyanin–Sukhovolsky regression: votes per registered voter against turnout.

use crate::fmt::{fixed, int};
use crate::page::{Section, Table};
use crate::svg::{Layer, Plot, palette};
use talaka_forensics::shpilkin::Shpilkin;
use talaka_forensics::sobyanin::Sobyanin;

pub(crate) fn section(s: &Sobyanin, bins: Option<&Shpilkin>, leader: &str) -> Section {
    // Bin averages (from Shpilkin's 1 % turnout bins) show the data the lines summarise.
    let mut leader_pts = Vec::new();
    let mut others_pts = Vec::new();
    if let Some(sh) = bins {
        for b in sh
            .bins
            .iter()
            .filter(|b| b.registered > 0 && b.stations >= 10)
        {
            let x = b.turnout + 0.5;
            leader_pts.push((x, 100.0 * b.leader as f64 / b.registered as f64));
            others_pts.push((x, 100.0 * b.others as f64 / b.registered as f64));
        }
    }
    let line = |slope: f64, intercept: f64| -> Vec<(f64, f64)> {
        [0.0, 100.0]
            .iter()
            .map(|&x| (x, 100.0 * intercept + slope * x))
            .collect()
    };
    let mut p = Plot::new(
        "fig-sobyanin",
        "Votes per registered voter against turnout",
        format!(
            "The weighted least-squares lines of the votes for {leader} and of the other options' \
             votes, each per registered voter, against turnout, with the averages of 1 % \
             turnout bins as dots."
        ),
    )
    .x("turnout, %", 0.0, 100.0)
    .y("votes per 100 registered voters", 0.0, 100.0);
    if !leader_pts.is_empty() {
        p = p
            .layer(Layer::points(
                "the leader, bin averages",
                palette(1),
                3.0,
                leader_pts,
            ))
            .layer(Layer::points(
                "all other ballots, bin averages",
                palette(0),
                3.0,
                others_pts,
            ));
    }
    let fig = p
        .layer(Layer::line(
            format!("the leader: slope {}", fixed(s.slope, 2)),
            palette(1),
            false,
            line(s.slope, s.intercept),
        ))
        .layer(Layer::line(
            format!("others: slope {}", fixed(s.others_slope, 2)),
            palette(0),
            true,
            line(s.others_slope, s.others_intercept),
        ))
        .render();
    let table = Table {
        caption: "Weighted least squares (weights: registered voters)".to_owned(),
        head: ["Line", "slope", "intercept", "r²"]
            .map(str::to_owned)
            .to_vec(),
        rows: vec![
            vec![
                format!("{leader}: L/V against G/V"),
                fixed(s.slope, 3),
                fixed(s.intercept, 3),
                fixed(s.r2, 3),
            ],
            vec![
                "Other options: their votes / V against G/V".to_owned(),
                fixed(s.others_slope, 3),
                fixed(s.others_intercept, 3),
                fixed(s.others_r2, 3),
            ],
        ],
    };
    let r = s.reading();
    Section::new("sobyanin", "Sobyanin–Sukhovolsky regression")
        .para(format!(
            "Across {} stations, the leader's votes per registered voter are regressed on \
             turnout (Sobyanin & Sukhovolsky). If the extra voters at high-turnout stations \
             split like everyone else, the leader's slope is about the leader's share; a \
             slope near 1 means the leader gets nearly all of them, above 1 that the others \
             lose votes as turnout rises.",
            int(s.stations as f64)
        ))
        .figure(
            fig,
            format!(
                "Votes per 100 registered voters against turnout: the fitted lines (solid: \
                 {leader}; dashed: the other options' valid votes), and as dots the averages \
                 of 1 % turnout bins with at least 10 stations ({leader}, and all other \
                 ballots including invalid ones)."
            ),
        )
        .table(table)
        .reading(r.finding, r.caveat)
}
