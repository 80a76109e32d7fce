//! Turnout and share histograms, and the turnout × leader-share fingerprint.

use crate::fmt::{int, pct};
use crate::page::{Section, Table};
use crate::svg::{Axis, HeatMap, Layer, Plot, Style, palette};
use talaka_forensics::distributions::{Distributions, Histogram};

/// Each bin as a percentage of the histogram's total.
pub(crate) fn percent(values: &[u64], total: u64) -> Vec<f64> {
    if total == 0 {
        return vec![0.0; values.len()];
    }
    values
        .iter()
        .map(|&v| 100.0 * v as f64 / total as f64)
        .collect()
}

/// A histogram's stations and voters as two outlines in percent of their totals.
fn stations_and_voters(
    id: &str,
    title: &str,
    desc: &str,
    x_label: &str,
    voters_label: &str,
    h: &Histogram,
    markers: &[(String, &'static str, f64)],
) -> String {
    let n = h.bins() as f64 * h.bin_width;
    let mut p = Plot::new(id, title, desc)
        .x(x_label, 0.0, n)
        .y_auto("share of the total per 1 % bin, %")
        .layer(Layer::histogram(
            "stations",
            palette(0),
            Style::Bars,
            0.0,
            n,
            percent(&h.by_stations, h.stations),
        ))
        .layer(Layer::histogram(
            voters_label,
            palette(1),
            Style::Step,
            0.0,
            n,
            percent(&h.by_voters, h.voters),
        ));
    for (label, color, x) in markers {
        p = p.layer(Layer::marker(label.clone(), color, *x));
    }
    p.render()
}

pub(crate) fn section(d: &Distributions, leader: &str, turnout: f64, leader_share: f64) -> Section {
    let official = vec![(
        format!("official turnout {}", pct(turnout, 1)),
        "#000000",
        turnout,
    )];
    let turnout_svg = stations_and_voters(
        "fig-turnout",
        "Turnout histogram",
        "Share of polling stations and of registered voters in each 1 % turnout bin.",
        "turnout (ballots issued / registered voters), %",
        "registered voters",
        &d.turnout,
        &official,
    );
    let share_svg = stations_and_voters(
        "fig-leader-share",
        &format!("Share histogram: {leader}"),
        &format!(
            "Share of polling stations and of ballots cast in each 1 % bin of the share for {leader}."
        ),
        "leader's share of ballots cast, %",
        "ballots cast",
        &d.leader_share,
        &[(
            format!("overall {}", pct(leader_share, 1)),
            "#000000",
            leader_share,
        )],
    );

    // Every option's share, weighted by ballots cast: one small plot each.
    let options_svgs: Vec<String> = d
        .option_shares
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let h = &o.histogram;
            Plot::new(
                &format!("fig-option-{i}"),
                format!("{}: share histogram", o.option),
                format!(
                    "Share of all ballots cast that were cast at stations in each 1 % bin of \
                     the share for {}.",
                    o.option
                ),
            )
            .heading(o.option.clone())
            .size(440.0, 230.0)
            .x(
                "share of ballots cast, %",
                0.0,
                h.bins() as f64 * h.bin_width,
            )
            .y_auto("% of ballots")
            .layer(Layer::histogram(
                "",
                if o.option == leader {
                    palette(1)
                } else {
                    palette(0)
                },
                Style::Bars,
                0.0,
                h.bins() as f64 * h.bin_width,
                percent(&h.by_voters, h.voters),
            ))
            .render()
        })
        .collect();

    // The fingerprint: x = turnout, y = leader share; the forensics grid is row-major by
    // turnout, the heat map row-major by share.
    let fp = &d.fingerprint;
    let (nt, ns) = (fp.turnout_bins, fp.share_bins);
    let mut cells = vec![0.0; nt * ns];
    for t in 0..nt {
        for s in 0..ns {
            cells[s * nt + t] = fp.by_stations[t * ns + s] as f64;
        }
    }
    let fp_svg = HeatMap::new(
        "fig-fingerprint",
        "Election fingerprint: turnout against leader share",
        format!(
            "Two-dimensional histogram of polling stations by turnout (horizontal) and \
             the share for {leader} (vertical), 1 % × 1 % cells, colour on a logarithmic scale."
        ),
        Axis::new("turnout, %", 0.0, 100.0),
        Axis::new("leader's share, %", 0.0, 100.0),
        nt,
        ns,
        cells,
        "stations",
    )
    .marker(
        format!("official turnout {}", pct(turnout, 1)),
        "#D55E00",
        turnout,
    )
    .render();

    let high_turnout: u64 = d.turnout.by_voters[d.turnout.bins().min(90)..].iter().sum();
    let table = Table::pairs(
        "Distribution figures",
        vec![
            (
                "Stations in the turnout histogram (V > 0)",
                int(d.turnout.stations as f64),
            ),
            ("Registered voters", int(d.turnout.voters as f64)),
            (
                "Stations reporting turnout of 100 % or more",
                int(d.turnout.clipped as f64),
            ),
            (
                "Registered voters at stations with turnout ≥ 90 %",
                format!(
                    "{} ({})",
                    int(high_turnout as f64),
                    pct(
                        if d.turnout.voters > 0 {
                            100.0 * high_turnout as f64 / d.turnout.voters as f64
                        } else {
                            f64::NAN
                        },
                        1
                    )
                ),
            ),
            (
                "Stations in the fingerprint (V > 0, R > 0)",
                int(fp.stations as f64),
            ),
        ],
    );
    let r = d.reading();
    Section::new(
        "distributions",
        "Distributions and the election fingerprint",
    )
    .para(
        "How polling stations spread over turnout and over the leader's share. Both are \
             shown counted by stations (bars) and weighted by voters (outline): the weighted \
             curve says how many voters lived with each result.",
    )
    .figure(
        turnout_svg,
        format!(
            "Turnout histogram, 1 % bins: bars = share of stations, outline = share of \
                 registered voters. The dashed line is the official turnout ({}).",
            pct(turnout, 3)
        ),
    )
    .figure(
        share_svg,
        format!(
            "Share for {leader}, 1 % bins: bars = share of stations, outline = \
                 share of ballots cast. The dashed line is the overall share ({}).",
            pct(leader_share, 3)
        ),
    )
    .multiples(
        options_svgs,
        "Every option's share, 1 % bins, weighted by ballots cast. In a clean election \
             each option's curve is a single bump; a long tail to the right of the leader's \
             curve while the others pile up near zero is the pattern of added votes.",
    )
    .figure(
        fp_svg,
        format!(
            "The fingerprint (Klimek et al. 2012): stations per 1 % × 1 % cell of turnout \
                 and the share for {leader}, logarithmic colour scale from dark (one station) to \
                 yellow (most). A clean election is one compact blob; a \"comet\" tail toward \
                 100 % turnout and 100 % share, and dense spots at round numbers, are the marks \
                 of ballot stuffing and rewritten protocols."
        ),
    )
    .table(table)
    .reading(r.finding, r.caveat)
}
