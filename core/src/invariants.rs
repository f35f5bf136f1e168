//! Structural rules every unsafe chain the node holds must obey. `Node::check_invariants` applies them after every
//! step in the simulator; they are written as pure functions so they can be tested on their own.

use crate::types::L2BlockRef;

/// Checks consecutive blocks: parent links, exact block times, L1 origins that advance by at most one per block,
/// and sequence numbers that restart at 0 exactly when the origin changes.
pub fn check_chain<'a>(blocks: impl Iterator<Item = &'a L2BlockRef>, block_time_ms: u64) -> Result<(), String> {
    let mut prev: Option<&L2BlockRef> = None;
    for b in blocks {
        if let Some(p) = prev {
            if b.parent_hash != p.hash || b.number != p.number + 1 {
                return Err(format!("block {b} does not extend {p}"));
            }
            if b.time_ms != p.time_ms + block_time_ms {
                return Err(format!(
                    "block {b} has time {} ms, parent {p} has {} ms (block time {block_time_ms})",
                    b.time_ms, p.time_ms
                ));
            }
            match b.l1_origin.number.checked_sub(p.l1_origin.number) {
                Some(0) => {
                    if b.l1_origin.hash != p.l1_origin.hash {
                        return Err(format!("block {b} changes origin hash at the same L1 number"));
                    }
                    if b.seq_num != p.seq_num + 1 {
                        return Err(format!("block {b} has sequence number {}, expected {}", b.seq_num, p.seq_num + 1));
                    }
                }
                Some(1) => {
                    if b.seq_num != 0 {
                        return Err(format!(
                            "block {b} starts epoch {} with sequence number {}",
                            b.l1_origin.number, b.seq_num
                        ));
                    }
                }
                _ => {
                    return Err(format!(
                        "block {b} has origin {} after parent origin {}",
                        b.l1_origin.number, p.l1_origin.number
                    ));
                }
            }
        }
        prev = Some(b);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_eips::BlockNumHash;
    use alloy_primitives::B256;

    fn chain(n: u64) -> Vec<L2BlockRef> {
        (0..n)
            .map(|i| L2BlockRef {
                hash: B256::with_last_byte(i as u8 + 1),
                number: i,
                parent_hash: B256::with_last_byte(i as u8),
                time_ms: i * 2_000,
                l1_origin: BlockNumHash { number: i / 3, hash: B256::repeat_byte((i / 3) as u8) },
                seq_num: i % 3,
            })
            .collect()
    }

    #[test]
    fn accepts_a_good_chain_and_rejects_each_kind_of_break() {
        let good = chain(10);
        assert_eq!(check_chain(good.iter(), 2_000), Ok(()));

        let mut bad = good.clone();
        bad[5].parent_hash = B256::repeat_byte(0xff);
        assert!(check_chain(bad.iter(), 2_000).unwrap_err().contains("does not extend"));

        let mut bad = good.clone();
        bad[5].time_ms += 1;
        assert!(check_chain(bad.iter(), 2_000).unwrap_err().contains("time"));

        let mut bad = good.clone();
        bad[4].seq_num = 7;
        assert!(check_chain(bad.iter(), 2_000).unwrap_err().contains("sequence number"));

        let mut bad = good.clone();
        bad[3].seq_num = 1;
        assert!(check_chain(bad.iter(), 2_000).unwrap_err().contains("starts epoch"));

        let mut bad = good.clone();
        for b in bad.iter_mut().skip(6) {
            b.l1_origin.number += 5;
        }
        assert!(check_chain(bad.iter(), 2_000).unwrap_err().contains("origin"));

        let mut bad = good;
        bad[4].l1_origin.hash = B256::repeat_byte(0xaa);
        assert!(check_chain(bad.iter(), 2_000).is_err());
    }
}
