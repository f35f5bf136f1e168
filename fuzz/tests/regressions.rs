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

/// A committed block whose head update the engine rejected was rebuilt as a different block at the same height:
/// two blocks at one height in the conductor. A reset must re-insert the committed block.
#[test]
fn committed_block_is_reinserted_after_a_reset_not_rebuilt() {
    let c = case(
        3,
        vec![
            (0, Action::Inject(CallKind::Commit, Fault::Fail(RpcError::Transport("connection refused".into())))),
            (0, Action::Inject(CallKind::UpdateHead, invalid())),
        ],
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
    let refused = || Fault::Fail(RpcError::Transport("connection refused".into()));
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
    let l1_down = || Action::Inject(CallKind::L1, Fault::Fail(RpcError::Transport("connection refused".into())));
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
