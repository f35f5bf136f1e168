//! Unsafe-block gossip messages as op-node and kona-node exchange them on `/optimism/<chain id>/<n>/blocks`
//! (OP p2p spec, op-node `p2p/gossip.go`): the codec, the signature, the message id and the validator. Pure and
//! synchronous; the libp2p transport that carries these bytes is a separate piece (issue #13) and not built yet.
//!
//! A message is `snappy_raw(signature ‖ payload bytes)`: a 65-byte secp256k1 signature `r ‖ s ‖ v` (`v` 0 or 1) by
//! the chain's unsafe block signer over `keccak256(domain ‖ chain id ‖ keccak256(payload bytes))` (domain: 32 zero
//! bytes, chain id: 32 bytes big-endian), then the SSZ execution payload — v1 (Bedrock), v2 (Canyon: withdrawals),
//! v3 (Ecotone: the parent beacon block root precedes the payload, blob gas fields), v4 (Isthmus: withdrawals root).
//! The SSZ codecs are alloy's and op-alloy's payload types; this module adds the framing with the size limit before
//! decompression (op-alloy's `OpNetworkPayloadEnvelope` decoders allocate what the snappy header claims and accept
//! `v` 27/28), signing, the message id, and the validation rules.

use alloy_primitives::{Address, Signature, B256};
use k256::ecdsa::SigningKey;
use keel_core::Rollup;
use op_alloy_rpc_types_engine::{OpExecutionPayload, OpExecutionPayloadEnvelope, PayloadHash};
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
/// Blocks remembered at one height beyond which further ones are rejected (op-node rejects once more than five are
/// stored, so six different blocks per height are accepted).
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

/// The gossipsub message id of `data` received on `topic` (op-node `BuildMsgIdFn` / `ComputeMessageId`): the
/// first 20 bytes of `sha256(domain ‖ u64_le(topic length) ‖ topic ‖ content)`, where content is the decompressed
/// data if it is valid snappy of at most [`MAX_GOSSIP_SIZE`] bytes (domain [`MESSAGE_DOMAIN_VALID_SNAPPY`]), else
/// the data as received (domain [`MESSAGE_DOMAIN_INVALID_SNAPPY`]). (The p2p spec's text and kona-node leave the
/// topic out; op-node includes it.)
pub fn message_id(topic: &str, data: &[u8]) -> [u8; 20] {
    let decoded = match snap::raw::decompress_len(data) {
        Ok(n) if n <= MAX_GOSSIP_SIZE => snap::raw::Decoder::new().decompress_vec(data).ok(),
        _ => None,
    };
    let mut h = Sha256::new();
    h.update(if decoded.is_some() { MESSAGE_DOMAIN_VALID_SNAPPY } else { MESSAGE_DOMAIN_INVALID_SNAPPY });
    h.update((topic.len() as u64).to_le_bytes());
    h.update(topic.as_bytes());
    h.update(decoded.as_deref().unwrap_or(data));
    let full: [u8; 32] = h.finalize().into();
    full[..20].try_into().expect("20 of 32 bytes")
}

/// A received message, read: its signature, the hash of the bytes it signs, and the block they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The 65-byte signature, `v` 0 or 1.
    pub signature: Signature,
    /// `keccak256` of the payload bytes (what the signing hash covers).
    pub payload_hash: PayloadHash,
    /// The block.
    pub envelope: OpExecutionPayloadEnvelope,
}

impl Message {
    /// The address that signed it for chain `chain_id`, if the signature recovers.
    pub fn signer(&self, chain_id: u64) -> Option<Address> {
        let hash = self.payload_hash.signature_message(chain_id);
        self.signature.recover_address_from_prehash(&hash).ok()
    }
}

/// The decompressed bytes of a message: refused above [`MAX_GOSSIP_SIZE`] before anything is allocated.
fn decompress(data: &[u8]) -> Result<Vec<u8>, GossipError> {
    let n = snap::raw::decompress_len(data).map_err(|e| GossipError::Snappy(e.to_string()))?;
    if n > MAX_GOSSIP_SIZE {
        return Err(GossipError::TooLarge(n));
    }
    snap::raw::Decoder::new().decompress_vec(data).map_err(|e| GossipError::Snappy(e.to_string()))
}

/// The signature of decompressed message bytes (op-node: `v` must be 0 or 1) and the payload bytes after it.
fn split_signature(raw: &[u8]) -> Result<(Signature, &[u8]), GossipError> {
    if raw.len() < 66 {
        return Err(GossipError::Decode(format!("{} bytes is too short for a signed payload", raw.len())));
    }
    let (sig, payload) = raw.split_at(65);
    let parity = match sig[64] {
        0 => false,
        1 => true,
        v => return Err(GossipError::Decode(format!("signature recovery id {v} (must be 0 or 1)"))),
    };
    let r = alloy_primitives::U256::from_be_slice(&sig[..32]);
    let s = alloy_primitives::U256::from_be_slice(&sig[32..64]);
    Ok((Signature::new(r, s, parity), payload))
}

/// The payload of topic version `version` from its bytes (for v3 and v4, the parent beacon block root first).
fn decode_payload(bytes: &[u8], version: BlockVersion) -> Result<OpExecutionPayloadEnvelope, GossipError> {
    use alloy_rpc_types_engine::{ExecutionPayloadV1, ExecutionPayloadV2, ExecutionPayloadV3};
    use op_alloy_rpc_types_engine::OpExecutionPayloadV4;
    use ssz::Decode;
    let ssz_err = |e: ssz::DecodeError| GossipError::Decode(format!("{version:?} SSZ payload: {e:?}"));
    let (root, body) = match version {
        BlockVersion::V1 | BlockVersion::V2 => (None, bytes),
        BlockVersion::V3 | BlockVersion::V4 => {
            if bytes.len() < 32 {
                return Err(GossipError::Decode("no parent beacon block root".into()));
            }
            (Some(B256::from_slice(&bytes[..32])), &bytes[32..])
        }
    };
    let execution_payload = match version {
        BlockVersion::V1 => OpExecutionPayload::V1(ExecutionPayloadV1::from_ssz_bytes(body).map_err(ssz_err)?),
        BlockVersion::V2 => OpExecutionPayload::V2(ExecutionPayloadV2::from_ssz_bytes(body).map_err(ssz_err)?),
        BlockVersion::V3 => OpExecutionPayload::V3(ExecutionPayloadV3::from_ssz_bytes(body).map_err(ssz_err)?),
        BlockVersion::V4 => OpExecutionPayload::V4(OpExecutionPayloadV4::from_ssz_bytes(body).map_err(ssz_err)?),
    };
    Ok(OpExecutionPayloadEnvelope { execution_payload, parent_beacon_block_root: root })
}

/// Reads a message of topic version `version`, refusing to decompress more than [`MAX_GOSSIP_SIZE`] bytes.
pub fn decode(data: &[u8], version: BlockVersion) -> Result<Message, GossipError> {
    let raw = decompress(data)?;
    let (signature, payload) = split_signature(&raw)?;
    let envelope = decode_payload(payload, version)?;
    Ok(Message { signature, payload_hash: PayloadHash::from(payload), envelope })
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

    /// Validates `data` received on topic version `version` at local time `now_s` (seconds) for `rollup`'s chain,
    /// whose unsafe block signer is `expected_signer`. The checks and their order are op-node's
    /// (`BuildBlocksValidator`): size and decompression, signature, payload decoding, time window, block hash,
    /// version fields, then the per-height memory.
    pub fn validate(
        &mut self,
        data: &[u8],
        version: BlockVersion,
        now_s: u64,
        rollup: &Rollup,
        expected_signer: Address,
    ) -> Verdict {
        let chain_id = rollup.l2_chain_id.id();
        let raw = match decompress(data) {
            Ok(raw) => raw,
            Err(e) => return Verdict::Reject(e.to_string()),
        };
        let (signature, payload_bytes) = match split_signature(&raw) {
            Ok(s) => s,
            Err(e) => return Verdict::Reject(e.to_string()),
        };
        if expected_signer == Address::ZERO {
            return Verdict::Ignore("no unsafe block signer configured".into());
        }
        let hash = PayloadHash::from(payload_bytes);
        match signature.recover_address_from_prehash(&hash.signature_message(chain_id)) {
            Ok(a) if a == expected_signer => {}
            Ok(a) => return Verdict::Reject(format!("signed by {a}, expected {expected_signer}")),
            Err(e) => return Verdict::Reject(format!("signature does not recover: {e}")),
        }
        let envelope = match decode_payload(payload_bytes, version) {
            Ok(e) => e,
            Err(e) => return Verdict::Reject(e.to_string()),
        };
        let block = envelope.execution_payload.as_v1();
        let (number, timestamp, claimed) = (block.block_number, block.timestamp, block.block_hash);
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
        match keel_core::payload::header_hash(&envelope) {
            Ok(computed) if computed == claimed => {}
            Ok(computed) => {
                return Verdict::Reject(format!(
                    "block {number}: hash {claimed:#x} does not match its contents ({computed:#x})"
                ))
            }
            Err(e) => return Verdict::Reject(format!("block {number}: {e}")),
        }
        if let Err(e) = version_fields(&envelope.execution_payload, rollup.is_jovian_active(timestamp)) {
            return Verdict::Reject(format!("block {number}: {e}"));
        }
        let seen = self.seen.entry(number).or_default();
        // op-node: more than five blocks already at this height rejects even a repeat; a repeat is ignored.
        if seen.len() > MAX_BLOCKS_PER_HEIGHT {
            return Verdict::Reject(format!("more than {MAX_BLOCKS_PER_HEIGHT} different blocks at height {number}"));
        }
        if seen.contains(&claimed) {
            return Verdict::Ignore(format!("block {number} {claimed:#x} already seen"));
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

/// The fields each version must (not) have (op-node): withdrawals empty from v2; from v3 no excess blob gas, and no
/// blob gas used before Jovian (from Jovian `blobGasUsed` carries the block's DA footprint).
fn version_fields(payload: &OpExecutionPayload, jovian: bool) -> Result<(), String> {
    let v3 = match payload {
        OpExecutionPayload::V1(_) => return Ok(()),
        OpExecutionPayload::V2(p) if !p.withdrawals.is_empty() => return Err("non-empty withdrawals".into()),
        OpExecutionPayload::V2(_) => return Ok(()),
        OpExecutionPayload::V3(p) => p,
        OpExecutionPayload::V4(p) => &p.payload_inner,
    };
    if !v3.payload_inner.withdrawals.is_empty() {
        return Err("non-empty withdrawals".into());
    }
    if v3.blob_gas_used != 0 && !jovian {
        return Err(format!("blob gas used {} before Jovian (must be 0)", v3.blob_gas_used));
    }
    if v3.excess_blob_gas != 0 {
        return Err(format!("excess blob gas {} (must be 0)", v3.excess_blob_gas));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{b256, hex, Bloom, Bytes, U256};
    use alloy_rpc_types_engine::{ExecutionPayloadV1, ExecutionPayloadV2, ExecutionPayloadV3};
    use op_alloy_rpc_types_engine::OpExecutionPayloadV4;

    const CHAIN: u64 = 901;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32].into()).unwrap()
    }

    fn address(k: &SigningKey) -> Address {
        Address::from_public_key(k.verifying_key())
    }

    /// Chain 901 with every fork through Isthmus at genesis and Jovian at `jovian`.
    fn rollup(jovian: u64) -> Rollup {
        let mut cfg = kona_genesis::RollupConfig { l2_chain_id: CHAIN.into(), ..Default::default() };
        keel_core::rollup::schedule_forks_through(&mut cfg.hardforks, "isthmus", 0);
        cfg.hardforks.jovian_time = Some(jovian);
        Rollup::from(cfg)
    }

    /// An Isthmus (v4) block `number` at `timestamp` with its real hash.
    fn block(number: u64, timestamp: u64, extra: u8, blob_gas_used: u64) -> OpExecutionPayloadEnvelope {
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
            blob_gas_used,
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
        set_hash(&mut env, hash);
        env
    }

    fn set_hash(env: &mut OpExecutionPayloadEnvelope, hash: B256) {
        if let OpExecutionPayload::V4(p) = &mut env.execution_payload {
            p.payload_inner.payload_inner.payload_inner.block_hash = hash;
        }
    }

    fn rejected(v: Verdict, why: &str) {
        match v {
            Verdict::Reject(r) => assert!(r.contains(why), "rejected for {r:?}, expected {why:?}"),
            other => panic!("expected a rejection for {why:?}, got {other:?}"),
        }
    }

    #[test]
    fn signing_hashes_match_op_service_and_op_alloy() {
        // op-alloy `test_signature_message`: payload 32 × 0x99, chain 10, zero domain.
        let inner = [0x99u8; 32];
        assert_eq!(signing_hash(10, &inner), b256!("44a0e2b1aba1aae1771eddae1dcd2ad18a8cdac8891517153f03253e49d3f206"));
        // op-service `signer/blockpayload_args_test.go` (TestBlockPayloadArgs): domain 0x7b2a ‖ 30 zero bytes, chain
        // 100, payload "arbitraryData"; the same construction with another domain.
        let mut domain = [0u8; 32];
        domain[..2].copy_from_slice(&[123, 42]);
        let mut pre = Vec::from(domain);
        pre.extend_from_slice(&B256::left_padding_from(&100u64.to_be_bytes()).0);
        pre.extend_from_slice(alloy_primitives::keccak256(b"arbitraryData").as_slice());
        assert_eq!(
            alloy_primitives::keccak256(&pre),
            b256!("c724de7aefa316a12cbbd5edc39d512830598cce5d6ac81d1b518ef69450ad77")
        );
    }

    /// op-alloy's v1–v4 gossip messages (`envelope.rs` `test_roundtrip_encode_envelope_v*`, chain 10): the
    /// payload hash, signing hash, recovered signer and op-node message id of each, as computed independently
    /// (Python, and Go with op-geth's crypto and golang/snappy).
    #[test]
    fn op_alloy_messages_decode_to_their_hashes_signers_and_message_ids() {
        let vectors = [
            (BlockVersion::V1, "bd04f043128457c6ccf35128497167442bcc0f8cce78cda8b366e6a12e526d938d1e4c1046acffffbfc542a7e212bb7d80d3a4b2f84f7b196d935398a24eb84c519789b401000000fe0300fe0300fe0300fe0300fe0300fe0300a203000c4a8fd56621ad04fc0101067601008ce60be0005b220117c32c0f3b394b346c2aa42cfa8157cd41f891aa0bec485a62fc010000",
             "fee30d6e38da5409c810752d4fea35546cfd234fb4995816189d89f512e68b2a", "7a73c0e13d2537acdd29a5bee9ace35a1a5284a956d506d7b178207ab27ec576", "0x8f34FdfEa251f7C24CAFdf8192c4ffED345eF59e", "89a3015ab0f41b00cc8789405f5146a84e7aa350", 1_725_271_882),
            (BlockVersion::V2, "c104f0433805080eb36c0b130a7cc1dc74c3f721af4e249aa6f61bb89d1557143e971bb738a3f3b98df7c457e74048e9d2d7e5cd82bb45e3760467e2270e9db86d1271a700000000fe0300fe0300fe0300fe0300fe0300fe0300a203000c6b89d46525ad000205067201009cda69cb5b9b73fc4eb2458b37d37f04ff507fe6c9cd2ab704a05ea9dae3cd61760002000000020000",
             "320e2c2594fce63100151ce1bd93e29956db6b4d188b6287735a76a0ef5c7c2b", "112c244f0fb0cadc36d7342b8c61a197e30fa8719a3252299fff64776bbb5ccb", "0x38Fb5b53dC350ad0D2dC41E356b3DF1aE03DCD73", "01e8c773b34b79aa5a2cbcdfc40ce04a2be3c4fe", 1_708_427_627),
            (BlockVersion::V3, "f104f0434442b9eb38b259f5b23826e6b623e829d2fb878dac70187a1aecf42a3f9bedfd29793d1fcb5822324be0d3e12340a95855553a65d64b83e5579dffb31470df5d010000006a03000412346a1d00fe0100fe0100fe0100fe0100fe0100fe01004201000cc588d465219504100201067601007cfece77b89685f60e3663b6e0faf2de0734674eb91339700c4858c773a8ff921e014401043e0100",
             "310d0c1499b060968460616e77fc10cde58fe2310052378ab416d4bf27773db6", "32a77fd5f5085091c6b0739b990e9d3f2a390eff8edf68db19233ce64a4051d0", "0x08217C7D8ff75Dd1A2FFB214ACfa87d0d41b1C75", "0326973484758c392e8055f7f8053713ddef7a69", 1_708_427_461),
            (BlockVersion::V4, "9105f043cee25401b6853202950d1d8a082f31a80c4fef5782c049a731f5d104b1b9b9aa7618605b420438ae98b44c8aaaebd482854473c2ae57c079286bb634bece5210000000006a03000412346a1d00fe0100fe0100fe0100fe0100fe0100fe01004201000c5766d26721950430020106f6010001440104b60100049876",
             "0622557b8ad07941bf4e5b3ec356f851379947df6e075366c6f47edd74d90800", "5f51a4aec72ff59244a462bba5142aab9aaf4a4a9335e41fc9f425e21cbc5a2c", "0x2FB85dD2d187904B69270027deEfCd5f53F222e6", "019c60341be0edc43df4298441f1885544c47494", 1_741_842_007),
        ];
        for (version, data, payload_hash, signing, signer, id, time) in vectors {
            let data = hex::decode(data).unwrap();
            let m = decode(&data, version).unwrap();
            assert_eq!(m.payload_hash.0, payload_hash.parse::<B256>().unwrap(), "{version:?} payload hash");
            assert_eq!(m.payload_hash.signature_message(10), signing.parse::<B256>().unwrap(), "{version:?}");
            assert_eq!(m.signer(10), Some(signer.parse().unwrap()), "{version:?} signer");
            assert_eq!(hex::encode(message_id(&version.topic(10), &data)), id, "{version:?} message id");
            assert_eq!(m.envelope.execution_payload.as_v1().timestamp, time, "{version:?} timestamp");
            assert_eq!(BlockVersion::of(&m.envelope.execution_payload), version);
        }
        // Data that is not snappy: the invalid-snappy domain over the raw bytes.
        assert_eq!(
            hex::encode(message_id("/optimism/10/2/blocks", &hex!("0102030405"))),
            "9b99034febd981031966fc50729faf85d0ab4191"
        );
    }

    /// The v3 vector re-signed with a known key (anvil's key #0) gives go-ethereum's deterministic (RFC 6979)
    /// signature byte for byte, and the message op-node would compute the same id for.
    #[test]
    fn signing_with_a_known_key_matches_go_ethereum() {
        let v3 = hex!("f104f0434442b9eb38b259f5b23826e6b623e829d2fb878dac70187a1aecf42a3f9bedfd29793d1fcb5822324be0d3e12340a95855553a65d64b83e5579dffb31470df5d010000006a03000412346a1d00fe0100fe0100fe0100fe0100fe0100fe01004201000cc588d465219504100201067601007cfece77b89685f60e3663b6e0faf2de0734674eb91339700c4858c773a8ff921e014401043e0100");
        let envelope = decode(&v3, BlockVersion::V3).unwrap().envelope;
        let anvil =
            SigningKey::from_bytes(&hex!("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80").into())
                .unwrap();
        assert_eq!(address(&anvil), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".parse::<Address>().unwrap());
        let msg = encode(&envelope, 10, &anvil).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&msg).unwrap();
        assert_eq!(
            hex::encode(&raw[..65]),
            "e0825ee2f8ebbaa410664e2f435ce9895ef99c147bbf752bd02905f919c726db148de169a35990d76ce7f09add10f99fa81040a6763c5feb99e4c89958dd10a501"
        );
        let go = hex!("f104f043e0825ee2f8ebbaa410664e2f435ce9895ef99c147bbf752bd02905f919c726db148de169a35990d76ce7f09add10f99fa81040a6763c5feb99e4c89958dd10a5010000006a03000412346a1d00fe0100fe0100fe0100fe0100fe0100fe01004201000cc588d465219504100201067601007cfece77b89685f60e3663b6e0faf2de0734674eb91339700c4858c773a8ff921e014401043e0100");
        assert_eq!(
            raw,
            snap::raw::Decoder::new().decompress_vec(&go).unwrap(),
            "same bytes as golang/snappy's message"
        );
        assert_eq!(hex::encode(message_id("/optimism/10/2/blocks", &msg)), "4937895c26d0718008883d2eb388746d98b80f82");
        // Its block hash is the hash of its header: the validator accepts the re-signed message from that signer
        // on chain 10 at the block's time, and rejects it from anyone else.
        let mut r10 = rollup(u64::MAX);
        r10.base.l2_chain_id = 10.into();
        let t = 1_708_427_461;
        assert!(matches!(
            BlockValidator::new().validate(&go, BlockVersion::V3, t, &r10, address(&anvil)),
            Verdict::Accept(_)
        ));
        rejected(BlockValidator::new().validate(&go, BlockVersion::V3, t, &r10, address(&key(1))), "signed by");
    }

    #[test]
    fn topics_follow_the_forks() {
        assert_eq!(BlockVersion::V1.topic(10), "/optimism/10/0/blocks");
        assert_eq!(BlockVersion::V4.topic(8453), "/optimism/8453/3/blocks");
        let mut cfg = kona_genesis::RollupConfig::default();
        let h = &mut cfg.hardforks;
        (h.canyon_time, h.delta_time, h.ecotone_time, h.fjord_time) = (Some(10), Some(10), Some(20), Some(20));
        (h.granite_time, h.holocene_time, h.isthmus_time, h.jovian_time) = (Some(20), Some(20), Some(30), Some(40));
        let r = Rollup::from(cfg);
        let versions: Vec<_> = [0, 10, 20, 30, 40].iter().map(|t| BlockVersion::at(&r, *t)).collect();
        use BlockVersion::*;
        assert_eq!(versions, [V1, V2, V3, V4, V4], "Jovian stays on v4");
    }

    #[test]
    fn a_signed_block_round_trips_and_is_accepted_from_its_signer() {
        let env = block(100, 1_000, 0, 0);
        let data = encode(&env, CHAIN, &key(1)).unwrap();
        let decoded = decode(&data, BlockVersion::V4).unwrap();
        assert_eq!(decoded.signer(CHAIN), Some(address(&key(1))));
        assert_eq!(decoded.envelope, env);
        let r = rollup(u64::MAX);
        let mut v = BlockValidator::new();
        assert_eq!(v.validate(&data, BlockVersion::V4, 1_000, &r, address(&key(1))), Verdict::Accept(Box::new(env)));
        assert!(matches!(v.validate(&data, BlockVersion::V4, 1_000, &r, address(&key(1))), Verdict::Ignore(_)));
        // No signer configured: ignored, as op-node does.
        assert!(matches!(
            BlockValidator::new().validate(&data, BlockVersion::V4, 1_000, &r, Address::ZERO),
            Verdict::Ignore(_)
        ));
    }

    #[test]
    fn the_validator_rejects_what_op_node_rejects() {
        let r = rollup(u64::MAX);
        let signer = address(&key(1));
        let fresh = || BlockValidator::new();
        let good = encode(&block(100, 1_000, 0, 0), CHAIN, &key(1)).unwrap();
        // Another key; another chain id (the signature then recovers to another address).
        let other = encode(&block(100, 1_000, 0, 0), CHAIN, &key(2)).unwrap();
        rejected(fresh().validate(&other, BlockVersion::V4, 1_000, &r, signer), "signed by");
        let mut r2 = r.clone();
        r2.base.l2_chain_id = (CHAIN + 1).into();
        rejected(fresh().validate(&good, BlockVersion::V4, 1_000, &r2, signer), "signed by");
        // Recovery id 27 (op-node accepts only 0 and 1).
        let mut raw = snap::raw::Decoder::new().decompress_vec(&good).unwrap();
        raw[64] += 27;
        let v27 = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        rejected(fresh().validate(&v27, BlockVersion::V4, 1_000, &r, signer), "recovery id 27");
        // Timestamp window: at most 5 s ahead, at most 60 s behind.
        assert!(matches!(fresh().validate(&good, BlockVersion::V4, 995, &r, signer), Verdict::Accept(_)));
        rejected(fresh().validate(&good, BlockVersion::V4, 994, &r, signer), "ahead");
        assert!(matches!(fresh().validate(&good, BlockVersion::V4, 1_060, &r, signer), Verdict::Accept(_)));
        rejected(fresh().validate(&good, BlockVersion::V4, 1_061, &r, signer), "behind");
        // A block whose hash is not its contents' (signed correctly).
        let mut bad = block(101, 1_000, 0, 0);
        set_hash(&mut bad, B256::repeat_byte(9));
        rejected(
            fresh().validate(&encode(&bad, CHAIN, &key(1)).unwrap(), BlockVersion::V4, 1_000, &r, signer),
            "does not match",
        );
        // Blob gas used: refused before Jovian, the DA footprint from Jovian.
        let footprint = encode(&block(102, 1_000, 0, 4_000), CHAIN, &key(1)).unwrap();
        rejected(fresh().validate(&footprint, BlockVersion::V4, 1_000, &r, signer), "before Jovian");
        assert!(matches!(
            fresh().validate(&footprint, BlockVersion::V4, 1_000, &rollup(0), signer),
            Verdict::Accept(_)
        ));
        // The wrong topic version: not a v1 payload.
        rejected(fresh().validate(&good, BlockVersion::V1, 1_000, &r, signer), "");
        // Garbage, truncated data, and a snappy header claiming 100 MiB (refused before allocating).
        rejected(fresh().validate(b"not snappy at all", BlockVersion::V4, 1_000, &r, signer), "");
        rejected(fresh().validate(&good[..good.len() / 2], BlockVersion::V4, 1_000, &r, signer), "");
        let mut bomb = Vec::new();
        let mut n = 100usize << 20;
        while n >= 0x80 {
            bomb.push((n as u8) | 0x80);
            n >>= 7;
        }
        bomb.push(n as u8);
        bomb.extend_from_slice(&[0; 16]);
        rejected(fresh().validate(&bomb, BlockVersion::V4, 1_000, &r, signer), "above the");
        assert!(matches!(decode(&bomb, BlockVersion::V4), Err(GossipError::TooLarge(_))));
    }

    #[test]
    fn six_different_blocks_per_height_and_the_memory_is_bounded() {
        let r = rollup(u64::MAX);
        let signer = address(&key(1));
        let mut v = BlockValidator::new();
        for extra in 0..6u8 {
            let data = encode(&block(7, 1_000, extra, 0), CHAIN, &key(1)).unwrap();
            assert!(
                matches!(v.validate(&data, BlockVersion::V4, 1_000, &r, signer), Verdict::Accept(_)),
                "block {extra}"
            );
        }
        let seventh = encode(&block(7, 1_000, 6, 0), CHAIN, &key(1)).unwrap();
        rejected(v.validate(&seventh, BlockVersion::V4, 1_000, &r, signer), "different blocks at height 7");
        // Past the limit even a block already seen is rejected (op-node checks the count first).
        let first = encode(&block(7, 1_000, 0, 0), CHAIN, &key(1)).unwrap();
        rejected(v.validate(&first, BlockVersion::V4, 1_000, &r, signer), "different blocks");
        for n in 0..(SEEN_HEIGHTS as u64 + 10) {
            let data = encode(&block(1_000 + n, 1_000, 0, 0), CHAIN, &key(1)).unwrap();
            v.validate(&data, BlockVersion::V4, 1_000, &r, signer);
        }
        assert!(v.seen.len() <= SEEN_HEIGHTS && v.order.len() <= SEEN_HEIGHTS);
        assert!(!v.seen.contains_key(&7), "the oldest heights are forgotten");
    }

    #[test]
    fn every_truncation_and_byte_flip_of_a_message_is_refused_without_a_panic() {
        let r = rollup(u64::MAX);
        let signer = address(&key(1));
        let good = encode(&block(100, 1_000, 0, 0), CHAIN, &key(1)).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&good).unwrap();
        let mut v = BlockValidator::new();
        for n in 0..good.len() {
            assert!(!matches!(v.validate(&good[..n], BlockVersion::V4, 1_000, &r, signer), Verdict::Accept(_)));
        }
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x5a;
            let data = snap::raw::Encoder::new().compress_vec(&bad).unwrap();
            for version in [BlockVersion::V1, BlockVersion::V2, BlockVersion::V3, BlockVersion::V4] {
                let verdict = v.validate(&data, version, 1_000, &r, signer);
                assert!(!matches!(verdict, Verdict::Accept(_)), "byte {i} flipped was accepted on {version:?}");
                let _ = decode(&data, version);
                let _ = message_id(&version.topic(CHAIN), &data);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, failure_persistence: None, ..Default::default() })]

        /// Bytes from a hostile peer, whatever they are, are refused or ignored, never accepted, never a panic.
        #[test]
        fn arbitrary_bytes_are_never_accepted(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096), v in 0u8..4) {
            let version = [BlockVersion::V1, BlockVersion::V2, BlockVersion::V3, BlockVersion::V4][v as usize];
            let verdict = BlockValidator::new().validate(&data, version, 1_000, &rollup(0), address(&key(1)));
            proptest::prop_assert!(!matches!(verdict, Verdict::Accept(_)), "{verdict:?}");
        }

        /// A valid message with one byte changed, or cut short, is accepted only if it still reads as the very
        /// same signed block (another snappy encoding of it), and never panics.
        #[test]
        fn a_damaged_message_is_not_accepted(at in 0usize..10_000, value in proptest::prelude::any::<u8>(), cut in proptest::prelude::any::<bool>()) {
            let env = block(9, 1_000, 0, 0);
            let good = encode(&env, CHAIN, &key(1)).unwrap();
            let intact = BlockValidator::new().validate(&good, BlockVersion::V4, 1_000, &rollup(u64::MAX), address(&key(1)));
            proptest::prop_assert!(matches!(intact, Verdict::Accept(_)), "the undamaged message is valid: {intact:?}");
            let mut bad = good.clone();
            let i = at % good.len();
            if cut {
                bad.truncate(i);
            } else {
                bad[i] = if bad[i] == value { value.wrapping_add(1) } else { value };
            }
            let verdict = BlockValidator::new().validate(&bad, BlockVersion::V4, 1_000, &rollup(u64::MAX), address(&key(1)));
            if let Verdict::Accept(got) = verdict {
                proptest::prop_assert_eq!(*got, env);
            }
        }
    }
}
