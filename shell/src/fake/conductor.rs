//! The fake conductor (the `keel-sim` conductor model) and a fake follower node that counts gossiped payloads.

use super::rpc::{param, RpcFailure, Service};
use super::{lock, Shared};
use keel_core::{OpExecutionPayloadEnvelope, RpcError};
use serde_json::Value;
use std::sync::Arc;

pub(crate) struct ConductorService(pub Arc<Shared>);

impl Service for ConductorService {
    fn call(&self, method: &str, params: &[Value]) -> Result<Value, RpcFailure> {
        match method {
            "conductor_leader" => Ok(Value::Bool(lock(&self.0.conductor).leader)),
            "conductor_active" | "conductor_sequencerHealthy" => Ok(Value::Bool(true)),
            "conductor_paused" | "conductor_stopped" => Ok(Value::Bool(false)),
            "conductor_commitUnsafePayload" => {
                let env: OpExecutionPayloadEnvelope = param(params, 0, "payload envelope")?;
                match lock(&self.0.conductor).commit(&std::sync::Arc::new(env)) {
                    Ok(_) => Ok(Value::Null),
                    // op-conductor reports every method error with the generic server-error code.
                    Err(RpcError::Rpc { message, .. }) | Err(RpcError::Transport(message)) => {
                        Err(RpcFailure::server(message))
                    }
                    Err(RpcError::Timeout) => Err(RpcFailure::server("timed out")),
                }
            }
            _ => Err(RpcFailure::method_not_found(method)),
        }
    }
}

pub(crate) struct FollowerService(pub Arc<Shared>);

impl Service for FollowerService {
    fn call(&self, method: &str, params: &[Value]) -> Result<Value, RpcFailure> {
        match method {
            "admin_postUnsafePayload" => {
                let env: OpExecutionPayloadEnvelope = param(params, 0, "payload envelope")?;
                lock(&self.0.published).push(env.execution_payload.block_hash());
                Ok(Value::Null)
            }
            _ => Err(RpcFailure::method_not_found(method)),
        }
    }
}
