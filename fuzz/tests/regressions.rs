//! Shrunk failures found by the fault-schedule property test, replayed on every run.

use alloy_rpc_types_engine::PayloadStatusEnum;
use keel_core::RpcError;
use keel_fuzz::{run, Action, Case, Step};
use keel_sim::{CallKind, Fault};

fn case(l1_confs: u64, steps: Vec<(u64, Action)>) -> Case {
    Case {
        seed: 0,
        conductor: true,
        l1_confs,
        max_safe_lag: 0,
        steps: steps.into_iter().map(|(delay_ms, action)| Step { delay_ms, action }).collect(),
    }
}

fn invalid() -> Fault {
    Fault::Status(PayloadStatusEnum::Invalid { validation_error: "fuzz".into() })
}

fn refused() -> Fault {
    Fault::Fail(RpcError::Transport("connection refused".into()))
}

/// A committed block whose head update the engine rejected was rebuilt as a different block at the same height:
/// two blocks at one height in the conductor. A reset must re-insert the committed block.
#[test]
fn committed_block_is_reinserted_after_a_reset_not_rebuilt() {
    let c = case(
        3,
        vec![(0, Action::Inject(CallKind::Commit, refused())), (0, Action::Inject(CallKind::UpdateHead, invalid()))],
    );
    run(&c).unwrap();
}

/// Same, with a second reset while re-inserting: the committed block must survive both resets.
#[test]
fn committed_block_survives_consecutive_resets() {
    let c = case(
        0,
        vec![
            (468, Action::Inject(CallKind::UpdateHead, invalid())),
            (
                0,
                Action::Inject(
                    CallKind::NewPayload,
                    Fault::Fail(RpcError::Rpc { code: -38002, message: "Invalid forkchoice state".into() }),
                ),
            ),
        ],
    );
    run(&c).unwrap();
}

/// A committed block the engine refuses once is inserted again (the engine may hold it from an earlier insert).
#[test]
fn a_committed_block_refused_once_is_inserted_again() {
    let c = case(0, vec![(0, Action::Inject(CallKind::NewPayload, invalid()))]);
    let out = run(&c).unwrap();
    assert!(out.after_heal > out.after_faults);
}

/// An INVALID committed block may be replaced once the engine refuses it twice (it never accepted it); the chain
/// continues.
#[test]
fn invalid_committed_block_is_replaced() {
    let c = case(
        0,
        vec![
            (0, Action::Inject(CallKind::NewPayload, invalid())),
            (0, Action::Inject(CallKind::NewPayload, invalid())),
        ],
    );
    let out = run(&c).unwrap();
    assert!(out.after_heal > out.after_faults);
}

/// After an L1 reorg and a reset, the batcher posts a span batch overlapping the safe head whose parent (genesis)
/// derivation never saw: the span must be checked by reading that parent from the engine, not dropped (which left
/// max-safe-lag stalled until the sequence window ran out).
#[test]
fn a_span_batch_whose_parent_is_unknown_to_derivation_is_checked_not_dropped() {
    let c = Case {
        seed: 4271524647749798568,
        conductor: false,
        l1_confs: 1,
        max_safe_lag: 12,
        steps: vec![
            Step { delay_ms: 0, action: Action::Inject(CallKind::L1, refused()) },
            Step { delay_ms: 2010, action: Action::Inject(CallKind::ReadL2, refused()) },
            Step { delay_ms: 9776, action: Action::L1Stall(1000) },
            Step { delay_ms: 687, action: Action::L1Reorg(3) },
        ],
    };
    run(&c).unwrap();
}

/// Found by the fault-schedule property in CI (2026-12-04): a lost newPayload answer, the engine down for a second
/// and an INVALID newPayload, then an admin start: committed block 1 was replaced by another block at height 1.
#[test]
fn committed_block_survives_a_lost_insert_answer_an_engine_outage_and_an_invalid_insert() {
    let l1_down = || Action::Inject(CallKind::L1, refused());
    let c = Case {
        seed: 189288346767200348,
        ..case(
            0,
            vec![
                (0, l1_down()),
                (0, l1_down()),
                (0, Action::Inject(CallKind::NewPayload, Fault::LoseAnswer)),
                (0, Action::EngineDown(1_000)),
                (79, Action::Inject(CallKind::NewPayload, invalid())),
                (17_759, Action::Admin(keel_fuzz::AdminCall::Start)),
                (13_520, l1_down()),
            ],
        )
    };
    run(&c).unwrap();
}

/// Found by the fault-schedule property in CI (2026-12-04): an engine outage, a failed L2 read, failed getPayloads
/// and a 4-block L1 reorg: a block the sequencer published was not the block derivation produced at its height.
#[test]
fn published_blocks_stay_derivable_through_failed_seals_and_an_l1_reorg() {
    let c = Case {
        seed: 3791827146800631711,
        conductor: false,
        l1_confs: 0,
        max_safe_lag: 0,
        steps: vec![
            Step { delay_ms: 8472, action: Action::EngineDown(19_130) },
            Step { delay_ms: 10_795, action: Action::Inject(CallKind::ReadL2, refused()) },
            Step { delay_ms: 6471, action: Action::Inject(CallKind::GetPayload, refused()) },
            Step { delay_ms: 1736, action: Action::L1Reorg(4) },
            Step { delay_ms: 0, action: Action::Inject(CallKind::GetPayload, refused()) },
        ],
    };
    run(&c).unwrap();
}

/// Found by the fault-schedule property in CI (2026-12-04): two engine outages around an L1 reorg, failed L1 reads,
/// an INVALID build start and a failed leader check tripped the core's "deadline passed with nothing outstanding"
/// invariant.
#[test]
fn no_idle_deadline_after_outages_an_invalid_build_and_a_failed_leader_check() {
    let c = Case {
        seed: 726767984750705276,
        conductor: false,
        l1_confs: 0,
        max_safe_lag: 0,
        steps: vec![
            Step { delay_ms: 12_569, action: Action::EngineDown(10_939) },
            Step { delay_ms: 7978, action: Action::L1Reorg(3) },
            Step { delay_ms: 0, action: Action::Inject(CallKind::L1, refused()) },
            Step { delay_ms: 0, action: Action::EngineDown(9967) },
            Step { delay_ms: 0, action: Action::Inject(CallKind::L1, refused()) },
            Step { delay_ms: 0, action: Action::Inject(CallKind::StartBuild, invalid()) },
            Step { delay_ms: 0, action: Action::Inject(CallKind::Leader, refused()) },
        ],
    };
    run(&c).unwrap();
}

/// Found while fixing the two above: with max-safe-lag paused and derivation restarted on an L1 reorg under its
/// window, nothing re-checked the unsafe chain's origins; the batcher's span (built on orphaned origins) was dropped
/// and the chain stopped for good. A reorg under the window resets the engine state, as traversal's own check does.
#[test]
fn a_reorg_under_the_derivation_window_rechecks_a_paused_sequencers_origins() {
    let c = Case {
        seed: 18405210204471227806,
        conductor: false,
        l1_confs: 2,
        max_safe_lag: 5,
        steps: vec![
            Step { delay_ms: 2020, action: Action::Inject(CallKind::L1, refused()) },
            Step { delay_ms: 18_480, action: Action::L1Reorg(4) },
            Step { delay_ms: 2320, action: Action::L1Reorg(4) },
        ],
    };
    run(&c).unwrap();
}

/// Found by a 1,500-case hunt (2026-12-06): a committed block whose insert timed out (the engine took it, the answer
/// was lost), then refused twice, was replaced although the engine held it. After a timed-out insert the block is
/// only ever inserted again.
#[test]
fn a_committed_block_whose_insert_timed_out_is_never_replaced() {
    let c = Case {
        seed: 0,
        ..case(
            0,
            vec![
                (0, Action::EngineDown(15_090)),
                (0, Action::Inject(CallKind::NewPayload, Fault::LoseAnswer)),
                (0, Action::Inject(CallKind::GetPayload, refused())),
                (0, Action::Inject(CallKind::NewPayload, invalid())),
                (1500, Action::Inject(CallKind::NewPayload, invalid())),
                (18_631, Action::L1Reorg(1)),
            ],
        )
    };
    let builder: std::sync::Arc<dyn keel_core::attributes::AttributesBuilder> =
        std::sync::Arc::new(keel_sim::custom::TagDeposit);
    keel_fuzz::run_with(&c, vec![builder]).unwrap();
}

/// Found by a 1,500-case hunt (2026-12-06): after two L1 reorgs an old span batch (built on orphaned origins) was
/// re-included in the same L1 block as the batcher's re-post; the span was undecided and held while the origin moved
/// on, which threw away the re-post, and max-safe-lag stalled for good.
#[test]
fn an_undecided_span_does_not_cost_the_rest_of_its_l1_block() {
    let c = Case {
        seed: 8124016061836687616,
        conductor: false,
        l1_confs: 0,
        max_safe_lag: 5,
        steps: vec![
            Step { delay_ms: 6541, action: Action::Inject(CallKind::StartBuild, refused()) },
            Step { delay_ms: 6105, action: Action::EngineDown(16_108) },
            Step { delay_ms: 16_059, action: Action::L1Reorg(4) },
            Step { delay_ms: 3795, action: Action::Inject(CallKind::L1, refused()) },
            Step { delay_ms: 0, action: Action::L1Reorg(5) },
        ],
    };
    run(&c).unwrap();
}
