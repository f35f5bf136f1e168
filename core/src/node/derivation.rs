//! Derivation of the safe head: the node's driver of [`crate::derive::pipeline`].
//!
//! From the safe head, derivation reads L1 block by block (header, receipts and transactions in one request on the
//! derivation target, so a slow L1 stalls derivation only), feeds the batcher data of the batcher address in force
//! (`ConfigUpdate` logs applied as each block is traversed) to the pipeline, and turns each batch it yields into
//! attributes with the sequencer's own builder. Then consolidation (op-node `TryConsolidate`): when the engine already
//! has a block at that height, its header is compared with the attributes; a match makes it safe. A mismatch, or no
//! block at that height, makes the build lifecycle build the derived block on the safe head (the sequencer's block
//! in flight is abandoned and the unsafe chain above the safe head replaced); once built it is safe.
//!
//! The safe head reaches the engine in every forkchoice update; a node that is not sequencing sends one of its own.
//! Finality: the L2 safe head recorded at each L1 block is finalized once that L1 block is.

use super::*;
use crate::derive::batcher::{batcher_data, BatcherData};
use crate::derive::batches::ResetNeeded;
use crate::derive::consolidate::{self, Derived};
use crate::derive::pipeline::{Pipeline, Step};
use crate::io::{L1Data, L2Header};
use crate::rollup::Rollup;
use crate::types::{ms, L1BlockRef};
use alloy_primitives::{Address, Bytes};
use kona_protocol::{BlockInfo, SingleBatch};
use requests::expect;

/// L1 blocks (header and the receipts that matter) kept as candidate epochs for attributes.
pub const MAX_DERIVE_WINDOW: usize = 8_192;
/// (L1 block, safe head derived by then) pairs kept for finality and `optimism_safeHeadAtL1Block`.
pub const MAX_SAFE_HISTORY: usize = 4_096;
/// Pipeline steps per drive step (each step is bounded too).
const MAX_PIPELINE_STEPS: usize = 16;

/// Counters of derivation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeriveStats {
    /// Blocks that became safe because the engine's block matched the derived attributes.
    pub consolidated: u64,
    /// Blocks built from derived attributes (no matching block was there).
    pub built: u64,
    /// Unsafe blocks that did not match what L1 says and were replaced.
    pub mismatches: u64,
    /// Pipeline restarts (startup, L1 reorg, a changed safe head, admin reset).
    pub resets: u64,
    /// Blobs that did not decode (skipped).
    pub bad_blobs: u64,
}

/// Which of its requests derivation waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DeriveCall {
    /// L1 block `n` with receipts and transactions.
    L1Data(u64),
    /// L2 header `n` (the safe head's SystemConfig, or a block to consolidate).
    L2Header(u64),
    /// The blobs of L1 block `n`.
    Blobs(u64),
    /// Safe L2 block `n`'s facts (a span batch's parent).
    L2Block(u64),
    /// A forkchoice update carrying the safe and finalized heads (an engine call).
    Forkchoice,
}

/// Most blobs read for one L1 block (a block holds far fewer).
pub const MAX_BLOBS_PER_L1_BLOCK: usize = 128;

/// A block derived from a batch, on its way to being safe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct DerivedBlock {
    pub(super) parent: L2BlockRef,
    pub(super) origin: L1Block,
    pub(super) derived: Derived,
    pub(super) timestamp: u64,
    /// The L1 block the pipeline was at when the batch was complete.
    pub(super) inclusion: L1BlockRef,
    /// The engine's block at this height was compared and is a different block.
    pub(super) mismatch: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum DState {
    /// Waiting for the node to know its safe head.
    Waiting,
    /// Reading the safe head's header (its SystemConfig).
    SafeConfig,
    /// Reading the L1 block the pipeline starts at.
    Start(u64),
    /// Stepping the pipeline.
    Running,
    /// Reading the next L1 block.
    Next(u64),
    /// Reading an older safe block's facts for a span batch's parent check.
    SafeFacts(u64),
    /// Reading the blobs of the current L1 block (its batcher data, in block order, waits in `pending_data`).
    Blobs(u64),
    /// Reading the engine's block at the derived block's height.
    Consolidating(Box<DerivedBlock>),
    /// The build lifecycle builds the derived block.
    Executing(Box<DerivedBlock>),
}

impl DState {
    /// The state's name and L1 height, for logs and invariant reports.
    pub(super) fn name(&self) -> String {
        match self {
            DState::Waiting => "waiting".into(),
            DState::SafeConfig => "reading the safe config".into(),
            DState::Start(n) => format!("reading start L1 block {n}"),
            DState::Running => "running".into(),
            DState::Next(n) => format!("reading L1 block {n}"),
            DState::SafeFacts(n) => format!("reading safe block {n}"),
            DState::Blobs(n) => format!("reading blobs of L1 block {n}"),
            DState::Consolidating(d) => format!("consolidating block {}", d.parent.number + 1),
            DState::Executing(d) => format!("executing block {}", d.parent.number + 1),
        }
    }
}

#[derive(Debug)]
pub(super) struct Derivation {
    pub(super) state: DState,
    pipeline: Option<Pipeline>,
    /// The safe head derivation works from.
    pub(super) safe: Option<L2BlockRef>,
    /// Its SystemConfig (what the next derived block is built with, before an epoch's updates).
    pub(super) safe_config: SystemConfig,
    /// The SystemConfig of L1 traversal (its batcher address decides which transactions are batcher data).
    traversal_config: SystemConfig,
    /// Traversed L1 blocks from the safe head's origin on, with their receipts.
    window: VecDeque<(L1Block, Arc<Vec<Receipt>>)>,
    /// The safe head as derived by each L1 block (coalesced per L1 block).
    history: VecDeque<(L1BlockRef, L2BlockRef)>,
    pub(super) retry_at: UnixMs,
    backoff: Backoff,
    /// The safe and finalized hashes the engine was last told by derivation's own forkchoice update.
    pub(super) engine_told: (B256, B256),
    /// The batcher data of the L1 block whose blobs are being read.
    pending_data: Vec<BatcherData>,
    /// Recent safe blocks with their transactions (span batches overlapping the safe chain are checked against
    /// them); kept across pipeline restarts, trimmed to the safe head.
    safe_chain: crate::derive::batches::SafeChain,
    /// The last derived block had to be built (L1 disagreed with the unsafe chain, or there was none).
    replacing: bool,
    pub(super) stats: DeriveStats,
}

impl Derivation {
    pub(super) fn new() -> Self {
        Self {
            state: DState::Waiting,
            pipeline: None,
            safe: None,
            safe_config: SystemConfig::default(),
            traversal_config: SystemConfig::default(),
            window: VecDeque::new(),
            history: VecDeque::new(),
            retry_at: 0,
            backoff: Backoff::default(),
            engine_told: (B256::ZERO, B256::ZERO),
            replacing: false,
            safe_chain: Default::default(),
            pending_data: Vec::new(),
            stats: DeriveStats::default(),
        }
    }

    /// The L1 block derivation is reading.
    pub(super) fn origin(&self) -> Option<BlockInfo> {
        self.pipeline.as_ref().map(Pipeline::origin)
    }

    pub(super) fn executing(&self) -> Option<&DerivedBlock> {
        match &self.state {
            DState::Executing(d) => Some(d),
            _ => None,
        }
    }

    fn epoch(&self, hash: B256) -> Option<&(L1Block, Arc<Vec<Receipt>>)> {
        self.window.iter().rev().find(|(b, _)| b.hash() == hash)
    }

    /// The safe head at L1 block `number`: the last record at or below it.
    pub(super) fn safe_at(&self, number: u64) -> Option<(L1BlockRef, L2BlockRef)> {
        self.history.iter().rev().find(|(l1, _)| l1.number <= number).copied()
    }

    /// Whether the traversed window holds an L1 block that `head`, the new L1 head after a reorg, replaced: one
    /// above it, or a different block at its height.
    pub(super) fn orphaned_by(&self, head: &kona_protocol::BlockInfo) -> bool {
        self.window
            .iter()
            .any(|(b, _)| b.number() > head.number || (b.number() == head.number && b.hash() != head.hash))
    }

    /// Bytes and items held, for the memory bound.
    pub(super) fn held(&self) -> (usize, usize) {
        (self.window.len(), self.history.len())
    }
}

/// The receipts derivation keeps of an L1 block: those with a log of the deposit contract or the SystemConfig.
fn relevant_receipts(receipts: &[Receipt], rollup: &Rollup) -> Arc<Vec<Receipt>> {
    let keep = |r: &&Receipt| {
        r.logs
            .iter()
            .any(|l| l.address == rollup.deposit_contract_address || l.address == rollup.l1_system_config_address)
    };
    Arc::new(receipts.iter().filter(keep).cloned().collect())
}

impl Node {
    /// One derivation transition if one is due. Returns whether anything changed.
    pub(super) fn step_derivation(&mut self) -> bool {
        if !self.cfg.derivation || !matches!(self.sync, Sync::Ready) {
            return false;
        }
        if self.heads.safe != self.derivation.safe && !matches!(self.derivation.state, DState::Executing(_)) {
            let from = self.derivation.safe;
            let reason = match (from, self.heads.safe) {
                (None, _) => "startup".to_string(),
                (Some(old), new) => format!("safe head moved from {old} to {new:?} outside derivation"),
            };
            self.restart_derivation(&reason);
        }
        if self.requests.any(Pending::is_derive_read) || self.now < self.derivation.retry_at {
            return false;
        }
        match self.derivation.state.clone() {
            DState::Waiting => {
                let Some(safe) = self.heads.safe else { return false };
                self.derivation.safe = Some(safe);
                self.derivation.state = DState::SafeConfig;
                true
            }
            DState::SafeConfig => {
                let number = self.derivation.safe.expect("set before SafeConfig").number;
                self.request(Pending::Derive(DeriveCall::L2Header(number)), |id| Command::FetchL2Header { id, number });
                true
            }
            DState::Start(number) | DState::Next(number) => {
                if self.heads.l1_head.is_some_and(|h| h.number < number) {
                    return false; // not on L1 yet; the next L1 head wakes us
                }
                self.request(Pending::Derive(DeriveCall::L1Data(number)), |id| Command::FetchL1Data { id, number });
                true
            }
            DState::Blobs(number) => {
                let Some(block) = self.derivation.window.back().map(|(b, _)| b.info).filter(|b| b.number == number)
                else {
                    self.restart_derivation("the L1 block whose blobs are read left the window");
                    return true;
                };
                let blobs: Vec<(u64, B256)> = self
                    .derivation
                    .pending_data
                    .iter()
                    .filter_map(|d| match d {
                        BatcherData::Blob { hash, index } => Some((*index, *hash)),
                        BatcherData::Calldata(_) => None,
                    })
                    .collect();
                self.request(Pending::Derive(DeriveCall::Blobs(number)), |id| Command::FetchBlobs { id, block, blobs });
                true
            }
            DState::SafeFacts(number) => {
                self.request(Pending::Derive(DeriveCall::L2Block(number)), |id| Command::FetchL2BlockByNumber {
                    id,
                    number,
                });
                true
            }
            DState::Running => self.step_pipeline(),
            DState::Consolidating(d) => {
                let number = d.parent.number + 1;
                self.request(Pending::Derive(DeriveCall::L2Header(number)), |id| Command::FetchL2Header { id, number });
                true
            }
            DState::Executing(_) => false,
        }
    }

    /// Starts derivation over from the node's safe head.
    pub(super) fn restart_derivation(&mut self, reason: &str) {
        info!("derivation restarts from safe head {:?}: {reason}", self.heads.safe);
        self.derivation.stats.resets += 1;
        self.requests.abandon(Pending::is_derive_read);
        if self.build.job().is_some_and(|j| j.derived) && !self.build.settling() {
            self.abandon_build();
        }
        let d = &mut self.derivation;
        d.pipeline = None;
        d.window.clear();
        d.pending_data.clear();
        d.safe = self.heads.safe;
        match &d.safe {
            Some(s) => d.safe_chain.retain_through(&s.to_kona()),
            None => d.safe_chain.clear(),
        }
        d.state = if d.safe.is_some() { DState::SafeConfig } else { DState::Waiting };
        d.retry_at = self.now;
    }

    fn derivation_retry(&mut self, what: String) {
        let delay = self.derivation.backoff.next_delay(TEMPORARY_RETRY_MS, MAX_TEMPORARY_BACKOFF_MS);
        warn!("derivation: {what}; retry_in_ms={delay}");
        self.derivation.retry_at = self.now + delay;
    }

    /// The answer to a derivation request.
    pub(super) fn on_derive_answer(&mut self, call: DeriveCall, answer: Result<Answer, RpcError>) {
        match call {
            DeriveCall::L1Data(number) => {
                match expect(answer, "L1 data", |a| if let Answer::L1Data(d) = a { Some(d) } else { None }) {
                    Ok(Some(data)) => self.on_l1_data(number, *data),
                    Ok(None) => {
                        // Not there (yet): wait for a new L1 head or a retry.
                        debug!("derivation: L1 block {number} not available yet");
                        self.derivation.retry_at = self.now + self.cfg.block_time_ms;
                    }
                    Err(e) => self.derivation_retry(format!("cannot read L1 block {number}: {e}")),
                }
            }
            DeriveCall::L2Header(number) => {
                match expect(answer, "an L2 header", |a| if let Answer::L2Header(h) = a { Some(h) } else { None }) {
                    Ok(header) => self.on_derive_header(number, header),
                    Err(e) => self.derivation_retry(format!("cannot read L2 header {number}: {e}")),
                }
            }
            DeriveCall::L2Block(number) => {
                match expect(answer, "an L2 block", |a| if let Answer::L2Block(b) = a { Some(b) } else { None }) {
                    Ok(block) => {
                        if let Some(b) = block.filter(|b| b.number == number) {
                            self.derivation.safe_chain.add_facts(L2BlockRef::to_kona(&b));
                        }
                        if self.derivation.state == DState::SafeFacts(number) {
                            self.derivation.state = DState::Running;
                        }
                    }
                    Err(e) => self.derivation_retry(format!("cannot read L2 block {number}: {e}")),
                }
            }
            DeriveCall::Blobs(number) => {
                match expect(answer, "blobs", |a| if let Answer::Blobs(b) = a { Some(b) } else { None }) {
                    Ok(blobs) => self.on_blobs(number, blobs),
                    Err(e) => self.derivation_retry(format!("cannot read the blobs of L1 block {number}: {e}")),
                }
            }
            DeriveCall::Forkchoice => {
                if let Err(e) = expect(answer, "an engine reply", |a| matches!(a, Answer::Engine(_)).then_some(())) {
                    warn!("derivation: forkchoice update with the safe head failed: {e}");
                    self.derivation.engine_told = (B256::ZERO, B256::ZERO);
                }
            }
        }
    }

    fn on_derive_header(&mut self, number: u64, header: Option<L2Header>) {
        match self.derivation.state.clone() {
            DState::SafeConfig => {
                let Some(safe) = self.derivation.safe.filter(|s| s.number == number) else { return };
                let header = match header {
                    Some(h) if h.hash == safe.hash => h,
                    other => {
                        return self.derivation_retry(format!(
                            "the engine's block {number} is {:?}, not the safe head {safe}",
                            other.map(|h| h.hash)
                        ))
                    }
                };
                let rollup = self.cfg.rollup.clone();
                let config = if number == rollup.genesis.l2.number {
                    rollup.genesis.system_config.map(SystemConfig::from).unwrap_or_default()
                } else {
                    match config_from_header(&rollup, &safe, &header) {
                        Ok(c) => c,
                        Err(e) => return self.derivation_retry(format!("SystemConfig of safe head {safe}: {e}")),
                    }
                };
                self.derivation.safe_config = config;
                self.derivation.traversal_config = config;
                // op-node `initialReset`: start a channel timeout before the safe head's origin, so channels that
                // were open when it was derived are read again (their batches for safe blocks are dropped).
                let timeout = rollup.channel_timeout(safe.timestamp_s());
                let start = safe.l1_origin.number.saturating_sub(timeout).max(rollup.genesis.l1.number);
                self.derivation.state = DState::Start(start);
            }
            DState::Consolidating(d) if d.parent.number + 1 == number => {
                let isthmus = self.cfg.rollup.is_isthmus_active(d.timestamp);
                let verdict = match &header {
                    Some(h) => consolidate::attributes_match(&d.derived.attributes, d.parent.hash, h, isthmus),
                    None => Err("no block at that height".into()),
                };
                match (verdict, header) {
                    (Ok(()), Some(h)) => {
                        let block = L2BlockRef {
                            hash: h.hash,
                            number,
                            parent_hash: h.parent_hash,
                            time_ms: ms(h.timestamp),
                            l1_origin: d.origin.info.id(),
                            seq_num: d.derived.seq_num,
                        };
                        let config = d.derived.config.after_block(&self.cfg.rollup, d.timestamp);
                        self.derivation.stats.consolidated += 1;
                        self.derivation.replacing = false;
                        let txs = d.derived.attributes.op.transactions.clone().unwrap_or_default();
                        self.promote_safe(block, config, txs, d.inclusion);
                    }
                    (result, _) => {
                        let reason = result.err().unwrap_or_default();
                        self.derivation.stats.mismatches += 1;
                        warn!(
                            "unsafe block {number} is not what L1 derives ({reason}); replacing it with the derived block"
                        );
                        let mut d = d;
                        d.mismatch = true;
                        self.execute_derived(d);
                    }
                }
            }
            _ => debug!("derivation: L2 header {number} no longer wanted"),
        }
    }

    fn execute_derived(&mut self, d: Box<DerivedBlock>) {
        // The sequencer's build in flight is on the chain being replaced (or competes with the derived block).
        if self.build.job().is_some_and(|j| !j.derived) && !self.build.settling() {
            debug!("derivation: abandoning build stage {} for the derived block", self.build.name());
            self.abandon_build();
        }
        self.derivation.state = DState::Executing(d);
    }

    fn on_l1_data(&mut self, number: u64, data: L1Data) {
        let rollup = self.cfg.rollup.clone();
        let info = data.block.info;
        match self.derivation.state {
            DState::Start(n) if n == number => {
                self.derivation.window.clear();
                self.derivation.pipeline = Some(Pipeline::new(&rollup, info));
            }
            DState::Next(n) if n == number => {
                let pipeline = self.derivation.pipeline.as_mut().expect("a pipeline while traversing");
                if let Err(ResetNeeded(reason)) = pipeline.advance(&rollup, info) {
                    // L1 reorganised under derivation: the unsafe chain's origins may be gone too (a sequencer paused
                    // by max-safe-lag would never notice by building), so the engine state is re-checked as well.
                    self.restart_derivation(&reason);
                    return self.begin_reset(format!("derivation: {reason}"));
                }
            }
            _ => return debug!("derivation: L1 block {number} no longer wanted"),
        }
        self.derivation.backoff.reset();
        if let Some(safe) = self.derivation.safe {
            if number == safe.l1_origin.number && info.hash != safe.l1_origin.hash {
                // The safe head's own origin was reorganised away: only a reset of the engine's chain helps.
                error!("the safe head {safe}'s L1 origin {number} is no longer canonical (now {:#x})", info.hash);
                self.restart_derivation("safe head's L1 origin reorganised");
                return self.begin_reset(format!("safe head {safe} has a non-canonical L1 origin"));
            }
        }
        // Traversal applies the block's ConfigUpdate logs before reading its data (a batcher change takes effect in
        // the block that makes it).
        for skipped in self.derivation.traversal_config.apply_receipts(&data.receipts, &rollup, info.timestamp) {
            warn!("derivation: skipping malformed ConfigUpdate log in L1 block {number}: {skipped:?}");
        }
        let batcher: Address = self.derivation.traversal_config.batcher_address;
        let ecotone = rollup.is_ecotone_active(info.timestamp);
        let mut items = batcher_data(&data.txs, rollup.batch_inbox_address, batcher, ecotone);
        let blobs = items.iter().filter(|d| matches!(d, BatcherData::Blob { .. })).count();
        if blobs > MAX_BLOBS_PER_L1_BLOCK {
            warn!(
                "derivation: L1 block {number} has {blobs} batcher blobs; reading the first {MAX_BLOBS_PER_L1_BLOCK}"
            );
            let mut kept = 0;
            items.retain(|d| match d {
                BatcherData::Blob { .. } => {
                    kept += 1;
                    kept <= MAX_BLOBS_PER_L1_BLOCK
                }
                BatcherData::Calldata(_) => true,
            });
        }
        let receipts = relevant_receipts(&data.receipts, &rollup);
        let window = &mut self.derivation.window;
        window.push_back((data.block, receipts));
        if window.len() > MAX_DERIVE_WINDOW {
            warn!("derivation window over {MAX_DERIVE_WINDOW} L1 blocks; dropping the oldest");
            window.pop_front();
        }
        if blobs == 0 {
            let calldata = items.into_iter().filter_map(|d| match d {
                BatcherData::Calldata(b) => Some(b),
                BatcherData::Blob { .. } => None,
            });
            self.derivation.pipeline.as_mut().expect("set above").provide_data(calldata.collect());
            self.derivation.state = DState::Running;
        } else {
            self.derivation.pending_data = items;
            self.derivation.state = DState::Blobs(number);
        }
    }

    /// The blobs of L1 block `number`: the block's batcher data in order, blobs decoded (one that does not decode
    /// is skipped, as op-node does).
    fn on_blobs(&mut self, number: u64, blobs: Vec<Bytes>) {
        if self.derivation.state != DState::Blobs(number) {
            return debug!("derivation: blobs of L1 block {number} no longer wanted");
        }
        let items = std::mem::take(&mut self.derivation.pending_data);
        let wanted = items.iter().filter(|d| matches!(d, BatcherData::Blob { .. })).count();
        if blobs.len() != wanted {
            self.derivation.pending_data = items;
            return self.derivation_retry(format!(
                "the beacon answered {} blobs for L1 block {number}, {wanted} were asked for",
                blobs.len()
            ));
        }
        let mut blobs = blobs.into_iter();
        let mut data = Vec::with_capacity(items.len());
        for item in items {
            match item {
                BatcherData::Calldata(b) => data.push(b),
                BatcherData::Blob { hash, index } => {
                    match crate::derive::blobs::decode_blob(&blobs.next().expect("counted")) {
                        Ok(d) => data.push(Bytes::from(d)),
                        Err(e) => {
                            self.derivation.stats.bad_blobs += 1;
                            warn!("derivation: blob {index} ({hash:#x}) of L1 block {number} does not decode: {e}; skipped");
                        }
                    }
                }
            }
        }
        self.derivation.backoff.reset();
        self.derivation.pipeline.as_mut().expect("a pipeline while reading blobs").provide_data(data);
        self.derivation.state = DState::Running;
    }

    fn step_pipeline(&mut self) -> bool {
        let rollup = self.cfg.rollup.clone();
        let Some(safe) = self.derivation.safe else { return false };
        let parent = L2BlockRef::to_kona(&safe);
        for _ in 0..MAX_PIPELINE_STEPS {
            let d = &mut self.derivation;
            let pipeline = d.pipeline.as_mut().expect("a pipeline while running");
            match pipeline.step(&rollup, &parent, &mut d.safe_chain) {
                Ok(Step::Again) => continue,
                Ok(Step::NeedData) => {
                    // Data is handed in with each L1 block; this cannot happen.
                    let n = pipeline.origin().number;
                    self.derivation.state = DState::Next(n);
                    self.restart_derivation("pipeline lost its L1 data");
                    return true;
                }
                Ok(Step::NeedL2(n)) => {
                    self.derivation.state = DState::SafeFacts(n);
                    return true;
                }
                Ok(Step::NeedL1) => {
                    let n = pipeline.origin().number + 1;
                    self.derivation.state = DState::Next(n);
                    return true;
                }
                Ok(Step::Batch(batch)) => {
                    let inclusion = pipeline.origin();
                    return self.on_batch(safe, batch, inclusion);
                }
                Err(ResetNeeded(reason)) => {
                    self.restart_derivation(&reason);
                    return true;
                }
            }
        }
        true
    }

    fn on_batch(&mut self, parent: L2BlockRef, batch: SingleBatch, inclusion: L1BlockRef) -> bool {
        let Some((origin, receipts)) = self.derivation.epoch(batch.epoch_hash).cloned() else {
            self.restart_derivation(&format!(
                "batch epoch {} {:#x} is not in the window",
                batch.epoch_num, batch.epoch_hash
            ));
            return true;
        };
        let rollup = self.cfg.rollup.clone();
        let derived = match consolidate::derived_attributes(
            &*self.cfg.attributes,
            &rollup,
            &parent,
            &self.derivation.safe_config,
            &origin,
            &receipts,
            &batch,
        ) {
            Ok(d) => d,
            Err(e) => {
                self.derivation_retry(format!(
                    "cannot build the attributes of derived L2 block {}: {e}",
                    parent.number + 1
                ));
                return true;
            }
        };
        let d =
            Box::new(DerivedBlock { parent, origin, derived, timestamp: batch.timestamp, inclusion, mismatch: false });
        if self.heads.unsafe_head.is_some_and(|u| u.number > parent.number) {
            self.derivation.state = DState::Consolidating(d);
        } else {
            self.execute_derived(d);
        }
        true
    }

    /// `block` (built from derived attributes, or matching them) is the new safe head.
    pub(super) fn promote_safe(&mut self, block: L2BlockRef, config: SystemConfig, txs: Vec<Bytes>, at: L1BlockRef) {
        debug!("derived safe block {block} at L1 block {}", at.number);
        let d = &mut self.derivation;
        d.safe = Some(block);
        d.safe_config = config;
        d.safe_chain.push(L2BlockRef::to_kona(&block), txs);
        match d.history.back_mut() {
            Some((l1, l2)) if l1.hash == at.hash => *l2 = block,
            _ => d.history.push_back((at, block)),
        }
        while d.history.len() > MAX_SAFE_HISTORY {
            d.history.pop_front();
        }
        // Epochs before the safe head's origin are no longer candidates.
        while d.window.len() > 1 && d.window[0].0.number() < block.l1_origin.number {
            d.window.pop_front();
        }
        d.state = DState::Running;
        self.heads.safe = Some(block);
        self.finalize_derived();
        self.update_safe_lag();
    }

    /// A derived block was built and is the unsafe head: it is safe.
    pub(super) fn on_derived_built(&mut self, block: L2BlockRef, txs: Vec<Bytes>) {
        let Some(d) = self.derivation.executing().cloned() else { return };
        if d.parent.number + 1 != block.number {
            return;
        }
        self.derivation.stats.built += 1;
        self.derivation.replacing = true;
        info!("built derived block {block} (origin {})", block.l1_origin.number);
        self.promote_safe(block, self.parent_config, txs, d.inclusion);
    }

    /// The finalized L2 head: the safe head as of the latest finalized L1 block.
    pub(super) fn finalize_derived(&mut self) {
        if !self.cfg.derivation {
            return;
        }
        let Some(fin_l1) = self.heads.l1_finalized else { return };
        let Some((_, l2)) = self.derivation.safe_at(fin_l1.number) else { return };
        if self.heads.finalized.is_none_or(|f| f.number < l2.number) {
            debug!("finalized L2 block {l2} (L1 finalized {})", fin_l1.number);
            self.heads.finalized = Some(l2);
        }
    }

    /// A node that is not sequencing tells the engine about safe and finalized changes itself (a sequencing one does
    /// in its next forkchoice update).
    pub(super) fn step_safe_update(&mut self) -> bool {
        if !self.cfg.derivation
            || !matches!(self.sync, Sync::Ready)
            || !matches!(self.build, Build::Idle)
            || self.requests.engine_busy()
            || (self.may_build() && self.derivation.executing().is_none())
        {
            return false;
        }
        let (Some(head), Some(safe)) = (self.heads.unsafe_head, self.heads.safe) else { return false };
        let finalized = self.heads.finalized.map(|f| f.hash).unwrap_or_default();
        if self.derivation.engine_told == (safe.hash, finalized) || self.derivation.executing().is_some() {
            return false;
        }
        self.derivation.engine_told = (safe.hash, finalized);
        let state = self.forkchoice(head.hash);
        self.request_head_update(Pending::Derive(DeriveCall::Forkchoice), state);
        true
    }

    /// The derived block to build now, if derivation waits for one and the engine is free.
    pub(super) fn try_derived_build(&mut self) -> bool {
        let Some(d) = self.derivation.executing().cloned() else { return false };
        if self.requests.engine_busy() || self.now < self.not_before || self.halted.is_some() {
            return false;
        }
        let parent = d.parent;
        if !d.mismatch && self.heads.unsafe_head.is_some_and(|u| u.number > parent.number) {
            // Blocks arrived (imports, our own) since the batch was derived: compare before replacing anything.
            self.derivation.state = DState::Consolidating(Box::new(d));
            return true;
        }
        if self.heads.unsafe_head != Some(parent) {
            warn!(
                "unsafe chain above safe head {parent} replaced by derivation (unsafe head was {:?})",
                self.heads.unsafe_head
            );
            while self.recent.back().is_some_and(|b| b.number > parent.number) {
                self.recent.pop_back();
            }
            if self.recent.back() != Some(&parent) {
                self.recent.clear();
                self.recent.push_back(parent);
            }
            self.heads.unsafe_head = Some(parent);
            self.parent_config = self.derivation.safe_config;
            self.committed_pending = None;
        }
        let rollup = self.cfg.rollup.clone();
        let time_ms = ms(d.timestamp);
        let job = Job {
            parent,
            config: d.derived.config,
            origin: d.origin.clone(),
            seq_num: d.derived.seq_num,
            time_ms,
            no_tx_pool: true,
            drift_exceeded: false,
            started_at: self.now,
            seal_at: self.now,
            derived: true,
        };
        let state = self.forkchoice(parent.hash);
        let version = engine::forkchoice_version(&rollup, Some(d.timestamp));
        let attributes = Some(Box::new(d.derived.attributes.clone()));
        self.request(Pending::Build(BuildCall::Start), |id| Command::ForkchoiceUpdate {
            id,
            version,
            state,
            attributes,
        });
        self.build = Build::Starting { job };
        true
    }

    /// Whether derivation leads the chain: it is replacing the unsafe chain (or building where there was none) with
    /// blocks from L1 data that is already there. The sequencer does not build then: whatever it built would be
    /// replaced by the next derived block (op-node's sequencer likewise waits while the engine syncs from L1).
    pub(super) fn derivation_leads(&self) -> bool {
        if !self.cfg.derivation {
            return false;
        }
        if self.derivation.executing().is_some() {
            return true;
        }
        // Derivation still has L1 data to go through (it is not waiting at the L1 head for the next block).
        let at_tip = match self.derivation.state {
            DState::Next(n) => self.heads.l1_head.is_none_or(|h| n > h.number),
            _ => false,
        };
        self.derivation.replacing && !at_tip
    }

    /// Whether a block with L1 origin `origin` can no longer be posted in time: its epoch's sequence window has
    /// closed at the L1 head, so derivation will put an empty (deposits-only) batch at its height. The sequencer builds
    /// exactly that block then, without pool transactions, instead of one derivation will replace.
    pub(super) fn epoch_expired(&self, origin: u64) -> bool {
        self.cfg.derivation
            && self.heads.l1_head.is_some_and(|h| origin.saturating_add(self.cfg.rollup.seq_window_size) <= h.number)
    }

    /// `optimism_safeHeadAtL1Block`.
    pub(super) fn safe_head_at_l1(&self, number: u64) -> Result<RpcReply, RpcFailure> {
        if !self.cfg.derivation {
            return Err(RpcFailure::server("safe head history is not recorded: derivation is disabled"));
        }
        match self.derivation.safe_at(number) {
            Some((l1, l2)) => Ok(RpcReply::SafeHeadAtL1 { l1: l1.id(), safe: l2.id() }),
            None => Err(RpcFailure::server(format!("no safe head recorded at or below L1 block {number}"))),
        }
    }
}
