//! `keel devnet`: the real node (workers, driver, JSON-RPC, metrics, JWT) sequencing live against the simulator's
//! L1 and engine served on localhost, on wall-clock time, with a status line per block.

use crate::builder::{NodeError, NodeMode, RollupNode, RpcConfig, SequencerConfig};
use crate::fake::{FakeWorld, FakeWorldConfig};
use crate::jwt::JwtSecret;
use clap::Args;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `keel devnet` flags.
#[derive(Args, Debug, Clone)]
pub struct DevnetArgs {
    /// L2 block time in milliseconds.
    #[arg(long = "block-time-ms", default_value_t = 1_000)]
    pub block_time_ms: u64,
    /// L1 block time in seconds.
    #[arg(long = "l1-block-time-s", default_value_t = 12)]
    pub l1_block_time_s: u64,
    /// Seed of the simulated world (hashes, mempool).
    #[arg(long = "seed", default_value_t = 1)]
    pub seed: u64,
    /// Stop after this many blocks (default: run until Ctrl-C).
    #[arg(long = "blocks")]
    pub blocks: Option<u64>,
    /// JSON-RPC listen address.
    #[arg(long = "rpc.addr", default_value = "127.0.0.1")]
    pub rpc_addr: IpAddr,
    /// JSON-RPC port (0 picks a free one).
    #[arg(long = "port", visible_alias = "rpc.port", default_value_t = 9545)]
    pub rpc_port: u16,
    /// Serve the admin_* methods.
    #[arg(long = "rpc.enable-admin", num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub rpc_enable_admin: bool,
    /// Serve Prometheus metrics.
    #[arg(long = "metrics.enabled", num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub metrics_enabled: bool,
    /// Metrics listen address.
    #[arg(long = "metrics.addr", default_value = "127.0.0.1")]
    pub metrics_addr: IpAddr,
    /// Metrics port.
    #[arg(long = "metrics.port", default_value_t = 9090)]
    pub metrics_port: u16,
    /// Seal margin in milliseconds.
    #[arg(long = "sequencer.seal-margin", default_value_t = keel_core::config::DEFAULT_SEAL_MARGIN_MS)]
    pub seal_margin_ms: u64,
}

/// What a devnet run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevnetSummary {
    /// Blocks sequenced.
    pub blocks: u64,
    /// Whether the node stopped cleanly.
    pub clean: bool,
}

/// Why the devnet could not run.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// The simulated servers could not start.
    #[error("starting the simulated L1 and engine: {0}")]
    World(std::io::Error),
    /// The node could not start.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// Randomness for the JWT secret.
    #[error(transparent)]
    Jwt(#[from] crate::jwt::JwtError),
}

/// Runs until `stop` is set or `args.blocks` blocks were sequenced, writing a status line per block to `out`.
pub fn run(args: &DevnetArgs, stop: &AtomicBool, out: &mut dyn Write) -> Result<DevnetSummary, DevnetError> {
    let jwt = JwtSecret::random()?;
    let mut cfg = FakeWorldConfig::new(jwt.clone());
    cfg.seed = args.seed;
    cfg.block_time_ms = args.block_time_ms;
    cfg.l1_block_time_s = args.l1_block_time_s.max(1);
    let world = FakeWorld::start(cfg).map_err(DevnetError::World)?;
    let mut builder = RollupNode::builder(world.rollup_config())
        .with_mode(NodeMode::Sequencer)
        .with_sequencer_config(SequencerConfig { seal_margin_ms: args.seal_margin_ms, ..Default::default() })
        .with_l1_provider_rpc_url(world.l1_url())
        .with_l2_engine_rpc_url(world.engine_url())
        .with_jwt_secret(jwt)
        .with_rpc(RpcConfig { addr: SocketAddr::new(args.rpc_addr, args.rpc_port), enable_admin: args.rpc_enable_admin })
        .with_static_followers(vec![world.follower_url()])
        .with_block_time_ms(args.block_time_ms)
        .with_l1_poll_interval(Duration::from_millis(500));
    if args.metrics_enabled {
        builder = builder.with_metrics(SocketAddr::new(args.metrics_addr, args.metrics_port));
    }
    let node = builder.build()?.start()?;
    let _ = writeln!(
        out,
        "keel devnet: simulated L1 at {} (blocks every {} s), engine at {} (JWT), {} ms L2 blocks",
        world.l1_url(),
        args.l1_block_time_s,
        world.engine_url(),
        args.block_time_ms
    );
    if let Some(a) = node.rpc_addr() {
        let _ = writeln!(out, "  rpc:     http://{a}  (optimism_syncStatus{})", if args.rpc_enable_admin { ", admin_*" } else { "" });
    }
    if let Some(a) = node.metrics_addr() {
        let _ = writeln!(out, "  metrics: http://{a}/metrics");
    }
    let _ = writeln!(out, "  Ctrl-C stops after the block in flight");
    let mut last = world.engine_head();
    let start_number = last.number;
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) && !node.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
        let head = world.engine_head();
        if head.hash == last.hash {
            continue;
        }
        last = head;
        let now = crate::driver::now_ms();
        let metrics = node.metrics();
        let txs = metrics.value("keel_transactions_sequenced_total", &[]).unwrap_or(0.0);
        let l1 = world.l1_head();
        let _ = writeln!(
            out,
            "block {:>6} {:#x} origin={} seq={} l1_head={} lag_ms={} txs_total={} published={}",
            head.number,
            head.hash,
            head.l1_origin.number,
            head.seq_num,
            l1.number,
            now.saturating_sub(head.time_ms),
            txs,
            world.published_count(),
        );
        if args.blocks.is_some_and(|n| head.number - start_number >= n) {
            break;
        }
    }
    node.stop();
    let exit = node.join();
    let blocks = world.engine_head().number - start_number;
    let _ = writeln!(out, "keel devnet: stopped after {blocks} blocks in {:.1} s ({exit:?})", started.elapsed().as_secs_f64());
    world.stop();
    Ok(DevnetSummary { blocks, clean: exit == crate::driver::Exit::Stopped })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        d: DevnetArgs,
    }

    #[test]
    fn devnet_sequences_live_blocks_with_sub_second_block_times() {
        let mut args = T::parse_from(["t", "--block-time-ms=250", "--blocks=8", "--port=0", "--metrics.enabled", "--metrics.port=0"]).d;
        args.l1_block_time_s = 2;
        let stop = AtomicBool::new(false);
        let mut out = Vec::new();
        let summary = run(&args, &stop, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(summary.blocks >= 8 && summary.clean, "{summary:?}\n{text}");
        assert!(text.lines().filter(|l| l.starts_with("block ")).count() >= 8, "{text}");
        assert!(text.contains("metrics: http://127.0.0.1:"), "{text}");
    }
}
