//! Is the official result consistent with the exit poll at the station? The widest range the
//! poll allows for an option's official count is computed with every declined, spoiled-or-unknown
//! and unaccounted voter counted against the finding, and a one-sided 99.9 % exact
//! (Clopper–Pearson) sampling bound on each side. An official count outside that range is
//! inconsistent with the poll. `docs/exit-poll-bound.md` derives the formula with a worked
//! example; in short, for option X:
//!
//! - `X_max = p_hi · N_hi + (T_hi − N_hi)⁺`, `p_hi` the 99.9 % upper bound of the share of the
//!   surveyed who did *not* name another option (`k_hi = n − Σ others`: X, declined, spoiled or
//!   unknown, and any answer not reported);
//! - `X_min = p_lo · N_lo`, `p_lo` the 99.9 % lower bound of the share who named X (`k`);
//!
//! with `n` surveyed, `N` voters counted at the exit during the poll, `T` the ballots the
//! protocol says were cast. Official X > X_max: too high; official X < X_min: too low.

use serde::Serialize;
use talaka_forensics::special::ln_gamma;

use crate::model::{Count, ElectionInfo, ExitPollTally, ProtocolFigures};
use crate::words::{option_name, percent, thousands};

/// The one-sided error rate of each sampling bound: 0.001, i.e. 99.9 %.
pub const ALPHA: f64 = 0.001;

/// How the tallies' figures were obtained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reporting {
    /// Counts of people, exact.
    #[default]
    Counts,
    /// The source published whole percentages of those surveyed and the import turned them into
    /// counts (rounding to the nearest person): each figure may be off by up to
    /// `⌊n/200 + ½⌋` people, and the bounds allow for it.
    PercentOfSurveyed,
}

/// Parameters of the exit-poll check.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BoundOptions {
    /// One-sided error rate of each sampling bound.
    pub alpha: f64,
    pub reporting: Reporting,
}

impl Default for BoundOptions {
    fn default() -> Self {
        Self {
            alpha: ALPHA,
            reporting: Reporting::Counts,
        }
    }
}

/// Which way the official count misses the poll's range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Official count above the most the poll allows.
    TooHigh,
    /// Official count below the least the poll allows.
    TooLow,
}

/// The check of one option at one station, with every number that went into it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExitPollCheck {
    pub option: String,
    /// The option's official votes.
    pub official: u32,
    /// T for the upper and the lower bound (the largest and the smallest count of ballots cast
    /// the protocol gives).
    pub ballots_cast_hi: u32,
    pub ballots_cast_lo: u32,
    /// n, summed over the station's windows.
    pub surveyed: u32,
    /// k: answers naming the option (as reported).
    pub answers: u32,
    /// The surveyed who may have voted for the option (did not name another), after rounding
    /// slack: `k_hi`.
    pub at_most_for: u32,
    /// The surveyed who certainly named the option, after rounding slack: `k_lo`.
    pub at_least_for: u32,
    /// Everyone volunteers counted leaving during the poll, when every window had an exact
    /// count.
    pub counted_at_exit: Option<u32>,
    /// N used for the upper and for the lower bound.
    pub exit_hi: u32,
    pub exit_lo: u32,
    pub p_hi: f64,
    pub p_lo: f64,
    /// The poll's range for the official count.
    pub max: f64,
    pub min: f64,
    pub finding: Option<Direction>,
    /// A sentence a journalist can quote, for a finding or for consistency.
    pub sentence: String,
}

/// The regularized incomplete beta function I_x(a, b), a, b > 0, 0 ≤ x ≤ 1 (continued fraction,
/// modified Lentz; relative accuracy about 1e-13 for the a, b of exit polls).
pub fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        (ln_front.exp() * beta_cf(a, b, x) / a).clamp(0.0, 1.0)
    } else {
        (1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b).clamp(0.0, 1.0)
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPS: f64 = 1e-15;
    let qab = a + b;
    let qap = a + 1.0;
    let qam = a - 1.0;
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..100_000 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// The p with I_p(a, b) = q (bisection; I is increasing in p).
fn inverse_incomplete_beta(a: f64, b: f64, q: f64) -> f64 {
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if incomplete_beta(a, b, mid) < q {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-13 {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// One-sided exact upper bound of a binomial proportion: the p with P(Bin(n, p) ≤ x) = α.
pub fn clopper_pearson_upper(x: u32, n: u32, alpha: f64) -> f64 {
    if x >= n {
        return 1.0;
    }
    inverse_incomplete_beta(f64::from(x) + 1.0, f64::from(n - x), 1.0 - alpha)
}

/// One-sided exact lower bound of a binomial proportion: the p with P(Bin(n, p) ≥ x) = α.
pub fn clopper_pearson_lower(x: u32, n: u32, alpha: f64) -> f64 {
    if x == 0 || n == 0 {
        return 0.0;
    }
    let x = x.min(n);
    inverse_incomplete_beta(f64::from(x), f64::from(n - x) + 1.0, alpha)
}

/// The rounding slack of one figure of a tally with `n` surveyed.
fn slack(reporting: Reporting, n: u32) -> u32 {
    match reporting {
        Reporting::Counts => 0,
        // |true − P·n/100| ≤ n/200 and |k − P·n/100| ≤ ½, so |true − k| ≤ ⌊n/200 + ½⌋.
        Reporting::PercentOfSurveyed => n / 200 + u32::from(n % 200 >= 100),
    }
}

/// The official count of ballots cast, as the largest and the smallest figure the protocol gives
/// for it (ballots in the boxes, valid + invalid, Σ votes, voters).
fn ballots_cast(f: &ProtocolFigures) -> Option<(u32, u32)> {
    let mut candidates: Vec<u64> = Vec::with_capacity(4);
    if let Some(b) = f.in_boxes() {
        candidates.push(u64::from(b));
    }
    if let (Some(v), Some(i)) = (f.valid, f.invalid) {
        candidates.push(u64::from(v) + u64::from(i));
    }
    if !f.votes.is_empty() {
        candidates.push(f.votes_total());
    }
    if let Some(v) = f.voters {
        candidates.push(u64::from(v));
    }
    let to32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let hi = candidates.iter().copied().max()?;
    let lo = candidates.iter().copied().min()?;
    Some((to32(hi), to32(lo)))
}

/// Checks every option the station's exit poll asked about against the official protocol.
/// Several tallies (time windows) are added up; when two tallies have the same window, only the
/// one with more people surveyed is kept. Returns nothing when nobody was surveyed or the
/// protocol gives no count of ballots cast.
pub fn check_station(
    info: &ElectionInfo,
    station: &str,
    official: &ProtocolFigures,
    tallies: &[&ExitPollTally],
    options: &BoundOptions,
) -> Vec<ExitPollCheck> {
    // One tally per window.
    let mut kept: Vec<&ExitPollTally> = Vec::with_capacity(tallies.len());
    for t in tallies {
        match kept.iter_mut().find(|k| k.window == t.window) {
            Some(k) if t.surveyed > k.surveyed => *k = t,
            Some(_) => {}
            None => kept.push(t),
        }
    }
    // Sums saturate: a forged tally must not overflow.
    let add = |a: u32, b: u32| a.saturating_add(b);
    let surveyed: u32 = kept.iter().map(|t| t.surveyed).fold(0, add);
    let Some((t_hi, t_lo)) = ballots_cast(official) else {
        return Vec::new();
    };
    if surveyed == 0 {
        return Vec::new();
    }
    let counted_at_exit: Option<u32> = kept
        .iter()
        .map(|t| match t.counted_at_exit {
            Some(Count::Exact(c)) => Some(c),
            _ => None,
        })
        .try_fold(0u32, |a, c| c.map(|c| add(a, c)));
    let exit_hi = counted_at_exit.map_or(surveyed, |c| c.max(surveyed));
    let exit_lo = counted_at_exit.map_or(surveyed, |c| c.min(t_lo).max(surveyed));

    // Options asked about, in the order the first tally lists them, then any others.
    let mut codes: Vec<&str> = Vec::new();
    for t in &kept {
        for (c, _) in &t.answers {
            if !codes.contains(&c.as_str()) {
                codes.push(c);
            }
        }
    }

    let mut out = Vec::new();
    for code in codes {
        let Some(official_x) = official.votes_for(code) else {
            continue;
        };
        let (mut k, mut k_hi, mut k_lo) = (0u32, 0u32, 0u32);
        for t in &kept {
            let s = slack(options.reporting, t.surveyed);
            let mine = t
                .answers
                .iter()
                .filter(|(c, _)| c == code)
                .map(|(_, v)| *v)
                .fold(0, add);
            let others_lo: u32 = t
                .answers
                .iter()
                .filter(|(c, _)| c != code)
                .map(|(_, v)| v.saturating_sub(s))
                .fold(0, add);
            k = add(k, mine);
            k_hi = add(
                k_hi,
                t.surveyed
                    .saturating_sub(others_lo)
                    .max(mine.min(t.surveyed)),
            );
            k_lo = add(k_lo, mine.saturating_sub(s).min(t.surveyed));
        }
        let (k_hi, k_lo) = (k_hi.min(surveyed), k_lo.min(surveyed));
        let p_hi = clopper_pearson_upper(k_hi, surveyed, options.alpha);
        let p_lo = clopper_pearson_lower(k_lo, surveyed, options.alpha);
        let max = p_hi * f64::from(exit_hi) + f64::from(t_hi.saturating_sub(exit_hi));
        let min = p_lo * f64::from(exit_lo);
        let finding = if f64::from(official_x) > max {
            Some(Direction::TooHigh)
        } else if f64::from(official_x) < min {
            Some(Direction::TooLow)
        } else {
            None
        };
        let mut check = ExitPollCheck {
            option: code.to_owned(),
            official: official_x,
            ballots_cast_hi: t_hi,
            ballots_cast_lo: t_lo,
            surveyed,
            answers: k,
            at_most_for: k_hi,
            at_least_for: k_lo,
            counted_at_exit,
            exit_hi,
            exit_lo,
            p_hi,
            p_lo,
            max,
            min,
            finding,
            sentence: String::new(),
        };
        check.sentence = sentence(info, station, &check, options.alpha);
        out.push(check);
    }
    out
}

fn sentence(info: &ElectionInfo, station: &str, c: &ExitPollCheck, alpha: f64) -> String {
    let name = option_name(info, &c.option);
    let level = format!("{:.1} %", (1.0 - alpha) * 100.0);
    let t = |v: u32| thousands(i64::from(v));
    let r = |v: f64| thousands(v.round() as i64);
    let official = format!(
        "the official protocol gives {name} {} votes ({} of {} ballots)",
        t(c.official),
        percent(f64::from(c.official) / f64::from(c.ballots_cast_hi.max(1))),
        t(c.ballots_cast_hi)
    );
    let exit = match c.counted_at_exit {
        Some(n) => format!("{} surveyed of {} counted at the exit", t(c.surveyed), t(n)),
        None => format!("{} surveyed", t(c.surveyed)),
    };
    match c.finding {
        Some(Direction::TooHigh) => format!(
            "At station {station} {official}; the exit poll ({exit}) allows at most {} even if every voter who declined, spoiled a ballot, gave no answer or was not surveyed voted for {name} ({level} bound).",
            r(c.max)
        ),
        Some(Direction::TooLow) => format!(
            "At station {station} {official}; the exit poll ({exit}, {} naming {name}) shows at least {} even if everyone who declined or was not surveyed voted otherwise ({level} bound).",
            t(c.answers),
            r(c.min)
        ),
        None => format!(
            "At station {station} {official}; the exit poll ({exit}) allows between {} and {} ({level} bounds, every declined, spoiled-or-unknown and non-surveyed voter counted against a finding): consistent.",
            r(c.min),
            r(c.max)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BallotOption, OptionKind};
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn incomplete_beta_known_values() {
        // I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 − (1 − x)^b.
        assert!(close(incomplete_beta(1.0, 1.0, 0.3), 0.3, 1e-14));
        assert!(close(incomplete_beta(3.0, 1.0, 0.5), 0.125, 1e-14));
        assert!(close(
            incomplete_beta(1.0, 4.0, 0.25),
            1.0 - 0.75_f64.powi(4),
            1e-14
        ));
        // I_0.5(a, a) = ½ by symmetry, also for large a.
        assert!(close(incomplete_beta(800.0, 800.0, 0.5), 0.5, 1e-10));
        // Binomial identity: I_p(k, n−k+1) = P(Bin(n, p) ≥ k). n = 10, p = 0.3, k = 4:
        // 1 − P(X ≤ 3) = 1 − 0.6496107184 = 0.3503892816.
        assert!(close(
            incomplete_beta(4.0, 7.0, 0.3),
            0.350_389_281_6,
            1e-10
        ));
    }

    #[test]
    fn clopper_pearson_closed_forms() {
        // x = 0: upper = 1 − α^(1/n); x = n: lower = α^(1/n).
        let up = clopper_pearson_upper(0, 10, ALPHA);
        assert!(close(up, 1.0 - 0.001_f64.powf(0.1), 1e-10), "{up}");
        let lo = clopper_pearson_lower(10, 10, ALPHA);
        assert!(close(lo, 0.001_f64.powf(0.1), 1e-10), "{lo}");
        assert_eq!(clopper_pearson_upper(10, 10, ALPHA), 1.0);
        assert_eq!(clopper_pearson_lower(0, 10, ALPHA), 0.0);
    }

    #[test]
    fn clopper_pearson_matches_binomial_tails() {
        // The defining property: at p_hi, P(Bin(n, p_hi) ≤ x) = α; at p_lo, P(≥ x) = α.
        // Checked by summing the binomial pmf directly.
        use talaka_forensics::special::ln_binomial_pmf;
        for &(x, n) in &[(53u32, 536u32), (125, 1788), (1, 30), (900, 1000)] {
            let p = clopper_pearson_upper(x, n, ALPHA);
            let cdf: f64 = (0..=x).map(|j| ln_binomial_pmf(j, n, p).exp()).sum();
            assert!(close(cdf, ALPHA, 1e-9), "upper {x}/{n}: {cdf}");
            let p = clopper_pearson_lower(x, n, ALPHA);
            let sf: f64 = (x..=n).map(|j| ln_binomial_pmf(j, n, p).exp()).sum();
            assert!(close(sf, ALPHA, 1e-9), "lower {x}/{n}: {sf}");
        }
    }

    fn info() -> ElectionInfo {
        let o = |c: &str| BallotOption {
            code: c.into(),
            name: c.into(),
            kind: OptionKind::Candidate,
        };
        ElectionInfo {
            code: "ru".into(),
            name: "RU".into(),
            date: "2024-03-17".into(),
            options: vec![o("x"), o("y")],
        }
    }

    fn tally(
        n: u32,
        x: u32,
        y: u32,
        declined: u32,
        spoiled: u32,
        exit: Option<Count>,
    ) -> ExitPollTally {
        ExitPollTally {
            station: "S".into(),
            window: String::new(),
            surveyed: n,
            answers: vec![("x".into(), x), ("y".into(), y)],
            declined,
            spoiled_or_unknown: spoiled,
            counted_at_exit: exit,
        }
    }

    fn protocol(x: u32, y: u32, invalid: u32) -> ProtocolFigures {
        ProtocolFigures {
            valid: Some(x + y),
            invalid: Some(invalid),
            in_stationary_boxes: Some(x + y + invalid),
            in_portable_boxes: Some(0),
            votes: vec![("x".into(), x), ("y".into(), y)],
            ..ProtocolFigures::default()
        }
    }

    /// The worked example of docs/exit-poll-bound.md.
    #[test]
    fn worked_example_from_the_docs() {
        // n = 1000 surveyed of N = 1500 counted at the exit; T = 2000 ballots.
        // X: 100 answers, Y: 700, declined 150, spoiled or unknown 50.
        let t = tally(1000, 100, 700, 150, 50, Some(Count::Exact(1500)));
        let checks = check_station(
            &info(),
            "S",
            &protocol(1200, 780, 20),
            &[&t],
            &BoundOptions::default(),
        );
        let x = &checks[0];
        assert_eq!(x.option, "x");
        assert_eq!((x.at_most_for, x.at_least_for), (300, 100));
        assert_eq!(
            (x.exit_hi, x.exit_lo, x.ballots_cast_hi),
            (1500, 1500, 2000)
        );
        // p_hi = upper 99.9 % bound of 300/1000, p_lo = lower bound of 100/1000.
        assert!(close(x.p_hi, 0.346_528_0, 1e-6), "{}", x.p_hi);
        assert!(close(x.p_lo, 0.072_930_5, 1e-6), "{}", x.p_lo);
        // X_max = p_hi·1500 + 500 ≈ 1019.8; official 1200 → too high.
        assert!(close(x.max, x.p_hi * 1500.0 + 500.0, 1e-9));
        assert_eq!(x.finding, Some(Direction::TooHigh));
        assert!(
            x.sentence.contains("allows at most 1,020"),
            "{}",
            x.sentence
        );
        // Y: 700 answers, at most 700 + 150 + 50 = 900 → Y_min = p_lo(700/1000)·1500 ≈ 980.2;
        // official 780 → too low.
        let y = &checks[1];
        assert_eq!((y.at_most_for, y.at_least_for), (900, 700));
        assert_eq!(y.finding, Some(Direction::TooLow));
        assert!(close(y.min, 980.208, 1e-3), "{}", y.min);
        // A count within the range is consistent.
        let ok = check_station(
            &info(),
            "S",
            &protocol(900, 1080, 20),
            &[&t],
            &BoundOptions::default(),
        );
        assert_eq!(ok[0].finding, None);
        assert_eq!(ok[1].finding, None);
        assert!(ok[0].sentence.ends_with("consistent."));
    }

    #[test]
    fn an_approximate_exit_count_falls_back_to_the_surveyed() {
        for exit in [None, Some(Count::About(1500)), Some(Count::AtLeast(1500))] {
            let t = tally(1000, 100, 700, 150, 50, exit);
            let c = &check_station(
                &info(),
                "S",
                &protocol(1200, 780, 20),
                &[&t],
                &BoundOptions::default(),
            )[0];
            assert_eq!(
                (c.exit_hi, c.exit_lo, c.counted_at_exit),
                (1000, 1000, None)
            );
            assert!(close(c.max, c.p_hi * 1000.0 + 1000.0, 1e-9));
        }
    }

    #[test]
    fn windows_add_up_and_duplicates_are_dropped() {
        let mut a = tally(500, 50, 350, 75, 25, Some(Count::Exact(700)));
        a.window = "10:00/14:00".into();
        let mut b = a.clone();
        b.window = "14:00/20:00".into();
        b.counted_at_exit = Some(Count::Exact(800));
        let mut dup = a.clone();
        dup.surveyed = 400;
        let c = &check_station(
            &info(),
            "S",
            &protocol(1200, 780, 20),
            &[&a, &b, &dup],
            &BoundOptions::default(),
        )[0];
        assert_eq!((c.surveyed, c.answers, c.at_most_for), (1000, 100, 300));
        assert_eq!(c.counted_at_exit, Some(1500));
        // One window without an exact count makes the total unknown.
        b.counted_at_exit = Some(Count::About(800));
        let c = &check_station(
            &info(),
            "S",
            &protocol(1200, 780, 20),
            &[&a, &b],
            &BoundOptions::default(),
        )[0];
        assert_eq!(c.counted_at_exit, None);
        assert_eq!(c.exit_hi, 1000);
    }

    #[test]
    fn percentages_widen_by_the_rounding_slack() {
        let t = tally(1000, 100, 700, 150, 50, Some(Count::Exact(1500)));
        let opts = BoundOptions {
            alpha: ALPHA,
            reporting: Reporting::PercentOfSurveyed,
        };
        let c = &check_station(&info(), "S", &protocol(1200, 780, 20), &[&t], &opts)[0];
        // slack = ⌊1000/200 + ½⌋ = 5 per figure.
        assert_eq!((c.at_most_for, c.at_least_for), (305, 95));
    }

    #[test]
    fn no_check_without_ballots_or_surveyed() {
        let t = tally(0, 0, 0, 0, 0, None);
        assert!(
            check_station(
                &info(),
                "S",
                &protocol(1, 1, 0),
                &[&t],
                &BoundOptions::default()
            )
            .is_empty()
        );
        let t = tally(10, 5, 5, 0, 0, None);
        let empty = ProtocolFigures::default();
        assert!(check_station(&info(), "S", &empty, &[&t], &BoundOptions::default()).is_empty());
    }

    #[test]
    fn forged_huge_tallies_do_not_overflow() {
        let mut a = tally(
            u32::MAX,
            u32::MAX,
            u32::MAX,
            0,
            0,
            Some(Count::Exact(u32::MAX)),
        );
        a.window = "a".into();
        let mut b = a.clone();
        b.window = "b".into();
        let opts = BoundOptions {
            alpha: ALPHA,
            reporting: Reporting::PercentOfSurveyed,
        };
        let c = check_station(&info(), "S", &protocol(10, 10, 0), &[&a, &b], &opts);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].surveyed, u32::MAX);
        assert!(c[0].at_most_for <= c[0].surveyed);
    }

    proptest! {
        #[test]
        fn more_declined_never_narrows_the_upper_bound(
            n in 50u32..3000, x_pct in 0u32..50, y_pct in 0u32..50, d1 in 0u32..200, extra in 1u32..200,
            exit_extra in 0u32..2000, t_extra in 0u32..3000,
        ) {
            let x = n * x_pct / 100;
            let y = n * y_pct / 100;
            let d1 = d1.min(n - x - y);
            let d2 = (d1 + extra).min(n - x - y);
            // Moving people from "y" to "declined" keeps n and widens the range for x.
            let y2 = y - (d2 - d1).min(y);
            let d2 = d1 + (y - y2);
            let exit = Some(Count::Exact(n + exit_extra));
            let p = protocol(n + exit_extra + t_extra, 0, 0);
            let a = &check_station(&info(), "S", &p, &[&tally(n, x, y, d1, 0, exit)], &BoundOptions::default())[0];
            let b = &check_station(&info(), "S", &p, &[&tally(n, x, y2, d2, 0, exit)], &BoundOptions::default())[0];
            prop_assert!(b.max >= a.max - 1e-9);
            prop_assert!((b.min - a.min).abs() < 1e-9);
        }

        #[test]
        fn more_surveyed_narrows_the_interval(k in 1u32..99, scale in 2u32..20) {
            // The same share from a larger sample gives a narrower interval.
            let (n1, k1) = (100, k);
            let (n2, k2) = (100 * scale, k * scale);
            let w1 = clopper_pearson_upper(k1, n1, ALPHA) - clopper_pearson_lower(k1, n1, ALPHA);
            let w2 = clopper_pearson_upper(k2, n2, ALPHA) - clopper_pearson_lower(k2, n2, ALPHA);
            prop_assert!(w2 < w1, "{w2} !< {w1}");
        }

        #[test]
        fn bounds_bracket_the_sample_share(k in 0u32..=500, n in 500u32..5000) {
            let p = f64::from(k) / f64::from(n);
            let lo = clopper_pearson_lower(k, n, ALPHA);
            let hi = clopper_pearson_upper(k, n, ALPHA);
            prop_assert!(lo <= p + 1e-12 && p <= hi + 1e-12 && lo >= 0.0 && hi <= 1.0);
        }
    }
}
