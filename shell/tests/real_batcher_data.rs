//! Real batcher data from public chains: blobs and calldata posted by OP Stack batchers, decoded and derived with
//! the chains' registry configurations. Each vector's source, chain, L1 block and transaction are in
//! `tests/data/real-batches/SOURCES.md`; the expected L2 facts (`*.json`) come from an independent decoder (not
//! Keel's, not kona's) and, where stated there, from the source's own assertions.

use alloy_consensus::TxEnvelope;
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{b256, hex, keccak256, Address, Bytes, B256};
use keel_core::derive::batcher::{batcher_data, BatcherData};
use keel_core::derive::batches::SafeChain;
use keel_core::derive::blobs::decode_blob;
use keel_core::derive::pipeline::{Pipeline, Step};
use keel_core::derive::reader::{ChannelReader, Item};
use keel_core::Rollup;
use keel_shell::{registry, rollup_json};
use kona_protocol::{Batch, BlockInfo, Frame, L2BlockInfo, SingleBatch, SpanBatch};
use serde_json::Value;

fn data_file(name: &str) -> String {
    let path = format!("{}/tests/data/real-batches/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn hex_file(name: &str) -> Vec<u8> {
    hex::decode(data_file(name).trim()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn json_file(name: &str) -> Value {
    serde_json::from_str(&data_file(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn registry_rollup(chain_id: u64) -> Rollup {
    let entry = registry::lookup(chain_id).unwrap_or_else(|| panic!("chain {chain_id} is in the registry"));
    rollup_json::parse_value(entry.rollup).expect("registry rollup config").0
}

fn tx_hashes(txs: &[Bytes]) -> Vec<String> {
    txs.iter().map(|tx| format!("{:#x}", keccak256(tx))).collect()
}

fn expected_hashes(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_owned()).collect()
}

/// The batches of a single-frame channel carried by `data` (version byte, frames), read at L1 time `l1_time`.
fn channel_batches(rollup: &Rollup, data: &[u8], l1_time: u64) -> (Frame, Vec<Batch>) {
    let frames = Frame::parse_frames(data).expect("frames");
    assert_eq!(frames.len(), 1, "one frame");
    let frame = frames.into_iter().next().unwrap();
    assert!(frame.is_last && frame.number == 0, "the channel's only frame");
    let origin = BlockInfo { timestamp: l1_time, ..Default::default() };
    let mut reader = ChannelReader::new(&frame.data, &origin, rollup).expect("channel decompresses");
    let mut batches = Vec::new();
    while let Some(item) = reader.next_item(rollup) {
        match item {
            Item::Batch(b) => batches.push(*b),
            Item::SpanBeforeDelta => panic!("span batch before Delta"),
        }
    }
    (frame, batches)
}

/// The L2 block number of timestamp `t` by the chain's genesis.
fn l2_number(rollup: &Rollup, t: u64) -> u64 {
    rollup.genesis.l2.number + (t - rollup.genesis.l2_time) / rollup.block_time
}

fn check_span_blocks(rollup: &Rollup, span: &SpanBatch, expected: &Value) {
    let want = expected["blocks"].as_array().unwrap();
    assert_eq!(span.batches.len(), want.len(), "blocks in the span");
    for (got, want) in span.batches.iter().zip(want) {
        let n = want["number"].as_u64().unwrap();
        assert_eq!(l2_number(rollup, got.timestamp), n, "block number of time {}", got.timestamp);
        assert_eq!(got.timestamp, want["timestamp"].as_u64().unwrap(), "block {n} time");
        assert_eq!(got.epoch_num, want["epoch"].as_u64().unwrap(), "block {n} epoch");
        assert_eq!(tx_hashes(&got.transactions), expected_hashes(&want["txs"]), "block {n} transactions");
    }
}

fn check_singular_batches(rollup: &Rollup, batches: &[Batch], expected: &Value) {
    let want = expected["batches"].as_array().unwrap();
    assert_eq!(batches.len(), want.len(), "batches in the channel");
    for (i, (got, want)) in batches.iter().zip(want).enumerate() {
        let Batch::Single(b) = got else { panic!("batch {i} is not singular") };
        assert_eq!(b.timestamp, want["timestamp"].as_u64().unwrap(), "batch {i} time");
        assert_eq!(format!("{:#x}", b.parent_hash), want["parent_hash"].as_str().unwrap(), "batch {i} parent");
        assert_eq!(b.epoch_num, want["epoch_num"].as_u64().unwrap(), "batch {i} epoch");
        assert_eq!(format!("{:#x}", b.epoch_hash), want["epoch_hash"].as_str().unwrap(), "batch {i} epoch hash");
        assert_eq!(tx_hashes(&b.transactions), expected_hashes(&want["txs"]), "batch {i} transactions");
        if i > 0 {
            assert_eq!(b.timestamp, l2_time(&batches[i - 1]) + rollup.block_time, "batch {i} follows batch {}", i - 1);
        }
    }
}

fn l2_time(b: &Batch) -> u64 {
    match b {
        Batch::Single(b) => b.timestamp,
        Batch::Span(s) => s.starting_timestamp(),
    }
}

const UNICHAIN_BLOBS: [&str; 3] =
    ["unichain-blob-010d628a.hex", "unichain-blob-01cdba50.hex", "unichain-blob-01066ce0.hex"];
/// L2 block 36,637,399: the parent of the span batch in the Unichain blobs.
const UNICHAIN_SAFE: u64 = 36_637_399;
/// The first 20 bytes of its hash, as the span batch carries them.
const UNICHAIN_PARENT_CHECK: [u8; 20] = hex!("563113941c30e15704d522c04a47ce8c5b4be46a");

/// The L1 chain of the Unichain vector: the epochs the batch names (hash and time from mainnet, as the source lists
/// them), then the blocks up to the inclusion block 24,149,392, whose hashes the source does not give (no batch
/// names them; they only link the chain). Block times are 12 s: 24,149,386 is at 1,767,386,231, the inclusion
/// block at 1,767,386,303 as the source states.
fn unichain_l1() -> Vec<BlockInfo> {
    let epochs = json_file("unichain-l1-epochs.json");
    let mut l1: Vec<BlockInfo> = Vec::new();
    for e in epochs.as_array().unwrap() {
        let parent = l1.last().map_or(B256::ZERO, |b| b.hash);
        l1.push(BlockInfo {
            hash: e["hash"].as_str().unwrap().parse().unwrap(),
            number: e["number"].as_u64().unwrap(),
            parent_hash: parent,
            timestamp: e["timestamp"].as_u64().unwrap(),
        });
    }
    assert_eq!((l1[0].number, l1.last().unwrap().number), (24_149_341, 24_149_386));
    for n in 24_149_387..=24_149_392u64 {
        let parent = *l1.last().unwrap();
        l1.push(BlockInfo {
            hash: keccak256(format!("unichain L1 block {n} (hash not in the source)")),
            number: n,
            parent_hash: parent.hash,
            timestamp: parent.timestamp + 12,
        });
    }
    assert_eq!(l1.last().unwrap().timestamp, 1_767_386_303);
    l1
}

/// Runs Keel's pipeline over the Unichain L1 chain with the blobs' data in the inclusion block, from a safe head at
/// L2 block 36,637,399 (epoch 24,149,341) with hash `safe_hash`; the safe head follows every derived block.
fn derive_unichain(rollup: &Rollup, data: &[Vec<u8>], safe_hash: B256) -> (Vec<SingleBatch>, Pipeline) {
    let l1 = unichain_l1();
    let mut safe = L2BlockInfo {
        block_info: BlockInfo {
            hash: safe_hash,
            number: UNICHAIN_SAFE,
            parent_hash: B256::ZERO,
            timestamp: rollup.genesis.l2_time + UNICHAIN_SAFE * rollup.block_time,
        },
        l1_origin: l1[0].id(),
        seq_num: 0,
    };
    assert_eq!(l2_number(rollup, safe.block_info.timestamp), UNICHAIN_SAFE);
    let mut pipeline = Pipeline::new(rollup, l1[0]);
    pipeline.provide_data(Vec::new());
    let mut chain = SafeChain::default();
    let mut derived: Vec<SingleBatch> = Vec::new();
    let mut at = 0;
    for _ in 0..100_000 {
        match pipeline.step(rollup, &safe, &mut chain).expect("no reset") {
            Step::Batch(b) => {
                let n = safe.block_info.number + 1;
                assert_eq!(b.parent_hash, safe.block_info.hash, "block {n} builds on the safe head");
                let origin = l1.iter().find(|o| o.number == b.epoch_num).expect("a known epoch");
                assert_eq!(b.epoch_hash, origin.hash, "block {n}: epoch hash of L1 block {}", b.epoch_num);
                let seq_num = if b.epoch_num == safe.l1_origin.number { safe.seq_num + 1 } else { 0 };
                safe = L2BlockInfo {
                    block_info: BlockInfo {
                        hash: keccak256(format!("unichain L2 block {n}")),
                        number: n,
                        parent_hash: safe.block_info.hash,
                        timestamp: b.timestamp,
                    },
                    l1_origin: origin.id(),
                    seq_num,
                };
                chain.push(safe, b.transactions.clone());
                derived.push(b);
            }
            Step::NeedL1 if at + 1 < l1.len() => {
                at += 1;
                pipeline.advance(rollup, l1[at]).expect("a linked L1 chain");
                let txs = if at + 1 == l1.len() { data.iter().cloned().map(Bytes::from).collect() } else { Vec::new() };
                pipeline.provide_data(txs);
            }
            Step::NeedL1 => break,
            Step::Again => {}
            other => panic!("unexpected step {other:?}"),
        }
    }
    (derived, pipeline)
}

fn unichain_blob_data() -> Vec<Vec<u8>> {
    UNICHAIN_BLOBS.iter().map(|f| decode_blob(&hex_file(f)).expect("OP blob encoding")).collect()
}

/// Unichain mainnet, L1 block 24,149,392, tx 0x713d…131e: three blobs holding one brotli channel with a 540-block
/// span batch. Through Keel's whole pipeline (blob decoding, frames, channel assembly, decompression, span batch,
/// Holocene batch checks over the real L1 epochs 24,149,341..=24,149,386) under Unichain's registry config.
#[test]
fn unichain_blobs_derive_540_blocks_over_the_real_l1_epochs() {
    let rollup = registry_rollup(130);
    let data = unichain_blob_data();
    assert_eq!(data.iter().map(Vec::len).collect::<Vec<_>>(), [130_044, 130_044, 62_752]);
    // One frame per blob, one channel.
    for (i, d) in data.iter().enumerate() {
        let frames = Frame::parse_frames(d).expect("frames");
        assert_eq!(frames.len(), 1);
        assert_eq!(hex::encode(frames[0].id), "0cd2fbf2cf47542dc209f38baa4fd48f");
        assert_eq!((frames[0].number, frames[0].is_last), (i as u16, i == 2));
    }
    // The safe head's hash is not in the source; the span batch carries its first 20 bytes, used with the rest zero.
    let mut safe_hash = [0u8; 32];
    safe_hash[..20].copy_from_slice(&UNICHAIN_PARENT_CHECK);
    let (derived, pipeline) = derive_unichain(&rollup, &data, B256::from(safe_hash));

    let expected = json_file("unichain-l2-blocks.json");
    let want = expected["blocks"].as_array().unwrap();
    assert_eq!(derived.len(), 540, "every block of the span is derived");
    assert_eq!(pipeline.batch_drops().invalid, 0);
    for (i, (got, want)) in derived.iter().zip(want).enumerate() {
        let n = UNICHAIN_SAFE + 1 + i as u64;
        assert_eq!(want["number"].as_u64().unwrap(), n);
        assert_eq!(got.timestamp, want["timestamp"].as_u64().unwrap(), "block {n} time");
        assert_eq!(got.epoch_num, want["epoch"].as_u64().unwrap(), "block {n} epoch");
        assert_eq!(tx_hashes(&got.transactions), expected_hashes(&want["txs"]), "block {n} transactions");
    }
    assert_eq!(derived.iter().map(|b| b.transactions.len()).sum::<usize>(), 3_196);
    assert_eq!((derived[0].epoch_num, derived[539].epoch_num), (24_149_341, 24_149_386));
    assert_eq!(
        derived[0].transactions.first().map(keccak256),
        Some(b256!("76cdd3d657ea2913a0e4c273b18ee42d3cc521226703492e99f3dc55db031d7e"))
    );
}

/// The Unichain blobs are the ones the L1 transaction names: each one's KZG commitment (computed here with c-kzg and
/// Ethereum's trusted setup) hashes to the versioned hash the source lists, in order, and a proof computed for it
/// passes the beacon client's check.
#[test]
fn unichain_blobs_match_the_versioned_hashes_of_their_transaction() {
    use alloy_eips::eip4844::c_kzg::Blob;
    use alloy_eips::eip4844::env_settings::EnvKzgSettings;
    let want = [
        b256!("010d628a3a0dfa67dcef83700e3112944385031479b9ee30b767448f23eec5b4"),
        b256!("01cdba5028140db2b9c051371c8101b449177da4b3e4b06e0e44d1fb8843b156"),
        b256!("01066ce0dde5a705b8a856c9c4c4df7ec371149dc54e5c9151a4959b0bc0de9d"),
    ];
    let kzg = EnvKzgSettings::Default.get();
    for (file, want) in UNICHAIN_BLOBS.iter().zip(want) {
        let bytes = hex_file(file);
        let blob = Blob::from_bytes(&bytes).expect("a blob of field elements");
        let commitment = kzg.blob_to_kzg_commitment(&blob).unwrap().to_bytes();
        assert_eq!(keel_shell::beacon::versioned_hash(commitment.as_slice()), want, "{file}");
        // The beacon client's own commitment (what it matches `/eth/v1/beacon/blobs` answers by) is the same.
        assert_eq!(keel_shell::beacon::blob_commitment(&bytes).unwrap(), commitment.into_inner(), "{file}");
        let proof = kzg.compute_blob_kzg_proof(&blob, &commitment).unwrap().to_bytes();
        keel_shell::beacon::verify_blob_proof(&bytes, commitment.as_slice(), proof.as_slice()).expect("proof verifies");
    }
}

/// The same data on a safe head whose hash does not start with the span's parent check derives nothing: the span
/// is dropped (so the test above does not pass by accident).
#[test]
fn the_unichain_span_is_dropped_on_another_parent() {
    let rollup = registry_rollup(130);
    let (derived, pipeline) = derive_unichain(&rollup, &unichain_blob_data(), B256::repeat_byte(0x56));
    assert!(derived.is_empty(), "derived {} blocks on the wrong parent", derived.len());
    assert_eq!(pipeline.batch_drops().invalid, 1, "the span batch is dropped");
}

/// OP Mainnet, a signed calldata batcher transaction (L1 tx 0xe69d…d6cf, nonce 1,104,454, March 2024): found by
/// inbox and recovered sender under OP Mainnet's registry config, one zlib channel with a 27-block span batch
/// (L2 blocks 117,369,690..=117,369,716).
#[test]
fn op_mainnet_calldata_batcher_transaction_decodes_to_its_27_blocks() {
    let rollup = registry_rollup(10);
    let raw = hex_file("op-mainnet-batcher-tx.hex");
    let tx = TxEnvelope::decode_2718(&mut raw.as_slice()).expect("an EIP-2718 transaction");
    assert_eq!(*tx.tx_hash(), b256!("e69d94330faafb4f716f7ad9b3b50ea8ff5ce57aea6d2f8be07afb7fe49cd6cf"));
    let batcher = rollup.genesis.system_config.as_ref().expect("genesis system config").batcher_address;
    assert_eq!(batcher, "0x6887246668a3b87F54DeB3b94Ba47a6f63F32985".parse::<Address>().unwrap());
    let found = batcher_data(std::slice::from_ref(&tx), rollup.batch_inbox_address, batcher, false);
    let [BatcherData::Calldata(calldata)] = found.as_slice() else { panic!("one calldata item, got {found:?}") };
    assert_eq!(calldata.len(), 119_823);
    // Another sender's transaction to the inbox is not batcher data.
    assert!(
        batcher_data(std::slice::from_ref(&tx), rollup.batch_inbox_address, Address::repeat_byte(1), false).is_empty()
    );

    // Its L1 block's time is not in the source; any time after Delta (Feb 2024) and before Fjord reads it the same.
    let (frame, batches) = channel_batches(&rollup, calldata, 1_710_338_300);
    assert_eq!(hex::encode(frame.id), "ac329933f5efdcc35ccd284232a376d3");
    let [Batch::Span(span)] = batches.as_slice() else { panic!("one span batch") };
    assert_eq!(hex::encode(span.parent_check), "4a78c6069d413ac5cd75401310076b7acbc10cea");
    assert_eq!(hex::encode(span.l1_origin_check), "4fcd7915716bdcf8ba963e591577721000dd2bf7");
    assert_eq!(span.batches.iter().map(|b| b.transactions.len()).sum::<usize>(), 209);
    assert_eq!((span.batches[0].epoch_num, span.batches[26].epoch_num), (19_426_582, 19_426_585));
    check_span_blocks(&rollup, span, &json_file("op-mainnet-span-l2-blocks.json"));
    assert_eq!(l2_number(&rollup, span.starting_timestamp()), 117_369_690);
}

/// OP Mainnet, batcher calldata of 34 singular batches (January 2024; L2 blocks 114,644,746..=114,644,779).
#[test]
fn op_mainnet_singular_batches_decode_with_their_parents_and_epochs() {
    let rollup = registry_rollup(10);
    let (frame, batches) = channel_batches(&rollup, &hex_file("op-mainnet-singular-calldata.hex"), 1_704_888_400);
    assert_eq!(hex::encode(frame.id), "dc0da7c1a3f3c429b8668e2ca31014d9");
    check_singular_batches(&rollup, &batches, &json_file("op-mainnet-singular-batches.json"));
    assert_eq!(l2_number(&rollup, l2_time(&batches[0])), 114_644_746);
}

/// OP Goerli (magi's test vector): the facts its source asserts — channel id, frame length, six batches, the first
/// one's parent hash and seven transactions, the last one's epoch and time.
#[test]
fn op_goerli_calldata_matches_the_sources_assertions() {
    // OP Goerli is gone from the registry; its derivation-relevant settings were OP Mainnet's (2 s, chain 420).
    let mut rollup = registry_rollup(10);
    rollup.base.l2_chain_id = 420.into();
    let (frame, batches) = channel_batches(&rollup, &hex_file("op-goerli-calldata.hex"), 1_676_565_200);
    assert_eq!(u128::from_be_bytes(frame.id), 239_159_748_140_584_302_248_388_764_660_258_118_408);
    assert_eq!(frame.data.len(), 3_028);
    assert_eq!(batches.len(), 6);
    let (Batch::Single(first), Batch::Single(last)) = (&batches[0], &batches[5]) else { panic!("singular") };
    assert_eq!(first.parent_hash, b256!("9a6d7cf81309515caed98e08edffe9a467a71a707910474b5fde43e2a6fc6454"));
    assert_eq!(first.transactions.len(), 7);
    assert_eq!((last.epoch_num, last.timestamp), (8_502_692, 1_676_565_110));
    check_singular_batches(&rollup, &batches, &json_file("op-goerli-singular-batches.json"));
}

/// OP Sepolia blob (hildr's vector): Keel's blob decoding gives byte for byte the data the source expects, and that
/// data is a zlib channel with a 22-block span batch.
#[test]
fn op_sepolia_blob_decodes_to_the_sources_bytes() {
    let data = decode_blob(&hex_file("op-sepolia-blob.hex")).expect("OP blob encoding");
    assert_eq!(data, hex_file("op-sepolia-blob-decoded.hex"));
    let rollup = registry_rollup(11_155_420);
    let (frame, batches) = channel_batches(&rollup, &data, 1_708_535_500);
    assert_eq!(hex::encode(frame.id), "2f127415c9cb64ca077f23db3cfa302e");
    let [Batch::Span(span)] = batches.as_slice() else { panic!("one span batch") };
    assert_eq!(span.batches.len(), 22);
    assert_eq!(span.batches.iter().map(|b| b.transactions.len()).sum::<usize>(), 20);
    assert_eq!(l2_number(&rollup, span.starting_timestamp()), 8_366_435);
    assert_eq!((span.batches[0].epoch_num, span.batches[21].epoch_num), (5_335_444, 5_335_447));
}
