//! The integer-percentage test: the observed count against its null distribution, and the
//! fine histograms where whole percentages stand out as spikes.

use crate::fmt::{fixed, int, log10_pval, pval};
use crate::page::{Section, Table};
use crate::svg::{Layer, Plot, Style, nice_max, palette};
use talaka_forensics::distributions::{Distributions, Histogram};
use talaka_forensics::integer::IntegerTest;

/// The null distribution as a normal curve with the exact mean and standard deviation (with
/// tens of thousands of stations the Poisson-binomial null is normal to the eye), with the
/// observed count and the 99.9th percentile marked.
fn null_figure(t: &IntegerTest) -> String {
    let (mu, sd) = (t.null_mean, t.null_sd.max(1e-9));
    let obs = t.observed as f64;
    let lo = (mu - 4.5 * sd).min(obs - 2.0 * sd).max(0.0);
    let hi = (mu + 4.5 * sd).max(obs + 2.0 * sd);
    let steps = 240;
    let curve: Vec<(f64, f64)> = (0..=steps)
        .map(|i| {
            let x = lo + (hi - lo) * f64::from(i) / f64::from(steps);
            let z = (x - mu) / sd;
            (
                x,
                (-0.5 * z * z).exp() / (sd * (2.0 * std::f64::consts::PI).sqrt()),
            )
        })
        .collect();
    let mut p = Plot::new(
        "fig-integer-null",
        "Integer-percentage stations: observed count against chance",
        format!(
            "Probability of each count of integer-percentage stations under the null model \
             (mean {}, standard deviation {}), with the observed count {} and the null's \
             99.9th percentile {} marked.",
            fixed(mu, 1),
            fixed(t.null_sd, 1),
            t.observed,
            t.null_p999
        ),
    )
    .size(900.0, 320.0)
    .x(
        "number of stations with a whole-percentage turnout or leader share",
        lo,
        hi,
    )
    .y_auto("probability")
    .layer(Layer::line(
        "chance alone (null model)",
        palette(0),
        false,
        curve,
    ))
    .layer(Layer::marker(
        format!("99.9th percentile of chance: {}", int(t.null_p999 as f64)),
        "#000000",
        t.null_p999 as f64,
    ))
    .layer(Layer::marker(
        format!("observed: {}", int(obs)),
        palette(1),
        obs,
    ));
    if let Some(mc) = &t.monte_carlo {
        p = p.layer(Layer::marker(
            format!("Monte Carlo mean: {}", fixed(mc.mean, 1)),
            palette(2),
            mc.mean,
        ));
    }
    p.render()
}

/// The lower end of an axis that leaves out the nearly empty left tail: the 10 % step
/// below the bin where 0.5 % of the stations have been passed.
fn left_edge(h: &Histogram) -> f64 {
    let mut acc = 0u64;
    for (i, &c) in h.by_stations.iter().enumerate() {
        acc += c;
        if acc as f64 >= 0.005 * h.stations as f64 {
            return (h.lower_edge(i) / 10.0).floor() * 10.0;
        }
    }
    0.0
}

fn fine_figure(id: &str, title: &str, x_label: &str, h: &Histogram) -> String {
    let top = h.bins() as f64 * h.bin_width;
    let from = left_edge(h).min(top - 10.0).max(0.0);
    let first = (from / h.bin_width).round() as usize;
    let values: Vec<f64> = h.by_stations[first.min(h.bins())..]
        .iter()
        .map(|&c| c as f64)
        .collect();
    // The last bin also holds every station at 100 % and above; when it towers over the rest it
    // would flatten the histogram, so the axis is scaled to the other bins and it is labelled.
    let rest = values[..values.len().saturating_sub(1)]
        .iter()
        .copied()
        .fold(0.0, f64::max);
    let last = values.last().copied().unwrap_or(0.0);
    let y_max = if last > 1.5 * rest && rest > 0.0 {
        Some(nice_max(rest))
    } else {
        None
    };
    let mut p = Plot::new(
        id,
        title,
        format!(
            "Number of stations in each {} % bin of {}; spikes at whole percentages are \
             what the integer test counts.",
            fixed(h.bin_width, 1),
            x_label
        ),
    )
    .size(900.0, 300.0)
    .x(x_label, from, top)
    .y_auto("stations per 0.1 % bin")
    .layer(Layer::histogram(
        "",
        palette(0),
        Style::Step,
        from,
        top,
        values,
    ));
    if let Some(m) = y_max {
        p = p.y("stations per 0.1 % bin", 0.0, m).layer(Layer::marker(
            format!("{} stations at 100 % or more (off the scale)", int(last)),
            palette(1),
            top - h.bin_width / 2.0,
        ));
    }
    p.render()
}

pub(crate) fn section(t: &IntegerTest, d: &Distributions, leader: &str) -> Section {
    let mut rows = vec![
        (
            "Stations tested (R > 0, V ≥ 100, turnout and share ≤ 99 %)",
            int(t.filtered as f64),
        ),
        (
            "Observed: whole-percentage turnout or share",
            int(t.observed as f64),
        ),
        (
            "… of which whole-percentage leader share",
            int(t.observed_share as f64),
        ),
        (
            "… of which whole-percentage turnout",
            int(t.observed_turnout as f64),
        ),
        ("Null mean (exact)", fixed(t.null_mean, 1)),
        ("Null standard deviation (exact)", fixed(t.null_sd, 1)),
        ("Null 99.9th percentile (exact)", int(t.null_p999 as f64)),
        ("Excess (observed − null mean)", fixed(t.excess, 1)),
        ("Excess in standard deviations (z)", fixed(t.z, 1)),
        (
            "p-value, exact: P(null ≥ observed)",
            log10_pval(t.log10_p_value),
        ),
    ];
    if let Some(mc) = &t.monte_carlo {
        rows.extend([
            ("Monte Carlo replicates", int(f64::from(mc.replicates))),
            ("Monte Carlo seed", mc.seed.to_string()),
            ("Monte Carlo null mean", fixed(mc.mean, 1)),
            ("Monte Carlo null standard deviation", fixed(mc.sd, 1)),
            ("Monte Carlo 99.9th percentile", int(mc.p999 as f64)),
            ("Monte Carlo excess", fixed(mc.excess, 1)),
            (
                "Monte Carlo replicates at or above the observed count",
                int((mc.p_value * (1.0 + f64::from(mc.replicates)) - 1.0).max(0.0)),
            ),
            (
                "Monte Carlo p-value (1 + those) / (1 + replicates)",
                pval(mc.p_value),
            ),
        ]);
    } else {
        rows.push(("Monte Carlo", "not run".to_owned()));
    }
    let r = t.reading();
    Section::new("integer", "Integer percentages")
        .para(
            "When a protocol is written to order rather than counted, turnout and the leader's \
             share tend to come out as whole percentages (70 %, 75 %, 80 %). The test counts \
             the stations whose turnout or leader share is within 0.05 of a whole percentage \
             and compares that count with what chance gives if each station's counts were \
             drawn from binomial distributions around its own reported turnout and share \
             (Kobak, Shpilkin & Pshenichnikov 2016). The null distribution is computed \
             exactly and checked by a seeded Monte Carlo simulation.",
        )
        .figure(
            null_figure(t),
            "The count of integer-percentage stations expected by chance (blue curve: a \
             normal curve with the exact null mean and standard deviation), the 99.9th \
             percentile of chance (black) and the observed count (vermillion). An observed \
             count far to the right of the curve is an excess no rounding accident explains.",
        )
        .figure(
            fine_figure(
                "fig-turnout-fine",
                "Turnout in 0.1 % bins",
                "turnout, %",
                &d.turnout_fine,
            ),
            "Stations per 0.1 % turnout bin. Natural results give a ragged but smooth \
             histogram; spikes at whole (especially round) percentages are protocols written \
             to a target.",
        )
        .figure(
            fine_figure(
                "fig-share-fine",
                &format!("Share for {leader} in 0.1 % bins"),
                "leader's share, %",
                &d.leader_share_fine,
            ),
            format!("Stations per 0.1 % bin of the share for {leader}; look for spikes at whole percentages."),
        )
        .table(Table::pairs("Integer-percentage test", rows))
        .reading(r.finding, r.caveat)
}
