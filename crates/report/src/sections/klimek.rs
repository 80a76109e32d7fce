//! The Klimek et al. (2012) fraud model: the fitted parameters, and the fitted fair bells over
//! the observed turnout and share histograms.

use crate::fmt::{fixed, int, pct};
use crate::page::{Section, Table};
use crate::sections::distributions::percent;
use crate::svg::{Layer, Plot, Style, palette};
use talaka_forensics::distributions::{Distributions, Histogram};
use talaka_forensics::klimek::KlimekFit;

/// The observed histogram (bars, % of stations per bin) with the model's fair normal curve
/// N(mean, sd) (fractions) as % of stations per bin.
fn bell_figure(
    id: &str,
    title: &str,
    x_label: &str,
    h: &Histogram,
    mean: f64,
    sd: f64,
    curve_label: &str,
) -> String {
    let top = h.bins() as f64 * h.bin_width;
    let (m, s) = (100.0 * mean, (100.0 * sd).max(1e-6));
    let curve: Vec<(f64, f64)> = (0..=400)
        .map(|i| {
            let x = top * f64::from(i) / 400.0;
            let z = (x - m) / s;
            (
                x,
                100.0 * h.bin_width * (-0.5 * z * z).exp()
                    / (s * (2.0 * std::f64::consts::PI).sqrt()),
            )
        })
        .collect();
    Plot::new(
        id,
        title,
        format!(
            "Share of stations per {} % bin of {x_label}, with the model's fair bell curve.",
            fixed(h.bin_width, 0)
        ),
    )
    .size(440.0, 260.0)
    .x(x_label, 0.0, top)
    .y_auto("% of stations")
    .layer(Layer::histogram(
        "observed",
        palette(0),
        Style::Bars,
        0.0,
        top,
        percent(&h.by_stations, h.stations),
    ))
    .layer(Layer::line(curve_label, palette(1), false, curve))
    .render()
}

pub(crate) fn section(k: &KlimekFit, d: &Distributions, leader: &str) -> Section {
    let p = &k.params;
    let figs = vec![
        bell_figure(
            "fig-klimek-turnout",
            "Turnout and the model's fair turnout",
            "turnout, %",
            &d.turnout,
            p.tau,
            p.sigma_tau,
            "fair: N(τ, σ_τ)",
        ),
        bell_figure(
            "fig-klimek-share",
            &format!("Share for {leader} and the model's fair share"),
            "leader's share, %",
            &d.leader_share,
            p.nu,
            p.sigma_nu,
            "fair: N(ν, σ_ν)",
        ),
    ];
    let table = Table {
        caption: "Fitted parameters".to_owned(),
        head: ["Parameter", "value", "meaning"]
            .map(str::to_owned)
            .to_vec(),
        rows: vec![
            vec![
                "τ".into(),
                pct(100.0 * p.tau, 1),
                "fair turnout (mean)".into(),
            ],
            vec![
                "σ_τ".into(),
                pct(100.0 * p.sigma_tau, 1),
                "spread of fair turnout".into(),
            ],
            vec![
                "ν".into(),
                pct(100.0 * p.nu, 1),
                "leader's fair share (mean)".into(),
            ],
            vec![
                "σ_ν".into(),
                pct(100.0 * p.sigma_nu, 1),
                "spread of the fair share".into(),
            ],
            vec![
                "f_i".into(),
                fixed(p.f_i, 3),
                "fraction of stations with incremental fraud".into(),
            ],
            vec![
                "f_e".into(),
                fixed(p.f_e, 4),
                "fraction of stations with extreme fraud".into(),
            ],
            vec![
                "θ".into(),
                fixed(p.theta, 3),
                "spread of incremental-fraud intensity".into(),
            ],
            vec![
                "α".into(),
                fixed(p.alpha, 2),
                "stealing vs stuffing (α < 1: more stealing)".into(),
            ],
            vec![
                "Δ (fit)".into(),
                fixed(k.fit_quality, 4),
                "distance observed ↔ fitted model, 0 = identical, 2 = disjoint".into(),
            ],
            vec![
                "Δ (no fraud)".into(),
                fixed(k.no_fraud_quality, 4),
                "the same distance for the best fraud-free model".into(),
            ],
            vec![
                "improvement".into(),
                pct(100.0 * k.improvement, 1),
                "share of the fraud-free model's misfit that fraud explains".into(),
            ],
            vec![
                "fraud votes".into(),
                pct(100.0 * k.fraud_vote_fraction, 1),
                "leader's votes the fitted model adds by fraud, of its simulated total".into(),
            ],
            vec![
                "stations".into(),
                int(k.stations as f64),
                "stations in the fit (V > 0, R > 0)".into(),
            ],
            vec![
                "grid points".into(),
                int(k.grid_points as f64),
                "parameter sets evaluated".into(),
            ],
            vec![
                "seed".into(),
                k.seed.to_string(),
                "seed of the simulations".into(),
            ],
        ],
    };
    let r = k.reading();
    Section::new("klimek", "Klimek et al. fraud model")
        .para(format!(
            "Klimek, Yegorov, Hanel & Thurner (PNAS 2012) model a fair election as stations \
             whose turnout and leader share scatter independently around a typical value, \
             then let a fraction f_i of stations receive incremental fraud (some ballots \
             stuffed for the leader, some opponents' votes counted for the leader) and a \
             fraction f_e extreme fraud (nearly everything for the leader). The fraud \
             parameters are fitted by simulating the election many times and comparing the \
             simulated turnout × leader-share histogram ({b} × {b} cells) with the observed \
             one.",
            b = k.bins
        ))
        .multiples(
            figs,
            "Observed turnout and leader-share histograms (bars, share of stations per 1 % \
             bin) and the fair bell curves the model estimates from the main peaks (scaled to \
             all stations). Stations to the right of the bells are what the fraud parameters \
             try to explain.",
        )
        .table(table)
        .reading(r.finding, r.caveat)
}
