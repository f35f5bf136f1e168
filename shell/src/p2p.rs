//! The p2p node: unsafe-block gossip over rust-libp2p (TCP, noise, yamux; gossipsub, identify, ping), as op-node and
//! kona-node speak it on `/optimism/<chain id>/<n>/blocks`.
//!
//! libp2p is asynchronous; its runtime (a single-threaded tokio runtime) lives on this module's one thread and
//! nowhere else. The driver hands it sealed blocks through a bounded queue ([`P2p::publish`], which never blocks and
//! drops the oldest block when full) and receives validated blocks as [`Event::UnsafePayloadGossiped`] on its event
//! channel (a full channel drops the block and counts it: gossip never stalls the sequencer). The message codec and
//! the validator are [`crate::gossip`]'s; this module is the transport, the peer bookkeeping behind `opp2p_*`, static
//! peering, and the penalties for peers that send invalid blocks.
//!
//! The gossipsub parameters are op-node's (`BuildGlobalGossipParams`, `NewGossipSub`): mesh 8 (6..12, lazy 6),
//! 500 ms heartbeat, 24 s fanout TTL, history 12 / gossip 3, messages without author, sequence number or signature
//! (op-node's `StrictNoSign`), op-node's message id, seen-message TTL of 130 heartbeats, no peer exchange.

use crate::gossip::{self, BlockValidator, BlockVersion, Verdict};
use crate::metrics::Metrics;
use alloy_primitives::{keccak256, Address};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use k256::ecdsa::SigningKey;
use keel_core::{Event, OpExecutionPayloadEnvelope, Rollup};
use libp2p::futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{allow_block_list, gossipsub, identify, identity, noise, ping, tcp, yamux, Multiaddr, PeerId};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Sealed blocks waiting to be published; when full the oldest is dropped (a newer block supersedes it).
pub const PUBLISH_QUEUE: usize = 64;
/// Connected peers above which new inbound peers are disconnected (op-node `--p2p.peers.hi` default).
pub const DEFAULT_PEERS_HI: usize = 30;
/// Connected peers below which discovered peers are dialled (op-node `--p2p.peers.lo` default).
pub const DEFAULT_PEERS_LO: usize = 20;
/// Pause between discovery queries below the low-tide peer count, and above it.
pub const DISCOVERY_FAST: Duration = Duration::from_secs(5);
/// See [`DISCOVERY_FAST`].
pub const DISCOVERY_SLOW: Duration = Duration::from_secs(30);
/// Least time between two dials of the same discovered peer.
pub const DISCOVERY_REDIAL: Duration = Duration::from_secs(60);
/// Invalid messages (gossipsub `Reject`) a peer may send before it is banned.
pub const MAX_REJECTS: u32 = 10;
/// How long a banned peer stays banned (op-node `--p2p.ban.duration` default).
pub const DEFAULT_BAN_DURATION: Duration = Duration::from_secs(60 * 60);
/// Peers remembered after they disconnect (for `opp2p_peers(false)` and the `known` count).
pub const MAX_KNOWN_PEERS: usize = 256;
/// Banned peers remembered; the oldest ban is lifted first when more are banned.
pub const MAX_BANNED_PEERS: usize = 1_024;
/// First and longest pause between dials of a static peer that is not connected.
pub const STATIC_REDIAL: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));
/// op-node's gossipsub heartbeat.
pub const HEARTBEAT: Duration = Duration::from_millis(500);
/// User agent sent in identify.
pub const USER_AGENT: &str = concat!("keel/", env!("CARGO_PKG_VERSION"));
/// Identify protocol version (go-libp2p's default, which op-node sends).
pub const PROTOCOL_VERSION: &str = "ipfs/0.1.0";

/// Settings of the p2p node (`--p2p.*`).
#[derive(Clone)]
pub struct P2pConfig {
    /// Address to listen on (`--p2p.listen.ip`).
    pub listen_ip: IpAddr,
    /// TCP port (`--p2p.listen.tcp`; 0 = any free port).
    pub listen_tcp: u16,
    /// Listen on any free port when `listen_tcp` is taken (the default port, not one the operator chose).
    pub fallback_to_any_port: bool,
    /// Peers to connect to and stay connected to (`--p2p.static`), multiaddrs ending in `/p2p/<peer id>`.
    pub static_peers: Vec<Multiaddr>,
    /// The node's secp256k1 identity key.
    pub node_key: [u8; 32],
    /// Most connected peers (`--p2p.peers.hi`); static peers are always accepted.
    pub peers_hi: usize,
    /// How long a peer that sent invalid blocks stays banned (`--p2p.ban.duration`).
    pub ban_duration: Duration,
    /// The key sealed blocks are signed with before they are published (`--p2p.sequencer.key`); without it nothing
    /// is published.
    pub sequencer_key: Option<SigningKey>,
    /// Connected peers below which discovered peers are dialled (`--p2p.peers.lo`).
    pub peers_lo: usize,
    /// discv5 discovery (`None`: `--p2p.no-discovery`).
    pub discovery: Option<DiscoveryConfig>,
}

/// discv5 settings.
#[derive(Clone, Debug)]
pub struct DiscoveryConfig {
    /// UDP port (`--p2p.listen.udp`; 0: the TCP port).
    pub udp: u16,
    /// Nodes to start from (`--p2p.bootnodes`).
    pub bootnodes: Vec<crate::discovery::Bootnode>,
}

impl std::fmt::Debug for P2pConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P2pConfig")
            .field("listen_ip", &self.listen_ip)
            .field("listen_tcp", &self.listen_tcp)
            .field("static_peers", &self.static_peers)
            .field("peers_hi", &self.peers_hi)
            .field("ban_duration", &self.ban_duration)
            .field("sequencer_key", &self.sequencer_key.as_ref().map(|_| "<set>"))
            .field("peers_lo", &self.peers_lo)
            .field("discovery", &self.discovery)
            .finish_non_exhaustive()
    }
}

impl P2pConfig {
    /// Listening on `ip:tcp` with identity `node_key`, no static peers, op-node's limits, no sequencer key.
    pub fn new(listen_ip: IpAddr, listen_tcp: u16, node_key: [u8; 32]) -> Self {
        Self {
            listen_ip,
            listen_tcp,
            fallback_to_any_port: false,
            static_peers: Vec::new(),
            node_key,
            peers_hi: DEFAULT_PEERS_HI,
            ban_duration: DEFAULT_BAN_DURATION,
            sequencer_key: None,
            peers_lo: DEFAULT_PEERS_LO,
            discovery: None,
        }
    }

    /// The libp2p peer id of `node_key`.
    pub fn peer_id(&self) -> Result<PeerId, P2pError> {
        Ok(keypair(&self.node_key)?.public().to_peer_id())
    }
}

/// Why the p2p node could not start or a setting is wrong.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    /// A key that is not a secp256k1 private key.
    #[error("invalid p2p key: {0}")]
    Key(String),
    /// The key file could not be read or written.
    #[error("p2p key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A static peer address that is not a multiaddr with a peer id.
    #[error("invalid static peer {addr:?}: {reason}")]
    StaticPeer {
        /// The address as given.
        addr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A bootnode that is not an ENR.
    #[error("invalid bootnode {0}")]
    Bootnode(String),
    /// libp2p refused to start (listen address in use, bad configuration).
    #[error("p2p: {0}")]
    Start(String),
}

/// Reads a hex secp256k1 private key (`0x` optional, surrounding whitespace ignored), as in op-node's key files and
/// `--p2p.sequencer.key`.
pub fn parse_key(hex_key: &str) -> Result<[u8; 32], P2pError> {
    let s = hex_key.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    let bytes = alloy_primitives::hex::decode(s).map_err(|e| P2pError::Key(format!("not hex: {e}")))?;
    let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| P2pError::Key(format!("{} bytes, want 32", b.len())))?;
    SigningKey::from_bytes(&key.into()).map_err(|_| P2pError::Key("not a valid secp256k1 scalar".into()))?;
    Ok(key)
}

/// The node key persisted at `path` (op-node's `--p2p.priv.path`: the hex private key on one line); a missing or
/// empty file gets a fresh key, written with mode 0600.
pub fn load_or_create_key(path: &Path) -> Result<[u8; 32], P2pError> {
    let file_err = |reason: String| P2pError::KeyFile { path: path.display().to_string(), reason };
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => parse_key(&s),
        Ok(_) => create_key(path).map_err(file_err),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key(path).map_err(file_err),
        Err(e) => Err(file_err(e.to_string())),
    }
}

fn create_key(path: &Path) -> Result<[u8; 32], String> {
    let key = random_key().map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    use std::io::Write;
    let mut f = opts.open(path).map_err(|e| e.to_string())?;
    f.write_all(alloy_primitives::hex::encode(key).as_bytes()).map_err(|e| e.to_string())?;
    log::info!("generated a new p2p node key in {}", path.display());
    Ok(key)
}

/// A fresh secp256k1 private key from the operating system's randomness.
pub fn random_key() -> Result<[u8; 32], P2pError> {
    loop {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| P2pError::Key(format!("no randomness: {e}")))?;
        if SigningKey::from_bytes(&key.into()).is_ok() {
            return Ok(key);
        }
    }
}

fn keypair(key: &[u8; 32]) -> Result<identity::Keypair, P2pError> {
    let mut bytes = *key;
    let secret =
        identity::secp256k1::SecretKey::try_from_bytes(&mut bytes).map_err(|e| P2pError::Key(e.to_string()))?;
    Ok(identity::secp256k1::Keypair::from(secret).into())
}

/// Reads a static peer address: a multiaddr ending in `/p2p/<peer id>`.
pub fn parse_static_peer(s: &str) -> Result<Multiaddr, P2pError> {
    let err = |reason: &str| P2pError::StaticPeer { addr: s.to_string(), reason: reason.to_string() };
    let addr: Multiaddr = s.trim().parse().map_err(|e: libp2p::multiaddr::Error| err(&e.to_string()))?;
    if peer_of(&addr).is_none() {
        return Err(err("no /p2p/<peer id> at the end"));
    }
    Ok(addr)
}

fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

/// What `opp2p_*` reports about one peer.
#[derive(Clone, Debug, Default)]
pub struct PeerStatus {
    /// The addresses the peer is connected on or announced.
    pub addresses: BTreeSet<String>,
    /// Protocols from identify.
    pub protocols: Vec<String>,
    /// Agent version from identify.
    pub user_agent: String,
    /// Protocol version from identify.
    pub protocol_version: String,
    /// 1 inbound, 2 outbound (op-node's `network.Direction`).
    pub direction: u8,
    /// Ping round trip.
    pub latency: Duration,
    /// Block topic versions the peer subscribes to.
    pub topics: BTreeSet<u8>,
    /// Open connections.
    pub connections: u32,
    /// Invalid messages received from it.
    pub rejected: u32,
    /// A static peer (always kept).
    pub protected: bool,
}

/// The p2p node's state as the RPC server reads it.
#[derive(Clone, Debug, Default)]
pub struct P2pStatus {
    /// This node's peer id.
    pub peer_id: String,
    /// This node's enode id (keccak256 of the uncompressed public key).
    pub node_id: String,
    /// Addresses the node listens on, each ending in `/p2p/<peer id>`.
    pub listen: Vec<String>,
    /// Known peers (connected, or recently).
    pub peers: BTreeMap<PeerId, PeerStatus>,
    /// Banned peers and when their ban ends.
    pub banned: BTreeMap<PeerId, Instant>,
    /// The chain id.
    pub chain_id: u64,
    /// The node's ENR (empty without discovery).
    pub enr: String,
    /// Records in the discovery table.
    pub table: usize,
}

impl P2pStatus {
    fn connected(&self) -> usize {
        self.peers.values().filter(|p| p.connections > 0).count()
    }

    /// `opp2p_self`.
    pub fn self_json(&self) -> Value {
        json!({
            "peerID": self.peer_id,
            "nodeID": self.node_id,
            "userAgent": USER_AGENT,
            "protocolVersion": PROTOCOL_VERSION,
            "ENR": self.enr,
            "addresses": self.listen,
            "protocols": Value::Null,
            "connectedness": 0,
            "direction": 0,
            "protected": false,
            "chainID": self.chain_id,
            "latency": 0,
            "gossipBlocks": true,
            "peerScores": peer_scores_json(),
        })
    }

    fn peer_json(&self, id: &PeerId, p: &PeerStatus) -> Value {
        json!({
            "peerID": id.to_string(),
            "nodeID": node_id_of(id).unwrap_or_default(),
            "userAgent": p.user_agent,
            "protocolVersion": p.protocol_version,
            "ENR": "",
            "addresses": p.addresses.iter().collect::<Vec<_>>(),
            "protocols": p.protocols,
            // op-node's network.Connectedness: 0 not connected, 1 connected.
            "connectedness": u8::from(p.connections > 0),
            "direction": p.direction,
            "protected": p.protected,
            "chainID": if p.topics.is_empty() { 0 } else { self.chain_id },
            "latency": u64::try_from(p.latency.as_nanos()).unwrap_or(u64::MAX),
            "gossipBlocks": !p.topics.is_empty(),
            "peerScores": peer_scores_json(),
        })
    }

    /// `opp2p_peers(connected)`: every known peer, or only connected ones.
    pub fn peers_json(&self, connected_only: bool) -> Value {
        let peers: serde_json::Map<String, Value> = self
            .peers
            .iter()
            .filter(|(_, p)| !connected_only || p.connections > 0)
            .map(|(id, p)| (id.to_string(), self.peer_json(id, p)))
            .collect();
        json!({
            "totalConnected": self.connected(),
            "peers": peers,
            "bannedPeers": self.banned.keys().map(|p| p.to_string()).collect::<Vec<_>>(),
            "bannedIPS": [],
            "bannedSubnets": [],
        })
    }

    /// `opp2p_peerStats`: connected peers, peers per block topic, banned and known peers.
    pub fn peer_stats_json(&self) -> Value {
        let on = |v: u8| self.peers.values().filter(|p| p.connections > 0 && p.topics.contains(&v)).count();
        json!({
            "connected": self.connected(),
            "table": self.table,
            "blocksTopic": on(0),
            "blocksTopicV2": on(1),
            "blocksTopicV3": on(2),
            "blocksTopicV4": on(3),
            "banned": self.banned.len(),
            "known": self.peers.len(),
        })
    }
}

/// op-node's score report shape; Keel does not run gossipsub peer scoring, so every score is zero.
fn peer_scores_json() -> Value {
    json!({
        "gossip": {"total": 0.0, "blocks": {"timeInMesh": 0.0, "firstMessageDeliveries": 0.0,
            "meshMessageDeliveries": 0.0, "invalidMessageDeliveries": 0.0},
            "IPColocationFactor": 0.0, "behavioralPenalty": 0.0},
        "reqResp": {"validResponses": 0.0, "errorResponses": 0.0, "rejectedPayloads": 0.0},
    })
}

/// The enode id of a secp256k1 peer id: keccak256 of the uncompressed public key without its prefix byte.
fn node_id_of(id: &PeerId) -> Option<String> {
    let mh = id.as_ref();
    if mh.code() != 0 {
        return None; // not an identity multihash: the key is not inline
    }
    let public = identity::PublicKey::try_decode_protobuf(mh.digest()).ok()?;
    let secp = public.try_into_secp256k1().ok()?;
    let uncompressed = secp.to_bytes_uncompressed();
    Some(format!("{:x}", keccak256(&uncompressed[1..])))
}

/// The SystemConfig storage slot holding the unsafe block signer: `keccak256("systemconfig.unsafeblocksigner")`
/// (op-node `UnsafeBlockSignerAddressSystemConfigStorageSlot`).
pub fn unsafe_block_signer_slot() -> alloy_primitives::B256 {
    keccak256("systemconfig.unsafeblocksigner")
}

/// How often the unsafe block signer is read again from L1 (op-node `--l1.runtime-config-reload-interval`).
pub const SIGNER_RELOAD: Duration = Duration::from_secs(10 * 60);

/// Reads the unsafe block signer from the SystemConfig contract at `system_config` on L1 (`eth_getStorageAt` of
/// [`unsafe_block_signer_slot`] at the latest block), now and every [`SIGNER_RELOAD`], into `signer`; failures are
/// retried with backoff and the last known signer stays in force.
pub fn spawn_signer_reader(
    l1: Arc<crate::rpc::RpcClient>,
    system_config: Address,
    signer: Arc<RwLock<Address>>,
    stop: crate::workers::Stop,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("keel-p2p-signer".into()).spawn(move || {
        let mut backoff = keel_core::backoff::Backoff::default();
        let slot = unsafe_block_signer_slot();
        while !stop.is_stopped() {
            let read = l1
                .call("eth_getStorageAt", json!([system_config, slot, "latest"]))
                .map_err(|e| e.to_string())
                .and_then(|v| {
                    let word: alloy_primitives::B256 = serde_json::from_value(v.clone())
                        .map_err(|e| format!("eth_getStorageAt answered {v}, not a 32-byte word: {e}"))?;
                    Ok(Address::from_word(word))
                });
            let delay = match read {
                Ok(addr) => {
                    backoff.reset();
                    let mut cur = signer.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                    if *cur != addr {
                        log::info!("unsafe block signer {addr} (SystemConfig {system_config} on L1)");
                        *cur = addr;
                    }
                    SIGNER_RELOAD
                }
                Err(e) => {
                    log::warn!("reading the unsafe block signer from SystemConfig {system_config} on L1: {e}");
                    Duration::from_millis(backoff.next_delay(1_000, 60_000))
                }
            };
            stop.sleep(delay);
        }
    })
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

/// What the p2p thread sends back once it has bound its listener.
type Started = Result<Vec<Multiaddr>, P2pError>;

/// A running p2p node.
pub struct P2p {
    queue_tx: Sender<(Instant, Arc<OpExecutionPayloadEnvelope>)>,
    queue_rx: Receiver<(Instant, Arc<OpExecutionPayloadEnvelope>)>,
    wake: Arc<tokio::sync::Notify>,
    stop: Arc<tokio::sync::Notify>,
    status: Arc<Mutex<P2pStatus>>,
    signer: Arc<RwLock<Address>>,
    metrics: Metrics,
    peer_id: PeerId,
    listen: Vec<Multiaddr>,
    thread: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl P2p {
    /// Starts the p2p thread, binds the TCP listener and returns once it listens (or with the reason it cannot).
    /// Validated blocks go to `events`; `signer` is the unsafe block signer blocks must be signed by (zero: none
    /// known yet, every block is ignored).
    pub fn start(
        cfg: P2pConfig,
        rollup: Arc<Rollup>,
        signer: Arc<RwLock<Address>>,
        events: Sender<Event>,
        metrics: Metrics,
    ) -> Result<P2p, P2pError> {
        let key = keypair(&cfg.node_key)?;
        let peer_id = key.public().to_peer_id();
        let (queue_tx, queue_rx) = crossbeam_channel::bounded(PUBLISH_QUEUE);
        let wake = Arc::new(tokio::sync::Notify::new());
        let stop = Arc::new(tokio::sync::Notify::new());
        let chain_id = rollup.l2_chain_id.id();
        let status = Arc::new(Mutex::new(P2pStatus {
            peer_id: peer_id.to_string(),
            node_id: node_id_of(&peer_id).unwrap_or_default(),
            chain_id,
            ..Default::default()
        }));
        let (started_tx, started_rx) = crossbeam_channel::bounded::<Started>(1);
        let worker = Worker {
            cfg,
            rollup,
            signer: signer.clone(),
            events,
            metrics: metrics.clone(),
            queue: queue_rx.clone(),
            status: status.clone(),
            validator: BlockValidator::new(),
            statics: HashMap::new(),
            dialled: HashMap::new(),
        };
        let (w, s) = (wake.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("keel-p2p".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = started_tx.send(Err(P2pError::Start(format!("tokio runtime: {e}"))));
                        return;
                    }
                };
                rt.block_on(worker.run(key, w, s, started_tx));
            })
            .map_err(|e| P2pError::Start(format!("spawning the p2p thread: {e}")))?;
        let listen = match started_rx.recv() {
            Ok(Ok(addrs)) => addrs,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(P2pError::Start("the p2p thread exited while starting".into()));
            }
        };
        log::info!(
            "p2p listening peer_id={peer_id} addrs=[{}] topics=/optimism/{chain_id}/0..3/blocks",
            listen.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
        );
        Ok(P2p { queue_tx, queue_rx, wake, stop, status, signer, metrics, peer_id, listen, thread: Some(thread) })
    }

    /// Queues a sealed block for publishing; never blocks (when the queue is full the oldest block is dropped).
    pub fn publish(&self, envelope: Arc<OpExecutionPayloadEnvelope>) {
        let mut item = (Instant::now(), envelope);
        loop {
            match self.queue_tx.try_send(item) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    if self.queue_rx.try_recv().is_ok() {
                        self.metrics.inc(
                            "keel_p2p_publish_dropped_total",
                            "Blocks dropped from the gossip publish queue",
                            &[],
                            1.0,
                        );
                    }
                    item = back;
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
        self.wake.notify_one();
    }

    /// A snapshot of the peer bookkeeping (for `opp2p_*`).
    pub fn status(&self) -> Arc<Mutex<P2pStatus>> {
        self.status.clone()
    }

    /// The unsafe block signer received blocks are checked against.
    pub fn signer(&self) -> Arc<RwLock<Address>> {
        self.signer.clone()
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The addresses it listens on, each ending in `/p2p/<peer id>` (what another node's `--p2p.static` takes).
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen
    }

    /// Stops the thread (closing every connection) and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for P2p {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A static peer's dial schedule.
struct StaticPeer {
    addr: Multiaddr,
    next_dial: Instant,
    pause: Duration,
}

/// The p2p thread's state.
struct Worker {
    cfg: P2pConfig,
    rollup: Arc<Rollup>,
    signer: Arc<RwLock<Address>>,
    events: Sender<Event>,
    metrics: Metrics,
    queue: Receiver<(Instant, Arc<OpExecutionPayloadEnvelope>)>,
    status: Arc<Mutex<P2pStatus>>,
    validator: BlockValidator,
    statics: HashMap<PeerId, StaticPeer>,
    /// When each discovered peer was last dialled.
    dialled: HashMap<PeerId, Instant>,
}

const VERSIONS: [BlockVersion; 4] = [BlockVersion::V1, BlockVersion::V2, BlockVersion::V3, BlockVersion::V4];

fn listen_addr(ip: IpAddr, port: u16) -> Multiaddr {
    let ip = match ip {
        IpAddr::V4(ip) => libp2p::multiaddr::Protocol::Ip4(ip),
        IpAddr::V6(ip) => libp2p::multiaddr::Protocol::Ip6(ip),
    };
    Multiaddr::empty().with(ip).with(libp2p::multiaddr::Protocol::Tcp(port))
}

fn gossip_config() -> Result<gossipsub::Config, String> {
    gossipsub::ConfigBuilder::default()
        .mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(12)
        .gossip_lazy(6)
        .heartbeat_interval(HEARTBEAT)
        .fanout_ttl(Duration::from_secs(24))
        .history_length(12)
        .history_gossip(3)
        .duplicate_cache_time(HEARTBEAT * 130)
        // A compressed message never exceeds what snappy makes of the 10 MiB limit; frames carry a little more.
        .max_transmit_size(snap::raw::max_compress_len(gossip::MAX_GOSSIP_SIZE) + 1024)
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .validate_messages()
        .support_floodsub()
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(gossip::message_id(m.topic.as_str(), &m.data))
        })
        .build()
        .map_err(|e| e.to_string())
}

impl Worker {
    async fn run(
        mut self,
        key: identity::Keypair,
        wake: Arc<tokio::sync::Notify>,
        stop: Arc<tokio::sync::Notify>,
        started: Sender<Started>,
    ) {
        let mut swarm = match self.swarm(key) {
            Ok(s) => s,
            Err(e) => {
                let _ = started.send(Err(e));
                return;
            }
        };
        // Wait for the listener to bind (or fail) before reporting back.
        let mut listen = Vec::new();
        let deadline = tokio::time::sleep(Duration::from_secs(5));
        tokio::pin!(deadline);
        let mut fallback = self.cfg.fallback_to_any_port && self.cfg.listen_tcp != 0;
        while listen.is_empty() {
            tokio::select! {
                ev = swarm.select_next_some() => match ev {
                    SwarmEvent::NewListenAddr { address, .. } => listen.push(address),
                    SwarmEvent::ListenerError { error, .. } | SwarmEvent::ListenerClosed { reason: Err(error), .. } => {
                        if std::mem::take(&mut fallback) {
                            log::warn!(
                                "p2p port {} unavailable ({error}); listening on a free port instead",
                                self.cfg.listen_tcp
                            );
                            if let Err(e) = swarm.listen_on(listen_addr(self.cfg.listen_ip, 0)) {
                                let _ = started.send(Err(P2pError::Start(format!("listening: {e}"))));
                                return;
                            }
                            continue;
                        }
                        let tcp = self.cfg.listen_tcp;
                        let _ = started.send(Err(P2pError::Start(format!("listening on TCP port {tcp}: {error}"))));
                        return;
                    }
                    other => self.on_event(&mut swarm, other),
                },
                _ = &mut deadline => {
                    let _ = started.send(Err(P2pError::Start("no listen address within 5 s".into())));
                    return;
                }
            }
        }
        let me = *swarm.local_peer_id();
        let with_id: Vec<Multiaddr> = listen.iter().map(|a| a.clone().with_p2p(me).unwrap_or_else(|a| a)).collect();
        lock(&self.status).listen = with_id.iter().map(|a| a.to_string()).collect();
        let _ = started.send(Ok(with_id));

        let discovery = match self.cfg.discovery.clone() {
            Some(d) => self.start_discovery(&d, &listen).await,
            None => None,
        };
        let (enr_tx, mut enr_rx) = tokio::sync::mpsc::channel::<discv5::Enr>(64);
        let discovery = discovery.map(|(d, requests)| {
            for r in requests {
                let tx = enr_tx.clone();
                tokio::spawn(async move {
                    match r.await {
                        Ok(enr) => {
                            let _ = tx.send(enr).await;
                        }
                        Err(e) => log::warn!("an enode bootnode did not send its record: {e:?}"),
                    }
                });
            }
            d
        });
        let mut query: Option<crate::discovery::Query> = None;
        let mut next_query = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                ev = swarm.select_next_some() => self.on_event(&mut swarm, ev),
                _ = wake.notified() => self.publish_queued(&mut swarm),
                _ = tick.tick() => {
                    self.maintain(&mut swarm);
                    if let Some(d) = &discovery {
                        lock(&self.status).table = d.table_len();
                        let connected = lock(&self.status).connected();
                        if query.is_none() && Instant::now() >= next_query && connected < self.cfg.peers_hi {
                            query = Some(d.random_query());
                            let pause = if connected < self.cfg.peers_lo { DISCOVERY_FAST } else { DISCOVERY_SLOW };
                            next_query = Instant::now() + pause;
                        }
                    }
                }
                found = async { query.as_mut().expect("guarded by is_some").await }, if query.is_some() => {
                    query = None;
                    if let Some(d) = &discovery {
                        let found = found.unwrap_or_else(|e| {
                            log::debug!("discv5 query: {e}");
                            Vec::new()
                        });
                        self.dial_discovered(&mut swarm, d.candidates(found));
                    }
                }
                Some(enr) = enr_rx.recv() => {
                    if let Some(d) = &discovery {
                        log::info!("bootnode record {}", enr.to_base64());
                        d.add(enr);
                    }
                }
                _ = stop.notified() => break,
            }
        }
        log::info!("p2p stopped");
    }

    /// Starts discv5 on the configured UDP port (0: the TCP port the listener got). A failure leaves the node
    /// running without discovery, on its static peers and inbound connections.
    async fn start_discovery(
        &mut self,
        d: &DiscoveryConfig,
        listen: &[Multiaddr],
    ) -> Option<(crate::discovery::Discovery, Vec<crate::discovery::EnrRequest>)> {
        let tcp = listen
            .iter()
            .find_map(|a| {
                a.iter().find_map(|p| match p {
                    libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
                    _ => None,
                })
            })
            .unwrap_or(self.cfg.listen_tcp);
        let udp = if d.udp == 0 { tcp } else { d.udp };
        let chain_id = self.rollup.l2_chain_id.id();
        match crate::discovery::Discovery::start(
            &self.cfg.node_key,
            self.cfg.listen_ip,
            udp,
            tcp,
            chain_id,
            &d.bootnodes,
        )
        .await
        {
            Ok((disc, requests)) => {
                let enr = disc.local_enr();
                log::info!("discv5 on UDP {}:{udp} enr={enr} bootnodes={}", self.cfg.listen_ip, d.bootnodes.len());
                lock(&self.status).enr = enr;
                Some((disc, requests))
            }
            Err(e) => {
                log::error!("discv5 discovery not running: {e}; peers come from --p2p.static and inbound connections");
                None
            }
        }
    }

    /// Dials discovered peers of this chain while below the low-tide peer count, each at most once a minute.
    fn dial_discovered(&mut self, swarm: &mut libp2p::Swarm<Behaviour>, found: Vec<(PeerId, Multiaddr)>) {
        let me = *swarm.local_peer_id();
        let now = Instant::now();
        if self.dialled.len() > MAX_KNOWN_PEERS * 4 {
            self.dialled.retain(|_, at| now.duration_since(*at) < DISCOVERY_REDIAL);
        }
        for (peer, addr) in found {
            let (connected, banned) = {
                let st = lock(&self.status);
                (st.connected(), st.banned.contains_key(&peer))
            };
            if connected >= self.cfg.peers_lo {
                break;
            }
            if peer == me || banned || swarm.is_connected(&peer) {
                continue;
            }
            if self.dialled.get(&peer).is_some_and(|at| now.duration_since(*at) < DISCOVERY_REDIAL) {
                continue;
            }
            self.dialled.insert(peer, now);
            log::debug!("dialing discovered peer {addr}");
            if let Err(e) = swarm.dial(addr.clone()) {
                log::debug!("dialing {addr}: {e}");
            }
        }
    }

    fn swarm(&mut self, key: identity::Keypair) -> Result<libp2p::Swarm<Behaviour>, P2pError> {
        let start = |e: String| P2pError::Start(e);
        let gossip_cfg = gossip_config().map_err(start)?;
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
            .map_err(|e| start(format!("tcp transport: {e}")))?
            .with_behaviour(|key| {
                let gossipsub = gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gossip_cfg)?;
                let identify = identify::Behaviour::new(
                    identify::Config::new(PROTOCOL_VERSION.into(), key.public()).with_agent_version(USER_AGENT.into()),
                );
                Ok(Behaviour {
                    blocked: Default::default(),
                    gossipsub,
                    identify,
                    ping: ping::Behaviour::new(ping::Config::new()),
                })
            })
            .map_err(|e| start(format!("gossipsub: {e}")))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        let chain_id = self.rollup.l2_chain_id.id();
        for v in VERSIONS {
            swarm
                .behaviour_mut()
                .gossipsub
                .subscribe(&gossipsub::IdentTopic::new(v.topic(chain_id)))
                .map_err(|e| start(format!("subscribing to {}: {e}", v.topic(chain_id))))?;
        }
        let addr = listen_addr(self.cfg.listen_ip, self.cfg.listen_tcp);
        if let Err(e) = swarm.listen_on(addr.clone()) {
            if !(self.cfg.fallback_to_any_port && self.cfg.listen_tcp != 0) {
                return Err(start(format!("listening on {addr}: {e}")));
            }
            log::warn!("p2p: cannot listen on {addr} ({e}); listening on a free port instead");
            let any = listen_addr(self.cfg.listen_ip, 0);
            swarm.listen_on(any.clone()).map_err(|e| start(format!("listening on {any}: {e}")))?;
        }
        let now = Instant::now();
        for addr in &self.cfg.static_peers {
            if let Some(peer) = peer_of(addr) {
                self.statics.insert(peer, StaticPeer { addr: addr.clone(), next_dial: now, pause: STATIC_REDIAL.0 });
                swarm.behaviour_mut().gossipsub.add_explicit_peer(&peer);
                lock(&self.status).peers.entry(peer).or_default().protected = true;
            }
        }
        Ok(swarm)
    }

    fn count(&self, name: &'static str, help: &'static str, labels: &[(&'static str, &str)]) {
        self.metrics.inc(name, help, labels, 1.0);
    }

    fn publish_queued(&mut self, swarm: &mut libp2p::Swarm<Behaviour>) {
        while let Ok((queued_at, envelope)) = self.queue.try_recv() {
            let Some(key) = &self.cfg.sequencer_key else {
                continue;
            };
            let p = envelope.execution_payload.as_v1();
            let (number, timestamp) = (p.block_number, p.timestamp);
            let version = BlockVersion::at(&self.rollup, timestamp);
            let chain_id = self.rollup.l2_chain_id.id();
            let data = match gossip::encode(&envelope, chain_id, key) {
                Ok(d) => d,
                Err(e) => {
                    log::error!("cannot encode block {number} for gossip: {e}");
                    continue;
                }
            };
            let topic = gossipsub::IdentTopic::new(version.topic(chain_id));
            match swarm.behaviour_mut().gossipsub.publish(topic, data) {
                Ok(_) => {
                    self.count("keel_p2p_published_total", "Blocks published over gossip", &[]);
                    self.metrics.observe(
                        "keel_p2p_publish_delay_seconds",
                        "Time from sealing to handing the block to gossipsub",
                        &[],
                        queued_at.elapsed().as_secs_f64(),
                    );
                    log::debug!("published block {number} on {}", version.topic(chain_id));
                }
                Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                    self.count("keel_p2p_publish_no_peers_total", "Blocks not published: no peer on the topic", &[]);
                    log::debug!("block {number} not published: no peers on {}", version.topic(chain_id));
                }
                Err(e) => {
                    self.count("keel_p2p_publish_failed_total", "Blocks gossipsub refused to publish", &[]);
                    log::warn!("publishing block {number}: {e}");
                }
            }
        }
    }

    fn maintain(&mut self, swarm: &mut libp2p::Swarm<Behaviour>) {
        let now = Instant::now();
        // Lift expired bans.
        let expired: Vec<PeerId> =
            lock(&self.status).banned.iter().filter(|(_, until)| **until <= now).map(|(p, _)| *p).collect();
        for p in expired {
            swarm.behaviour_mut().blocked.unblock_peer(p);
            lock(&self.status).banned.remove(&p);
            log::info!("p2p ban of {p} lifted");
        }
        // Redial static peers that are not connected, backing off.
        for (peer, sp) in self.statics.iter_mut() {
            if swarm.is_connected(peer) || sp.next_dial > now {
                continue;
            }
            if let Err(e) = swarm.dial(sp.addr.clone()) {
                log::debug!("dialing static peer {}: {e}", sp.addr);
            }
            sp.next_dial = now + sp.pause;
            sp.pause = (sp.pause * 2).min(STATIC_REDIAL.1);
        }
        let st = lock(&self.status);
        self.metrics.set("keel_p2p_peers", "Connected p2p peers", &[], st.connected() as f64);
        self.metrics.set("keel_p2p_banned_peers", "Banned p2p peers", &[], st.banned.len() as f64);
    }

    fn on_event(&mut self, swarm: &mut libp2p::Swarm<Behaviour>, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => {
                let protected = self.statics.contains_key(&peer_id);
                let mut st = lock(&self.status);
                if !protected
                    && st.connected() >= self.cfg.peers_hi
                    && st.peers.get(&peer_id).is_none_or(|p| p.connections == 0)
                {
                    drop(st);
                    log::debug!("p2p peer limit {} reached: disconnecting {peer_id}", self.cfg.peers_hi);
                    let _ = swarm.disconnect_peer_id(peer_id);
                    return;
                }
                let p = st.peers.entry(peer_id).or_default();
                p.connections += 1;
                p.protected = protected;
                p.direction = if endpoint.is_dialer() { 2 } else { 1 };
                p.addresses.insert(endpoint.get_remote_address().to_string());
                drop(st);
                if let Some(sp) = self.statics.get_mut(&peer_id) {
                    sp.pause = STATIC_REDIAL.0;
                }
                log::info!("p2p peer connected {peer_id} {}", endpoint.get_remote_address());
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established, cause, .. } => {
                let mut st = lock(&self.status);
                if let Some(p) = st.peers.get_mut(&peer_id) {
                    p.connections = num_established;
                    if num_established == 0 {
                        p.topics.clear();
                    }
                }
                // Forget the oldest disconnected peers beyond the bound.
                while st.peers.len() > MAX_KNOWN_PEERS {
                    let Some(old) =
                        st.peers.iter().find(|(_, p)| p.connections == 0 && !p.protected).map(|(id, _)| *id)
                    else {
                        break;
                    };
                    st.peers.remove(&old);
                }
                if num_established == 0 {
                    log::info!(
                        "p2p peer disconnected {peer_id}: {}",
                        cause.map(|c| c.to_string()).unwrap_or("closed".into())
                    );
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                log::debug!("p2p dial of {peer_id:?} failed: {error}");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                let mut st = lock(&self.status);
                if let Some(p) = st.peers.get_mut(&peer_id) {
                    p.user_agent = info.agent_version;
                    p.protocol_version = info.protocol_version;
                    p.protocols = info.protocols.iter().map(|s| s.to_string()).collect();
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { peer, result: Ok(rtt), .. })) => {
                if let Some(p) = lock(&self.status).peers.get_mut(&peer) {
                    p.latency = rtt;
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(ev)) => self.on_gossip(swarm, ev),
            _ => {}
        }
    }

    fn topic_version(&self, topic: &gossipsub::TopicHash) -> Option<BlockVersion> {
        let chain_id = self.rollup.l2_chain_id.id();
        VERSIONS.into_iter().find(|v| v.topic(chain_id) == topic.as_str())
    }

    fn on_gossip(&mut self, swarm: &mut libp2p::Swarm<Behaviour>, ev: gossipsub::Event) {
        match ev {
            gossipsub::Event::Subscribed { peer_id, topic } => {
                if let Some(v) = self.topic_version(&topic) {
                    lock(&self.status).peers.entry(peer_id).or_default().topics.insert(v.number());
                }
            }
            gossipsub::Event::Unsubscribed { peer_id, topic } => {
                if let (Some(v), Some(p)) = (self.topic_version(&topic), lock(&self.status).peers.get_mut(&peer_id)) {
                    p.topics.remove(&v.number());
                }
            }
            gossipsub::Event::Message { propagation_source: from, message_id, message } => {
                let received = "keel_p2p_messages_received_total";
                let help = "Gossip messages received, by validation result";
                let (acceptance, result) = match self.topic_version(&message.topic) {
                    None => (
                        gossipsub::MessageAcceptance::Reject,
                        Verdict::Reject(format!("unknown topic {}", message.topic)),
                    ),
                    Some(version) => {
                        let signer = *self.signer.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                        let v = self.validator.validate(
                            &message.data,
                            version,
                            crate::driver::now_ms() / 1000,
                            &self.rollup,
                            signer,
                        );
                        let a = match &v {
                            Verdict::Accept(_) => gossipsub::MessageAcceptance::Accept,
                            Verdict::Ignore(_) => gossipsub::MessageAcceptance::Ignore,
                            Verdict::Reject(_) => gossipsub::MessageAcceptance::Reject,
                        };
                        (a, v)
                    }
                };
                swarm.behaviour_mut().gossipsub.report_message_validation_result(&message_id, &from, acceptance);
                match result {
                    Verdict::Accept(envelope) => {
                        self.count(received, help, &[("result", "accept")]);
                        let p = envelope.execution_payload.as_v1();
                        log::debug!("gossip block {} {:#x} from {from}", p.block_number, p.block_hash);
                        match self.events.try_send(Event::UnsafePayloadGossiped(Arc::from(envelope))) {
                            Ok(()) => {}
                            Err(TrySendError::Full(_)) => {
                                self.count(
                                    "keel_p2p_import_dropped_total",
                                    "Gossiped blocks dropped: the driver was busy",
                                    &[],
                                );
                                log::warn!("driver busy: dropping a gossiped block");
                            }
                            Err(TrySendError::Disconnected(_)) => {}
                        }
                    }
                    Verdict::Ignore(why) => {
                        self.count(received, help, &[("result", "ignore")]);
                        log::debug!("ignoring gossip from {from}: {why}");
                    }
                    Verdict::Reject(why) => {
                        self.count(received, help, &[("result", "reject")]);
                        log::warn!("rejecting gossip from {from}: {why}");
                        self.penalise(swarm, from);
                    }
                }
            }
            _ => {}
        }
    }

    /// Counts an invalid message against `peer`; at [`MAX_REJECTS`] the peer is banned for the ban duration.
    fn penalise(&mut self, swarm: &mut libp2p::Swarm<Behaviour>, peer: PeerId) {
        if self.statics.contains_key(&peer) {
            return; // static peers are kept whatever they send; their messages are still rejected
        }
        let mut st = lock(&self.status);
        let rejected = {
            let p = st.peers.entry(peer).or_default();
            p.rejected += 1;
            p.rejected
        };
        if rejected < MAX_REJECTS {
            return;
        }
        while st.banned.len() >= MAX_BANNED_PEERS {
            let Some(oldest) = st.banned.iter().min_by_key(|(_, t)| **t).map(|(p, _)| *p) else { break };
            st.banned.remove(&oldest);
            swarm.behaviour_mut().blocked.unblock_peer(oldest);
        }
        st.banned.insert(peer, Instant::now() + self.cfg.ban_duration);
        if let Some(p) = st.peers.get_mut(&peer) {
            p.rejected = 0;
        }
        drop(st);
        swarm.behaviour_mut().blocked.block_peer(peer);
        self.count("keel_p2p_peers_banned_total", "Peers banned for sending invalid blocks", &[]);
        log::warn!("p2p peer {peer} banned for {:?} after {MAX_REJECTS} invalid messages", self.cfg.ban_duration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_with_or_without_prefix_and_refuse_garbage() {
        let k = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        assert_eq!(parse_key(k).unwrap(), parse_key(&format!("0x{k}\n")).unwrap());
        assert!(matches!(parse_key("0x1234"), Err(P2pError::Key(_))));
        assert!(matches!(parse_key("zz"), Err(P2pError::Key(_))));
        assert!(matches!(parse_key(&"00".repeat(32)), Err(P2pError::Key(_))), "zero is not a valid key");
    }

    #[test]
    fn a_key_file_is_created_once_and_read_back() {
        let dir = std::env::temp_dir().join(format!("keel-p2p-key-{}", std::process::id()));
        let path = dir.join("opnode_p2p_priv.txt");
        let _ = std::fs::remove_file(&path);
        let a = load_or_create_key(&path).unwrap();
        let b = load_or_create_key(&path).unwrap();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(load_or_create_key(&path), Err(P2pError::Key(_))));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn static_peers_need_a_peer_id() {
        let id = P2pConfig::new([127, 0, 0, 1].into(), 0, random_key().unwrap()).peer_id().unwrap();
        assert!(parse_static_peer(&format!("/ip4/127.0.0.1/tcp/9222/p2p/{id}")).is_ok());
        assert!(matches!(parse_static_peer("/ip4/127.0.0.1/tcp/9222"), Err(P2pError::StaticPeer { .. })));
        assert!(matches!(parse_static_peer("127.0.0.1:9222"), Err(P2pError::StaticPeer { .. })));
    }

    #[test]
    fn the_signer_slot_is_op_nodes() {
        // op-node rollup/derive/system_config.go, UnsafeBlockSignerAddressSystemConfigStorageSlot.
        assert_eq!(
            unsafe_block_signer_slot(),
            alloy_primitives::b256!("0x65a7ed542fb37fe237fdfbdd70b31598523fe5b32879e307bae27a0bd9581c08")
        );
    }

    #[test]
    fn node_id_is_keccak_of_the_uncompressed_public_key() {
        // anvil's first key: its address is the last 20 bytes of the same hash, a known value.
        let key = parse_key("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80").unwrap();
        let id = keypair(&key).unwrap().public().to_peer_id();
        let node_id = node_id_of(&id).unwrap();
        assert_eq!(&node_id[24..], "f39fd6e51aad88f6f4ce6ab8827279cfffb92266");
    }
}
