//! The Sobyanin–Sukhovolsky regression: across stations, how the leader's votes (as a share of
//! registered voters, L/V) grow with turnout (G/V).
//!
//! A weighted least-squares line y = intercept + slope · x through the stations (weights V,
//! stations with V > 0), with its r². If every additional voter at higher-turnout stations
//! split like the rest, the leader's slope would be about the leader's share and the other
//! options' slope the rest; a leader slope near or above 1 means that where turnout is higher the
//! leader gains (nearly) all the additional voters — or more, the others losing votes as turnout
//! rises. The other options combined (their valid votes, invalid ballots left out) get the same
//! line.

use crate::election::Election;
use crate::reading::Reading;

/// One weighted least-squares line.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Line {
    pub slope: f64,
    pub intercept: f64,
    pub r2: f64,
}

/// The Sobyanin–Sukhovolsky regression.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sobyanin {
    /// Stations used (V > 0).
    pub stations: u64,
    /// The leader's line: L/V against G/V.
    pub slope: f64,
    pub intercept: f64,
    pub r2: f64,
    /// The other options combined: (Σ other options' votes)/V against G/V.
    pub others_slope: f64,
    pub others_intercept: f64,
    pub others_r2: f64,
}

/// Weighted least squares of y on x with weights w (two passes, for accuracy).
pub fn weighted_line(x: &[f64], y: &[f64], w: &[f64]) -> Line {
    let sw: f64 = w.iter().sum();
    if sw <= 0.0 {
        return Line {
            slope: 0.0,
            intercept: 0.0,
            r2: 0.0,
        };
    }
    let mx = x.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / sw;
    let my = y.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / sw;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for ((&xi, &yi), &wi) in x.iter().zip(y).zip(w) {
        let (dx, dy) = (xi - mx, yi - my);
        sxx += wi * dx * dx;
        sxy += wi * dx * dy;
        syy += wi * dy * dy;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let r2 = if sxx > 0.0 && syy > 0.0 {
        (sxy * sxy / (sxx * syy)).min(1.0)
    } else {
        0.0
    };
    Line {
        slope,
        intercept: my - slope * mx,
        r2,
    }
}

/// Runs the regression for the leader and for the other options combined.
pub fn sobyanin(e: &Election) -> Sobyanin {
    let idx: Vec<usize> = (0..e.len()).filter(|&i| e.registered[i] > 0).collect();
    let v = |i: usize| f64::from(e.registered[i]);
    let x: Vec<f64> = idx.iter().map(|&i| f64::from(e.issued[i]) / v(i)).collect();
    let w: Vec<f64> = idx.iter().map(|&i| v(i)).collect();
    let lead = e.leader_votes();
    let y: Vec<f64> = idx.iter().map(|&i| f64::from(lead[i]) / v(i)).collect();
    let others: Vec<f64> = idx
        .iter()
        .map(|&i| {
            let s: u64 = e
                .votes
                .iter()
                .enumerate()
                .filter(|&(o, _)| o != e.leader)
                .map(|(_, col)| u64::from(col[i]))
                .sum();
            s as f64 / v(i)
        })
        .collect();
    let a = weighted_line(&x, &y, &w);
    let b = weighted_line(&x, &others, &w);
    Sobyanin {
        stations: idx.len() as u64,
        slope: a.slope,
        intercept: a.intercept,
        r2: a.r2,
        others_slope: b.slope,
        others_intercept: b.intercept,
        others_r2: b.r2,
    }
}

impl Sobyanin {
    pub fn reading(&self) -> Reading {
        let gist = if self.slope > 1.0 {
            "more than all the additional voters: the other options' votes fall as turnout rises, \
             which is hard to explain by real voters and is the pattern added ballots leave"
        } else if self.slope > 0.8 {
            "nearly all the additional voters, far more than the leader's share of the vote"
        } else {
            "a share of the additional voters that does not by itself stand out"
        };
        Reading {
            test: "Sobyanin–Sukhovolsky regression",
            finding: format!(
                "Across stations, each additional 100 voters that turn out (per 100 registered) \
                 bring the leader about {:.0} votes and the other options together about {:.0} \
                 (slopes {:.2} and {:.2}; r² = {:.2} for the leader). The leader gains {gist}.",
                100.0 * self.slope,
                100.0 * self.others_slope,
                self.slope,
                self.others_slope,
                self.r2
            ),
            caveat: "This compares stations, not voters: where high turnout and support for the \
                     leader go together for honest reasons (region, town or country, closed \
                     institutions) the slope is high without any fraud. A slope above 1 is a strong \
                     signal worth investigating, not a proof."
                .to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributions::synthetic_election;
    use crate::election::{ElectionBuilder, Station};
    use proptest::prelude::*;

    fn build(rows: &[(u32, u32, u32, u32)]) -> Election {
        let mut b = ElectionBuilder::new("t", vec!["L".into(), "O".into()], 0, vec!["R".into()])
            .expect("builder");
        for (i, &(v, g, l, o)) in rows.iter().enumerate() {
            b.push(Station {
                label: i.to_string(),
                region: 0,
                registered: v,
                issued: g,
                cast: l + o,
                votes: vec![l, o],
            })
            .expect("push");
        }
        b.finish()
    }

    #[test]
    fn an_exact_line_is_found() {
        // Others fixed at 20 % of the register; every extra voter goes to the leader.
        let e = build(&[
            (1000, 400, 200, 200),
            (1000, 600, 400, 200),
            (2000, 1600, 1200, 400),
            (500, 450, 350, 100),
        ]);
        let s = sobyanin(&e);
        assert!((s.slope - 1.0).abs() < 1e-12, "{s:?}");
        assert!((s.intercept + 0.2).abs() < 1e-12);
        assert!((s.r2 - 1.0).abs() < 1e-12);
        assert!(s.others_slope.abs() < 1e-12);
        let s = Sobyanin { slope: 0.9, ..s };
        assert!(
            s.reading().finding.contains("nearly all"),
            "{}",
            s.reading().finding
        );
        assert!(s.reading().finding.contains("about 90 votes"));
    }

    #[test]
    fn weights_matter() {
        let x = [0.0, 1.0, 2.0];
        let y = [0.0, 1.0, 0.0];
        let even = weighted_line(&x, &y, &[1.0, 1.0, 1.0]);
        assert!(even.slope.abs() < 1e-12);
        let tilted = weighted_line(&x, &y, &[1.0, 1.0, 0.0]);
        assert!((tilted.slope - 1.0).abs() < 1e-12);
        assert_eq!(weighted_line(&[], &[], &[]).slope, 0.0);
    }

    #[test]
    fn stuffing_raises_the_slope_above_one() {
        let e = synthetic_election(8, 5000);
        let clean = sobyanin(&e);
        assert!(clean.slope > 0.2 && clean.slope < 0.8, "{clean:?}");
        // Stuff a fifth of the stations: add ballots for the leader up to 95 % turnout.
        let mut f = e.clone();
        for i in (0..f.len()).step_by(5) {
            let add = (f.registered[i] * 95 / 100).saturating_sub(f.issued[i]);
            f.issued[i] += add;
            f.cast[i] += add;
            f.votes[0][i] += add;
        }
        let stuffed = sobyanin(&f);
        assert!(stuffed.slope > clean.slope + 0.2, "{stuffed:?}");
        assert!(stuffed.r2 > clean.r2);
        // And rewrite those protocols: half the other options' votes go to the leader.
        for i in (0..f.len()).step_by(5) {
            for o in 1..3 {
                let moved = f.votes[o][i] / 2;
                f.votes[o][i] -= moved;
                f.votes[0][i] += moved;
            }
        }
        let dirty = sobyanin(&f);
        assert!(dirty.slope > 1.0, "{dirty:?}");
        assert!(dirty.others_slope < 0.0);
        assert!(dirty.reading().finding.contains("more than all"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        #[test]
        fn order_does_not_matter(seed in any::<u64>(), n in 2usize..300) {
            let e = synthetic_election(seed, n);
            let a = sobyanin(&e);
            let order: Vec<usize> = (0..n).rev().collect();
            let b = sobyanin(&e.permuted(&order));
            prop_assert_eq!(a.stations, b.stations);
            prop_assert!((a.slope - b.slope).abs() < 1e-9);
            prop_assert!((a.intercept - b.intercept).abs() < 1e-9);
            prop_assert!((a.others_slope - b.others_slope).abs() < 1e-9);
            prop_assert!((0.0..=1.0).contains(&a.r2));
        }
    }
}
