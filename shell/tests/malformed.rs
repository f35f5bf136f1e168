//! Malformed answers from endpoints (bad JSON, wrong hex, missing fields, oversized bodies, HTTP errors) give clear
//! errors naming the method, and the node retries and recovers without losing a block.

use keel_core::RpcError;
use keel_shell::builder::{NodeMode, RollupNode, SequencerConfig};
use keel_shell::codec;
use keel_shell::fake::{FakeWorld, FakeWorldConfig};
use keel_shell::jwt::JwtSecret;
use keel_shell::rpc::RpcClient;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Serves `bodies[i]` (status, body) for the i-th request, then forwards to `upstream` (if any).
fn garbage_server(bodies: Vec<(u16, String)>, upstream: Option<String>) -> (String, Arc<AtomicUsize>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let i = count.fetch_add(1, Ordering::SeqCst);
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            let (status, text) = match (bodies.get(i), &upstream) {
                (Some((s, b)), _) => (*s, b.clone()),
                (None, Some(up)) => match ureq::post(up).send_string(&body) {
                    Ok(r) => (200, r.into_string().unwrap_or_default()),
                    Err(e) => (502, e.to_string()),
                },
                (None, None) => (500, "gone".into()),
            };
            let _ = req.respond(tiny_http::Response::from_string(text).with_status_code(status));
        }
    });
    (url, served)
}

fn start_node(w: &FakeWorld, l1: String, jwt: JwtSecret, seq: SequencerConfig) -> keel_shell::builder::NodeHandle {
    RollupNode::builder(w.rollup_config())
        .with_mode(NodeMode::Sequencer)
        .with_sequencer_config(seq)
        .with_l1_provider_rpc_url(l1)
        .with_l2_engine_rpc_url(w.engine_url())
        .with_jwt_secret(jwt)
        .with_l1_poll_interval(Duration::from_millis(200))
        .build()
        .unwrap()
        .start()
        .unwrap()
}

fn client(url: &str) -> RpcClient {
    RpcClient::new("L1", url, Duration::from_secs(5), None, keel_shell::rpc::MAX_RESPONSE_BYTES)
}

#[test]
fn each_kind_of_bad_answer_is_a_clear_error() {
    let big = format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"{}\"}}", "a".repeat(17 * 1024 * 1024));
    let (url, _) = garbage_server(
        vec![
            (200, "{this is not json".into()),
            (200, r#"{"jsonrpc":"2.0","id":1,"result":{"hash":"0xzz","number":"0x1"}}"#.into()),
            (200, r#"{"jsonrpc":"2.0","id":1}"#.into()),
            (200, big),
            (500, "internal server error".into()),
            (200, r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"limit exceeded"}}"#.into()),
            (401, "jwt expired".into()),
        ],
        None,
    );
    let c = client(&url);
    let call = |m: &str| c.call(m, json!([]));
    let msg = |r: Result<serde_json::Value, RpcError>| r.unwrap_err().to_string();

    let e = msg(call("eth_getBlockByNumber"));
    assert!(e.contains("eth_getBlockByNumber") && e.contains("malformed JSON"), "{e}");
    let v = call("eth_getBlockByHash").unwrap();
    let e = codec::l1_block("eth_getBlockByHash", v, codec::HashCheck::Strict).unwrap_err().to_string();
    assert!(e.contains("malformed eth_getBlockByHash response"), "{e}");
    let e = msg(call("eth_chainId"));
    assert!(e.contains("eth_chainId") && e.contains("neither result nor error"), "{e}");
    let e = msg(call("eth_getBlockByNumber"));
    assert!(e.contains("eth_getBlockByNumber") && e.contains("larger than"), "{e}");
    let e = msg(call("engine_getPayloadV3"));
    assert!(e.contains("engine_getPayloadV3") && e.contains("HTTP 500"), "{e}");
    assert_eq!(call("eth_getLogs").unwrap_err(), RpcError::Rpc { code: -32005, message: "limit exceeded".into() });
    let e = msg(call("engine_forkchoiceUpdatedV3"));
    assert!(e.contains("authentication failed") && e.contains("JWT"), "{e}");
}

#[test]
fn engine_answers_that_do_not_decode_are_errors_not_panics() {
    for (method, v) in [
        ("engine_forkchoiceUpdatedV3", json!({"payloadStatus": {"status": "WHATEVER"}})),
        ("engine_forkchoiceUpdatedV3", json!(17)),
    ] {
        let e = codec::fcu_result(method, v).unwrap_err().to_string();
        assert!(e.contains(method), "{e}");
    }
    let e = codec::get_payload_result(keel_core::EngineVersion::V3, json!({"executionPayload": {}}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("engine_getPayloadV3"), "{e}");
    let e = codec::payload_status("engine_newPayloadV3", json!({"status": 5})).unwrap_err().to_string();
    assert!(e.contains("engine_newPayloadV3"), "{e}");
    let genesis = kona_genesis::ChainGenesis::default();
    let e = codec::l2_block("eth_getBlockByNumber", json!({"number": "0x1"}), &genesis).unwrap_err().to_string();
    assert!(e.contains("missing hash"), "{e}");
}

#[test]
fn node_retries_through_a_garbage_l1_and_keeps_sequencing() {
    let jwt = JwtSecret::new([9; 32]);
    let mut cfg = FakeWorldConfig::new(jwt.clone());
    cfg.block_time_ms = 1_000;
    cfg.seed = 9;
    let w = FakeWorld::start(cfg).unwrap();
    let garbage: Vec<(u16, String)> = (0..6)
        .map(|i| match i % 3 {
            0 => (200, "{{{".to_string()),
            1 => (200, r#"{"jsonrpc":"2.0","id":1,"result":{"number":"0xnothex"}}"#.to_string()),
            _ => (502, "bad gateway".to_string()),
        })
        .collect();
    let (l1, served) = garbage_server(garbage, Some(w.l1_url()));
    let node = start_node(&w, l1, jwt, SequencerConfig::default());
    let t0 = std::time::Instant::now();
    while w.engine_head().number < 4 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no progress through a garbage L1 (head {})",
            w.engine_head().number
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(served.load(Ordering::SeqCst) > 6, "the garbage answers were served");
    assert!(node.metrics().render().contains("keel_rpc_errors_total{target=\"l1\""));
    node.stop();
    node.join();
    w.stop();
}

/// Forwards to `upstream`, except that `refused` answers "method not found" (an L1 node without it).
fn proxy_refusing(upstream: String, refused: &'static str) -> (String, Arc<AtomicUsize>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    let refusals = Arc::new(AtomicUsize::new(0));
    let count = refusals.clone();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let mut body = String::new();
            let _ = std::io::Read::read_to_string(req.as_reader(), &mut body);
            let text = if body.contains(&format!("\"{refused}\"")) {
                count.fetch_add(1, Ordering::SeqCst);
                let id = serde_json::from_str::<serde_json::Value>(&body).map(|v| v["id"].clone()).unwrap_or_default();
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("the method {refused} does not exist/is not available")}}).to_string()
            } else {
                ureq::post(&upstream)
                    .send_string(&body)
                    .map(|r| r.into_string().unwrap_or_default())
                    .unwrap_or_default()
            };
            let _ = req.respond(tiny_http::Response::from_string(text));
        }
    });
    (url, refusals)
}

#[test]
fn receipts_fall_back_to_per_transaction_fetches() {
    let jwt = JwtSecret::new([10; 32]);
    let mut cfg = FakeWorldConfig::new(jwt.clone());
    cfg.block_time_ms = 1_000;
    cfg.l1_block_time_s = 1;
    cfg.seed = 10;
    let w = FakeWorld::start(cfg).unwrap();
    let (l1, refusals) = proxy_refusing(w.l1_url(), "eth_getBlockReceipts");
    let node = start_node(&w, l1, jwt, SequencerConfig { l1_confs: 0, ..Default::default() });
    let t0 = std::time::Instant::now();
    // Several epoch changes: each needs the new origin's receipts.
    while w.engine_head().l1_origin.number < 3 {
        assert!(t0.elapsed() < Duration::from_secs(30), "no epoch progress (head {})", w.engine_head());
        std::thread::sleep(Duration::from_millis(100));
    }
    // The sequencer's and derivation's L1 workers share what they learn; both may be refused once if they ask at
    // the same moment, never more.
    let seen = refusals.load(Ordering::SeqCst);
    assert!((1..=2).contains(&seen), "after a refusal the workers switch to per-transaction fetches ({seen})");
    let origin = w.engine_head().l1_origin.number;
    while w.engine_head().l1_origin.number < origin + 2 {
        assert!(t0.elapsed() < Duration::from_secs(45), "no epoch progress (head {})", w.engine_head());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(refusals.load(Ordering::SeqCst), seen, "no further refusals once switched");
    node.stop();
    node.join();
    w.stop();
}
