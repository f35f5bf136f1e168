//! Conductor model: a leader flag and a commit log. Like op-conductor it accepts any payload from the leader; the
//! log remembers what was replaced so the world can check that the sequencer only ever replaced committed blocks
//! whose L1 origin was reorged out.

use alloy_eips::BlockNumHash;
use alloy_primitives::B256;
use keel_core::{ConductorReply, OpExecutionPayloadEnvelope, RpcError};
use std::collections::VecDeque;
use std::sync::Arc;

/// Committed blocks remembered (older ones are forgotten; long simulations stay bounded).
pub const LOG_CAPACITY: usize = 4_096;

/// One committed block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Parent hash.
    pub parent_hash: B256,
    /// L1 origin, from the block's L1 info deposit.
    pub l1_origin: BlockNumHash,
    /// The payload, for catching up a new leader (op-conductor posts it with admin_postUnsafePayload).
    pub envelope: Arc<OpExecutionPayloadEnvelope>,
}

/// The conductor endpoint a simulated sequencer is configured with (`SequencerConfig::conductor_rpc_url`); the
/// world routes its calls to the [`Conductor`] model.
pub const URL: &str = "sim://conductor";

/// The conductor (raft collapsed to one log).
#[derive(Clone, Debug, Default)]
pub struct Conductor {
    /// Whether the node under test is the leader.
    pub leader: bool,
    /// Committed blocks, oldest first (bounded by [`LOG_CAPACITY`]).
    pub log: VecDeque<Committed>,
    /// Blocks ever committed.
    pub total: u64,
}

/// A successful commit and what it replaced.
pub struct CommitOutcome {
    /// The answer to the node.
    pub reply: ConductorReply,
    /// Committed blocks the new one replaced (same or greater height on another branch).
    pub replaced: Vec<Committed>,
}

impl Conductor {
    /// `conductor_leader`.
    pub fn check_leader(&self) -> Result<ConductorReply, RpcError> {
        Ok(ConductorReply::Leader(self.leader))
    }

    /// `conductor_commitUnsafePayload` from this conductor's own node (leader per `self.leader`).
    pub fn commit(&mut self, env: &Arc<OpExecutionPayloadEnvelope>) -> Result<CommitOutcome, RpcError> {
        self.commit_as(self.leader, env)
    }

    /// `conductor_commitUnsafePayload` from a node whose leadership is `is_leader`. Re-committing the tip is accepted
    /// (a retry after a lost answer).
    pub fn commit_as(
        &mut self,
        is_leader: bool,
        env: &Arc<OpExecutionPayloadEnvelope>,
    ) -> Result<CommitOutcome, RpcError> {
        if !is_leader {
            return Err(RpcError::Rpc { code: -32000, message: "node is not the leader".into() });
        }
        let p = &env.execution_payload;
        let first = p
            .transactions()
            .first()
            .ok_or_else(|| RpcError::Rpc { code: -32602, message: "payload without L1 info deposit".into() })?;
        let (l1_origin, _) =
            keel_core::payload::l1_info_of_first_tx(first).map_err(|e| RpcError::Rpc { code: -32602, message: e })?;
        let c = Committed {
            number: p.block_number(),
            hash: p.block_hash(),
            parent_hash: p.parent_hash(),
            l1_origin,
            envelope: env.clone(),
        };
        let mut replaced = Vec::new();
        if let Some(tip) = self.log.back() {
            if tip.hash == c.hash {
                return Ok(CommitOutcome { reply: ConductorReply::Committed, replaced });
            }
            while self.log.back().is_some_and(|t| t.number >= c.number) {
                replaced.extend(self.log.pop_back());
            }
        }
        self.log.push_back(c);
        self.total += 1;
        while self.log.len() > LOG_CAPACITY {
            self.log.pop_front();
        }
        Ok(CommitOutcome { reply: ConductorReply::Committed, replaced })
    }

    /// The newest committed block.
    pub fn head(&self) -> Option<&Committed> {
        self.log.back()
    }

    /// Whether `hash` is in the (recent) log.
    pub fn contains(&self, hash: &B256) -> bool {
        self.log.iter().rev().any(|c| c.hash == *hash)
    }
}
