//! Unsafe-block gossip messages as op-node and kona-node exchange them on `/optimism/<chain id>/<n>/blocks`
//! (OP p2p spec, op-node `p2p/gossip.go`): the codec, the signature, the message id and the validator. Pure and
//! synchronous; the libp2p transport that carries these bytes is a separate piece (issue #13) and not built yet.
//!
//! A message is `snappy_raw(signature ‖ payload bytes)`: a 65-byte secp256k1 signature `r ‖ s ‖ v` (`v` 0 or 1) by
//! the chain's unsafe block signer over `keccak256(domain ‖ chain id ‖ keccak256(payload bytes))` (domain: 32 zero
//! bytes, chain id: 32 bytes big-endian), then the SSZ execution payload — v1 (Bedrock), v2 (Canyon: withdrawals),
//! v3 (Ecotone: the parent beacon block root precedes the payload, blob gas fields), v4 (Isthmus: withdrawals root).
//! The SSZ codecs are op-alloy's (`OpNetworkPayloadEnvelope`); this module adds what they lack: the size limit
//! before decompression, signing, the message id, and the validation rules.

use alloy_primitives::{Address, B256};
use k256::ecdsa::SigningKey;
use keel_core::Rollup;
use op_alloy_rpc_types_engine::{
    OpExecutionPayload, OpExecutionPayloadEnvelope, OpNetworkPayloadEnvelope, PayloadEnvelopeError, PayloadHash,
};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};

/// Largest decompressed gossip message (op-node `maxGossipSize`, 10 MiB); a larger one is never decompressed.
pub const MAX_GOSSIP_SIZE: usize = 10 * (1 << 20);
/// Message id domain of a message whose data is valid snappy (op-node `MessageDomainValidSnappy`).
pub const MESSAGE_DOMAIN_VALID_SNAPPY: [u8; 4] = [1, 0, 0, 0];
/// Message id domain of a message whose data is not (op-node `MessageDomainInvalidSnappy`).
pub const MESSAGE_DOMAIN_INVALID_SNAPPY: [u8; 4] = [0, 0, 0, 0];
/// How far ahead of the local clock a block's timestamp may be (seconds).
pub const MAX_FUTURE_S: u64 = 5;
/// How far behind the local clock a block's timestamp may be (seconds).
pub const MAX_PAST_S: u64 = 60;
/// Different blocks accepted at one height before further ones are rejected (op-node: a sequencer equivocating or
/// a reorg storm; a few are legitimate).
pub const MAX_BLOCKS_PER_HEIGHT: usize = 5;
/// Heights remembered for the per-height count and duplicate detection.
pub const SEEN_HEIGHTS: usize = 1_000;

/// A gossip block topic version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BlockVersion {
    /// Bedrock payloads (`ExecutionPayloadV1`).
    V1,
    /// Canyon: withdrawals (always empty).
    V2,
    /// Ecotone: the parent beacon block root, blob gas fields.
    V3,
    /// Isthmus: the withdrawals root (the L2ToL1MessagePasser storage root).
    V4,
}

impl BlockVersion {
    /// The version of a block with timestamp `t`.
    pub fn at(rollup: &Rollup, t: u64) -> Self {
        if rollup.is_isthmus_active(t) {
            Self::V4
        } else if rollup.is_ecotone_active(t) {
            Self::V3
        } else if rollup.is_canyon_active(t) {
            Self::V2
        } else {
            Self::V1
        }
    }

    /// Its number in the topic name.
    pub fn number(self) -> u8 {
        match self {
            Self::V1 => 0,
            Self::V2 => 1,
            Self::V3 => 2,
            Self::V4 => 3,
        }
    }

    /// The gossipsub topic of this version for chain `chain_id`.
    pub fn topic(self, chain_id: u64) -> String {
        // op-node: v1 is `/optimism/<id>/0/blocks`, v2 `/1/`, v3 `/2/`, v4 `/3/`.
        format!("/optimism/{chain_id}/{}/blocks", self.number())
    }

    fn of(payload: &OpExecutionPayload) -> Self {
        match payload {
            OpExecutionPayload::V1(_) => Self::V1,
            OpExecutionPayload::V2(_) => Self::V2,
            OpExecutionPayload::V3(_) => Self::V3,
            OpExecutionPayload::V4(_) => Self::V4,
        }
    }
}

/// Why a message could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GossipError {
    /// The payload's version is not the topic's.
    #[error("payload is {payload:?}, the topic carries {topic:?}")]
    WrongVersion {
        /// The payload's version.
        payload: BlockVersion,
        /// The topic's version.
        topic: BlockVersion,
    },
    /// A v3/v4 payload without a parent beacon block root.
    #[error("{0:?} payload without a parent beacon block root")]
    NoParentBeaconRoot(BlockVersion),
    /// The data claims to decompress to more than [`MAX_GOSSIP_SIZE`].
    #[error("message decompresses to {0} bytes, above the {MAX_GOSSIP_SIZE}-byte limit")]
    TooLarge(usize),
    /// Not raw snappy.
    #[error("not snappy-compressed: {0}")]
    Snappy(String),
    /// The signature or SSZ payload does not decode.
    #[error("undecodable payload: {0}")]
    Decode(String),
    /// Signing failed (a key that cannot sign).
    #[error("signing failed: {0}")]
    Sign(String),
}

/// The message a block signer signs for `payload_bytes` (the bytes after the signature) on chain `chain_id`.
pub fn signing_hash(chain_id: u64, payload_bytes: &[u8]) -> B256 {
    PayloadHash::from(payload_bytes).signature_message(chain_id)
}

/// The payload bytes of a message (what follows the signature): for v3 and v4 the parent beacon block root, then
/// the SSZ payload.
fn payload_bytes(envelope: &OpExecutionPayloadEnvelope) -> Result<Vec<u8>, GossipError> {
    use ssz::Encode;
    let version = BlockVersion::of(&envelope.execution_payload);
    let root = || envelope.parent_beacon_block_root.ok_or(GossipError::NoParentBeaconRoot(version));
    Ok(match &envelope.execution_payload {
        OpExecutionPayload::V1(p) => p.as_ssz_bytes(),
        OpExecutionPayload::V2(p) => p.as_ssz_bytes(),
        OpExecutionPayload::V3(p) => [root()?.as_slice(), &p.as_ssz_bytes()].concat(),
        OpExecutionPayload::V4(p) => [root()?.as_slice(), &p.as_ssz_bytes()].concat(),
    })
}

/// Builds the gossip message for `envelope`, signed by `key` for chain `chain_id`: `snappy(signature ‖ payload)`.
pub fn encode(envelope: &OpExecutionPayloadEnvelope, chain_id: u64, key: &SigningKey) -> Result<Vec<u8>, GossipError> {
    let payload = payload_bytes(envelope)?;
    let hash = signing_hash(chain_id, &payload);
    let (sig, recid) = key.sign_prehash_recoverable(hash.as_slice()).map_err(|e| GossipError::Sign(e.to_string()))?;
    let mut data = Vec::with_capacity(65 + payload.len());
    data.extend_from_slice(&sig.to_bytes());
    data.push(u8::from(recid.is_y_odd()));
    data.extend_from_slice(&payload);
    snap::raw::Encoder::new().compress_vec(&data).map_err(|e| GossipError::Snappy(e.to_string()))
}

/// The gossipsub message id of `data` (op-node `BuildMsgIdFn`): the first 20 bytes of
/// `sha256(domain ‖ content)`, where content is the decompressed data if it is valid snappy of at most
/// [`MAX_GOSSIP_SIZE`] bytes (domain [`MESSAGE_DOMAIN_VALID_SNAPPY`]), else the data as received (domain
/// [`MESSAGE_DOMAIN_INVALID_SNAPPY`]).
pub fn message_id(data: &[u8]) -> [u8; 20] {
    let decoded = match snap::raw::decompress_len(data) {
        Ok(n) if n <= MAX_GOSSIP_SIZE => snap::raw::Decoder::new().decompress_vec(data).ok(),
        _ => None,
    };
    let mut h = Sha256::new();
    match &decoded {
        Some(d) => {
            h.update(MESSAGE_DOMAIN_VALID_SNAPPY);
            h.update(d);
        }
        None => {
            h.update(MESSAGE_DOMAIN_INVALID_SNAPPY);
            h.update(data);
        }
    }
    let full: [u8; 32] = h.finalize().into();
    full[..20].try_into().expect("20 of 32 bytes")
}

/// Reads a message of topic version `version`, refusing to decompress more than [`MAX_GOSSIP_SIZE`] bytes.
pub fn decode(data: &[u8], version: BlockVersion) -> Result<OpNetworkPayloadEnvelope, GossipError> {
    let n = snap::raw::decompress_len(data).map_err(|e| GossipError::Snappy(e.to_string()))?;
    if n > MAX_GOSSIP_SIZE {
        return Err(GossipError::TooLarge(n));
    }
    let decoded = match version {
        BlockVersion::V1 => OpNetworkPayloadEnvelope::decode_v1(data),
        BlockVersion::V2 => OpNetworkPayloadEnvelope::decode_v2(data),
        BlockVersion::V3 => OpNetworkPayloadEnvelope::decode_v3(data),
        BlockVersion::V4 => OpNetworkPayloadEnvelope::decode_v4(data),
    };
    decoded.map_err(|e| match e {
        PayloadEnvelopeError::BrokenSnappyEncoding => GossipError::Snappy("corrupt data".into()),
        other => GossipError::Decode(other.to_string()),
    })
}

/// The signer of a decoded message for chain `chain_id`.
pub fn signer(envelope: &OpNetworkPayloadEnvelope, chain_id: u64) -> Option<Address> {
    let hash = envelope.payload_hash.signature_message(chain_id);
    envelope.signature.recover_address_from_prehash(&hash).ok()
}

/// What to do with a received message (libp2p's validation results).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: import it and forward it.
    Accept(Box<OpExecutionPayloadEnvelope>),
    /// Not forwarded, the peer not penalised (a duplicate).
    Ignore(String),
    /// Invalid: not forwarded, the peer penalised.
    Reject(String),
}

/// op-node's block gossip validator: decoding within the size limit, timestamp window, block hash, version fields,
/// the unsafe block signer, and a bounded per-height memory of blocks seen.
#[derive(Debug, Default)]
pub struct BlockValidator {
    /// Block hashes seen per height (the last [`SEEN_HEIGHTS`] heights).
    seen: BTreeMap<u64, Vec<B256>>,
    order: VecDeque<u64>,
}

impl BlockValidator {
    /// A validator with nothing seen.
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates `data` received on topic version `version` at local time `now_s` (seconds), for chain `chain_id`
    /// with unsafe block signer `expected_signer`.
    pub fn validate(
        &mut self,
        data: &[u8],
        version: BlockVersion,
        now_s: u64,
        chain_id: u64,
        expected_signer: Address,
    ) -> Verdict {
        let msg = match decode(data, version) {
            Ok(m) => m,
            Err(e) => return Verdict::Reject(e.to_string()),
        };
        let payload = &msg.payload;
        let block = payload.as_v1();
        let (number, timestamp) = (block.block_number, block.timestamp);
        if timestamp > now_s + MAX_FUTURE_S {
            return Verdict::Reject(format!(
                "block {number} time {timestamp} is more than {MAX_FUTURE_S} s ahead of {now_s}"
            ));
        }
        if timestamp + MAX_PAST_S < now_s {
            return Verdict::Reject(format!(
                "block {number} time {timestamp} is more than {MAX_PAST_S} s behind {now_s}"
            ));
        }
        if let Err(e) = version_fields(payload, msg.parent_beacon_block_root) {
            return Verdict::Reject(format!("block {number}: {e}"));
        }
        let claimed = block.block_hash;
        let envelope = OpExecutionPayloadEnvelope {
            execution_payload: msg.payload.clone(),
            parent_beacon_block_root: msg.parent_beacon_block_root,
        };
        match keel_core::payload::header_hash(&envelope) {
            Ok(computed) if computed == claimed => {}
            Ok(computed) => {
                return Verdict::Reject(format!(
                    "block {number}: hash {claimed:#x} does not match its contents ({computed:#x})"
                ))
            }
            Err(e) => return Verdict::Reject(format!("block {number}: {e}")),
        }
        match signer(&msg, chain_id) {
            Some(a) if a == expected_signer => {}
            Some(a) => {
                return Verdict::Reject(format!("block {number} signed by {a}, expected {expected_signer}"));
            }
            None => return Verdict::Reject(format!("block {number}: signature does not recover")),
        }
        let seen = self.seen.entry(number).or_default();
        if seen.contains(&claimed) {
            return Verdict::Ignore(format!("block {number} {claimed:#x} already seen"));
        }
        if seen.len() >= MAX_BLOCKS_PER_HEIGHT {
            return Verdict::Reject(format!("more than {MAX_BLOCKS_PER_HEIGHT} different blocks at height {number}"));
        }
        if seen.is_empty() {
            self.order.push_back(number);
        }
        seen.push(claimed);
        while self.order.len() > SEEN_HEIGHTS {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        Verdict::Accept(Box::new(envelope))
    }
}

/// The fields each version must (not) have.
fn version_fields(payload: &OpExecutionPayload, parent_beacon_root: Option<B256>) -> Result<(), String> {
    match payload {
        OpExecutionPayload::V1(_) => Ok(()),
        OpExecutionPayload::V2(p) if !p.withdrawals.is_empty() => Err("non-empty withdrawals".into()),
        OpExecutionPayload::V2(_) => Ok(()),
        OpExecutionPayload::V3(p)
        | OpExecutionPayload::V4(op_alloy_rpc_types_engine::OpExecutionPayloadV4 { payload_inner: p, .. }) => {
            if !p.payload_inner.withdrawals.is_empty() {
                return Err("non-empty withdrawals".into());
            }
            if p.blob_gas_used != 0 {
                return Err(format!("blob gas used {} (must be 0)", p.blob_gas_used));
            }
            if p.excess_blob_gas != 0 {
                return Err(format!("excess blob gas {} (must be 0)", p.excess_blob_gas));
            }
            if parent_beacon_root.is_none() {
                return Err("no parent beacon block root".into());
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{b256, Bloom, Bytes, U256};
    use alloy_rpc_types_engine::{ExecutionPayloadV1, ExecutionPayloadV2, ExecutionPayloadV3};
    use op_alloy_rpc_types_engine::OpExecutionPayloadV4;

    const CHAIN: u64 = 901;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32].into()).unwrap()
    }

    fn address(k: &SigningKey) -> Address {
        Address::from_public_key(k.verifying_key())
    }

    /// An Isthmus (v4) block `number` at `timestamp` with its real hash.
    fn block(number: u64, timestamp: u64, extra: u8) -> OpExecutionPayloadEnvelope {
        let v1 = ExecutionPayloadV1 {
            parent_hash: B256::repeat_byte(1),
            fee_recipient: Address::repeat_byte(2),
            state_root: B256::repeat_byte(3),
            receipts_root: B256::repeat_byte(4),
            logs_bloom: Bloom::ZERO,
            prev_randao: B256::repeat_byte(5),
            block_number: number,
            gas_limit: 30_000_000,
            gas_used: 0,
            timestamp,
            extra_data: Bytes::from(vec![extra]),
            base_fee_per_gas: U256::from(7),
            block_hash: B256::ZERO,
            transactions: Vec::new(),
        };
        let v3 = ExecutionPayloadV3 {
            payload_inner: ExecutionPayloadV2 { payload_inner: v1, withdrawals: Vec::new() },
            blob_gas_used: 0,
            excess_blob_gas: 0,
        };
        let mut env = OpExecutionPayloadEnvelope {
            execution_payload: OpExecutionPayload::V4(OpExecutionPayloadV4 {
                payload_inner: v3,
                withdrawals_root: B256::repeat_byte(6),
            }),
            parent_beacon_block_root: Some(B256::repeat_byte(8)),
        };
        let hash = keel_core::payload::header_hash(&env).unwrap();
        if let OpExecutionPayload::V4(p) = &mut env.execution_payload {
            p.payload_inner.payload_inner.payload_inner.block_hash = hash;
        }
        env
    }

    #[test]
    fn the_signing_hash_is_keccak_of_domain_chain_id_and_payload_hash() {
        // op-alloy's vector (PayloadHash::signature_message): payload hash keccak(0x99…99), chain 10.
        let inner = b256!("9999999999999999999999999999999999999999999999999999999999999999");
        assert_eq!(
            signing_hash(10, inner.as_slice()),
            b256!("44a0e2b1aba1aae1771eddae1dcd2ad18a8cdac8891517153f03253e49d3f206")
        );
        // The same, spelled out.
        let mut pre = [0u8; 96];
        pre[56..64].copy_from_slice(&10u64.to_be_bytes());
        pre[64..].copy_from_slice(keccak256_of(inner.as_slice()).as_slice());
        assert_eq!(signing_hash(10, inner.as_slice()), keccak256_of(&pre));
    }

    fn keccak256_of(b: &[u8]) -> B256 {
        alloy_primitives::keccak256(b)
    }

    #[test]
    fn topics_follow_the_forks() {
        assert_eq!(BlockVersion::V1.topic(10), "/optimism/10/0/blocks");
        assert_eq!(BlockVersion::V4.topic(8453), "/optimism/8453/3/blocks");
        let mut cfg = kona_genesis::RollupConfig::default();
        let h = &mut cfg.hardforks;
        (h.canyon_time, h.delta_time, h.ecotone_time, h.fjord_time) = (Some(10), Some(10), Some(20), Some(20));
        (h.granite_time, h.holocene_time, h.isthmus_time) = (Some(20), Some(20), Some(30));
        let r = Rollup::from(cfg);
        let versions: Vec<_> = [0, 10, 20, 30, 40].iter().map(|t| BlockVersion::at(&r, *t)).collect();
        use BlockVersion::*;
        assert_eq!(versions, [V1, V2, V3, V4, V4]);
    }

    #[test]
    fn a_signed_block_round_trips_and_is_accepted_from_its_signer() {
        let env = block(100, 1_000, 0);
        let data = encode(&env, CHAIN, &key(1)).unwrap();
        let decoded = decode(&data, BlockVersion::V4).unwrap();
        assert_eq!(signer(&decoded, CHAIN), Some(address(&key(1))));
        let mut v = BlockValidator::new();
        assert_eq!(v.validate(&data, BlockVersion::V4, 1_000, CHAIN, address(&key(1))), Verdict::Accept(Box::new(env)));
        // The same message again is a duplicate: ignored, not rejected.
        assert!(matches!(v.validate(&data, BlockVersion::V4, 1_000, CHAIN, address(&key(1))), Verdict::Ignore(_)));
    }

    fn rejected(v: Verdict, why: &str) {
        match v {
            Verdict::Reject(r) => assert!(r.contains(why), "rejected for {r:?}, expected {why:?}"),
            other => panic!("expected a rejection for {why:?}, got {other:?}"),
        }
    }

    #[test]
    fn the_validator_rejects_what_op_node_rejects() {
        let signer = address(&key(1));
        let mut v = BlockValidator::new();
        let good = encode(&block(100, 1_000, 0), CHAIN, &key(1)).unwrap();
        // Another key, another chain id (the signature then recovers to another address).
        rejected(
            v.validate(&encode(&block(100, 1_000, 0), CHAIN, &key(2)).unwrap(), BlockVersion::V4, 1_000, CHAIN, signer),
            "signed by",
        );
        rejected(v.validate(&good, BlockVersion::V4, 1_000, CHAIN + 1, signer), "signed by");
        // Timestamp window: 5 s ahead, 60 s behind.
        v.validate(&good, BlockVersion::V4, 995, CHAIN, signer);
        rejected(BlockValidator::new().validate(&good, BlockVersion::V4, 994, CHAIN, signer), "ahead");
        assert!(matches!(
            BlockValidator::new().validate(&good, BlockVersion::V4, 1_060, CHAIN, signer),
            Verdict::Accept(_)
        ));
        rejected(BlockValidator::new().validate(&good, BlockVersion::V4, 1_061, CHAIN, signer), "behind");
        // A block whose hash is not its contents' (signed correctly over the wrong hash).
        let mut bad = block(101, 1_000, 0);
        if let OpExecutionPayload::V4(p) = &mut bad.execution_payload {
            p.payload_inner.payload_inner.payload_inner.block_hash = B256::repeat_byte(9);
        }
        rejected(
            v.validate(&encode(&bad, CHAIN, &key(1)).unwrap(), BlockVersion::V4, 1_000, CHAIN, signer),
            "does not match",
        );
        // Wrong topic version: the bytes do not decode as a v3 payload the same way.
        assert!(matches!(v.validate(&good, BlockVersion::V1, 1_000, CHAIN, signer), Verdict::Reject(_)));
        // Garbage, truncated, and a snappy header claiming 100 MiB.
        rejected(v.validate(b"not snappy at all", BlockVersion::V4, 1_000, CHAIN, signer), "");
        rejected(v.validate(&good[..good.len() / 2], BlockVersion::V4, 1_000, CHAIN, signer), "");
        let mut bomb = Vec::new();
        let mut n = 100usize << 20;
        while n >= 0x80 {
            bomb.push((n as u8) | 0x80);
            n >>= 7;
        }
        bomb.push(n as u8);
        bomb.extend_from_slice(&[0; 16]);
        rejected(v.validate(&bomb, BlockVersion::V4, 1_000, CHAIN, signer), "above the");
    }

    #[test]
    fn at_most_five_different_blocks_per_height_and_the_memory_is_bounded() {
        let signer = address(&key(1));
        let mut v = BlockValidator::new();
        for extra in 0..5u8 {
            let data = encode(&block(7, 1_000, extra), CHAIN, &key(1)).unwrap();
            assert!(
                matches!(v.validate(&data, BlockVersion::V4, 1_000, CHAIN, signer), Verdict::Accept(_)),
                "block {extra}"
            );
        }
        let sixth = encode(&block(7, 1_000, 5), CHAIN, &key(1)).unwrap();
        rejected(v.validate(&sixth, BlockVersion::V4, 1_000, CHAIN, signer), "different blocks at height 7");
        for n in 0..(SEEN_HEIGHTS as u64 + 10) {
            let data = encode(&block(1_000 + n, 1_000, 0), CHAIN, &key(1)).unwrap();
            v.validate(&data, BlockVersion::V4, 1_000, CHAIN, signer);
        }
        assert!(v.seen.len() <= SEEN_HEIGHTS && v.order.len() <= SEEN_HEIGHTS);
        assert!(!v.seen.contains_key(&7), "the oldest heights are forgotten");
    }

    #[test]
    fn message_ids_hash_the_decompressed_data_under_the_valid_snappy_domain() {
        let payload = b"hello gossip".repeat(10);
        let data = snap::raw::Encoder::new().compress_vec(&payload).unwrap();
        let mut h = Sha256::new();
        h.update([1, 0, 0, 0]);
        h.update(&payload);
        let want: [u8; 32] = h.finalize().into();
        assert_eq!(message_id(&data), want[..20]);
        // Not snappy: the raw bytes under the invalid domain.
        let junk = [0xffu8; 7];
        let mut h = Sha256::new();
        h.update([0, 0, 0, 0]);
        h.update(junk);
        let want: [u8; 32] = h.finalize().into();
        assert_eq!(message_id(&junk), want[..20]);
    }
}
