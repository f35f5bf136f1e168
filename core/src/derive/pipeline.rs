//! The derivation pipeline: L1 traversal, then batcher data → frames → channels → batches → the next block's batch.
//!
//! Sans-IO like the rest of the core. The pipeline says what it needs ([`Step::NeedData`]: the batcher data of the
//! current L1 origin; [`Step::NeedL1`]: the next L1 block) and its owner (the node) fetches it and hands it in with
//! [`Pipeline::provide_data`] and [`Pipeline::advance`]. Everything it holds is bounded by the stages' limits.

use super::batches::{BatchSource, BatchStage, Next, ResetNeeded, SafeChain};
use super::channels::ChannelStage;
use super::frames::FrameQueue;
use super::reader::{ChannelReader, Item};
use alloy_primitives::Bytes;
use kona_genesis::RollupConfig;
use kona_protocol::{Batch, BlockInfo, L2BlockInfo, SingleBatch};
use log::{debug, warn};
use std::collections::VecDeque;

/// Most batcher transactions of one L1 block held before they are parsed (a block has far fewer).
pub const MAX_DATA_PER_L1_BLOCK: usize = 4_096;
/// Batch-stage transitions one [`Pipeline::step`] performs before returning [`Step::Again`].
const MAX_STEP_ITERATIONS: usize = 4_096;

/// What the pipeline produced or needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The batch of the block after the safe head.
    Batch(SingleBatch),
    /// The batcher data of the current L1 origin ([`Pipeline::origin`]) is needed.
    NeedData,
    /// The L1 block after the current origin is needed.
    NeedL1,
    /// The facts of safe block `n` are needed from the engine (for a span batch's parent check); hand them to the
    /// safe chain ([`SafeChain::add_facts`]) and step again.
    NeedL2(u64),
    /// Work was done and more may be done: call again.
    Again,
}

/// Counters of the pipeline's stages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// L1 blocks traversed.
    pub l1_blocks: u64,
    /// Channels read.
    pub channels: u64,
    /// Channels that yielded nothing (empty, unknown compression, brotli before Fjord).
    pub bad_channels: u64,
    /// Batcher data dropped because an L1 block carried more than [`MAX_DATA_PER_L1_BLOCK`].
    pub data_dropped: u64,
}

/// The pipeline from one L1 origin on.
#[derive(Debug)]
pub struct Pipeline {
    origin: BlockInfo,
    /// The origin's batcher data not parsed yet; `None` until it is provided.
    data: Option<VecDeque<Bytes>>,
    frames: FrameQueue,
    channels: ChannelStage,
    reader: Option<ChannelReader>,
    batches: BatchStage,
    stats: PipelineStats,
}

impl Pipeline {
    /// A pipeline reset at L1 block `origin` (whose data it will ask for first).
    pub fn new(rollup: &RollupConfig, origin: BlockInfo) -> Self {
        Self {
            origin,
            data: None,
            frames: FrameQueue::default(),
            channels: ChannelStage::new(rollup, origin.timestamp),
            reader: None,
            batches: BatchStage::reset(origin),
            stats: PipelineStats::default(),
        }
    }

    /// The L1 block being read.
    pub fn origin(&self) -> BlockInfo {
        self.origin
    }

    /// Counters.
    pub fn stats(&self) -> &PipelineStats {
        &self.stats
    }

    /// What the batch stage dropped.
    pub fn batch_drops(&self) -> &super::batches::BatchDrops {
        &self.batches.drops
    }

    /// What the channel stage dropped.
    pub fn channel_drops(&self) -> &super::channels::ChannelDrops {
        self.channels.drops()
    }

    /// Frames that did not parse, and frames Holocene's ordering rules dropped.
    pub fn frame_drops(&self) -> (u64, u64) {
        (self.frames.malformed, self.frames.pruned)
    }

    /// Bytes held by the channel stage, batches waiting, candidate epochs (for metrics and memory checks).
    pub fn held(&self) -> (u64, usize, usize) {
        (self.channels.size(), self.batches.queued(), self.batches.epochs())
    }

    /// Hands in the batcher data of the current origin, in block order (calldata, or blob contents decoded).
    pub fn provide_data(&mut self, mut data: Vec<Bytes>) {
        if data.len() > MAX_DATA_PER_L1_BLOCK {
            self.stats.data_dropped += (data.len() - MAX_DATA_PER_L1_BLOCK) as u64;
            warn!(
                "L1 block {} carries {} batcher transactions; keeping the first {MAX_DATA_PER_L1_BLOCK}",
                self.origin.number,
                data.len()
            );
            data.truncate(MAX_DATA_PER_L1_BLOCK);
        }
        self.data = Some(data.into());
    }

    /// Moves to the next L1 block. It must extend the current origin; otherwise L1 reorganised under the pipeline.
    pub fn advance(&mut self, rollup: &RollupConfig, next: BlockInfo) -> Result<(), ResetNeeded> {
        if next.number != self.origin.number + 1 || next.parent_hash != self.origin.hash {
            return Err(ResetNeeded(format!(
                "L1 block {} {:#x} does not extend the derivation origin {} {:#x} (L1 reorg)",
                next.number, next.hash, self.origin.number, self.origin.hash
            )));
        }
        debug_assert!(
            self.data.as_ref().is_none_or(VecDeque::is_empty),
            "L1 block {} still has unread batcher data as the origin advances",
            self.origin.number
        );
        debug!("derivation origin advances to L1 block {}", next.number);
        self.origin = next;
        self.data = None;
        self.stats.l1_blocks += 1;
        let stage = std::mem::replace(&mut self.channels, ChannelStage::Assembler(Default::default()));
        self.channels = stage.at_origin(rollup, next.timestamp);
        Ok(())
    }

    /// Works towards the batch of the block after `safe`. `safe_chain` holds recent safe blocks (for span batches
    /// that overlap the safe chain); its owner keeps it across resets.
    pub fn step(
        &mut self,
        rollup: &RollupConfig,
        safe: &L2BlockInfo,
        safe_chain: &mut SafeChain,
    ) -> Result<Step, ResetNeeded> {
        let Some(data) = self.data.as_mut() else { return Ok(Step::NeedData) };
        let mut source = Source {
            rollup,
            origin: &self.origin,
            data,
            frames: &mut self.frames,
            channels: &mut self.channels,
            reader: &mut self.reader,
            stats: &mut self.stats,
        };
        for _ in 0..MAX_STEP_ITERATIONS {
            match self.batches.next_batch(rollup, self.origin, safe, &mut source, safe_chain)? {
                Next::Batch(b) => return Ok(Step::Batch(b)),
                Next::NeedL1 => return Ok(Step::NeedL1),
                Next::NeedL2(n) => return Ok(Step::NeedL2(n)),
                Next::Again => {}
            }
        }
        Ok(Step::Again)
    }
}

/// The stages before the batch stage, as the batch stage pulls from them.
struct Source<'a> {
    rollup: &'a RollupConfig,
    origin: &'a BlockInfo,
    data: &'a mut VecDeque<Bytes>,
    frames: &'a mut FrameQueue,
    channels: &'a mut ChannelStage,
    reader: &'a mut Option<ChannelReader>,
    stats: &'a mut PipelineStats,
}

impl BatchSource for Source<'_> {
    fn next_batch(&mut self) -> Option<Batch> {
        loop {
            if let Some(reader) = self.reader.as_mut() {
                match reader.next_item(self.rollup) {
                    Some(Item::Batch(b)) => return Some(*b),
                    Some(Item::SpanBeforeDelta) => continue,
                    None => *self.reader = None,
                }
            }
            if let Some(channel) = self.channels.next_channel(self.frames, self.origin, self.rollup) {
                self.stats.channels += 1;
                match ChannelReader::new(&channel, self.origin, self.rollup) {
                    Ok(reader) => *self.reader = Some(reader),
                    Err(e) => {
                        self.stats.bad_channels += 1;
                        warn!("dropping a channel read at L1 block {}: {e}", self.origin.number);
                    }
                }
                continue;
            }
            let data = self.data.pop_front()?;
            let holocene = self.rollup.is_holocene_active(self.origin.timestamp);
            if let Err(e) = self.frames.ingest(&data, holocene) {
                debug!("batcher data in L1 block {} is not frames: {e}", self.origin.number);
            }
        }
    }

    fn flush_channel(&mut self) {
        *self.reader = None;
    }
}
