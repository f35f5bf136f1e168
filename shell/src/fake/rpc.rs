//! Blocking JSON-RPC over HTTP on `tiny_http`: a small worker pool per server, an 8 MiB body limit, batches,
//! JSON-RPC error objects, and a fast, joinable shutdown (`Server::unblock`).

use serde_json::{json, Value};
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Generic method error (geth / op-node / op-conductor).
pub use keel_core::io::RPC_SERVER_ERROR as SERVER_ERROR;
pub use keel_core::io::{INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR};
pub use keel_core::RpcFailure;

/// A rejection before the body is read: HTTP status and a plain-text body.
pub type Rejection = (u16, String);

/// What a fake server does with requests.
pub trait Service: Send + Sync + 'static {
    /// Checked on the headers before the body is read; `Some` answers with that status instead.
    fn gate(&self, _headers: &[tiny_http::Header]) -> Option<Rejection> {
        None
    }

    /// Answers one JSON-RPC call. `params` is the positional parameter list (empty when absent).
    fn call(&self, method: &str, params: &[Value]) -> Result<Value, RpcFailure>;
}

pub use crate::server::param;

/// Serializes a result (serialization of our own types cannot reasonably fail; if it does, say so).
pub fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, RpcFailure> {
    serde_json::to_value(v).map_err(|e| RpcFailure::new(INTERNAL_ERROR, format!("cannot encode result: {e}")))
}

/// One running HTTP server and its workers.
pub struct RpcServer {
    server: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
    url: String,
}

impl RpcServer {
    /// Binds `127.0.0.1:0` and starts `workers` threads answering with `service`. Workers exit once `stop` is set
    /// and [`RpcServer::unblock`] wakes them.
    pub fn start(
        name: &str,
        service: Arc<dyn Service>,
        workers: usize,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<Self> {
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(std::io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("fake server is not listening on an IP address"))?;
        let url = format!("http://{addr}");
        let server = Arc::new(server);
        let mut handles = Vec::new();
        for i in 0..workers.max(1) {
            let (srv, svc, flag) = (server.clone(), service.clone(), stop.clone());
            let spawned =
                std::thread::Builder::new().name(format!("fake-{name}-{i}")).spawn(move || worker(&srv, &*svc, &flag));
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    // Wind down what already started before reporting.
                    stop.store(true, Ordering::SeqCst);
                    let this = Self { server, workers: handles, url };
                    this.unblock();
                    this.join();
                    return Err(e);
                }
            }
        }
        log::debug!("fake {name} server listening on {url}");
        Ok(Self { server, workers: handles, url })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Wakes every worker blocked waiting for a request (call after setting the stop flag).
    pub fn unblock(&self) {
        for _ in 0..self.workers.len() {
            self.server.unblock();
        }
    }

    /// Joins the workers; dropping the last handle on the server closes its listening socket.
    pub fn join(self) {
        for w in self.workers {
            let _ = w.join();
        }
    }
}

fn worker(server: &tiny_http::Server, service: &dyn Service, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        // An error is an unblock (or the accept loop failing); either way, look at the stop flag again.
        if let Ok(rq) = server.recv() {
            handle(service, rq);
        }
    }
}

fn respond(rq: tiny_http::Request, status: u16, content_type: &str, body: Vec<u8>) {
    let mut response = tiny_http::Response::from_data(body).with_status_code(status);
    if let Ok(h) = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes()) {
        response.add_header(h);
    }
    // The client may have gone away; nothing to do about it.
    let _ = rq.respond(response);
}

fn handle(service: &dyn Service, mut rq: tiny_http::Request) {
    if let Some((status, text)) = service.gate(rq.headers()) {
        return respond(rq, status, "text/plain; charset=utf-8", text.into_bytes());
    }
    let too_large = || format!("request body larger than {MAX_BODY_BYTES} bytes").into_bytes();
    if rq.body_length().is_some_and(|len| len > MAX_BODY_BYTES) {
        return respond(rq, 413, "text/plain; charset=utf-8", too_large());
    }
    let mut body = Vec::new();
    if let Err(e) = rq.as_reader().take(MAX_BODY_BYTES as u64 + 1).read_to_end(&mut body) {
        return respond(rq, 400, "text/plain; charset=utf-8", format!("cannot read body: {e}").into_bytes());
    }
    if body.len() > MAX_BODY_BYTES {
        return respond(rq, 413, "text/plain; charset=utf-8", too_large());
    }
    let answer = process(service, &body);
    let bytes = serde_json::to_vec(&answer).unwrap_or_else(|_| b"null".to_vec());
    respond(rq, 200, "application/json", bytes);
}

/// Answers a request body: one call or a batch.
pub fn process(service: &dyn Service, body: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(body) {
        Err(e) => error_response(Value::Null, &RpcFailure::new(PARSE_ERROR, format!("parse error: {e}"))),
        Ok(Value::Array(calls)) if calls.is_empty() => {
            error_response(Value::Null, &RpcFailure::new(INVALID_REQUEST, "empty batch"))
        }
        Ok(Value::Array(calls)) => Value::Array(calls.iter().map(|c| one(service, c)).collect()),
        Ok(call) => one(service, &call),
    }
}

fn error_response(id: Value, e: &RpcFailure) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": e.code, "message": e.message}})
}

fn one(service: &dyn Service, call: &Value) -> Value {
    let Some(obj) = call.as_object() else {
        return error_response(Value::Null, &RpcFailure::new(INVALID_REQUEST, "request is not an object"));
    };
    let id = obj.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        return error_response(id, &RpcFailure::new(INVALID_REQUEST, "request has no method"));
    };
    let params: &[Value] = match obj.get("params") {
        None | Some(Value::Null) => &[],
        Some(Value::Array(p)) => p,
        Some(_) => return error_response(id, &RpcFailure::invalid_params("params must be an array")),
    };
    // A model that panics on some input must not take the worker down with it.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| service.call(method, params)))
        .unwrap_or_else(|_| Err(RpcFailure::new(INTERNAL_ERROR, format!("internal error in {method}"))));
    match result {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(e) => error_response(id, &e),
    }
}
