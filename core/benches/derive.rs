//! Derivation throughput: L2 blocks derived per second from span batches held in memory.
//!
//! `cargo bench -p keel-core --bench derive -- [blocks]` builds a chain of `blocks` L2 blocks (2 s blocks, 12 s L1
//! blocks, a user transaction in every third block), posts them as brotli (or, with `zlib`, zlib) channels of one
//! 64-block span batch each
//! (frames of 120,000 bytes, calldata), then times Keel's pipeline from batcher transaction data to payload
//! attributes: frames, channels, decompression, span-batch decoding and its checks, singular batch checks, and the
//! attributes of every block (L1 info deposit, epoch deposits, the batch's transactions) — what consolidation then
//! compares. The safe head follows each derived block, as a matching consolidation makes it. Then the same data
//! goes through kona-derive 0.4.5 ([`kona_run`]) on the same thread. Prints figures; asserts nothing about time.

use alloy_consensus::{Header, SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{keccak256, Bytes, Signature, TxKind, B256, U256};
use keel_core::derive::batches::SafeChain;
use keel_core::derive::consolidate::derived_attributes;
use keel_core::derive::encode::{self, Compression};
use keel_core::derive::pipeline::{Pipeline, Step};
use keel_core::system_config::SystemConfig;
use keel_core::{L1Block, L2BlockRef, Rollup};
use kona_protocol::{Batch, SingleBatch};
use std::time::Instant;

const GENESIS_TIME: u64 = 1_700_000_000;
const CHAIN_ID: u64 = 901;
const BLOCKS_PER_SPAN: u64 = 64;

fn l1_block(n: u64, parent: B256) -> L1Block {
    L1Block::from_header(Header {
        number: n,
        parent_hash: parent,
        timestamp: GENESIS_TIME + 12 * n,
        base_fee_per_gas: Some(1_000_000_000),
        mix_hash: keccak256(n.to_be_bytes()),
        parent_beacon_block_root: Some(B256::repeat_byte(1)),
        excess_blob_gas: Some(0),
        blob_gas_used: Some(0),
        ..Default::default()
    })
}

fn user_tx(n: u64) -> Bytes {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: n,
        gas_limit: 21_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000,
        to: TxKind::Call(alloy_primitives::Address::repeat_byte(7)),
        value: U256::from(n),
        ..Default::default()
    };
    TxEnvelope::Eip1559(tx.into_signed(Signature::new(U256::from(n + 1), U256::from(n + 2), false)))
        .encoded_2718()
        .into()
}

fn main() {
    let blocks: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(200_000);
    // `zlib` among the arguments posts zlib channels instead of brotli ones (op-batcher's two algorithms).
    let compression = if std::env::args().any(|a| a == "zlib") { Compression::Zlib } else { Compression::Brotli };
    let mut cfg = kona_genesis::RollupConfig {
        block_time: 2,
        max_sequencer_drift: 1800,
        seq_window_size: 3600,
        channel_timeout: 50,
        granite_channel_timeout: 50,
        l2_chain_id: CHAIN_ID.into(),
        ..Default::default()
    };
    keel_core::rollup::schedule_forks_through(&mut cfg.hardforks, "holocene", 0);
    cfg.genesis.l2_time = GENESIS_TIME;
    let rollup = Rollup::from(cfg);

    // The L1 chain (enough blocks for every epoch plus one per channel) and the L2 chain the batches describe.
    let l1_len = blocks / 6 + blocks / BLOCKS_PER_SPAN + 8;
    let mut l1 = Vec::with_capacity(l1_len as usize);
    let mut parent = B256::ZERO;
    for n in 0..l1_len {
        let b = l1_block(n, parent);
        parent = b.hash();
        l1.push(b);
    }
    let l2_hash = |n: u64| keccak256(format!("l2-{n}"));
    let batch = |n: u64| {
        let epoch = &l1[(n / 6) as usize];
        SingleBatch {
            parent_hash: l2_hash(n - 1),
            epoch_num: epoch.number(),
            epoch_hash: epoch.hash(),
            timestamp: GENESIS_TIME + 2 * n,
            transactions: if n % 3 == 0 { vec![user_tx(n)] } else { Vec::new() },
        }
    };
    // Channel k (blocks 64k+1 ..= 64k+64) lands in the L1 block after its last block's epoch.
    let t0 = Instant::now();
    let mut data: Vec<Vec<Bytes>> = vec![Vec::new(); l1_len as usize];
    let mut posted_bytes = 0usize;
    let mut first = 1;
    while first <= blocks {
        let last = (first + BLOCKS_PER_SPAN - 1).min(blocks);
        let with_seq: Vec<(SingleBatch, u64)> = (first..=last).map(|n| (batch(n), n % 6)).collect();
        let span = encode::span_batch(&with_seq, GENESIS_TIME, CHAIN_ID).expect("span batch");
        let channel = encode::compress(&encode::channel_payload(&[Batch::Span(span)]).unwrap(), compression);
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&first.to_be_bytes());
        let at = (last / 6 + 1) as usize;
        for f in encode::split_frames(id, &channel, 120_000) {
            let tx = encode::tx_data(std::slice::from_ref(&f));
            posted_bytes += tx.len();
            data[at].push(tx);
        }
        first = last + 1;
    }
    let prep = t0.elapsed();
    let kona_data = data.clone();

    let genesis = L2BlockRef {
        hash: l2_hash(0),
        number: 0,
        parent_hash: B256::ZERO,
        time_ms: GENESIS_TIME * 1000,
        l1_origin: l1[0].info.id(),
        seq_num: 0,
    };
    let config =
        SystemConfig { gas_limit: 30_000_000, eip1559_denominator: 250, eip1559_elasticity: 6, ..Default::default() };

    let start = Instant::now();
    let mut p = Pipeline::new(&rollup, l1[0].info);
    p.provide_data(std::mem::take(&mut data[0]));
    let mut safe = genesis;
    let mut chain = SafeChain::default();
    let mut at = 0usize;
    let mut derived = 0u64;
    let mut txs = 0usize;
    loop {
        match p.step(&rollup, &safe.to_kona(), &mut chain).expect("no reset") {
            Step::Batch(b) => {
                let origin = &l1[b.epoch_num as usize];
                let d = derived_attributes(
                    &keel_core::attributes::ProtocolAttributes,
                    &rollup,
                    &safe,
                    &config,
                    origin,
                    &[],
                    &b,
                )
                .expect("attributes");
                txs += d.attributes.op.transactions.as_ref().map_or(0, Vec::len);
                let n = safe.number + 1;
                safe = L2BlockRef {
                    hash: l2_hash(n),
                    number: n,
                    parent_hash: safe.hash,
                    time_ms: b.timestamp * 1000,
                    l1_origin: origin.info.id(),
                    seq_num: d.seq_num,
                };
                chain.push(safe.to_kona(), b.transactions);
                derived += 1;
            }
            Step::NeedL1 if at + 1 < l1.len() && derived < blocks => {
                at += 1;
                p.advance(&rollup, l1[at].info).expect("linked L1");
                p.provide_data(std::mem::take(&mut data[at]));
            }
            Step::NeedL1 => break,
            Step::Again => {}
            Step::NeedL2(_) | Step::NeedData => unreachable!("every parent is remembered"),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(derived, blocks, "every posted block is derived");
    println!(
        "derive ({compression:?} channels): {derived} L2 blocks ({txs} transactions in their attributes) from {at} L1 blocks, {posted_bytes} bytes of \
         batcher data, in {:.3} s: {:.0} blocks/s (input prepared in {:.2} s, not timed)",
        secs,
        derived as f64 / secs,
        prep.as_secs_f64()
    );

    // The same data through kona-derive 0.4.5.
    let kona_cfg = kona_genesis::SystemConfig {
        gas_limit: 30_000_000,
        eip1559_denominator: Some(250),
        eip1559_elasticity: Some(6),
        ..Default::default()
    };
    let headers: Vec<Header> = l1.iter().map(|b| (*b.header).clone()).collect();
    let k = kona_run::run(kona_run::Input {
        rollup: rollup.base.clone(),
        headers,
        data: kona_data,
        genesis: genesis.to_kona(),
        config: kona_cfg,
        blocks,
        epoch_of: |n| n / 6,
        l2_hash,
    });
    assert_eq!(k.derived, blocks, "kona-derive derives every posted block too");
    assert_eq!(k.txs, txs, "both pipelines give the same number of attribute transactions");
    println!(
        "kona-derive 0.4.5: {} L2 blocks ({} transactions in their attributes) in {:.3} s: {:.0} blocks/s; Keel is {:.1}x",
        k.derived,
        k.txs,
        k.secs,
        k.derived as f64 / k.secs,
        k.secs / secs
    );
}

/// The same batcher data through kona-derive 0.4.5's pipeline (polled traversal, Holocene stages, kona's
/// `StatefulAttributesBuilder`), its async stages driven by a blocking executor. Providers answer from memory, like
/// Keel's run: the data-availability provider hands out the same batcher transaction data per L1 block (no sender
/// recovery, as Keel's shell gets the sender from the RPC), the L1 provider the same headers, the L2 provider the
/// derived chain. Benchmark-only: kona-derive is a dev-dependency of keel-core and nothing else links it.
mod kona_run {
    // kona-derive's provider traits fix the error type (`PipelineErrorKind`, large); the harness returns it as is.
    #![allow(clippy::result_large_err)]
    use alloy_consensus::{Header, Receipt, TxEnvelope};
    use alloy_primitives::{Address, Bytes, B256};
    use async_trait::async_trait;
    use kona_derive::{
        ChainProvider, DataAvailabilityProvider, L2ChainProvider, OriginProvider, Pipeline, PipelineBuilder,
        PipelineError, PipelineErrorKind, PipelineResult, ResetSignal, SignalReceiver, StatefulAttributesBuilder,
        StepResult,
    };
    use kona_genesis::{RollupConfig, SystemConfig};
    use kona_protocol::{BatchValidationProvider, BlockInfo, L2BlockInfo};
    use op_alloy_consensus::OpBlock;
    use std::collections::HashMap;
    use std::future::Future;
    use std::sync::{Arc, RwLock};
    use std::task::{Context, Poll, Wake, Waker};
    use std::time::Instant;

    /// A blocking executor: polls the future, parking the thread until its waker is called.
    fn block_on<F: Future>(fut: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut fut = std::pin::pin!(fut);
        loop {
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(out) => return out,
                Poll::Pending => std::thread::park(),
            }
        }
    }

    fn missing(what: String) -> PipelineErrorKind {
        PipelineError::Provider(what).temp()
    }

    #[derive(Clone, Debug)]
    struct L1 {
        headers: Arc<Vec<Header>>,
        /// Each header's block info, hashed once up front (the harness should cost nothing).
        infos: Arc<Vec<BlockInfo>>,
        by_hash: Arc<HashMap<B256, usize>>,
    }

    impl L1 {
        fn header(&self, hash: B256) -> PipelineResult<&Header> {
            self.by_hash.get(&hash).map(|&i| &self.headers[i]).ok_or_else(|| missing(format!("L1 block {hash}")))
        }
    }

    fn info(h: &Header) -> BlockInfo {
        BlockInfo { hash: h.hash_slow(), number: h.number, parent_hash: h.parent_hash, timestamp: h.timestamp }
    }

    #[async_trait]
    impl ChainProvider for L1 {
        type Error = PipelineErrorKind;
        async fn header_by_hash(&mut self, hash: B256) -> PipelineResult<Header> {
            self.header(hash).cloned()
        }
        async fn block_info_by_number(&mut self, number: u64) -> PipelineResult<BlockInfo> {
            self.infos.get(number as usize).copied().ok_or_else(|| missing(format!("L1 block {number}")))
        }
        async fn receipts_by_hash(&mut self, hash: B256) -> PipelineResult<Vec<Receipt>> {
            self.header(hash).map(|_| Vec::new())
        }
        async fn block_info_and_transactions_by_hash(
            &mut self,
            hash: B256,
        ) -> PipelineResult<(BlockInfo, Vec<TxEnvelope>)> {
            let i = *self.by_hash.get(&hash).ok_or_else(|| missing(format!("L1 block {hash}")))?;
            Ok((self.infos[i], Vec::new()))
        }
    }

    #[derive(Clone, Debug)]
    struct L2 {
        blocks: Arc<RwLock<HashMap<u64, L2BlockInfo>>>,
        config: SystemConfig,
    }

    #[async_trait]
    impl BatchValidationProvider for L2 {
        type Error = PipelineErrorKind;
        async fn l2_block_info_by_number(&mut self, number: u64) -> PipelineResult<L2BlockInfo> {
            self.blocks.read().unwrap().get(&number).copied().ok_or_else(|| missing(format!("L2 block {number}")))
        }
        async fn block_by_number(&mut self, number: u64) -> PipelineResult<OpBlock> {
            Err(missing(format!("L2 block {number} body (spans here never overlap the safe chain)")))
        }
    }

    #[async_trait]
    impl L2ChainProvider for L2 {
        type Error = PipelineErrorKind;
        async fn system_config_by_number(
            &mut self,
            _number: u64,
            _rollup: Arc<RollupConfig>,
        ) -> PipelineResult<SystemConfig> {
            Ok(self.config)
        }
    }

    /// Batcher transaction data per L1 block, handed out one transaction at a time.
    #[derive(Debug)]
    struct Data {
        per_block: Arc<Vec<Vec<Bytes>>>,
        at: Option<(u64, usize)>,
    }

    #[async_trait]
    impl DataAvailabilityProvider for Data {
        type Item = Bytes;
        async fn next(&mut self, block: &BlockInfo, _batcher: Address) -> PipelineResult<Bytes> {
            let (n, i) = match self.at {
                Some((n, i)) if n == block.number => (n, i),
                _ => (block.number, 0),
            };
            let item = self.per_block.get(n as usize).and_then(|txs| txs.get(i)).cloned();
            self.at = Some((n, i + 1));
            item.ok_or_else(|| PipelineError::Eof.temp())
        }
        fn clear(&mut self) {
            self.at = None;
        }
    }

    /// What one run derived.
    pub struct Run {
        pub derived: u64,
        pub txs: usize,
        pub secs: f64,
    }

    /// The chain to derive: `blocks` L2 blocks from `data` (batcher data per L1 block over `headers`), from the safe
    /// head `genesis`; `epoch_of(n)` is the L1 block number of L2 block `n`'s epoch and `l2_hash(n)` its hash.
    pub struct Input<E, H> {
        pub rollup: RollupConfig,
        pub headers: Vec<Header>,
        pub data: Vec<Vec<Bytes>>,
        pub genesis: L2BlockInfo,
        pub config: SystemConfig,
        pub blocks: u64,
        pub epoch_of: E,
        pub l2_hash: H,
    }

    /// Derives the input's blocks through kona-derive.
    pub fn run(input: Input<impl Fn(u64) -> u64, impl Fn(u64) -> B256>) -> Run {
        let Input { rollup, headers, data, genesis, config, blocks, epoch_of, l2_hash } = input;
        let rollup = Arc::new(rollup);
        let infos: Vec<BlockInfo> = headers.iter().map(info).collect();
        let by_hash = infos.iter().enumerate().map(|(i, b)| (b.hash, i)).collect();
        let l1 = L1 { headers: Arc::new(headers), infos: Arc::new(infos), by_hash: Arc::new(by_hash) };
        let l2 = L2 { blocks: Arc::new(RwLock::new(HashMap::from([(0, genesis)]))), config };
        let origin = l1.infos[0];
        let builder = StatefulAttributesBuilder::new(rollup.clone(), l2.clone(), l1.clone());
        let dap = Data { per_block: Arc::new(data), at: None };

        let start = Instant::now();
        let mut pipeline = PipelineBuilder::new()
            .rollup_config(rollup.clone())
            .origin(origin)
            .chain_provider(l1.clone())
            .l2_chain_provider(l2.clone())
            .dap_source(dap)
            .builder(builder)
            .build_polled();
        let reset = ResetSignal { l2_safe_head: genesis, l1_origin: origin, system_config: Some(config) };
        block_on(pipeline.signal(reset.signal())).expect("kona pipeline reset");
        let mut safe = genesis;
        let (mut derived, mut txs) = (0u64, 0usize);
        while derived < blocks {
            match block_on(pipeline.step(safe)) {
                StepResult::PreparedAttributes => {
                    let a = pipeline.next().expect("prepared attributes");
                    let n = safe.block_info.number + 1;
                    assert_eq!(
                        a.parent.block_info.hash, safe.block_info.hash,
                        "kona: block {n} builds on the safe head"
                    );
                    txs += a.inner.transactions.as_ref().map_or(0, Vec::len);
                    let epoch = &l1.headers[epoch_of(n) as usize];
                    let seq_num = if epoch.number == safe.l1_origin.number { safe.seq_num + 1 } else { 0 };
                    safe = L2BlockInfo {
                        block_info: BlockInfo {
                            hash: l2_hash(n),
                            number: n,
                            parent_hash: safe.block_info.hash,
                            timestamp: a.inner.payload_attributes.timestamp,
                        },
                        l1_origin: l1.infos[epoch.number as usize].id(),
                        seq_num,
                    };
                    l2.blocks.write().unwrap().insert(n, safe);
                    derived += 1;
                }
                StepResult::AdvancedOrigin => {}
                StepResult::OriginAdvanceErr(e) | StepResult::StepFailed(e) => {
                    if matches!(e, PipelineErrorKind::Temporary(PipelineError::NotEnoughData)) {
                        continue;
                    }
                    if l1.headers.len() as u64 <= pipeline.origin().map_or(0, |o| o.number) + 1 {
                        break;
                    }
                    panic!("kona pipeline failed at L2 block {}: {e}", safe.block_info.number + 1);
                }
            }
        }
        Run { derived, txs, secs: start.elapsed().as_secs_f64() }
    }
}
