//! From a batch to payload attributes, and whether a block already in the engine is the block those attributes
//! make (op-node `AttributesMatchBlock`).
//!
//! Derived attributes come from the same builder the sequencer uses (the node's
//! [`crate::attributes::AttributesBuilder`]) with the same SystemConfig rule (the parent's, updated by the epoch origin's `ConfigUpdate` logs at an epoch start), so a
//! sequenced block and the block derived from its batch can only differ where the batch differs.

use crate::attributes::{self, Attributes, AttributesBuilder, AttributesInput};
use crate::io::L2Header;
use crate::rollup::Rollup;
use crate::system_config::SystemConfig;
use crate::types::{L1Block, L2BlockRef};
use alloy_consensus::Receipt;
use alloy_primitives::bytes::BufMut;
use alloy_primitives::{Bytes, B256};
use kona_protocol::SingleBatch;

/// The attributes of the block a batch describes, with the SystemConfig they were built with and the block's
/// sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Derived {
    /// The attributes (`noTxPool` set: the block holds exactly the batch's transactions after the deposits).
    pub attributes: Attributes,
    /// The SystemConfig the block is built with.
    pub config: SystemConfig,
    /// Position in its epoch.
    pub seq_num: u64,
}

/// The SystemConfig and user deposits of an epoch's first block: `config` (the parent's) updated by the origin's
/// `ConfigUpdate` logs, and its `TransactionDeposited` logs as deposit transactions (op-node
/// `PreparePayloadAttributes`). Malformed `ConfigUpdate` logs are skipped (logged), as op-node does.
pub fn epoch_start(
    rollup: &Rollup,
    config: &mut SystemConfig,
    origin: &L1Block,
    receipts: &[Receipt],
) -> Result<Vec<Bytes>, String> {
    for skipped in config.apply_receipts(receipts, rollup, origin.info.timestamp) {
        log::warn!("skipping malformed ConfigUpdate log in L1 block {}: {skipped:?}", origin.number());
    }
    crate::deposits::user_deposits(origin.info.id(), receipts, rollup.deposit_contract_address)
        .map_err(|e| format!("failed to derive deposits of L1 block {}: {e}", origin.number()))
}

/// The attributes of `batch` on `parent` (the safe head, whose SystemConfig is `parent_config`). `origin` is the
/// batch's epoch, `receipts` its receipts (needed only when the batch starts an epoch).
pub fn derived_attributes(
    builder: &dyn AttributesBuilder,
    rollup: &Rollup,
    parent: &L2BlockRef,
    parent_config: &SystemConfig,
    origin: &L1Block,
    receipts: &[Receipt],
    batch: &SingleBatch,
) -> Result<Derived, String> {
    if origin.number() != batch.epoch_num || origin.hash() != batch.epoch_hash {
        return Err(format!(
            "batch for L2 time {} names epoch {} {:#x}, given L1 block {} {:#x}",
            batch.timestamp,
            batch.epoch_num,
            batch.epoch_hash,
            origin.number(),
            origin.hash()
        ));
    }
    let seq_num = if origin.hash() == parent.l1_origin.hash { parent.seq_num + 1 } else { 0 };
    let mut config = *parent_config;
    let deposits = if seq_num == 0 { epoch_start(rollup, &mut config, origin, receipts)? } else { Vec::new() };
    let input = AttributesInput {
        rollup,
        system_config: &config,
        parent,
        origin,
        seq_num,
        timestamp: batch.timestamp,
        no_tx_pool: true,
        deposits: &deposits,
        receipts: if seq_num == 0 { receipts } else { &[] },
    };
    let mut attrs = attributes::checked_build(builder, &input).map_err(|e| e.to_string())?;
    attrs.op.transactions.get_or_insert_with(Vec::new).extend(batch.transactions.iter().cloned());
    Ok(Derived { attributes: attrs, config, seq_num })
}

/// Whether the block `header` describes (the engine's block at the derived block's height) is the block `attrs`
/// on `parent_hash` make (op-node `AttributesMatchBlock`). The first difference is named.
/// `isthmus`: Isthmus is active at the block's time (the withdrawals root is then execution's to compute).
pub fn attributes_match(attrs: &Attributes, parent_hash: B256, header: &L2Header, isthmus: bool) -> Result<(), String> {
    let a = &attrs.op.payload_attributes;
    if header.parent_hash != parent_hash {
        return Err(format!("parent hash {:#x}, derived {parent_hash:#x}", header.parent_hash));
    }
    if header.timestamp != a.timestamp {
        return Err(format!("timestamp {}, derived {}", header.timestamp, a.timestamp));
    }
    if header.prev_randao != a.prev_randao {
        return Err(format!("prevRandao {:#x}, derived {:#x}", header.prev_randao, a.prev_randao));
    }
    if header.fee_recipient != a.suggested_fee_recipient {
        return Err(format!("fee recipient {}, derived {}", header.fee_recipient, a.suggested_fee_recipient));
    }
    let txs = attrs.op.transactions.as_deref().unwrap_or_default();
    let root = alloy_consensus::proofs::ordered_trie_root_with_encoder(txs, |tx, buf| buf.put_slice(tx));
    if header.transactions_root != root {
        return Err(format!(
            "transactions root {:#x}, derived {root:#x} ({} derived transactions)",
            header.transactions_root,
            txs.len()
        ));
    }
    if let Some(gas_limit) = attrs.op.gas_limit {
        if header.gas_limit != gas_limit {
            return Err(format!("gas limit {}, derived {gas_limit}", header.gas_limit));
        }
    }
    // Canyon on, the attributes carry an empty withdrawals list; before Isthmus the root is that of the empty list
    // (from Isthmus it is the message passer's storage root, which only execution knows).
    match (&a.withdrawals, header.withdrawals_root) {
        (None, None) => {}
        (Some(w), Some(root)) if w.is_empty() => {
            if !isthmus && root != alloy_consensus::EMPTY_ROOT_HASH {
                return Err(format!("withdrawals root {root:#x}, derived the empty list's"));
            }
        }
        (w, root) => {
            return Err(format!("withdrawals root {root:?}, derived {:?} withdrawals", w.as_ref().map(Vec::len)))
        }
    }
    if header.parent_beacon_block_root != a.parent_beacon_block_root {
        return Err(format!(
            "parent beacon block root {:?}, derived {:?}",
            header.parent_beacon_block_root, a.parent_beacon_block_root
        ));
    }
    // Holocene extraData: version, then the EIP-1559 parameters, then (Jovian) the minimum base fee. Zero
    // parameters in the attributes mean "the chain's defaults", which only the engine knows: not compared.
    let extra = &header.extra_data;
    if let Some(params) = attrs.op.eip_1559_params.filter(|p| *p != alloy_primitives::B64::ZERO) {
        if extra.get(1..9) != Some(params.as_slice()) {
            return Err(format!("extraData {extra} does not carry the derived EIP-1559 parameters {params}"));
        }
    }
    if let Some(min) = attrs.min_base_fee {
        let got = extra.get(9..17).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")));
        if extra.first() != Some(&1) || got != Some(min) {
            return Err(format!("extraData {extra} does not carry the derived minimum base fee {min}"));
        }
    }
    Ok(())
}
