//! The `keel` binary's figures against the project's fake L1 and engine over localhost HTTP (issue #14).
//!
//! ```sh
//! cargo bench -p keel-shell --features devnet --bench node_figures -- steady [blocks]   # default 300
//! cargo bench -p keel-shell --features devnet --bench node_figures -- catchup [blocks]  # default 3600
//! ```
//!
//! The fake world (L1 with a batcher model posting every block, beacon API, engine model) runs in this process; the
//! node is the release `keel` binary in its own process, so its CPU time (`/proc/<pid>/stat`) and resident memory
//! (`/proc/<pid>/status`) are its own. A recording proxy in front of the engine API timestamps each call on arrival.
//!
//! `steady`: 1 s blocks with derivation running, fixed seal margin (`--sequencer.seal-margin`, default 50 ms, or
//! `KEEL_BENCH_SEAL_MARGIN_MS`) so each block's seal target is known: prints seal punctuality (|getPayload arrival −
//! (timestamp − margin)|), blocks sealed after their timestamp, missed slots, CPU per block and RSS over the run.
//! With `callgrind` as a further argument the node runs under valgrind's callgrind and steady mode also prints the
//! instructions per block (a figure that does not depend on the machine's load; the timing figures are then void).
//! `catchup`: L2 genesis `blocks` seconds in the past; the node builds the missing blocks back to back: prints the
//! catch-up rate and the CPU per block while catching up.

mod common {
    pub mod procfs;
    pub mod proxy;
    pub mod stats;
}

use common::procfs::{cpu_ms, rss_kib};
use common::stats::pct;

use keel_shell::fake::{FakeWorld, FakeWorldConfig};
use keel_shell::jwt::JwtSecret;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One `engine_getPayload` seen by the proxy: arrival (Unix ms, fractional) and the payload's timestamp (s).
#[derive(Clone, Copy, Debug)]
struct Seal {
    arrived_ms: f64,
    timestamp_s: u64,
    number: u64,
}

fn unix_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs_f64() * 1e3
}

fn quantity(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.trim_start_matches("0x"), 16).ok()
}

fn proxy(upstream: String, seals: Arc<Mutex<Vec<Seal>>>) -> String {
    common::proxy::start(upstream, move |c| {
        if !c.request["method"].as_str().unwrap_or_default().starts_with("engine_getPayload") {
            return;
        }
        let v: Value = serde_json::from_str(c.answer).unwrap_or(Value::Null);
        let p = &v["result"]["executionPayload"];
        if let (Some(timestamp_s), Some(number)) = (quantity(&p["timestamp"]), quantity(&p["blockNumber"])) {
            seals.lock().unwrap().push(Seal { arrived_ms: c.sent_unix_ms, timestamp_s, number });
        }
    })
}

struct Run {
    world: FakeWorld,
    child: Child,
    seals: Arc<Mutex<Vec<Seal>>>,
    dir: std::path::PathBuf,
}

fn start(genesis_behind_s: u64, margin_ms: u64) -> Run {
    let jwt = JwtSecret::random().expect("jwt");
    let mut cfg = FakeWorldConfig::new(jwt.clone());
    cfg.block_time_ms = 1_000;
    cfg.l1_block_time_s = 12;
    if genesis_behind_s > 0 {
        cfg.genesis_time_s = (unix_ms() / 1e3) as u64 - genesis_behind_s;
    }
    let world = FakeWorld::start(cfg).expect("fake world");
    let seals = Arc::new(Mutex::new(Vec::new()));
    // KEEL_BENCH_NO_PROXY: the node talks to the engine directly (no seal timestamps; catch-up and CPU only).
    let engine = if std::env::var_os("KEEL_BENCH_NO_PROXY").is_some() {
        world.engine_url()
    } else {
        proxy(world.engine_url(), seals.clone())
    };
    let dir = std::env::temp_dir().join(format!("keel-node-figures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("jwt.hex"), jwt.to_hex()).expect("jwt file");
    std::fs::write(
        dir.join("rollup.json"),
        keel_shell::rollup_json::to_op_node_json(&world.rollup_config()).to_string(),
    )
    .expect("rollup file");
    let keel_args = [
        "node".to_string(),
        "--mode=sequencer".to_string(),
        format!("--l1-eth-rpc={}", world.l1_url()),
        format!("--l1-beacon={}", world.l1_url()),
        format!("--l2-engine-rpc={engine}"),
        format!("--l2.jwt-secret={}", dir.join("jwt.hex").display()),
        format!("--rollup-config={}", dir.join("rollup.json").display()),
        format!("--sequencer.seal-margin={margin_ms}"),
        "--sequencer.l1-confs=0".to_string(),
        "--port=0".to_string(),
        "--p2p.disabled".to_string(),
    ];
    // `callgrind`: the node runs under valgrind's callgrind, counting instructions (steady mode zeroes the counts
    // after the warm-up and dumps them at the end).
    let mut cmd = if callgrind() {
        let mut c = Command::new("valgrind");
        c.args(["--tool=callgrind", &format!("--callgrind-out-file={}", dir.join("callgrind.out").display())]);
        c.arg(env!("CARGO_BIN_EXE_keel"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_keel"))
    };
    let child = cmd
        .args(&keel_args)
        .env("RUST_LOG", std::env::var("KEEL_BENCH_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn keel (cargo bench builds it)");
    Run { world, child, seals, dir }
}

fn callgrind() -> bool {
    std::env::args().any(|a| a == "callgrind")
}

/// Instructions counted by callgrind since the last zeroing: `callgrind_control -d` asks for a dump, which the
/// tool writes asynchronously as `callgrind.out.<n>`; its `totals:` line is read once it is complete.
fn callgrind_instructions(pid: u32, dir: &std::path::Path) -> Option<u64> {
    Command::new("callgrind_control").args(["-d", &pid.to_string()]).stdout(Stdio::null()).status().ok()?;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(500));
        let dumps = std::fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("callgrind.out.")));
        let Some(latest) = dumps.max_by_key(|p| entry_time(p)) else { continue };
        let text = std::fs::read_to_string(&latest).ok()?;
        if let Some(n) = text.lines().find_map(|l| l.strip_prefix("totals: ")) {
            return n.split_whitespace().next()?.parse().ok();
        }
    }
    None
}

fn entry_time(path: &std::path::Path) -> std::time::SystemTime {
    std::fs::metadata(path).and_then(|m| m.modified()).unwrap_or(UNIX_EPOCH)
}

fn stop(mut run: Run) {
    let _ = Command::new("kill").args(["-TERM", &run.child.id().to_string()]).status();
    let t0 = Instant::now();
    while run.child.try_wait().ok().flatten().is_none() && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = run.child.kill();
    run.world.stop();
    let _ = std::fs::remove_dir_all(&run.dir);
}

fn steady(blocks: u64) {
    let margin_ms: u64 = std::env::var("KEEL_BENCH_SEAL_MARGIN_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let run = start(0, margin_ms);
    let pid = run.child.id();
    // Past boot and the first derived L1 blocks (blob commitments, the first channels).
    let warmup = 60;
    let wait_for = |n: u64, limit: Duration| {
        let t0 = Instant::now();
        while run.world.engine_head().number < n && t0.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_for(warmup, Duration::from_secs(120));
    if callgrind() {
        Command::new("callgrind_control").args(["-z", &pid.to_string()]).stdout(Stdio::null()).status().ok();
    }
    let (first, cpu0, t0) = (run.world.engine_head().number, cpu_ms(pid), Instant::now());
    let mut rss = vec![rss_kib(pid)];
    let mut last_sample = Instant::now();
    while run.world.engine_head().number < first + blocks && t0.elapsed() < Duration::from_secs(blocks * 2 + 60) {
        std::thread::sleep(Duration::from_millis(200));
        if last_sample.elapsed() >= Duration::from_secs(10) {
            rss.push(rss_kib(pid));
            last_sample = Instant::now();
        }
    }
    let (last, cpu1, elapsed) = (run.world.engine_head().number, cpu_ms(pid), t0.elapsed());
    let instructions = if callgrind() { callgrind_instructions(pid, &run.dir) } else { None };
    rss.push(rss_kib(pid));
    let seals: Vec<Seal> = run.seals.lock().unwrap().clone();
    stop(run);

    let measured: Vec<&Seal> = seals.iter().filter(|s| s.number > first && s.number <= last).collect();
    let mut off: Vec<f64> =
        measured.iter().map(|s| (s.arrived_ms - (s.timestamp_s as f64 * 1e3 - margin_ms as f64)).abs()).collect();
    let late = measured.iter().filter(|s| s.arrived_ms > s.timestamp_s as f64 * 1e3).count();
    let produced = last - first;
    let slots = elapsed.as_secs_f64().floor() as u64;
    let per_block = (cpu1 - cpu0) / produced.max(1) as f64;
    println!("keel binary on the fake engine: {produced} blocks at 1 s after {first} warm-up blocks, seal margin {margin_ms} ms, derivation on\n");
    println!("| figure | value |");
    println!("|---|---|");
    let (p50, p99) = (pct(&mut off, 0.5), pct(&mut off, 0.99));
    let max = off.iter().cloned().fold(f64::NAN, f64::max);
    println!("| seal punctuality: abs(getPayload arrival − seal target), p50 / p99 / max (ms) | {p50:.2} / {p99:.2} / {max:.2} |");
    println!("| getPayload arrivals measured | {} |", off.len());
    // Per window of 600 blocks (long runs): how punctuality moves with the machine's other load.
    if measured.len() > 600 {
        for (i, w) in measured.chunks(600).enumerate() {
            let mut o: Vec<f64> =
                w.iter().map(|s| (s.arrived_ms - (s.timestamp_s as f64 * 1e3 - margin_ms as f64)).abs()).collect();
            let late = w.iter().filter(|s| s.arrived_ms > s.timestamp_s as f64 * 1e3).count();
            let (p50, p99) = (pct(&mut o, 0.5), pct(&mut o, 0.99));
            let max = o.iter().cloned().fold(f64::NAN, f64::max);
            println!(
                "| blocks {}–{}: punctuality p50 / p99 / max, late | {p50:.2} / {p99:.2} / {max:.2} ms, {late} |",
                i * 600 + 1,
                i * 600 + w.len()
            );
        }
    }
    println!("| blocks sealed after their timestamp | {late} |");
    println!(
        "| missed slots (wall-clock slots {slots} − blocks {produced}, ≤ 0 is none) | {} |",
        slots as i64 - produced as i64
    );
    println!("| CPU per block (user + system, whole process) | {per_block:.3} ms |");
    if let Some(n) = instructions {
        println!(
            "| instructions per block (callgrind, after the warm-up) | {:.0} |",
            n as f64 / produced.max(1) as f64
        );
    }
    println!(
        "| RSS first / max / last over the run | {:.1} / {:.1} / {:.1} MiB |",
        rss[0] as f64 / 1024.0,
        rss.iter().copied().max().unwrap_or(0) as f64 / 1024.0,
        rss.last().copied().unwrap_or(0) as f64 / 1024.0
    );
}

fn catchup(blocks: u64) {
    let run = start(blocks, 50);
    let pid = run.child.id();
    let t0 = Instant::now();
    // Behind: the first block after boot starts the clock.
    while run.world.engine_head().number < 1 && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (cpu0, start_number, t1) = (cpu_ms(pid), run.world.engine_head().number, Instant::now());
    let target = blocks.saturating_sub(2);
    let mut peak_rss = rss_kib(pid);
    while run.world.engine_head().number < target && t1.elapsed() < Duration::from_secs(blocks + 60) {
        std::thread::sleep(Duration::from_millis(20));
        peak_rss = peak_rss.max(rss_kib(pid));
    }
    let (end_number, elapsed, cpu1) = (run.world.engine_head().number, t1.elapsed(), cpu_ms(pid));
    stop(run);
    let built = end_number - start_number;
    println!("keel binary on the fake engine: catch-up from {blocks} s behind at 1 s blocks (derivation on)\n");
    println!("| figure | value |");
    println!("|---|---|");
    println!("| blocks built back to back | {built} in {:.2} s |", elapsed.as_secs_f64());
    println!("| catch-up rate | {:.0} blocks/s |", built as f64 / elapsed.as_secs_f64());
    println!("| CPU per block while catching up | {:.3} ms |", (cpu1 - cpu0) / built.max(1) as f64);
    println!("| peak RSS while catching up | {:.1} MiB |", peak_rss as f64 / 1024.0);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench" && a != "callgrind").collect();
    let mode = args.first().map(String::as_str).unwrap_or("steady");
    let n = |default| args.get(1).and_then(|a| a.parse().ok()).unwrap_or(default);
    match mode {
        "steady" => steady(n(300)),
        "catchup" => catchup(n(3_600)),
        other => panic!("unknown mode {other:?}: steady or catchup"),
    }
}
