//! Blocks built elsewhere (`admin_postUnsafePayload`, a conductor catching this node up): queued, vetted,
//! imported from `Idle` when they extend the unsafe head.

use super::*;

impl Node {
    // ----- blocks from outside -----------------------------------------------------------------------------------

    pub(super) fn queue_import(&mut self, envelope: Arc<OpExecutionPayloadEnvelope>) {
        let number = envelope.execution_payload.block_number();
        if self.heads.unsafe_head.is_some_and(|u| number <= u.number) {
            debug!("ignoring posted payload {number}: not above the unsafe head");
            return;
        }
        if self.imports.len() >= MAX_QUEUED_PAYLOADS && !self.imports.contains_key(&number) {
            match self.imports.last_key_value() {
                Some((&highest, _)) if highest > number => {
                    self.imports.remove(&highest);
                }
                _ => {
                    warn!("posted payload queue full ({MAX_QUEUED_PAYLOADS}); dropping block {number}");
                    return;
                }
            }
        }
        self.imports.insert(number, envelope);
    }

    /// Starts importing the queued payload that extends the unsafe head, if any.
    pub(super) fn try_import(&mut self) -> bool {
        let Some(head) = self.heads.unsafe_head else { return false };
        if self.requests.engine_busy() || !matches!(self.sync, Sync::Ready) {
            return false;
        }
        while self.imports.first_key_value().is_some_and(|(n, _)| *n <= head.number) {
            self.imports.pop_first();
        }
        let Some(envelope) = self.imports.remove(&(head.number + 1)) else { return false };
        match self.external_block_ref(&head, &envelope) {
            Ok(block) => {
                debug!("importing posted block {block}");
                self.build = Build::Importing { block, envelope, inserted: false };
                self.retry_at = self.now;
            }
            Err(e) => warn!("rejecting posted payload {}: {e}", head.number + 1),
        }
        true
    }

    /// The reference of a block built elsewhere, checked against the chain rules it must satisfy on top of `head`.
    pub(super) fn external_block_ref(
        &self,
        head: &L2BlockRef,
        env: &OpExecutionPayloadEnvelope,
    ) -> Result<L2BlockRef, String> {
        let p = &env.execution_payload;
        if p.parent_hash() != head.hash {
            return Err(format!("parent {:#x} is not the unsafe head {head}", p.parent_hash()));
        }
        let hash = crate::payload::header_hash(env)?;
        if hash != p.block_hash() {
            return Err(format!("payload claims hash {:#x} but its header hashes to {hash:#x}", p.block_hash()));
        }
        let (l1_origin, seq_num) = crate::payload::l1_info(env)?;
        let block = L2BlockRef {
            hash: p.block_hash(),
            number: p.block_number(),
            parent_hash: p.parent_hash(),
            time_ms: timing::next_block_time(head.time_ms, self.cfg.block_time_ms),
            l1_origin,
            seq_num,
        };
        if p.timestamp() != block.timestamp_s() {
            return Err(format!("timestamp {} is not the next slot {}", p.timestamp(), block.timestamp_s()));
        }
        crate::invariants::check_chain([head, &block].into_iter(), self.cfg.block_time_ms)?;
        Ok(block)
    }

    pub(super) fn on_import(
        &mut self,
        block: L2BlockRef,
        envelope: Arc<OpExecutionPayloadEnvelope>,
        inserted: bool,
        reply: Result<EngineReply, RpcError>,
    ) {
        let verdict = match (inserted, reply) {
            (false, Ok(EngineReply::PayloadInserted { status })) => {
                match engine::classify_insert_status(&status, &block) {
                    Ok(()) => {
                        self.build = Build::Importing { block, envelope, inserted: true };
                        self.retry_at = self.now;
                        return;
                    }
                    Err(Verdict::Drop(reason)) => {
                        warn!("posted block rejected by the engine: {reason}");
                        return;
                    }
                    Err(v) => v,
                }
            }
            (true, Ok(EngineReply::ForkchoiceUpdated { status, .. })) => {
                match engine::classify_update_status(&status, &block) {
                    Ok(()) => {
                        info!(
                            "imported block number={} hash={:#x} origin={}",
                            block.number, block.hash, block.l1_origin.number
                        );
                        match config_from_payload(&self.cfg.rollup, &block, &envelope) {
                            Ok(c) => self.parent_config = c,
                            Err(e) => error!("cannot reconstruct the SystemConfig of imported block {block}: {e}"),
                        }
                        self.set_unsafe(block);
                        self.backoff.reset();
                        if let Some(cur) = self.l1_cache.get(&block.l1_origin.hash).cloned() {
                            self.prefetch_next(&cur);
                        }
                        return;
                    }
                    Err(v) => v,
                }
            }
            (false, Err(e)) => engine::classify_insert_error(&e, &block),
            (true, Err(e)) => engine::classify_update_error(&e, &block),
            (inserted, Ok(other)) => engine::unexpected_reply(
                if inserted { "engine_forkchoiceUpdated" } else { "engine_newPayload" },
                &other,
            ),
        };
        self.build = Build::Importing { block, envelope, inserted };
        self.apply_verdict(verdict);
    }
}
