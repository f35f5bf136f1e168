//! Batches to the next L2 block: op-node's batch queue before Holocene, its batch stage from Holocene on.
//!
//! Both take batches from the channel reader in the order they were read and hand out, for the L2 safe head as
//! parent, the singular batch of the next block. Before Holocene, batches that are for later blocks wait in a bounded
//! queue (`BatchFuture`) and a span batch is checked whole before any of its blocks are used; from Holocene, nothing
//! waits: a batch for a later block is dropped, a span batch is checked by its prefix and each of its blocks is
//! validated as a singular batch, and an invalid batch flushes the rest of its channel. When the sequence window of
//! the current epoch has passed without a batch, empty (deposits-only) batches are produced (`deriveNextEmptyBatch`).
//!
//! The validity rules themselves are kona-protocol's (`SingleBatch::check_batch`, `SpanBatch::check_batch` and
//! `check_batch_prefix`). The span checks are `async fn`s over an L2 block source; [`SafeChain`] serves them from
//! memory, so their futures complete on the first poll ([`poll_once`]); no executor is involved.

use alloy_consensus::{Block, BlockBody, Header};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::Bytes;
use kona_genesis::RollupConfig;
use kona_protocol::{Batch, BatchValidationProvider, BatchValidity, BlockInfo, L2BlockInfo, SingleBatch, SpanBatch};
use log::{debug, warn};
use op_alloy_consensus::{OpBlock, OpTxEnvelope};
use std::collections::VecDeque;
use std::future::Future;

/// Most batches the pre-Holocene queue holds (batches for later blocks, waiting); beyond it the oldest is dropped.
pub const MAX_QUEUED_BATCHES: usize = 1_024;
/// Most L1 blocks held as candidate epochs. op-node holds at most a sequence window of them; this caps hostile or
/// misconfigured windows.
pub const MAX_L1_EPOCHS: usize = 8_192;
/// Safe blocks remembered for span batches that overlap the safe chain.
pub const SAFE_CHAIN_CAPACITY: usize = 512;

/// Where batches come from: the channel reader of the pipeline.
pub trait BatchSource {
    /// The next batch read from L1 data so far; `None` when everything read up to the current L1 origin is used.
    fn next_batch(&mut self) -> Option<Batch>;
    /// Holocene: drop the rest of the channel the last batch came from.
    fn flush_channel(&mut self);
}

/// The outcome of one call to [`BatchStage::next_batch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// The batch of the next L2 block (its parent hash set to the safe head's).
    Batch(SingleBatch),
    /// Progress was made; call again.
    Again,
    /// Everything up to the current L1 origin is used: the next L1 block is needed.
    NeedL1,
    /// The facts of safe block `n` (a span batch's parent below the remembered blocks) are needed from the engine
    /// ([`SafeChain::add_facts`]); the span waits.
    NeedL2(u64),
}

/// The L2 safe head is not where the batch stage expects it: the pipeline must be reset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("derivation reset needed: {0}")]
pub struct ResetNeeded(pub String);

/// Counters of batches that were not used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchDrops {
    /// Batches invalid for the chain (wrong parent, epoch, window, drift, transactions).
    pub invalid: u64,
    /// Holocene: batches for blocks already safe.
    pub past: u64,
    /// Pre-Holocene: batches dropped because the queue was full.
    pub overflow: u64,
    /// Span batches whose overlap with the safe chain could not be checked from memory.
    pub unverifiable: u64,
}

/// Recent safe blocks, for span batches that overlap the safe chain.
#[derive(Debug, Default)]
pub struct SafeChain {
    blocks: VecDeque<(L2BlockInfo, Vec<Bytes>)>,
    /// Facts of older safe blocks read from the engine (a span's parent below the remembered blocks).
    older: std::collections::BTreeMap<u64, L2BlockInfo>,
    /// Lookups that missed (deeper than remembered).
    misses: u64,
    /// The last block whose facts were looked up and missing.
    wanted: Option<u64>,
}

/// Older safe blocks' facts kept for span parents.
pub const OLDER_SAFE_FACTS: usize = 64;

impl SafeChain {
    /// Remembers a block that became safe, with its transactions (EIP-2718, deposits included).
    pub fn push(&mut self, info: L2BlockInfo, txs: Vec<Bytes>) {
        if self.blocks.back().is_some_and(|(b, _)| b.block_info.number + 1 != info.block_info.number) {
            self.blocks.clear();
        }
        self.blocks.push_back((info, txs));
        while self.blocks.len() > SAFE_CHAIN_CAPACITY {
            self.blocks.pop_front();
        }
    }

    /// Forgets everything (a reset).
    pub fn clear(&mut self) {
        self.blocks.clear();
        self.older.clear();
    }

    /// Adds the facts of a safe block read from the engine (no transactions: enough for a span's parent check).
    pub fn add_facts(&mut self, info: L2BlockInfo) {
        self.older.insert(info.block_info.number, info);
        while self.older.len() > OLDER_SAFE_FACTS {
            self.older.pop_first();
        }
        if self.wanted == Some(info.block_info.number) {
            self.wanted = None;
        }
    }

    /// The block whose facts a check missed, to be read from the engine (taken once).
    pub fn take_wanted(&mut self) -> Option<u64> {
        self.wanted.take()
    }

    /// Keeps the blocks up to `safe` if `safe` is among them (a reset to `safe`); forgets everything otherwise.
    pub fn retain_through(&mut self, safe: &L2BlockInfo) {
        match self.get(safe.block_info.number) {
            Some((b, _)) if b.block_info.hash == safe.block_info.hash => {
                while self.blocks.back().is_some_and(|(b, _)| b.block_info.number > safe.block_info.number) {
                    self.blocks.pop_back();
                }
            }
            _ => self.blocks.clear(),
        }
        self.older.retain(|n, _| *n <= safe.block_info.number);
    }

    /// Blocks remembered.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    fn get(&self, number: u64) -> Option<&(L2BlockInfo, Vec<Bytes>)> {
        let first = self.blocks.front()?.0.block_info.number;
        self.blocks.get(usize::try_from(number.checked_sub(first)?).ok()?)
    }
}

#[async_trait::async_trait]
impl BatchValidationProvider for SafeChain {
    type Error = String;

    async fn l2_block_info_by_number(&mut self, number: u64) -> Result<L2BlockInfo, String> {
        match self.get(number).map(|(info, _)| *info).or_else(|| self.older.get(&number).copied()) {
            Some(info) => Ok(info),
            None => {
                self.misses += 1;
                self.wanted = Some(number);
                Err(format!("safe block {number} is not remembered"))
            }
        }
    }

    async fn block_by_number(&mut self, number: u64) -> Result<OpBlock, String> {
        let Some((info, txs)) = self.get(number) else {
            self.misses += 1;
            return Err(format!("safe block {number} is not remembered"));
        };
        let transactions = txs
            .iter()
            .map(|tx| OpTxEnvelope::decode_2718(&mut tx.as_ref()).map_err(|e| format!("safe block {number}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let header = Header { number, timestamp: info.block_info.timestamp, ..Default::default() };
        Ok(Block { header, body: BlockBody { transactions, ommers: Vec::new(), withdrawals: None } })
    }
}

/// Whether an overlapping span batch would start at or before the L2 genesis block, so that it has no parent.
/// kona-protocol 0.4.5 computes that parent's number without checking (`safe - overlap - 1` underflows, a panic in
/// debug builds); such a batch is invalid, so it is dropped before kona sees it.
fn span_parent_before_genesis(rollup: &RollupConfig, span: &SpanBatch, parent: &L2BlockInfo) -> bool {
    let (start, safe_time, bt) = (span.starting_timestamp(), parent.block_info.timestamp, rollup.block_time);
    // Only where kona reaches that computation: the span overlaps the safe chain and also has new blocks.
    if bt == 0 || start > safe_time || span.final_timestamp() < safe_time.saturating_add(bt) {
        return bt == 0;
    }
    (safe_time - start) / bt >= parent.block_info.number
}

/// Polls a future once. The futures given here only await [`SafeChain`], which answers at once, so they are always
/// ready; a pending one (impossible by construction) is reported as `None`.
pub fn poll_once<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}

/// The batch stage of the pipeline (see the module documentation).
#[derive(Debug, Default)]
pub struct BatchStage {
    /// The L1 origin this stage last saw.
    origin: Option<BlockInfo>,
    /// Candidate epochs: the safe head's origin first, then later L1 blocks.
    l1_blocks: VecDeque<BlockInfo>,
    /// Pre-Holocene: batches waiting, with the L1 block that included each.
    queue: VecDeque<(Batch, BlockInfo)>,
    /// Blocks of the span batch being used, in order.
    span: VecDeque<SingleBatch>,
    /// Holocene: a span batch whose prefix needs more L1 blocks (or an older safe block's facts) to be decided.
    held: Option<Box<SpanBatch>>,
    /// Older safe blocks already asked for (a block the engine cannot give is not asked for again).
    asked: Vec<u64>,
    /// What was not used.
    pub drops: BatchDrops,
}

impl BatchStage {
    /// A stage reset at L1 block `base` (op-node: the pipeline's origin becomes the first candidate epoch).
    pub fn reset(base: BlockInfo) -> Self {
        Self { origin: Some(base), l1_blocks: VecDeque::from([base]), ..Self::default() }
    }

    /// Candidate epochs held.
    pub fn epochs(&self) -> usize {
        self.l1_blocks.len()
    }

    /// Batches waiting (pre-Holocene queue plus the blocks left of a span batch).
    pub fn queued(&self) -> usize {
        self.queue.len() + self.span.len() + usize::from(self.held.is_some())
    }

    /// The next batch for `parent` (the safe head) at L1 origin `origin`, pulling from `source`.
    pub fn next_batch(
        &mut self,
        rollup: &RollupConfig,
        origin: BlockInfo,
        parent: &L2BlockInfo,
        source: &mut dyn BatchSource,
        safe: &mut SafeChain,
    ) -> Result<Next, ResetNeeded> {
        if rollup.is_holocene_active(origin.timestamp) {
            self.next_holocene(rollup, origin, parent, source, safe)
        } else {
            self.next_queue(rollup, origin, parent, source, safe)
        }
    }

    /// Whether the L1 origin is behind the safe head's origin (startup after a reset: batches are read and ignored).
    fn origin_behind(&self, origin: &BlockInfo, parent: &L2BlockInfo) -> bool {
        origin.number < parent.l1_origin.number
    }

    /// Adopts a new L1 origin as a candidate epoch (or clears the epochs while behind), then prunes epochs before
    /// the safe head's origin.
    fn update_origins(&mut self, origin: BlockInfo, parent: &L2BlockInfo) {
        if self.origin != Some(origin) {
            self.origin = Some(origin);
            if self.origin_behind(&origin, parent) {
                self.l1_blocks.clear();
            } else {
                self.l1_blocks.push_back(origin);
                if self.l1_blocks.len() > MAX_L1_EPOCHS {
                    warn!("more than {MAX_L1_EPOCHS} candidate epochs held; dropping the oldest");
                    self.l1_blocks.pop_front();
                }
            }
        }
        self.prune_epochs(parent);
    }

    fn prune_epochs(&mut self, parent: &L2BlockInfo) {
        if self.l1_blocks.front().is_some_and(|b| parent.l1_origin.number > b.number) {
            if let Some(i) = self.l1_blocks.iter().position(|b| b.number == parent.l1_origin.number) {
                self.l1_blocks.drain(..i);
            }
        }
    }

    fn epochs_slice(&mut self) -> &[BlockInfo] {
        self.l1_blocks.make_contiguous()
    }

    /// The next block of the span batch in use, if it is the next block; a span that no longer fits is dropped.
    fn pop_span(&mut self, rollup: &RollupConfig, parent: &L2BlockInfo) -> Option<SingleBatch> {
        let first = self.span.front()?;
        if first.timestamp != parent.block_info.timestamp + rollup.block_time {
            debug!("span batch no longer continues the safe head {}; dropping its rest", parent.block_info.number);
            self.span.clear();
            return None;
        }
        let mut batch = self.span.pop_front()?;
        batch.parent_hash = parent.block_info.hash;
        Some(batch)
    }

    /// op-node `deriveNextEmptyBatch`: past the sequence window of the current epoch, empty batches keep L2 time
    /// moving (one per block until the next epoch's time, at least one per epoch), then the epoch advances.
    fn next_empty_batch(
        &mut self,
        rollup: &RollupConfig,
        origin: &BlockInfo,
        out_of_data: bool,
        parent: &L2BlockInfo,
    ) -> Option<SingleBatch> {
        let epoch = *self.l1_blocks.front()?;
        let expiry = epoch.number + rollup.seq_window_size;
        let force = (expiry == origin.number && out_of_data) || expiry < origin.number;
        if !force || self.l1_blocks.len() < 2 {
            return None;
        }
        let next_epoch = self.l1_blocks[1];
        let next_timestamp = parent.block_info.timestamp + rollup.block_time;
        let first_of_epoch = epoch.number == parent.l1_origin.number + 1;
        if next_timestamp < next_epoch.timestamp || first_of_epoch {
            return Some(SingleBatch {
                parent_hash: parent.block_info.hash,
                epoch_num: epoch.number,
                epoch_hash: epoch.hash,
                timestamp: next_timestamp,
                transactions: Vec::new(),
            });
        }
        self.l1_blocks.pop_front();
        None
    }

    // ----- Holocene (op-node `BatchStage`, kona `BatchValidator` + `BatchStream`) -------------------------------

    fn next_holocene(
        &mut self,
        rollup: &RollupConfig,
        origin: BlockInfo,
        parent: &L2BlockInfo,
        source: &mut dyn BatchSource,
        safe: &mut SafeChain,
    ) -> Result<Next, ResetNeeded> {
        self.update_origins(origin, parent);
        // Behind or at the safe head's origin, a channel can only hold past batches: drain them.
        // The rest of a span batch read earlier stays for when the origin moves on (op-node keeps `nextSpan`).
        if self.origin_behind(&origin, parent) || parent.l1_origin.number == origin.number {
            return Ok(match source.next_batch() {
                Some(_) => Next::Again,
                None => Next::NeedL1,
            });
        }
        // The first epoch may be one ahead of the safe head's origin: empty batches moved it on (op-node).
        if self.l1_blocks.front().is_none_or(|b| !epoch_follows(b, parent)) {
            return Err(ResetNeeded(format!(
                "safe head {} has origin {} but the batch stage's first epoch is {:?}",
                parent.block_info.number,
                parent.l1_origin.number,
                self.l1_blocks.front().map(|b| b.number)
            )));
        }
        let candidate = match self.pop_span(rollup, parent) {
            Some(b) => b,
            None => match self.held.take().map(|s| Batch::Span(*s)).or_else(|| source.next_batch()) {
                None => {
                    return Ok(match self.next_empty_batch(rollup, &origin, true, parent) {
                        Some(b) => Next::Batch(b),
                        None => Next::NeedL1,
                    })
                }
                Some(Batch::Single(b)) => b,
                Some(Batch::Span(span)) => {
                    if self.asked.len() > 8 {
                        self.asked.remove(0);
                    }
                    let misses = safe.misses;
                    match self.check_span_prefix(rollup, &span, parent, &origin, safe) {
                        BatchValidity::Accept => {}
                        BatchValidity::Past => {
                            self.drops.past += 1;
                            return Ok(Next::Again);
                        }
                        BatchValidity::Undecided if safe.misses == misses => {
                            // Its epochs reach past the L1 blocks known, which run up to its inclusion block: no
                            // valid span does that. op-node's Holocene batch stage skips it and reads on (without
                            // flushing the channel); holding it while L1 moved on would lose the rest of this L1
                            // block's data.
                            self.drops.invalid += 1;
                            warn!(
                                "skipping undecided span batch ({}): its epochs reach past L1 block {}",
                                describe_span(&span),
                                origin.number
                            );
                            return Ok(Next::Again);
                        }
                        BatchValidity::Undecided => match safe.take_wanted() {
                            // Its parent is an older safe block: read its facts from the engine, then decide.
                            Some(n) if !self.asked.contains(&n) => {
                                self.asked.push(n);
                                self.held = Some(Box::new(span));
                                return Ok(Next::NeedL2(n));
                            }
                            _ => {
                                self.drops.unverifiable += 1;
                                warn!("span batch overlapping the safe chain where its blocks cannot be read; dropped");
                                source.flush_channel();
                                return Ok(Next::Again);
                            }
                        },
                        _ => {
                            self.drops.invalid += 1;
                            warn!(
                                "dropping invalid span batch (prefix check: {}); flushing its channel",
                                describe_span(&span)
                            );
                            source.flush_channel();
                            return Ok(Next::Again);
                        }
                    }
                    match span.get_singular_batches(self.epochs_slice(), *parent) {
                        Ok(blocks) => self.span = blocks.into(),
                        Err(e) => {
                            self.drops.invalid += 1;
                            warn!("span batch has a block without a known epoch ({e}); flushing its channel");
                            source.flush_channel();
                            return Ok(Next::Again);
                        }
                    }
                    match self.pop_span(rollup, parent) {
                        Some(b) => b,
                        None => return Ok(Next::Again),
                    }
                }
            },
        };
        let epochs: Vec<BlockInfo> = self.l1_blocks.iter().copied().collect();
        match candidate.check_batch(rollup, &epochs, *parent, &origin) {
            BatchValidity::Accept => Ok(Next::Batch(SingleBatch { parent_hash: parent.block_info.hash, ..candidate })),
            BatchValidity::Past => {
                self.drops.past += 1;
                Ok(Next::Again)
            }
            BatchValidity::Undecided => {
                // The next epoch is not known yet: try again with more L1.
                self.span.push_front(candidate);
                Ok(Next::NeedL1)
            }
            other => {
                self.drops.invalid += 1;
                warn!(
                    "dropping invalid batch for L2 time {} epoch {} ({other}); flushing its channel safe_head={} safe_origin={} epochs={:?}..{:?} inclusion={}",
                    candidate.timestamp,
                    candidate.epoch_num,
                    parent.block_info.number,
                    parent.l1_origin.number,
                    epochs.first().map(|b| b.number),
                    epochs.last().map(|b| b.number),
                    origin.number
                );
                self.span.clear();
                source.flush_channel();
                Ok(Next::Again)
            }
        }
    }

    fn check_span_prefix(
        &mut self,
        rollup: &RollupConfig,
        span: &SpanBatch,
        parent: &L2BlockInfo,
        origin: &BlockInfo,
        safe: &mut SafeChain,
    ) -> BatchValidity {
        if span_parent_before_genesis(rollup, span, parent) {
            return BatchValidity::Drop;
        }
        let epochs: Vec<BlockInfo> = self.l1_blocks.iter().copied().collect();
        poll_once(span.check_batch_prefix(rollup, &epochs, *parent, origin, safe))
            .map_or(BatchValidity::Undecided, |(v, _)| v)
    }

    // ----- before Holocene (op-node `BatchQueue`) --------------------------------------------------------------

    fn next_queue(
        &mut self,
        rollup: &RollupConfig,
        origin: BlockInfo,
        parent: &L2BlockInfo,
        source: &mut dyn BatchSource,
        safe: &mut SafeChain,
    ) -> Result<Next, ResetNeeded> {
        if let Some(b) = self.pop_span(rollup, parent) {
            return Ok(Next::Batch(b));
        }
        // The epochs advance only after a whole span batch was applied (it could still be reverted before).
        self.prune_epochs(parent);
        let behind = self.origin_behind(&origin, parent);
        if self.origin != Some(origin) {
            self.origin = Some(origin);
            if behind {
                self.l1_blocks.clear();
            } else {
                self.l1_blocks.push_back(origin);
                if self.l1_blocks.len() > MAX_L1_EPOCHS {
                    self.l1_blocks.pop_front();
                }
            }
        }
        let batch = source.next_batch();
        let out_of_data = batch.is_none();
        if let Some(batch) = batch {
            if !behind {
                self.add_batch(rollup, batch, origin, parent);
            }
        }
        if behind {
            return Ok(if out_of_data { Next::NeedL1 } else { Next::Again });
        }
        let Some(epoch) = self.l1_blocks.front() else {
            return Err(ResetNeeded("the batch queue has no epoch to derive from".into()));
        };
        if !epoch_follows(epoch, parent) {
            return Err(ResetNeeded(format!(
                "safe head {} has origin {} {:#x} but the batch queue's epoch is {} {:#x}",
                parent.block_info.number, parent.l1_origin.number, parent.l1_origin.hash, epoch.number, epoch.hash
            )));
        }
        let found = self.derive_from_queue(rollup, parent, safe);
        let batch = match found {
            Found::Batch(b) => *b,
            Found::Undecided => return Ok(if out_of_data { Next::NeedL1 } else { Next::Again }),
            Found::None => match self.next_empty_batch(rollup, &origin, out_of_data, parent) {
                Some(b) => Batch::Single(b),
                None => return Ok(if out_of_data { Next::NeedL1 } else { Next::Again }),
            },
        };
        match batch {
            Batch::Single(b) => Ok(Next::Batch(SingleBatch { parent_hash: parent.block_info.hash, ..b })),
            Batch::Span(span) => {
                match span.get_singular_batches(self.epochs_slice(), *parent) {
                    Ok(blocks) => self.span = blocks.into(),
                    Err(e) => {
                        self.drops.invalid += 1;
                        warn!("accepted span batch has a block without a known epoch ({e}); dropped");
                        return Ok(Next::Again);
                    }
                }
                Ok(self.pop_span(rollup, parent).map_or(Next::Again, Next::Batch))
            }
        }
    }

    fn add_batch(&mut self, rollup: &RollupConfig, batch: Batch, inclusion: BlockInfo, parent: &L2BlockInfo) {
        if let Batch::Single(b) = &batch {
            // op-node `AddBatch`: a batch for a block already safe is not even queued.
            if b.timestamp <= parent.block_info.timestamp {
                self.drops.invalid += 1;
                return;
            }
        }
        let _ = rollup;
        self.queue.push_back((batch, inclusion));
        if self.queue.len() > MAX_QUEUED_BATCHES {
            self.drops.overflow += 1;
            warn!("batch queue over {MAX_QUEUED_BATCHES} batches; dropping the oldest");
            self.queue.pop_front();
        }
    }

    /// op-node `deriveNextBatch`'s scan: the first acceptable batch in inclusion order; future ones stay queued,
    /// invalid ones go, an undecided one stops the scan.
    fn derive_from_queue(&mut self, rollup: &RollupConfig, parent: &L2BlockInfo, safe: &mut SafeChain) -> Found {
        let epochs: Vec<BlockInfo> = self.l1_blocks.iter().copied().collect();
        let mut remaining = VecDeque::with_capacity(self.queue.len());
        let mut found = Found::None;
        while let Some((batch, inclusion)) = self.queue.pop_front() {
            let misses = safe.misses;
            let validity = match &batch {
                Batch::Single(b) => b.check_batch(rollup, &epochs, *parent, &inclusion),
                Batch::Span(s) if span_parent_before_genesis(rollup, s, parent) => BatchValidity::Drop,
                Batch::Span(s) => poll_once(s.check_batch(rollup, &epochs, *parent, &inclusion, safe))
                    .unwrap_or(BatchValidity::Undecided),
            };
            if validity == BatchValidity::Undecided && safe.misses != misses {
                self.drops.unverifiable += 1;
                warn!("span batch overlapping the safe chain beyond what is remembered; dropped");
                continue;
            }
            match validity {
                BatchValidity::Future => remaining.push_back((batch, inclusion)),
                BatchValidity::Accept => {
                    found = Found::Batch(Box::new(batch));
                    break;
                }
                BatchValidity::Undecided => {
                    remaining.push_back((batch, inclusion));
                    found = Found::Undecided;
                    break;
                }
                BatchValidity::Drop | BatchValidity::Past => {
                    self.drops.invalid += 1;
                    warn!("dropping batch for L2 time {} safe_head={}", batch.timestamp(), parent.block_info.number);
                }
            }
        }
        remaining.extend(self.queue.drain(..));
        self.queue = remaining;
        found
    }
}

/// Whether the first candidate epoch fits the safe head: its origin, or the block after it (empty batches moved the
/// epoch on after the origin's last block).
fn epoch_follows(epoch: &BlockInfo, parent: &L2BlockInfo) -> bool {
    (epoch.number == parent.l1_origin.number && epoch.hash == parent.l1_origin.hash)
        || epoch.number == parent.l1_origin.number + 1
}

enum Found {
    Batch(Box<Batch>),
    Undecided,
    None,
}

/// A span batch's extent for log lines: L2 times, epochs and parent check.
fn describe_span(span: &SpanBatch) -> String {
    match (span.batches.first(), span.batches.last()) {
        (Some(first), Some(last)) => format!(
            "{} blocks, L2 time {}..={}, epochs {}..={}, parent check {}",
            span.batches.len(),
            first.timestamp,
            last.timestamp,
            first.epoch_num,
            last.epoch_num,
            span.parent_check
        ),
        _ => "empty".into(),
    }
}
