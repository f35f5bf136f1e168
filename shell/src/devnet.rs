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

/// Which execution engine and L1 the devnet runs against.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevnetEngine {
    /// The simulator's L1 and engine, served on localhost (nothing to build).
    #[default]
    Sim,
    /// op-geth over anvil, built by `interop/build.sh` (run first if the tools are missing).
    #[value(name = "op-geth")]
    OpGeth,
}

/// `keel devnet` flags.
#[derive(Args, Debug, Clone)]
pub struct DevnetArgs {
    /// Execution engine: the embedded simulator, or op-geth over anvil (built from source on first use).
    #[arg(long = "engine", value_enum, default_value_t = DevnetEngine::Sim)]
    pub engine: DevnetEngine,
    /// With `--engine=op-geth`: the repository's `interop/` folder (default: `$KEEL_INTEROP_DIR`, else the nearest
    /// `interop/` at or above the current directory).
    #[arg(long = "interop-dir")]
    pub interop_dir: Option<std::path::PathBuf>,
    /// With `--engine=op-geth`: folder for op-geth's datadir, logs, genesis.json and rollup.json (default: a new
    /// folder under the system temp dir).
    #[arg(long = "datadir")]
    pub datadir: Option<std::path::PathBuf>,
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
    /// Seal margin in milliseconds (without it, adaptive as in `keel node`).
    #[arg(long = "sequencer.seal-margin")]
    pub seal_margin_ms: Option<u64>,
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
    /// anvil or op-geth could not be built or started.
    #[error("op-geth devnet: {0}")]
    Interop(#[from] crate::interop::InteropError),
    /// A flag combination the chosen engine cannot run.
    #[error("{0}")]
    Flags(String),
}

/// Runs until `stop` is set or `args.blocks` blocks were sequenced, writing a status line per block to `out`.
pub fn run(args: &DevnetArgs, stop: &AtomicBool, out: &mut dyn Write) -> Result<DevnetSummary, DevnetError> {
    match args.engine {
        DevnetEngine::Sim => run_sim(args, stop, out),
        DevnetEngine::OpGeth => run_op_geth(args, stop, out),
    }
}

fn node_builder(
    args: &DevnetArgs,
    rollup: keel_core::Rollup,
    l1: String,
    engine: String,
    jwt: JwtSecret,
) -> crate::builder::RollupNodeBuilder {
    // Batches carry whole-second timestamps at the rollup config's block time: a devnet sequenced faster than that
    // is not derivable, so it runs without derivation (its safe head stays where the engine started).
    let derivable = keel_core::config::derivable(&rollup, args.block_time_ms);
    if !derivable {
        log::warn!(
            "devnet: {} ms blocks are not derivable from batches ({} s in the rollup config); derivation is off",
            args.block_time_ms,
            rollup.block_time
        );
    }
    let mut builder = RollupNode::builder(rollup)
        .with_derivation(derivable)
        .with_mode(NodeMode::Sequencer)
        .with_sequencer_config(SequencerConfig {
            seal_margin_ms: args.seal_margin_ms.unwrap_or(keel_core::config::DEFAULT_SEAL_MARGIN_MS),
            adaptive_seal_margin: args.seal_margin_ms.is_none(),
            ..Default::default()
        })
        .with_l1_provider_rpc_url(l1)
        .with_l2_engine_rpc_url(engine)
        .with_jwt_secret(jwt)
        .with_rpc(RpcConfig {
            addr: SocketAddr::new(args.rpc_addr, args.rpc_port),
            enable_admin: args.rpc_enable_admin,
        })
        .with_block_time_ms(args.block_time_ms)
        .with_l1_poll_interval(Duration::from_millis(500));
    if args.metrics_enabled {
        builder = builder.with_metrics(SocketAddr::new(args.metrics_addr, args.metrics_port));
    }
    builder
}

fn print_endpoints(out: &mut dyn Write, node: &crate::builder::NodeHandle, args: &DevnetArgs) {
    if let Some(a) = node.rpc_addr() {
        let _ = writeln!(
            out,
            "  rpc:     http://{a}  (optimism_syncStatus{})",
            if args.rpc_enable_admin { ", admin_*" } else { "" }
        );
    }
    if let Some(a) = node.metrics_addr() {
        let _ = writeln!(out, "  metrics: http://{a}/metrics");
    }
    let _ = writeln!(out, "  Ctrl-C stops after the block in flight");
}

/// anvil + op-geth + the node, with a status line per block read from op-geth.
fn run_op_geth(args: &DevnetArgs, stop: &AtomicBool, out: &mut dyn Write) -> Result<DevnetSummary, DevnetError> {
    use crate::interop::{genesis::ChainPlan, Chain, Tools};
    if args.block_time_ms % 1000 != 0 || args.block_time_ms == 0 {
        return Err(DevnetError::Flags(format!(
            "--engine=op-geth needs a whole-second --block-time-ms (op-geth block timestamps are seconds), got {}",
            args.block_time_ms
        )));
    }
    let dir = args.interop_dir.clone().unwrap_or_else(Tools::default_dir);
    let tools = match Tools::locate(&dir) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(out, "keel devnet: {e}\nkeel devnet: building them now with {}/build.sh", dir.display());
            Tools::build(&dir)?
        }
    };
    let work = args
        .datadir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("keel-devnet-op-geth-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(work.join("geth"));
    let block_time_s = args.block_time_ms / 1000;
    let mut chain = Chain::up(&tools, &work, args.l1_block_time_s.max(1), |t| ChainPlan {
        block_time: block_time_s,
        ..ChainPlan::jovian_at_genesis(t)
    })?;
    let node = node_builder(
        args,
        chain.rollup.clone(),
        chain.anvil.url.clone(),
        chain.geth.auth_url.clone(),
        chain.jwt.clone(),
    )
    .build()?
    .start()?;
    let _ = writeln!(
        out,
        "keel devnet: anvil L1 at {} (blocks every {} s), op-geth at {} (engine {} with JWT), {} s L2 blocks, chain {}",
        chain.anvil.url,
        args.l1_block_time_s.max(1),
        chain.geth.http_url,
        chain.geth.auth_url,
        block_time_s,
        crate::interop::genesis::L2_CHAIN_ID,
    );
    let _ = writeln!(
        out,
        "  files:   {} (rollup.json, genesis.json, op-geth.log, anvil.log); dev account {:#x} is funded on L1 and L2",
        work.display(),
        crate::interop::genesis::DEV_ACCOUNT
    );
    print_endpoints(out, &node, args);
    let started = Instant::now();
    let mut last = 0u64;
    let mut blocks = 0u64;
    while !stop.load(Ordering::Relaxed) && !node.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        let Ok(Some(b)) = chain.geth.block("latest", true) else { continue };
        let method = "eth_getBlockByNumber";
        let Ok(number) = crate::codec::quantity(method, &b, "number") else { continue };
        if number == last {
            continue;
        }
        last = number;
        blocks += 1;
        let txs = b["transactions"].as_array().map_or(0, Vec::len);
        let origin = crate::codec::l2_block(method, b.clone(), &chain.rollup.genesis)
            .ok()
            .flatten()
            .map_or_else(|| "?".to_string(), |block| block.l1_origin.number.to_string());
        let l1 = chain.anvil.latest().map_or_else(|_| "?".to_string(), |b| b.number.to_string());
        let _ = writeln!(
            out,
            "block {number:>6} {} origin={origin} l1_head={l1} txs={txs} gas_used={} base_fee={}",
            b["hash"].as_str().unwrap_or("?"),
            b["gasUsed"].as_str().unwrap_or("?"),
            b["baseFeePerGas"].as_str().unwrap_or("?"),
        );
        if args.blocks.is_some_and(|n| blocks >= n) {
            break;
        }
    }
    node.stop();
    let exit = node.join();
    let _ = writeln!(
        out,
        "keel devnet: stopped after {blocks} blocks in {:.1} s ({exit:?}); op-geth and anvil stop now",
        started.elapsed().as_secs_f64()
    );
    chain.remove_dir_on_drop = args.datadir.is_none();
    drop(chain);
    Ok(DevnetSummary { blocks, clean: exit == crate::driver::Exit::Stopped })
}

fn run_sim(args: &DevnetArgs, stop: &AtomicBool, out: &mut dyn Write) -> Result<DevnetSummary, DevnetError> {
    let jwt = JwtSecret::random()?;
    let mut cfg = FakeWorldConfig::new(jwt.clone());
    cfg.seed = args.seed;
    cfg.block_time_ms = args.block_time_ms;
    cfg.l1_block_time_s = args.l1_block_time_s.max(1);
    let world = FakeWorld::start(cfg).map_err(DevnetError::World)?;
    let node = node_builder(args, world.rollup_config(), world.l1_url(), world.engine_url(), jwt)
        .with_static_followers(vec![world.follower_url()])
        // The simulated L1 serves the beacon API on its own port, as anvil does: blob batches are derived too.
        .with_l1_beacon_url(world.l1_url())
        .build()?
        .start()?;
    let _ = writeln!(
        out,
        "keel devnet: simulated L1 at {} (blocks every {} s), engine at {} (JWT), {} ms L2 blocks",
        world.l1_url(),
        args.l1_block_time_s,
        world.engine_url(),
        args.block_time_ms
    );
    print_endpoints(out, &node, args);
    let mut last = world.engine_head();
    let start_number = last.number;
    let started = Instant::now();
    'run: while !stop.load(Ordering::Relaxed) && !node.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
        let head = world.engine_head();
        if head.hash == last.hash {
            continue;
        }
        let now = crate::driver::now_ms();
        let metrics = node.metrics();
        let txs = metrics.value("keel_transactions_sequenced_total", &[]).unwrap_or(0.0);
        let l1 = world.l1_head();
        // One line per block, also for those sealed since the last look (catch-up builds them back to back).
        let from = if head.number > last.number { last.number + 1 } else { head.number };
        for number in from..=head.number {
            let Some(b) = world.engine_block_at(number) else { continue };
            let _ = writeln!(
                out,
                "block {:>6} {:#x} origin={} seq={} l1_head={} lag_ms={} txs_total={} published={}",
                b.number,
                b.hash,
                b.l1_origin.number,
                b.seq_num,
                l1.number,
                now.saturating_sub(b.time_ms),
                txs,
                world.published_count(),
            );
            if args.blocks.is_some_and(|n| b.number - start_number >= n) {
                break 'run;
            }
        }
        last = head;
    }
    node.stop();
    let exit = node.join();
    let blocks = world.engine_head().number - start_number;
    let _ = writeln!(
        out,
        "keel devnet: stopped after {blocks} blocks in {:.1} s ({exit:?})",
        started.elapsed().as_secs_f64()
    );
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
        let mut args = T::parse_from([
            "t",
            "--block-time-ms=250",
            "--blocks=8",
            "--port=0",
            "--metrics.enabled",
            "--metrics.port=0",
        ])
        .d;
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
