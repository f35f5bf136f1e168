//! Static configuration of the core.

use crate::rollup::{ForkError, Rollup};
use std::sync::Arc;

/// Default time reserved at the end of a slot for `engine_getPayload` (op-node's sealing duration).
pub const DEFAULT_SEAL_MARGIN_MS: u64 = 50;
/// Default L1 confirmation depth for next-origin lookups (`--sequencer.l1-confs`).
pub const DEFAULT_L1_CONFS: u64 = 4;

/// Sequencer settings, mirroring the seed's flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequencerConfig {
    /// Start with sequencing stopped (`--sequencer.stopped`). Forced on when a conductor is enabled, as op-node does:
    /// the conductor starts the leader.
    pub stopped: bool,
    /// Start in recovery mode (`--sequencer.recover`).
    pub recover: bool,
    /// Do not build while `unsafe >= safe + max_safe_lag`; 0 disables (`--sequencer.max-safe-lag`).
    pub max_safe_lag: u64,
    /// L1 confirmations required before an L1 block may be adopted as the next origin (`--sequencer.l1-confs`).
    pub l1_confs: u64,
    /// Whether a conductor gates this sequencer (`--conductor.rpc` given).
    pub conductor_enabled: bool,
    /// Time reserved before the payload timestamp for sealing (`--sequencer.seal-margin`, ms).
    pub seal_margin_ms: u64,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        Self {
            stopped: false,
            recover: false,
            max_safe_lag: 0,
            l1_confs: DEFAULT_L1_CONFS,
            conductor_enabled: false,
            seal_margin_ms: DEFAULT_SEAL_MARGIN_MS,
        }
    }
}

/// Everything the core needs to know up front.
#[derive(Clone, Debug)]
pub struct Config {
    /// The chain's rollup configuration (op-node `rollup.json`, with the forks kona does not know).
    pub rollup: Arc<Rollup>,
    /// L2 block time in milliseconds. Defaults to the rollup config's block time; may be set below one second for
    /// chains (and simulations) with sub-second blocks.
    pub block_time_ms: u64,
    /// Sequencer settings.
    pub sequencer: SequencerConfig,
}

/// A configuration the core refuses to run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Block time zero would make every slot due at once.
    #[error("block time must be positive, got {0} ms")]
    ZeroBlockTime(u64),
    /// The seal margin must leave time to build.
    #[error("seal margin {seal_margin_ms} ms must be smaller than the block time {block_time_ms} ms")]
    SealMarginTooLarge {
        /// Configured seal margin.
        seal_margin_ms: u64,
        /// Configured block time.
        block_time_ms: u64,
    },
    /// A fork Keel does not implement, or forks out of order.
    #[error(transparent)]
    Fork(#[from] ForkError),
}

impl Config {
    /// A configuration with the rollup config's block time and the given sequencer settings.
    pub fn new(rollup: Arc<Rollup>, sequencer: SequencerConfig) -> Self {
        let block_time_ms = rollup.block_time.saturating_mul(1000);
        Self { rollup, block_time_ms, sequencer }
    }

    /// Checks the settings that would otherwise make the state machine misbehave.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.rollup.validate()?;
        if self.block_time_ms == 0 {
            return Err(ConfigError::ZeroBlockTime(self.block_time_ms));
        }
        if self.sequencer.seal_margin_ms >= self.block_time_ms {
            return Err(ConfigError::SealMarginTooLarge {
                seal_margin_ms: self.sequencer.seal_margin_ms,
                block_time_ms: self.block_time_ms,
            });
        }
        Ok(())
    }
}
