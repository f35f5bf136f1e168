//! JSON-RPC 2.0 over HTTP, shared by the node's server (`server.rs`) and the fake servers (`fake/`): one blocking
//! `tiny_http` server with a bounded worker pool and a joinable shutdown ([`HttpServer`]), POST-only with a bounded
//! body, batches (bounded, never empty), request objects, parameter arrays, error objects, and a method that panics
//! answered as an internal error instead of taking the serving thread down. What a method means stays with each
//! [`Service`].

use keel_core::io::{INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR};
use keel_core::RpcFailure;
use serde_json::{json, Value};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A rejection before the body is read: HTTP status and a plain-text body.
pub type Rejection = (u16, String);

/// What a server does with requests.
pub trait Service: Send + Sync + 'static {
    /// Checked on the headers of a POST before the body is read; `Some` answers with that status instead.
    fn gate(&self, _headers: &[tiny_http::Header]) -> Option<Rejection> {
        None
    }

    /// The answer to a GET of `path` (health probes): status and JSON body. `None`: 405, like any other method that
    /// is not POST.
    fn get(&self, _path: &str) -> Option<(u16, String)> {
        None
    }

    /// Answers one JSON-RPC call. `params` is the positional parameter list (empty when absent).
    fn call(&self, method: &str, params: &[Value]) -> Result<Value, RpcFailure>;
}

/// A server's bounds: worker threads, and the largest request body accepted (bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Threads answering requests.
    pub workers: usize,
    /// Largest request body; a larger one is answered with 413.
    pub max_body: usize,
}

/// One listening HTTP server and its worker threads.
pub struct HttpServer {
    server: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

/// A tiny_http server on `addr` whose connections have Nagle's algorithm off. tiny_http writes a response through a
/// 1 KiB buffer, so any larger answer leaves in several writes; with Nagle on, each write after the first waits for
/// the client's ACK of the previous one, which Linux delays by up to 40 ms: every engine answer over 1 KiB (a
/// payload, a block) took ~45 ms. Accepted sockets inherit TCP_NODELAY from the listener.
pub fn http_server(addr: SocketAddr) -> std::io::Result<tiny_http::Server> {
    tiny_http::Server::from_listener(nodelay_listener(addr)?, None).map_err(|e| std::io::Error::other(e.to_string()))
}

/// A listening socket on `addr` (address reuse as std's) with TCP_NODELAY set, which its connections inherit.
fn nodelay_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

impl HttpServer {
    /// Binds `addr` (port 0 picks one) and starts `workers` threads named `<name>-<i>` answering with `service`,
    /// refusing request bodies over `max_body` bytes. Workers exit once `stop` is set and [`HttpServer::unblock`]
    /// wakes them; several servers may share one flag.
    pub fn start(
        name: &str,
        addr: SocketAddr,
        service: Arc<dyn Service>,
        limits: Limits,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<Self> {
        let server = http_server(addr)
            .map_err(|e| std::io::Error::other(format!("binding the {name} JSON-RPC server to {addr}: {e}")))?;
        let addr = server.server_addr().to_ip().unwrap_or(addr);
        let server = Arc::new(server);
        let mut this = Self { server, workers: Vec::new(), addr, stop };
        let max_body = limits.max_body;
        for i in 0..limits.workers.max(1) {
            let (srv, svc, flag) = (this.server.clone(), service.clone(), this.stop.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || worker(&srv, &*svc, max_body, &flag));
            match spawned {
                Ok(h) => this.workers.push(h),
                Err(e) => {
                    // Wind down what already started before reporting.
                    this.stop();
                    return Err(std::io::Error::other(format!("spawning a {name} JSON-RPC server thread: {e}")));
                }
            }
        }
        log::debug!("{name} JSON-RPC server listening on {addr}");
        Ok(this)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Wakes every worker blocked waiting for a request (after the stop flag is set).
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

    /// Sets the stop flag, wakes the workers and joins them.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.unblock();
        self.join();
    }
}

fn worker(server: &tiny_http::Server, service: &dyn Service, max_body: usize, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        // An error is an unblock (or the accept loop failing); either way, look at the stop flag again.
        if let Ok(rq) = server.recv() {
            handle(service, max_body, rq);
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

fn handle(service: &dyn Service, max_body: usize, mut rq: tiny_http::Request) {
    const JSON: &str = "application/json";
    if *rq.method() == tiny_http::Method::Get {
        if let Some((status, body)) = service.get(rq.url()) {
            return respond(rq, status, JSON, body.into_bytes());
        }
    }
    if *rq.method() != tiny_http::Method::Post {
        let e = RpcFailure::new(INVALID_REQUEST, "JSON-RPC requests must be POSTed");
        return respond(rq, 405, JSON, error_object(Value::Null, &e).to_string().into_bytes());
    }
    if let Some((status, text)) = service.gate(rq.headers()) {
        return respond(rq, status, "text/plain; charset=utf-8", text.into_bytes());
    }
    let body = match read_body(&mut rq, max_body) {
        Ok(b) => b,
        Err((status, e)) => return respond(rq, status, JSON, error_object(Value::Null, &e).to_string().into_bytes()),
    };
    let out = answer(&body, &|method, params| service.call(method, params));
    respond(rq, 200, JSON, serde_json::to_vec(&out).unwrap_or_else(|_| b"null".to_vec()));
}

/// A server's dispatch: method name and positional parameters to a result or a JSON-RPC error.
pub type Method<'a> = dyn Fn(&str, &[Value]) -> Result<Value, RpcFailure> + 'a;

/// Largest batch accepted (geth's limit).
pub const MAX_BATCH: usize = 1000;

/// A JSON-RPC error object for request `id`.
pub fn error_object(id: Value, e: &RpcFailure) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": e.code, "message": e.message}})
}

/// Why a body was not read: the HTTP status to answer with, and the JSON-RPC error to put in it.
pub type BodyRejection = (u16, RpcFailure);

/// Reads the request body, refusing one larger than `max` bytes (by its Content-Length, or while reading).
pub fn read_body(req: &mut tiny_http::Request, max: usize) -> Result<Vec<u8>, BodyRejection> {
    let too_large = || (413, RpcFailure::new(INVALID_REQUEST, format!("request body larger than {max} bytes")));
    if req.body_length().is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    if let Err(e) = req.as_reader().take(max as u64 + 1).read_to_end(&mut body) {
        return Err((400, RpcFailure::new(PARSE_ERROR, format!("reading request: {e}"))));
    }
    if body.len() > max {
        return Err(too_large());
    }
    Ok(body)
}

/// The answer to a request body: one call or a batch of at most [`MAX_BATCH`], each dispatched to `call`.
pub fn answer(body: &[u8], call: &Method) -> Value {
    let parsed: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            log::debug!("unparseable JSON-RPC request: {e}");
            return error_object(Value::Null, &RpcFailure::new(PARSE_ERROR, "parse error"));
        }
    };
    match parsed {
        Value::Array(items) if items.is_empty() => {
            error_object(Value::Null, &RpcFailure::new(INVALID_REQUEST, "empty batch"))
        }
        Value::Array(items) if items.len() > MAX_BATCH => {
            error_object(Value::Null, &RpcFailure::new(INVALID_REQUEST, format!("batch larger than {MAX_BATCH}")))
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| answer_one(i, call)).collect()),
        single => answer_one(&single, call),
    }
}

fn answer_one(v: &Value, call: &Method) -> Value {
    let Some(obj) = v.as_object() else {
        return error_object(Value::Null, &RpcFailure::new(INVALID_REQUEST, "request is not an object"));
    };
    let id = obj.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        return error_object(id, &RpcFailure::new(INVALID_REQUEST, "request has no method"));
    };
    let params: &[Value] = match obj.get("params") {
        None | Some(Value::Null) => &[],
        Some(Value::Array(p)) => p,
        Some(_) => return error_object(id, &RpcFailure::new(INVALID_PARAMS, "non-array args")),
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call(method, params))).unwrap_or_else(|_| {
        log::error!("JSON-RPC method {method} panicked");
        Err(RpcFailure::new(INTERNAL_ERROR, format!("internal error in {method}")))
    });
    match result {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(e) => error_object(id, &e),
    }
}

/// Parameter `i` with geth's error texts: "missing value for required argument N" when it is absent or null and
/// `T` needs a value, "invalid argument N: …" when it does not decode. An `Option<T>` takes absent as `None`.
pub fn param<T: serde::de::DeserializeOwned>(params: &[Value], i: usize, what: &str) -> Result<T, RpcFailure> {
    match params.get(i).filter(|v| !v.is_null()) {
        None => serde_json::from_value(Value::Null)
            .map_err(|_| RpcFailure::invalid_params(format!("missing value for required argument {i}"))),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| RpcFailure::invalid_params(format!("invalid argument {i}: {what}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(method: &str, params: &[Value]) -> Result<Value, RpcFailure> {
        match method {
            "echo" => Ok(json!(params)),
            "boom" => panic!("boom"),
            _ => Err(RpcFailure::method_not_found(method)),
        }
    }

    #[test]
    fn server_connections_have_nagle_off() {
        // With Nagle on, an answer over tiny_http's 1 KiB buffer waits ~40 ms for a delayed ACK between its writes.
        let listener = nodelay_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(accepted.nodelay().unwrap(), "accepted connections inherit TCP_NODELAY");
        let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _c = std::net::TcpStream::connect(plain.local_addr().unwrap()).unwrap();
        assert!(!plain.accept().unwrap().0.nodelay().unwrap(), "std's listener leaves Nagle on: the check can fail");
    }

    #[test]
    fn framing_errors_and_batches() {
        let a = |body: &str| answer(body.as_bytes(), &echo);
        assert_eq!(a("{")["error"]["code"], PARSE_ERROR);
        assert_eq!(a("[]")["error"]["message"], "empty batch");
        let big = format!("[{}]", vec![r#"{"id":1,"method":"echo"}"#; MAX_BATCH + 1].join(","));
        assert_eq!(a(&big)["error"]["message"], format!("batch larger than {MAX_BATCH}"));
        assert_eq!(a("7")["error"]["code"], INVALID_REQUEST);
        assert_eq!(a(r#"{"id":3}"#)["error"]["message"], "request has no method");
        assert_eq!(a(r#"{"id":3}"#)["id"], 3);
        assert_eq!(a(r#"{"id":1,"method":"echo","params":{}}"#)["error"]["code"], INVALID_PARAMS);
        assert_eq!(a(r#"{"id":1,"method":"echo","params":[1,2]}"#)["result"], json!([1, 2]));
        assert_eq!(a(r#"{"id":1,"method":"nope"}"#)["error"]["code"], keel_core::io::METHOD_NOT_FOUND);
        assert_eq!(a(r#"{"id":1,"method":"boom"}"#)["error"]["code"], INTERNAL_ERROR);
        let batch = a(r#"[{"id":1,"method":"echo"},{"id":2,"method":"nope"}]"#);
        assert_eq!(batch[0]["result"], json!([]));
        assert_eq!(batch[1]["id"], 2);
    }

    #[test]
    fn params_use_geths_texts() {
        let p = [json!(true), Value::Null];
        assert_eq!(param::<bool>(&p, 0, "flag"), Ok(true));
        assert_eq!(param::<Option<bool>>(&p, 1, "flag"), Ok(None));
        assert_eq!(param::<Option<bool>>(&p, 5, "flag"), Ok(None));
        assert_eq!(param::<bool>(&p, 1, "flag").unwrap_err().message, "missing value for required argument 1");
        let e = param::<u64>(&p, 0, "number").unwrap_err();
        assert_eq!(e.code, INVALID_PARAMS);
        assert!(e.message.starts_with("invalid argument 0: number: "), "{}", e.message);
    }
}
