//! The sequencer state machine. It sequences the pure rules of `origin`, `attributes`, `engine`, `control` and
//! `timing`; it owns every piece of state and every outstanding request.

use crate::attributes::{self, AttributesInput};
use crate::backoff::Backoff;
use crate::config::{Config, ConfigError};
use crate::control;
use crate::engine::{self, Verdict, MAX_TEMPORARY_BACKOFF_MS, TEMPORARY_RETRY_MS};
use crate::io::{
    Command, ConductorReply, EngineHeads, EngineReply, Event, RpcError, RpcFailure, RpcReply, RpcRequest, SyncStatus,
};
use crate::origin::{self, NextOrigin, OriginChoice, OriginError, OriginQuery};
use crate::system_config::SystemConfig;
use crate::timing;
use crate::types::{Heads, L1Block, L2BlockRef, ReplyTo, RequestId, Timestamp};
use alloy_consensus::Receipt;
use alloy_primitives::B256;
use alloy_rpc_types_engine::{ForkchoiceState, PayloadId};
use log::{debug, error, info, warn};
use op_alloy_rpc_types_engine::OpExecutionPayloadEnvelope;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Most requests the core keeps outstanding at once.
pub const MAX_PENDING_REQUESTS: usize = 64;
/// Most commands queued before the driver drains them.
pub const MAX_QUEUED_COMMANDS: usize = 256;
/// L1 blocks kept by hash.
pub const L1_CACHE_CAPACITY: usize = 64;
/// Recent unsafe blocks remembered (for reorg detection and invariant checks).
pub const RECENT_BLOCKS: usize = 256;
/// Admin calls that may wait on the core at once (start/stop waiting for a leader check or a sealed block).
pub const MAX_WAITING_RPC: usize = 16;
/// Commit attempts for one sealed block before giving up sequencing (the conductor is unreachable).
pub const MAX_COMMIT_ATTEMPTS: u32 = 32;
/// L2 blocks a reset may walk back looking for a canonical L1 origin before settling on the safe head.
pub const MAX_RESET_WALKBACK: u64 = 4_096;
/// Blocks received from outside (admin_postUnsafePayload) queued for import.
pub const MAX_QUEUED_PAYLOADS: usize = 64;
/// State transitions one entry point may perform (each issues at most one request or timer).
const MAX_DRIVE_STEPS: usize = 64;

/// Counters an operator (and the simulator) reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Blocks built, sealed, committed and inserted by this node.
    pub blocks_sequenced: u64,
    /// Transactions in those blocks (including deposits).
    pub txs_sequenced: u64,
    /// Builds discarded (seal failure, INVALID payload, wrong block).
    pub builds_dropped: u64,
    /// Engine resets started.
    pub resets: u64,
    /// Retries scheduled after temporary failures.
    pub retries: u64,
    /// Critical errors that stopped sequencing.
    pub critical_errors: u64,
    /// Successful conductor commits.
    pub commits: u64,
    /// Failed conductor commits.
    pub commit_failures: u64,
    /// Blocks handed to followers.
    pub published: u64,
    /// Engine API calls that failed or answered non-VALID.
    pub engine_errors: u64,
    /// L1 fetches that failed.
    pub l1_errors: u64,
}

/// Block reports kept until the driver drains them.
pub const MAX_REPORTS: usize = 64;

/// Facts about one sequenced block, for metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockReport {
    /// The block.
    pub block: L2BlockRef,
    /// Transactions in it (including deposits).
    pub txs: usize,
    /// When building started (FCU with attributes sent).
    pub build_started_at: Timestamp,
    /// When the payload was sealed (getPayload answered).
    pub sealed_at: Timestamp,
    /// When sealing was due (`timestamp - seal_margin`).
    pub seal_target: Timestamp,
    /// When the block became the unsafe head.
    pub completed_at: Timestamp,
}

/// A block being built: everything decided before the engine was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Job {
    parent: L2BlockRef,
    /// The SystemConfig the block is built with (after its epoch's updates).
    config: SystemConfig,
    origin: L1Block,
    seq_num: u64,
    time_ms: u64,
    no_tx_pool: bool,
    drift_exceeded: bool,
    started_at: Timestamp,
    seal_at: Timestamp,
}

/// A sealed block on its way to becoming the unsafe head.
#[derive(Clone, Debug, PartialEq)]
struct Sealed {
    job: Job,
    envelope: Arc<OpExecutionPayloadEnvelope>,
    block: L2BlockRef,
    sealed_at: Timestamp,
    txs: usize,
    committed: bool,
}

/// The block-building lifecycle. `req: None` in a sealed stage means "waiting for `retry_at`".
#[derive(Clone, Debug, PartialEq)]
enum Build {
    Idle,
    Starting {
        req: RequestId,
        job: Job,
    },
    Building {
        payload_id: PayloadId,
        job: Job,
    },
    Sealing {
        req: RequestId,
        payload_id: PayloadId,
        job: Job,
    },
    Committing {
        sealed: Box<Sealed>,
        req: Option<RequestId>,
        attempts: u32,
    },
    Inserting {
        sealed: Box<Sealed>,
        req: Option<RequestId>,
    },
    Updating {
        sealed: Box<Sealed>,
        req: Option<RequestId>,
    },
    /// Inserting a block built elsewhere (conductor catch-up, another sequencer's block): newPayload, then FCU.
    Importing {
        block: L2BlockRef,
        envelope: Arc<OpExecutionPayloadEnvelope>,
        req: Option<RequestId>,
        inserted: bool,
    },
}

impl Build {
    fn sealed(&self) -> Option<&Sealed> {
        match self {
            Self::Committing { sealed, .. } | Self::Inserting { sealed, .. } | Self::Updating { sealed, .. } => {
                Some(sealed)
            }
            _ => None,
        }
    }

    /// A block that is on its way in and must not be abandoned by a stop.
    fn settling(&self) -> bool {
        self.sealed().is_some() || matches!(self, Self::Importing { .. })
    }

    fn job(&self) -> Option<&Job> {
        match self {
            Self::Idle => None,
            Self::Starting { job, .. } | Self::Building { job, .. } | Self::Sealing { job, .. } => Some(job),
            Self::Importing { .. } => None,
            other => other.sealed().map(|s| &s.job),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Starting { .. } => "starting",
            Self::Building { .. } => "building",
            Self::Sealing { .. } => "sealing",
            Self::Committing { .. } => "committing",
            Self::Inserting { .. } => "inserting",
            Self::Updating { .. } => "updating",
            Self::Importing { .. } => "importing",
        }
    }
}

/// Steps of an engine reset (also used at boot): read the engine's heads, walk the unsafe head back until its L1
/// origin is canonical (never below safe), then point the engine's forkchoice at it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ResetStep {
    FetchHeads,
    CheckOrigin {
        engine: EngineHeads,
        candidate: L2BlockRef,
    },
    WalkBack {
        engine: EngineHeads,
        number: u64,
    },
    /// Read the target's header to reconstruct the SystemConfig its children are built with.
    Header {
        engine: EngineHeads,
        target: L2BlockRef,
    },
    Forkchoice {
        engine: EngineHeads,
        target: L2BlockRef,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Reset {
    reason: String,
    step: ResetStep,
    req: Option<RequestId>,
    retry_at: Timestamp,
    walked: u64,
    /// Wait one block time after the reset before building (op-node), except at boot.
    wait_after: bool,
    /// The SystemConfig reconstructed from the target block.
    config: Option<SystemConfig>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Sync {
    Resetting(Box<Reset>),
    Ready,
}

/// What the core knows about L1 block `origin + 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum NextSlot {
    Empty,
    Fetching {
        req: RequestId,
        number: u64,
    },
    /// Looked up at L1 head `l1_head` and not there.
    Absent {
        number: u64,
        l1_head: Option<u64>,
    },
    Failed {
        number: u64,
        retry_at: Timestamp,
    },
    Known(L1Block),
}

/// Re-checking the current origin after a sign of an L1 reorg.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verify {
    Idle,
    Needed,
    Fetching(RequestId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LeaderPurpose {
    Start { reply_to: ReplyTo, hash: B256 },
    AfterCommitFailure,
}

/// What an outstanding request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    L1Current(B256),
    L1Next(u64),
    L1Verify(u64),
    ResetL1(u64),
    L1Receipts(B256),
    L2Heads,
    L2ByNumber(u64),
    L2Header(u64),
    Engine,
    Leader(LeaderPurpose),
    Commit,
}

/// Rules a sabotaged node breaks on purpose (tests of the checks themselves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sabotage {
    /// Hand a sealed block to followers before the conductor committed it.
    PublishBeforeCommit,
    /// Adopt the next L1 origin without waiting for its confirmation depth.
    IgnoreConfDepth,
}

/// An invariant the node broke. The simulator treats this as a safety violation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invariant violated: {0}")]
pub struct InvariantViolation(pub String);

/// The sequencer. Feed it events and timeouts; drain commands; sleep until `poll_timeout`.
#[derive(Debug)]
pub struct Node {
    cfg: Config,
    now: Timestamp,
    next_request: u64,
    commands: VecDeque<Command>,
    pending: BTreeMap<RequestId, Pending>,
    heads: Heads,
    /// The SystemConfig the children of the unsafe head are built with (op-node `SystemConfigByL2Hash`), before
    /// the updates of a new epoch's origin.
    parent_config: SystemConfig,
    /// Receipts of the next origin (deposits and SystemConfig updates of a new epoch).
    receipts: Option<(B256, Arc<Vec<Receipt>>)>,
    receipts_fetch: Option<(RequestId, B256)>,

    active: bool,
    recover: bool,
    halted: Option<String>,
    leader_override: bool,
    stops_waiting: Vec<ReplyTo>,
    /// A shutdown is waiting: seal the block in flight now and insert it rather than discarding it.
    finish_in_flight: bool,
    /// A graceful shutdown was requested and the block in flight has not settled yet.
    shutting_down: bool,
    /// The unsafe head at which the sequencer stopped for shutdown.
    shutdown_settled: Option<B256>,
    starts_waiting: Vec<(ReplyTo, B256)>,
    safe_lag_stalled: bool,
    leader_check_in_flight: bool,

    sync: Sync,
    l1_cache: BTreeMap<B256, L1Block>,
    l1_cache_order: VecDeque<B256>,
    current_fetch: Option<RequestId>,
    next: NextSlot,
    verify: Verify,

    build: Build,
    engine_req: Option<RequestId>,
    not_before: Timestamp,
    retry_at: Timestamp,
    backoff: Backoff,
    reset_backoff: Backoff,
    l1_backoff: Backoff,
    consecutive_resets: u32,

    recent: VecDeque<L2BlockRef>,
    committed: Option<B256>,
    /// The last block committed to the conductor, until it becomes the unsafe head. A reset must re-insert it rather
    /// than build a different block at its height.
    committed_pending: Option<Box<Sealed>>,
    violation: Option<String>,
    stats: Stats,
    reports: VecDeque<BlockReport>,
    imports: BTreeMap<u64, Arc<OpExecutionPayloadEnvelope>>,
    sabotage: Option<Sabotage>,
}

impl Node {
    /// Creates a node at wall time `now`. It starts by reading the engine's heads.
    pub fn new(cfg: Config, now: Timestamp) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let parent_config = cfg.rollup.genesis.system_config.map(SystemConfig::from).unwrap_or_default();
        let active = !(cfg.sequencer.stopped || cfg.sequencer.conductor_enabled);
        let recover = cfg.sequencer.recover;
        let mut node = Self {
            cfg,
            now,
            next_request: 1,
            commands: VecDeque::new(),
            pending: BTreeMap::new(),
            heads: Heads::default(),
            parent_config,
            receipts: None,
            receipts_fetch: None,
            active,
            recover,
            halted: None,
            leader_override: false,
            stops_waiting: Vec::new(),
            finish_in_flight: false,
            shutting_down: false,
            shutdown_settled: None,
            starts_waiting: Vec::new(),
            safe_lag_stalled: false,
            leader_check_in_flight: false,
            sync: Sync::Ready,
            l1_cache: BTreeMap::new(),
            l1_cache_order: VecDeque::new(),
            current_fetch: None,
            next: NextSlot::Empty,
            verify: Verify::Idle,
            build: Build::Idle,
            engine_req: None,
            not_before: 0,
            retry_at: 0,
            backoff: Backoff::default(),
            reset_backoff: Backoff::default(),
            l1_backoff: Backoff::default(),
            consecutive_resets: 0,
            recent: VecDeque::new(),
            committed: None,
            committed_pending: None,
            violation: None,
            stats: Stats::default(),
            reports: VecDeque::new(),
            imports: BTreeMap::new(),
            sabotage: None,
        };
        node.sync = Sync::Resetting(Box::new(Reset {
            reason: "startup".into(),
            step: ResetStep::FetchHeads,
            req: None,
            retry_at: now,
            walked: 0,
            wait_after: false,
            config: None,
        }));
        info!(
            "keel sequencer core created active={} recover={} conductor={} block_time_ms={}",
            node.active, node.recover, node.cfg.sequencer.conductor_enabled, node.cfg.block_time_ms
        );
        node.drive();
        Ok(node)
    }

    // ----- public API -----------------------------------------------------------------------------------------

    /// Something happened.
    pub fn handle_event(&mut self, now: Timestamp, event: Event) {
        self.advance_clock(now);
        match event {
            Event::L1HeadObserved(head) => self.on_l1_head(head),
            Event::L1FinalizedObserved(block) => self.heads.l1_finalized = Some(block),
            Event::L1SafeObserved(block) => self.heads.l1_safe = Some(block),
            Event::SafeHeadObserved(safe) => self.on_safe_head(safe),
            Event::FinalizedHeadObserved(fin) => self.on_finalized_head(fin),
            Event::L1BlockFetched { id, block } => self.on_l1_block(id, Ok(block)),
            Event::L1ReceiptsFetched { id, receipts } => self.on_receipts(id, Ok(receipts)),
            Event::L2HeadsFetched { id, heads } => self.on_l2_heads(id, Ok(heads)),
            Event::L2HeaderFetched { id, header } => self.on_l2_header(id, Ok(header)),
            Event::L2BlockFetched { id, block } => self.on_l2_block(id, Ok(block)),
            Event::EngineResponded { id, reply } => self.on_engine(id, Ok(reply)),
            Event::ConductorResponded { id, reply } => self.on_conductor(id, Ok(reply)),
            Event::RequestFailed { id, error } => self.on_failure(id, error),
            Event::RpcRequested { reply_to, request } => self.on_rpc(reply_to, request),
            Event::ShutdownRequested => self.on_shutdown(),
        }
        self.drive();
    }

    /// The deadline returned by [`Node::poll_timeout`] passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.advance_clock(now);
        self.drive();
    }

    /// Next command to carry out, if any.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// When to call [`Node::handle_timeout`] next. `None`: nothing is timed; wait for an event.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.raw_deadline().filter(|t| *t > self.now)
    }

    /// Makes the node break a rule on purpose, to show that the simulator's checks catch it. Test builds only.
    #[cfg(feature = "sabotage")]
    pub fn sabotage(&mut self, s: Sabotage) {
        self.sabotage = Some(s);
    }

    /// Heads as the node sees them.
    pub fn heads(&self) -> &Heads {
        &self.heads
    }

    /// Whether the sequencer is active (admin_sequencerActive).
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Whether recovery mode is on.
    pub fn recover_mode(&self) -> bool {
        self.recover
    }

    /// The critical error that stopped sequencing, if any.
    pub fn halted(&self) -> Option<&str> {
        self.halted.as_deref()
    }

    /// Whether building is paused by `--sequencer.max-safe-lag`.
    pub fn is_safe_lag_stalled(&self) -> bool {
        self.safe_lag_stalled
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The oldest undrained report of a sequenced block (at most [`MAX_REPORTS`] are kept).
    pub fn poll_report(&mut self) -> Option<BlockReport> {
        self.reports.pop_front()
    }

    /// Name of the current build stage (for status lines and metrics).
    pub fn build_stage(&self) -> &'static str {
        match self.sync {
            Sync::Resetting(_) => "resetting",
            Sync::Ready => self.build.name(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The node's last known time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Recently sequenced or adopted unsafe blocks, oldest first (bounded by [`RECENT_BLOCKS`]).
    pub fn recent_blocks(&self) -> impl Iterator<Item = &L2BlockRef> {
        self.recent.iter()
    }

    /// Checks every invariant of the state machine. Cheap enough to call after every step.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let fail = |m: String| Err(InvariantViolation(m));
        if let Some(v) = &self.violation {
            return fail(v.clone());
        }
        let h = &self.heads;
        if let (Some(u), Some(s)) = (&h.unsafe_head, &h.safe) {
            if matches!(self.sync, Sync::Ready) && u.number < s.number {
                return fail(format!("unsafe head {u} is behind safe head {s}"));
            }
        }
        if let (Some(s), Some(f)) = (&h.safe, &h.finalized) {
            if s.number < f.number {
                return fail(format!("safe head {s} is behind finalized head {f}"));
            }
        }
        if let Err(e) = crate::invariants::check_chain(self.recent.iter(), self.cfg.block_time_ms) {
            return fail(e);
        }
        if matches!(self.sync, Sync::Ready) {
            if let (Some(last), Some(u)) = (self.recent.back(), &h.unsafe_head) {
                if last != u {
                    return fail(format!("recent chain tip {last} is not the unsafe head {u}"));
                }
            }
        }
        if let (Some(job), Some(u)) = (self.build.job(), &h.unsafe_head) {
            if job.parent != *u {
                return fail(format!(
                    "build stage {} has parent {} but unsafe head is {u}",
                    self.build.name(),
                    job.parent
                ));
            }
            if job.time_ms != timing::next_block_time(u.time_ms, self.cfg.block_time_ms) {
                return fail(format!("build time {} is not parent time {} + block time", job.time_ms, u.time_ms));
            }
            let l1_step = job.origin.number().checked_sub(u.l1_origin.number);
            if !matches!(l1_step, Some(0) | Some(1)) {
                return fail(format!(
                    "build origin {} does not follow parent origin {}",
                    job.origin.number(),
                    u.l1_origin.number
                ));
            }
            if job.drift_exceeded && !job.no_tx_pool {
                return fail(format!(
                    "build at {} ms past the drift of origin {} takes pool transactions",
                    job.time_ms,
                    job.origin.number()
                ));
            }
        }
        if self.pending.len() > MAX_PENDING_REQUESTS {
            return fail(format!("{} requests outstanding (max {MAX_PENDING_REQUESTS})", self.pending.len()));
        }
        let engine_pending = self.pending.values().filter(|p| **p == Pending::Engine).count();
        if engine_pending > 1 || (engine_pending == 1) != self.engine_req.is_some() {
            return fail(format!("{engine_pending} engine calls outstanding, tracked {:?}", self.engine_req));
        }
        if self.commands.len() > MAX_QUEUED_COMMANDS {
            return fail(format!("{} commands queued (max {MAX_QUEUED_COMMANDS})", self.commands.len()));
        }
        if self.l1_cache.len() > L1_CACHE_CAPACITY || self.recent.len() > RECENT_BLOCKS {
            return fail("a cache exceeds its bound".into());
        }
        if self.stops_waiting.len() + self.starts_waiting.len() > MAX_WAITING_RPC {
            return fail("too many admin calls waiting".into());
        }
        // Liveness of the timer contract: a deadline that has passed must be waiting on an outstanding request,
        // otherwise nothing would ever wake the node again.
        if let Some(t) = self.raw_deadline() {
            if t <= self.now && self.pending.is_empty() {
                return fail(format!(
                    "deadline {t} passed (now {}) with nothing outstanding in stage {}",
                    self.now,
                    self.build_stage()
                ));
            }
        }
        Ok(())
    }

    // ----- plumbing -------------------------------------------------------------------------------------------

    fn advance_clock(&mut self, now: Timestamp) {
        // Wall clocks may step backwards (NTP); the core's time never does.
        self.now = self.now.max(now);
    }

    fn push(&mut self, cmd: Command) {
        debug_assert!(self.commands.len() < MAX_QUEUED_COMMANDS, "command queue overflow");
        self.commands.push_back(cmd);
    }

    fn request(&mut self, what: Pending, make: impl FnOnce(RequestId) -> Command) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        debug_assert!(self.pending.len() < MAX_PENDING_REQUESTS, "too many outstanding requests");
        if what == Pending::Engine {
            debug_assert!(self.engine_req.is_none(), "second engine call while one is outstanding");
            self.engine_req = Some(id);
        }
        self.pending.insert(id, what);
        let cmd = make(id);
        self.push(cmd);
        id
    }

    fn reply(&mut self, reply_to: ReplyTo, result: Result<RpcReply, RpcFailure>) {
        self.push(Command::Reply { reply_to, result });
    }

    fn cache_l1(&mut self, block: L1Block) {
        if self.l1_cache.insert(block.hash(), block.clone()).is_none() {
            self.l1_cache_order.push_back(block.hash());
            while self.l1_cache_order.len() > L1_CACHE_CAPACITY {
                if let Some(old) = self.l1_cache_order.pop_front() {
                    self.l1_cache.remove(&old);
                }
            }
        }
    }

    fn conductor_gated(&self) -> bool {
        self.cfg.sequencer.conductor_enabled && !self.leader_override
    }

    fn may_build(&self) -> bool {
        self.active
            && self.halted.is_none()
            && self.stops_waiting.is_empty()
            && !self.shutting_down
            && matches!(self.sync, Sync::Ready)
            && self.heads.unsafe_head.is_some()
            && !self.safe_lag_stalled
    }

    fn raw_deadline(&self) -> Option<Timestamp> {
        match &self.sync {
            Sync::Resetting(r) => return r.req.is_none().then_some(r.retry_at),
            Sync::Ready => {}
        }
        match &self.build {
            Build::Idle => {
                let parent = self.heads.unsafe_head.as_ref()?;
                (self.may_build()).then(|| timing::build_start(parent.time_ms).max(self.not_before))
            }
            Build::Building { job, .. } => Some(job.seal_at),
            Build::Committing { req: None, .. }
            | Build::Inserting { req: None, .. }
            | Build::Updating { req: None, .. }
            | Build::Importing { req: None, .. } => Some(self.retry_at),
            _ => None,
        }
    }

    fn drive(&mut self) {
        self.update_safe_lag();
        for _ in 0..MAX_DRIVE_STEPS {
            if !self.step() {
                break;
            }
        }
        self.resolve_waiting_rpc();
        debug_assert!(self.check_invariants().is_ok(), "{:?}", self.check_invariants());
    }

    /// One state transition if one is due. Returns whether anything changed.
    fn step(&mut self) -> bool {
        if matches!(self.sync, Sync::Resetting(_)) {
            return self.step_reset();
        }
        let due = self.now >= self.retry_at;
        match &self.build {
            Build::Idle => self.try_import() || self.try_start_build(),
            Build::Importing { block, envelope, req: None, inserted } if due && self.engine_req.is_none() => {
                let (block, envelope, inserted) = (*block, envelope.clone(), *inserted);
                let id = if inserted {
                    let state = self.forkchoice(block.hash);
                    let version = engine::forkchoice_version(&self.cfg.rollup, None);
                    self.request(Pending::Engine, |id| Command::ForkchoiceUpdate {
                        id,
                        version,
                        state,
                        attributes: None,
                    })
                } else {
                    let version = engine::new_payload_version(&self.cfg.rollup, block.timestamp());
                    self.request(Pending::Engine, |id| Command::NewPayload { id, version, envelope })
                };
                if let Build::Importing { req, .. } = &mut self.build {
                    *req = Some(id);
                }
                true
            }
            Build::Building { job, payload_id }
                if (self.now >= job.seal_at || self.finish_in_flight) && self.engine_req.is_none() =>
            {
                let (job, payload_id) = (job.clone(), *payload_id);
                let version = engine::get_payload_version(&self.cfg.rollup, job.time_ms / 1000);
                let req = self.request(Pending::Engine, |id| Command::GetPayload { id, version, payload_id });
                self.build = Build::Sealing { req, payload_id, job };
                true
            }
            Build::Committing { sealed, req: None, .. } if due => {
                if !self.active {
                    let msg = format!("sequencer stopped before block {} was committed; discarding it", sealed.block);
                    self.drop_build(msg);
                    return true;
                }
                let envelope = sealed.envelope.clone();
                let id = self.request(Pending::Commit, |id| Command::CommitToConductor { id, envelope });
                if let Build::Committing { req, .. } = &mut self.build {
                    *req = Some(id);
                }
                true
            }
            Build::Inserting { sealed, req: None } if due && self.engine_req.is_none() => {
                let envelope = sealed.envelope.clone();
                let version = engine::new_payload_version(&self.cfg.rollup, sealed.block.timestamp());
                let id = self.request(Pending::Engine, |id| Command::NewPayload { id, version, envelope });
                if let Build::Inserting { req, .. } = &mut self.build {
                    *req = Some(id);
                }
                true
            }
            Build::Updating { sealed, req: None } if due && self.engine_req.is_none() => {
                let state = self.forkchoice(sealed.block.hash);
                let version = engine::forkchoice_version(&self.cfg.rollup, None);
                let id = self.request(Pending::Engine, |id| Command::ForkchoiceUpdate {
                    id,
                    version,
                    state,
                    attributes: None,
                });
                if let Build::Updating { req, .. } = &mut self.build {
                    *req = Some(id);
                }
                true
            }
            _ => false,
        }
    }

    fn forkchoice(&self, head: B256) -> ForkchoiceState {
        ForkchoiceState {
            head_block_hash: head,
            safe_block_hash: self.heads.safe.map(|b| b.hash).unwrap_or_default(),
            finalized_block_hash: self.heads.finalized.map(|b| b.hash).unwrap_or_default(),
        }
    }

    fn update_safe_lag(&mut self) {
        let stalled = match (&self.heads.unsafe_head, &self.heads.safe) {
            (Some(u), Some(s)) => control::safe_lag_stalled(self.cfg.sequencer.max_safe_lag, u.number, s.number),
            _ => false,
        };
        if stalled != self.safe_lag_stalled {
            let (u, s) = (self.heads.unsafe_head.map(|b| b.number), self.heads.safe.map(|b| b.number));
            if stalled {
                warn!(
                    "max safe lag reached, pausing block building unsafe={u:?} safe={s:?} max_safe_lag={}",
                    self.cfg.sequencer.max_safe_lag
                );
            } else {
                info!("safe head caught up, resuming block building unsafe={u:?} safe={s:?}");
            }
            self.safe_lag_stalled = stalled;
        }
    }

    // ----- building -------------------------------------------------------------------------------------------

    fn try_start_build(&mut self) -> bool {
        if !self.may_build() || self.engine_req.is_some() {
            return false;
        }
        let Some(parent) = self.heads.unsafe_head else { return false };
        if self.now < timing::build_start(parent.time_ms).max(self.not_before) {
            return false;
        }
        // The parent's origin must be known in full (by hash: immune to reorgs and confirmation depth).
        let Some(cur) = self.l1_cache.get(&parent.l1_origin.hash).cloned() else {
            if self.current_fetch.is_some() {
                return false;
            }
            let hash = parent.l1_origin.hash;
            let id = self.request(Pending::L1Current(hash), |id| Command::FetchL1BlockByHash { id, hash });
            self.current_fetch = Some(id);
            return true;
        };
        // After a sign of an L1 reorg, confirm the current origin is still canonical before building on it.
        match self.verify {
            Verify::Idle => {}
            Verify::Fetching(_) => return false,
            Verify::Needed => {
                let number = cur.number();
                let id = self.request(Pending::L1Verify(number), |id| Command::FetchL1BlockByNumber { id, number });
                self.verify = Verify::Fetching(id);
                return true;
            }
        }
        let issued = self.prefetch_next(&cur);
        let next_time = timing::next_block_time(parent.time_ms, self.cfg.block_time_ms);
        let next_block = match &self.next {
            NextSlot::Known(b) if b.number() == cur.number() + 1 => Some(b.clone()),
            _ => None,
        };
        let view = match (&next_block, &self.next) {
            (Some(b), _) => NextOrigin::Known(&b.info),
            (None, NextSlot::Absent { number, l1_head })
                if *number == cur.number() + 1 && *l1_head == self.heads.l1_head.map(|h| h.number) =>
            {
                NextOrigin::Absent
            }
            _ if !self.next_confirmed(&cur) => NextOrigin::Absent,
            _ => NextOrigin::Unknown,
        };
        let query = OriginQuery {
            current: &cur.info,
            next: view,
            next_l2_time_ms: next_time,
            max_drift_s: self.cfg.rollup.max_sequencer_drift(cur.info.timestamp),
            recover: self.recover,
        };
        match origin::select(&query) {
            Ok(OriginChoice::Current) => self.start_build(parent, cur, next_time),
            Ok(OriginChoice::Next) => {
                let next = next_block.expect("Next is only chosen when the next block is known");
                if self.receipts.as_ref().is_none_or(|(h, _)| *h != next.hash()) {
                    // The epoch's deposits and SystemConfig updates are needed first.
                    return self.fetch_receipts(next.hash()) || issued;
                }
                self.start_build(parent, next, next_time)
            }
            Err(OriginError::NextRequired { .. }) => match &self.next {
                NextSlot::Failed { retry_at, .. } if *retry_at > self.now => {
                    // Wait for the lookup's retry; the build deadline wakes us then.
                    let changed = self.not_before < *retry_at;
                    self.not_before = self.not_before.max(*retry_at);
                    changed || issued
                }
                _ => issued,
            },
            Err(e @ OriginError::DriftExceeded { .. }) => {
                self.delay_build(Verdict::Retry { base_delay_ms: TEMPORARY_RETRY_MS, reason: e.to_string() });
                true
            }
            Err(e @ OriginError::Orphaned { .. }) => {
                self.begin_reset(e.to_string());
                true
            }
        }
    }

    fn next_confirmed(&self, cur: &L1Block) -> bool {
        if self.sabotage == Some(Sabotage::IgnoreConfDepth) {
            return true;
        }
        origin::confirmed(cur.number() + 1, self.heads.l1_head.map(|h| h.number), self.cfg.sequencer.l1_confs)
    }

    /// Issues the lookup of `cur + 1` if it is confirmed deeply enough and not known, absent or being fetched.
    fn prefetch_next(&mut self, cur: &L1Block) -> bool {
        let number = cur.number() + 1;
        let l1_head = self.heads.l1_head.map(|h| h.number);
        let needed = match &self.next {
            NextSlot::Known(b) => b.number() != number,
            NextSlot::Fetching { number: n, .. } => *n != number,
            NextSlot::Absent { number: n, l1_head: seen } => *n != number || *seen != l1_head,
            NextSlot::Failed { number: n, retry_at } => *n != number || *retry_at <= self.now,
            NextSlot::Empty => true,
        };
        if !needed || !self.next_confirmed(cur) || self.pending.len() >= MAX_PENDING_REQUESTS / 2 {
            return false;
        }
        let req = self.request(Pending::L1Next(number), |id| Command::FetchL1BlockByNumber { id, number });
        self.next = NextSlot::Fetching { req, number };
        true
    }

    /// Issues the receipts fetch of `hash` unless it is in flight or waiting for a retry.
    fn fetch_receipts(&mut self, hash: B256) -> bool {
        if self.receipts_fetch.is_some_and(|(_, h)| h == hash)
            || self.receipts.as_ref().is_some_and(|(h, _)| *h == hash)
        {
            return false;
        }
        let id = self.request(Pending::L1Receipts(hash), |id| Command::FetchL1Receipts { id, hash });
        self.receipts_fetch = Some((id, hash));
        true
    }

    fn on_receipts(&mut self, id: RequestId, result: Result<Arc<Vec<Receipt>>, RpcError>) {
        let Some(Pending::L1Receipts(hash)) = self.pending.remove(&id) else { return };
        if self.receipts_fetch.map(|(r, _)| r) != Some(id) {
            return;
        }
        self.receipts_fetch = None;
        match result {
            Ok(receipts) => {
                self.l1_backoff.reset();
                self.receipts = Some((hash, receipts));
            }
            Err(e) => {
                self.stats.l1_errors += 1;
                let delay = self.l1_backoff.next_delay(TEMPORARY_RETRY_MS, MAX_TEMPORARY_BACKOFF_MS);
                warn!("cannot fetch receipts of L1 block {hash:#x}: {e}; retry_in_ms={delay}");
                self.not_before = self.not_before.max(self.now + delay);
            }
        }
    }

    fn start_build(&mut self, parent: L2BlockRef, origin: L1Block, time_ms: u64) -> bool {
        let rollup = self.cfg.rollup.clone();
        let timestamp = time_ms / 1000;
        let seq_num = if origin.hash() == parent.l1_origin.hash { parent.seq_num + 1 } else { 0 };
        let drift_exceeded =
            origin::drift_exceeded(time_ms, origin.info.timestamp, rollup.max_sequencer_drift(origin.info.timestamp));
        let no_tx_pool = self.recover || drift_exceeded || attributes::is_upgrade_block_without_txs(&rollup, timestamp);
        // The SystemConfig of the parent, updated with the new origin's ConfigUpdate logs at an epoch start; the
        // epoch's user deposits come from the same receipts (op-node `PreparePayloadAttributes`).
        let mut config = self.parent_config;
        let mut deposits = Vec::new();
        if seq_num == 0 {
            let Some(receipts) = self.receipts.as_ref().filter(|(h, _)| *h == origin.hash()).map(|(_, r)| r.clone())
            else {
                debug_assert!(false, "start_build at an epoch start without the origin's receipts");
                return false;
            };
            for skipped in config.apply_receipts(&receipts, &rollup, origin.info.timestamp) {
                warn!("skipping malformed ConfigUpdate log in L1 block {}: {skipped:?}", origin.number());
            }
            deposits =
                match crate::deposits::user_deposits(origin.info.id(), &receipts, rollup.deposit_contract_address) {
                    Ok(d) => d,
                    Err(e) => {
                        self.apply_verdict(Verdict::Critical(format!(
                            "failed to derive deposits of L1 block {}: {e}",
                            origin.number()
                        )));
                        return true;
                    }
                };
        }
        let attrs = match attributes::build(&AttributesInput {
            rollup: &rollup,
            system_config: &config,
            parent: &parent,
            origin: &origin,
            seq_num,
            timestamp,
            no_tx_pool,
            deposits: &deposits,
        }) {
            Ok(a) => a,
            Err(e) => {
                self.apply_verdict(Verdict::Critical(e.to_string()));
                return true;
            }
        };
        if drift_exceeded {
            warn!(
                "next L2 block is past the sequencer drift, building without pool transactions number={} origin={}",
                parent.number + 1,
                origin.number()
            );
        }
        let job = Job {
            parent,
            config,
            origin,
            seq_num,
            time_ms,
            no_tx_pool,
            drift_exceeded,
            started_at: self.now,
            seal_at: timing::seal_at(time_ms, self.cfg.sequencer.seal_margin_ms),
        };
        let state = self.forkchoice(parent.hash);
        let version = engine::forkchoice_version(&rollup, Some(timestamp));
        let req = self.request(Pending::Engine, |id| Command::ForkchoiceUpdate {
            id,
            version,
            state,
            attributes: Some(Box::new(attrs)),
        });
        self.build = Build::Starting { req, job };
        true
    }

    /// Retry or give up on the current build according to `verdict`.
    fn apply_verdict(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Reset(reason) => self.begin_reset(reason),
            Verdict::Retry { base_delay_ms, reason } => {
                self.stats.retries += 1;
                let delay = self.backoff.next_delay(base_delay_ms, MAX_TEMPORARY_BACKOFF_MS);
                warn!("temporary failure, retrying retry_in_ms={delay} stage={} error=\"{reason}\"", self.build.name());
                if self.build.settling() {
                    self.retry_at = self.now + delay;
                } else {
                    self.build = Build::Idle;
                    self.not_before = self.now + delay;
                }
            }
            Verdict::Drop(reason) => self.drop_build(reason),
            Verdict::Critical(reason) => {
                self.stats.critical_errors += 1;
                error!("CRITICAL: sequencing stopped; RPC stays up; fix the cause and call admin_startSequencer. error=\"{reason}\"");
                self.halted = Some(reason);
                self.active = false;
                self.build = Build::Idle;
            }
        }
    }

    fn delay_build(&mut self, verdict: Verdict) {
        debug_assert!(matches!(self.build, Build::Idle));
        self.apply_verdict(verdict);
    }

    /// Discards the block being built and schedules a fresh build one block time later.
    fn drop_build(&mut self, reason: String) {
        self.stats.builds_dropped += 1;
        self.committed_pending = None;
        warn!("dropping block build, rebuilding in one block time stage={} reason=\"{reason}\"", self.build.name());
        self.build = Build::Idle;
        self.not_before = self.now + self.cfg.block_time_ms;
    }

    fn on_engine(&mut self, id: RequestId, reply: Result<EngineReply, RpcError>) {
        if self.pending.remove(&id).is_none() || self.engine_req != Some(id) {
            debug!("ignoring engine response for unknown request {id}");
            return;
        }
        self.engine_req = None;
        if reply.is_err() {
            self.stats.engine_errors += 1;
        }
        if let Sync::Resetting(r) = &self.sync {
            if r.req == Some(id) {
                return self.on_reset_forkchoice(reply);
            }
        }
        match std::mem::replace(&mut self.build, Build::Idle) {
            Build::Starting { req, job } if req == id => self.on_build_started(job, reply),
            Build::Sealing { req, payload_id, job } if req == id => self.on_sealed(job, payload_id, reply),
            Build::Inserting { sealed, req: Some(r) } if r == id => self.on_inserted(sealed, reply),
            Build::Updating { sealed, req: Some(r) } if r == id => self.on_head_updated(sealed, reply),
            Build::Importing { block, envelope, req: Some(r), inserted } if r == id => {
                self.on_import(block, envelope, inserted, reply)
            }
            other => {
                debug!("engine response {id} for a discarded build ignored");
                self.build = other;
            }
        }
    }

    fn on_build_started(&mut self, job: Job, reply: Result<EngineReply, RpcError>) {
        let verdict = match reply {
            Ok(EngineReply::ForkchoiceUpdated { status, payload_id }) => {
                match engine::classify_start_status(&status, payload_id, &job.parent) {
                    Ok(payload_id) => {
                        self.backoff.reset();
                        debug!("block build started number={} payload_id={payload_id}", job.parent.number + 1);
                        self.build = Build::Building { payload_id, job };
                        return;
                    }
                    Err(v) => {
                        self.stats.engine_errors += 1;
                        v
                    }
                }
            }
            Ok(other) => engine::unexpected_reply("engine_forkchoiceUpdated", &other),
            Err(e) => engine::classify_start_error(&e, &job.parent),
        };
        self.apply_verdict(verdict);
    }

    fn on_sealed(&mut self, job: Job, payload_id: PayloadId, reply: Result<EngineReply, RpcError>) {
        let envelope = match reply {
            Ok(EngineReply::PayloadFetched(env)) => env,
            Ok(other) => {
                return self.drop_build(format!("engine_getPayload answered with {other:?}"));
            }
            Err(e) => return self.apply_verdict(engine::classify_seal_error(&e, payload_id)),
        };
        if let Err(v) = engine::check_sealed(&envelope, &job.parent, job.time_ms / 1000) {
            return self.apply_verdict(v);
        }
        // Some engines leave the beacon root out of getPayload; it is the one the attributes carried.
        let envelope =
            if envelope.parent_beacon_block_root.is_none() && self.cfg.rollup.is_ecotone_active(job.time_ms / 1000) {
                let mut e = (*envelope).clone();
                e.parent_beacon_block_root = Some(job.origin.header.parent_beacon_block_root.unwrap_or_default());
                Arc::new(e)
            } else {
                envelope
            };
        let p = &envelope.execution_payload;
        let block = L2BlockRef {
            hash: p.block_hash(),
            number: p.block_number(),
            parent_hash: p.parent_hash(),
            time_ms: job.time_ms,
            l1_origin: job.origin.info.id(),
            seq_num: job.seq_num,
        };
        let txs = p.transactions().len();
        let sealed = Box::new(Sealed { job, envelope, block, sealed_at: self.now, txs, committed: false });
        if self.sabotage == Some(Sabotage::PublishBeforeCommit) {
            self.publish(&sealed);
        }
        self.build = if self.conductor_gated() {
            Build::Committing { sealed, req: None, attempts: 0 }
        } else {
            Build::Inserting { sealed, req: None }
        };
        self.retry_at = self.now;
    }

    fn on_commit(&mut self, id: RequestId, result: Result<ConductorReply, RpcError>) {
        let Build::Committing { sealed, req: Some(r), attempts } = &mut self.build else {
            debug!("ignoring conductor commit answer {id} for a discarded block");
            return;
        };
        if *r != id {
            return;
        }
        match result {
            Ok(ConductorReply::Committed) => {
                self.stats.commits += 1;
                sealed.committed = true;
                self.committed = Some(sealed.block.hash);
                let sealed = sealed.clone();
                self.committed_pending = Some(sealed.clone());
                self.backoff.reset();
                self.build = Build::Inserting { sealed, req: None };
                self.retry_at = self.now;
            }
            Ok(other) => {
                *req_none(&mut self.build) = None;
                self.commit_failed(format!("conductor_commitUnsafePayload answered with {other:?}"));
            }
            Err(e) => {
                let block = sealed.block;
                *attempts += 1;
                *req_none(&mut self.build) = None;
                self.commit_failed(format!("failed to commit unsafe payload {block} to conductor: {e}"));
            }
        }
    }

    fn commit_failed(&mut self, reason: String) {
        self.stats.commit_failures += 1;
        let attempts = match &self.build {
            Build::Committing { attempts, .. } => *attempts,
            _ => 0,
        };
        if !self.active || !self.stops_waiting.is_empty() || self.shutting_down {
            return self.drop_build(format!("{reason}; sequencer stopping, block discarded uncommitted"));
        }
        if attempts >= MAX_COMMIT_ATTEMPTS {
            error!("conductor unreachable after {attempts} commit attempts; stopping sequencing. error=\"{reason}\"");
            self.active = false;
            return self.drop_build(reason);
        }
        // Ask whether we are still the leader; a "no" stops sequencing. Meanwhile retry with backoff.
        if self.conductor_gated() && !self.leader_check_in_flight {
            self.leader_check_in_flight = true;
            self.request(Pending::Leader(LeaderPurpose::AfterCommitFailure), |id| Command::CheckLeader { id });
        }
        self.apply_verdict(Verdict::Retry { base_delay_ms: TEMPORARY_RETRY_MS, reason });
    }

    fn on_inserted(&mut self, sealed: Box<Sealed>, reply: Result<EngineReply, RpcError>) {
        let verdict = match reply {
            Ok(EngineReply::PayloadInserted { status }) => {
                match engine::classify_insert_status(&status, &sealed.block) {
                    Ok(()) => {
                        self.build = Build::Updating { sealed, req: None };
                        self.retry_at = self.now;
                        return;
                    }
                    Err(v) => {
                        self.stats.engine_errors += 1;
                        v
                    }
                }
            }
            Ok(other) => engine::unexpected_reply("engine_newPayload", &other),
            Err(e) => engine::classify_insert_error(&e, &sealed.block),
        };
        self.build = Build::Inserting { sealed, req: None };
        self.apply_verdict(verdict);
    }

    fn on_head_updated(&mut self, sealed: Box<Sealed>, reply: Result<EngineReply, RpcError>) {
        let verdict = match reply {
            Ok(EngineReply::ForkchoiceUpdated { status, .. }) => {
                match engine::classify_update_status(&status, &sealed.block) {
                    Ok(()) => return self.complete_block(sealed),
                    Err(v) => {
                        self.stats.engine_errors += 1;
                        v
                    }
                }
            }
            Ok(other) => engine::unexpected_reply("engine_forkchoiceUpdated", &other),
            Err(e) => engine::classify_update_error(&e, &sealed.block),
        };
        self.build = Build::Updating { sealed, req: None };
        self.apply_verdict(verdict);
    }

    fn complete_block(&mut self, sealed: Box<Sealed>) {
        let block = sealed.block;
        self.committed_pending = None;
        self.parent_config = sealed.job.config.after_block(&self.cfg.rollup, block.timestamp());
        self.set_unsafe(block);
        self.backoff.reset();
        self.reset_backoff.reset();
        self.consecutive_resets = 0;
        self.stats.blocks_sequenced += 1;
        self.stats.txs_sequenced += sealed.txs as u64;
        info!(
            "sequenced block number={} hash={:#x} txs={} origin={} seq={} build_ms={} seal_ms={} lag_ms={}",
            block.number,
            block.hash,
            sealed.txs,
            block.l1_origin.number,
            block.seq_num,
            sealed.sealed_at.saturating_sub(sealed.job.started_at),
            self.now.saturating_sub(sealed.sealed_at),
            self.now.saturating_sub(block.time_ms),
        );
        if self.sabotage != Some(Sabotage::PublishBeforeCommit) {
            self.publish(&sealed);
        }
        if self.reports.len() >= MAX_REPORTS {
            self.reports.pop_front();
        }
        self.reports.push_back(BlockReport {
            block,
            txs: sealed.txs,
            build_started_at: sealed.job.started_at,
            sealed_at: sealed.sealed_at,
            seal_target: sealed.job.seal_at,
            completed_at: self.now,
        });
        let next_time = timing::next_block_time(block.time_ms, self.cfg.block_time_ms);
        if self.recover && timing::caught_up(next_time, self.now) {
            warn!("leaving recovery mode: the chain caught up with wall time at block {}", block.number);
            self.recover = false;
        }
        if let Some(cur) = self.l1_cache.get(&block.l1_origin.hash).cloned() {
            self.prefetch_next(&cur);
        }
    }

    fn publish(&mut self, sealed: &Sealed) {
        if self.conductor_gated() && !sealed.committed {
            self.violation = Some(format!("block {} published before it was committed to the conductor", sealed.block));
        }
        self.stats.published += 1;
        self.push(Command::Publish { envelope: sealed.envelope.clone() });
    }

    fn set_unsafe(&mut self, block: L2BlockRef) {
        if let Some(last) = self.recent.back() {
            if block.parent_hash != last.hash {
                self.recent.clear();
            }
        }
        self.recent.push_back(block);
        while self.recent.len() > RECENT_BLOCKS {
            self.recent.pop_front();
        }
        self.heads.unsafe_head = Some(block);
    }

    // ----- blocks from outside -----------------------------------------------------------------------------------

    fn queue_import(&mut self, envelope: Arc<OpExecutionPayloadEnvelope>) {
        let number = envelope.execution_payload.block_number();
        if self.heads.unsafe_head.is_some_and(|u| number <= u.number) {
            debug!("ignoring posted payload {number}: not above the unsafe head");
            return;
        }
        if self.imports.len() >= MAX_QUEUED_PAYLOADS && !self.imports.contains_key(&number) {
            match self.imports.last_key_value() {
                Some((&highest, _)) if highest > number => {
                    self.imports.remove(&highest);
                }
                _ => {
                    warn!("posted payload queue full ({MAX_QUEUED_PAYLOADS}); dropping block {number}");
                    return;
                }
            }
        }
        self.imports.insert(number, envelope);
    }

    /// Starts importing the queued payload that extends the unsafe head, if any.
    fn try_import(&mut self) -> bool {
        let Some(head) = self.heads.unsafe_head else { return false };
        if self.engine_req.is_some() || !matches!(self.sync, Sync::Ready) {
            return false;
        }
        while self.imports.first_key_value().is_some_and(|(n, _)| *n <= head.number) {
            self.imports.pop_first();
        }
        let Some(envelope) = self.imports.remove(&(head.number + 1)) else { return false };
        match self.external_block_ref(&head, &envelope) {
            Ok(block) => {
                debug!("importing posted block {block}");
                self.build = Build::Importing { block, envelope, req: None, inserted: false };
                self.retry_at = self.now;
            }
            Err(e) => warn!("rejecting posted payload {}: {e}", head.number + 1),
        }
        true
    }

    /// The reference of a block built elsewhere, checked against the chain rules it must satisfy on top of `head`.
    fn external_block_ref(&self, head: &L2BlockRef, env: &OpExecutionPayloadEnvelope) -> Result<L2BlockRef, String> {
        let p = &env.execution_payload;
        if p.parent_hash() != head.hash {
            return Err(format!("parent {:#x} is not the unsafe head {head}", p.parent_hash()));
        }
        let hash = crate::payload::header_hash(env)?;
        if hash != p.block_hash() {
            return Err(format!("payload claims hash {:#x} but its header hashes to {hash:#x}", p.block_hash()));
        }
        let (l1_origin, seq_num) = crate::payload::l1_info(env)?;
        let block = L2BlockRef {
            hash: p.block_hash(),
            number: p.block_number(),
            parent_hash: p.parent_hash(),
            time_ms: timing::next_block_time(head.time_ms, self.cfg.block_time_ms),
            l1_origin,
            seq_num,
        };
        if p.timestamp() != block.timestamp() {
            return Err(format!("timestamp {} is not the next slot {}", p.timestamp(), block.timestamp()));
        }
        crate::invariants::check_chain([head, &block].into_iter(), self.cfg.block_time_ms)?;
        Ok(block)
    }

    fn on_import(
        &mut self,
        block: L2BlockRef,
        envelope: Arc<OpExecutionPayloadEnvelope>,
        inserted: bool,
        reply: Result<EngineReply, RpcError>,
    ) {
        let verdict = match (inserted, reply) {
            (false, Ok(EngineReply::PayloadInserted { status })) => {
                match engine::classify_insert_status(&status, &block) {
                    Ok(()) => {
                        self.build = Build::Importing { block, envelope, req: None, inserted: true };
                        self.retry_at = self.now;
                        return;
                    }
                    Err(Verdict::Drop(reason)) => {
                        warn!("posted block rejected by the engine: {reason}");
                        return;
                    }
                    Err(v) => v,
                }
            }
            (true, Ok(EngineReply::ForkchoiceUpdated { status, .. })) => {
                match engine::classify_update_status(&status, &block) {
                    Ok(()) => {
                        info!(
                            "imported block number={} hash={:#x} origin={}",
                            block.number, block.hash, block.l1_origin.number
                        );
                        match config_from_payload(&self.cfg.rollup, &block, &envelope) {
                            Ok(c) => self.parent_config = c,
                            Err(e) => error!("cannot reconstruct the SystemConfig of imported block {block}: {e}"),
                        }
                        self.set_unsafe(block);
                        self.backoff.reset();
                        if let Some(cur) = self.l1_cache.get(&block.l1_origin.hash).cloned() {
                            self.prefetch_next(&cur);
                        }
                        return;
                    }
                    Err(v) => v,
                }
            }
            (false, Err(e)) => engine::classify_insert_error(&e, &block),
            (true, Err(e)) => engine::classify_update_error(&e, &block),
            (inserted, Ok(other)) => engine::unexpected_reply(
                if inserted { "engine_forkchoiceUpdated" } else { "engine_newPayload" },
                &other,
            ),
        };
        self.build = Build::Importing { block, envelope, req: None, inserted };
        self.apply_verdict(verdict);
    }

    // ----- reset ----------------------------------------------------------------------------------------------

    fn begin_reset(&mut self, reason: String) {
        self.stats.resets += 1;
        let delay = if self.consecutive_resets == 0 {
            0
        } else {
            self.reset_backoff.next_delay(TEMPORARY_RETRY_MS, MAX_TEMPORARY_BACKOFF_MS)
        };
        self.consecutive_resets = self.consecutive_resets.saturating_add(1);
        warn!("resetting engine state retry_in_ms={delay} build_stage={} reason=\"{reason}\"", self.build.name());
        self.build = Build::Idle;
        self.next = NextSlot::Empty;
        self.verify = Verify::Idle;
        self.sync = Sync::Resetting(Box::new(Reset {
            reason,
            step: ResetStep::FetchHeads,
            req: None,
            retry_at: self.now + delay,
            walked: 0,
            wait_after: true,
            config: None,
        }));
    }

    fn step_reset(&mut self) -> bool {
        let Sync::Resetting(r) = &self.sync else { return false };
        if r.req.is_some() || self.now < r.retry_at {
            return false;
        }
        let step = r.step.clone();
        let (what, cmd): (Pending, fn(RequestId, u64) -> Command) = match &step {
            ResetStep::FetchHeads => {
                let id = self.request(Pending::L2Heads, |id| Command::FetchL2Heads { id });
                return self.set_reset_req(id);
            }
            ResetStep::CheckOrigin { engine, candidate } => {
                if candidate.number <= engine.safe.number || candidate.number == self.cfg.rollup.genesis.l2.number {
                    // Never walk below safe: that is derivation's business.
                    let target = if candidate.number < engine.safe.number { engine.safe } else { *candidate };
                    return self.set_reset_step(ResetStep::Header { engine: *engine, target });
                }
                (Pending::ResetL1(candidate.l1_origin.number), |id, number| Command::FetchL1BlockByNumber {
                    id,
                    number,
                })
            }
            ResetStep::WalkBack { number, .. } => {
                (Pending::L2ByNumber(*number), |id, number| Command::FetchL2BlockByNumber { id, number })
            }
            ResetStep::Header { target, .. } => {
                (Pending::L2Header(target.number), |id, number| Command::FetchL2Header { id, number })
            }
            ResetStep::Forkchoice { engine, target } => {
                if target.hash == engine.unsafe_head.hash {
                    self.finish_reset(*engine, *target);
                    return true;
                }
                if self.engine_req.is_some() {
                    return false;
                }
                let state = ForkchoiceState {
                    head_block_hash: target.hash,
                    safe_block_hash: engine.safe.hash,
                    finalized_block_hash: engine.finalized.hash,
                };
                let version = engine::forkchoice_version(&self.cfg.rollup, None);
                let id = self.request(Pending::Engine, |id| Command::ForkchoiceUpdate {
                    id,
                    version,
                    state,
                    attributes: None,
                });
                return self.set_reset_req(id);
            }
        };
        let number = match what {
            Pending::ResetL1(n) | Pending::L2ByNumber(n) | Pending::L2Header(n) => n,
            _ => unreachable!("only numbered lookups reach here"),
        };
        let id = self.request(what, |id| cmd(id, number));
        self.set_reset_req(id)
    }

    fn set_reset_req(&mut self, id: RequestId) -> bool {
        if let Sync::Resetting(r) = &mut self.sync {
            r.req = Some(id);
        }
        true
    }

    fn set_reset_step(&mut self, step: ResetStep) -> bool {
        if let Sync::Resetting(r) = &mut self.sync {
            r.step = step;
            r.req = None;
        }
        true
    }

    fn reset_failed(&mut self, what: String) {
        self.stats.retries += 1;
        let delay = self.reset_backoff.next_delay(TEMPORARY_RETRY_MS, MAX_TEMPORARY_BACKOFF_MS);
        warn!("reset step failed, retrying retry_in_ms={delay} error=\"{what}\"");
        if let Sync::Resetting(r) = &mut self.sync {
            r.req = None;
            r.retry_at = self.now + delay;
        }
    }

    /// Whether `id` is the reset's outstanding request.
    fn is_reset_req(&self, id: RequestId) -> bool {
        matches!(&self.sync, Sync::Resetting(r) if r.req == Some(id))
    }

    fn reset_step(&self) -> Option<ResetStep> {
        match &self.sync {
            Sync::Resetting(r) => Some(r.step.clone()),
            Sync::Ready => None,
        }
    }

    fn on_l2_heads(&mut self, id: RequestId, result: Result<EngineHeads, RpcError>) {
        self.pending.remove(&id);
        if !self.is_reset_req(id) {
            return;
        }
        let heads = match result {
            Ok(h) => h,
            Err(e) => return self.reset_failed(format!("reading engine heads: {e}")),
        };
        let (u, s, f) = (heads.unsafe_head, heads.safe, heads.finalized);
        if u.number < f.number {
            let msg = format!("engine unsafe head {u} is behind its finalized head {f}");
            self.apply_verdict(Verdict::Critical(msg.clone()));
            return self.reset_failed(msg);
        }
        if s.number < f.number || u.number < s.number {
            return self.reset_failed(format!("engine heads out of order: unsafe {u}, safe {s}, finalized {f}"));
        }
        self.set_reset_step(ResetStep::CheckOrigin { engine: heads, candidate: u });
    }

    fn on_reset_l1(&mut self, block: Option<L1Block>) {
        let Some(ResetStep::CheckOrigin { engine, candidate }) = self.reset_step() else { return };
        match block {
            Some(b) if b.hash() == candidate.l1_origin.hash => {
                self.cache_l1(b);
                self.set_reset_step(ResetStep::Header { engine, target: candidate });
            }
            Some(b) => {
                warn!(
                    "unsafe block {candidate} has orphaned L1 origin {:#x}:{} (canonical {:#x}); walking back",
                    candidate.l1_origin.hash,
                    candidate.l1_origin.number,
                    b.hash()
                );
                // Jump to the last block of the previous epoch.
                let prev = candidate.number.saturating_sub(candidate.seq_num + 1);
                let walked = match &self.sync {
                    Sync::Resetting(r) => r.walked,
                    Sync::Ready => 0,
                };
                if prev <= engine.safe.number || walked >= MAX_RESET_WALKBACK {
                    self.set_reset_step(ResetStep::Header { engine, target: engine.safe });
                } else {
                    self.set_reset_step(ResetStep::WalkBack { engine, number: prev });
                }
            }
            None => {
                // L1 has no block at that height yet (our origin is ahead of this L1 node): keep the head.
                self.set_reset_step(ResetStep::Header { engine, target: candidate });
            }
        }
    }

    fn on_l2_block(&mut self, id: RequestId, result: Result<Option<L2BlockRef>, RpcError>) {
        self.pending.remove(&id);
        if !self.is_reset_req(id) {
            return;
        }
        let Some(ResetStep::WalkBack { engine, number }) = self.reset_step() else { return };
        match result {
            Ok(Some(block)) if block.number == number => {
                if let Sync::Resetting(r) = &mut self.sync {
                    r.walked += 1;
                }
                self.set_reset_step(ResetStep::CheckOrigin { engine, candidate: block });
            }
            Ok(Some(block)) => self.reset_failed(format!("asked the engine for block {number}, got {block}")),
            Ok(None) => self.reset_failed(format!("engine has no L2 block {number} below its unsafe head")),
            Err(e) => self.reset_failed(format!("reading L2 block {number}: {e}")),
        }
    }

    fn on_l2_header(&mut self, id: RequestId, result: Result<Option<crate::io::L2Header>, RpcError>) {
        self.pending.remove(&id);
        if !self.is_reset_req(id) {
            return;
        }
        let Some(ResetStep::Header { engine, target }) = self.reset_step() else { return };
        let header = match result {
            Ok(Some(h)) if h.hash == target.hash => h,
            Ok(Some(h)) => {
                // The engine's chain moved under us: start the reset over.
                self.reset_failed(format!("engine block {} is now {:#x}, expected {target}", target.number, h.hash));
                self.set_reset_step(ResetStep::FetchHeads);
                return;
            }
            Ok(None) => {
                return self
                    .reset_failed(format!("engine has no block {} to read the SystemConfig from", target.number))
            }
            Err(e) => return self.reset_failed(format!("reading the header of L2 block {}: {e}", target.number)),
        };
        match config_from_header(&self.cfg.rollup, &target, &header) {
            Ok(config) => {
                if let Sync::Resetting(r) = &mut self.sync {
                    r.config = Some(config);
                }
                self.set_reset_step(ResetStep::Forkchoice { engine, target });
            }
            Err(e) => {
                error!("cannot reconstruct the SystemConfig of L2 block {target}: {e}");
                self.reset_failed(format!("SystemConfig of {target}: {e}"));
            }
        }
    }

    fn on_reset_forkchoice(&mut self, reply: Result<EngineReply, RpcError>) {
        let Some(ResetStep::Forkchoice { engine, target }) = self.reset_step() else { return };
        let verdict = match reply {
            Ok(EngineReply::ForkchoiceUpdated { status, .. }) => match engine::classify_update_status(&status, &target)
            {
                Ok(()) => return self.finish_reset(engine, target),
                Err(v) => v,
            },
            Ok(other) => engine::unexpected_reply("engine_forkchoiceUpdated", &other),
            Err(e) => engine::classify_update_error(&e, &target),
        };
        match verdict {
            Verdict::Reset(reason) => {
                self.reset_failed(reason);
                self.set_reset_step(ResetStep::FetchHeads);
            }
            other => self.reset_failed(format!("{other:?}")),
        }
    }

    fn finish_reset(&mut self, engine: EngineHeads, target: L2BlockRef) {
        let (wait, reason, config) = match &self.sync {
            Sync::Resetting(r) => (r.wait_after, r.reason.clone(), r.config),
            Sync::Ready => (false, String::new(), None),
        };
        if let Some(config) = config {
            self.parent_config = config;
        }
        info!(
            "engine heads synced unsafe={target} safe={} finalized={} reason=\"{reason}\"",
            engine.safe, engine.finalized
        );
        self.recent.clear();
        self.heads.safe = Some(engine.safe);
        self.heads.finalized = Some(engine.finalized);
        self.set_unsafe(target);
        self.sync = Sync::Ready;
        self.build = Build::Idle;
        if wait {
            self.not_before = self.now + self.cfg.block_time_ms;
        }
        if let Some(c) = self.committed_pending.clone() {
            if c.job.parent == target {
                // The conductor already holds this block: insert it again instead of building a rival at its height.
                info!("re-inserting block {} already committed to the conductor", c.block);
                self.build = Build::Inserting { sealed: c, req: None };
                self.retry_at = self.now;
            } else {
                if c.block != target {
                    warn!("committed block {} is not on the engine's chain after the reset (head {target})", c.block);
                }
                self.committed_pending = None;
            }
        }
        self.update_safe_lag();
    }

    // ----- L1 -------------------------------------------------------------------------------------------------

    fn on_l1_head(&mut self, head: kona_protocol::BlockInfo) {
        if let Some(prev) = self.heads.l1_head {
            if prev.hash == head.hash {
                return;
            }
            let reorg = head.number <= prev.number || (head.number == prev.number + 1 && head.parent_hash != prev.hash);
            if reorg {
                info!(
                    "L1 reorg observed old_head={:#x}:{} new_head={:#x}:{}; re-checking L1 origin",
                    prev.hash, prev.number, head.hash, head.number
                );
                self.next = NextSlot::Empty;
                self.verify = Verify::Needed;
            }
        }
        self.heads.l1_head = Some(head);
        if let Some(cur) = self.heads.unsafe_head.and_then(|u| self.l1_cache.get(&u.l1_origin.hash).cloned()) {
            if matches!(self.sync, Sync::Ready) {
                self.prefetch_next(&cur);
            }
        }
    }

    fn on_l1_block(&mut self, id: RequestId, result: Result<Option<L1Block>, RpcError>) {
        let Some(what) = self.pending.remove(&id) else { return };
        if let Err(e) = &result {
            self.stats.l1_errors += 1;
            debug!("L1 request {id} for {what:?} failed: {e}");
        }
        match what {
            Pending::L1Current(hash) => {
                if self.current_fetch != Some(id) {
                    return;
                }
                self.current_fetch = None;
                match result {
                    Ok(Some(b)) if b.hash() == hash => {
                        self.l1_backoff.reset();
                        self.cache_l1(b);
                    }
                    other => {
                        let delay = self.l1_backoff.next_delay(TEMPORARY_RETRY_MS, MAX_TEMPORARY_BACKOFF_MS);
                        let what = match other {
                            Ok(Some(b)) => format!("returned block {:#x}", b.hash()),
                            Ok(None) => "not found".into(),
                            Err(e) => e.to_string(),
                        };
                        warn!("cannot fetch current L1 origin {hash:#x}: {what}; retry_in_ms={delay}");
                        self.not_before = self.not_before.max(self.now + delay);
                    }
                }
            }
            Pending::L1Next(number) => {
                if !matches!(self.next, NextSlot::Fetching { req, .. } if req == id) {
                    return;
                }
                self.next = match result {
                    Ok(Some(b)) if b.number() == number => {
                        self.l1_backoff.reset();
                        self.cache_l1(b.clone());
                        self.fetch_receipts(b.hash());
                        NextSlot::Known(b)
                    }
                    Ok(None) => NextSlot::Absent { number, l1_head: self.heads.l1_head.map(|h| h.number) },
                    other => {
                        let delay = self.l1_backoff.next_delay(TEMPORARY_RETRY_MS, MAX_TEMPORARY_BACKOFF_MS);
                        if let Ok(Some(b)) = other {
                            warn!("asked L1 for block {number}, got {}", b.number());
                        }
                        NextSlot::Failed { number, retry_at: self.now + delay }
                    }
                };
            }
            Pending::L1Verify(number) => {
                if self.verify != Verify::Fetching(id) {
                    return;
                }
                let current = self.heads.unsafe_head.map(|u| u.l1_origin);
                match (result, current) {
                    (Ok(Some(b)), Some(cur)) if b.number() == number && cur.number == number => {
                        self.verify = Verify::Idle;
                        if b.hash() != cur.hash {
                            let reason = format!(
                                "L1 origin {:#x}:{number} of the unsafe head was reorged out (canonical {:#x})",
                                cur.hash,
                                b.hash()
                            );
                            self.begin_reset(reason);
                        }
                    }
                    (Ok(_), Some(cur)) if cur.number != number => self.verify = Verify::Needed,
                    _ => {
                        let delay = self.l1_backoff.next_delay(TEMPORARY_RETRY_MS, MAX_TEMPORARY_BACKOFF_MS);
                        warn!("cannot re-check L1 origin {number} after a reorg; retry_in_ms={delay}");
                        self.verify = Verify::Needed;
                        self.not_before = self.not_before.max(self.now + delay);
                    }
                }
            }
            Pending::ResetL1(_) => {
                if !self.is_reset_req(id) {
                    return;
                }
                match result {
                    Ok(block) => self.on_reset_l1(block),
                    Err(e) => self.reset_failed(format!("checking L1 origin during reset: {e}")),
                }
            }
            other => debug!("L1 answer {id} does not match request kind {other:?}"),
        }
    }

    // ----- L2 heads from outside ------------------------------------------------------------------------------

    fn on_safe_head(&mut self, safe: L2BlockRef) {
        if let Some(f) = &self.heads.finalized {
            if safe.number < f.number {
                warn!("ignoring safe head {safe} below finalized head {f}");
                return;
            }
        }
        if matches!(self.sync, Sync::Ready) {
            if let Some(u) = self.heads.unsafe_head {
                if safe.number > u.number {
                    self.heads.safe = Some(safe);
                    return self.begin_reset(format!("safe head {safe} is ahead of unsafe head {u}"));
                }
                if let Some(ours) = self.recent.iter().find(|b| b.number == safe.number) {
                    if ours.hash != safe.hash {
                        let reason = format!("safe head {safe} is not on the unsafe chain (have {ours})");
                        self.heads.safe = Some(safe);
                        return self.begin_reset(reason);
                    }
                }
            }
        }
        self.heads.safe = Some(safe);
    }

    fn on_finalized_head(&mut self, fin: L2BlockRef) {
        if self.heads.safe.map(|s| s.number < fin.number).unwrap_or(true) {
            self.on_safe_head(fin);
        }
        self.heads.finalized = Some(fin);
    }

    // ----- conductor ------------------------------------------------------------------------------------------

    fn on_conductor(&mut self, id: RequestId, result: Result<ConductorReply, RpcError>) {
        let Some(what) = self.pending.remove(&id) else { return };
        match what {
            Pending::Commit => self.on_commit(id, result),
            Pending::Leader(purpose) => self.on_leader(purpose, result),
            other => debug!("conductor answer {id} does not match request kind {other:?}"),
        }
    }

    fn on_leader(&mut self, purpose: LeaderPurpose, result: Result<ConductorReply, RpcError>) {
        let leader = match result {
            Ok(ConductorReply::Leader(b)) => Ok(b),
            Ok(other) => Err(format!("conductor_leader answered with {other:?}")),
            Err(e) => Err(e.to_string()),
        };
        match purpose {
            LeaderPurpose::Start { reply_to, hash } => match leader {
                Ok(true) => self.starts_waiting.push((reply_to, hash)),
                Ok(false) => self.reply(reply_to, Err(RpcFailure::server(control::ERR_NOT_LEADER))),
                Err(e) => self.reply(reply_to, Err(RpcFailure::server(control::leader_check_failed(e)))),
            },
            LeaderPurpose::AfterCommitFailure => {
                self.leader_check_in_flight = false;
                if leader == Ok(false) && self.active {
                    warn!("conductor says this node is no longer the leader; stopping sequencing");
                    self.active = false;
                    if let Build::Committing { req: None, sealed, .. } = &self.build {
                        let msg = format!("lost leadership before block {} was committed", sealed.block);
                        self.drop_build(msg);
                    }
                }
            }
        }
    }

    // ----- shutdown -------------------------------------------------------------------------------------------

    fn on_shutdown(&mut self) {
        if self.shutdown_settled.is_some() || self.shutting_down {
            return;
        }
        if !self.active {
            self.shutdown_settled = Some(self.heads.unsafe_head.map(|u| u.hash).unwrap_or_default());
            return;
        }
        info!("shutting down: sealing and inserting the block in flight stage={}", self.build.name());
        self.finish_in_flight = true;
        self.shutting_down = true;
    }

    /// After [`Event::ShutdownRequested`]: `Some(unsafe head hash)` once the block that was in flight has been sealed
    /// and inserted (or there was none) and the sequencer has stopped; `None` before.
    pub fn shutdown_settled(&self) -> Option<B256> {
        self.shutdown_settled
    }

    // ----- RPC ------------------------------------------------------------------------------------------------

    fn on_rpc(&mut self, reply_to: ReplyTo, request: RpcRequest) {
        let waiting = self.stops_waiting.len() + self.starts_waiting.len();
        match request {
            RpcRequest::StartSequencer(hash) => {
                if waiting >= MAX_WAITING_RPC {
                    return self.reply(reply_to, Err(RpcFailure::server("too many admin calls in progress")));
                }
                if self.conductor_gated() {
                    self.request(Pending::Leader(LeaderPurpose::Start { reply_to, hash }), |id| Command::CheckLeader {
                        id,
                    });
                } else {
                    self.starts_waiting.push((reply_to, hash));
                }
            }
            RpcRequest::StopSequencer => {
                if !self.active {
                    return self.reply(reply_to, Err(RpcFailure::server(control::ERR_NOT_RUNNING)));
                }
                if waiting >= MAX_WAITING_RPC {
                    return self.reply(reply_to, Err(RpcFailure::server("too many admin calls in progress")));
                }
                if !self.build.settling() && !matches!(self.build, Build::Idle) {
                    debug!("discarding unsealed build on stop stage={}", self.build.name());
                    self.build = Build::Idle;
                }
                self.stops_waiting.push(reply_to);
            }
            RpcRequest::PostUnsafePayload(envelope) => {
                self.queue_import(envelope);
                self.reply(reply_to, Ok(RpcReply::Null));
            }
            RpcRequest::SequencerActive => self.reply(reply_to, Ok(RpcReply::Bool(self.active))),
            RpcRequest::SetRecoverMode(on) => {
                if on != self.recover {
                    warn!("recovery mode {}", if on { "enabled" } else { "disabled" });
                }
                self.recover = on;
                self.reply(reply_to, Ok(RpcReply::Null));
            }
            RpcRequest::ConductorEnabled => {
                self.reply(reply_to, Ok(RpcReply::Bool(self.cfg.sequencer.conductor_enabled)))
            }
            RpcRequest::OverrideLeader => {
                warn!("conductor leader override enabled: commits and leader checks are bypassed");
                self.leader_override = true;
                self.reply(reply_to, Ok(RpcReply::Null));
            }
            RpcRequest::SyncStatus => {
                let status = self.sync_status();
                self.reply(reply_to, Ok(RpcReply::SyncStatus(Box::new(status))));
            }
        }
    }

    /// Answers admin calls that waited for the block in flight to settle.
    fn resolve_waiting_rpc(&mut self) {
        if self.build.settling() || (self.finish_in_flight && !matches!(self.build, Build::Idle)) {
            return;
        }
        self.finish_in_flight = false;
        if !self.stops_waiting.is_empty() || self.shutting_down {
            let hash = self.heads.unsafe_head.map(|u| u.hash).unwrap_or_default();
            if self.active {
                info!("sequencer stopped at unsafe head {hash:#x}");
            }
            self.active = false;
            self.build = Build::Idle;
            for reply_to in std::mem::take(&mut self.stops_waiting) {
                self.reply(reply_to, Ok(RpcReply::Hash(hash)));
            }
            if std::mem::take(&mut self.shutting_down) {
                self.shutdown_settled = Some(hash);
            }
        }
        for (reply_to, hash) in std::mem::take(&mut self.starts_waiting) {
            let result = control::check_start(self.active, self.heads.unsafe_head.as_ref(), hash);
            match result {
                Ok(()) => {
                    if let Some(reason) = self.halted.take() {
                        warn!("clearing critical halt on admin start; it was: {reason}");
                    }
                    self.active = true;
                    self.not_before = self.now;
                    self.backoff.reset();
                    info!("sequencer started at unsafe head {hash:#x}");
                    self.reply(reply_to, Ok(RpcReply::Null));
                }
                Err(msg) => self.reply(reply_to, Err(RpcFailure::server(msg))),
            }
        }
        // A start may make building possible right away.
        if self.active && matches!(self.build, Build::Idle) {
            for _ in 0..MAX_DRIVE_STEPS {
                if !self.step() {
                    break;
                }
            }
        }
    }

    fn sync_status(&self) -> SyncStatus {
        let l1 = |hash: Option<B256>| hash.and_then(|h| self.l1_cache.get(&h)).map(|b| b.info);
        SyncStatus {
            current_l1: l1(self.heads.unsafe_head.map(|u| u.l1_origin.hash)),
            current_l1_finalized: self.heads.l1_finalized,
            head_l1: self.heads.l1_head,
            safe_l1: self.heads.l1_safe,
            finalized_l1: self.heads.l1_finalized,
            unsafe_l2: self.heads.unsafe_head,
            safe_l2: self.heads.safe,
            finalized_l2: self.heads.finalized,
        }
    }

    // ----- failures -------------------------------------------------------------------------------------------

    fn on_failure(&mut self, id: RequestId, error: RpcError) {
        let Some(what) = self.pending.get(&id).copied() else {
            debug!("failure for unknown request {id}: {error}");
            return;
        };
        match what {
            Pending::L1Current(_) | Pending::L1Next(_) | Pending::L1Verify(_) | Pending::ResetL1(_) => {
                self.on_l1_block(id, Err(error))
            }
            Pending::L2Heads => self.on_l2_heads(id, Err(error)),
            Pending::L2ByNumber(_) => self.on_l2_block(id, Err(error)),
            Pending::L2Header(_) => self.on_l2_header(id, Err(error)),
            Pending::L1Receipts(_) => self.on_receipts(id, Err(error)),
            Pending::Engine => self.on_engine(id, Err(error)),
            Pending::Leader(_) | Pending::Commit => self.on_conductor(id, Err(error)),
        }
    }
}

/// op-node `PayloadToSystemConfig` from header facts: the L1 info calldata is wrapped back into a deposit, the form
/// [`SystemConfig::from_l2_block`] reads.
fn config_from_header(
    rollup: &crate::rollup::Rollup,
    block: &L2BlockRef,
    header: &crate::io::L2Header,
) -> Result<SystemConfig, String> {
    use alloy_eips::eip2718::Encodable2718;
    let first_tx = header
        .l1_info_input
        .as_ref()
        .map(|input| op_alloy_consensus::TxDeposit { input: input.clone(), ..Default::default() }.encoded_2718());
    config_from_facts(rollup, block, header.gas_limit, &header.extra_data, first_tx.as_deref())
}

fn config_from_facts(
    rollup: &crate::rollup::Rollup,
    block: &L2BlockRef,
    gas_limit: u64,
    extra_data: &[u8],
    first_tx: Option<&[u8]>,
) -> Result<SystemConfig, String> {
    let facts = crate::system_config::L2BlockFacts {
        number: block.number,
        hash: block.hash,
        timestamp: block.timestamp(),
        gas_limit,
        extra_data,
        first_tx,
    };
    SystemConfig::from_l2_block(rollup, &facts).map_err(|e| e.to_string())
}

/// The SystemConfig after a block built elsewhere, read from its payload.
fn config_from_payload(
    rollup: &crate::rollup::Rollup,
    block: &L2BlockRef,
    env: &OpExecutionPayloadEnvelope,
) -> Result<SystemConfig, String> {
    let p = env.execution_payload.as_v1();
    config_from_facts(rollup, block, p.gas_limit, &p.extra_data, p.transactions.first().map(|t| t.as_ref()))
}

/// The `req` slot of a `Committing` stage.
fn req_none(build: &mut Build) -> &mut Option<RequestId> {
    match build {
        Build::Committing { req, .. } | Build::Inserting { req, .. } | Build::Updating { req, .. } => req,
        _ => unreachable!("only sealed stages carry a retryable request"),
    }
}
