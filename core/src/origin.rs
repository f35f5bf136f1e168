//! L1 origin selection for the next L2 block (op-node `origin_selector.go`).
//!
//! Pure: the state machine gathers the current origin, what it knows about the next L1 block and the time of the
//! block to build, and this module decides. Fetching, caching and confirmation depth live in the state machine.

use crate::types::{ms, L1BlockRef};

/// What is known about L1 block `current.number + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextOrigin<'a> {
    /// Fetched and confirmed deeply enough.
    Known(&'a L1BlockRef),
    /// Not looked up yet (or the lookup failed): a synchronous lookup could still find it.
    Unknown,
    /// Looked up against the current L1 head: it does not exist yet, or is not `l1_confs` deep.
    Absent,
}

/// The origin chosen for the next L2 block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginChoice {
    /// Keep the parent's origin (same epoch).
    Current,
    /// Adopt the next L1 block (new epoch).
    Next,
}

/// Why no origin can be chosen now.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// The next L1 block does not build on the current origin: the origin was reorged out of L1.
    #[error("L1 origin {current_hash:#x}:{current_number} is orphaned: next L1 block {next_number} has parent {next_parent:#x}")]
    Orphaned {
        /// Current origin number.
        current_number: u64,
        /// Current origin hash.
        current_hash: alloy_primitives::B256,
        /// Next block number.
        next_number: u64,
        /// Next block's parent hash.
        next_parent: alloy_primitives::B256,
    },
    /// The next L1 block must be looked up before deciding (drift reached, or recovery mode).
    #[error(
        "next L1 origin after {current_number} must be fetched before building (next L2 time {next_l2_time_ms} ms)"
    )]
    NextRequired {
        /// Current origin number.
        current_number: u64,
        /// Time of the block to build.
        next_l2_time_ms: u64,
    },
    /// Past the sequencer drift and the next L1 block is not available: no valid origin exists yet.
    #[error(
        "cannot build L2 block at {next_l2_time_ms} ms past L1 origin {current_number} (time {current_time} s) by more \
         than the sequencer drift {max_drift_s} s, and the next L1 origin is not available"
    )]
    DriftExceeded {
        /// Current origin number.
        current_number: u64,
        /// Current origin timestamp (s).
        current_time: u64,
        /// Time of the block to build.
        next_l2_time_ms: u64,
        /// Applicable drift.
        max_drift_s: u64,
    },
}

/// Inputs of one selection.
#[derive(Clone, Copy, Debug)]
pub struct OriginQuery<'a> {
    /// The parent's L1 origin.
    pub current: &'a L1BlockRef,
    /// What is known about `current.number + 1`.
    pub next: NextOrigin<'a>,
    /// UnixMs of the block to build (ms).
    pub next_l2_time_ms: u64,
    /// `MaxSequencerDrift(current.timestamp)` in seconds.
    pub max_drift_s: u64,
    /// Recovery mode: pick the origin as derivation would for an empty batch.
    pub recover: bool,
}

/// Whether `l2_time_ms` lies beyond `origin_time_s + drift_s` (the block may then carry no user transactions).
pub fn drift_exceeded(l2_time_ms: u64, origin_time_s: u64, drift_s: u64) -> bool {
    l2_time_ms > ms(origin_time_s.saturating_add(drift_s))
}

/// Chooses the origin of the next L2 block.
pub fn select(q: &OriginQuery<'_>) -> Result<OriginChoice, OriginError> {
    match q.next {
        NextOrigin::Known(next) => {
            if next.parent_hash != q.current.hash {
                return Err(OriginError::Orphaned {
                    current_number: q.current.number,
                    current_hash: q.current.hash,
                    next_number: next.number,
                    next_parent: next.parent_hash,
                });
            }
            if q.next_l2_time_ms >= ms(next.timestamp) {
                Ok(OriginChoice::Next)
            } else {
                Ok(OriginChoice::Current)
            }
        }
        NextOrigin::Unknown => {
            if q.recover || drift_exceeded(q.next_l2_time_ms, q.current.timestamp, q.max_drift_s) {
                Err(OriginError::NextRequired { current_number: q.current.number, next_l2_time_ms: q.next_l2_time_ms })
            } else {
                Ok(OriginChoice::Current)
            }
        }
        NextOrigin::Absent => {
            // Recovery mode keeps the current origin when L1 has nothing newer, exactly as derivation would for
            // an empty batch. Normal mode may not go past the drift without the next origin.
            if !q.recover && drift_exceeded(q.next_l2_time_ms, q.current.timestamp, q.max_drift_s) {
                Err(OriginError::DriftExceeded {
                    current_number: q.current.number,
                    current_time: q.current.timestamp,
                    next_l2_time_ms: q.next_l2_time_ms,
                    max_drift_s: q.max_drift_s,
                })
            } else {
                Ok(OriginChoice::Current)
            }
        }
    }
}

/// Whether L1 block `number` may be used as a next origin given the L1 head and the confirmation depth.
/// Until the L1 head is known the depth cannot be applied and the block is allowed (op-node's `confDepth`).
pub fn confirmed(number: u64, l1_head: Option<u64>, l1_confs: u64) -> bool {
    match l1_head {
        None => true,
        Some(head) => number.saturating_add(l1_confs) <= head,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::B256;

    fn block(number: u64, timestamp: u64) -> L1BlockRef {
        L1BlockRef {
            hash: B256::with_last_byte(number as u8),
            number,
            parent_hash: B256::with_last_byte(number.wrapping_sub(1) as u8),
            timestamp,
        }
    }

    const DRIFT: u64 = 600;

    fn query<'a>(cur: &'a L1BlockRef, next: NextOrigin<'a>, t_s: u64, recover: bool) -> OriginQuery<'a> {
        OriginQuery { current: cur, next, next_l2_time_ms: t_s * 1000, max_drift_s: DRIFT, recover }
    }

    #[test]
    fn selection_table() {
        let cur = block(10, 1000);
        let next = block(11, 1012);
        let orphan = L1BlockRef { parent_hash: B256::repeat_byte(0xee), ..next };
        let late = block(11, 2000);
        use NextOrigin::*;
        use OriginChoice::*;
        let cases: Vec<(&str, OriginQuery<'_>, Result<OriginChoice, &str>)> = vec![
            ("next known, L2 time before it: keep current", query(&cur, Known(&next), 1011, false), Ok(Current)),
            ("next known, L2 time equal: adopt", query(&cur, Known(&next), 1012, false), Ok(Next)),
            ("next known, L2 time after: adopt", query(&cur, Known(&next), 1020, false), Ok(Next)),
            ("next unknown within drift: keep current", query(&cur, Unknown, 1000 + DRIFT, false), Ok(Current)),
            ("next unknown past drift: must fetch", query(&cur, Unknown, 1001 + DRIFT, false), Err("required")),
            ("next absent within drift: keep current", query(&cur, Absent, 1000 + DRIFT, false), Ok(Current)),
            ("next absent past drift: no valid origin", query(&cur, Absent, 1001 + DRIFT, false), Err("drift")),
            (
                "late next known past drift, ahead of L2 time: keep current (empty block)",
                query(&cur, Known(&late), 1001 + DRIFT, false),
                Ok(Current),
            ),
            ("orphaned next", query(&cur, Known(&orphan), 1020, false), Err("orphaned")),
            ("recover: next unknown must be fetched", query(&cur, Unknown, 1001, true), Err("required")),
            ("recover: next absent keeps current even past drift", query(&cur, Absent, 5000, true), Ok(Current)),
            ("recover: next known adopted when due", query(&cur, Known(&next), 1012, true), Ok(Next)),
            ("recover: next known not yet due", query(&cur, Known(&next), 1011, true), Ok(Current)),
        ];
        for (name, q, want) in cases {
            let got = select(&q);
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(w, *g, "{name}"),
                (Err("required"), Err(OriginError::NextRequired { .. }))
                | (Err("drift"), Err(OriginError::DriftExceeded { .. }))
                | (Err("orphaned"), Err(OriginError::Orphaned { .. })) => {}
                (w, g) => panic!("{name}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn sub_second_times_compare_in_ms() {
        let cur = block(10, 1000);
        let next = block(11, 1012);
        // 1011.999 s is still before the next origin's timestamp.
        let q = OriginQuery {
            current: &cur,
            next: NextOrigin::Known(&next),
            next_l2_time_ms: 1_011_999,
            max_drift_s: DRIFT,
            recover: false,
        };
        assert_eq!(select(&q), Ok(OriginChoice::Current));
        assert!(!drift_exceeded(1_600_000, 1000, 600));
        assert!(drift_exceeded(1_600_001, 1000, 600));
    }

    #[test]
    fn confirmation_depth() {
        assert!(confirmed(96, Some(100), 4), "96 + 4 <= 100");
        assert!(!confirmed(97, Some(100), 4), "strict: 97 + 4 > 100");
        assert!(confirmed(100, Some(100), 0), "depth 0 allows the head");
        assert!(confirmed(1_000, None, 4), "unknown head: depth not applied");
    }
}
