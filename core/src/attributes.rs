//! Payload attributes of a sequenced block (derivation spec "Building individual payload attributes";
//! op-node `attributes.go` `PreparePayloadAttributes`).
//!
//! Pure: config, parent, origin, SystemConfig and the epoch's user deposits in; `OpPayloadAttributes` plus Jovian's
//! `minBaseFee` out. Transactions are the L1 info deposit ([`crate::l1_info`]), then the epoch's user deposits
//! ([`crate::deposits`]) on its first block, then the network upgrade transactions ([`crate::upgrades`]) on a fork's
//! activation block. The SystemConfig in force is the caller's responsibility ([`crate::system_config`]).
//!
//! [`build`] is the protocol's rule. The state machine calls it through the [`AttributesBuilder`] trait, for the blocks
//! it sequences and for the blocks its derivation pipeline derives alike, so a chain with its own rules (an extra
//! system deposit, another fee recipient) replaces one implementation and both sides follow it. A custom builder is
//! consensus: every node that derives the chain must run the same one, or it derives other blocks.

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

/// How the state machine treats a failed attributes build (op-node's temporary, reset and critical error classes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributesErrorClass {
    /// Try the same build again after a delay (an input that may change, such as a rate limit of the builder's own).
    Temporary,
    /// The chain the build was asked on is not the one to build on: re-read the engine's heads and start over.
    Reset,
    /// Building cannot go on: the sequencer stops (derivation retries with backoff and reports it).
    Critical,
}

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
    /// A custom [`AttributesBuilder`] refused, with the class it chose.
    #[error("attributes builder failed for L2 block {l2_number} ({class:?}): {message}")]
    Builder {
        /// The block being built.
        l2_number: u64,
        /// What the state machine does about it.
        class: AttributesErrorClass,
        /// What went wrong, for the operator.
        message: String,
    },
    /// A custom builder returned attributes the state machine cannot run a chain with.
    #[error("attributes builder returned unusable attributes for L2 block {l2_number}: {reason}")]
    Unusable {
        /// The block being built.
        l2_number: u64,
        /// The broken rule.
        reason: String,
    },
}

impl AttributesError {
    /// The class the state machine acts on. The protocol builder's own errors (an L1 info deposit or upgrade
    /// transactions that cannot be formed) and unusable output are critical: trying again gives the same answer.
    pub fn class(&self) -> AttributesErrorClass {
        match self {
            Self::Builder { class, .. } => *class,
            Self::L1Info { .. } | Self::Upgrade { .. } | Self::Unusable { .. } => AttributesErrorClass::Critical,
        }
    }
}

/// Builds the payload attributes of an L2 block: the seam a chain with its own rules replaces.
///
/// Pure and synchronous: the state machine calls it with everything it may read, in its own thread, and replays it
/// in the simulator, so an implementation must not do I/O, read a clock or draw randomness; the same input must give
/// the same attributes. It is called for every sequenced block and for every block derivation derives from L1 (with
/// `no_tx_pool` set; the batch's transactions are appended to what it returns), so the two always agree.
///
/// What it returns is checked before use ([`checked_build`]): the first transaction must be the L1 info deposit
/// naming `input.origin` and `input.seq_num` (the node reads every block's origin back from it) and the timestamp
/// must be `input.timestamp`; with `input.no_tx_pool` set, `noTxPool` must stay true.
///
/// ```
/// use keel_core::attributes::{self, Attributes, AttributesBuilder, AttributesError, AttributesInput};
/// use alloy_primitives::Address;
///
/// /// The protocol's attributes with every fee paid to one address.
/// #[derive(Debug)]
/// struct FeesTo(Address);
///
/// impl AttributesBuilder for FeesTo {
///     fn prepare_payload_attributes(&self, input: &AttributesInput<'_>) -> Result<Attributes, AttributesError> {
///         let mut attrs = attributes::build(input)?;
///         attrs.op.payload_attributes.suggested_fee_recipient = self.0;
///         Ok(attrs)
///     }
/// }
/// ```
pub trait AttributesBuilder: std::fmt::Debug + Send + Sync {
    /// The attributes of the block after `input.parent` (op-node `PreparePayloadAttributes`).
    fn prepare_payload_attributes(&self, input: &AttributesInput<'_>) -> Result<Attributes, AttributesError>;
}

/// The protocol's attributes ([`build`]): the default, and what every OP Stack chain derives with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProtocolAttributes;

impl AttributesBuilder for ProtocolAttributes {
    fn prepare_payload_attributes(&self, input: &AttributesInput<'_>) -> Result<Attributes, AttributesError> {
        build(input)
    }
}

/// Makes the [`AttributesBuilder`] a node runs with (the seed's `AttributesBuilderConfig`): a configuration type that
/// is turned into its builder once, when the node is put together. Every builder is its own configuration.
pub trait AttributesBuilderConfig {
    /// The builder this configuration makes.
    type AB: AttributesBuilder;
    /// Makes it.
    fn build(self) -> Self::AB;
}

impl<T: AttributesBuilder> AttributesBuilderConfig for T {
    type AB = T;
    fn build(self) -> T {
        self
    }
}

/// `builder`'s attributes for `input`, checked for what the state machine relies on: the first transaction is the
/// L1 info deposit of `input.origin` at `input.seq_num`, the timestamp is `input.timestamp`, and the pool stays out
/// when `input.no_tx_pool` says so.
pub fn checked_build(
    builder: &dyn AttributesBuilder,
    input: &AttributesInput<'_>,
) -> Result<Attributes, AttributesError> {
    let attrs = builder.prepare_payload_attributes(input)?;
    let l2_number = input.parent.number + 1;
    let unusable = |reason: String| AttributesError::Unusable { l2_number, reason };
    if attrs.op.payload_attributes.timestamp != input.timestamp {
        return Err(unusable(format!(
            "timestamp {}, asked for {}",
            attrs.op.payload_attributes.timestamp, input.timestamp
        )));
    }
    if input.no_tx_pool && attrs.op.no_tx_pool != Some(true) {
        // Derived blocks, upgrade blocks, recovery mode and drift: the pool must stay out.
        return Err(unusable(format!("noTxPool {:?}, asked for true", attrs.op.no_tx_pool)));
    }
    let first = attrs.op.transactions.as_deref().and_then(<[Bytes]>::first);
    let (origin, seq_num) = first
        .ok_or_else(|| "no transactions (the L1 info deposit must come first)".to_string())
        .and_then(|tx| crate::payload::l1_info_of_first_tx(tx))
        .map_err(unusable)?;
    if origin.hash != input.origin.hash() || origin.number != input.origin.number() || seq_num != input.seq_num {
        return Err(unusable(format!(
            "the L1 info deposit names origin {}:{:#x} sequence number {seq_num}, asked for {}:{:#x} sequence number {}",
            origin.number,
            origin.hash,
            input.origin.number(),
            input.origin.hash(),
            input.seq_num
        )));
    }
    Ok(attrs)
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
    /// The origin's receipts when `seq_num == 0` (what `deposits` and the SystemConfig's updates were read from),
    /// empty on later blocks of the epoch. The protocol builder does not read them; a custom one may.
    pub receipts: &'a [alloy_consensus::Receipt],
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
            receipts: &[],
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
                receipts: &[],
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

    /// A builder that edits the protocol's attributes with `f`, or fails with `class`.
    #[derive(Debug)]
    struct Edit(fn(&mut Attributes), Option<AttributesErrorClass>);

    impl AttributesBuilder for Edit {
        fn prepare_payload_attributes(&self, input: &AttributesInput<'_>) -> Result<Attributes, AttributesError> {
            if let Some(class) = self.1 {
                return Err(AttributesError::Builder {
                    l2_number: input.parent.number + 1,
                    class,
                    message: "refused".into(),
                });
            }
            let mut a = build(input)?;
            (self.0)(&mut a);
            Ok(a)
        }
    }

    fn checked(builder: &dyn AttributesBuilder) -> Result<Attributes, AttributesError> {
        let (cfg, o, s, p) = (rollup(), origin(), sys(), parent());
        checked_build(
            builder,
            &AttributesInput {
                rollup: &cfg,
                system_config: &s,
                parent: &p,
                origin: &o,
                seq_num: 3,
                timestamp: 150,
                no_tx_pool: true,
                deposits: &[],
                receipts: &[],
            },
        )
    }

    #[test]
    fn the_protocol_builder_is_the_protocol_rule_and_passes_the_checks() {
        assert_eq!(checked(&ProtocolAttributes).unwrap().op, attrs_at(150));
        let extra =
            checked(&Edit(|a| a.op.transactions.as_mut().unwrap().push(Bytes::from_static(b"\x7eextra")), None));
        assert_eq!(
            extra.unwrap().op.transactions.unwrap().len(),
            2,
            "transactions after the L1 info deposit are the builder's"
        );
        let fee = checked(&Edit(|a| a.op.payload_attributes.suggested_fee_recipient = Address::repeat_byte(9), None));
        assert_eq!(fee.unwrap().op.payload_attributes.suggested_fee_recipient, Address::repeat_byte(9));
    }

    #[test]
    fn unusable_custom_attributes_are_refused_with_the_rule_they_break() {
        let unusable = |b: Edit| match checked(&b) {
            Err(e @ AttributesError::Unusable { l2_number: 10, .. }) => {
                assert_eq!(e.class(), AttributesErrorClass::Critical);
                e.to_string()
            }
            other => panic!("expected Unusable, got {other:?}"),
        };
        let e = unusable(Edit(|a| a.op.transactions = None, None));
        assert!(e.contains("L1 info deposit must come first"), "{e}");
        let e =
            unusable(Edit(|a| a.op.transactions.as_mut().unwrap().insert(0, Bytes::from_static(b"\x02junk")), None));
        assert!(e.contains("does not decode"), "{e}");
        let e = unusable(Edit(|a| a.op.payload_attributes.timestamp += 2, None));
        assert!(e.contains("timestamp 152, asked for 150"), "{e}");
        let e = unusable(Edit(|a| a.op.no_tx_pool = Some(false), None));
        assert!(e.contains("noTxPool Some(false), asked for true"), "{e}");
        // An L1 info deposit of another sequence number (another block's) names the wrong position in the epoch.
        let e = unusable(Edit(
            |a| {
                let (cfg, o, s) = (rollup(), origin(), sys());
                let other = build(&AttributesInput {
                    rollup: &cfg,
                    system_config: &s,
                    parent: &parent(),
                    origin: &o,
                    seq_num: 4,
                    timestamp: 150,
                    no_tx_pool: true,
                    deposits: &[],
                    receipts: &[],
                })
                .unwrap();
                a.op.transactions.as_mut().unwrap()[0] = other.op.transactions.unwrap()[0].clone();
            },
            None,
        ));
        assert!(e.contains("sequence number 4") && e.contains("sequence number 3"), "{e}");
    }

    #[test]
    fn a_custom_builder_chooses_its_error_class() {
        for class in [AttributesErrorClass::Temporary, AttributesErrorClass::Reset, AttributesErrorClass::Critical] {
            let e = checked(&Edit(|_| {}, Some(class))).unwrap_err();
            assert_eq!(e.class(), class);
            assert!(e.to_string().contains("L2 block 10") && e.to_string().contains("refused"), "{e}");
        }
    }
}
