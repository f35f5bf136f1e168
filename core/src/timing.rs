//! When to build and when to seal. Pure functions of the parent, the configuration and wall time; the
//! state machine derives every deadline from these instead of counting ticks, so a sequencer that was stopped for
//! an hour never "catches up" a backlog of ticks.

use crate::types::UnixMs;

/// UnixMs (ms) of the child of a block at `parent_time_ms`.
pub const fn next_block_time(parent_time_ms: u64, block_time_ms: u64) -> u64 {
    parent_time_ms.saturating_add(block_time_ms)
}

/// Wall time at which building the child of `parent_time_ms` may start: the parent's own seal moment (its timestamp
/// minus the seal margin), so the child's build starts as soon as the parent is the head and the engine fills blocks
/// for the whole slot (op-node starts the next block right after the previous one is sealed and inserted). A
/// sequencer behind wall time finds this in the past and builds back-to-back.
pub const fn build_start(parent_time_ms: u64, seal_margin_ms: u64) -> UnixMs {
    parent_time_ms.saturating_sub(seal_margin_ms)
}

/// Wall time at which a payload with timestamp `payload_time_ms` is sealed: the engine gets the whole slot minus the
/// seal margin to pack transactions. If that moment has passed, the state machine seals at once.
pub const fn seal_at(payload_time_ms: u64, seal_margin_ms: u64) -> UnixMs {
    payload_time_ms.saturating_sub(seal_margin_ms)
}

/// Smallest adaptive seal margin (ms): scheduling jitter of the node itself.
pub const ADAPTIVE_SEAL_MARGIN_MIN_MS: u64 = 10;
/// Largest adaptive seal margin (ms); never more than a quarter of the block time either.
pub const ADAPTIVE_SEAL_MARGIN_MAX_MS: u64 = 250;
/// getPayload round trips the adaptive seal margin looks back on.
pub const SEAL_LATENCY_WINDOW: usize = 32;

/// The seal margin for recent getPayload round trips (`recent_ms`, the last [`SEAL_LATENCY_WINDOW`] of them): twice
/// the slowest plus 5 ms, so a sealed payload is back before its timestamp even when the engine is twice as slow as
/// it has lately been at worst, within [`ADAPTIVE_SEAL_MARGIN_MIN_MS`] and the smaller of
/// [`ADAPTIVE_SEAL_MARGIN_MAX_MS`] and a quarter of the block time. `initial` until anything was measured.
pub fn adaptive_seal_margin(recent_ms: impl IntoIterator<Item = u64>, initial: u64, block_time_ms: u64) -> u64 {
    let cap = ADAPTIVE_SEAL_MARGIN_MAX_MS.min(block_time_ms / 4);
    let floor = ADAPTIVE_SEAL_MARGIN_MIN_MS.min(cap);
    match recent_ms.into_iter().max() {
        None => initial.min(cap),
        Some(slowest) => slowest.saturating_mul(2).saturating_add(5).clamp(floor, cap),
    }
}

/// Whether the chain has caught up with wall time: the next block's timestamp is not in the past.
pub const fn caught_up(next_block_time_ms: u64, now: UnixMs) -> bool {
    next_block_time_ms >= now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_arithmetic() {
        // 2 s blocks: building the child of the block at t=10 s starts when that block was sealed (9.95 s) and seals
        // at 11.95 s: the engine has the whole 2 s.
        assert_eq!(next_block_time(10_000, 2_000), 12_000);
        assert_eq!(build_start(10_000, 50), 9_950);
        assert_eq!(seal_at(12_000, 50), 11_950);
        // 200 ms blocks work the same way.
        assert_eq!(next_block_time(10_000, 200), 10_200);
        assert_eq!(seal_at(10_200, 50), 10_150);
        assert!(caught_up(12_000, 11_999));
        assert!(caught_up(12_000, 12_000));
        assert!(!caught_up(12_000, 12_001));
    }

    #[test]
    fn the_adaptive_margin_follows_the_slowest_recent_seal_within_bounds() {
        assert_eq!(adaptive_seal_margin([], 50, 1_000), 50, "nothing measured yet: the configured margin");
        assert_eq!(adaptive_seal_margin([], 50, 100), 25, "never above a quarter of the block time");
        assert_eq!(adaptive_seal_margin([1, 3, 2], 50, 1_000), 11, "2 × 3 ms + 5 ms");
        assert_eq!(adaptive_seal_margin([0, 1], 50, 1_000), ADAPTIVE_SEAL_MARGIN_MIN_MS);
        assert_eq!(adaptive_seal_margin([40], 50, 1_000), 85);
        assert_eq!(adaptive_seal_margin([400], 50, 2_000), ADAPTIVE_SEAL_MARGIN_MAX_MS);
        assert_eq!(adaptive_seal_margin([400], 50, 200), 50, "a quarter of a 200 ms slot");
        assert_eq!(adaptive_seal_margin([u64::MAX], 50, 1_000), 250, "no overflow");
        assert_eq!(adaptive_seal_margin([1], 50, 20), 5, "tiny slots: the quarter wins over the floor");
    }
}
