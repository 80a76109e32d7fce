//! The election-fraud model of Klimek, Yegorov, Hanel & Thurner, "Statistical detection of
//! systematic election irregularities", PNAS 109(41), 2012: a simulator of fair and falsified
//! polling-station results, and a fit of its fraud parameters to an observed election.
//!
//! # The model
//! Each station (the paper's "unit") `i` has the electorate `N_i` of the observed station
//! (registered voters V). Without fraud its turnout `a_i` and the leader's share `v_i` are drawn
//! independently from normal distributions `N(τ, σ_τ)` and `N(ν, σ_ν)`, truncated to [0, 1]
//! (the authors' code redraws values outside [0, 1]; we draw from the truncated distribution by
//! inversion, which is the same distribution). The station then has `round(N_i a_i)` voters,
//! of whom `round(voters · v_i)` vote for the leader and the rest for the others.
//!
//! Fraud acts on whole stations. With probability `f_i` a station has **incremental fraud**, with
//! probability `f_e` **extreme fraud**, otherwise none. A falsified station gets an intensity
//! `x_i` and then
//! - ballot stuffing: `floor(x_i · non-voters)` ballots for the leader are added (turnout rises);
//! - vote stealing ("deliberate wrong counting"): `round(x_i^α · others' votes)` of the other
//!   options' votes are counted for the leader instead.
//!
//! For incremental fraud `x_i ~ |N(0, θ)|`, truncated to [0, 1): most falsified stations get a
//! little, a few a lot. For extreme fraud `x_i = 1 − |N(0, 0.075)|` ([`EXTREME_SPREAD`], the
//! value in the authors' code): almost all non-voters "vote" for the leader and almost all
//! opponents' votes go to the leader, the cluster at 100 % turnout and 100 % share.
//! The exponent `α` ties the two mechanisms: `α < 1` means relatively more stealing than
//! stuffing, large `α` almost pure stuffing.
//!
//! # The fit ([`fit`])
//! Only stations with at least one registered voter and one ballot cast enter. The observed
//! turnout is t = G/V and the leader's share s = L/R.
//! 1. **Baseline** ([`estimate_baseline`]): as in the paper, τ and ν are the positions of the main
//!    peaks of the turnout and share distributions, and the spreads come from the side of each
//!    peak that fraud does not reach (fraud only raises turnout and share, so the left flank is
//!    the fair part). Our estimator: a 1 %-bin histogram smoothed with a Gaussian kernel
//!    (s.d. 2 bins); the peak is the highest smoothed bin with a value in [0.02, 0.95) — the
//!    upper limit keeps the pile of stations at 100 % out of the search — refined by a parabola
//!    through the three top bins. σ is estimated from the stations below the peak as a
//!    half-normal: σ = median(peak − x) / 0.6745, robust to a few stations with very low
//!    values.
//! 2. **Distance**: the stations are binned on a [`HIST_BINS`] × [`HIST_BINS`] grid of turnout ×
//!    leader share (the paper's "fingerprint", 2 % bins; a simulated station without voters
//!    falls in one extra cell the observed data never use), observed and simulated histograms
//!    are normalised, and their distance is the symmetric χ² (triangular discrimination)
//!    `Δ = Σ (p − q)² / (p + q)`, between 0 (identical) and 2 (disjoint). Unlike a plain L2
//!    distance it weighs sparse cells, such as the fraud tail, by their relative mismatch.
//!    Even the true model does not reach 0: two simulations of 60,000 stations with different
//!    random numbers are about 0.011 apart.
//! 3. **Search**, every candidate scored by Δ:
//!    - a coarse grid over θ, α, `f_i` (steps of 0.05) and `f_e` on the peak baseline;
//!    - a pattern search (Hooke–Jeeves) over the baseline, θ and α together, with `f_i` and
//!      `f_e` re-fitted on a small grid around their current values at every point: when many
//!      stations are falsified a little, the observed peaks move away from the fair
//!      distribution's, and keeping the peak estimates would make the fit understate `f_i`
//!      (on simulated data, by half). The refined baseline is the one reported; the peak
//!      estimates are reported too, as `peaks`;
//!    - a fine grid of `f_i` (steps of 0.005) and `f_e` at the final point.
//!
//!    The first two steps simulate at most about 50,000 stations (every k-th of a larger
//!    election), which halves the time for a national election; the last step and the reported
//!    distances use all stations. All candidates use the same random numbers (common random numbers): the
//!    distance surface is smooth in the parameters and the fit is reproducible from its seed.
//!
//!    θ: the paper takes it from the data's share distribution; we fit it with the other fraud
//!    parameters (estimated from the data either way), because the share's right flank mixes
//!    fair spread and fraud. θ is kept at or above max(σ_ν, 0.02): fraud smaller than the fair
//!    spread of the share cannot be told apart from no fraud, and without this floor `f_i`
//!    would be meaningless (any `f_i` with θ → 0 is the fair model). θ is kept at or below 0.5,
//!    so that incremental fraud stays mostly small and distinct from extreme fraud.
//! 4. **Comparison**: the model without fraud (`f_i = f_e = 0`) gets its own baseline by the
//!    same pattern search, and its distance is reported next to the fitted model's.
//! 5. **Chance**: the noise floor is Δ between two simulations of the fitted model with
//!    independent random numbers, what chance leaves even for a perfect model. With four more
//!    parameters the fraud model always fits chance a little better (on fair simulated
//!    elections by up to about 0.1 of the noise floor; fraud at 10 % of stations or extreme
//!    fraud at 0.5 % gains 0.25–0.5 of it), so it is reported only if it beats the model
//!    without fraud by more than 0.2 of the noise floor; otherwise the fit reports the model
//!    without fraud.
//!
//! Cost: for 95,000 stations about 0.5 s of processor time, 0.3 s on two threads (release). The results do not
//! depend on the number of threads: random numbers come from per-chunk streams with a fixed
//! chunking, and ties between candidates go to the first in a fixed order.
//!
//! The model's honest-election assumptions (independent, bell-shaped turnout and share) are
//! strong; see [`KlimekFit::reading`].

use std::sync::{Arc, Mutex};

use crate::election::Election;
use crate::reading::Reading;
use crate::rng::Rng;
use crate::special::normal_cdf;

/// Spread of `1 − x_i` for extreme fraud (the authors' code: `1 − |N(0, 0.075)|`).
pub const EXTREME_SPREAD: f64 = 0.075;
/// Bins per axis of the turnout × share histogram the fit compares (2 % bins).
pub const HIST_BINS: usize = 50;
/// Stations per random stream: the draws for station `i` come from `Rng::stream(seed, i / CHUNK)`,
/// so they do not depend on the number of threads.
const CHUNK: usize = 4096;
const THREADS: usize = 2;
/// Lowest θ the fit considers (see the module documentation).
const THETA_FLOOR: f64 = 0.02;
/// The cell of a station without voters: the one after the turnout × share grid.
const NO_BIN: u32 = (HIST_BINS * HIST_BINS) as u32;

/// The model's parameters. All are fractions (0–1), as in the paper, not percentages.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KlimekParams {
    /// τ: the fair turnout, the mean of the stations' turnout without fraud.
    pub tau: f64,
    /// ν: the leader's fair share, the mean of the stations' leader share without fraud.
    pub nu: f64,
    /// σ_τ: the standard deviation of the fair turnout across stations.
    pub sigma_tau: f64,
    /// σ_ν: the standard deviation of the fair leader share across stations.
    pub sigma_nu: f64,
    /// θ: the spread of the incremental-fraud intensity, `x_i ~ |N(0, θ)|` truncated to [0, 1).
    pub theta: f64,
    /// f_i: the probability that a station has incremental fraud.
    pub f_i: f64,
    /// f_e: the probability that a station has extreme fraud (`f_i + f_e ≤ 1`).
    pub f_e: f64,
    /// α: a falsified station moves the fraction `x_i^α` of the other options' votes to the
    /// leader, besides stuffing the fraction `x_i` of the non-voters' ballots. Positive.
    pub alpha: f64,
}

impl KlimekParams {
    /// A fair election: no fraud, with the given turnout and share distributions.
    pub fn fair(tau: f64, nu: f64, sigma_tau: f64, sigma_nu: f64) -> Self {
        Self {
            tau,
            nu,
            sigma_tau,
            sigma_nu,
            theta: 0.0,
            f_i: 0.0,
            f_e: 0.0,
            alpha: 1.0,
        }
    }

    /// The parameters made usable: means clamped to [0, 1], spreads and θ non-negative,
    /// `f_i` in [0, 1] and `f_e` in [0, 1 − f_i], α positive (1 if it is not); NaN counts as 0
    /// (as 0.5 for the means).
    pub fn sanitized(&self) -> Self {
        let unit = |x: f64, nan: f64| if x.is_nan() { nan } else { x.clamp(0.0, 1.0) };
        let nonneg = |x: f64| if x.is_nan() { 0.0 } else { x.max(0.0) };
        let f_i = unit(self.f_i, 0.0);
        Self {
            tau: unit(self.tau, 0.5),
            nu: unit(self.nu, 0.5),
            sigma_tau: nonneg(self.sigma_tau),
            sigma_nu: nonneg(self.sigma_nu),
            theta: nonneg(self.theta),
            f_i,
            f_e: unit(self.f_e, 0.0).min(1.0 - f_i),
            alpha: if self.alpha > 0.0 && self.alpha.is_finite() {
                self.alpha
            } else {
                1.0
            },
        }
    }
}

/// The fair part of an election, estimated from the observed distributions (see the module
/// documentation for the estimator).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Baseline {
    /// τ: the main peak of the turnout distribution (fraction).
    pub tau: f64,
    /// ν: the main peak of the leader-share distribution (fraction).
    pub nu: f64,
    /// σ_τ: the spread of turnout below its peak, as a half-normal.
    pub sigma_tau: f64,
    /// σ_ν: the spread of the leader's share below its peak, as a half-normal.
    pub sigma_nu: f64,
    /// Stations used: at least one registered voter and one ballot cast.
    pub stations: usize,
}

/// The fitted model and how well it fits.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KlimekFit {
    /// The best-fitting parameters; serialised at the top level (`tau`, `nu`, `sigma_tau`,
    /// `sigma_nu`, `theta`, `f_i`, `f_e`, `alpha`).
    #[serde(flatten)]
    pub params: KlimekParams,
    /// Δ, the distance between the observed and the fitted model's turnout × share histograms
    /// (symmetric χ², 0 = identical, 2 = disjoint). Lower is better.
    pub fit_quality: f64,
    /// Δ for the same model without fraud (`f_i = f_e = 0`), for comparison.
    pub no_fraud_quality: f64,
    /// 1 − fit_quality / no_fraud_quality: how much of the fair model's misfit the fraud
    /// mechanisms remove (0 when the model without fraud is reported).
    pub improvement: f64,
    /// In the fitted model's simulation of this election: the leader's votes added by stuffing
    /// and stealing, as a fraction of the leader's simulated votes. A property of the model,
    /// not a count of falsified votes.
    pub fraud_vote_fraction: f64,
    /// Stations used in the fit.
    pub stations: usize,
    /// Parameter sets evaluated (coarse and fine grid).
    pub grid_points: usize,
    /// Bins per axis of the compared histograms.
    pub bins: usize,
    /// The seed of the simulation's random numbers.
    pub seed: u64,
    /// The baseline read off the observed peaks, where the fit started (see
    /// [`estimate_baseline`]); `params` holds the refined one.
    pub peaks: Baseline,
    /// Δ between two simulations of the fitted model with independent random numbers: the
    /// distance that chance alone leaves even for a perfect model, to read the other two by.
    pub noise_floor: f64,
    /// Whether the model with fraud fits better than the one without by more than chance
    /// (`no_fraud_quality − best fraud model's Δ > 0.2 · noise_floor`). When it does not, the
    /// fit reports the model without fraud: `f_i = f_e = 0`, `θ = 0`, `α = 1`, its own baseline,
    /// and `fit_quality = no_fraud_quality`.
    pub fraud_improves_fit: bool,
}

// ---------------------------------------------------------------------------------------------
// Random draws

/// Φ⁻¹(p) by Acklam's rational approximation (relative error below 1.2 · 10⁻⁹).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.024_25;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}

/// N(μ, σ) truncated to [lo, hi], sampled by inversion from one uniform: the same uniform gives
/// a value that moves smoothly with μ and σ (common random numbers).
#[derive(Debug, Clone, Copy)]
struct TruncNormal {
    mu: f64,
    sigma: f64,
    lo: f64,
    hi: f64,
    cdf_lo: f64,
    mass: f64,
}

impl TruncNormal {
    fn new(mu: f64, sigma: f64, lo: f64, hi: f64) -> Self {
        let (cdf_lo, mass) = if sigma > 0.0 {
            let a = normal_cdf((lo - mu) / sigma);
            (a, normal_cdf((hi - mu) / sigma) - a)
        } else {
            (0.0, 0.0)
        };
        Self {
            mu,
            sigma,
            lo,
            hi,
            cdf_lo,
            mass,
        }
    }

    /// [`Self::sample`] given also `z = Φ⁻¹(w)`: when the truncation removes a negligible mass
    /// (below 10⁻¹²), simply `μ + σz`, which saves the quantile when `z` is reused.
    #[inline]
    fn sample_z(&self, w: f64, z: f64) -> f64 {
        if self.cdf_lo < 1e-12 && self.cdf_lo + self.mass > 1.0 - 1e-12 {
            (self.mu + self.sigma * z).clamp(self.lo, self.hi)
        } else {
            self.sample(w)
        }
    }

    #[inline]
    fn sample(&self, w: f64) -> f64 {
        if self.mass > 1e-12 {
            (self.mu + self.sigma * normal_quantile(self.cdf_lo + w * self.mass))
                .clamp(self.lo, self.hi)
        } else {
            // No spread, or (almost) no mass inside the interval: the nearest point.
            self.mu.clamp(self.lo, self.hi)
        }
    }
}

/// Maps `f` over `items` on [`THREADS`] threads (item `i` on thread `i % THREADS`); the results
/// come back in order, so they do not depend on the number of threads.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() < 2 {
        return items.iter().map(&f).collect();
    }
    let f = &f;
    let mut out: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    items
                        .iter()
                        .enumerate()
                        .skip(t)
                        .step_by(THREADS)
                        .map(|(i, x)| (i, f(x)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (i, r) in h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)) {
                out[i] = Some(r);
            }
        }
    });
    out.into_iter().flatten().collect()
}

/// One station's five uniforms: fair turnout, fair share, fraud type, incremental and extreme
/// intensity.
#[derive(Debug, Clone, Copy)]
struct Draw {
    w_a: f64,
    w_v: f64,
    /// Incremental fraud if `u < f_i`, extreme if `f_i ≤ u < f_i + f_e`.
    u: f64,
    w_inc: f64,
    w_ext: f64,
}

/// The draws of `n` stations: station `i` from `Rng::stream(seed, i / CHUNK)`.
fn draw_all(n: usize, seed: u64) -> Vec<Draw> {
    let chunks: Vec<usize> = (0..n.div_ceil(CHUNK)).collect();
    par_map(&chunks, |&c| {
        let mut rng = Rng::stream(seed, c as u64);
        let len = CHUNK.min(n - c * CHUNK);
        (0..len)
            .map(|_| Draw {
                w_a: rng.f64_open(),
                w_v: rng.f64_open(),
                u: rng.f64(),
                w_inc: rng.f64_open(),
                w_ext: rng.f64_open(),
            })
            .collect::<Vec<_>>()
    })
    .concat()
}

/// The fair model's distributions of turnout and share.
#[derive(Debug, Clone, Copy)]
struct FairModel {
    turnout: TruncNormal,
    share: TruncNormal,
}

impl FairModel {
    fn new(tau: f64, nu: f64, sigma_tau: f64, sigma_nu: f64) -> Self {
        Self {
            turnout: TruncNormal::new(tau, sigma_tau, 0.0, 1.0),
            share: TruncNormal::new(nu, sigma_nu, 0.0, 1.0),
        }
    }

    /// A station's fair result, (voters, leader votes), from its turnout and share uniforms
    /// and their normal quantiles.
    #[inline]
    fn result(
        &self,
        registered: u32,
        (w_a, z_a): (f64, f64),
        (w_v, z_v): (f64, f64),
    ) -> (u32, u32) {
        let a = self.turnout.sample_z(w_a, z_a);
        let voters = round_u32(f64::from(registered) * a).min(registered);
        let v = self.share.sample_z(w_v, z_v);
        let leader = round_u32(f64::from(voters) * v).min(voters);
        (voters, leader)
    }
}

fn incremental_intensity(theta: f64) -> TruncNormal {
    TruncNormal::new(0.0, theta, 0.0, 1.0)
}

fn extreme_intensity(w_ext: f64) -> f64 {
    1.0 - TruncNormal::new(0.0, EXTREME_SPREAD, 0.0, 1.0).sample(w_ext)
}

/// The stolen fraction `x^α`, from `ln x` (0 when x = 0).
#[inline]
fn stolen_fraction(ln_x: f64, alpha: f64) -> f64 {
    (alpha * ln_x).exp()
}

/// A falsified station's result: `x` of the non-voters' ballots stuffed for the leader and
/// `y = x^α` of the others' votes counted for the leader. Returns (voters, leader votes).
#[inline]
fn falsify(registered: u32, voters: u32, leader: u32, x: f64, y: f64) -> (u32, u32) {
    let non_voters = registered - voters;
    let others = voters - leader;
    // `as` truncates: the floor of a non-negative number.
    let stuffed = ((x * f64::from(non_voters)) as u32).min(non_voters);
    let stolen = round_u32(y * f64::from(others)).min(others);
    (voters + stuffed, leader + stuffed + stolen)
}

/// `x` rounded to the nearest integer (halves up), for `x ≥ 0`; `as` saturates.
#[inline]
fn round_u32(x: f64) -> u32 {
    (x + 0.5) as u32
}

/// The histogram bin of the fraction `num / den` (`den > 0`): `⌊HIST_BINS · num / den⌋`, values
/// of 1 and above in the last bin. Exact in floating point: `HIST_BINS · num` is exact, the
/// division is correctly rounded, and a quotient that is not a whole number lies at least
/// `1 / den` from one, far more than the rounding error for any station size.
#[inline]
fn axis_bin(num: u32, den: u32) -> usize {
    ((f64::from(num) * HIST_BINS as f64 / f64::from(den)) as usize).min(HIST_BINS - 1)
}

/// The turnout × share cell of a station, or [`NO_BIN`] when it has no voters.
#[inline]
fn cell(registered: u32, voters: u32, leader: u32) -> u32 {
    if registered == 0 || voters == 0 {
        return NO_BIN;
    }
    (axis_bin(voters, registered) * HIST_BINS + axis_bin(leader, voters)) as u32
}

/// Each station's (voters, leader votes) under the model, as [`simulate`] gives them.
fn simulate_counts(params: &KlimekParams, registered: &[u32], seed: u64) -> (Vec<u32>, Vec<u32>) {
    let p = params.sanitized();
    let fair = FairModel::new(p.tau, p.nu, p.sigma_tau, p.sigma_nu);
    let incremental = incremental_intensity(p.theta);
    let n = registered.len();
    let mut voters_all = Vec::with_capacity(n);
    let mut leader_all = Vec::with_capacity(n);
    for (&reg, d) in registered.iter().zip(draw_all(n, seed)) {
        let (voters, leader) = fair.result(
            reg,
            (d.w_a, normal_quantile(d.w_a)),
            (d.w_v, normal_quantile(d.w_v)),
        );
        let x = if d.u < p.f_i {
            Some(incremental.sample(d.w_inc))
        } else if d.u < p.f_i + p.f_e {
            Some(extreme_intensity(d.w_ext))
        } else {
            None
        };
        let (voters, leader) = match x {
            Some(x) => falsify(reg, voters, leader, x, stolen_fraction(x.ln(), p.alpha)),
            None => (voters, leader),
        };
        voters_all.push(voters);
        leader_all.push(leader);
    }
    (voters_all, leader_all)
}

/// Simulates an election under the model: one station per entry of `registered` (its
/// electorate), two options `"Leader"` (index 0) and `"Others"`. Every voter casts a valid
/// ballot: ballots issued = ballots cast = voters. Parameters are [`KlimekParams::sanitized`]
/// first. The same `seed` and inputs always give the same election, and station `i` gets the
/// random numbers [`fit`] gives the `i`-th usable station for the same seed.
pub fn simulate(params: &KlimekParams, registered: &[u32], seed: u64) -> Election {
    let (issued, leader_votes) = simulate_counts(params, registered, seed);
    let other_votes: Vec<u32> = issued
        .iter()
        .zip(&leader_votes)
        .map(|(v, l)| v - l)
        .collect();
    let n = registered.len();
    Election {
        name: "Klimek et al. model simulation".to_string(),
        options: vec!["Leader".to_string(), "Others".to_string()],
        leader: 0,
        regions: vec!["Simulation".to_string()],
        labels: (1..=n).map(|i| format!("Simulated station {i}")).collect(),
        region: vec![0; n],
        registered: registered.to_vec(),
        cast: issued.clone(),
        issued,
        votes: vec![leader_votes, other_votes],
    }
}

// ---------------------------------------------------------------------------------------------
// Baseline

/// A station the model can use: V ≥ 1 registered voters and R ≥ 1 ballots cast.
#[derive(Debug, Clone, Copy)]
struct Unit {
    registered: u32,
    issued: u32,
    cast: u32,
    leader: u32,
}

impl Unit {
    /// Turnout G/V.
    fn turnout(&self) -> f64 {
        f64::from(self.issued) / f64::from(self.registered)
    }

    /// The leader's share L/R, at most 1.
    fn share(&self) -> f64 {
        (f64::from(self.leader) / f64::from(self.cast)).min(1.0)
    }

    /// The turnout × share cell, binned exactly as the simulation's.
    fn cell(&self) -> usize {
        axis_bin(self.issued, self.registered) * HIST_BINS + axis_bin(self.leader, self.cast)
    }
}

fn usable(e: &Election) -> Vec<Unit> {
    let leader = e.leader_votes();
    (0..e.len())
        .filter(|&i| e.registered[i] >= 1 && e.cast[i] >= 1)
        .map(|i| Unit {
            registered: e.registered[i],
            issued: e.issued[i],
            cast: e.cast[i],
            leader: leader[i],
        })
        .collect()
}

/// The main peak of a distribution on [0, 1] and the half-normal spread below it.
fn peak_and_left_spread(values: &[f64]) -> (f64, f64) {
    const B: usize = 100;
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let mut hist = [0.0_f64; B];
    for &x in values {
        hist[((x.max(0.0) * B as f64) as usize).min(B - 1)] += 1.0;
    }
    let kernel: Vec<f64> = (-6..=6_i32)
        .map(|k| (-f64::from(k * k) / 8.0).exp())
        .collect();
    let mut smooth = [0.0_f64; B];
    for (i, s) in smooth.iter_mut().enumerate() {
        for (j, w) in kernel.iter().enumerate() {
            let k = i as i64 + j as i64 - 6;
            if (0..B as i64).contains(&k) {
                *s += w * hist[k as usize];
            }
        }
    }
    let argmax = |range: std::ops::Range<usize>| {
        range.fold(None::<usize>, |best, i| match best {
            Some(b) if smooth[b] >= smooth[i] => Some(b),
            _ => Some(i),
        })
    };
    let m = match argmax(2..95) {
        Some(m) if smooth[m] > 0.0 => m,
        _ => argmax(0..B).unwrap_or(0),
    };
    let mut delta = 0.0;
    if m > 0 && m + 1 < B {
        let (l, c, r) = (smooth[m - 1], smooth[m], smooth[m + 1]);
        let denom = l - 2.0 * c + r;
        if denom < 0.0 {
            delta = (0.5 * (l - r) / denom).clamp(-0.5, 0.5);
        }
    }
    let peak = ((m as f64 + 0.5 + delta) / B as f64).clamp(0.0, 1.0);
    let mut below: Vec<f64> = values
        .iter()
        .filter(|&&x| x < peak)
        .map(|&x| peak - x)
        .collect();
    if below.len() < 2 {
        below = values.iter().map(|&x| (x - peak).abs()).collect();
    }
    let mid = below.len() / 2;
    let (_, median, _) = below.select_nth_unstable_by(mid, f64::total_cmp);
    (peak, *median / 0.674_489_750_196_081_7)
}

fn baseline_of(units: &[Unit]) -> Baseline {
    let t: Vec<f64> = units.iter().map(Unit::turnout).collect();
    let s: Vec<f64> = units.iter().map(Unit::share).collect();
    let (tau, sigma_tau) = peak_and_left_spread(&t);
    let (nu, sigma_nu) = peak_and_left_spread(&s);
    Baseline {
        tau,
        nu,
        sigma_tau,
        sigma_nu,
        stations: units.len(),
    }
}

/// Estimates the fair part of the model, τ, ν, σ_τ, σ_ν, from the observed turnout and leader
/// share (see the module documentation). All zero for an election with no usable station.
pub fn estimate_baseline(e: &Election) -> Baseline {
    baseline_of(&usable(e))
}

// ---------------------------------------------------------------------------------------------
// Fit

/// A point of the search: the fair baseline (τ, ν, σ_τ, σ_ν), then ln θ and ln α.
type Point = [f64; 6];

/// Histogram cells: the turnout × share grid, and one more for stations without voters (which
/// the observed data never have, so a simulated station there counts fully as a mismatch).
const CELLS: usize = HIST_BINS * HIST_BINS + 1;

/// The per-station electorates and random numbers, in ascending order of the fraud uniform
/// `u`, and the observed histogram: everything the search reuses.
#[derive(Debug)]
struct Ctx {
    registered: Vec<u32>,
    /// Fair turnout and share uniforms with their normal quantiles.
    a: Vec<(f64, f64)>,
    v: Vec<(f64, f64)>,
    /// Ascending.
    u: Vec<f64>,
    w_inc: Vec<f64>,
    x_ext: Vec<f64>,
    ln_x_ext: Vec<f64>,
    /// The observed histogram, normalised.
    observed: Vec<f64>,
}

/// Every station's fair result for one baseline, and the histogram of those results.
#[derive(Debug)]
struct Fair {
    voters: Vec<u32>,
    leader: Vec<u32>,
    cell: Vec<u32>,
    hist: Vec<u32>,
}

/// The best fraud fractions found for one point, with its distance.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Best {
    delta: f64,
    theta: f64,
    alpha: f64,
    f_i: f64,
    f_e: f64,
}

/// Incremental-fraud intensities `x` of the stations for one θ, and their logarithms.
#[derive(Debug)]
struct Incremental {
    x: Vec<f64>,
    ln_x: Vec<f64>,
}

/// Everything about the falsified stations that depends on θ and α only: the incremental
/// intensities `x` and stolen fractions `x^α`, and the extreme fraud's stolen fractions.
#[derive(Debug)]
struct Intensities {
    x_inc: Vec<f64>,
    y_inc: Vec<f64>,
    y_ext: Vec<f64>,
}

/// A few recent results by key, shared between threads: the pattern search revisits the same
/// baseline (θ and α moves) and the same θ (baseline moves) again and again.
#[derive(Debug)]
struct Memo<V> {
    slots: Mutex<Vec<(Vec<u64>, Arc<V>)>>,
}

impl<V> Memo<V> {
    fn new() -> Self {
        Self {
            slots: Mutex::new(Vec::new()),
        }
    }

    fn get(&self, key: &[f64], make: impl FnOnce() -> V) -> Arc<V> {
        let key: Vec<u64> = key.iter().map(|x| x.to_bits()).collect();
        let lock = || self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, v)) = lock().iter().find(|(k, _)| *k == key) {
            return Arc::clone(v);
        }
        let v = Arc::new(make());
        let mut slots = lock();
        slots.push((key, Arc::clone(&v)));
        if slots.len() > MEMO_SLOTS {
            slots.remove(0);
        }
        v
    }
}

/// A grid of fraud fractions, both ascending.
#[derive(Debug, Clone)]
struct FGrid {
    f_i: Vec<f64>,
    f_e: Vec<f64>,
}

impl FGrid {
    /// The window the pattern search scans around its current fractions.
    fn around(f_i: f64, f_e: f64) -> Self {
        let lo = (f_i - 0.1).max(0.0);
        let hi = (f_i + 0.1).min(1.0);
        Self {
            f_i: linspace(lo, hi, ((hi - lo) / 0.02).round() as usize),
            f_e: linspace(0.0, (2.0 * f_e).max(f_e + 0.02).min(1.0), 8),
        }
    }
}

/// Δ = Σ (p − q)² / (p + q) between the normalised observed and simulated histograms.
fn distance(observed: &[f64], hist: &[u32]) -> f64 {
    let total: u64 = hist.iter().map(|&c| u64::from(c)).sum();
    if total == 0 {
        return 2.0;
    }
    let scale = 1.0 / total as f64;
    observed
        .iter()
        .zip(hist)
        .map(|(&p, &c)| {
            let q = f64::from(c) * scale;
            let s = p + q;
            if s > 0.0 { (p - q) * (p - q) / s } else { 0.0 }
        })
        .sum()
}

fn theta_floor(sigma_nu: f64) -> f64 {
    sigma_nu.max(THETA_FLOOR)
}

fn stride<T: Copy>(v: &[T], step: usize) -> Vec<T> {
    v.iter().step_by(step).copied().collect()
}

impl Ctx {
    /// Every `step`-th station (still in the order of `u`), for the searches on large elections.
    fn every(&self, step: usize) -> Ctx {
        Ctx {
            registered: stride(&self.registered, step),
            a: stride(&self.a, step),
            v: stride(&self.v, step),
            u: stride(&self.u, step),
            w_inc: stride(&self.w_inc, step),
            x_ext: stride(&self.x_ext, step),
            ln_x_ext: stride(&self.ln_x_ext, step),
            observed: self.observed.clone(),
        }
    }

    /// Number of stations with `u < f`.
    fn count_below(&self, f: f64) -> usize {
        self.u.partition_point(|&u| u < f)
    }

    fn fair(&self, p: &Point) -> Fair {
        let model = FairModel::new(p[0], p[1], p[2], p[3]);
        let n = self.registered.len();
        let mut fair = Fair {
            voters: Vec::with_capacity(n),
            leader: Vec::with_capacity(n),
            cell: Vec::with_capacity(n),
            hist: vec![0; CELLS],
        };
        for k in 0..n {
            let r = self.registered[k];
            let (v, l) = model.result(r, self.a[k], self.v[k]);
            let c = cell(r, v, l);
            fair.hist[c as usize] += 1;
            fair.voters.push(v);
            fair.leader.push(l);
            fair.cell.push(c);
        }
        fair
    }

    /// The incremental intensities of the first `k` stations for spread θ, and their logarithms.
    fn incremental(&self, theta: f64, k: usize) -> Incremental {
        let d = incremental_intensity(theta);
        let x: Vec<f64> = self.w_inc[..k].iter().map(|&w| d.sample(w)).collect();
        let ln_x = x.iter().map(|x| x.ln()).collect();
        Incremental { x, ln_x }
    }

    fn intensities(&self, inc: &Incremental, alpha: f64, k_all: usize) -> Intensities {
        let y = |ln_x: &[f64]| ln_x.iter().map(|&l| stolen_fraction(l, alpha)).collect();
        Intensities {
            x_inc: inc.x.clone(),
            y_inc: y(&inc.ln_x),
            y_ext: y(&self.ln_x_ext[..k_all]),
        }
    }

    /// The cells of the stations `0..k_inc` under incremental fraud and of `ext` under extreme
    /// fraud (indexed from `ext.start`).
    fn fraud_cells(
        &self,
        fair: &Fair,
        it: &Intensities,
        k_inc: usize,
        ext: std::ops::Range<usize>,
    ) -> (Vec<u32>, Vec<u32>) {
        let falsified = |k: usize, x: f64, y: f64| {
            let r = self.registered[k];
            let (v, l) = falsify(r, fair.voters[k], fair.leader[k], x, y);
            cell(r, v, l)
        };
        let inc_cells = (0..k_inc.min(it.x_inc.len()))
            .map(|k| falsified(k, it.x_inc[k], it.y_inc[k]))
            .collect();
        let ext_cells = ext
            .map(|k| falsified(k, self.x_ext[k], it.y_ext[k]))
            .collect();
        (inc_cells, ext_cells)
    }

    /// Evaluates every (f_i, f_e) of the grid for one set of falsified cells. Returns
    /// (Δ, f_i, f_e) of the best point (the first of equals in scanning order) and the number of
    /// points evaluated.
    fn scan(
        &self,
        fair: &Fair,
        inc_cell: &[u32],
        (ext_start, ext_cell): (usize, &[u32]),
        g: &FGrid,
    ) -> ((f64, f64, f64), usize) {
        let mut best = (f64::INFINITY, 0.0, 0.0);
        let mut evaluated = 0;
        let mut row = fair.hist.clone();
        let mut hist = row.clone();
        let mut k_i = 0;
        for &f_i in &g.f_i {
            let target = self.count_below(f_i).min(inc_cell.len()).max(k_i);
            for k in k_i..target {
                row[fair.cell[k] as usize] -= 1;
                row[inc_cell[k] as usize] += 1;
            }
            k_i = target;
            hist.copy_from_slice(&row);
            let mut k_e = k_i;
            for &f_e in &g.f_e {
                if f_i + f_e > 1.0 + 1e-9 {
                    break;
                }
                let target = self
                    .count_below(f_i + f_e)
                    .min(ext_start + ext_cell.len())
                    .max(k_e);
                for k in k_e..target {
                    hist[fair.cell[k] as usize] -= 1;
                    hist[ext_cell[k - ext_start] as usize] += 1;
                }
                k_e = target;
                let delta = distance(&self.observed, &hist);
                evaluated += 1;
                if delta < best.0 {
                    best = (delta, f_i, f_e);
                }
            }
        }
        (best, evaluated)
    }

    /// How many stations the grid always makes incremental, can make incremental, and can
    /// falsify at all.
    fn reach(&self, g: &FGrid) -> (usize, usize, usize) {
        let min_fi = g.f_i.first().copied().unwrap_or(0.0);
        let max_fi = g.f_i.last().copied().unwrap_or(0.0);
        let max_fe = g.f_e.last().copied().unwrap_or(0.0);
        (
            self.count_below(min_fi),
            self.count_below(max_fi),
            self.count_below(max_fi + max_fe),
        )
    }

    /// The best (f_i, f_e) of the grid for one baseline and (θ, α).
    fn best_for(
        &self,
        fair: &Fair,
        (theta, alpha, it): (f64, f64, &Intensities),
        g: &FGrid,
    ) -> (Best, usize) {
        let (k_lo, k_inc, k_all) = self.reach(g);
        let (inc, ext) = self.fraud_cells(fair, it, k_inc, k_lo..k_all.min(it.y_ext.len()));
        let ((delta, f_i, f_e), n) = self.scan(fair, &inc, (k_lo, &ext), g);
        let best = Best {
            delta,
            theta,
            alpha,
            f_i,
            f_e,
        };
        (best, n)
    }

    /// The best point of the grid θ × α × f_i × f_e for one baseline; (θ, α) pairs on two
    /// threads. Among equals the first in (θ, α) order wins, whatever the number of threads.
    fn search(&self, fair: &Fair, thetas: &[f64], alphas: &[f64], g: &FGrid) -> (Best, usize) {
        let pairs: Vec<(usize, f64)> = (0..thetas.len())
            .flat_map(|t| alphas.iter().map(move |&a| (t, a)))
            .collect();
        let (_, k_inc, k_all) = self.reach(g);
        let incs = par_map(thetas, |&theta| self.incremental(theta, k_inc));
        let results = par_map(&pairs, |&(t, alpha)| {
            let it = self.intensities(&incs[t], alpha, k_all);
            self.best_for(fair, (thetas[t], alpha, &it), g)
        });
        let mut best = Best {
            delta: distance(&self.observed, &fair.hist),
            theta: thetas.first().copied().unwrap_or(0.0),
            alpha: 1.0,
            f_i: 0.0,
            f_e: 0.0,
        };
        let mut evaluated = 0;
        for (b, n) in results {
            evaluated += n;
            if b.delta < best.delta {
                best = b;
            }
        }
        (best, evaluated)
    }

    /// The leader's votes that stuffing and stealing add in the simulation with `p`, and the
    /// leader's simulated total.
    fn fraud_votes(&self, fair: &Fair, p: &KlimekParams) -> (u64, u64) {
        let incremental = incremental_intensity(p.theta);
        let mut added = 0_u64;
        let mut total = 0_u64;
        for k in 0..self.u.len() {
            let leader = fair.leader[k];
            let x = if self.u[k] < p.f_i {
                incremental.sample(self.w_inc[k])
            } else if self.u[k] < p.f_i + p.f_e {
                self.x_ext[k]
            } else {
                total += u64::from(leader);
                continue;
            };
            let y = stolen_fraction(x.ln(), p.alpha);
            let (_, l) = falsify(self.registered[k], fair.voters[k], leader, x, y);
            added += u64::from(l - leader);
            total += u64::from(l);
        }
        (added, total)
    }
}

/// Keeps a point inside the model's domain.
fn clamp_point(p: &mut Point) {
    p[0] = p[0].clamp(0.0, 1.0);
    p[1] = p[1].clamp(0.0, 1.0);
    p[2] = p[2].max(MIN_SIGMA);
    p[3] = p[3].max(MIN_SIGMA);
    p[4] = p[4].min(MAX_THETA.ln());
    p[5] = p[5].clamp(MIN_ALPHA.ln(), MAX_ALPHA.ln());
}

/// Pattern search (Hooke & Jeeves): from the current point, each direction in turn is tried
/// forwards and backwards (the two candidates on two threads) and the better is kept if it
/// improves; after a round that moved, the round's whole move is repeated while it improves
/// (following a valley); after a round that did not, the steps halve, until τ's step is below
/// `min_step` or `max_points` have been tried. `score` sees the candidate and the current best
/// payload. Returns the best point, its score and the number of points tried.
fn descend<X: Send + Sync + Copy>(
    start: Point,
    start_score: (f64, X),
    directions: &[Point],
    (min_step, max_points): (f64, usize),
    score: impl Fn(&Point, &X) -> (f64, X) + Sync,
) -> (Point, (f64, X), usize) {
    let mut p = start;
    let mut cur = start_score;
    let mut step = INITIAL_STEP;
    let mut tried = 0;
    while tried < max_points {
        let before = p;
        for dir in directions {
            let candidates: Vec<Point> = [-1.0, 1.0]
                .iter()
                .map(|&s| {
                    let mut c = p;
                    for i in 0..6 {
                        c[i] += s * dir[i] * step[i];
                    }
                    clamp_point(&mut c);
                    c
                })
                .filter(|c| *c != p)
                .collect();
            let payload = cur.1;
            let scores = par_map(&candidates, |c| score(c, &payload));
            tried += candidates.len();
            for (c, s) in candidates.iter().zip(scores) {
                if s.0 < cur.0 {
                    cur = s;
                    p = *c;
                }
            }
        }
        if p == before {
            if step[0] <= min_step {
                break;
            }
            step.iter_mut().for_each(|s| *s *= 0.5);
            continue;
        }
        while tried < max_points {
            let mut c = p;
            for i in 0..6 {
                c[i] += p[i] - before[i];
            }
            clamp_point(&mut c);
            let s = score(&c, &cur.1);
            tried += 1;
            if s.0 < cur.0 {
                cur = s;
                p = c;
            } else {
                break;
            }
        }
    }
    (p, cur, tried)
}

/// Values from `lo` to `hi` in `steps` equal steps (both ends included).
fn linspace(lo: f64, hi: f64, steps: usize) -> Vec<f64> {
    let steps = steps.max(1);
    (0..=steps)
        .map(|k| lo + (hi - lo) * k as f64 / steps as f64)
        .collect()
}

const COARSE_THETA: [f64; 6] = [0.02, 0.04, 0.08, 0.15, 0.3, 0.5];
const COARSE_ALPHA: [f64; 5] = [0.25, 0.6, 1.5, 4.0, 10.0];
const COARSE_FE: [f64; 12] = [
    0.0, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.06, 0.08, 0.11, 0.15,
];
/// Largest θ: incremental fraud stays mostly small (the density of `x_i` at 1 is at most
/// e⁻² ≈ 14 % of that at 0), so it remains distinct from extreme fraud; with θ → ∞, `x_i` would
/// be uniform on [0, 1) and incremental fraud would absorb the extreme cluster.
const MAX_THETA: f64 = 0.5;
const MIN_ALPHA: f64 = 0.1;
/// Results the pattern search keeps at hand (each a few megabytes for 100,000 stations).
const MEMO_SLOTS: usize = 4;
const MAX_ALPHA: f64 = 30.0;
/// The pattern search's first steps, all additive: τ, ν, σ_τ, σ_ν (fractions), ln θ, ln α.
const INITIAL_STEP: Point = [0.02, 0.02, 0.02, 0.02, 0.4, 0.4];
/// The directions: each coordinate, then τ and ν together and the σ's together (fraud moves
/// both peaks at once, so the distance's valleys run diagonally).
const FRAUD_DIRECTIONS: [Point; 8] = [
    [1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, 0.0, 0.0, 0.0],
    [1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
    [0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 1.0, 0.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
];
/// The model without fraud has only the baseline to search.
const FAIR_DIRECTIONS: [Point; 6] = [
    [1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, 0.0, 0.0, 0.0],
    [1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
    [0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 1.0, 0.0, 0.0],
];
/// The searches simulate at most about this many stations (every k-th of a larger election);
/// the final fine grid and the reported distances use all of them.
const SEARCH_STATIONS: usize = 50_000;
/// Limits of the pattern search with fraud: the smallest step of τ, and the most points.
const FRAUD_SEARCH: (f64, usize) = (0.005, 120);
/// The fraud model is reported only if it beats the model without fraud by more than this
/// fraction of the noise floor: with four more parameters it always fits chance a little
/// better (on fair simulated elections, by up to about a tenth of the noise floor).
const SELECTION_MARGIN: f64 = 0.2;
/// Mixed into the seed for the independent simulation that measures the noise floor.
const NOISE_SEED: u64 = 0x9E37_79B9_7F4A_7C15;
/// Smallest spread the search gives σ_τ or σ_ν.
const MIN_SIGMA: f64 = 0.002;

/// Fits the model to an election (see the module documentation): the baseline from the
/// observed peaks; θ, α, `f_i`, `f_e` on a coarse grid; then baseline, θ and α together by
/// pattern search, with `f_i`, `f_e` re-fitted on a grid at every point; then a fine grid of
/// `f_i`, `f_e`. The model without fraud gets the same baseline search, for comparison.
/// Reproducible: the same election and seed give the same fit, whatever the number of threads.
/// An election without usable stations gives an all-zero fit with `stations = 0`.
pub fn fit(e: &Election, seed: u64) -> KlimekFit {
    let units = usable(e);
    let peaks = baseline_of(&units);
    if units.is_empty() {
        return KlimekFit {
            params: KlimekParams::fair(peaks.tau, peaks.nu, peaks.sigma_tau, peaks.sigma_nu),
            fit_quality: 0.0,
            no_fraud_quality: 0.0,
            improvement: 0.0,
            fraud_vote_fraction: 0.0,
            stations: 0,
            grid_points: 0,
            bins: HIST_BINS,
            seed,
            peaks,
            noise_floor: 0.0,
            fraud_improves_fit: false,
        };
    }
    let draws = draw_all(units.len(), seed);
    let mut order: Vec<usize> = (0..units.len()).collect();
    order.sort_by(|&a, &b| draws[a].u.total_cmp(&draws[b].u));
    let mut observed = vec![0.0; CELLS];
    for u in &units {
        observed[u.cell()] += 1.0;
    }
    let n_obs = units.len() as f64;
    observed.iter_mut().for_each(|p| *p /= n_obs);
    let with_quantile = |w: f64| (w, normal_quantile(w));
    let x_ext: Vec<f64> = order
        .iter()
        .map(|&i| extreme_intensity(draws[i].w_ext))
        .collect();
    let ctx = Ctx {
        registered: order.iter().map(|&i| units[i].registered).collect(),
        a: order.iter().map(|&i| with_quantile(draws[i].w_a)).collect(),
        v: order.iter().map(|&i| with_quantile(draws[i].w_v)).collect(),
        u: order.iter().map(|&i| draws[i].u).collect(),
        w_inc: order.iter().map(|&i| draws[i].w_inc).collect(),
        ln_x_ext: x_ext.iter().map(|x| x.ln()).collect(),
        x_ext,
        observed,
    };

    // The searches run on at most about SEARCH_STATIONS simulated stations; the final fine grid
    // and both reported distances use all of them.
    let step = ctx.u.len().div_ceil(SEARCH_STATIONS).max(1);
    let full = ctx;
    let sub = if step > 1 {
        Some(full.every(step))
    } else {
        None
    };
    let ctx = sub.as_ref().unwrap_or(&full);

    // 1. Coarse grid on the peak baseline.
    let p0: Point = [
        peaks.tau,
        peaks.nu,
        peaks.sigma_tau.max(MIN_SIGMA),
        peaks.sigma_nu.max(MIN_SIGMA),
        0.0,
        0.0,
    ];
    let fair0 = ctx.fair(&p0);
    let floor0 = theta_floor(p0[3]);
    let mut thetas: Vec<f64> = vec![floor0];
    thetas.extend(COARSE_THETA.iter().copied().filter(|&t| t > floor0));
    let coarse_grid = FGrid {
        f_i: linspace(0.0, 1.0, 20),
        f_e: COARSE_FE.to_vec(),
    };
    let (start, mut grid_points) = ctx.search(&fair0, &thetas, &COARSE_ALPHA, &coarse_grid);

    // 2. Baseline, θ and α together, (f_i, f_e) re-fitted in a window at every point. θ is
    //    kept at or above its floor, which moves with σ_ν.
    let mut p1 = p0;
    p1[4] = start.theta.ln();
    p1[5] = start.alpha.ln();
    let n = ctx.u.len();
    let fairs: Memo<Fair> = Memo::new();
    let incs: Memo<Incremental> = Memo::new();
    let intensities: Memo<Intensities> = Memo::new();
    let intensities_for = |theta: f64, alpha: f64| {
        intensities.get(&[theta, alpha], || {
            let inc = incs.get(&[theta], || ctx.incremental(theta, n));
            ctx.intensities(&inc, alpha, n)
        })
    };
    let (p, (_, refined), tried) = descend(
        p1,
        (start.delta, start),
        &FRAUD_DIRECTIONS,
        FRAUD_SEARCH,
        |p, cur| {
            let fair = fairs.get(&p[..4], || ctx.fair(p));
            let theta = p[4].exp().max(theta_floor(p[3])).min(MAX_THETA);
            let alpha = p[5].exp();
            let it = intensities_for(theta, alpha);
            let (best, _) =
                ctx.best_for(&fair, (theta, alpha, &it), &FGrid::around(cur.f_i, cur.f_e));
            (best.delta, best)
        },
    );
    grid_points += tried;

    // 3. A fine grid of (f_i, f_e) at the final point, on all stations: f_i ± 0.03 by 0.005,
    //    f_e ± 30 % in 12 steps (both include the searched point).
    let fair = full.fair(&p);
    let fi_lo = (refined.f_i - 0.03).max(0.0);
    let fi_hi = (refined.f_i + 0.03).min(1.0);
    let fine = FGrid {
        f_i: linspace(fi_lo, fi_hi, ((fi_hi - fi_lo) / 0.005).round() as usize),
        f_e: linspace(
            (refined.f_e * 0.7 - 0.001).max(0.0),
            (refined.f_e * 1.3 + 0.001).min(1.0),
            12,
        ),
    };
    let (_, k_inc, k_all) = full.reach(&fine);
    let it = full.intensities(
        &full.incremental(refined.theta, k_inc),
        refined.alpha,
        k_all,
    );
    let (best, n_fine) = full.best_for(&fair, (refined.theta, refined.alpha, &it), &fine);
    grid_points += n_fine;

    // 4. The best model without fraud: its own baseline, by the same search.
    let no_fraud_start = distance(&ctx.observed, &fair0.hist);
    let (p_fair, _, tried) = descend(
        p0,
        (no_fraud_start, ()),
        &FAIR_DIRECTIONS,
        FRAUD_SEARCH,
        |p, _| (distance(&ctx.observed, &ctx.fair(p).hist), ()),
    );
    grid_points += tried;
    let no_fraud = distance(&full.observed, &full.fair(&p_fair).hist);

    let fraud_params = KlimekParams {
        tau: p[0],
        nu: p[1],
        sigma_tau: p[2],
        sigma_nu: p[3],
        theta: best.theta,
        f_i: best.f_i,
        f_e: best.f_e,
        alpha: best.alpha,
    };

    // 5. Chance: two simulations of the fitted model, this seed's and an independent one.
    let registered: Vec<u32> = units.iter().map(|u| u.registered).collect();
    let histogram = |seed: u64| {
        let (voters, leader) = simulate_counts(&fraud_params, &registered, seed);
        let mut h = vec![0_u32; CELLS];
        for ((&r, &v), &l) in registered.iter().zip(&voters).zip(&leader) {
            h[cell(r, v, l) as usize] += 1;
        }
        h
    };
    let reference = histogram(seed);
    let total = reference
        .iter()
        .map(|&c| f64::from(c))
        .sum::<f64>()
        .max(1.0);
    let reference: Vec<f64> = reference.iter().map(|&c| f64::from(c) / total).collect();
    let noise_floor = distance(&reference, &histogram(seed ^ NOISE_SEED));

    let fraud_improves_fit = no_fraud - best.delta > SELECTION_MARGIN * noise_floor;
    let (params, fit_quality, fraud_vote_fraction) = if fraud_improves_fit {
        let (added, total) = full.fraud_votes(&fair, &fraud_params);
        let fraction = if total > 0 {
            added as f64 / total as f64
        } else {
            0.0
        };
        (fraud_params, best.delta, fraction)
    } else {
        let fair = KlimekParams::fair(p_fair[0], p_fair[1], p_fair[2], p_fair[3]);
        (fair, no_fraud, 0.0)
    };
    KlimekFit {
        params,
        fit_quality,
        no_fraud_quality: no_fraud,
        improvement: if no_fraud > 0.0 {
            (1.0 - fit_quality / no_fraud).max(0.0)
        } else {
            0.0
        },
        fraud_vote_fraction,
        stations: units.len(),
        grid_points,
        bins: HIST_BINS,
        seed,
        peaks,
        noise_floor,
        fraud_improves_fit,
    }
}

impl KlimekFit {}

impl KlimekFit {
    /// The fit in plain words: what the fitted fraud parameters say, and what they do not.
    pub fn reading(&self) -> Reading {
        let test = "Klimek et al. (2012) fraud model";
        let caveat = "This is a model fit, not proof. The model assumes that without fraud \
            the stations' turnout and the leader's share vary independently, like bell curves \
            around their typical values. Genuinely homogeneous communities (closed institutions, \
            military units, villages that vote as a block), differences between regions, or \
            turnout that rises with support for the leader can also produce stations with high \
            turnout and a high leader share. The fractions are parameters of the model, not a \
            count of stations shown to be falsified, and the fit does not say which stations \
            they would be."
            .to_string();
        if self.stations == 0 {
            return Reading {
                test,
                finding: "No station had both registered voters and ballots cast, so the \
                    model could not be fitted."
                    .to_string(),
                caveat,
            };
        }
        let p = &self.params;
        let shape = format!(
            "In the fitted model, a station without fraud has about {:.0} % turnout and gives \
             the leader about {:.0} % of its votes.",
            100.0 * p.tau,
            100.0 * p.nu
        );
        let small = if self.stations < 1000 {
            format!(
                " With only {} stations the fit is rough: the distributions are too thin to \
                 fit reliably.",
                self.stations
            )
        } else {
            String::new()
        };
        let finding = if !self.fraud_improves_fit {
            format!(
                "{shape} The version of the model without fraud fits the observed turnout × \
                 leader-share pattern as well as any version with fraud, within what chance \
                 alone explains (distance {:.3}; two simulations of the same model differ by \
                 {:.3}): the pattern does not call for the model's fraud mechanisms.{small}",
                self.no_fraud_quality, self.noise_floor
            )
        } else {
            format!(
                "{shape} The observed turnout × leader-share pattern is best reproduced if \
                 {:.0} % of stations had incremental fraud (some ballots added for the leader \
                 and some opponents' votes counted for the leader) and {:.1} % had extreme \
                 fraud (almost all non-voters' ballots and opponents' votes given to the \
                 leader). With these mechanisms the distance between the model and the \
                 observed pattern falls from {:.3} to {:.3} ({:.0} % smaller; chance alone \
                 leaves about {:.3}); in the fitted model they make up {:.1} % of the leader's \
                 votes.{small}",
                100.0 * p.f_i,
                100.0 * p.f_e,
                self.no_fraud_quality,
                self.fit_quality,
                100.0 * self.improvement,
                self.noise_floor,
                100.0 * self.fraud_vote_fraction
            )
        };
        let finding = if self.fit_quality > 3.0 * self.noise_floor {
            format!(
                "{finding} Even the best model stays well away from the observed pattern \
                 (distance {:.3}, against {:.3} from chance alone): it captures the main shape, \
                 not the details.",
                self.fit_quality, self.noise_floor
            )
        } else {
            finding
        };
        Reading {
            test,
            finding,
            caveat,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_inverts_the_cdf() {
        for &p in &[
            1e-12,
            1e-6,
            0.001,
            0.02,
            0.1,
            0.3,
            0.5,
            0.7,
            0.975,
            0.999,
            1.0 - 1e-9,
        ] {
            let z = normal_quantile(p);
            assert!(
                (normal_cdf(z) - p).abs() <= 1e-8 * p.min(1.0 - p).max(1e-3),
                "{p}"
            );
        }
    }

    #[test]
    fn truncated_normal_stays_inside_and_is_monotone() {
        let t = TruncNormal::new(0.2, 0.3, 0.0, 1.0);
        let mut last = -1.0;
        for k in 1..1000 {
            let x = t.sample(f64::from(k) / 1000.0);
            assert!((0.0..=1.0).contains(&x));
            assert!(x >= last);
            last = x;
        }
        assert_eq!(TruncNormal::new(1.4, 0.0, 0.0, 1.0).sample(0.3), 1.0);
    }

    #[test]
    fn falsify_moves_votes_to_the_leader() {
        // 1000 registered, 500 voters, 200 for the leader: 300 others, 500 non-voters.
        assert_eq!(falsify(1000, 500, 200, 0.0, 0.0), (500, 200));
        assert_eq!(falsify(1000, 500, 200, 0.1, 0.1), (550, 200 + 50 + 30));
        assert_eq!(falsify(1000, 500, 200, 1.0, 1.0), (1000, 1000));
    }
}
