//! Blocking JSON-RPC over HTTP on `tiny_http`: a small worker pool per server, an 8 MiB body limit, batches,
//! JSON-RPC error objects, and a fast, joinable shutdown (`Server::unblock`).

use serde_json::Value;
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

pub use crate::jsonrpc::param;

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
    let body = match crate::jsonrpc::read_body(&mut rq, MAX_BODY_BYTES) {
        Ok(b) => b,
        Err((status, e)) => {
            let text = crate::jsonrpc::error_object(Value::Null, &e).to_string();
            return respond(rq, status, "application/json", text.into_bytes());
        }
    };
    let answer = process(service, &body);
    let bytes = serde_json::to_vec(&answer).unwrap_or_else(|_| b"null".to_vec());
    respond(rq, 200, "application/json", bytes);
}

/// Answers a request body: one call or a batch ([`crate::jsonrpc::answer`]).
pub fn process(service: &dyn Service, body: &[u8]) -> Value {
    crate::jsonrpc::answer(body, &|method, params| service.call(method, params))
}
