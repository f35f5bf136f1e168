//! Payload attributes of a sequenced block (derivation spec "Building individual payload attributes";
//! op-node `attributes.go` `PreparePayloadAttributes`).
//!
//! Pure: config, parent, origin, SystemConfig and the epoch's user deposits in; `OpPayloadAttributes` plus Jovian's
//! `minBaseFee` out. Transactions are the L1 info deposit ([`crate::l1_info`]), then the epoch's user deposits
//! ([`crate::deposits`]) on its first block, then the network upgrade transactions ([`crate::upgrades`]) on a fork's
//! activation block. The SystemConfig in force is the caller's responsibility ([`crate::system_config`]).

use crate::l1_info::{self, L1InfoError};
use crate::rollup::Rollup;
use crate::system_config::SystemConfig;
use crate::types::{L1Block, L2BlockRef};
use crate::upgrades::{self, UpgradeError};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, B64};
use alloy_rpc_types_engine::PayloadAttributes;
use kona_genesis::RollupConfig;
use kona_protocol::Predeploys;
use op_alloy_rpc_types_engine::OpPayloadAttributes;

pub use crate::types::Attributes;

/// Why attributes could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttributesError {
    /// The L1 info transaction could not be formed from the system config and origin.
    #[error("cannot build the L1 info deposit for L2 block {l2_number} (origin {origin_number}): {source}")]
    L1Info {
        /// The block being built.
        l2_number: u64,
        /// Its origin.
        origin_number: u64,
        /// Why.
        source: L1InfoError,
    },
    /// The block activates a fork whose upgrade transactions Keel cannot produce.
    #[error("cannot build the upgrade transactions of L2 block {l2_number}: {source}")]
    Upgrade {
        /// The block being built.
        l2_number: u64,
        /// Why.
        source: UpgradeError,
    },
}

/// Inputs of one attributes build.
#[derive(Clone, Copy, Debug)]
pub struct AttributesInput<'a> {
    /// Chain rules.
    pub rollup: &'a Rollup,
    /// The SystemConfig op-node would use: the one reconstructed from the L2 parent
    /// ([`SystemConfig::from_l2_block`], or [`SystemConfig::after_block`] of the config the parent was built with),
    /// with the `ConfigUpdate` logs of the origin's receipts applied ([`SystemConfig::apply_receipts`]) when
    /// `seq_num == 0`. Its EIP-1559 parameters, minimum base fee and gas limit go into the attributes verbatim.
    pub system_config: &'a SystemConfig,
    /// The L2 parent.
    pub parent: &'a L2BlockRef,
    /// The chosen L1 origin.
    pub origin: &'a L1Block,
    /// Sequence number of the new block within its epoch.
    pub seq_num: u64,
    /// UnixMs of the new block (seconds).
    pub timestamp: u64,
    /// Exclude the transaction pool (decided by the state machine: recovery mode, drift, upgrade blocks).
    pub no_tx_pool: bool,
    /// The epoch's user deposits ([`crate::deposits::user_deposits`] of the origin's receipts), EIP-2718 encoded.
    /// Only used when `seq_num == 0`; later blocks of the epoch carry none.
    pub deposits: &'a [Bytes],
}

/// The fee recipient of every OP Stack block (sequencer fee vault).
pub const FEE_RECIPIENT: Address = Predeploys::SEQUENCER_FEE_VAULT;

/// Whether `timestamp` is the activation block of a fork whose block must not take user transactions from the pool:
/// Ecotone, Fjord, Isthmus, Jovian, Karst and Lagoon (op-node `sequencer.go`; Granite and Holocene allow them).
pub fn is_upgrade_block_without_txs(rollup: &Rollup, timestamp: u64) -> bool {
    rollup.is_first_ecotone_block(timestamp)
        || rollup.is_first_fjord_block(timestamp)
        || rollup.is_first_isthmus_block(timestamp)
        || rollup.is_first_jovian_block(timestamp)
        || rollup.is_first_karst_block(timestamp)
        || rollup.is_first_lagoon_block(timestamp)
        || rollup.is_first_interop_block(timestamp)
}

/// EIP-1559 parameters for Holocene+ blocks: the SystemConfig's denominator ‖ elasticity, big-endian `u32` each
/// (op-node: `EIP1559Params = sysConfig.EIP1559Params` when Holocene is active). On the Holocene activation block
/// they are zero because the SystemConfig reconstructed from a pre-Holocene parent has none, unless the same epoch's
/// L1 receipts set them.
pub fn eip1559_params(rollup: &RollupConfig, system_config: &SystemConfig, timestamp: u64) -> Option<B64> {
    rollup.is_holocene_active(timestamp).then(|| system_config.eip1559_params())
}

/// Builds the attributes of the next sequenced block.
pub fn build(input: &AttributesInput<'_>) -> Result<Attributes, AttributesError> {
    let rollup = input.rollup;
    let ts = input.timestamp;
    let sys = input.system_config;
    let l2_number = input.parent.number + 1;
    let header = &input.origin.header;

    let info = sys
        .l1_block_info(rollup, input.seq_num, header, input.origin.hash(), ts)
        .map_err(|source| AttributesError::L1Info { l2_number, origin_number: input.origin.number(), source })?;
    let upgrade_err = |source| AttributesError::Upgrade { l2_number, source };
    let upgrade_txs = upgrades::upgrade_transactions(rollup, ts).map_err(upgrade_err)?;
    // Karst on: the activation block gets its upgrade transactions' gas on top of the SystemConfig's limit.
    let gas_limit = sys.gas_limit.saturating_add(upgrades::upgrade_gas(rollup, ts).map_err(upgrade_err)?);
    let deposits = if input.seq_num == 0 { input.deposits } else { &[] };

    let mut transactions = Vec::with_capacity(1 + deposits.len() + upgrade_txs.len());
    transactions.push(Bytes::from(l1_info::l1_info_deposit(rollup, &info, ts).encoded_2718()));
    transactions.extend_from_slice(deposits);
    transactions.extend(upgrade_txs);

    let parent_beacon_block_root =
        rollup.is_ecotone_active(ts).then(|| header.parent_beacon_block_root.unwrap_or_default());
    let withdrawals = rollup.is_canyon_active(ts).then(Vec::new);

    let op = OpPayloadAttributes {
        payload_attributes: PayloadAttributes {
            timestamp: ts,
            prev_randao: header.mix_hash,
            suggested_fee_recipient: FEE_RECIPIENT,
            withdrawals,
            parent_beacon_block_root,
        },
        transactions: Some(transactions),
        no_tx_pool: Some(input.no_tx_pool),
        gas_limit: Some(gas_limit),
        eip_1559_params: eip1559_params(rollup, sys, ts),
    };
    Ok(Attributes { op, min_base_fee: rollup.is_jovian_active(ts).then_some(sys.min_base_fee) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l1_info::L1BlockInfo;
    use alloy_consensus::Header;
    use alloy_primitives::{address, b256, B256};

    fn rollup() -> Rollup {
        let mut cfg = RollupConfig { block_time: 2, ..Default::default() };
        cfg.hardforks.regolith_time = Some(0);
        cfg.hardforks.canyon_time = Some(0);
        cfg.hardforks.delta_time = Some(0);
        cfg.hardforks.ecotone_time = Some(100);
        cfg.hardforks.fjord_time = Some(100);
        cfg.hardforks.granite_time = Some(200);
        cfg.hardforks.holocene_time = Some(300);
        cfg.hardforks.isthmus_time = Some(400);
        cfg.hardforks.jovian_time = Some(500);
        Rollup { karst_time: Some(600), ..Rollup::from(cfg) }
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
            eip1559_denominator: 250,
            eip1559_elasticity: 6,
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
            deposits: &[],
        })
        .unwrap()
        .op
    }

    fn l1_info_selector(a: &OpPayloadAttributes) -> [u8; 4] {
        let tx = &a.transactions.as_ref().unwrap()[0];
        // Decode through op-alloy and kona rather than hand-parsing the deposit envelope.
        let env =
            <op_alloy_consensus::OpTxEnvelope as alloy_eips::eip2718::Decodable2718>::decode_2718(&mut tx.as_ref())
                .unwrap();
        let dep = env.as_deposit().unwrap();
        assert_eq!(dep.to.to().copied(), Some(Predeploys::L1_BLOCK_INFO));
        let input = dep.input.as_ref();
        let info = L1BlockInfo::decode(input).unwrap();
        assert_eq!(info.sequence_number(), 3);
        assert_eq!(info.block_hash(), origin().hash());
        input[..4].try_into().unwrap()
    }

    #[test]
    fn header_fields() {
        let a = attrs_at(150);
        assert_eq!(a.payload_attributes.timestamp, 150);
        assert_eq!(a.payload_attributes.prev_randao, origin().header.mix_hash);
        assert_eq!(
            a.payload_attributes.suggested_fee_recipient,
            address!("0x4200000000000000000000000000000000000011")
        );
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
            build(&AttributesInput {
                rollup: &cfg,
                system_config: &s,
                parent: &p,
                origin: &o,
                seq_num: 0,
                timestamp: ts,
                no_tx_pool: false,
                deposits: &[],
            })
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
        assert_eq!(l1_info_selector(&attrs_at(500)), [0x09, 0x89, 0x99, 0xbe], "Jovian activation: Isthmus format");
        assert_eq!(l1_info_selector(&attrs_at(502)), [0x3d, 0xb6, 0xbe, 0x2b]);
        assert_eq!(l1_info_selector(&attrs_at(600)), [0x3d, 0xb6, 0xbe, 0x2b], "Karst keeps the Jovian format");
    }

    #[test]
    fn karst_activation_block() {
        let bundle = upgrades::karst_bundle().unwrap();
        let a = attrs_at(600);
        let txs = a.transactions.as_ref().unwrap();
        assert_eq!(txs.len(), 1 + 31, "L1 info, then the 31 NUTs (no user deposits at seq 3)");
        for (tx, d) in txs[1..].iter().zip(bundle.deposits()) {
            assert_eq!(tx, &Bytes::from(d.encoded_2718()));
        }
        assert_eq!(a.gas_limit, Some(30_000_000 + 55_370_657));
        assert!(is_upgrade_block_without_txs(&rollup(), 600));
        let after = attrs_at(602);
        assert_eq!(after.transactions.as_ref().unwrap().len(), 1);
        assert_eq!(after.gas_limit, Some(30_000_000), "only the activation block is raised");
        assert!(!is_upgrade_block_without_txs(&rollup(), 602));
        assert_eq!(attrs_at(598).gas_limit, Some(30_000_000));
    }

    #[test]
    fn eip1559_params_from_holocene() {
        let (cfg, s) = (rollup(), sys());
        assert_eq!(eip1559_params(&cfg, &s, 298), None);
        // The activation block's parent predates Holocene, so its reconstructed SystemConfig has no parameters.
        assert_eq!(eip1559_params(&cfg, &s.after_block(&cfg, 298), 300), Some(B64::ZERO), "activation block");
        assert_eq!(eip1559_params(&cfg, &s, 300), Some(B64::from([0, 0, 0, 250, 0, 0, 0, 6])), "set by L1 that epoch");
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
        assert!(is_upgrade_block_without_txs(&cfg, 500), "Jovian activation");
    }
}
