//! Payload attributes of a sequenced block (SPEC §3; derivation spec "Building individual payload attributes").
//!
//! Pure: config, parent, origin and system config in; `OpPayloadAttributes` out. This version produces the
//! L1 info deposit (through `kona_protocol::L1BlockInfoTx`, which also applies the "activation block uses the
//! previous format" rule) and every header field. User deposits from the origin's receipts, SystemConfig updates
//! and network upgrade transactions are added by the attributes issue (#4); until then a block at an epoch start
//! carries no user deposits.

use crate::types::{L1Block, L2BlockRef};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, B64};
use alloy_rpc_types_engine::PayloadAttributes;
use kona_genesis::{RollupConfig, SystemConfig};
use kona_protocol::{L1BlockInfoTx, Predeploys};
use op_alloy_rpc_types_engine::OpPayloadAttributes;

/// Payload attributes as sent to the engine: op-alloy's OP attributes plus the Jovian `minBaseFee` field, which
/// op-alloy 0.18 (the version the kona 0.4 crates pin) does not have. Serialises to the engine API's flat JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attributes {
    /// Everything but `minBaseFee`.
    #[serde(flatten)]
    pub op: OpPayloadAttributes,
    /// Jovian+: the minimum base fee (must be present from Jovian on).
    #[serde(rename = "minBaseFee", default, skip_serializing_if = "Option::is_none", with = "alloy_serde::quantity::opt")]
    pub min_base_fee: Option<u64>,
}

/// Why attributes could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttributesError {
    /// The L1 info transaction could not be formed from the system config.
    #[error("cannot build the L1 info deposit for L2 block {l2_number} (origin {origin_number}): {reason}")]
    L1Info {
        /// The block being built.
        l2_number: u64,
        /// Its origin.
        origin_number: u64,
        /// kona's error.
        reason: String,
    },
}

/// Inputs of one attributes build.
#[derive(Clone, Copy, Debug)]
pub struct AttributesInput<'a> {
    /// Chain rules.
    pub rollup: &'a RollupConfig,
    /// SystemConfig in force at the origin.
    pub system_config: &'a SystemConfig,
    /// The L2 parent.
    pub parent: &'a L2BlockRef,
    /// The chosen L1 origin.
    pub origin: &'a L1Block,
    /// Sequence number of the new block within its epoch.
    pub seq_num: u64,
    /// Timestamp of the new block (seconds).
    pub timestamp: u64,
    /// Exclude the transaction pool.
    pub no_tx_pool: bool,
}

/// The fee recipient of every OP Stack block (sequencer fee vault).
pub const FEE_RECIPIENT: Address = Predeploys::SEQUENCER_FEE_VAULT;

/// Whether `timestamp` is the activation block of a fork whose block must not take user transactions from the pool:
/// Ecotone, Fjord, Isthmus, Jovian and Interop (op-node `sequencer.go`; Granite and Holocene allow them).
pub fn is_upgrade_block_without_txs(rollup: &RollupConfig, timestamp: u64) -> bool {
    rollup.is_first_ecotone_block(timestamp)
        || rollup.is_first_fjord_block(timestamp)
        || rollup.is_first_isthmus_block(timestamp)
        || rollup.is_first_jovian_block(timestamp)
        || rollup.is_first_interop_block(timestamp)
}

/// EIP-1559 parameters for Holocene+ blocks: denominator ‖ elasticity, big-endian u32 each; zero on the Holocene
/// activation block (the L1Block contract has not been updated yet).
pub fn eip1559_params(rollup: &RollupConfig, system_config: &SystemConfig, timestamp: u64) -> Option<B64> {
    if !rollup.is_holocene_active(timestamp) {
        return None;
    }
    if rollup.is_first_holocene_block(timestamp) {
        return Some(B64::ZERO);
    }
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&system_config.eip1559_denominator.unwrap_or_default().to_be_bytes());
    out[4..].copy_from_slice(&system_config.eip1559_elasticity.unwrap_or_default().to_be_bytes());
    Some(B64::from(out))
}

/// Builds the attributes of the next sequenced block.
pub fn build(input: &AttributesInput<'_>) -> Result<Attributes, AttributesError> {
    let rollup = input.rollup;
    let ts = input.timestamp;
    let (_, deposit) = L1BlockInfoTx::try_new_with_deposit_tx(
        rollup,
        input.system_config,
        input.seq_num,
        &input.origin.header,
        ts,
    )
    .map_err(|e| AttributesError::L1Info {
        l2_number: input.parent.number + 1,
        origin_number: input.origin.number(),
        reason: e.to_string(),
    })?;
    let l1_info_tx: Bytes = deposit.inner().encoded_2718().into();

    let parent_beacon_block_root = rollup
        .is_ecotone_active(ts)
        .then(|| input.origin.header.parent_beacon_block_root.unwrap_or_default());
    let withdrawals = rollup.is_canyon_active(ts).then(Vec::new);

    let op = OpPayloadAttributes {
        payload_attributes: PayloadAttributes {
            timestamp: ts,
            prev_randao: input.origin.header.mix_hash,
            suggested_fee_recipient: FEE_RECIPIENT,
            withdrawals,
            parent_beacon_block_root,
        },
        transactions: Some(vec![l1_info_tx]),
        no_tx_pool: Some(input.no_tx_pool),
        gas_limit: Some(input.system_config.gas_limit),
        eip_1559_params: eip1559_params(rollup, input.system_config, ts),
    };
    Ok(Attributes { op, min_base_fee: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::Header;
    use alloy_primitives::{address, b256, B256};
    use kona_protocol::L1BlockInfoTx;

    fn rollup() -> RollupConfig {
        let mut cfg = RollupConfig { block_time: 2, ..Default::default() };
        cfg.hardforks.regolith_time = Some(0);
        cfg.hardforks.canyon_time = Some(0);
        cfg.hardforks.delta_time = Some(0);
        cfg.hardforks.ecotone_time = Some(100);
        cfg.hardforks.fjord_time = Some(100);
        cfg.hardforks.granite_time = Some(200);
        cfg.hardforks.holocene_time = Some(300);
        cfg.hardforks.isthmus_time = Some(400);
        cfg
    }

    fn origin() -> L1Block {
        L1Block::from_header(Header {
            number: 77,
            timestamp: 1_000,
            base_fee_per_gas: Some(7),
            mix_hash: b256!("0x1111111111111111111111111111111111111111111111111111111111111111"),
            parent_beacon_block_root: Some(B256::repeat_byte(0x22)),
            ..Default::default()
        })
    }

    fn sys() -> SystemConfig {
        SystemConfig {
            batcher_address: address!("0x6887246668a3b87f54deb3b94ba47a6f63f32985"),
            gas_limit: 30_000_000,
            eip1559_denominator: Some(250),
            eip1559_elasticity: Some(6),
            ..Default::default()
        }
    }

    fn parent() -> L2BlockRef {
        L2BlockRef {
            hash: B256::repeat_byte(3),
            number: 9,
            parent_hash: B256::repeat_byte(4),
            time_ms: 0,
            l1_origin: Default::default(),
            seq_num: 0,
        }
    }

    fn attrs_at(ts: u64) -> OpPayloadAttributes {
        let (cfg, o, s, p) = (rollup(), origin(), sys(), parent());
        build(&AttributesInput {
            rollup: &cfg,
            system_config: &s,
            parent: &p,
            origin: &o,
            seq_num: 3,
            timestamp: ts,
            no_tx_pool: true,
        })
        .unwrap()
        .op
    }

    fn l1_info_selector(a: &OpPayloadAttributes) -> [u8; 4] {
        let tx = &a.transactions.as_ref().unwrap()[0];
        // Decode through op-alloy and kona rather than hand-parsing the deposit envelope.
        let env = <op_alloy_consensus::OpTxEnvelope as alloy_eips::eip2718::Decodable2718>::decode_2718(
            &mut tx.as_ref(),
        )
        .unwrap();
        let dep = env.as_deposit().unwrap();
        assert_eq!(dep.to.to().copied(), Some(Predeploys::L1_BLOCK_INFO));
        let input = dep.input.as_ref();
        let info = L1BlockInfoTx::decode_calldata(input).unwrap();
        assert_eq!(info.sequence_number(), 3);
        assert_eq!(info.block_hash(), origin().hash());
        input[..4].try_into().unwrap()
    }

    #[test]
    fn header_fields() {
        let a = attrs_at(150);
        assert_eq!(a.payload_attributes.timestamp, 150);
        assert_eq!(a.payload_attributes.prev_randao, origin().header.mix_hash);
        assert_eq!(a.payload_attributes.suggested_fee_recipient, address!("0x4200000000000000000000000000000000000011"));
        assert_eq!(a.payload_attributes.withdrawals, Some(vec![]));
        assert_eq!(a.payload_attributes.parent_beacon_block_root, Some(B256::repeat_byte(0x22)));
        assert_eq!(a.gas_limit, Some(30_000_000));
        assert_eq!(a.no_tx_pool, Some(true));
        assert_eq!(a.eip_1559_params, None, "pre-Holocene");
        assert_eq!(a.transactions.as_ref().unwrap().len(), 1);
    }

    #[test]
    fn withdrawals_only_from_canyon() {
        let mut cfg = rollup();
        // Later forks imply earlier ones, so Delta moves too.
        cfg.hardforks.canyon_time = Some(50);
        cfg.hardforks.delta_time = Some(60);
        let (o, s, p) = (origin(), sys(), parent());
        let at = |ts| {
            build(&AttributesInput { rollup: &cfg, system_config: &s, parent: &p, origin: &o, seq_num: 0, timestamp: ts,
                no_tx_pool: false })
            .unwrap()
            .op
        };
        assert_eq!(at(48).payload_attributes.withdrawals, None);
        assert_eq!(at(50).payload_attributes.withdrawals, Some(vec![]));
    }

    #[test]
    fn pre_ecotone_has_no_beacon_root() {
        let a = attrs_at(98);
        assert_eq!(a.payload_attributes.parent_beacon_block_root, None);
    }

    #[test]
    fn l1_info_format_switches_one_block_after_activation() {
        // Bedrock format before Ecotone and on its activation block; Ecotone format after; Isthmus likewise.
        assert_eq!(l1_info_selector(&attrs_at(98)), [0x01, 0x5d, 0x8e, 0xb9]);
        assert_eq!(l1_info_selector(&attrs_at(100)), [0x01, 0x5d, 0x8e, 0xb9]);
        assert_eq!(l1_info_selector(&attrs_at(102)), [0x44, 0x0a, 0x5e, 0x20]);
        assert_eq!(l1_info_selector(&attrs_at(400)), [0x44, 0x0a, 0x5e, 0x20]);
        assert_eq!(l1_info_selector(&attrs_at(402)), [0x09, 0x89, 0x99, 0xbe]);
    }

    #[test]
    fn eip1559_params_from_holocene() {
        let (cfg, s) = (rollup(), sys());
        assert_eq!(eip1559_params(&cfg, &s, 298), None);
        assert_eq!(eip1559_params(&cfg, &s, 300), Some(B64::ZERO), "activation block");
        assert_eq!(eip1559_params(&cfg, &s, 302), Some(B64::from([0, 0, 0, 250, 0, 0, 0, 6])));
    }

    #[test]
    fn upgrade_blocks_exclude_the_pool() {
        let cfg = rollup();
        assert!(is_upgrade_block_without_txs(&cfg, 100), "Ecotone+Fjord activation");
        assert!(!is_upgrade_block_without_txs(&cfg, 102));
        assert!(!is_upgrade_block_without_txs(&cfg, 200), "Granite allows txs");
        assert!(!is_upgrade_block_without_txs(&cfg, 300), "Holocene allows txs");
        assert!(is_upgrade_block_without_txs(&cfg, 400), "Isthmus activation");
    }
}
