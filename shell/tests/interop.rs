//! Keel sequencing real peers: op-geth (built from source by `interop/build.sh`) over anvil.
//!
//! These tests need the tools `interop/build.sh` builds; `.ci/run` runs the script first. Without the tools every
//! test fails with the command to run, never skips. Each test brings up its own anvil and op-geth on ports picked at
//! run time in its own folder under `target/tmp`; every process is killed when the test ends, passing or failing,
//! and every wait is bounded.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, B256, U256};
use keel_shell::interop::genesis::{self, ChainPlan};
use keel_shell::interop::{deposit, free_port, Chain, Proc, Tools};
use keel_shell::rpc::RpcClient;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn tools() -> Tools {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop");
    Tools::locate(&dir).unwrap_or_else(|e| panic!("{e}"))
}

fn up(name: &str, plan: impl FnOnce(u64) -> ChainPlan) -> Chain {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("interop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let mut chain = Chain::up(&tools(), &d, 2, plan).unwrap_or_else(|e| panic!("bringing up anvil and op-geth: {e}"));
    // A passing test leaves no datadir behind; a failing one keeps its logs for the report.
    chain.remove_dir_on_drop = true;
    chain
}

struct Keel {
    proc: Proc,
    rpc: String,
    metrics: String,
}

fn start_keel(chain: &Chain, extra: &[String]) -> Keel {
    start_keel_with(chain, extra, |a| a)
}

fn start_keel_with(chain: &Chain, extra: &[String], edit: impl Fn(String) -> String) -> Keel {
    let (rpc_port, metrics_port) = (free_port().unwrap(), free_port().unwrap());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keel"));
    cmd.args(chain.keel_args(rpc_port).into_iter().map(edit))
        .args(["--metrics.enabled".to_string(), format!("--metrics.port={metrics_port}")])
        .args(extra)
        .env("RUST_LOG", "info");
    let proc = Proc::spawn("keel", cmd, &chain.dir.join("keel.log")).unwrap();
    Keel {
        proc,
        rpc: format!("http://127.0.0.1:{rpc_port}"),
        metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
    }
}

impl Keel {
    fn call(&self, method: &str, params: Value) -> Value {
        let client = RpcClient::new("keel", &self.rpc, Duration::from_secs(10), None, 1 << 20);
        client.call(method, params).unwrap_or_else(|e| panic!("keel {method}: {e}"))
    }

    /// Sum of `keel_rpc_calls_total` for `target` (every method), or `None` while the endpoint is not up.
    fn rpc_calls(&self, target: &str) -> Option<f64> {
        let text = ureq::get(&self.metrics).call().ok()?.into_string().ok()?;
        let prefix = format!("keel_rpc_calls_total{{target=\"{target}\"");
        Some(
            text.lines()
                .filter(|l| l.starts_with(&prefix))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum(),
        )
    }
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn hex_u64(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap_or_else(|| panic!("not a hex string: {v}")).trim_start_matches("0x"), 16)
        .unwrap()
}

fn hex_u256(v: &Value) -> U256 {
    v.as_str().unwrap_or_else(|| panic!("not a hex string: {v}")).parse().unwrap()
}

fn block(chain: &Chain, n: u64) -> Value {
    chain.geth.block(&format!("{n:#x}"), true).unwrap().unwrap_or_else(|| panic!("op-geth has no block {n}"))
}

/// The receipt of `tx`, `null` while there is none (or while op-geth's transaction indexer is still starting).
fn receipt(chain: &Chain, tx: &Value) -> Value {
    match chain.geth.rpc.call("eth_getTransactionReceipt", json!([tx])) {
        Err(keel_core::RpcError::Rpc { message, .. }) if message.contains("indexing is in progress") => Value::Null,
        r => r.unwrap_or_else(|e| panic!("eth_getTransactionReceipt({tx}): {e}")),
    }
}

/// The L1 origin of an L2 block, from its L1 info deposit.
fn origin(chain: &Chain, b: &Value) -> alloy_eips::BlockNumHash {
    keel_shell::codec::l2_block("eth_getBlockByNumber", b.clone(), &chain.rollup.genesis)
        .unwrap_or_else(|e| panic!("block {}: {e}", b["number"]))
        .expect("a block")
        .l1_origin
}

/// Waits until `cond` holds for op-geth's head number, failing with Keel's last log lines.
fn wait_until(chain: &Chain, keel: &mut Keel, what: &str, timeout: Duration, mut cond: impl FnMut(u64) -> bool) -> u64 {
    let t0 = Instant::now();
    loop {
        let h = chain.geth.head_number().unwrap_or(0);
        if cond(h) {
            return h;
        }
        if let Some(status) = keel.proc.try_wait() {
            panic!("keel exited ({status}) at height {h} waiting for {what}:\n{}", keel.proc.log_tail(30));
        }
        assert!(
            t0.elapsed() < timeout,
            "{what}: not within {timeout:?} (op-geth at height {h})\nkeel:\n{}\nop-geth log: {}",
            keel.proc.log_tail(30),
            chain.geth.log_path().display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_for_height(chain: &Chain, keel: &mut Keel, n: u64, timeout: Duration) -> u64 {
    wait_until(chain, keel, &format!("height {n}"), timeout, |h| h >= n)
}

/// Every block 1..=head extends its parent by one second and starts with the L1 info deposit; returns the hashes.
fn check_chain(chain: &Chain) -> Vec<B256> {
    let head = chain.geth.head_number().unwrap();
    let mut parent = block(chain, 0);
    let mut hashes = vec![parent["hash"].as_str().unwrap().parse().unwrap()];
    for n in 1..=head {
        let b = block(chain, n);
        assert_eq!(b["parentHash"], parent["hash"], "block {n} extends block {}", n - 1);
        assert_eq!(hex_u64(&b["timestamp"]), hex_u64(&parent["timestamp"]) + 1, "block {n}: timestamp = parent + 1");
        let txs = b["transactions"].as_array().unwrap();
        assert_eq!(txs[0]["type"], "0x7e", "block {n}: first transaction is a deposit");
        assert_eq!(txs[0]["to"], "0x4200000000000000000000000000000000000015", "block {n}: L1 info deposit to L1Block");
        hashes.push(b["hash"].as_str().unwrap().parse().unwrap());
        parent = b;
    }
    hashes
}

/// A signed EIP-1559 transfer from the dev account.
fn transfer(nonce: u64, to: Address, value: u64) -> Bytes {
    let tx = TxEip1559 {
        chain_id: genesis::L2_CHAIN_ID,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000,
        to: TxKind::Call(to),
        value: U256::from(value),
        ..Default::default()
    };
    let key = k256::ecdsa::SigningKey::from_bytes(genesis::DEV_KEY.as_slice().into()).unwrap();
    let (sig, recid) = key.sign_prehash_recoverable(tx.signature_hash().as_slice()).unwrap();
    let bytes = sig.to_bytes();
    let signature = alloy_primitives::Signature::new(
        U256::from_be_slice(&bytes[..32]),
        U256::from_be_slice(&bytes[32..]),
        recid.is_y_odd(),
    );
    TxEnvelope::from(tx.into_signed(signature)).encoded_2718().into()
}

fn send(chain: &Chain, raw: &Bytes) -> Value {
    chain
        .geth
        .rpc
        .call("eth_sendRawTransaction", json!([raw]))
        .unwrap_or_else(|e| panic!("eth_sendRawTransaction: {e}"))
}

fn wait_receipt(chain: &Chain, keel: &mut Keel, tx: &Value, timeout: Duration) -> Value {
    let t0 = Instant::now();
    loop {
        let r = receipt(chain, tx);
        if !r.is_null() {
            return r;
        }
        wait_until(chain, keel, &format!("receipt of {tx}"), timeout.saturating_sub(t0.elapsed()), |_| true);
        assert!(t0.elapsed() < timeout, "no receipt for {tx} within {timeout:?}\nkeel:\n{}", keel.proc.log_tail(20));
        std::thread::sleep(Duration::from_millis(200));
    }
}

// 1.
#[test]
fn keel_sequences_thirty_blocks_on_op_geth() {
    let chain = up("sequence", ChainPlan::jovian_at_genesis);
    let mut keel = start_keel(&chain, &[]);
    // Catch-up from genesis (the L1 origin's time) is fast; then 30 more blocks at the 1 s block time.
    let start = wait_for_height(&chain, &mut keel, 2, Duration::from_secs(60));
    wait_for_height(&chain, &mut keel, start + 30, Duration::from_secs(90));
    let head = check_chain(&chain).len() - 1;
    assert!(head >= 32);
    // Keel's view agrees with op-geth's.
    let status = keel.call("optimism_syncStatus", json!([]));
    assert!(status["unsafe_l2"]["number"].as_u64().unwrap() >= head as u64);

    // Dropping the chain stops every process it started: nothing answers on their ports any more.
    let endpoints =
        [chain.anvil.url.clone(), chain.geth.http_url.clone(), chain.geth.auth_url.clone(), keel.rpc.clone()];
    drop(keel);
    drop(chain);
    std::thread::sleep(Duration::from_millis(300));
    for url in endpoints {
        let addr = url.trim_start_matches("http://");
        assert!(std::net::TcpStream::connect(addr).is_err(), "{url} still accepts connections after the drop");
    }
}

// 2.
#[test]
fn pool_transactions_are_included_except_while_no_tx_pool_holds() {
    let chain = up("txpool", ChainPlan::jovian_at_genesis);
    // Transactions wait in op-geth's pool before Keel starts ...
    let to = Address::repeat_byte(0x77);
    let hashes: Vec<Value> = (0..5).map(|n| send(&chain, &transfer(n, to, 1_000 + n))).collect();
    // ... and Keel starts 10 s behind wall time in recovery mode: every catch-up block is built with noTxPool, and
    // recovery ends when the chain has caught up (as in op-node).
    let lag = 10;
    let t0 = Instant::now();
    while now_s() < chain.plan.genesis_time + lag {
        assert!(t0.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(100));
    }
    let started = now_s();
    let mut keel = start_keel(&chain, &["--sequencer.recover".to_string()]);
    for h in &hashes {
        let r = wait_receipt(&chain, &mut keel, h, Duration::from_secs(60));
        assert_eq!(r["status"], "0x1", "receipt of {h}: {r}");
        let b = block(&chain, hex_u64(&r["blockNumber"]));
        assert_eq!(b["hash"], r["blockHash"], "the receipt's block is canonical");
        assert!(
            hex_u64(&b["timestamp"]) + 1 >= started,
            "pool transaction {h} was included in a catch-up block built with noTxPool"
        );
    }
    let behind: Vec<u64> = (1..=chain.geth.head_number().unwrap())
        .filter(|n| hex_u64(&block(&chain, *n)["timestamp"]) + 2 < started)
        .collect();
    assert!(behind.len() >= 7, "only {} blocks were built while behind", behind.len());
    for n in behind {
        for tx in block(&chain, n)["transactions"].as_array().unwrap() {
            assert_eq!(tx["type"], "0x7e", "block {n} was built with noTxPool but holds {}", tx["hash"]);
        }
    }
    let balance = chain.geth.rpc.call("eth_getBalance", json!([to, "latest"])).unwrap();
    assert_eq!(hex_u256(&balance), U256::from(5 * 1_000 + 10));
    let status = keel.call("optimism_syncStatus", json!([]));
    assert!(status["unsafe_l2"]["number"].as_u64().unwrap() > 0);
}

// 3.
#[test]
fn a_deposit_on_anvil_reaches_l2_in_the_first_block_of_its_epoch() {
    let chain = up("deposit", ChainPlan::jovian_at_genesis);
    let mut keel = start_keel(&chain, &[]);
    wait_for_height(&chain, &mut keel, 3, Duration::from_secs(60));
    let recipient = Address::repeat_byte(0x42);
    let value = U256::from(1_234_567_890_123_456_789u64);
    let l1_tx = deposit(&chain.anvil, genesis::DEV_ACCOUNT, recipient, value, 100_000).unwrap();
    let l1_receipt = {
        let t0 = Instant::now();
        loop {
            let r = chain.anvil.rpc.call("eth_getTransactionReceipt", json!([l1_tx])).unwrap();
            if !r.is_null() {
                break r;
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "deposit not mined on anvil");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert_eq!(l1_receipt["status"], "0x1", "{l1_receipt}");
    assert_eq!(l1_receipt["logs"].as_array().unwrap().len(), 1, "one TransactionDeposited log");
    let l1_number = hex_u64(&l1_receipt["blockNumber"]);

    // Wait for the first L2 block whose origin is the deposit's L1 block.
    let mut n = 1;
    let epoch_start = loop {
        wait_for_height(&chain, &mut keel, n, Duration::from_secs(60));
        let b = block(&chain, n);
        let o = origin(&chain, &b);
        if o.number == l1_number {
            break b;
        }
        assert!(
            o.number < l1_number,
            "block {n} has origin {} past the deposit's L1 block {l1_number} without it",
            o.number
        );
        n += 1;
    };
    let txs = epoch_start["transactions"].as_array().unwrap();
    let dep = txs
        .iter()
        .find(|t| t["type"] == "0x7e" && t["to"] == json!(recipient))
        .unwrap_or_else(|| panic!("block {n} (first of epoch {l1_number}) lacks the user deposit: {txs:?}"));
    assert_eq!(hex_u256(&dep["value"]), value);
    assert_eq!(hex_u256(&dep["mint"]), value);
    assert_eq!(dep["from"], json!(genesis::DEV_ACCOUNT), "an EOA's deposit is not aliased");
    let r = receipt(&chain, &dep["hash"]);
    assert_eq!(r["status"], "0x1", "deposit receipt: {r}");
    let bal = |tag: String| hex_u256(&chain.geth.rpc.call("eth_getBalance", json!([recipient, tag])).unwrap());
    assert_eq!(bal(format!("{:#x}", n - 1)), U256::ZERO);
    assert_eq!(bal(format!("{n:#x}")), value, "balance rises by the deposited value in block {n}");
}

// 4.
#[test]
fn isthmus_and_jovian_activate_mid_run_on_op_geth() {
    // Holocene at genesis; Isthmus at +8 s, Jovian at +14 s.
    let chain = up("forks", |t| ChainPlan::staggered(t, 8, 14));
    let mut keel = start_keel(&chain, &[]);
    // Keep the pool busy so that an activation block holding a pool transaction would show.
    let to = Address::repeat_byte(0x55);
    for n in 0..40 {
        send(&chain, &transfer(n, to, 1));
    }
    wait_for_height(&chain, &mut keel, 20, Duration::from_secs(60));
    let genesis_time = chain.plan.genesis_time;
    for (fork, offset, min_creations) in [("Isthmus", 8u64, 4usize), ("Jovian", 14, 2)] {
        let b = block(&chain, offset);
        assert_eq!(hex_u64(&b["timestamp"]), genesis_time + offset, "{fork} activation block");
        let txs = b["transactions"].as_array().unwrap();
        let mut creations = 0;
        for tx in txs {
            assert_eq!(tx["type"], "0x7e", "{fork} activation block holds a pool transaction {}", tx["hash"]);
            let r = receipt(&chain, &tx["hash"]);
            assert_eq!(r["status"], "0x1", "{fork} upgrade transaction {} failed: {r}", tx["hash"]);
            if tx["to"].is_null() {
                let addr = &r["contractAddress"];
                let code = chain.geth.rpc.call("eth_getCode", json!([addr, format!("{offset:#x}")])).unwrap();
                assert!(code.as_str().unwrap().len() > 2, "{fork}: no code at the deployed {addr}");
                creations += 1;
            }
        }
        assert!(
            creations >= min_creations,
            "{fork}: {creations} deployments, expected the L1Block and GasPriceOracle ones"
        );
        // Before the activation block the new implementations do not exist.
        let before = block(&chain, offset - 1);
        assert!(before["transactions"].as_array().unwrap().iter().all(|t| !t["to"].is_null()));
    }
    // Jovian blocks carry the Jovian extraData (version 1, 17 bytes) and the chain goes on with pool transactions.
    let b = block(&chain, 16);
    assert_eq!(b["extraData"].as_str().unwrap().len(), 2 + 34);
    assert!(b["extraData"].as_str().unwrap().starts_with("0x01"));
    let pre = block(&chain, 5);
    assert_eq!(pre["extraData"].as_str().unwrap().len(), 2 + 18, "Holocene extraData before Jovian");
    check_chain(&chain);
    let included: usize = (1..=chain.geth.head_number().unwrap())
        .map(|n| block(&chain, n)["transactions"].as_array().unwrap().iter().filter(|t| t["type"] != "0x7e").count())
        .sum();
    assert!(included > 0, "pool transactions were included around the forks");
}

// 5.
#[test]
fn sigkill_resumes_from_op_geth_head_and_sigterm_lands_the_block_in_flight() {
    let chain = up("restart", ChainPlan::jovian_at_genesis);
    let mut keel = start_keel(&chain, &[]);
    let h = wait_for_height(&chain, &mut keel, 5, Duration::from_secs(60));
    wait_until(&chain, &mut keel, "a new block", Duration::from_secs(10), |n| n > h);
    std::thread::sleep(Duration::from_millis(500)); // mid-slot
    keel.proc.kill();
    let before = check_chain(&chain);
    let mut keel = start_keel(&chain, &[]);
    wait_for_height(&chain, &mut keel, before.len() as u64 + 3, Duration::from_secs(30));
    let after = check_chain(&chain);
    assert_eq!(&after[..before.len()], &before[..], "a height was built twice: the chain before the kill changed");

    let h = wait_until(&chain, &mut keel, "a new block", Duration::from_secs(10), |_| true);
    wait_until(&chain, &mut keel, "a new block", Duration::from_secs(10), |n| n > h);
    std::thread::sleep(Duration::from_millis(400));
    let at_signal = chain.geth.head_number().unwrap();
    keel.proc.signal("TERM").unwrap();
    let status = keel.proc.wait_timeout(Duration::from_secs(20)).expect("keel exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "clean exit after SIGTERM:\n{}", keel.proc.log_tail(20));
    let landed = chain.geth.head_number().unwrap();
    assert!(
        (at_signal + 1..=at_signal + 2).contains(&landed),
        "SIGTERM at height {at_signal}: the block in flight should land, op-geth is at {landed}"
    );
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(chain.geth.head_number().unwrap(), landed, "nothing is built after exit");
    check_chain(&chain);
}

// 6.
#[test]
fn op_geth_down_for_ten_seconds_backs_off_then_resumes() {
    let mut chain = up("engine-down", ChainPlan::jovian_at_genesis);
    let mut keel = start_keel(&chain, &[]);
    let h = wait_for_height(&chain, &mut keel, 5, Duration::from_secs(60));
    wait_until(&chain, &mut keel, "a new block", Duration::from_secs(10), |n| n > h);
    chain.geth.stop();
    std::thread::sleep(Duration::from_secs(1));
    let calls_before = keel.rpc_calls("engine").expect("metrics");
    std::thread::sleep(Duration::from_secs(10));
    let calls_during = keel.rpc_calls("engine").expect("metrics") - calls_before;
    assert!(keel.proc.try_wait().is_none(), "keel must wait for the engine, not exit:\n{}", keel.proc.log_tail(20));
    // Retries back off: a handful of calls in 10 s, not a hot loop.
    assert!(calls_during <= 40.0, "{calls_during} engine calls in 10 s while op-geth was down");
    chain.geth.start().unwrap();
    let restarted_at = chain.geth.head_number().unwrap();
    wait_for_height(&chain, &mut keel, restarted_at + 3, Duration::from_secs(60));
    check_chain(&chain);
}

// 7.
#[test]
fn an_anvil_reorg_of_the_current_origin_moves_the_chain_to_canonical_origins() {
    let chain = up("l1-reorg", ChainPlan::jovian_at_genesis);
    let mut keel = start_keel(&chain, &[]);
    // Run until the origin has advanced past genesis, then orphan the current origin.
    let t0 = Instant::now();
    let current = loop {
        let latest = chain.geth.block("latest", true).unwrap().unwrap();
        if hex_u64(&latest["number"]) > 0 && origin(&chain, &latest).number >= 3 {
            break origin(&chain, &latest);
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "origin did not advance");
        std::thread::sleep(Duration::from_millis(200));
    };
    let l1_head = chain.anvil.latest().unwrap().number;
    let depth = l1_head - current.number + 1;
    // Replace the last `depth` blocks; the transfer in the first new block makes its hash differ.
    let tx = json!({"from": genesis::DEV_ACCOUNT, "to": Address::repeat_byte(0x99), "value": "0x1", "gas": "0x5208"});
    chain.anvil.rpc.call("anvil_reorg", json!([depth, [[tx, 0]]])).unwrap_or_else(|e| panic!("anvil_reorg: {e}"));
    let replaced =
        chain.anvil.rpc.call("eth_getBlockByNumber", json!([format!("{:#x}", current.number), false])).unwrap();
    assert_ne!(replaced["hash"], json!(current.hash), "anvil_reorg did not replace the origin");

    // Within a few L1 blocks, Keel's chain from genesis to head uses only canonical origins.
    let t0 = Instant::now();
    loop {
        let head = chain.geth.head_number().unwrap();
        let stale = (1..=head).find(|n| {
            let o = origin(&chain, &block(&chain, *n));
            let l1 = chain.anvil.rpc.call("eth_getBlockByNumber", json!([format!("{:#x}", o.number), false])).unwrap();
            l1["hash"] != json!(o.hash)
        });
        let Some(stale) = stale else {
            // And the chain keeps growing on canonical origins.
            let n = head + 3;
            wait_for_height(&chain, &mut keel, n, Duration::from_secs(30));
            let o = origin(&chain, &block(&chain, n));
            let l1 = chain.anvil.rpc.call("eth_getBlockByNumber", json!([format!("{:#x}", o.number), false])).unwrap();
            assert_eq!(l1["hash"], json!(o.hash));
            break;
        };
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "block {stale} still has an orphaned L1 origin after 60 s\nkeel:\n{}",
            keel.proc.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    check_chain(&chain);
}

// 8.
#[test]
fn a_wrong_jwt_secret_is_an_authentication_error_without_blocks_or_hot_loop() {
    let chain = up("bad-jwt", ChainPlan::jovian_at_genesis);
    let wrong = chain.dir.join("wrong-jwt.hex");
    std::fs::write(&wrong, "0x".to_string() + &"ab".repeat(32)).unwrap();
    let keel = start_keel_with(&chain, &[], |a| {
        if a.starts_with("--l2.jwt-secret=") {
            format!("--l2.jwt-secret={}", wrong.display())
        } else {
            a
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    let calls_start = keel.rpc_calls("engine");
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(chain.geth.head_number().unwrap(), 0, "no block may be built with a rejected JWT");
    let log = std::fs::read_to_string(chain.dir.join("keel.log")).unwrap();
    assert!(
        log.lines().any(|l| l.contains("401") && l.to_ascii_lowercase().contains("jwt")),
        "the log names the rejected JWT:\n{}",
        keel.proc.log_tail(20)
    );
    if let (Some(a), Some(b)) = (calls_start, keel.rpc_calls("engine")) {
        assert!(b - a <= 20.0, "{} engine calls in 8 s with a rejected JWT", b - a);
    }
    let lines = log.lines().count();
    assert!(lines < 200, "{lines} log lines in 10 s: a hot loop");
}

/// `keel devnet --engine=op-geth`, as the README gives it.
#[test]
fn devnet_on_op_geth_prints_a_line_per_block_and_stops_cleanly() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("interop-devnet-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["devnet", "--engine=op-geth", "--blocks=5", "--port=0", "--l1-block-time-s=2"])
        .arg(format!("--interop-dir={}", tools().dir.display()))
        .arg(format!("--datadir={}", dir.display()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{text}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("block ")).collect();
    assert!(lines.len() >= 5, "{text}");
    assert!(lines.iter().all(|l| l.contains(" origin=") && l.contains(" txs=")), "{text}");
    assert!(text.contains("op-geth at http://127.0.0.1:"), "{text}");
    assert!(dir.join("rollup.json").exists() && dir.join("op-geth.log").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn op_node_follows_keel_over_gossip_block_for_block() {
    use keel_shell::p2p::{random_key, P2pConfig};
    let t = tools();
    assert!(t.op_node.exists(), "op-node not found at {}: run `bash interop/build.sh`", t.op_node.display());
    let chain = up("opnode-gossip", ChainPlan::jovian_at_genesis);
    // op-node's own engine: a second op-geth from the same genesis.
    let vdir = chain.dir.join("validator");
    std::fs::create_dir_all(&vdir).unwrap();
    let vjwt = keel_shell::jwt::JwtSecret::random().unwrap();
    let mut vgeth = keel_shell::interop::OpGeth::init_and_start(&t, &vdir, &chain.plan.op_geth_genesis(), &vjwt)
        .unwrap_or_else(|e| panic!("validator op-geth: {e}"));
    // The unsafe block signer where op-node reads it: the SystemConfig's storage on L1.
    let slot = keel_shell::p2p::unsafe_block_signer_slot();
    let word = B256::left_padding_from(genesis::DEV_ACCOUNT.as_slice());
    chain.anvil.rpc.call("anvil_setStorageAt", json!([genesis::SYSTEM_CONFIG, slot, word])).unwrap();
    let l1_config = vdir.join("l1-chain-config.json");
    std::fs::write(&l1_config, genesis::op_node_l1_chain_config().to_string()).unwrap();

    let loopback = [127, 0, 0, 1].into();
    let (op_key, keel_key) = (random_key().unwrap(), random_key().unwrap());
    let op_id = P2pConfig::new(loopback, 0, op_key).peer_id().unwrap();
    let keel_id = P2pConfig::new(loopback, 0, keel_key).peer_id().unwrap();
    let (op_p2p, keel_p2p, op_rpc_port) = (free_port().unwrap(), free_port().unwrap(), free_port().unwrap());
    let op_key_path = vdir.join("opnode_p2p_priv.txt");
    std::fs::write(&op_key_path, alloy_primitives::hex::encode(op_key)).unwrap();
    let bootnode = {
        let k = k256::ecdsa::SigningKey::from_bytes(&op_key.into()).unwrap();
        let point = k.verifying_key().to_encoded_point(false);
        format!("enode://{}@127.0.0.1:{op_p2p}", alloy_primitives::hex::encode(&point.as_bytes()[1..]))
    };
    let mut cmd = Command::new(&t.op_node);
    cmd.args([
        format!("--l1={}", chain.anvil.url),
        "--l1.beacon.ignore".into(),
        "--l1.trustrpc".into(),
        "--l1.rpckind=basic".into(),
        "--l1.http-poll-interval=1s".into(),
        format!("--l2={}", vgeth.auth_url),
        format!("--l2.jwt-secret={}", vgeth.jwt_path.display()),
        format!("--rollup.config={}", chain.rollup_path.display()),
        format!("--rollup.l1-chain-config={}", l1_config.display()),
        "--syncmode=consensus-layer".into(),
        "--p2p.listen.ip=127.0.0.1".into(),
        format!("--p2p.listen.tcp={op_p2p}"),
        format!("--p2p.listen.udp={op_p2p}"),
        "--p2p.no-discovery".into(),
        // op-node resolves its default (public) bootnodes even without discovery: name a local one instead.
        format!("--p2p.bootnodes={bootnode}"),
        format!("--p2p.static=/ip4/127.0.0.1/tcp/{keel_p2p}/p2p/{keel_id}"),
        format!("--p2p.priv.path={}", op_key_path.display()),
        "--rpc.addr=127.0.0.1".into(),
        format!("--rpc.port={op_rpc_port}"),
        "--log.level=debug".into(),
        // In memory, not in op-node's default folders under the working directory.
        "--p2p.discovery.path=memory".into(),
        "--p2p.peerstore.path=memory".into(),
    ]);
    let mut op_node = Proc::spawn("op-node", cmd, &vdir.join("op-node.log")).unwrap();
    let op_rpc =
        RpcClient::new("op-node", &format!("http://127.0.0.1:{op_rpc_port}"), Duration::from_secs(5), None, 1 << 20);
    let t0 = Instant::now();
    while op_rpc.call("optimism_syncStatus", json!([])).is_err() {
        assert!(op_node.try_wait().is_none(), "op-node exited:\n{}", op_node.log_tail(40));
        assert!(t0.elapsed() < Duration::from_secs(60), "op-node RPC not up:\n{}", op_node.log_tail(40));
        std::thread::sleep(Duration::from_millis(200));
    }

    // Keel stopped until op-node is on its topic, so op-node sees every block from the first.
    let mut keel = start_keel(
        &chain,
        &[
            "--sequencer.stopped".into(),
            "--p2p.listen.ip=127.0.0.1".into(),
            format!("--p2p.listen.tcp={keel_p2p}"),
            format!("--p2p.priv.raw={}", alloy_primitives::hex::encode(keel_key)),
            format!("--p2p.sequencer.key={}", genesis::DEV_KEY),
            format!("--p2p.static=/ip4/127.0.0.1/tcp/{op_p2p}/p2p/{op_id}"),
            "--p2p.no-discovery".into(),
        ],
    );
    let t0 = Instant::now();
    loop {
        let client = RpcClient::new("keel", &keel.rpc, Duration::from_secs(2), None, 1 << 20);
        if let Ok(stats) = client.call("opp2p_peerStats", json!([])) {
            if stats["connected"].as_u64() >= Some(1) && stats["blocksTopicV4"].as_u64() >= Some(1) {
                break;
            }
        }
        assert!(keel.proc.try_wait().is_none(), "keel exited:\n{}", keel.proc.log_tail(40));
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "op-node never joined Keel's v4 topic; keel:\n{}\nop-node:\n{}",
            keel.proc.log_tail(20),
            op_node.log_tail(40)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let peers = keel.call("opp2p_peers", json!([true]));
    assert!(peers["peers"][op_id.to_string()]["userAgent"].as_str().unwrap_or("").contains("optimism"), "{peers}");
    keel.call("admin_startSequencer", json!([chain.rollup.genesis.l2.hash]));

    let op_unsafe = || -> u64 {
        op_rpc.call("optimism_syncStatus", json!([])).ok().and_then(|s| s["unsafe_l2"]["number"].as_u64()).unwrap_or(0)
    };
    let t0 = Instant::now();
    while op_unsafe() < 12 {
        assert!(op_node.try_wait().is_none(), "op-node exited:\n{}", op_node.log_tail(40));
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "op-node's unsafe head is at {} (Keel's engine at {}); op-node log:\n{}",
            op_unsafe(),
            chain.geth.head_number().unwrap_or(0),
            op_node.log_tail(60)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Within one block time: op-node's head is never more than one block behind Keel's.
    for _ in 0..8 {
        let keel_head = chain.geth.head_number().unwrap();
        let op_head = op_unsafe();
        assert!(op_head + 1 >= keel_head, "op-node at {op_head}, Keel at {keel_head}");
        std::thread::sleep(Duration::from_millis(700));
    }
    // Block for block: op-node's engine holds Keel's blocks, same hashes.
    let head = vgeth.head_number().unwrap();
    assert!(head >= 12);
    for n in 1..=head {
        let tag = format!("{n:#x}");
        let mine = chain.geth.block(&tag, false).unwrap().unwrap();
        let theirs = vgeth.block(&tag, false).unwrap().unwrap();
        assert_eq!(theirs["hash"], mine["hash"], "block {n}");
    }
    op_node.kill();
    keel.proc.kill();
    vgeth.stop();
}
