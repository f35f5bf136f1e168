//! OP execution engine model: forkchoice, payload building from attributes plus a seeded mempool, insertion, and
//! faults on demand.

use crate::rng::Rng;
use alloy_primitives::{Bytes, B256, U256};
use alloy_rpc_types_engine::{
    ExecutionPayloadV1, ExecutionPayloadV2, ExecutionPayloadV3, ForkchoiceState, PayloadId, PayloadStatusEnum,
};
use keel_core::{EngineHeads, EngineReply, L2BlockRef, OpExecutionPayloadEnvelope, OpPayloadAttributes, RpcError};
use op_alloy_rpc_types_engine::OpExecutionPayload;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A stored block.
#[derive(Clone, Debug)]
pub struct EngineBlock {
    /// Its reference.
    pub block: L2BlockRef,
    /// Its payload (absent for genesis).
    pub envelope: Option<Arc<OpExecutionPayloadEnvelope>>,
    /// The payload's header facts, computed once when it was built or inserted (absent for genesis).
    pub facts: Option<keel_core::L2Header>,
}

#[derive(Clone, Debug)]
struct Job {
    parent: L2BlockRef,
    attrs: OpPayloadAttributes,
    /// Jovian's `minBaseFee` (present from Jovian on).
    min_base_fee: Option<u64>,
    origin: alloy_eips::BlockNumHash,
    seq_num: u64,
}

/// The engine model.
#[derive(Clone, Debug)]
pub struct Engine {
    block_time_ms: u64,
    blocks: HashMap<B256, EngineBlock>,
    canonical: Vec<B256>,
    head: B256,
    safe: B256,
    finalized: B256,
    jobs: BTreeMap<u64, Job>,
    next_payload: u64,
    /// Most user transactions the mempool offers per block.
    pub mempool_max: u64,
    /// Blocks built by `getPayload`.
    pub built: u64,
    /// The chain's default EIP-1559 parameters (denominator, elasticity), which the engine writes into the
    /// extraData of Holocene blocks built with zero parameters.
    pub eip1559_defaults: (u32, u32),
    /// Built blocks not inserted yet: reference, the payload as built, its header facts.
    pending_refs: HashMap<B256, (L2BlockRef, Arc<OpExecutionPayloadEnvelope>, keel_core::L2Header)>,
}

/// Blocks the engine model keeps below its finalized head (far beyond the sequence window, reset walk-backs and the
/// batcher's cursor in every scenario).
pub const KEEP_BELOW_FINALIZED: u64 = 65_536;
/// Blocks forgotten at once (the pruning pass walks the whole block map).
const FORGET_CHUNK: u64 = 4_096;

/// Error for an unknown payload id.
pub fn unknown_payload() -> RpcError {
    RpcError::Rpc { code: -38001, message: "Unknown payload".into() }
}

impl Engine {
    /// An engine holding only the genesis block.
    pub fn new(genesis: L2BlockRef, block_time_ms: u64) -> Self {
        let mut blocks = HashMap::new();
        blocks.insert(genesis.hash, EngineBlock { block: genesis, envelope: None, facts: None });
        Self {
            block_time_ms,
            blocks,
            canonical: vec![genesis.hash],
            head: genesis.hash,
            safe: genesis.hash,
            finalized: genesis.hash,
            jobs: BTreeMap::new(),
            next_payload: 1,
            mempool_max: 4,
            built: 0,
            eip1559_defaults: (250, 6),
            pending_refs: HashMap::new(),
        }
    }

    fn get(&self, hash: &B256) -> Option<&L2BlockRef> {
        self.blocks.get(hash).map(|b| &b.block)
    }

    /// The current heads.
    pub fn heads(&self) -> EngineHeads {
        EngineHeads {
            unsafe_head: self.blocks[&self.head].block,
            safe: self.blocks[&self.safe].block,
            finalized: self.blocks[&self.finalized].block,
        }
    }

    /// Canonical block by number.
    pub fn by_number(&self, number: u64) -> Option<L2BlockRef> {
        let offset = self.blocks[&self.canonical[0]].block.number;
        let idx = number.checked_sub(offset)? as usize;
        self.canonical.get(idx).map(|h| self.blocks[h].block)
    }

    /// A block stored by hash (every block down to [`KEEP_BELOW_FINALIZED`] below the finalized head).
    pub fn block(&self, hash: &B256) -> Option<&EngineBlock> {
        self.blocks.get(hash)
    }

    fn set_head(&mut self, head: B256) {
        self.head = head;
        // Rebuild the canonical index back to the first block it shares with the old one.
        let mut chain = Vec::new();
        let mut cur = head;
        loop {
            let b = self.blocks[&cur].block;
            let offset = self.blocks[&self.canonical[0]].block.number;
            let idx = b.number.checked_sub(offset).map(|i| i as usize);
            if idx.and_then(|i| self.canonical.get(i)) == Some(&cur) || b.number == offset {
                let keep = idx.unwrap_or(0) + 1;
                self.canonical.truncate(keep);
                if self.canonical.last() != Some(&cur) {
                    self.canonical = vec![cur];
                }
                break;
            }
            chain.push(cur);
            cur = b.parent_hash;
            if !self.blocks.contains_key(&cur) {
                self.canonical = vec![];
                break;
            }
        }
        chain.reverse();
        self.canonical.extend(chain);
        self.forget_old_blocks();
    }

    /// Drops blocks (canonical or not) more than [`KEEP_BELOW_FINALIZED`] below the finalized head, a chunk at a
    /// time, so a long run's memory stays flat. Nothing reads that deep: resets walk back a bounded distance, and
    /// derivation and the batcher work above the safe head.
    fn forget_old_blocks(&mut self) {
        let finalized = self.blocks[&self.finalized].block.number;
        let offset = self.blocks[&self.canonical[0]].block.number;
        let keep_from = finalized.saturating_sub(KEEP_BELOW_FINALIZED);
        if keep_from < offset + FORGET_CHUNK {
            return;
        }
        let drop = ((keep_from - offset) as usize).min(self.canonical.len() - 1);
        self.canonical.drain(..drop);
        let first = self.blocks[&self.canonical[0]].block.number;
        self.blocks.retain(|_, b| b.block.number >= first);
    }

    /// `engine_forkchoiceUpdated`.
    pub fn forkchoice_updated(
        &mut self,
        state: &ForkchoiceState,
        attributes: Option<&keel_core::Attributes>,
    ) -> Result<EngineReply, RpcError> {
        let min_base_fee = attributes.and_then(|a| a.min_base_fee);
        let attrs = attributes.map(|a| &a.op);
        let Some(head) = self.get(&state.head_block_hash).copied() else {
            return Ok(EngineReply::ForkchoiceUpdated { status: PayloadStatusEnum::Syncing, payload_id: None });
        };
        for h in [state.safe_block_hash, state.finalized_block_hash] {
            if h != B256::ZERO && self.get(&h).is_none() {
                return Err(RpcError::Rpc { code: -38002, message: "Invalid forkchoice state".into() });
            }
        }
        self.set_head(head.hash);
        if state.safe_block_hash != B256::ZERO {
            self.safe = state.safe_block_hash;
        }
        if state.finalized_block_hash != B256::ZERO {
            self.finalized = state.finalized_block_hash;
        }
        let Some(attrs) = attrs else {
            return Ok(EngineReply::ForkchoiceUpdated { status: PayloadStatusEnum::Valid, payload_id: None });
        };
        let invalid = |m: &str| RpcError::Rpc { code: -38003, message: format!("Invalid payload attributes: {m}") };
        if attrs.payload_attributes.timestamp < head.time_ms / 1000 {
            return Err(invalid("timestamp before parent"));
        }
        let Some(first) = attrs.transactions.as_ref().and_then(|t| t.first()) else {
            return Err(invalid("no L1 info deposit"));
        };
        let (origin, seq_num) = keel_core::payload::l1_info_of_first_tx(first).map_err(|e| invalid(&e))?;
        let id = self.next_payload;
        self.next_payload += 1;
        self.jobs.insert(id, Job { parent: head, attrs: attrs.clone(), min_base_fee, origin, seq_num });
        // Bound the job table like a real engine would.
        while self.jobs.len() > 16 {
            let first = *self.jobs.keys().next().expect("non-empty");
            self.jobs.remove(&first);
        }
        Ok(EngineReply::ForkchoiceUpdated {
            status: PayloadStatusEnum::Valid,
            payload_id: Some(PayloadId::new(id.to_be_bytes())),
        })
    }

    /// The timestamp of the payload being built under `id`, without sealing it.
    pub fn payload_timestamp(&self, id: PayloadId) -> Option<u64> {
        self.jobs.get(&u64::from_be_bytes(id.0.into())).map(|job| job.attrs.payload_attributes.timestamp)
    }

    /// `engine_getPayload`: builds the block from the job's attributes plus mempool transactions.
    pub fn get_payload(&mut self, id: PayloadId, rng: &mut Rng) -> Result<EngineReply, RpcError> {
        let key = u64::from_be_bytes(id.0.into());
        let job = self.jobs.remove(&key).ok_or_else(unknown_payload)?;
        let mut txs = job.attrs.transactions.clone().unwrap_or_default();
        if !job.attrs.no_tx_pool.unwrap_or(false) {
            for _ in 0..rng.range(0, self.mempool_max) {
                txs.push(mempool_tx(rng));
            }
        }
        let number = job.parent.number + 1;
        let timestamp = job.attrs.payload_attributes.timestamp;
        // The state root stands in for execution: a function of the parent and the transactions, so executing the
        // same attributes twice (a block derived again from its batch) gives the same block. The block hash is the
        // real hash of the resulting header.
        let state_root = {
            let mut buf = Vec::with_capacity(40 + txs.iter().map(|t| t.len()).sum::<usize>());
            buf.extend_from_slice(job.parent.hash.as_slice());
            buf.extend_from_slice(&timestamp.to_be_bytes());
            for tx in &txs {
                buf.extend_from_slice(tx);
            }
            alloy_primitives::keccak256(&buf)
        };
        let payload = ExecutionPayloadV3 {
            payload_inner: ExecutionPayloadV2 {
                payload_inner: ExecutionPayloadV1 {
                    parent_hash: job.parent.hash,
                    fee_recipient: job.attrs.payload_attributes.suggested_fee_recipient,
                    state_root,
                    receipts_root: B256::ZERO,
                    logs_bloom: Default::default(),
                    prev_randao: job.attrs.payload_attributes.prev_randao,
                    block_number: number,
                    gas_limit: job.attrs.gas_limit.unwrap_or(30_000_000),
                    gas_used: 21_000 * txs.len() as u64,
                    timestamp,
                    extra_data: optimism_extra_data(&job.attrs, job.min_base_fee, self.eip1559_defaults),
                    base_fee_per_gas: U256::from(1_000_000u64),
                    block_hash: B256::ZERO,
                    transactions: txs,
                },
                withdrawals: vec![],
            },
            blob_gas_used: 0,
            excess_blob_gas: 0,
        };
        let mut envelope = OpExecutionPayloadEnvelope {
            parent_beacon_block_root: job.attrs.payload_attributes.parent_beacon_block_root,
            execution_payload: OpExecutionPayload::V3(payload),
        };
        let facts =
            keel_core::payload::header_facts(&envelope).map_err(|e| RpcError::Rpc { code: -32603, message: e })?;
        let block_hash = facts.hash;
        if let OpExecutionPayload::V3(p) = &mut envelope.execution_payload {
            p.payload_inner.payload_inner.block_hash = block_hash;
        }
        let envelope = Arc::new(envelope);
        let block = L2BlockRef {
            hash: block_hash,
            number,
            parent_hash: job.parent.hash,
            time_ms: job.parent.time_ms + self.block_time_ms,
            l1_origin: job.origin,
            seq_num: job.seq_num,
        };
        self.pending_refs.insert(block_hash, (block, envelope.clone(), facts));
        self.built += 1;
        Ok(EngineReply::PayloadFetched(envelope))
    }

    /// Header facts of a canonical block (gas limit, extraData, L1 info calldata).
    pub fn header(&self, number: u64) -> Option<keel_core::L2Header> {
        let block = self.by_number(number)?;
        let stored = self.blocks.get(&block.hash)?;
        Some(match (&stored.facts, &stored.envelope) {
            (Some(facts), _) => facts.clone(),
            (None, Some(env)) => {
                keel_core::payload::header_facts(env).unwrap_or_else(|e| panic!("stored payload: {e}"))
            }
            (None, None) => keel_core::L2Header {
                hash: block.hash,
                parent_hash: block.parent_hash,
                timestamp: block.timestamp_s(),
                gas_limit: 30_000_000,
                ..Default::default()
            },
        })
    }

    /// `engine_newPayload`.
    pub fn new_payload(&mut self, envelope: &Arc<OpExecutionPayloadEnvelope>) -> Result<EngineReply, RpcError> {
        let p = &envelope.execution_payload;
        let Some(parent) = self.get(&p.parent_hash()).copied() else {
            return Ok(EngineReply::PayloadInserted { status: PayloadStatusEnum::Syncing });
        };
        let (block, facts) = match self.pending_refs.remove(&p.block_hash()) {
            // The facts hold for the payload as built; one changed on its way (a fake engine's V4 form) is read again.
            Some((b, built, facts)) => {
                (b, (*built == **envelope).then_some(facts).or_else(|| keel_core::payload::header_facts(envelope).ok()))
            }
            None => {
                let first = p
                    .transactions()
                    .first()
                    .ok_or_else(|| RpcError::Rpc { code: -32602, message: "payload without L1 info deposit".into() })?;
                let (l1_origin, seq_num) = keel_core::payload::l1_info_of_first_tx(first)
                    .map_err(|e| RpcError::Rpc { code: -32602, message: e })?;
                let block = L2BlockRef {
                    hash: p.block_hash(),
                    number: p.block_number(),
                    parent_hash: p.parent_hash(),
                    time_ms: parent.time_ms + self.block_time_ms,
                    l1_origin,
                    seq_num,
                };
                (block, keel_core::payload::header_facts(envelope).ok())
            }
        };
        if block.number != parent.number + 1 {
            let validation_error = format!("block number {} does not follow parent {}", block.number, parent.number);
            return Ok(EngineReply::PayloadInserted { status: PayloadStatusEnum::Invalid { validation_error } });
        }
        self.blocks.insert(block.hash, EngineBlock { block, envelope: Some(envelope.clone()), facts });
        Ok(EngineReply::PayloadInserted { status: PayloadStatusEnum::Valid })
    }
}

/// What op-geth writes into a block's extraData: from Jovian (`minBaseFee` given) version 1 ‖ denominator ‖
/// elasticity ‖ minBaseFee; from Holocene version 0 ‖ denominator ‖ elasticity, with the chain's defaults when the
/// attributes carry zero parameters; empty before Holocene (no `eip1559Params`).
fn optimism_extra_data(attrs: &OpPayloadAttributes, min_base_fee: Option<u64>, defaults: (u32, u32)) -> Bytes {
    let Some(params) = attrs.eip_1559_params else { return Bytes::new() };
    let (mut d, mut e) = (
        u32::from_be_bytes(params[..4].try_into().expect("4 bytes")),
        u32::from_be_bytes(params[4..].try_into().expect("4 bytes")),
    );
    if d == 0 && e == 0 {
        (d, e) = defaults;
    }
    let mut out = vec![u8::from(min_base_fee.is_some())];
    out.extend_from_slice(&d.to_be_bytes());
    out.extend_from_slice(&e.to_be_bytes());
    if let Some(m) = min_base_fee {
        out.extend_from_slice(&m.to_be_bytes());
    }
    out.into()
}

/// A decodable user transaction (EIP-1559, arbitrary signature): the engine model does not execute it.
/// Chain id of simulated L2 transactions (the simulated rollup's `l2_chain_id`: span batches carry it).
pub const L2_CHAIN_ID: u64 = 901;

fn mempool_tx(rng: &mut Rng) -> Bytes {
    use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
    use alloy_eips::eip2718::Encodable2718;
    let tx = TxEip1559 {
        chain_id: L2_CHAIN_ID,
        nonce: rng.range(0, 1 << 20),
        gas_limit: 21_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000,
        to: alloy_primitives::TxKind::Call(alloy_primitives::Address::from_slice(&rng.bytes32()[..20])),
        value: U256::from(rng.range(1, 1_000_000)),
        ..Default::default()
    };
    let sig =
        alloy_primitives::Signature::new(U256::from_be_bytes(rng.bytes32()), U256::from(rng.range(1, u64::MAX)), false);
    TxEnvelope::Eip1559(tx.into_signed(sig)).encoded_2718().into()
}
