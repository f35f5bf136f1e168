//! The L1 info deposit: the first transaction of every L2 block (op-node `l1_block_info.go`).
//!
//! Pure. Four calldata formats: Bedrock (`setL1BlockValues`, 260 B), Ecotone (164 B), Isthmus (176 B) and Jovian
//! (178 B). A fork's activation block still uses the previous fork's format, because the L1Block contract is only
//! upgraded by that block's upgrade transactions, which run after the L1 info deposit.
//!
//! kona 0.4.5 encodes Bedrock, Ecotone and Isthmus (its structs are reused here) but has no Jovian format, and it
//! differs from op-node in three details this module follows op-node on:
//! - the L1 blob base fee uses the L1 chain's blob schedule, including the BPO forks (kona: Prague or Cancun only);
//! - a Bedrock-style scalar with non-empty padding gives `baseFeeScalar = u32::MAX` (op-node `EcotoneScalars`);
//! - a scalar of unknown version is an error rather than being read as version 0.

use crate::blob_fee::{blob_fee, CANCUN_UPDATE_FRACTION};
use crate::rollup::Rollup;
use alloy_consensus::Header;
use alloy_primitives::{address, Address, Bytes, TxKind, B256, U256};
use kona_genesis::RollupConfig;
use kona_protocol::{L1BlockInfoBedrock, L1BlockInfoEcotone, L1BlockInfoIsthmus, Predeploys};
use op_alloy_consensus::{L1InfoDepositSource, TxDeposit};

/// Sender of the L1 info deposit.
pub const L1_INFO_DEPOSITOR: Address = address!("0xdeaddeaddeaddeaddeaddeaddeaddeaddead0001");

/// Gas of the L1 info deposit from Regolith on (op-node `RegolithSystemTxGas`).
pub const REGOLITH_SYSTEM_TX_GAS: u64 = 1_000_000;

/// Gas of the L1 info deposit before Regolith, when it was a system transaction.
pub const PRE_REGOLITH_SYSTEM_TX_GAS: u64 = 150_000_000;

/// The DA footprint gas scalar written when the SystemConfig holds 0 (op-node `DAFootprintGasScalarDefault`).
pub const DA_FOOTPRINT_GAS_SCALAR_DEFAULT: u16 = 400;

/// Why an L1 info deposit could not be formed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum L1InfoError {
    /// Post-Ecotone, the SystemConfig scalar must be a version-0 or version-1 encoding (op-node `EcotoneScalars`).
    #[error("SystemConfig scalar {scalar:#x} is not a valid Ecotone scalar: {reason}")]
    Scalar {
        /// The scalar as stored.
        scalar: U256,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The blob base fee does not fit the 128 bits the L1 info structs carry (an L1 blob fee above 3.4e38 wei).
    #[error("blob base fee of L1 block {l1_number} (excess blob gas {excess_blob_gas}) exceeds 128 bits")]
    BlobBaseFeeOverflow {
        /// L1 block number.
        l1_number: u64,
        /// Its excess blob gas.
        excess_blob_gas: u64,
    },
    /// The selector is none of the four L1 info functions.
    #[error("L1 info calldata has selector 0x{selector}, which is none of Bedrock, Ecotone, Isthmus or Jovian")]
    Selector {
        /// The first (up to) four bytes, hex.
        selector: String,
    },
    /// Calldata with a known selector that does not decode in that format.
    #[error("L1 info calldata in the {format:?} format does not decode: {reason}")]
    Decode {
        /// The format its selector names.
        format: L1InfoFormat,
        /// What is wrong with it.
        reason: String,
    },
    /// A valid L1 info deposit of another fork's format than the block's time requires.
    #[error("L1 info calldata is in the {actual:?} format, but the block's time requires {expected:?}")]
    WrongFormat {
        /// The format required at that L2 time.
        expected: L1InfoFormat,
        /// The format found.
        actual: L1InfoFormat,
    },
}

/// The calldata format of the L1 info deposit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L1InfoFormat {
    /// `setL1BlockValues(uint64,uint64,uint256,bytes32,uint64,bytes32,uint256,uint256)`, 260 bytes.
    Bedrock,
    /// `setL1BlockValuesEcotone()`, 164 bytes.
    Ecotone,
    /// `setL1BlockValuesIsthmus()`, 176 bytes.
    Isthmus,
    /// `setL1BlockValuesJovian()`, 178 bytes.
    Jovian,
}

impl L1InfoFormat {
    /// Every format, oldest first.
    pub const ALL: [Self; 4] = [Self::Bedrock, Self::Ecotone, Self::Isthmus, Self::Jovian];

    /// The format of the L1 info deposit of the L2 block at `l2_time`: a fork's format starts one block after its
    /// activation block (op-node `isEcotoneButNotFirstBlock` and friends). Interop keeps the Jovian format.
    pub fn at(rollup: &RollupConfig, l2_time: u64) -> Self {
        if rollup.is_jovian_active(l2_time) && !rollup.is_first_jovian_block(l2_time) {
            Self::Jovian
        } else if rollup.is_isthmus_active(l2_time) && !rollup.is_first_isthmus_block(l2_time) {
            Self::Isthmus
        } else if rollup.is_ecotone_active(l2_time) && !rollup.is_first_ecotone_block(l2_time) {
            Self::Ecotone
        } else {
            Self::Bedrock
        }
    }

    /// The 4-byte function selector.
    pub const fn selector(self) -> [u8; 4] {
        match self {
            Self::Bedrock => L1BlockInfoBedrock::L1_INFO_TX_SELECTOR,
            Self::Ecotone => L1BlockInfoEcotone::L1_INFO_TX_SELECTOR,
            Self::Isthmus => L1BlockInfoIsthmus::L1_INFO_TX_SELECTOR,
            Self::Jovian => L1BlockInfoJovian::L1_INFO_TX_SELECTOR,
        }
    }

    /// The calldata length in bytes.
    pub const fn calldata_len(self) -> usize {
        match self {
            Self::Bedrock => L1BlockInfoBedrock::L1_INFO_TX_LEN,
            Self::Ecotone => L1BlockInfoEcotone::L1_INFO_TX_LEN,
            Self::Isthmus => L1BlockInfoIsthmus::L1_INFO_TX_LEN,
            Self::Jovian => L1BlockInfoJovian::L1_INFO_TX_LEN,
        }
    }
}

/// The Jovian L1 info: the Isthmus fields plus the DA footprint gas scalar (op-node `marshalBinaryJovian`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct L1BlockInfoJovian {
    /// L1 origin number.
    pub number: u64,
    /// L1 origin timestamp.
    pub time: u64,
    /// L1 origin base fee.
    pub base_fee: u64,
    /// L1 origin hash.
    pub block_hash: B256,
    /// Position of the L2 block in its epoch.
    pub sequence_number: u64,
    /// Batcher address (written as a version-0 batcher hash).
    pub batcher_address: Address,
    /// L1 origin blob base fee.
    pub blob_base_fee: u128,
    /// Blob base fee scalar.
    pub blob_base_fee_scalar: u32,
    /// Base fee scalar.
    pub base_fee_scalar: u32,
    /// Operator fee scalar.
    pub operator_fee_scalar: u32,
    /// Operator fee constant.
    pub operator_fee_constant: u64,
    /// DA footprint gas scalar, already defaulted (never 0 when built from a SystemConfig).
    pub da_footprint_gas_scalar: u16,
}

impl L1BlockInfoJovian {
    /// `keccak256("setL1BlockValuesJovian()")[..4]`.
    pub const L1_INFO_TX_SELECTOR: [u8; 4] = [0x3d, 0xb6, 0xbe, 0x2b];
    /// Calldata length: the Isthmus layout plus a big-endian `u16`.
    pub const L1_INFO_TX_LEN: usize = L1BlockInfoIsthmus::L1_INFO_TX_LEN + 2;

    fn isthmus(&self) -> L1BlockInfoIsthmus {
        L1BlockInfoIsthmus {
            number: self.number,
            time: self.time,
            base_fee: self.base_fee,
            block_hash: self.block_hash,
            sequence_number: self.sequence_number,
            batcher_address: self.batcher_address,
            blob_base_fee: self.blob_base_fee,
            blob_base_fee_scalar: self.blob_base_fee_scalar,
            base_fee_scalar: self.base_fee_scalar,
            operator_fee_scalar: self.operator_fee_scalar,
            operator_fee_constant: self.operator_fee_constant,
        }
    }

    /// The same L1 facts in the Ecotone format (no operator fee, no DA scalar).
    fn ecotone(&self) -> L1BlockInfoEcotone {
        L1BlockInfoEcotone {
            number: self.number,
            time: self.time,
            base_fee: self.base_fee,
            block_hash: self.block_hash,
            sequence_number: self.sequence_number,
            batcher_address: self.batcher_address,
            blob_base_fee: self.blob_base_fee,
            blob_base_fee_scalar: self.blob_base_fee_scalar,
            base_fee_scalar: self.base_fee_scalar,
            empty_scalars: false,
            l1_fee_overhead: U256::ZERO,
        }
    }

    /// The 178-byte calldata: the Isthmus packing under the Jovian selector, then the scalar.
    pub fn encode_calldata(&self) -> Bytes {
        let mut buf = self.isthmus().encode_calldata().to_vec();
        debug_assert_eq!(buf.len(), L1BlockInfoIsthmus::L1_INFO_TX_LEN);
        buf[..4].copy_from_slice(&Self::L1_INFO_TX_SELECTOR);
        buf.extend_from_slice(&self.da_footprint_gas_scalar.to_be_bytes());
        buf.into()
    }

    /// Decodes the 178-byte calldata.
    pub fn decode_calldata(data: &[u8]) -> Result<Self, L1InfoError> {
        let err = |reason: String| L1InfoError::Decode { format: L1InfoFormat::Jovian, reason };
        if data.len() != Self::L1_INFO_TX_LEN {
            return Err(err(format!("length {} (expected {})", data.len(), Self::L1_INFO_TX_LEN)));
        }
        if data[..4] != Self::L1_INFO_TX_SELECTOR {
            return Err(err(format!("selector {}", alloy_primitives::hex::encode(&data[..4]))));
        }
        let mut isthmus = data[..L1BlockInfoIsthmus::L1_INFO_TX_LEN].to_vec();
        isthmus[..4].copy_from_slice(&L1BlockInfoIsthmus::L1_INFO_TX_SELECTOR);
        let i = L1BlockInfoIsthmus::decode_calldata(&isthmus).map_err(|e| err(e.to_string()))?;
        let tail = [data[Self::L1_INFO_TX_LEN - 2], data[Self::L1_INFO_TX_LEN - 1]];
        Ok(Self {
            number: i.number,
            time: i.time,
            base_fee: i.base_fee,
            block_hash: i.block_hash,
            sequence_number: i.sequence_number,
            batcher_address: i.batcher_address,
            blob_base_fee: i.blob_base_fee,
            blob_base_fee_scalar: i.blob_base_fee_scalar,
            base_fee_scalar: i.base_fee_scalar,
            operator_fee_scalar: i.operator_fee_scalar,
            operator_fee_constant: i.operator_fee_constant,
            da_footprint_gas_scalar: u16::from_be_bytes(tail),
        })
    }
}

/// The L1 info of one L2 block, in the format of its time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L1BlockInfo {
    /// Bedrock format.
    Bedrock(L1BlockInfoBedrock),
    /// Ecotone format.
    Ecotone(L1BlockInfoEcotone),
    /// Isthmus format.
    Isthmus(L1BlockInfoIsthmus),
    /// Jovian format.
    Jovian(L1BlockInfoJovian),
}

impl L1BlockInfo {
    /// Its format.
    pub const fn format(&self) -> L1InfoFormat {
        match self {
            Self::Bedrock(_) => L1InfoFormat::Bedrock,
            Self::Ecotone(_) => L1InfoFormat::Ecotone,
            Self::Isthmus(_) => L1InfoFormat::Isthmus,
            Self::Jovian(_) => L1InfoFormat::Jovian,
        }
    }

    /// The calldata of the L1 info deposit.
    pub fn encode_calldata(&self) -> Bytes {
        match self {
            Self::Bedrock(i) => i.encode_calldata(),
            Self::Ecotone(i) => i.encode_calldata(),
            Self::Isthmus(i) => i.encode_calldata(),
            Self::Jovian(i) => i.encode_calldata(),
        }
    }

    /// Decodes L1 info calldata of any of the four formats, picking the format by its selector. Length and fields
    /// are checked by the format's own decoder.
    pub fn decode(data: &[u8]) -> Result<Self, L1InfoError> {
        let selector: [u8; 4] = match data.get(..4) {
            Some(s) => s.try_into().expect("4 bytes"),
            None => return Err(L1InfoError::Selector { selector: alloy_primitives::hex::encode(data) }),
        };
        let format = L1InfoFormat::ALL
            .into_iter()
            .find(|f| f.selector() == selector)
            .ok_or_else(|| L1InfoError::Selector { selector: alloy_primitives::hex::encode(selector) })?;
        let err = |reason: String| L1InfoError::Decode { format, reason };
        match format {
            L1InfoFormat::Bedrock => L1BlockInfoBedrock::decode_calldata(data).map(Self::Bedrock),
            L1InfoFormat::Ecotone => L1BlockInfoEcotone::decode_calldata(data).map(Self::Ecotone),
            L1InfoFormat::Isthmus => L1BlockInfoIsthmus::decode_calldata(data).map(Self::Isthmus),
            L1InfoFormat::Jovian => return L1BlockInfoJovian::decode_calldata(data).map(Self::Jovian),
        }
        .map_err(|e| err(e.to_string()))
    }

    /// Decodes calldata that must be in `expected` format: op-node `L1BlockInfoFromBytes` picks the format from the
    /// L2 block time, so a block carrying another fork's format is invalid even if it decodes.
    pub fn decode_calldata(expected: L1InfoFormat, data: &[u8]) -> Result<Self, L1InfoError> {
        let info = Self::decode(data)?;
        if info.format() != expected {
            return Err(L1InfoError::WrongFormat { expected, actual: info.format() });
        }
        Ok(info)
    }

    /// The L1 origin number.
    pub const fn number(&self) -> u64 {
        match self {
            Self::Bedrock(i) => i.number,
            Self::Ecotone(i) => i.number,
            Self::Isthmus(i) => i.number,
            Self::Jovian(i) => i.number,
        }
    }

    /// The L1 origin as (number, hash).
    pub const fn id(&self) -> alloy_eips::BlockNumHash {
        alloy_eips::BlockNumHash { number: self.number(), hash: self.block_hash() }
    }

    /// The L1 origin hash.
    pub const fn block_hash(&self) -> B256 {
        match self {
            Self::Bedrock(i) => i.block_hash,
            Self::Ecotone(i) => i.block_hash,
            Self::Isthmus(i) => i.block_hash,
            Self::Jovian(i) => i.block_hash,
        }
    }

    /// The sequence number.
    pub const fn sequence_number(&self) -> u64 {
        match self {
            Self::Bedrock(i) => i.sequence_number,
            Self::Ecotone(i) => i.sequence_number,
            Self::Isthmus(i) => i.sequence_number,
            Self::Jovian(i) => i.sequence_number,
        }
    }
}

/// Post-Ecotone fee scalars decoded from the SystemConfig's 32-byte `scalar` (op-node `EcotoneScalars`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EcotoneScalars {
    /// Blob base fee scalar.
    pub blob_base_fee_scalar: u32,
    /// Base fee scalar.
    pub base_fee_scalar: u32,
}

/// Decodes the Ecotone scalars. Version 0 (Bedrock style) with non-zero padding is accepted with a base fee scalar
/// of `u32::MAX`, as the L2 spec mandates; version 1 with non-zero padding and unknown versions are errors.
pub fn ecotone_scalars(scalar: U256) -> Result<EcotoneScalars, L1InfoError> {
    let s = scalar.to_be_bytes::<32>();
    let word = |i: usize| u32::from_be_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
    match s[0] {
        0 if s[1..28].iter().any(|b| *b != 0) => {
            Ok(EcotoneScalars { blob_base_fee_scalar: 0, base_fee_scalar: u32::MAX })
        }
        0 => Ok(EcotoneScalars { blob_base_fee_scalar: 0, base_fee_scalar: word(28) }),
        1 if s[1..24].iter().any(|b| *b != 0) => {
            Err(L1InfoError::Scalar { scalar, reason: "version 1 scalar with non-zero padding" })
        }
        1 => Ok(EcotoneScalars { blob_base_fee_scalar: word(24), base_fee_scalar: word(28) }),
        _ => Err(L1InfoError::Scalar { scalar, reason: "unknown scalar version" }),
    }
}

/// The version-1 scalar encoding of Ecotone scalars (op-node `EncodeScalar`).
pub fn encode_ecotone_scalar(scalars: EcotoneScalars) -> U256 {
    let mut s = [0u8; 32];
    s[0] = 1;
    s[24..28].copy_from_slice(&scalars.blob_base_fee_scalar.to_be_bytes());
    s[28..32].copy_from_slice(&scalars.base_fee_scalar.to_be_bytes());
    U256::from_be_bytes(s)
}

/// The blob fee update fraction of the L1 block with `header` (op-node `BlobBaseFee(l1ChainConfig)` plus the
/// `pectra_blob_schedule_time` override), from the rollup's [`BlobSchedule`].
pub fn blob_update_fraction(rollup: &Rollup, header: &Header) -> u64 {
    let t = header.timestamp;
    if rollup.hardforks.pectra_blob_schedule_time.is_some_and(|p| t < p) {
        return CANCUN_UPDATE_FRACTION;
    }
    rollup.l1_blob_schedule.update_fraction(t, header.requests_hash.is_some())
}

/// The blob base fee written into the L1 info deposit: 1 when the L1 block predates EIP-4844.
pub fn blob_base_fee(rollup: &Rollup, header: &Header) -> Result<u128, L1InfoError> {
    let Some(excess_blob_gas) = header.excess_blob_gas else {
        return Ok(1);
    };
    blob_fee(excess_blob_gas, blob_update_fraction(rollup, header))
        .ok_or(L1InfoError::BlobBaseFeeOverflow { l1_number: header.number, excess_blob_gas })
}

/// The SystemConfig fields the L1 info deposit carries (this module does not depend on the SystemConfig type, which
/// depends on this codec to reconstruct itself from blocks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct L1FeeParams {
    /// Batcher address.
    pub batcher_address: Address,
    /// Pre-Ecotone fee overhead.
    pub overhead: U256,
    /// Fee scalar (pre-Ecotone value or Ecotone encoding).
    pub scalar: U256,
    /// Isthmus operator fee scalar.
    pub operator_fee_scalar: u32,
    /// Isthmus operator fee constant.
    pub operator_fee_constant: u64,
    /// Jovian DA footprint gas scalar (0 = the default).
    pub da_footprint_gas_scalar: u16,
}

/// The L1 info of the L2 block at `l2_time` with sequence number `seq_num` in the epoch of the L1 block `l1_header`
/// whose hash is `l1_hash` (passed in, not recomputed: the caller already trusts it), with the fee
/// parameters of the SystemConfig in force for that block (`SystemConfig::l1_block_info` fills them in).
pub fn l1_block_info(
    rollup: &Rollup,
    fees: &L1FeeParams,
    seq_num: u64,
    l1_header: &Header,
    l1_hash: B256,
    l2_time: u64,
) -> Result<L1BlockInfo, L1InfoError> {
    let number = l1_header.number;
    let time = l1_header.timestamp;
    let base_fee = l1_header.base_fee_per_gas.unwrap_or_default();
    let batcher_address = fees.batcher_address;
    let format = L1InfoFormat::at(rollup, l2_time);
    if format == L1InfoFormat::Bedrock {
        return Ok(L1BlockInfo::Bedrock(L1BlockInfoBedrock {
            number,
            time,
            base_fee,
            block_hash: l1_hash,
            sequence_number: seq_num,
            batcher_address,
            l1_fee_overhead: fees.overhead,
            l1_fee_scalar: fees.scalar,
        }));
    }
    let blob_base_fee = blob_base_fee(rollup, l1_header)?;
    let EcotoneScalars { blob_base_fee_scalar, base_fee_scalar } = ecotone_scalars(fees.scalar)?;
    let jovian = L1BlockInfoJovian {
        number,
        time,
        base_fee,
        block_hash: l1_hash,
        sequence_number: seq_num,
        batcher_address,
        blob_base_fee,
        blob_base_fee_scalar,
        base_fee_scalar,
        operator_fee_scalar: fees.operator_fee_scalar,
        operator_fee_constant: fees.operator_fee_constant,
        da_footprint_gas_scalar: match fees.da_footprint_gas_scalar {
            0 => DA_FOOTPRINT_GAS_SCALAR_DEFAULT,
            s => s,
        },
    };
    Ok(match format {
        L1InfoFormat::Bedrock => unreachable!("handled above"),
        L1InfoFormat::Ecotone => L1BlockInfo::Ecotone(jovian.ecotone()),
        L1InfoFormat::Isthmus => L1BlockInfo::Isthmus(jovian.isthmus()),
        L1InfoFormat::Jovian => L1BlockInfo::Jovian(jovian),
    })
}

/// The L1 info deposit transaction carrying `info` in the L2 block at `l2_time`: source hash domain 1 over
/// (L1 hash, sequence number); a 150M-gas system transaction before Regolith, 1M gas and not a system tx after.
pub fn l1_info_deposit(rollup: &RollupConfig, info: &L1BlockInfo, l2_time: u64) -> TxDeposit {
    let source = L1InfoDepositSource { l1_block_hash: info.block_hash(), seq_number: info.sequence_number() };
    let regolith = rollup.is_regolith_active(l2_time);
    TxDeposit {
        source_hash: source.source_hash(),
        from: L1_INFO_DEPOSITOR,
        to: TxKind::Call(Predeploys::L1_BLOCK_INFO),
        mint: 0,
        value: U256::ZERO,
        gas_limit: if regolith { REGOLITH_SYSTEM_TX_GAS } else { PRE_REGOLITH_SYSTEM_TX_GAS },
        is_system_transaction: !regolith,
        input: info.encode_calldata(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_follow_op_node() {
        let v0 = U256::from(684_000u64);
        assert_eq!(ecotone_scalars(v0), Ok(EcotoneScalars { blob_base_fee_scalar: 0, base_fee_scalar: 684_000 }));
        let padded = U256::from(1u8) << 100;
        assert_eq!(ecotone_scalars(padded).unwrap().base_fee_scalar, u32::MAX);
        let v1 = encode_ecotone_scalar(EcotoneScalars { blob_base_fee_scalar: 1_014_213, base_fee_scalar: 5227 });
        assert_eq!(ecotone_scalars(v1), Ok(EcotoneScalars { blob_base_fee_scalar: 1_014_213, base_fee_scalar: 5227 }));
        assert!(ecotone_scalars(v1 | (U256::from(1u8) << 200)).is_err(), "v1 padding");
        assert!(ecotone_scalars(U256::from(2u8) << 248).is_err(), "unknown version");
    }

    #[test]
    fn jovian_calldata_roundtrip() {
        let j = L1BlockInfoJovian {
            number: 1,
            time: 2,
            base_fee: 3,
            block_hash: B256::repeat_byte(4),
            sequence_number: 5,
            batcher_address: Address::repeat_byte(6),
            blob_base_fee: 7,
            blob_base_fee_scalar: 8,
            base_fee_scalar: 9,
            operator_fee_scalar: 10,
            operator_fee_constant: 11,
            da_footprint_gas_scalar: 0xdead,
        };
        let data = j.encode_calldata();
        assert_eq!(data.len(), 178);
        assert_eq!(&data[176..], &[0xde, 0xad]);
        assert_eq!(L1BlockInfoJovian::decode_calldata(&data), Ok(j));
        assert!(L1BlockInfo::decode_calldata(L1InfoFormat::Isthmus, &data).is_err());
    }
}
