//! Conductor model: a leader flag and an append-only commit log that only accepts payloads extending its tip.

use alloy_primitives::B256;
use keel_core::{ConductorReply, OpExecutionPayloadEnvelope, RpcError};

/// One committed block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Committed {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Parent hash.
    pub parent_hash: B256,
}

/// The conductor (raft collapsed to one log).
#[derive(Clone, Debug, Default)]
pub struct Conductor {
    /// Whether the node under test is the leader.
    pub leader: bool,
    /// Committed blocks, in order.
    pub log: Vec<Committed>,
}

impl Conductor {
    /// `conductor_leader`.
    pub fn check_leader(&self) -> Result<ConductorReply, RpcError> {
        Ok(ConductorReply::Leader(self.leader))
    }

    /// `conductor_commitUnsafePayload`. Re-committing the tip is accepted (a retry after a lost answer).
    pub fn commit(&mut self, env: &OpExecutionPayloadEnvelope) -> Result<ConductorReply, RpcError> {
        if !self.leader {
            return Err(RpcError::Rpc { code: -32000, message: "node is not the leader".into() });
        }
        let p = &env.execution_payload;
        let c = Committed { number: p.block_number(), hash: p.block_hash(), parent_hash: p.parent_hash() };
        if let Some(tip) = self.log.last() {
            if tip.hash == c.hash {
                return Ok(ConductorReply::Committed);
            }
            if c.parent_hash != tip.hash {
                return Err(RpcError::Rpc {
                    code: -32000,
                    message: format!("payload {}:{} does not extend raft head {}", c.hash, c.number, tip.hash),
                });
            }
        }
        self.log.push(c);
        Ok(ConductorReply::Committed)
    }

    /// Whether `hash` was committed.
    pub fn contains(&self, hash: &B256) -> bool {
        self.log.iter().rev().any(|c| c.hash == *hash)
    }
}
