//! The engine reset walk-back (heads from the engine, walk back to a block with a canonical L1 origin,
//! SystemConfig of the new head) and L2 heads reported from outside.

use super::*;

impl Node {
    // ----- reset ----------------------------------------------------------------------------------------------

    pub(super) fn begin_reset(&mut self, reason: String) {
        self.stats.resets += 1;
        let delay = if self.consecutive_resets == 0 {
            0
        } else {
            self.reset_backoff.next_delay(TEMPORARY_RETRY_MS, MAX_TEMPORARY_BACKOFF_MS)
        };
        self.consecutive_resets = self.consecutive_resets.saturating_add(1);
        warn!("resetting engine state retry_in_ms={delay} build_stage={} reason=\"{reason}\"", self.build.name());
        // The build, the next-origin lookup, an origin re-check and any earlier reset are given up.
        self.abandon_build();
        self.requests.abandon(|p| p.is_reset() || matches!(p, Pending::L1Next(_) | Pending::L1Verify(_)));
        self.next = NextSlot::Empty;
        self.verify = Verify::Idle;
        self.sync = Sync::Resetting(Box::new(Reset {
            reason,
            step: ResetStep::FetchHeads,
            retry_at: self.now + delay,
            walked: 0,
            wait_after: true,
            config: None,
        }));
    }

    pub(super) fn step_reset(&mut self) -> bool {
        let Sync::Resetting(r) = &self.sync else { return false };
        if self.reset_waiting() || self.now < r.retry_at {
            return false;
        }
        let step = r.step.clone();
        let (what, cmd): (ResetCall, fn(RequestId, u64) -> Command) = match &step {
            ResetStep::FetchHeads => {
                self.request(Pending::Reset(ResetCall::Heads), |id| Command::FetchL2Heads { id });
                return true;
            }
            ResetStep::CheckOrigin { engine, candidate } => {
                let floor = self.reset_floor(engine);
                if candidate.number <= floor.number || candidate.number == self.cfg.rollup.genesis.l2.number {
                    // Never walk below the floor (see `reset_floor`).
                    let target = if candidate.number < floor.number { floor } else { *candidate };
                    return self.set_reset_step(ResetStep::Header { engine: *engine, target });
                }
                (ResetCall::Origin(candidate.l1_origin.number), |id, number| Command::FetchL1BlockByNumber {
                    id,
                    number,
                })
            }
            ResetStep::WalkBack { number, .. } => {
                (ResetCall::Block(*number), |id, number| Command::FetchL2BlockByNumber { id, number })
            }
            ResetStep::Header { target, .. } => {
                (ResetCall::Header(target.number), |id, number| Command::FetchL2Header { id, number })
            }
            ResetStep::Forkchoice { engine, target } => {
                if target.hash == engine.unsafe_head.hash {
                    self.finish_reset(*engine, *target);
                    return true;
                }
                if self.requests.engine_busy() {
                    return false;
                }
                let state = ForkchoiceState {
                    head_block_hash: target.hash,
                    safe_block_hash: Self::safe_after_reset(engine, *target).hash,
                    finalized_block_hash: engine.finalized.hash,
                };
                self.request_head_update(Pending::Reset(ResetCall::Forkchoice), state);
                return true;
            }
        };
        let number = match what {
            ResetCall::Origin(n) | ResetCall::Block(n) | ResetCall::Header(n) => n,
            ResetCall::Heads | ResetCall::Forkchoice => unreachable!("only numbered lookups reach here"),
        };
        self.request(Pending::Reset(what), |id| cmd(id, number));
        true
    }

    pub(super) fn set_reset_step(&mut self, step: ResetStep) -> bool {
        if let Sync::Resetting(r) = &mut self.sync {
            r.step = step;
        }
        true
    }

    pub(super) fn reset_failed(&mut self, what: String) {
        self.stats.retries += 1;
        let delay = self.reset_backoff.next_delay(TEMPORARY_RETRY_MS, MAX_TEMPORARY_BACKOFF_MS);
        warn!("reset step failed, retrying retry_in_ms={delay} error=\"{what}\"");
        if let Sync::Resetting(r) = &mut self.sync {
            r.retry_at = self.now + delay;
        }
    }

    pub(super) fn reset_step(&self) -> Option<ResetStep> {
        match &self.sync {
            Sync::Resetting(r) => Some(r.step.clone()),
            Sync::Ready => None,
        }
    }

    pub(super) fn on_l2_heads(&mut self, result: Result<EngineHeads, RpcError>) {
        let heads = match result {
            Ok(h) => h,
            Err(e) => return self.reset_failed(format!("reading engine heads: {e}")),
        };
        let (u, s, f) = (heads.unsafe_head, heads.safe, heads.finalized);
        if u.number < f.number {
            let msg = format!("engine unsafe head {u} is behind its finalized head {f}");
            self.apply_verdict(Verdict::Critical(msg.clone()));
            return self.reset_failed(msg);
        }
        if s.number < f.number || u.number < s.number {
            return self.reset_failed(format!("engine heads out of order: unsafe {u}, safe {s}, finalized {f}"));
        }
        self.set_reset_step(ResetStep::CheckOrigin { engine: heads, candidate: u });
    }

    pub(super) fn on_reset_l1(&mut self, block: Option<L1Block>) {
        let Some(ResetStep::CheckOrigin { engine, candidate }) = self.reset_step() else { return };
        match block {
            Some(b) if b.hash() == candidate.l1_origin.hash => {
                self.cache_l1(b);
                self.set_reset_step(ResetStep::Header { engine, target: candidate });
            }
            Some(b) => {
                warn!(
                    "unsafe block {candidate} has orphaned L1 origin {:#x}:{} (canonical {:#x}); walking back",
                    candidate.l1_origin.hash,
                    candidate.l1_origin.number,
                    b.hash()
                );
                // Jump to the last block of the previous epoch.
                let prev = candidate.number.saturating_sub(candidate.seq_num + 1);
                let walked = match &self.sync {
                    Sync::Resetting(r) => r.walked,
                    Sync::Ready => 0,
                };
                let floor = self.reset_floor(&engine);
                if prev <= floor.number || walked >= MAX_RESET_WALKBACK {
                    self.set_reset_step(ResetStep::Header { engine, target: floor });
                } else {
                    self.set_reset_step(ResetStep::WalkBack { engine, number: prev });
                }
            }
            None => {
                // L1 has no block at that height (it reorganised to a shorter chain, or this L1 node lags): the
                // origin can be neither kept nor given up yet. Wait for L1 to reach it, as op-node's FindL2Heads
                // does; keeping it unchecked could leave a paused sequencer on an orphaned origin for good.
                self.reset_failed(format!(
                    "L1 has no block {} yet to check the origin {:#x} of unsafe block {candidate}",
                    candidate.l1_origin.number, candidate.l1_origin.hash
                ));
            }
        }
    }

    pub(super) fn on_l2_block(&mut self, asked: u64, result: Result<Option<L2BlockRef>, RpcError>) {
        let Some(ResetStep::WalkBack { engine, number }) = self.reset_step() else { return };
        debug_assert_eq!(asked, number, "a live walk-back lookup asks the current step's block");
        match result {
            Ok(Some(block)) if block.number == number => {
                if let Sync::Resetting(r) = &mut self.sync {
                    r.walked += 1;
                }
                self.set_reset_step(ResetStep::CheckOrigin { engine, candidate: block });
            }
            Ok(Some(block)) => self.reset_failed(format!("asked the engine for block {number}, got {block}")),
            Ok(None) => self.reset_failed(format!("engine has no L2 block {number} below its unsafe head")),
            Err(e) => self.reset_failed(format!("reading L2 block {number}: {e}")),
        }
    }

    pub(super) fn on_l2_header(&mut self, result: Result<Option<crate::io::L2Header>, RpcError>) {
        let Some(ResetStep::Header { engine, target }) = self.reset_step() else { return };
        let header = match result {
            Ok(Some(h)) if h.hash == target.hash => h,
            Ok(Some(h)) => {
                // The engine's chain moved under us: start the reset over.
                self.reset_failed(format!("engine block {} is now {:#x}, expected {target}", target.number, h.hash));
                self.set_reset_step(ResetStep::FetchHeads);
                return;
            }
            Ok(None) => {
                return self
                    .reset_failed(format!("engine has no block {} to read the SystemConfig from", target.number))
            }
            Err(e) => return self.reset_failed(format!("reading the header of L2 block {}: {e}", target.number)),
        };
        match config_from_header(&self.cfg.rollup, &target, &header) {
            Ok(config) => {
                if let Sync::Resetting(r) = &mut self.sync {
                    r.config = Some(config);
                }
                self.set_reset_step(ResetStep::Forkchoice { engine, target });
            }
            Err(e) => {
                error!("cannot reconstruct the SystemConfig of L2 block {target}: {e}");
                self.reset_failed(format!("SystemConfig of {target}: {e}"));
            }
        }
    }

    pub(super) fn on_reset_forkchoice(&mut self, reply: Result<EngineReply, RpcError>) {
        let Some(ResetStep::Forkchoice { engine, target }) = self.reset_step() else { return };
        let verdict = match reply {
            Ok(EngineReply::ForkchoiceUpdated { status, .. }) => match engine::classify_update_status(&status, &target)
            {
                Ok(()) => return self.finish_reset(engine, target),
                Err(v) => v,
            },
            Ok(other) => engine::unexpected_reply("engine_forkchoiceUpdated", &other),
            Err(e) => engine::classify_update_error(&e, &target),
        };
        match verdict {
            Verdict::Reset(reason) => {
                self.reset_failed(reason);
                self.set_reset_step(ResetStep::FetchHeads);
            }
            other => self.reset_failed(format!("{other:?}")),
        }
    }

    /// The lowest block a reset walks back to: the safe head, or with derivation the finalized head (a safe head
    /// whose L1 origin was reorganised away is derived again; op-node `FindL2Heads`).
    pub(super) fn reset_floor(&self, engine: &EngineHeads) -> L2BlockRef {
        if self.cfg.derivation {
            engine.finalized
        } else {
            engine.safe
        }
    }

    /// The safe head after a reset to `target`: the engine's, unless the reset went below it.
    fn safe_after_reset(engine: &EngineHeads, target: L2BlockRef) -> L2BlockRef {
        if target.number < engine.safe.number {
            target
        } else {
            engine.safe
        }
    }

    pub(super) fn finish_reset(&mut self, engine: EngineHeads, target: L2BlockRef) {
        let (wait, reason, config) = match &self.sync {
            Sync::Resetting(r) => (r.wait_after, r.reason.clone(), r.config),
            Sync::Ready => (false, String::new(), None),
        };
        if let Some(config) = config {
            self.parent_config = config;
        }
        info!(
            "engine heads synced unsafe={target} safe={} finalized={} reason=\"{reason}\"",
            engine.safe, engine.finalized
        );
        self.recent.clear();
        self.heads.safe = Some(Self::safe_after_reset(&engine, target));
        self.heads.finalized = Some(engine.finalized);
        // The engine was just told these (or reported them).
        self.derivation.engine_told = (Self::safe_after_reset(&engine, target).hash, engine.finalized.hash);
        self.set_unsafe(target);
        self.sync = Sync::Ready;
        self.build = Build::Idle;
        if wait {
            self.not_before = self.now + self.cfg.block_time_ms;
        }
        if let Some(c) = self.committed_pending.clone() {
            if c.job.parent == target {
                // The conductor already holds this block: insert it again instead of building a rival at its height.
                info!("re-inserting block {} already committed to the conductor", c.block);
                self.build = Build::Inserting { sealed: c };
                self.retry_at = self.now;
            } else {
                if c.block != target {
                    warn!("committed block {} is not on the engine's chain after the reset (head {target})", c.block);
                }
                self.committed_pending = None;
            }
        }
        // As in op-node, an engine reset resets the pipeline: L1 data traversed before it (possibly from blocks a
        // reorg since removed) is read again from the safe head's origin.
        if self.cfg.derivation {
            self.restart_derivation(&format!("engine reset: {reason}"));
        }
        self.update_safe_lag();
    }

    // ----- L2 heads from outside ------------------------------------------------------------------------------

    pub(super) fn on_safe_head(&mut self, safe: L2BlockRef) {
        if let Some(f) = &self.heads.finalized {
            if safe.number < f.number {
                warn!("ignoring safe head {safe} below finalized head {f}");
                return;
            }
        }
        if matches!(self.sync, Sync::Ready) {
            if let Some(u) = self.heads.unsafe_head {
                if safe.number > u.number {
                    self.heads.safe = Some(safe);
                    return self.begin_reset(format!("safe head {safe} is ahead of unsafe head {u}"));
                }
                if let Some(ours) = self.recent.iter().find(|b| b.number == safe.number) {
                    if ours.hash != safe.hash {
                        let reason = format!("safe head {safe} is not on the unsafe chain (have {ours})");
                        self.heads.safe = Some(safe);
                        return self.begin_reset(reason);
                    }
                }
            }
        }
        self.heads.safe = Some(safe);
    }

    pub(super) fn on_finalized_head(&mut self, fin: L2BlockRef) {
        if self.heads.safe.map(|s| s.number < fin.number).unwrap_or(true) {
            self.on_safe_head(fin);
        }
        self.heads.finalized = Some(fin);
    }
}
