//! The fake servers' JSON-RPC: the shared [`HttpServer`] on 127.0.0.1 with an 8 MiB body limit, and helpers.

pub use crate::jsonrpc::{HttpServer, Limits};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Generic method error (geth / op-node / op-conductor).
pub use keel_core::io::RPC_SERVER_ERROR as SERVER_ERROR;
pub use keel_core::io::{INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR};
pub use keel_core::RpcFailure;

pub use crate::jsonrpc::{Rejection, Service};

pub use crate::jsonrpc::param;

/// Serializes a result (serialization of our own types cannot reasonably fail; if it does, say so).
pub fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, RpcFailure> {
    serde_json::to_value(v).map_err(|e| RpcFailure::new(INTERNAL_ERROR, format!("cannot encode result: {e}")))
}

/// Binds `127.0.0.1:0` and starts `workers` threads answering with `service` (bodies up to [`MAX_BODY_BYTES`]).
pub fn start(
    name: &str,
    service: Arc<dyn Service>,
    workers: usize,
    stop: Arc<AtomicBool>,
) -> std::io::Result<HttpServer> {
    let limits = Limits { workers, max_body: MAX_BODY_BYTES };
    HttpServer::start(&format!("fake-{name}"), SocketAddr::from(([127, 0, 0, 1], 0)), service, limits, stop)
}

/// `http://127.0.0.1:<port>` of a fake server.
pub fn url(server: &HttpServer) -> String {
    format!("http://{}", server.addr())
}
