//! A batcher model: posts the leader's unsafe blocks to the simulated L1 as real batcher transactions (signed
//! EIP-1559 transactions to the batch inbox, calldata of version-0 frames of zlib or brotli channels holding singular
//! or span batches), with seeded faults: delays and outages, duplicated transactions, lost frames, reordered frames,
//! garbage from other senders, and a batcher key rotation announced by a SystemConfig `ConfigUpdate`.
//!
//! Like op-batcher it keeps a cursor (the next L2 block to post) and restarts from the safe head when the chain it
//! posted from was reorganised. A channel it sabotaged (lost or reordered frame) is posted again from its first block
//! with a fresh channel, as op-batcher does when a channel times out.

use crate::engine::Engine;
use crate::l1::L1Chain;
use crate::rng::Rng;
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_primitives::{Address, Bytes, Signature, TxKind, B256, U256};
use k256::ecdsa::SigningKey;
use keel_core::derive::encode::{self, Compression};
use keel_core::{L2BlockRef, UnixMs};
use kona_protocol::{Batch, SingleBatch};
use std::collections::BTreeMap;

/// L2 blocks remembered as posted (for the derivability check); older entries are forgotten.
pub const POSTED_HISTORY: usize = 8_192;

/// Knobs of the batcher model.
#[derive(Clone, Debug)]
pub struct BatcherConfig {
    /// Post at all.
    pub enabled: bool,
    /// Most L2 blocks in one channel.
    pub max_blocks: u64,
    /// Most channels posted at one L1 block (a backlog is posted this many channels at a time).
    pub max_channels: usize,
    /// Probability a channel holds one span batch rather than singular batches.
    pub span_rate: f64,
    /// Probability a channel is brotli-compressed (Fjord on), else zlib.
    pub brotli_rate: f64,
    /// Most bytes of channel data per frame.
    pub max_frame_data: usize,
    /// Frames per batcher transaction.
    pub frames_per_tx: usize,
    /// Probability of posting at a given L1 block (the rest is delay).
    pub post_rate: f64,
    /// Probability a batcher transaction is posted twice.
    pub duplicate_rate: f64,
    /// Probability a channel loses a frame (and is posted again later).
    pub lost_frame_rate: f64,
    /// Probability a channel's transactions are posted in reverse order (and it is posted again later).
    pub reorder_rate: f64,
    /// Probability of a garbage transaction to the inbox from another sender, per post.
    pub garbage_rate: f64,
    /// Probability a channel is posted in blobs (type-3 transactions) rather than calldata.
    pub blob_rate: f64,
    /// The versioned hash a blob is posted under. The simulator delivers blobs by this hash without a beacon node,
    /// so a cheap stand-in ([`stand_in_blob_hash`]) does; the shell's fake L1, which serves blobs to a real beacon
    /// client, uses the KZG one.
    pub blob_hash: fn(&[u8]) -> B256,
}

/// A versioned-hash stand-in with the KZG version byte (not a KZG commitment's hash): keccak256 of the blob's
/// length and its bytes up to the last non-zero one. Blobs of one length that differ differ there, so this names a
/// blob as uniquely as hashing all of it, and a channel's few kilobytes are hashed instead of 128 KiB.
pub fn stand_in_blob_hash(blob: &[u8]) -> B256 {
    let used = keel_core::derive::blobs::used_len(blob);
    let mut hasher = alloy_primitives::Keccak256::new();
    hasher.update((blob.len() as u64).to_be_bytes());
    hasher.update(&blob[..used]);
    let mut hash = hasher.finalize();
    hash.0[0] = 0x01;
    hash
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_blocks: 8,
            max_channels: 16,
            span_rate: 0.5,
            brotli_rate: 0.5,
            max_frame_data: 1_500,
            frames_per_tx: 2,
            post_rate: 0.8,
            duplicate_rate: 0.05,
            lost_frame_rate: 0.03,
            reorder_rate: 0.03,
            garbage_rate: 0.1,
            blob_rate: 0.5,
            blob_hash: stand_in_blob_hash,
        }
    }
}

/// Counters of the batcher model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatcherStats {
    /// Channels posted.
    pub channels: u64,
    /// Transactions posted.
    pub txs: u64,
    /// Channels sabotaged on purpose (lost or reordered frames).
    pub sabotaged: u64,
    /// Restarts from the safe head after an L2 reorg.
    pub rewinds: u64,
    /// Batcher key rotations.
    pub rotations: u64,
    /// Blobs posted.
    pub blobs: u64,
}

/// The batcher.
#[derive(Clone, Debug)]
pub struct Batcher {
    /// Settings.
    pub cfg: BatcherConfig,
    key: SigningKey,
    nonce: u64,
    /// Next L2 block to post, and the hash of the block before it.
    next: u64,
    last: B256,
    channel: u64,
    /// No posting before this time (an outage).
    pub outage_until: UnixMs,
    /// The block posted at each height in time to be derived (the last one posted there): its hash and its parent's.
    pub posted: BTreeMap<u64, (B256, B256)>,
    /// Counters.
    pub stats: BatcherStats,
    l1_chain_id: u64,
    l2_chain_id: u64,
    genesis_time: u64,
    inbox: Address,
    /// Brotli channels are valid from Fjord (by L1 time).
    fjord_time: Option<u64>,
    seq_window_size: u64,
    /// A key rotation waits for the L1 block holding its `ConfigUpdate` (nothing is posted until that block
    /// exists); then everything not yet safe is posted again with the new key.
    rotation: Option<(u64, SigningKey)>,
}

/// The signing key of the batcher after `rotations` key rotations.
pub fn batcher_key(rotations: u64) -> SigningKey {
    let mut bytes = [0x42u8; 32];
    bytes[24..].copy_from_slice(&rotations.to_be_bytes());
    SigningKey::from_bytes(&bytes.into()).expect("a valid secp256k1 scalar")
}

/// The address of a key.
pub fn address_of(key: &SigningKey) -> Address {
    Address::from_public_key(key.verifying_key())
}

fn sign(tx: TxEip1559, key: &SigningKey) -> TxEnvelope {
    let sig = sign_hash(key, tx.signature_hash());
    TxEnvelope::Eip1559(tx.into_signed(sig))
}

/// An RFC 6979 signature of `hash` by `key`, through libsecp256k1 (a fraction of k256's time; the simulated batcher
/// signs thousands of transactions a simulated day).
fn sign_hash(key: &SigningKey, hash: B256) -> Signature {
    let secret = B256::from_slice(&key.to_bytes());
    alloy_consensus::crypto::secp256k1::sign_message(secret, hash).expect("a valid key signs any hash")
}

impl Batcher {
    /// A batcher posting to `inbox` for a chain whose genesis is `genesis` (posting starts after it).
    pub fn new(cfg: BatcherConfig, rollup: &keel_core::Rollup, genesis: &L2BlockRef) -> Self {
        Self {
            cfg,
            key: batcher_key(0),
            nonce: 0,
            next: genesis.number + 1,
            last: genesis.hash,
            channel: 0,
            outage_until: 0,
            posted: BTreeMap::new(),
            stats: BatcherStats::default(),
            l1_chain_id: rollup.l1_chain_id,
            l2_chain_id: rollup.l2_chain_id.id(),
            genesis_time: rollup.genesis.l2_time,
            inbox: rollup.batch_inbox_address,
            fjord_time: rollup.hardforks.fjord_time,
            seq_window_size: rollup.seq_window_size,
            rotation: None,
        }
    }

    /// The address posting now.
    pub fn address(&self) -> Address {
        address_of(&self.key)
    }

    /// Rotates the batcher key: a `ConfigUpdate` naming the new address goes into the next L1 block, and so do the
    /// new key's transactions.
    pub fn rotate(&mut self, l1: &mut L1Chain) {
        if self.rotation.is_some() {
            return;
        }
        self.stats.rotations += 1;
        let key = batcher_key(self.stats.rotations);
        let log = crate::l1::batcher_update_log(address_of(&key));
        self.rotation = Some((l1.head().number() + 1, key));
        l1.submit_receipt(alloy_consensus::Receipt {
            status: alloy_consensus::Eip658Value::Eip658(true),
            cumulative_gas_used: 50_000,
            logs: vec![log],
        });
    }

    fn blob_tx(&mut self, hashes: Vec<B256>) -> TxEnvelope {
        let tx = alloy_consensus::TxEip4844 {
            chain_id: self.l1_chain_id,
            nonce: self.nonce,
            gas_limit: 100_000,
            max_fee_per_gas: 20_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            max_fee_per_blob_gas: 1_000_000_000,
            to: self.inbox,
            blob_versioned_hashes: hashes,
            ..Default::default()
        };
        self.nonce += 1;
        let sig = sign_hash(&self.key, tx.signature_hash());
        tx.into_signed(sig).into()
    }

    fn tx(&mut self, data: Bytes) -> TxEnvelope {
        let tx = TxEip1559 {
            chain_id: self.l1_chain_id,
            nonce: self.nonce,
            gas_limit: 1_000_000,
            max_fee_per_gas: 20_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Call(self.inbox),
            value: U256::ZERO,
            input: data,
            ..Default::default()
        };
        self.nonce += 1;
        sign(tx, &self.key)
    }

    /// Called once per L1 block: posts what the leader's engine has beyond the cursor.
    pub fn tick(&mut self, now: UnixMs, engine: &Engine, safe: Option<L2BlockRef>, l1: &mut L1Chain, rng: &mut Rng) {
        if !self.cfg.enabled || now < self.outage_until {
            return;
        }
        let mut rewind = false;
        if let Some((at, _)) = &self.rotation {
            if l1.head().number() < *at {
                return;
            }
            // Transactions of the old key still in the pool landed with the update, so they are void.
            let (_, key) = self.rotation.take().expect("checked");
            self.key = key;
            self.nonce = 0;
            rewind = true;
        }
        // The chain below the cursor changed (a failover, a reorg by derivation): start again from the safe head.
        let before = engine.by_number(self.next - 1);
        if rewind || before.is_none_or(|b| b.hash != self.last) {
            let from = safe.or_else(|| engine.by_number(0)).expect("the engine has genesis");
            self.stats.rewinds += 1;
            self.next = from.number + 1;
            self.last = from.hash;
            self.posted.split_off(&self.next);
        }
        if rng.chance(self.cfg.garbage_rate) {
            let stranger = SigningKey::from_bytes(&rng.bytes32().into()).ok();
            if let Some(k) = stranger {
                let tx = TxEip1559 {
                    chain_id: self.l1_chain_id,
                    to: TxKind::Call(self.inbox),
                    input: Bytes::from(rng.bytes32().to_vec()),
                    ..Default::default()
                };
                l1.submit(sign(tx, &k));
            }
        }
        if !rng.chance(self.cfg.post_rate) {
            return;
        }
        for _ in 0..self.cfg.max_channels.max(1) {
            if !self.post_channel(now, engine, l1, rng) {
                break;
            }
        }
    }

    /// Posts one channel from the cursor; whether there was anything to post.
    fn post_channel(&mut self, now: UnixMs, engine: &Engine, l1: &mut L1Chain, rng: &mut Rng) -> bool {
        let head = engine.heads().unsafe_head.number;
        if head < self.next {
            return false;
        }
        let last = head.min(self.next + self.cfg.max_blocks - 1);
        let mut blocks = Vec::new();
        for n in self.next..=last {
            let Some(b) = engine.by_number(n) else { break };
            let Some(stored) = engine.block(&b.hash) else { break };
            let Some(env) = &stored.envelope else { break };
            let txs: Vec<Bytes> = env
                .execution_payload
                .transactions()
                .iter()
                .filter(|tx| tx.first() != Some(&op_alloy_consensus::DEPOSIT_TX_TYPE_ID))
                .cloned()
                .collect();
            let batch = SingleBatch {
                parent_hash: b.parent_hash,
                epoch_num: b.l1_origin.number,
                epoch_hash: b.l1_origin.hash,
                timestamp: b.timestamp_s(),
                transactions: txs,
            };
            blocks.push((b, batch));
        }
        if blocks.is_empty() {
            return false;
        }
        let batches: Vec<Batch> = if rng.chance(self.cfg.span_rate) {
            let with_seq: Vec<(SingleBatch, u64)> = blocks.iter().map(|(b, s)| (s.clone(), b.seq_num)).collect();
            match encode::span_batch(&with_seq, self.genesis_time, self.l2_chain_id) {
                Ok(span) => vec![Batch::Span(span)],
                Err(_) => blocks.iter().map(|(_, s)| Batch::Single(s.clone())).collect(),
            }
        } else {
            blocks.iter().map(|(_, s)| Batch::Single(s.clone())).collect()
        };
        let Ok(payload) = encode::channel_payload(&batches) else { return false };
        let fjord = self.fjord_time.is_some_and(|t| now / 1000 >= t);
        let compression =
            if fjord && rng.chance(self.cfg.brotli_rate) { Compression::Brotli } else { Compression::Zlib };
        let channel = encode::compress_quick(&payload, compression);
        self.channel += 1;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.channel.to_be_bytes());
        id[8..].copy_from_slice(&rng.bytes32()[..8]);
        let mut frames = encode::split_frames(id, &channel, self.cfg.max_frame_data);
        let mut sabotaged = false;
        if frames.len() > 1 && rng.chance(self.cfg.lost_frame_rate) {
            let i = rng.range(0, frames.len() as u64 - 1) as usize;
            frames.remove(i);
            sabotaged = true;
        }
        let as_blobs = rng.chance(self.cfg.blob_rate);
        let mut txs: Vec<TxEnvelope> = if as_blobs {
            // Each blob carries batcher data of its own (version byte, frames); a transaction carries up to six.
            let mut hashes = Vec::new();
            for fs in frames.chunks(self.cfg.frames_per_tx.max(1)) {
                let data = encode::tx_data(fs);
                let Ok(blob) = keel_core::derive::blobs::encode_blob(&data) else { return false };
                let hash = (self.cfg.blob_hash)(&blob);
                l1.add_blob(hash, blob.into());
                hashes.push(hash);
            }
            self.stats.blobs += hashes.len() as u64;
            hashes.chunks(6).map(|hs| self.blob_tx(hs.to_vec())).collect()
        } else {
            frames.chunks(self.cfg.frames_per_tx.max(1)).map(|fs| self.tx(encode::tx_data(fs))).collect()
        };
        if txs.len() > 1 && rng.chance(self.cfg.reorder_rate) {
            txs.reverse();
            sabotaged = true;
        }
        for tx in txs {
            if rng.chance(self.cfg.duplicate_rate) {
                l1.submit(tx.clone());
                self.stats.txs += 1;
            }
            l1.submit(tx);
            self.stats.txs += 1;
        }
        self.stats.channels += 1;
        if sabotaged {
            // Posted again from its first block next time, in a fresh channel.
            self.stats.sabotaged += 1;
            return false;
        }
        // Only a channel that lands within its first epoch's sequence window must be derived as posted (a later
        // one is dropped and its blocks become deposits-only ones). Inclusion is taken as late as the pool backlog
        // allows.
        let inclusion = l1.head().number() + 1 + (l1.pool_len() / crate::l1::MAX_TXS_PER_L1_BLOCK) as u64;
        let first_epoch = blocks.first().map_or(0, |(b, _)| b.l1_origin.number);
        let in_time = first_epoch + self.seq_window_size >= inclusion;
        for (b, _) in &blocks {
            if in_time {
                self.posted.insert(b.number, (b.hash, b.parent_hash));
            } else {
                self.posted.remove(&b.number);
            }
        }
        while self.posted.len() > POSTED_HISTORY {
            self.posted.pop_first();
        }
        let (tip, _) = blocks.last().expect("non-empty");
        self.next = tip.number + 1;
        self.last = tip.hash;
        true
    }
}
