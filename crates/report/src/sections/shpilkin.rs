//! Shpilkin's estimate: votes by turnout, the clean peak, the votes above it.

use crate::fmt::{fixed, int, pct};
use crate::page::{Section, Table};
use crate::svg::{Layer, Plot, palette};
use talaka_forensics::shpilkin::Shpilkin;

pub(crate) fn section(s: &Shpilkin, leader: &str) -> Section {
    let mid = |b: &talaka_forensics::shpilkin::ShpilkinBin| b.turnout + 0.5;
    let leader_pts: Vec<(f64, f64)> = s.bins.iter().map(|b| (mid(b), b.leader as f64)).collect();
    let others_pts: Vec<(f64, f64)> = s.bins.iter().map(|b| (mid(b), b.others as f64)).collect();
    let expected: Vec<(f64, f64)> = s
        .bins
        .iter()
        .filter(|b| b.turnout >= s.peak_turnout)
        .map(|b| (mid(b), b.expected_leader))
        .collect();
    let above: Vec<(f64, f64)> = s
        .bins
        .iter()
        .filter(|b| b.turnout >= s.peak_turnout)
        .map(|b| (mid(b), b.leader as f64))
        .collect();
    let fig = Plot::new(
        "fig-shpilkin",
        "Votes by turnout: Shpilkin's estimate",
        format!(
            "Votes for {leader} and for everyone else (ballots cast minus the votes for {leader}) in \
             each 1 % turnout bin, with the votes {leader} would get above the clean peak at \
             the peak's ratio, and the difference shaded."
        ),
    )
    .x("turnout, %", 0.0, 101.0)
    .y_auto("votes per 1 % turnout bin")
    .layer(Layer::Area {
        label: "anomalous votes".to_owned(),
        color: palette(1),
        upper: above,
        lower: expected.clone(),
    })
    .layer(Layer::line("the leader", palette(1), false, leader_pts))
    .layer(Layer::line(
        "all other ballots",
        palette(0),
        false,
        others_pts,
    ))
    .layer(Layer::line(
        "the leader, expected at the clean share",
        palette(1),
        true,
        expected,
    ))
    .layer(Layer::marker(
        format!("clean peak {} %", fixed(s.peak_turnout, 0)),
        palette(2),
        s.peak_turnout + 0.5,
    ))
    .layer(Layer::marker(
        format!("official turnout {}", pct(s.official_turnout, 1)),
        "#000000",
        s.official_turnout,
    ))
    .render();
    let table = Table::pairs(
        "Shpilkin's estimate",
        vec![
            (
                "Clean peak: 1 % turnout bin with the most ballots, at or below the official turnout",
                format!(
                    "{}–{} %",
                    fixed(s.peak_turnout, 0),
                    fixed(s.peak_turnout + 1.0, 0)
                ),
            ),
            ("Official turnout", pct(s.official_turnout, 3)),
            ("Leader's share at the clean peak", pct(s.clean_share, 2)),
            ("Leader's official share", pct(s.leader_share, 2)),
            ("Leader's votes", int(s.leader_votes as f64)),
            ("Anomalous leader votes", int(s.anomalous_votes)),
            (
                "… as a share of the leader's votes",
                pct(s.anomalous_percent_of_leader, 1),
            ),
            (
                "Leader's share without the anomalous votes",
                pct(s.corrected_share, 2),
            ),
        ],
    );
    let r = s.reading();
    Section::new("shpilkin", "Shpilkin's estimate of anomalous votes")
        .para(
            "Sergey Shpilkin's method: group stations into 1 % turnout bins. In a clean \
             election the leader's and the others' votes rise and fall together over turnout. \
             The clean peak is the bin with the most ballots at or below the official \
             turnout; above it, the other options' votes are taken as genuine and the leader \
             is expected to get them in the same ratio as at the peak. Leader votes beyond \
             that are counted as anomalous.",
        )
        .figure(
            fig,
            format!(
                "Votes per 1 % turnout bin: {leader} (vermillion), all other ballots (blue), \
                 and what {leader} would get above the clean peak at the peak's ratio \
                 (dashed). The shaded area is the estimate of anomalous votes."
            ),
        )
        .table(table)
        .reading(r.finding, r.caveat)
}
