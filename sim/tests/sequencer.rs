//! The sequencer (keel-core) driven through the deterministic world: L1 chain, engine and conductor models with
//! injected faults. Every step checks `Node::check_invariants`; the world panics if a block is published before the
//! conductor committed it.

use alloy_rpc_types_engine::PayloadStatusEnum;
use keel_core::{L2BlockRef, RpcError, RpcFailure, RpcReply, RpcRequest, SequencerConfig, B256};
use keel_sim::{CallKind, Fault, Sim, SimConfig};

fn sim(seed: u64) -> Sim {
    Sim::new(SimConfig { seed, ..Default::default() })
}

fn sim_with(seed: u64, f: impl FnOnce(&mut SimConfig)) -> Sim {
    let mut cfg = SimConfig { seed, ..Default::default() };
    f(&mut cfg);
    Sim::new(cfg)
}

fn rpc_err(msg: &str) -> Result<RpcReply, RpcFailure> {
    Err(RpcFailure::server(msg))
}

fn call_and_settle(s: &mut Sim, req: RpcRequest) -> Result<RpcReply, RpcFailure> {
    let id = s.rpc(req);
    for _ in 0..1_000 {
        if let Some(r) = s.reply(id) {
            return r.clone();
        }
        let until = s.now + 100;
        s.step(until);
    }
    panic!("no reply to {id:?}");
}

fn head(s: &Sim) -> L2BlockRef {
    s.node().heads().unsafe_head.expect("unsafe head known")
}

/// Transactions in the engine's copy of block `number`.
fn txs_in(s: &Sim, number: u64) -> usize {
    let b = s.engine().by_number(number).unwrap();
    s.engine().block(&b.hash).unwrap().envelope.as_ref().unwrap().execution_payload.transactions().len()
}

/// Times of calls of `kind`, in order.
fn times(s: &Sim, kind: CallKind) -> Vec<u64> {
    s.call_times.iter().filter(|(_, k)| *k == kind).map(|(t, _)| *t).collect()
}

// ----- the 1,000-block run ---------------------------------------------------------------------------------------

#[test]
fn thousand_blocks_with_invariants_checked_every_step() {
    let mut s = sim(42);
    assert!(s.run_to_block(1_000, 2_100_000), "reached only block {}", s.unsafe_number());
    let st = s.node().stats().clone();
    assert_eq!(st.blocks_sequenced, 1_000);
    assert_eq!(s.published.len(), 1_000, "every sequenced block is published once");
    assert!(s.checks > 3_000, "invariants checked after every step ({} checks)", s.checks);
    assert_eq!((st.resets, st.builds_dropped, st.retries), (0, 0, 0));
    let h = head(&s);
    assert_eq!(s.engine().heads().unsafe_head, h, "the engine's head is the node's head");
    assert_eq!(h.time_ms, s.engine().by_number(0).unwrap().time_ms + 2_000_000, "1000 blocks of exactly 2 s");
    assert!(h.l1_origin.number > 150, "epochs advanced with L1 (origin {})", h.l1_origin.number);
    // Exactly one build per block, no duplicate FCU-with-attributes; block 1,001's build starts as soon as block
    // 1,000 is the head, so it may be under way already.
    let in_flight = u64::from(s.node().build_stage() != "idle");
    assert_eq!(s.call_count(CallKind::StartBuild), 1_000 + in_flight);
}

#[test]
fn same_seed_same_trace_different_seed_different_trace() {
    let run = |seed| {
        let mut s = sim(seed);
        s.run_to_block(200, 500_000);
        s.trace_hash()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

// ----- timing ----------------------------------------------------------------------------------------------------

#[test]
fn builds_start_once_the_parent_is_in_and_seal_one_margin_before_the_slot() {
    let mut s = sim(3);
    s.run_to_block(50, 200_000);
    let genesis_ms = s.engine().by_number(0).unwrap().time_ms;
    let starts = times(&s, CallKind::StartBuild);
    let seals = times(&s, CallKind::GetPayload);
    // Block n (n >= 2) has timestamp genesis + 2n s and is sealed at its timestamp minus 50 ms; its build starts
    // as soon as its parent, sealed at genesis + 2(n-1) s - 50 ms, has been inserted and made the head (the engine's
    // latency later), so the engine builds for the block time less those two round trips.
    for n in 2..45u64 {
        let ts = genesis_ms + 2_000 * n;
        let start = starts[(n - 1) as usize];
        let parent_seal = ts - 2_000 - 50;
        assert!(start > parent_seal && start < parent_seal + 100, "block {n}: build started at {start}, slot {ts}");
        assert_eq!(seals[(n - 1) as usize], ts - 50, "block {n} sealed at slot - 50 ms");
    }
}

#[test]
fn an_adaptive_seal_margin_follows_the_engines_getpayload_round_trips() {
    for (latency, most) in [((1, 5), 15), ((1, 20), 45)] {
        let mut s = sim_with(3, |c| {
            c.sequencer.adaptive_seal_margin = true;
            c.engine_latency_ms = latency;
        });
        s.run_to_block(60, 300_000);
        let genesis_ms = s.engine().by_number(0).unwrap().time_ms;
        let seals = times(&s, CallKind::GetPayload);
        // Once round trips have been seen, block n is sealed at its timestamp minus twice the slowest recent
        // getPayload plus 5 ms: above the engine's worst case, so no payload comes back after its slot.
        for n in 40..58u64 {
            let margin = genesis_ms + 2_000 * n - seals[(n - 1) as usize];
            assert!(
                (10..=most).contains(&margin) && margin > latency.1,
                "block {n} sealed {margin} ms early with engine latency {latency:?}"
            );
        }
        assert!((10..=most).contains(&s.node().seal_margin_ms()));
    }
}

#[test]
fn seal_margin_is_configurable() {
    let mut s = sim_with(3, |c| c.sequencer.seal_margin_ms = 300);
    s.run_to_block(10, 100_000);
    let genesis_ms = s.engine().by_number(0).unwrap().time_ms;
    assert_eq!(times(&s, CallKind::GetPayload)[5], genesis_ms + 2_000 * 6 - 300);
}

#[test]
fn sub_second_block_times() {
    let mut s = sim_with(5, |c| {
        c.block_time_ms = 200;
        c.engine_latency_ms = (1, 5);
        // Batches carry whole-second timestamps: a 200 ms chain is sequenced here, not derived.
        c.derivation = false;
    });
    let t0 = s.now;
    assert!(s.run_to_block(500, 200_000));
    let h = head(&s);
    assert_eq!(h.time_ms, s.engine().by_number(0).unwrap().time_ms + 500 * 200);
    // 500 blocks of 200 ms take about 100 s of wall time, not 500 s.
    assert!(s.now - t0 < 101_000, "took {} ms", s.now - t0);
}

#[test]
fn behind_wall_time_builds_back_to_back_then_settles_into_slots() {
    // Start 10 minutes after genesis: 300 blocks behind.
    let mut s = sim_with(9, |c| c.start_offset_ms = 600_000);
    let t0 = s.now;
    assert!(s.run_to_block(300, 60_000), "caught up only to {}", s.unsafe_number());
    assert!(s.now - t0 < 60_000, "catching up 300 blocks took {} ms", s.now - t0);
    while head(&s).time_ms + 2_000 < s.now {
        let until = s.now + 100;
        s.step(until);
    }
    assert!(s.now - t0 < 90_000, "caught up with wall time after {} ms", s.now - t0);
    // Once caught up it waits for slots again: 10 more blocks take ~20 s.
    let t1 = s.now;
    s.run_to_block(s.unsafe_number() + 10, 60_000);
    assert!(s.now - t1 >= 16_000, "after catching up blocks follow wall time ({} ms for 10)", s.now - t1);
}

// ----- L1 origin selection -----------------------------------------------------------------------------------------

#[test]
fn origins_respect_confirmation_depth_and_are_adopted_promptly() {
    for confs in [0u64, 4, 10] {
        let mut s = sim_with(11, |c| c.sequencer.l1_confs = confs);
        let mut worst_lag = 0;
        for _ in 0..20_000 {
            let until = s.now + 1_000;
            s.step(until);
            let Some(origin) = s.node().heads().unsafe_head.map(|h| h.l1_origin.number) else { continue };
            let l1_head = s.l1.head().number();
            assert!(origin == 0 || origin + confs <= l1_head, "confs {confs}: origin {origin}, L1 head {l1_head}");
            if s.unsafe_number() > 30 {
                worst_lag = worst_lag.max(l1_head - origin);
            }
            if s.unsafe_number() >= 300 {
                break;
            }
        }
        // The sequencer adopts the next origin as soon as it is confirmed and due: never more than confs + 2 behind.
        assert!(worst_lag <= confs + 2, "confs {confs}: origin lagged L1 head by {worst_lag}");
    }
}

fn stall_l1_until_halt(fjord: bool) -> (Sim, u64) {
    let mut s = sim_with(13, |c| {
        c.fjord = fjord;
        c.sequencer.l1_confs = 0;
    });
    s.run_to_block(20, 100_000);
    s.l1.stalled_until = u64::MAX / 2;
    let origin_time = s.l1.head().info.timestamp;
    s.run_for(2_500_000);
    (s, origin_time)
}

#[test]
fn l1_stall_halts_exactly_at_the_drift_pre_fjord_600s_post_fjord_1800s() {
    for (fjord, drift) in [(false, 600u64), (true, 1_800)] {
        let (s, origin_time) = stall_l1_until_halt(fjord);
        let h = head(&s);
        let origin = s.l1.by_number(h.l1_origin.number).unwrap().info.timestamp;
        assert_eq!(origin, origin_time, "still on the last L1 block");
        // The last block is the last one within the drift; the next would exceed it.
        assert_eq!(
            h.timestamp_s(),
            origin + drift,
            "fjord={fjord}: head at {} s, origin at {origin} s",
            h.timestamp_s()
        );
        assert!(s.node().stats().retries > 0, "the sequencer keeps retrying, with backoff");
        let late = s.calls_between(CallKind::L1, s.now - 100_000, s.now);
        assert!(late < 60, "no hot loop on L1 while waiting: {late} L1 calls in 100 s");
    }
}

#[test]
fn late_l1_block_past_drift_gives_empty_blocks_on_the_old_origin_then_adopts_it() {
    let (mut s, origin_time) = stall_l1_until_halt(false);
    let stuck = head(&s);
    // L1 resumes; its next block carries the timestamp of the slot it was produced in, far past the L2 head.
    s.l1.stalled_until = s.now;
    s.run_for(200_000);
    let h = head(&s);
    assert!(h.number > stuck.number + 50, "building resumed");
    // Blocks between the drift limit and the late L1 block's time keep the old origin and carry only the deposit.
    let late_l1 = s.l1.by_number(stuck.l1_origin.number + 1).unwrap().info.timestamp;
    let mut empty = 0;
    for n in stuck.number + 1..=h.number {
        let b = s.engine().by_number(n).unwrap();
        if b.timestamp_s() < late_l1 {
            assert_eq!(b.l1_origin.number, stuck.l1_origin.number, "block {n} keeps the old origin");
            assert_eq!(txs_in(&s, n), 1, "block {n} past the drift has no pool transactions");
            assert!(b.timestamp_s() > origin_time + 600);
            empty += 1;
        } else if b.l1_origin.number == stuck.l1_origin.number + 1 {
            assert_eq!(b.seq_num, 0, "block {n} adopts the late origin at its time");
            break;
        }
    }
    assert!(empty > 10, "{empty} empty blocks");
}

#[test]
fn shallow_l1_reorg_below_confirmation_depth_changes_nothing() {
    // Without derivation, the sequencer alone looks at L1 and only at confirmed blocks: no reset at all.
    let mut s = sim_with(17, |c| c.derivation = false);
    s.run_to_block(100, 300_000);
    s.reorg_l1(3);
    s.run_to_block(200, 300_000);
    assert_eq!(s.node().stats().resets, 0);
}

#[test]
fn shallow_l1_reorg_resets_derivation_but_keeps_every_unsafe_block() {
    // Derivation follows the L1 tip, so a 3-block reorg restarts the pipeline (as op-node's does); the unsafe
    // blocks all have origins below the confirmation depth and none is replaced.
    let mut s = sim(17);
    s.run_to_block(100, 300_000);
    let before: Vec<_> = (1..=100).map(|n| s.engine().by_number(n).unwrap().hash).collect();
    s.reorg_l1(3);
    assert!(s.run_to_block(200, 300_000));
    let after: Vec<_> = (1..=100).map(|n| s.engine().by_number(n).unwrap().hash).collect();
    assert_eq!(before, after, "no unsafe block was replaced");
    assert!(s.node().stats().resets <= 1);
    assert!(s.node().halted().is_none());
}

fn assert_origins_canonical(s: &Sim) {
    let h = head(s);
    for n in 1..=h.number {
        let b = s.engine().by_number(n).unwrap();
        let canonical = s.l1.by_number(b.l1_origin.number).map(|l| l.hash());
        assert_eq!(canonical, Some(b.l1_origin.hash), "block {n} has a non-canonical origin");
    }
}

#[test]
fn deep_l1_reorg_orphaning_the_origin_resets_and_rebuilds_on_canonical_l1() {
    let mut s = sim(19);
    s.run_to_block(200, 600_000);
    let before = head(&s);
    // Replace the last 8 L1 blocks: the sequencer's origin (4 deep) is among them.
    s.reorg_l1(8);
    s.run_for(120_000);
    let after = head(&s);
    assert!(s.node().stats().resets >= 1, "an orphaned origin forces a reset");
    assert!(after.number > before.number, "building resumed after the reset");
    assert_origins_canonical(&s);
}

#[test]
fn l1_reorg_detected_through_the_next_origin_parent_hash() {
    // With confs = 0 the origin is the L1 head itself; replacing just the head orphans it. The new head extends a
    // different parent at the same height, so the node learns of it from the next block's parent hash or the head.
    let mut s = sim_with(23, |c| c.sequencer.l1_confs = 0);
    s.run_to_block(100, 300_000);
    s.reorg_l1(1);
    s.run_for(60_000);
    assert!(s.node().stats().resets >= 1);
    assert_origins_canonical(&s);
}

#[test]
fn l1_reorg_seen_only_in_the_head_rechecks_the_origin() {
    // L1 reorgs its head and then stalls: no next block will ever reveal the orphaned origin through its parent
    // hash, so only the re-check triggered by the reorged head can.
    let mut s = sim_with(23, |c| c.sequencer.l1_confs = 0);
    s.run_to_block(100, 300_000);
    s.l1.stalled_until = u64::MAX / 2;
    s.reorg_l1(1);
    s.run_for(30_000);
    assert!(s.node().stats().resets >= 1, "orphaned origin not detected");
    let h = head(&s);
    assert_eq!(s.l1.by_number(h.l1_origin.number).map(|l| l.hash()), Some(h.l1_origin.hash));
}

#[test]
fn recovery_mode_builds_empty_blocks_back_to_back_and_exits_when_caught_up() {
    // An hour behind wall time.
    let mut s = sim_with(29, |c| {
        c.sequencer.sequencer_recovery_mode = true;
        c.start_offset_ms = 3_600_000;
    });
    assert!(s.node().recover_mode());
    assert!(s.run_to_block(1_800, 400_000), "caught up to {}", s.unsafe_number());
    for n in 1..1_700 {
        let b = s.engine().by_number(n).unwrap();
        let env = s.engine().block(&b.hash).unwrap().envelope.clone().unwrap();
        let txs = env.execution_payload.transactions();
        assert!(txs.iter().all(|tx| tx.first() == Some(&0x7e)), "block {n} in recovery mode carries only deposits");
        if b.seq_num > 0 {
            assert_eq!(txs.len(), 1, "block {n} (not an epoch start) carries only the L1 info deposit");
        }
    }
    s.run_for(60_000);
    assert!(!s.node().recover_mode(), "recovery mode ends once the chain reaches wall time");
    let h = head(&s).number;
    let with_txs = (h - 20..=h).filter(|n| txs_in(&s, *n) > 1).count();
    assert!(with_txs > 0, "after recovery blocks take pool transactions again");
    // Recovery adopts each L1 block as soon as its time is reached (as derivation would for empty batches), within
    // the confirmation depth.
    assert_origins_canonical(&s);
}

#[test]
fn recover_mode_can_be_toggled_over_admin_rpc() {
    let mut s = sim(31);
    s.run_to_block(5, 60_000);
    assert_eq!(call_and_settle(&mut s, RpcRequest::SetRecoverMode(true)), Ok(RpcReply::Null));
    assert!(s.node().recover_mode());
    assert_eq!(call_and_settle(&mut s, RpcRequest::SetRecoverMode(false)), Ok(RpcReply::Null));
    assert!(!s.node().recover_mode());
}

// ----- engine error classes ----------------------------------------------------------------------------------------

#[test]
fn engine_reset_class_rereads_heads_and_continues() {
    for code in [-38002i64, -38005] {
        // Another node derives: the exact engine reads of a reset are counted without derivation's own.
        let mut s = sim_with(37, |c| c.derivation = false);
        s.run_to_block(10, 60_000);
        s.inject(CallKind::StartBuild, Fault::Fail(RpcError::Rpc { code, message: "nope".into() }));
        let heads_reads = s.call_count(CallKind::ReadL2);
        assert!(s.run_to_block(30, 120_000));
        assert_eq!(s.node().stats().resets, 1, "code {code}");
        assert_eq!(
            s.call_count(CallKind::ReadL2),
            heads_reads + 2,
            "a reset re-reads the engine heads and the target's header"
        );
        assert!(s.node().halted().is_none());
    }
}

#[test]
fn build_waits_one_block_time_after_a_reset() {
    let mut s = sim(37);
    s.run_to_block(10, 60_000);
    s.inject(CallKind::StartBuild, Fault::Fail(RpcError::Rpc { code: -38002, message: "nope".into() }));
    let reads_before = s.call_count(CallKind::ReadL2) as usize;
    assert!(s.run_to_block(15, 60_000));
    let reset_at = times(&s, CallKind::ReadL2)[reads_before];
    let next = times(&s, CallKind::StartBuild).into_iter().find(|t| *t > reset_at).unwrap();
    assert!(next - reset_at >= 2_000, "rebuilt {} ms after the reset", next - reset_at);
}

#[test]
fn fork_activation_block_takes_no_pool_transactions() {
    let mut s = sim_with(5, |c| c.isthmus_offset_s = Some(100));
    assert!(s.run_to_block(80, 400_000));
    let genesis = s.engine().by_number(0).unwrap().timestamp_s();
    let n = (1..=80).find(|n| s.engine().by_number(*n).unwrap().timestamp_s() == genesis + 100).unwrap();
    let b = s.engine().by_number(n).unwrap();
    let env = s.engine().block(&b.hash).unwrap().envelope.clone().unwrap();
    let txs = env.execution_payload.transactions();
    assert!(txs.len() > 1, "the activation block carries the upgrade transactions");
    assert!(
        txs.iter().all(|tx| tx.first() == Some(&0x7e)),
        "Isthmus activation block carries only deposits (no pool txs)"
    );
    let neighbours_with_txs = (n - 5..n).chain(n + 1..n + 6).filter(|m| txs_in(&s, *m) > 1).count();
    assert!(neighbours_with_txs > 0, "neighbouring blocks take pool transactions");
}

#[test]
fn engine_temporary_class_retries_after_a_second_and_backs_off() {
    let mut s = sim(41);
    s.run_to_block(10, 60_000);
    for _ in 0..3 {
        s.inject(CallKind::StartBuild, Fault::Fail(RpcError::Transport("connection reset".into())));
    }
    let n0 = s.call_count(CallKind::StartBuild) as usize;
    assert!(s.run_to_block(20, 120_000));
    let t = times(&s, CallKind::StartBuild);
    let gaps: Vec<u64> = (n0..n0 + 3).map(|i| t[i + 1] - t[i]).collect();
    // Failures at attempts 0, 1, 2: retry after ~1 s, ~2 s, ~4 s (plus answer latency).
    assert!(gaps[0] >= 1_000 && gaps[0] < 1_100, "{gaps:?}");
    assert!(gaps[1] >= 2_000 && gaps[1] < 2_100, "{gaps:?}");
    assert!(gaps[2] >= 4_000 && gaps[2] < 4_100, "{gaps:?}");
    assert_eq!(s.node().stats().retries, 3);
}

#[test]
fn engine_syncing_retries_after_thirty_seconds() {
    let mut s = sim(43);
    s.run_to_block(10, 60_000);
    s.inject(CallKind::StartBuild, Fault::Status(PayloadStatusEnum::Syncing));
    let n0 = s.call_count(CallKind::StartBuild) as usize;
    s.run_to_block(15, 120_000);
    let t = times(&s, CallKind::StartBuild);
    assert!(t[n0 + 1] - t[n0] >= 30_000, "retried after {} ms", t[n0 + 1] - t[n0]);
}

#[test]
fn invalid_payload_attributes_stop_sequencing_loudly_but_rpc_stays_up() {
    let mut s = sim(47);
    s.run_to_block(10, 60_000);
    s.inject(CallKind::StartBuild, Fault::Fail(RpcError::Rpc { code: -38003, message: "bad attrs".into() }));
    s.run_for(60_000);
    let halted = s.node().halted().expect("critical error halts sequencing").to_string();
    assert!(halted.contains("-38003") && halted.contains("bad attrs"), "{halted}");
    let stuck = s.unsafe_number();
    let builds = s.call_count(CallKind::StartBuild);
    s.run_for(60_000);
    assert_eq!((s.unsafe_number(), s.call_count(CallKind::StartBuild)), (stuck, builds), "no more building");
    assert_eq!(call_and_settle(&mut s, RpcRequest::SequencerActive), Ok(RpcReply::Bool(false)));
    assert!(matches!(call_and_settle(&mut s, RpcRequest::SyncStatus), Ok(RpcReply::SyncStatus(_))));
    // The operator fixes the engine and restarts sequencing at the head.
    let h = head(&s).hash;
    assert_eq!(call_and_settle(&mut s, RpcRequest::StartSequencer(h)), Ok(RpcReply::Null));
    assert!(s.run_to_block(stuck + 5, 60_000));
    assert!(s.node().halted().is_none());
}

#[test]
fn invalid_status_on_build_start_is_critical() {
    let mut s = sim(53);
    s.run_to_block(3, 60_000);
    s.inject(CallKind::StartBuild, Fault::Status(PayloadStatusEnum::Invalid { validation_error: "x".into() }));
    s.run_for(20_000);
    assert!(s.node().halted().is_some());
    assert!(!s.node().is_active());
}

#[test]
fn invalid_sequenced_payload_is_dropped_and_rebuilt_one_block_time_later() {
    let mut s = sim(59);
    s.run_to_block(10, 60_000);
    s.inject(CallKind::NewPayload, Fault::Status(PayloadStatusEnum::Invalid { validation_error: "bad block".into() }));
    let n0 = s.call_count(CallKind::NewPayload) as usize;
    assert!(s.run_to_block(20, 120_000));
    assert_eq!(s.node().stats().builds_dropped, 1);
    let invalid_at = times(&s, CallKind::NewPayload)[n0];
    let next_start = times(&s, CallKind::StartBuild).into_iter().find(|t| *t > invalid_at).unwrap();
    assert!(next_start - invalid_at >= 2_000, "rebuild waited {} ms", next_start - invalid_at);
    // No block is skipped or repeated: the chain is contiguous (also checked by the invariants).
    let h = head(&s);
    for n in 1..=h.number {
        assert_eq!(s.engine().by_number(n).unwrap().number, n);
    }
    assert!(!s.published.iter().any(|h| s.engine().block(h).is_none()), "the invalid block was never published");
}

#[test]
fn get_payload_failure_drops_the_build() {
    let mut s = sim(61);
    s.run_to_block(10, 60_000);
    s.inject(CallKind::GetPayload, Fault::Fail(RpcError::Rpc { code: -38001, message: "Unknown payload".into() }));
    assert!(s.run_to_block(20, 120_000));
    assert_eq!(s.node().stats().builds_dropped, 1);
    assert_eq!(s.node().stats().resets, 0);
}

#[test]
fn invalid_forkchoice_state_during_seal_is_a_reset() {
    let mut s = sim(67);
    s.run_to_block(10, 60_000);
    s.inject(
        CallKind::NewPayload,
        Fault::Fail(RpcError::Rpc { code: -38002, message: "Invalid forkchoice state".into() }),
    );
    assert!(s.run_to_block(20, 120_000));
    assert_eq!(s.node().stats().resets, 1);
}

#[test]
fn insert_and_head_update_failures_retry_the_same_block() {
    let mut s = sim(71);
    s.run_to_block(10, 60_000);
    s.inject(CallKind::NewPayload, Fault::Fail(RpcError::Timeout));
    s.inject(CallKind::UpdateHead, Fault::Fail(RpcError::Transport("eof".into())));
    let t10 = s.now;
    assert!(s.run_to_block(11, 60_000));
    assert_eq!(s.calls_between(CallKind::StartBuild, t10, s.now), 1, "the sealed block was kept, not rebuilt");
    assert_eq!(s.node().stats().retries, 2);
}

#[test]
fn dead_engine_gets_backoff_not_a_hot_loop() {
    let mut s = sim(73);
    s.run_to_block(10, 60_000);
    let t0 = s.now;
    s.set_engine_down_until(t0 + 120_000);
    s.run_for(120_000);
    let engine_calls: usize = [CallKind::StartBuild, CallKind::GetPayload, CallKind::NewPayload, CallKind::UpdateHead]
        .into_iter()
        .map(|k| s.calls_between(k, t0, t0 + 120_000))
        .sum();
    // Backoff 1, 2, 4, 8, 10, 10, ... s: about 16 attempts in two minutes.
    assert!(engine_calls <= 20, "{engine_calls} engine calls in 120 s against a dead engine");
    assert!(s.run_to_block(s.unsafe_number() + 5, 60_000), "recovers once the engine is back");
}

// ----- admin control ---------------------------------------------------------------------------------------------

fn stopped_sim(seed: u64) -> Sim {
    let mut s = sim_with(seed, |c| c.sequencer.sequencer_stopped = true);
    s.run_for(10_000);
    s
}

#[test]
fn start_stop_error_strings_and_order() {
    let mut s = stopped_sim(79);
    assert_eq!(s.unsafe_number(), 0, "a stopped sequencer builds nothing");
    assert_eq!(call_and_settle(&mut s, RpcRequest::SequencerActive), Ok(RpcReply::Bool(false)));
    assert_eq!(call_and_settle(&mut s, RpcRequest::StopSequencer), rpc_err("sequencer not running"));
    let h = head(&s);
    let wrong = B256::repeat_byte(0x77);
    assert_eq!(
        call_and_settle(&mut s, RpcRequest::StartSequencer(wrong)),
        rpc_err(&format!("block hash does not match: head {:#x}:{}, received {wrong:#x}", h.hash, h.number))
    );
    assert_eq!(call_and_settle(&mut s, RpcRequest::StartSequencer(h.hash)), Ok(RpcReply::Null));
    assert_eq!(call_and_settle(&mut s, RpcRequest::SequencerActive), Ok(RpcReply::Bool(true)));
    assert_eq!(call_and_settle(&mut s, RpcRequest::StartSequencer(h.hash)), rpc_err("sequencer already running"));
    assert_eq!(call_and_settle(&mut s, RpcRequest::StartSequencer(wrong)), rpc_err("sequencer already running"));
    assert!(s.run_to_block(10, 60_000));
    let stopped = call_and_settle(&mut s, RpcRequest::StopSequencer);
    let h = head(&s);
    assert_eq!(stopped, Ok(RpcReply::Hash(h.hash)), "stop returns the unsafe head");
    s.run_for(30_000);
    assert_eq!(head(&s), h, "no blocks after stop");
    assert_eq!(call_and_settle(&mut s, RpcRequest::ConductorEnabled), Ok(RpcReply::Bool(false)));
}

#[test]
fn start_before_heads_are_known_has_no_prestate() {
    let mut s = sim_with(83, |c| c.sequencer.sequencer_stopped = true);
    // The engine cannot be read yet.
    s.set_engine_down_until(u64::MAX);
    for _ in 0..3 {
        s.inject(CallKind::ReadL2, Fault::Fail(RpcError::Transport("connection refused".into())));
    }
    let h = B256::repeat_byte(5);
    assert_eq!(
        call_and_settle(&mut s, RpcRequest::StartSequencer(h)),
        rpc_err(&format!("no prestate, cannot determine if sequencer start at {h:#x} is safe"))
    );
}

#[test]
fn stop_waits_for_a_sealed_block_to_become_head() {
    let mut s = sim(89);
    s.run_to_block(5, 60_000);
    // Run until a block is sealed and on its way in.
    while s.node().build_stage() != "inserting" && s.node().build_stage() != "updating" {
        let until = s.now + 1;
        s.step(until);
    }
    let sealed_number = s.unsafe_number() + 1;
    let reply = call_and_settle(&mut s, RpcRequest::StopSequencer);
    let h = head(&s);
    assert_eq!(h.number, sealed_number, "the sealed block became head before stop returned");
    assert_eq!(reply, Ok(RpcReply::Hash(h.hash)));
    assert_eq!(s.published.last(), Some(&h.hash));
}

#[test]
fn stop_discards_an_unsealed_build() {
    let mut s = sim(97);
    s.run_to_block(5, 60_000);
    while s.node().build_stage() != "building" {
        let until = s.now + 1;
        s.step(until);
    }
    let before = head(&s);
    assert_eq!(call_and_settle(&mut s, RpcRequest::StopSequencer), Ok(RpcReply::Hash(before.hash)));
    s.run_for(20_000);
    assert_eq!(head(&s), before);
}

#[test]
fn shutdown_seals_and_inserts_the_block_in_flight() {
    let mut s = sim(98);
    s.run_to_block(5, 60_000);
    while s.node().build_stage() != "building" {
        let until = s.now + 1;
        s.step(until);
    }
    let before = head(&s);
    let seal_target = before.time_ms + 2_000 - 50;
    let asked_at = s.now;
    s.deliver(keel_core::Event::ShutdownRequested);
    assert_eq!(s.node().shutdown_settled(), None, "a block is in flight");
    let mut settled = None;
    for _ in 0..1_000 {
        settled = s.node().shutdown_settled();
        if settled.is_some() {
            break;
        }
        let until = s.now + 100;
        s.step(until);
    }
    let h = head(&s);
    assert_eq!(h.number, before.number + 1, "the block being built was sealed and inserted");
    assert_eq!(settled, Some(h.hash));
    let sealed_at = *times(&s, CallKind::GetPayload).last().unwrap();
    assert!(
        sealed_at < seal_target && sealed_at >= asked_at,
        "sealed at once ({sealed_at}), not at the slot ({seal_target})"
    );
    assert!(!s.node().is_active());
    s.run_for(20_000);
    assert_eq!(head(&s), h, "nothing after shutdown");
}

// ----- max safe lag ------------------------------------------------------------------------------------------------

#[test]
fn max_safe_lag_stalls_and_resumes_when_safe_catches_up() {
    // The safe head comes from outside (`SafeHeadObserved`): another node derives.
    let mut s = sim_with(101, |c| {
        c.sequencer.max_safe_lag = 10;
        c.derivation = false;
    });
    s.run_for(100_000);
    assert_eq!(s.unsafe_number(), 10, "stalls at safe (0) + 10");
    assert!(s.node().is_safe_lag_stalled());
    let builds = s.call_count(CallKind::StartBuild);
    s.run_for(30_000);
    assert_eq!(s.call_count(CallKind::StartBuild), builds, "no build attempts while stalled");
    let safe = s.engine().by_number(4).unwrap();
    s.deliver(keel_core::Event::SafeHeadObserved(safe));
    s.run_for(100_000);
    assert_eq!(s.unsafe_number(), 14, "resumes until safe (4) + 10");
    assert!(s.node().is_safe_lag_stalled());
}

// ----- conductor ---------------------------------------------------------------------------------------------------

fn conductor_sim(seed: u64) -> Sim {
    let mut s = sim_with(seed, |c| c.sequencer.conductor_rpc_url = Some(keel_sim::conductor::URL.into()));
    s.run_for(5_000);
    s
}

fn start(s: &mut Sim) -> Result<RpcReply, RpcFailure> {
    let h = head(s).hash;
    call_and_settle(s, RpcRequest::StartSequencer(h))
}

#[test]
fn conductor_gates_start_with_a_leader_check() {
    let mut s = conductor_sim(103);
    assert!(!s.node().is_active(), "with a conductor the sequencer starts stopped");
    assert_eq!(call_and_settle(&mut s, RpcRequest::ConductorEnabled), Ok(RpcReply::Bool(true)));
    s.leader = None;
    assert_eq!(start(&mut s), rpc_err("sequencer is not the leader, aborting"));
    // The leader check comes first: even a wrong hash reports leadership.
    assert_eq!(
        call_and_settle(&mut s, RpcRequest::StartSequencer(B256::repeat_byte(1))),
        rpc_err("sequencer is not the leader, aborting")
    );
    s.leader = Some(0);
    s.inject(CallKind::Leader, Fault::Fail(RpcError::Timeout));
    assert_eq!(start(&mut s), rpc_err("sequencer leader check failed: timed out"));
    assert_eq!(start(&mut s), Ok(RpcReply::Null));
    assert!(s.run_to_block(20, 60_000));
    assert_eq!(s.conductor.log.len(), 20, "every block committed");
    assert_eq!(s.published, s.conductor.log.iter().map(|c| c.hash).collect::<Vec<_>>(), "published in commit order");
}

#[test]
fn commit_failure_is_retried_and_nothing_is_published_until_committed() {
    let mut s = conductor_sim(107);
    start(&mut s).unwrap();
    s.run_to_block(5, 60_000);
    for _ in 0..3 {
        s.inject(CallKind::Commit, Fault::Fail(RpcError::Transport("connection refused".into())));
    }
    let t5 = s.now;
    assert!(s.run_to_block(6, 60_000));
    assert_eq!(s.calls_between(CallKind::StartBuild, t5, s.now), 1, "the same sealed block was committed on retry");
    assert_eq!(s.node().stats().commit_failures, 3);
    assert_eq!(s.published.len(), s.conductor.log.len());
    assert!(s.run_to_block(15, 60_000));
}

#[test]
fn commit_timeout_with_a_lost_answer_recommits_the_same_block() {
    let mut s = conductor_sim(109);
    start(&mut s).unwrap();
    s.run_to_block(5, 60_000);
    s.inject(CallKind::Commit, Fault::LoseAnswer);
    assert!(s.run_to_block(10, 60_000));
    // The conductor saw the block twice but logged it once; no two blocks at one height.
    let numbers: Vec<u64> = s.conductor.log.iter().map(|c| c.number).collect();
    assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>());
}

#[test]
fn lost_leadership_during_commit_stops_sequencing_without_publishing() {
    let mut s = conductor_sim(113);
    start(&mut s).unwrap();
    s.run_to_block(5, 60_000);
    s.leader = None;
    s.run_for(30_000);
    assert!(!s.node().is_active(), "leadership lost: sequencer stopped");
    assert_eq!(s.published.len(), s.conductor.log.len(), "nothing published beyond the commit log");
    let h = head(&s);
    assert_eq!(h.hash, s.conductor.log.back().unwrap().hash);
}

#[test]
fn override_leader_bypasses_the_conductor() {
    let mut s = conductor_sim(127);
    s.leader = None;
    assert_eq!(call_and_settle(&mut s, RpcRequest::OverrideLeader), Ok(RpcReply::Null));
    assert_eq!(start(&mut s), Ok(RpcReply::Null));
    assert!(s.run_to_block(5, 60_000));
    assert!(s.conductor.log.is_empty(), "no commits while overridden");
}

#[test]
fn epoch_starts_carry_the_origins_deposits_and_config_updates_apply() {
    let mut s = sim(131);
    s.l1.deposit_rate = 0.5;
    s.l1.config_update_rate = 0.3;
    assert!(s.run_to_block(400, 1_000_000));
    let rollup = s.node().config().rollup.clone();
    let mut config = keel_core::system_config::SystemConfig::from(rollup.genesis.system_config.unwrap());
    let (mut epochs_with_deposits, mut gas_changes) = (0, 0);
    for n in 1..=400u64 {
        let b = s.engine().by_number(n).unwrap();
        let env = s.engine().block(&b.hash).unwrap().envelope.clone().unwrap();
        let txs = env.execution_payload.transactions().clone();
        if b.seq_num == 0 {
            let receipts = s.l1.receipts(&b.l1_origin.hash).expect("origin receipts");
            let origin_time = s.l1.by_hash(&b.l1_origin.hash).unwrap().info.timestamp;
            let before = config.gas_limit;
            config.apply_receipts(&receipts, &rollup, origin_time);
            gas_changes += (config.gas_limit != before) as u32;
            let expected =
                keel_core::deposits::user_deposits(b.l1_origin, &receipts, keel_sim::l1::DEPOSIT_CONTRACT).unwrap();
            assert_eq!(
                &txs[1..1 + expected.len()],
                &expected[..],
                "block {n}: the epoch's user deposits follow the L1 info deposit"
            );
            epochs_with_deposits += (!expected.is_empty()) as u32;
        } else {
            assert!(txs[1..].iter().all(|t| t.first() != Some(&0x7e)), "block {n}: deposits only at epoch starts");
        }
        assert_eq!(
            env.execution_payload.as_v1().gas_limit,
            config.gas_limit,
            "block {n}: gas limit from the SystemConfig"
        );
    }
    assert!(
        epochs_with_deposits > 5 && gas_changes > 0,
        "{epochs_with_deposits} epochs with deposits, {gas_changes} gas limit updates"
    );
}

#[test]
fn restart_reconstructs_the_system_config_from_the_head_block() {
    let mut s = sim(137);
    s.l1.config_update_rate = 1.0;
    assert!(s.run_to_block(200, 1_000_000));
    let gas = |s: &Sim, n: u64| {
        let b = s.engine().by_number(n).unwrap();
        s.engine().block(&b.hash).unwrap().envelope.clone().unwrap().execution_payload.as_v1().gas_limit
    };
    let genesis_gas = s.node().config().rollup.genesis.system_config.unwrap().gas_limit;
    assert_ne!(gas(&s, 200), genesis_gas, "updates changed the gas limit");
    s.l1.config_update_rate = 0.0;
    let head = s.unsafe_number();
    let before = gas(&s, head);
    s.crash(0, 500);
    s.run_for(1_000);
    // The restarted node has only its engine: the gas limit must come from the head block, not the genesis config.
    let t = s.now;
    while s.members[0].node.as_ref().and_then(|n| n.heads().unsafe_head).is_none_or(|h| h.number < head + 3) {
        let until = s.now + 500;
        s.step(until);
        assert!(s.now - t < 120_000, "restarted node made no progress");
    }
    // Blocks after the restart: within an epoch they keep their parent's gas limit; an epoch start applies its
    // origin's updates on top of the parent's.
    let rollup = s.node().config().rollup.clone();
    let h = s.unsafe_number();
    let mut expected = before;
    for n in head + 1..=h {
        let b = s.engine().by_number(n).unwrap();
        if b.seq_num == 0 {
            let mut cfg = keel_core::system_config::SystemConfig { gas_limit: expected, ..Default::default() };
            let receipts = s.l1.receipts(&b.l1_origin.hash).unwrap();
            cfg.apply_receipts(&receipts, &rollup, s.l1.by_hash(&b.l1_origin.hash).unwrap().info.timestamp);
            expected = cfg.gas_limit;
        }
        assert_eq!(gas(&s, n), expected, "block {n} after the restart continues the head's gas limit");
    }
}

#[test]
fn followers_import_posted_blocks_and_a_new_leader_continues_the_chain() {
    let mut s = Sim::new(SimConfig {
        seed: 139,
        sequencers: 2,
        sequencer: SequencerConfig { conductor_rpc_url: Some(keel_sim::conductor::URL.into()), ..Default::default() },
        ..Default::default()
    });
    s.failover(0);
    s.run_for(60_000);
    let leader_head = s.members[0].engine.heads().unsafe_head;
    assert!(leader_head.number > 20);
    let follower = s.members[1].node.as_ref().unwrap();
    assert!(!follower.is_active(), "the follower does not sequence");
    assert!(
        follower.heads().unsafe_head.unwrap().number + 2 >= leader_head.number,
        "the follower imported the leader's blocks"
    );
    assert_eq!(s.members[1].engine.by_number(10), s.members[0].engine.by_number(10), "same chain on both engines");
    // Failover: the follower becomes leader and extends the same chain, with the SystemConfig it read from the
    // imported blocks (the gas limit changes with every L1 block from here on).
    s.l1.config_update_rate = 1.0;
    s.run_for(20_000);
    let before_failover = s.members[0].engine.heads().unsafe_head;
    s.failover(1);
    s.run_for(30_000);
    let new_head = s.members[1].engine.heads().unsafe_head;
    assert!(new_head.number > before_failover.number + 5, "the new leader sequences");
    assert_eq!(
        s.members[1].engine.by_number(leader_head.number),
        Some(leader_head),
        "on top of the old leader's chain"
    );
    assert!(!s.members[0].node.as_ref().unwrap().is_active(), "the old leader was stopped");
    let gas = |n: u64| {
        let b = s.members[1].engine.by_number(n).unwrap();
        s.members[1].engine.block(&b.hash).unwrap().envelope.clone().unwrap().execution_payload.as_v1().gas_limit
    };
    let first_new = (before_failover.number + 1..=new_head.number)
        .find(|n| s.members[1].engine.by_number(*n).unwrap().seq_num != 0)
        .expect("a block within an epoch after the failover");
    assert_eq!(gas(first_new), gas(first_new - 1), "the new leader kept the imported chain's gas limit");
}

fn posted(s: &mut Sim, env: keel_core::OpExecutionPayloadEnvelope) {
    let id = s.rpc(RpcRequest::PostUnsafePayload(std::sync::Arc::new(env)));
    for _ in 0..100 {
        if s.reply(id).is_some() {
            break;
        }
        let until = s.now + 100;
        s.step(until);
    }
    s.run_for(2_000);
}

#[test]
fn posted_payloads_with_a_wrong_hash_or_parent_are_not_imported() {
    let mut s = sim_with(141, |c| c.sequencer.sequencer_stopped = true);
    s.run_for(3_000);
    // A block the engine already has, re-parented onto the head: a candidate for the next height.
    let h = s.node().heads().unsafe_head.unwrap();
    assert_eq!(h.number, 0);
    let mut leader = sim(141);
    leader.run_to_block(2, 60_000);
    let b1 = leader.engine().by_number(1).unwrap();
    let good = (*leader.engine().block(&b1.hash).unwrap().envelope.clone().unwrap()).clone();
    assert_eq!(good.execution_payload.parent_hash(), h.hash, "same genesis, so block 1 extends the follower's head");
    let inserts = s.call_count(CallKind::NewPayload);

    // The claimed hash does not match the header.
    let mut wrong_hash = good.clone();
    if let op_alloy_rpc_types_engine::OpExecutionPayload::V3(p) = &mut wrong_hash.execution_payload {
        p.payload_inner.payload_inner.state_root = B256::repeat_byte(0x99);
    }
    posted(&mut s, wrong_hash);
    assert_eq!((s.node().heads().unsafe_head.unwrap(), s.call_count(CallKind::NewPayload)), (h, inserts));

    // A self-consistent block whose parent is not the head.
    let mut wrong_parent = good.clone();
    if let op_alloy_rpc_types_engine::OpExecutionPayload::V3(p) = &mut wrong_parent.execution_payload {
        p.payload_inner.payload_inner.parent_hash = B256::repeat_byte(0x42);
        p.payload_inner.payload_inner.block_hash = B256::ZERO;
    }
    let hash = keel_core::payload::header_hash(&wrong_parent).unwrap();
    if let op_alloy_rpc_types_engine::OpExecutionPayload::V3(p) = &mut wrong_parent.execution_payload {
        p.payload_inner.payload_inner.block_hash = hash;
    }
    posted(&mut s, wrong_parent);
    assert_eq!((s.node().heads().unsafe_head.unwrap(), s.call_count(CallKind::NewPayload)), (h, inserts));

    // The genuine block is imported.
    posted(&mut s, good);
    assert_eq!(s.node().heads().unsafe_head.unwrap(), b1, "the well-formed block is imported");
}

#[test]
fn with_a_conductor_a_reset_during_insert_reinserts_the_committed_block() {
    let mut s = conductor_sim(149);
    start(&mut s).unwrap();
    s.run_to_block(5, 60_000);
    s.inject(
        CallKind::NewPayload,
        Fault::Fail(RpcError::Rpc { code: -38002, message: "Invalid forkchoice state".into() }),
    );
    let t5 = s.now;
    assert!(s.run_to_block(6, 60_000));
    assert_eq!(s.node().stats().resets, 1);
    assert_eq!(
        s.calls_between(CallKind::StartBuild, t5, s.now),
        1,
        "block 6 was re-inserted after the reset, not rebuilt"
    );
    assert!(s.run_to_block(10, 60_000));
    assert_eq!(s.conductor.total as usize, s.conductor.log.len(), "nothing committed was ever replaced");
}

#[test]
fn sequencer_config_defaults_match_the_seed() {
    let c = SequencerConfig::default();
    assert_eq!(
        (c.sequencer_stopped, c.sequencer_recovery_mode, c.max_safe_lag, c.l1_confs, c.seal_margin_ms),
        (false, false, 0, 4, 50)
    );
}

/// The sim chain through Isthmus (t+20), Jovian (t+40) and Karst (t+80): the Karst activation block carries the 31
/// NUTs after the L1 info deposit and its gas limit is raised by the bundle's gas; the next block's limit follows
/// `keep_karst_upgrade_gas`; a crash after Karst restarts from the post-Karst head (Jovian-format L1 info read back).
fn karst_chain(keep: bool) -> (Sim, u64) {
    let mut s = sim_with(7, |c| {
        c.isthmus_offset_s = Some(20);
        c.jovian_offset_s = Some(40);
        c.karst_offset_s = Some(80);
        c.keep_karst_upgrade_gas = keep;
    });
    assert!(s.run_to_block(50, 400_000));
    let genesis = s.engine().by_number(0).unwrap().timestamp_s();
    let n = (1..=50).find(|n| s.engine().by_number(*n).unwrap().timestamp_s() == genesis + 80).unwrap();
    (s, n)
}

fn payload(s: &Sim, number: u64) -> std::sync::Arc<keel_core::OpExecutionPayloadEnvelope> {
    let b = s.engine().by_number(number).unwrap();
    s.engine().block(&b.hash).unwrap().envelope.clone().unwrap()
}

#[test]
fn karst_activation_block_in_the_sim() {
    use alloy_eips::eip2718::Encodable2718;
    let bundle = keel_core::upgrades::karst_bundle().unwrap();
    for keep in [false, true] {
        let (mut s, n) = karst_chain(keep);
        let gas = |s: &Sim, m: u64| payload(s, m).execution_payload.as_v1().gas_limit;
        let env = payload(&s, n);
        let txs = env.execution_payload.transactions();
        let nuts: Vec<alloy_primitives::Bytes> = bundle.deposits().iter().map(|d| d.encoded_2718().into()).collect();
        assert_eq!(&txs[txs.len() - 31..], &nuts[..], "the NUTs close the activation block, in bundle order");
        assert!(txs.iter().all(|tx| tx.first() == Some(&0x7e)), "no pool transactions in the Karst activation block");
        let info = keel_core::l1_info::L1BlockInfo::decode(&{
            let tx = <op_alloy_consensus::OpTxEnvelope as alloy_eips::eip2718::Decodable2718>::decode_2718(
                &mut txs[0].as_ref(),
            )
            .unwrap();
            tx.as_deposit().unwrap().input.clone()
        })
        .unwrap();
        assert_eq!(info.format(), keel_core::l1_info::L1InfoFormat::Jovian, "Karst keeps the Jovian L1 info format");
        assert_eq!(gas(&s, n), gas(&s, n - 1) + 55_370_657, "keep={keep}");
        let next = if keep { gas(&s, n) } else { gas(&s, n - 1) };
        assert_eq!(gas(&s, n + 1), next, "keep={keep}: the child's gas limit");
        assert!(payload(&s, n + 1).execution_payload.transactions().len() < 32, "no NUTs after the activation block");
        // Crash on a post-Karst head: the restarted node reads it back and goes on.
        let head = s.unsafe_number();
        s.crash(0, 5_000);
        assert!(s.run_to_block(head + 10, 200_000), "keep={keep}: resumed after a restart on a post-Karst head");
        assert_eq!(gas(&s, head + 5), gas(&s, n + 1), "steady gas limit after the restart");
    }
}

/// `admin_postUnsafePayload` imports post-Jovian blocks and the Karst activation block built elsewhere.
#[test]
fn posted_jovian_and_karst_blocks_are_imported() {
    let (leader, n) = karst_chain(false);
    let mut follower = sim_with(7, |c| {
        c.isthmus_offset_s = Some(20);
        c.jovian_offset_s = Some(40);
        c.karst_offset_s = Some(80);
        c.sequencer.sequencer_stopped = true;
    });
    follower.run_for(3_000);
    for m in 1..=n + 2 {
        posted(&mut follower, (*payload(&leader, m)).clone());
        let want = leader.engine().by_number(m).unwrap();
        assert_eq!(
            follower.engine().by_number(m).map(|b| b.hash),
            Some(want.hash),
            "block {m} imported (Karst at {n})"
        );
    }
    assert_eq!(follower.node().heads().unsafe_head.unwrap().number, n + 2);
}
