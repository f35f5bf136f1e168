//! Static configuration of the core.

use crate::attributes::{AttributesBuilder, ProtocolAttributes};
use crate::rollup::{ForkError, Rollup};
use std::sync::Arc;

/// Default time reserved at the end of a slot for `engine_getPayload` (op-node's sealing duration).
pub const DEFAULT_SEAL_MARGIN_MS: u64 = 50;
/// Default L1 confirmation depth for next-origin lookups (`--sequencer.l1-confs`).
pub const DEFAULT_L1_CONFS: u64 = 4;

/// Default deadline of one conductor call (`--conductor.rpc-timeout`, ms).
pub const DEFAULT_CONDUCTOR_RPC_TIMEOUT_MS: u64 = 1_000;

/// Sequencer settings: the seed's `SequencerConfig` (`sequencer_stopped`, `sequencer_recovery_mode`,
/// `conductor_rpc_url`, the names of kona-node's builder API) plus the sequencer flags Keel shares with op-node. The
/// one definition: the core reads it, the shell's builder takes it, the simulator and fuzzer configure it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequencerConfig {
    /// Start with sequencing stopped (`--sequencer.stopped`). Forced on when a conductor is enabled, as op-node does:
    /// the conductor starts the leader.
    pub sequencer_stopped: bool,
    /// Start in recovery mode (`--sequencer.recover`).
    pub sequencer_recovery_mode: bool,
    /// Conductor endpoint (`--conductor.rpc`); when set the sequencer starts stopped and is gated by the conductor.
    /// The core only asks whether it is set; the shell dials it.
    pub conductor_rpc_url: Option<String>,
    /// Deadline of one conductor call (`--conductor.rpc-timeout`, ms), enforced by the shell.
    pub conductor_rpc_timeout_ms: u64,
    /// Do not build while `unsafe >= safe + max_safe_lag`; 0 disables (`--sequencer.max-safe-lag`).
    pub max_safe_lag: u64,
    /// L1 confirmations required before an L1 block may be adopted as the next origin (`--sequencer.l1-confs`).
    pub l1_confs: u64,
    /// Time reserved before the payload timestamp for sealing (`--sequencer.seal-margin`, ms): the margin itself, or
    /// with [`Self::adaptive_seal_margin`] the one used until getPayload round trips have been measured.
    pub seal_margin_ms: u64,
    /// Adapt the seal margin to the measured getPayload round trips ([`crate::timing::adaptive_seal_margin`]) instead
    /// of keeping `seal_margin_ms` (op-node's fixed 50 ms). `keel node` does this unless `--sequencer.seal-margin`
    /// is given.
    pub adaptive_seal_margin: bool,
}

impl SequencerConfig {
    /// Whether a conductor gates this sequencer (a conductor endpoint is configured).
    pub fn conductor_enabled(&self) -> bool {
        self.conductor_rpc_url.is_some()
    }
}

impl Default for SequencerConfig {
    fn default() -> Self {
        Self {
            sequencer_stopped: false,
            sequencer_recovery_mode: false,
            conductor_rpc_url: None,
            conductor_rpc_timeout_ms: DEFAULT_CONDUCTOR_RPC_TIMEOUT_MS,
            max_safe_lag: 0,
            l1_confs: DEFAULT_L1_CONFS,
            seal_margin_ms: DEFAULT_SEAL_MARGIN_MS,
            adaptive_seal_margin: false,
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
    /// Derive the safe head from L1 (the node's own pipeline). Off, the safe head is what the engine reports at
    /// startup and what `Event::SafeHeadObserved` says (a setup where another node derives).
    pub derivation: bool,
    /// The payload attributes builder of sequenced and derived blocks alike ([`ProtocolAttributes`] unless a chain
    /// with its own rules replaces it; see [`AttributesBuilder`]).
    pub attributes: Arc<dyn AttributesBuilder>,
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
    /// Batches carry whole-second timestamps at the rollup config's block time: derivation cannot follow a chain
    /// sequenced at another block time.
    #[error(
        "derivation needs the rollup config's block time ({rollup_block_time_s} s), but blocks are sequenced every {block_time_ms} ms; turn derivation off or fix the block time"
    )]
    DerivationBlockTime {
        /// The rollup config's block time in seconds.
        rollup_block_time_s: u64,
        /// Configured block time.
        block_time_ms: u64,
    },
    /// A fork Keel does not implement, or forks out of order.
    #[error(transparent)]
    Fork(#[from] ForkError),
}

/// Whether a chain sequenced every `block_time_ms` can be derived from batches under `rollup`: batches carry
/// whole-second timestamps at the rollup config's block time, so only that block time is.
pub fn derivable(rollup: &crate::Rollup, block_time_ms: u64) -> bool {
    block_time_ms == crate::types::ms(rollup.block_time)
}

impl Config {
    /// A configuration with the rollup config's block time and the given sequencer settings.
    pub fn new(rollup: Arc<Rollup>, sequencer: SequencerConfig) -> Self {
        let block_time_ms = crate::types::ms(rollup.block_time);
        Self { rollup, block_time_ms, sequencer, derivation: false, attributes: Arc::new(ProtocolAttributes) }
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
        if self.derivation && !derivable(&self.rollup, self.block_time_ms) {
            return Err(ConfigError::DerivationBlockTime {
                rollup_block_time_s: self.rollup.block_time,
                block_time_ms: self.block_time_ms,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(block_time_ms: u64, derivation: bool) -> Config {
        let rollup = Rollup::from(kona_genesis::RollupConfig { block_time: 2, ..Default::default() });
        let mut c = Config::new(Arc::new(rollup), SequencerConfig::default());
        c.block_time_ms = block_time_ms;
        c.derivation = derivation;
        c
    }

    #[test]
    fn derivation_refuses_a_block_time_other_than_the_rollup_configs() {
        assert_eq!(config(2_000, true).validate(), Ok(()));
        assert_eq!(config(200, false).validate(), Ok(()));
        assert_eq!(
            config(200, true).validate(),
            Err(ConfigError::DerivationBlockTime { rollup_block_time_s: 2, block_time_ms: 200 })
        );
        assert_eq!(config(0, false).validate(), Err(ConfigError::ZeroBlockTime(0)));
    }
}
