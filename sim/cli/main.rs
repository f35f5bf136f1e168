//! `keel-sim`: run the sequencer core against a seeded world and print what happened. The wall clock is read only
//! here, to report throughput; the simulation itself runs on virtual time.
//!
//! ```text
//! keel-sim run   --scenario <name|file> --seed <u64> [--blocks N] [--check-determinism]
//! keel-sim sweep --scenario <name|file> --seeds A..B [--blocks N]
//! keel-sim list
//! ```
//!
//! Exit codes: 0 ok; 2 bad arguments; 3 safety violation; 4 liveness failure; 5 non-deterministic trace; 6 panic.

use keel_sim::scenario::{self, Failure, Scenario, BUILTIN};
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage:
  keel-sim run   --scenario <name|file> [--seed N] [--blocks N] [--check-determinism]
  keel-sim sweep --scenario <name|file> --seeds A..B [--blocks N]
  keel-sim list";

struct Args {
    command: String,
    scenario: String,
    seed: u64,
    seeds: (u64, u64),
    blocks: Option<u64>,
    check_determinism: bool,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let command = argv.next().ok_or(USAGE)?;
    if !["run", "sweep", "list"].contains(&command.as_str()) {
        return Err(format!("unknown command {command:?}\n{USAGE}"));
    }
    let mut a = Args {
        command,
        scenario: "steady-state".into(),
        seed: 1,
        seeds: (0, 100),
        blocks: None,
        check_determinism: false,
    };
    while let Some(flag) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or_else(|| format!("{name} needs a value"));
        let num = |name: &str, v: String| v.parse::<u64>().map_err(|_| format!("{name}: {v:?} is not a whole number"));
        match flag.as_str() {
            "--scenario" => a.scenario = value("--scenario")?,
            "--seed" => a.seed = num("--seed", value("--seed")?)?,
            "--blocks" => a.blocks = Some(num("--blocks", value("--blocks")?)?),
            "--seeds" => {
                let v = value("--seeds")?;
                let (lo, hi) = v.split_once("..").ok_or_else(|| format!("--seeds {v:?}: expected A..B"))?;
                a.seeds = (num("--seeds", lo.to_string())?, num("--seeds", hi.to_string())?);
                if a.seeds.1 <= a.seeds.0 {
                    return Err(format!("--seeds {v:?}: empty range"));
                }
            }
            "--check-determinism" => a.check_determinism = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown flag {other:?}\n{USAGE}")),
        }
    }
    Ok(a)
}

fn report_failure(scn: &Scenario, scenario_arg: &str, seed: u64, blocks: Option<u64>, f: &Failure) -> ExitCode {
    eprintln!("FAILED ({:?}) scenario={} seed={seed}: {}", f.kind, scn.name, f.message);
    eprintln!("last {} events:", f.timeline.len());
    for line in &f.timeline {
        eprintln!("  {line}");
    }
    let blocks = blocks.map(|b| format!(" --blocks {b}")).unwrap_or_default();
    eprintln!("replay: cargo run --release -p keel-sim -- run --scenario {scenario_arg} --seed {seed}{blocks}");
    ExitCode::from(f.kind.exit_code())
}

fn main() -> ExitCode {
    // The core's log lines, when asked for (`RUST_LOG=keel_core=debug`): they carry virtual-time context only.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("off")).init();
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if args.command == "list" {
        for (name, text) in BUILTIN {
            let s = Scenario::parse(text).expect("built-in scenarios parse");
            println!("{name:26} {}", s.description);
        }
        return ExitCode::SUCCESS;
    }
    let scn = match Scenario::load(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // Failures are reported with their timeline; the default panic message would only repeat it.
    std::panic::set_hook(Box::new(|_| {}));
    let seeds: Vec<u64> = if args.command == "run" { vec![args.seed] } else { (args.seeds.0..args.seeds.1).collect() };
    let started = Instant::now();
    let mut total_blocks = 0;
    for (i, &seed) in seeds.iter().enumerate() {
        if args.command == "sweep" {
            eprint!("\rscenario={} seed {seed} ({}/{})   ", scn.name, i + 1, seeds.len());
        }
        let t0 = Instant::now();
        let report = match scenario::run(&scn, seed, args.blocks) {
            Ok(r) => r,
            Err(f) => return report_failure(&scn, &args.scenario, seed, args.blocks, &f),
        };
        total_blocks += report.blocks;
        let secs = t0.elapsed().as_secs_f64().max(1e-9);
        if args.command == "run" {
            println!(
                "scenario={} seed={seed} blocks={} sequenced={} l1_blocks_reorged={} faults={} crashes={} failovers={} resets={} safe={} finalized={} consolidated={} derived_built={} mismatches={} channels={} invariant_checks={} wall_ms={} blocks_per_sec={:.0} trace={:#x}",
                scn.name, report.blocks, report.sequenced, report.reorged_l1_blocks, report.faults_injected, report.crashes,
                report.failovers, report.resets, report.safe, report.finalized, report.consolidated, report.derived_built,
                report.mismatches, report.channels, report.invariants_checked, t0.elapsed().as_millis(),
                report.blocks as f64 / secs, report.trace,
            );
        }
        if args.check_determinism {
            match scenario::run(&scn, seed, args.blocks) {
                Ok(again) if again.trace == report.trace => println!("determinism: ok (same trace twice)"),
                Ok(again) => {
                    eprintln!("determinism: FAILED for seed {seed}: {:#x} != {:#x}", report.trace, again.trace);
                    return ExitCode::from(5);
                }
                Err(f) => return report_failure(&scn, &args.scenario, seed, args.blocks, &f),
            }
        }
    }
    if args.command == "sweep" {
        eprintln!();
        println!(
            "scenario={} seeds={}..{} passed={} blocks={} wall_ms={}",
            scn.name,
            args.seeds.0,
            args.seeds.1,
            seeds.len(),
            total_blocks,
            started.elapsed().as_millis()
        );
    }
    ExitCode::SUCCESS
}
