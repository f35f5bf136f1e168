//! The fake L1 execution RPC: blocks of the `keel-sim` L1 chain as standard `eth_getBlockBy*` JSON; and on the same
//! port, as anvil does, the beacon API a derivation pipeline reads blobs from (`/eth/v1/beacon/genesis`,
//! `/eth/v1/config/spec`, `/eth/v1/beacon/blobs/{slot}?versioned_hashes=…`), one slot per L1 block time from the
//! genesis block's time.

use super::rpc::{param, to_json, RpcFailure, Service};
use super::{lock, BlockSel, Shared};
use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::TxEnvelope;
use alloy_primitives::B256;
use keel_core::L1Block;
use serde_json::Value;
use std::sync::Arc;

pub(crate) struct L1Service(pub Arc<Shared>);

/// Block JSON as an L1 node returns it: every consensus header field (so the header hash recomputes to `hash`),
/// the block's transactions (hashes, or full objects with `full`), and empty `uncles`.
pub(crate) fn block_json(block: &L1Block, txs: &[TxEnvelope], full: bool) -> Result<Value, RpcFailure> {
    let header = alloy_rpc_types_eth::Header {
        hash: block.hash(),
        inner: (*block.header).clone(),
        total_difficulty: None,
        size: None,
    };
    let mut v = to_json(&header)?;
    let transactions = txs
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            if !full {
                return Ok(serde_json::json!(tx.tx_hash()));
            }
            let signer = tx.recover_signer().unwrap_or_default();
            to_json(&alloy_rpc_types_eth::Transaction {
                inner: alloy_consensus::transaction::Recovered::new_unchecked(tx.clone(), signer),
                block_hash: Some(block.hash()),
                block_number: Some(block.number()),
                transaction_index: Some(i as u64),
                effective_gas_price: None,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("transactions".into(), Value::Array(transactions));
        obj.insert("uncles".into(), Value::Array(vec![]));
    }
    Ok(v)
}

impl L1Service {
    /// The beacon API's answer to `GET path`, or `None` for a path it does not serve.
    fn beacon(&self, path: &str) -> Option<(u16, String)> {
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        let l1 = lock(&self.0.l1);
        let chain = &l1.chain;
        let genesis = chain.genesis().info.timestamp;
        let ok = |v: Value| Some((200, v.to_string()));
        match route {
            "/eth/v1/beacon/genesis" => ok(serde_json::json!({"data": {"genesis_time": genesis.to_string()}})),
            "/eth/v1/config/spec" => {
                ok(serde_json::json!({"data": {"SECONDS_PER_SLOT": chain.block_time_s.to_string()}}))
            }
            _ => {
                let slot: u64 = route.strip_prefix("/eth/v1/beacon/blobs/")?.parse().ok()?;
                let wanted: Vec<B256> = query
                    .split('&')
                    .filter_map(|kv| kv.strip_prefix("versioned_hashes="))
                    .flat_map(|v| v.split(','))
                    .filter_map(|h| h.parse().ok())
                    .collect();
                let time = genesis + slot * chain.block_time_s;
                let head = chain.head().number();
                let block = (0..=head.min(256))
                    .filter_map(|back| chain.by_number(head - back))
                    .find(|b| b.info.timestamp <= time)
                    .filter(|b| b.info.timestamp == time);
                let Some(block) = block else {
                    return Some((404, serde_json::json!({"code": 404, "message": "Block not found"}).to_string()));
                };
                let txs = chain.transactions(&block.hash()).unwrap_or_default();
                let blobs: Vec<String> = txs
                    .iter()
                    .filter_map(|t| alloy_consensus::Transaction::blob_versioned_hashes(t))
                    .flatten()
                    .filter(|h| wanted.is_empty() || wanted.contains(h))
                    .filter_map(|h| chain.blob(h))
                    .map(|b| format!("0x{}", alloy_primitives::hex::encode(b)))
                    .collect();
                ok(serde_json::json!({"execution_optimistic": false, "finalized": false, "data": blobs}))
            }
        }
    }
}

impl Service for L1Service {
    fn get(&self, path: &str) -> Option<(u16, String)> {
        self.beacon(path)
    }

    fn call(&self, method: &str, params: &[Value]) -> Result<Value, RpcFailure> {
        match method {
            "eth_chainId" => Ok(Value::String(format!("{:#x}", self.0.l1_chain_id))),
            "eth_blockNumber" => Ok(Value::String(format!("{:#x}", lock(&self.0.l1).chain.head().number()))),
            "eth_getBlockByNumber" => {
                let sel = BlockSel::parse(params.first().unwrap_or(&Value::Null))?;
                let full: Option<bool> = param(params, 1, "full transactions")?;
                let l1 = lock(&self.0.l1);
                let c = &l1.chain;
                let block = match sel {
                    BlockSel::Latest => Some(c.head().clone()),
                    // L1 "safe" is approximated by "finalized".
                    BlockSel::Safe | BlockSel::Finalized => Some(c.finalized().clone()),
                    BlockSel::Earliest => Some(c.genesis().clone()),
                    BlockSel::Number(n) => c.by_number(n).cloned(),
                };
                match block {
                    Some(b) => block_json(&b, &c.transactions(&b.hash()).unwrap_or_default(), full.unwrap_or(false)),
                    None => Ok(Value::Null),
                }
            }
            "eth_getBlockByHash" => {
                let hash: B256 = param(params, 0, "block hash")?;
                let full: Option<bool> = param(params, 1, "full transactions")?;
                let l1 = lock(&self.0.l1);
                match l1.chain.by_hash(&hash) {
                    Some(b) => block_json(b, &l1.chain.transactions(&hash).unwrap_or_default(), full.unwrap_or(false)),
                    None => Ok(Value::Null),
                }
            }
            "eth_getBlockReceipts" => {
                let hash: B256 = param(params, 0, "block hash")?;
                let Some(receipts) = lock(&self.0.l1).chain.receipts(&hash) else { return Ok(Value::Null) };
                Ok(Value::Array(
                    receipts
                        .iter()
                        .enumerate()
                        .map(|(i, r)| {
                            serde_json::json!({
                                "transactionIndex": format!("{i:#x}"),
                                "blockHash": hash,
                                "status": if r.status.coerce_status() { "0x1" } else { "0x0" },
                                "cumulativeGasUsed": format!("{:#x}", r.cumulative_gas_used),
                                "logs": r.logs.iter().map(|l| serde_json::json!({
                                    "address": l.address, "topics": l.topics(), "data": l.data.data,
                                })).collect::<Vec<_>>(),
                            })
                        })
                        .collect(),
                ))
            }
            _ => Err(RpcFailure::method_not_found(method)),
        }
    }
}
