//! `keel-sim`: run the sequencer core against a seeded world and print what happened. The wall clock is read only
//! here, to report throughput; the simulation itself runs on virtual time.
//!
//! ```text
//! keel-sim run [--seed N] [--blocks N] [--block-time-ms MS] [--check-determinism]
//! ```

use keel_sim::{Sim, SimConfig};
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage: keel-sim run [--seed N] [--blocks N] [--block-time-ms MS] [--check-determinism]";

struct Args {
    seed: u64,
    blocks: u64,
    block_time_ms: u64,
    check_determinism: bool,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    match argv.next().as_deref() {
        Some("run") => {}
        Some(other) => return Err(format!("unknown command {other:?}\n{USAGE}")),
        None => return Err(USAGE.to_string()),
    }
    let mut a = Args { seed: 1, blocks: 10_000, block_time_ms: 2_000, check_determinism: false };
    while let Some(flag) = argv.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            let v = argv.next().ok_or_else(|| format!("{name} needs a value"))?;
            v.parse().map_err(|_| format!("{name}: {v:?} is not a whole number"))
        };
        match flag.as_str() {
            "--seed" => a.seed = num("--seed")?,
            "--blocks" => a.blocks = num("--blocks")?,
            "--block-time-ms" => a.block_time_ms = num("--block-time-ms")?,
            "--check-determinism" => a.check_determinism = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown flag {other:?}\n{USAGE}")),
        }
    }
    if a.block_time_ms == 0 {
        return Err("--block-time-ms must be positive".into());
    }
    Ok(a)
}

fn run(a: &Args) -> Result<Sim, String> {
    let mut sim = Sim::new(SimConfig { seed: a.seed, block_time_ms: a.block_time_ms, ..Default::default() });
    let budget = a.blocks.saturating_mul(a.block_time_ms).saturating_mul(2) + 60_000;
    if !sim.run_to_block(a.blocks, budget) {
        return Err(format!(
            "liveness: reached block {} of {} within {budget} ms of simulated time (seed {})",
            sim.unsafe_number(),
            a.blocks,
            a.seed
        ));
    }
    Ok(sim)
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let sim = match run(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}\nreplay: keel-sim run --seed {} --blocks {}", args.seed, args.blocks);
            return ExitCode::from(4);
        }
    };
    let wall = started.elapsed();
    let st = sim.node().stats();
    println!(
        "seed={} blocks={} txs={} l1_blocks={} invariant_checks={} resets={} retries={} wall_ms={} blocks_per_sec={:.0} trace={:#x}",
        args.seed,
        st.blocks_sequenced,
        st.txs_sequenced,
        sim.l1.head().number(),
        sim.checks,
        st.resets,
        st.retries,
        wall.as_millis(),
        st.blocks_sequenced as f64 / wall.as_secs_f64().max(1e-9),
        sim.trace_hash(),
    );
    if args.check_determinism {
        match run(&args) {
            Ok(again) if again.trace_hash() == sim.trace_hash() => println!("determinism: ok (same trace twice)"),
            Ok(again) => {
                eprintln!("determinism: FAILED: {:#x} != {:#x}", sim.trace_hash(), again.trace_hash());
                return ExitCode::from(5);
            }
            Err(e) => {
                eprintln!("determinism: second run failed: {e}");
                return ExitCode::from(5);
            }
        }
    }
    ExitCode::SUCCESS
}
