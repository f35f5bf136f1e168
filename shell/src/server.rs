//! The node's JSON-RPC server (blocking, `tiny_http`): admin methods (with `--rpc.enable-admin`) and the
//! `optimism_*` methods op-batcher, op-proposer and op-conductor use.

use crate::codec;
use crate::driver::RpcCall;
use crate::jsonrpc::{param, HttpServer, Limits, Service};
use crate::rpc::RpcClient;
use alloy_primitives::{address, keccak256, Address, B256};
use crossbeam_channel::{Sender, TrySendError};
use keel_core::io::{INTERNAL_ERROR, INVALID_PARAMS, RPC_SERVER_ERROR};
use keel_core::{RpcFailure, RpcReply, RpcRequest};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Largest request body accepted.
pub const MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;
pub use crate::jsonrpc::MAX_BATCH;
/// Threads serving requests.
pub const SERVER_THREADS: usize = 4;
/// How long a call waits for the sequencer core.
pub const CORE_REPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// The L2ToL1MessagePasser predeploy, whose storage root goes into output roots.
pub const MESSAGE_PASSER: Address = address!("0x4200000000000000000000000000000000000016");

/// What the server needs besides the core.
pub struct ServerContext {
    /// Served by `optimism_rollupConfig`, and decides output-root rules.
    pub rollup: Arc<keel_core::Rollup>,
    /// Engine client for `optimism_outputAtBlock` reads.
    pub engine: Arc<RpcClient>,
    /// Serve `admin_*`.
    pub enable_admin: bool,
    /// Calls to the core.
    pub calls: Sender<RpcCall>,
    /// The p2p node's peer bookkeeping, for `opp2p_*` (absent without p2p: those methods do not exist then).
    pub p2p: Option<Arc<std::sync::Mutex<crate::p2p::P2pStatus>>>,
}

/// A running server: the shared [`HttpServer`] answering with the node's methods.
pub struct RpcServer(HttpServer);

impl RpcServer {
    /// Binds `addr` and starts serving.
    pub fn start(addr: SocketAddr, ctx: ServerContext) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let limits = Limits { workers: SERVER_THREADS, max_body: MAX_REQUEST_BYTES };
        HttpServer::start("keel-rpc", addr, Arc::new(ctx), limits, stop).map(Self)
    }

    /// The bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.0.addr()
    }

    /// Stops accepting and joins the threads.
    pub fn stop(self) {
        self.0.stop();
    }
}

impl Service for ServerContext {
    /// op-node's health endpoint, and geth's answer to a bare GET (load balancers and readiness probes).
    fn get(&self, path: &str) -> Option<(u16, String)> {
        Some(match path {
            "/healthz" => (200, json!(version()).to_string()),
            "/" => (200, String::new()),
            _ => (404, String::new()),
        })
    }

    fn call(&self, method: &str, params: &[Value]) -> Result<Value, RpcFailure> {
        call(self, method, params)
    }
}

fn version() -> String {
    format!("v{}-keel", env!("CARGO_PKG_VERSION"))
}

/// How many arguments each method takes at most.
fn max_args(method: &str) -> Option<usize> {
    Some(match method {
        "admin_startSequencer"
        | "admin_setRecoverMode"
        | "admin_postUnsafePayload"
        | "optimism_outputAtBlock"
        | "optimism_safeHeadAtL1Block"
        | "opp2p_peers" => 1,
        "admin_stopSequencer"
        | "admin_sequencerActive"
        | "admin_conductorEnabled"
        | "admin_overrideLeader"
        | "admin_resetDerivationPipeline"
        | "optimism_syncStatus"
        | "optimism_rollupConfig"
        | "optimism_version"
        | "opp2p_self"
        | "opp2p_peerStats" => 0,
        _ => return None,
    })
}

fn ask_core(ctx: &ServerContext, request: RpcRequest) -> Result<RpcReply, RpcFailure> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    match ctx.calls.try_send(RpcCall { request, reply: tx }) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            return Err(RpcFailure::new(RPC_SERVER_ERROR, "node busy: too many calls queued"))
        }
        Err(TrySendError::Disconnected(_)) => {
            return Err(RpcFailure::new(INTERNAL_ERROR, "the sequencer is shutting down"))
        }
    }
    match rx.recv_timeout(CORE_REPLY_TIMEOUT) {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(failure)) => Err(failure),
        Err(_) => {
            Err(RpcFailure::new(INTERNAL_ERROR, format!("no answer from the sequencer within {CORE_REPLY_TIMEOUT:?}")))
        }
    }
}

fn reply_json(r: RpcReply) -> Value {
    match r {
        RpcReply::Null => Value::Null,
        RpcReply::Bool(b) => Value::Bool(b),
        RpcReply::Hash(h) => json!(h),
        RpcReply::SyncStatus(s) => codec::sync_status_json(&s),
        RpcReply::SafeHeadAtL1 { l1, safe } => codec::safe_head_at_l1_json(&l1, &safe),
    }
}

fn call(ctx: &ServerContext, method: &str, params: &[Value]) -> Result<Value, RpcFailure> {
    let not_found = || RpcFailure::method_not_found(method);
    if method.starts_with("admin_") && !ctx.enable_admin {
        return Err(not_found());
    }
    if method.starts_with("opp2p_") && ctx.p2p.is_none() {
        return Err(not_found());
    }
    match max_args(method) {
        None => return Err(not_found()),
        Some(n) if params.len() > n => {
            return Err(RpcFailure::new(INVALID_PARAMS, format!("too many arguments, want at most {n}")));
        }
        Some(_) => {}
    }
    let core = |req| ask_core(ctx, req).map(reply_json);
    match method {
        "admin_startSequencer" => core(RpcRequest::StartSequencer(param::<B256>(params, 0, "block hash")?)),
        "admin_stopSequencer" => core(RpcRequest::StopSequencer),
        "admin_sequencerActive" => core(RpcRequest::SequencerActive),
        "admin_setRecoverMode" => core(RpcRequest::SetRecoverMode(param::<bool>(params, 0, "recover mode")?)),
        "admin_conductorEnabled" => core(RpcRequest::ConductorEnabled),
        "admin_overrideLeader" => core(RpcRequest::OverrideLeader),
        "admin_postUnsafePayload" => {
            let env: keel_core::OpExecutionPayloadEnvelope = param(params, 0, "execution payload envelope")?;
            // op-node checks the block hash before queueing the payload.
            let claimed = env.execution_payload.block_hash();
            let actual = keel_core::payload::header_hash(&env).map_err(|e| RpcFailure::new(RPC_SERVER_ERROR, e))?;
            if actual != claimed {
                return Err(RpcFailure::new(
                    RPC_SERVER_ERROR,
                    format!("payload has bad block hash: {claimed:#x}, actual block hash is: {actual:#x}"),
                ));
            }
            core(RpcRequest::PostUnsafePayload(Arc::new(env)))
        }
        "admin_resetDerivationPipeline" => core(RpcRequest::ResetDerivationPipeline),
        "optimism_syncStatus" => core(RpcRequest::SyncStatus),
        "optimism_safeHeadAtL1Block" => core(RpcRequest::SafeHeadAtL1Block(parse_block_number(params)?)),
        "optimism_rollupConfig" => Ok(crate::rollup_json::to_op_node_json(&ctx.rollup)),
        "optimism_version" => Ok(json!(version())),
        "opp2p_self" | "opp2p_peers" | "opp2p_peerStats" => {
            let status = ctx.p2p.as_ref().ok_or_else(not_found)?;
            // op-node's `opp2p_peers(connected)`: only connected peers when true.
            let connected = if params.is_empty() { false } else { param::<bool>(params, 0, "connected")? };
            let st = status.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            Ok(match method {
                "opp2p_self" => st.self_json(),
                "opp2p_peers" => st.peers_json(connected),
                _ => st.peer_stats_json(),
            })
        }
        "optimism_outputAtBlock" => output_at_block(ctx, params),
        _ => Err(not_found()),
    }
}

fn parse_block_number(params: &[Value]) -> Result<u64, RpcFailure> {
    let raw: String = param(params, 0, "block number (hex quantity)")?;
    let hex = raw
        .strip_prefix("0x")
        .ok_or_else(|| RpcFailure::new(INVALID_PARAMS, format!("block number {raw:?} is not 0x-hex")))?;
    u64::from_str_radix(hex, 16)
        .map_err(|_| RpcFailure::new(INVALID_PARAMS, format!("block number {raw:?} is not a hex quantity")))
}

fn output_at_block(ctx: &ServerContext, params: &[Value]) -> Result<Value, RpcFailure> {
    let number = parse_block_number(params)?;
    let engine_err = |e: keel_core::RpcError| {
        RpcFailure::new(RPC_SERVER_ERROR, format!("reading L2 block {number} from the engine: {e}"))
    };
    let method = "eth_getBlockByNumber";
    let block = ctx.engine.call(method, json!([format!("{number:#x}"), true])).map_err(engine_err)?;
    if block.is_null() {
        return Err(RpcFailure::new(RPC_SERVER_ERROR, format!("L2 block {number} not found")));
    }
    let block_ref = codec::l2_block(method, block.clone(), &ctx.rollup.genesis)
        .map_err(engine_err)?
        .ok_or_else(|| RpcFailure::new(RPC_SERVER_ERROR, format!("L2 block {number} not found")))?;
    let field = |name: &str| -> Result<B256, RpcFailure> {
        block
            .get(name)
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| RpcFailure::new(RPC_SERVER_ERROR, format!("L2 block {number} has no valid {name}")))
    };
    let state_root = field("stateRoot")?;
    // From Isthmus the header's withdrawalsRoot is the message passer's storage root; before, ask for a proof.
    let storage_root = match block.get("withdrawalsRoot").and_then(Value::as_str) {
        Some(_) if ctx.rollup.is_isthmus_active(block_ref.timestamp_s()) => field("withdrawalsRoot")?,
        _ => {
            let proof = ctx
                .engine
                .call("eth_getProof", json!([MESSAGE_PASSER, Vec::<B256>::new(), block_ref.hash]))
                .map_err(engine_err)?;
            proof.get("storageHash").and_then(Value::as_str).and_then(|s| s.parse().ok()).ok_or_else(|| {
                RpcFailure::new(RPC_SERVER_ERROR, format!("eth_getProof for block {number} has no storageHash"))
            })?
        }
    };
    let mut preimage = [0u8; 128];
    preimage[32..64].copy_from_slice(state_root.as_slice());
    preimage[64..96].copy_from_slice(storage_root.as_slice());
    preimage[96..128].copy_from_slice(block_ref.hash.as_slice());
    let output_root = keccak256(preimage);
    let status = match ask_core(ctx, RpcRequest::SyncStatus)? {
        RpcReply::SyncStatus(s) => codec::sync_status_json(&s),
        _ => Value::Null,
    };
    Ok(json!({
        "version": B256::ZERO,
        "outputRoot": output_root,
        "blockRef": codec::l2_block_ref_json(&block_ref),
        "withdrawalStorageRoot": storage_root,
        "stateRoot": state_root,
        "syncStatus": status,
    }))
}
