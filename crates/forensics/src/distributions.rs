//! Distributions: how stations (and voters) spread over turnout and over each option's share,
//! and the two-dimensional turnout × leader-share "fingerprint" of Klimek et al. (PNAS 2012).
//!
//! Binning is done in exact integer arithmetic (bin = ⌊bins · numerator / denominator⌋), so a
//! station at exactly 57 % turnout falls into the 57 % bin, never into 56 % through a rounding
//! error. Values of 100 % and above (possible: more ballots issued than voters on the list at
//! some special stations) go into the last bin and are counted in `clipped`.
//!
//! Weights ("by voters"):
//! - turnout histograms: a station weighs its registered voters V (only stations with V > 0),
//!   so the weighted histogram says how many voters were registered at stations of each turnout;
//! - share histograms: a station weighs its ballots cast R (only stations with R > 0), the
//!   denominator of the share, so the R-weighted mean share equals the overall share;
//! - the fingerprint: a station weighs its registered voters V (stations with V > 0 and R > 0).

use crate::election::Election;
use crate::reading::Reading;

/// 1 % bins: the default histogram resolution.
pub const COARSE_BINS: usize = 100;
/// 0.1 % bins: fine enough to see peaks at whole percentages.
pub const FINE_BINS: usize = 1000;
/// The fingerprint grid is `FINGERPRINT_BINS × FINGERPRINT_BINS` (1 % × 1 %).
pub const FINGERPRINT_BINS: usize = 100;

/// One histogram of a percentage over `[0, 100]`: bin `i` covers
/// `[i·bin_width, (i+1)·bin_width)` percent, the last bin also takes 100 % and above.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Histogram {
    /// Bin width in percentage points (1.0 or 0.1).
    pub bin_width: f64,
    /// Stations per bin.
    pub by_stations: Vec<u64>,
    /// Voters per bin (registered voters for turnout, ballots cast for shares).
    pub by_voters: Vec<u64>,
    /// Σ by_stations: the stations that entered the histogram.
    pub stations: u64,
    /// Σ by_voters.
    pub voters: u64,
    /// Stations at 100 % or above, counted in the last bin.
    pub clipped: u64,
}

impl Histogram {
    fn new(bins: usize) -> Self {
        Self {
            bin_width: 100.0 / bins as f64,
            by_stations: vec![0; bins],
            by_voters: vec![0; bins],
            stations: 0,
            voters: 0,
            clipped: 0,
        }
    }

    #[inline]
    fn add(&mut self, num: u32, den: u32, weight: u32) {
        let bins = self.by_stations.len() as u64;
        let raw = bins * u64::from(num) / u64::from(den);
        let bin = if raw >= bins {
            self.clipped += 1;
            bins - 1
        } else {
            raw
        } as usize;
        self.by_stations[bin] += 1;
        self.by_voters[bin] += u64::from(weight);
        self.stations += 1;
        self.voters += u64::from(weight);
    }

    /// The number of bins.
    pub fn bins(&self) -> usize {
        self.by_stations.len()
    }

    /// The lower edge of bin `i`, in percent.
    pub fn lower_edge(&self, i: usize) -> f64 {
        i as f64 * self.bin_width
    }
}

/// One option's share histogram.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OptionShare {
    pub option: String,
    pub histogram: Histogram,
}

/// The 2-D turnout × leader-share histogram: `by_stations[t * share_bins + s]` counts the
/// stations with turnout in bin `t` and leader share in bin `s` (1 % bins each).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Fingerprint {
    pub turnout_bins: usize,
    pub share_bins: usize,
    /// Row-major by turnout: index `t * share_bins + s`.
    pub by_stations: Vec<u64>,
    /// The same grid weighted by registered voters.
    pub by_voters: Vec<u64>,
    pub stations: u64,
    pub voters: u64,
}

impl Fingerprint {
    /// Stations in turnout bin `t`, leader-share bin `s`.
    pub fn stations_at(&self, t: usize, s: usize) -> u64 {
        self.by_stations[t * self.share_bins + s]
    }

    /// Registered voters in turnout bin `t`, leader-share bin `s`.
    pub fn voters_at(&self, t: usize, s: usize) -> u64 {
        self.by_voters[t * self.share_bins + s]
    }
}

/// All the distributions of one election.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Distributions {
    /// Turnout G/V in 1 % bins.
    pub turnout: Histogram,
    /// The leader's share L/R in 1 % bins.
    pub leader_share: Histogram,
    /// Every option's share (the leader included, in the election's option order), 1 % bins.
    pub option_shares: Vec<OptionShare>,
    /// Turnout in 0.1 % bins (peaks at whole percentages show here).
    pub turnout_fine: Histogram,
    /// The leader's share in 0.1 % bins.
    pub leader_share_fine: Histogram,
    pub fingerprint: Fingerprint,
}

#[inline]
fn bin_of(num: u32, den: u32, bins: usize) -> usize {
    let b = bins as u64 * u64::from(num) / u64::from(den);
    (b as usize).min(bins - 1)
}

/// Computes every histogram and the fingerprint in one pass per column.
pub fn distributions(e: &Election) -> Distributions {
    let mut turnout = Histogram::new(COARSE_BINS);
    let mut turnout_fine = Histogram::new(FINE_BINS);
    for (&v, &g) in e.registered.iter().zip(&e.issued) {
        if v > 0 {
            turnout.add(g, v, v);
            turnout_fine.add(g, v, v);
        }
    }

    let share_hist = |col: &[u32], bins: usize| {
        let mut h = Histogram::new(bins);
        for (&x, &r) in col.iter().zip(&e.cast) {
            if r > 0 {
                h.add(x, r, r);
            }
        }
        h
    };
    let leader = e.leader_votes();
    let option_shares: Vec<OptionShare> = e
        .options
        .iter()
        .zip(&e.votes)
        .map(|(name, col)| OptionShare {
            option: name.clone(),
            histogram: share_hist(col, COARSE_BINS),
        })
        .collect();
    let leader_share = option_shares[e.leader].histogram.clone();
    let leader_share_fine = share_hist(leader, FINE_BINS);

    let n = FINGERPRINT_BINS;
    let mut fingerprint = Fingerprint {
        turnout_bins: n,
        share_bins: n,
        by_stations: vec![0; n * n],
        by_voters: vec![0; n * n],
        stations: 0,
        voters: 0,
    };
    let rows = e.registered.iter().zip(&e.issued).zip(&e.cast);
    for (((&v, &g), &r), &l) in rows.zip(leader) {
        if v == 0 || r == 0 {
            continue;
        }
        let idx = bin_of(g, v, n) * n + bin_of(l, r, n);
        fingerprint.by_stations[idx] += 1;
        fingerprint.by_voters[idx] += u64::from(v);
        fingerprint.stations += 1;
        fingerprint.voters += u64::from(v);
    }

    Distributions {
        turnout,
        leader_share,
        option_shares,
        turnout_fine,
        leader_share_fine,
        fingerprint,
    }
}

impl Distributions {
    /// Plain words for the distributions.
    pub fn reading(&self) -> Reading {
        let mode = |h: &Histogram| {
            let (i, _) = h
                .by_voters
                .iter()
                .enumerate()
                .max_by_key(|&(i, &c)| (c, std::cmp::Reverse(i)))
                .unwrap_or((0, &0));
            h.lower_edge(i)
        };
        let high = |h: &Histogram, from: usize| -> f64 {
            let above: u64 = h.by_voters[from.min(h.bins())..].iter().sum();
            if h.voters == 0 {
                0.0
            } else {
                100.0 * above as f64 / h.voters as f64
            }
        };
        let t_mode = mode(&self.turnout);
        let s_mode = mode(&self.leader_share);
        let t90 = high(&self.turnout, 90);
        Reading {
            test: "Distributions of turnout and vote shares",
            finding: format!(
                "Most voters were registered at stations with turnout around {t_mode:.0}–{:.0} %, and \
                 most ballots were cast at stations where the leader got about {s_mode:.0}–{:.0} %. \
                 {t90:.1} % of registered voters were at stations reporting 90 % turnout or more. \
                 In a clean election both histograms are usually single smooth bumps; a second peak \
                 near 100 % turnout and 100 % leader share, or a streak joining the two in the \
                 turnout × leader-share picture, is the pattern ballot stuffing and rewritten \
                 protocols leave.",
                t_mode + 1.0,
                s_mode + 1.0
            ),
            caveat: "The shape of a distribution is a hint, not a proof: some places genuinely vote \
                     together and in large numbers (closed institutions, small tight-knit \
                     communities, regions with a strong local preference), and mixing regions with \
                     different habits can produce several peaks without any fraud. Look at where the \
                     unusual stations are, and check their protocols."
                .to_owned(),
        }
    }
}

/// Synthetic elections for tests: `n` stations with plausible, noisy turnout and shares.
#[cfg(test)]
pub(crate) fn synthetic_election(seed: u64, n: usize) -> Election {
    use crate::election::{ElectionBuilder, Station};
    use crate::rng::Rng;
    let mut rng = Rng::new(seed);
    let mut b = ElectionBuilder::new(
        "synthetic",
        vec!["Leader".into(), "Second".into(), "Third".into()],
        0,
        vec!["Region".into()],
    )
    .expect("three options")
    .with_capacity(n);
    for i in 0..n {
        let v = 50 + (rng.f64() * 2950.0) as u32;
        let t = (0.55 + 0.12 * rng.normal()).clamp(0.05, 1.0);
        let g = rng.binomial(v, t);
        let invalid = rng.binomial(g, 0.01);
        let r = g - invalid;
        let s = (0.5 + 0.1 * rng.normal()).clamp(0.0, 1.0);
        let l = rng.binomial(r, s);
        let second = rng.binomial(r - l, 0.6);
        let third = r - l - second;
        b.push(Station {
            label: format!("station {i}"),
            region: 0,
            registered: v,
            issued: g,
            cast: r + invalid,
            votes: vec![l, second, third],
        })
        .expect("three votes");
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tiny(rows: &[(u32, u32, u32, u32)]) -> Election {
        crate::election::two_option(rows)
    }

    #[test]
    fn exact_bin_edges() {
        // 57/100 is 0.56999… in floating point; the integer rule puts it in the 57 % bin.
        let e = tiny(&[
            (100, 57, 57, 57),
            (1000, 1000, 1000, 0),
            (100, 120, 100, 100),
        ]);
        let d = distributions(&e);
        assert_eq!(d.turnout.by_stations[57], 1);
        assert_eq!(
            d.turnout.by_stations[99], 2,
            "100 % and 120 % go to the last bin"
        );
        assert_eq!(d.turnout.clipped, 2);
        assert_eq!(d.turnout.by_voters[99], 1100);
        assert_eq!(d.turnout_fine.by_stations[570], 1);
        assert_eq!(d.leader_share.by_stations[99], 2);
        assert_eq!(d.leader_share.by_stations[0], 1);
        assert_eq!(d.option_shares[1].histogram.by_stations[99], 1);
        assert_eq!(d.fingerprint.stations_at(57, 99), 1);
        assert_eq!(d.fingerprint.voters_at(99, 0), 1000);
    }

    #[test]
    fn empty_stations_are_left_out() {
        let e = tiny(&[(0, 0, 0, 0), (100, 0, 0, 0), (100, 50, 50, 25)]);
        let d = distributions(&e);
        assert_eq!(d.turnout.stations, 2);
        assert_eq!(d.leader_share.stations, 1);
        assert_eq!(d.fingerprint.stations, 1);
        assert_eq!(d.turnout.by_stations[0], 1);
    }

    #[test]
    fn reading_names_the_peak() {
        let e = tiny(&[
            (1000, 730, 700, 280),
            (200, 190, 190, 190),
            (1000, 735, 730, 295),
        ]);
        let r = distributions(&e).reading();
        assert!(
            r.finding.contains("turnout around 73–74 %"),
            "{}",
            r.finding
        );
        assert!(
            r.finding.contains("leader got about 40–41 %"),
            "{}",
            r.finding
        );
        assert!(
            r.finding.contains("9.1 % of registered voters"),
            "{}",
            r.finding
        );
        assert!(r.caveat.contains("not a proof"));
    }

    #[test]
    fn empty_election_and_json_names() {
        let e = synthetic_election(1, 0);
        let d = distributions(&e);
        assert_eq!(d.turnout.stations, 0);
        assert_eq!(d.fingerprint.stations, 0);
        assert!(!d.reading().finding.is_empty());
        let digits = crate::digits::digit_tests(&e);
        assert_eq!(digits.benford2.n, 0);
        assert_eq!(digits.benford2.p_value, 1.0);
        assert_eq!(crate::sobyanin::sobyanin(&e).slope, 0.0);
        let j = serde_json::to_value(distributions(&synthetic_election(2, 30))).expect("json");
        for k in [
            "turnout",
            "leader_share",
            "turnout_fine",
            "leader_share_fine",
        ] {
            let bins = j[k]["by_stations"].as_array().map(Vec::len);
            assert!(matches!(bins, Some(100 | 1000)), "{k}: {bins:?}");
            assert!(j[k]["by_voters"].is_array(), "{k}");
        }
        assert_eq!(j["option_shares"][1]["option"], "Second");
        assert_eq!(
            j["fingerprint"]["by_stations"].as_array().map(Vec::len),
            Some(10_000)
        );
    }

    fn check_totals(h: &Histogram) {
        assert_eq!(h.by_stations.iter().sum::<u64>(), h.stations);
        assert_eq!(h.by_voters.iter().sum::<u64>(), h.voters);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn histograms_sum_to_their_totals(seed in any::<u64>(), n in 1usize..400) {
            let e = synthetic_election(seed, n);
            let d = distributions(&e);
            for h in [&d.turnout, &d.leader_share, &d.turnout_fine, &d.leader_share_fine] {
                check_totals(h);
            }
            for o in &d.option_shares {
                check_totals(&o.histogram);
            }
            let with_v = e.registered.iter().filter(|&&v| v > 0).count() as u64;
            prop_assert_eq!(d.turnout.stations, with_v);
            prop_assert_eq!(d.turnout.voters, e.total_registered());
            let cast: u64 = e.cast.iter().map(|&r| u64::from(r)).sum();
            prop_assert_eq!(d.leader_share.voters, cast);
            // The fine histogram refines the coarse one: ten fine bins make one coarse bin.
            for i in 0..COARSE_BINS {
                let fine: u64 = d.turnout_fine.by_stations[10 * i..10 * i + 10].iter().sum();
                prop_assert_eq!(fine, d.turnout.by_stations[i]);
            }
            prop_assert_eq!(d.fingerprint.by_stations.iter().sum::<u64>(), d.fingerprint.stations);
            prop_assert_eq!(d.fingerprint.by_voters.iter().sum::<u64>(), d.fingerprint.voters);
            // The fingerprint's margin over shares is the turnout histogram (all stations here have R > 0 or not).
            let row_sum = |t: usize| (0..FINGERPRINT_BINS).map(|s| d.fingerprint.stations_at(t, s)).sum::<u64>();
            if e.cast.iter().all(|&r| r > 0) {
                for t in 0..FINGERPRINT_BINS {
                    prop_assert_eq!(row_sum(t), d.turnout.by_stations[t]);
                }
            }
        }

        #[test]
        fn station_order_does_not_matter(seed in any::<u64>(), n in 1usize..300, rot in any::<usize>()) {
            let e = synthetic_election(seed, n);
            let mut order: Vec<usize> = (0..n).rev().collect();
            order.rotate_left(rot % n);
            prop_assert_eq!(distributions(&e), distributions(&e.permuted(&order)));
        }
    }
}
