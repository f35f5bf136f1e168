//! The sequencer state machine. It sequences the pure rules of `origin`, `attributes`, `engine`, `control` and
//! `timing`; it owns every piece of state and every outstanding request.

use crate::attributes::{self, AttributesErrorClass, AttributesInput};
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
use crate::types::{secs, Heads, L1Block, L2BlockRef, ReplyTo, RequestId, UnixMs};
use alloy_consensus::Receipt;
use alloy_primitives::B256;
use alloy_rpc_types_engine::{ForkchoiceState, PayloadId};
use log::{debug, error, info, warn};
use op_alloy_rpc_types_engine::OpExecutionPayloadEnvelope;
use requests::{Answer, BuildCall, Pending, Requests, ResetCall};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

mod admin;
mod build;
mod derivation;
mod imports;
mod l1;
mod plumbing;
mod requests;
mod reset;
#[cfg(test)]
mod tests;

pub use derivation::{DeriveStats, MAX_DERIVE_WINDOW, MAX_SAFE_HISTORY};

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
    pub build_started_at: UnixMs,
    /// When the payload was sealed (getPayload answered).
    pub sealed_at: UnixMs,
    /// When sealing was due (`timestamp - seal_margin`).
    pub seal_target: UnixMs,
    /// When the block became the unsafe head.
    pub completed_at: UnixMs,
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
    started_at: UnixMs,
    seal_at: UnixMs,
    /// Built from derived attributes (L1 says this block): not committed to the conductor, not published; safe once
    /// built.
    derived: bool,
}

/// A sealed block on its way to becoming the unsafe head.
#[derive(Clone, Debug, PartialEq)]
struct Sealed {
    job: Job,
    envelope: Arc<OpExecutionPayloadEnvelope>,
    block: L2BlockRef,
    sealed_at: UnixMs,
    txs: usize,
    committed: bool,
    /// The engine already answered INVALID to inserting this committed block once (the second time it is dropped,
    /// unless `maybe_held`).
    refused: bool,
    /// An insert of this block timed out: the engine may hold it, so it is never replaced, only inserted again.
    maybe_held: bool,
}

/// The block-building lifecycle. A sealed or importing stage with no request in the table waits for `retry_at`.
#[derive(Clone, Debug, PartialEq)]
enum Build {
    Idle,
    Starting {
        job: Job,
    },
    Building {
        payload_id: PayloadId,
        job: Job,
    },
    Sealing {
        payload_id: PayloadId,
        job: Job,
        /// When getPayload was sent (its round trip feeds the adaptive seal margin).
        sent_at: UnixMs,
    },
    Committing {
        sealed: Box<Sealed>,
        attempts: u32,
    },
    Inserting {
        sealed: Box<Sealed>,
    },
    Updating {
        sealed: Box<Sealed>,
    },
    /// Inserting a block built elsewhere (conductor catch-up, another sequencer's block): newPayload, then FCU.
    Importing {
        block: L2BlockRef,
        envelope: Arc<OpExecutionPayloadEnvelope>,
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

    /// The request a stage waits on, if it waits on one.
    fn call(&self) -> Option<Pending> {
        Some(match self {
            Self::Idle | Self::Building { .. } => return None,
            Self::Starting { .. } => Pending::Build(BuildCall::Start),
            Self::Sealing { .. } => Pending::Build(BuildCall::Seal),
            Self::Committing { .. } => Pending::Commit,
            Self::Inserting { .. } => Pending::Build(BuildCall::Insert),
            Self::Updating { .. } => Pending::Build(BuildCall::Update),
            Self::Importing { .. } => Pending::Build(BuildCall::Import),
        })
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
    retry_at: UnixMs,
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
        number: u64,
    },
    /// Looked up at L1 head `l1_head` and not there.
    Absent {
        number: u64,
        l1_head: Option<u64>,
    },
    Failed {
        number: u64,
        retry_at: UnixMs,
    },
    Known(L1Block),
}

/// Re-checking the current origin after a sign of an L1 reorg.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verify {
    Idle,
    Needed,
    Fetching,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LeaderPurpose {
    Start { reply_to: ReplyTo, hash: B256 },
    AfterCommitFailure,
}

/// Rules a sabotaged node breaks on purpose (tests of the checks themselves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sabotage {
    /// Hand a sealed block to followers before the conductor committed it.
    PublishBeforeCommit,
    /// Adopt the next L1 origin without waiting for its confirmation depth.
    IgnoreConfDepth,
    /// Leave the epoch's user deposits out of its first block (a block derivation will not reproduce).
    SkipDeposits,
}

/// An invariant the node broke. The simulator treats this as a safety violation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invariant violated: {0}")]
pub struct InvariantViolation(pub String);

/// The sequencer. Feed it events and timeouts; drain commands; sleep until `poll_timeout`.
#[derive(Debug)]
pub struct Node {
    cfg: Config,
    now: UnixMs,
    commands: VecDeque<Command>,
    requests: Requests,
    heads: Heads,
    /// The SystemConfig the children of the unsafe head are built with (op-node `SystemConfigByL2Hash`), before
    /// the updates of a new epoch's origin.
    parent_config: SystemConfig,
    /// Receipts of the next origin (deposits and SystemConfig updates of a new epoch).
    receipts: Option<(B256, Arc<Vec<Receipt>>)>,

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

    sync: Sync,
    l1_cache: BTreeMap<B256, L1Block>,
    l1_cache_order: VecDeque<B256>,
    next: NextSlot,
    verify: Verify,

    build: Build,
    not_before: UnixMs,
    retry_at: UnixMs,
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
    derivation: derivation::Derivation,
    /// The last getPayload round trips (ms), at most [`timing::SEAL_LATENCY_WINDOW`].
    seal_latencies: VecDeque<u64>,
}

impl Node {
    /// Creates a node at wall time `now`. It starts by reading the engine's heads.
    pub fn new(cfg: Config, now: UnixMs) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let parent_config = cfg.rollup.genesis.system_config.map(SystemConfig::from).unwrap_or_default();
        let active = !(cfg.sequencer.sequencer_stopped || cfg.sequencer.conductor_enabled());
        let recover = cfg.sequencer.sequencer_recovery_mode;
        let mut node = Self {
            cfg,
            now,
            commands: VecDeque::new(),
            requests: Requests::new(),
            heads: Heads::default(),
            parent_config,
            receipts: None,
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
            sync: Sync::Ready,
            l1_cache: BTreeMap::new(),
            l1_cache_order: VecDeque::new(),
            next: NextSlot::Empty,
            verify: Verify::Idle,
            build: Build::Idle,
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
            derivation: derivation::Derivation::new(),
            seal_latencies: VecDeque::new(),
        };
        node.sync = Sync::Resetting(Box::new(Reset {
            reason: "startup".into(),
            step: ResetStep::FetchHeads,
            retry_at: now,
            walked: 0,
            wait_after: false,
            config: None,
        }));
        info!(
            "keel sequencer core created active={} recover={} conductor={} block_time_ms={}",
            node.active,
            node.recover,
            node.cfg.sequencer.conductor_enabled(),
            node.cfg.block_time_ms
        );
        node.drive();
        Ok(node)
    }

    // ----- public API -----------------------------------------------------------------------------------------

    /// Something happened.
    pub fn handle_event(&mut self, now: UnixMs, event: Event) {
        self.advance_clock(now);
        match event {
            Event::L1HeadObserved(head) => self.on_l1_head(head),
            Event::L1FinalizedObserved(block) => {
                self.heads.l1_finalized = Some(block);
                self.finalize_derived();
            }
            Event::L1SafeObserved(block) => self.heads.l1_safe = Some(block),
            Event::SafeHeadObserved(safe) | Event::FinalizedHeadObserved(safe) if self.cfg.derivation => {
                debug!("ignoring an L2 head reported from outside ({safe}): this node derives its own")
            }
            Event::SafeHeadObserved(safe) => self.on_safe_head(safe),
            Event::FinalizedHeadObserved(fin) => self.on_finalized_head(fin),
            Event::L1BlockFetched { id, block } => self.on_answer(id, Ok(Answer::L1Block(block))),
            Event::L1DataFetched { id, data } => self.on_answer(id, Ok(Answer::L1Data(data))),
            Event::BlobsFetched { id, blobs } => self.on_answer(id, Ok(Answer::Blobs(blobs))),
            Event::L1ReceiptsFetched { id, receipts } => self.on_answer(id, Ok(Answer::Receipts(receipts))),
            Event::L2HeadsFetched { id, heads } => self.on_answer(id, Ok(Answer::L2Heads(heads))),
            Event::L2HeaderFetched { id, header } => self.on_answer(id, Ok(Answer::L2Header(header))),
            Event::L2BlockFetched { id, block } => self.on_answer(id, Ok(Answer::L2Block(block))),
            Event::EngineResponded { id, reply } => self.on_answer(id, Ok(Answer::Engine(reply))),
            Event::ConductorResponded { id, reply } => self.on_answer(id, Ok(Answer::Conductor(reply))),
            Event::RequestFailed { id, error } => self.on_answer(id, Err(error)),
            Event::RpcRequested { reply_to, request } => self.on_rpc(reply_to, request),
            Event::ShutdownRequested => self.on_shutdown(),
            Event::UnsafePayloadGossiped(envelope) => self.queue_import(envelope),
        }
        self.drive();
    }

    /// The deadline returned by [`Node::poll_timeout`] passed.
    pub fn handle_timeout(&mut self, now: UnixMs) {
        self.advance_clock(now);
        self.drive();
    }

    /// Next command to carry out, if any.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// When to call [`Node::handle_timeout`] next. `None`: nothing is timed; wait for an event.
    pub fn poll_timeout(&self) -> Option<UnixMs> {
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

    /// Derivation's counters.
    pub fn derive_stats(&self) -> &DeriveStats {
        &self.derivation.stats
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

    /// The seal margin the next build is scheduled with: the configured one, or with
    /// `SequencerConfig::adaptive_seal_margin` the one the recent getPayload round trips call for.
    pub fn seal_margin_ms(&self) -> u64 {
        let s = &self.cfg.sequencer;
        if s.adaptive_seal_margin {
            timing::adaptive_seal_margin(self.seal_latencies.iter().copied(), s.seal_margin_ms, self.cfg.block_time_ms)
        } else {
            s.seal_margin_ms
        }
    }

    /// The node's last known time.
    pub fn now(&self) -> UnixMs {
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
        if let Err(e) = self.requests.check() {
            return fail(e);
        }
        if self.seal_latencies.len() > timing::SEAL_LATENCY_WINDOW {
            return fail(format!("{} seal round trips remembered, more than the window", self.seal_latencies.len()));
        }
        let margin = self.seal_margin_ms();
        if margin >= self.cfg.block_time_ms {
            return fail(format!(
                "seal margin {margin} ms leaves no time to build in a {} ms slot",
                self.cfg.block_time_ms
            ));
        }
        // Every live request has the owner state that waits for it.
        if self.requests.any(|p| p.is_build() && Some(*p) != self.build.call()) {
            return fail(format!("a build request is outstanding that stage {} does not wait for", self.build.name()));
        }
        if self.build.job().is_some_and(|j| j.derived) && self.derivation.executing().is_none() {
            return fail(format!("stage {} builds a derived block derivation does not wait for", self.build.name()));
        }
        if !self.cfg.derivation && self.requests.any(Pending::is_derive) {
            return fail("a derivation request is outstanding with derivation disabled".into());
        }
        let (window, history) = self.derivation.held();
        if window > derivation::MAX_DERIVE_WINDOW || history > derivation::MAX_SAFE_HISTORY {
            return fail(format!("derivation holds {window} L1 blocks and {history} safe records (over its bounds)"));
        }
        if matches!(self.sync, Sync::Ready) && self.reset_waiting() {
            return fail("a reset request is outstanding with no reset in progress".into());
        }
        if self.requests.any(|p| matches!(p, Pending::L1Next(_))) != matches!(self.next, NextSlot::Fetching { .. }) {
            return fail(format!("next-origin lookup and slot {:?} disagree", self.next));
        }
        if self.requests.any(|p| matches!(p, Pending::L1Verify(_))) != (self.verify == Verify::Fetching) {
            return fail(format!("origin re-check request and state {:?} disagree", self.verify));
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
            if t <= self.now && self.requests.is_empty() {
                return fail(format!(
                    "deadline {t} passed (now {}) with nothing outstanding in stage {} (next origin {:?}, verify {:?}, \
                     not before {}, may build {}, derivation leads {}, derivation {})",
                    self.now,
                    self.build_stage(),
                    self.next,
                    self.verify,
                    self.not_before,
                    self.may_build(),
                    self.derivation_leads(),
                    self.derivation.state.name(),
                ));
            }
        }
        Ok(())
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
        timestamp: block.timestamp_s(),
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
