//! The whole suite in one call: every test on one election, with its plain-words readings.
//! `talaka analyze` serialises [`Analysis`] as the report's JSON; its field names are a
//! contract (see the issue and `talaka-report`).

use crate::digits::{DigitTests, digit_tests};
use crate::distributions::{Distributions, distributions};
use crate::election::Election;
use crate::integer::{IntegerOptions, IntegerTest, integer_test};
use crate::klimek::{KlimekFit, fit};
use crate::reading::Reading;
use crate::shpilkin::{Shpilkin, shpilkin};
use crate::sobyanin::{Sobyanin, sobyanin};

/// What to run and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct AnalyzeOptions {
    /// Monte Carlo replicates for the integer-percentage test (0 skips the Monte Carlo).
    pub mc_replicates: u32,
    /// Seed for every random draw: the same seed gives the same report.
    pub seed: u64,
    /// Fit the Klimek et al. fraud model (the slowest part).
    pub klimek: bool,
    /// Worker threads; results do not depend on it.
    #[serde(skip)]
    pub threads: usize,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        Self {
            mc_replicates: 1000,
            seed: 1,
            klimek: true,
            threads: 2,
        }
    }
}

/// One option's national total.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OptionTotal {
    pub name: String,
    pub votes: u64,
    /// Percent of ballots cast.
    pub share: f64,
}

/// Every test's result for one election.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Analysis {
    pub election: String,
    pub leader: String,
    pub stations: usize,
    /// Σ V.
    pub registered: u64,
    /// Σ G / Σ V, percent.
    pub turnout: f64,
    /// Σ L / Σ R, percent.
    pub leader_share: f64,
    pub options: Vec<OptionTotal>,
    pub parameters: AnalyzeOptions,
    pub distributions: Distributions,
    pub integer_test: IntegerTest,
    /// `benford2` (the leader's), `benford2_by_option`, `last_digit`, `zero_five`.
    #[serde(flatten)]
    pub digits: DigitTests,
    pub shpilkin: Shpilkin,
    pub sobyanin: Sobyanin,
    /// Absent when not requested.
    pub klimek: Option<KlimekFit>,
    /// Each test's finding and caveat in plain words, in report order.
    pub readings: Vec<Reading>,
}

/// Run the whole suite.
pub fn analyze(e: &Election, opts: &AnalyzeOptions) -> Analysis {
    let threads = opts.threads.max(1);
    let distributions = distributions(e);
    let integer_test = integer_test(
        e,
        &IntegerOptions {
            replicates: opts.mc_replicates,
            seed: opts.seed,
            threads,
        },
    );
    let digits = digit_tests(e);
    let shpilkin = shpilkin(e);
    let sobyanin = sobyanin(e);
    let klimek = opts.klimek.then(|| fit(e, opts.seed));

    let mut readings = vec![distributions.reading(), integer_test.reading()];
    readings.extend(digits.readings(e.leader));
    readings.push(shpilkin.reading());
    readings.push(sobyanin.reading());
    if let Some(k) = &klimek {
        readings.push(k.reading());
    }

    let cast: u64 = e.cast.iter().map(|&v| u64::from(v)).sum();
    let options = e
        .options
        .iter()
        .zip(&e.votes)
        .map(|(name, col)| {
            let votes: u64 = col.iter().map(|&v| u64::from(v)).sum();
            OptionTotal {
                name: name.clone(),
                votes,
                share: if cast == 0 {
                    0.0
                } else {
                    100.0 * votes as f64 / cast as f64
                },
            }
        })
        .collect();

    Analysis {
        election: e.name.clone(),
        leader: e.leader_name().to_owned(),
        stations: e.len(),
        registered: e.total_registered(),
        turnout: 100.0 * e.turnout(),
        leader_share: 100.0 * e.share(e.leader),
        options,
        parameters: AnalyzeOptions { threads, ..*opts },
        distributions,
        integer_test,
        digits,
        shpilkin,
        sobyanin,
        klimek,
        readings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::klimek::{KlimekParams, simulate};

    fn synthetic() -> Election {
        let registered: Vec<u32> = (0..3000).map(|i| 500 + (i * 37 % 2000) as u32).collect();
        let params = KlimekParams {
            tau: 0.55,
            nu: 0.45,
            sigma_tau: 0.08,
            sigma_nu: 0.07,
            theta: 0.0,
            f_i: 0.1,
            f_e: 0.01,
            alpha: 2.0,
        };
        simulate(&params, &registered, 7)
    }

    #[test]
    fn the_json_has_the_contract_fields() {
        let e = synthetic();
        let a = analyze(
            &e,
            &AnalyzeOptions {
                mc_replicates: 200,
                ..AnalyzeOptions::default()
            },
        );
        let v = serde_json::to_value(&a).expect("serialise");
        for key in ["stations", "registered", "turnout", "leader_share"] {
            assert!(v[key].is_number(), "{key}");
        }
        for key in [
            "filtered",
            "observed",
            "null_mean",
            "null_p999",
            "excess",
            "p_value",
        ] {
            assert!(v["integer_test"][key].is_number(), "integer_test.{key}");
        }
        for key in ["n", "mean", "chi2"] {
            assert!(v["benford2"][key].is_number(), "benford2.{key}");
        }
        for key in ["peak_turnout", "clean_share", "anomalous_votes"] {
            assert!(v["shpilkin"][key].is_number(), "shpilkin.{key}");
        }
        for key in ["f_i", "f_e", "alpha"] {
            assert!(v["klimek"][key].is_number(), "klimek.{key}");
        }
        assert_eq!(v["stations"], 3000);
        assert!(
            a.readings
                .iter()
                .all(|r| !r.finding.is_empty() && !r.caveat.is_empty())
        );
    }

    #[test]
    fn same_seed_same_result_and_threads_do_not_matter() {
        let e = synthetic();
        let o = AnalyzeOptions {
            mc_replicates: 100,
            ..AnalyzeOptions::default()
        };
        let a = serde_json::to_value(analyze(&e, &o)).expect("json");
        let b =
            serde_json::to_value(analyze(&e, &AnalyzeOptions { threads: 1, ..o })).expect("json");
        let c = serde_json::to_value(analyze(&e, &o)).expect("json");
        assert_eq!(a, c, "same seed, same result");
        for (key, value) in a.as_object().expect("object") {
            if key != "parameters" {
                assert_eq!(value, &b[key], "{key} depends on the number of threads");
            }
        }
    }
}
