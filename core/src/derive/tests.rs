//! The derivation stages built so far, from batcher data to batches.

use super::channels::ChannelStage;
use super::frames::{prune_holocene, FrameQueue};
use super::reader::{decompress, ChannelError, ChannelReader, Item, CHANNEL_VERSION_BROTLI};
use alloy_primitives::{Bytes, B256};
use kona_genesis::RollupConfig;
use kona_protocol::{Batch, BlockInfo, ChannelId, Frame, SingleBatch};
use proptest::prelude::*;
use std::io::Write;

/// A chain with every fork up to `holocene` (Holocene itself only if asked) at genesis.
fn rollup(holocene: bool) -> RollupConfig {
    let mut r = RollupConfig { block_time: 2, channel_timeout: 300, granite_channel_timeout: 50, ..Default::default() };
    crate::rollup::schedule_forks_through(&mut r.hardforks, if holocene { "holocene" } else { "granite" }, 0);
    r
}

fn origin(number: u64) -> BlockInfo {
    BlockInfo {
        hash: B256::with_last_byte(number as u8),
        number,
        parent_hash: B256::ZERO,
        timestamp: 1_000 + 12 * number,
    }
}

fn batches(n: u64) -> Vec<SingleBatch> {
    (0..n)
        .map(|i| SingleBatch {
            parent_hash: B256::repeat_byte(i as u8),
            epoch_num: 7,
            epoch_hash: B256::repeat_byte(0xee),
            timestamp: 2_000 + 2 * i,
            transactions: vec![Bytes::from(vec![0x02; 40 + i as usize])],
        })
        .collect()
}

/// The channel's uncompressed payload: each batch as an RLP byte string of `type ++ rlp(batch)`.
fn channel_payload(batches: &[SingleBatch]) -> Vec<u8> {
    let mut out = Vec::new();
    for b in batches {
        let mut inner = Vec::new();
        Batch::Single(b.clone()).encode(&mut inner).unwrap();
        alloy_rlp::Encodable::encode(&Bytes::from(inner), &mut out);
    }
    out
}

fn zlib(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 6)
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = vec![CHANNEL_VERSION_BROTLI];
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 9, 22);
        w.write_all(data).unwrap();
    }
    out
}

/// Splits `channel` into `parts` frames of channel `id`.
fn frames(id: ChannelId, channel: &[u8], parts: usize) -> Vec<Frame> {
    let size = channel.len().div_ceil(parts).max(1);
    let chunks: Vec<&[u8]> = channel.chunks(size).collect();
    let n = chunks.len();
    chunks.into_iter().enumerate().map(|(i, c)| Frame::new(id, i as u16, c.to_vec(), i + 1 == n)).collect()
}

/// Batcher transaction data: the derivation version byte, then frames.
fn tx_data(frames: &[Frame]) -> Vec<u8> {
    let mut out = vec![0u8];
    for f in frames {
        out.extend(f.encode());
    }
    out
}

fn read_all(channel: &[u8], at: &BlockInfo, cfg: &RollupConfig) -> Vec<SingleBatch> {
    let mut reader = ChannelReader::new(channel, at, cfg).unwrap();
    let mut out = Vec::new();
    while let Some(item) = reader.next_item(cfg) {
        match item {
            Item::Batch(b) => match *b {
                Batch::Single(b) => out.push(b),
                other => panic!("unexpected {other:?}"),
            },
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

#[test]
fn batches_survive_frames_channels_and_both_compressions_before_and_after_holocene() {
    let want = batches(20);
    for holocene in [false, true] {
        let cfg = rollup(holocene);
        for (name, channel) in [("zlib", zlib(&channel_payload(&want))), ("brotli", brotli(&channel_payload(&want)))] {
            let fs = frames([7; 16], &channel, 5);
            // Frames spread over three L1 blocks, one batcher transaction each.
            let mut stage = ChannelStage::new(&cfg, origin(10).timestamp);
            let mut queue = FrameQueue::default();
            let mut got = None;
            for (k, part) in [&fs[..2], &fs[2..3], &fs[3..]].into_iter().enumerate() {
                let at = origin(10 + k as u64);
                queue.ingest(&tx_data(part), holocene).unwrap();
                if let Some(data) = stage.next_channel(&mut queue, &at, &cfg) {
                    assert_eq!(k, 2, "{name}: the channel completes with its last frame");
                    got = Some(read_all(&data, &at, &cfg));
                }
            }
            assert_eq!(got.as_deref(), Some(&want[..]), "{name}, holocene={holocene}");
        }
    }
}

#[test]
fn incomplete_channels_time_out_after_the_channel_timeout_in_l1_blocks() {
    for holocene in [false, true] {
        let cfg = rollup(holocene);
        let timeout = cfg.channel_timeout(origin(0).timestamp);
        assert_eq!(timeout, 50, "Granite's channel timeout");
        let channel = zlib(&channel_payload(&batches(3)));
        let fs = frames([1; 16], &channel, 3);
        let mut stage = ChannelStage::new(&cfg, origin(100).timestamp);
        let mut queue = FrameQueue::default();
        queue.ingest(&tx_data(&fs[..2]), holocene).unwrap();
        assert!(stage.next_channel(&mut queue, &origin(100), &cfg).is_none());
        // The last frame arrives one block too late: the channel timed out and yields nothing.
        queue.ingest(&tx_data(&fs[2..]), holocene).unwrap();
        assert!(stage.next_channel(&mut queue, &origin(100 + timeout + 1), &cfg).is_none(), "holocene={holocene}");
        assert_eq!(stage.drops().timed_out + stage.drops().frames, if holocene { 2 } else { 1 }, "{:?}", stage.drops());
        // Exactly at the timeout it still completes.
        let mut stage = ChannelStage::new(&cfg, origin(100).timestamp);
        queue.ingest(&tx_data(&fs[..2]), holocene).unwrap();
        assert!(stage.next_channel(&mut queue, &origin(100), &cfg).is_none());
        queue.ingest(&tx_data(&fs[2..]), holocene).unwrap();
        assert!(stage.next_channel(&mut queue, &origin(100 + timeout), &cfg).is_some(), "holocene={holocene}");
    }
}

#[test]
fn canyon_reads_any_ready_channel_before_it_only_the_first() {
    let a = frames([0xa; 16], &zlib(&channel_payload(&batches(1))), 2);
    let b = frames([0xb; 16], &zlib(&channel_payload(&batches(2))), 1);
    for canyon in [false, true] {
        let mut cfg = rollup(false);
        if !canyon {
            // Later forks imply earlier ones: a pre-Canyon chain has none of them.
            let h = &mut cfg.hardforks;
            for t in
                [&mut h.canyon_time, &mut h.delta_time, &mut h.ecotone_time, &mut h.fjord_time, &mut h.granite_time]
            {
                *t = None;
            }
        }
        let mut stage = ChannelStage::new(&cfg, 0);
        let mut queue = FrameQueue::default();
        // Channel a opens first but stays incomplete; channel b is complete.
        queue.ingest(&tx_data(&[a[0].clone(), b[0].clone()]), false).unwrap();
        let got = stage.next_channel(&mut queue, &origin(5), &cfg);
        assert_eq!(got.is_some(), canyon, "canyon={canyon}");
    }
}

#[test]
fn the_bank_becomes_an_assembler_at_holocene_and_its_channels_are_dropped() {
    let mut cfg = rollup(true);
    cfg.hardforks.holocene_time = Some(origin(20).timestamp);
    let fs = frames([4; 16], &zlib(&channel_payload(&batches(2))), 2);
    let mut stage = ChannelStage::new(&cfg, origin(10).timestamp);
    assert!(matches!(stage, ChannelStage::Bank(_)));
    let mut queue = FrameQueue::default();
    queue.ingest(&tx_data(&fs[..1]), false).unwrap();
    assert!(stage.next_channel(&mut queue, &origin(10), &cfg).is_none());
    assert!(stage.size() > 0, "the bank holds the open channel");
    let mut stage = stage.at_origin(&cfg, origin(19).timestamp);
    assert!(matches!(stage, ChannelStage::Bank(_)), "not yet Holocene");
    stage = stage.at_origin(&cfg, origin(20).timestamp);
    assert!(matches!(stage, ChannelStage::Assembler(_)));
    assert_eq!(stage.size(), 0, "the bank's channels are thrown away");
    // The channel's last frame alone no longer completes it.
    queue.ingest(&tx_data(&fs[1..]), true).unwrap();
    assert!(stage.next_channel(&mut queue, &origin(20), &cfg).is_none());
}

#[test]
fn holocene_frame_queue_rules() {
    let f = |id: u8, n: u16, last: bool| Frame::new([id; 16], n, vec![id, n as u8], last);
    let ids = |v: &[Frame]| v.iter().map(|f| (f.id[0], f.number)).collect::<Vec<_>>();
    type Case = (&'static str, Vec<Frame>, Vec<(u8, u16)>);
    let cases: Vec<Case> = vec![
        ("ordered channel kept", vec![f(1, 0, false), f(1, 1, false), f(1, 2, true)], vec![(1, 0), (1, 1), (1, 2)]),
        ("gap drops the later frame", vec![f(1, 0, false), f(1, 2, true)], vec![(1, 0)]),
        ("duplicate dropped", vec![f(1, 0, false), f(1, 0, false), f(1, 1, true)], vec![(1, 0), (1, 1)]),
        ("nothing after the last frame", vec![f(1, 0, true), f(1, 1, true)], vec![(1, 0)]),
        ("new channel discards an unclosed one", vec![f(1, 0, false), f(1, 1, false), f(2, 0, true)], vec![(2, 0)]),
        ("non-first frame of a new channel dropped", vec![f(1, 0, true), f(2, 1, true)], vec![(1, 0)]),
        (
            "closed channel then a new one",
            vec![f(1, 0, true), f(2, 0, false), f(2, 1, true)],
            vec![(1, 0), (2, 0), (2, 1)],
        ),
    ];
    for (name, mut frames, want) in cases {
        prune_holocene(&mut frames);
        assert_eq!(ids(&frames), want, "{name}");
    }
}

#[test]
fn decompression_stops_at_the_limit_whatever_the_ratio() {
    // 64 MiB of zeros compress to about 64 KiB: a bomb against a 1 MiB limit.
    let bomb = vec![0u8; 64 << 20];
    for (name, data) in [("zlib", zlib(&bomb)), ("brotli", brotli(&bomb))] {
        assert!(data.len() < 1 << 20, "{name}: {} bytes compressed", data.len());
        let out = decompress(&data, 1 << 20, true).unwrap();
        assert_eq!(out.len(), 1 << 20, "{name}: exactly the limit is produced");
    }
}

#[test]
fn a_batch_crossing_the_limit_ends_the_channel_and_earlier_ones_count() {
    let cfg = rollup(false);
    let payload = channel_payload(&batches(10));
    let one = channel_payload(&batches(1)).len();
    // Room for a bit more than three batches.
    let data = decompress(&zlib(&payload), 3 * one + 10, true).unwrap();
    let mut reader = ChannelReader::from_decompressed(data, true);
    let mut n = 0;
    while let Some(Item::Batch(_)) = reader.next_item(&cfg) {
        n += 1;
    }
    assert_eq!(n, 3);
}

#[test]
fn channel_level_refusals() {
    let cfg = rollup(false);
    assert_eq!(decompress(&[], 100, true), Err(ChannelError::Empty));
    assert_eq!(decompress(&brotli(b"x"), 100, false), Err(ChannelError::BrotliBeforeFjord));
    assert_eq!(decompress(&[0x03, 1, 2], 100, true), Err(ChannelError::UnknownCompression(0x03)));
    // Corrupt zlib yields no batches, not a panic.
    let mut bad = zlib(&channel_payload(&batches(3)));
    let mid = bad.len() / 2;
    bad[mid..].fill(0xff);
    let mut reader = ChannelReader::new(&bad, &origin(1), &cfg).unwrap();
    while reader.next_item(&cfg).is_some() {}
    // A batch of an unknown type ends the channel (kona's batch codec panics on it; the type is checked first).
    let mut payload = Vec::new();
    alloy_rlp::Encodable::encode(&Bytes::from(vec![0x82, 1, 2, 3]), &mut payload);
    payload.extend(channel_payload(&batches(1)));
    let mut reader = ChannelReader::from_decompressed(payload, true);
    assert!(reader.next_item(&cfg).is_none(), "unknown batch type");
    assert!(reader.next_item(&cfg).is_none(), "and nothing after it");
}

#[test]
fn malformed_batcher_data_is_dropped_whole() {
    let mut q = FrameQueue::default();
    let good = tx_data(&frames([3; 16], b"abc", 1));
    let mut bad = good.clone();
    bad.truncate(bad.len() - 1);
    assert!(q.ingest(&bad, false).is_err());
    assert!(q.ingest(&[1, 2, 3], false).is_err(), "unknown derivation version");
    assert_eq!((q.len(), q.malformed), (0, 2));
    q.ingest(&good, false).unwrap();
    assert_eq!(q.len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random batcher data and random frames never panic; the stages stay within their bounds; a channel that does
    /// complete decodes without panicking.
    #[test]
    fn arbitrary_data_never_panics_and_stays_bounded(
        txs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 1..12),
        raw in proptest::collection::vec((0u8..3, 0u16..4, any::<bool>(), proptest::collection::vec(any::<u8>(), 0..200)), 0..30),
        holocene in any::<bool>(),
    ) {
        let cfg = rollup(holocene);
        let mut stage = ChannelStage::new(&cfg, 0);
        let mut queue = FrameQueue::default();
        let frames: Vec<Frame> = raw.into_iter().map(|(id, n, last, d)| Frame::new([id; 16], n, d, last)).collect();
        let inputs = txs.into_iter().chain(frames.chunks(3).map(tx_data));
        for (k, data) in inputs.enumerate() {
            let at = origin(k as u64);
            let _ = queue.ingest(&data, holocene);
            while let Some(channel) = stage.next_channel(&mut queue, &at, &cfg) {
                if let Ok(mut reader) = ChannelReader::new(&channel, &at, &cfg) {
                    prop_assert!(reader.len() as u64 <= cfg.max_rlp_bytes_per_channel(at.timestamp));
                    while reader.next_item(&cfg).is_some() {}
                }
            }
            prop_assert!(stage.size() <= super::max_channel_bank_size(&cfg, at.timestamp) + 1_000_000 + 200);
        }
    }

    /// Arbitrary decompressed channel bytes, mostly well-formed RLP byte strings starting with a batch type, never
    /// panic the batch decoding (kona's singular and span codecs included).
    #[test]
    fn arbitrary_batch_bytes_never_panic(
        items in proptest::collection::vec((0u8..4, proptest::collection::vec(any::<u8>(), 0..300)), 1..8),
        delta in any::<bool>(),
    ) {
        let cfg = rollup(false);
        let mut payload = Vec::new();
        for (ty, body) in items {
            let mut inner = vec![ty];
            inner.extend(body);
            alloy_rlp::Encodable::encode(&Bytes::from(inner), &mut payload);
        }
        let mut reader = ChannelReader::from_decompressed(payload, delta);
        let mut n = 0;
        while reader.next_item(&cfg).is_some() {
            n += 1;
            prop_assert!(n <= 8);
        }
    }
}

mod batcher_filter {
    use super::super::batcher::{batcher_data, BatcherData};
    use alloy_consensus::{SignableTransaction, TxEip1559, TxEip4844, TxEnvelope, TxLegacy};
    use alloy_primitives::{Address, Bytes, Signature, TxKind, B256, U256};
    use k256::ecdsa::SigningKey;

    const INBOX: Address = Address::repeat_byte(0xff);

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32].into()).unwrap()
    }

    fn address(k: &SigningKey) -> Address {
        Address::from_public_key(k.verifying_key())
    }

    fn sign<T: SignableTransaction<Signature>>(tx: T, k: &SigningKey) -> alloy_consensus::Signed<T> {
        let (sig, recid) = k.sign_prehash_recoverable(tx.signature_hash().as_slice()).unwrap();
        let b = sig.to_bytes();
        let s = Signature::new(U256::from_be_slice(&b[..32]), U256::from_be_slice(&b[32..]), recid.is_y_odd());
        tx.into_signed(s)
    }

    fn calldata_tx(k: &SigningKey, to: Address, data: &[u8]) -> TxEnvelope {
        let tx =
            TxEip1559 { chain_id: 1, to: TxKind::Call(to), input: Bytes::copy_from_slice(data), ..Default::default() };
        sign(tx, k).into()
    }

    fn blob_tx(k: &SigningKey, to: Address, blobs: u8) -> TxEnvelope {
        let tx = TxEip4844 {
            chain_id: 1,
            to,
            blob_versioned_hashes: (0..blobs).map(|i| B256::repeat_byte(0x10 + i)).collect(),
            ..Default::default()
        };
        sign(tx, k).into()
    }

    #[test]
    fn only_the_batchers_transactions_to_the_inbox_count_and_blobs_keep_their_block_index() {
        let (batcher, other) = (key(1), key(2));
        let b = address(&batcher);
        let legacy = sign(
            TxLegacy { to: TxKind::Call(INBOX), input: Bytes::from_static(b"legacy"), ..Default::default() },
            &batcher,
        );
        let txs = vec![
            blob_tx(&other, INBOX, 2),                          // blobs 0, 1: not the batcher
            calldata_tx(&batcher, INBOX, b"one"),               // counts
            calldata_tx(&batcher, Address::ZERO, b"elsewhere"), // wrong recipient
            calldata_tx(&other, INBOX, b"spoof"),               // wrong sender
            blob_tx(&batcher, INBOX, 2),                        // blobs 2, 3: count
            legacy.into(),                                      // legacy calldata counts too
        ];
        let got = batcher_data(&txs, INBOX, b, true);
        assert_eq!(
            got,
            vec![
                BatcherData::Calldata(Bytes::from_static(b"one")),
                BatcherData::Blob { hash: B256::repeat_byte(0x10), index: 2 },
                BatcherData::Blob { hash: B256::repeat_byte(0x11), index: 3 },
                BatcherData::Calldata(Bytes::from_static(b"legacy")),
            ]
        );
        // Before Ecotone a blob transaction's calldata is what counts (here: empty).
        let pre = batcher_data(&txs, INBOX, b, false);
        assert_eq!(pre[1], BatcherData::Calldata(Bytes::new()));
        // A batcher change (SystemConfig update) switches whose data counts.
        assert_eq!(batcher_data(&txs, INBOX, address(&other), true).len(), 3);
    }
}

#[test]
fn quick_compression_reads_back_like_op_batchers_levels() {
    use super::encode::{compress, compress_quick, Compression};
    use super::reader::decompress;
    let data: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
    for c in [Compression::Zlib, Compression::Brotli] {
        for channel in [compress(&data, c), compress_quick(&data, c)] {
            assert_eq!(decompress(&channel, 10_000_000, true).unwrap(), data, "{c:?}");
        }
    }
}
