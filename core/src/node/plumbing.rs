//! Plumbing of the state machine: the clock, the bounded command queue, the drive loop and its deadlines.

use super::*;

impl Node {
    // ----- plumbing -------------------------------------------------------------------------------------------

    pub(super) fn advance_clock(&mut self, now: UnixMs) {
        // Wall clocks may step backwards (NTP); the core's time never does.
        self.now = self.now.max(now);
    }

    pub(super) fn push(&mut self, cmd: Command) {
        debug_assert!(self.commands.len() < MAX_QUEUED_COMMANDS, "command queue overflow");
        self.commands.push_back(cmd);
    }

    /// A forkchoice update without attributes (a head, safe or finalized change), for `what`.
    pub(super) fn request_head_update(&mut self, what: Pending, state: ForkchoiceState) -> RequestId {
        let version = engine::forkchoice_version(&self.cfg.rollup, None);
        self.request(what, |id| Command::ForkchoiceUpdate { id, version, state, attributes: None })
    }

    /// Whether the build stage's request is outstanding (otherwise a sealed or importing stage waits for
    /// `retry_at`).
    pub(super) fn build_waiting(&self) -> bool {
        self.requests.any(Pending::is_build)
    }

    /// Whether a reset step's request is outstanding (otherwise the reset waits for `retry_at`).
    pub(super) fn reset_waiting(&self) -> bool {
        self.requests.any(Pending::is_reset)
    }

    /// Gives up the block being built (or imported): its requests are abandoned, the stage is idle.
    pub(super) fn abandon_build(&mut self) {
        self.requests.abandon(Pending::is_build);
        self.build = Build::Idle;
    }

    pub(super) fn reply(&mut self, reply_to: ReplyTo, result: Result<RpcReply, RpcFailure>) {
        self.push(Command::Reply { reply_to, result });
    }

    pub(super) fn cache_l1(&mut self, block: L1Block) {
        if self.l1_cache.insert(block.hash(), block.clone()).is_none() {
            self.l1_cache_order.push_back(block.hash());
            while self.l1_cache_order.len() > L1_CACHE_CAPACITY {
                if let Some(old) = self.l1_cache_order.pop_front() {
                    self.l1_cache.remove(&old);
                }
            }
        }
    }

    pub(super) fn conductor_gated(&self) -> bool {
        self.cfg.sequencer.conductor_enabled() && !self.leader_override
    }

    pub(super) fn may_build(&self) -> bool {
        self.active
            && self.halted.is_none()
            && self.stops_waiting.is_empty()
            && !self.shutting_down
            && matches!(self.sync, Sync::Ready)
            && self.heads.unsafe_head.is_some()
            && !self.safe_lag_stalled
    }

    pub(super) fn raw_deadline(&self) -> Option<UnixMs> {
        match &self.sync {
            Sync::Resetting(r) => return (!self.reset_waiting()).then_some(r.retry_at),
            Sync::Ready => {}
        }
        let build = self.build_deadline();
        // Derivation waits for its retry time only when nothing of its own is outstanding.
        let derive = (self.cfg.derivation
            && !self.requests.any(Pending::is_derive_read)
            && self.derivation.retry_at > self.now
            && self.derivation.executing().is_none())
        .then_some(self.derivation.retry_at);
        match (build, derive) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn build_deadline(&self) -> Option<UnixMs> {
        match &self.build {
            // A halted node builds nothing, derived blocks included, until admin_startSequencer.
            Build::Idle if self.derivation.executing().is_some() => self.halted.is_none().then_some(self.not_before),
            // Derivation leads: its own requests and retries wake the node.
            Build::Idle if self.derivation_leads() => None,
            Build::Idle => {
                let parent = self.heads.unsafe_head.as_ref()?;
                (self.may_build())
                    .then(|| timing::build_start(parent.time_ms, self.seal_margin_ms()).max(self.not_before))
            }
            Build::Building { job, .. } => Some(job.seal_at),
            Build::Committing { .. } | Build::Inserting { .. } | Build::Updating { .. } | Build::Importing { .. }
                if !self.build_waiting() =>
            {
                Some(self.retry_at)
            }
            _ => None,
        }
    }

    pub(super) fn drive(&mut self) {
        self.update_safe_lag();
        for _ in 0..MAX_DRIVE_STEPS {
            if !self.step() {
                break;
            }
        }
        self.resolve_waiting_rpc();
        debug_assert!(self.check_invariants().is_ok(), "{:?}", self.check_invariants());
    }

    /// One state transition if one is due. Returns whether anything changed.
    pub(super) fn step(&mut self) -> bool {
        if matches!(self.sync, Sync::Resetting(_)) {
            return self.step_reset();
        }
        // Building first: derivation never delays it (its reads go to their own target, and it waits for a free
        // engine like any other caller).
        self.step_build() || self.step_derivation() || self.step_safe_update()
    }

    fn step_build(&mut self) -> bool {
        // A sealed or importing stage issues its next call once `retry_at` passed and nothing is outstanding.
        let due = self.now >= self.retry_at && !self.build_waiting();
        let engine_free = !self.requests.engine_busy();
        match &self.build {
            Build::Idle => self.try_import() || self.try_derived_build() || self.try_start_build(),
            Build::Importing { block, envelope, inserted } if due && engine_free => {
                let what = Pending::Build(BuildCall::Import);
                if *inserted {
                    let state = self.forkchoice(block.hash);
                    self.request_head_update(what, state);
                } else {
                    let (version, envelope) =
                        (engine::new_payload_version(&self.cfg.rollup, block.timestamp_s()), envelope.clone());
                    self.request(what, |id| Command::NewPayload { id, version, envelope });
                }
                true
            }
            Build::Building { job, payload_id }
                if (self.now >= job.seal_at || self.finish_in_flight) && engine_free =>
            {
                let (job, payload_id) = (job.clone(), *payload_id);
                let version = engine::get_payload_version(&self.cfg.rollup, secs(job.time_ms));
                self.request(Pending::Build(BuildCall::Seal), |id| Command::GetPayload { id, version, payload_id });
                self.build = Build::Sealing { payload_id, job, sent_at: self.now };
                true
            }
            Build::Committing { sealed, .. } if due => {
                if !self.active {
                    let msg = format!("sequencer stopped before block {} was committed; discarding it", sealed.block);
                    self.drop_build(msg);
                    return true;
                }
                let envelope = sealed.envelope.clone();
                self.request(Pending::Commit, |id| Command::CommitToConductor { id, envelope });
                true
            }
            Build::Inserting { sealed } if due && engine_free => {
                let envelope = sealed.envelope.clone();
                let version = engine::new_payload_version(&self.cfg.rollup, sealed.block.timestamp_s());
                self.request(Pending::Build(BuildCall::Insert), |id| Command::NewPayload { id, version, envelope });
                true
            }
            Build::Updating { sealed } if due && engine_free => {
                let state = self.forkchoice(sealed.block.hash);
                self.request_head_update(Pending::Build(BuildCall::Update), state);
                true
            }
            _ => false,
        }
    }

    pub(super) fn forkchoice(&self, head: B256) -> ForkchoiceState {
        ForkchoiceState {
            head_block_hash: head,
            safe_block_hash: self.heads.safe.map(|b| b.hash).unwrap_or_default(),
            finalized_block_hash: self.heads.finalized.map(|b| b.hash).unwrap_or_default(),
        }
    }

    pub(super) fn update_safe_lag(&mut self) {
        let stalled = match (&self.heads.unsafe_head, &self.heads.safe) {
            (Some(u), Some(s)) => control::safe_lag_stalled(self.cfg.sequencer.max_safe_lag, u.number, s.number),
            _ => false,
        };
        if stalled != self.safe_lag_stalled {
            let (u, s) = (self.heads.unsafe_head.map(|b| b.number), self.heads.safe.map(|b| b.number));
            if stalled {
                warn!(
                    "max safe lag reached, pausing block building unsafe={u:?} safe={s:?} max_safe_lag={}",
                    self.cfg.sequencer.max_safe_lag
                );
            } else {
                info!("safe head caught up, resuming block building unsafe={u:?} safe={s:?}");
            }
            self.safe_lag_stalled = stalled;
        }
    }
}
