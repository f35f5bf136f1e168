//! Keel's own time per block against an engine, step by step.
//!
//! `cargo bench -p keel-shell --features devnet --bench engine_steps -- [blocks] [fake|process|opnode|kona]` (default 300
//! blocks on op-geth, which needs `bash interop/build.sh`; with `fake`, the project's fake L1 and engine over
//! localhost HTTP). By default the node runs in this process; with `process` the `keel` binary runs in its own
//! process and with `opnode` op-node (`interop/bin/op-node`, `--sequencer.enabled`) sequences the same kind of chain,
//! so both also get their CPU time per block and peak resident memory from `/proc`: a side-by-side on one machine
//! with one harness. `kona` runs kona-node (`KONA_NODE`, default `/tmp/kona-root/bin/kona-node`, from `cargo install
//! kona-node --version 0.1.2 --root /tmp/kona-root`) the same way, on a chain with Jovian never active (kona-node
//! 0.1.2 predates it) and a static beacon stub (it reads the beacon's genesis and slot time at start).
//! Brings up anvil and op-geth (or the fake world), puts a recording proxy in front of the engine API, runs the node
//! in-process at 1 s blocks, and prints, per step, the time between op-geth's answer and Keel's next request (seal→insert,
//! insert→head, head→next build), the build window as a fraction of the block time, and op-geth's own getPayload and
//! newPayload times. The proxy's timestamps are taken when a request arrives and when the answer has been written
//! back, so Keel's figures include one loopback hop each way (tens of microseconds).

mod common {
    pub mod procfs;
    pub mod proxy;
    pub mod stats;
}

use common::procfs::{cpu_ms, rss_kib};
use common::stats::pct;

use keel_shell::builder::{NodeMode, RollupNode, SequencerConfig};
use keel_shell::fake::{FakeWorld, FakeWorldConfig};
use keel_shell::interop::genesis::ChainPlan;
use keel_shell::interop::{free_port, Chain, Proc, Tools};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
struct Call {
    method: String,
    with_attributes: bool,
    sent: Instant,
    answered: Instant,
}

fn proxy(upstream: String, log: Arc<Mutex<Vec<Call>>>) -> String {
    common::proxy::start(upstream, move |c| {
        let method = c.request["method"].as_str().unwrap_or("?").to_string();
        let with_attributes = method.starts_with("engine_forkchoiceUpdated") && !c.request["params"][1].is_null();
        log.lock().unwrap().push(Call { method, with_attributes, sent: c.sent, answered: c.answered });
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The engine the node runs against.
enum Target {
    /// The project's fake world (L1 and engine over localhost HTTP).
    Fake(Arc<FakeWorld>, keel_shell::jwt::JwtSecret),
    /// anvil and op-geth, with the folder they run in and the interop tools (op-node among them).
    OpGeth(Arc<Chain>, PathBuf, Tools),
}

fn main() {
    let blocks: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(300);
    let mode = |name: &str| std::env::args().skip(1).any(|a| a == name);
    let (fake, process, opnode, kona) = (mode("fake"), mode("process"), mode("opnode"), mode("kona"));
    // RUST_LOG=debug shows what the node did between two engine calls (microsecond timestamps).
    let _ = env_logger::Builder::from_default_env().format_timestamp_micros().try_init();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (target, engine_head): (Target, Box<dyn Fn() -> u64>) = if fake {
        let jwt = keel_shell::jwt::JwtSecret::random().expect("jwt");
        let mut cfg = FakeWorldConfig::new(jwt.clone());
        cfg.block_time_ms = 1_000;
        let world = Arc::new(FakeWorld::start(cfg).expect("fake world"));
        let w = world.clone();
        (Target::Fake(world, jwt), Box::new(move || w.engine_head().number))
    } else {
        let tools = Tools::locate(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop"))
            .unwrap_or_else(|e| panic!("{e}"));
        let dir = std::env::temp_dir().join(format!("keel-bench-op-geth-{}", std::process::id()));
        // kona-node 0.1.2 knows forks through Isthmus: Jovian ten years out.
        let plan =
            move |t| if kona { ChainPlan::staggered(t, 0, 315_360_000) } else { ChainPlan::jovian_at_genesis(t) };
        let chain = Chain::up(&tools, &dir, 2, plan).unwrap_or_else(|e| panic!("{e}"));
        let chain = Arc::new(chain);
        let c = chain.clone();
        (Target::OpGeth(chain, dir, tools), Box::new(move || c.geth.head_number().unwrap_or(0)))
    };
    let (rollup, l1_url, engine_url, jwt) = match &target {
        Target::Fake(w, jwt) => (w.rollup_config(), w.l1_url(), w.engine_url(), jwt.clone()),
        Target::OpGeth(c, ..) => (c.rollup.clone(), c.anvil.url.clone(), c.geth.auth_url.clone(), c.jwt.clone()),
    };
    let engine = proxy(engine_url, log.clone());
    let who = if opnode {
        "op-node"
    } else if kona {
        "kona-node"
    } else {
        "Keel"
    };
    let mut node = None;
    let mut child: Option<Proc> = None;
    match &target {
        Target::OpGeth(chain, dir, tools) if process || opnode || kona => {
            let port = free_port().expect("a free port");
            let (name, mut cmd, args) = if kona {
                let bin = std::env::var("KONA_NODE").unwrap_or_else(|_| "/tmp/kona-root/bin/kona-node".into());
                let genesis_l1 = chain.anvil.latest().expect("anvil head").timestamp;
                let beacon = common::proxy::static_beacon(genesis_l1, 2);
                let p2p = free_port().expect("a free port");
                let key = alloy_primitives::B256::from(keel_shell::p2p::random_key().expect("a random key"));
                let args = vec![
                    format!("--l2-chain-id={}", keel_shell::interop::genesis::L2_CHAIN_ID),
                    "node".into(),
                    "--mode=sequencer".into(),
                    format!("--l1-eth-rpc={}", chain.anvil.url),
                    format!("--l1-beacon={beacon}"),
                    format!("--l2-engine-rpc={engine}"),
                    format!("--l2-engine-jwt-secret={}", chain.geth.jwt_path.display()),
                    format!("--l2-config-file={}", chain.rollup_path.display()),
                    "--p2p.no-discovery".into(),
                    "--p2p.listen.ip=127.0.0.1".into(),
                    format!("--p2p.listen.tcp={p2p}"),
                    format!("--p2p.listen.udp={p2p}"),
                    format!("--p2p.sequencer.key={key}"),
                    format!("--port={port}"),
                ];
                ("kona-node", std::process::Command::new(bin), args)
            } else if opnode {
                let args = chain.op_node_sequencer_args(&engine, port).expect("op-node arguments");
                ("op-node", std::process::Command::new(&tools.op_node), args)
            } else {
                let mut args = chain.keel_args_via(&engine, port);
                args.push("--p2p.disabled".into());
                ("keel", std::process::Command::new(env!("CARGO_BIN_EXE_keel")), args)
            };
            cmd.args(&args);
            let log_path = dir.join(format!("{name}.log"));
            child = Some(Proc::spawn(name, cmd, &log_path).unwrap_or_else(|e| panic!("starting {name}: {e}")));
        }
        _ => {
            assert!(!process && !opnode && !kona, "`process`, `opnode` and `kona` run on op-geth (drop `fake`)");
            node = Some(
                RollupNode::builder(rollup)
                    .with_mode(NodeMode::Sequencer)
                    // As `keel node` runs without --sequencer.seal-margin: the margin adapts to getPayload times.
                    .with_sequencer_config(SequencerConfig { adaptive_seal_margin: true, ..Default::default() })
                    .with_l1_provider_rpc_url(l1_url)
                    .with_l2_engine_rpc_url(engine)
                    .with_jwt_secret(jwt)
                    .with_block_time_ms(1_000)
                    .build()
                    .expect("node")
                    .start()
                    .expect("start"),
            );
        }
    }
    let pid = child.as_ref().and_then(Proc::id);
    // Let the catch-up from genesis finish (its blocks are built back to back), then measure steady state. A child
    // process's CPU time is read when the warm-up ends and at the end; its resident memory is sampled throughout.
    let warmup = 10;
    let t0 = Instant::now();
    let (mut cpu_from, mut rss_peak_kib) = (None, 0u64);
    loop {
        let head = engine_head();
        if let Some(pid) = pid {
            rss_peak_kib = rss_peak_kib.max(rss_kib(pid));
            if cpu_from.is_none() && head >= (warmup + 20) as u64 {
                cpu_from = Some((cpu_ms(pid), head));
            }
        }
        if head >= (blocks + warmup + 20) as u64 || t0.elapsed() >= Duration::from_secs(blocks as u64 * 2 + 120) {
            break;
        }
        if let Some(c) = child.as_mut() {
            assert!(c.try_wait().is_none(), "{who} exited:\n{}", c.log_tail(30));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let cpu_per_block = match (pid, cpu_from) {
        (Some(pid), Some((cpu0, head0))) => {
            let (cpu1, head1) = (cpu_ms(pid), engine_head());
            Some((cpu1 - cpu0) / (head1.saturating_sub(head0)).max(1) as f64)
        }
        _ => None,
    };
    let margin_ms = node.as_ref().and_then(|n| n.metrics().value("keel_seal_margin_seconds", &[])).map(|s| s * 1e3);
    if let Some(node) = node {
        node.stop();
        let _ = node.join();
    }
    if let Some(mut c) = child {
        c.kill();
    }
    let calls = log.lock().unwrap().clone();
    drop(engine_head);
    match target {
        Target::Fake(world, _) => {
            if let Ok(w) = Arc::try_unwrap(world) {
                w.stop();
            }
        }
        Target::OpGeth(chain, dir, _) => {
            drop(chain);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    let engine_calls: Vec<&Call> = calls.iter().filter(|c| c.method.starts_with("engine_")).collect();
    // Other calls Keel made to op-geth between a head update's answer and the next build (they lengthen that step).
    let mut between: std::collections::BTreeMap<String, usize> = Default::default();
    let mut after_head = false;
    for c in &calls {
        if c.method.starts_with("engine_forkchoiceUpdated") {
            after_head = !c.with_attributes;
        } else if after_head && !c.method.starts_with("engine_") {
            *between.entry(c.method.clone()).or_default() += 1;
        }
    }
    let (mut seal_insert, mut insert_head, mut head_build, mut window, mut get_payload, mut new_payload, mut own) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    // Per block: FCU(attributes) … getPayload → newPayload → FCU(head) → FCU(attributes) of the next block.
    let mut i = 0;
    let mut measured = 0;
    while i + 4 < engine_calls.len() {
        let (build, get, new, head, next) =
            (engine_calls[i], engine_calls[i + 1], engine_calls[i + 2], engine_calls[i + 3], engine_calls[i + 4]);
        let shape = build.with_attributes
            && get.method.starts_with("engine_getPayload")
            && new.method.starts_with("engine_newPayload")
            && head.method.starts_with("engine_forkchoiceUpdated")
            && !head.with_attributes
            && next.with_attributes;
        if !shape {
            i += 1;
            continue;
        }
        measured += 1;
        if measured > warmup && measured <= warmup + blocks {
            seal_insert.push(ms(new.sent - get.answered));
            insert_head.push(ms(head.sent - new.answered));
            let hb = ms(next.sent - head.answered);
            if std::env::var_os("KEEL_BENCH_PER_BLOCK").is_some() {
                println!("block {measured}: head→next build {hb:.3} ms");
            }
            head_build.push(hb);
            window.push(ms(get.sent - build.answered) / 1_000.0);
            get_payload.push(ms(get.answered - get.sent));
            new_payload.push(ms(new.answered - new.sent));
            own.push(ms(new.sent - get.answered) + ms(head.sent - new.answered) + hb);
        }
        i += 4;
    }
    let n = seal_insert.len();
    let engine_name = if fake { "fake engine" } else { "op-geth" };
    println!("{who} on {engine_name}: step figures over {n} blocks at 1 s (after {warmup} warm-up blocks)\n");
    println!("| figure | p50 | p99 | max |");
    println!("|---|---|---|---|");
    for (name, v) in [
        ("seal→insert: getPayload answer → newPayload sent (ms)", &mut seal_insert),
        ("insert→head: newPayload answer → forkchoiceUpdated sent (ms)", &mut insert_head),
        ("head→next build: forkchoiceUpdated answer → next FCU with attributes (ms)", &mut head_build),
        ("own time per block, seal→insert + insert→head + head→next build (ms)", &mut own),
        ("engine_getPayload round trip (ms)", &mut get_payload),
        ("engine_newPayload round trip (ms)", &mut new_payload),
        ("build window: FCU answer → getPayload sent / block time", &mut window),
    ] {
        let (p50, p99) = (pct(v, 0.5), pct(v, 0.99));
        let max = v.iter().cloned().fold(f64::NAN, f64::max);
        println!("| {name} | {p50:.3} | {p99:.3} | {max:.3} |");
    }
    if let Some(c) = cpu_per_block {
        println!(
            "\n{who} process: CPU {c:.2} ms per block (steady state), peak RSS {:.1} MiB",
            rss_peak_kib as f64 / 1024.0
        );
    }
    println!("\nseal margin at the end of the run: {margin_ms:?} ms");
    println!(
        "other {engine_name} calls by {who} between a head update and the next build, over the whole run: {between:?}"
    );
    assert!(n >= blocks.min(10), "only {n} blocks had the expected call shape");
}
