//! A blocking JSON-RPC client over `ureq`: JWT auth, deadlines, bounded response bodies, and errors that name the
//! endpoint and method.

use crate::jwt::JwtSecret;
use keel_core::RpcError;
use serde_json::{json, Value};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest response accepted from L1 or conductor endpoints.
pub const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
/// Largest response accepted from the engine (payloads can be large).
pub const MAX_ENGINE_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// One JSON-RPC endpoint.
pub struct RpcClient {
    name: &'static str,
    url: String,
    agent: ureq::Agent,
    jwt: Option<JwtSecret>,
    max_response: u64,
    next_id: AtomicU64,
}

impl std::fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RpcClient({} {})", self.name, self.url)
    }
}

fn unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl RpcClient {
    /// A client for `url` (`name` appears in errors: "engine", "L1", "conductor") with a per-call deadline.
    pub fn new(name: &'static str, url: &str, timeout: Duration, jwt: Option<JwtSecret>, max_response: u64) -> Self {
        let agent =
            ureq::AgentBuilder::new().timeout(timeout).timeout_connect(timeout.min(Duration::from_secs(5))).build();
        Self { name, url: url.to_string(), agent, jwt, max_response, next_id: AtomicU64::new(1) }
    }

    /// The endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with `params`; returns the `result` value (possibly `null`).
    pub fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        let mut req = self.agent.post(&self.url).set("Content-Type", "application/json");
        if let Some(jwt) = &self.jwt {
            req = req.set("Authorization", &format!("Bearer {}", jwt.token(unix_secs())));
        }
        let ctx = |what: String| RpcError::Transport(format!("{} {method} at {}: {what}", self.name, self.url));
        let resp = match req.send_string(&body) {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let mut text = String::new();
                let _ = r.into_reader().take(512).read_to_string(&mut text);
                if code == 401 || code == 403 {
                    return Err(ctx(format!(
                        "authentication failed (HTTP {code}): check the JWT secret; server said {:?}",
                        text.trim()
                    )));
                }
                // A JSON-RPC error may come with a non-200 status; prefer it when present.
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    if let Some(e) = rpc_error(&v) {
                        return Err(e);
                    }
                }
                return Err(ctx(format!("HTTP {code}: {}", text.trim())));
            }
            Err(ureq::Error::Transport(t)) => {
                if is_timeout(&t) {
                    return Err(RpcError::Timeout);
                }
                return Err(ctx(t.to_string()));
            }
        };
        let mut buf = Vec::new();
        let read = resp.into_reader().take(self.max_response + 1).read_to_end(&mut buf);
        if let Err(e) = read {
            if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::WouldBlock {
                return Err(RpcError::Timeout);
            }
            return Err(ctx(format!("reading response: {e}")));
        }
        if buf.len() as u64 > self.max_response {
            return Err(ctx(format!("response larger than {} bytes", self.max_response)));
        }
        let v: Value = serde_json::from_slice(&buf).map_err(|e| ctx(format!("malformed JSON response: {e}")))?;
        if let Some(e) = rpc_error(&v) {
            return Err(e);
        }
        match v.get("result") {
            Some(r) => Ok(r.clone()),
            None => Err(ctx("response has neither result nor error".into())),
        }
    }
}

fn rpc_error(v: &Value) -> Option<RpcError> {
    let e = v.get("error")?;
    if e.is_null() {
        return None;
    }
    let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
    let message = e.get("message").and_then(Value::as_str).unwrap_or("").to_string();
    Some(RpcError::Rpc { code, message })
}

fn is_timeout(t: &ureq::Transport) -> bool {
    use std::error::Error;
    let mut src: Option<&(dyn Error + 'static)> = t.source();
    while let Some(e) = src {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(io.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) {
                return true;
            }
        }
        src = e.source();
    }
    t.to_string().contains("timed out")
}
