//! Facts read from an execution payload built elsewhere: its real header hash, and the L1 origin and sequence number
//! carried by its L1 info deposit. Used to vet blocks posted to the node before importing them.

use crate::l1_info::L1BlockInfo;
use alloy_eips::eip2718::Decodable2718;
use alloy_eips::eip7685::EMPTY_REQUESTS_HASH;
use alloy_eips::BlockNumHash;
use alloy_primitives::B256;
use alloy_rpc_types_engine::{CancunPayloadFields, PraguePayloadFields};
use op_alloy_consensus::OpTxEnvelope;
use op_alloy_rpc_types_engine::{OpExecutionPayload, OpExecutionPayloadEnvelope, OpExecutionPayloadSidecar};

/// The hash of the block header a payload describes (what `block_hash` must equal). Transactions are hashed as raw
/// bytes; nothing is decoded.
pub fn header_hash(env: &OpExecutionPayloadEnvelope) -> Result<B256, String> {
    header_facts(env).map(|h| h.hash)
}

/// The header facts of the block a payload describes (what an engine reports for it by number).
pub fn header_facts(env: &OpExecutionPayloadEnvelope) -> Result<crate::io::L2Header, String> {
    let root = env.parent_beacon_block_root.unwrap_or_default();
    let sidecar = match &env.execution_payload {
        OpExecutionPayload::V1(_) | OpExecutionPayload::V2(_) => OpExecutionPayloadSidecar::default(),
        OpExecutionPayload::V3(_) => OpExecutionPayloadSidecar::v3(CancunPayloadFields::new(root, Vec::new())),
        OpExecutionPayload::V4(_) => OpExecutionPayloadSidecar::v4(
            CancunPayloadFields::new(root, Vec::new()),
            PraguePayloadFields::new(EMPTY_REQUESTS_HASH),
        ),
    };
    let block = env
        .execution_payload
        .clone()
        .into_block_with_sidecar_raw(&sidecar)
        .map_err(|e| format!("payload does not form a block: {e}"))?;
    let h = &block.header;
    let l1_info_input = block.body.transactions.first().and_then(|tx| {
        let env = OpTxEnvelope::decode_2718(&mut tx.as_ref()).ok()?;
        env.as_deposit().map(|d| d.input.clone())
    });
    Ok(crate::io::L2Header {
        hash: h.hash_slow(),
        parent_hash: h.parent_hash,
        timestamp: h.timestamp,
        prev_randao: h.mix_hash,
        fee_recipient: h.beneficiary,
        gas_limit: h.gas_limit,
        extra_data: h.extra_data.clone(),
        transactions_root: h.transactions_root,
        withdrawals_root: h.withdrawals_root,
        parent_beacon_block_root: h.parent_beacon_block_root,
        l1_info_input,
    })
}

/// The L1 origin and sequence number from the payload's first transaction, the L1 info deposit.
pub fn l1_info(env: &OpExecutionPayloadEnvelope) -> Result<(BlockNumHash, u64), String> {
    let p = &env.execution_payload;
    let first = p.transactions().first().ok_or("payload has no transactions (an L1 info deposit is required)")?;
    l1_info_of_first_tx(first)
}

/// The L1 origin and sequence number an L2 block's first transaction, its L1 info deposit, names.
pub fn l1_info_of_first_tx(first: &[u8]) -> Result<(BlockNumHash, u64), String> {
    let tx =
        OpTxEnvelope::decode_2718(&mut &first[..]).map_err(|e| format!("first transaction does not decode: {e}"))?;
    let deposit = tx.as_deposit().ok_or("first transaction is not a deposit")?;
    let info = L1BlockInfo::decode(deposit.input.as_ref())
        .map_err(|e| format!("first transaction is not an L1 info deposit: {e}"))?;
    Ok((info.id(), info.sequence_number()))
}
