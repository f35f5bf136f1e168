//! The `keel` command line: kona-node's flags and env vars (same names, defaults and aliases), Keel's additions, and
//! an optional TOML config file whose keys mirror the flags (flags and env vars override it).

use crate::builder::{NodeMode, RollupNode, RollupNodeBuilder, RpcConfig, SequencerConfig};
use crate::jwt::JwtSecret;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use keel_core::Rollup;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// kona-node's misspelled env var for `--sequencer.recover`, accepted as an alias.
pub const RECOVER_ENV_ALIAS: &str = "KONA_NODE_SSEQUENCER_RECOVER";

/// Keel: a deterministic OP Stack sequencer.
#[derive(Parser, Debug)]
#[command(name = "keel", version, about, args_override_self = true)]
pub struct Cli {
    /// L2 chain id, resolved through the superchain registry unless a rollup config file is given.
    #[arg(short = 'c', long = "chain", env = "KONA_NODE_L2_CHAIN_ID", default_value_t = 10, global = true)]
    pub chain: u64,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[allow(clippy::large_enum_variant)] // parsed once at start-up
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the sequencer node against real L1, engine and conductor endpoints.
    Node(NodeArgs),
    /// Run a live sequencer against a simulated L1 and engine on localhost (no setup needed).
    #[cfg(feature = "devnet")]
    Devnet(crate::devnet::DevnetArgs),
    /// Not in this build: `keel devnet` needs `--features devnet` (the production binary carries no test machinery).
    #[cfg(not(feature = "devnet"))]
    Devnet(DevnetNotBuilt),
}

/// The arguments of `keel devnet` in a build without the `devnet` feature: taken whole, so the answer is the
/// missing feature rather than an unknown flag.
#[cfg(not(feature = "devnet"))]
#[derive(clap::Args, Debug)]
pub struct DevnetNotBuilt {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    args: Vec<String>,
}

fn parse_mode(s: &str) -> Result<NodeMode, String> {
    match s.to_ascii_lowercase().as_str() {
        "sequencer" => Ok(NodeMode::Sequencer),
        "validator" => Ok(NodeMode::Validator),
        _ => Err(format!("unknown mode {s:?}: expected Sequencer or Validator")),
    }
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{s:?} is not a boolean (true/false)")),
    }
}

/// `keel node` flags.
#[derive(Args, Debug, Clone)]
pub struct NodeArgs {
    /// TOML file whose keys mirror these flags (e.g. `l1-eth-rpc = "http://…"`, `"sequencer.l1-confs" = 6` or a
    /// `[sequencer]` table); flags and env vars override it.
    #[arg(long = "config", env = "KEEL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Node mode: Sequencer (Validator is not supported by Keel). Case-insensitive.
    #[arg(long = "mode", env = "KONA_NODE_MODE", default_value = "Validator", value_parser = parse_mode)]
    pub mode: NodeMode,
    /// L1 execution client RPC URL.
    #[arg(long = "l1-eth-rpc", visible_alias = "l1", env = "KONA_NODE_L1_ETH_RPC")]
    pub l1_eth_rpc: Option<String>,
    /// L1 beacon API URL.
    #[arg(long = "l1-beacon", visible_alias = "l1.beacon", env = "KONA_NODE_L1_BEACON")]
    pub l1_beacon: Option<String>,
    /// L2 engine API URL.
    #[arg(long = "l2-engine-rpc", visible_alias = "l2", env = "KONA_NODE_L2_ENGINE_RPC")]
    pub l2_engine_rpc: Option<String>,
    /// Path to the engine API JWT secret (32 bytes hex). Default: ./jwt.hex, created (mode 0600) if absent.
    #[arg(long = "l2-engine-jwt-secret", visible_alias = "l2.jwt-secret", env = "KONA_NODE_L2_ENGINE_AUTH")]
    pub l2_jwt_secret: Option<PathBuf>,
    /// Rollup config JSON (op-node rollup.json) for chains outside the superchain registry.
    #[arg(long = "l2-config-file", visible_aliases = ["rollup-cfg", "rollup-config"], env = "KONA_NODE_ROLLUP_CONFIG")]
    pub rollup_config: Option<PathBuf>,
    /// L1 chain config (go-ethereum `params.ChainConfig` JSON, or a genesis.json with it under `config`) giving the
    /// L1's blob schedule, for L1s whose schedule Keel does not carry (op-node `--rollup.l1-chain-config`).
    #[arg(long = "rollup.l1-chain-config", visible_alias = "l1-config-file", env = "KONA_NODE_L1_CHAIN_CONFIG")]
    pub l1_chain_config: Option<PathBuf>,
    /// JSON-RPC listen address. Keel defaults to loopback (kona binds 0.0.0.0).
    #[arg(long = "rpc.addr", env = "KONA_NODE_RPC_ADDR", default_value = "127.0.0.1")]
    pub rpc_addr: IpAddr,
    /// JSON-RPC port.
    #[arg(long = "port", visible_alias = "rpc.port", env = "KONA_NODE_RPC_PORT", default_value_t = 9545)]
    pub rpc_port: u16,
    /// Serve the admin_* methods.
    #[arg(long = "rpc.enable-admin", env = "KONA_NODE_RPC_ENABLE_ADMIN", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool)]
    pub rpc_enable_admin: bool,
    /// File persisting the sequencer's started/stopped state set over the admin API across restarts.
    #[arg(long = "rpc.admin-state", env = "KONA_NODE_RPC_ADMIN_STATE")]
    pub rpc_admin_state: Option<PathBuf>,
    /// Serve Prometheus metrics.
    #[arg(long = "metrics.enabled", env = "KONA_METRICS_ENABLED", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool)]
    pub metrics_enabled: bool,
    /// Metrics listen address.
    #[arg(long = "metrics.addr", env = "KONA_METRICS_ADDR", default_value = "127.0.0.1")]
    pub metrics_addr: IpAddr,
    /// Metrics port.
    #[arg(long = "metrics.port", env = "KONA_METRICS_PORT", default_value_t = 9090)]
    pub metrics_port: u16,
    /// Start with the sequencer stopped (start it with admin_startSequencer).
    #[arg(long = "sequencer.stopped", env = "KONA_NODE_SEQUENCER_STOPPED", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool)]
    pub sequencer_stopped: bool,
    /// Do not build while unsafe is this many blocks ahead of safe (0 = off).
    #[arg(long = "sequencer.max-safe-lag", env = "KONA_NODE_SEQUENCER_MAX_SAFE_LAG", default_value_t = 0)]
    pub max_safe_lag: u64,
    /// L1 confirmations before an L1 block may become the next origin.
    #[arg(long = "sequencer.l1-confs", env = "KONA_NODE_SEQUENCER_L1_CONFS", default_value_t = 4)]
    pub l1_confs: u64,
    /// Recovery mode: build deposit-only blocks, adopting origins as derivation would, until caught up.
    #[arg(long = "sequencer.recover", env = "KONA_NODE_SEQUENCER_RECOVER", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool)]
    pub sequencer_recover: bool,
    /// Time reserved before the block timestamp for sealing, in milliseconds. Without it the margin adapts to the
    /// engine's measured getPayload round trips (starting at 50 ms, within 10..=250 ms and a quarter of the slot).
    #[arg(long = "sequencer.seal-margin", env = "KEEL_SEQUENCER_SEAL_MARGIN")]
    pub seal_margin_ms: Option<u64>,
    /// Conductor RPC URL; enables conductor gating (the sequencer then starts stopped).
    #[arg(long = "conductor.rpc", env = "KONA_NODE_CONDUCTOR_RPC")]
    pub conductor_rpc: Option<String>,
    /// Conductor RPC timeout in seconds.
    #[arg(long = "conductor.rpc.timeout", env = "KONA_NODE_CONDUCTOR_RPC_TIMEOUT", default_value_t = 1)]
    pub conductor_timeout_s: u64,
    /// Nodes whose admin_postUnsafePayload receives every sealed block (comma-separated URLs).
    #[arg(long = "p2p.static-followers", env = "KEEL_P2P_STATIC_FOLLOWERS", value_delimiter = ',')]
    pub static_followers: Vec<String>,
    /// Do not run the p2p node (no gossip; `opp2p_*` do not exist).
    #[arg(long = "p2p.disabled", alias = "p2p.disable", env = "KONA_NODE_P2P_DISABLED", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool)]
    pub p2p_disabled: bool,
    /// Hex private key sealed blocks are signed with before they are gossiped (the chain's unsafe block signer).
    #[arg(long = "p2p.sequencer.key", env = "KONA_NODE_P2P_SEQUENCER_KEY")]
    pub p2p_sequencer_key: Option<String>,
    /// File holding the sequencer key in hex (instead of `--p2p.sequencer.key`).
    #[arg(long = "p2p.sequencer.key.path", env = "KONA_NODE_P2P_SEQUENCER_KEY_PATH")]
    pub p2p_sequencer_key_path: Option<PathBuf>,
    /// Address gossiped blocks must be signed by, instead of the SystemConfig's unsafe block signer read from L1.
    #[arg(long = "p2p.unsafe.block.signer", env = "KONA_NODE_P2P_UNSAFE_BLOCK_SIGNER")]
    pub p2p_unsafe_block_signer: Option<alloy_primitives::Address>,
    /// File with the node's hex p2p identity key; created with a fresh key if missing.
    #[arg(long = "p2p.priv.path", env = "KONA_NODE_P2P_PRIV_PATH")]
    pub p2p_priv_path: Option<PathBuf>,
    /// The node's hex p2p identity key (instead of `--p2p.priv.path`; without either, a fresh key per start).
    #[arg(long = "p2p.priv.raw", env = "KONA_NODE_P2P_PRIV_RAW")]
    pub p2p_priv_raw: Option<String>,
    /// Address to bind the p2p listener to.
    #[arg(long = "p2p.listen.ip", env = "KONA_NODE_P2P_LISTEN_IP", default_value = "0.0.0.0")]
    pub p2p_listen_ip: IpAddr,
    /// TCP port of the p2p listener (0: any free port; the default 9222 falls back to a free port when taken).
    #[arg(long = "p2p.listen.tcp", env = "KONA_NODE_P2P_LISTEN_TCP_PORT")]
    pub p2p_listen_tcp: Option<u16>,
    /// UDP port for discv5 discovery.
    #[arg(long = "p2p.listen.udp", env = "KONA_NODE_P2P_LISTEN_UDP_PORT", default_value_t = 9223)]
    pub p2p_listen_udp: u16,
    /// Peers to stay connected to: comma-separated multiaddrs ending in `/p2p/<peer id>`.
    #[arg(long = "p2p.static", env = "KONA_NODE_P2P_STATIC", value_delimiter = ',')]
    pub p2p_static: Vec<String>,
    /// Discv5 bootnodes (comma-separated ENRs).
    #[arg(long = "p2p.bootnodes", env = "KONA_NODE_P2P_BOOTNODES", value_delimiter = ',')]
    pub p2p_bootnodes: Vec<String>,
    /// Disable discv5 discovery: peers come from `--p2p.static` and inbound connections only.
    #[arg(long = "p2p.no-discovery", env = "KONA_NODE_P2P_NO_DISCOVERY", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool)]
    pub p2p_no_discovery: bool,
    /// Low-tide peer count: below it, discovered peers are dialled.
    #[arg(long = "p2p.peers.lo", env = "KONA_NODE_P2P_PEERS_LO", default_value_t = 20)]
    pub p2p_peers_lo: u32,
    /// Most connected peers; further inbound peers are disconnected (static peers always stay).
    #[arg(long = "p2p.peers.hi", env = "KONA_NODE_P2P_PEERS_HI", default_value_t = 30)]
    pub p2p_peers_hi: u32,
    /// Trust the L1 RPC: do not re-hash L1 headers (op-node's flag).
    #[arg(long = "l1.trustrpc", env = "KEEL_L1_TRUST_RPC", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool)]
    pub l1_trust_rpc: bool,
    /// Refuse L1 blocks whose header does not hash to the hash the node reports (default: warn and use it).
    #[arg(long = "l1.verify-hashes", env = "KEEL_L1_VERIFY_HASHES", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool)]
    pub l1_verify_hashes: bool,
    /// Override the L2 block time in milliseconds (sub-second chains and devnets).
    #[arg(long = "l2.block-time-ms", env = "KEEL_L2_BLOCK_TIME_MS")]
    pub block_time_ms: Option<u64>,
}

/// A problem with the command line or the config file. Exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// clap's own message (includes --help and --version output).
    #[error("{0}")]
    Clap(#[from] clap::Error),
    /// Config file trouble.
    #[error("config file {path}: {msg}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// Chain id not in the registry.
    #[error(
        "chain id {0} is not in Keel's superchain registry (ethereum-optimism/superchain-registry@{commit}); \
         pass --rollup-config <rollup.json> (alias --l2-config-file) for chains outside it",
        commit = crate::registry::source_commit()
    )]
    UnknownChain(u64),
    /// Rollup config file trouble.
    #[error("rollup config {path}: {msg}")]
    RollupConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// JWT secret trouble.
    #[error(transparent)]
    Jwt(#[from] crate::jwt::JwtError),
    /// The node rejected the settings.
    #[error(transparent)]
    Node(#[from] crate::builder::NodeError),
    /// A p2p setting is wrong (key, static peer).
    #[error(transparent)]
    P2p(#[from] crate::p2p::P2pError),
}

fn flatten_toml(prefix: &str, t: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in t {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(inner) => flatten_toml(&key, inner, out),
            other => out.push((key, other.clone())),
        }
    }
}

fn toml_arg(v: &toml::Value) -> Option<Vec<String>> {
    Some(match v {
        toml::Value::String(s) => vec![s.clone()],
        toml::Value::Integer(i) => vec![i.to_string()],
        toml::Value::Boolean(b) => vec![b.to_string()],
        toml::Value::Float(f) => vec![f.to_string()],
        toml::Value::Array(a) => {
            vec![a.iter().map(|x| toml_arg(x).map(|v| v.join(","))).collect::<Option<Vec<_>>>()?.join(",")]
        }
        _ => return None,
    })
}

/// Parses argv (including the program name), applying the config file's values where neither a flag nor an env
/// var set them.
pub fn parse_args<I, T>(argv: I) -> Result<Cli, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let argv: Vec<std::ffi::OsString> = argv.into_iter().map(Into::into).collect();
    let cmd = Cli::command();
    let matches = cmd.clone().try_get_matches_from(&argv)?;
    let Some(("node", node_m)) = matches.subcommand() else {
        return Ok(Cli::from_arg_matches(&matches)?);
    };
    let Some(path) = node_m.get_one::<PathBuf>("config").cloned() else {
        return Ok(Cli::from_arg_matches(&matches)?);
    };
    let extra = config_file_args(&cmd, node_m, &path)?;
    if extra.is_empty() {
        return Ok(Cli::from_arg_matches(&matches)?);
    }
    // Insert the file's values right after the `node` token, before the user's flags.
    let pos = argv.iter().position(|a| a == "node").map(|p| p + 1).unwrap_or(argv.len());
    let mut merged = argv[..pos].to_vec();
    merged.extend(extra.into_iter().map(Into::into));
    merged.extend_from_slice(&argv[pos..]);
    let matches = cmd.try_get_matches_from(&merged)?;
    Ok(Cli::from_arg_matches(&matches)?)
}

fn config_file_args(cmd: &clap::Command, m: &ArgMatches, path: &Path) -> Result<Vec<String>, CliError> {
    let err = |msg: String| CliError::ConfigFile { path: path.to_path_buf(), msg };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| err(e.to_string()))?;
    let mut flat = Vec::new();
    flatten_toml("", &table, &mut flat);
    let node = cmd.find_subcommand("node").expect("node subcommand exists");
    let mut out = Vec::new();
    for (key, value) in flat {
        let arg = node
            .get_arguments()
            .find(|a| {
                a.get_long() == Some(key.as_str()) || a.get_all_aliases().is_some_and(|al| al.contains(&key.as_str()))
            })
            .ok_or_else(|| {
                err(format!("unknown key {key:?}: keys are `keel node` flag names without the leading --"))
            })?;
        if key == "config" {
            return Err(err("a config file cannot name another config file".into()));
        }
        let id = arg.get_id().as_str();
        let from_user = matches!(m.value_source(id), Some(ValueSource::CommandLine | ValueSource::EnvVariable));
        if from_user {
            continue;
        }
        let values = toml_arg(&value).ok_or_else(|| err(format!("key {key:?}: unsupported value type")))?;
        let long = arg.get_long().expect("every node flag has a long name");
        for v in values {
            out.push(format!("--{long}={v}"));
        }
    }
    Ok(out)
}

fn read_config_file(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| CliError::RollupConfig { path: path.to_path_buf(), msg: e.to_string() })
}

/// Loads the rollup config: from the file when given, else from the superchain registry by chain id.
pub fn rollup_config(args: &NodeArgs, chain: u64) -> Result<Rollup, CliError> {
    let mut rollup = match &args.rollup_config {
        Some(path) => {
            let text = read_config_file(path)?;
            let (cfg, dropped) = crate::rollup_json::parse(&text)
                .map_err(|e| CliError::RollupConfig { path: path.clone(), msg: e.to_string() })?;
            if !dropped.is_empty() {
                log::warn!(
                    "rollup config {}: ignoring fields Keel does not know: {}",
                    path.display(),
                    dropped.join(", ")
                );
            }
            cfg
        }
        None => {
            let entry = crate::registry::lookup(chain).ok_or(CliError::UnknownChain(chain))?;
            let (cfg, dropped) = crate::rollup_json::parse_value(entry.rollup).map_err(|e| CliError::RollupConfig {
                path: format!("<registry chain {chain}>").into(),
                msg: e.to_string(),
            })?;
            log::info!(
                "chain {chain} ({}) from the superchain registry at {}{}",
                entry.name,
                crate::registry::source_commit(),
                if dropped.is_empty() { String::new() } else { format!("; ignoring {}", dropped.join(", ")) }
            );
            cfg
        }
    };
    if let Some(path) = &args.l1_chain_config {
        let text = read_config_file(path)?;
        rollup.l1_blob_schedule = crate::l1_chain_config::parse(&text, &path.display().to_string())
            .map_err(|msg| CliError::RollupConfig { path: path.clone(), msg })?;
    }
    log::info!("L1 chain {}: {}", rollup.l1_chain_id, rollup.l1_blob_schedule.describe());
    Ok(rollup)
}

/// Whether recovery mode is on, honouring kona's misspelled env var when neither the flag nor the correct env var
/// was given.
fn recover_flag(args: &NodeArgs, recover_given: bool) -> Result<bool, CliError> {
    if recover_given {
        return Ok(args.sequencer_recover);
    }
    match std::env::var(RECOVER_ENV_ALIAS) {
        Ok(v) => parse_bool(&v).map_err(|e| {
            CliError::Clap(clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!("{RECOVER_ENV_ALIAS}: {e}\n"),
            ))
        }),
        Err(_) => Ok(false),
    }
}

/// The p2p settings from the `--p2p.*` flags (`None` with `--p2p.disabled`).
fn p2p_config(args: &NodeArgs) -> Result<Option<crate::p2p::P2pConfig>, CliError> {
    use crate::p2p::{load_or_create_key, parse_key, parse_static_peer, random_key, P2pConfig};
    if args.p2p_disabled {
        return Ok(None);
    }
    let node_key = match (&args.p2p_priv_raw, &args.p2p_priv_path) {
        (Some(raw), _) => parse_key(raw)?,
        (None, Some(path)) => load_or_create_key(path)?,
        (None, None) => random_key()?,
    };
    let mut cfg = P2pConfig::new(args.p2p_listen_ip, args.p2p_listen_tcp.unwrap_or(DEFAULT_P2P_TCP_PORT), node_key);
    cfg.fallback_to_any_port = args.p2p_listen_tcp.is_none();
    cfg.peers_hi = args.p2p_peers_hi as usize;
    cfg.static_peers = args
        .p2p_static
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse_static_peer(s))
        .collect::<Result<_, _>>()?;
    let seq_key = match (&args.p2p_sequencer_key, &args.p2p_sequencer_key_path) {
        (Some(k), _) => Some(parse_key(k)?),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| crate::p2p::P2pError::KeyFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            Some(parse_key(&text)?)
        }
        (None, None) => None,
    };
    cfg.sequencer_key =
        seq_key.map(|k| k256::ecdsa::SigningKey::from_bytes(&k.into()).expect("parse_key checked the scalar"));
    cfg.peers_lo = args.p2p_peers_lo as usize;
    if !args.p2p_no_discovery {
        let mut bootnodes = Vec::new();
        for b in args.p2p_bootnodes.iter().filter(|b| !b.trim().is_empty()) {
            match crate::discovery::parse_bootnode(b) {
                Ok(enr) => bootnodes.push(enr),
                Err(e) => return Err(crate::p2p::P2pError::Bootnode(e).into()),
            }
        }
        if bootnodes.is_empty() && args.rollup_config.is_none() {
            // A registry chain: op-node's public bootnodes, as op-node and kona-node use without --p2p.bootnodes.
            bootnodes = crate::discovery::default_bootnodes();
        }
        cfg.discovery = Some(crate::p2p::DiscoveryConfig { udp: args.p2p_listen_udp, bootnodes });
    }
    if cfg.sequencer_key.is_none() {
        log::info!("no --p2p.sequencer.key: sealed blocks are not gossiped");
    }
    Ok(Some(cfg))
}

/// op-node's and kona-node's default p2p TCP port.
pub const DEFAULT_P2P_TCP_PORT: u16 = 9222;

/// Turns parsed flags into a node ready to start. `cwd` is where `jwt.hex` is looked for or created.
pub fn node_builder(
    args: &NodeArgs,
    chain: u64,
    recover_given: bool,
    cwd: &Path,
) -> Result<RollupNodeBuilder, CliError> {
    if args.mode != NodeMode::Sequencer {
        return Err(crate::builder::NodeError::ValidatorUnsupported.into());
    }
    let rollup = rollup_config(args, chain)?;
    let (jwt, jwt_path, created) = JwtSecret::load_or_create(args.l2_jwt_secret.as_deref(), cwd)?;
    if created {
        log::warn!(
            "no JWT secret given: created {} (mode 0600); configure the engine with the same file",
            jwt_path.display()
        );
    } else {
        log::info!("engine JWT secret loaded from {}", jwt_path.display());
    }
    let mut b = RollupNode::builder(rollup)
        .with_mode(args.mode)
        .with_sequencer_config(SequencerConfig {
            sequencer_stopped: args.sequencer_stopped,
            sequencer_recovery_mode: recover_flag(args, recover_given)?,
            conductor_rpc_url: args.conductor_rpc.clone(),
            conductor_rpc_timeout_ms: args.conductor_timeout_s.max(1).saturating_mul(1000),
            max_safe_lag: args.max_safe_lag,
            l1_confs: args.l1_confs,
            seal_margin_ms: args.seal_margin_ms.unwrap_or(keel_core::config::DEFAULT_SEAL_MARGIN_MS),
            adaptive_seal_margin: args.seal_margin_ms.is_none(),
        })
        .with_jwt_secret(jwt)
        .with_rpc(RpcConfig {
            addr: SocketAddr::new(args.rpc_addr, args.rpc_port),
            enable_admin: args.rpc_enable_admin,
        })
        .with_static_followers(args.static_followers.clone());
    if let Some(p2p) = p2p_config(args)? {
        b = b.with_p2p(p2p);
    }
    if let Some(signer) = args.p2p_unsafe_block_signer {
        b = b.with_unsafe_block_signer(signer);
    }
    if let Some(u) = &args.l1_eth_rpc {
        b = b.with_l1_provider_rpc_url(u.clone());
    }
    if let Some(u) = &args.l1_beacon {
        b = b.with_l1_beacon_url(u.clone());
    }
    if let Some(u) = &args.l2_engine_rpc {
        b = b.with_l2_engine_rpc_url(u.clone());
    }
    if args.metrics_enabled {
        b = b.with_metrics(SocketAddr::new(args.metrics_addr, args.metrics_port));
    }
    if let Some(ms) = args.block_time_ms {
        b = b.with_block_time_ms(ms);
    }
    if let Some(path) = &args.rpc_admin_state {
        b = b.with_admin_state(path)?;
    }
    b = b.with_l1_hash_check(match (args.l1_trust_rpc, args.l1_verify_hashes) {
        (true, _) => crate::codec::HashCheck::Trust,
        (false, true) => crate::codec::HashCheck::Strict,
        (false, false) => crate::codec::HashCheck::Warn,
    });
    Ok(b)
}

/// Whether `--sequencer.recover` (or its correct env var) was given explicitly.
pub fn recover_given(argv: &[std::ffi::OsString]) -> bool {
    let m = Cli::command().try_get_matches_from(argv);
    match m.as_ref().ok().and_then(|m| m.subcommand_matches("node")) {
        Some(n) => {
            matches!(n.value_source("sequencer_recover"), Some(ValueSource::CommandLine | ValueSource::EnvVariable))
        }
        None => false,
    }
}
