//! The L2 chain's SystemConfig as the sequencer sees it, and its updates from L1 (op-node
//! `system_config.go`, `payload_util.go`; specs `system-config.md`).
//!
//! Pure. op-node builds the attributes of a block from the SystemConfig *reconstructed from the L2 parent*
//! (`SystemConfigByL2Hash`: batcher and fee scalars from the parent's L1 info deposit, gas limit from its header,
//! EIP-1559 parameters and the minimum base fee from its extraData), with the `ConfigUpdate` logs of the new epoch's
//! L1 origin applied when the block starts an epoch. Keel mirrors this with:
//! - [`SystemConfig::from_l2_block`]: that reconstruction, from a block fetched from the engine (boot, reset, or a
//!   head Keel did not build);
//! - [`SystemConfig::after_block`]: the same result computed from the config a block was built with, so a running
//!   sequencer need not re-read its own blocks;
//! - [`SystemConfig::apply_receipts`]: the epoch's L1 updates (all eight update types, including Jovian's minimum
//!   base fee and DA footprint gas scalar, which kona 0.4.5 lacks).
//!
//! Reconstruction is not the identity, and op-node's output depends on it: a fork's parameters read back as zero
//! while the parent predates the fork (so the Holocene and Jovian activation blocks carry zero `eip1559Params` and
//! `minBaseFee` unless the same epoch's L1 receipts set them); zero EIP-1559 parameters read back as the chain's
//! defaults (the engine wrote those into extraData); a zero DA footprint gas scalar reads back as 400.

use crate::l1_info::{self, EcotoneScalars, L1BlockInfo, L1InfoError, L1InfoFormat, DA_FOOTPRINT_GAS_SCALAR_DEFAULT};
use crate::rollup::Rollup;
use crate::upgrades;
use alloy_consensus::Receipt;
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, Log, B256, B64, U256};
use kona_genesis::{RollupConfig, CONFIG_UPDATE_EVENT_VERSION_0, CONFIG_UPDATE_TOPIC};
use op_alloy_consensus::OpTxEnvelope;

/// The L2 SystemConfig: kona's fields (Bedrock…Isthmus) plus Jovian's minimum base fee and DA footprint gas scalar,
/// with op-node's semantics (absent values are zero; EIP-1559 and operator-fee parameters are plain numbers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SystemConfig {
    /// Batch sender, written into every L1 info deposit.
    pub batcher_address: Address,
    /// Pre-Ecotone L1 fee overhead; zero after Ecotone.
    pub overhead: U256,
    /// L1 fee scalar; after Ecotone the versioned encoding of the base fee and blob base fee scalars.
    pub scalar: U256,
    /// L2 block gas limit.
    pub gas_limit: u64,
    /// Holocene EIP-1559 denominator (0 with elasticity 0 means "the chain's defaults").
    pub eip1559_denominator: u32,
    /// Holocene EIP-1559 elasticity.
    pub eip1559_elasticity: u32,
    /// Isthmus operator fee scalar.
    pub operator_fee_scalar: u32,
    /// Isthmus operator fee constant.
    pub operator_fee_constant: u64,
    /// Jovian minimum base fee (wei).
    pub min_base_fee: u64,
    /// Jovian DA footprint gas scalar, raw (0 is written as 400 in the L1 info deposit).
    pub da_footprint_gas_scalar: u16,
}

impl From<kona_genesis::SystemConfig> for SystemConfig {
    fn from(k: kona_genesis::SystemConfig) -> Self {
        Self {
            batcher_address: k.batcher_address,
            overhead: k.overhead,
            scalar: k.scalar,
            gas_limit: k.gas_limit,
            eip1559_denominator: k.eip1559_denominator.unwrap_or_default(),
            eip1559_elasticity: k.eip1559_elasticity.unwrap_or_default(),
            operator_fee_scalar: k.operator_fee_scalar.unwrap_or_default(),
            operator_fee_constant: k.operator_fee_constant.unwrap_or_default(),
            min_base_fee: 0,
            da_footprint_gas_scalar: 0,
        }
    }
}

/// One decoded `ConfigUpdate`, as applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigUpdate {
    /// Type 0: new batcher.
    Batcher(Address),
    /// Type 1: fee scalars (before Ecotone by L1 time: both stored; after: the scalar, overhead zeroed).
    FeeScalars {
        /// New overhead.
        overhead: U256,
        /// New scalar.
        scalar: U256,
    },
    /// Type 1 after Ecotone with a scalar that is not a valid Ecotone encoding: ignored, old values kept.
    FeeScalarsIgnored(U256),
    /// Type 2: new gas limit.
    GasLimit(u64),
    /// Type 3: unsafe block signer; not part of derivation, ignored.
    UnsafeBlockSigner,
    /// Type 4: EIP-1559 parameters.
    Eip1559 {
        /// Denominator.
        denominator: u32,
        /// Elasticity.
        elasticity: u32,
    },
    /// Type 5: operator fee parameters.
    OperatorFee {
        /// Scalar (word bytes 20..24).
        scalar: u32,
        /// Constant (word bytes 24..32).
        constant: u64,
    },
    /// Type 6: minimum base fee.
    MinBaseFee(u64),
    /// Type 7: DA footprint gas scalar.
    DaFootprintGasScalar(u16),
}

/// Why a `ConfigUpdate` log was not applied. op-node skips such logs (the config is left as it was) and derivation
/// continues; these are for logging.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigLogError {
    /// Not exactly three topics.
    #[error("expected 3 topics, got {0}")]
    Topics(usize),
    /// topics[1] is not version 0.
    #[error("unknown ConfigUpdate version {0}")]
    Version(B256),
    /// topics[2] is not one of the eight update types.
    #[error("unknown ConfigUpdate type {0}")]
    UpdateType(B256),
    /// The ABI `bytes` payload is malformed for its type.
    #[error("malformed data for update type {update_type}: {reason}")]
    Data {
        /// The update type.
        update_type: u8,
        /// What is wrong.
        reason: &'static str,
    },
}

/// A skipped `ConfigUpdate` log, located in its L1 block.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("skipped ConfigUpdate log at receipt {receipt_index}, block log index {log_index}: {error}")]
pub struct SkippedConfigLog {
    /// Index of the receipt (transaction) in the L1 block.
    pub receipt_index: usize,
    /// Block-wide log index.
    pub log_index: u64,
    /// Why.
    pub error: ConfigLogError,
}

/// Why a SystemConfig could not be reconstructed from an L2 block.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReconstructError {
    /// The block at the genesis number is not the configured genesis.
    #[error("L2 block {number} has hash {actual}, but the rollup genesis is {expected}")]
    GenesisHash {
        /// Genesis number.
        number: u64,
        /// Configured genesis hash.
        expected: B256,
        /// The block's hash.
        actual: B256,
    },
    /// The rollup config has no genesis SystemConfig.
    #[error("the rollup config has no genesis SystemConfig")]
    MissingGenesisConfig,
    /// The first transaction is missing or not a deposit.
    #[error("L2 block {number}: first transaction is not an L1 info deposit: {reason}")]
    FirstTx {
        /// Block number.
        number: u64,
        /// What is wrong.
        reason: String,
    },
    /// The L1 info calldata does not decode.
    #[error("L2 block {number}: {source}")]
    L1Info {
        /// Block number.
        number: u64,
        /// Decoding error.
        source: L1InfoError,
    },
    /// The header extraData is not valid for the block's fork.
    #[error("L2 block {number}: invalid extraData {extra_data}: {reason}")]
    ExtraData {
        /// Block number.
        number: u64,
        /// The extraData.
        extra_data: alloy_primitives::Bytes,
        /// What is wrong.
        reason: &'static str,
    },
    /// The upgrade gas of a fork's activation block cannot be taken off its gas limit.
    #[error(
        "L2 block {number} (gas limit {gas_limit}) activates a fork whose upgrade gas cannot be stripped: {reason}"
    )]
    UpgradeGas {
        /// Block number.
        number: u64,
        /// The block's gas limit.
        gas_limit: u64,
        /// Why.
        reason: String,
    },
}

/// The facts of an L2 block [`SystemConfig::from_l2_block`] reads.
#[derive(Clone, Copy, Debug)]
pub struct L2BlockFacts<'a> {
    /// Number.
    pub number: u64,
    /// Hash.
    pub hash: B256,
    /// UnixMs (seconds).
    pub timestamp: u64,
    /// Header gas limit.
    pub gas_limit: u64,
    /// Header extraData.
    pub extra_data: &'a [u8],
    /// The EIP-2718 encoding of the block's first transaction (`None` if the block has none).
    pub first_tx: Option<&'a [u8]>,
}

fn word(data: &[u8], i: usize) -> &[u8] {
    &data[32 * i..32 * (i + 1)]
}

fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| *b == 0)
}

/// Checks the ABI `bytes` wrapper (pointer 32, the exact `payload_len`, no trailing bytes) and returns the payload.
fn abi_payload(data: &[u8], update_type: u8, payload_len: usize) -> Result<&[u8], ConfigLogError> {
    let bad = |reason| ConfigLogError::Data { update_type, reason };
    if data.len() != 64 + payload_len {
        return Err(bad(if data.len() < 64 + payload_len { "too short" } else { "too many bytes" }));
    }
    let expect_u64 = |w: &[u8], v: u64| is_zero(&w[..24]) && w[24..] == v.to_be_bytes();
    if !expect_u64(word(data, 0), 32) {
        return Err(bad("invalid pointer field"));
    }
    if !expect_u64(word(data, 1), payload_len as u64) {
        return Err(bad("invalid length field"));
    }
    Ok(&data[64..])
}

/// op-node `solabi.ReadUint64`/`ReadUint16`/`ReadAddress`: a 32-byte word whose leading `32 - n` bytes are zero.
fn read_right_aligned<const N: usize>(w: &[u8], update_type: u8) -> Result<[u8; N], ConfigLogError> {
    if !is_zero(&w[..32 - N]) {
        return Err(ConfigLogError::Data { update_type, reason: "value padding was not empty" });
    }
    let mut out = [0u8; N];
    out.copy_from_slice(&w[32 - N..]);
    Ok(out)
}

/// Decodes one `ConfigUpdate(uint256 indexed version, uint8 indexed updateType, bytes data)` log of the L1
/// SystemConfig contract, exactly as op-node's `ProcessSystemConfigUpdateLogEvent` does. `ecotone_at_l1_time` is
/// whether Ecotone is active at the L1 block's timestamp (op-node compares the L2 fork time with the L1 time).
pub fn decode_config_update(log: &Log, ecotone_at_l1_time: bool) -> Result<ConfigUpdate, ConfigLogError> {
    let topics = log.topics();
    if topics.len() != 3 {
        return Err(ConfigLogError::Topics(topics.len()));
    }
    debug_assert_eq!(topics[0], CONFIG_UPDATE_TOPIC, "caller filters by topic");
    if topics[1] != CONFIG_UPDATE_EVENT_VERSION_0 {
        return Err(ConfigLogError::Version(topics[1]));
    }
    let ty = topics[2];
    if !is_zero(&ty[..31]) || ty[31] > 7 {
        return Err(ConfigLogError::UpdateType(ty));
    }
    let t = ty[31];
    let data = log.data.data.as_ref();
    Ok(match t {
        0 => ConfigUpdate::Batcher(Address::from(read_right_aligned::<20>(abi_payload(data, t, 32)?, t)?)),
        1 => {
            let p = abi_payload(data, t, 64)?;
            let overhead = U256::from_be_slice(word(p, 0));
            let scalar = U256::from_be_slice(word(p, 1));
            if ecotone_at_l1_time {
                // op-node `CheckEcotoneL1SystemConfigScalar`: only version 0 with clean padding or version 1 with
                // clean padding are taken; anything else is ignored (not an error).
                let s = word(p, 1);
                let valid = match s[0] {
                    0 => is_zero(&s[1..28]),
                    1 => is_zero(&s[1..24]),
                    _ => false,
                };
                if !valid {
                    return Ok(ConfigUpdate::FeeScalarsIgnored(scalar));
                }
                ConfigUpdate::FeeScalars { overhead: U256::ZERO, scalar }
            } else {
                ConfigUpdate::FeeScalars { overhead, scalar }
            }
        }
        2 => ConfigUpdate::GasLimit(u64::from_be_bytes(read_right_aligned(abi_payload(data, t, 32)?, t)?)),
        3 => ConfigUpdate::UnsafeBlockSigner,
        4 => {
            // op-node reads the whole word but only validates and keeps bytes 24..32.
            let p = abi_payload(data, t, 32)?;
            let denominator = u32::from_be_bytes([p[24], p[25], p[26], p[27]]);
            let elasticity = u32::from_be_bytes([p[28], p[29], p[30], p[31]]);
            if denominator == 0 && elasticity != 0 {
                return Err(ConfigLogError::Data {
                    update_type: t,
                    reason: "EIP-1559 denominator 0 with non-zero elasticity",
                });
            }
            ConfigUpdate::Eip1559 { denominator, elasticity }
        }
        5 => {
            let p = abi_payload(data, t, 32)?;
            ConfigUpdate::OperatorFee {
                scalar: u32::from_be_bytes([p[20], p[21], p[22], p[23]]),
                constant: u64::from_be_bytes(p[24..32].try_into().expect("8 bytes")),
            }
        }
        6 => ConfigUpdate::MinBaseFee(u64::from_be_bytes(read_right_aligned(abi_payload(data, t, 32)?, t)?)),
        7 => ConfigUpdate::DaFootprintGasScalar(u16::from_be_bytes(read_right_aligned(abi_payload(data, t, 32)?, t)?)),
        _ => unreachable!("type checked above"),
    })
}

impl SystemConfig {
    /// The Holocene `eip1559Params`: denominator ‖ elasticity, big-endian `u32` each.
    pub fn eip1559_params(&self) -> B64 {
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&self.eip1559_denominator.to_be_bytes());
        out[4..].copy_from_slice(&self.eip1559_elasticity.to_be_bytes());
        B64::from(out)
    }

    /// Applies one decoded update.
    pub fn apply(&mut self, update: ConfigUpdate) {
        match update {
            ConfigUpdate::Batcher(a) => self.batcher_address = a,
            ConfigUpdate::FeeScalars { overhead, scalar } => {
                self.overhead = overhead;
                self.scalar = scalar;
            }
            ConfigUpdate::FeeScalarsIgnored(_) | ConfigUpdate::UnsafeBlockSigner => {}
            ConfigUpdate::GasLimit(g) => self.gas_limit = g,
            ConfigUpdate::Eip1559 { denominator, elasticity } => {
                self.eip1559_denominator = denominator;
                self.eip1559_elasticity = elasticity;
            }
            ConfigUpdate::OperatorFee { scalar, constant } => {
                self.operator_fee_scalar = scalar;
                self.operator_fee_constant = constant;
            }
            ConfigUpdate::MinBaseFee(m) => self.min_base_fee = m,
            ConfigUpdate::DaFootprintGasScalar(s) => self.da_footprint_gas_scalar = s,
        }
    }

    /// Applies the `ConfigUpdate` logs in an L1 block's receipts (op-node `UpdateSystemConfigWithL1Receipts`): logs
    /// of `rollup.l1_system_config_address` with the `ConfigUpdate` topic, from successful receipts, in log order.
    /// Each log applies atomically; a malformed one is skipped and reported, and later logs still apply.
    /// `l1_time` is the L1 block's timestamp.
    pub fn apply_receipts(
        &mut self,
        receipts: &[Receipt],
        rollup: &RollupConfig,
        l1_time: u64,
    ) -> Vec<SkippedConfigLog> {
        let ecotone = rollup.is_ecotone_active(l1_time);
        let mut skipped = Vec::new();
        let logs = crate::deposits::matching_logs(receipts, rollup.l1_system_config_address, CONFIG_UPDATE_TOPIC);
        for (receipt_index, log_index, log) in logs {
            match decode_config_update(log, ecotone) {
                Ok(update) => self.apply(update),
                Err(error) => skipped.push(SkippedConfigLog { receipt_index, log_index, error }),
            }
        }
        skipped
    }

    /// The L1 info of the L2 block at `l2_time` with sequence number `seq_num` in the epoch of the L1 block `l1_header`
    /// whose hash is `l1_hash` (passed in, not recomputed: the caller already trusts it), when `self` is the
    /// SystemConfig in force for that block (see [`crate::attributes::AttributesInput::system_config`]).
    pub fn l1_block_info(
        &self,
        rollup: &Rollup,
        seq_num: u64,
        l1_header: &alloy_consensus::Header,
        l1_hash: B256,
        l2_time: u64,
    ) -> Result<L1BlockInfo, L1InfoError> {
        let fees = l1_info::L1FeeParams {
            batcher_address: self.batcher_address,
            overhead: self.overhead,
            scalar: self.scalar,
            operator_fee_scalar: self.operator_fee_scalar,
            operator_fee_constant: self.operator_fee_constant,
            da_footprint_gas_scalar: self.da_footprint_gas_scalar,
        };
        l1_info::l1_block_info(rollup, &fees, seq_num, l1_header, l1_hash, l2_time)
    }

    /// What op-node reconstructs (`PayloadToSystemConfig`) from an L2 block at `block_time` built with `self` as its
    /// SystemConfig: the config its child is built from, before the child's epoch updates. See the module docs.
    pub fn after_block(&self, rollup: &Rollup, block_time: u64) -> Self {
        let format = L1InfoFormat::at(rollup, block_time);
        // The block's gas limit carries its upgrade gas; op-node strips it again unless the chain keeps it. A bundle
        // that does not load cannot have built the block, so there is nothing to keep.
        let kept = upgrades::upgrade_gas(rollup, block_time).unwrap_or(0)
            - upgrades::upgrade_gas_to_strip(rollup, block_time).unwrap_or(0);
        let gas_limit = self.gas_limit.saturating_add(kept);
        let mut out = Self { batcher_address: self.batcher_address, gas_limit, ..Self::default() };
        match (format, l1_info::ecotone_scalars(self.scalar)) {
            (L1InfoFormat::Bedrock, _) => {
                out.overhead = self.overhead;
                out.scalar = self.scalar;
            }
            (_, Ok(scalars)) => out.scalar = l1_info::encode_ecotone_scalar(scalars),
            // No block can be built with this scalar (the L1 info deposit fails), so there is nothing to mirror.
            (_, Err(_)) => {
                out.overhead = self.overhead;
                out.scalar = self.scalar;
            }
        }
        if rollup.is_holocene_active(block_time) {
            // The engine writes the chain's defaults into extraData when the attributes carry zero parameters.
            let (d, e) = match (self.eip1559_denominator, self.eip1559_elasticity) {
                (0, _) => default_eip1559(rollup),
                p => p,
            };
            out.eip1559_denominator = d;
            out.eip1559_elasticity = e;
        }
        if matches!(format, L1InfoFormat::Isthmus | L1InfoFormat::Jovian) {
            out.operator_fee_scalar = self.operator_fee_scalar;
            out.operator_fee_constant = self.operator_fee_constant;
        }
        if rollup.is_jovian_active(block_time) {
            out.min_base_fee = self.min_base_fee;
        }
        if format == L1InfoFormat::Jovian {
            out.da_footprint_gas_scalar = match self.da_footprint_gas_scalar {
                0 => DA_FOOTPRINT_GAS_SCALAR_DEFAULT,
                s => s,
            };
        }
        out
    }

    /// op-node `PayloadToSystemConfig`: the SystemConfig in force for the children of an L2 block, read from the
    /// block itself (the genesis block yields the rollup's genesis SystemConfig). Use it at boot and after a reset
    /// on the unsafe head, and for any head Keel did not build.
    pub fn from_l2_block(rollup: &Rollup, block: &L2BlockFacts<'_>) -> Result<Self, ReconstructError> {
        let number = block.number;
        if number == rollup.genesis.l2.number {
            if block.hash != rollup.genesis.l2.hash {
                return Err(ReconstructError::GenesisHash {
                    number,
                    expected: rollup.genesis.l2.hash,
                    actual: block.hash,
                });
            }
            return rollup.genesis.system_config.map(Self::from).ok_or(ReconstructError::MissingGenesisConfig);
        }
        let first_tx = |reason: &str| ReconstructError::FirstTx { number, reason: reason.to_string() };
        let mut raw = block.first_tx.ok_or_else(|| first_tx("the block has no transactions"))?;
        let envelope = OpTxEnvelope::decode_2718(&mut raw).map_err(|e| first_tx(&e.to_string()))?;
        let deposit = envelope.as_deposit().ok_or_else(|| first_tx("not a deposit"))?;
        let format = L1InfoFormat::at(rollup, block.timestamp);
        let info = L1BlockInfo::decode_calldata(format, deposit.input.as_ref())
            .map_err(|source| ReconstructError::L1Info { number, source })?;

        // From Karst, an activation block's gas limit includes its upgrade gas (op-node `upgradeGasToStrip`).
        let strip = upgrades::upgrade_gas_to_strip(rollup, block.timestamp)
            .map_err(|e| ReconstructError::UpgradeGas { number, gas_limit: block.gas_limit, reason: e.to_string() })?;
        let gas_limit = block.gas_limit.checked_sub(strip).ok_or_else(|| ReconstructError::UpgradeGas {
            number,
            gas_limit: block.gas_limit,
            reason: format!("below the upgrade gas {strip} of its activation block"),
        })?;
        let mut out = Self { gas_limit, ..Self::default() };
        // Ecotone and later carry the same packed scalars; Isthmus adds the operator fee, Jovian the DA scalar.
        let scalars =
            |blob_base_fee_scalar, base_fee_scalar| Some(EcotoneScalars { blob_base_fee_scalar, base_fee_scalar });
        let (batcher, ecotone_scalars) = match &info {
            L1BlockInfo::Bedrock(i) => {
                out.overhead = i.l1_fee_overhead;
                out.scalar = i.l1_fee_scalar;
                (i.batcher_address, None)
            }
            L1BlockInfo::Ecotone(i) => (i.batcher_address, scalars(i.blob_base_fee_scalar, i.base_fee_scalar)),
            L1BlockInfo::Isthmus(i) => {
                (out.operator_fee_scalar, out.operator_fee_constant) = (i.operator_fee_scalar, i.operator_fee_constant);
                (i.batcher_address, scalars(i.blob_base_fee_scalar, i.base_fee_scalar))
            }
            L1BlockInfo::Jovian(i) => {
                (out.operator_fee_scalar, out.operator_fee_constant) = (i.operator_fee_scalar, i.operator_fee_constant);
                out.da_footprint_gas_scalar = i.da_footprint_gas_scalar;
                (i.batcher_address, scalars(i.blob_base_fee_scalar, i.base_fee_scalar))
            }
        };
        out.batcher_address = batcher;
        if let Some(s) = ecotone_scalars {
            out.scalar = l1_info::encode_ecotone_scalar(s);
        }

        let extra = block.extra_data;
        let bad = |reason| ReconstructError::ExtraData {
            number,
            extra_data: alloy_primitives::Bytes::copy_from_slice(extra),
            reason,
        };
        let params =
            |p: &[u8]| (u32::from_be_bytes([p[0], p[1], p[2], p[3]]), u32::from_be_bytes([p[4], p[5], p[6], p[7]]));
        if rollup.is_jovian_active(block.timestamp) {
            // op-geth `ValidateJovianExtraData`: version 1, 17 bytes, both parameters non-zero.
            if extra.len() != 17 || extra[0] != 1 {
                return Err(bad("Jovian extraData must be version 1, 17 bytes"));
            }
            let (d, e) = params(&extra[1..9]);
            if d == 0 || e == 0 {
                return Err(bad("Jovian extraData must encode non-zero EIP-1559 parameters"));
            }
            out.eip1559_denominator = d;
            out.eip1559_elasticity = e;
            out.min_base_fee = u64::from_be_bytes(extra[9..17].try_into().expect("8 bytes"));
        } else if rollup.is_holocene_active(block.timestamp) {
            // op-geth `ValidateHoloceneExtraData`: version 0, 9 bytes, valid Holocene parameters.
            if extra.len() != 9 || extra[0] != 0 {
                return Err(bad("Holocene extraData must be version 0, 9 bytes"));
            }
            let (d, e) = params(&extra[1..9]);
            if d == 0 && e != 0 {
                return Err(bad("EIP-1559 denominator 0 with non-zero elasticity"));
            }
            out.eip1559_denominator = d;
            out.eip1559_elasticity = e;
        } else if !extra.is_empty() {
            return Err(bad("extraData must be empty before Holocene"));
        }
        Ok(out)
    }
}

/// The chain's pre-Holocene EIP-1559 parameters, which the engine substitutes for zero `eip1559Params`
/// (op-geth miner: Canyon denominator once Canyon is active, which Holocene implies).
pub fn default_eip1559(rollup: &RollupConfig) -> (u32, u32) {
    let c = &rollup.chain_op_config;
    (
        u32::try_from(c.eip1559_denominator_canyon).unwrap_or(u32::MAX),
        u32::try_from(c.eip1559_elasticity).unwrap_or(u32::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::Eip658Value;
    use alloy_primitives::{address, b256, hex, Bytes, LogData};

    const SYS: Address = address!("0x229047fed2591dbec1ef1118d64f7af3db9eb290");

    fn rollup() -> Rollup {
        let mut r = RollupConfig { l1_system_config_address: SYS, block_time: 2, ..Default::default() };
        r.hardforks.regolith_time = Some(0);
        r.hardforks.canyon_time = Some(0);
        r.hardforks.delta_time = Some(0);
        r.hardforks.ecotone_time = Some(0);
        r.into()
    }

    /// A post-Jovian chain with Karst at 100.
    fn karst_rollup(keep: bool) -> Rollup {
        let mut r = rollup();
        let h = &mut r.base.hardforks;
        (h.fjord_time, h.granite_time, h.holocene_time, h.isthmus_time, h.jovian_time) =
            (Some(0), Some(0), Some(0), Some(0), Some(0));
        Rollup { karst_time: Some(100), keep_karst_upgrade_gas: keep, ..r }
    }

    fn jovian_block(
        r: &Rollup,
        timestamp: u64,
        gas_limit: u64,
        extra: &[u8],
        f: impl FnOnce(Result<SystemConfig, ReconstructError>),
    ) {
        use alloy_eips::eip2718::Encodable2718;
        let sys = SystemConfig {
            gas_limit: 30_000_000,
            eip1559_denominator: 250,
            eip1559_elasticity: 6,
            ..Default::default()
        };
        let header = alloy_consensus::Header { number: 5, timestamp: 90, ..Default::default() };
        let info = sys.l1_block_info(r, 1, &header, B256::repeat_byte(9), timestamp).unwrap();
        let tx = l1_info::l1_info_deposit(r, &info, timestamp).encoded_2718();
        let facts =
            L2BlockFacts { number: 50, hash: B256::ZERO, timestamp, gas_limit, extra_data: extra, first_tx: Some(&tx) };
        f(SystemConfig::from_l2_block(r, &facts))
    }

    #[test]
    fn karst_upgrade_gas_is_stripped_unless_kept() {
        let extra = hex!("01000000fa000000060000000000000000");
        let raised = 30_000_000 + 55_370_657;
        jovian_block(&karst_rollup(false), 100, raised, &extra, |s| assert_eq!(s.unwrap().gas_limit, 30_000_000));
        jovian_block(&karst_rollup(true), 100, raised, &extra, |s| assert_eq!(s.unwrap().gas_limit, raised));
        // Only the activation block carries upgrade gas.
        jovian_block(&karst_rollup(false), 102, raised, &extra, |s| assert_eq!(s.unwrap().gas_limit, raised));
        jovian_block(&karst_rollup(false), 100, 1_000, &extra, |s| {
            assert!(matches!(s, Err(ReconstructError::UpgradeGas { number: 50, gas_limit: 1_000, .. })), "{s:?}")
        });
        // What Keel assumes for the child of a block it built itself agrees with the reconstruction.
        let sys = SystemConfig { gas_limit: 30_000_000, ..Default::default() };
        assert_eq!(sys.after_block(&karst_rollup(false), 100).gas_limit, 30_000_000);
        assert_eq!(sys.after_block(&karst_rollup(true), 100).gas_limit, raised);
        assert_eq!(sys.after_block(&karst_rollup(true), 102).gas_limit, 30_000_000);
    }

    fn topic(ty: u8) -> B256 {
        let mut t = B256::ZERO;
        t[31] = ty;
        t
    }

    fn log(ty: u8, data: &[u8]) -> Log {
        Log {
            address: SYS,
            data: LogData::new_unchecked(
                vec![CONFIG_UPDATE_TOPIC, B256::ZERO, topic(ty)],
                Bytes::copy_from_slice(data),
            ),
        }
    }

    // Log data of VECTORS.md §6 (COMPUTED from the contract encoding; inputs from op-node's
    // `TestProcessSystemConfigUpdateLogEvent` where it has them).
    const BATCHER: [u8; 96] = hex!("000000000000000000000000000000000000000000000000000000000000002000000000000000000000000000000000000000000000000000000000000000200000000000000000000000006887246668a3b87f54deb3b94ba47a6f63f32985");
    const SCALARS_V1: [u8; 128] = hex!("000000000000000000000000000000000000000000000000000000000000002000000000000000000000000000000000000000000000000000000000000000400000000000000000000000000000000000000000000000000000000000000000010000000000000000000000000000000000000000000000000f79c50000146b");
    const SCALARS_PRE: [u8; 128] = hex!("0000000000000000000000000000000000000000000000000000000000000020000000000000000000000000000000000000000000000000000000000000004000000000000000000000000000000000000000000000000000000000000000ff00000000000000000000000000000000000000000000000000000000000000aa");
    const GAS: [u8; 96] = hex!("0000000000000000000000000000000000000000000000000000000000000020000000000000000000000000000000000000000000000000000000000000002000000000000000000000000000000000000000000000000000000000000000bb");
    const SIGNER: [u8; 96] = hex!("000000000000000000000000000000000000000000000000000000000000002000000000000000000000000000000000000000000000000000000000000000200000000000000000000000000000000000000000000000000000000000000000");
    const EIP1559: [u8; 96] = hex!("000000000000000000000000000000000000000000000000000000000000002000000000000000000000000000000000000000000000000000000000000000200000000000000000000000000000000000000000000000000102030405060708");
    const OPERATOR: [u8; 96] = hex!("000000000000000000000000000000000000000000000000000000000000002000000000000000000000000000000000000000000000000000000000000000200000000000000000000000000000000000000000000000050000000000070d08");
    const MIN_BASE_FEE: [u8; 96] = hex!("00000000000000000000000000000000000000000000000000000000000000200000000000000000000000000000000000000000000000000000000000000020000000000000000000000000000000000000000000000000000000003b9aca00");
    const DA: [u8; 96] = hex!("000000000000000000000000000000000000000000000000000000000000002000000000000000000000000000000000000000000000000000000000000000200000000000000000000000000000000000000000000000000000000000000064");

    #[test]
    fn topic_constant_matches_the_event_signature() {
        assert_eq!(CONFIG_UPDATE_TOPIC, alloy_primitives::keccak256("ConfigUpdate(uint256,uint8,bytes)"));
        assert_eq!(CONFIG_UPDATE_TOPIC, b256!("0x1d2b0bda21d56b8bd12d4f94ebacffdfb35f5e226f84b461103bb8beab6353be"));
    }

    #[test]
    fn every_update_type_decodes() {
        let d = |ty, data: &[u8], ecotone| decode_config_update(&log(ty, data), ecotone);
        assert_eq!(
            d(0, &BATCHER, true),
            Ok(ConfigUpdate::Batcher(address!("0x6887246668a3b87f54deb3b94ba47a6f63f32985")))
        );
        let v1 = U256::from_be_slice(&SCALARS_V1[96..]);
        assert_eq!(d(1, &SCALARS_V1, true), Ok(ConfigUpdate::FeeScalars { overhead: U256::ZERO, scalar: v1 }));
        assert_eq!(
            d(1, &SCALARS_PRE, false),
            Ok(ConfigUpdate::FeeScalars { overhead: U256::from(0xff), scalar: U256::from(0xaa) })
        );
        assert_eq!(
            d(1, &SCALARS_PRE, true),
            Ok(ConfigUpdate::FeeScalars { overhead: U256::ZERO, scalar: U256::from(0xaa) })
        );
        assert_eq!(d(2, &GAS, true), Ok(ConfigUpdate::GasLimit(0xbb)));
        assert_eq!(d(3, &SIGNER, true), Ok(ConfigUpdate::UnsafeBlockSigner));
        assert_eq!(
            d(4, &EIP1559, true),
            Ok(ConfigUpdate::Eip1559 { denominator: 0x0102_0304, elasticity: 0x0506_0708 })
        );
        assert_eq!(d(5, &OPERATOR, true), Ok(ConfigUpdate::OperatorFee { scalar: 5, constant: 0x70d08 }));
        assert_eq!(d(6, &MIN_BASE_FEE, true), Ok(ConfigUpdate::MinBaseFee(1_000_000_000)));
        assert_eq!(d(7, &DA, true), Ok(ConfigUpdate::DaFootprintGasScalar(100)));
    }

    #[test]
    fn malformed_updates_are_rejected_like_op_node() {
        let d = |ty, data: &[u8]| decode_config_update(&log(ty, data), true);
        let mut bad_pointer = GAS;
        bad_pointer[31] = 0x21;
        assert!(matches!(d(2, &bad_pointer), Err(ConfigLogError::Data { reason: "invalid pointer field", .. })));
        let mut bad_len = GAS;
        bad_len[63] = 0x21;
        assert!(matches!(d(2, &bad_len), Err(ConfigLogError::Data { reason: "invalid length field", .. })));
        let mut trailing = GAS.to_vec();
        trailing.extend_from_slice(&[0u8; 32]);
        assert!(d(2, &trailing).is_err());
        let mut big = DA;
        big[93] = 1; // a u16 with a non-zero 30-byte padding
        assert!(d(7, &big).is_err());
        let mut zero_denominator = EIP1559;
        zero_denominator[88..92].copy_from_slice(&[0; 4]);
        assert!(d(4, &zero_denominator).is_err(), "0 denominator, non-zero elasticity");
        let mut both_zero = EIP1559;
        both_zero[88..96].copy_from_slice(&[0; 8]);
        assert_eq!(d(4, &both_zero), Ok(ConfigUpdate::Eip1559 { denominator: 0, elasticity: 0 }));
        let mut upper = EIP1559;
        upper[64] = 0xff; // op-node ignores the upper 24 bytes of the EIP-1559 word
        assert!(d(4, &upper).is_ok());
        assert_eq!(d(8, &GAS), Err(ConfigLogError::UpdateType(topic(8))));
        let mut l = log(2, &GAS);
        l.data = LogData::new_unchecked(vec![CONFIG_UPDATE_TOPIC, topic(1), topic(2)], Bytes::copy_from_slice(&GAS));
        assert_eq!(decode_config_update(&l, true), Err(ConfigLogError::Version(topic(1))));
        let mut bad_v1 = SCALARS_V1;
        bad_v1[100] = 1; // v1 padding
        assert_eq!(d(1, &bad_v1), Ok(ConfigUpdate::FeeScalarsIgnored(U256::from_be_slice(&bad_v1[96..]))));
    }

    #[test]
    fn apply_receipts_filters_and_skips() {
        let r = rollup();
        let ok = |logs: Vec<Log>| Receipt { status: Eip658Value::Eip658(true), cumulative_gas_used: 0, logs };
        let mut other = log(2, &GAS);
        other.address = Address::repeat_byte(1);
        let mut bad = GAS;
        bad[31] = 0;
        let receipts = vec![
            ok(vec![other.clone(), log(6, &MIN_BASE_FEE)]),
            Receipt { status: Eip658Value::Eip658(false), cumulative_gas_used: 0, logs: vec![log(7, &DA)] },
            ok(vec![log(2, &bad), log(2, &GAS)]),
        ];
        let mut s = SystemConfig { gas_limit: 30_000_000, ..Default::default() };
        let skipped = s.apply_receipts(&receipts, &r, 10);
        assert_eq!(s.min_base_fee, 1_000_000_000);
        assert_eq!(s.da_footprint_gas_scalar, 0, "failed receipt ignored");
        assert_eq!(s.gas_limit, 0xbb, "a later valid log still applies");
        assert_eq!(skipped.len(), 1);
        assert_eq!((skipped[0].receipt_index, skipped[0].log_index), (2, 3));
    }

    #[test]
    fn after_block_zeroes_forks_not_yet_active_in_the_parent() {
        let mut r = rollup();
        r.hardforks.fjord_time = Some(0);
        r.hardforks.granite_time = Some(0);
        r.hardforks.holocene_time = Some(100);
        r.hardforks.isthmus_time = Some(100);
        r.hardforks.jovian_time = Some(200);
        let s = SystemConfig {
            eip1559_denominator: 250,
            eip1559_elasticity: 2,
            operator_fee_scalar: 7,
            operator_fee_constant: 9,
            min_base_fee: 11,
            scalar: U256::from(5u8),
            ..Default::default()
        };
        let pre = s.after_block(&r, 98);
        assert_eq!((pre.eip1559_denominator, pre.operator_fee_scalar, pre.min_base_fee), (0, 0, 0));
        assert_eq!(pre.scalar, U256::from(1u8) << 248 | U256::from(5u8), "re-encoded as version 1");
        let activation = s.after_block(&r, 100);
        assert_eq!(activation.eip1559_params(), s.eip1559_params());
        assert_eq!(activation.operator_fee_scalar, 0, "Isthmus activation block carries the Ecotone format");
        assert_eq!(s.after_block(&r, 102).operator_fee_constant, 9);
        let defaults = SystemConfig::default().after_block(&r, 102);
        assert_eq!((defaults.eip1559_denominator, defaults.eip1559_elasticity), default_eip1559(&r));
        assert_eq!(s.after_block(&r, 200).min_base_fee, 11);
        assert_eq!(s.after_block(&r, 200).da_footprint_gas_scalar, 0, "Jovian activation block: Isthmus format");
        assert_eq!(s.after_block(&r, 202).da_footprint_gas_scalar, 400);
    }
}
