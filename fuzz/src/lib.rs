//! # keel-fuzz
//!
//! Generated fault schedules against the simulator. A schedule is a list of timed actions (engine, L1 and conductor
//! faults, L1 reorgs and stalls, admin calls). Phase 1 plays it while the simulator checks every invariant after
//! every step (safety); phase 2 heals the world and demands progress (liveness). proptest shrinks failures to a
//! minimal schedule.

#![warn(missing_docs)]

use alloy_rpc_types_engine::PayloadStatusEnum;
use keel_core::{RpcError, RpcRequest, SequencerConfig};
use keel_sim::{CallKind, Fault, Sim, SimConfig};
use proptest::prelude::*;

/// One misbehaviour or operator action.
#[derive(Clone, Debug)]
pub enum Action {
    /// The next call of this kind misbehaves.
    Inject(CallKind, Fault),
    /// The engine refuses connections for this long (ms).
    EngineDown(u64),
    /// The last `n` L1 blocks are replaced.
    L1Reorg(u64),
    /// L1 produces no blocks for this long (ms).
    L1Stall(u64),
    /// The conductor's leadership flips.
    Leadership(bool),
    /// An admin call arrives (start uses the current unsafe head).
    Admin(AdminCall),
}

/// Admin calls a schedule may make.
#[derive(Clone, Copy, Debug)]
pub enum AdminCall {
    /// `admin_startSequencer(unsafe head)`.
    Start,
    /// `admin_stopSequencer`.
    Stop,
    /// `admin_setRecoverMode`.
    Recover(bool),
}

/// An action after a delay (ms) from the previous one.
#[derive(Clone, Debug)]
pub struct Step {
    /// Delay before the action.
    pub delay_ms: u64,
    /// The action.
    pub action: Action,
}

/// A complete fuzz case.
#[derive(Clone, Debug)]
pub struct Case {
    /// World seed.
    pub seed: u64,
    /// Whether a conductor gates the node.
    pub conductor: bool,
    /// L1 confirmation depth.
    pub l1_confs: u64,
    /// `--sequencer.max-safe-lag` (0 = off).
    pub max_safe_lag: u64,
    /// The schedule.
    pub steps: Vec<Step>,
}

/// What a case did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Unsafe head after phase 1.
    pub after_faults: u64,
    /// Unsafe head after healing.
    pub after_heal: u64,
}

/// Time the healed world gets to show progress (ms).
pub const HEAL_MS: u64 = 240_000;
/// Blocks the healed world must add.
pub const HEAL_PROGRESS: u64 = 20;

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::Fail(RpcError::Transport("connection refused".into()))),
        Just(Fault::Fail(RpcError::Timeout)),
        Just(Fault::Fail(RpcError::Rpc { code: -38002, message: "Invalid forkchoice state".into() })),
        Just(Fault::Fail(RpcError::Rpc { code: -38003, message: "Invalid payload attributes".into() })),
        Just(Fault::Fail(RpcError::Rpc { code: -32000, message: "internal".into() })),
        Just(Fault::Status(PayloadStatusEnum::Syncing)),
        Just(Fault::Status(PayloadStatusEnum::Invalid { validation_error: "fuzz".into() })),
        Just(Fault::LoseAnswer),
    ]
}

fn kind() -> impl Strategy<Value = CallKind> {
    prop_oneof![
        Just(CallKind::L1),
        Just(CallKind::StartBuild),
        Just(CallKind::GetPayload),
        Just(CallKind::NewPayload),
        Just(CallKind::UpdateHead),
        Just(CallKind::ReadL2),
        Just(CallKind::Leader),
        Just(CallKind::Commit),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (kind(), fault()).prop_map(|(k, f)| Action::Inject(k, f)),
        1 => (1_000u64..60_000).prop_map(Action::EngineDown),
        1 => (1u64..12).prop_map(Action::L1Reorg),
        1 => (1_000u64..400_000).prop_map(Action::L1Stall),
        1 => any::<bool>().prop_map(Action::Leadership),
        1 => prop_oneof![
            Just(AdminCall::Start),
            Just(AdminCall::Stop),
            any::<bool>().prop_map(AdminCall::Recover)
        ]
        .prop_map(Action::Admin),
    ]
}

/// Strategy for whole cases.
pub fn case() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        any::<bool>(),
        0u64..6,
        prop_oneof![Just(0u64), 5u64..50],
        prop::collection::vec((0u64..20_000, action()).prop_map(|(delay_ms, action)| Step { delay_ms, action }), 0..24),
    )
        .prop_map(|(seed, conductor, l1_confs, max_safe_lag, steps)| Case {
            seed,
            conductor,
            l1_confs,
            max_safe_lag,
            steps,
        })
}

fn admin(sim: &mut Sim, call: AdminCall) {
    let req = match call {
        AdminCall::Start => match sim.node().heads().unsafe_head {
            Some(h) => RpcRequest::StartSequencer(h.hash),
            None => return,
        },
        AdminCall::Stop => RpcRequest::StopSequencer,
        AdminCall::Recover(on) => RpcRequest::SetRecoverMode(on),
    };
    sim.rpc(req);
}

/// Plays a case. Safety violations panic inside the simulator (with the seed); a liveness failure is an `Err`.
pub fn run(case: &Case) -> Result<Outcome, String> {
    run_with(case, Vec::new())
}

/// [`run`] on a chain whose nodes build attributes with `attributes` ([`keel_sim::SimConfig::attributes`]: empty for
/// the protocol's builder, one for every node).
pub fn run_with(
    case: &Case,
    attributes: Vec<std::sync::Arc<dyn keel_core::attributes::AttributesBuilder>>,
) -> Result<Outcome, String> {
    let mut sim = Sim::new(SimConfig {
        attributes,
        seed: case.seed,
        sequencer: SequencerConfig {
            conductor_rpc_url: case.conductor.then(|| keel_sim::conductor::URL.to_string()),
            l1_confs: case.l1_confs,
            max_safe_lag: case.max_safe_lag,
            ..Default::default()
        },
        ..Default::default()
    });
    sim.run_for(3_000);
    if case.conductor {
        admin(&mut sim, AdminCall::Start);
    }
    for step in &case.steps {
        sim.run_for(step.delay_ms);
        match &step.action {
            Action::Inject(k, f) => sim.inject(*k, f.clone()),
            Action::EngineDown(ms) => sim.set_engine_down_until(sim.now + ms),
            Action::L1Reorg(depth) => sim.reorg_l1(*depth),
            Action::L1Stall(ms) => sim.l1.stalled_until = sim.now + ms,
            Action::Leadership(l) => sim.leader = if *l { Some(0) } else { None },
            Action::Admin(call) => admin(&mut sim, *call),
        }
    }
    sim.run_for(20_000);
    let after_faults = sim.unsafe_number();

    // Phase 2: heal everything, make sure the node is (re)started, and demand progress.
    sim.faults.clear();
    sim.set_engine_down_until(0);
    sim.l1.stalled_until = 0;
    sim.leader = Some(0);
    sim.rpc(RpcRequest::SetRecoverMode(false));
    sim.run_for(20_000);
    let mut started = sim.node().is_active();
    for _ in 0..5 {
        if started {
            break;
        }
        admin(&mut sim, AdminCall::Start);
        sim.run_for(5_000);
        started = sim.node().is_active();
    }
    if !started {
        let last = sim.replies.last().map(|(_, _, r)| format!("{r:?}")).unwrap_or_default();
        return Err(format!("seed {}: could not restart the sequencer after healing; last reply {last}", case.seed));
    }
    let from = sim.unsafe_number();
    // With max-safe-lag the healed chain needs the safe head to follow: the batcher posts, the node derives.
    let target = from + HEAL_PROGRESS;
    let deadline = sim.now + HEAL_MS;
    while sim.now < deadline && sim.unsafe_number() < target {
        sim.run_for(2_000);
    }
    let after_heal = sim.unsafe_number();
    if after_heal < target {
        return Err(format!(
            "seed {}: liveness: healed world advanced from {from} only to {after_heal} in {HEAL_MS} ms (stage {}, halted {:?})",
            case.seed,
            sim.node().build_stage(),
            sim.node().halted()
        ));
    }
    Ok(Outcome { after_faults, after_heal })
}
