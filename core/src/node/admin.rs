//! Admin control: conductor leadership checks, graceful shutdown, and the JSON-RPC requests the core answers.

use super::*;

impl Node {
    // ----- conductor ------------------------------------------------------------------------------------------

    pub(super) fn on_leader(&mut self, purpose: LeaderPurpose, result: Result<ConductorReply, RpcError>) {
        let leader = match result {
            Ok(ConductorReply::Leader(b)) => Ok(b),
            Ok(other) => Err(format!("conductor_leader answered with {other:?}")),
            Err(e) => Err(e.to_string()),
        };
        match purpose {
            LeaderPurpose::Start { reply_to, hash } => match leader {
                Ok(true) => self.starts_waiting.push((reply_to, hash)),
                Ok(false) => self.reply(reply_to, Err(RpcFailure::server(control::ERR_NOT_LEADER))),
                Err(e) => self.reply(reply_to, Err(RpcFailure::server(control::leader_check_failed(e)))),
            },
            LeaderPurpose::AfterCommitFailure => {
                if leader == Ok(false) && self.active {
                    warn!("conductor says this node is no longer the leader; stopping sequencing");
                    self.active = false;
                    if let (Build::Committing { sealed, .. }, false) = (&self.build, self.build_waiting()) {
                        let msg = format!("lost leadership before block {} was committed", sealed.block);
                        self.drop_build(msg);
                    }
                }
            }
        }
    }

    // ----- shutdown -------------------------------------------------------------------------------------------

    pub(super) fn on_shutdown(&mut self) {
        if self.shutdown_settled.is_some() || self.shutting_down {
            return;
        }
        if !self.active {
            self.shutdown_settled = Some(self.heads.unsafe_head.map(|u| u.hash).unwrap_or_default());
            return;
        }
        info!("shutting down: sealing and inserting the block in flight stage={}", self.build.name());
        self.finish_in_flight = true;
        self.shutting_down = true;
    }

    /// After [`Event::ShutdownRequested`]: `Some(unsafe head hash)` once the block that was in flight has been sealed
    /// and inserted (or there was none) and the sequencer has stopped; `None` before.
    pub fn shutdown_settled(&self) -> Option<B256> {
        self.shutdown_settled
    }

    // ----- RPC ------------------------------------------------------------------------------------------------

    pub(super) fn on_rpc(&mut self, reply_to: ReplyTo, request: RpcRequest) {
        let waiting = self.stops_waiting.len() + self.starts_waiting.len();
        match request {
            RpcRequest::StartSequencer(hash) => {
                if waiting >= MAX_WAITING_RPC {
                    return self.reply(reply_to, Err(RpcFailure::server("too many admin calls in progress")));
                }
                if self.conductor_gated() {
                    self.request(Pending::Leader(LeaderPurpose::Start { reply_to, hash }), |id| Command::CheckLeader {
                        id,
                    });
                } else {
                    self.starts_waiting.push((reply_to, hash));
                }
            }
            RpcRequest::StopSequencer => {
                if !self.active {
                    return self.reply(reply_to, Err(RpcFailure::server(control::ERR_NOT_RUNNING)));
                }
                if waiting >= MAX_WAITING_RPC {
                    return self.reply(reply_to, Err(RpcFailure::server("too many admin calls in progress")));
                }
                if !self.build.settling() && !matches!(self.build, Build::Idle) {
                    debug!("discarding unsealed build on stop stage={}", self.build.name());
                    self.abandon_build();
                }
                self.stops_waiting.push(reply_to);
            }
            RpcRequest::PostUnsafePayload(envelope) => {
                self.queue_import(envelope);
                self.reply(reply_to, Ok(RpcReply::Null));
            }
            RpcRequest::SequencerActive => self.reply(reply_to, Ok(RpcReply::Bool(self.active))),
            RpcRequest::SetRecoverMode(on) => {
                if on != self.recover {
                    warn!("recovery mode {}", if on { "enabled" } else { "disabled" });
                }
                self.recover = on;
                self.reply(reply_to, Ok(RpcReply::Null));
            }
            RpcRequest::ConductorEnabled => {
                self.reply(reply_to, Ok(RpcReply::Bool(self.cfg.sequencer.conductor_enabled())))
            }
            RpcRequest::OverrideLeader => {
                warn!("conductor leader override enabled: commits and leader checks are bypassed");
                self.leader_override = true;
                self.reply(reply_to, Ok(RpcReply::Null));
            }
            RpcRequest::SyncStatus => {
                let status = self.sync_status();
                self.reply(reply_to, Ok(RpcReply::SyncStatus(Box::new(status))));
            }
            RpcRequest::SafeHeadAtL1Block(number) => {
                let result = self.safe_head_at_l1(number);
                self.reply(reply_to, result);
            }
            RpcRequest::ResetDerivationPipeline => {
                if self.cfg.derivation {
                    self.restart_derivation("admin_resetDerivationPipeline");
                }
                self.reply(reply_to, Ok(RpcReply::Null));
            }
        }
    }

    /// Answers admin calls that waited for the block in flight to settle.
    pub(super) fn resolve_waiting_rpc(&mut self) {
        if self.build.settling() || (self.finish_in_flight && !matches!(self.build, Build::Idle)) {
            return;
        }
        self.finish_in_flight = false;
        if !self.stops_waiting.is_empty() || self.shutting_down {
            let hash = self.heads.unsafe_head.map(|u| u.hash).unwrap_or_default();
            if self.active {
                info!("sequencer stopped at unsafe head {hash:#x}");
            }
            self.active = false;
            self.abandon_build();
            for reply_to in std::mem::take(&mut self.stops_waiting) {
                self.reply(reply_to, Ok(RpcReply::Hash(hash)));
            }
            if std::mem::take(&mut self.shutting_down) {
                self.shutdown_settled = Some(hash);
            }
        }
        for (reply_to, hash) in std::mem::take(&mut self.starts_waiting) {
            let result = control::check_start(self.active, self.heads.unsafe_head.as_ref(), hash);
            match result {
                Ok(()) => {
                    if let Some(reason) = self.halted.take() {
                        warn!("clearing critical halt on admin start; it was: {reason}");
                    }
                    self.active = true;
                    self.not_before = self.now;
                    self.backoff.reset();
                    info!("sequencer started at unsafe head {hash:#x}");
                    self.reply(reply_to, Ok(RpcReply::Null));
                }
                Err(msg) => self.reply(reply_to, Err(RpcFailure::server(msg))),
            }
        }
        // A start may make building possible right away.
        if self.active && matches!(self.build, Build::Idle) {
            for _ in 0..MAX_DRIVE_STEPS {
                if !self.step() {
                    break;
                }
            }
        }
    }

    pub(super) fn sync_status(&self) -> SyncStatus {
        let l1 = |hash: Option<B256>| hash.and_then(|h| self.l1_cache.get(&h)).map(|b| b.info);
        SyncStatus {
            // The L1 block derivation reads (op-node: the derivation origin); without derivation, the unsafe head's.
            current_l1: match self.derivation.origin() {
                Some(o) if self.cfg.derivation => Some(o),
                _ => l1(self.heads.unsafe_head.map(|u| u.l1_origin.hash)),
            },
            current_l1_finalized: self.heads.l1_finalized,
            head_l1: self.heads.l1_head,
            safe_l1: self.heads.l1_safe,
            finalized_l1: self.heads.l1_finalized,
            unsafe_l2: self.heads.unsafe_head,
            safe_l2: self.heads.safe,
            pending_safe_l2: self.heads.safe,
            finalized_l2: self.heads.finalized,
        }
    }
}
