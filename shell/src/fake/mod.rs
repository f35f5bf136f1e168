//! In-process fake servers for end-to-end tests and `keel devnet`: the deterministic world models of `keel-sim`
//! (L1 chain, OP execution engine, conductor) served over real localhost HTTP JSON-RPC, on wall-clock time.
//!
//! ```text
//! FakeWorld::start(cfg)
//!   ├── L1         eth_chainId, eth_blockNumber, eth_getBlockByNumber/ByHash (full alloy header JSON)
//!   ├── engine     JWT-authenticated engine_forkchoiceUpdatedV1-3, engine_getPayloadV2-4,
//!   │              engine_newPayloadV1-4, eth_getBlockByNumber/ByHash, eth_getProof, eth_chainId
//!   ├── conductor  conductor_leader, conductor_active, conductor_commitUnsafePayload
//!   ├── follower   admin_postUnsafePayload
//!   └── a thread producing L1 blocks when the wall clock reaches their slot
//! ```
//!
//! Every server binds `127.0.0.1:0`, answers from a small pool of blocking worker threads, limits bodies to
//! 8 MiB, and answers malformed JSON with -32700 and unknown methods with -32601. [`FakeWorld::stop`] (or
//! dropping the world) stops and joins every thread it started.

mod conductor;
mod engine;
mod l1;
pub mod rpc;

use crate::jwt::JwtSecret;
use alloy_primitives::{keccak256, B256};
use keel_core::{L1BlockRef, L2BlockRef};
use keel_sim::conductor::Conductor;
use keel_sim::engine::Engine;
use keel_sim::l1::L1Chain;
use keel_sim::rng::Rng;
use keel_sim::SimConfig;
use rpc::{HttpServer, RpcFailure};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Worker threads per server.
const WORKERS: usize = 4;
/// L1 chain id reported by the fake L1 (the rollup config's `l1_chain_id`).
pub const FAKE_L1_CHAIN_ID: u64 = 900;
/// L2 chain id reported by the fake engine (the rollup config's `l2_chain_id`).
pub const FAKE_L2_CHAIN_ID: u64 = 901;

/// Settings of a fake world.
#[derive(Clone, Debug)]
pub struct FakeWorldConfig {
    /// L1 blocks between the head and the finalized block.
    pub l1_finality_depth: u64,
    /// Seeds every hash, header field and mempool the models produce.
    pub seed: u64,
    /// L2 block time (ms).
    pub block_time_ms: u64,
    /// L1 block time (s).
    pub l1_block_time_s: u64,
    /// The engine's JWT secret.
    pub jwt: JwtSecret,
    /// L2 genesis timestamp (s). `0` means "two seconds before `start`".
    pub genesis_time_s: u64,
    /// Isthmus, Jovian and Karst activation, seconds after L2 genesis (`None`: never).
    pub fork_offsets_s: [Option<u64>; 3],
}

impl FakeWorldConfig {
    /// Seed 1, 2 s L2 blocks, 12 s L1 blocks finalized 4 blocks behind the head, L2 genesis two seconds ago.
    pub fn new(jwt: JwtSecret) -> Self {
        Self {
            l1_finality_depth: 4,
            seed: 1,
            block_time_ms: 2_000,
            l1_block_time_s: 12,
            jwt,
            genesis_time_s: (now_ms() / 1000).saturating_sub(2),
            fork_offsets_s: [None; 3],
        }
    }
}

/// A blob's EIP-4844 versioned hash (its KZG commitment hashed), as the fake L1's batcher posts blobs under.
fn kzg_blob_hash(blob: &[u8]) -> alloy_primitives::B256 {
    let commitment = crate::beacon::blob_commitment(blob).expect("the batcher model encodes valid blobs");
    crate::beacon::versioned_hash(&commitment)
}

pub(crate) struct L1State {
    pub chain: L1Chain,
    pub rng: Rng,
    /// Posts the engine's blocks as batcher transactions (keel-sim's batcher model, without its faults), so a
    /// node deriving from this L1 sees its safe head move.
    pub batcher: keel_sim::batcher::Batcher,
}

pub(crate) struct EngineState {
    pub engine: Engine,
    pub rng: Rng,
    /// Blocks the engine stores, genesis included.
    pub stored: u64,
    /// Whether a forkchoice update has set the safe and finalized labels. Until then geth answers
    /// `eth_getBlockByNumber("safe" | "finalized")` with an error ("safe block not found"), and so does this engine.
    pub labels_set: bool,
}

/// State shared by the servers and the L1 producer.
pub(crate) struct Shared {
    pub l1: Mutex<L1State>,
    pub engine: Mutex<EngineState>,
    pub conductor: Mutex<Conductor>,
    pub engine_down: AtomicBool,
    pub auth_failures: AtomicU64,
    pub engine_calls: Mutex<HashMap<String, u64>>,
    pub published: Mutex<Vec<B256>>,
    pub jwt: JwtSecret,
    pub l1_chain_id: u64,
    pub l2_chain_id: u64,
    /// The chain's forks, for the engine's per-fork method versions.
    pub rollup: keel_core::Rollup,
}

/// Locks `m`, surviving poisoning (a panicking request must not wedge the world).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Wall clock, ms since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A block selector: a tag or a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockSel {
    Latest,
    Safe,
    Finalized,
    Earliest,
    Number(u64),
}

impl BlockSel {
    /// Parses `"latest"`, `"pending"`, `"safe"`, `"finalized"`, `"earliest"` or a hex quantity.
    pub fn parse(v: &Value) -> Result<Self, RpcFailure> {
        let bad = || RpcFailure::invalid_params(format!("invalid block number or tag: {v}"));
        let s = v.as_str().ok_or_else(bad)?;
        Ok(match s {
            "latest" | "pending" | "unsafe" => Self::Latest,
            "safe" => Self::Safe,
            "finalized" => Self::Finalized,
            "earliest" => Self::Earliest,
            _ => {
                let hex = s.strip_prefix("0x").ok_or_else(bad)?;
                if hex.is_empty() || hex.len() > 16 {
                    return Err(bad());
                }
                Self::Number(u64::from_str_radix(hex, 16).map_err(|_| bad())?)
            }
        })
    }
}

/// The deterministic stand-in for an account's storage root at a block (what `eth_getProof` reports and what the
/// engine puts in `withdrawalsRoot` of V4 payloads).
pub fn fake_storage_root(block_hash: B256) -> B256 {
    let mut pre = b"keel-fake-storage-root".to_vec();
    pre.extend_from_slice(block_hash.as_slice());
    keccak256(pre)
}

/// A running fake world: L1, engine, conductor and follower servers plus an L1 block producer.
pub struct FakeWorld {
    shared: Arc<Shared>,
    rollup: keel_core::Rollup,
    stop: Arc<AtomicBool>,
    servers: Vec<HttpServer>,
    urls: [String; 4],
    l1_stop: Option<crossbeam_channel::Sender<()>>,
    l1_thread: Option<JoinHandle<()>>,
}

impl FakeWorld {
    /// Builds the models, advances L1 to now, binds the four servers and starts the L1 producer.
    pub fn start(cfg: FakeWorldConfig) -> std::io::Result<FakeWorld> {
        let block_time_ms = cfg.block_time_ms.max(1);
        let l1_block_time_s = cfg.l1_block_time_s.max(1);
        let genesis_time_s =
            if cfg.genesis_time_s == 0 { (now_ms() / 1000).saturating_sub(2) } else { cfg.genesis_time_s };

        let mut l1_rng = Rng::new(cfg.seed);
        let mut chain = L1Chain::new(genesis_time_s.saturating_sub(l1_block_time_s * 2), l1_block_time_s, &mut l1_rng);
        // A devnet finalizes within a minute or so rather than Ethereum's two epochs.
        chain.finality_depth = cfg.l1_finality_depth;
        let genesis_l2 = L2BlockRef {
            hash: keccak256(format!("keel-sim-l2-genesis-{}", cfg.seed)),
            number: 0,
            parent_hash: B256::ZERO,
            time_ms: genesis_time_s * 1000,
            l1_origin: chain.genesis().info.id(),
            seq_num: 0,
        };
        let [isthmus_offset_s, jovian_offset_s, karst_offset_s] = cfg.fork_offsets_s;
        let sim_cfg = SimConfig {
            seed: cfg.seed,
            block_time_ms,
            l1_block_time_s,
            isthmus_offset_s,
            jovian_offset_s,
            karst_offset_s,
            ..Default::default()
        };
        let mut rollup = keel_sim::world::make_rollup(&sim_cfg, &chain, &genesis_l2);
        rollup.l1_chain_id = FAKE_L1_CHAIN_ID;
        rollup.l2_chain_id = FAKE_L2_CHAIN_ID.into();
        chain.advance(now_ms(), &mut l1_rng);
        let batcher_cfg = keel_sim::batcher::BatcherConfig {
            post_rate: 1.0,
            duplicate_rate: 0.0,
            lost_frame_rate: 0.0,
            reorder_rate: 0.0,
            garbage_rate: 0.0,
            // Blobs are served to a real beacon client (from the L1 port), which checks them by KZG commitment.
            blob_hash: kzg_blob_hash,
            ..Default::default()
        };
        let batcher = keel_sim::batcher::Batcher::new(batcher_cfg, &rollup, &genesis_l2);

        let shared = Arc::new(Shared {
            l1: Mutex::new(L1State { chain, rng: l1_rng, batcher }),
            engine: Mutex::new(EngineState {
                engine: Engine::new(genesis_l2, block_time_ms),
                rng: Rng::new(cfg.seed ^ 0x656e_6769_6e65),
                stored: 1,
                labels_set: false,
            }),
            conductor: Mutex::new(Conductor { leader: true, ..Default::default() }),
            engine_down: AtomicBool::new(false),
            auth_failures: AtomicU64::new(0),
            engine_calls: Mutex::new(HashMap::new()),
            published: Mutex::new(Vec::new()),
            jwt: cfg.jwt,
            l1_chain_id: FAKE_L1_CHAIN_ID,
            l2_chain_id: FAKE_L2_CHAIN_ID,
            rollup: rollup.clone(),
        });

        let stop = Arc::new(AtomicBool::new(false));
        let mut world = FakeWorld {
            shared: shared.clone(),
            rollup,
            stop: stop.clone(),
            servers: Vec::new(),
            urls: Default::default(),
            l1_stop: None,
            l1_thread: None,
        };
        let services: [(&str, Arc<dyn rpc::Service>); 4] = [
            ("l1", Arc::new(l1::L1Service(shared.clone()))),
            ("engine", Arc::new(engine::EngineService(shared.clone()))),
            ("conductor", Arc::new(conductor::ConductorService(shared.clone()))),
            ("follower", Arc::new(conductor::FollowerService(shared.clone()))),
        ];
        for (i, (name, service)) in services.into_iter().enumerate() {
            // On error `world` drops here, which stops whatever already started.
            let server = rpc::start(name, service, WORKERS, stop.clone())?;
            world.urls[i] = rpc::url(&server);
            world.servers.push(server);
        }
        let (tx, rx) = crossbeam_channel::bounded::<()>(1);
        let producer = shared.clone();
        let handle =
            std::thread::Builder::new().name("fake-l1-producer".into()).spawn(move || l1_producer(&producer, &rx))?;
        world.l1_stop = Some(tx);
        world.l1_thread = Some(handle);
        Ok(world)
    }

    /// URL of the L1 execution RPC.
    pub fn l1_url(&self) -> String {
        self.urls[0].clone()
    }

    /// URL of the engine's authenticated RPC (engine API plus the `eth_` reads a rollup node makes).
    pub fn engine_url(&self) -> String {
        self.urls[1].clone()
    }

    /// URL of the conductor RPC.
    pub fn conductor_url(&self) -> String {
        self.urls[2].clone()
    }

    /// URL of a follower node accepting `admin_postUnsafePayload`.
    pub fn follower_url(&self) -> String {
        self.urls[3].clone()
    }

    /// The rollup config the node must use (genesis = the models' genesis blocks; Regolith..Holocene at 0).
    pub fn rollup_config(&self) -> keel_core::Rollup {
        self.rollup.clone()
    }

    /// While down, the engine answers every request with HTTP 503.
    pub fn set_engine_down(&self, down: bool) {
        self.shared.engine_down.store(down, Ordering::SeqCst);
    }

    /// Whether the conductor reports this node as leader (and accepts commits).
    pub fn set_leader(&self, leader: bool) {
        lock(&self.shared.conductor).leader = leader;
    }

    /// Blobs the batcher has posted (served by the L1 port's beacon API).
    pub fn blobs_posted(&self) -> u64 {
        lock(&self.shared.l1).batcher.stats.blobs
    }

    /// The engine's unsafe head.
    pub fn engine_head(&self) -> L2BlockRef {
        lock(&self.shared.engine).engine.heads().unsafe_head
    }

    /// The engine's canonical block at `number`, if any.
    pub fn engine_block_at(&self, number: u64) -> Option<L2BlockRef> {
        lock(&self.shared.engine).engine.by_number(number)
    }

    /// The transactions (EIP-2718 bytes) of the engine's canonical block at `number`; `None` for genesis or a
    /// height it does not have.
    pub fn engine_transactions(&self, number: u64) -> Option<Vec<alloy_primitives::Bytes>> {
        let shared = lock(&self.shared.engine);
        let block = shared.engine.by_number(number)?;
        let envelope = shared.engine.block(&block.hash)?.envelope.clone()?;
        Some(envelope.execution_payload.as_v1().transactions.clone())
    }

    /// Blocks the engine stores, genesis included (canonical or not).
    pub fn engine_block_count(&self) -> u64 {
        lock(&self.shared.engine).stored
    }

    /// Entries in the conductor's commit log (bounded by `keel_sim::conductor::LOG_CAPACITY`).
    pub fn conductor_log_len(&self) -> usize {
        lock(&self.shared.conductor).log.len()
    }

    /// `admin_postUnsafePayload` calls accepted by the follower.
    pub fn published_count(&self) -> usize {
        lock(&self.shared.published).len()
    }

    /// Block hashes received by the follower, in order.
    pub fn published_hashes(&self) -> Vec<B256> {
        lock(&self.shared.published).clone()
    }

    /// Authenticated calls of JSON-RPC `method` the engine received (while up).
    pub fn engine_calls(&self, method: &str) -> u64 {
        lock(&self.shared.engine_calls).get(method).copied().unwrap_or(0)
    }

    /// Engine requests rejected with HTTP 401.
    pub fn auth_failures(&self) -> u64 {
        self.shared.auth_failures.load(Ordering::SeqCst)
    }

    /// The L1 head.
    pub fn l1_head(&self) -> L1BlockRef {
        lock(&self.shared.l1).chain.head_ref()
    }

    /// Replaces the last `depth` L1 blocks (never genesis) with different ones.
    pub fn reorg_l1(&self, depth: u64) {
        let mut l1 = lock(&self.shared.l1);
        let L1State { chain, rng, .. } = &mut *l1;
        chain.reorg(depth, rng);
    }

    /// Stops the servers and the L1 producer and joins their threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for s in &self.servers {
            s.unblock();
        }
        // Dropping the sender wakes the producer at once.
        self.l1_stop.take();
        for s in self.servers.drain(..) {
            s.join();
        }
        if let Some(h) = self.l1_thread.take() {
            let _ = h.join();
        }
    }
}

impl Drop for FakeWorld {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for FakeWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeWorld")
            .field("l1", &self.urls[0])
            .field("engine", &self.urls[1])
            .field("conductor", &self.urls[2])
            .field("follower", &self.urls[3])
            .finish()
    }
}

/// Produces every L1 block whose slot the wall clock has reached; sleeps until the next slot (at most 1 s at a
/// time) or until the world stops.
fn l1_producer(shared: &Shared, stop: &crossbeam_channel::Receiver<()>) {
    loop {
        let wait_ms = {
            let mut l1 = lock(&shared.l1);
            let L1State { chain, rng, batcher } = &mut *l1;
            let now = now_ms();
            if chain.advance(now, rng) {
                log::debug!("fake L1 head {}", chain.head().number());
                // The batcher posts what the engine holds; its transactions land in the next L1 block.
                let engine = lock(&shared.engine);
                let safe = Some(engine.engine.heads().safe);
                batcher.tick(now, &engine.engine, safe, chain, rng);
            }
            chain.next_block_time().saturating_sub(now)
        };
        match stop.recv_timeout(Duration::from_millis(wait_ms.clamp(1, 1_000))) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}
