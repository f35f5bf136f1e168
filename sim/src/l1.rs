//! L1 chain model: blocks at a fixed interval, reorgs of any depth, stalls.

use crate::rng::Rng;
use alloy_consensus::{Eip658Value, Header, Receipt, Transaction, TxEnvelope};
use alloy_primitives::{address, Address, Bytes, Log, B256, U256};
use keel_core::{L1Block, L1BlockRef, UnixMs};
use std::collections::HashMap;
use std::sync::Arc;

/// The deposit contract (OptimismPortal) of simulated chains.
pub const DEPOSIT_CONTRACT: Address = address!("0x00000000000000000000000000000000000d3905");
/// The SystemConfig contract of simulated chains.
pub const SYSTEM_CONFIG: Address = address!("0x0000000000000000000000000000000005c0f1a0");

/// A `TransactionDeposited` log (version 0) for a plain ETH deposit from `from` to `to`.
pub fn deposit_log(from: Address, to: Address, mint: u128, gas: u64) -> Log {
    let mut opaque = Vec::with_capacity(73);
    opaque.extend_from_slice(&U256::from(mint).to_be_bytes::<32>());
    opaque.extend_from_slice(&U256::from(mint).to_be_bytes::<32>());
    opaque.extend_from_slice(&gas.to_be_bytes());
    opaque.push(0); // not a contract creation
    let mut data = Vec::with_capacity(64 + 96);
    data.extend_from_slice(&U256::from(32).to_be_bytes::<32>());
    data.extend_from_slice(&U256::from(opaque.len()).to_be_bytes::<32>());
    data.extend_from_slice(&opaque);
    data.resize(64 + opaque.len().div_ceil(32) * 32, 0);
    let topics = vec![
        kona_protocol::DEPOSIT_EVENT_ABI_HASH,
        B256::left_padding_from(from.as_slice()),
        B256::left_padding_from(to.as_slice()),
        B256::ZERO,
    ];
    Log::new_unchecked(DEPOSIT_CONTRACT, topics, data.into())
}

/// A `ConfigUpdate` log (version 0, type 2) setting the L2 gas limit.
pub fn gas_limit_update_log(gas_limit: u64) -> Log {
    let mut data = Vec::with_capacity(96);
    data.extend_from_slice(&U256::from(32).to_be_bytes::<32>());
    data.extend_from_slice(&U256::from(32).to_be_bytes::<32>());
    data.extend_from_slice(&U256::from(gas_limit).to_be_bytes::<32>());
    let topics = vec![kona_genesis::CONFIG_UPDATE_TOPIC, B256::ZERO, B256::with_last_byte(2)];
    Log::new_unchecked(SYSTEM_CONFIG, topics, data.into())
}

/// A `ConfigUpdate` log (version 0, type 0) changing the batcher address.
pub fn batcher_update_log(batcher: Address) -> Log {
    let mut data = Vec::with_capacity(96);
    data.extend_from_slice(&U256::from(32).to_be_bytes::<32>());
    data.extend_from_slice(&U256::from(32).to_be_bytes::<32>());
    data.extend_from_slice(B256::left_padding_from(batcher.as_slice()).as_slice());
    let topics = vec![kona_genesis::CONFIG_UPDATE_TOPIC, B256::ZERO, B256::ZERO];
    Log::new_unchecked(SYSTEM_CONFIG, topics, data.into())
}

/// L1 blocks whose transactions are kept (older ones are forgotten, so long runs stay bounded).
pub const TX_HISTORY: usize = 8_192;

/// The simulated L1 chain.
#[derive(Clone, Debug)]
pub struct L1Chain {
    /// Seconds between blocks.
    pub block_time_s: u64,
    /// The canonical chain from block `base` on (older blocks are forgotten, see [`CANONICAL_HISTORY`]).
    canonical: std::collections::VecDeque<L1Block>,
    base: u64,
    genesis: L1Block,
    by_hash: HashMap<B256, L1Block>,
    /// No new blocks are produced before this time (a stalled L1).
    pub stalled_until: UnixMs,
    salt: u64,
    /// Blocks replaced by reorgs so far.
    pub reorged_blocks: u64,
    receipts: std::collections::HashMap<B256, Arc<Vec<Receipt>>>,
    /// Probability that a new block carries user deposits.
    pub deposit_rate: f64,
    /// Probability that a new block changes the L2 gas limit.
    pub config_update_rate: f64,
    /// How far behind the head the finalized block is (64 blocks = two epochs on Ethereum).
    pub finality_depth: u64,
    txs: HashMap<B256, Arc<Vec<TxEnvelope>>>,
    /// Blobs by versioned hash (the beacon node's view; kept as long as their block's transactions).
    blobs: HashMap<B256, alloy_primitives::Bytes>,
    /// Transactions waiting for the next block (a mempool; reorged-out blocks return theirs here).
    pending: Vec<TxEnvelope>,
    /// Receipts with extra logs waiting for the next block (a batcher change through the SystemConfig).
    pending_receipts: Vec<Receipt>,
}

/// Canonical L1 blocks kept (by number); older ones are forgotten. Far beyond the finality depth, the sequencer's
/// drift and derivation's window, so nothing asks for them.
pub const CANONICAL_HISTORY: usize = 2 * TX_HISTORY;

/// Most transactions one simulated L1 block takes from the pool.
pub const MAX_TXS_PER_L1_BLOCK: usize = 64;
/// Most transactions the simulated pool holds (the oldest are dropped beyond it).
pub const MAX_L1_POOL: usize = 4_096;

impl L1Chain {
    /// A chain whose genesis has timestamp `genesis_time_s`.
    pub fn new(genesis_time_s: u64, block_time_s: u64, rng: &mut Rng) -> Self {
        let genesis = Self::make(0, B256::ZERO, genesis_time_s, 0, rng);
        let mut by_hash = HashMap::new();
        by_hash.insert(genesis.hash(), genesis.clone());
        let genesis_hash = genesis.hash();
        Self {
            block_time_s,
            canonical: std::collections::VecDeque::from([genesis.clone()]),
            base: 0,
            genesis,
            by_hash,
            stalled_until: 0,
            salt: 0,
            reorged_blocks: 0,
            receipts: Default::default(),
            deposit_rate: 0.0,
            config_update_rate: 0.0,
            finality_depth: 64,
            txs: HashMap::new(),
            blobs: HashMap::new(),
            pending: Vec::new(),
            pending_receipts: Vec::new(),
        }
        .with_empty_receipts(genesis_hash)
    }

    fn with_empty_receipts(mut self, hash: B256) -> Self {
        self.receipts.insert(hash, Arc::new(Vec::new()));
        self.txs.insert(hash, Arc::new(Vec::new()));
        self
    }

    fn make_receipts(&mut self, hash: B256, rng: &mut Rng) {
        let mut receipts = Vec::new();
        if rng.chance(self.deposit_rate) {
            for _ in 0..rng.range(1, 3) {
                let from = Address::from_slice(&rng.bytes32()[..20]);
                let to = Address::from_slice(&rng.bytes32()[..20]);
                // An unrelated log first, so block-wide log indices are exercised.
                let noise =
                    Log::new_unchecked(Address::repeat_byte(0x11), vec![B256::from(rng.bytes32())], Bytes::new());
                let logs = vec![noise, deposit_log(from, to, rng.range(1, 1_000_000_000) as u128, 100_000)];
                receipts.push(Receipt { status: Eip658Value::Eip658(true), cumulative_gas_used: 100_000, logs });
            }
        }
        if rng.chance(self.config_update_rate) {
            let logs = vec![gas_limit_update_log(rng.range(30_000_000, 60_000_000))];
            receipts.push(Receipt { status: Eip658Value::Eip658(true), cumulative_gas_used: 150_000, logs });
        }
        receipts.append(&mut self.pending_receipts);
        self.receipts.insert(hash, Arc::new(receipts));
        let take = self.pending.len().min(MAX_TXS_PER_L1_BLOCK);
        self.txs.insert(hash, Arc::new(self.pending.drain(..take).collect()));
    }

    /// Queues a transaction for the next block.
    pub fn submit(&mut self, tx: TxEnvelope) {
        self.pending.push(tx);
        if self.pending.len() > MAX_L1_POOL {
            self.pending.remove(0);
        }
    }

    /// Makes a blob available under its versioned hash (a blob transaction naming it is submitted separately).
    pub fn add_blob(&mut self, hash: B256, blob: alloy_primitives::Bytes) {
        self.blobs.insert(hash, blob);
    }

    /// A blob by versioned hash.
    pub fn blob(&self, hash: &B256) -> Option<alloy_primitives::Bytes> {
        self.blobs.get(hash).cloned()
    }

    /// Queues a receipt (its logs) for the next block, as if a transaction of the next block emitted them.
    pub fn submit_receipt(&mut self, receipt: Receipt) {
        self.pending_receipts.push(receipt);
    }

    /// Transactions of any block ever produced, by hash.
    pub fn transactions(&self, hash: &B256) -> Option<Arc<Vec<TxEnvelope>>> {
        self.txs.get(hash).cloned()
    }

    /// Transactions waiting for a block.
    pub fn pool_len(&self) -> usize {
        self.pending.len()
    }

    /// Receipts of any block ever produced, by hash.
    pub fn receipts(&self, hash: &B256) -> Option<Arc<Vec<Receipt>>> {
        self.receipts.get(hash).cloned()
    }

    fn make(number: u64, parent_hash: B256, timestamp: u64, salt: u64, rng: &mut Rng) -> L1Block {
        L1Block::from_header(Header {
            parent_hash,
            number,
            timestamp,
            gas_limit: 30_000_000,
            base_fee_per_gas: Some(1_000_000_000 + rng.range(0, 1_000_000)),
            mix_hash: B256::from(rng.bytes32()),
            parent_beacon_block_root: Some(B256::from(rng.bytes32())),
            extra_data: Bytes::from(salt.to_be_bytes().to_vec()),
            ..Default::default()
        })
    }

    /// The genesis block.
    pub fn genesis(&self) -> &L1Block {
        &self.genesis
    }

    /// The head block.
    pub fn head(&self) -> &L1Block {
        self.canonical.back().expect("chain is never empty")
    }

    /// The finalized block: `finality_depth` blocks behind the head.
    pub fn finalized(&self) -> &L1Block {
        let n = self.canonical.len().saturating_sub(self.finality_depth as usize + 1);
        &self.canonical[n]
    }

    /// Produces every block due by `now` (ms). Returns whether the head changed.
    pub fn advance(&mut self, now: UnixMs, rng: &mut Rng) -> bool {
        let mut changed = false;
        while now >= self.next_block_time() {
            let parent = self.head().clone();
            let ts = self.next_block_time() / 1000;
            let b = Self::make(parent.number() + 1, parent.hash(), ts, self.salt, rng);
            self.by_hash.insert(b.hash(), b.clone());
            self.make_receipts(b.hash(), rng);
            self.canonical.push_back(b);
            if self.canonical.len() > CANONICAL_HISTORY {
                self.canonical.pop_front();
                self.base += 1;
            }
            if let Some(old) = self.canonical.len().checked_sub(TX_HISTORY + 1) {
                // The block stays in the canonical list (by number) a while longer; its hash lookup and receipts go
                // with its transactions.
                let hash = self.canonical[old].hash();
                self.receipts.remove(&hash);
                self.by_hash.remove(&hash);
                if let Some(txs) = self.txs.remove(&hash) {
                    for h in txs.iter().filter_map(|t| t.blob_versioned_hashes()).flatten() {
                        self.blobs.remove(h);
                    }
                }
            }
            changed = true;
        }
        changed
    }

    /// Wall time (ms) at which the next block is due: the next slot, or the first slot after a stall (so the block
    /// that ends a stall carries a timestamp far ahead of its parent, as on a real chain that missed slots).
    pub fn next_block_time(&self) -> UnixMs {
        let parent_ts = self.head().info.timestamp;
        let mut ts = parent_ts + self.block_time_s;
        let stall_s = self.stalled_until.div_ceil(1000);
        if stall_s > ts {
            let slots = (stall_s - parent_ts).div_ceil(self.block_time_s);
            ts = parent_ts + slots * self.block_time_s;
        }
        ts * 1000
    }

    /// Replaces the last `depth` blocks (never genesis) with different ones at the same heights and times.
    pub fn reorg(&mut self, depth: u64, rng: &mut Rng) {
        let depth = depth.min(self.canonical.len() as u64 - 1) as usize;
        if depth == 0 {
            return;
        }
        self.salt += 1;
        let keep = self.canonical.len() - depth;
        let old: Vec<L1Block> = self.canonical.drain(keep..).collect();
        // Their transactions go back to the pool, ahead of newer ones (as a real mempool re-includes them).
        let mut returned: Vec<TxEnvelope> =
            old.iter().filter_map(|o| self.txs.get(&o.hash())).flat_map(|t| t.iter().cloned()).collect();
        returned.append(&mut self.pending);
        self.pending = returned;
        for o in old {
            let parent = self.head().clone();
            let b = Self::make(o.number(), parent.hash(), o.info.timestamp, self.salt, rng);
            self.by_hash.insert(b.hash(), b.clone());
            self.make_receipts(b.hash(), rng);
            self.canonical.push_back(b);
        }
        self.reorged_blocks += depth as u64;
    }

    /// Canonical block by number.
    pub fn by_number(&self, number: u64) -> Option<&L1Block> {
        self.canonical.get(usize::try_from(number.checked_sub(self.base)?).ok()?)
    }

    /// A block by hash: a canonical one of the last [`TX_HISTORY`], or any block a reorg replaced.
    pub fn by_hash(&self, hash: &B256) -> Option<&L1Block> {
        self.by_hash.get(hash)
    }

    /// Reference of the head.
    pub fn head_ref(&self) -> L1BlockRef {
        self.head().info
    }
}
