//! Keel sequencing real peers: op-geth (built from source by `interop/build.sh`) over anvil.
//!
//! These tests need the tools `interop/build.sh` builds; `.ci/run` runs the script first. Without the tools every
//! test fails with the command to run, never skips. Each test brings up its own anvil and op-geth on ports picked at
//! run time in its own folder; every process is killed when the test ends, passing or failing.

use keel_shell::interop::genesis::ChainPlan;
use keel_shell::interop::{free_port, Chain, Proc, Tools};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn tools() -> Tools {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop");
    Tools::locate(&dir).unwrap_or_else(|e| panic!("{e}"))
}

fn work_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("interop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Keel {
    proc: Proc,
    rpc_port: u16,
}

fn start_keel(chain: &Chain, extra: &[&str]) -> Keel {
    let rpc_port = free_port().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keel"));
    cmd.args(chain.keel_args(rpc_port)).args(extra).env("RUST_LOG", "info");
    let proc = Proc::spawn("keel", cmd, &chain.dir.join("keel.log")).unwrap();
    Keel { proc, rpc_port }
}

fn hex_u64(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap_or_else(|| panic!("not a hex string: {v}")).trim_start_matches("0x"), 16).unwrap()
}

/// Waits until op-geth's head reaches `n`, failing with Keel's and op-geth's last log lines.
fn wait_for_height(chain: &Chain, keel: &mut Keel, n: u64, timeout: Duration) {
    let t0 = Instant::now();
    loop {
        let h = chain.geth.head_number().unwrap_or(0);
        if h >= n {
            return;
        }
        if let Some(status) = keel.proc.try_wait() {
            panic!("keel exited ({status}) at height {h}:\n{}", keel.proc.log_tail(30));
        }
        assert!(
            t0.elapsed() < timeout,
            "op-geth at height {h}, expected {n} within {timeout:?}\nkeel:\n{}\nop-geth log: {}",
            keel.proc.log_tail(30),
            chain.geth.log_path().display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn keel_sequences_thirty_blocks_on_op_geth() {
    let tools = tools();
    let dir = work_dir("sequence");
    let chain = Chain::up(&tools, &dir, 2, ChainPlan::jovian_at_genesis).unwrap();
    let mut keel = start_keel(&chain, &[]);
    wait_for_height(&chain, &mut keel, 32, Duration::from_secs(90));
    let head = chain.geth.head_number().unwrap();
    let mut parent = chain.geth.block("0x0", true).unwrap().unwrap();
    for n in 1..=head {
        let b = chain.geth.block(&format!("{n:#x}"), true).unwrap().unwrap_or_else(|| panic!("block {n} missing"));
        assert_eq!(b["parentHash"], parent["hash"], "block {n} extends block {}", n - 1);
        assert_eq!(hex_u64(&b["timestamp"]), hex_u64(&parent["timestamp"]) + 1, "block {n} timestamp");
        let txs = b["transactions"].as_array().unwrap();
        assert_eq!(txs[0]["type"], "0x7e", "block {n}: first transaction is a deposit");
        assert_eq!(txs[0]["to"], "0x4200000000000000000000000000000000000015", "block {n}: L1 info deposit to L1Block");
        parent = b;
    }
    drop(keel);
}
