//! End to end: the real node (builder, driver, workers, JSON-RPC server, metrics) against the fake L1, engine,
//! conductor and follower servers over localhost HTTP, on wall-clock time.

use keel_shell::builder::{NodeHandle, NodeMode, RollupNode, RpcConfig, SequencerConfig};
use keel_shell::fake::{FakeWorld, FakeWorldConfig};
use keel_shell::jwt::JwtSecret;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn world(seed: u64) -> FakeWorld {
    let mut cfg = FakeWorldConfig::new(JwtSecret::new([seed as u8; 32]));
    cfg.seed = seed;
    cfg.block_time_ms = 1_000;
    FakeWorld::start(cfg).unwrap()
}

fn start(w: &FakeWorld, jwt: JwtSecret, seq: SequencerConfig) -> NodeHandle {
    RollupNode::builder(w.rollup_config())
        .with_mode(NodeMode::Sequencer)
        .with_sequencer_config(seq)
        .with_l1_provider_rpc_url(w.l1_url())
        .with_l1_beacon_url(w.l1_url())
        .with_l2_engine_rpc_url(w.engine_url())
        .with_jwt_secret(jwt)
        .with_rpc(RpcConfig { addr: "127.0.0.1:0".parse().unwrap(), enable_admin: true })
        .with_metrics("127.0.0.1:0".parse().unwrap())
        .with_static_followers(vec![w.follower_url()])
        .with_l1_poll_interval(Duration::from_millis(200))
        .build()
        .unwrap()
        .start()
        .unwrap()
}

fn rpc(node: &NodeHandle, method: &str, params: Value) -> Value {
    let url = format!("http://{}", node.rpc_addr().unwrap());
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let text = ureq::post(&url).send_string(&body.to_string()).unwrap().into_string().unwrap();
    serde_json::from_str(&text).unwrap()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn seeded_jwt(seed: u64) -> JwtSecret {
    JwtSecret::new([seed as u8; 32])
}

#[test]
fn sequences_blocks_and_serves_rpc_and_metrics() {
    let w = world(1);
    let node = start(&w, seeded_jwt(1), SequencerConfig::default());
    wait_for("5 blocks", Duration::from_secs(20), || w.engine_head().number >= 5);
    wait_for("followers to receive blocks", Duration::from_secs(5), || w.published_count() >= 4);

    let status = rpc(&node, "optimism_syncStatus", json!([]));
    let unsafe_l2 = &status["result"]["unsafe_l2"];
    assert!(unsafe_l2["number"].as_u64().unwrap() >= 5, "{status}");
    assert!(unsafe_l2["l1origin"]["hash"].is_string() && unsafe_l2["sequenceNumber"].is_u64(), "{status}");
    assert!(status["result"]["head_l1"]["number"].as_u64().unwrap() > 0);
    assert_eq!(rpc(&node, "admin_sequencerActive", json!([]))["result"], json!(true));
    let cfg = rpc(&node, "optimism_rollupConfig", json!([]));
    assert_eq!(cfg["result"]["block_time"], json!(1));
    assert!(rpc(&node, "optimism_version", json!([]))["result"].as_str().unwrap().contains("keel"));
    let out = rpc(&node, "optimism_outputAtBlock", json!(["0x2"]));
    assert_eq!(out["result"]["blockRef"]["number"], json!(2), "{out}");
    assert!(out["result"]["outputRoot"].as_str().unwrap().starts_with("0x"));
    // Errors distinguish bad params from unknown methods.
    assert_eq!(rpc(&node, "admin_startSequencer", json!(["not-a-hash"]))["error"]["code"], json!(-32602));
    assert_eq!(rpc(&node, "optimism_outputAtBlock", json!(["zz"]))["error"]["code"], json!(-32602));
    assert_eq!(rpc(&node, "no_such_method", json!([]))["error"]["code"], json!(-32601));
    let r = rpc(&node, "admin_sequencerActive", json!([1]));
    assert_eq!(
        (r["error"]["code"].clone(), r["error"]["message"].clone()),
        (json!(-32602), json!("too many arguments, want at most 0"))
    );
    let r = rpc(&node, "admin_startSequencer", json!([]));
    assert_eq!(r["error"]["message"], json!("missing value for required argument 0"));
    // op-node's health endpoint.
    let url = format!("http://{}", node.rpc_addr().unwrap());
    let health = ureq::get(&format!("{url}/healthz")).call().unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.into_string().unwrap().contains("keel"));
    // A posted payload whose hash does not match its header is refused, as op-node does.
    let zero = format!("0x{}", "00".repeat(32));
    let payload = json!({
        "parentHash": zero, "feeRecipient": format!("0x{}", "00".repeat(20)), "stateRoot": zero, "receiptsRoot": zero,
        "logsBloom": format!("0x{}", "00".repeat(256)), "prevRandao": zero, "blockNumber": "0x1", "gasLimit": "0x1",
        "gasUsed": "0x0", "timestamp": "0x1", "extraData": "0x", "baseFeePerGas": "0x1",
        "blockHash": format!("0x{}", "11".repeat(32)), "transactions": [], "withdrawals": [], "blobGasUsed": "0x0",
        "excessBlobGas": "0x0",
    });
    let r =
        rpc(&node, "admin_postUnsafePayload", json!([{"executionPayload": payload, "parentBeaconBlockRoot": zero}]));
    let msg = r["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(
        msg.starts_with(&format!("payload has bad block hash: 0x{}, actual block hash is: 0x", "11".repeat(32))),
        "{r}"
    );
    let err = rpc(&node, "admin_startSequencer", json!([format!("0x{}", "11".repeat(32))]));
    assert_eq!(err["error"]["message"], json!("sequencer already running"));

    let metrics =
        ureq::get(&format!("http://{}/metrics", node.metrics_addr().unwrap())).call().unwrap().into_string().unwrap();
    for m in [
        "keel_blocks_sequenced_total",
        "keel_unsafe_head_number",
        "keel_sequencer_active 1",
        "keel_block_build_seconds_bucket",
        "keel_block_seal_delay_seconds_count",
        "keel_block_build_window_ratio",
        "keel_rpc_duration_seconds_bucket{target=\"engine\",method=\"engine_getPayloadV3\"",
        "keel_transactions_sequenced_total",
        "keel_block_own_seconds_count",
        "keel_catchup_blocks_per_second 0",
    ] {
        assert!(metrics.contains(m), "metrics lack {m}\n{metrics}");
    }
    node.stop();
    assert_eq!(node.join(), keel_shell::driver::Exit::Stopped);
    w.stop();
}

#[test]
fn catch_up_rate_is_reported_while_behind_and_zero_once_caught_up() {
    let mut cfg = FakeWorldConfig::new(JwtSecret::new([7; 32]));
    cfg.seed = 7;
    cfg.block_time_ms = 1_000;
    // Ten minutes behind: 600 blocks to build back to back.
    cfg.genesis_time_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 600;
    let w = FakeWorld::start(cfg).unwrap();
    let node = start(&w, JwtSecret::new([7; 32]), SequencerConfig::default());
    let rate = || node.metrics().value("keel_catchup_blocks_per_second", &[]).unwrap_or(0.0);
    let mut peak = 0.0f64;
    let t0 = Instant::now();
    while w.engine_head().number < 590 && t0.elapsed() < Duration::from_secs(120) {
        peak = peak.max(rate());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(peak > 2.0, "catching up, the rate is above one block per block time: {peak}");
    let own = node.metrics().render();
    assert!(own.contains("keel_block_own_seconds_count"), "{own}");
    wait_for("caught up", Duration::from_secs(30), || rate() == 0.0 && w.engine_head().number >= 600);
    node.stop();
    node.join();
    w.stop();
}

#[test]
fn stopped_start_and_stop_over_admin_rpc() {
    let w = world(2);
    let node = start(&w, seeded_jwt(2), SequencerConfig { sequencer_stopped: true, ..Default::default() });
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(w.engine_head().number, 0, "a stopped sequencer builds nothing");
    assert_eq!(rpc(&node, "admin_sequencerActive", json!([]))["result"], json!(false));
    assert_eq!(rpc(&node, "admin_stopSequencer", json!([]))["error"]["message"], json!("sequencer not running"));
    let head = w.engine_head().hash;
    let r = rpc(&node, "admin_startSequencer", json!([head]));
    assert_eq!(r["result"], Value::Null, "{r}");
    wait_for("3 blocks", Duration::from_secs(15), || w.engine_head().number >= 3);
    let stopped = rpc(&node, "admin_stopSequencer", json!([]));
    let at = w.engine_head();
    assert_eq!(stopped["result"], json!(at.hash), "stop returns the unsafe head");
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(w.engine_head(), at, "no blocks after stop");
    node.stop();
    node.join();
    w.stop();
}

#[test]
fn admin_methods_need_the_admin_flag() {
    let w = world(3);
    let node = RollupNode::builder(w.rollup_config())
        .with_mode(NodeMode::Sequencer)
        .with_sequencer_config(SequencerConfig { sequencer_stopped: true, ..Default::default() })
        .with_l1_provider_rpc_url(w.l1_url())
        .with_l2_engine_rpc_url(w.engine_url())
        .with_jwt_secret(seeded_jwt(3))
        .with_rpc(RpcConfig { addr: "127.0.0.1:0".parse().unwrap(), enable_admin: false })
        .build()
        .unwrap()
        .start()
        .unwrap();
    let r = rpc(&node, "admin_sequencerActive", json!([]));
    assert_eq!(r["error"]["code"], json!(-32601), "{r}");
    assert!(rpc(&node, "optimism_syncStatus", json!([]))["result"].is_object());
    // Oversized and malformed requests get clear errors, not a crash.
    let url = format!("http://{}", node.rpc_addr().unwrap());
    let big = "x".repeat(6 * 1024 * 1024);
    match ureq::post(&url).send_string(&big) {
        Err(ureq::Error::Status(413, _)) => {}
        other => panic!("expected 413, got {other:?}"),
    }
    let r: Value =
        serde_json::from_str(&ureq::post(&url).send_string("{not json").unwrap().into_string().unwrap()).unwrap();
    assert_eq!(r["error"]["code"], json!(-32700));
    node.stop();
    node.join();
    w.stop();
}

#[test]
fn wrong_jwt_secret_is_reported_as_authentication_failure_with_backoff() {
    let w = world(4);
    let node = start(&w, JwtSecret::new([0xee; 32]), SequencerConfig::default());
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(w.engine_head().number, 0);
    assert!(w.auth_failures() > 0);
    let metrics = node.metrics().render();
    assert!(
        metrics
            .contains("keel_rpc_errors_total{target=\"engine\",method=\"eth_getBlockByNumber\",class=\"transport\"}"),
        "{metrics}"
    );
    let attempts = node
        .metrics()
        .value("keel_rpc_calls_total", &[("target", "engine"), ("method", "eth_getBlockByNumber")])
        .unwrap();
    assert!(attempts <= 10.0, "{attempts} engine calls in 6 s: backoff, not a hot loop");
    node.stop();
    node.join();
    w.stop();
}

#[test]
fn dead_engine_gets_backoff_and_recovery_continues_the_chain() {
    let w = world(5);
    let node = start(&w, seeded_jwt(5), SequencerConfig::default());
    wait_for("3 blocks", Duration::from_secs(15), || w.engine_head().number >= 3);
    w.set_engine_down(true);
    let before = node.metrics().render();
    let count = |text: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with("keel_rpc_calls_total{target=\"engine\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    std::thread::sleep(Duration::from_secs(8));
    let calls = count(&node.metrics().render()) - count(&before);
    assert!(calls <= 8.0, "{calls} engine calls in 8 s against a dead engine");
    let stuck = w.engine_head().number;
    w.set_engine_down(false);
    wait_for("progress after the engine is back", Duration::from_secs(30), || w.engine_head().number >= stuck + 3);
    node.stop();
    node.join();
    w.stop();
}

#[test]
fn restart_resumes_from_the_engine_head() {
    let w = world(6);
    let node = start(&w, seeded_jwt(6), SequencerConfig::default());
    wait_for("4 blocks", Duration::from_secs(20), || w.engine_head().number >= 4);
    node.stop();
    assert_eq!(node.join(), keel_shell::driver::Exit::Stopped);
    let head = w.engine_head();
    let node = start(&w, seeded_jwt(6), SequencerConfig::default());
    wait_for("2 more blocks", Duration::from_secs(20), || w.engine_head().number >= head.number + 2);
    // The new node continued the same chain: the old head is an ancestor of the new one.
    let status = rpc(&node, "optimism_outputAtBlock", json!([format!("{:#x}", head.number)]));
    assert_eq!(status["result"]["blockRef"]["hash"], json!(head.hash), "{status}");
    node.stop();
    node.join();
    w.stop();
}

#[test]
fn conductor_gates_the_node_over_http() {
    let w = world(7);
    let seq = SequencerConfig { conductor_rpc_url: Some(w.conductor_url()), ..Default::default() };
    let node = start(&w, seeded_jwt(7), seq);
    std::thread::sleep(Duration::from_millis(1_200));
    assert_eq!(rpc(&node, "admin_sequencerActive", json!([]))["result"], json!(false), "a conductor starts it");
    assert_eq!(rpc(&node, "admin_conductorEnabled", json!([]))["result"], json!(true));
    w.set_leader(false);
    let head = w.engine_head().hash;
    assert_eq!(
        rpc(&node, "admin_startSequencer", json!([head]))["error"]["message"],
        json!("sequencer is not the leader, aborting")
    );
    w.set_leader(true);
    assert_eq!(rpc(&node, "admin_startSequencer", json!([head]))["result"], Value::Null);
    wait_for("3 committed blocks", Duration::from_secs(15), || w.engine_head().number >= 3);
    assert!(w.conductor_log_len() >= 3);
    let published = w.published_hashes();
    assert!(published.len() <= w.conductor_log_len(), "nothing published beyond what was committed");
    node.stop();
    node.join();
    w.stop();
}

#[test]
fn admin_state_persists_start_and_stop_across_restarts() {
    let w = world(8);
    let dir = std::env::temp_dir().join(format!("keel-admin-state-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("admin-state.json");
    let build = |stopped: bool| {
        RollupNode::builder(w.rollup_config())
            .with_mode(NodeMode::Sequencer)
            .with_sequencer_config(SequencerConfig { sequencer_stopped: stopped, ..Default::default() })
            .with_l1_provider_rpc_url(w.l1_url())
            .with_l2_engine_rpc_url(w.engine_url())
            .with_jwt_secret(seeded_jwt(8))
            .with_rpc(RpcConfig { addr: "127.0.0.1:0".parse().unwrap(), enable_admin: true })
            .with_admin_state(&state)
            .unwrap()
            .build()
            .unwrap()
            .start()
            .unwrap()
    };
    // Started over the admin API: a restart with --sequencer.stopped still sequences.
    let node = build(true);
    std::thread::sleep(Duration::from_millis(800));
    let head = w.engine_head().hash;
    assert_eq!(rpc(&node, "admin_startSequencer", json!([head]))["result"], Value::Null);
    assert_eq!(std::fs::read_to_string(&state).unwrap(), r#"{"sequencerStarted":true}"#);
    node.stop();
    node.join();
    assert_eq!(std::fs::read_to_string(&state).unwrap(), r#"{"sequencerStarted":true}"#, "a shutdown does not persist");
    let node = build(true);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(rpc(&node, "admin_sequencerActive", json!([]))["result"], json!(true));
    // Stopped over the admin API: a restart without --sequencer.stopped stays stopped.
    assert!(rpc(&node, "admin_stopSequencer", json!([]))["result"].is_string());
    node.stop();
    node.join();
    let node = build(false);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(rpc(&node, "admin_sequencerActive", json!([]))["result"], json!(false));
    node.stop();
    node.join();
    std::fs::remove_dir_all(dir).unwrap();
    w.stop();
}

/// Through Isthmus, Jovian and Karst over HTTP: getPayloadV5 from Karst, the Karst activation block's NUTs and gas,
/// `optimism_rollupConfig` and `optimism_outputAtBlock` on post-Jovian/Karst blocks, and a restart on a post-Karst
/// engine head (the Jovian-format L1 info read back through the shell's codec).
#[test]
fn runs_through_jovian_and_karst_and_restarts_on_a_karst_head() {
    let mut cfg = FakeWorldConfig::new(JwtSecret::new([9; 32]));
    cfg.seed = 9;
    cfg.block_time_ms = 1_000;
    cfg.fork_offsets_s = [Some(2), Some(4), Some(7)];
    let w = FakeWorld::start(cfg).unwrap();
    let karst_time = w.rollup_config().karst_time.unwrap();
    let node = start(&w, JwtSecret::new([9; 32]), SequencerConfig::default());
    wait_for("blocks past Karst", Duration::from_secs(30), || w.engine_head().timestamp_s() >= karst_time + 2);
    let rc = rpc(&node, "optimism_rollupConfig", json!([]));
    assert_eq!(rc["result"]["karst_time"], json!(karst_time), "{rc}");
    let genesis_time = w.rollup_config().genesis.l2_time;
    let karst_block = karst_time - genesis_time; // 1 s blocks from genesis number 0
    let out = rpc(&node, "optimism_outputAtBlock", json!([format!("{karst_block:#x}")]));
    assert_eq!(out["result"]["blockRef"]["number"], json!(karst_block), "{out}");
    let out = rpc(&node, "optimism_outputAtBlock", json!([format!("{:#x}", karst_block + 1)]));
    assert!(out["result"]["outputRoot"].is_string(), "{out}");
    node.stop();
    node.join();
    // A new node against the same engine resumes from the post-Karst head.
    let head = w.engine_head().number;
    let node = start(&w, JwtSecret::new([9; 32]), SequencerConfig::default());
    wait_for("blocks after the restart", Duration::from_secs(20), || w.engine_head().number >= head + 3);
    node.stop();
    node.join();
}

#[test]
fn derives_safe_and_finalized_heads_from_the_batchers_l1_data() {
    // 2 s L1 blocks finalized four behind the head; the fake world's batcher posts the engine's blocks as calldata
    // and blobs.
    let mut cfg = FakeWorldConfig::new(seeded_jwt(9));
    cfg.seed = 9;
    cfg.block_time_ms = 1_000;
    cfg.l1_block_time_s = 2;
    let w = FakeWorld::start(cfg).unwrap();
    let node = start(&w, seeded_jwt(9), SequencerConfig::default());
    let head = |status: &Value, which: &str| status["result"][which]["number"].as_u64().unwrap_or(0);
    let mut status = Value::Null;
    wait_for("safe and finalized to move", Duration::from_secs(60), || {
        status = rpc(&node, "optimism_syncStatus", json!([]));
        head(&status, "safe_l2") >= 4 && head(&status, "finalized_l2") >= 1
    });
    assert!(head(&status, "safe_l2") <= head(&status, "unsafe_l2"), "{status}");
    assert!(head(&status, "finalized_l2") <= head(&status, "safe_l2"), "{status}");
    // The safe head is on the sequenced chain, and the engine hears about it.
    let safe_hash = status["result"]["safe_l2"]["hash"].clone();
    let n = head(&status, "safe_l2");
    let block = rpc(&node, "optimism_outputAtBlock", json!([format!("{n:#x}")]));
    assert_eq!(block["result"]["blockRef"]["hash"], safe_hash, "{block}");
    // optimism_safeHeadAtL1Block answers for the current L1 block with a safe head at or below the latest (read
    // after it: derivation may consolidate more of that L1 block's batches between the two calls).
    let l1 = head(&status, "current_l1");
    let r = rpc(&node, "optimism_safeHeadAtL1Block", json!([format!("{l1:#x}")]));
    let latest = head(&rpc(&node, "optimism_syncStatus", json!([])), "safe_l2");
    assert!(r["result"]["safeHead"]["number"].as_u64().unwrap() <= latest, "{r} (safe head now {latest})");
    assert!(r["result"]["l1Block"]["number"].as_u64().unwrap() <= l1, "{r}");
    // Blob batches too: the fake L1 serves them on its beacon API (KZG-committed), and the safe head passes the
    // blocks the first blob channel carried.
    wait_for("a blob channel", Duration::from_secs(60), || w.blobs_posted() > 0);
    let carried = w.engine_head().number;
    wait_for("the safe head past the blob channel", Duration::from_secs(60), || {
        head(&rpc(&node, "optimism_syncStatus", json!([])), "safe_l2") > carried
    });
    assert_eq!(rpc(&node, "admin_resetDerivationPipeline", json!([]))["result"], Value::Null);
    node.stop();
    node.join();
}
