//! Plumbing of the state machine: the clock, the bounded command queue, the request table (ids, bound,
//! routing of answers and failures to their owner), and failed requests.

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

    /// A forkchoice update without attributes (a head, safe or finalized change).
    pub(super) fn request_head_update(&mut self, state: ForkchoiceState) -> RequestId {
        let version = engine::forkchoice_version(&self.cfg.rollup, None);
        self.request(Pending::Engine, |id| Command::ForkchoiceUpdate { id, version, state, attributes: None })
    }

    pub(super) fn request(&mut self, what: Pending, make: impl FnOnce(RequestId) -> Command) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        debug_assert!(self.pending.len() < MAX_PENDING_REQUESTS, "too many outstanding requests");
        if what == Pending::Engine {
            debug_assert!(self.engine_req.is_none(), "second engine call while one is outstanding");
            self.engine_req = Some(id);
        }
        self.pending.insert(id, what);
        let cmd = make(id);
        self.push(cmd);
        id
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
            Sync::Resetting(r) => return r.req.is_none().then_some(r.retry_at),
            Sync::Ready => {}
        }
        match &self.build {
            Build::Idle => {
                let parent = self.heads.unsafe_head.as_ref()?;
                (self.may_build()).then(|| timing::build_start(parent.time_ms).max(self.not_before))
            }
            Build::Building { job, .. } => Some(job.seal_at),
            Build::Committing { req: None, .. }
            | Build::Inserting { req: None, .. }
            | Build::Updating { req: None, .. }
            | Build::Importing { req: None, .. } => Some(self.retry_at),
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
        let due = self.now >= self.retry_at;
        match &self.build {
            Build::Idle => self.try_import() || self.try_start_build(),
            Build::Importing { block, envelope, req: None, inserted } if due && self.engine_req.is_none() => {
                let (block, envelope, inserted) = (*block, envelope.clone(), *inserted);
                let id = if inserted {
                    let state = self.forkchoice(block.hash);
                    self.request_head_update(state)
                } else {
                    let version = engine::new_payload_version(&self.cfg.rollup, block.timestamp_s());
                    self.request(Pending::Engine, |id| Command::NewPayload { id, version, envelope })
                };
                if let Build::Importing { req, .. } = &mut self.build {
                    *req = Some(id);
                }
                true
            }
            Build::Building { job, payload_id }
                if (self.now >= job.seal_at || self.finish_in_flight) && self.engine_req.is_none() =>
            {
                let (job, payload_id) = (job.clone(), *payload_id);
                let version = engine::get_payload_version(&self.cfg.rollup, secs(job.time_ms));
                let req = self.request(Pending::Engine, |id| Command::GetPayload { id, version, payload_id });
                self.build = Build::Sealing { req, payload_id, job };
                true
            }
            Build::Committing { sealed, req: None, .. } if due => {
                if !self.active {
                    let msg = format!("sequencer stopped before block {} was committed; discarding it", sealed.block);
                    self.drop_build(msg);
                    return true;
                }
                let envelope = sealed.envelope.clone();
                let id = self.request(Pending::Commit, |id| Command::CommitToConductor { id, envelope });
                if let Build::Committing { req, .. } = &mut self.build {
                    *req = Some(id);
                }
                true
            }
            Build::Inserting { sealed, req: None } if due && self.engine_req.is_none() => {
                let envelope = sealed.envelope.clone();
                let version = engine::new_payload_version(&self.cfg.rollup, sealed.block.timestamp_s());
                let id = self.request(Pending::Engine, |id| Command::NewPayload { id, version, envelope });
                if let Build::Inserting { req, .. } = &mut self.build {
                    *req = Some(id);
                }
                true
            }
            Build::Updating { sealed, req: None } if due && self.engine_req.is_none() => {
                let state = self.forkchoice(sealed.block.hash);
                let id = self.request_head_update(state);
                if let Build::Updating { req, .. } = &mut self.build {
                    *req = Some(id);
                }
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

    // ----- failures -------------------------------------------------------------------------------------------

    pub(super) fn on_failure(&mut self, id: RequestId, error: RpcError) {
        let Some(what) = self.pending.get(&id).copied() else {
            debug!("failure for unknown request {id}: {error}");
            return;
        };
        match what {
            Pending::L1Current(_) | Pending::L1Next(_) | Pending::L1Verify(_) | Pending::ResetL1(_) => {
                self.on_l1_block(id, Err(error))
            }
            Pending::L2Heads => self.on_l2_heads(id, Err(error)),
            Pending::L2ByNumber(_) => self.on_l2_block(id, Err(error)),
            Pending::L2Header(_) => self.on_l2_header(id, Err(error)),
            Pending::L1Receipts(_) => self.on_receipts(id, Err(error)),
            Pending::Engine => self.on_engine(id, Err(error)),
            Pending::Leader(_) | Pending::Commit => self.on_conductor(id, Err(error)),
        }
    }
}
