//! The integer-percentage test (Kobak, Shpilkin & Pshenichnikov, Annals of Applied Statistics
//! 2016; Significance 2016, 2018).
//!
//! When a protocol is written to order ("turnout 80 %, the leader 75 %"), the numbers tend to come
//! out at whole percentages. The test counts the stations whose turnout or leader share is a whole
//! percentage and compares the count with what chance alone gives.
//!
//! Definition (the data README's, exactly):
//! - keep stations with R > 0, V ≥ 100, t = G/V ≤ 0.99 and s = L/R ≤ 0.99;
//! - a station is "integer" when 100·s or 100·t is within 0.05 of a whole number (inclusive;
//!   decided in exact integer arithmetic: |2000·L − 20·j·R| ≤ R for some whole j);
//! - null model: L ~ Bin(R, s) and G ~ Bin(V, t), independently per station, with s and t that
//!   station's observed values.
//!
//! Under the null each station is an independent Bernoulli whose probability p_i follows from
//! the two binomial distributions, and the null count is Poisson-binomial(p_1 … p_n). This module
//! computes it two ways that must agree:
//! - **exactly**: p_i summed from the binomial probabilities of exactly the counts that qualify
//!   (ratio recurrence from the mode outwards, stopping where a term falls below 10⁻¹⁷ of the
//!   mode's); the null mean Σp_i and variance Σp_i(1−p_i) in closed form; the whole distribution
//!   of the count by a banded dynamic programme (see [`PoissonBinomial`]); the p-value, when the
//!   observed count is far in the tail, by exponential tilting, so that even 10⁻⁴⁰ is exact;
//! - **by Monte Carlo**: N seeded replicates, each drawing every station's null indicator with
//!   one uniform number against p_i (the same distribution as drawing both binomials and testing
//!   them); [`monte_carlo_binomial`] does the literal thing (draws L and G with
//!   [`Rng::binomial`]) and the tests use it to check p_i independently.
//!
//! Order independence: the p_i are sorted before the dynamic programme and the Monte Carlo, and the
//! literal simulation sorts the stations, so results depend only on the set of stations.

use crate::election::Election;
use crate::reading::Reading;
use crate::rng::Rng;

/// The Monte Carlo settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntegerOptions {
    /// Monte Carlo replicates; 0 skips the Monte Carlo.
    pub replicates: u32,
    pub seed: u64,
    /// Worker threads (results do not depend on it).
    pub threads: usize,
}

impl Default for IntegerOptions {
    fn default() -> Self {
        Self {
            replicates: 1000,
            seed: 1,
            threads: 2,
        }
    }
}

/// The result of the integer-percentage test.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IntegerTest {
    /// Stations kept by the filter.
    pub filtered: u64,
    /// Of those, stations whose turnout or leader share is a whole percentage.
    pub observed: u64,
    /// Stations whose leader share is a whole percentage.
    pub observed_share: u64,
    /// Stations whose turnout is a whole percentage.
    pub observed_turnout: u64,
    /// The exact null mean Σ p_i.
    pub null_mean: f64,
    /// The exact null standard deviation √Σ p_i(1 − p_i).
    pub null_sd: f64,
    /// The null's 99.9th percentile: the smallest k with P(null ≤ k) ≥ 0.999.
    pub null_p999: u64,
    /// The null mean of stations with a whole-percentage leader share.
    pub null_mean_share: f64,
    /// The null mean of stations with a whole-percentage turnout.
    pub null_mean_turnout: f64,
    /// observed − null_mean.
    pub excess: f64,
    /// (observed − null_mean) / null_sd.
    pub z: f64,
    /// P(null ≥ observed), exact. May underflow to 0; see `log10_p_value`.
    pub p_value: f64,
    /// log₁₀ of the p-value (finite even when the p-value underflows).
    pub log10_p_value: f64,
    /// Probability mass the banded dynamic programme left out (an upper bound on its error).
    pub truncation_error: f64,
    pub monte_carlo: Option<MonteCarlo>,
}

/// The Monte Carlo null.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MonteCarlo {
    pub replicates: u32,
    pub seed: u64,
    pub mean: f64,
    pub sd: f64,
    /// The smallest replicate count k with at least 99.9 % of replicates ≤ k.
    pub p999: u64,
    /// (1 + #{replicates ≥ observed}) / (1 + replicates): never 0, the usual conservative estimate.
    pub p_value: f64,
    /// observed − mean.
    pub excess: f64,
}

/// Whether 100·k/n is within 0.05 of a whole number (n > 0), in exact integer arithmetic.
#[inline]
pub fn is_integer_percent(k: u32, n: u32) -> bool {
    let n = u64::from(n);
    let m = (2000 * u64::from(k)) % (20 * n);
    m <= n || m >= 19 * n
}

/// Terms below this fraction of the mode's probability end the walk.
const PMF_CUTOFF: f64 = 1e-17;

/// P(100·X/n is within 0.05 of a whole number) for X ~ Bin(n, k/n), summed over exactly the
/// qualifying values of X.
pub fn prob_integer_percent(n: u32, k: u32) -> f64 {
    prob_integer_core(n, k, |x| 1.0 / f64::from(x), &mut Scratch::new(n))
}

/// Reciprocals 1/i for i = 0 … max (entry 0 unused): the walk multiplies instead of dividing.
struct Reciprocals(Vec<f64>);

impl Reciprocals {
    fn new(max: u32) -> Self {
        Self(
            (0..=max as usize + 1)
                .map(|i| if i == 0 { 0.0 } else { 1.0 / i as f64 })
                .collect(),
        )
    }

    #[inline(always)]
    fn get(&self, i: u32) -> f64 {
        self.0[i as usize]
    }
}

/// The walk's buffers, reused from station to station. Sized once for the largest n, so the
/// hot loop writes by index and never calls out to grow a vector (which would force its running
/// values out of the registers).
struct Scratch {
    /// up[i]: the weight of mode + 1 + i.
    up: Vec<f64>,
    /// down[i]: the weight of mode − 1 − i.
    down: Vec<f64>,
}

impl Scratch {
    fn new(max_n: u32) -> Self {
        let len = max_n as usize + 2;
        Self {
            up: vec![0.0; len],
            down: vec![0.0; len],
        }
    }
}

/// The qualifying counts out of n for the whole percentage `j`: |2000·k − 20·j·n| ≤ n, i.e.
/// k ∈ [⌈n(20j − 1)/2000⌉, ⌊n(20j + 1)/2000⌋] (possibly empty).
#[inline]
fn qualifying_range(n: u32, j: u64) -> (u64, u64) {
    let n = u64::from(n);
    let lo = if j == 0 {
        0
    } else {
        ((20 * j - 1) * n).div_ceil(2000)
    };
    (lo, (20 * j + 1) * n / 2000)
}

/// The walk from the mode outwards. Weights are relative to the mode's (weight 1) and
/// normalised by their sum at the end, so no log-gamma is needed; the walk stops where a weight
/// falls below [`PMF_CUTOFF`]. Two weights per iteration, each from the previous pair's last one
/// (w·f₁ and w·(f₁f₂)), so the multiplications do not wait on one another. The weights are kept,
/// and the qualifying ones summed afterwards, percentage by percentage.
#[inline(always)]
fn prob_integer_core(n: u32, k: u32, recip: impl Fn(u32) -> f64, buf: &mut Scratch) -> f64 {
    if n == 0 {
        return 0.0;
    }
    if k == 0 || k >= n {
        // X is certain: 0 % or 100 %, both whole.
        return 1.0;
    }
    let p = f64::from(k) / f64::from(n);
    let q = 1.0 - p;
    let r = p / q;
    let inv_r = q / p;
    let mode = ((f64::from(n) + 1.0) * p).floor().min(f64::from(n)) as u32;

    if buf.up.len() < n as usize + 2 {
        *buf = Scratch::new(n);
    }
    let up = &mut buf.up[..n as usize + 2];
    let down = &mut buf.down[..n as usize + 2];

    // Upwards: w(j+1) = w(j) · p/q · (n − j)/(j + 1).
    let mut total_up = 0.0;
    let (mut w, mut j) = (1.0f64, mode);
    while j + 2 <= n {
        let f1 = r * f64::from(n - j) * recip(j + 1);
        let f2 = r * f64::from(n - j - 1) * recip(j + 2);
        let w1 = w * f1;
        let w2 = w * (f1 * f2);
        let i = (j - mode) as usize;
        up[i] = w1;
        up[i + 1] = w2;
        total_up += w1 + w2;
        (w, j) = (w2, j + 2);
        if w2 < PMF_CUTOFF {
            break;
        }
    }
    if j + 1 == n && w >= PMF_CUTOFF {
        let w1 = w * r * recip(n);
        up[(j - mode) as usize] = w1;
        total_up += w1;
        j += 1;
    }
    let n_up = j - mode;
    // Downwards: w(j−1) = w(j) · q/p · j/(n − j + 1).
    let mut total_down = 0.0;
    let (mut w, mut j) = (1.0f64, mode);
    while j >= 2 {
        let f1 = inv_r * f64::from(j) * recip(n - j + 1);
        let f2 = inv_r * f64::from(j - 1) * recip(n - j + 2);
        let w1 = w * f1;
        let w2 = w * (f1 * f2);
        let i = (mode - j) as usize;
        down[i] = w1;
        down[i + 1] = w2;
        total_down += w1 + w2;
        (w, j) = (w2, j - 2);
        if w2 < PMF_CUTOFF {
            break;
        }
    }
    if j == 1 && w >= PMF_CUTOFF {
        let w1 = w * inv_r * recip(n);
        down[(mode - j) as usize] = w1;
        total_down += w1;
        j -= 1;
    }
    let n_down = mode - j;

    // The walked counts are [lo, hi]; sum the weights of the qualifying ones.
    let (up, down) = (&*up, &*down);
    let mode = u64::from(mode);
    let lo = mode - u64::from(n_down);
    let hi = mode + u64::from(n_up);
    let weight = |c: u64| match c.cmp(&mode) {
        std::cmp::Ordering::Equal => 1.0,
        std::cmp::Ordering::Greater => up[(c - mode - 1) as usize],
        std::cmp::Ordering::Less => down[(mode - 1 - c) as usize],
    };
    let nn = u64::from(n);
    let mut hit = 0.0;
    for pct in (100 * lo / nn)..=(100 * hi).div_ceil(nn).min(100) {
        let (a, b) = qualifying_range(n, pct);
        for c in a.max(lo)..=b.min(hi) {
            hit += weight(c);
        }
    }
    hit / (1.0 + total_up + total_down)
}

/// One filtered station: (R, L, V, G).
type Kept = (u32, u32, u32, u32);

/// Whether a station passes the filter: R > 0, V ≥ 100, G/V ≤ 0.99, L/R ≤ 0.99 (exactly).
#[inline]
pub fn passes_filter(v: u32, g: u32, r: u32, l: u32) -> bool {
    r > 0
        && v >= 100
        && 100 * u64::from(g) <= 99 * u64::from(v)
        && 100 * u64::from(l) <= 99 * u64::from(r)
}

fn filtered_stations(e: &Election) -> Vec<Kept> {
    let l = e.leader_votes();
    (0..e.len())
        .filter(|&i| passes_filter(e.registered[i], e.issued[i], e.cast[i], l[i]))
        .map(|i| (e.cast[i], l[i], e.registered[i], e.issued[i]))
        .collect()
}

/// The null model of one election: the observed counts and every filtered station's
/// probability of being "integer" by chance.
#[derive(Debug, Clone)]
pub struct NullModel {
    pub observed: u64,
    pub observed_share: u64,
    pub observed_turnout: u64,
    /// p_i for each filtered station, sorted ascending.
    pub p: Vec<f64>,
    /// Σ P(share integer).
    pub mean_share: f64,
    /// Σ P(turnout integer).
    pub mean_turnout: f64,
}

/// Σ x for x in [0, 1], in fixed point (2⁻⁶⁰ per unit, exact integer addition): the same
/// result in any order and with any number of threads.
pub fn exact_sum(xs: impl Iterator<Item = f64>) -> f64 {
    const SCALE: f64 = (1u64 << 60) as f64;
    let total: u128 = xs
        .map(|x| (x.clamp(0.0, 1.0) * SCALE).round() as u128)
        .sum();
    total as f64 / SCALE
}

/// Filters the stations, counts the observed integer stations and computes every p_i.
pub fn null_model(e: &Election, threads: usize) -> NullModel {
    let kept = filtered_stations(e);
    let max_n = kept.iter().map(|&(r, _, v, _)| r.max(v)).max().unwrap_or(0);
    let recip = Reciprocals::new(max_n);
    let recip = &recip;
    let threads = threads.clamp(1, 64);
    let per = kept.len().div_ceil(threads).max(1);
    // Each thread fills its own slice of (P(share integer), P(turnout integer)).
    let mut ab = vec![(0.0f64, 0.0f64); kept.len()];
    std::thread::scope(|s| {
        for (ks, out) in kept.chunks(per).zip(ab.chunks_mut(per)) {
            s.spawn(move || {
                let mut buf = Scratch::new(max_n);
                for (&(r, l, v, g), o) in ks.iter().zip(out.iter_mut()) {
                    *o = (
                        prob_integer_core(r, l, |x| recip.get(x), &mut buf),
                        prob_integer_core(v, g, |x| recip.get(x), &mut buf),
                    );
                }
            });
        }
    });
    let (mut obs, mut obs_s, mut obs_t) = (0u64, 0u64, 0u64);
    for &(r, l, v, g) in &kept {
        let int_s = is_integer_percent(l, r);
        let int_t = is_integer_percent(g, v);
        obs += u64::from(int_s || int_t);
        obs_s += u64::from(int_s);
        obs_t += u64::from(int_t);
    }
    let mut p: Vec<f64> = ab
        .iter()
        .map(|&(a, b)| 1.0 - (1.0 - a) * (1.0 - b))
        .collect();
    p.sort_unstable_by(f64::total_cmp);
    NullModel {
        observed: obs,
        observed_share: obs_s,
        observed_turnout: obs_t,
        mean_share: exact_sum(ab.iter().map(|x| x.0)),
        mean_turnout: exact_sum(ab.iter().map(|x| x.1)),
        p,
    }
}

/// The distribution of a sum of independent Bernoulli(p_i), computed by a banded dynamic
/// programme: after each station the distribution is kept only on a window of
/// ±(`half_width_sd`·σ + 30) around the running mean, σ the running standard deviation. By
/// Bernstein's inequality the mass outside that window is below e⁻⁴⁰ per step, and the mass
/// actually dropped is summed into `truncated` (it bounds the error of every probability). If it
/// exceeds 10⁻¹², the computation is repeated with a wider window.
#[derive(Debug, Clone)]
pub struct PoissonBinomial {
    /// The count of `pmf[0]`.
    pub offset: u64,
    pub pmf: Vec<f64>,
    /// Mass dropped below the window.
    pub truncated_low: f64,
    /// Mass dropped above the window.
    pub truncated_high: f64,
}

/// Half-widths (in running standard deviations) tried in turn until the truncation is below
/// `MAX_TRUNCATION`.
const HALF_WIDTHS: [f64; 3] = [9.0, 14.0, 24.0];
const MAX_TRUNCATION: f64 = 1e-12;
const WINDOW_MARGIN: f64 = 30.0;

impl PoissonBinomial {
    /// The exact distribution (within `truncated`) of Σ Bernoulli(p_i).
    pub fn new(p: &[f64]) -> Self {
        let mut best = Self::banded(p, HALF_WIDTHS[0]);
        for &h in &HALF_WIDTHS[1..] {
            if best.truncated() <= MAX_TRUNCATION {
                break;
            }
            best = Self::banded(p, h);
        }
        best
    }

    /// Total mass left out.
    pub fn truncated(&self) -> f64 {
        self.truncated_low + self.truncated_high
    }

    fn banded(p: &[f64], h: f64) -> Self {
        // cur holds the pmf on [lo, lo + cur.len() − 3], padded with one zero at each end.
        let mut cur: Vec<f64> = vec![0.0, 1.0, 0.0];
        let mut next: Vec<f64> = Vec::with_capacity(4096);
        let mut lo: u64 = 0;
        let (mut mean, mut var) = (0.0f64, 0.0f64);
        let (mut t_low, mut t_high) = (0.0f64, 0.0f64);
        for &pi in p {
            if pi <= 0.0 {
                continue;
            }
            if pi >= 1.0 {
                lo += 1;
                mean += 1.0;
                continue;
            }
            let qi = 1.0 - pi;
            mean += pi;
            var += pi * qi;
            let len = cur.len() - 2; // support size before this step
            // After the step the support is [lo, lo + len]; value at k: cur[k]·q + cur[k−1]·p.
            let half = h * var.sqrt() + WINDOW_MARGIN;
            let want_lo = (mean - half).floor().max(0.0) as u64;
            let want_hi = (mean + half).ceil() as u64;
            let full_hi = lo + len as u64;
            let new_lo = want_lo.clamp(lo, full_hi);
            let new_hi = want_hi.clamp(new_lo, full_hi);
            // Padded index of count k in `cur` is k − lo + 1.
            let value = |k: u64| {
                let i = (k - lo) as usize;
                cur[i + 1] * qi + cur[i] * pi
            };
            for k in lo..new_lo {
                t_low += value(k);
            }
            for k in new_hi + 1..=full_hi {
                t_high += value(k);
            }
            let s = (new_lo - lo) as usize;
            let m = (new_hi - new_lo + 1) as usize;
            next.clear();
            next.push(0.0);
            let a = &cur[s + 1..s + 1 + m];
            let b = &cur[s..s + m];
            next.extend(a.iter().zip(b).map(|(&x, &y)| x * qi + y * pi));
            next.push(0.0);
            std::mem::swap(&mut cur, &mut next);
            lo = new_lo;
        }
        cur.pop();
        cur.remove(0);
        Self {
            offset: lo,
            pmf: cur,
            truncated_low: t_low,
            truncated_high: t_high,
        }
    }

    /// P(X = k).
    pub fn pmf_at(&self, k: u64) -> f64 {
        k.checked_sub(self.offset)
            .and_then(|i| self.pmf.get(i as usize))
            .copied()
            .unwrap_or(0.0)
    }

    /// P(X ≥ k), from the window (plus the mass dropped above it).
    pub fn sf(&self, k: u64) -> f64 {
        let start = k.saturating_sub(self.offset) as usize;
        let inside: f64 = self.pmf.get(start..).map_or(0.0, |s| s.iter().sum());
        let below = if k <= self.offset {
            self.truncated_low
        } else {
            0.0
        };
        inside + self.truncated_high + below
    }

    /// The smallest k with P(X ≤ k) ≥ q.
    pub fn quantile(&self, q: f64) -> u64 {
        let mut cdf = self.truncated_low;
        for (i, &x) in self.pmf.iter().enumerate() {
            cdf += x;
            if cdf >= q {
                return self.offset + i as u64;
            }
        }
        self.offset + self.pmf.len().saturating_sub(1) as u64
    }
}

/// ln P(Σ Bernoulli(p_i) ≥ k) by exponential tilting: with θ such that the tilted mean equals k,
/// P(S = j) = exp(ln M(θ) − θ j) · P_θ(S = j), and the tilted distribution is centred at k, so
/// the banded programme keeps the relevant mass. Exact up to the truncation it reports.
pub fn ln_upper_tail_tilted(p: &[f64], k: u64) -> f64 {
    let target = k as f64;
    let certain = p.iter().filter(|&&x| x >= 1.0).count() as f64;
    let max = p.iter().filter(|&&x| x > 0.0).count() as f64;
    if target > max {
        return f64::NEG_INFINITY;
    }
    if target <= certain {
        return 0.0;
    }
    let tilted_mean = |theta: f64| -> (f64, f64) {
        let e = theta.exp();
        let (mut m, mut v) = (0.0, 0.0);
        for &x in p {
            if x <= 0.0 {
                continue;
            }
            if x >= 1.0 {
                m += 1.0;
                continue;
            }
            let t = x * e / (1.0 - x + x * e);
            m += t;
            v += t * (1.0 - t);
        }
        (m, v)
    };
    // Newton on θ (the tilted mean is increasing in θ, its derivative is the tilted variance),
    // safeguarded by bisection.
    let (mut a, mut b) = (-50.0f64, 50.0f64);
    let mut theta = 0.0f64;
    for _ in 0..200 {
        let (m, v) = tilted_mean(theta);
        let f = m - target;
        if f.abs() < 1e-9 {
            break;
        }
        if f > 0.0 {
            b = theta;
        } else {
            a = theta;
        }
        let step = theta - f / v.max(1e-300);
        theta = if step > a && step < b {
            step
        } else {
            0.5 * (a + b)
        };
    }
    let e = theta.exp();
    let mut ln_m = 0.0;
    let tilted: Vec<f64> = p
        .iter()
        .map(|&x| {
            if x <= 0.0 {
                0.0
            } else if x >= 1.0 {
                // A certain station: E[e^{θX}] = e^θ.
                ln_m += theta;
                1.0
            } else {
                let d = 1.0 - x + x * e;
                ln_m += d.ln();
                x * e / d
            }
        })
        .collect();
    let pb = PoissonBinomial::new(&tilted);
    // Σ_{j ≥ k} exp(−θ (j − k)) P_θ(S = j), for θ ≥ 0 the factor is ≤ 1.
    let start = k.saturating_sub(pb.offset) as usize;
    let mut s = 0.0;
    if let Some(tail) = pb.pmf.get(start..) {
        for (i, &x) in tail.iter().enumerate() {
            let j = pb.offset + (start + i) as u64;
            s += (-theta * (j as f64 - target)).exp() * x;
        }
    }
    ln_m - theta * target + s.ln()
}

/// Per-replicate null counts: replicate `r` draws from `Rng::stream(seed, r)`, one uniform per
/// station against p_i, so the result depends on neither the number of threads nor their timing.
pub fn monte_carlo(p: &[f64], replicates: u32, seed: u64, threads: usize) -> Vec<u64> {
    let certain = p.iter().filter(|&&x| x >= 1.0).count() as u64;
    // P(u < thr) = thr / 2⁶⁴ = p_i (to 2⁻⁵³ relative).
    let thresholds: Vec<u64> = p
        .iter()
        .filter(|&&x| x > 0.0 && x < 1.0)
        .map(|&x| (x * 18_446_744_073_709_551_616.0) as u64)
        .collect();
    parallel_replicates(replicates, threads, |r, out| {
        // Two replicates in lockstep: two independent generators keep the CPU busy (more spill
        // their state out of the registers and are slower).
        for (pair, o) in out.chunks_mut(2).enumerate() {
            let first = r + 2 * pair as u64;
            let mut a = Rng::stream(seed, first);
            let mut b = Rng::stream(seed, first + 1);
            let (mut ca, mut cb) = (certain, certain);
            for &t in &thresholds {
                ca += u64::from(a.next_u64() < t);
                cb += u64::from(b.next_u64() < t);
            }
            o[0] = ca;
            if let Some(x) = o.get_mut(1) {
                *x = cb;
            }
        }
    })
}

/// Replicates in blocks of four (block b = replicates 4b … 4b+3), blocks shared between threads.
/// `f(first_replicate, out)` fills `out` (1–4 entries) for one block.
fn parallel_replicates(
    replicates: u32,
    threads: usize,
    f: impl Fn(u64, &mut [u64]) + Sync,
) -> Vec<u64> {
    let mut counts = vec![0u64; replicates as usize];
    let threads = threads.clamp(1, 64);
    let blocks: Vec<(usize, &mut [u64])> = counts.chunks_mut(4).enumerate().collect();
    // Deal the blocks round-robin so each thread gets a similar amount of work.
    let mut per_thread: Vec<Vec<(usize, &mut [u64])>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, blk) in blocks.into_iter().enumerate() {
        per_thread[i % threads].push(blk);
    }
    let f = &f;
    std::thread::scope(|s| {
        for work in per_thread {
            s.spawn(move || {
                for (b, out) in work {
                    f(4 * b as u64, out);
                }
            });
        }
    });
    counts
}

/// The literal Monte Carlo: for each replicate and each filtered station, draw L ~ Bin(R, s) and
/// G ~ Bin(V, t) with [`Rng::binomial`] and apply the definition. Slow (for tests); replicate `r`
/// uses `Rng::stream(seed, r)` and the stations in a canonical sorted order.
pub fn monte_carlo_binomial(e: &Election, replicates: u32, seed: u64, threads: usize) -> Vec<u64> {
    let mut kept = filtered_stations(e);
    kept.sort_unstable();
    parallel_replicates(replicates, threads, |r0, out| {
        for (j, o) in out.iter_mut().enumerate() {
            let mut rng = Rng::stream(seed, r0 + j as u64);
            let mut c = 0u64;
            for &(r, l, v, g) in &kept {
                let ls = rng.binomial(r, f64::from(l) / f64::from(r));
                let gs = rng.binomial(v, f64::from(g) / f64::from(v));
                c += u64::from(is_integer_percent(ls, r) || is_integer_percent(gs, v));
            }
            *o = c;
        }
    })
}

/// Summary of replicate counts against an observed count.
pub fn summarize_replicates(counts: &[u64], observed: u64, seed: u64) -> MonteCarlo {
    let n = counts.len().max(1) as f64;
    let mean = counts.iter().map(|&c| c as f64).sum::<f64>() / n;
    let var = if counts.len() > 1 {
        counts
            .iter()
            .map(|&c| (c as f64 - mean).powi(2))
            .sum::<f64>()
            / (counts.len() - 1) as f64
    } else {
        0.0
    };
    let mut sorted = counts.to_vec();
    sorted.sort_unstable();
    let idx = ((0.999 * counts.len() as f64).ceil() as usize).clamp(1, counts.len().max(1)) - 1;
    let at_least = counts.iter().filter(|&&c| c >= observed).count() as f64;
    MonteCarlo {
        replicates: counts.len() as u32,
        seed,
        mean,
        sd: var.sqrt(),
        p999: sorted.get(idx).copied().unwrap_or(0),
        p_value: (1.0 + at_least) / (1.0 + counts.len() as f64),
        excess: observed as f64 - mean,
    }
}

/// Beyond this many null standard deviations the p-value is computed by tilting.
const TILT_FROM_Z: f64 = 5.0;

/// Runs the whole test: filter, observed count, exact null, Monte Carlo null.
pub fn integer_test(e: &Election, opts: &IntegerOptions) -> IntegerTest {
    let nm = null_model(e, opts.threads);
    let null_mean = exact_sum(nm.p.iter().copied());
    let null_var = exact_sum(nm.p.iter().map(|&x| x * (1.0 - x)));
    let null_sd = null_var.sqrt();
    let obs = nm.observed;
    let z = if null_sd > 0.0 {
        (obs as f64 - null_mean) / null_sd
    } else {
        0.0
    };
    // Far in the tail the p-value comes from the tilted distribution, computed alongside the
    // untilted one (on a second thread when there is one; the results are the same either way).
    let (pb, tilted) = if z > TILT_FROM_Z {
        if opts.threads >= 2 {
            std::thread::scope(|s| {
                let h = s.spawn(|| ln_upper_tail_tilted(&nm.p, obs));
                let pb = PoissonBinomial::new(&nm.p);
                (
                    pb,
                    Some(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))),
                )
            })
        } else {
            (
                PoissonBinomial::new(&nm.p),
                Some(ln_upper_tail_tilted(&nm.p, obs)),
            )
        }
    } else {
        (PoissonBinomial::new(&nm.p), None)
    };
    let ln_p = tilted.unwrap_or_else(|| pb.sf(obs).min(1.0).ln());
    let monte_carlo = (opts.replicates > 0).then(|| {
        let counts = monte_carlo(&nm.p, opts.replicates, opts.seed, opts.threads);
        summarize_replicates(&counts, obs, opts.seed)
    });
    IntegerTest {
        filtered: nm.p.len() as u64,
        observed: obs,
        observed_share: nm.observed_share,
        observed_turnout: nm.observed_turnout,
        null_mean,
        null_sd,
        null_p999: pb.quantile(0.999),
        null_mean_share: nm.mean_share,
        null_mean_turnout: nm.mean_turnout,
        excess: obs as f64 - null_mean,
        z,
        p_value: ln_p.exp(),
        log10_p_value: ln_p / std::f64::consts::LN_10,
        truncation_error: pb.truncated(),
        monte_carlo,
    }
}

fn format_p(log10_p: f64) -> String {
    if log10_p >= -3.0 {
        format!("{:.3}", 10f64.powf(log10_p))
    } else if log10_p.is_finite() {
        let e = log10_p.floor();
        format!("{:.1} × 10^{}", 10f64.powf(log10_p - e), e as i64)
    } else {
        "effectively 0".to_owned()
    }
}

impl IntegerTest {
    /// Plain words for the integer-percentage test.
    pub fn reading(&self) -> Reading {
        let finding = if self.filtered == 0 {
            "No station passed the filter (at least 100 registered voters, some ballots cast, \
             turnout and leader share at most 99 %), so the test could not be run."
                .to_owned()
        } else if self.excess > 0.0 && self.observed > self.null_p999 {
            format!(
                "Of {} stations tested, {} report a turnout or leader share that is a whole \
                 percentage (±0.05). Chance alone gives about {:.0} (99.9 % of the time at most \
                 {}). The excess of {:.0} stations is {:.1} standard deviations above chance; the \
                 probability of at least this many by chance is {}. Round percentages are what \
                 one expects when results are written to a target rather than counted.",
                self.filtered,
                self.observed,
                self.null_mean,
                self.null_p999,
                self.excess,
                self.z,
                format_p(self.log10_p_value)
            )
        } else {
            format!(
                "Of {} stations tested, {} report a turnout or leader share that is a whole \
                 percentage (±0.05); chance alone gives about {:.0} (99.9 % of the time at most \
                 {}). There is no significant excess of round percentages (p = {}).",
                self.filtered,
                self.observed,
                self.null_mean,
                self.null_p999,
                format_p(self.log10_p_value)
            )
        };
        Reading {
            test: "Integer percentages",
            finding,
            caveat: "An excess of round percentages says that some protocols were probably not the \
                     result of counting, but not which ones: any single station may be round by \
                     chance. Its absence proves nothing either: a falsifier who does not aim at round \
                     numbers leaves no such trace. The null model treats each station's own result \
                     as the truth and asks only whether the rounding looks natural."
                .to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributions::synthetic_election;
    use crate::rng::Rng;
    use crate::special::ln_binomial_pmf;
    use proptest::prelude::*;

    fn float_integer(k: u32, n: u32) -> bool {
        let x = 100.0 * f64::from(k) / f64::from(n);
        (x - x.round()).abs() <= 0.05 + 1e-12
    }

    #[test]
    fn integer_percent_rule() {
        assert!(is_integer_percent(57, 100));
        assert!(is_integer_percent(0, 7));
        assert!(is_integer_percent(7, 7));
        // 1/2000 = 0.05 % exactly: within 0.05 of 0, inclusive.
        assert!(is_integer_percent(1, 2000));
        assert!(!is_integer_percent(2, 2000));
        assert!(is_integer_percent(39, 2000)); // 1.95 %
        assert!(!is_integer_percent(1, 3)); // 33.33 %
        for n in [1u32, 3, 99, 100, 101, 997, 1999, 2000, 2001, 3333] {
            for k in 0..=n.min(500) {
                assert_eq!(is_integer_percent(k, n), float_integer(k, n), "{k}/{n}");
            }
        }
    }

    #[test]
    fn filter_is_exact_at_the_edges() {
        assert!(passes_filter(100, 99, 99, 98));
        assert!(!passes_filter(100, 100, 99, 0)); // turnout 100 %
        assert!(!passes_filter(99, 10, 10, 1)); // V < 100
        assert!(!passes_filter(100, 50, 0, 0)); // R = 0
        assert!(passes_filter(1000, 990, 1000, 990)); // 99 % exactly is kept
        assert!(!passes_filter(1000, 991, 1000, 0));
    }

    #[test]
    fn probability_matches_direct_summation() {
        for &(n, k) in &[
            (100u32, 57u32),
            (1000, 500),
            (2000, 1),
            (2473, 1634),
            (150, 3),
            (5000, 4900),
        ] {
            let p = f64::from(k) / f64::from(n);
            let direct: f64 = (0..=n)
                .filter(|&j| is_integer_percent(j, n))
                .map(|j| ln_binomial_pmf(j, n, p).exp())
                .sum();
            let fast = prob_integer_percent(n, k);
            assert!((fast - direct).abs() < 1e-12, "{n},{k}: {fast} vs {direct}");
        }
        // Small n: the walk reaches both ends (odd and even leftovers); the table agrees.
        let table = Reciprocals::new(400);
        for n in [1u32, 2, 3, 4, 5, 7, 8, 33, 101, 400] {
            for k in 0..=n {
                let p = f64::from(k) / f64::from(n);
                let direct: f64 = (0..=n)
                    .filter(|&j| is_integer_percent(j, n))
                    .map(|j| ln_binomial_pmf(j, n, p).exp())
                    .sum();
                let fast = prob_integer_percent(n, k);
                assert!((fast - direct).abs() < 1e-12, "{n},{k}: {fast} vs {direct}");
                let tabled = prob_integer_core(n, k, |x| table.get(x), &mut Scratch::new(3));
                assert!((fast - tabled).abs() < 1e-14, "{n},{k}");
            }
        }
        assert_eq!(prob_integer_percent(500, 0), 1.0);
        assert_eq!(prob_integer_percent(100, 100), 1.0);
        // For n = 100 every count is a whole percentage.
        assert!((prob_integer_percent(100, 37) - 1.0).abs() < 1e-12);
    }

    fn brute_poisson_binomial(p: &[f64]) -> Vec<f64> {
        let mut d = vec![1.0];
        for &x in p {
            let mut n = vec![0.0; d.len() + 1];
            for (k, &v) in d.iter().enumerate() {
                n[k] += v * (1.0 - x);
                n[k + 1] += v * x;
            }
            d = n;
        }
        d
    }

    #[test]
    fn banded_programme_equals_the_full_one() {
        let mut rng = Rng::new(5);
        let mut p: Vec<f64> = (0..3000).map(|_| rng.f64() * 0.4).collect();
        p.extend([0.0, 1.0, 1.0]);
        let full = brute_poisson_binomial(&p);
        let pb = PoissonBinomial::new(&p);
        assert!(pb.truncated() < 1e-12, "{}", pb.truncated());
        for (k, &v) in full.iter().enumerate() {
            assert!((pb.pmf_at(k as u64) - v).abs() < 1e-12, "k = {k}");
        }
        let mean: f64 = p.iter().sum();
        let k = (mean + 20.0) as u64;
        let brute_sf: f64 = full[k as usize..].iter().sum();
        assert!((pb.sf(k) - brute_sf).abs() < 1e-12);
        let cdf_q: usize = {
            let mut c = 0.0;
            full.iter()
                .position(|&v| {
                    c += v;
                    c >= 0.999
                })
                .expect("cdf reaches 1")
        };
        assert_eq!(pb.quantile(0.999), cdf_q as u64);
    }

    /// log₁₀ P(S ≥ k) by the Lugannani–Rice formula, for the far tail.
    fn saddlepoint_log10_sf(p: &[f64], k: u64) -> f64 {
        let k = k as f64;
        let moments = |t: f64| {
            let e = t.exp();
            let (mut c, mut m, mut v) = (0.0, 0.0, 0.0);
            for &x in p {
                let d = 1.0 - x + x * e;
                let mi = x * e / d;
                c += d.ln();
                m += mi;
                v += mi * (1.0 - mi);
            }
            (c, m, v)
        };
        let mut t = 0.0;
        for _ in 0..100 {
            let (_, m, v) = moments(t);
            t -= (m - k) / v;
        }
        let (c, _, v) = moments(t);
        let w = (2.0 * (t * k - c)).sqrt();
        let u = (1.0 - (-t).exp()) * v.sqrt();
        let phi = (-w * w / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
        (crate::special::normal_sf(w) + phi * (1.0 / u - 1.0 / w)).log10()
    }

    #[test]
    fn tilted_tail_agrees_with_the_direct_one() {
        let mut rng = Rng::new(9);
        let mut p: Vec<f64> = (0..20_000).map(|_| 0.1 + rng.f64() * 0.2).collect();
        // Certain and impossible stations too.
        p.extend([1.0; 40]);
        p.extend([0.0; 10]);
        let mean: f64 = p.iter().sum();
        let sd: f64 = p.iter().map(|x| x * (1.0 - x)).sum::<f64>().sqrt();
        let pb = PoissonBinomial::new(&p);
        for z in [0.5, 2.0, 4.0, 6.0] {
            let k = (mean + z * sd).ceil() as u64;
            let direct = pb.sf(k).ln();
            let tilted = ln_upper_tail_tilted(&p, k);
            assert!(
                (direct - tilted).abs() < 1e-8,
                "z = {z}: {direct} vs {tilted}"
            );
        }
        // Far out, it agrees with the Lugannani–Rice saddlepoint approximation (accurate to a
        // fraction of a per cent there).
        for z in [8.0, 13.0, 20.0] {
            let k = (mean + z * sd) as u64;
            let lt = ln_upper_tail_tilted(&p, k) / std::f64::consts::LN_10;
            let sp = saddlepoint_log10_sf(&p, k);
            assert!((lt - sp).abs() < 0.01, "z = {z}: {lt} vs {sp}");
        }
        assert_eq!(
            ln_upper_tail_tilted(&p, p.len() as u64 + 1),
            f64::NEG_INFINITY
        );
    }

    #[test]
    fn monte_carlo_does_not_depend_on_threads() {
        let e = synthetic_election(11, 800);
        let nm = null_model(&e, 1);
        let nm3 = null_model(&e, 3);
        assert_eq!(nm.p, nm3.p);
        assert_eq!(nm.mean_share, nm3.mean_share);
        assert_eq!(nm.mean_turnout, nm3.mean_turnout);
        let one = IntegerOptions {
            replicates: 10,
            seed: 2,
            threads: 1,
        };
        let two = IntegerOptions { threads: 2, ..one };
        let (a, b) = (integer_test(&e, &one), integer_test(&e, &two));
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        let a = monte_carlo(&nm.p, 37, 4, 1);
        let b = monte_carlo(&nm.p, 37, 4, 2);
        let c = monte_carlo(&nm.p, 37, 4, 5);
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_ne!(a, monte_carlo(&nm.p, 37, 5, 2), "the seed matters");
        let x = monte_carlo_binomial(&e, 9, 4, 1);
        assert_eq!(x, monte_carlo_binomial(&e, 9, 4, 2));
    }

    #[test]
    fn summary_of_replicates() {
        let counts: Vec<u64> = (0..1000).collect();
        let s = summarize_replicates(&counts, 990, 3);
        assert_eq!(s.p999, 998);
        assert!((s.mean - 499.5).abs() < 1e-9);
        assert!((s.p_value - 11.0 / 1001.0).abs() < 1e-12);
    }

    #[test]
    fn planted_round_percentages_are_found() {
        // Rewrite a quarter of the stations to a round turnout: the test must see it.
        let e = synthetic_election(21, 4000);
        let mut f = e.clone();
        for i in (0..f.len()).step_by(4) {
            let v = f.registered[i];
            f.issued[i] = v * 80 / 100;
        }
        let opts = IntegerOptions {
            replicates: 200,
            seed: 1,
            threads: 2,
        };
        let clean = integer_test(&e, &opts);
        let dirty = integer_test(&f, &opts);
        assert!(clean.p_value > 1e-3, "{clean:?}");
        assert!(dirty.observed > dirty.null_p999, "{dirty:?}");
        assert!(dirty.log10_p_value < -10.0, "{dirty:?}");
        assert!(dirty.reading().finding.contains("excess"));
        assert!(clean.reading().finding.contains("no significant excess"));
    }

    #[test]
    fn p_values_in_words() {
        assert_eq!(format_p(-1.0), "0.100");
        assert_eq!(format_p(-46.466), "3.4 × 10^-47");
        assert_eq!(format_p(f64::NEG_INFINITY), "effectively 0");
    }

    #[test]
    fn empty_and_degenerate_elections() {
        let empty = synthetic_election(1, 0);
        let t = integer_test(&empty, &IntegerOptions::default());
        assert_eq!((t.filtered, t.observed, t.null_p999), (0, 0, 0));
        assert_eq!(t.p_value, 1.0);
        assert!(t.reading().finding.contains("could not be run"));
        // Every station certain to be "integer" (no leader votes: 0 % is whole).
        let mut e = synthetic_election(2, 50);
        for v in &mut e.votes[0] {
            *v = 0;
        }
        let t = integer_test(&e, &IntegerOptions::default());
        assert_eq!(t.observed, t.filtered);
        assert_eq!(t.null_mean, t.filtered as f64);
        assert_eq!(t.null_sd, 0.0);
        let mc = t.monte_carlo.expect("mc");
        assert_eq!(mc.mean, t.filtered as f64);
        assert_eq!(mc.p_value, 1.0);
    }

    #[test]
    fn json_field_names() {
        let t = integer_test(
            &synthetic_election(4, 300),
            &IntegerOptions {
                replicates: 10,
                ..IntegerOptions::default()
            },
        );
        let j = serde_json::to_value(&t).expect("json");
        for k in [
            "filtered",
            "observed",
            "null_mean",
            "null_sd",
            "null_p999",
            "excess",
            "p_value",
        ] {
            assert!(j[k].is_number(), "{k}");
        }
        for k in ["replicates", "seed", "mean", "sd", "p999", "p_value"] {
            assert!(j["monte_carlo"][k].is_number(), "monte_carlo.{k}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]

        /// The exact null mean equals the literal binomial Monte Carlo mean within sampling error.
        #[test]
        fn exact_mean_matches_literal_binomial_simulation(seed in any::<u64>()) {
            let e = synthetic_election(seed, 600);
            let t = integer_test(&e, &IntegerOptions { replicates: 0, seed: 1, threads: 2 });
            let reps = 400u32;
            let counts = monte_carlo_binomial(&e, reps, seed ^ 7, 2);
            let mc = summarize_replicates(&counts, t.observed, seed);
            let tol = 4.5 * t.null_sd / f64::from(reps).sqrt();
            prop_assert!((mc.mean - t.null_mean).abs() < tol, "{} vs {} (tol {})", mc.mean, t.null_mean, tol);
            prop_assert!((mc.sd - t.null_sd).abs() < 0.25 * t.null_sd + 0.5, "{} vs {}", mc.sd, t.null_sd);
        }

        #[test]
        fn station_order_does_not_matter(seed in any::<u64>(), rot in 0usize..500) {
            let e = synthetic_election(seed, 500);
            let mut order: Vec<usize> = (0..500).rev().collect();
            order.rotate_left(rot);
            let opts = IntegerOptions { replicates: 40, seed: 3, threads: 2 };
            let a = integer_test(&e, &opts);
            let b = integer_test(&e.permuted(&order), &opts);
            prop_assert_eq!(a.filtered, b.filtered);
            prop_assert_eq!(a.observed, b.observed);
            prop_assert_eq!(a.null_p999, b.null_p999);
            prop_assert_eq!(a.null_mean, b.null_mean);
            prop_assert_eq!(a.null_mean_share, b.null_mean_share);
            prop_assert_eq!(a.p_value, b.p_value);
            let (ma, mb) = (a.monte_carlo.expect("mc"), b.monte_carlo.expect("mc"));
            prop_assert_eq!(ma.mean, mb.mean);
            prop_assert_eq!(ma.p999, mb.p999);
            prop_assert_eq!(
                monte_carlo_binomial(&e, 4, 1, 2),
                monte_carlo_binomial(&e.permuted(&order), 4, 1, 2)
            );
        }
    }
}
