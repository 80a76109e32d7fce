//! Shpilkin's estimate of anomalous votes.
//!
//! Stations are grouped into 1 % turnout bins (bin b holds turnout G/V in [b %, b+1 %), computed
//! exactly; bin 100 holds 100 % and above; stations with V = 0 are left out). In a clean election
//! the votes spread over turnout in one bump; votes added by stuffing or rewriting move stations
//! to higher turnout and add votes for the leader only.
//!
//! The definition used here — the one that reproduces the published figures (2011 ≈ 15.18 M,
//! 2018 ≈ 10.48 M anomalous leader votes) — is:
//! - the **clean peak** is the bin with the most ballots cast (R) among the bins at or below the
//!   official turnout's bin (⌊100·ΣG/ΣV⌋); ties go to the lower bin;
//! - the **clean share** c is the leader's share of ballots cast in the peak bin alone;
//! - above the peak, the other options' votes (here: ballots cast minus the leader's votes,
//!   so invalid ballots count with the others) are taken as genuine, and the leader is expected
//!   to get c/(1 − c) votes for each of them, as at the peak;
//! - **anomalous votes** = Σ over bins above the peak of (leader votes − c/(1 − c) · others' votes).
//!
//! (The simpler variant "leader votes − c · ballots cast" gives far smaller numbers, 10.0 M and
//! 2.8 M, because it lets the leader's extra votes raise the expected count too.)

use crate::election::Election;
use crate::reading::Reading;

/// Bins 0 … 100; the last holds turnouts of 100 % and above.
pub const SHPILKIN_BINS: usize = 101;

/// One 1 % turnout bin.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ShpilkinBin {
    /// Lower edge of the bin, percent.
    pub turnout: f64,
    pub stations: u64,
    pub registered: u64,
    pub cast: u64,
    pub leader: u64,
    /// Ballots cast minus the leader's votes.
    pub others: u64,
    /// The leader's votes the clean model expects: the actual ones up to the peak, c/(1 − c) ·
    /// others above it.
    pub expected_leader: f64,
}

/// Shpilkin's estimate.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Shpilkin {
    /// Lower edge of the clean peak's bin, percent (the bin covers [peak, peak + 1) %).
    pub peak_turnout: f64,
    /// The official turnout, percent.
    pub official_turnout: f64,
    /// The leader's share of ballots cast in the peak bin, percent.
    pub clean_share: f64,
    /// Leader votes above what the clean share predicts, summed over the bins above the peak.
    pub anomalous_votes: f64,
    /// anomalous_votes as a percentage of the leader's votes.
    pub anomalous_percent_of_leader: f64,
    /// The leader's official share, percent.
    pub leader_share: f64,
    /// The leader's share with the anomalous votes removed from the leader and from the ballots
    /// cast, percent.
    pub corrected_share: f64,
    pub leader_votes: u64,
    pub bins: Vec<ShpilkinBin>,
}

fn pct(a: f64, b: f64) -> f64 {
    if b > 0.0 { 100.0 * a / b } else { 0.0 }
}

/// Computes Shpilkin's estimate.
pub fn shpilkin(e: &Election) -> Shpilkin {
    let mut bins: Vec<ShpilkinBin> = (0..SHPILKIN_BINS)
        .map(|b| ShpilkinBin {
            turnout: b as f64,
            stations: 0,
            registered: 0,
            cast: 0,
            leader: 0,
            others: 0,
            expected_leader: 0.0,
        })
        .collect();
    let (mut sum_v, mut sum_g) = (0u64, 0u64);
    let rows = e.registered.iter().zip(&e.issued).zip(&e.cast);
    for (((&v, &g), &r), &l) in rows.zip(e.leader_votes()) {
        if v == 0 {
            continue;
        }
        sum_v += u64::from(v);
        sum_g += u64::from(g);
        let b = ((100 * u64::from(g) / u64::from(v)) as usize).min(SHPILKIN_BINS - 1);
        let bin = &mut bins[b];
        bin.stations += 1;
        bin.registered += u64::from(v);
        bin.cast += u64::from(r);
        bin.leader += u64::from(l);
        bin.others += u64::from(r.saturating_sub(l));
    }
    let official_bin = (100 * sum_g)
        .checked_div(sum_v)
        .map_or(0, |b| (b as usize).min(SHPILKIN_BINS - 1));
    let mut peak = 0;
    for b in 0..=official_bin {
        if bins[b].cast > bins[peak].cast {
            peak = b;
        }
    }
    let pk = bins[peak].clone();
    let c = if pk.cast > 0 {
        pk.leader as f64 / pk.cast as f64
    } else {
        0.0
    };
    // Leader votes per other vote in clean conditions; undefined if the peak is all leader.
    let ratio = if pk.others > 0 {
        pk.leader as f64 / pk.others as f64
    } else {
        0.0
    };
    let mut anomalous = 0.0;
    for (b, bin) in bins.iter_mut().enumerate() {
        if b <= peak || pk.others == 0 {
            bin.expected_leader = bin.leader as f64;
        } else {
            bin.expected_leader = ratio * bin.others as f64;
            anomalous += bin.leader as f64 - bin.expected_leader;
        }
    }
    let leader_votes: u64 = bins.iter().map(|b| b.leader).sum();
    let cast: u64 = bins.iter().map(|b| b.cast).sum();
    Shpilkin {
        peak_turnout: peak as f64,
        official_turnout: pct(sum_g as f64, sum_v as f64),
        clean_share: 100.0 * c,
        anomalous_votes: anomalous,
        anomalous_percent_of_leader: pct(anomalous, leader_votes as f64),
        leader_share: pct(leader_votes as f64, cast as f64),
        corrected_share: pct(leader_votes as f64 - anomalous, cast as f64 - anomalous),
        leader_votes,
        bins,
    }
}

impl Shpilkin {
    pub fn reading(&self) -> Reading {
        let finding = if self.anomalous_votes > 0.0 {
            format!(
                "Most ballots were cast at stations with about {:.0} % turnout, where the leader got \
                 {:.1} %. At higher-turnout stations the leader got more votes than that ratio to \
                 the other options predicts: about {:.2} million extra votes ({:.1} % of the \
                 leader's votes). Without them the leader's share would be about {:.1} % instead \
                 of {:.1} %.",
                self.peak_turnout,
                self.clean_share,
                self.anomalous_votes / 1e6,
                self.anomalous_percent_of_leader,
                self.corrected_share,
                self.leader_share
            )
        } else {
            format!(
                "Most ballots were cast at stations with about {:.0} % turnout, where the leader got \
                 {:.1} %; stations with higher turnout do not give the leader more than that ratio \
                 predicts, so Shpilkin's method finds no anomalous votes.",
                self.peak_turnout, self.clean_share
            )
        };
        Reading {
            test: "Shpilkin's estimate of anomalous votes",
            finding,
            caveat: "The estimate assumes that without fraud the leader's share would not rise with \
                     turnout. Where high turnout and support for the leader go together for honest \
                     reasons (some regions, rural areas, closed institutions) part of the \"anomalous\" \
                     votes are real ones. It is an order of magnitude for how many votes behave \
                     unlike the rest, not a count of stolen votes."
                .to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributions::synthetic_election;
    use proptest::prelude::*;

    fn build(rows: &[(u32, u32, u32, u32)]) -> Election {
        crate::election::two_option(rows)
    }

    #[test]
    fn hand_computed_estimate() {
        // Two big clean stations at 50 % with the leader at 40 %, one stuffed station at 90 %.
        let e = build(&[
            (1000, 500, 500, 200),
            (1000, 505, 505, 202),
            (1000, 900, 900, 660),
            (100, 30, 30, 12),
        ]);
        let s = shpilkin(&e);
        assert_eq!(s.peak_turnout, 50.0);
        assert!((s.clean_share - 40.0).abs() < 1e-9);
        // Others at 90 %: 240; expected leader 240 · 0.4/0.6 = 160; anomalous 660 − 160 = 500.
        assert!(
            (s.anomalous_votes - 500.0).abs() < 1e-9,
            "{}",
            s.anomalous_votes
        );
        assert_eq!(s.bins[90].leader, 660);
        assert!((s.bins[90].expected_leader - 160.0).abs() < 1e-9);
        assert_eq!(s.bins[30].expected_leader, 12.0);
        assert!(s.reading().finding.contains("0.00 million"));
        // corrected share: (1074 − 500)/(1935 − 500)
        assert!((s.corrected_share - 100.0 * 574.0 / 1435.0).abs() < 1e-9);
    }

    #[test]
    fn the_peak_is_at_or_below_official_turnout() {
        // The most-voted bin is at 95 %, above the official turnout: it cannot be the peak.
        let e = build(&[
            (10_000, 9_500, 9_500, 9_000),
            (8_000, 3_200, 3_200, 1_600),
            (100, 20, 20, 10),
        ]);
        let s = shpilkin(&e);
        assert!(s.official_turnout < 95.0);
        assert_eq!(s.peak_turnout, 40.0);
        assert!((s.clean_share - 50.0).abs() < 1e-9);
        assert!((s.anomalous_votes - (9_000.0 - 500.0)).abs() < 1e-9);
    }

    #[test]
    fn a_clean_election_has_few_anomalous_votes() {
        let e = synthetic_election(5, 20_000);
        let s = shpilkin(&e);
        assert!(
            s.anomalous_percent_of_leader.abs() < 5.0,
            "{}",
            s.anomalous_percent_of_leader
        );
        assert!(shpilkin(&build(&[])).anomalous_votes == 0.0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        #[test]
        fn bins_add_up_and_order_does_not_matter(seed in any::<u64>(), n in 1usize..300) {
            let e = synthetic_election(seed, n);
            let s = shpilkin(&e);
            let l: u64 = e.leader_votes().iter().map(|&x| u64::from(x)).sum();
            prop_assert_eq!(s.leader_votes, l);
            prop_assert_eq!(s.bins.iter().map(|b| b.stations).sum::<u64>(), n as u64);
            prop_assert!(s.peak_turnout <= s.official_turnout);
            let order: Vec<usize> = (0..n).rev().collect();
            prop_assert_eq!(s, shpilkin(&e.permuted(&order)));
        }
    }
}
