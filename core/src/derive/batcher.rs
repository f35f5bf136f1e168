//! Which transactions of an L1 block carry batcher data (op-node's calldata and blob data sources).
//!
//! A batcher transaction is sent to the chain's batch inbox by the batcher address of the SystemConfig in force
//! (changed by `ConfigUpdate` logs); its sender is recovered from the signature, high-s signatures refused. Before
//! Ecotone (by the L1 block's time) the data is each transaction's calldata. From Ecotone a blob transaction's data
//! is its blobs (their calldata is ignored), other transactions still give calldata, and blobs are numbered by
//! their position among all blobs of the block, counting blobs of transactions that are not batcher transactions,
//! because that is how the beacon node indexes sidecars.

use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::{Transaction, TxEnvelope};
use alloy_primitives::{Address, Bytes, B256};

/// One piece of batcher data, in block order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatcherData {
    /// A transaction's calldata.
    Calldata(Bytes),
    /// A blob to fetch from the beacon node: its versioned hash and its index among the block's blobs.
    Blob {
        /// The versioned hash the blob must match (its KZG commitment hashed).
        hash: B256,
        /// Position among all blobs of the L1 block.
        index: u64,
    },
}

/// The batcher data of an L1 block's transactions.
pub fn batcher_data(txs: &[TxEnvelope], inbox: Address, batcher: Address, ecotone: bool) -> Vec<BatcherData> {
    let mut out = Vec::new();
    let mut blob_index = 0u64;
    for tx in txs {
        let blobs = tx.blob_versioned_hashes().map(<[B256]>::to_vec).unwrap_or_default();
        let first_blob = blob_index;
        blob_index += blobs.len() as u64;
        if tx.to() != Some(inbox) {
            continue;
        }
        match tx.recover_signer() {
            Ok(sender) if sender == batcher => {}
            Ok(_) => continue,
            Err(e) => {
                log::debug!("batch inbox transaction {:#x} has no valid signature: {e}", tx.tx_hash());
                continue;
            }
        }
        if ecotone && !blobs.is_empty() {
            if !tx.input().is_empty() {
                log::warn!("blob batcher transaction {:#x} also has calldata; ignored", tx.tx_hash());
            }
            out.extend(
                blobs.into_iter().enumerate().map(|(i, hash)| BatcherData::Blob { hash, index: first_blob + i as u64 }),
            );
        } else {
            out.push(BatcherData::Calldata(tx.input().clone()));
        }
    }
    out
}
