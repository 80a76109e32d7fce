//! Background-job policy shared by every backend: how long to wait before the next attempt.

use std::time::Duration;

/// Exponential back-off: `base · 2^(attempt-1)`, capped at `cap`. `attempt` counts from 1
/// (the attempt that just failed). Deterministic, so tests can predict the next run time.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1).min(30))
        .unwrap_or(u32::MAX);
    base.checked_mul(factor).map_or(cap, |d| d.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn doubles_then_caps() {
        let b = Duration::from_secs(10);
        let cap = Duration::from_secs(3600);
        assert_eq!(backoff(1, b, cap), Duration::from_secs(10));
        assert_eq!(backoff(2, b, cap), Duration::from_secs(20));
        assert_eq!(backoff(4, b, cap), Duration::from_secs(80));
        assert_eq!(backoff(20, b, cap), cap);
        assert_eq!(backoff(u32::MAX, b, cap), cap);
    }

    proptest! {
        #[test]
        fn never_decreases_and_never_exceeds_cap(a in 1u32..200, base_ms in 1u64..100_000, cap_ms in 1u64..10_000_000) {
            let (b, c) = (Duration::from_millis(base_ms), Duration::from_millis(cap_ms));
            prop_assert!(backoff(a, b, c) <= c);
            prop_assert!(backoff(a + 1, b, c) >= backoff(a, b, c));
        }
    }
}
