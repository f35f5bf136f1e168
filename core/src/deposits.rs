//! User deposits: `TransactionDeposited` logs of the OptimismPortal in an epoch's L1 origin become deposit
//! transactions at the start of the epoch's first L2 block (op-node `deposits.go`, `deposit_log.go`).
//!
//! Pure: the L1 block's identity and receipts in, EIP-2718 encoded deposit transactions out. Decoding is
//! `kona_protocol::decode_deposit`, with two adjustments so the result matches op-node's on every input:
//! - the slice header words (offset, length) must be whole `uint64`s, as op-node checks; kona reads only their low
//!   8 bytes, which would accept a log op-node rejects;
//! - the `from`/`to` topics are read as their low 20 bytes, as op-node does; kona rejects non-zero upper bytes.
//!
//! A mint above 128 bits (op-node would accept it; the deposit type cannot carry it, and kona would silently drop
//! the high bits) is an error. The portal cannot emit one: it would exceed the ETH supply.
//!
//! A malformed deposit log is fatal in op-node (deposits may never be skipped), so it is an error here, naming the L1
//! block and the log.

use alloy_consensus::Receipt;
use alloy_eips::BlockNumHash;
use alloy_primitives::{Address, Bytes, Log, LogData, B256};
use kona_protocol::{decode_deposit, DEPOSIT_EVENT_ABI_HASH};

/// A deposit log that cannot be turned into a deposit transaction.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed deposit log in L1 block {l1_number} ({l1_hash}), receipt {receipt_index}, block log index {log_index}: {reason}")]
pub struct DepositLogError {
    /// L1 block number.
    pub l1_number: u64,
    /// L1 block hash.
    pub l1_hash: B256,
    /// Index of the receipt (transaction) in the block.
    pub receipt_index: usize,
    /// Block-wide index of the log (the index the deposit's source hash commits to).
    pub log_index: u64,
    /// What is wrong.
    pub reason: String,
}

/// op-node's stricter reading of the ABI slice header (both words must fit a `uint64`), and a mint that fits the
/// deposit type.
fn check_slice_header(data: &[u8]) -> Result<(), String> {
    if data.len() >= 64 {
        if data[..24].iter().any(|b| *b != 0) {
            return Err(format!(
                "opaqueData offset word {} is not a uint64",
                alloy_primitives::hex::encode(&data[..32])
            ));
        }
        if data[32..56].iter().any(|b| *b != 0) {
            return Err(format!(
                "opaqueData length word {} is not a uint64",
                alloy_primitives::hex::encode(&data[32..64])
            ));
        }
    }
    // With the offset at 32 (kona checks that next), opaqueData starts at byte 64 with the 32-byte mint.
    if data.len() >= 96 && data[64..80].iter().any(|b| *b != 0) {
        return Err(format!("mint {} exceeds 128 bits", alloy_primitives::hex::encode(&data[64..96])));
    }
    Ok(())
}

/// op-node's `common.BytesToAddress(topic[12:])`: only the low 20 bytes of the `from`/`to` topics count.
fn normalise_address_topics(log: &Log) -> Option<Log> {
    let topics = log.topics();
    if topics.len() != 4 || (topics[1][..12].iter().all(|b| *b == 0) && topics[2][..12].iter().all(|b| *b == 0)) {
        return None;
    }
    let mut t = topics.to_vec();
    for topic in &mut t[1..3] {
        topic.0[..12].fill(0);
    }
    Some(Log { address: log.address, data: LogData::new_unchecked(t, log.data.data.clone()) })
}

/// Logs of successful receipts emitted by `address` with first topic `topic`, with their receipt index and their
/// block-wide log index (which counts every log of every receipt, failed ones included, as go-ethereum numbers them).
pub fn matching_logs<'a>(
    receipts: &'a [Receipt],
    address: Address,
    topic: alloy_primitives::B256,
) -> impl Iterator<Item = (usize, u64, &'a Log)> + 'a {
    let mut first = 0u64;
    receipts.iter().enumerate().flat_map(move |(receipt_index, receipt)| {
        let start = first;
        first += receipt.logs.len() as u64;
        let ok = receipt.status.coerce_status();
        receipt
            .logs
            .iter()
            .enumerate()
            .filter(move |(_, log)| ok && log.address == address && log.topics().first() == Some(&topic))
            .map(move |(i, log)| (receipt_index, start + i as u64, log))
    })
}

/// The user deposit transactions of the L1 block `l1_block` with `receipts` (all of them, in block order): logs of
/// `deposit_contract` whose first topic is `TransactionDeposited`, from successful receipts, in log order, each
/// with source hash domain 0 over (L1 block hash, block-wide log index).
pub fn user_deposits(
    l1_block: BlockNumHash,
    receipts: &[Receipt],
    deposit_contract: Address,
) -> Result<Vec<Bytes>, DepositLogError> {
    let mut out = Vec::new();
    for (receipt_index, index, log) in matching_logs(receipts, deposit_contract, DEPOSIT_EVENT_ABI_HASH) {
        let err = |reason: String| DepositLogError {
            l1_number: l1_block.number,
            l1_hash: l1_block.hash,
            receipt_index,
            log_index: index,
            reason,
        };
        check_slice_header(&log.data.data).map_err(err)?;
        let normalised = normalise_address_topics(log);
        let tx = decode_deposit(l1_block.hash, index as usize, normalised.as_ref().unwrap_or(log))
            .map_err(|e| err(e.to_string()))?;
        out.push(tx);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::Eip658Value;
    use alloy_primitives::{hex, U256};

    const PORTAL: Address = Address::repeat_byte(0xaa);

    fn deposit_log(from_topic: B256, data: Vec<u8>) -> Log {
        Log {
            address: PORTAL,
            data: LogData::new_unchecked(
                vec![DEPOSIT_EVENT_ABI_HASH, from_topic, Address::repeat_byte(2).into_word(), B256::ZERO],
                data.into(),
            ),
        }
    }

    fn opaque(value: u64) -> Vec<u8> {
        let mut o = Vec::new();
        o.extend_from_slice(&U256::ZERO.to_be_bytes::<32>());
        o.extend_from_slice(&U256::from(value).to_be_bytes::<32>());
        o.extend_from_slice(&21_000u64.to_be_bytes());
        o.push(0);
        let mut data = Vec::new();
        data.extend_from_slice(&U256::from(32).to_be_bytes::<32>());
        data.extend_from_slice(&U256::from(o.len()).to_be_bytes::<32>());
        data.extend_from_slice(&o);
        data.resize(64 + o.len().div_ceil(32) * 32, 0);
        data
    }

    fn receipt(logs: Vec<Log>) -> Receipt {
        Receipt { status: Eip658Value::Eip658(true), cumulative_gas_used: 0, logs }
    }

    #[test]
    fn rejects_slice_header_words_kona_would_truncate() {
        let block = BlockNumHash { number: 7, hash: B256::repeat_byte(7) };
        let mut data = opaque(1);
        data[0] = 1; // offset word 2^248 + 32
        let e = user_deposits(block, &[receipt(vec![deposit_log(Address::repeat_byte(1).into_word(), data)])], PORTAL)
            .unwrap_err();
        assert_eq!((e.l1_number, e.receipt_index, e.log_index), (7, 0, 0));
        assert!(e.to_string().contains("L1 block 7"), "{e}");
    }

    #[test]
    fn reads_only_the_low_address_bytes_like_op_node() {
        let block = BlockNumHash { number: 7, hash: B256::repeat_byte(7) };
        let clean = Address::repeat_byte(1).into_word();
        let mut dirty = clean;
        dirty.0[0] = 0xff;
        let a = user_deposits(block, &[receipt(vec![deposit_log(clean, opaque(5))])], PORTAL).unwrap();
        let b = user_deposits(block, &[receipt(vec![deposit_log(dirty, opaque(5))])], PORTAL).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 1);
        assert_eq!(hex::encode(&a[0][..1]), "7e");
    }
}
