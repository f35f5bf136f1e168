//! The rollup configuration as Keel runs it: kona's [`RollupConfig`] plus what kona 0.4.5 does not know.
//!
//! kona-genesis 0.4.5 stops at Jovian (and an Interop time). Karst (OP Mainnet 2026-07-08), its
//! `keep_karst_upgrade_gas` switch, Lagoon (the renamed Interop) and the L1 chain's blob schedule are carried here,
//! beside kona's struct, so every rule reads them through one value. [`Rollup`] dereferences to [`RollupConfig`]:
//! rules that only need pre-Karst facts take `&RollupConfig` and accept a `&Rollup` unchanged.
//!
//! Fork order and activation follow op-node `rollup/types.go`: a fork is active at `t` when its time is set and
//! `t >= time`; its activation block is the first block at or after that time whose parent is not.

use crate::blob_fee::BlobSchedule;
use kona_genesis::RollupConfig;
use std::ops::{Deref, DerefMut};

/// Why a rollup configuration cannot be run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ForkError {
    /// The configuration schedules a fork Keel does not implement. Running past it would build invalid blocks.
    #[error(
        "the rollup config activates {fork} at {time} ({key}), a fork Keel does not implement; refusing to start \
         rather than build invalid blocks past it"
    )]
    Unsupported {
        /// Fork name as op-node spells it.
        fork: String,
        /// The rollup.json key that set it.
        key: String,
        /// Its activation time.
        time: u64,
    },
    /// A fork is scheduled before the fork it builds on (op-node `checkForkOrder`).
    #[error("fork {later} is set to {later_time}, but the prior fork {earlier} is {earlier_time}")]
    Order {
        /// The earlier fork.
        earlier: &'static str,
        /// Its time, or "unset".
        earlier_time: String,
        /// The later fork.
        later: &'static str,
        /// Its time.
        later_time: u64,
    },
}

/// kona's rollup config plus Karst, Lagoon and the L1 blob schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollup {
    /// Everything kona knows. Its `hardforks.interop_time` carries Lagoon's old key (`interop_time`) when a
    /// rollup.json uses it; [`Rollup::validate`] refuses it as it refuses [`Rollup::lagoon_time`].
    pub base: RollupConfig,
    /// Karst activation time (`karst_time`).
    pub karst_time: Option<u64>,
    /// Lagoon activation time (`lagoon_time`, formerly `interop_time`). Keel does not implement Lagoon:
    /// [`Rollup::validate`] refuses any value.
    pub lagoon_time: Option<u64>,
    /// Keep the Karst activation block's upgrade gas in the SystemConfig rebuilt from that block
    /// (`keep_karst_upgrade_gas`; op-node PR #21441). True on chains that activated Karst before the fix.
    pub keep_karst_upgrade_gas: bool,
    /// The L1 chain's blob base fee schedule (see [`BlobSchedule`]).
    pub l1_blob_schedule: BlobSchedule,
}

impl Deref for Rollup {
    type Target = RollupConfig;
    fn deref(&self) -> &RollupConfig {
        &self.base
    }
}

impl DerefMut for Rollup {
    fn deref_mut(&mut self) -> &mut RollupConfig {
        &mut self.base
    }
}

impl From<RollupConfig> for Rollup {
    /// No Karst, no Lagoon; the blob schedule Keel knows for the config's L1 chain id.
    fn from(base: RollupConfig) -> Self {
        let l1_blob_schedule = BlobSchedule::for_l1_chain(base.l1_chain_id);
        Self { base, karst_time: None, lagoon_time: None, keep_karst_upgrade_gas: false, l1_blob_schedule }
    }
}

impl Rollup {
    /// Whether Karst is active at L2 time `t`.
    pub fn is_karst_active(&self, t: u64) -> bool {
        self.karst_time.is_some_and(|k| t >= k)
    }

    /// Whether the L2 block at `t` is the first at or after `fork_time` (op-node `IsActivationBlockForFork`).
    fn is_activation_block(&self, fork_time: Option<u64>, t: u64) -> bool {
        let active = |t: u64| fork_time.is_some_and(|f| t >= f);
        active(t) && t >= self.block_time && !active(t - self.block_time)
    }

    /// Whether the L2 block at `t` is Karst's activation block (op-node `IsKarstActivationBlock`).
    pub fn is_first_karst_block(&self, t: u64) -> bool {
        self.is_activation_block(self.karst_time, t)
    }

    /// Whether Lagoon is active at `t`. Never true for a config that passed [`Rollup::validate`].
    pub fn is_lagoon_active(&self, t: u64) -> bool {
        self.lagoon_time.is_some_and(|l| t >= l)
    }

    /// Whether the L2 block at `t` is Lagoon's activation block.
    pub fn is_first_lagoon_block(&self, t: u64) -> bool {
        self.is_activation_block(self.lagoon_time, t)
    }

    /// Every scheduleable fork from Regolith to Lagoon with its time, oldest first (op-node `scheduleableForks`).
    fn schedule(&self) -> [(&'static str, Option<u64>); 11] {
        let h = &self.base.hardforks;
        [
            ("regolith", h.regolith_time),
            ("canyon", h.canyon_time),
            ("delta", h.delta_time),
            ("ecotone", h.ecotone_time),
            ("fjord", h.fjord_time),
            ("granite", h.granite_time),
            ("holocene", h.holocene_time),
            ("isthmus", h.isthmus_time),
            ("jovian", h.jovian_time),
            ("karst", self.karst_time),
            ("lagoon", self.lagoon_time),
        ]
    }

    /// Refuses a configuration Keel cannot run: a fork it does not implement (Lagoon, or kona's Interop time if a
    /// caller set it directly), or forks out of order.
    pub fn validate(&self) -> Result<(), ForkError> {
        for (key, time) in [("lagoon_time", self.lagoon_time), ("interop_time", self.base.hardforks.interop_time)] {
            if let Some(time) = time {
                return Err(ForkError::Unsupported { fork: "Lagoon".into(), key: key.into(), time });
            }
        }
        let order = self.schedule();
        for w in order.windows(2) {
            let ((earlier, a), (later, b)) = (w[0], w[1]);
            match (a, b) {
                (None, Some(b)) => {
                    return Err(ForkError::Order { earlier, earlier_time: "unset".into(), later, later_time: b })
                }
                (Some(a), Some(b)) if a > b => {
                    return Err(ForkError::Order { earlier, earlier_time: a.to_string(), later, later_time: b })
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The newest fork active at `t`, by op-node's name (for logs and status).
    pub fn fork_at(&self, t: u64) -> &'static str {
        self.schedule()
            .into_iter()
            .rev()
            .find(|(_, time)| time.is_some_and(|x| t >= x))
            .map_or("bedrock", |(name, _)| name)
    }
}

/// The forks Keel builds blocks for, oldest first (README and ARCHITECTURE list the same).
pub const SUPPORTED_FORKS: [&str; 11] =
    ["bedrock", "regolith", "canyon", "delta", "ecotone", "fjord", "granite", "holocene", "isthmus", "jovian", "karst"];

/// Schedules every fork of kona's `HardForkConfig` from Regolith up to and including `last` (an op-node name from
/// `regolith` to `jovian`) at `time`, the later ones left as they are. For genesis configs of devnets and tests.
/// Returns false, changing nothing, for a name that is not one of those forks.
pub fn schedule_forks_through(h: &mut kona_genesis::HardForkConfig, last: &str, time: u64) -> bool {
    let forks = [
        ("regolith", &mut h.regolith_time),
        ("canyon", &mut h.canyon_time),
        ("delta", &mut h.delta_time),
        ("ecotone", &mut h.ecotone_time),
        ("fjord", &mut h.fjord_time),
        ("granite", &mut h.granite_time),
        ("holocene", &mut h.holocene_time),
        ("isthmus", &mut h.isthmus_time),
        ("jovian", &mut h.jovian_time),
    ];
    let Some(n) = forks.iter().position(|(name, _)| *name == last) else { return false };
    for (_, t) in forks.into_iter().take(n + 1) {
        *t = Some(time);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollup() -> Rollup {
        let mut base = RollupConfig { block_time: 2, ..Default::default() };
        let h = &mut base.hardforks;
        (h.regolith_time, h.canyon_time, h.delta_time, h.ecotone_time, h.fjord_time) =
            (Some(0), Some(0), Some(0), Some(0), Some(0));
        (h.granite_time, h.holocene_time, h.isthmus_time, h.jovian_time) = (Some(0), Some(0), Some(0), Some(10));
        Rollup { karst_time: Some(20), ..Rollup::from(base) }
    }

    #[test]
    fn forks_are_scheduled_through_the_named_one() {
        let mut h = kona_genesis::HardForkConfig::default();
        assert!(schedule_forks_through(&mut h, "granite", 5));
        assert_eq!((h.regolith_time, h.granite_time, h.holocene_time), (Some(5), Some(5), None));
        assert!(!schedule_forks_through(&mut h, "karst", 0), "Karst is not one of kona's fields");
        assert_eq!(h.holocene_time, None);
    }

    #[test]
    fn karst_activation_block() {
        let r = rollup();
        assert!(!r.is_karst_active(19) && r.is_karst_active(20));
        assert!(r.is_first_karst_block(20) && !r.is_first_karst_block(22) && !r.is_first_karst_block(18));
        // A time between blocks: the first block at or after it activates.
        let r = Rollup { karst_time: Some(21), ..rollup() };
        assert!(r.is_first_karst_block(22) && !r.is_first_karst_block(20));
        // Karst at genesis (time 0) has no activation block.
        let r = Rollup { karst_time: Some(0), ..rollup() };
        assert!(r.is_karst_active(0) && !r.is_first_karst_block(0) && !r.is_first_karst_block(2));
        assert_eq!(rollup().fork_at(20), "karst");
        assert_eq!(rollup().fork_at(19), "jovian");
    }

    #[test]
    fn lagoon_and_interop_are_refused_with_their_time() {
        assert_eq!(rollup().validate(), Ok(()));
        let r = Rollup { lagoon_time: Some(1_800_000_000), ..rollup() };
        let e = r.validate().unwrap_err();
        assert_eq!(e, ForkError::Unsupported { fork: "Lagoon".into(), key: "lagoon_time".into(), time: 1_800_000_000 });
        assert!(e.to_string().contains("Lagoon at 1800000000"), "{e}");
        let mut r = rollup();
        r.base.hardforks.interop_time = Some(5);
        assert!(matches!(r.validate(), Err(ForkError::Unsupported { time: 5, .. })));
    }

    #[test]
    fn forks_must_be_ordered() {
        let r = Rollup { karst_time: Some(5), ..rollup() };
        assert!(matches!(r.validate(), Err(ForkError::Order { earlier: "jovian", later: "karst", .. })));
        let mut r = rollup();
        r.base.hardforks.jovian_time = None;
        assert!(matches!(r.validate(), Err(ForkError::Order { earlier: "jovian", later: "karst", .. })));
    }
}
