//! A custom attributes builder for tests of the seam (`keel_core::attributes::AttributesBuilder`): the protocol's
//! attributes plus one extra deposit per block, right after the L1 info deposit. Chains with their own system
//! deposits look like this; a node that derives with the protocol's builder instead derives other blocks.

use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{address, keccak256, Address, Bytes, TxKind, U256};
use keel_core::attributes::{self, Attributes, AttributesBuilder, AttributesError, AttributesInput};
use op_alloy_consensus::TxDeposit;

/// Sender of the tag deposit.
pub const TAG_FROM: Address = address!("0x0000000000000000000000000000000000007a9e");
/// Recipient of the tag deposit.
pub const TAG_TO: Address = address!("0x4b65656c000000000000000000000000000074a9");

/// The protocol's attributes with one tag deposit (calldata: the block number, big-endian) after the L1 info
/// deposit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TagDeposit;

impl TagDeposit {
    /// The tag deposit of the block after `parent`.
    pub fn tag(parent: &keel_core::L2BlockRef) -> Bytes {
        let number = parent.number + 1;
        let deposit = TxDeposit {
            // Unique per block and chain position, as a deposit's source hash must be.
            source_hash: keccak256([b"keel-sim-tag".as_slice(), parent.hash.as_slice()].concat()),
            from: TAG_FROM,
            to: TxKind::Call(TAG_TO),
            mint: 0,
            value: U256::ZERO,
            gas_limit: 50_000,
            is_system_transaction: false,
            input: Bytes::copy_from_slice(&number.to_be_bytes()),
        };
        deposit.encoded_2718().into()
    }

    /// Whether `tx` (EIP-2718 bytes) is a tag deposit.
    pub fn is_tag(tx: &[u8]) -> bool {
        use alloy_eips::eip2718::Decodable2718;
        op_alloy_consensus::OpTxEnvelope::decode_2718(&mut &tx[..])
            .ok()
            .and_then(|t| t.as_deposit().map(|d| d.from == TAG_FROM && d.to == TxKind::Call(TAG_TO)))
            .unwrap_or(false)
    }
}

impl AttributesBuilder for TagDeposit {
    fn prepare_payload_attributes(&self, input: &AttributesInput<'_>) -> Result<Attributes, AttributesError> {
        let mut attrs = attributes::build(input)?;
        attrs.op.transactions.get_or_insert_with(Vec::new).insert(1, Self::tag(input.parent));
        Ok(attrs)
    }
}
