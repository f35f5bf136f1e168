//! JSON-RPC 2.0 framing shared by the node's server (`server.rs`) and the fake servers (`fake/rpc.rs`): reading a
//! bounded body, batches (bounded, never empty), request objects, parameter arrays, error objects, and a method that
//! panics answered as an internal error instead of taking the serving thread down. What a method means stays with
//! each server.

use keel_core::io::{INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR};
use keel_core::RpcFailure;
use serde_json::{json, Value};
use std::io::Read;

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
