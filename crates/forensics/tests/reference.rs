//! The classic tests on the real elections in `../shared/data/russia`: the reference values of
//! the data README for 2011 and 2018, and every other year run for sanity (no figures hard-coded
//! for them). Under `CI=true` a missing data file fails; otherwise the test prints a line and
//! returns.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use talaka_forensics::Election;
use talaka_forensics::digits::digit_tests;
use talaka_forensics::distributions::distributions;
use talaka_forensics::integer::{
    IntegerOptions, IntegerTest, PoissonBinomial, integer_test, monte_carlo, monte_carlo_binomial,
    null_model, summarize_replicates,
};
use talaka_forensics::shpilkin::shpilkin;
use talaka_forensics::sobyanin::sobyanin;

/// Every year in the data folder, with the option the literature examines.
const YEARS: [(u32, &str); 10] = [
    (2004, "Путин"),
    (2007, "ЕДИНАЯ РОССИЯ"),
    (2008, "Медведев"),
    (2011, "ЕДИНАЯ РОССИЯ"),
    (2012, "Путин"),
    (2016, "ЕДИНАЯ РОССИЯ"),
    (2018, "Путин"),
    (2020, "ДА"),
    (2021, "ЕДИНАЯ РОССИЯ"),
    (2024, "Путин"),
];

static CACHE: [OnceLock<Option<Arc<Election>>>; YEARS.len()] =
    [const { OnceLock::new() }; YEARS.len()];

fn path(year: u32) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/russia"
    ))
    .join(format!("{year}.csv.zip"))
}

/// The election of `year`, read once per test binary; `None` (with a printed line) when the
/// file is missing outside CI.
fn election(year: u32) -> Option<Arc<Election>> {
    let i = YEARS
        .iter()
        .position(|&(y, _)| y == year)
        .expect("a known year");
    CACHE[i]
        .get_or_init(|| {
            let p = path(year);
            if !p.exists() {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("CI=true and the data file {} is missing", p.display());
                }
                println!("skipping: {} not found", p.display());
                return None;
            }
            let e = talaka_import::read_cec_file(&p, YEARS[i].1)
                .unwrap_or_else(|err| panic!("reading {}: {err}", p.display()));
            Some(Arc::new(e))
        })
        .clone()
}

fn opts() -> IntegerOptions {
    IntegerOptions {
        replicates: 1000,
        seed: 1,
        threads: 2,
    }
}

/// The Monte Carlo null agrees with the exact one: mean within 4 standard errors, 99.9th
/// percentile within 1.5 null standard deviations (the percentile of 1,000 replicates has a
/// standard error of about 0.3 σ).
fn check_monte_carlo_agrees(t: &IntegerTest) {
    let mc = t.monte_carlo.as_ref().expect("the Monte Carlo ran");
    let se = t.null_sd / f64::from(mc.replicates).sqrt();
    assert!(
        (mc.mean - t.null_mean).abs() < 4.0 * se,
        "MC mean {} vs exact {} (se {se})",
        mc.mean,
        t.null_mean
    );
    assert!(
        (mc.sd - t.null_sd).abs() < 0.15 * t.null_sd,
        "MC sd {} vs exact {}",
        mc.sd,
        t.null_sd
    );
    let dp = mc.p999 as f64 - t.null_p999 as f64;
    assert!(
        dp.abs() <= 1.5 * t.null_sd,
        "MC p999 {} vs exact {}",
        mc.p999,
        t.null_p999
    );
    assert!(t.truncation_error < 1e-12, "{}", t.truncation_error);
}

fn check_headline(e: &Election, stations: usize, registered: u64, turnout: f64, leader: f64) {
    assert_eq!(e.len(), stations);
    assert_eq!(e.total_registered(), registered);
    assert!(
        (100.0 * e.turnout() - turnout).abs() < 5e-4,
        "{}",
        e.turnout()
    );
    assert!(
        (100.0 * e.share(e.leader) - leader).abs() < 5e-4,
        "{}",
        e.share(e.leader)
    );
}

fn check_integer(e: &Election, filtered: u64, observed: u64, published_excess: f64) -> IntegerTest {
    let t = integer_test(e, &opts());
    assert_eq!(t.filtered, filtered);
    assert_eq!(t.observed, observed);
    assert!(
        (t.excess - published_excess).abs() < 2.0 * t.null_sd,
        "excess {} vs published {published_excess} (null sd {})",
        t.excess,
        t.null_sd
    );
    check_monte_carlo_agrees(&t);
    assert!(t.observed > t.null_p999);
    assert!(t.p_value < 1e-6, "{}", t.p_value);
    t
}

#[test]
fn reference_2011() {
    let Some(e) = election(2011) else { return };
    check_headline(&e, 95_225, 109_229_337, 60.210, 49.311);
    let t = check_integer(&e, 86_718, 17_803, 1003.5);
    let s = shpilkin(&e);
    assert!(
        (s.anomalous_votes - 15.18e6).abs() < 0.01e6,
        "{}",
        s.anomalous_votes
    );
    println!(
        "2011: integer excess {:.1} (null mean {:.1}, sd {:.2}, p999 {}, log10 p {:.1}; MC mean {:.1}, \
         p999 {}); Shpilkin peak {} %, clean share {:.2} %, anomalous {:.0}",
        t.excess,
        t.null_mean,
        t.null_sd,
        t.null_p999,
        t.log10_p_value,
        t.monte_carlo.as_ref().map_or(0.0, |m| m.mean),
        t.monte_carlo.as_ref().map_or(0, |m| m.p999),
        s.peak_turnout,
        s.clean_share,
        s.anomalous_votes
    );
}

#[test]
fn reference_2018() {
    let Some(e) = election(2018) else { return };
    check_headline(&e, 97_699, 109_008_428, 67.545, 76.694);
    let t = check_integer(&e, 91_152, 19_271, 1708.8);
    let d = digit_tests(&e);
    assert_eq!(d.benford2.n, 97_428);
    assert_eq!(format!("{:.4}", d.benford2.mean), "4.0170");
    assert_eq!(format!("{:.1}", d.benford2.chi2), "612.3");
    assert_eq!(d.benford2.df, 9);
    assert!(d.benford2.p_value < 1e-100);
    let s = shpilkin(&e);
    assert!(
        (s.anomalous_votes - 10.48e6).abs() < 0.01e6,
        "{}",
        s.anomalous_votes
    );
    let r = sobyanin(&e);
    for reading in [
        distributions(&e).reading(),
        t.reading(),
        d.benford2.reading(),
        d.zero_five.reading(),
        s.reading(),
        r.reading(),
    ] {
        assert!(!reading.finding.is_empty() && !reading.caveat.is_empty());
        println!("[{}] {}", reading.test, reading.finding);
    }
    assert!(t.reading().finding.contains("19271"));
    println!(
        "2018: integer excess {:.1} (null mean {:.1}, sd {:.2}, p999 {}, log10 p {:.1}; MC mean {:.1}, \
         p999 {}); benford2 n {} mean {:.4} chi2 {:.1}; Shpilkin peak {} %, clean share {:.2} %, \
         anomalous {:.0}",
        t.excess,
        t.null_mean,
        t.null_sd,
        t.null_p999,
        t.log10_p_value,
        t.monte_carlo.as_ref().map_or(0.0, |m| m.mean),
        t.monte_carlo.as_ref().map_or(0, |m| m.p999),
        d.benford2.n,
        d.benford2.mean,
        d.benford2.chi2,
        s.peak_turnout,
        s.clean_share,
        s.anomalous_votes
    );
}

/// The literal simulation (both binomials drawn, the definition applied) agrees with the exact
/// null on a real subset: this checks every p_i independently of how it was computed.
#[test]
fn literal_binomial_simulation_agrees_on_real_stations() {
    let Some(e) = election(2018) else { return };
    let subset: Vec<usize> = (0..e.len()).step_by(12).collect();
    let sub = e.permuted(&subset);
    let nm = null_model(&sub, 2);
    let mean: f64 = nm.p.iter().sum();
    let sd = nm.p.iter().map(|p| p * (1.0 - p)).sum::<f64>().sqrt();
    let reps = 300;
    let counts = monte_carlo_binomial(&sub, reps, 42, 2);
    let lit = summarize_replicates(&counts, nm.observed, 42);
    let fast = summarize_replicates(&monte_carlo(&nm.p, reps, 42, 2), nm.observed, 42);
    let se = sd / f64::from(reps).sqrt();
    assert!((lit.mean - mean).abs() < 4.0 * se, "{} vs {mean}", lit.mean);
    assert!(
        (fast.mean - mean).abs() < 4.0 * se,
        "{} vs {mean}",
        fast.mean
    );
    assert!((lit.sd - sd).abs() < 0.2 * sd, "{} vs {sd}", lit.sd);
}

/// Every year: the suite runs and its numbers are sane.
#[test]
fn every_year_runs() {
    for &(year, _) in &YEARS {
        let Some(e) = election(year) else { continue };
        let n = e.len() as u64;
        let d = distributions(&e);
        assert_eq!(
            d.turnout.by_stations.iter().sum::<u64>(),
            d.turnout.stations
        );
        assert_eq!(d.turnout.voters, e.total_registered());
        let t = integer_test(&e, &opts());
        assert!(t.filtered > n / 2 && t.filtered <= n, "{year}: {t:?}");
        assert!(t.null_mean > 0.0 && t.null_mean < t.filtered as f64);
        assert!((0.0..=1.0).contains(&t.p_value));
        check_monte_carlo_agrees(&t);
        let g = digit_tests(&e);
        assert!(g.benford2.n > n / 2, "{year}");
        assert!((3.0..6.0).contains(&g.benford2.mean), "{year}");
        let s = shpilkin(&e);
        assert!(s.peak_turnout <= s.official_turnout);
        assert!(s.anomalous_votes.is_finite());
        assert!((0.0..=100.0).contains(&s.clean_share));
        let r = sobyanin(&e);
        assert!(r.slope.is_finite() && (0.0..=1.0).contains(&r.r2));
        println!(
            "{year} {}: {} stations, turnout {:.2} %, leader {:.2} %; integer {}/{} (null {:.1} ± \
             {:.1}, excess {:.1}, log10 p {:.1}); 2BL mean {:.3} χ² {:.1}; last digit χ² {:.1}; \
             Shpilkin peak {} % clean {:.1} % anomalous {:.2} M; Sobyanin slope {:.3} (others {:.3})",
            e.leader_name(),
            n,
            100.0 * e.turnout(),
            100.0 * e.share(e.leader),
            t.observed,
            t.filtered,
            t.null_mean,
            t.null_sd,
            t.excess,
            t.log10_p_value,
            g.benford2.mean,
            g.benford2.chi2,
            g.last_digit[e.leader].chi2,
            s.peak_turnout,
            s.clean_share,
            s.anomalous_votes / 1e6,
            r.slope,
            r.others_slope
        );
    }
}

/// Prints how long each part takes on 2018 (run with `--release --nocapture`; the best of five
/// runs, the machine may be busy); asserts nothing about time.
#[test]
fn timings_2018() {
    let Some(e) = election(2018) else { return };
    fn best<T>(f: impl Fn() -> T) -> (T, f64) {
        let mut out = None;
        let mut ms = f64::INFINITY;
        for _ in 0..5 {
            let t0 = Instant::now();
            let x = f();
            ms = ms.min(t0.elapsed().as_secs_f64() * 1e3);
            out = Some(x);
        }
        (out.expect("ran"), ms)
    }
    let (_, d_ms) = best(|| distributions(&e));
    let (nm, p_ms) = best(|| null_model(&e, 2));
    let (pb, dp_ms) = best(|| PoissonBinomial::new(&nm.p));
    let (counts, mc_ms) = best(|| monte_carlo(&nm.p, 1000, 1, 2));
    let (t, it_ms) = best(|| integer_test(&e, &opts()));
    let (_, g_ms) = best(|| digit_tests(&e));
    let (_, s_ms) = best(|| shpilkin(&e));
    let (_, r_ms) = best(|| sobyanin(&e));
    println!(
        "timings 2018 ({} stations, best of 5): distributions {d_ms:.1} ms; integer: p_i \
         {p_ms:.1} ms, exact distribution {dp_ms:.1} ms ({} bins), Monte Carlo 1000 {mc_ms:.1} ms, \
         whole integer_test {it_ms:.1} ms; digits {g_ms:.1} ms; Shpilkin {s_ms:.1} ms; Sobyanin \
         {r_ms:.1} ms; all {:.1} ms",
        e.len(),
        pb.pmf.len(),
        d_ms + it_ms + g_ms + s_ms + r_ms
    );
    assert_eq!(counts.len(), 1000);
    assert_eq!(t.filtered, nm.p.len() as u64);
}
