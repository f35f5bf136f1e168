//! One thread per I/O target. Each turns core commands into blocking JSON-RPC calls and answers with events on the
//! driver's channel, so a slow or dead endpoint only delays its own requests.

use crate::codec;
use crate::metrics::Metrics;
use crate::rpc::RpcClient;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use keel_core::{Command, ConductorReply, EngineHeads, EngineReply, Event, RpcError};
use kona_genesis::ChainGenesis;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Commands one worker may have queued.
pub const WORKER_QUEUE: usize = 128;
/// Blocks queued for followers before the oldest is dropped.
pub const PUBLISH_QUEUE: usize = 32;

/// Calls `method` and records its duration and outcome; a failure is logged as a warning.
pub fn timed_call(
    client: &RpcClient,
    m: &Metrics,
    target: &'static str,
    method: &str,
    params: Value,
) -> Result<Value, RpcError> {
    let result = recorded_call(client, m, target, method, params);
    if let Err(e) = &result {
        log::warn!("{target} call failed method={method} error=\"{e}\"");
    }
    result
}

/// [`timed_call`] without the log line, for answers the caller expects and interprets.
fn recorded_call(
    client: &RpcClient,
    m: &Metrics,
    target: &'static str,
    method: &str,
    params: Value,
) -> Result<Value, RpcError> {
    let started = Instant::now();
    let result = client.call(method, params);
    let l = [("target", target), ("method", method)];
    m.observe("keel_rpc_duration_seconds", "Outbound JSON-RPC call duration", &l, started.elapsed().as_secs_f64());
    m.inc("keel_rpc_calls_total", "Outbound JSON-RPC calls", &l, 1.0);
    if let Err(e) = &result {
        let class = match e {
            RpcError::Rpc { .. } => "rpc",
            RpcError::Transport(_) => "transport",
            RpcError::Timeout => "timeout",
        };
        m.inc(
            "keel_rpc_errors_total",
            "Outbound JSON-RPC call failures",
            &[("target", target), ("method", method), ("class", class)],
            1.0,
        );
    }
    result
}

fn answer(id: keel_core::RequestId, r: Result<Event, RpcError>) -> Event {
    r.unwrap_or_else(|error| Event::RequestFailed { id, error })
}

fn spawn_loop(
    name: &str,
    rx: Receiver<Command>,
    events: Sender<Event>,
    mut handle: impl FnMut(Command) -> Option<Event> + Send + 'static,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            for cmd in rx {
                if let Some(ev) = handle(cmd) {
                    if events.send(ev).is_err() {
                        break;
                    }
                }
            }
        })
        .expect("spawning a worker thread")
}

/// Fetches and decodes an L1 block, counting header-hash mismatches.
fn fetch_l1_block(
    client: &RpcClient,
    m: &Metrics,
    check: codec::HashCheck,
    method: &str,
    params: Value,
) -> Result<Option<keel_core::L1Block>, RpcError> {
    let found = timed_call(client, m, "l1", method, params).and_then(|v| codec::l1_block(method, v, check))?;
    Ok(found.map(|(block, mismatch)| {
        if mismatch {
            m.inc("keel_l1_hash_mismatch_total", "L1 blocks whose header does not hash to the reported hash", &[], 1.0);
        }
        block
    }))
}

/// Receipts of an L1 block: `eth_getBlockReceipts`, or per transaction where the node lacks that method.
fn fetch_receipts(
    client: &RpcClient,
    m: &Metrics,
    per_tx: &AtomicBool,
    hash: alloy_primitives::B256,
) -> Result<Vec<alloy_consensus::Receipt>, RpcError> {
    if !per_tx.load(Ordering::Relaxed) {
        let method = "eth_getBlockReceipts";
        match timed_call(client, m, "l1", method, json!([hash])) {
            Ok(v) if !v.is_null() => return codec::receipts(method, v),
            Ok(_) => return Err(RpcError::Transport(format!("{method}: L1 node has no receipts for block {hash:#x}"))),
            Err(RpcError::Rpc { code: keel_core::io::METHOD_NOT_FOUND, .. }) => {
                log::warn!("L1 node lacks eth_getBlockReceipts; fetching receipts per transaction");
                per_tx.store(true, Ordering::Relaxed);
            }
            Err(e) => return Err(e),
        }
    }
    let block = timed_call(client, m, "l1", "eth_getBlockByHash", json!([hash, false]))?;
    let txs = block
        .get("transactions")
        .and_then(Value::as_array)
        .ok_or_else(|| RpcError::Transport(format!("eth_getBlockByHash: block {hash:#x} has no transactions list")))?;
    if txs.len() > codec::MAX_RECEIPTS {
        return Err(RpcError::Transport(format!("eth_getBlockByHash: block {hash:#x} has {} transactions", txs.len())));
    }
    let mut receipts = Vec::with_capacity(txs.len());
    for tx in txs {
        let tx_hash =
            tx.as_str().map(str::to_string).or_else(|| tx.get("hash").and_then(Value::as_str).map(str::to_string));
        let tx_hash =
            tx_hash.ok_or_else(|| RpcError::Transport("eth_getBlockByHash: transaction without hash".into()))?;
        let method = "eth_getTransactionReceipt";
        let r = timed_call(client, m, "l1", method, json!([tx_hash]))?;
        receipts.extend(codec::receipts(method, Value::Array(vec![r]))?);
    }
    Ok(receipts)
}

/// Whether the L1 node lacks `eth_getBlockReceipts` (learned once, shared by the L1 and derivation workers).
pub type ReceiptsPerTx = Arc<AtomicBool>;

/// The L1 execution endpoint: block and receipt fetches.
pub fn spawn_l1(
    client: Arc<RpcClient>,
    m: Metrics,
    check: codec::HashCheck,
    per_tx: ReceiptsPerTx,
    rx: Receiver<Command>,
    events: Sender<Event>,
) -> JoinHandle<()> {
    spawn_loop("keel-l1", rx, events, move |cmd| {
        let (id, method, params) = match cmd {
            Command::FetchL1BlockByHash { id, hash } => (id, "eth_getBlockByHash", json!([hash, false])),
            Command::FetchL1BlockByNumber { id, number } => {
                (id, "eth_getBlockByNumber", json!([format!("{number:#x}"), false]))
            }
            Command::FetchL1Receipts { id, hash } => {
                let r = fetch_receipts(&client, &m, &per_tx, hash);
                return Some(answer(id, r.map(|r| Event::L1ReceiptsFetched { id, receipts: Arc::new(r) })));
            }
            other => {
                log::error!("L1 worker got a command it does not handle: {other:?}");
                return None;
            }
        };
        let r = fetch_l1_block(&client, &m, check, method, params);
        Some(answer(id, r.map(|block| Event::L1BlockFetched { id, block })))
    })
}

/// Derivation's L1 reads (`FetchL1Data`): header and full transactions, then receipts. Its own thread, so a slow
/// derivation read never delays the sequencer's L1 lookups.
pub fn spawn_derivation(
    client: Arc<RpcClient>,
    m: Metrics,
    check: codec::HashCheck,
    per_tx: ReceiptsPerTx,
    rx: Receiver<Command>,
    events: Sender<Event>,
) -> JoinHandle<()> {
    spawn_loop("keel-derive-l1", rx, events, move |cmd| {
        let Command::FetchL1Data { id, number } = cmd else {
            log::error!("derivation worker got a command it does not handle: {cmd:?}");
            return None;
        };
        let method = "eth_getBlockByNumber";
        let r = (|| {
            let v = timed_call(&client, &m, "l1", method, json!([format!("{number:#x}"), true]))?;
            if v.is_null() {
                return Ok(None);
            }
            let (txs, skipped) = codec::l1_transactions(method, &v)?;
            if skipped > 0 {
                log::warn!("L1 block {number}: {skipped} transactions of unknown types skipped by derivation");
            }
            let Some((block, mismatch)) = codec::l1_block(method, v, check)? else { return Ok(None) };
            if mismatch {
                m.inc(
                    "keel_l1_hash_mismatch_total",
                    "L1 blocks whose header does not hash to the reported hash",
                    &[],
                    1.0,
                );
            }
            let receipts = fetch_receipts(&client, &m, &per_tx, block.hash())?;
            Ok(Some(Box::new(keel_core::L1Data { block, receipts: Arc::new(receipts), txs: Arc::new(txs) })))
        })();
        Some(answer(id, r.map(|data| Event::L1DataFetched { id, data })))
    })
}

/// Polls the L1 head and finalized block; emits events when they change.
pub fn spawn_l1_poller(
    client: Arc<RpcClient>,
    m: Metrics,
    check: codec::HashCheck,
    interval: Duration,
    events: Sender<Event>,
    stop: Stop,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("keel-l1-poll".into())
        .spawn(move || {
            let mut last = [None, None, None];
            let mut backoff = keel_core::backoff::Backoff::default();
            while !stop.is_stopped() {
                let mut delay = interval;
                for (i, tag) in ["latest", "safe", "finalized"].into_iter().enumerate() {
                    match fetch_l1_block(&client, &m, check, "eth_getBlockByNumber", json!([tag, false]))
                        .map(|b| b.map(|b| b.info))
                    {
                        Ok(Some(r)) => {
                            backoff.reset();
                            if last[i] != Some(r.hash) {
                                last[i] = Some(r.hash);
                                let ev = match tag {
                                    "latest" => Event::L1HeadObserved(r),
                                    "safe" => Event::L1SafeObserved(r),
                                    _ => Event::L1FinalizedObserved(r),
                                };
                                if events.send(ev).is_err() {
                                    return;
                                }
                            }
                        }
                        Ok(None) => {}
                        Err(_) => delay = Duration::from_millis(backoff.next_delay(1_000, 30_000)).max(interval),
                    }
                }
                stop.sleep(delay);
            }
        })
        .expect("spawning the L1 poller")
}

/// A stop request that sleeping threads wake on at once (the L1 poller, the unsafe-signer reader): no polling, so
/// an idle node does not wake every few milliseconds.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl Stop {
    /// Asks every holder to stop and wakes those sleeping.
    pub fn stop(&self) {
        let (flag, cv) = &*self.0;
        *flag.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        cv.notify_all();
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        *self.0 .0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sleeps for `total` or until a stop is asked for; returns whether it was.
    pub fn sleep(&self, total: Duration) -> bool {
        let (flag, cv) = &*self.0;
        let deadline = Instant::now() + total;
        let mut stopped = flag.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while !*stopped {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            stopped = cv.wait_timeout(stopped, deadline - now).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
        *stopped
    }
}

fn l2_block(
    client: &RpcClient,
    m: &Metrics,
    genesis: &ChainGenesis,
    tag: String,
) -> Result<Option<keel_core::L2BlockRef>, RpcError> {
    let method = "eth_getBlockByNumber";
    timed_call(client, m, "engine", method, json!([tag, true])).and_then(|v| codec::l2_block(method, v, genesis))
}

/// A labelled block ("safe", "finalized") that the engine may not have yet. geth answers a JSON-RPC error ("finalized
/// block not found", "safe block not found") instead of `null` until the label was first set by a forkchoice update,
/// erigon says "block not found"; like op-node's L2 client, any error that says "not found" means absent.
fn l2_label(
    client: &RpcClient,
    m: &Metrics,
    genesis: &ChainGenesis,
    label: &str,
) -> Result<Option<keel_core::L2BlockRef>, RpcError> {
    let method = "eth_getBlockByNumber";
    match recorded_call(client, m, "engine", method, json!([label, true])) {
        Err(RpcError::Rpc { message, .. }) if message.to_ascii_lowercase().contains("not found") => {
            log::debug!("engine has no {label:?} block yet ({message})");
            Ok(None)
        }
        Err(e) => {
            log::warn!("engine call failed method={method} label={label} error=\"{e}\"");
            Err(e)
        }
        Ok(v) => codec::l2_block(method, v, genesis),
    }
}

fn l2_head(
    client: &RpcClient,
    m: &Metrics,
    genesis: &ChainGenesis,
    tag: &str,
) -> Result<keel_core::L2BlockRef, RpcError> {
    l2_block(client, m, genesis, tag.to_string())?.ok_or_else(|| {
        RpcError::Transport(format!("engine has no {tag:?} block: is it initialised with the rollup genesis?"))
    })
}

/// The L2 execution engine (authenticated engine API and eth reads).
pub fn spawn_engine(
    client: Arc<RpcClient>,
    m: Metrics,
    genesis: ChainGenesis,
    rx: Receiver<Command>,
    events: Sender<Event>,
) -> JoinHandle<()> {
    spawn_loop("keel-engine", rx, events, move |cmd| {
        let c = &client;
        Some(match cmd {
            Command::FetchL2Heads { id } => {
                // As op-node's sync start: finalized (or genesis when the engine has none), then safe (or finalized),
                // then latest.
                let r = (|| {
                    let finalized = match l2_label(c, &m, &genesis, "finalized")? {
                        Some(b) => b,
                        None => l2_head(c, &m, &genesis, &format!("{:#x}", genesis.l2.number))?,
                    };
                    let safe = l2_label(c, &m, &genesis, "safe")?.unwrap_or(finalized);
                    Ok(EngineHeads { unsafe_head: l2_head(c, &m, &genesis, "latest")?, safe, finalized })
                })();
                answer(id, r.map(|heads| Event::L2HeadsFetched { id, heads }))
            }
            Command::FetchL2BlockByNumber { id, number } => {
                let r = l2_block(c, &m, &genesis, format!("{number:#x}"));
                answer(id, r.map(|block| Event::L2BlockFetched { id, block }))
            }
            Command::FetchL2Header { id, number } => {
                let method = "eth_getBlockByNumber";
                let r = timed_call(c, &m, "engine", method, json!([format!("{number:#x}"), true]))
                    .and_then(|v| codec::l2_header(method, v));
                answer(id, r.map(|header| Event::L2HeaderFetched { id, header }))
            }
            Command::ForkchoiceUpdate { id, version, state, attributes } => {
                let method = codec::fcu_method(version);
                let r = timed_call(c, &m, "engine", method, codec::fcu_params(&state, attributes.as_deref()))
                    .and_then(|v| codec::fcu_result(method, v));
                answer(
                    id,
                    r.map(|(status, payload_id)| Event::EngineResponded {
                        id,
                        reply: EngineReply::ForkchoiceUpdated { status, payload_id },
                    }),
                )
            }
            Command::GetPayload { id, version, payload_id } => {
                let method = codec::get_payload_method(version);
                let r = timed_call(c, &m, "engine", method, json!([payload_id]))
                    .and_then(|v| codec::get_payload_result(version, v));
                answer(
                    id,
                    r.map(|env| Event::EngineResponded { id, reply: EngineReply::PayloadFetched(Arc::new(env)) }),
                )
            }
            Command::NewPayload { id, version, envelope } => {
                let method = codec::new_payload_method(version);
                let r = codec::new_payload_params(version, &envelope)
                    .and_then(|params| timed_call(c, &m, "engine", method, params))
                    .and_then(|v| codec::payload_status(method, v));
                answer(
                    id,
                    r.map(|status| Event::EngineResponded { id, reply: EngineReply::PayloadInserted { status } }),
                )
            }
            other => {
                log::error!("engine worker got a command it does not handle: {other:?}");
                return None;
            }
        })
    })
}

/// The conductor: leader checks and commits. Like op-node's client, a failed call is tried once more 50 ms later
/// if the deadline allows.
pub fn spawn_conductor(
    client: Arc<RpcClient>,
    m: Metrics,
    timeout: Duration,
    rx: Receiver<Command>,
    events: Sender<Event>,
) -> JoinHandle<()> {
    spawn_loop("keel-conductor", rx, events, move |cmd| {
        let (id, method, params) = match cmd {
            Command::CheckLeader { id } => (id, "conductor_leader", json!([])),
            Command::CommitToConductor { id, envelope } => {
                (id, "conductor_commitUnsafePayload", json!([envelope.as_ref()]))
            }
            other => {
                log::error!("conductor worker got a command it does not handle: {other:?}");
                return None;
            }
        };
        let started = Instant::now();
        let mut r = timed_call(&client, &m, "conductor", method, params.clone());
        if matches!(r, Err(RpcError::Transport(_))) && started.elapsed() + Duration::from_millis(50) < timeout {
            std::thread::sleep(Duration::from_millis(50));
            r = timed_call(&client, &m, "conductor", method, params);
        }
        let r = r.and_then(|v| match method {
            "conductor_leader" => codec::boolean(method, v).map(ConductorReply::Leader),
            _ => Ok(ConductorReply::Committed),
        });
        Some(answer(id, r.map(|reply| Event::ConductorResponded { id, reply })))
    })
}

/// Queues of blocks for followers (`admin_postUnsafePayload`), off the building path.
pub struct Publisher {
    tx: Sender<Arc<keel_core::OpExecutionPayloadEnvelope>>,
    rx: Receiver<Arc<keel_core::OpExecutionPayloadEnvelope>>,
    m: Metrics,
}

impl Publisher {
    /// Starts one thread posting to every follower in turn.
    pub fn spawn(followers: Vec<Arc<RpcClient>>, m: Metrics) -> (Self, JoinHandle<()>) {
        let (tx, rx) = crossbeam_channel::bounded(PUBLISH_QUEUE);
        let worker_rx: Receiver<Arc<keel_core::OpExecutionPayloadEnvelope>> = rx.clone();
        let wm = m.clone();
        let handle = std::thread::Builder::new()
            .name("keel-publish".into())
            .spawn(move || {
                for env in worker_rx {
                    for f in &followers {
                        let _ = timed_call(f, &wm, "follower", "admin_postUnsafePayload", json!([env.as_ref()]));
                    }
                }
            })
            .expect("spawning the publisher");
        (Self { tx, rx, m }, handle)
    }

    /// Queues a block; when the queue is full the oldest queued block is dropped (followers catch up by sync).
    pub fn publish(&self, env: Arc<keel_core::OpExecutionPayloadEnvelope>) {
        let mut env = env;
        loop {
            match self.tx.try_send(env) {
                Ok(()) => return,
                Err(TrySendError::Full(back)) => {
                    let _ = self.rx.try_recv();
                    self.m.inc("keel_publish_dropped_total", "Blocks dropped from the follower queue", &[], 1.0);
                    env = back;
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
    }

    /// Blocks waiting to be posted.
    pub fn queued(&self) -> usize {
        self.tx.len()
    }
}

#[cfg(test)]
mod stop_tests {
    use super::Stop;
    use std::time::Duration;

    #[test]
    fn a_stop_wakes_a_long_sleep_and_later_sleeps_return_at_once() {
        let stop = Stop::default();
        assert!(!stop.sleep(Duration::from_millis(1)), "not stopped: the sleep runs out");
        let s = stop.clone();
        let sleeper = std::thread::spawn(move || s.sleep(Duration::from_secs(3600)));
        std::thread::sleep(Duration::from_millis(20));
        stop.stop();
        assert!(sleeper.join().unwrap(), "woken by the stop, not by the hour running out");
        assert!(stop.is_stopped() && stop.sleep(Duration::from_secs(3600)));
    }
}
