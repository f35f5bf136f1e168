//! The batcher's side of the format: batches into a compressed channel, a channel into frames, frames into batcher
//! transaction data. The inverse of the pipeline's stages, with kona-protocol's batch codecs; used by the
//! simulator's batcher, the devnet batcher and the tests. Nothing in the node's own path uses it.

use super::reader::CHANNEL_VERSION_BROTLI;
use alloy_primitives::Bytes;
use kona_protocol::{Batch, ChannelId, Frame, SingleBatch, SpanBatch};
use std::io::Write;

/// How a channel is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// zlib (every fork).
    Zlib,
    /// brotli with the version byte (Fjord on).
    Brotli,
}

/// The uncompressed content of a channel: each batch as an RLP byte string of `type ‖ payload`.
pub fn channel_payload(batches: &[Batch]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for b in batches {
        let mut inner = Vec::new();
        b.encode(&mut inner).map_err(|e| format!("cannot encode a {b} batch: {e}"))?;
        alloy_rlp::Encodable::encode(&Bytes::from(inner), &mut out);
    }
    Ok(out)
}

/// `data` compressed as a channel, at op-batcher's levels (zlib 6; brotli quality 9, 4 MiB window).
pub fn compress(data: &[u8], compression: Compression) -> Vec<u8> {
    compress_at(data, compression, 6, (9, 22))
}

/// [`compress`] at low levels (zlib 1, brotli quality 1 with a 64 KiB window): the same format, a worse ratio, a
/// fraction of the time and memory. For simulated batchers posting thousands of channels, where the ratio does not
/// matter (brotli 9 with op-batcher's 4 MiB window allocates and clears megabytes per channel).
pub fn compress_quick(data: &[u8], compression: Compression) -> Vec<u8> {
    compress_at(data, compression, 1, (1, 16))
}

fn compress_at(data: &[u8], compression: Compression, zlib_level: u8, (quality, lgwin): (u32, u32)) -> Vec<u8> {
    match compression {
        Compression::Zlib => miniz_oxide::deflate::compress_to_vec_zlib(data, zlib_level),
        Compression::Brotli => {
            let mut out = vec![CHANNEL_VERSION_BROTLI];
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, quality, lgwin);
                w.write_all(data).expect("writing to a Vec cannot fail");
            }
            out
        }
    }
}

/// `channel` cut into frames of channel `id` carrying at most `max_data` bytes each (at least one frame).
pub fn split_frames(id: ChannelId, channel: &[u8], max_data: usize) -> Vec<Frame> {
    let chunks: Vec<&[u8]> = channel.chunks(max_data.max(1)).collect();
    if chunks.is_empty() {
        return vec![Frame::new(id, 0, Vec::new(), true)];
    }
    let n = chunks.len();
    chunks.into_iter().enumerate().map(|(i, c)| Frame::new(id, i as u16, c.to_vec(), i + 1 == n)).collect()
}

/// Batcher transaction data: the derivation version byte 0, then the frames.
pub fn tx_data(frames: &[Frame]) -> Bytes {
    let mut out = vec![0u8];
    for f in frames {
        out.extend(f.encode());
    }
    out.into()
}

/// A span batch of consecutive blocks, each given with its sequence number (kona's encoder keeps the origin bits).
pub fn span_batch(blocks: &[(SingleBatch, u64)], genesis_time: u64, chain_id: u64) -> Result<SpanBatch, String> {
    let mut span = SpanBatch { genesis_timestamp: genesis_time, chain_id, ..Default::default() };
    for (i, (b, seq)) in blocks.iter().enumerate() {
        if i > 0 && blocks[i - 1].0.timestamp > b.timestamp {
            return Err(format!("block {i} of a span batch is older than the one before it"));
        }
        span.append_singular_batch(b.clone(), *seq)
            .map_err(|e| format!("cannot add block {i} to a span batch: {e}"))?;
    }
    Ok(span)
}
