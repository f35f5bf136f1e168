//! Bounded exponential backoff for retries. Deterministic: no jitter (the core draws no randomness).

/// Cap on the doubling exponent, so the multiplication cannot overflow.
const MAX_DOUBLINGS: u32 = 16;

/// Counts consecutive failures and turns a base delay into the delay before the next attempt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// Delay for the next retry: `base * 2^failures`, at most `max(base, cap)`. Counts one more failure.
    pub fn next_delay(&mut self, base_ms: u64, cap_ms: u64) -> u64 {
        let factor = 1u64 << self.failures.min(MAX_DOUBLINGS);
        self.failures = self.failures.saturating_add(1);
        base_ms.saturating_mul(factor).min(cap_ms.max(base_ms))
    }

    /// Forget earlier failures after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Consecutive failures so far.
    pub const fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_cap_and_resets() {
        let mut b = Backoff::default();
        let delays: Vec<u64> = (0..6).map(|_| b.next_delay(1_000, 10_000)).collect();
        assert_eq!(delays, [1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
        b.reset();
        assert_eq!(b.next_delay(1_000, 10_000), 1_000);
        // A base above the cap is used as is (30 s for a syncing engine).
        let mut s = Backoff::default();
        assert_eq!(s.next_delay(30_000, 10_000), 30_000);
        assert_eq!(s.next_delay(30_000, 10_000), 30_000);
        // Many failures saturate at the cap instead of overflowing (a panic in debug builds).
        let mut many = Backoff::default();
        assert_eq!(many.next_delay(u64::MAX / 2, u64::MAX), u64::MAX / 2);
        assert_eq!(many.next_delay(u64::MAX / 2, u64::MAX), u64::MAX - 1);
        for _ in 0..100 {
            assert_eq!(many.next_delay(u64::MAX / 2, u64::MAX), u64::MAX);
        }
        assert_eq!(many.failures(), 102);
    }
}
