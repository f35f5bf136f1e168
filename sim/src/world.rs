//! The runner: owns virtual time, the world models and every in-flight request; delivers answers with seeded
//! latencies; injects faults; checks the node's and the world's invariants after every step.

use crate::conductor::Conductor;
use crate::engine::Engine;
use crate::l1::L1Chain;
use crate::rng::Rng;
use alloy_primitives::{keccak256, B256};
use alloy_rpc_types_engine::PayloadStatusEnum;
use keel_core::{
    Command, Config, EngineReply, Event, L2BlockRef, Node, ReplyTo, RollupConfig, RpcError, RpcFailure, RpcReply,
    RpcRequest, SequencerConfig, SystemConfig, Timestamp,
};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// Knobs of a simulated world.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Decides every latency, hash and mempool.
    pub seed: u64,
    /// L2 block time (ms).
    pub block_time_ms: u64,
    /// L1 block time (s).
    pub l1_block_time_s: u64,
    /// Sequencer settings under test.
    pub sequencer: SequencerConfig,
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
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            block_time_ms: 2_000,
            l1_block_time_s: 12,
            sequencer: SequencerConfig::default(),
            max_sequencer_drift_s: 600,
            fjord: true,
            engine_latency_ms: (1, 20),
            l1_latency_ms: (5, 50),
            conductor_latency_ms: (1, 10),
            engine_timeout_ms: 10_000,
            conductor_timeout_ms: 1_000,
            start_offset_ms: 500,
            isthmus_offset_s: None,
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

/// Genesis and rollup config of a simulated chain.
pub fn make_rollup(cfg: &SimConfig, l1: &L1Chain, genesis_l2: &L2BlockRef) -> RollupConfig {
    let mut rollup = RollupConfig {
        block_time: (cfg.block_time_ms / 1000).max(1),
        max_sequencer_drift: cfg.max_sequencer_drift_s,
        seq_window_size: 3600,
        channel_timeout: 300,
        l1_chain_id: 900,
        ..Default::default()
    };
    rollup.genesis.l1 = l1.genesis().info.id();
    rollup.genesis.l2 = genesis_l2.id();
    rollup.genesis.l2_time = genesis_l2.timestamp();
    rollup.genesis.system_config = Some(SystemConfig {
        batcher_address: alloy_primitives::Address::repeat_byte(0xba),
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
        h.isthmus_time = Some(genesis_l2.timestamp() + t);
    }
    rollup
}

/// A deterministic world around one node.
pub struct Sim {
    /// Virtual wall time (ms).
    pub now: Timestamp,
    /// The node under test.
    pub node: Node,
    /// L1.
    pub l1: L1Chain,
    /// The execution engine.
    pub engine: Engine,
    /// The conductor.
    pub conductor: Conductor,
    /// Settings.
    pub cfg: SimConfig,
    rng: Rng,
    queue: BTreeMap<(Timestamp, u64), Event>,
    seq: u64,
    /// Per-kind injected faults, applied to the next calls of that kind in order.
    pub faults: HashMap<CallKind, VecDeque<Fault>>,
    /// Every engine call fails with "connection refused" until this time.
    pub engine_down_until: Timestamp,
    /// Calls made, by kind.
    pub calls: BTreeMap<CallKind, u64>,
    /// Time of every call made, by kind (for hot-loop checks).
    pub call_times: Vec<(Timestamp, CallKind)>,
    /// Replies to RPC calls, in order.
    pub replies: Vec<(ReplyTo, Result<RpcReply, RpcFailure>)>,
    /// Blocks published, in order.
    pub published: Vec<B256>,
    next_reply: u64,
    trace: B256,
    /// Invariant checks performed.
    pub checks: u64,
    last_l1_head: Option<B256>,
    leader_overridden: bool,
}

impl Sim {
    /// Builds the world and the node; the node starts reading the engine's heads at once.
    pub fn new(cfg: SimConfig) -> Self {
        let mut rng = Rng::new(cfg.seed);
        let genesis_time_s = 1_700_000_000;
        let l1 = L1Chain::new(genesis_time_s - cfg.l1_block_time_s * 2, cfg.l1_block_time_s, &mut rng);
        let genesis_l2 = L2BlockRef {
            hash: keccak256(format!("keel-sim-l2-genesis-{}", cfg.seed)),
            number: 0,
            parent_hash: B256::ZERO,
            time_ms: genesis_time_s * 1000,
            l1_origin: l1.genesis().info.id(),
            seq_num: 0,
        };
        let rollup = make_rollup(&cfg, &l1, &genesis_l2);
        let mut core_cfg = Config::new(Arc::new(rollup), cfg.sequencer.clone());
        core_cfg.block_time_ms = cfg.block_time_ms;
        let now = genesis_l2.time_ms + cfg.start_offset_ms;
        let node = Node::new(core_cfg, now).expect("valid sim config");
        let engine = Engine::new(genesis_l2, cfg.block_time_ms);
        let mut sim = Self {
            now,
            node,
            l1,
            engine,
            conductor: Conductor { leader: true, ..Default::default() },
            cfg,
            rng,
            queue: BTreeMap::new(),
            seq: 0,
            faults: HashMap::new(),
            engine_down_until: 0,
            calls: BTreeMap::new(),
            call_times: Vec::new(),
            replies: Vec::new(),
            published: Vec::new(),
            next_reply: 1,
            trace: B256::ZERO,
            checks: 0,
            last_l1_head: None,
            leader_overridden: false,
        };
        sim.l1.advance(now, &mut sim.rng);
        sim.observe_l1();
        sim.dispatch();
        sim
    }

    /// A hash of everything that happened, for determinism checks.
    pub fn trace_hash(&self) -> B256 {
        self.trace
    }

    fn record(&mut self, what: &str) {
        let mut buf = Vec::with_capacity(40 + what.len());
        buf.extend_from_slice(self.trace.as_slice());
        buf.extend_from_slice(&self.now.to_be_bytes());
        buf.extend_from_slice(what.as_bytes());
        self.trace = keccak256(&buf);
    }

    /// Queues an injected fault for the next call of `kind`.
    pub fn inject(&mut self, kind: CallKind, fault: Fault) {
        self.faults.entry(kind).or_default().push_back(fault);
    }

    /// Delivers `event` to the node at the current time (as if it just arrived).
    pub fn deliver(&mut self, event: Event) {
        self.schedule(0, event);
    }

    /// Sends an RPC call to the node; returns the id its reply will carry.
    pub fn rpc(&mut self, request: RpcRequest) -> ReplyTo {
        let reply_to = ReplyTo(self.next_reply);
        self.next_reply += 1;
        if request == RpcRequest::OverrideLeader {
            self.leader_overridden = true;
        }
        self.deliver(Event::RpcRequested { reply_to, request });
        reply_to
    }

    /// The reply to `id`, if it arrived.
    pub fn reply(&self, id: ReplyTo) -> Option<&Result<RpcReply, RpcFailure>> {
        self.replies.iter().find(|(r, _)| *r == id).map(|(_, res)| res)
    }

    fn schedule(&mut self, delay: u64, event: Event) {
        self.seq += 1;
        self.queue.insert((self.now + delay, self.seq), event);
    }

    fn latency(&mut self, range: (u64, u64)) -> u64 {
        self.rng.range(range.0, range.1)
    }

    /// Announces the current L1 head to the node (after its L1 latency) if it changed.
    pub fn observe_l1(&mut self) {
        let head = self.l1.head_ref();
        if self.last_l1_head != Some(head.hash) {
            self.last_l1_head = Some(head.hash);
            let d = self.latency(self.cfg.l1_latency_ms);
            self.schedule(d, Event::L1HeadObserved(head));
            let fin = self.l1.finalized().info;
            self.schedule(d, Event::L1FinalizedObserved(fin));
        }
    }

    fn take_fault(&mut self, kind: CallKind) -> Option<Fault> {
        self.faults.get_mut(&kind).and_then(|q| q.pop_front())
    }

    /// Carries out every command the node has queued.
    fn dispatch(&mut self) {
        while let Some(cmd) = self.node.poll_command() {
            self.execute(cmd);
        }
    }

    fn execute(&mut self, cmd: Command) {
        let kind = match &cmd {
            Command::FetchL1BlockByHash { .. } | Command::FetchL1BlockByNumber { .. } => Some(CallKind::L1),
            Command::FetchL2Heads { .. } | Command::FetchL2BlockByNumber { .. } => Some(CallKind::ReadL2),
            Command::ForkchoiceUpdate { attributes: Some(_), .. } => Some(CallKind::StartBuild),
            Command::ForkchoiceUpdate { attributes: None, .. } => Some(CallKind::UpdateHead),
            Command::GetPayload { .. } => Some(CallKind::GetPayload),
            Command::NewPayload { .. } => Some(CallKind::NewPayload),
            Command::CheckLeader { .. } => Some(CallKind::Leader),
            Command::CommitToConductor { .. } => Some(CallKind::Commit),
            Command::Publish { .. } | Command::Reply { .. } => None,
        };
        self.record(&format!("{cmd:?}").chars().take(200).collect::<String>());
        let Some(kind) = kind else {
            match cmd {
                Command::Publish { envelope } => {
                    let hash = envelope.execution_payload.block_hash();
                    if self.node.config().sequencer.conductor_enabled
                        && !self.leader_overridden
                        && !self.conductor.contains(&hash)
                    {
                        panic!("safety: block {hash} published but never committed to the conductor (seed {})", self.cfg.seed);
                    }
                    self.published.push(hash);
                }
                Command::Reply { reply_to, result } => self.replies.push((reply_to, result)),
                _ => unreachable!(),
            }
            return;
        };
        *self.calls.entry(kind).or_default() += 1;
        self.call_times.push((self.now, kind));
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
        if is_engine && self.now < self.engine_down_until {
            let error = RpcError::Transport("connection refused".into());
            return self.schedule(latency, Event::RequestFailed { id, error });
        }
        let fault = self.take_fault(kind);
        match fault {
            Some(Fault::Fail(RpcError::Timeout)) => {
                return self.schedule(timeout, Event::RequestFailed { id, error: RpcError::Timeout })
            }
            Some(Fault::Fail(error)) => return self.schedule(latency, Event::RequestFailed { id, error }),
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
            _ => self.answer(cmd),
        };
        if fault == Some(Fault::LoseAnswer) {
            return self.schedule(timeout, Event::RequestFailed { id, error: RpcError::Timeout });
        }
        self.schedule(latency, event);
    }

    fn answer(&mut self, cmd: Command) -> Event {
        let engine_event = |id, r: Result<EngineReply, RpcError>| match r {
            Ok(reply) => Event::EngineResponded { id, reply },
            Err(error) => Event::RequestFailed { id, error },
        };
        match cmd {
            Command::FetchL1BlockByHash { id, hash } => {
                Event::L1BlockFetched { id, block: self.l1.by_hash(&hash).cloned() }
            }
            Command::FetchL1BlockByNumber { id, number } => {
                Event::L1BlockFetched { id, block: self.l1.by_number(number).cloned() }
            }
            Command::FetchL2Heads { id } => Event::L2HeadsFetched { id, heads: self.engine.heads() },
            Command::FetchL2BlockByNumber { id, number } => {
                Event::L2BlockFetched { id, block: self.engine.by_number(number) }
            }
            Command::ForkchoiceUpdate { id, state, attributes, .. } => {
                engine_event(id, self.engine.forkchoice_updated(&state, attributes.as_deref().map(|a| &a.op)))
            }
            Command::GetPayload { id, payload_id, .. } => engine_event(id, self.engine.get_payload(payload_id, &mut self.rng)),
            Command::NewPayload { id, envelope, .. } => engine_event(id, self.engine.new_payload(&envelope)),
            Command::CheckLeader { id } => match self.conductor.check_leader() {
                Ok(reply) => Event::ConductorResponded { id, reply },
                Err(error) => Event::RequestFailed { id, error },
            },
            Command::CommitToConductor { id, envelope } => match self.conductor.commit(&envelope) {
                Ok(outcome) => {
                    for r in &outcome.replaced {
                        // Legitimate only if the engine never accepted the block (INVALID on insert) or L1
                        // reorged its origin out.
                        let canonical = self.l1.by_number(r.l1_origin.number).map(|b| b.hash());
                        if canonical == Some(r.l1_origin.hash) && self.engine.block(&r.hash).is_some() {
                            panic!(
                                "safety: committed block {}:{} replaced by {:#x} although it is valid and its L1 origin {} is canonical (seed {})",
                                r.hash, r.number, envelope.execution_payload.block_hash(), r.l1_origin.number, self.cfg.seed
                            );
                        }
                    }
                    Event::ConductorResponded { id, reply: outcome.reply }
                }
                Err(error) => Event::RequestFailed { id, error },
            },
            Command::Publish { .. } | Command::Reply { .. } => unreachable!("handled by execute"),
        }
    }

    fn check(&mut self) {
        self.checks += 1;
        if let Err(v) = self.node.check_invariants() {
            panic!("safety: {v} (seed {}, t={} ms, stage {})", self.cfg.seed, self.now, self.node.build_stage());
        }
    }

    /// Advances to the next moment anything happens, no later than `until`. Returns false if nothing is left to do
    /// before `until` (time is then set to `until`).
    pub fn step(&mut self, until: Timestamp) -> bool {
        self.dispatch();
        let mut next = until;
        if let Some((&(t, _), _)) = self.queue.iter().next() {
            next = next.min(t);
        }
        if let Some(t) = self.node.poll_timeout() {
            next = next.min(t);
        }
        next = next.min(self.l1.next_block_time());
        let progressed = next < until || self.queue.keys().next().map(|k| k.0 <= until).unwrap_or(false);
        self.now = self.now.max(next);
        if self.l1.advance(self.now, &mut self.rng) {
            self.observe_l1();
        }
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let event = entry.remove();
            self.record(&format!("{event:?}").chars().take(200).collect::<String>());
            self.node.handle_event(self.now, event);
            self.check();
            self.dispatch();
        }
        if self.node.poll_timeout().is_some_and(|t| t <= self.now) {
            self.node.handle_timeout(self.now);
            self.check();
            self.dispatch();
        }
        progressed
    }

    /// Runs until virtual time `until` (ms).
    pub fn run_until(&mut self, until: Timestamp) {
        while self.now < until {
            self.step(until);
        }
        self.dispatch();
    }

    /// Runs for `ms` more milliseconds.
    pub fn run_for(&mut self, ms: u64) {
        let until = self.now + ms;
        self.run_until(until);
    }

    /// Runs until the node's unsafe head reaches `number`, or `max_ms` of virtual time pass. Returns whether it did.
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
        self.l1.reorg(depth, &mut self.rng);
        self.observe_l1();
    }

    /// Models derivation: the safe head follows the engine's unsafe head `lag` blocks behind.
    pub fn follow_safe_head(&mut self, lag: u64) {
        let target = self.engine.heads().unsafe_head.number.saturating_sub(lag);
        let current = self.node.heads().safe.map(|s| s.number).unwrap_or(0);
        if target > current {
            if let Some(b) = self.engine.by_number(target) {
                self.deliver(Event::SafeHeadObserved(b));
            }
        }
    }

    /// The node's unsafe head number (0 if unknown).
    pub fn unsafe_number(&self) -> u64 {
        self.node.heads().unsafe_head.map(|h| h.number).unwrap_or(0)
    }

    /// Calls of `kind` made in `[from, to)`.
    pub fn calls_between(&self, kind: CallKind, from: Timestamp, to: Timestamp) -> usize {
        self.call_times.iter().filter(|(t, k)| *k == kind && *t >= from && *t < to).count()
    }

    /// Calls of `kind` so far.
    pub fn call_count(&self, kind: CallKind) -> u64 {
        self.calls.get(&kind).copied().unwrap_or(0)
    }
}
