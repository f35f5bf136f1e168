//! The node driven by hand: a virtual clock and a scripted peer (quinn's `Pair` style), no simulator.
//!
//! [`Pair`] owns a [`Node`] and the time. Tests read the commands the node issues one by one and answer each with
//! the event they choose; [`Peer`] answers the ordinary ones (an L1 chain of fixed blocks, an engine that builds
//! exactly the attributes it is given) so a test only spells out the exchange it is about. The simulator's
//! behaviour tests (faults, reorgs, conductors, a thousand blocks) live in keel-sim; these pin the exact command
//! sequence and timing of the core's own entry points.

use super::*;
use crate::config::SequencerConfig;
use crate::io::L1Data;
use crate::io::L2Header;
use crate::io::Target;
use crate::rollup::Rollup;
use crate::types::Attributes;
use alloy_consensus::Header;
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, Bytes, U256};
use alloy_rpc_types_engine::{ExecutionPayloadV1, ExecutionPayloadV2, ExecutionPayloadV3, PayloadStatusEnum};
use op_alloy_rpc_types_engine::OpExecutionPayload;

const GENESIS_TIME: u64 = 1_700_000_000;
const BLOCK_TIME_MS: u64 = 2_000;

/// The other side of every endpoint: an L1 chain of 12 s blocks and an engine that seals exactly what it was asked.
struct Peer {
    l1: Vec<L1Block>,
    /// Canonical L2 blocks by number.
    l2: Vec<(L2BlockRef, L2Header)>,
    /// Builds started by a forkchoice update with attributes, by payload id.
    builds: BTreeMap<u64, (L2BlockRef, Attributes)>,
    next_payload: u64,
    /// Sealed but not yet canonical.
    sealed: BTreeMap<B256, (L2BlockRef, L2Header)>,
}

impl Peer {
    fn new(l1_blocks: u64) -> Self {
        let mut l1: Vec<L1Block> = Vec::new();
        for number in 0..l1_blocks {
            let parent_hash = l1.last().map(|b| b.hash()).unwrap_or_default();
            l1.push(L1Block::from_header(Header {
                parent_hash,
                number,
                timestamp: GENESIS_TIME + 12 * number,
                gas_limit: 30_000_000,
                base_fee_per_gas: Some(1_000_000_000),
                parent_beacon_block_root: Some(B256::repeat_byte(0xbe)),
                ..Default::default()
            }));
        }
        let genesis = L2BlockRef {
            hash: B256::repeat_byte(0x20),
            number: 0,
            parent_hash: B256::ZERO,
            time_ms: GENESIS_TIME * 1000,
            l1_origin: l1[0].info.id(),
            seq_num: 0,
        };
        let header =
            L2Header { hash: genesis.hash, gas_limit: 30_000_000, extra_data: Bytes::new(), ..Default::default() };
        Self { l1, l2: vec![(genesis, header)], builds: BTreeMap::new(), next_payload: 1, sealed: BTreeMap::new() }
    }

    fn rollup(&self) -> Rollup {
        let mut rollup = kona_genesis::RollupConfig {
            block_time: BLOCK_TIME_MS / 1000,
            max_sequencer_drift: 1_800,
            seq_window_size: 3_600,
            channel_timeout: 300,
            l1_chain_id: 900,
            deposit_contract_address: Address::repeat_byte(0xde),
            l1_system_config_address: Address::repeat_byte(0x5c),
            ..Default::default()
        };
        rollup.genesis.l1 = self.l1[0].info.id();
        rollup.genesis.l2 = self.l2[0].0.id();
        rollup.genesis.l2_time = GENESIS_TIME;
        rollup.genesis.system_config = Some(kona_genesis::SystemConfig {
            batcher_address: Address::repeat_byte(0xba),
            gas_limit: 30_000_000,
            eip1559_denominator: Some(250),
            eip1559_elasticity: Some(6),
            ..Default::default()
        });
        crate::rollup::schedule_forks_through(&mut rollup.hardforks, "holocene", 0);
        rollup.into()
    }

    fn heads(&self) -> EngineHeads {
        let tip = self.l2.last().expect("genesis").0;
        EngineHeads { unsafe_head: tip, safe: self.l2[0].0, finalized: self.l2[0].0 }
    }

    /// The ordinary answer to `cmd`, if it has one.
    fn serve(&mut self, cmd: &Command) -> Option<Event> {
        Some(match cmd {
            Command::FetchL1BlockByHash { id, hash } => {
                Event::L1BlockFetched { id: *id, block: self.l1.iter().find(|b| b.hash() == *hash).cloned() }
            }
            Command::FetchL1BlockByNumber { id, number } => {
                Event::L1BlockFetched { id: *id, block: self.l1.get(*number as usize).cloned() }
            }
            Command::FetchL1Receipts { id, .. } => Event::L1ReceiptsFetched { id: *id, receipts: Arc::default() },
            Command::FetchBlobs { id, .. } => {
                Event::RequestFailed { id: *id, error: RpcError::Transport("this peer serves no blobs".into()) }
            }
            Command::FetchL1Data { id, number } => Event::L1DataFetched {
                id: *id,
                data: self
                    .l1
                    .get(*number as usize)
                    .map(|b| Box::new(L1Data { block: b.clone(), receipts: Arc::default(), txs: Arc::default() })),
            },
            Command::FetchL2Heads { id } => Event::L2HeadsFetched { id: *id, heads: self.heads() },
            Command::FetchL2Header { id, number } => {
                Event::L2HeaderFetched { id: *id, header: self.l2.get(*number as usize).map(|(_, h)| h.clone()) }
            }
            Command::FetchL2BlockByNumber { id, number } => {
                Event::L2BlockFetched { id: *id, block: self.l2.get(*number as usize).map(|(b, _)| *b) }
            }
            Command::ForkchoiceUpdate { id, state, attributes, .. } => {
                if let Some((block, header)) = self.sealed.remove(&state.head_block_hash) {
                    self.l2.push((block, header));
                }
                let payload_id = attributes.as_ref().map(|attrs| {
                    let parent = self.l2.last().expect("genesis").0;
                    let n = self.next_payload;
                    self.next_payload += 1;
                    self.builds.insert(n, (parent, (**attrs).clone()));
                    PayloadId::new(n.to_be_bytes())
                });
                Event::EngineResponded {
                    id: *id,
                    reply: EngineReply::ForkchoiceUpdated { status: PayloadStatusEnum::Valid, payload_id },
                }
            }
            Command::GetPayload { id, payload_id, .. } => {
                let (parent, attrs) = self.builds.remove(&u64::from_be_bytes(payload_id.0.into()))?;
                let env = seal(&parent, &attrs);
                let p = &env.execution_payload;
                let info = crate::payload::l1_info(&env).expect("the core's attributes carry an L1 info deposit");
                let block = L2BlockRef {
                    hash: p.block_hash(),
                    number: p.block_number(),
                    parent_hash: p.parent_hash(),
                    time_ms: p.timestamp() * 1000,
                    l1_origin: info.0,
                    seq_num: info.1,
                };
                // The header facts a real engine reports: the L1 info deposit's calldata comes from the first tx.
                let first = p.transactions().first().expect("an L1 info deposit");
                let deposit = op_alloy_consensus::OpTxEnvelope::decode_2718(&mut first.as_ref()).expect("decodes");
                let header = L2Header {
                    hash: block.hash,
                    gas_limit: p.as_v1().gas_limit,
                    extra_data: p.as_v1().extra_data.clone(),
                    l1_info_input: Some(deposit.as_deposit().expect("a deposit").input.clone()),
                    ..Default::default()
                };
                self.sealed.insert(block.hash, (block, header));
                Event::EngineResponded { id: *id, reply: EngineReply::PayloadFetched(Arc::new(env)) }
            }
            Command::NewPayload { id, .. } => Event::EngineResponded {
                id: *id,
                reply: EngineReply::PayloadInserted { status: PayloadStatusEnum::Valid },
            },
            Command::CheckLeader { id } => Event::ConductorResponded { id: *id, reply: ConductorReply::Leader(true) },
            Command::CommitToConductor { id, .. } => {
                Event::ConductorResponded { id: *id, reply: ConductorReply::Committed }
            }
            Command::Publish { .. } | Command::Reply { .. } => return None,
        })
    }
}

/// The block an engine seals from `attrs` on `parent`: exactly the attributes' transactions.
fn seal(parent: &L2BlockRef, attrs: &Attributes) -> OpExecutionPayloadEnvelope {
    let a = &attrs.op.payload_attributes;
    let payload = ExecutionPayloadV3 {
        payload_inner: ExecutionPayloadV2 {
            payload_inner: ExecutionPayloadV1 {
                parent_hash: parent.hash,
                fee_recipient: a.suggested_fee_recipient,
                state_root: B256::repeat_byte(0x57),
                receipts_root: B256::ZERO,
                logs_bloom: Default::default(),
                prev_randao: a.prev_randao,
                block_number: parent.number + 1,
                gas_limit: attrs.op.gas_limit.unwrap_or(30_000_000),
                gas_used: 0,
                timestamp: a.timestamp,
                extra_data: holocene_extra_data(attrs),
                base_fee_per_gas: U256::from(1_000_000u64),
                block_hash: B256::ZERO,
                transactions: attrs.op.transactions.clone().unwrap_or_default(),
            },
            withdrawals: vec![],
        },
        blob_gas_used: 0,
        excess_blob_gas: 0,
    };
    let mut env = OpExecutionPayloadEnvelope {
        parent_beacon_block_root: a.parent_beacon_block_root,
        execution_payload: OpExecutionPayload::V3(payload),
    };
    let hash = crate::payload::header_hash(&env).expect("a V3 payload forms a block");
    if let OpExecutionPayload::V3(p) = &mut env.execution_payload {
        p.payload_inner.payload_inner.block_hash = hash;
    }
    env
}

/// Holocene's extraData as an engine writes it: version 0, then the attributes' EIP-1559 denominator and elasticity
/// (the chain's pre-Holocene constants, 250 and 6 here, when the attributes carry zeros).
fn holocene_extra_data(attrs: &Attributes) -> Bytes {
    let params = attrs.op.eip_1559_params.expect("Holocene attributes carry EIP-1559 parameters");
    let mut out = vec![0u8];
    if params.iter().all(|b| *b == 0) {
        out.extend_from_slice(&250u32.to_be_bytes());
        out.extend_from_slice(&6u32.to_be_bytes());
    } else {
        out.extend_from_slice(params.as_slice());
    }
    out.into()
}

/// A node, its clock and its peer.
struct Pair {
    node: Node,
    now: UnixMs,
    peer: Peer,
    /// Every command taken from the node, with the time it was taken.
    log: Vec<(UnixMs, Command)>,
}

impl Pair {
    fn new(sequencer: SequencerConfig) -> Self {
        Self::with_builder(sequencer, Arc::new(crate::attributes::ProtocolAttributes))
    }

    fn with_builder(sequencer: SequencerConfig, builder: Arc<dyn crate::attributes::AttributesBuilder>) -> Self {
        let peer = Peer::new(64);
        let now = GENESIS_TIME * 1000;
        let mut cfg = Config::new(Arc::new(peer.rollup()), sequencer);
        cfg.block_time_ms = BLOCK_TIME_MS;
        cfg.attributes = builder;
        let node = Node::new(cfg, now).expect("valid config");
        Self { node, now, peer, log: Vec::new() }
    }

    /// Tells the node that L1 block `number` is the head.
    fn l1_head(&mut self, number: u64) {
        let head = self.peer.l1[number as usize].info;
        self.event(Event::L1HeadObserved(head));
    }

    fn event(&mut self, e: Event) {
        self.node.handle_event(self.now, e);
        self.node.check_invariants().expect("invariants hold after every event");
    }

    /// The next command the node has issued, without answering it.
    fn take(&mut self) -> Option<Command> {
        let cmd = self.node.poll_command()?;
        self.log.push((self.now, cmd.clone()));
        Some(cmd)
    }

    /// Takes the next command, which must exist, and checks it with `what`.
    fn expect(&mut self, what: &str, pred: impl Fn(&Command) -> bool) -> Command {
        let cmd = self.take().unwrap_or_else(|| panic!("at {} expected {what}, the node issued nothing", self.now));
        assert!(pred(&cmd), "at {} expected {what}, got {cmd:?}", self.now);
        cmd
    }

    /// Answers every queued command through the peer until the node has nothing to say; then jumps the clock to
    /// the node's next deadline if it is not after `until`. Returns false once nothing is left before `until`.
    fn run_until(&mut self, until: UnixMs) -> bool {
        while let Some(cmd) = self.take() {
            if let Some(answer) = self.peer.serve(&cmd) {
                self.event(answer);
            }
        }
        if self.fire_next_deadline(until) {
            return true;
        }
        self.now = until;
        false
    }

    /// Jumps the clock to the node's next deadline and fires it, if that is not after `until`.
    fn fire_next_deadline(&mut self, until: UnixMs) -> bool {
        match self.node.poll_timeout() {
            Some(t) if t <= until => {
                self.now = t;
                self.node.handle_timeout(t);
                self.node.check_invariants().expect("invariants hold after every timeout");
                true
            }
            _ => false,
        }
    }

    fn run_to(&mut self, until: UnixMs) {
        while self.run_until(until) {}
    }

    /// Runs like [`Self::run_to`] until the node issues a command matching `pred` after `skip` earlier ones, and
    /// returns it unanswered.
    fn run_to_command(
        &mut self,
        until: UnixMs,
        what: &str,
        pred: impl Fn(&Command) -> bool,
        mut skip: usize,
    ) -> Command {
        loop {
            while let Some(cmd) = self.take() {
                if pred(&cmd) {
                    if skip == 0 {
                        return cmd;
                    }
                    skip -= 1;
                }
                if let Some(answer) = self.peer.serve(&cmd) {
                    self.event(answer);
                }
            }
            assert!(self.fire_next_deadline(until), "no {what} before {until}");
        }
    }

    fn times_of(&self, pred: impl Fn(&Command) -> bool) -> Vec<UnixMs> {
        self.log.iter().filter(|(_, c)| pred(c)).map(|(t, _)| *t).collect()
    }
}

fn is_build_start(c: &Command) -> bool {
    matches!(c, Command::ForkchoiceUpdate { attributes: Some(_), .. })
}

#[test]
fn boot_reads_heads_then_the_genesis_header_and_waits_for_l1() {
    let mut p = Pair::new(SequencerConfig::default());
    let Command::FetchL2Heads { id } = p.expect("FetchL2Heads", |c| matches!(c, Command::FetchL2Heads { .. })) else {
        unreachable!()
    };
    assert!(p.take().is_none(), "one request at a time during a reset");
    let heads = p.peer.heads();
    p.event(Event::L2HeadsFetched { id, heads });
    // At genesis the target is the head itself: its header gives the SystemConfig, no forkchoice update is needed.
    let cmd = p.expect("FetchL2Header 0", |c| matches!(c, Command::FetchL2Header { number: 0, .. }));
    let answer = p.peer.serve(&cmd).unwrap();
    p.event(answer);
    assert_eq!(p.node.heads().unsafe_head, Some(heads.unsafe_head), "the reset adopted the engine's head");
    assert_eq!(p.node.build_stage(), "idle");
}

#[test]
fn builds_from_the_parents_seal_and_seals_one_margin_before_the_slot() {
    let mut p = Pair::new(SequencerConfig::default());
    p.l1_head(10);
    p.run_to(GENESIS_TIME * 1000 + 20_500);
    let starts = p.times_of(is_build_start);
    let seals = p.times_of(|c| matches!(c, Command::GetPayload { .. }));
    assert!(starts.len() >= 9, "blocks were built: {starts:?}");
    let margin = crate::config::DEFAULT_SEAL_MARGIN_MS;
    for (n, (start, seal)) in starts.iter().zip(&seals).enumerate().skip(1) {
        let slot = GENESIS_TIME * 1000 + BLOCK_TIME_MS * (n as u64 + 1);
        // The parent was sealed one margin before its own slot and is the head at once (the peer answers in no
        // time): the engine builds this block for the whole block time.
        assert_eq!(*start, slot - BLOCK_TIME_MS - margin, "block {}: build starts at its parent's seal", n + 1);
        assert_eq!(*seal, slot - margin, "block {}: sealed one margin early", n + 1);
        assert_eq!(seal - start, BLOCK_TIME_MS, "block {}: the build window is the block time", n + 1);
    }
    assert_eq!(p.node.stats().blocks_sequenced as usize, seals.len());
    assert_eq!(p.times_of(|c| matches!(c, Command::Publish { .. })).len(), seals.len(), "each block published once");
}

#[test]
fn one_build_is_one_fcu_get_new_fcu_exchange() {
    let mut p = Pair::new(SequencerConfig::default());
    p.l1_head(10);
    p.run_to(GENESIS_TIME * 1000 + 4_100);
    let kinds: Vec<&str> = p
        .log
        .iter()
        .filter(|(_, c)| c.target() == Target::Engine)
        .map(|(_, c)| match c {
            Command::ForkchoiceUpdate { attributes: Some(_), .. } => "fcu+attrs",
            Command::ForkchoiceUpdate { .. } => "fcu",
            Command::GetPayload { .. } => "get",
            Command::NewPayload { .. } => "new",
            Command::FetchL2Heads { .. } => "heads",
            Command::FetchL2Header { .. } => "header",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["heads", "header", "fcu+attrs", "get", "new", "fcu", "fcu+attrs", "get", "new", "fcu", "fcu+attrs"],
        "boot, then per block exactly: build start, seal, insert, head update"
    );
}

#[test]
fn answers_to_unknown_or_stale_requests_change_nothing() {
    let mut p = Pair::new(SequencerConfig::default());
    p.l1_head(10);
    p.run_to(GENESIS_TIME * 1000 + 2_100);
    let before = (p.node.heads().clone(), p.node.build_stage(), p.node.stats().clone());
    let stale = RequestId(9_999);
    p.event(Event::EngineResponded {
        id: stale,
        reply: EngineReply::ForkchoiceUpdated { status: PayloadStatusEnum::Valid, payload_id: None },
    });
    p.event(Event::RequestFailed { id: RequestId(1), error: RpcError::Timeout });
    assert!(p.take().is_none(), "no command in answer to a stale event");
    assert_eq!((p.node.heads().clone(), p.node.build_stage(), p.node.stats().clone()), before);
}

#[test]
fn a_failed_build_start_is_retried_after_the_temporary_delay() {
    let mut p = Pair::new(SequencerConfig::default());
    p.l1_head(10);
    // Boot and the first block go through the peer; the second build starts the moment the first is the head (its
    // seal moment), and fails with a transport error.
    let margin = crate::config::DEFAULT_SEAL_MARGIN_MS;
    let cmd = p.run_to_command(GENESIS_TIME * 1000 + 3 * BLOCK_TIME_MS, "second build start", is_build_start, 1);
    assert_eq!(p.node.stats().blocks_sequenced, 1);
    assert_eq!(p.now, GENESIS_TIME * 1000 + BLOCK_TIME_MS - margin);
    let Command::ForkchoiceUpdate { id, .. } = cmd else { unreachable!() };
    p.event(Event::RequestFailed { id, error: RpcError::Transport("connection refused".into()) });
    assert!(p.take().is_none(), "no immediate retry");
    let failed_at = p.now;
    assert_eq!(p.node.poll_timeout(), Some(failed_at + TEMPORARY_RETRY_MS), "retry after the temporary delay");
    assert_eq!(p.node.stats().retries, 1);
    p.run_to(failed_at + TEMPORARY_RETRY_MS + 100);
    let starts = p.times_of(is_build_start);
    assert_eq!(starts.last(), Some(&(failed_at + TEMPORARY_RETRY_MS)));
}

/// Refuses the attributes of L2 block 2 with `class`; the protocol's attributes otherwise.
#[derive(Debug)]
struct RefuseBlockTwo(crate::attributes::AttributesErrorClass);

impl crate::attributes::AttributesBuilder for RefuseBlockTwo {
    fn prepare_payload_attributes(
        &self,
        input: &crate::attributes::AttributesInput<'_>,
    ) -> Result<Attributes, crate::attributes::AttributesError> {
        if input.parent.number + 1 == 2 {
            let (class, message) = (self.0, "not yet".into());
            return Err(crate::attributes::AttributesError::Builder { l2_number: 2, class, message });
        }
        crate::attributes::build(input)
    }
}

#[test]
fn a_custom_builders_error_class_decides_retry_reset_or_halt() {
    use crate::attributes::AttributesErrorClass as Class;
    let second_slot = GENESIS_TIME * 1000 + BLOCK_TIME_MS;
    // Temporary: no build starts; the same block is tried again after the temporary delay, backing off.
    let mut p = Pair::with_builder(SequencerConfig::default(), Arc::new(RefuseBlockTwo(Class::Temporary)));
    p.l1_head(10);
    p.run_to(second_slot + 5_000);
    assert_eq!(p.node.stats().blocks_sequenced, 1, "block 1 is built, block 2 never");
    assert_eq!(p.times_of(is_build_start).len(), 1, "no forkchoice update for refused attributes");
    assert!(p.node.stats().retries >= 3, "retried: {}", p.node.stats().retries);
    assert!(p.node.is_active() && p.node.stats().critical_errors == 0);
    // Reset: the engine's heads are read again, and the build is tried again afterwards.
    let mut p = Pair::with_builder(SequencerConfig::default(), Arc::new(RefuseBlockTwo(Class::Reset)));
    p.l1_head(10);
    p.run_to(second_slot + 500);
    assert!(p.node.stats().resets >= 1, "a reset follows");
    assert!(p.log.iter().filter(|(_, c)| matches!(c, Command::FetchL2Heads { .. })).count() >= 2, "heads re-read");
    // Critical: the sequencer halts, as for the protocol builder's own errors, and says why.
    let mut p = Pair::with_builder(SequencerConfig::default(), Arc::new(RefuseBlockTwo(Class::Critical)));
    p.l1_head(10);
    p.run_to(second_slot + 5_000);
    assert_eq!((p.node.stats().critical_errors, p.node.is_active()), (1, false));
    assert_eq!(p.times_of(is_build_start).len(), 1);
}

#[test]
fn a_stopped_sequencer_issues_nothing_after_boot_and_starts_on_request() {
    let mut p = Pair::new(SequencerConfig { sequencer_stopped: true, ..Default::default() });
    p.l1_head(10);
    p.run_to(GENESIS_TIME * 1000 + 10_000);
    assert!(p.times_of(is_build_start).is_empty(), "stopped: no builds");
    assert_eq!(p.node.poll_timeout(), None, "stopped and settled: nothing timed");
    let head = p.node.heads().unsafe_head.unwrap();
    p.event(Event::RpcRequested { reply_to: ReplyTo(7), request: RpcRequest::StartSequencer(head.hash) });
    let reply = p.expect("reply", |c| matches!(c, Command::Reply { .. }));
    assert_eq!(reply, Command::Reply { reply_to: ReplyTo(7), result: Ok(RpcReply::Null) });
    assert!(p.node.is_active());
    p.run_to(GENESIS_TIME * 1000 + 14_100);
    assert!(!p.times_of(is_build_start).is_empty(), "started: builds follow");
}

#[test]
fn an_outstanding_request_is_never_sent_twice_however_long_its_answer_takes() {
    let mut p = Pair::new(SequencerConfig::default());
    p.l1_head(40);
    // Hold every answer back for a while: the node must not pile up requests.
    let mut held = Vec::new();
    for _ in 0..200 {
        while let Some(cmd) = p.take() {
            held.push(cmd);
        }
        p.now += 500;
        p.node.handle_timeout(p.now);
        p.node.check_invariants().unwrap();
    }
    // The driver owns timeouts (a missing answer becomes `RpcError::Timeout`); the core waits for each answer.
    assert_eq!(held.len(), 1, "requests issued while none was answered: {held:?}");
    // Answering them all in order lets the node proceed.
    for cmd in held {
        if let Some(e) = p.peer.serve(&cmd) {
            p.event(e);
        }
    }
    let t = p.now + 10_000;
    p.run_to(t);
    assert!(p.node.stats().blocks_sequenced > 0, "the node recovered once answers came");
}

#[test]
fn an_answer_of_the_wrong_kind_is_a_failure_of_that_request_not_a_panic() {
    let mut p = Pair::new(SequencerConfig::default());
    let Command::FetchL2Heads { id } = p.expect("FetchL2Heads", |c| matches!(c, Command::FetchL2Heads { .. })) else {
        unreachable!()
    };
    // A driver bug: the heads request is answered with an L1 block.
    p.event(Event::L1BlockFetched { id, block: None });
    assert!(p.take().is_none(), "the reset waits before asking again");
    assert_eq!(p.node.stats().retries, 1, "the reset step failed and was scheduled again");
    let retry = p.node.poll_timeout().expect("a retry is timed");
    assert!(retry > p.now);
    p.now = retry;
    p.node.handle_timeout(retry);
    p.expect("FetchL2Heads again", |c| matches!(c, Command::FetchL2Heads { .. }));
}

#[test]
fn a_reset_abandons_the_build_and_its_late_engine_answer_is_dropped() {
    let mut p = Pair::new(SequencerConfig::default());
    p.l1_head(10);
    let start = p.run_to_command(GENESIS_TIME * 1000 + 3 * BLOCK_TIME_MS, "second build start", is_build_start, 1);
    // While the build start is out, the safe head moves past the unsafe head: the node resets.
    let mut safe = p.node.heads().unsafe_head.unwrap();
    safe.number += 5;
    safe.hash = B256::repeat_byte(0x55);
    p.event(Event::SafeHeadObserved(safe));
    assert_eq!(p.node.build_stage(), "resetting");
    let heads = p.expect("the reset reads the engine's heads", |c| matches!(c, Command::FetchL2Heads { .. }));
    // The abandoned build start's answer arrives: it frees the engine and starts nothing.
    let answer = p.peer.serve(&start).unwrap();
    p.event(answer);
    assert_eq!(p.node.build_stage(), "resetting");
    assert!(p.take().is_none(), "a late answer to an abandoned call issues nothing");
    // The reset goes on and building resumes on the engine's chain.
    let answer = p.peer.serve(&heads).unwrap();
    p.event(answer);
    let t = p.now + 3 * BLOCK_TIME_MS;
    p.run_to(t);
    assert_ne!(p.node.build_stage(), "resetting");
    assert_eq!(p.node.stats().resets, 1);
}

/// A reset cannot check an origin L1 does not have (yet): it waits and asks again, as op-node's FindL2Heads does,
/// instead of keeping the unsafe head unchecked.
#[test]
fn a_reset_waits_for_l1_to_have_the_origin_it_checks() {
    let mut p = Pair::new(SequencerConfig::default());
    p.l1_head(10);
    let t = p.now + 10 * BLOCK_TIME_MS;
    p.run_to(t);
    assert!(p.node.stats().blocks_sequenced >= 5);
    // A restart: the startup reset checks the origin of the engine's unsafe head.
    let mut cfg = Config::new(Arc::new(p.peer.rollup()), SequencerConfig::default());
    cfg.block_time_ms = BLOCK_TIME_MS;
    p.node = Node::new(cfg, p.now).expect("valid config");
    let heads = p.expect("FetchL2Heads", |c| matches!(c, Command::FetchL2Heads { .. }));
    let answer = p.peer.serve(&heads).unwrap();
    p.event(answer);
    let is_origin_lookup = |c: &Command| matches!(c, Command::FetchL1BlockByNumber { .. });
    let Command::FetchL1BlockByNumber { id, .. } = p.expect("the origin check", is_origin_lookup) else {
        unreachable!()
    };
    p.event(Event::L1BlockFetched { id, block: None });
    assert_eq!(p.node.build_stage(), "resetting", "an unchecked origin does not end the reset");
    assert!(p.take().is_none(), "the reset waits before asking again");
    let retry = p.node.poll_timeout().expect("a retry is timed");
    p.now = retry;
    p.node.handle_timeout(retry);
    let again = p.expect("the origin check again", is_origin_lookup);
    let answer = p.peer.serve(&again).unwrap();
    p.event(answer);
    let t = p.now + 3 * BLOCK_TIME_MS;
    p.run_to(t);
    assert_ne!(p.node.build_stage(), "resetting");
}
