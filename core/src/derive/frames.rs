//! The frame queue: frames parsed from one batcher transaction's data, and Holocene's ordering rules.

use kona_protocol::{Frame, FrameParseError};
use std::collections::VecDeque;

/// Frames parsed from batcher data, handed out one at a time.
#[derive(Debug, Default)]
pub struct FrameQueue {
    frames: VecDeque<Frame>,
    /// Batcher transactions whose data did not parse as frames (all their frames are dropped, as op-node does).
    pub malformed: u64,
    /// Frames dropped by Holocene's ordering rules.
    pub pruned: u64,
}

impl FrameQueue {
    /// Parses the data of one batcher transaction (version byte, then frames). Data that does not parse is dropped
    /// whole and the error returned; with `holocene`, frames that break the ordering rules are dropped.
    pub fn ingest(&mut self, data: &[u8], holocene: bool) -> Result<(), FrameParseError> {
        let frames = Frame::parse_frames(data).inspect_err(|_| self.malformed += 1)?;
        let mut frames: Vec<Frame> = self.frames.drain(..).chain(frames).collect();
        if holocene {
            let before = frames.len();
            prune_holocene(&mut frames);
            self.pruned += (before - frames.len()) as u64;
        }
        self.frames = frames.into();
        Ok(())
    }

    /// The next frame, if any.
    pub fn next_frame(&mut self) -> Option<Frame> {
        self.frames.pop_front()
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// Holocene's frame-queue rules: frames of one channel arrive in order and contiguously, nothing follows a
/// channel's last frame, a first frame (number 0) of a new channel discards the unclosed channel before it
/// (walking back over its frames), and a non-first frame of a channel that was not open is dropped.
pub fn prune_holocene(frames: &mut Vec<Frame>) {
    let mut i = 0;
    while i + 1 < frames.len() {
        let (current, next) = (&frames[i], &frames[i + 1]);
        if current.id == next.id {
            if current.is_last || next.number != current.number.wrapping_add(1) {
                frames.remove(i + 1);
                continue;
            }
        } else {
            if next.number == 0 && !current.is_last {
                frames.remove(i);
                i = i.saturating_sub(1);
                continue;
            }
            if next.number != 0 {
                frames.remove(i + 1);
                continue;
            }
        }
        i += 1;
    }
}
