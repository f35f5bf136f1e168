//! The L1 view: head observations, the block cache, the next-origin prefetch, reorg verification and the
//! origin's receipts.

use super::*;

impl Node {
    // ----- L1 -------------------------------------------------------------------------------------------------

    pub(super) fn on_l1_head(&mut self, head: kona_protocol::BlockInfo) {
        if let Some(prev) = self.heads.l1_head {
            if prev.hash == head.hash {
                return;
            }
            let reorg = head.number <= prev.number || (head.number == prev.number + 1 && head.parent_hash != prev.hash);
            if reorg {
                info!(
                    "L1 reorg observed old_head={:#x}:{} new_head={:#x}:{}; re-checking L1 origin",
                    prev.hash, prev.number, head.hash, head.number
                );
                self.requests.abandon(|p| matches!(p, Pending::L1Next(_) | Pending::L1Verify(_)));
                self.next = NextSlot::Empty;
                self.verify = Verify::Needed;
                // Batches already traversed in orphaned blocks must not be derived. A node that builds re-checks
                // its origin before the next build (`verify`); one that does not (paused by max-safe-lag, stopped)
                // would never notice orphaned origins that way, so its engine state is re-checked by a reset, as
                // when traversal finds the reorg itself.
                if self.cfg.derivation && matches!(self.sync, Sync::Ready) && self.derivation.orphaned_by(&head) {
                    let reason =
                        format!("L1 head {:#x}:{} replaced a block derivation traversed", head.hash, head.number);
                    self.heads.l1_head = Some(head);
                    self.restart_derivation(&reason);
                    if !self.may_build() {
                        return self.begin_reset(format!("derivation: {reason}"));
                    }
                }
            }
        }
        self.heads.l1_head = Some(head);
        if let Some(cur) = self.heads.unsafe_head.and_then(|u| self.l1_cache.get(&u.l1_origin.hash).cloned()) {
            if matches!(self.sync, Sync::Ready) {
                self.prefetch_next(&cur);
            }
        }
    }

    /// The full block of the unsafe head's origin (the answer to [`Pending::L1Current`]).
    pub(super) fn on_l1_current(&mut self, hash: B256, result: Result<Option<L1Block>, RpcError>) {
        match result {
            Ok(Some(b)) if b.hash() == hash => {
                self.l1_backoff.reset();
                self.cache_l1(b);
            }
            other => {
                let delay = self.l1_backoff.next_delay(TEMPORARY_RETRY_MS, MAX_TEMPORARY_BACKOFF_MS);
                let what = match other {
                    Ok(Some(b)) => format!("returned block {:#x}", b.hash()),
                    Ok(None) => "not found".into(),
                    Err(e) => e.to_string(),
                };
                warn!("cannot fetch current L1 origin {hash:#x}: {what}; retry_in_ms={delay}");
                self.not_before = self.not_before.max(self.now + delay);
            }
        }
    }

    /// L1 block `origin + 1` (the answer to [`Pending::L1Next`]).
    pub(super) fn on_l1_next(&mut self, number: u64, result: Result<Option<L1Block>, RpcError>) {
        debug_assert_eq!(self.next, NextSlot::Fetching { number }, "a live next-origin lookup has its slot");
        self.next = match result {
            Ok(Some(b)) if b.number() == number => {
                self.l1_backoff.reset();
                self.cache_l1(b.clone());
                self.fetch_receipts(b.hash());
                NextSlot::Known(b)
            }
            Ok(None) => NextSlot::Absent { number, l1_head: self.heads.l1_head.map(|h| h.number) },
            other => {
                let delay = self.l1_backoff.next_delay(TEMPORARY_RETRY_MS, MAX_TEMPORARY_BACKOFF_MS);
                match other {
                    Ok(Some(b)) => warn!("asked L1 for block {number}, got {}", b.number()),
                    Err(e) => debug!("L1 lookup of block {number} failed: {e}"),
                    Ok(None) => {}
                }
                NextSlot::Failed { number, retry_at: self.now + delay }
            }
        };
    }

    /// The current origin's height again, after a sign of a reorg (the answer to [`Pending::L1Verify`]).
    pub(super) fn on_l1_verify(&mut self, number: u64, result: Result<Option<L1Block>, RpcError>) {
        debug_assert_eq!(self.verify, Verify::Fetching, "a live origin re-check has its state");
        let current = self.heads.unsafe_head.map(|u| u.l1_origin);
        match (result, current) {
            (Ok(Some(b)), Some(cur)) if b.number() == number && cur.number == number => {
                self.verify = Verify::Idle;
                if b.hash() != cur.hash {
                    let reason = format!(
                        "L1 origin {:#x}:{number} of the unsafe head was reorged out (canonical {:#x})",
                        cur.hash,
                        b.hash()
                    );
                    self.begin_reset(reason);
                }
            }
            (Ok(_), Some(cur)) if cur.number != number => self.verify = Verify::Needed,
            _ => {
                let delay = self.l1_backoff.next_delay(TEMPORARY_RETRY_MS, MAX_TEMPORARY_BACKOFF_MS);
                warn!("cannot re-check L1 origin {number} after a reorg; retry_in_ms={delay}");
                self.verify = Verify::Needed;
                self.not_before = self.not_before.max(self.now + delay);
            }
        }
    }
}
