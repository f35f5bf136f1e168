//! The pipeline from batcher data to the batches of consecutive L2 blocks: batch-stage rules before and after
//! Holocene, sequence-window expiry, L1 reorgs, and consolidation of derived attributes with engine blocks.

use super::batches::{ResetNeeded, SafeChain};
use super::encode::{self, Compression};
use super::pipeline::{Pipeline, Step};
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{keccak256, Bytes, Signature, TxKind, B256, U256};
use kona_genesis::RollupConfig;
use kona_protocol::{Batch, BlockInfo, L2BlockInfo, SingleBatch};

const L2_CHAIN_ID: u64 = 901;
const GENESIS_TIME: u64 = 1_000;

fn rollup(holocene: bool, seq_window: u64) -> RollupConfig {
    let mut r = RollupConfig {
        block_time: 2,
        max_sequencer_drift: 600,
        seq_window_size: seq_window,
        channel_timeout: 50,
        granite_channel_timeout: 50,
        l2_chain_id: L2_CHAIN_ID.into(),
        ..Default::default()
    };
    r.genesis.l2_time = GENESIS_TIME;
    r.genesis.l2.hash = l2_hash(0);
    r.genesis.l1.hash = l1_hash(0);
    crate::rollup::schedule_forks_through(&mut r.hardforks, if holocene { "holocene" } else { "granite" }, 0);
    r
}

fn l1_hash(n: u64) -> B256 {
    keccak256(format!("l1-{n}"))
}

fn l2_hash(n: u64) -> B256 {
    keccak256(format!("l2-{n}"))
}

/// L1 block `n`: 12 s blocks from the L2 genesis time.
fn l1(n: u64) -> BlockInfo {
    BlockInfo {
        hash: l1_hash(n),
        number: n,
        parent_hash: if n == 0 { B256::ZERO } else { l1_hash(n - 1) },
        timestamp: GENESIS_TIME + 12 * n,
    }
}

/// L2 block `n` (2 s blocks): its epoch advances every six blocks.
fn l2(n: u64) -> L2BlockInfo {
    let epoch = n / 6;
    L2BlockInfo {
        block_info: BlockInfo {
            hash: l2_hash(n),
            number: n,
            parent_hash: if n == 0 { B256::ZERO } else { l2_hash(n - 1) },
            timestamp: GENESIS_TIME + 2 * n,
        },
        l1_origin: l1(epoch).id(),
        seq_num: n % 6,
    }
}

fn user_tx(n: u64) -> Bytes {
    let tx = TxEip1559 {
        chain_id: L2_CHAIN_ID,
        nonce: n,
        gas_limit: 21_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000,
        to: TxKind::Call(alloy_primitives::Address::repeat_byte(n as u8)),
        value: U256::from(n),
        ..Default::default()
    };
    let sig = Signature::new(U256::from(7 + n), U256::from(9 + n), n % 2 == 0);
    TxEnvelope::Eip1559(tx.into_signed(sig)).encoded_2718().into()
}

/// The batch of L2 block `n` (transactions on every third block).
fn batch(n: u64) -> SingleBatch {
    let b = l2(n);
    SingleBatch {
        parent_hash: b.block_info.parent_hash,
        epoch_num: b.l1_origin.number,
        epoch_hash: b.l1_origin.hash,
        timestamp: b.block_info.timestamp,
        transactions: if n % 3 == 0 { vec![user_tx(n)] } else { Vec::new() },
    }
}

fn span(blocks: std::ops::RangeInclusive<u64>) -> Batch {
    let with_seq: Vec<(SingleBatch, u64)> = blocks.map(|n| (batch(n), l2(n).seq_num)).collect();
    Batch::Span(encode::span_batch(&with_seq, GENESIS_TIME, L2_CHAIN_ID).unwrap())
}

fn singles(blocks: std::ops::RangeInclusive<u64>) -> Vec<Batch> {
    blocks.map(|n| Batch::Single(batch(n))).collect()
}

/// Batcher transaction data of one channel (id `id`) holding `batches`, in frames of `frame` bytes, a frame per tx.
fn channel_txs(id: u8, batches: &[Batch], compression: Compression, frame: usize) -> Vec<Bytes> {
    let channel = encode::compress(&encode::channel_payload(batches).unwrap(), compression);
    encode::split_frames([id; 16], &channel, frame).iter().map(|f| encode::tx_data(std::slice::from_ref(f))).collect()
}

/// Runs the pipeline from L1 block 0 over `data[k]` (the batcher data of L1 block `k`), with the safe head
/// following each batch (a consolidation that always matches). Returns the batches in order.
fn derive(cfg: &RollupConfig, data: &[Vec<Bytes>]) -> Result<Vec<SingleBatch>, ResetNeeded> {
    let mut p = Pipeline::new(cfg, l1(0));
    p.provide_data(data[0].clone());
    let mut safe = l2(0);
    let mut chain = SafeChain::default();
    let mut out = Vec::new();
    let mut at = 0;
    for _ in 0..10_000 {
        match p.step(cfg, &safe, &mut chain)? {
            Step::Batch(b) => {
                let n = safe.block_info.number + 1;
                assert_eq!(b.parent_hash, safe.block_info.hash, "batch {n} builds on the safe head");
                // The derived block is the test chain's block when the batch is its batch; empty batches
                // (deposits only) get a hash of their own.
                safe = if b == batch(n) {
                    l2(n)
                } else {
                    let mut info = l2(n);
                    info.block_info.hash = keccak256(format!("empty-{n}"));
                    info.l1_origin = b.epoch();
                    info
                };
                chain.push(safe, b.transactions.clone());
                out.push(b);
            }
            Step::NeedL1 if at + 1 < data.len() => {
                at += 1;
                p.advance(cfg, l1(at as u64))?;
                p.provide_data(data[at].clone());
            }
            Step::NeedL1 => return Ok(out),
            Step::NeedL2(n) => chain.add_facts(l2(n)),
            Step::Again => {}
            Step::NeedData => unreachable!("data is provided with each block"),
        }
    }
    panic!("the pipeline does not settle");
}

/// Asserts two batch lists are equal, naming the first difference.
fn same(got: &[SingleBatch], want: &[SingleBatch], what: &str) {
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("{what}: batch {} differs: got {:?}, want {:?}", i + 1, got[i], want[i]);
    }
    assert_eq!(got.len(), want.len(), "{what}: {} batches, want {}", got.len(), want.len());
}

#[test]
fn span_and_singular_batches_derive_consecutive_blocks_with_both_compressions() {
    for holocene in [false, true] {
        let cfg = rollup(holocene, 100);
        let mut data = vec![Vec::new(); 6];
        data[1] = channel_txs(1, &[span(1..=6)], Compression::Zlib, 80);
        data[2] = channel_txs(2, &singles(7..=12), Compression::Brotli, 10_000);
        data[3] = channel_txs(3, &[span(13..=20)], Compression::Brotli, 64);
        let got = derive(&cfg, &data).unwrap();
        let want: Vec<SingleBatch> = (1..=20).map(batch).collect();
        same(&got, &want, &format!("holocene={holocene}"));
    }
}

#[test]
fn a_batch_for_a_later_block_waits_before_holocene_and_is_dropped_from_holocene_on() {
    // Block 2's batch lands before block 1's.
    let mut data = vec![Vec::new(); 4];
    data[1] = channel_txs(1, &singles(2..=2), Compression::Zlib, 1_000);
    data[2] = channel_txs(2, &singles(1..=1), Compression::Zlib, 1_000);
    let bedrock = derive(&rollup(false, 100), &data).unwrap();
    assert_eq!(bedrock, vec![batch(1), batch(2)], "the pre-Holocene batch queue keeps the future batch");
    let holocene = derive(&rollup(true, 100), &data).unwrap();
    assert_eq!(holocene, vec![batch(1)], "Holocene drops it: block 2 waits for a new batch");
}

#[test]
fn holocene_flushes_the_rest_of_a_channel_after_an_invalid_batch() {
    // One channel: block 1, a batch with a wrong parent for block 2, then block 3. The bad batch drops the channel's
    // rest; block 2 and 3 come from a later channel.
    let mut bad = batch(2);
    bad.parent_hash = B256::repeat_byte(0xbd);
    let mut data = vec![Vec::new(); 4];
    data[1] = channel_txs(
        1,
        &[Batch::Single(batch(1)), Batch::Single(bad), Batch::Single(batch(3))],
        Compression::Zlib,
        1_000,
    );
    data[2] = channel_txs(2, &singles(2..=4), Compression::Zlib, 1_000);
    let got = derive(&rollup(true, 100), &data).unwrap();
    assert_eq!(got, (1..=4).map(batch).collect::<Vec<_>>());
}

/// A span whose epochs reach past its inclusion block (a batch re-included after an L1 reorg) is undecided; op-node's
/// Holocene batch stage skips it and reads on in the same L1 block (rollup/derive/batch_stage.go,
/// `nextSingularBatchCandidate`). Holding it while L1 moved on lost the next channel of that block.
#[test]
fn holocene_skips_an_undecided_span_and_reads_the_rest_of_its_l1_block() {
    let mut data = vec![Vec::new(); 4];
    // Blocks 1..=12 reach epoch 2, included in L1 block 1; a second channel in the same block holds blocks 1..=3.
    data[1] = channel_txs(1, &[span(1..=12)], Compression::Zlib, 10_000);
    data[1].extend(channel_txs(2, &singles(1..=3), Compression::Zlib, 10_000));
    let got = derive(&rollup(true, 100), &data).unwrap();
    same(&got, &(1..=3).map(batch).collect::<Vec<_>>(), "after the undecided span");
}

#[test]
fn past_the_sequence_window_empty_batches_keep_l2_time_moving_and_advance_the_epoch() {
    // No batcher data at all, a four-block window: once L1 block 4 is read, epoch 0 has expired.
    let cfg = rollup(true, 4);
    let data = vec![Vec::new(); 7];
    let got = derive(&cfg, &data).unwrap();
    assert!(!got.is_empty(), "expired epochs are filled");
    for (i, b) in got.iter().enumerate() {
        let n = i as u64 + 1;
        assert!(b.transactions.is_empty(), "block {n} is deposits-only");
        assert_eq!(b.timestamp, GENESIS_TIME + 2 * n);
        // L2 time never runs ahead of its epoch... and the epoch moves once L2 time reaches the next L1 block.
        let epoch = b.epoch_num;
        assert!(b.timestamp >= l1(epoch).timestamp, "block {n}: time before its epoch");
        assert!(b.timestamp < l1(epoch + 1).timestamp || (n % 6 == 0), "block {n} stays in epoch {epoch} too long");
        assert_eq!(b.epoch_hash, l1_hash(epoch));
    }
    // Epochs 0 and 1 (expired at L1 blocks 4 and 5, both read before the data ran out) are filled whole.
    assert!(got.len() >= 12, "two expired epochs give twelve blocks, got {}", got.len());
    assert_eq!(got[5].epoch_num, 1, "block 6 opens epoch 1");
}

#[test]
fn batches_included_after_their_sequence_window_are_dropped() {
    // Window 4: block 1's batch (epoch 0) lands in L1 block 5, too late. Empty batches are derived instead.
    let cfg = rollup(true, 4);
    let mut data = vec![Vec::new(); 6];
    let late = SingleBatch { transactions: vec![user_tx(1)], ..batch(1) };
    data[5] = channel_txs(1, &[Batch::Single(late.clone())], Compression::Zlib, 1_000);
    let got = derive(&cfg, &data).unwrap();
    assert!(got.first().is_some_and(|b| b.transactions.is_empty()), "{:?}", got.first());
    assert!(!got.contains(&late));
    // The same batch one block earlier (L1 block 4 = epoch 0 + window) is in time.
    data.swap(4, 5);
    assert_eq!(derive(&cfg, &data).unwrap().first(), Some(&late));
}

#[test]
fn an_l1_block_that_does_not_extend_the_origin_is_a_reset() {
    let cfg = rollup(true, 100);
    let mut p = Pipeline::new(&cfg, l1(0));
    p.provide_data(Vec::new());
    let mut other = l1(1);
    other.parent_hash = B256::repeat_byte(9);
    assert!(p.advance(&cfg, other).is_err(), "a reorg under the pipeline");
    assert!(p.advance(&cfg, l1(2)).is_err(), "a gap");
    assert!(p.advance(&cfg, l1(1)).is_ok());
}

#[test]
fn a_span_batch_overlapping_the_safe_chain_is_checked_against_it() {
    let cfg = rollup(true, 100);
    // Blocks 1..=6 are derived; then a span 4..=9 (re-posted, overlapping) continues the chain.
    let mut data = vec![Vec::new(); 4];
    data[1] = channel_txs(1, &[span(1..=6)], Compression::Zlib, 1_000);
    data[2] = channel_txs(2, &[span(4..=9)], Compression::Zlib, 1_000);
    same(&derive(&cfg, &data).unwrap(), &(1..=9).map(batch).collect::<Vec<_>>(), "overlap");
    // A span whose overlapping part disagrees with the safe chain (another transaction in block 5): before Holocene
    // the whole span is dropped (kona `SpanBatch::check_batch` compares the overlap); from Holocene only its prefix
    // is checked (`check_batch_prefix`) and its blocks after the safe head are used.
    let mut blocks: Vec<(SingleBatch, u64)> = (4..=9).map(|n| (batch(n), l2(n).seq_num)).collect();
    blocks[1].0.transactions = vec![user_tx(77)];
    let bad = Batch::Span(encode::span_batch(&blocks, GENESIS_TIME, L2_CHAIN_ID).unwrap());
    data[2] = channel_txs(2, &[bad], Compression::Zlib, 1_000);
    same(&derive(&rollup(false, 100), &data).unwrap(), &(1..=6).map(batch).collect::<Vec<_>>(), "bad overlap, Granite");
    same(&derive(&cfg, &data).unwrap(), &(1..=9).map(batch).collect::<Vec<_>>(), "bad overlap, Holocene");
}

#[test]
fn a_span_whose_parent_is_below_the_remembered_safe_chain_asks_for_its_facts() {
    // Block 1 comes alone; then a span 1..=8 overlaps it by one block: its parent, genesis, was never remembered.
    // The pipeline asks for the parent's facts (the node reads them from the engine) and goes on.
    let mut data = vec![Vec::new(); 4];
    data[1] = channel_txs(1, &singles(1..=1), Compression::Zlib, 1_000);
    data[2] = channel_txs(2, &[span(1..=8)], Compression::Zlib, 1_000);
    same(&derive(&rollup(true, 100), &data).unwrap(), &(1..=8).map(batch).collect::<Vec<_>>(), "parent read");
}

#[test]
fn a_span_starting_at_genesis_has_no_parent_and_is_dropped() {
    // A span whose first block is L2 genesis itself (hostile or broken batcher): its parent would be block -1.
    // kona-protocol 0.4.5 underflows computing that number; Keel drops the span and derives the next channel.
    for holocene in [false, true] {
        let mut data = vec![Vec::new(); 4];
        data[1] = channel_txs(1, &[span(0..=5)], Compression::Zlib, 1_000);
        data[2] = channel_txs(2, &[span(1..=6)], Compression::Zlib, 1_000);
        let got = derive(&rollup(holocene, 100), &data).unwrap();
        same(&got, &(1..=6).map(batch).collect::<Vec<_>>(), "span from genesis");
    }
}

mod consolidation {
    use super::super::consolidate::{attributes_match, derived_attributes};
    use crate::io::L2Header;
    use crate::system_config::SystemConfig;
    use crate::types::{L1Block, L2BlockRef};
    use alloy_consensus::Header;
    use alloy_primitives::{Bytes, B256};
    use kona_protocol::SingleBatch;

    fn rollup() -> crate::rollup::Rollup {
        let mut r = kona_genesis::RollupConfig { block_time: 2, ..Default::default() };
        crate::rollup::schedule_forks_through(&mut r.hardforks, "holocene", 0);
        r.into()
    }

    fn origin() -> L1Block {
        L1Block::from_header(Header {
            number: 4,
            timestamp: 1_048,
            base_fee_per_gas: Some(7),
            mix_hash: B256::repeat_byte(0x11),
            parent_beacon_block_root: Some(B256::repeat_byte(0x22)),
            excess_blob_gas: Some(0),
            ..Default::default()
        })
    }

    fn parent(o: &L1Block) -> L2BlockRef {
        L2BlockRef {
            hash: B256::repeat_byte(3),
            number: 24,
            parent_hash: B256::repeat_byte(2),
            time_ms: 1_048_000,
            l1_origin: o.info.id(),
            seq_num: 0,
        }
    }

    /// The header an engine would report for the block the attributes make.
    fn header_for(a: &crate::Attributes, parent: &L2BlockRef) -> L2Header {
        let txs = a.op.transactions.clone().unwrap_or_default();
        let p = &a.op.payload_attributes;
        L2Header {
            hash: B256::repeat_byte(0x77),
            parent_hash: parent.hash,
            timestamp: p.timestamp,
            prev_randao: p.prev_randao,
            fee_recipient: p.suggested_fee_recipient,
            gas_limit: a.op.gas_limit.unwrap(),
            extra_data: {
                let mut e = vec![0u8];
                e.extend_from_slice(a.op.eip_1559_params.unwrap().as_slice());
                e.into()
            },
            transactions_root: alloy_consensus::proofs::ordered_trie_root_with_encoder(&txs, |t, b| {
                alloy_primitives::bytes::BufMut::put_slice(b, t)
            }),
            withdrawals_root: Some(alloy_consensus::EMPTY_ROOT_HASH),
            parent_beacon_block_root: p.parent_beacon_block_root,
            l1_info_input: None,
        }
    }

    #[test]
    fn derived_attributes_carry_the_batch_and_match_only_the_block_they_make() {
        let (r, o) = (rollup(), origin());
        let p = parent(&o);
        let config = SystemConfig {
            gas_limit: 30_000_000,
            eip1559_denominator: 250,
            eip1559_elasticity: 6,
            ..Default::default()
        };
        let user = Bytes::from(vec![0x02, 0xaa, 0xbb]);
        let batch = SingleBatch {
            parent_hash: p.hash,
            epoch_num: 4,
            epoch_hash: o.hash(),
            timestamp: 1_050,
            transactions: vec![user.clone()],
        };
        let d = derived_attributes(&crate::attributes::ProtocolAttributes, &r, &p, &config, &o, &[], &batch).unwrap();
        assert_eq!(d.seq_num, 1, "same epoch as the parent");
        assert_eq!(d.attributes.op.no_tx_pool, Some(true));
        let txs = d.attributes.op.transactions.as_ref().unwrap();
        assert_eq!(txs.len(), 2, "L1 info deposit, then the batch's transaction");
        assert_eq!(txs[1], user);

        let good = header_for(&d.attributes, &p);
        assert_eq!(attributes_match(&d.attributes, p.hash, &good, false), Ok(()));
        type Change = Box<dyn Fn(&mut L2Header)>;
        let cases: Vec<(&str, Change)> = vec![
            ("parent", Box::new(|h| h.parent_hash = B256::ZERO)),
            ("time", Box::new(|h| h.timestamp += 2)),
            ("prevRandao", Box::new(|h| h.prev_randao = B256::ZERO)),
            ("fee recipient", Box::new(|h| h.fee_recipient = alloy_primitives::Address::ZERO)),
            ("transactions", Box::new(|h| h.transactions_root = B256::ZERO)),
            ("gas limit", Box::new(|h| h.gas_limit -= 1)),
            ("withdrawals", Box::new(|h| h.withdrawals_root = Some(B256::ZERO))),
            ("beacon root", Box::new(|h| h.parent_beacon_block_root = None)),
            ("eip-1559 params", Box::new(|h| h.extra_data = Bytes::from(vec![0u8; 9]))),
        ];
        for (what, change) in cases {
            let mut h = good.clone();
            change(&mut h);
            assert!(attributes_match(&d.attributes, p.hash, &h, false).is_err(), "a different {what} must not match");
        }
        // From Isthmus the withdrawals root is execution's: any root matches.
        let mut h = good.clone();
        h.withdrawals_root = Some(B256::repeat_byte(1));
        assert_eq!(attributes_match(&d.attributes, p.hash, &h, true), Ok(()));

        let wrong_epoch = SingleBatch { epoch_hash: B256::repeat_byte(5), ..batch };
        assert!(
            derived_attributes(&crate::attributes::ProtocolAttributes, &r, &p, &config, &o, &[], &wrong_epoch).is_err(),
            "the origin must be the epoch"
        );
    }
}
