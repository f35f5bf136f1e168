//! Scenarios: a world's parameters and fault probabilities as TOML data (`sim/scenarios/*.toml`), and the runner
//! that plays one seed of a scenario in two phases — faults (safety is checked after every step), then healing
//! (progress is demanded) — and classifies the outcome.

use crate::rng::Rng;
use crate::world::{FaultRates, Sim, SimConfig};
use alloy_primitives::B256;
use keel_core::SequencerConfig;
use serde::Deserialize;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The scenarios shipped in `sim/scenarios/`, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("steady-state", include_str!("../scenarios/steady-state.toml")),
    ("l1-reorgs", include_str!("../scenarios/l1-reorgs.toml")),
    ("l1-stall-beyond-drift", include_str!("../scenarios/l1-stall-beyond-drift.toml")),
    ("engine-storms", include_str!("../scenarios/engine-storms.toml")),
    ("invalid-payload", include_str!("../scenarios/invalid-payload.toml")),
    ("conductor-failover", include_str!("../scenarios/conductor-failover.toml")),
    ("crash-during-commit", include_str!("../scenarios/crash-during-commit.toml")),
    ("max-safe-lag", include_str!("../scenarios/max-safe-lag.toml")),
    ("fork-activations", include_str!("../scenarios/fork-activations.toml")),
    ("recovery-after-downtime", include_str!("../scenarios/recovery-after-downtime.toml")),
    ("sub-second-blocks", include_str!("../scenarios/sub-second-blocks.toml")),
    ("batcher-outage", include_str!("../scenarios/batcher-outage.toml")),
    ("l1-reorg-of-batch", include_str!("../scenarios/l1-reorg-of-batch.toml")),
    ("batcher-faults", include_str!("../scenarios/batcher-faults.toml")),
];

/// Simulated time between scheduled fault rolls.
pub const TICK_MS: u64 = 1_000;

fn default_blocks() -> u64 {
    600
}
fn default_block_time() -> u64 {
    2_000
}
fn default_l1_block_time() -> u64 {
    12
}
fn one() -> usize {
    1
}
fn default_confs() -> u64 {
    4
}
fn yes() -> bool {
    true
}
fn default_heal_fraction() -> f64 {
    0.3
}
fn default_progress() -> u64 {
    20
}

/// A scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name.
    pub name: String,
    /// What it exercises.
    #[serde(default)]
    pub description: String,
    /// The failure mode it reproduces (an operator-reported failure or issue reference).
    #[serde(default)]
    pub reproduces: String,
    /// Run length in L2 blocks of wall time (the simulated duration is `blocks × block_time`).
    #[serde(default = "default_blocks")]
    pub blocks: u64,
    /// L2 block time (ms).
    #[serde(default = "default_block_time")]
    pub block_time_ms: u64,
    /// L1 block time (s).
    #[serde(default = "default_l1_block_time")]
    pub l1_block_time_s: u64,
    /// Sequencer nodes.
    #[serde(default = "one")]
    pub sequencers: usize,
    /// Gate the sequencers with the conductor.
    #[serde(default)]
    pub conductor: bool,
    /// `--sequencer.l1-confs`.
    #[serde(default = "default_confs")]
    pub l1_confs: u64,
    /// `--sequencer.max-safe-lag`.
    #[serde(default)]
    pub max_safe_lag: u64,
    /// `--sequencer.recover`.
    #[serde(default)]
    pub recover: bool,
    /// Fjord active (1800 s drift) or not (rollup config drift).
    #[serde(default = "yes")]
    pub fjord: bool,
    /// Isthmus activation, seconds after L2 genesis (needs Fjord).
    #[serde(default)]
    pub isthmus_at_s: Option<u64>,
    /// Jovian activation, seconds after L2 genesis.
    #[serde(default)]
    pub jovian_at_s: Option<u64>,
    /// Karst activation, seconds after L2 genesis.
    #[serde(default)]
    pub karst_at_s: Option<u64>,
    /// `keep_karst_upgrade_gas`.
    #[serde(default)]
    pub keep_karst_upgrade_gas: bool,
    /// Pre-Fjord max sequencer drift (s).
    #[serde(default)]
    pub max_sequencer_drift_s: Option<u64>,
    /// Start this far behind wall time (s).
    #[serde(default)]
    pub start_behind_s: u64,
    /// Without derivation: the safe head follows the unsafe head this many blocks behind (0: it stays put).
    #[serde(default)]
    pub safe_lag_blocks: u64,
    /// Nodes derive their safe head from what the batcher model posts (default). Off: `safe_lag_blocks` models
    /// derivation from outside.
    #[serde(default = "yes")]
    pub derivation: bool,
    /// The rollup's sequence window (L1 blocks; default 3600).
    #[serde(default)]
    pub seq_window_size: Option<u64>,
    /// The batcher's chance of posting at an L1 block (default 0.8).
    #[serde(default)]
    pub batcher_post_rate: Option<f64>,
    /// Fault probabilities.
    #[serde(default)]
    pub faults: Faults,
    /// What the healed world must show.
    #[serde(default)]
    pub expect: Expect,
}

/// Fault probabilities. Rates "per hour" are of simulated time; plain rates are per call.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Each seed enables each configured fault with probability 1/2 (swarm testing).
    #[serde(default)]
    pub swarm: bool,
    /// L1 reorgs per hour.
    #[serde(default)]
    pub l1_reorg_per_hour: f64,
    /// Reorg depth range.
    #[serde(default)]
    pub l1_reorg_depth: Option<[u64; 2]>,
    /// L1 stalls per hour.
    #[serde(default)]
    pub l1_stall_per_hour: f64,
    /// Stall length range (s).
    #[serde(default)]
    pub l1_stall_s: Option<[u64; 2]>,
    /// Engine outages per hour.
    #[serde(default)]
    pub engine_down_per_hour: f64,
    /// Outage length range (s).
    #[serde(default)]
    pub engine_down_s: Option<[u64; 2]>,
    /// Per-call fault rates.
    #[serde(default)]
    pub engine_error: f64,
    /// Per-call engine timeouts.
    #[serde(default)]
    pub engine_timeout: f64,
    /// Per-build SYNCING answers.
    #[serde(default)]
    pub engine_syncing: f64,
    /// Per-call -38002 answers.
    #[serde(default)]
    pub engine_reset: f64,
    /// Per-insert INVALID answers.
    #[serde(default)]
    pub invalid_payload: f64,
    /// Per-commit failures.
    #[serde(default)]
    pub commit_failure: f64,
    /// Per-commit lost answers.
    #[serde(default)]
    pub commit_lost: f64,
    /// Per-fetch L1 errors.
    #[serde(default)]
    pub l1_error: f64,
    /// Crashes per hour (of a random sequencer).
    #[serde(default)]
    pub crash_per_hour: f64,
    /// Crash length range (s).
    #[serde(default)]
    pub crash_down_s: Option<[u64; 2]>,
    /// Crashes aimed at a sequencer that is committing a block, per hour.
    #[serde(default)]
    pub crash_during_commit_per_hour: f64,
    /// Leadership changes per hour.
    #[serde(default)]
    pub failover_per_hour: f64,
    /// Leadership changes that first let the old leader run ahead alone for a while (new leader several blocks
    /// behind), per hour.
    #[serde(default)]
    pub lagging_failover_per_hour: f64,
    /// Derivation stalls (safe head frozen) per hour.
    #[serde(default)]
    pub derivation_stall_per_hour: f64,
    /// Derivation stall length range (s).
    #[serde(default)]
    pub derivation_stall_s: Option<[u64; 2]>,
    /// The batcher stops posting (with derivation on; without it, `derivation_stall_*` models the same).
    #[serde(default)]
    pub batcher_outage_per_hour: f64,
    #[serde(default)]
    /// How long a batcher outage lasts (s).
    pub batcher_outage_s: Option<[u64; 2]>,
    /// The batcher key is rotated through a SystemConfig `ConfigUpdate`.
    #[serde(default)]
    pub batcher_rotation_per_hour: f64,
}

/// The healing phase.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Fraction of the run at the end with every fault off.
    #[serde(default = "default_heal_fraction")]
    pub heal_fraction: f64,
    /// Blocks the chain must add during healing.
    #[serde(default = "default_progress")]
    pub min_progress_blocks: u64,
}

impl Default for Expect {
    fn default() -> Self {
        Self { heal_fraction: default_heal_fraction(), min_progress_blocks: default_progress() }
    }
}

impl Scenario {
    /// Parses a scenario file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// A built-in scenario by name, or a file path.
    pub fn load(name_or_path: &str) -> Result<Self, String> {
        if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Self::parse(text).map_err(|e| format!("built-in scenario {name_or_path}: {e}"));
        }
        let text = std::fs::read_to_string(name_or_path).map_err(|e| {
            let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            format!("{name_or_path}: {e} (built-in scenarios: {})", names.join(", "))
        })?;
        Self::parse(&text).map_err(|e| format!("{name_or_path}: {e}"))
    }
}

/// How a run ended badly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// An invariant was violated.
    Safety,
    /// The healed world made no progress.
    Liveness,
    /// Something panicked that is not an invariant check.
    Panic,
}

impl FailureKind {
    /// The CLI's exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Safety => 3,
            Self::Liveness => 4,
            Self::Panic => 6,
        }
    }
}

/// A failed run.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Class.
    pub kind: FailureKind,
    /// What happened.
    pub message: String,
    /// The last events before the failure.
    pub timeline: Vec<String>,
}

/// A run's summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Blocks the chain advanced (highest engine head).
    pub blocks: u64,
    /// Blocks sequenced by all members.
    pub sequenced: u64,
    /// L1 blocks replaced by reorgs.
    pub reorged_l1_blocks: u64,
    /// Faults injected (scheduled events; per-call faults are counted by the nodes as retries/drops).
    pub faults_injected: u64,
    /// Invariant checks performed.
    pub invariants_checked: u64,
    /// Crashes.
    pub crashes: u64,
    /// Leadership changes.
    pub failovers: u64,
    /// Engine resets across members.
    pub resets: u64,
    /// Highest safe head among members at the end.
    pub safe: u64,
    /// Highest finalized head among members at the end.
    pub finalized: u64,
    /// Blocks made safe by consolidation (engine block matched), across members.
    pub consolidated: u64,
    /// Blocks built from derived attributes, across members.
    pub derived_built: u64,
    /// Unsafe blocks replaced because L1 derived something else, across members.
    pub mismatches: u64,
    /// Channels the batcher posted.
    pub channels: u64,
    /// Hash of the whole trace.
    pub trace: B256,
}

struct Enabled {
    f: Faults,
}

fn range(rng: &mut Rng, r: Option<[u64; 2]>, default: [u64; 2]) -> u64 {
    let [lo, hi] = r.unwrap_or(default);
    rng.range(lo, hi)
}

/// Plays `seed` of `scn` for `blocks` L2 blocks of simulated time (default: the scenario's).
pub fn run(scn: &Scenario, seed: u64, blocks: Option<u64>) -> Result<Report, Failure> {
    let mut sim = None;
    let result = catch_unwind(AssertUnwindSafe(|| play(scn, seed, blocks, &mut sim)));
    let timeline = |sim: &Option<Sim>| sim.as_ref().map(|s| s.timeline().collect()).unwrap_or_default();
    match result {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(message)) => Err(Failure { kind: FailureKind::Liveness, message, timeline: timeline(&sim) }),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            let kind = if message.starts_with("safety:") { FailureKind::Safety } else { FailureKind::Panic };
            Err(Failure { kind, message, timeline: timeline(&sim) })
        }
    }
}

fn play(scn: &Scenario, seed: u64, blocks: Option<u64>, slot: &mut Option<Sim>) -> Result<Report, String> {
    let mut chooser = Rng::new(seed ^ 0x5eed_5eed_5eed_5eed);
    let mut f = scn.faults.clone();
    if f.swarm {
        // Swarm testing: each seed runs a different subset of the configured faults.
        let mut keep = |x: &mut f64| {
            if !chooser.chance(0.5) {
                *x = 0.0;
            }
        };
        for x in [
            &mut f.l1_reorg_per_hour,
            &mut f.l1_stall_per_hour,
            &mut f.engine_down_per_hour,
            &mut f.engine_error,
            &mut f.engine_timeout,
            &mut f.engine_syncing,
            &mut f.engine_reset,
            &mut f.invalid_payload,
            &mut f.commit_failure,
            &mut f.commit_lost,
            &mut f.l1_error,
            &mut f.crash_per_hour,
            &mut f.crash_during_commit_per_hour,
            &mut f.failover_per_hour,
            &mut f.lagging_failover_per_hour,
            &mut f.derivation_stall_per_hour,
            &mut f.batcher_outage_per_hour,
            &mut f.batcher_rotation_per_hour,
        ] {
            keep(x);
        }
    }
    let en = Enabled { f };
    let cfg = SimConfig {
        seed,
        block_time_ms: scn.block_time_ms,
        l1_block_time_s: scn.l1_block_time_s,
        sequencer: SequencerConfig {
            sequencer_recovery_mode: scn.recover,
            max_safe_lag: scn.max_safe_lag,
            l1_confs: scn.l1_confs,
            conductor_rpc_url: scn.conductor.then(|| crate::conductor::URL.to_string()),
            seal_margin_ms: keel_core::config::DEFAULT_SEAL_MARGIN_MS.min(scn.block_time_ms / 4),
            ..Default::default()
        },
        sequencers: scn.sequencers.max(1),
        max_sequencer_drift_s: scn.max_sequencer_drift_s.unwrap_or(600),
        fjord: scn.fjord,
        isthmus_offset_s: scn.isthmus_at_s,
        jovian_offset_s: scn.jovian_at_s,
        karst_offset_s: scn.karst_at_s,
        keep_karst_upgrade_gas: scn.keep_karst_upgrade_gas,
        start_offset_ms: scn.start_behind_s * 1000 + 500,
        derivation: scn.derivation,
        seq_window_size: scn.seq_window_size.unwrap_or(3600),
        batcher: crate::batcher::BatcherConfig {
            enabled: scn.derivation,
            post_rate: scn.batcher_post_rate.unwrap_or(0.8),
            ..Default::default()
        },
        ..Default::default()
    };
    let sim = slot.insert(Sim::new(cfg));
    sim.keep_history = false;
    let total_ms = blocks.unwrap_or(scn.blocks).saturating_mul(scn.block_time_ms).max(10 * TICK_MS);
    let heal_at = sim.now + ((total_ms as f64) * (1.0 - scn.expect.heal_fraction.clamp(0.05, 0.95))) as u64;
    let end = sim.now + total_ms;
    let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xfa17);
    let mut faults_injected = 0u64;
    let mut derivation_stalled_until = 0u64;
    let mut crash_on_commit = false;
    if scn.conductor {
        start_leader(sim);
    }
    sim.rates = FaultRates {
        engine_error: en.f.engine_error,
        engine_timeout: en.f.engine_timeout,
        engine_syncing: en.f.engine_syncing,
        invalid_payload: en.f.invalid_payload,
        engine_reset: en.f.engine_reset,
        commit_failure: en.f.commit_failure,
        commit_lost: en.f.commit_lost,
        l1_error: en.f.l1_error,
    };
    let per_tick = |per_hour: f64| per_hour * TICK_MS as f64 / 3_600_000.0;
    let mut next_tick = sim.now + TICK_MS;
    // Phase 1: faults.
    while sim.now < heal_at {
        sim.step(next_tick.min(heal_at));
        if crash_on_commit {
            if let Some(m) = (0..sim.members.len())
                .find(|m| sim.members[*m].node.as_ref().is_some_and(|n| n.build_stage() == "committing"))
            {
                let down = range(&mut rng, en.f.crash_down_s, [1, 30]) * 1000;
                sim.crash(m, down);
                crash_on_commit = false;
            }
        }
        if sim.now < next_tick {
            continue;
        }
        next_tick += TICK_MS;
        let f = &en.f;
        if rng.chance(per_tick(f.l1_reorg_per_hour)) {
            let depth = range(&mut rng, f.l1_reorg_depth, [1, 8]);
            sim.reorg_l1(depth);
            faults_injected += 1;
        }
        if rng.chance(per_tick(f.l1_stall_per_hour)) {
            sim.l1.stalled_until = sim.now + range(&mut rng, f.l1_stall_s, [60, 900]) * 1000;
            faults_injected += 1;
        }
        if rng.chance(per_tick(f.engine_down_per_hour)) {
            let m = rng.range(0, sim.members.len() as u64 - 1) as usize;
            sim.members[m].engine_down_until = sim.now + range(&mut rng, f.engine_down_s, [5, 60]) * 1000;
            faults_injected += 1;
        }
        if rng.chance(per_tick(f.crash_per_hour)) {
            let m = rng.range(0, sim.members.len() as u64 - 1) as usize;
            sim.crash(m, range(&mut rng, f.crash_down_s, [1, 30]) * 1000);
            faults_injected += 1;
        }
        if rng.chance(per_tick(f.crash_during_commit_per_hour)) {
            crash_on_commit = true;
            faults_injected += 1;
        }
        if sim.members.len() > 1 && rng.chance(per_tick(f.failover_per_hour)) {
            let to = pick_other(sim, &mut rng);
            sim.failover(to);
            faults_injected += 1;
        }
        if sim.members.len() > 1 && rng.chance(per_tick(f.lagging_failover_per_hour)) {
            // The new leader stops receiving gossip for a while (a partition), falling several blocks behind.
            let to = pick_other(sim, &mut rng);
            let lag_ms = rng.range(5, 20) * scn.block_time_ms;
            sim.crash(to, lag_ms);
            sim.run_for(lag_ms);
            sim.failover(to);
            faults_injected += 1;
        }
        if rng.chance(per_tick(f.derivation_stall_per_hour)) {
            derivation_stalled_until = sim.now + range(&mut rng, f.derivation_stall_s, [60, 600]) * 1000;
            faults_injected += 1;
        }
        if rng.chance(per_tick(f.batcher_outage_per_hour)) {
            sim.batcher.outage_until = sim.now + range(&mut rng, f.batcher_outage_s, [60, 600]) * 1000;
            faults_injected += 1;
        }
        if rng.chance(per_tick(f.batcher_rotation_per_hour)) {
            sim.batcher.rotate(&mut sim.l1);
            faults_injected += 1;
        }
        if !scn.derivation && scn.safe_lag_blocks > 0 && sim.now >= derivation_stalled_until {
            sim.follow_safe_head(scn.safe_lag_blocks);
        }
    }
    // Phase 2: heal and demand progress.
    sim.rates = FaultRates::default();
    sim.faults.clear();
    if sim.l1.stalled_until > sim.now {
        sim.l1.stalled_until = sim.now;
    }
    for m in 0..sim.members.len() {
        sim.members[m].engine_down_until = 0;
        if sim.members[m].restart_at.is_some() {
            sim.members[m].restart_at = Some(sim.now);
        }
    }
    if scn.conductor {
        let leader = sim.leader.unwrap_or(0);
        sim.failover(leader);
    }
    sim.batcher.outage_until = 0;
    let heal_start = sim.chain_height();
    let safe_start = sim.safe_height();
    while sim.now < end {
        let until = (sim.now + TICK_MS).min(end);
        sim.run_until(until);
        if !scn.derivation && scn.safe_lag_blocks > 0 {
            sim.follow_safe_head(scn.safe_lag_blocks);
        }
    }
    if scn.derivation && heal_slots_of(end, heal_at, scn.block_time_ms) >= 60 && sim.safe_height() <= safe_start {
        return Err(format!(
            "liveness: after healing the safe head did not advance (stayed at {safe_start}; unsafe chain at {})",
            sim.chain_height()
        ));
    }
    let progress = sim.chain_height().saturating_sub(heal_start);
    // A run shortened below the scenario's length demands proportionally less: at most half the healing slots.
    let heal_slots = heal_slots_of(end, heal_at, scn.block_time_ms);
    let required = scn.expect.min_progress_blocks.min(heal_slots / 2);
    if progress < required {
        let stages: Vec<String> = sim
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| match &m.node {
                Some(n) => format!("n{i}: stage={} active={} halted={:?}", n.build_stage(), n.is_active(), n.halted()),
                None => format!("n{i}: crashed"),
            })
            .collect();
        return Err(format!(
            "liveness: after healing the chain advanced {progress} blocks (from {heal_start}), expected at least {required}; {}",
            stages.join("; ")
        ));
    }
    let mut report = Report {
        blocks: sim.chain_height(),
        reorged_l1_blocks: sim.l1.reorged_blocks,
        faults_injected,
        invariants_checked: sim.checks,
        crashes: sim.crashes,
        failovers: sim.failovers,
        trace: sim.trace_hash(),
        ..Default::default()
    };
    report.channels = sim.batcher.stats.channels;
    for m in &sim.members {
        if let Some(n) = &m.node {
            report.sequenced += n.stats().blocks_sequenced;
            report.resets += n.stats().resets;
            report.safe = report.safe.max(n.heads().safe.map_or(0, |b| b.number));
            report.finalized = report.finalized.max(n.heads().finalized.map_or(0, |b| b.number));
            let d = n.derive_stats();
            report.consolidated += d.consolidated;
            report.derived_built += d.built;
            report.mismatches += d.mismatches;
        }
    }
    Ok(report)
}

/// L2 slots in the healing phase.
fn heal_slots_of(end: u64, heal_at: u64, block_time_ms: u64) -> u64 {
    (end - heal_at) / block_time_ms
}

fn pick_other(sim: &Sim, rng: &mut Rng) -> usize {
    let n = sim.members.len() as u64;
    let cur = sim.leader.unwrap_or(0) as u64;
    ((cur + 1 + rng.range(0, n.saturating_sub(2))) % n) as usize
}

fn start_leader(sim: &mut Sim) {
    let leader = sim.leader.unwrap_or(0);
    sim.failover(leader);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_scenarios_parse() {
        for (name, text) in BUILTIN {
            let s = Scenario::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&s.name, name);
            assert!(!s.reproduces.is_empty(), "{name} names the failure mode it reproduces");
        }
        assert!(Scenario::parse("name = \"x\"\nbogus = 1\n").is_err(), "unknown keys are errors");
    }
}
