//! Plain data the core reasons about: block references, ids and time.

use alloy_consensus::Header;
use alloy_eips::BlockNumHash;
use alloy_primitives::B256;
use std::sync::Arc;

pub use kona_protocol::BlockInfo as L1BlockRef;

/// Milliseconds since the Unix epoch: the core's one unit of time. The core never reads a clock; every entry point
/// takes one of these. Protocol timestamps (block headers, fork times) are whole seconds; [`secs`] and [`ms`] are the
/// only conversions between the two.
pub type UnixMs = u64;

/// Whole seconds of a time in milliseconds (a protocol timestamp; rounds down).
pub const fn secs(t: UnixMs) -> u64 {
    t / 1000
}

/// A time in whole seconds (a protocol timestamp, a fork time) as milliseconds, saturating.
pub const fn ms(seconds: u64) -> UnixMs {
    seconds.saturating_mul(1000)
}

/// Identifies a command the core issued; the response event echoes it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Identifies an incoming RPC call (allocated by the caller of the core) that a `Command::Reply` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyTo(pub u64);

/// A reference to an L2 block with the facts sequencing needs.
///
/// `time_ms` is the block timestamp in milliseconds. For chains with whole-second block times it is exactly
/// `timestamp * 1000`; keeping milliseconds lets the core schedule sub-second block times exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct L2BlockRef {
    /// Block hash.
    pub hash: B256,
    /// Block number.
    pub number: u64,
    /// Parent block hash.
    pub parent_hash: B256,
    /// Block timestamp in milliseconds.
    pub time_ms: u64,
    /// The L1 block this L2 block's epoch refers to.
    pub l1_origin: BlockNumHash,
    /// Position of the block within its epoch (0 for the first block of an epoch).
    pub seq_num: u64,
}

impl L2BlockRef {
    /// Converts from kona's representation (whole-second timestamps).
    pub fn from_kona(info: &kona_protocol::L2BlockInfo) -> Self {
        Self {
            hash: info.block_info.hash,
            number: info.block_info.number,
            parent_hash: info.block_info.parent_hash,
            time_ms: ms(info.block_info.timestamp),
            l1_origin: info.l1_origin,
            seq_num: info.seq_num,
        }
    }

    /// Converts to kona's representation (whole-second timestamps), the inverse of [`L2BlockRef::from_kona`].
    pub fn to_kona(&self) -> kona_protocol::L2BlockInfo {
        kona_protocol::L2BlockInfo {
            block_info: kona_protocol::BlockInfo {
                hash: self.hash,
                number: self.number,
                parent_hash: self.parent_hash,
                timestamp: self.timestamp_s(),
            },
            l1_origin: self.l1_origin,
            seq_num: self.seq_num,
        }
    }

    /// The protocol timestamp in whole seconds.
    pub const fn timestamp_s(&self) -> u64 {
        secs(self.time_ms)
    }

    /// `number` and `hash` together.
    pub const fn id(&self) -> BlockNumHash {
        BlockNumHash { number: self.number, hash: self.hash }
    }
}

impl std::fmt::Display for L2BlockRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#x}:{}", self.hash, self.number)
    }
}

/// An L1 block as fetched: its reference plus the full header, which payload attributes are built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L1Block {
    /// Hash, number, parent hash, timestamp (seconds).
    pub info: L1BlockRef,
    /// The full header (shared; cloning an `L1Block` is cheap).
    pub header: Arc<Header>,
}

impl L1Block {
    /// Builds an `L1Block` from a header, computing its hash. The hash is the identity the core trusts, so a
    /// response whose claimed hash differs from this must be rejected by the caller before it reaches the core.
    pub fn from_header(header: Header) -> Self {
        let hash = header.hash_slow();
        let info =
            L1BlockRef { hash, number: header.number, parent_hash: header.parent_hash, timestamp: header.timestamp };
        Self { info, header: Arc::new(header) }
    }

    /// An `L1Block` whose identity is `hash` as an L1 node reported it, whatever the header hashes to (for
    /// endpoints trusted with `--l1.trustrpc`, or whose headers cannot be re-hashed faithfully).
    pub fn with_hash(header: Header, hash: alloy_primitives::B256) -> Self {
        let info =
            L1BlockRef { hash, number: header.number, parent_hash: header.parent_hash, timestamp: header.timestamp };
        Self { info, header: Arc::new(header) }
    }

    /// Block number.
    pub const fn number(&self) -> u64 {
        self.info.number
    }

    /// Block hash.
    pub const fn hash(&self) -> B256 {
        self.info.hash
    }
}

/// The heads the node tracks. `None` means "not known yet".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Heads {
    /// Latest L2 block, sequenced or received.
    pub unsafe_head: Option<L2BlockRef>,
    /// Latest L2 block derived from L1.
    pub safe: Option<L2BlockRef>,
    /// Latest L2 block derived from finalized L1.
    pub finalized: Option<L2BlockRef>,
    /// Latest L1 block seen.
    pub l1_head: Option<L1BlockRef>,
    /// Latest finalized L1 block seen.
    pub l1_finalized: Option<L1BlockRef>,
    /// Latest safe L1 block seen.
    pub l1_safe: Option<L1BlockRef>,
}

/// Payload attributes as sent to the engine: op-alloy's OP attributes plus the Jovian `minBaseFee` field, which
/// op-alloy 0.18 (the version the kona 0.4 crates pin) does not have. Serialises to the engine API's flat JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attributes {
    /// Everything but `minBaseFee`.
    #[serde(flatten)]
    pub op: op_alloy_rpc_types_engine::OpPayloadAttributes,
    /// Jovian+: the minimum base fee (must be present from Jovian on). A JSON number, as op-node's
    /// `eth.PayloadAttributes.MinBaseFee *uint64` and op-geth encode it; a hex quantity is accepted when reading.
    #[serde(
        rename = "minBaseFee",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "number_or_quantity"
    )]
    pub min_base_fee: Option<u64>,
}

fn number_or_quantity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum N {
        Number(u64),
        Quantity(String),
    }
    match <Option<N> as serde::Deserialize>::deserialize(d)? {
        None => Ok(None),
        Some(N::Number(n)) => Ok(Some(n)),
        Some(N::Quantity(s)) => {
            let hex = s
                .strip_prefix("0x")
                .ok_or_else(|| serde::de::Error::custom(format!("minBaseFee {s:?} is not a number")))?;
            u64::from_str_radix(hex, 16).map(Some).map_err(serde::de::Error::custom)
        }
    }
}
