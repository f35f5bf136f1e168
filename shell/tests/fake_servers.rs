//! The fake world's servers speak standard JSON-RPC over real HTTP: checked here with raw JSON through `ureq`.

use alloy_primitives::{hex, keccak256, Bytes, B256};
use keel_core::attributes::{build, AttributesInput};
use keel_core::{L1Block, L2BlockRef};
use keel_shell::fake::{FakeWorld, FakeWorldConfig};
use keel_shell::jwt::JwtSecret;
use op_alloy_rpc_types_engine::{OpExecutionPayloadEnvelopeV3, OpExecutionPayloadEnvelopeV4};
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SECRET: [u8; 32] = [0x42; 32];

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn world() -> FakeWorld {
    let mut cfg = FakeWorldConfig::new(JwtSecret::new(SECRET));
    cfg.seed = 7;
    cfg.l1_block_time_s = 2;
    FakeWorld::start(cfg).expect("fake world starts")
}

/// POSTs `body` with an optional bearer token; returns the HTTP status and the body text.
fn post_raw(url: &str, body: &str, token: Option<&str>) -> (u16, String) {
    let mut req = ureq::post(url).set("Content-Type", "application/json").timeout(Duration::from_secs(10));
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    match req.send_string(body) {
        Ok(resp) => (resp.status(), resp.into_string().unwrap()),
        Err(ureq::Error::Status(code, resp)) => (code, resp.into_string().unwrap_or_default()),
        Err(e) => panic!("transport error talking to {url}: {e}"),
    }
}

/// A JSON-RPC call; returns the whole response object (HTTP 200 expected).
fn call_with(url: &str, token: Option<&str>, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    let (status, text) = post_raw(url, &body, token);
    assert_eq!(status, 200, "{method}: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["id"], 1);
    v
}

fn result(v: Value) -> Value {
    assert!(v.get("error").is_none(), "unexpected error: {v}");
    v["result"].clone()
}

fn call(url: &str, method: &str, params: Value) -> Value {
    result(call_with(url, None, method, params))
}

fn engine(w: &FakeWorld, method: &str, params: Value) -> Value {
    let token = JwtSecret::new(SECRET).token(now_s());
    result(call_with(&w.engine_url(), Some(&token), method, params))
}

fn l1_block(w: &FakeWorld, tag: &str) -> (Value, L1Block) {
    let v = call(&w.l1_url(), "eth_getBlockByNumber", json!([tag, false]));
    let header: alloy_rpc_types_eth::Header = serde_json::from_value(v.clone()).expect("standard header JSON");
    (v, L1Block::from_header(header.inner))
}

#[test]
fn l1_blocks_are_standard_and_hashes_recompute() {
    let w = world();
    for tag in ["latest", "finalized", "safe", "0x0", "earliest"] {
        let (v, block) = l1_block(&w, tag);
        let header: alloy_rpc_types_eth::Header = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(header.inner.hash_slow(), header.hash, "{tag}: hash recomputes from the fields");
        assert_eq!(block.hash(), header.hash);
        assert_eq!(v["transactions"], json!([]));
        assert_eq!(v["uncles"], json!([]));
        let by_hash = call(&w.l1_url(), "eth_getBlockByHash", json!([header.hash, false]));
        assert_eq!(by_hash, v, "{tag}: by hash");
    }
    // The model's genesis is the rollup's L1 genesis, and L1 is already past it (genesis is two blocks earlier).
    let (_, genesis) = l1_block(&w, "0x0");
    let rollup = w.rollup_config();
    assert_eq!(genesis.info.id(), rollup.genesis.l1);
    let (_, head) = l1_block(&w, "latest");
    assert!(head.number() >= 2, "L1 head {} should be at least two blocks past genesis", head.number());
    assert_eq!(w.l1_head().number, head.number());
    assert_eq!(call(&w.l1_url(), "eth_chainId", json!([])), json!(format!("{:#x}", rollup.l1_chain_id)));

    // Unknown blocks are null; unknown methods, bad params and malformed JSON are JSON-RPC errors.
    assert_eq!(call(&w.l1_url(), "eth_getBlockByNumber", json!(["0xffffff", false])), Value::Null);
    assert_eq!(call(&w.l1_url(), "eth_getBlockByHash", json!([B256::repeat_byte(9), false])), Value::Null);
    let e = call_with(&w.l1_url(), None, "eth_getLogs", json!([{}]));
    assert_eq!(e["error"]["code"], -32601);
    assert_eq!(call(&w.l1_url(), "eth_getBlockReceipts", json!([genesis.hash()])), json!([]));
    let e = call_with(&w.l1_url(), None, "eth_getBlockReceipts", json!(["latest"]));
    assert_eq!(e["error"]["code"], -32602, "receipts by hash only");
    let e = call_with(&w.l1_url(), None, "eth_getBlockByNumber", json!(["yesterday", false]));
    assert_eq!(e["error"]["code"], -32602);
    let (status, text) = post_raw(&w.l1_url(), "{not json", None);
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["error"]["code"], -32700);
    // Batches answer every call.
    let (_, text) = post_raw(
        &w.l1_url(),
        r#"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"nope"}]"#,
        None,
    );
    let batch: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(batch[0]["result"], "0x384");
    assert_eq!(batch[1]["error"]["code"], -32601);

    let t = Instant::now();
    w.stop();
    assert!(t.elapsed() < Duration::from_secs(2), "stop took {:?}", t.elapsed());
}

#[test]
fn l1_produces_blocks_on_wall_clock() {
    let mut cfg = FakeWorldConfig::new(JwtSecret::new(SECRET));
    cfg.l1_block_time_s = 1;
    let w = FakeWorld::start(cfg).unwrap();
    let first = w.l1_head().number;
    let deadline = Instant::now() + Duration::from_secs(5);
    while w.l1_head().number == first && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(w.l1_head().number > first, "no L1 block within 5 s");
    w.stop();
}

#[test]
fn engine_requires_a_valid_jwt() {
    let w = world();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).to_string();
    let (status, text) = post_raw(&w.engine_url(), &body, None);
    assert_eq!(status, 401);
    assert!(!text.is_empty(), "a 401 carries a reason");
    let wrong = JwtSecret::new([1; 32]).token(now_s());
    assert_eq!(post_raw(&w.engine_url(), &body, Some(&wrong)).0, 401);
    let stale = JwtSecret::new(SECRET).token(now_s() - 600);
    assert_eq!(post_raw(&w.engine_url(), &body, Some(&stale)).0, 401);
    assert_eq!(post_raw(&w.engine_url(), &body, Some("garbage")).0, 401);
    assert_eq!(w.auth_failures(), 4);
    assert_eq!(w.engine_calls("eth_chainId"), 0, "rejected calls never reach the engine");

    let good = JwtSecret::new(SECRET).token(now_s());
    let (status, text) = post_raw(&w.engine_url(), &body, Some(&good));
    assert_eq!(status, 200, "{text}");
    let expected = format!("{:#x}", u64::from(w.rollup_config().l2_chain_id));
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["result"], json!(expected));
    assert_eq!(w.engine_calls("eth_chainId"), 1);
    assert_eq!(w.auth_failures(), 4);

    w.set_engine_down(true);
    assert_eq!(post_raw(&w.engine_url(), &body, Some(&good)).0, 503);
    w.set_engine_down(false);
    assert_eq!(post_raw(&w.engine_url(), &body, Some(&good)).0, 200);
    w.stop();
}

/// Builds the next block on the engine's head with `get`/`new` method versions; returns the envelope JSON
/// (`{"executionPayload", "parentBeaconBlockRoot"}`) and the attributes' L1 info deposit.
fn build_block(w: &FakeWorld, get: &str, new: &str) -> (Value, Bytes) {
    let started = start_build(w);
    finish_build(w, started, get, new)
}

/// A build started on the fake engine.
struct Started {
    id: Value,
    l1_info: Bytes,
    parent: L2BlockRef,
    origin: keel_core::L1Block,
    genesis: alloy_primitives::B256,
}

/// Starts building the next block and asks for it with `get`; returns the whole getPayload response.
fn build_block_result(w: &FakeWorld, get: &str) -> Value {
    let id = start_build(w).id;
    let token = JwtSecret::new(SECRET).token(now_s());
    call_with(&w.engine_url(), Some(&token), get, json!([id]))
}

/// forkchoiceUpdated with the next block's attributes.
fn start_build(w: &FakeWorld) -> Started {
    let rollup = w.rollup_config();
    let parent: L2BlockRef = w.engine_head();
    let (_, origin) = l1_block(w, "0x0");
    let sys = keel_core::system_config::SystemConfig::from(rollup.genesis.system_config.unwrap());
    let attrs = build(&AttributesInput {
        rollup: &rollup,
        system_config: &sys,
        parent: &parent,
        origin: &origin,
        seq_num: parent.number + 1,
        timestamp: parent.timestamp_s() + rollup.block_time,
        no_tx_pool: false,
        deposits: &[],
        receipts: &[],
    })
    .unwrap();
    let l1_info = attrs.op.transactions.as_ref().unwrap()[0].clone();
    let genesis = rollup.genesis.l2.hash;
    let state = json!({"headBlockHash": parent.hash, "safeBlockHash": genesis, "finalizedBlockHash": genesis});

    let fcu = engine(w, "engine_forkchoiceUpdatedV3", json!([state, attrs]));
    assert_eq!(fcu["payloadStatus"]["status"], "VALID", "{fcu}");
    assert_eq!(fcu["payloadStatus"]["latestValidHash"], json!(parent.hash));
    let id = fcu["payloadId"].clone();
    assert!(id.is_string(), "{fcu}");
    Started { id, l1_info, parent, origin, genesis }
}

fn finish_build(w: &FakeWorld, started: Started, get: &str, new: &str) -> (Value, Bytes) {
    let Started { id, l1_info, parent, origin, genesis } = started;
    let env = engine(w, get, json!([id]));
    let (payload, root) = match get {
        "engine_getPayloadV3" => {
            let typed: OpExecutionPayloadEnvelopeV3 = serde_json::from_value(env.clone()).expect("standard V3 JSON");
            assert_eq!(typed.block_value, alloy_primitives::U256::ZERO);
            assert!(!typed.should_override_builder);
            assert!(typed.blobs_bundle.commitments.is_empty());
            (env["executionPayload"].clone(), env["parentBeaconBlockRoot"].clone())
        }
        "engine_getPayloadV4" => {
            let typed: OpExecutionPayloadEnvelopeV4 = serde_json::from_value(env.clone()).expect("standard V4 JSON");
            assert!(typed.execution_requests.is_empty());
            (env["executionPayload"].clone(), env["parentBeaconBlockRoot"].clone())
        }
        _ => unreachable!(),
    };
    assert_eq!(payload["parentHash"], json!(parent.hash));
    assert_eq!(payload["transactions"][0], json!(l1_info));
    assert_eq!(root, json!(origin.header.parent_beacon_block_root.unwrap()));

    let params = if new == "engine_newPayloadV4" { json!([payload, [], root, []]) } else { json!([payload, [], root]) };
    let status = engine(w, new, params);
    assert_eq!(status["status"], "VALID", "{status}");
    assert_eq!(status["latestValidHash"], payload["blockHash"]);

    let state = json!({"headBlockHash": payload["blockHash"], "safeBlockHash": genesis, "finalizedBlockHash": genesis});
    let fcu = engine(w, "engine_forkchoiceUpdatedV3", json!([state, null]));
    assert_eq!(fcu["payloadStatus"]["status"], "VALID", "{fcu}");
    assert_eq!(fcu["payloadId"], Value::Null);
    (json!({"executionPayload": payload, "parentBeaconBlockRoot": root}), l1_info)
}

#[test]
fn engine_build_round_trip_advances_the_head() {
    // Isthmus activates with block 2 (2 s blocks): block 1 goes through the V3 methods, block 2 through V4, as an OP
    // engine requires (it answers a version that does not fit the payload's fork with -38005).
    let mut cfg = FakeWorldConfig::new(JwtSecret::new(SECRET));
    cfg.seed = 7;
    cfg.l1_block_time_s = 2;
    cfg.fork_offsets_s = [Some(4), None, None];
    let w = FakeWorld::start(cfg).expect("fake world starts");
    let genesis = w.engine_head();
    assert_eq!(genesis.number, 0);
    assert_eq!(genesis.id(), w.rollup_config().genesis.l2);
    assert_eq!(w.engine_block_count(), 1);
    let g = engine(&w, "eth_getBlockByNumber", json!(["latest", true]));
    assert_eq!(g["hash"], json!(genesis.hash));
    assert_eq!(g["transactions"], json!([]));
    assert_eq!(g["withdrawalsRoot"], Value::Null);

    let (env, l1_info) = build_block(&w, "engine_getPayloadV3", "engine_newPayloadV3");
    let head = w.engine_head();
    assert_eq!(head.number, 1);
    assert_eq!(json!(head.hash), env["executionPayload"]["blockHash"]);
    assert_eq!(head.parent_hash, genesis.hash);
    assert_eq!(w.engine_block_count(), 2);
    assert_eq!(w.engine_calls("engine_forkchoiceUpdatedV3"), 2);
    assert_eq!(w.engine_calls("engine_getPayloadV3"), 1);
    assert_eq!(w.engine_calls("engine_newPayloadV3"), 1);

    // The engine's block JSON carries the L1 info deposit as the first transaction's input.
    let b = engine(&w, "eth_getBlockByNumber", json!(["latest", true]));
    assert_eq!(b["hash"], json!(head.hash));
    assert_eq!(b["number"], "0x1");
    assert_eq!(b["parentHash"], json!(genesis.hash));
    assert_eq!(b["timestamp"], json!(format!("{:#x}", head.timestamp_s())));
    assert!(b["stateRoot"].is_string());
    // Canyon on: the empty withdrawals list's root, as geth reports it for a Shanghai header.
    assert_eq!(b["withdrawalsRoot"], json!(alloy_consensus::EMPTY_ROOT_HASH));
    let tx = &b["transactions"][0];
    assert_eq!(tx["type"], "0x7e");
    assert_eq!(tx["hash"], json!(keccak256(&l1_info)));
    let input = hex::decode(tx["input"].as_str().unwrap()).unwrap();
    let info = keel_core::l1_info::L1BlockInfo::decode(&input).expect("L1 info calldata");
    assert_eq!(info.block_hash(), w.rollup_config().genesis.l1.hash);
    assert_eq!(info.sequence_number(), 1);
    assert_eq!(engine(&w, "eth_getBlockByNumber", json!(["0x1", true])), b);
    assert_eq!(engine(&w, "eth_getBlockByHash", json!([head.hash, true])), b);
    let hashes = engine(&w, "eth_getBlockByNumber", json!(["0x1", false]));
    assert_eq!(hashes["transactions"][0], tx["hash"]);
    assert_eq!(engine(&w, "eth_getBlockByNumber", json!(["0x2", true])), Value::Null);

    // The wrong version for the next payload's fork is refused; V4 methods round-trip, with a withdrawals root
    // equal to the proof's storage hash.
    let rejected = build_block_result(&w, "engine_getPayloadV3");
    assert_eq!(rejected["error"]["code"], -38005, "{rejected}");
    build_block(&w, "engine_getPayloadV4", "engine_newPayloadV4");
    let head2 = w.engine_head();
    assert_eq!(head2.number, 2);
    assert_eq!(head2.parent_hash, head.hash);
    let b2 = engine(&w, "eth_getBlockByNumber", json!(["latest", true]));
    let proof = engine(&w, "eth_getProof", json!(["0x4200000000000000000000000000000000000016", [], head2.hash]));
    assert_eq!(b2["withdrawalsRoot"], proof["storageHash"]);
    let proof1 = engine(&w, "eth_getProof", json!(["0x4200000000000000000000000000000000000016", [], head.hash]));
    assert_ne!(proof1["storageHash"], proof["storageHash"]);
    assert_eq!(
        engine(&w, "eth_getProof", json!(["0x4200000000000000000000000000000000000016", [], head.hash])),
        proof1,
        "deterministic"
    );

    // Model errors become JSON-RPC errors.
    let token = JwtSecret::new(SECRET).token(now_s());
    let e = call_with(&w.engine_url(), Some(&token), "engine_getPayloadV3", json!(["0x00000000000000ff"]));
    assert_eq!(e["error"]["code"], -38001);
    let e = call_with(&w.engine_url(), Some(&token), "engine_newPayloadV3", json!([{"bogus": 1}, [], B256::ZERO]));
    assert_eq!(e["error"]["code"], -32602);
    let e = call_with(&w.engine_url(), Some(&token), "engine_bogus", json!([]));
    assert_eq!(e["error"]["code"], -32601);
    w.stop();
}

#[test]
fn conductor_commits_and_follower_counts() {
    let w = world();
    let (env, _) = build_block(&w, "engine_getPayloadV3", "engine_newPayloadV3");
    let c = w.conductor_url();
    assert_eq!(call(&c, "conductor_leader", json!([])), json!(true));
    assert_eq!(call(&c, "conductor_active", json!([])), json!(true));
    assert_eq!(call(&c, "conductor_commitUnsafePayload", json!([env])), Value::Null);
    assert_eq!(w.conductor_log_len(), 1);
    // Re-committing the tip is accepted (a retry after a lost answer).
    assert_eq!(call(&c, "conductor_commitUnsafePayload", json!([env])), Value::Null);
    assert_eq!(w.conductor_log_len(), 1);

    w.set_leader(false);
    assert_eq!(call(&c, "conductor_leader", json!([])), json!(false));
    let e = call_with(&c, None, "conductor_commitUnsafePayload", json!([env]));
    assert_eq!(e["error"]["code"], -32000);
    assert!(e["error"]["message"].as_str().unwrap().contains("leader"), "{e}");
    w.set_leader(true);
    let e = call_with(&c, None, "conductor_commitUnsafePayload", json!([{"nope": true}]));
    assert_eq!(e["error"]["code"], -32602);

    let f = w.follower_url();
    assert_eq!(w.published_count(), 0);
    assert_eq!(call(&f, "admin_postUnsafePayload", json!([env])), Value::Null);
    assert_eq!(w.published_count(), 1);
    assert_eq!(json!(w.published_hashes()[0]), env["executionPayload"]["blockHash"]);
    let e = call_with(&f, None, "admin_postUnsafePayload", json!([]));
    assert_eq!(e["error"]["code"], -32602);
    assert_eq!(w.published_count(), 1);
    w.stop();
}

#[test]
fn oversized_bodies_are_refused_and_dropping_stops_the_world() {
    let w = world();
    let big = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["{}"]}}"#, "a".repeat(9 << 20));
    let (status, _) = post_raw(&w.l1_url(), &big, None);
    assert_eq!(status, 413);
    let url = w.l1_url();
    drop(w);
    assert!(ureq::post(&url).timeout(Duration::from_secs(2)).send_string("{}").is_err(), "server gone after drop");
}
