//! Derivation throughput: L2 blocks derived per second from span batches held in memory.
//!
//! `cargo bench -p keel-core --bench derive -- [blocks]` builds a chain of `blocks` L2 blocks (2 s blocks, 12 s L1
//! blocks, a user transaction in every third block), posts them as brotli channels of one 64-block span batch each
//! (frames of 120,000 bytes, calldata), then times Keel's pipeline from batcher transaction data to payload
//! attributes: frames, channels, decompression, span-batch decoding and its checks, singular batch checks, and the
//! attributes of every block (L1 info deposit, epoch deposits, the batch's transactions) — what consolidation then
//! compares. The safe head follows each derived block, as a matching consolidation makes it. Prints figures; asserts
//! nothing about time.

use alloy_consensus::{Header, SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{keccak256, Bytes, Signature, TxKind, B256, U256};
use keel_core::derive::batches::SafeChain;
use keel_core::derive::consolidate::derived_attributes;
use keel_core::derive::encode::{self, Compression};
use keel_core::derive::pipeline::{Pipeline, Step};
use keel_core::system_config::SystemConfig;
use keel_core::{L1Block, L2BlockRef, Rollup};
use kona_protocol::{Batch, SingleBatch};
use std::time::Instant;

const GENESIS_TIME: u64 = 1_700_000_000;
const CHAIN_ID: u64 = 901;
const BLOCKS_PER_SPAN: u64 = 64;

fn l1_block(n: u64, parent: B256) -> L1Block {
    L1Block::from_header(Header {
        number: n,
        parent_hash: parent,
        timestamp: GENESIS_TIME + 12 * n,
        base_fee_per_gas: Some(1_000_000_000),
        mix_hash: keccak256(n.to_be_bytes()),
        parent_beacon_block_root: Some(B256::repeat_byte(1)),
        excess_blob_gas: Some(0),
        blob_gas_used: Some(0),
        ..Default::default()
    })
}

fn user_tx(n: u64) -> Bytes {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: n,
        gas_limit: 21_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000,
        to: TxKind::Call(alloy_primitives::Address::repeat_byte(7)),
        value: U256::from(n),
        ..Default::default()
    };
    TxEnvelope::Eip1559(tx.into_signed(Signature::new(U256::from(n + 1), U256::from(n + 2), false)))
        .encoded_2718()
        .into()
}

fn main() {
    let blocks: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(200_000);
    let mut cfg = kona_genesis::RollupConfig {
        block_time: 2,
        max_sequencer_drift: 1800,
        seq_window_size: 3600,
        channel_timeout: 50,
        granite_channel_timeout: 50,
        l2_chain_id: CHAIN_ID.into(),
        ..Default::default()
    };
    keel_core::rollup::schedule_forks_through(&mut cfg.hardforks, "holocene", 0);
    cfg.genesis.l2_time = GENESIS_TIME;
    let rollup = Rollup::from(cfg);

    // The L1 chain (enough blocks for every epoch plus one per channel) and the L2 chain the batches describe.
    let l1_len = blocks / 6 + blocks / BLOCKS_PER_SPAN + 8;
    let mut l1 = Vec::with_capacity(l1_len as usize);
    let mut parent = B256::ZERO;
    for n in 0..l1_len {
        let b = l1_block(n, parent);
        parent = b.hash();
        l1.push(b);
    }
    let l2_hash = |n: u64| keccak256(format!("l2-{n}"));
    let batch = |n: u64| {
        let epoch = &l1[(n / 6) as usize];
        SingleBatch {
            parent_hash: l2_hash(n - 1),
            epoch_num: epoch.number(),
            epoch_hash: epoch.hash(),
            timestamp: GENESIS_TIME + 2 * n,
            transactions: if n % 3 == 0 { vec![user_tx(n)] } else { Vec::new() },
        }
    };
    // Channel k (blocks 64k+1 ..= 64k+64) lands in the L1 block after its last block's epoch.
    let t0 = Instant::now();
    let mut data: Vec<Vec<Bytes>> = vec![Vec::new(); l1_len as usize];
    let mut posted_bytes = 0usize;
    let mut first = 1;
    while first <= blocks {
        let last = (first + BLOCKS_PER_SPAN - 1).min(blocks);
        let with_seq: Vec<(SingleBatch, u64)> = (first..=last).map(|n| (batch(n), n % 6)).collect();
        let span = encode::span_batch(&with_seq, GENESIS_TIME, CHAIN_ID).expect("span batch");
        let channel = encode::compress(&encode::channel_payload(&[Batch::Span(span)]).unwrap(), Compression::Brotli);
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&first.to_be_bytes());
        let at = (last / 6 + 1) as usize;
        for f in encode::split_frames(id, &channel, 120_000) {
            let tx = encode::tx_data(std::slice::from_ref(&f));
            posted_bytes += tx.len();
            data[at].push(tx);
        }
        first = last + 1;
    }
    let prep = t0.elapsed();

    let genesis = L2BlockRef {
        hash: l2_hash(0),
        number: 0,
        parent_hash: B256::ZERO,
        time_ms: GENESIS_TIME * 1000,
        l1_origin: l1[0].info.id(),
        seq_num: 0,
    };
    let config =
        SystemConfig { gas_limit: 30_000_000, eip1559_denominator: 250, eip1559_elasticity: 6, ..Default::default() };

    let start = Instant::now();
    let mut p = Pipeline::new(&rollup, l1[0].info);
    p.provide_data(std::mem::take(&mut data[0]));
    let mut safe = genesis;
    let mut chain = SafeChain::default();
    let mut at = 0usize;
    let mut derived = 0u64;
    let mut txs = 0usize;
    loop {
        match p.step(&rollup, &safe.to_kona(), &mut chain).expect("no reset") {
            Step::Batch(b) => {
                let origin = &l1[b.epoch_num as usize];
                let d = derived_attributes(&rollup, &safe, &config, origin, &[], &b).expect("attributes");
                txs += d.attributes.op.transactions.as_ref().map_or(0, Vec::len);
                let n = safe.number + 1;
                safe = L2BlockRef {
                    hash: l2_hash(n),
                    number: n,
                    parent_hash: safe.hash,
                    time_ms: b.timestamp * 1000,
                    l1_origin: origin.info.id(),
                    seq_num: d.seq_num,
                };
                chain.push(safe.to_kona(), b.transactions);
                derived += 1;
            }
            Step::NeedL1 if at + 1 < l1.len() && derived < blocks => {
                at += 1;
                p.advance(&rollup, l1[at].info).expect("linked L1");
                p.provide_data(std::mem::take(&mut data[at]));
            }
            Step::NeedL1 => break,
            Step::Again => {}
            Step::NeedL2(_) | Step::NeedData => unreachable!("every parent is remembered"),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(derived, blocks, "every posted block is derived");
    println!(
        "derive: {derived} L2 blocks ({txs} transactions in their attributes) from {at} L1 blocks, {posted_bytes} bytes of \
         batcher data, in {:.3} s: {:.0} blocks/s (input prepared in {:.2} s, not timed)",
        secs,
        derived as f64 / secs,
        prep.as_secs_f64()
    );
}
