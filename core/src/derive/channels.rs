//! Channels from frames: the channel bank before Holocene, the single-channel assembler from Holocene on.
//!
//! Both pull frames from the [`FrameQueue`] and return a channel's concatenated frame data once it is complete.
//! Which one runs is chosen by the L1 origin's time ([`ChannelStage::at_origin`]); the switch to Holocene throws the
//! bank's channels away, as op-node does.

use super::frames::FrameQueue;
use super::max_channel_bank_size;
use kona_genesis::RollupConfig;
use kona_protocol::{BlockInfo, Channel, ChannelId, Frame};
use log::{debug, warn};
use std::collections::{BTreeMap, VecDeque};

/// Counters of what the channel stage dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelDrops {
    /// Channels that timed out before they were complete.
    pub timed_out: u64,
    /// Channels pruned because the bank outgrew its size limit (pre-Holocene).
    pub pruned: u64,
    /// Channels dropped for exceeding the per-channel size limit (Holocene).
    pub oversized: u64,
    /// Frames refused by their channel (duplicate, beyond the end, out of order) or without a channel.
    pub frames: u64,
}

/// The channel stage in force.
#[derive(Debug)]
pub enum ChannelStage {
    /// Pre-Holocene.
    Bank(ChannelBank),
    /// Holocene and later.
    Assembler(ChannelAssembler),
}

impl ChannelStage {
    /// The stage for an L1 origin at time `t`, converting a bank into an assembler at Holocene.
    pub fn at_origin(self, rollup: &RollupConfig, t: u64) -> Self {
        match self {
            Self::Bank(bank) if rollup.is_holocene_active(t) => {
                if !bank.channels.is_empty() {
                    debug!("Holocene: discarding {} channels of the channel bank", bank.channels.len());
                }
                Self::Assembler(ChannelAssembler { channel: None, drops: bank.drops })
            }
            other => other,
        }
    }

    /// A fresh stage for an L1 origin at time `t` (a pipeline reset).
    pub fn new(rollup: &RollupConfig, t: u64) -> Self {
        if rollup.is_holocene_active(t) {
            Self::Assembler(ChannelAssembler::default())
        } else {
            Self::Bank(ChannelBank::default())
        }
    }

    /// The next complete channel's frame data, pulling frames from `frames` as needed, at L1 origin `origin`.
    /// `None`: more L1 data is needed.
    pub fn next_channel(
        &mut self,
        frames: &mut FrameQueue,
        origin: &BlockInfo,
        rollup: &RollupConfig,
    ) -> Option<Vec<u8>> {
        match self {
            Self::Bank(bank) => bank.next_channel(frames, origin, rollup),
            Self::Assembler(asm) => asm.next_channel(frames, origin, rollup),
        }
    }

    /// What was dropped so far.
    pub fn drops(&self) -> &ChannelDrops {
        match self {
            Self::Bank(b) => &b.drops,
            Self::Assembler(a) => &a.drops,
        }
    }

    /// Bytes held (frame data plus overhead), for the memory bound.
    pub fn size(&self) -> u64 {
        match self {
            Self::Bank(b) => b.total_size(),
            Self::Assembler(a) => a.channel.as_ref().map_or(0, |c| c.size() as u64),
        }
    }
}

fn timed_out(ch: &Channel, origin: &BlockInfo, rollup: &RollupConfig) -> bool {
    ch.open_block_number().saturating_add(rollup.channel_timeout(origin.timestamp)) < origin.number
}

/// Pre-Holocene: channels by id, read in the order they were opened.
#[derive(Debug, Default)]
pub struct ChannelBank {
    channels: BTreeMap<ChannelId, Channel>,
    queue: VecDeque<ChannelId>,
    /// What was dropped.
    pub drops: ChannelDrops,
}

/// What a read of the bank found.
enum Read {
    Channel(Vec<u8>),
    /// The head channel timed out and was removed; read again.
    TimedOut,
    Nothing,
}

impl ChannelBank {
    fn total_size(&self) -> u64 {
        self.channels.values().map(|c| c.size() as u64).sum()
    }

    /// op-node's order of operations: read first; only when nothing can be read, ingest one frame.
    fn next_channel(&mut self, frames: &mut FrameQueue, origin: &BlockInfo, rollup: &RollupConfig) -> Option<Vec<u8>> {
        loop {
            match self.read(origin, rollup) {
                Read::Channel(data) => return Some(data),
                Read::TimedOut => continue,
                Read::Nothing => {}
            }
            let frame = frames.next_frame()?;
            self.ingest(frame, origin, rollup);
        }
    }

    fn ingest(&mut self, frame: Frame, origin: &BlockInfo, rollup: &RollupConfig) {
        let id = frame.id;
        let ch = self.channels.entry(id).or_insert_with(|| {
            self.queue.push_back(id);
            Channel::new(id, *origin)
        });
        if timed_out(ch, origin, rollup) {
            warn!("channel {} is timed out, frame {} ignored", alloy_primitives::hex::encode(id), frame.number);
            self.drops.frames += 1;
            return;
        }
        if let Err(e) = ch.add_frame(frame, *origin) {
            warn!("frame refused by channel {}: {e}", alloy_primitives::hex::encode(id));
            self.drops.frames += 1;
            return;
        }
        self.prune(origin, rollup);
    }

    /// Drops the oldest channels while the bank is larger than its limit.
    fn prune(&mut self, origin: &BlockInfo, rollup: &RollupConfig) {
        let max = max_channel_bank_size(rollup, origin.timestamp);
        let mut total = self.total_size();
        while total > max {
            let Some(id) = self.queue.pop_front() else { break };
            if let Some(ch) = self.channels.remove(&id) {
                warn!("channel bank over {max} bytes: pruning channel {}", alloy_primitives::hex::encode(id));
                self.drops.pruned += 1;
                total -= ch.size() as u64;
            }
        }
    }

    fn read(&mut self, origin: &BlockInfo, rollup: &RollupConfig) -> Read {
        let Some(first) = self.queue.front().copied() else { return Read::Nothing };
        let ch = &self.channels[&first];
        if timed_out(ch, origin, rollup) {
            debug!("channel {} timed out", alloy_primitives::hex::encode(first));
            self.channels.remove(&first);
            self.queue.pop_front();
            self.drops.timed_out += 1;
            return Read::TimedOut;
        }
        // Before Canyon (by L1 origin time) only the head channel may be read; from Canyon the first ready one.
        let candidates = if rollup.is_canyon_active(origin.timestamp) { self.queue.len() } else { 1 };
        for i in 0..candidates {
            let id = self.queue[i];
            let ch = &self.channels[&id];
            if timed_out(ch, origin, rollup) || !ch.is_ready() {
                continue;
            }
            let ch = self.channels.remove(&id).expect("queued channels are in the map");
            self.queue.remove(i);
            return Read::Channel(ch.frame_data().map(|b| b.to_vec()).unwrap_or_default());
        }
        Read::Nothing
    }
}

/// Holocene: one channel at a time, its frames in order.
#[derive(Debug, Default)]
pub struct ChannelAssembler {
    channel: Option<Channel>,
    /// What was dropped.
    pub drops: ChannelDrops,
}

impl ChannelAssembler {
    fn next_channel(&mut self, frames: &mut FrameQueue, origin: &BlockInfo, rollup: &RollupConfig) -> Option<Vec<u8>> {
        if self.channel.as_ref().is_some_and(|ch| timed_out(ch, origin, rollup)) {
            self.channel = None;
            self.drops.timed_out += 1;
        }
        let max = rollup.max_rlp_bytes_per_channel(origin.timestamp);
        loop {
            let frame = frames.next_frame()?;
            let is_last = frame.is_last;
            if frame.number == 0 {
                // A first frame always opens a new channel, discarding an unfinished one.
                self.channel = Some(Channel::new(frame.id, *origin));
            }
            let Some(ch) = self.channel.as_mut() else {
                debug!(
                    "dropping frame {} of channel {}: no channel open",
                    frame.number,
                    alloy_primitives::hex::encode(frame.id)
                );
                self.drops.frames += 1;
                continue;
            };
            // Holocene: a channel takes its frames in order (the frame queue cannot see frames already dequeued).
            if frame.id == ch.id() && usize::from(frame.number) != ch.len() {
                warn!(
                    "frame {} of channel {} out of order (expected {})",
                    frame.number,
                    alloy_primitives::hex::encode(frame.id),
                    ch.len()
                );
                self.drops.frames += 1;
                continue;
            }
            if let Err(e) = ch.add_frame(frame, *origin) {
                warn!("frame refused by channel {}: {e}", alloy_primitives::hex::encode(ch.id()));
                self.drops.frames += 1;
                continue;
            }
            if ch.size() as u64 > max {
                warn!("dropping channel {} larger than {max} bytes", alloy_primitives::hex::encode(ch.id()));
                self.channel = None;
                self.drops.oversized += 1;
                continue;
            }
            if is_last {
                let ch = self.channel.take().expect("just added to");
                debug_assert!(ch.is_ready(), "in-order frames up to the last make a ready channel");
                return Some(ch.frame_data().map(|b| b.to_vec()).unwrap_or_default());
            }
        }
    }
}
