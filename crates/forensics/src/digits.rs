//! Digit tests on the reported counts.
//!
//! - **Second-digit Benford (2BL)** (Mebane): the second digit of each option's vote counts of at
//!   least 10 is compared with Benford's second-digit law, P(d) = Σ_{a=1..9} log₁₀(1 + 1/(10a + d)),
//!   mean 4.187: χ² with 9 degrees of freedom and the mean's z-score.
//! - **Last digit**: for counts of at least [`LAST_DIGIT_MIN`] (= 100: below that the last digit
//!   is tied up with the count's size), the last digit should be close to uniform (mean 4.5):
//!   χ² with 9 degrees of freedom.
//! - **"0 or 5"**: the share of counts (≥ 100) ending in 0 or 5 (expected 0.2), and of turnout
//!   and leader share rounded to a whole percent (stations with V ≥ 100, resp. R ≥ 100; rounded
//!   half up, exactly) ending in 0 or 5 (expected about 0.2), each with a binomial z-score.

use crate::election::Election;
use crate::reading::Reading;
use crate::special::{chi2_sf, normal_sf};

/// Counts below this are left out of the second-digit test (they have no second digit).
pub const BENFORD2_MIN: u32 = 10;
/// Counts below this are left out of the last-digit and "0 or 5" count tests.
pub const LAST_DIGIT_MIN: u32 = 100;
/// Stations need at least this many voters (turnout) or ballots (leader share) for the rounded
/// percentage test.
pub const PERCENT_MIN: u32 = 100;

/// Benford's law for the second digit: P(second digit = d), d = 0 … 9.
pub fn benford2_expected() -> [f64; 10] {
    let mut p = [0.0; 10];
    for (d, pd) in p.iter_mut().enumerate() {
        *pd = (1..=9)
            .map(|a| (1.0 + 1.0 / (10.0 * f64::from(a) + d as f64)).log10())
            .sum();
    }
    p
}

/// The second digit of `c` (c ≥ 10).
#[inline]
pub fn second_digit(mut c: u32) -> usize {
    while c >= 100 {
        c /= 10;
    }
    (c % 10) as usize
}

/// χ² of observed digit counts against expected proportions, and the mean digit.
fn chi2_and_mean(counts: &[u64; 10], expected: &[f64; 10]) -> (u64, f64, f64) {
    let n: u64 = counts.iter().sum();
    if n == 0 {
        return (0, 0.0, 0.0);
    }
    let nf = n as f64;
    let chi2 = counts
        .iter()
        .zip(expected)
        .map(|(&o, &p)| {
            let e = nf * p;
            (o as f64 - e).powi(2) / e
        })
        .sum();
    let mean = counts
        .iter()
        .enumerate()
        .map(|(d, &c)| d as f64 * c as f64)
        .sum::<f64>()
        / nf;
    (n, chi2, mean)
}

fn moments(p: &[f64; 10]) -> (f64, f64) {
    let mean: f64 = p.iter().enumerate().map(|(d, &x)| d as f64 * x).sum();
    let var: f64 = p
        .iter()
        .enumerate()
        .map(|(d, &x)| (d as f64 - mean).powi(2) * x)
        .sum();
    (mean, var.sqrt())
}

/// The second-digit test for one option.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Benford2 {
    pub option: String,
    /// Counts ≥ 10 tested.
    pub n: u64,
    /// Mean second digit.
    pub mean: f64,
    /// Benford's mean, 4.187.
    pub expected_mean: f64,
    /// (mean − expected_mean) / (σ/√n).
    pub mean_z: f64,
    pub chi2: f64,
    pub df: u32,
    pub p_value: f64,
    /// How many counts have second digit 0 … 9.
    pub counts: [u64; 10],
    /// Benford's proportions for 0 … 9.
    pub expected: [f64; 10],
}

/// The second-digit test on `option`'s counts ≥ 10.
pub fn benford2(e: &Election, option: usize) -> Benford2 {
    let mut counts = [0u64; 10];
    for &c in &e.votes[option] {
        if c >= BENFORD2_MIN {
            counts[second_digit(c)] += 1;
        }
    }
    let expected = benford2_expected();
    let (n, chi2, mean) = chi2_and_mean(&counts, &expected);
    let (mu, sigma) = moments(&expected);
    Benford2 {
        option: e.options[option].clone(),
        n,
        mean,
        expected_mean: mu,
        mean_z: z_of_mean(mean, mu, sigma, n),
        chi2,
        df: 9,
        p_value: if n == 0 { 1.0 } else { chi2_sf(chi2, 9.0) },
        counts,
        expected,
    }
}

fn z_of_mean(mean: f64, mu: f64, sigma: f64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        (mean - mu) / (sigma / (n as f64).sqrt())
    }
}

/// The last-digit test for one option.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LastDigit {
    pub option: String,
    /// Counts ≥ `min_count` tested.
    pub n: u64,
    pub min_count: u32,
    pub mean: f64,
    /// 4.5.
    pub expected_mean: f64,
    pub mean_z: f64,
    pub chi2: f64,
    pub df: u32,
    pub p_value: f64,
    pub counts: [u64; 10],
}

/// The last-digit test on `option`'s counts ≥ [`LAST_DIGIT_MIN`].
pub fn last_digit(e: &Election, option: usize) -> LastDigit {
    let mut counts = [0u64; 10];
    for &c in &e.votes[option] {
        if c >= LAST_DIGIT_MIN {
            counts[(c % 10) as usize] += 1;
        }
    }
    let uniform = [0.1; 10];
    let (n, chi2, mean) = chi2_and_mean(&counts, &uniform);
    let (mu, sigma) = moments(&uniform);
    LastDigit {
        option: e.options[option].clone(),
        n,
        min_count: LAST_DIGIT_MIN,
        mean,
        expected_mean: mu,
        mean_z: z_of_mean(mean, mu, sigma, n),
        chi2,
        df: 9,
        p_value: if n == 0 { 1.0 } else { chi2_sf(chi2, 9.0) },
        counts,
    }
}

/// How many of `n` numbers end in 0 or 5, against the expected 20 %.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ZeroFiveShare {
    pub n: u64,
    pub observed: u64,
    /// observed / n.
    pub share: f64,
    /// 0.2.
    pub expected: f64,
    /// (observed − 0.2 n) / √(0.16 n).
    pub z: f64,
    /// One-sided P(at least this many by chance), normal approximation.
    pub p_value: f64,
}

impl ZeroFiveShare {
    fn new(n: u64, observed: u64) -> Self {
        let nf = n as f64;
        let z = if n == 0 {
            0.0
        } else {
            (observed as f64 - 0.2 * nf) / (0.16 * nf).sqrt()
        };
        Self {
            n,
            observed,
            share: if n == 0 { 0.0 } else { observed as f64 / nf },
            expected: 0.2,
            z,
            p_value: if n == 0 { 1.0 } else { normal_sf(z) },
        }
    }
}

/// The "0 or 5" tests.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ZeroFive {
    /// All options' counts ≥ 100, pooled.
    pub counts: ZeroFiveShare,
    /// The leader's counts ≥ 100.
    pub leader_counts: ZeroFiveShare,
    /// Turnout rounded to a whole percent (stations with V ≥ 100).
    pub turnout_percent: ZeroFiveShare,
    /// The leader's share rounded to a whole percent (stations with R ≥ 100).
    pub leader_percent: ZeroFiveShare,
}

/// 100·num/den rounded half up, exactly.
#[inline]
fn rounded_percent(num: u32, den: u32) -> u64 {
    (200 * u64::from(num) + u64::from(den)) / (2 * u64::from(den))
}

/// The "0 or 5" tests on counts and on rounded percentages.
pub fn zero_five(e: &Election) -> ZeroFive {
    let ends05 = |x: u64| x.is_multiple_of(5);
    let count_col = |col: &[u32]| {
        let (mut n, mut k) = (0u64, 0u64);
        for &c in col {
            if c >= LAST_DIGIT_MIN {
                n += 1;
                k += u64::from(ends05(u64::from(c)));
            }
        }
        (n, k)
    };
    let (mut n_all, mut k_all) = (0, 0);
    for col in &e.votes {
        let (n, k) = count_col(col);
        n_all += n;
        k_all += k;
    }
    let (n_l, k_l) = count_col(e.leader_votes());
    let (mut n_t, mut k_t, mut n_s, mut k_s) = (0u64, 0u64, 0u64, 0u64);
    let rows = e.registered.iter().zip(&e.issued).zip(&e.cast);
    for (((&v, &g), &r), &l) in rows.zip(e.leader_votes()) {
        if v >= PERCENT_MIN {
            n_t += 1;
            k_t += u64::from(ends05(rounded_percent(g, v)));
        }
        if r >= PERCENT_MIN {
            n_s += 1;
            k_s += u64::from(ends05(rounded_percent(l, r)));
        }
    }
    ZeroFive {
        counts: ZeroFiveShare::new(n_all, k_all),
        leader_counts: ZeroFiveShare::new(n_l, k_l),
        turnout_percent: ZeroFiveShare::new(n_t, k_t),
        leader_percent: ZeroFiveShare::new(n_s, k_s),
    }
}

/// Every digit test of one election.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DigitTests {
    /// The leader's second-digit test.
    pub benford2: Benford2,
    /// Every option's second-digit test, in option order.
    pub benford2_by_option: Vec<Benford2>,
    /// Every option's last-digit test, in option order.
    pub last_digit: Vec<LastDigit>,
    pub zero_five: ZeroFive,
}

/// Runs every digit test.
pub fn digit_tests(e: &Election) -> DigitTests {
    let by_option: Vec<Benford2> = (0..e.options.len()).map(|o| benford2(e, o)).collect();
    DigitTests {
        benford2: by_option[e.leader].clone(),
        benford2_by_option: by_option,
        last_digit: (0..e.options.len()).map(|o| last_digit(e, o)).collect(),
        zero_five: zero_five(e),
    }
}

fn significant(p: f64) -> bool {
    p < 0.001
}

impl Benford2 {
    pub fn reading(&self) -> Reading {
        let finding = if self.n == 0 {
            format!("{} has no vote counts of 10 or more to test.", self.option)
        } else {
            format!(
                "The second digits of {}'s {} vote counts (of 10 or more) average {:.3}, against \
                 4.187 under Benford's law (χ² = {:.1} with 9 degrees of freedom, p = {:.2e}): \
                 the digits {} Benford's second-digit law.",
                self.option,
                self.n,
                self.mean,
                self.chi2,
                self.p_value,
                if significant(self.p_value) {
                    "depart significantly from"
                } else {
                    "are consistent with"
                }
            )
        };
        Reading {
            test: "Second-digit Benford test",
            finding,
            caveat: "Benford's law is a weak test for elections: honest vote counts often depart from \
                     it because of how station sizes and support levels are distributed, and falsified \
                     counts can follow it. With tens of thousands of counts even tiny, innocent \
                     departures become \"significant\". Treat a departure as a question, never as \
                     evidence of fraud on its own."
                .to_owned(),
        }
    }
}

impl LastDigit {
    pub fn reading(&self) -> Reading {
        let finding = if self.n == 0 {
            format!("{} has no vote counts of 100 or more to test.", self.option)
        } else {
            format!(
                "The last digits of {}'s {} vote counts (of 100 or more) average {:.3} (4.5 \
                 expected if they are uniform; χ² = {:.1}, 9 degrees of freedom, p = {:.2e}): \
                 they {} uniform.",
                self.option,
                self.n,
                self.mean,
                self.chi2,
                self.p_value,
                if significant(self.p_value) {
                    "are not"
                } else {
                    "look"
                }
            )
        };
        Reading {
            test: "Last-digit test",
            finding,
            caveat: "People who invent numbers favour some digits; counted votes of 100 or more end \
                     in every digit about equally often. A non-uniform last digit suggests invented \
                     numbers somewhere, not at which station; uniform last digits do not show the \
                     counts are honest."
                .to_owned(),
        }
    }
}

impl ZeroFive {
    pub fn reading(&self) -> Reading {
        let pct = |s: &ZeroFiveShare| 100.0 * s.share;
        Reading {
            test: "Numbers ending in 0 or 5",
            finding: format!(
                "{:.1} % of vote counts (of 100 or more) end in 0 or 5 (20 % expected, z = {:.1}); \
                 {:.1} % of stations report a turnout, and {:.1} % a leader share, that rounds to a \
                 percentage ending in 0 or 5 (about 20 % expected; z = {:.1} and {:.1}).",
                pct(&self.counts),
                self.counts.z,
                pct(&self.turnout_percent),
                pct(&self.leader_percent),
                self.turnout_percent.z,
                self.leader_percent.z
            ),
            caveat:
                "Round targets (\"80 % turnout\") leave an excess of numbers ending in 0 or 5, \
                     but the 20 % for rounded percentages is only approximate: where many stations \
                     cluster near one value the share can differ from 20 % innocently. A large \
                     positive z is a reason to look closer, not proof."
                    .to_owned(),
        }
    }
}

impl DigitTests {
    /// The readings of the leader's second-digit test, the leader's last-digit test and the
    /// "0 or 5" test.
    pub fn readings(&self, leader: usize) -> Vec<Reading> {
        let mut r = vec![self.benford2.reading()];
        if let Some(l) = self.last_digit.get(leader) {
            r.push(l.reading());
        }
        r.push(self.zero_five.reading());
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributions::synthetic_election;
    use crate::election::{ElectionBuilder, Station};
    use proptest::prelude::*;

    fn with_counts(leader: &[u32]) -> Election {
        let mut b = ElectionBuilder::new("t", vec!["A".into(), "B".into()], 0, vec!["R".into()])
            .expect("builder");
        for (i, &c) in leader.iter().enumerate() {
            b.push(Station {
                label: i.to_string(),
                region: 0,
                registered: 2 * c + 100,
                issued: c + 10,
                cast: c + 10,
                votes: vec![c, 10],
            })
            .expect("push");
        }
        b.finish()
    }

    #[test]
    fn benford_law_is_right() {
        let p = benford2_expected();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((p[0] - 0.11968).abs() < 1e-5);
        assert!((p[9] - 0.08500).abs() < 1e-5);
        let (mu, _) = moments(&p);
        assert!((mu - 4.187).abs() < 5e-4, "{mu}");
        assert_eq!(second_digit(10), 0);
        assert_eq!(second_digit(1977), 9);
        assert_eq!(second_digit(45), 5);
        assert_eq!(second_digit(4_000_000_123), 0);
    }

    #[test]
    fn hand_computed_counts() {
        let e = with_counts(&[5, 12, 123, 1977, 100, 105, 250]);
        let b = benford2(&e, 0);
        assert_eq!(b.n, 6);
        assert_eq!(b.counts, [2, 0, 2, 0, 0, 1, 0, 0, 0, 1]);
        assert!((b.mean - 3.0).abs() < 1e-12);
        let l = last_digit(&e, 0);
        assert_eq!(l.n, 5);
        assert_eq!(l.counts, [2, 0, 0, 1, 0, 1, 0, 1, 0, 0]);
        assert!((l.mean - 3.0).abs() < 1e-12);
        let z = zero_five(&e);
        assert_eq!(z.leader_counts.n, 5);
        assert_eq!(z.leader_counts.observed, 3);
        // Option B has 10 votes everywhere: below the minimum.
        assert_eq!(z.counts.n, 5);
    }

    #[test]
    fn rounded_percentages() {
        assert_eq!(rounded_percent(1, 200), 1); // 0.5 % rounds up
        assert_eq!(rounded_percent(149, 200), 75); // 74.5
        assert_eq!(rounded_percent(148, 200), 74);
        assert_eq!(rounded_percent(57, 100), 57);
    }

    #[test]
    fn uniform_last_digits_pass_and_invented_ones_fail() {
        // Counts 100 … 1099: every last digit 100 times.
        let e = with_counts(&(100..1100).collect::<Vec<_>>());
        let l = last_digit(&e, 0);
        assert_eq!(l.chi2, 0.0);
        assert!((l.p_value - 1.0).abs() < 1e-12);
        assert!(l.reading().finding.contains("look uniform"));
        // Invented: every count ends in 0 or 5.
        let e = with_counts(&(20..1020).map(|c| c * 5).collect::<Vec<_>>());
        let l = last_digit(&e, 0);
        assert!(l.p_value < 1e-10);
        let z = zero_five(&e);
        assert_eq!(z.leader_counts.share, 1.0);
        assert!(z.leader_counts.z > 30.0);
    }

    #[test]
    fn benford_sample_passes() {
        // Counts drawn log-uniformly over several decades follow Benford's law.
        let mut rng = crate::rng::Rng::new(2);
        let counts: Vec<u32> = (0..50_000)
            .map(|_| 10f64.powf(1.0 + 4.0 * rng.f64()) as u32)
            .collect();
        let b = benford2(&with_counts(&counts), 0);
        assert!(b.p_value > 1e-3, "{b:?}");
        assert!(b.mean_z.abs() < 4.0);
        assert!(b.reading().finding.contains("consistent"));
    }

    #[test]
    fn json_field_names() {
        let d = digit_tests(&synthetic_election(1, 100));
        let j = serde_json::to_value(&d).expect("json");
        for k in ["n", "mean", "chi2", "df", "p_value", "counts"] {
            assert!(j["benford2"].get(k).is_some(), "{k}");
        }
        assert_eq!(j["benford2_by_option"][0]["option"], "Leader");
        assert!(j["last_digit"][1].get("chi2").is_some());
        assert!(j["zero_five"]["turnout_percent"].get("z").is_some());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        #[test]
        fn counts_add_up_and_order_does_not_matter(seed in any::<u64>(), n in 1usize..300) {
            let e = synthetic_election(seed, n);
            let d = digit_tests(&e);
            let ge10 = e.leader_votes().iter().filter(|&&c| c >= 10).count() as u64;
            prop_assert_eq!(d.benford2.n, ge10);
            prop_assert_eq!(d.benford2.counts.iter().sum::<u64>(), ge10);
            for l in &d.last_digit {
                prop_assert_eq!(l.counts.iter().sum::<u64>(), l.n);
                prop_assert!(l.chi2 >= 0.0 && (0.0..=1.0).contains(&l.p_value));
            }
            let order: Vec<usize> = (0..n).rev().collect();
            prop_assert_eq!(d, digit_tests(&e.permuted(&order)));
        }
    }
}
