//! The runner: owns virtual time, the world models and every in-flight request; delivers answers with seeded
//! latencies; injects faults; crashes and restarts sequencers; models op-conductor failover; checks every node's
//! and the world's invariants after every step.
//!
//! A world holds one or more *members* (a sequencer node with its own engine) sharing one L1 and one conductor.
//! Member 0 is the leader at start. Blocks a member publishes reach the others as `admin_postUnsafePayload`.

use crate::conductor::Conductor;
use crate::engine::Engine;
use crate::l1::L1Chain;
use crate::rng::Rng;
use alloy_primitives::{keccak256, B256};
use alloy_rpc_types_engine::PayloadStatusEnum;
use keel_core::{
    Command, Config, EngineReply, Event, L2BlockRef, Node, ReplyTo, RollupConfig, RpcError, RpcFailure, RpcReply,
    RpcRequest, SequencerConfig, UnixMs,
};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// Events kept for the failure timeline.
pub const TIMELINE: usize = 30;
/// How often the conductor model retries starting a new leader (ms).
pub const CONDUCTOR_RETRY_MS: u64 = 1_000;

/// Knobs of a simulated world.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Decides every latency, hash and mempool.
    pub seed: u64,
    /// L2 block time (ms).
    pub block_time_ms: u64,
    /// L1 block time (s).
    pub l1_block_time_s: u64,
    /// Sequencer settings under test (every member gets the same).
    pub sequencer: SequencerConfig,
    /// Number of sequencer nodes.
    pub sequencers: usize,
    /// Pre-Fjord max sequencer drift (s); Fjord and later use 1800 s.
    pub max_sequencer_drift_s: u64,
    /// Whether Fjord (and with it the 1800 s drift constant) is active from genesis.
    pub fjord: bool,
    /// Engine answer latency range (ms).
    pub engine_latency_ms: (u64, u64),
    /// L1 answer latency range (ms).
    pub l1_latency_ms: (u64, u64),
    /// Conductor answer latency range (ms).
    pub conductor_latency_ms: (u64, u64),
    /// Engine call timeout (ms): how long a hung call takes to fail.
    pub engine_timeout_ms: u64,
    /// Conductor call timeout (ms).
    pub conductor_timeout_ms: u64,
    /// Wall time at start relative to L2 genesis (ms). Large values start the sequencer behind.
    pub start_offset_ms: u64,
    /// Isthmus activation, seconds after L2 genesis (`None`: never). Puts a fork activation block inside the run.
    pub isthmus_offset_s: Option<u64>,
    /// Jovian activation, seconds after L2 genesis (`None`: never; needs Isthmus no later).
    pub jovian_offset_s: Option<u64>,
    /// Karst activation, seconds after L2 genesis (`None`: never; needs Jovian no later).
    pub karst_offset_s: Option<u64>,
    /// `keep_karst_upgrade_gas`.
    pub keep_karst_upgrade_gas: bool,
    /// Nodes derive their safe head from L1 (what the batcher model posts).
    pub derivation: bool,
    /// The rollup's sequence window (L1 blocks).
    pub seq_window_size: u64,
    /// The batcher model.
    pub batcher: crate::batcher::BatcherConfig,
    /// Attributes builders of the members: empty, every member runs the protocol's; one, every member runs it; one
    /// per member, member `i` runs the `i`-th (a chain whose nodes disagree on consensus rules).
    pub attributes: Vec<Arc<dyn keel_core::attributes::AttributesBuilder>>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            block_time_ms: 2_000,
            l1_block_time_s: 12,
            sequencer: SequencerConfig::default(),
            sequencers: 1,
            max_sequencer_drift_s: 600,
            fjord: true,
            engine_latency_ms: (1, 20),
            l1_latency_ms: (5, 50),
            conductor_latency_ms: (1, 10),
            engine_timeout_ms: 10_000,
            conductor_timeout_ms: 1_000,
            start_offset_ms: 500,
            isthmus_offset_s: None,
            jovian_offset_s: None,
            karst_offset_s: None,
            keep_karst_upgrade_gas: false,
            derivation: true,
            seq_window_size: 3600,
            batcher: crate::batcher::BatcherConfig::default(),
            attributes: Vec::new(),
        }
    }
}

/// Which kind of call a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallKind {
    /// Any L1 block fetch.
    L1,
    /// `engine_forkchoiceUpdated` with attributes.
    StartBuild,
    /// `engine_getPayload`.
    GetPayload,
    /// `engine_newPayload`.
    NewPayload,
    /// `engine_forkchoiceUpdated` without attributes.
    UpdateHead,
    /// Reading engine heads / blocks.
    ReadL2,
    /// `conductor_leader`.
    Leader,
    /// `conductor_commitUnsafePayload`.
    Commit,
}

/// An injected misbehaviour for one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Fail with this error (after the normal latency; a `Timeout` arrives after the call timeout).
    Fail(RpcError),
    /// Carry out the call, then report a timeout (the answer was lost).
    LoseAnswer,
    /// Answer with this payload status instead of the real one (engine status-bearing calls only).
    Status(PayloadStatusEnum),
}

/// Probabilities of faults drawn per call (the scenario runner's swarm faults). Explicitly injected faults win.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultRates {
    /// An engine call fails with a transport error.
    pub engine_error: f64,
    /// An engine call times out.
    pub engine_timeout: f64,
    /// A build start answers SYNCING.
    pub engine_syncing: f64,
    /// A newPayload of a sealed block answers INVALID.
    pub invalid_payload: f64,
    /// An engine call answers -38002 (invalid forkchoice state).
    pub engine_reset: f64,
    /// A conductor commit fails.
    pub commit_failure: f64,
    /// A conductor commit is carried out but its answer is lost.
    pub commit_lost: f64,
    /// An L1 fetch fails.
    pub l1_error: f64,
}

/// The batch inbox of simulated chains.
pub const BATCH_INBOX: alloy_primitives::Address =
    alloy_primitives::address!("0xff00000000000000000000000000000000000901");

/// Genesis and rollup config of a simulated chain.
pub fn make_rollup(cfg: &SimConfig, l1: &L1Chain, genesis_l2: &L2BlockRef) -> keel_core::Rollup {
    let mut rollup = RollupConfig {
        block_time: (cfg.block_time_ms / 1000).max(1),
        max_sequencer_drift: cfg.max_sequencer_drift_s,
        seq_window_size: cfg.seq_window_size,
        channel_timeout: 300,
        l1_chain_id: 900,
        l2_chain_id: crate::engine::L2_CHAIN_ID.into(),
        batch_inbox_address: BATCH_INBOX,
        deposit_contract_address: crate::l1::DEPOSIT_CONTRACT,
        l1_system_config_address: crate::l1::SYSTEM_CONFIG,
        ..Default::default()
    };
    rollup.genesis.l1 = l1.genesis().info.id();
    rollup.genesis.l2 = genesis_l2.id();
    rollup.genesis.l2_time = genesis_l2.timestamp_s();
    rollup.genesis.system_config = Some(kona_genesis::SystemConfig {
        batcher_address: crate::batcher::address_of(&crate::batcher::batcher_key(0)),
        gas_limit: 30_000_000,
        eip1559_denominator: Some(250),
        eip1559_elasticity: Some(6),
        ..Default::default()
    });
    let h = &mut rollup.hardforks;
    h.regolith_time = Some(0);
    h.canyon_time = Some(0);
    h.delta_time = Some(0);
    h.ecotone_time = Some(0);
    if cfg.fjord {
        h.fjord_time = Some(0);
        h.granite_time = Some(0);
        h.holocene_time = Some(0);
    }
    if let Some(t) = cfg.isthmus_offset_s {
        h.isthmus_time = Some(genesis_l2.timestamp_s() + t);
    }
    if let Some(t) = cfg.jovian_offset_s {
        h.jovian_time = Some(genesis_l2.timestamp_s() + t);
    }
    keel_core::Rollup {
        karst_time: cfg.karst_offset_s.map(|t| genesis_l2.timestamp_s() + t),
        keep_karst_upgrade_gas: cfg.keep_karst_upgrade_gas,
        ..rollup.into()
    }
}

/// One sequencer with its engine.
pub struct Member {
    /// The node (`None` while crashed).
    pub node: Option<Node>,
    /// Its execution engine (survives crashes).
    pub engine: Engine,
    /// Every engine call fails with "connection refused" until this time.
    pub engine_down_until: UnixMs,
    /// When a crashed node comes back.
    pub restart_at: Option<UnixMs>,
    /// Bumped on every crash so answers to the dead incarnation's requests are dropped.
    pub incarnation: u64,
}

/// A deterministic world around one or more nodes.
pub struct Sim {
    /// Virtual wall time (ms).
    pub now: UnixMs,
    /// The sequencers.
    pub members: Vec<Member>,
    /// L1.
    pub l1: L1Chain,
    /// The conductor's commit log (shared by all members).
    pub conductor: Conductor,
    /// Which member the conductor considers leader (`None`: nobody).
    pub leader: Option<usize>,
    /// Settings.
    pub cfg: SimConfig,
    core_cfg: Config,
    rng: Rng,
    queue: BTreeMap<(UnixMs, u64), (usize, u64, Event)>,
    seq: u64,
    /// Per-kind injected faults, applied to the next calls of that kind in order.
    pub faults: HashMap<CallKind, VecDeque<Fault>>,
    /// Faults drawn at random per call.
    pub rates: FaultRates,
    /// Calls made, by kind.
    pub calls: BTreeMap<CallKind, u64>,
    /// Time of every call made, by kind (for hot-loop checks; cleared by long runs).
    pub call_times: Vec<(UnixMs, CallKind)>,
    /// Replies to RPC calls, in order: (member, reply id, result).
    pub replies: Vec<(usize, ReplyTo, Result<RpcReply, RpcFailure>)>,
    /// Blocks published, in order.
    pub published: Vec<B256>,
    /// Keep `call_times` and `published` (tests); long runs turn this off to stay bounded.
    pub keep_history: bool,
    next_reply: u64,
    /// Absorbs every recorded event (time, length, text) in order; finalised on demand.
    trace: alloy_primitives::Keccak256,
    /// Invariant checks performed.
    pub checks: u64,
    /// Crashes performed.
    pub crashes: u64,
    /// Leadership changes performed.
    pub failovers: u64,
    last_l1_head: Option<B256>,
    leader_overridden: bool,
    /// A new leader the conductor is still trying to start, and when it tries next.
    pending_start: Option<(usize, UnixMs, Option<ReplyTo>)>,
    timeline: VecDeque<(UnixMs, String)>,
    /// The batcher model.
    pub batcher: crate::batcher::Batcher,
}

impl Sim {
    /// Builds the world and its nodes; they start by reading their engines' heads.
    pub fn new(cfg: SimConfig) -> Self {
        let mut rng = Rng::new(cfg.seed);
        let genesis_time_s = 1_700_000_000;
        let mut l1 = L1Chain::new(genesis_time_s - cfg.l1_block_time_s * 2, cfg.l1_block_time_s, &mut rng);
        // Every simulated epoch may carry user deposits and, rarely, a SystemConfig gas-limit update.
        l1.deposit_rate = 0.3;
        l1.config_update_rate = 0.02;
        let genesis_l2 = L2BlockRef {
            hash: keccak256(format!("keel-sim-l2-genesis-{}", cfg.seed)),
            number: 0,
            parent_hash: B256::ZERO,
            time_ms: genesis_time_s * 1000,
            l1_origin: l1.genesis().info.id(),
            seq_num: 0,
        };
        let rollup = make_rollup(&cfg, &l1, &genesis_l2);
        let eip1559_defaults = keel_core::system_config::default_eip1559(&rollup);
        let batcher = crate::batcher::Batcher::new(cfg.batcher.clone(), &rollup, &genesis_l2);
        let mut core_cfg = Config::new(Arc::new(rollup), cfg.sequencer.clone());
        core_cfg.block_time_ms = cfg.block_time_ms;
        core_cfg.derivation = cfg.derivation;
        let now = genesis_l2.time_ms + cfg.start_offset_ms;
        let members = (0..cfg.sequencers.max(1))
            .map(|m| Member {
                node: Some(Node::new(member_config(&core_cfg, &cfg, m), now).expect("valid sim config")),
                engine: {
                    let mut e = Engine::new(genesis_l2, cfg.block_time_ms);
                    e.eip1559_defaults = eip1559_defaults;
                    e
                },
                engine_down_until: 0,
                restart_at: None,
                incarnation: 0,
            })
            .collect();
        let mut sim = Self {
            now,
            members,
            l1,
            conductor: Conductor { leader: true, ..Default::default() },
            leader: Some(0),
            cfg,
            core_cfg,
            rng,
            queue: BTreeMap::new(),
            seq: 0,
            faults: HashMap::new(),
            rates: FaultRates::default(),
            calls: BTreeMap::new(),
            call_times: Vec::new(),
            replies: Vec::new(),
            published: Vec::new(),
            keep_history: true,
            next_reply: 1,
            trace: alloy_primitives::Keccak256::new(),
            checks: 0,
            crashes: 0,
            failovers: 0,
            last_l1_head: None,
            leader_overridden: false,
            pending_start: None,
            timeline: VecDeque::new(),
            batcher,
        };
        sim.l1.advance(now, &mut sim.rng);
        // A real shell polls the L1 head as it starts; the first answer beats the engine round trips of boot.
        let (head, fin) = (sim.l1.head_ref(), sim.l1.finalized().info);
        sim.last_l1_head = Some(head.hash);
        for m in 0..sim.members.len() {
            sim.schedule(m, 0, Event::L1HeadObserved(head));
            sim.schedule(m, 0, Event::L1FinalizedObserved(fin));
        }
        sim.dispatch_all();
        sim
    }

    /// Member 0's node (panics if it is crashed).
    pub fn node(&self) -> &Node {
        self.members[0].node.as_ref().expect("member 0 is running")
    }

    /// Member 0's engine.
    pub fn engine(&self) -> &Engine {
        &self.members[0].engine
    }

    /// Makes member 0's engine refuse connections until `t`.
    pub fn set_engine_down_until(&mut self, t: UnixMs) {
        self.members[0].engine_down_until = t;
    }

    /// A hash of everything that happened, for determinism checks.
    pub fn trace_hash(&self) -> B256 {
        self.trace.clone().finalize()
    }

    /// The last events, oldest first (for failure reports).
    pub fn timeline(&self) -> impl Iterator<Item = String> + '_ {
        self.timeline.iter().map(|(t, what)| format!("t={t} {what}"))
    }

    fn record(&mut self, what: String) {
        self.trace.update(self.now.to_be_bytes());
        self.trace.update((what.len() as u64).to_be_bytes());
        self.trace.update(what.as_bytes());
        if self.timeline.len() >= TIMELINE {
            self.timeline.pop_front();
        }
        self.timeline.push_back((self.now, what));
    }

    /// Queues an injected fault for the next call of `kind` (from any member).
    pub fn inject(&mut self, kind: CallKind, fault: Fault) {
        self.faults.entry(kind).or_default().push_back(fault);
    }

    /// Delivers `event` to member 0 now.
    pub fn deliver(&mut self, event: Event) {
        self.deliver_to(0, event);
    }

    /// Delivers `event` to `member` now.
    pub fn deliver_to(&mut self, member: usize, event: Event) {
        self.schedule(member, 0, event);
    }

    /// Sends an RPC call to member 0; returns the id its reply will carry.
    pub fn rpc(&mut self, request: RpcRequest) -> ReplyTo {
        self.rpc_to(0, request)
    }

    /// Sends an RPC call to `member`.
    pub fn rpc_to(&mut self, member: usize, request: RpcRequest) -> ReplyTo {
        let reply_to = ReplyTo(self.next_reply);
        self.next_reply += 1;
        if request == RpcRequest::OverrideLeader {
            self.leader_overridden = true;
        }
        self.deliver_to(member, Event::RpcRequested { reply_to, request });
        reply_to
    }

    /// The reply to `id`, if it arrived.
    pub fn reply(&self, id: ReplyTo) -> Option<&Result<RpcReply, RpcFailure>> {
        self.replies.iter().rev().find(|(_, r, _)| *r == id).map(|(_, _, res)| res)
    }

    fn schedule(&mut self, member: usize, delay: u64, event: Event) {
        self.seq += 1;
        let incarnation = self.members[member].incarnation;
        self.queue.insert((self.now + delay, self.seq), (member, incarnation, event));
    }

    fn latency(&mut self, range: (u64, u64)) -> u64 {
        self.rng.range(range.0, range.1)
    }

    /// Announces the current L1 head to every node (after its L1 latency) if it changed.
    pub fn observe_l1(&mut self) {
        let head = self.l1.head_ref();
        if self.last_l1_head != Some(head.hash) {
            self.last_l1_head = Some(head.hash);
            let fin = self.l1.finalized().info;
            for m in 0..self.members.len() {
                let d = self.latency(self.cfg.l1_latency_ms);
                self.schedule(m, d, Event::L1HeadObserved(head));
                self.schedule(m, d, Event::L1FinalizedObserved(fin));
            }
        }
    }

    fn take_fault(&mut self, kind: CallKind) -> Option<Fault> {
        self.faults.get_mut(&kind).and_then(|q| q.pop_front())
    }

    fn dispatch_all(&mut self) {
        for m in 0..self.members.len() {
            self.dispatch(m);
        }
    }

    /// Carries out every command member `m` has queued.
    fn dispatch(&mut self, m: usize) {
        loop {
            let Some(cmd) = self.members[m].node.as_mut().and_then(|n| n.poll_command()) else { break };
            self.execute(m, cmd);
        }
    }

    /// A fault to apply to the next call of `kind`; the scenario runner overrides this to inject by probability.
    fn fault_for(&mut self, kind: CallKind) -> Option<Fault> {
        if let Some(f) = self.take_fault(kind) {
            return Some(f);
        }
        let r = self.rates.clone();
        let engine = !matches!(kind, CallKind::L1 | CallKind::Leader | CallKind::Commit);
        let rng = &mut self.rng;
        if engine && rng.chance(r.engine_error) {
            return Some(Fault::Fail(RpcError::Transport("connection reset by peer".into())));
        }
        if engine && rng.chance(r.engine_timeout) {
            return Some(Fault::Fail(RpcError::Timeout));
        }
        if engine && kind != CallKind::ReadL2 && rng.chance(r.engine_reset) {
            return Some(Fault::Fail(RpcError::Rpc { code: -38002, message: "Invalid forkchoice state".into() }));
        }
        match kind {
            CallKind::StartBuild if rng.chance(r.engine_syncing) => Some(Fault::Status(PayloadStatusEnum::Syncing)),
            CallKind::NewPayload if rng.chance(r.invalid_payload) => {
                Some(Fault::Status(PayloadStatusEnum::Invalid { validation_error: "simulated invalid block".into() }))
            }
            CallKind::Commit if rng.chance(r.commit_failure) => {
                Some(Fault::Fail(RpcError::Transport("raft: no quorum".into())))
            }
            CallKind::Commit if rng.chance(r.commit_lost) => Some(Fault::LoseAnswer),
            CallKind::L1 if rng.chance(r.l1_error) => {
                Some(Fault::Fail(RpcError::Transport("L1 node overloaded".into())))
            }
            _ => None,
        }
    }

    fn execute(&mut self, m: usize, cmd: Command) {
        let kind = match &cmd {
            Command::FetchL1BlockByHash { .. }
            | Command::FetchL1BlockByNumber { .. }
            | Command::FetchL1Receipts { .. }
            | Command::FetchL1Data { .. }
            | Command::FetchBlobs { .. } => Some(CallKind::L1),
            Command::FetchL2Heads { .. } | Command::FetchL2BlockByNumber { .. } | Command::FetchL2Header { .. } => {
                Some(CallKind::ReadL2)
            }
            Command::ForkchoiceUpdate { attributes: Some(_), .. } => Some(CallKind::StartBuild),
            Command::ForkchoiceUpdate { attributes: None, .. } => Some(CallKind::UpdateHead),
            Command::GetPayload { .. } => Some(CallKind::GetPayload),
            Command::NewPayload { .. } => Some(CallKind::NewPayload),
            Command::CheckLeader { .. } => Some(CallKind::Leader),
            Command::CommitToConductor { .. } => Some(CallKind::Commit),
            Command::Publish { .. } | Command::Reply { .. } => None,
        };
        self.record(format!("n{m} {}", summarize_command(&cmd)));
        let Some(kind) = kind else {
            match cmd {
                Command::Publish { envelope } => {
                    let hash = envelope.execution_payload.block_hash();
                    if self.core_cfg.sequencer.conductor_enabled()
                        && !self.leader_overridden
                        && !self.conductor.contains(&hash)
                    {
                        panic!(
                            "safety: block {hash} published by n{m} but never committed to the conductor (seed {})",
                            self.cfg.seed
                        );
                    }
                    if self.keep_history {
                        self.published.push(hash);
                    }
                    // Gossip: every other member receives the block, as the shell's p2p node hands it to the core.
                    for other in 0..self.members.len() {
                        if other != m {
                            let d = self.latency(self.cfg.l1_latency_ms);
                            self.schedule(other, d, Event::UnsafePayloadGossiped(envelope.clone()));
                        }
                    }
                }
                Command::Reply { reply_to, result } => {
                    if self.keep_history || self.pending_start.is_some_and(|p| p.2 == Some(reply_to)) {
                        self.replies.push((m, reply_to, result));
                    }
                }
                _ => unreachable!(),
            }
            return;
        };
        *self.calls.entry(kind).or_default() += 1;
        if self.keep_history {
            self.call_times.push((self.now, kind));
        }
        let id = cmd.request_id().expect("calls carry ids");
        let is_engine = !matches!(kind, CallKind::L1 | CallKind::Leader | CallKind::Commit);
        let is_conductor = matches!(kind, CallKind::Leader | CallKind::Commit);
        let timeout = if is_conductor { self.cfg.conductor_timeout_ms } else { self.cfg.engine_timeout_ms };
        let latency = if is_engine {
            self.latency(self.cfg.engine_latency_ms)
        } else if is_conductor {
            self.latency(self.cfg.conductor_latency_ms)
        } else {
            self.latency(self.cfg.l1_latency_ms)
        };
        if is_engine && self.now < self.members[m].engine_down_until {
            let error = RpcError::Transport("connection refused".into());
            return self.schedule(m, latency, Event::RequestFailed { id, error });
        }
        let fault = self.fault_for(kind);
        match fault {
            Some(Fault::Fail(RpcError::Timeout)) => {
                return self.schedule(m, timeout, Event::RequestFailed { id, error: RpcError::Timeout })
            }
            Some(Fault::Fail(error)) => return self.schedule(m, latency, Event::RequestFailed { id, error }),
            _ => {}
        }
        // A status fault replaces the engine's answer and has none of the call's effects (an engine that says
        // SYNCING starts no build; one that says INVALID stores no block).
        let event = match (&fault, &cmd) {
            (Some(Fault::Status(status)), Command::ForkchoiceUpdate { .. }) => Event::EngineResponded {
                id,
                reply: EngineReply::ForkchoiceUpdated { status: status.clone(), payload_id: None },
            },
            (Some(Fault::Status(status)), Command::NewPayload { .. }) => {
                Event::EngineResponded { id, reply: EngineReply::PayloadInserted { status: status.clone() } }
            }
            _ => self.answer(m, cmd),
        };
        if fault == Some(Fault::LoseAnswer) {
            return self.schedule(m, timeout, Event::RequestFailed { id, error: RpcError::Timeout });
        }
        self.schedule(m, latency, event);
    }

    fn answer(&mut self, m: usize, cmd: Command) -> Event {
        let engine_event = |id, r: Result<EngineReply, RpcError>| match r {
            Ok(reply) => Event::EngineResponded { id, reply },
            Err(error) => Event::RequestFailed { id, error },
        };
        let engine = &mut self.members[m].engine;
        match cmd {
            Command::FetchL1BlockByHash { id, hash } => {
                Event::L1BlockFetched { id, block: self.l1.by_hash(&hash).cloned() }
            }
            Command::FetchL1BlockByNumber { id, number } => {
                Event::L1BlockFetched { id, block: self.l1.by_number(number).cloned() }
            }
            Command::FetchL1Receipts { id, hash } => match self.l1.receipts(&hash) {
                Some(receipts) => Event::L1ReceiptsFetched { id, receipts },
                None => Event::RequestFailed {
                    id,
                    error: RpcError::Rpc { code: -32000, message: format!("unknown block {hash:#x}") },
                },
            },
            Command::FetchL1Data { id, number } => {
                let data = self.l1.by_number(number).map(|block| {
                    Box::new(keel_core::L1Data {
                        block: block.clone(),
                        receipts: self.l1.receipts(&block.hash()).unwrap_or_default(),
                        txs: self.l1.transactions(&block.hash()).unwrap_or_default(),
                    })
                });
                Event::L1DataFetched { id, data }
            }
            Command::FetchBlobs { id, block, blobs } => {
                match blobs.iter().map(|(_, h)| self.l1.blob(h)).collect::<Option<Vec<_>>>() {
                    Some(blobs) => Event::BlobsFetched { id, blobs },
                    None => Event::RequestFailed {
                        id,
                        error: RpcError::Transport(format!("beacon: a blob of L1 block {} is unknown", block.number)),
                    },
                }
            }
            Command::FetchL2Heads { id } => Event::L2HeadsFetched { id, heads: engine.heads() },
            Command::FetchL2Header { id, number } => Event::L2HeaderFetched { id, header: engine.header(number) },
            Command::FetchL2BlockByNumber { id, number } => {
                Event::L2BlockFetched { id, block: engine.by_number(number) }
            }
            Command::ForkchoiceUpdate { id, state, attributes, .. } => {
                engine_event(id, engine.forkchoice_updated(&state, attributes.as_deref()))
            }
            Command::GetPayload { id, payload_id, .. } => {
                engine_event(id, engine.get_payload(payload_id, &mut self.rng))
            }
            Command::NewPayload { id, envelope, .. } => engine_event(id, engine.new_payload(&envelope)),
            Command::CheckLeader { id } => {
                Event::ConductorResponded { id, reply: keel_core::ConductorReply::Leader(self.leader == Some(m)) }
            }
            Command::CommitToConductor { id, envelope } => {
                match self.conductor.commit_as(self.leader == Some(m), &envelope) {
                    Ok(outcome) => {
                        for r in &outcome.replaced {
                            // Legitimate only if no engine accepted the block (INVALID on insert) or L1 reorged its
                            // origin out.
                            let canonical = self.l1.by_number(r.l1_origin.number).map(|b| b.hash());
                            let accepted = self.members.iter().any(|mm| mm.engine.block(&r.hash).is_some());
                            if canonical == Some(r.l1_origin.hash) && accepted {
                                panic!(
                                    "safety: committed block {}:{} replaced by {:#x} from n{m} although it is valid and its L1 origin {} is canonical (seed {})",
                                    r.hash, r.number, envelope.execution_payload.block_hash(), r.l1_origin.number, self.cfg.seed
                                );
                            }
                        }
                        Event::ConductorResponded { id, reply: outcome.reply }
                    }
                    Err(error) => Event::RequestFailed { id, error },
                }
            }
            Command::Publish { .. } | Command::Reply { .. } => unreachable!("handled by execute"),
        }
    }

    fn check(&mut self, m: usize) {
        self.checks += 1;
        let Some(node) = self.members[m].node.as_ref() else { return };
        if let Err(v) = node.check_invariants() {
            panic!("safety: n{m}: {v} (seed {}, t={} ms, stage {})", self.cfg.seed, self.now, node.build_stage());
        }
        // Derivability: a block the batcher posted in time on the chain derivation is on (same parent) is the block
        // derived at its height.
        if self.core_cfg.derivation {
            if let Some(safe) = node.heads().safe {
                if let Some((posted, parent)) = self.batcher.posted.get(&safe.number) {
                    if *parent == safe.parent_hash && *posted != safe.hash {
                        panic!(
                            "safety: n{m} derived {safe} but the batcher posted {posted:#x} at that height (seed {}, t={} ms)",
                            self.cfg.seed, self.now
                        );
                    }
                }
            }
        }
    }

    /// The batcher posts what the leader's engine holds (after each new L1 block; its transactions go in the next).
    fn batcher_tick(&mut self) {
        let m = self.leader.unwrap_or(0);
        let safe = self.members[m].node.as_ref().and_then(|n| n.heads().safe);
        let (now, engine) = (self.now, &self.members[m].engine);
        self.batcher.tick(now, engine, safe, &mut self.l1, &mut self.rng);
    }

    /// Crashes member `m` now; it restarts after `down_ms` with only what its engine kept.
    pub fn crash(&mut self, m: usize, down_ms: u64) {
        if self.members[m].node.is_none() {
            return;
        }
        self.record(format!("n{m} CRASH for {down_ms} ms"));
        self.crashes += 1;
        let member = &mut self.members[m];
        member.node = None;
        member.incarnation += 1;
        member.restart_at = Some(self.now + down_ms);
    }

    fn restart(&mut self, m: usize) {
        self.record(format!("n{m} RESTART"));
        let node = Node::new(member_config(&self.core_cfg, &self.cfg, m), self.now).expect("valid sim config");
        let member = &mut self.members[m];
        member.node = Some(node);
        member.restart_at = None;
        // A restarted node needs the L1 head again (a real shell polls it).
        self.last_l1_head = None;
        self.observe_l1();
        // A restarted leader must be started again by the conductor (with a conductor it starts stopped).
        if self.core_cfg.sequencer.conductor_enabled() && self.leader == Some(m) {
            self.pending_start = Some((m, self.now + CONDUCTOR_RETRY_MS, None));
        }
        self.dispatch(m);
    }

    /// op-conductor's failover: `to` becomes leader; the old leader is told to stop; the new one is started at the
    /// conductor's head, after being caught up with `admin_postUnsafePayload` if it is behind.
    pub fn failover(&mut self, to: usize) {
        let from = self.leader;
        self.record(format!("FAILOVER {from:?} -> n{to}"));
        self.failovers += 1;
        self.leader = Some(to);
        if let Some(f) = from {
            if f != to && self.members[f].node.is_some() {
                self.rpc_to(f, RpcRequest::StopSequencer);
            }
        }
        self.pending_start = Some((to, self.now, None));
    }

    /// The conductor model's loop: keep trying to start the pending leader.
    fn conductor_tick(&mut self) {
        let Some((m, at, last)) = self.pending_start else { return };
        if self.now < at {
            return;
        }
        if let Some(id) = last {
            match self.reply(id).cloned() {
                Some(Ok(_)) => {
                    self.pending_start = None;
                    return;
                }
                Some(Err(e)) if e.message.contains("already running") => {
                    self.pending_start = None;
                    return;
                }
                _ => {}
            }
        }
        if self.leader != Some(m) {
            self.pending_start = None;
            return;
        }
        let Some(node) = self.members[m].node.as_ref() else {
            self.pending_start = Some((m, self.now + CONDUCTOR_RETRY_MS, None));
            return;
        };
        let node_head = node.heads().unsafe_head;
        let raft_head = self.conductor.head().map(|c| (c.number, c.hash));
        let start_hash = match (raft_head, node_head) {
            (Some((n, h)), Some(u)) if u.number < n || u.hash != h => {
                // Catch the node up from the raft log, then try again.
                let missing: Vec<_> =
                    self.conductor.log.iter().filter(|c| c.number > u.number).map(|c| c.envelope.clone()).collect();
                for env in missing {
                    self.rpc_to(m, RpcRequest::PostUnsafePayload(env));
                }
                h
            }
            (Some((_, h)), _) => h,
            (None, Some(u)) => u.hash,
            (None, None) => B256::ZERO,
        };
        let id = self.rpc_to(m, RpcRequest::StartSequencer(start_hash));
        self.pending_start = Some((m, self.now + CONDUCTOR_RETRY_MS, Some(id)));
    }

    /// Advances to the next moment anything happens, no later than `until`. Returns whether anything was due.
    pub fn step(&mut self, until: UnixMs) -> bool {
        self.dispatch_all();
        let mut next = until;
        if let Some((&(t, _), _)) = self.queue.iter().next() {
            next = next.min(t);
        }
        for member in &self.members {
            if let Some(t) = member.node.as_ref().and_then(|n| n.poll_timeout()) {
                next = next.min(t);
            }
            if let Some(t) = member.restart_at {
                next = next.min(t);
            }
        }
        if let Some((_, at, _)) = self.pending_start {
            next = next.min(at.max(self.now));
        }
        next = next.min(self.l1.next_block_time());
        let progressed = next < until || self.queue.keys().next().is_some_and(|k| k.0 <= until);
        self.now = self.now.max(next);
        if self.l1.advance(self.now, &mut self.rng) {
            self.batcher_tick();
            self.observe_l1();
        }
        for m in 0..self.members.len() {
            if self.members[m].restart_at.is_some_and(|t| t <= self.now) {
                self.restart(m);
            }
        }
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let (m, incarnation, event) = entry.remove();
            if incarnation != self.members[m].incarnation || self.members[m].node.is_none() {
                continue;
            }
            self.record(format!("n{m} {}", summarize_event(&event)));
            let now = self.now;
            if let Some(node) = self.members[m].node.as_mut() {
                node.handle_event(now, event);
            }
            self.check(m);
            self.dispatch(m);
        }
        for m in 0..self.members.len() {
            let now = self.now;
            let Some(node) = self.members[m].node.as_mut() else { continue };
            if node.poll_timeout().is_some_and(|t| t <= now) {
                node.handle_timeout(now);
                self.check(m);
                self.dispatch(m);
            }
        }
        self.conductor_tick();
        progressed
    }

    /// Runs until virtual time `until` (ms).
    pub fn run_until(&mut self, until: UnixMs) {
        while self.now < until {
            self.step(until);
        }
        self.dispatch_all();
    }

    /// Runs for `ms` more milliseconds.
    pub fn run_for(&mut self, ms: u64) {
        let until = self.now + ms;
        self.run_until(until);
    }

    /// Runs until member 0's unsafe head reaches `number`, or `max_ms` of virtual time pass. Returns whether it did.
    pub fn run_to_block(&mut self, number: u64, max_ms: u64) -> bool {
        let deadline = self.now + max_ms;
        while self.now < deadline {
            if self.unsafe_number() >= number {
                return true;
            }
            self.step(deadline);
        }
        self.unsafe_number() >= number
    }

    /// Replaces the last `depth` L1 blocks, drawing the new blocks from the world's seed.
    pub fn reorg_l1(&mut self, depth: u64) {
        self.record(format!("L1 REORG depth {depth}"));
        self.l1.reorg(depth, &mut self.rng);
        self.observe_l1();
    }

    /// Models derivation: each node's safe head follows its engine's unsafe head `lag` blocks behind.
    pub fn follow_safe_head(&mut self, lag: u64) {
        for m in 0..self.members.len() {
            let target = self.members[m].engine.heads().unsafe_head.number.saturating_sub(lag);
            let Some(node) = self.members[m].node.as_ref() else { continue };
            let current = node.heads().safe.map(|s| s.number).unwrap_or(0);
            if target > current {
                if let Some(b) = self.members[m].engine.by_number(target) {
                    self.deliver_to(m, Event::SafeHeadObserved(b));
                }
            }
        }
    }

    /// The highest safe head among running members.
    pub fn safe_height(&self) -> u64 {
        self.members.iter().filter_map(|m| m.node.as_ref()?.heads().safe).map(|b| b.number).max().unwrap_or(0)
    }

    /// Member 0's unsafe head number (0 if unknown or crashed).
    pub fn unsafe_number(&self) -> u64 {
        self.members[0].node.as_ref().and_then(|n| n.heads().unsafe_head).map(|h| h.number).unwrap_or(0)
    }

    /// The highest unsafe head among members' engines (the chain's progress whoever leads).
    pub fn chain_height(&self) -> u64 {
        self.members.iter().map(|m| m.engine.heads().unsafe_head.number).max().unwrap_or(0)
    }

    /// Calls of `kind` made in `[from, to)`.
    pub fn calls_between(&self, kind: CallKind, from: UnixMs, to: UnixMs) -> usize {
        self.call_times.iter().filter(|(t, k)| *k == kind && *t >= from && *t < to).count()
    }

    /// Calls of `kind` so far.
    pub fn call_count(&self, kind: CallKind) -> u64 {
        self.calls.get(&kind).copied().unwrap_or(0)
    }
}

/// Member `m`'s core configuration: the world's, with the member's attributes builder ([`SimConfig::attributes`]).
fn member_config(base: &Config, cfg: &SimConfig, m: usize) -> Config {
    let mut c = base.clone();
    match cfg.attributes.as_slice() {
        [] => {}
        [one] => c.attributes = one.clone(),
        each => c.attributes = each[m % each.len()].clone(),
    }
    c
}

fn summarize_command(cmd: &Command) -> String {
    match cmd {
        Command::FetchL1BlockByHash { id, hash } => format!("{id} FetchL1BlockByHash {hash:#x}"),
        Command::FetchL1BlockByNumber { id, number } => format!("{id} FetchL1BlockByNumber {number}"),
        Command::FetchL2Heads { id } => format!("{id} FetchL2Heads"),
        Command::FetchL2BlockByNumber { id, number } => format!("{id} FetchL2BlockByNumber {number}"),
        Command::FetchL1Receipts { id, hash } => format!("{id} FetchL1Receipts {hash:#x}"),
        Command::FetchL1Data { id, number } => format!("{id} FetchL1Data {number}"),
        Command::FetchBlobs { id, block, blobs } => format!("{id} FetchBlobs {} x{}", block.number, blobs.len()),
        Command::FetchL2Header { id, number } => format!("{id} FetchL2Header {number}"),
        Command::ForkchoiceUpdate { id, state, attributes, .. } => format!(
            "{id} ForkchoiceUpdate head={:#x} attrs={}",
            state.head_block_hash,
            attributes.as_ref().map(|a| a.op.payload_attributes.timestamp.to_string()).unwrap_or("-".into())
        ),
        Command::GetPayload { id, payload_id, .. } => format!("{id} GetPayload {payload_id}"),
        Command::NewPayload { id, envelope, .. } => {
            let p = &envelope.execution_payload;
            format!("{id} NewPayload {}:{:#x}", p.block_number(), p.block_hash())
        }
        Command::CheckLeader { id } => format!("{id} CheckLeader"),
        Command::CommitToConductor { id, envelope } => {
            format!("{id} CommitToConductor {}", envelope.execution_payload.block_number())
        }
        Command::Publish { envelope } => format!("Publish {}", envelope.execution_payload.block_number()),
        Command::Reply { reply_to, result } => format!("Reply {reply_to:?} {:?}", result.as_ref().map(|_| "ok")),
    }
}

fn summarize_event(ev: &Event) -> String {
    match ev {
        Event::L1HeadObserved(b) => format!("L1HeadObserved {}:{:#x}", b.number, b.hash),
        Event::L1FinalizedObserved(b) => format!("L1FinalizedObserved {}", b.number),
        Event::L1SafeObserved(b) => format!("L1SafeObserved {}", b.number),
        Event::SafeHeadObserved(b) => format!("SafeHeadObserved {b}"),
        Event::UnsafePayloadGossiped(env) => {
            let p = env.execution_payload.as_v1();
            format!("UnsafePayloadGossiped {} {:#x}", p.block_number, p.block_hash)
        }
        Event::FinalizedHeadObserved(b) => format!("FinalizedHeadObserved {b}"),
        Event::L1BlockFetched { id, block } => format!("{id} L1BlockFetched {:?}", block.as_ref().map(|b| b.number())),
        Event::L2HeadsFetched { id, heads } => format!("{id} L2HeadsFetched unsafe={}", heads.unsafe_head),
        Event::L2BlockFetched { id, block } => format!("{id} L2BlockFetched {:?}", block.map(|b| b.number)),
        Event::L1ReceiptsFetched { id, receipts } => format!("{id} L1ReceiptsFetched {} receipts", receipts.len()),
        Event::BlobsFetched { id, blobs } => format!("{id} BlobsFetched {}", blobs.len()),
        Event::L1DataFetched { id, data } => {
            format!("{id} L1DataFetched {:?}", data.as_ref().map(|d| (d.block.number(), d.txs.len())))
        }
        Event::L2HeaderFetched { id, header } => format!("{id} L2HeaderFetched {:?}", header.as_ref().map(|h| h.hash)),
        Event::EngineResponded { id, reply } => match reply {
            EngineReply::ForkchoiceUpdated { status, payload_id } => {
                format!("{id} ForkchoiceUpdated {} {payload_id:?}", status.as_str())
            }
            EngineReply::PayloadFetched(env) => format!("{id} PayloadFetched {}", env.execution_payload.block_number()),
            EngineReply::PayloadInserted { status } => format!("{id} PayloadInserted {}", status.as_str()),
        },
        Event::ConductorResponded { id, reply } => format!("{id} ConductorResponded {reply:?}"),
        Event::RequestFailed { id, error } => format!("{id} RequestFailed {error}"),
        Event::ShutdownRequested => "ShutdownRequested".to_string(),
        Event::RpcRequested { reply_to, request } => match request {
            RpcRequest::PostUnsafePayload(env) => {
                format!("Rpc {reply_to:?} PostUnsafePayload {}", env.execution_payload.block_number())
            }
            other => format!("Rpc {reply_to:?} {other:?}"),
        },
    }
}
