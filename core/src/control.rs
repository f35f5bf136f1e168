//! Sequencer control: admin start/stop checks with op-node's exact error strings (op-conductor matches some of them
//! by substring), and the max-safe-lag stall rule.

use crate::types::L2BlockRef;
use alloy_primitives::B256;

/// `admin_startSequencer` while already active.
pub const ERR_ALREADY_RUNNING: &str = "sequencer already running";
/// `admin_stopSequencer` while not active.
pub const ERR_NOT_RUNNING: &str = "sequencer not running";
/// `admin_startSequencer` when the conductor says this node is not the leader.
pub const ERR_NOT_LEADER: &str = "sequencer is not the leader, aborting";

/// `admin_startSequencer` when the conductor's leader check failed.
pub fn leader_check_failed(err: impl std::fmt::Display) -> String {
    format!("sequencer leader check failed: {err}")
}

/// `admin_startSequencer` before the unsafe head is known.
pub fn no_prestate(requested: B256) -> String {
    format!("no prestate, cannot determine if sequencer start at {requested:#x} is safe")
}

/// `admin_startSequencer` with a hash other than the unsafe head's.
pub fn hash_mismatch(head: &L2BlockRef, requested: B256) -> String {
    format!("block hash does not match: head {head}, received {requested:#x}")
}

/// The checks of `admin_startSequencer` that follow the leader check, in op-node's order:
/// already running, no prestate, hash mismatch.
pub fn check_start(active: bool, unsafe_head: Option<&L2BlockRef>, requested: B256) -> Result<(), String> {
    if active {
        return Err(ERR_ALREADY_RUNNING.to_string());
    }
    let Some(head) = unsafe_head else {
        return Err(no_prestate(requested));
    };
    if head.hash != requested {
        return Err(hash_mismatch(head, requested));
    }
    Ok(())
}

/// Whether building must pause because the unsafe head is `max_safe_lag` or more blocks ahead of the safe head.
/// `max_safe_lag == 0` disables the rule.
pub fn safe_lag_stalled(max_safe_lag: u64, unsafe_number: u64, safe_number: u64) -> bool {
    max_safe_lag > 0 && unsafe_number >= safe_number.saturating_add(max_safe_lag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> L2BlockRef {
        L2BlockRef {
            hash: B256::repeat_byte(0xab),
            number: 42,
            parent_hash: B256::ZERO,
            time_ms: 0,
            l1_origin: Default::default(),
            seq_num: 0,
        }
    }

    #[test]
    fn start_error_strings_match_op_node() {
        let h = head();
        let other = B256::repeat_byte(0xcd);
        assert_eq!(check_start(true, Some(&h), h.hash).unwrap_err(), "sequencer already running");
        assert_eq!(
            check_start(false, None, other).unwrap_err(),
            format!("no prestate, cannot determine if sequencer start at 0x{} is safe", "cd".repeat(32))
        );
        assert_eq!(
            check_start(false, Some(&h), other).unwrap_err(),
            format!("block hash does not match: head 0x{}:42, received 0x{}", "ab".repeat(32), "cd".repeat(32))
        );
        assert_eq!(check_start(false, Some(&h), h.hash), Ok(()));
        // "already running" is checked before the hash.
        assert_eq!(check_start(true, Some(&h), other).unwrap_err(), ERR_ALREADY_RUNNING);
        assert_eq!(ERR_NOT_LEADER, "sequencer is not the leader, aborting");
        assert_eq!(ERR_NOT_RUNNING, "sequencer not running");
        assert_eq!(leader_check_failed("boom"), "sequencer leader check failed: boom");
    }

    #[test]
    fn safe_lag_rule() {
        assert!(!safe_lag_stalled(0, 1_000, 0), "0 disables");
        assert!(!safe_lag_stalled(10, 109, 100));
        assert!(safe_lag_stalled(10, 110, 100), "stalls at exactly the lag");
        assert!(safe_lag_stalled(10, 111, 100));
        assert!(!safe_lag_stalled(10, 5, 100), "safe ahead of unsafe is not a stall");
    }
}
