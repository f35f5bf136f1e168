//! The build lifecycle of a sequenced block: when to start, attributes, the engine calls from
//! forkchoiceUpdated with attributes to the head update, conductor commit, retries and verdicts.

use super::*;

impl Node {
    // ----- building -------------------------------------------------------------------------------------------

    pub(super) fn try_start_build(&mut self) -> bool {
        if !self.may_build() || self.requests.engine_busy() || self.derivation_leads() {
            return false;
        }
        let Some(parent) = self.heads.unsafe_head else { return false };
        if self.now < timing::build_start(parent.time_ms, self.seal_margin_ms()).max(self.not_before) {
            return false;
        }
        // The parent's origin must be known in full (by hash: immune to reorgs and confirmation depth).
        let Some(cur) = self.l1_cache.get(&parent.l1_origin.hash).cloned() else {
            if self.requests.any(|p| matches!(p, Pending::L1Current(_))) {
                return false;
            }
            let hash = parent.l1_origin.hash;
            self.request(Pending::L1Current(hash), |id| Command::FetchL1BlockByHash { id, hash });
            return true;
        };
        // After a sign of an L1 reorg, confirm the current origin is still canonical before building on it.
        match self.verify {
            Verify::Idle => {}
            Verify::Fetching => return false,
            Verify::Needed => {
                let number = cur.number();
                self.request(Pending::L1Verify(number), |id| Command::FetchL1BlockByNumber { id, number });
                self.verify = Verify::Fetching;
                return true;
            }
        }
        let issued = self.prefetch_next(&cur);
        let next_time = timing::next_block_time(parent.time_ms, self.cfg.block_time_ms);
        let next_block = match &self.next {
            NextSlot::Known(b) if b.number() == cur.number() + 1 => Some(b.clone()),
            _ => None,
        };
        let view = match (&next_block, &self.next) {
            (Some(b), _) => NextOrigin::Known(&b.info),
            (None, NextSlot::Absent { number, l1_head })
                if *number == cur.number() + 1 && *l1_head == self.heads.l1_head.map(|h| h.number) =>
            {
                NextOrigin::Absent
            }
            _ if !self.next_confirmed(&cur) => NextOrigin::Absent,
            _ => NextOrigin::Unknown,
        };
        let query = OriginQuery {
            current: &cur.info,
            next: view,
            next_l2_time_ms: next_time,
            max_drift_s: self.cfg.rollup.max_sequencer_drift(cur.info.timestamp),
            // An expired epoch's blocks must be exactly the empty batches derivation will produce, so the next origin
            // must be known to decide, as in recovery mode.
            recover: self.recover || self.epoch_expired(cur.number()),
        };
        match origin::select(&query) {
            Ok(OriginChoice::Current) => self.start_build(parent, cur, next_time),
            Ok(OriginChoice::Next) => {
                let next = next_block.expect("Next is only chosen when the next block is known");
                if self.receipts.as_ref().is_none_or(|(h, _)| *h != next.hash()) {
                    // The epoch's deposits and SystemConfig updates are needed first.
                    return self.fetch_receipts(next.hash()) || issued;
                }
                self.start_build(parent, next, next_time)
            }
            Err(OriginError::NextRequired { .. }) => match &self.next {
                NextSlot::Failed { retry_at, .. } if *retry_at > self.now => {
                    // Wait for the lookup's retry; the build deadline wakes us then.
                    let changed = self.not_before < *retry_at;
                    self.not_before = self.not_before.max(*retry_at);
                    changed || issued
                }
                _ => issued,
            },
            Err(e @ OriginError::DriftExceeded { .. }) => {
                self.delay_build(Verdict::Retry { base_delay_ms: TEMPORARY_RETRY_MS, reason: e.to_string() });
                true
            }
            Err(e @ OriginError::Orphaned { .. }) => {
                self.begin_reset(e.to_string());
                true
            }
        }
    }

    pub(super) fn next_confirmed(&self, cur: &L1Block) -> bool {
        if self.sabotage == Some(Sabotage::IgnoreConfDepth) {
            return true;
        }
        origin::confirmed(cur.number() + 1, self.heads.l1_head.map(|h| h.number), self.cfg.sequencer.l1_confs)
    }

    /// Issues the lookup of `cur + 1` if it is confirmed deeply enough and not known, absent or being fetched.
    pub(super) fn prefetch_next(&mut self, cur: &L1Block) -> bool {
        let number = cur.number() + 1;
        let l1_head = self.heads.l1_head.map(|h| h.number);
        let needed = match &self.next {
            NextSlot::Known(b) => b.number() != number,
            NextSlot::Fetching { number: n, .. } => *n != number,
            NextSlot::Absent { number: n, l1_head: seen } => *n != number || *seen != l1_head,
            NextSlot::Failed { number: n, retry_at } => *n != number || *retry_at <= self.now,
            NextSlot::Empty => true,
        };
        if !needed || !self.next_confirmed(cur) || self.requests.len() >= MAX_PENDING_REQUESTS / 2 {
            return false;
        }
        // A lookup of another height is still out: its answer is no longer wanted.
        self.requests.abandon(|p| matches!(p, Pending::L1Next(_)));
        self.request(Pending::L1Next(number), |id| Command::FetchL1BlockByNumber { id, number });
        self.next = NextSlot::Fetching { number };
        true
    }

    /// Issues the receipts fetch of `hash` unless it is in flight or waiting for a retry.
    pub(super) fn fetch_receipts(&mut self, hash: B256) -> bool {
        if self.requests.any(|p| *p == Pending::L1Receipts(hash))
            || self.receipts.as_ref().is_some_and(|(h, _)| *h == hash)
        {
            return false;
        }
        // Receipts of another block are still out: their answer is no longer wanted.
        self.requests.abandon(|p| matches!(p, Pending::L1Receipts(_)));
        self.request(Pending::L1Receipts(hash), |id| Command::FetchL1Receipts { id, hash });
        true
    }

    /// The receipts of block `hash` (the answer to [`Pending::L1Receipts`]).
    pub(super) fn on_receipts(&mut self, hash: B256, result: Result<Arc<Vec<Receipt>>, RpcError>) {
        match result {
            Ok(receipts) => {
                self.l1_backoff.reset();
                self.receipts = Some((hash, receipts));
            }
            Err(e) => {
                self.stats.l1_errors += 1;
                let delay = self.l1_backoff.next_delay(TEMPORARY_RETRY_MS, MAX_TEMPORARY_BACKOFF_MS);
                warn!("cannot fetch receipts of L1 block {hash:#x}: {e}; retry_in_ms={delay}");
                self.not_before = self.not_before.max(self.now + delay);
            }
        }
    }

    pub(super) fn start_build(&mut self, parent: L2BlockRef, origin: L1Block, time_ms: u64) -> bool {
        let rollup = self.cfg.rollup.clone();
        let timestamp = secs(time_ms);
        let seq_num = if origin.hash() == parent.l1_origin.hash { parent.seq_num + 1 } else { 0 };
        let drift_exceeded =
            origin::drift_exceeded(time_ms, origin.info.timestamp, rollup.max_sequencer_drift(origin.info.timestamp));
        let expired = self.epoch_expired(origin.number());
        let no_tx_pool =
            self.recover || drift_exceeded || expired || attributes::is_upgrade_block_without_txs(&rollup, timestamp);
        // The SystemConfig of the parent, updated with the new origin's ConfigUpdate logs at an epoch start; the
        // epoch's user deposits come from the same receipts (op-node `PreparePayloadAttributes`).
        let mut config = self.parent_config;
        let mut deposits = Vec::new();
        let mut receipts = Arc::default();
        if seq_num == 0 {
            let Some(r) = self.receipts.as_ref().filter(|(h, _)| *h == origin.hash()).map(|(_, r)| r.clone()) else {
                debug_assert!(false, "start_build at an epoch start without the origin's receipts");
                return false;
            };
            receipts = r;
            deposits = match crate::derive::consolidate::epoch_start(&rollup, &mut config, &origin, &receipts) {
                Ok(_) if self.sabotage == Some(Sabotage::SkipDeposits) => Vec::new(),
                Ok(d) => d,
                Err(e) => {
                    self.apply_verdict(Verdict::Critical(e));
                    return true;
                }
            };
        }
        let input = AttributesInput {
            rollup: &rollup,
            system_config: &config,
            parent: &parent,
            origin: &origin,
            seq_num,
            timestamp,
            no_tx_pool,
            deposits: &deposits,
            receipts: &receipts,
        };
        let attrs = match attributes::checked_build(&*self.cfg.attributes, &input) {
            Ok(a) => a,
            Err(e) => {
                let reason = e.to_string();
                self.apply_verdict(match e.class() {
                    AttributesErrorClass::Temporary => Verdict::Retry { base_delay_ms: TEMPORARY_RETRY_MS, reason },
                    AttributesErrorClass::Reset => Verdict::Reset(reason),
                    AttributesErrorClass::Critical => Verdict::Critical(reason),
                });
                return true;
            }
        };
        if drift_exceeded {
            warn!(
                "next L2 block is past the sequencer drift, building without pool transactions number={} origin={}",
                parent.number + 1,
                origin.number()
            );
        }
        let job = Job {
            parent,
            config,
            origin,
            seq_num,
            time_ms,
            no_tx_pool,
            drift_exceeded,
            started_at: self.now,
            seal_at: timing::seal_at(time_ms, self.seal_margin_ms()),
            derived: false,
        };
        let state = self.forkchoice(parent.hash);
        let version = engine::forkchoice_version(&rollup, Some(timestamp));
        self.request(Pending::Build(BuildCall::Start), |id| Command::ForkchoiceUpdate {
            id,
            version,
            state,
            attributes: Some(Box::new(attrs)),
        });
        self.build = Build::Starting { job };
        true
    }

    /// Retry or give up on the current build according to `verdict`.
    pub(super) fn apply_verdict(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Reset(reason) => self.begin_reset(reason),
            Verdict::Retry { base_delay_ms, reason } => {
                self.stats.retries += 1;
                let delay = self.backoff.next_delay(base_delay_ms, MAX_TEMPORARY_BACKOFF_MS);
                warn!("temporary failure, retrying retry_in_ms={delay} stage={} error=\"{reason}\"", self.build.name());
                if self.build.settling() {
                    self.retry_at = self.now + delay;
                } else {
                    self.abandon_build();
                    self.not_before = self.now + delay;
                }
            }
            Verdict::Drop(reason) => self.drop_build(reason),
            Verdict::Critical(reason) => {
                self.stats.critical_errors += 1;
                error!("CRITICAL: sequencing stopped; RPC stays up; fix the cause and call admin_startSequencer. error=\"{reason}\"");
                self.halted = Some(reason);
                self.active = false;
                self.abandon_build();
            }
        }
    }

    pub(super) fn delay_build(&mut self, verdict: Verdict) {
        debug_assert!(matches!(self.build, Build::Idle));
        self.apply_verdict(verdict);
    }

    /// Discards the block being built and schedules a fresh build one block time later.
    pub(super) fn drop_build(&mut self, reason: String) {
        self.stats.builds_dropped += 1;
        self.committed_pending = None;
        warn!("dropping block build, rebuilding in one block time stage={} reason=\"{reason}\"", self.build.name());
        self.abandon_build();
        self.not_before = self.now + self.cfg.block_time_ms;
    }

    /// An engine answer to the build lifecycle (a [`Pending::Build`] request): to the stage that waits for it.
    pub(super) fn on_build_answer(&mut self, call: BuildCall, reply: Result<EngineReply, RpcError>) {
        match (call, std::mem::replace(&mut self.build, Build::Idle)) {
            (BuildCall::Start, Build::Starting { job }) => self.on_build_started(job, reply),
            (BuildCall::Seal, Build::Sealing { payload_id, job, sent_at }) => {
                if matches!(reply, Ok(EngineReply::PayloadFetched(_))) {
                    if self.seal_latencies.len() >= timing::SEAL_LATENCY_WINDOW {
                        self.seal_latencies.pop_front();
                    }
                    self.seal_latencies.push_back(self.now.saturating_sub(sent_at));
                }
                self.on_sealed(job, payload_id, reply)
            }
            (BuildCall::Insert, Build::Inserting { sealed }) => self.on_inserted(sealed, reply),
            (BuildCall::Update, Build::Updating { sealed }) => self.on_head_updated(sealed, reply),
            (BuildCall::Import, Build::Importing { block, envelope, inserted }) => {
                self.on_import(block, envelope, inserted, reply)
            }
            (call, other) => {
                // A stage that moves on abandons its requests, so this cannot happen.
                debug_assert!(false, "{call:?} answered in stage {}", other.name());
                error!("engine answer to {call:?} ignored: build stage is {}", other.name());
                self.build = other;
            }
        }
    }

    pub(super) fn on_build_started(&mut self, job: Job, reply: Result<EngineReply, RpcError>) {
        let verdict = match reply {
            Ok(EngineReply::ForkchoiceUpdated { status, payload_id }) => {
                match engine::classify_start_status(&status, payload_id, &job.parent) {
                    Ok(payload_id) => {
                        self.backoff.reset();
                        debug!("block build started number={} payload_id={payload_id}", job.parent.number + 1);
                        self.build = Build::Building { payload_id, job };
                        return;
                    }
                    Err(v) => {
                        self.stats.engine_errors += 1;
                        v
                    }
                }
            }
            Ok(other) => engine::unexpected_reply("engine_forkchoiceUpdated", &other),
            Err(e) => engine::classify_start_error(&e, &job.parent),
        };
        self.apply_verdict(verdict);
    }

    pub(super) fn on_sealed(&mut self, job: Job, payload_id: PayloadId, reply: Result<EngineReply, RpcError>) {
        let envelope = match reply {
            Ok(EngineReply::PayloadFetched(env)) => env,
            Ok(other) => {
                return self.drop_build(format!("engine_getPayload answered with {other:?}"));
            }
            Err(e) => return self.apply_verdict(engine::classify_seal_error(&e, payload_id)),
        };
        if let Err(v) = engine::check_sealed(&envelope, &job.parent, secs(job.time_ms)) {
            return self.apply_verdict(v);
        }
        // Some engines leave the beacon root out of getPayload; it is the one the attributes carried.
        let envelope =
            if envelope.parent_beacon_block_root.is_none() && self.cfg.rollup.is_ecotone_active(secs(job.time_ms)) {
                let mut e = (*envelope).clone();
                e.parent_beacon_block_root = Some(job.origin.header.parent_beacon_block_root.unwrap_or_default());
                Arc::new(e)
            } else {
                envelope
            };
        let p = &envelope.execution_payload;
        let block = L2BlockRef {
            hash: p.block_hash(),
            number: p.block_number(),
            parent_hash: p.parent_hash(),
            time_ms: job.time_ms,
            l1_origin: job.origin.info.id(),
            seq_num: job.seq_num,
        };
        let txs = p.transactions().len();
        let sealed = Box::new(Sealed {
            job,
            envelope,
            block,
            sealed_at: self.now,
            txs,
            committed: false,
            refused: false,
            maybe_held: false,
        });
        if self.sabotage == Some(Sabotage::PublishBeforeCommit) {
            self.publish(&sealed);
        }
        self.build = if self.conductor_gated() && !sealed.job.derived {
            Build::Committing { sealed, attempts: 0 }
        } else {
            Build::Inserting { sealed }
        };
        self.retry_at = self.now;
    }

    /// The conductor's answer to a commit (a [`Pending::Commit`] request).
    pub(super) fn on_commit(&mut self, result: Result<ConductorReply, RpcError>) {
        let Build::Committing { sealed, attempts } = &mut self.build else {
            debug_assert!(false, "a live commit request has its stage");
            return;
        };
        match result {
            Ok(ConductorReply::Committed) => {
                self.stats.commits += 1;
                sealed.committed = true;
                self.committed = Some(sealed.block.hash);
                let sealed = sealed.clone();
                self.committed_pending = Some(sealed.clone());
                self.backoff.reset();
                self.build = Build::Inserting { sealed };
                self.retry_at = self.now;
            }
            Ok(other) => {
                self.commit_failed(format!("conductor_commitUnsafePayload answered with {other:?}"));
            }
            Err(e) => {
                let block = sealed.block;
                *attempts += 1;
                self.commit_failed(format!("failed to commit unsafe payload {block} to conductor: {e}"));
            }
        }
    }

    pub(super) fn commit_failed(&mut self, reason: String) {
        self.stats.commit_failures += 1;
        let attempts = match &self.build {
            Build::Committing { attempts, .. } => *attempts,
            _ => 0,
        };
        if !self.active || !self.stops_waiting.is_empty() || self.shutting_down {
            return self.drop_build(format!("{reason}; sequencer stopping, block discarded uncommitted"));
        }
        if attempts >= MAX_COMMIT_ATTEMPTS {
            error!("conductor unreachable after {attempts} commit attempts; stopping sequencing. error=\"{reason}\"");
            self.active = false;
            return self.drop_build(reason);
        }
        // Ask whether we are still the leader; a "no" stops sequencing. Meanwhile retry with backoff.
        let after_commit = Pending::Leader(LeaderPurpose::AfterCommitFailure);
        if self.conductor_gated() && !self.requests.any(|p| *p == after_commit) {
            self.request(Pending::Leader(LeaderPurpose::AfterCommitFailure), |id| Command::CheckLeader { id });
        }
        self.apply_verdict(Verdict::Retry { base_delay_ms: TEMPORARY_RETRY_MS, reason });
    }

    pub(super) fn on_inserted(&mut self, sealed: Box<Sealed>, reply: Result<EngineReply, RpcError>) {
        let timed_out = matches!(reply, Err(RpcError::Timeout));
        let verdict = match reply {
            Ok(EngineReply::PayloadInserted { status }) => {
                match engine::classify_insert_status(&status, &sealed.block) {
                    Ok(()) => {
                        self.build = Build::Updating { sealed };
                        self.retry_at = self.now;
                        return;
                    }
                    Err(v) => {
                        self.stats.engine_errors += 1;
                        v
                    }
                }
            }
            Ok(other) => engine::unexpected_reply("engine_newPayload", &other),
            Err(e) => engine::classify_insert_error(&e, &sealed.block),
        };
        let mut sealed = sealed;
        sealed.maybe_held |= timed_out;
        let verdict = match verdict {
            // The conductor already holds this block, and the engine may too (an earlier insert whose answer was
            // lost): building another at its height could give the cluster two valid blocks at one height. The
            // first INVALID re-reads the engine's heads and inserts the committed block again (the reset keeps it);
            // a second one means the block is really invalid, and it is replaced, unless an insert timed out (the
            // engine may hold it: it is inserted again, with the reset's backoff, until the engine takes it).
            Verdict::Drop(reason) if sealed.committed && (!sealed.refused || sealed.maybe_held) => {
                error!("block {} is committed to the conductor but the engine refused it: {reason}", sealed.block);
                sealed.refused = true;
                let why = if sealed.maybe_held {
                    "an earlier insert timed out, so the engine may hold it: inserting it again"
                } else {
                    "inserting it once more"
                };
                Verdict::Reset(format!("{reason} (block committed to the conductor: {why})"))
            }
            v => v,
        };
        if let Some(c) = self.committed_pending.as_mut().filter(|c| c.block == sealed.block) {
            c.refused = sealed.refused;
            c.maybe_held = sealed.maybe_held;
        }
        self.build = Build::Inserting { sealed };
        self.apply_verdict(verdict);
    }

    pub(super) fn on_head_updated(&mut self, sealed: Box<Sealed>, reply: Result<EngineReply, RpcError>) {
        let verdict = match reply {
            Ok(EngineReply::ForkchoiceUpdated { status, .. }) => {
                match engine::classify_update_status(&status, &sealed.block) {
                    Ok(()) => return self.complete_block(sealed),
                    Err(v) => {
                        self.stats.engine_errors += 1;
                        v
                    }
                }
            }
            Ok(other) => engine::unexpected_reply("engine_forkchoiceUpdated", &other),
            Err(e) => engine::classify_update_error(&e, &sealed.block),
        };
        self.build = Build::Updating { sealed };
        self.apply_verdict(verdict);
    }

    pub(super) fn complete_block(&mut self, sealed: Box<Sealed>) {
        let block = sealed.block;
        self.committed_pending = None;
        self.parent_config = sealed.job.config.after_block(&self.cfg.rollup, block.timestamp_s());
        self.set_unsafe(block);
        self.backoff.reset();
        self.reset_backoff.reset();
        self.consecutive_resets = 0;
        if sealed.job.derived {
            let txs = sealed.envelope.execution_payload.transactions().to_vec();
            return self.on_derived_built(block, txs);
        }
        self.stats.blocks_sequenced += 1;
        self.stats.txs_sequenced += sealed.txs as u64;
        info!(
            "sequenced block number={} hash={:#x} txs={} origin={} seq={} build_ms={} seal_ms={} lag_ms={}",
            block.number,
            block.hash,
            sealed.txs,
            block.l1_origin.number,
            block.seq_num,
            sealed.sealed_at.saturating_sub(sealed.job.started_at),
            self.now.saturating_sub(sealed.sealed_at),
            self.now.saturating_sub(block.time_ms),
        );
        if self.sabotage != Some(Sabotage::PublishBeforeCommit) {
            self.publish(&sealed);
        }
        if self.reports.len() >= MAX_REPORTS {
            self.reports.pop_front();
        }
        self.reports.push_back(BlockReport {
            block,
            txs: sealed.txs,
            build_started_at: sealed.job.started_at,
            sealed_at: sealed.sealed_at,
            seal_target: sealed.job.seal_at,
            completed_at: self.now,
        });
        let next_time = timing::next_block_time(block.time_ms, self.cfg.block_time_ms);
        if self.recover && timing::caught_up(next_time, self.now) {
            warn!("leaving recovery mode: the chain caught up with wall time at block {}", block.number);
            self.recover = false;
        }
        if let Some(cur) = self.l1_cache.get(&block.l1_origin.hash).cloned() {
            self.prefetch_next(&cur);
        }
    }

    pub(super) fn publish(&mut self, sealed: &Sealed) {
        if self.conductor_gated() && !sealed.committed {
            self.violation = Some(format!("block {} published before it was committed to the conductor", sealed.block));
        }
        self.stats.published += 1;
        self.push(Command::Publish { envelope: sealed.envelope.clone() });
    }

    pub(super) fn set_unsafe(&mut self, block: L2BlockRef) {
        if let Some(last) = self.recent.back() {
            if block.parent_hash != last.hash {
                self.recent.clear();
            }
        }
        self.recent.push_back(block);
        while self.recent.len() > RECENT_BLOCKS {
            self.recent.pop_front();
        }
        self.heads.unsafe_head = Some(block);
    }
}
