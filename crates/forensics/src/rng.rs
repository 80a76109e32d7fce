//! A small, fast, seeded random generator (xoshiro256++, seeded through SplitMix64), so every
//! Monte Carlo result in a report can be reproduced from its seed, on any machine, with no
//! dependency whose stream might change between versions.

/// xoshiro256++ (Blackman & Vigna). Not for cryptography.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let s = [
            splitmix64(&mut x),
            splitmix64(&mut x),
            splitmix64(&mut x),
            splitmix64(&mut x),
        ];
        Self { s }
    }

    /// An independent stream for worker `stream` of a computation seeded with `seed`: the same
    /// (seed, stream) always gives the same numbers, whatever the number of threads.
    pub fn stream(seed: u64, stream: u64) -> Self {
        let mut x = seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mixed = splitmix64(&mut x);
        Self::new(mixed ^ stream)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1), 53 random bits.
    #[inline]
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1): safe to take the logarithm of.
    #[inline]
    pub fn f64_open(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Marsaglia's polar method).
    pub fn normal(&mut self) -> f64 {
        loop {
            let u = 2.0 * self.f64() - 1.0;
            let v = 2.0 * self.f64() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                return u * (-2.0 * s.ln() / s).sqrt();
            }
        }
    }

    /// Exponential with rate 1.
    pub fn exponential(&mut self) -> f64 {
        -self.f64_open().ln()
    }

    /// Binomial(n, p), exactly, by inversion from the mode outwards (cost grows with the
    /// standard deviation, fine for polling-station sizes; for tests and simulation, not hot loops).
    pub fn binomial(&mut self, n: u32, p: f64) -> u32 {
        if n == 0 || p <= 0.0 {
            return 0;
        }
        if p >= 1.0 {
            return n;
        }
        let mode = ((f64::from(n) + 1.0) * p).floor().min(f64::from(n)) as u32;
        let pmf_mode = crate::special::ln_binomial_pmf(mode, n, p).exp();
        let ratio_up = p / (1.0 - p);
        let mut u = self.f64();
        // Walk outwards from the mode, alternating sides, subtracting probabilities.
        let (mut lo, mut hi) = (mode, mode);
        let (mut p_lo, mut p_hi) = (pmf_mode, pmf_mode);
        u -= pmf_mode;
        if u < 0.0 {
            return mode;
        }
        loop {
            let can_up = hi < n;
            let can_down = lo > 0;
            if !can_up && !can_down {
                return mode;
            }
            if can_up {
                p_hi *= ratio_up * f64::from(n - hi) / f64::from(hi + 1);
                hi += 1;
                u -= p_hi;
                if u < 0.0 {
                    return hi;
                }
            }
            if can_down {
                p_lo *= f64::from(lo) / (f64::from(n - lo + 1) * ratio_up);
                lo -= 1;
                u -= p_lo;
                if u < 0.0 {
                    return lo;
                }
            }
            if p_hi < 1e-300 && p_lo < 1e-300 {
                return mode;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproducible_and_distinct_streams() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::stream(7, 0).next_u64(), Rng::stream(7, 1).next_u64());
    }

    #[test]
    fn moments_are_right() {
        let mut r = Rng::new(1);
        let n = 200_000;
        let (mut su, mut sn, mut sn2, mut sb) = (0.0, 0.0, 0.0, 0.0);
        for _ in 0..n {
            su += r.f64();
            let z = r.normal();
            sn += z;
            sn2 += z * z;
            sb += f64::from(r.binomial(1000, 0.3));
        }
        let n = f64::from(n);
        assert!((su / n - 0.5).abs() < 0.005);
        assert!((sn / n).abs() < 0.01);
        assert!((sn2 / n - 1.0).abs() < 0.02);
        assert!((sb / n - 300.0).abs() < 0.2, "{}", sb / n);
    }

    #[test]
    fn binomial_edges() {
        let mut r = Rng::new(3);
        assert_eq!(r.binomial(0, 0.5), 0);
        assert_eq!(r.binomial(10, 0.0), 0);
        assert_eq!(r.binomial(10, 1.0), 10);
        for _ in 0..1000 {
            assert!(r.binomial(5, 0.9) <= 5);
        }
    }
}
