//! Derivation of L2 blocks from L1 data: the pure stages, each bounded, each following op-node.
//!
//! Done so far (issue #12 is in progress): batcher transaction data → frames ([`frames`], Holocene's frame-queue
//! pruning) → channels ([`channels`]: the pre-Holocene channel bank with its size limit, timeouts and Canyon's
//! read-any-ready rule; Holocene's single-channel assembler) → batches ([`reader`]: zlib and brotli decompression
//! bounded as it goes, batch decoding with kona-protocol's codecs). L1 traversal, batcher filtering, blobs, batch
//! validation, attributes, consolidation with the unsafe chain and the node's wiring are not built yet.
//!
//! Fork rules here are decided by the time of the L1 block the data came from (the stage's origin), as op-node
//! does, never by L2 timestamps.

pub mod batcher;
pub mod batches;
pub mod blobs;
pub mod channels;
pub mod consolidate;
pub mod encode;
pub mod frames;
pub mod pipeline;
pub mod reader;

/// Largest total size of the pre-Holocene channel bank before Fjord (`MaxChannelBankSize`), bytes of frame data
/// plus per-frame overhead. The oldest channels are pruned beyond it.
pub const MAX_CHANNEL_BANK_SIZE_BEDROCK: u64 = 100_000_000;
/// The same limit from Fjord on.
pub const MAX_CHANNEL_BANK_SIZE_FJORD: u64 = 1_000_000_000;

/// The channel bank size limit in force at L1 origin time `t`.
pub fn max_channel_bank_size(rollup: &kona_genesis::RollupConfig, t: u64) -> u64 {
    if rollup.is_fjord_active(t) {
        MAX_CHANNEL_BANK_SIZE_FJORD
    } else {
        MAX_CHANNEL_BANK_SIZE_BEDROCK
    }
}

#[cfg(test)]
mod pipeline_tests;
#[cfg(test)]
mod tests;
