//! Every built-in scenario passes 100 seeds; the same seed gives the same trace; a deliberately broken core is
//! caught.

use keel_core::{RpcRequest, Sabotage};
use keel_sim::scenario::{self, FailureKind, Scenario, BUILTIN};
use keel_sim::{Sim, SimConfig};

/// Seeds per scenario (`KEEL_SIM_SEEDS` overrides, for longer hunts).
fn seeds() -> u64 {
    std::env::var("KEEL_SIM_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(100)
}

fn sweep(name: &str) {
    let scn = Scenario::load(name).unwrap();
    // Debug builds are slower: run each seed for a third of the scenario's length (still thousands of blocks
    // per scenario across the seeds), the full length with KEEL_SIM_FULL=1.
    let blocks = if std::env::var("KEEL_SIM_FULL").is_ok() { None } else { Some((scn.blocks / 3).max(200)) };
    for seed in 0..seeds() {
        if let Err(f) = scenario::run(&scn, seed, blocks) {
            panic!(
                "{name} seed {seed}: {:?}: {}\n{}\nreplay: cargo run --release -p keel-sim -- run --scenario {name} --seed {seed}{}",
                f.kind,
                f.message,
                f.timeline.join("\n"),
                blocks.map(|b| format!(" --blocks {b}")).unwrap_or_default()
            );
        }
    }
}

macro_rules! scenario_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(#[test] fn $test() { sweep($name); })*

        #[test]
        fn every_builtin_scenario_has_a_test() {
            let tested = [$($name),*];
            for (name, _) in BUILTIN {
                assert!(tested.contains(name), "scenario {name} has no sweep test");
            }
        }
    };
}

scenario_tests! {
    steady_state => "steady-state",
    l1_reorgs => "l1-reorgs",
    l1_stall_beyond_drift => "l1-stall-beyond-drift",
    engine_storms => "engine-storms",
    invalid_payload => "invalid-payload",
    conductor_failover => "conductor-failover",
    crash_during_commit => "crash-during-commit",
    max_safe_lag => "max-safe-lag",
    recovery_after_downtime => "recovery-after-downtime",
    sub_second_blocks => "sub-second-blocks",
    fork_activations => "fork-activations",
    batcher_outage => "batcher-outage",
    l1_reorg_of_batch => "l1-reorg-of-batch",
    batcher_faults => "batcher-faults",
}

#[test]
fn same_seed_same_trace() {
    for name in ["conductor-failover", "l1-reorgs", "engine-storms"] {
        let scn = Scenario::load(name).unwrap();
        let a = scenario::run(&scn, 7, Some(300)).unwrap();
        let b = scenario::run(&scn, 7, Some(300)).unwrap();
        let c = scenario::run(&scn, 8, Some(300)).unwrap();
        assert_eq!(a.trace, b.trace, "{name}: replay must reproduce the trace");
        assert_ne!(a.trace, c.trace, "{name}: different seeds differ");
    }
}

fn conductor_sim() -> Sim {
    let mut cfg = SimConfig { seed: 3, ..Default::default() };
    cfg.sequencer.conductor_rpc_url = Some(keel_sim::conductor::URL.into());
    let mut s = Sim::new(cfg);
    s.run_for(3_000);
    let head = s.node().heads().unsafe_head.unwrap().hash;
    s.rpc(RpcRequest::StartSequencer(head));
    s
}

#[test]
fn a_core_that_publishes_before_commit_is_caught() {
    let mut s = conductor_sim();
    s.run_for(10_000);
    assert!(s.node().stats().blocks_sequenced > 2, "the healthy core runs");
    s.members[0].node.as_mut().unwrap().sabotage(Sabotage::PublishBeforeCommit);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.run_for(20_000)));
    let msg = caught.expect_err("publishing before commit must be caught");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("published before it was committed"), "{msg}");
}

#[test]
fn a_core_that_ignores_the_confirmation_depth_is_caught() {
    // The world's origin check: every origin must be at least l1_confs behind the L1 head when adopted.
    let mut s = Sim::new(SimConfig { seed: 4, ..Default::default() });
    s.members[0].node.as_mut().unwrap().sabotage(Sabotage::IgnoreConfDepth);
    let mut violated = false;
    for _ in 0..2_000 {
        let until = s.now + 1_000;
        s.step(until);
        let Some(origin) = s.node().heads().unsafe_head.map(|h| h.l1_origin.number) else { continue };
        if origin > 0 && origin + 4 > s.l1.head().number() {
            violated = true;
            break;
        }
    }
    assert!(violated, "the sabotaged core adopts unconfirmed origins, and the check sees it");
}

#[test]
fn a_core_that_builds_blocks_l1_does_not_derive_is_caught() {
    // The derivability check: a sequencer that leaves out the epoch's user deposits builds blocks the batcher posts
    // but derivation replaces; the world sees the derived block differ from the posted one.
    let mut s = Sim::new(SimConfig { seed: 5, ..Default::default() });
    s.run_for(60_000);
    assert!(s.node().heads().safe.is_some_and(|b| b.number > 5), "the healthy core's blocks are derived");
    s.members[0].node.as_mut().unwrap().sabotage(Sabotage::SkipDeposits);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.run_for(600_000)));
    let msg = caught.expect_err("a non-derivable block must be caught");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("but the batcher posted"), "{msg}");
}

#[test]
fn failure_kinds_have_distinct_exit_codes() {
    let codes = [FailureKind::Safety.exit_code(), FailureKind::Liveness.exit_code(), FailureKind::Panic.exit_code()];
    assert_eq!(codes, [3, 4, 6]);
}
