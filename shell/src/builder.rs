//! Programmatic assembly of a node, mirroring kona-node's builder:
//!
//! ```no_run
//! # use keel_shell::builder::*;
//! # fn demo(rollup: keel_core::RollupConfig, jwt: keel_shell::jwt::JwtSecret) -> Result<(), Box<dyn std::error::Error>> {
//! let handle = RollupNode::builder(rollup)
//!     .with_mode(NodeMode::Sequencer)
//!     .with_sequencer_config(SequencerConfig { sequencer_stopped: false, ..Default::default() })
//!     .with_l1_provider_rpc_url("http://127.0.0.1:8545")
//!     .with_l1_beacon_url("http://127.0.0.1:5052")
//!     .with_l2_engine_rpc_url("http://127.0.0.1:8551")
//!     .with_jwt_secret(jwt)
//!     .build()?
//!     .start()?;
//! handle.stop();
//! handle.join();
//! # Ok(()) }
//! ```

use crate::driver::{Driver, Exit, Outputs, RpcCall};
use crate::jwt::JwtSecret;
use crate::metrics::Metrics;
use crate::rpc::{RpcClient, MAX_ENGINE_RESPONSE_BYTES, MAX_RESPONSE_BYTES};
use crate::server::{RpcServer, ServerContext};
use crate::workers;
use keel_core::attributes::{AttributesBuilder, AttributesBuilderConfig, ProtocolAttributes};
use keel_core::{Config, Node, Rollup};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Deadline of one engine API call (op-node: 10 s).
pub const ENGINE_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline of one L1 call.
pub const L1_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline of one follower post.
pub const FOLLOWER_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the L1 head and finalized block are polled.
pub const L1_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The node's role. Keel only sequences.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NodeMode {
    /// Follow the chain (not supported by Keel).
    #[default]
    Validator,
    /// Build blocks.
    Sequencer,
}

/// Sequencer settings: the core's one definition, with the seed's field names.
pub use keel_core::SequencerConfig;

/// The JSON-RPC server's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RpcConfig {
    /// Listen address (port 0 picks one).
    pub addr: SocketAddr,
    /// Serve `admin_*`.
    pub enable_admin: bool,
}

/// Why a node could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Only sequencer mode exists.
    #[error("validator mode is not supported by keel: run with --mode=Sequencer")]
    ValidatorUnsupported,
    /// A required endpoint is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A URL that cannot work.
    #[error("{what} {url:?} is not an http(s) URL")]
    BadUrl {
        /// Which endpoint.
        what: &'static str,
        /// The value.
        url: String,
    },
    /// The core rejected the configuration.
    #[error("invalid sequencer configuration: {0}")]
    Config(#[from] keel_core::ConfigError),
    /// A socket could not be bound.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The p2p node could not start (bad key, listen address in use).
    #[error("{0}")]
    P2p(#[from] crate::p2p::P2pError),
}

fn check_url(what: &'static str, url: &str) -> Result<(), NodeError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(NodeError::BadUrl { what, url: url.to_string() })
    }
}

/// Collects the node's settings.
#[derive(Clone, Debug)]
pub struct RollupNodeBuilder {
    rollup: Rollup,
    mode: NodeMode,
    sequencer: SequencerConfig,
    l1_url: Option<String>,
    beacon_url: Option<String>,
    engine_url: Option<String>,
    jwt: Option<JwtSecret>,
    rpc: Option<RpcConfig>,
    metrics_addr: Option<SocketAddr>,
    followers: Vec<String>,
    block_time_ms: Option<u64>,
    l1_poll_interval: Duration,
    l1_hash_check: crate::codec::HashCheck,
    admin_state: Option<crate::admin_state::AdminState>,
    derivation: bool,
    p2p: Option<crate::p2p::P2pConfig>,
    unsafe_block_signer: Option<alloy_primitives::Address>,
    attributes: Arc<dyn AttributesBuilder>,
}

impl RollupNodeBuilder {
    /// Sets the mode (must be `Sequencer`).
    pub fn with_mode(mut self, mode: NodeMode) -> Self {
        self.mode = mode;
        self
    }
    /// Sets the sequencer settings.
    pub fn with_sequencer_config(mut self, cfg: SequencerConfig) -> Self {
        self.sequencer = cfg;
        self
    }
    /// L1 execution JSON-RPC endpoint.
    pub fn with_l1_provider_rpc_url(mut self, url: impl Into<String>) -> Self {
        self.l1_url = Some(url.into());
        self
    }
    /// L1 beacon API endpoint: derivation reads blob batcher data from it.
    pub fn with_l1_beacon_url(mut self, url: impl Into<String>) -> Self {
        self.beacon_url = Some(url.into());
        self
    }
    /// L2 engine API endpoint.
    pub fn with_l2_engine_rpc_url(mut self, url: impl Into<String>) -> Self {
        self.engine_url = Some(url.into());
        self
    }
    /// Engine API JWT secret.
    pub fn with_jwt_secret(mut self, jwt: JwtSecret) -> Self {
        self.jwt = Some(jwt);
        self
    }
    /// Serve JSON-RPC.
    pub fn with_rpc(mut self, rpc: RpcConfig) -> Self {
        self.rpc = Some(rpc);
        self
    }
    /// Serve Prometheus metrics at `addr` (`/metrics`).
    pub fn with_metrics(mut self, addr: SocketAddr) -> Self {
        self.metrics_addr = Some(addr);
        self
    }
    /// Post sealed blocks to these nodes' `admin_postUnsafePayload`.
    pub fn with_static_followers(mut self, urls: Vec<String>) -> Self {
        self.followers = urls;
        self
    }
    /// Overrides the block time (sub-second chains, devnets).
    pub fn with_block_time_ms(mut self, ms: u64) -> Self {
        self.block_time_ms = Some(ms);
        self
    }
    /// What to do with L1 headers that do not hash to the reported hash (default: use the reported hash, warn).
    pub fn with_l1_hash_check(mut self, check: crate::codec::HashCheck) -> Self {
        self.l1_hash_check = check;
        self
    }
    /// Derive the safe head from L1 (on by default, as in op-node and kona-node). Off: the safe head is the engine's
    /// and moves only when another node updates it.
    pub fn with_derivation(mut self, on: bool) -> Self {
        self.derivation = on;
        self
    }

    /// Run the p2p node: gossip sealed blocks (signed with the config's sequencer key) and import valid blocks
    /// gossiped by others.
    pub fn with_p2p(mut self, cfg: crate::p2p::P2pConfig) -> Self {
        self.p2p = Some(cfg);
        self
    }
    /// The address gossiped blocks must be signed by (`--p2p.unsafe.block.signer`), instead of the SystemConfig's
    /// unsafe block signer read from L1.
    pub fn with_unsafe_block_signer(mut self, signer: alloy_primitives::Address) -> Self {
        self.unsafe_block_signer = Some(signer);
        self
    }

    /// Builds the payload attributes of sequenced *and* derived blocks with `config`'s builder instead of the
    /// protocol's ([`keel_core::attributes`]). For chains with their own consensus rules: every node deriving the
    /// chain must run the same builder, or it derives other blocks and replaces these.
    ///
    /// ```
    /// use keel_core::attributes::{self, Attributes, AttributesBuilder, AttributesError, AttributesInput};
    /// use keel_shell::builder::{NodeMode, RollupNode};
    ///
    /// /// The protocol's attributes, with the transaction pool left out of every block.
    /// #[derive(Debug)]
    /// struct DepositsOnly;
    ///
    /// impl AttributesBuilder for DepositsOnly {
    ///     fn prepare_payload_attributes(&self, input: &AttributesInput<'_>) -> Result<Attributes, AttributesError> {
    ///         let mut a = attributes::build(input)?;
    ///         a.op.no_tx_pool = Some(true);
    ///         Ok(a)
    ///     }
    /// }
    ///
    /// # let jwt = keel_shell::jwt::JwtSecret::random().unwrap();
    /// let node = RollupNode::builder(keel_core::RollupConfig::default())
    ///     .with_mode(NodeMode::Sequencer)
    ///     .with_attributes_builder(DepositsOnly)
    ///     .with_l1_provider_rpc_url("http://127.0.0.1:8545")
    ///     .with_l2_engine_rpc_url("http://127.0.0.1:8551")
    ///     .with_jwt_secret(jwt)
    ///     .build();
    /// # let _ = node;
    /// ```
    pub fn with_attributes_builder<C>(mut self, config: C) -> Self
    where
        C: AttributesBuilderConfig,
        C::AB: 'static,
    {
        self.attributes = Arc::new(config.build());
        self
    }

    /// Persist admin start/stop in this file, and let its state override `sequencer_stopped` at start (op-node's
    /// `--rpc.admin-state`).
    pub fn with_admin_state(mut self, path: &std::path::Path) -> Result<Self, NodeError> {
        let state = crate::admin_state::AdminState::new(path);
        if let Some(started) = state.sequencer_started().map_err(|e| NodeError::Io(std::io::Error::other(e)))? {
            log::info!("admin state {}: sequencer {}", path.display(), if started { "started" } else { "stopped" });
            self.sequencer.sequencer_stopped = !started;
        }
        self.admin_state = Some(state);
        Ok(self)
    }
    /// How often to poll L1 for its head.
    pub fn with_l1_poll_interval(mut self, every: Duration) -> Self {
        self.l1_poll_interval = every;
        self
    }

    /// Validates the settings.
    pub fn build(self) -> Result<RollupNode, NodeError> {
        if self.mode != NodeMode::Sequencer {
            return Err(NodeError::ValidatorUnsupported);
        }
        let l1 = self.l1_url.clone().ok_or(NodeError::Missing("L1 RPC URL (--l1-eth-rpc)"))?;
        let engine = self.engine_url.clone().ok_or(NodeError::Missing("L2 engine RPC URL (--l2-engine-rpc)"))?;
        check_url("L1 RPC URL", &l1)?;
        check_url("L2 engine RPC URL", &engine)?;
        if let Some(c) = &self.sequencer.conductor_rpc_url {
            check_url("conductor RPC URL", c)?;
        }
        for f in &self.followers {
            check_url("static follower URL", f)?;
        }
        let jwt = self.jwt.clone().ok_or(NodeError::Missing("engine JWT secret"))?;
        let core = self.core_config();
        core.validate()?;
        Ok(RollupNode { b: self, l1, engine, jwt, core })
    }

    fn core_config(&self) -> Config {
        let s = &self.sequencer;
        let mut cfg = Config::new(Arc::new(self.rollup.clone()), s.clone());
        if let Some(ms) = self.block_time_ms {
            cfg.block_time_ms = ms;
        }
        cfg.derivation = self.derivation;
        cfg.attributes = self.attributes.clone();
        cfg
    }
}

/// A validated node, ready to start.
#[derive(Debug)]
pub struct RollupNode {
    b: RollupNodeBuilder,
    l1: String,
    engine: String,
    jwt: JwtSecret,
    core: Config,
}

/// A running node.
pub struct NodeHandle {
    shutdown: crossbeam_channel::Sender<()>,
    driver: Option<JoinHandle<Exit>>,
    threads: Vec<JoinHandle<()>>,
    poll_stop: crate::workers::Stop,
    rpc: Option<RpcServer>,
    metrics_server: Option<(Arc<tiny_http::Server>, JoinHandle<()>, SocketAddr)>,
    metrics: Metrics,
    p2p: Option<(libp2p::PeerId, Vec<libp2p::Multiaddr>)>,
}

/// A node ready to run, described by what it runs as (the seed's `RollupNodeService`). kona-node's service names
/// actor types; Keel has one deterministic state machine driven by one thread, so what a service chooses is its
/// mode and the attributes builder that state machine sequences and derives with.
pub trait RollupNodeService {
    /// The mode the node runs in.
    fn mode(&self) -> NodeMode;
    /// The attributes builder of its sequenced and derived blocks.
    fn attributes_builder(&self) -> &Arc<dyn AttributesBuilder>;
    /// Starts the node.
    fn start(self) -> Result<NodeHandle, NodeError>;
}

impl RollupNodeService for RollupNode {
    fn mode(&self) -> NodeMode {
        self.b.mode
    }
    fn attributes_builder(&self) -> &Arc<dyn AttributesBuilder> {
        &self.core.attributes
    }
    fn start(self) -> Result<NodeHandle, NodeError> {
        RollupNode::start(self)
    }
}

impl RollupNode {
    /// Starts collecting settings.
    pub fn builder(rollup: impl Into<Rollup>) -> RollupNodeBuilder {
        RollupNodeBuilder {
            rollup: rollup.into(),
            mode: NodeMode::Validator,
            sequencer: SequencerConfig::default(),
            l1_url: None,
            beacon_url: None,
            engine_url: None,
            jwt: None,
            rpc: None,
            metrics_addr: None,
            followers: Vec::new(),
            block_time_ms: None,
            l1_poll_interval: L1_POLL_INTERVAL,
            l1_hash_check: crate::codec::HashCheck::Warn,
            admin_state: None,
            derivation: true,
            p2p: None,
            unsafe_block_signer: None,
            attributes: Arc::new(ProtocolAttributes),
        }
    }

    /// Binds sockets, spawns the worker threads and the driver, and returns at once.
    pub fn start(self) -> Result<NodeHandle, NodeError> {
        let metrics = Metrics::default();
        let (events_tx, events_rx) = crossbeam_channel::bounded(1024);
        let (calls_tx, calls_rx) = crossbeam_channel::bounded::<RpcCall>(64);
        let (shutdown_tx, shutdown_rx) = crossbeam_channel::bounded(1);
        let (l1_tx, l1_rx) = crossbeam_channel::bounded(workers::WORKER_QUEUE);
        let (engine_tx, engine_rx) = crossbeam_channel::bounded(workers::WORKER_QUEUE);
        let (derive_tx, derive_rx) = crossbeam_channel::bounded(workers::WORKER_QUEUE);

        let l1 = Arc::new(RpcClient::new("L1", &self.l1, L1_TIMEOUT, None, MAX_RESPONSE_BYTES));
        let engine = Arc::new(RpcClient::new(
            "engine",
            &self.engine,
            ENGINE_TIMEOUT,
            Some(self.jwt.clone()),
            MAX_ENGINE_RESPONSE_BYTES,
        ));

        // Sockets first: a port in use fails the start before any thread runs.
        let p2p_signer = Arc::new(std::sync::RwLock::new(self.b.unsafe_block_signer.unwrap_or_default()));
        let p2p = match &self.b.p2p {
            Some(cfg) => Some(crate::p2p::P2p::start(
                cfg.clone(),
                self.core.rollup.clone(),
                p2p_signer.clone(),
                events_tx.clone(),
                metrics.clone(),
            )?),
            None => None,
        };
        let rpc = match self.b.rpc {
            Some(r) => Some(RpcServer::start(
                r.addr,
                ServerContext {
                    rollup: self.core.rollup.clone(),
                    engine: Arc::new(RpcClient::new(
                        "engine",
                        &self.engine,
                        ENGINE_TIMEOUT,
                        Some(self.jwt.clone()),
                        MAX_ENGINE_RESPONSE_BYTES,
                    )),
                    enable_admin: r.enable_admin,
                    calls: calls_tx.clone(),
                    p2p: p2p.as_ref().map(|p| p.status()),
                },
            )?),
            None => None,
        };
        let metrics_server = match self.b.metrics_addr {
            Some(addr) => Some(serve_metrics(addr, metrics.clone())?),
            None => None,
        };

        let per_tx = workers::ReceiptsPerTx::default();
        let check = self.b.l1_hash_check;
        let mut threads = vec![
            workers::spawn_l1(l1.clone(), metrics.clone(), check, per_tx.clone(), l1_rx, events_tx.clone()),
            workers::spawn_derivation(l1.clone(), metrics.clone(), check, per_tx, derive_rx, events_tx.clone()),
            workers::spawn_engine(engine, metrics.clone(), self.core.rollup.genesis, engine_rx, events_tx.clone()),
        ];
        let conductor = match &self.b.sequencer.conductor_rpc_url {
            Some(url) => {
                let timeout = Duration::from_millis(self.b.sequencer.conductor_rpc_timeout_ms.max(1));
                let client = Arc::new(RpcClient::new("conductor", url, timeout, None, MAX_RESPONSE_BYTES));
                let (tx, rx) = crossbeam_channel::bounded(workers::WORKER_QUEUE);
                threads.push(workers::spawn_conductor(client, metrics.clone(), timeout, rx, events_tx.clone()));
                Some(tx)
            }
            None => None,
        };
        let followers = self
            .b
            .followers
            .iter()
            .map(|u| Arc::new(RpcClient::new("follower", u, FOLLOWER_TIMEOUT, None, MAX_RESPONSE_BYTES)))
            .collect();
        let (publisher, publish_thread) = workers::Publisher::spawn(followers, metrics.clone());
        threads.push(publish_thread);
        let poll_stop = crate::workers::Stop::default();
        if p2p.is_some() && self.b.unsafe_block_signer.is_none() {
            let system_config = self.core.rollup.l1_system_config_address;
            threads.push(crate::p2p::spawn_signer_reader(l1.clone(), system_config, p2p_signer, poll_stop.clone())?);
        }
        let p2p_addrs = p2p.as_ref().map(|p| (p.peer_id(), p.listen_addrs().to_vec()));
        threads.push(workers::spawn_l1_poller(
            l1,
            metrics.clone(),
            self.b.l1_hash_check,
            self.b.l1_poll_interval,
            events_tx.clone(),
            poll_stop.clone(),
        ));

        let node = Node::new(self.core.clone(), crate::driver::now_ms())?;
        log::info!(
            "keel sequencer starting l1={} engine={} conductor={:?} rpc={:?} metrics={:?} block_time_ms={}",
            self.l1,
            self.engine,
            self.b.sequencer.conductor_rpc_url,
            rpc.as_ref().map(|r| r.addr()),
            metrics_server.as_ref().map(|m| m.2),
            self.core.block_time_ms
        );
        let beacon = match &self.b.beacon_url {
            Some(url) => {
                let (tx, rx) = crossbeam_channel::bounded(workers::WORKER_QUEUE);
                threads.push(crate::beacon::spawn(
                    crate::beacon::BeaconClient::new(url, L1_TIMEOUT),
                    rx,
                    events_tx.clone(),
                ));
                Some(tx)
            }
            None => {
                log::warn!("no L1 beacon URL given: fine for sequencing; derivation cannot read blob batcher data");
                None
            }
        };
        drop(events_tx);
        let out = Outputs { l1: l1_tx, derivation: derive_tx, engine: engine_tx, conductor, beacon, publisher, p2p };
        let driver = Driver::new(node, events_rx, calls_rx, shutdown_rx, out, metrics.clone())
            .with_admin_state(self.b.admin_state.clone());
        let driver = std::thread::Builder::new().name("keel-driver".into()).spawn(move || driver.run())?;
        Ok(NodeHandle {
            shutdown: shutdown_tx,
            driver: Some(driver),
            threads,
            poll_stop,
            rpc,
            metrics_server,
            metrics,
            p2p: p2p_addrs,
        })
    }
}

fn serve_metrics(
    addr: SocketAddr,
    metrics: Metrics,
) -> std::io::Result<(Arc<tiny_http::Server>, JoinHandle<()>, SocketAddr)> {
    let server = Arc::new(
        crate::jsonrpc::http_server(addr)
            .map_err(|e| std::io::Error::other(format!("binding metrics server to {addr}: {e}")))?,
    );
    let bound = server.server_addr().to_ip().unwrap_or(addr);
    let s = server.clone();
    let handle = std::thread::Builder::new().name("keel-metrics".into()).spawn(move || {
        for req in s.incoming_requests() {
            let (status, body) = match req.url() {
                "/metrics" | "/" => (200, metrics.render()),
                _ => (404, "not found: metrics are at /metrics\n".to_string()),
            };
            let header =
                tiny_http::Header::from_bytes("Content-Type", "text/plain; version=0.0.4").expect("static header");
            let _ = req.respond(tiny_http::Response::from_string(body).with_status_code(status).with_header(header));
        }
    })?;
    Ok((server, handle, bound))
}

impl NodeHandle {
    /// The JSON-RPC server's address, if serving.
    pub fn rpc_addr(&self) -> Option<SocketAddr> {
        self.rpc.as_ref().map(|r| r.addr())
    }

    /// The metrics server's address, if serving.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_server.as_ref().map(|m| m.2)
    }

    /// The p2p node's peer id and listen addresses (each ending in `/p2p/<peer id>`), when p2p runs.
    pub fn p2p_addrs(&self) -> Option<&(libp2p::PeerId, Vec<libp2p::Multiaddr>)> {
        self.p2p.as_ref()
    }

    /// The node's metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Asks the node to stop: an active sequencer finishes (seals and inserts) a sealed block first.
    pub fn stop(&self) {
        let _ = self.shutdown.try_send(());
    }

    /// Whether the driver has exited (after `stop`, or because it lost every event source).
    pub fn is_finished(&self) -> bool {
        self.driver.as_ref().is_none_or(|d| d.is_finished())
    }

    /// Waits for the node to stop and tears everything down.
    pub fn join(mut self) -> Exit {
        let exit = self.driver.take().map(|d| d.join().unwrap_or(Exit::StoppedUnclean)).unwrap_or(Exit::Stopped);
        self.poll_stop.stop();
        if let Some(rpc) = self.rpc.take() {
            rpc.stop();
        }
        if let Some((server, handle, _)) = self.metrics_server.take() {
            server.unblock();
            let _ = handle.join();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        exit
    }
}
