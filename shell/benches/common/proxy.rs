//! A recording HTTP proxy for the engine API, shared by the benches: forwards each JSON-RPC call to `upstream` (with
//! its JWT header) and reports it to `record` once the answer is written back. Its server has TCP_NODELAY (as
//! Keel's own servers), so it adds no delayed-ACK stalls to what it measures.

// Each bench reads the fields it needs.
#![allow(dead_code)]

use serde_json::Value;
use std::time::{Duration, Instant};

/// One call as the proxy saw it.
pub struct Recorded<'a> {
    /// The request, parsed (`Null` if it was not JSON).
    pub request: &'a Value,
    /// The answer's body.
    pub answer: &'a str,
    /// When the request arrived.
    pub sent: Instant,
    /// The same moment as Unix milliseconds (fractional).
    pub sent_unix_ms: f64,
    /// When the answer had been written back.
    pub answered: Instant,
}

/// Starts the proxy; returns its URL.
pub fn start(upstream: String, record: impl Fn(Recorded<'_>) + Send + 'static) -> String {
    let server = keel_shell::jsonrpc::http_server("127.0.0.1:0".parse().unwrap()).expect("bind proxy");
    let addr = server.server_addr().to_ip().expect("ip");
    std::thread::spawn(move || {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
        for mut req in server.incoming_requests() {
            let sent = Instant::now();
            let sent_unix_ms =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() * 1e3;
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let mut up = agent.post(&upstream).set("Content-Type", "application/json");
            if let Some(h) = req.headers().iter().find(|h| h.field.equiv("Authorization")) {
                up = up.set("Authorization", h.value.as_str());
            }
            let (status, text) = match up.send_string(&body) {
                Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
                Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
                Err(e) => (502, format!("{{\"error\":\"{e}\"}}")),
            };
            let header = tiny_http::Header::from_bytes("Content-Type", "application/json").expect("header");
            let response = tiny_http::Response::from_string(text.clone()).with_status_code(status).with_header(header);
            let _ = req.respond(response);
            record(Recorded { request: &request, answer: &text, sent, sent_unix_ms, answered: Instant::now() });
        }
    });
    format!("http://{addr}")
}

/// A beacon API for a chain without blobs: answers `/eth/v1/beacon/genesis` and `/eth/v1/config/spec` (what a
/// consensus node reads at start to map L1 times to slots) and 404 to anything else. Returns its URL.
pub fn static_beacon(genesis_time_s: u64, seconds_per_slot: u64) -> String {
    let server = keel_shell::jsonrpc::http_server("127.0.0.1:0".parse().unwrap()).expect("bind beacon stub");
    let addr = server.server_addr().to_ip().expect("ip");
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let body = match req.url().trim_end_matches('/') {
                "/eth/v1/beacon/genesis" => {
                    Some(serde_json::json!({"data": {"genesis_time": genesis_time_s.to_string()}}))
                }
                "/eth/v1/config/spec" => {
                    Some(serde_json::json!({"data": {"SECONDS_PER_SLOT": seconds_per_slot.to_string()}}))
                }
                _ => None,
            };
            let header = tiny_http::Header::from_bytes("Content-Type", "application/json").expect("header");
            let _ = match body {
                Some(b) => req.respond(tiny_http::Response::from_string(b.to_string()).with_header(header)),
                None => req.respond(tiny_http::Response::from_string("{}").with_status_code(404)),
            };
        }
    });
    format!("http://{addr}")
}
