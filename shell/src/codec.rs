//! JSON ⇄ core types for the Engine API, L1 blocks, L2 blocks and op-node's RPC formats. Every decoding error names
//! the method and what was wrong; nothing here panics on bad input.

use alloy_primitives::B256;
use alloy_rpc_types_engine::{
    ExecutionPayloadFieldV2, ExecutionPayloadInputV2, ForkchoiceState, ForkchoiceUpdated, PayloadId, PayloadStatus,
    PayloadStatusEnum,
};
use keel_core::{
    Attributes, EngineVersion, L1Block, L1BlockRef, L2BlockRef, OpExecutionPayloadEnvelope, RpcError, SyncStatus,
};
use kona_genesis::ChainGenesis;
use op_alloy_rpc_types_engine::OpExecutionPayload;
use serde_json::{json, Value};

fn bad(method: &str, what: impl std::fmt::Display) -> RpcError {
    RpcError::Transport(format!("malformed {method} response: {what}"))
}

fn decode<T: serde::de::DeserializeOwned>(method: &str, v: Value) -> Result<T, RpcError> {
    serde_json::from_value(v).map_err(|e| bad(method, e))
}

/// What to do when an L1 header does not hash to the hash the node claims for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashCheck {
    /// Refuse the block (the answer is an error, retried).
    Strict,
    /// Use the claimed hash and warn (once per process; counted by the caller).
    Warn,
    /// Do not check (`--l1.trustrpc`).
    Trust,
}

static MISMATCH_WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Header fields an L1 node may leave out; filled with their zero values before decoding (hash checking then tells
/// whether they mattered).
const HEADER_DEFAULTS: &[(&str, &str)] = &[
    ("sha3Uncles", "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"),
    ("miner", "0x0000000000000000000000000000000000000000"),
    ("stateRoot", "0x0000000000000000000000000000000000000000000000000000000000000000"),
    ("transactionsRoot", "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"),
    ("receiptsRoot", "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"),
    ("difficulty", "0x0"),
    ("gasLimit", "0x0"),
    ("gasUsed", "0x0"),
    ("extraData", "0x"),
    ("mixHash", "0x0000000000000000000000000000000000000000000000000000000000000000"),
    ("nonce", "0x0000000000000000"),
];

/// An L1 block from `eth_getBlockBy*` (`null` → `None`). The header is re-hashed and compared with the claimed
/// `hash` as `check` says: a node that lies about hashes could otherwise steer origin selection.
pub fn l1_block(method: &str, mut v: Value, check: HashCheck) -> Result<Option<(L1Block, bool)>, RpcError> {
    if v.is_null() {
        return Ok(None);
    }
    let obj = v.as_object_mut().ok_or_else(|| bad(method, "expected a block object"))?;
    for field in ["hash", "number", "parentHash", "timestamp"] {
        if !obj.contains_key(field) {
            return Err(bad(method, format!("missing {field}")));
        }
    }
    if !obj.contains_key("logsBloom") {
        obj.insert("logsBloom".into(), Value::String(format!("0x{}", "00".repeat(256))));
    }
    for (k, d) in HEADER_DEFAULTS {
        obj.entry(k.to_string()).or_insert_with(|| Value::String(d.to_string()));
    }
    let h: alloy_rpc_types_eth::Header = decode(method, v)?;
    let computed = h.inner.hash_slow();
    let mismatch = computed != h.hash;
    if mismatch && check != HashCheck::Trust {
        let msg = format!("block {} claims hash {:#x} but its header hashes to {computed:#x}", h.inner.number, h.hash);
        if check == HashCheck::Strict {
            return Err(bad(method, msg));
        }
        if !MISMATCH_WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            log::warn!("L1 {method}: {msg}; using the hash the node reports (pass --l1.trustrpc to silence, --l1.verify-hashes to refuse such blocks)");
        }
    }
    Ok(Some((L1Block::with_hash(h.inner, h.hash), mismatch)))
}

/// Most transactions read from one L1 block for derivation (a block holds far fewer).
pub const MAX_L1_TXS: usize = 20_000;

/// The transactions of an L1 block answered with full transaction objects, in block order. A transaction whose
/// object does not decode (an unknown type) is skipped and counted: it cannot be batcher data Keel knows how to read.
pub fn l1_transactions(method: &str, v: &Value) -> Result<(Vec<alloy_consensus::TxEnvelope>, usize), RpcError> {
    let txs = v.get("transactions").and_then(Value::as_array).ok_or_else(|| bad(method, "missing transactions"))?;
    if txs.len() > MAX_L1_TXS {
        return Err(bad(method, format!("{} transactions (max {MAX_L1_TXS})", txs.len())));
    }
    let mut out = Vec::with_capacity(txs.len());
    let mut skipped = 0;
    for tx in txs {
        if tx.is_string() {
            return Err(bad(method, "transactions are hashes; full transaction objects were asked for"));
        }
        match serde_json::from_value::<alloy_rpc_types_eth::Transaction>(tx.clone()) {
            Ok(t) => out.push(t.into_inner()),
            Err(e) => {
                log::debug!("{method}: skipping an undecodable transaction: {e}");
                skipped += 1;
            }
        }
    }
    Ok((out, skipped))
}

/// Hex quantity `field` of the object `v` (the answer to `method`).
pub fn quantity(method: &str, v: &Value, field: &str) -> Result<u64, RpcError> {
    let s = v.get(field).and_then(Value::as_str).ok_or_else(|| bad(method, format!("missing {field}")))?;
    let hex = s.strip_prefix("0x").ok_or_else(|| bad(method, format!("{field} {s:?} is not 0x-hex")))?;
    u64::from_str_radix(hex, 16).map_err(|_| bad(method, format!("{field} {s:?} is not a hex quantity")))
}

/// 32-byte hash `field` of the object `v` (the answer to `method`).
pub fn hash(method: &str, v: &Value, field: &str) -> Result<B256, RpcError> {
    let s = v.get(field).and_then(Value::as_str).ok_or_else(|| bad(method, format!("missing {field}")))?;
    s.parse().map_err(|_| bad(method, format!("{field} {s:?} is not a 32-byte hash")))
}

/// 20-byte address `field` of the object `v` (the answer to `method`).
pub fn address(method: &str, v: &Value, field: &str) -> Result<alloy_primitives::Address, RpcError> {
    let s = v.get(field).and_then(Value::as_str).ok_or_else(|| bad(method, format!("missing {field}")))?;
    s.parse().map_err(|_| bad(method, format!("{field} {s:?} is not a 20-byte address")))
}

/// An L2 block from the engine's `eth_getBlockByNumber(_, true)` (`null` → `None`). Its L1 origin and sequence
/// number come from the L1 info deposit (first transaction); the genesis block uses the rollup genesis.
pub fn l2_block(method: &str, v: Value, genesis: &ChainGenesis) -> Result<Option<L2BlockRef>, RpcError> {
    if v.is_null() {
        return Ok(None);
    }
    let number = quantity(method, &v, "number")?;
    let block_hash = hash(method, &v, "hash")?;
    let parent_hash = hash(method, &v, "parentHash")?;
    let timestamp = quantity(method, &v, "timestamp")?;
    let (l1_origin, seq_num) = if number == genesis.l2.number {
        if block_hash != genesis.l2.hash {
            return Err(bad(
                method,
                format!("genesis block hash {block_hash:#x} differs from the rollup config's {:#x}", genesis.l2.hash),
            ));
        }
        (genesis.l1, 0)
    } else {
        let first = v.get("transactions").and_then(Value::as_array).and_then(|txs| txs.first()).ok_or_else(|| {
            bad(method, format!("block {number} has no transactions (an L1 info deposit is required)"))
        })?;
        let input = first.get("input").and_then(Value::as_str).ok_or_else(|| {
            bad(method, format!("block {number}: first transaction has no input (request full transactions)"))
        })?;
        let data = hex_bytes(input)
            .ok_or_else(|| bad(method, format!("block {number}: first transaction input is not hex")))?;
        let info = keel_core::l1_info::L1BlockInfo::decode(&data)
            .map_err(|e| bad(method, format!("block {number}: first transaction is not an L1 info deposit: {e}")))?;
        (info.id(), info.sequence_number())
    };
    Ok(Some(L2BlockRef {
        hash: block_hash,
        number,
        parent_hash,
        time_ms: timestamp.saturating_mul(1000),
        l1_origin,
        seq_num,
    }))
}

/// Most receipts accepted for one L1 block (a block holds at most a few thousand transactions).
pub const MAX_RECEIPTS: usize = 20_000;
/// Most logs accepted in one receipt.
pub const MAX_LOGS_PER_RECEIPT: usize = 10_000;

fn bytes_field(method: &str, v: &Value, field: &str) -> Result<alloy_primitives::Bytes, RpcError> {
    let s = v.get(field).and_then(Value::as_str).ok_or_else(|| bad(method, format!("missing {field}")))?;
    hex_bytes(s).map(Into::into).ok_or_else(|| bad(method, format!("{field} is not 0x-hex")))
}

/// The receipts of an L1 block from `eth_getBlockReceipts`: status, cumulative gas and logs (address, topics, data).
pub fn receipts(method: &str, v: Value) -> Result<Vec<alloy_consensus::Receipt>, RpcError> {
    let list = v.as_array().ok_or_else(|| bad(method, "expected an array of receipts"))?;
    if list.len() > MAX_RECEIPTS {
        return Err(bad(method, format!("{} receipts (more than {MAX_RECEIPTS})", list.len())));
    }
    list.iter()
        .enumerate()
        .map(|(i, r)| {
            let status = quantity(method, r, "status").map_err(|e| bad(method, format!("receipt {i}: {e}")))? == 1;
            let cumulative_gas_used = quantity(method, r, "cumulativeGasUsed").unwrap_or(0);
            let logs = r
                .get("logs")
                .and_then(Value::as_array)
                .ok_or_else(|| bad(method, format!("receipt {i} has no logs array")))?;
            if logs.len() > MAX_LOGS_PER_RECEIPT {
                return Err(bad(method, format!("receipt {i} has {} logs", logs.len())));
            }
            let logs = logs
                .iter()
                .enumerate()
                .map(|(j, l)| {
                    let address: alloy_primitives::Address = l
                        .get("address")
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| bad(method, format!("receipt {i} log {j}: bad address")))?;
                    let topics = l
                        .get("topics")
                        .and_then(Value::as_array)
                        .ok_or_else(|| bad(method, format!("receipt {i} log {j}: no topics")))?
                        .iter()
                        .map(|t| t.as_str().and_then(|s| s.parse::<B256>().ok()))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| bad(method, format!("receipt {i} log {j}: bad topic")))?;
                    let data = bytes_field(method, l, "data")?;
                    Ok(alloy_primitives::Log::new_unchecked(address, topics, data))
                })
                .collect::<Result<Vec<_>, RpcError>>()?;
            Ok(alloy_consensus::Receipt {
                status: alloy_consensus::Eip658Value::Eip658(status),
                cumulative_gas_used,
                logs,
            })
        })
        .collect()
}

/// The header facts of an L2 block from the engine's `eth_getBlockByNumber(_, true)` (`null` → `None`).
pub fn l2_header(method: &str, v: Value) -> Result<Option<keel_core::L2Header>, RpcError> {
    if v.is_null() {
        return Ok(None);
    }
    let l1_info_input = match v.get("transactions").and_then(Value::as_array).and_then(|t| t.first()) {
        Some(tx) => Some(bytes_field(method, tx, "input")?),
        None => None,
    };
    let optional_hash = |field: &str| match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => hash(method, &v, field).map(Some),
    };
    Ok(Some(keel_core::L2Header {
        hash: hash(method, &v, "hash")?,
        parent_hash: hash(method, &v, "parentHash")?,
        timestamp: quantity(method, &v, "timestamp")?,
        prev_randao: hash(method, &v, "mixHash")?,
        fee_recipient: address(method, &v, "miner")?,
        gas_limit: quantity(method, &v, "gasLimit")?,
        extra_data: bytes_field(method, &v, "extraData")?,
        transactions_root: hash(method, &v, "transactionsRoot")?,
        withdrawals_root: optional_hash("withdrawalsRoot")?,
        parent_beacon_block_root: optional_hash("parentBeaconBlockRoot")?,
        l1_info_input,
    }))
}

/// Decodes 0x-hex into bytes.
pub fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    let s = s.strip_prefix("0x")?;
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// `engine_forkchoiceUpdatedVx` method name.
pub fn fcu_method(v: EngineVersion) -> &'static str {
    match v {
        EngineVersion::V1 => "engine_forkchoiceUpdatedV1",
        EngineVersion::V2 => "engine_forkchoiceUpdatedV2",
        EngineVersion::V3 | EngineVersion::V4 | EngineVersion::V5 => "engine_forkchoiceUpdatedV3",
    }
}

/// `engine_getPayloadVx` method name.
pub fn get_payload_method(v: EngineVersion) -> &'static str {
    match v {
        EngineVersion::V1 | EngineVersion::V2 => "engine_getPayloadV2",
        EngineVersion::V3 => "engine_getPayloadV3",
        EngineVersion::V4 => "engine_getPayloadV4",
        EngineVersion::V5 => "engine_getPayloadV5",
    }
}

/// `engine_newPayloadVx` method name.
pub fn new_payload_method(v: EngineVersion) -> &'static str {
    match v {
        EngineVersion::V1 | EngineVersion::V2 => "engine_newPayloadV2",
        EngineVersion::V3 => "engine_newPayloadV3",
        // newPayload has no V5 on OP chains (Karst keeps V4).
        EngineVersion::V4 | EngineVersion::V5 => "engine_newPayloadV4",
    }
}

/// Params of `engine_forkchoiceUpdated`.
pub fn fcu_params(state: &ForkchoiceState, attributes: Option<&Attributes>) -> Value {
    json!([state, attributes])
}

/// Result of `engine_forkchoiceUpdated`.
pub fn fcu_result(method: &str, v: Value) -> Result<(PayloadStatusEnum, Option<PayloadId>), RpcError> {
    let r: ForkchoiceUpdated = decode(method, v)?;
    Ok((r.payload_status.status, r.payload_id))
}

/// The two fields of a `getPayload` envelope Keel uses; like op-node it ignores `blockValue`, `blobsBundle`,
/// `shouldOverrideBuilder` and `executionRequests`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetPayloadEnvelope<P> {
    execution_payload: P,
    #[serde(default)]
    parent_beacon_block_root: Option<B256>,
}

/// Result of `engine_getPayloadVx`, as the envelope the rest of Keel passes around.
pub fn get_payload_result(version: EngineVersion, v: Value) -> Result<OpExecutionPayloadEnvelope, RpcError> {
    let method = get_payload_method(version);
    Ok(match version {
        EngineVersion::V1 | EngineVersion::V2 => {
            let e: GetPayloadEnvelope<ExecutionPayloadFieldV2> = decode(method, v)?;
            let payload = match e.execution_payload {
                ExecutionPayloadFieldV2::V1(p) => OpExecutionPayload::V1(p),
                ExecutionPayloadFieldV2::V2(p) => OpExecutionPayload::V2(p),
            };
            OpExecutionPayloadEnvelope { parent_beacon_block_root: None, execution_payload: payload }
        }
        EngineVersion::V3 => {
            let e: GetPayloadEnvelope<alloy_rpc_types_engine::ExecutionPayloadV3> = decode(method, v)?;
            OpExecutionPayloadEnvelope {
                // When the engine leaves it out, the core fills in the root the attributes carried.
                parent_beacon_block_root: e.parent_beacon_block_root,
                execution_payload: OpExecutionPayload::V3(e.execution_payload),
            }
        }
        // V5 (Karst/Osaka) returns the same envelope as V4.
        EngineVersion::V4 | EngineVersion::V5 => {
            let e: GetPayloadEnvelope<op_alloy_rpc_types_engine::OpExecutionPayloadV4> = decode(method, v)?;
            OpExecutionPayloadEnvelope {
                parent_beacon_block_root: e.parent_beacon_block_root,
                execution_payload: OpExecutionPayload::V4(e.execution_payload),
            }
        }
    })
}

/// Params of `engine_newPayloadVx` for a sealed envelope.
pub fn new_payload_params(version: EngineVersion, env: &OpExecutionPayloadEnvelope) -> Result<Value, RpcError> {
    let root = env.parent_beacon_block_root.unwrap_or_default();
    let mismatch =
        |have: &str| RpcError::Transport(format!("cannot send a {have} payload with {}", new_payload_method(version)));
    Ok(match (version, &env.execution_payload) {
        (EngineVersion::V1 | EngineVersion::V2, OpExecutionPayload::V1(p)) => {
            json!([ExecutionPayloadInputV2 { execution_payload: p.clone(), withdrawals: None }])
        }
        (EngineVersion::V1 | EngineVersion::V2, OpExecutionPayload::V2(p)) => json!([ExecutionPayloadInputV2 {
            execution_payload: p.payload_inner.clone(),
            withdrawals: Some(p.withdrawals.clone())
        }]),
        (EngineVersion::V3, OpExecutionPayload::V3(p)) => json!([p, Vec::<B256>::new(), root]),
        (EngineVersion::V4, OpExecutionPayload::V4(p)) => json!([p, Vec::<B256>::new(), root, Vec::<String>::new()]),
        (_, OpExecutionPayload::V1(_)) => return Err(mismatch("V1")),
        (_, OpExecutionPayload::V2(_)) => return Err(mismatch("V2")),
        (_, OpExecutionPayload::V3(_)) => return Err(mismatch("V3")),
        (_, OpExecutionPayload::V4(_)) => return Err(mismatch("V4")),
    })
}

/// Result of `engine_newPayloadVx`.
pub fn payload_status(method: &str, v: Value) -> Result<PayloadStatusEnum, RpcError> {
    let s: PayloadStatus = decode(method, v)?;
    Ok(s.status)
}

/// A boolean result (`conductor_leader`).
pub fn boolean(method: &str, v: Value) -> Result<bool, RpcError> {
    v.as_bool().ok_or_else(|| bad(method, format!("expected a boolean, got {v}")))
}

fn l1_ref_json(r: Option<&L1BlockRef>) -> Value {
    let r = r.copied().unwrap_or_default();
    json!({"hash": r.hash, "number": r.number, "parentHash": r.parent_hash, "timestamp": r.timestamp})
}

fn l2_ref_json(r: Option<&L2BlockRef>) -> Value {
    match r {
        Some(r) => json!({
            "hash": r.hash, "number": r.number, "parentHash": r.parent_hash, "timestamp": r.timestamp_s(),
            "l1origin": {"hash": r.l1_origin.hash, "number": r.l1_origin.number}, "sequenceNumber": r.seq_num,
        }),
        None => json!({
            "hash": B256::ZERO, "number": 0, "parentHash": B256::ZERO, "timestamp": 0,
            "l1origin": {"hash": B256::ZERO, "number": 0}, "sequenceNumber": 0,
        }),
    }
}

/// `optimism_syncStatus` in op-node's JSON shape (unknown refs are zero refs, as op-node reports them).
/// `optimism_safeHeadAtL1Block`'s answer (op-node `SafeHeadResponse`).
pub fn safe_head_at_l1_json(l1: &alloy_eips::BlockNumHash, safe: &alloy_eips::BlockNumHash) -> Value {
    json!({
        "l1Block": { "hash": l1.hash, "number": l1.number },
        "safeHead": { "hash": safe.hash, "number": safe.number },
    })
}

/// `optimism_syncStatus`'s answer (op-node `eth.SyncStatus`).
pub fn sync_status_json(s: &SyncStatus) -> Value {
    json!({
        "current_l1": l1_ref_json(s.current_l1.as_ref()),
        "current_l1_finalized": l1_ref_json(s.current_l1_finalized.as_ref()),
        "head_l1": l1_ref_json(s.head_l1.as_ref()),
        "safe_l1": l1_ref_json(s.safe_l1.as_ref()),
        "finalized_l1": l1_ref_json(s.finalized_l1.as_ref()),
        "unsafe_l2": l2_ref_json(s.unsafe_l2.as_ref()),
        "safe_l2": l2_ref_json(s.safe_l2.as_ref()),
        "finalized_l2": l2_ref_json(s.finalized_l2.as_ref()),
        "pending_safe_l2": l2_ref_json(s.pending_safe_l2.as_ref()),
        "cross_unsafe_l2": l2_ref_json(s.unsafe_l2.as_ref()),
        "local_safe_l2": l2_ref_json(s.safe_l2.as_ref()),
    })
}

/// The L2 block reference JSON (for `optimism_outputAtBlock`'s `blockRef`).
pub fn l2_block_ref_json(r: &L2BlockRef) -> Value {
    l2_ref_json(Some(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::Header;

    #[test]
    fn l1_block_hash_is_verified() {
        let header = Header { number: 5, timestamp: 77, base_fee_per_gas: Some(7), ..Default::default() };
        let good = alloy_rpc_types_eth::Header::new(header.clone());
        let v = serde_json::to_value(&good).unwrap();
        let (b, mismatch) = l1_block("eth_getBlockByNumber", v.clone(), HashCheck::Strict).unwrap().unwrap();
        assert_eq!(b.hash(), header.hash_slow());
        assert!(!mismatch);
        let mut lying = v.clone();
        lying["hash"] = json!(B256::repeat_byte(9));
        let err = l1_block("eth_getBlockByNumber", lying.clone(), HashCheck::Strict).unwrap_err().to_string();
        assert!(err.contains("claims hash"), "{err}");
        let (b, mismatch) = l1_block("eth_getBlockByNumber", lying.clone(), HashCheck::Warn).unwrap().unwrap();
        assert!(mismatch && b.hash() == B256::repeat_byte(9), "warn mode uses the claimed hash");
        let (_, mismatch) = l1_block("eth_getBlockByNumber", lying, HashCheck::Trust).unwrap().unwrap();
        assert!(mismatch, "the mismatch is still reported to the caller for metrics");
        assert_eq!(l1_block("eth_getBlockByHash", Value::Null, HashCheck::Strict).unwrap(), None);
        let err = l1_block("eth_getBlockByHash", json!({"number": "zz"}), HashCheck::Strict).unwrap_err().to_string();
        assert!(err.contains("malformed eth_getBlockByHash response"), "{err}");
        // A minimal block object (only the identity fields) is accepted; the defaults make up the rest.
        let minimal = json!({"hash": B256::repeat_byte(1), "number": "0x5", "parentHash": B256::repeat_byte(2), "timestamp": "0x10"});
        let (b, _) = l1_block("eth_getBlockByNumber", minimal, HashCheck::Warn).unwrap().unwrap();
        assert_eq!((b.number(), b.info.timestamp, b.hash()), (5, 16, B256::repeat_byte(1)));
    }

    #[test]
    fn l2_block_needs_an_l1_info_deposit() {
        let genesis = ChainGenesis::default();
        let v = json!({"number": "0x5", "hash": B256::repeat_byte(1), "parentHash": B256::repeat_byte(2),
            "timestamp": "0x10", "transactions": []});
        let err = l2_block("eth_getBlockByNumber", v, &genesis).unwrap_err().to_string();
        assert!(err.contains("no transactions"), "{err}");
        let v = json!({"number": "0x5", "hash": B256::repeat_byte(1), "parentHash": B256::repeat_byte(2),
            "timestamp": "0xzz", "transactions": []});
        assert!(l2_block("eth_getBlockByNumber", v, &genesis).unwrap_err().to_string().contains("timestamp"));
        let v = json!({"number": "0x5", "hash": B256::repeat_byte(1), "parentHash": B256::repeat_byte(2),
            "timestamp": "0x10", "transactions": [{"input": "0x1234"}]});
        assert!(l2_block("eth_getBlockByNumber", v, &genesis)
            .unwrap_err()
            .to_string()
            .contains("not an L1 info deposit"));
    }

    #[test]
    fn failed_receipts_keep_their_status() {
        let v = json!([
            {"status": "0x0", "cumulativeGasUsed": "0x5208", "logs": [{"address": format!("0x{}", "11".repeat(20)),
                "topics": [format!("0x{}", "22".repeat(32))], "data": "0x"}]},
            {"status": "0x1", "cumulativeGasUsed": "0xa410", "logs": []},
        ]);
        let r = receipts("eth_getBlockReceipts", v).unwrap();
        assert_eq!(r[0].status, alloy_consensus::Eip658Value::Eip658(false));
        assert_eq!(r[1].status, alloy_consensus::Eip658Value::Eip658(true));
        assert_eq!((r[0].logs.len(), r[0].cumulative_gas_used), (1, 21_000));
        assert!(receipts("eth_getBlockReceipts", json!([{"logs": []}])).unwrap_err().to_string().contains("status"));
    }

    #[test]
    fn get_payload_needs_only_the_payload() {
        let zero = format!("0x{}", "00".repeat(32));
        let payload = json!({
            "parentHash": zero, "feeRecipient": format!("0x{}", "00".repeat(20)), "stateRoot": zero, "receiptsRoot": zero,
            "logsBloom": format!("0x{}", "00".repeat(256)), "prevRandao": zero, "blockNumber": "0x1", "gasLimit": "0x1",
            "gasUsed": "0x0", "timestamp": "0x1", "extraData": "0x", "baseFeePerGas": "0x1", "blockHash": zero,
            "transactions": [], "withdrawals": [], "blobGasUsed": "0x0", "excessBlobGas": "0x0",
        });
        // No blockValue, blobsBundle, shouldOverrideBuilder or parentBeaconBlockRoot: still accepted, like op-node.
        let env = get_payload_result(EngineVersion::V3, json!({"executionPayload": payload})).unwrap();
        assert_eq!(env.parent_beacon_block_root, None);
        assert_eq!(env.execution_payload.block_number(), 1);
        let env = get_payload_result(EngineVersion::V3, json!({"executionPayload": payload, "parentBeaconBlockRoot": zero,
            "blockValue": "0x0", "blobsBundle": {"commitments": [], "proofs": [], "blobs": []}, "shouldOverrideBuilder": false})).unwrap();
        assert_eq!(env.parent_beacon_block_root, Some(B256::ZERO));
    }

    #[test]
    fn hex_decoding_rejects_garbage() {
        assert_eq!(hex_bytes("0x0a0B"), Some(vec![10, 11]));
        assert_eq!(hex_bytes("0a0b"), None);
        assert_eq!(hex_bytes("0x0"), None);
        assert_eq!(hex_bytes("0xzz"), None);
        assert_eq!(hex_bytes("0x€€"), None);
    }
}
