//! Batches from a channel: decompression bounded as it goes, then kona-protocol's batch codec one batch at a time.
//!
//! op-node reads a channel through a decompressing reader and an RLP stream limited to `MaxRLPBytesPerChannel`
//! bytes (by the L1 origin's time): batches that end within the limit are read, the one crossing it fails and ends
//! the channel. Here decompression stops at that same limit (never allocating more, whatever the compression ratio),
//! and batches are decoded from the bytes produced, so the batches read are the same and memory is bounded.

use alloy_rlp::Decodable;
use kona_genesis::RollupConfig;
use kona_protocol::{Batch, BlockInfo};
use std::io::Read;

/// Channel version byte of a brotli-compressed channel (Fjord).
pub const CHANNEL_VERSION_BROTLI: u8 = 1;
/// zlib compression methods (the low four bits of the first byte).
const ZLIB_CM8: u8 = 8;
const ZLIB_CM15: u8 = 15;

/// Why a channel yields no batches at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// The channel has no data.
    #[error("empty channel")]
    Empty,
    /// Brotli before Fjord (by the L1 origin's time).
    #[error("brotli-compressed channel before Fjord")]
    BrotliBeforeFjord,
    /// The first byte names no known compression.
    #[error("unknown channel compression type {0:#04x}")]
    UnknownCompression(u8),
}

/// The decompressed bytes of a channel: at most `max` of them. A stream that is corrupt or longer than `max`
/// yields what was decompressed before the problem (the batches that fit still count).
pub fn decompress(channel: &[u8], max: usize, fjord: bool) -> Result<Vec<u8>, ChannelError> {
    let first = *channel.first().ok_or(ChannelError::Empty)?;
    if first & 0x0f == ZLIB_CM8 || first & 0x0f == ZLIB_CM15 {
        return Ok(match miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(channel, max) {
            Ok(out) => out,
            Err(e) => {
                log::debug!("zlib channel stream ended early ({:?}) after {} bytes", e.status, e.output.len());
                e.output
            }
        });
    }
    if first == CHANNEL_VERSION_BROTLI {
        if !fjord {
            return Err(ChannelError::BrotliBeforeFjord);
        }
        let mut out = Vec::new();
        let mut reader = brotli::Decompressor::new(&channel[1..], 4096).take(max as u64);
        if let Err(e) = reader.read_to_end(&mut out) {
            log::debug!("brotli channel stream ended early ({e}) after {} bytes", out.len());
        }
        return Ok(out);
    }
    Err(ChannelError::UnknownCompression(first))
}

/// One batch read from a channel, or why reading stopped.
#[derive(Debug)]
pub enum Item {
    /// A decoded batch (boxed: a span batch is large, and items are handed out one at a time).
    Batch(Box<Batch>),
    /// A span batch with a pre-Delta L1 origin: dropped, reading goes on (op-node).
    SpanBeforeDelta,
}

/// Reads the batches of one channel, one at a time.
#[derive(Debug)]
pub struct ChannelReader {
    data: Vec<u8>,
    cursor: usize,
    delta: bool,
}

impl ChannelReader {
    /// Decompresses `channel` (its data from the channel stage) under the limits in force at `origin`.
    pub fn new(channel: &[u8], origin: &BlockInfo, rollup: &RollupConfig) -> Result<Self, ChannelError> {
        let max = usize::try_from(rollup.max_rlp_bytes_per_channel(origin.timestamp)).unwrap_or(usize::MAX);
        let data = decompress(channel, max, rollup.is_fjord_active(origin.timestamp))?;
        Ok(Self::from_decompressed(data, rollup.is_delta_active(origin.timestamp)))
    }

    /// A reader over bytes already decompressed; `delta`: span batches are accepted (Delta at the L1 origin).
    pub fn from_decompressed(data: Vec<u8>, delta: bool) -> Self {
        Self { data, cursor: 0, delta }
    }

    /// Decompressed bytes held.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether nothing was decompressed.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next batch; `None` when the channel is exhausted or its next batch does not decode (the rest of the
    /// channel is dropped, as op-node does).
    pub fn next_item(&mut self, rollup: &RollupConfig) -> Option<Item> {
        let mut rest = self.data.get(self.cursor..)?;
        if rest.is_empty() {
            return None;
        }
        let decoded = alloy_rlp::Bytes::decode(&mut rest).ok().and_then(|bytes| {
            // Only the two known batch types reach kona's codec (it panics on any other type byte).
            match bytes.first() {
                Some(0) => {}
                Some(1) if self.delta => {}
                Some(1) => return Some(Item::SpanBeforeDelta),
                _ => return None,
            }
            decode_contained(&bytes, rollup).map(|b| Item::Batch(Box::new(b)))
        });
        match decoded {
            Some(item) => {
                self.cursor = self.data.len() - rest.len();
                Some(item)
            }
            None => {
                log::warn!("undecodable batch at byte {} of a channel; dropping the rest of it", self.cursor);
                self.cursor = self.data.len();
                None
            }
        }
    }
}

/// kona-protocol 0.4.5's batch codec, with its panics contained: its span-batch decoder slices without checking
/// length (a truncated prefix panics in `SpanBatchPrefix::decode_parent_check`), so hostile batcher data must not
/// reach it unguarded. A panic is treated as an undecodable batch. This is the one `catch_unwind` in the core; it
/// goes once Keel decodes span batches with a checked decoder of its own.
fn decode_contained(bytes: &[u8], rollup: &RollupConfig) -> Option<Batch> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Batch::decode(&mut &bytes[..], rollup))) {
        Ok(decoded) => decoded.ok(),
        Err(_) => {
            log::warn!("kona's batch decoder panicked on a {}-byte batch; treated as undecodable", bytes.len());
            None
        }
    }
}
