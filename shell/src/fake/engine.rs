//! The fake execution engine: the `keel-sim` engine model behind the JWT-authenticated engine API, plus the `eth_`
//! reads a rollup node makes of its engine.

use super::rpc::{param, to_json, Rejection, RpcFailure, Service, INTERNAL_ERROR};
use super::{fake_storage_root, lock, now_ms, BlockSel, Shared};
use alloy_primitives::{hex, keccak256, Address, Bytes, B256, U256};
use alloy_rpc_types_engine::{
    BlobsBundleV1, ExecutionPayloadEnvelopeV2, ExecutionPayloadFieldV2, ExecutionPayloadInputV2, ExecutionPayloadV1,
    ExecutionPayloadV2, ExecutionPayloadV3, ForkchoiceState, ForkchoiceUpdated, PayloadId, PayloadStatus,
    PayloadStatusEnum,
};
use keel_core::{EngineReply, OpExecutionPayloadEnvelope, RpcError};
use keel_sim::engine::EngineBlock;
use op_alloy_rpc_types_engine::{
    OpExecutionPayload, OpExecutionPayloadEnvelopeV3, OpExecutionPayloadEnvelopeV4, OpExecutionPayloadV4,
};
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub(crate) struct EngineService(pub Arc<Shared>);

/// Methods the fake engine serves (answer to `engine_exchangeCapabilities`).
const CAPABILITIES: &[&str] = &[
    "engine_forkchoiceUpdatedV1",
    "engine_forkchoiceUpdatedV2",
    "engine_forkchoiceUpdatedV3",
    "engine_getPayloadV2",
    "engine_getPayloadV3",
    "engine_getPayloadV4",
    "engine_getPayloadV5",
    "engine_newPayloadV1",
    "engine_newPayloadV2",
    "engine_newPayloadV3",
    "engine_newPayloadV4",
];

fn model_err(e: RpcError) -> RpcFailure {
    match e {
        RpcError::Rpc { code, message } => RpcFailure::new(code, message),
        RpcError::Transport(message) => RpcFailure::server(message),
        RpcError::Timeout => RpcFailure::server("timed out"),
    }
}

fn unexpected(reply: &EngineReply) -> RpcFailure {
    RpcFailure::new(INTERNAL_ERROR, format!("engine model gave an unexpected answer: {reply:?}"))
}

/// Any payload version as a V3 payload (missing fields empty / zero).
fn payload_v3(p: &OpExecutionPayload) -> ExecutionPayloadV3 {
    let from_v2 =
        |v2: ExecutionPayloadV2| ExecutionPayloadV3 { payload_inner: v2, blob_gas_used: 0, excess_blob_gas: 0 };
    match p {
        OpExecutionPayload::V1(v1) => from_v2(ExecutionPayloadV2 { payload_inner: v1.clone(), withdrawals: vec![] }),
        OpExecutionPayload::V2(v2) => from_v2(v2.clone()),
        OpExecutionPayload::V3(v3) => v3.clone(),
        OpExecutionPayload::V4(v4) => v4.payload_inner.clone(),
    }
}

impl Service for EngineService {
    fn gate(&self, headers: &[tiny_http::Header]) -> Option<Rejection> {
        if self.0.engine_down.load(Ordering::SeqCst) {
            return Some((503, "engine is down".into()));
        }
        let token = headers.iter().find(|h| h.field.equiv("Authorization")).and_then(|h| {
            let v = h.value.as_str().trim();
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
        });
        let failure = match token {
            None => "missing bearer token".to_string(),
            Some(t) => match self.0.jwt.validate(&t, now_ms() / 1000) {
                Ok(()) => return None,
                Err(e) => e.to_string(),
            },
        };
        self.0.auth_failures.fetch_add(1, Ordering::SeqCst);
        Some((401, failure))
    }

    fn call(&self, method: &str, params: &[Value]) -> Result<Value, RpcFailure> {
        if method.len() <= 64 {
            *lock(&self.0.engine_calls).entry(method.to_string()).or_default() += 1;
        }
        match method {
            "engine_forkchoiceUpdatedV1" | "engine_forkchoiceUpdatedV2" | "engine_forkchoiceUpdatedV3" => {
                self.forkchoice_updated(params)
            }
            "engine_getPayloadV2" | "engine_getPayloadV3" | "engine_getPayloadV4" | "engine_getPayloadV5" => {
                self.get_payload(&method[method.len() - 2..], params)
            }
            "engine_newPayloadV1" | "engine_newPayloadV2" | "engine_newPayloadV3" | "engine_newPayloadV4" => {
                self.new_payload(&method[method.len() - 2..], params)
            }
            "engine_exchangeCapabilities" => Ok(json!(CAPABILITIES)),
            "eth_chainId" => Ok(Value::String(format!("{:#x}", self.0.l2_chain_id))),
            "eth_blockNumber" => {
                let n = lock(&self.0.engine).engine.heads().unsafe_head.number;
                Ok(Value::String(format!("{n:#x}")))
            }
            "eth_getBlockByNumber" => {
                let sel = BlockSel::parse(params.first().unwrap_or(&Value::Null))?;
                let full: Option<bool> = param(params, 1, "full transactions")?;
                let block = self.select(sel)?;
                Ok(block.map_or(Value::Null, |b| l2_block_json(&b, full.unwrap_or(false))))
            }
            "eth_getBlockByHash" => {
                let hash: B256 = param(params, 0, "block hash")?;
                let full: Option<bool> = param(params, 1, "full transactions")?;
                let block = lock(&self.0.engine).engine.block(&hash).cloned();
                Ok(block.map_or(Value::Null, |b| l2_block_json(&b, full.unwrap_or(false))))
            }
            "eth_getProof" => self.get_proof(params),
            _ => Err(RpcFailure::method_not_found(method)),
        }
    }
}

/// Engine API error `-38005 Unsupported fork`: a method version that does not match the payload's fork.
pub const UNSUPPORTED_FORK: i64 = -38005;

/// The `engine_getPayload` version an OP execution engine serves for a payload with timestamp `t`, written from the
/// engine side (op-geth's `getPayload` checks, op-reth's V5 for Karst): V2 before Ecotone, V3 through Holocene, V4 from
/// Isthmus, V5 from Karst.
fn get_payload_version_served(r: &keel_core::Rollup, t: u64) -> &'static str {
    let active = |fork: Option<u64>| fork.is_some_and(|f| t >= f);
    if active(r.karst_time) {
        "V5"
    } else if active(r.hardforks.isthmus_time) {
        "V4"
    } else if active(r.hardforks.ecotone_time) {
        "V3"
    } else {
        "V2"
    }
}

impl EngineService {
    fn select(&self, sel: BlockSel) -> Result<Option<EngineBlock>, RpcFailure> {
        let st = lock(&self.0.engine);
        let e = &st.engine;
        match sel {
            BlockSel::Safe if !st.labels_set => return Err(RpcFailure::server("safe block not found")),
            BlockSel::Finalized if !st.labels_set => return Err(RpcFailure::server("finalized block not found")),
            _ => {}
        }
        let r = match sel {
            BlockSel::Latest => Some(e.heads().unsafe_head),
            BlockSel::Safe => Some(e.heads().safe),
            BlockSel::Finalized => Some(e.heads().finalized),
            BlockSel::Earliest => e.by_number(0),
            BlockSel::Number(n) => e.by_number(n),
        };
        Ok(r.and_then(|r| e.block(&r.hash).cloned()))
    }

    fn forkchoice_updated(&self, params: &[Value]) -> Result<Value, RpcFailure> {
        let state: ForkchoiceState = param(params, 0, "forkchoice state")?;
        let attrs: Option<keel_core::Attributes> = param(params, 1, "payload attributes")?;
        let mut st = lock(&self.0.engine);
        let reply = st.engine.forkchoice_updated(&state, attrs.as_ref()).map_err(model_err)?;
        st.labels_set |= !state.safe_block_hash.is_zero() && !state.finalized_block_hash.is_zero();
        drop(st);
        match reply {
            EngineReply::ForkchoiceUpdated { status, payload_id } => {
                let latest_valid = matches!(status, PayloadStatusEnum::Valid).then_some(state.head_block_hash);
                to_json(&ForkchoiceUpdated { payload_status: PayloadStatus::new(status, latest_valid), payload_id })
            }
            other => Err(unexpected(&other)),
        }
    }

    fn get_payload(&self, version: &str, params: &[Value]) -> Result<Value, RpcFailure> {
        let id: PayloadId = param(params, 0, "payload id")?;
        let reply = {
            let mut st = lock(&self.0.engine);
            let st = &mut *st;
            // op-geth / op-reth: a getPayload version that does not match the payload's fork is refused, and the
            // payload stays available for the right version.
            if let Some(t) = st.engine.payload_timestamp(id) {
                let served = get_payload_version_served(&self.0.rollup, t);
                if version != served {
                    return Err(RpcFailure::new(
                        UNSUPPORTED_FORK,
                        format!("Unsupported fork: engine_getPayload{version} for a payload that needs {served}"),
                    ));
                }
            }
            st.engine.get_payload(id, &mut st.rng).map_err(model_err)?
        };
        let EngineReply::PayloadFetched(env) = reply else { return Err(unexpected(&reply)) };
        let v3 = payload_v3(&env.execution_payload);
        let beacon_root = env.parent_beacon_block_root.unwrap_or_default();
        match version {
            "V2" => to_json(&ExecutionPayloadEnvelopeV2 {
                execution_payload: ExecutionPayloadFieldV2::V2(v3.payload_inner),
                block_value: U256::ZERO,
            }),
            "V3" => to_json(&OpExecutionPayloadEnvelopeV3 {
                execution_payload: v3,
                block_value: U256::ZERO,
                blobs_bundle: BlobsBundleV1::empty(),
                should_override_builder: false,
                parent_beacon_block_root: beacon_root,
            }),
            _ => {
                let root = fake_storage_root(v3.payload_inner.payload_inner.block_hash);
                to_json(&OpExecutionPayloadEnvelopeV4 {
                    execution_payload: OpExecutionPayloadV4::from_v3_with_withdrawals_root(v3, root),
                    block_value: U256::ZERO,
                    blobs_bundle: BlobsBundleV1::empty(),
                    should_override_builder: false,
                    parent_beacon_block_root: beacon_root,
                    execution_requests: vec![],
                })
            }
        }
    }

    fn new_payload(&self, version: &str, params: &[Value]) -> Result<Value, RpcFailure> {
        let envelope = match version {
            "V1" => OpExecutionPayloadEnvelope {
                parent_beacon_block_root: None,
                execution_payload: OpExecutionPayload::V1(param::<ExecutionPayloadV1>(params, 0, "payload")?),
            },
            "V2" => {
                let input: ExecutionPayloadInputV2 = param(params, 0, "payload")?;
                let execution_payload = match input.withdrawals {
                    Some(withdrawals) => OpExecutionPayload::V2(ExecutionPayloadV2 {
                        payload_inner: input.execution_payload,
                        withdrawals,
                    }),
                    None => OpExecutionPayload::V1(input.execution_payload),
                };
                OpExecutionPayloadEnvelope { parent_beacon_block_root: None, execution_payload }
            }
            "V3" => {
                let payload: ExecutionPayloadV3 = param(params, 0, "payload")?;
                let _: Vec<B256> = param(params, 1, "versioned hashes")?;
                let root: B256 = param(params, 2, "parent beacon block root")?;
                OpExecutionPayloadEnvelope {
                    parent_beacon_block_root: Some(root),
                    execution_payload: OpExecutionPayload::V3(payload),
                }
            }
            _ => {
                let payload: OpExecutionPayloadV4 = param(params, 0, "payload")?;
                let _: Vec<B256> = param(params, 1, "versioned hashes")?;
                let root: B256 = param(params, 2, "parent beacon block root")?;
                let _: Vec<Bytes> = param(params, 3, "execution requests")?;
                OpExecutionPayloadEnvelope {
                    parent_beacon_block_root: Some(root),
                    execution_payload: OpExecutionPayload::V4(payload),
                }
            }
        };
        let (hash, parent) = (envelope.execution_payload.block_hash(), envelope.execution_payload.parent_hash());
        let envelope = Arc::new(envelope);
        let reply = {
            let mut st = lock(&self.0.engine);
            let known = st.engine.block(&hash).is_some();
            let reply = st.engine.new_payload(&envelope).map_err(model_err)?;
            if !known && st.engine.block(&hash).is_some() {
                st.stored += 1;
            }
            reply
        };
        let EngineReply::PayloadInserted { status } = reply else { return Err(unexpected(&reply)) };
        let latest_valid = match status {
            PayloadStatusEnum::Valid => Some(hash),
            PayloadStatusEnum::Invalid { .. } => Some(parent),
            _ => None,
        };
        to_json(&PayloadStatus::new(status, latest_valid))
    }

    fn get_proof(&self, params: &[Value]) -> Result<Value, RpcFailure> {
        let address: Address = param(params, 0, "address")?;
        let _: Vec<B256> = param(params, 1, "storage keys")?;
        let block = params.get(2).unwrap_or(&Value::Null);
        let hash = match block.as_str().filter(|s| s.len() == 66) {
            Some(_) => {
                let hash: B256 = param(params, 2, "block hash")?;
                lock(&self.0.engine).engine.block(&hash).map(|b| b.block.hash)
            }
            None => self.select(BlockSel::parse(block)?)?.map(|b| b.block.hash),
        };
        let hash = hash.ok_or_else(|| RpcFailure::server("header not found"))?;
        to_json(&alloy_rpc_types_eth::EIP1186AccountProofResponse {
            address,
            balance: U256::ZERO,
            code_hash: alloy_primitives::KECCAK256_EMPTY,
            nonce: 0,
            storage_hash: fake_storage_root(hash),
            account_proof: vec![],
            storage_proof: vec![],
        })
    }
}

fn quantity(n: u64) -> Value {
    Value::String(format!("{n:#x}"))
}

/// Block JSON as an OP execution client returns it (the fields a rollup node reads, filled from the payload).
pub(crate) fn l2_block_json(b: &EngineBlock, full: bool) -> Value {
    let r = &b.block;
    let payload = b.envelope.as_ref().map(|e| &e.execution_payload);
    let v1 = payload.map(|p| p.as_v1());
    let v3 = payload.map(payload_v3);
    let txs: &[Bytes] = v1.map(|p| p.transactions.as_slice()).unwrap_or(&[]);
    let transactions: Vec<Value> = txs
        .iter()
        .enumerate()
        .map(|(i, raw)| if full { tx_json(raw, i as u64, r.hash, r.number) } else { json!(keccak256(raw)) })
        .collect();
    // The roots of the header the payload forms (the genesis block: those of an empty block).
    let facts = b.facts.clone().or_else(|| b.envelope.as_ref().and_then(|e| keel_core::payload::header_facts(e).ok()));
    let withdrawals_root = facts.as_ref().and_then(|f| f.withdrawals_root).map_or(Value::Null, |r| json!(r));
    let transactions_root = facts.as_ref().map_or(alloy_consensus::EMPTY_ROOT_HASH, |f| f.transactions_root);
    let mut m = Map::new();
    m.insert("hash".into(), json!(r.hash));
    m.insert("number".into(), quantity(r.number));
    m.insert("parentHash".into(), json!(r.parent_hash));
    m.insert("timestamp".into(), quantity(v1.map_or(r.time_ms / 1000, |p| p.timestamp)));
    m.insert("stateRoot".into(), json!(v1.map_or_else(|| keccak256(r.hash), |p| p.state_root)));
    m.insert("withdrawalsRoot".into(), withdrawals_root);
    m.insert("transactionsRoot".into(), json!(transactions_root));
    m.insert("receiptsRoot".into(), json!(v1.map_or(B256::ZERO, |p| p.receipts_root)));
    m.insert("logsBloom".into(), json!(v1.map(|p| p.logs_bloom).unwrap_or_default()));
    m.insert("miner".into(), json!(v1.map_or(Address::ZERO, |p| p.fee_recipient)));
    m.insert("mixHash".into(), json!(v1.map_or(B256::ZERO, |p| p.prev_randao)));
    m.insert("gasLimit".into(), quantity(v1.map_or(30_000_000, |p| p.gas_limit)));
    m.insert("gasUsed".into(), quantity(v1.map_or(0, |p| p.gas_used)));
    m.insert("baseFeePerGas".into(), json!(v1.map_or(U256::from(1_000_000u64), |p| p.base_fee_per_gas)));
    m.insert("extraData".into(), json!(v1.map(|p| p.extra_data.clone()).unwrap_or_default()));
    m.insert("blobGasUsed".into(), quantity(v3.as_ref().map_or(0, |p| p.blob_gas_used)));
    m.insert("excessBlobGas".into(), quantity(v3.as_ref().map_or(0, |p| p.excess_blob_gas)));
    if let Some(root) = b.envelope.as_ref().and_then(|e| e.parent_beacon_block_root) {
        m.insert("parentBeaconBlockRoot".into(), json!(root));
    }
    m.insert("sha3Uncles".into(), json!(alloy_consensus::EMPTY_OMMER_ROOT_HASH));
    m.insert("difficulty".into(), quantity(0));
    m.insert("nonce".into(), json!("0x0000000000000000"));
    m.insert("uncles".into(), json!([]));
    m.insert("withdrawals".into(), json!([]));
    m.insert("transactions".into(), Value::Array(transactions));
    Value::Object(m)
}

/// A transaction object: deposits (type 0x7e) decoded in full, anything else as type, hash and empty input.
fn tx_json(raw: &Bytes, index: u64, block_hash: B256, block_number: u64) -> Value {
    let mut m = Map::new();
    m.insert("hash".into(), json!(keccak256(raw)));
    m.insert("blockHash".into(), json!(block_hash));
    m.insert("blockNumber".into(), quantity(block_number));
    m.insert("transactionIndex".into(), quantity(index));
    match deposit::decode(raw) {
        Some(d) => {
            m.insert("type".into(), json!("0x7e"));
            m.insert("sourceHash".into(), json!(d.source_hash));
            m.insert("from".into(), json!(d.from));
            m.insert("to".into(), json!(d.to));
            m.insert("mint".into(), json!(U256::from(d.mint)));
            m.insert("value".into(), json!(d.value));
            m.insert("gas".into(), quantity(d.gas));
            m.insert("gasPrice".into(), quantity(0));
            m.insert("isSystemTx".into(), json!(d.is_system_tx));
            m.insert("nonce".into(), quantity(0));
            m.insert("input".into(), json!(hex::encode_prefixed(&d.input)));
        }
        None => {
            let ty = raw.first().copied().filter(|b| *b < 0x7f).unwrap_or(0);
            m.insert("type".into(), quantity(ty as u64));
            m.insert("input".into(), json!("0x"));
        }
    }
    Value::Object(m)
}

/// Just enough RLP to read an OP deposit transaction (`0x7e ‖ rlp([sourceHash, from, to, mint, value, gas,
/// isSystemTx, data])`).
pub(crate) mod deposit {
    use alloy_primitives::{Address, B256, U256};

    /// A decoded deposit.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Deposit {
        pub source_hash: B256,
        pub from: Address,
        pub to: Option<Address>,
        pub mint: u128,
        pub value: U256,
        pub gas: u64,
        pub is_system_tx: bool,
        pub input: Vec<u8>,
    }

    /// One RLP item: (is_list, payload, rest).
    fn item(buf: &[u8]) -> Option<(bool, &[u8], &[u8])> {
        let (&b0, tail) = buf.split_first()?;
        let (list, header, len) = match b0 {
            0x00..=0x7f => return Some((false, &buf[..1], tail)),
            0x80..=0xb7 => (false, 0, (b0 - 0x80) as usize),
            0xb8..=0xbf => (false, (b0 - 0xb7) as usize, 0),
            0xc0..=0xf7 => (true, 0, (b0 - 0xc0) as usize),
            0xf8..=0xff => (true, (b0 - 0xf7) as usize, 0),
        };
        let (len, tail) = if header == 0 {
            (len, tail)
        } else {
            let (len_bytes, rest) = (tail.get(..header)?, tail.get(header..)?);
            if len_bytes.first() == Some(&0) {
                return None;
            }
            (len_bytes.iter().try_fold(0usize, |acc, b| acc.checked_mul(256)?.checked_add(*b as usize))?, rest)
        };
        Some((list, tail.get(..len)?, tail.get(len..)?))
    }

    fn be_uint(b: &[u8], max: usize) -> Option<U256> {
        (b.len() <= max && b.first() != Some(&0)).then(|| U256::from_be_slice(b))
    }

    /// Decodes a type-0x7e transaction; `None` for anything else or malformed input.
    pub fn decode(raw: &[u8]) -> Option<Deposit> {
        let (&ty, body) = raw.split_first()?;
        if ty != 0x7e {
            return None;
        }
        let (true, mut fields, rest) = item(body)? else { return None };
        if !rest.is_empty() {
            return None;
        }
        let mut next = || -> Option<&[u8]> {
            let (list, payload, rest) = item(fields)?;
            fields = rest;
            (!list).then_some(payload)
        };
        let source_hash = next().filter(|b| b.len() == 32).map(B256::from_slice)?;
        let from = next().filter(|b| b.len() == 20).map(Address::from_slice)?;
        let to = match next()? {
            [] => None,
            b if b.len() == 20 => Some(Address::from_slice(b)),
            _ => return None,
        };
        let mint = be_uint(next()?, 16)?.to::<u128>();
        let value = be_uint(next()?, 32)?;
        let gas = be_uint(next()?, 8)?.to::<u64>();
        let is_system_tx = match next()? {
            [] => false,
            [1] => true,
            _ => return None,
        };
        let input = next()?.to_vec();
        fields.is_empty().then_some(Deposit { source_hash, from, to, mint, value, gas, is_system_tx, input })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn rejects_garbage_without_panicking() {
            for raw in [&[][..], &[0x7e], &[0x7e, 0xc0], &[0x7e, 0xff, 0xff], &[0x02, 0x01], &[0x7e, 0xf8, 0x00]] {
                assert_eq!(decode(raw), None, "{raw:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_payload_versions_follow_the_payload_fork() {
        let mut r = keel_core::Rollup::from(keel_core::RollupConfig::default());
        r.base.hardforks.ecotone_time = Some(10);
        r.base.hardforks.isthmus_time = Some(20);
        r.karst_time = Some(30);
        let served: Vec<_> =
            [0, 9, 10, 19, 20, 29, 30, 99].iter().map(|t| get_payload_version_served(&r, *t)).collect();
        assert_eq!(served, ["V2", "V2", "V3", "V3", "V4", "V4", "V5", "V5"]);
    }
}
