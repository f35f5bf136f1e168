//! The core's only interface to the world: events in, commands out.
//!
//! Contract with the driver (shell, simulator, fuzzer): every command that carries a [`RequestId`] is answered by
//! exactly one event carrying the same id — a result or a failure (the driver turns a missing answer into
//! [`RpcError::Timeout`]). Responses to requests the core no longer cares about are ignored.

use crate::types::{Attributes, L1Block, L1BlockRef, L2BlockRef, ReplyTo, RequestId};
use alloy_primitives::B256;
use alloy_rpc_types_engine::{ForkchoiceState, PayloadId, PayloadStatusEnum};
use op_alloy_rpc_types_engine::OpExecutionPayloadEnvelope;
use std::sync::Arc;

/// Why an outbound call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RpcError {
    /// The server answered with a JSON-RPC error object.
    Rpc {
        /// JSON-RPC error code.
        code: i64,
        /// Server-provided message.
        message: String,
    },
    /// The call did not produce a usable answer: connection refused, HTTP error, authentication failure,
    /// malformed or oversized response. The text names what went wrong.
    Transport(String),
    /// No answer within the call's deadline.
    Timeout,
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rpc { code, message } => write!(f, "rpc error {code}: {message}"),
            Self::Transport(msg) => write!(f, "transport error: {msg}"),
            Self::Timeout => write!(f, "timed out"),
        }
    }
}

/// Engine API method versions, chosen by fork (see [`crate::engine::versions`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EngineVersion {
    /// V1
    V1,
    /// V2
    V2,
    /// V3
    V3,
    /// V4
    V4,
    /// V5 (`engine_getPayloadV5` only, from Karst)
    V5,
}

/// The three L2 heads the execution engine reports (`latest`, `safe`, `finalized`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineHeads {
    /// `latest`.
    pub unsafe_head: L2BlockRef,
    /// `safe`.
    pub safe: L2BlockRef,
    /// `finalized`.
    pub finalized: L2BlockRef,
}

/// The header facts of an L2 block read from the engine: what the SystemConfig in force after it is reconstructed
/// from (op-node `PayloadToSystemConfig`: gas limit, extraData with Holocene's EIP-1559 parameters and Jovian's
/// minimum base fee, the input of its L1 info deposit), and what derived attributes are compared with
/// (op-node `AttributesMatchBlock`: parent, time, prevRandao, fee recipient, the transactions by their root,
/// withdrawals, parent beacon block root).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct L2Header {
    /// Block hash (identifies which block these facts belong to).
    pub hash: B256,
    /// Parent hash.
    pub parent_hash: B256,
    /// Timestamp (seconds).
    pub timestamp: u64,
    /// `mixHash` (the attributes' prevRandao).
    pub prev_randao: B256,
    /// `miner` (the attributes' suggested fee recipient).
    pub fee_recipient: alloy_primitives::Address,
    /// Header gas limit.
    pub gas_limit: u64,
    /// Header extraData.
    pub extra_data: alloy_primitives::Bytes,
    /// Root of the block's transactions.
    pub transactions_root: B256,
    /// `withdrawalsRoot` (Canyon on).
    pub withdrawals_root: Option<B256>,
    /// `parentBeaconBlockRoot` (Ecotone on).
    pub parent_beacon_block_root: Option<B256>,
    /// Calldata of the first transaction (the L1 info deposit); `None` for a block without transactions.
    pub l1_info_input: Option<alloy_primitives::Bytes>,
}

/// What derivation reads of one L1 block: its header, its receipts (SystemConfig updates, deposits) and its
/// transactions (batcher data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L1Data {
    /// The block (hash checked by the driver as for every L1 block).
    pub block: L1Block,
    /// Every receipt, in transaction order.
    pub receipts: Arc<Vec<alloy_consensus::Receipt>>,
    /// Every transaction, in block order.
    pub txs: Arc<Vec<alloy_consensus::TxEnvelope>>,
}

/// A successful engine API answer. Which variant is expected depends on the command that was sent.
#[derive(Clone, Debug, PartialEq)]
pub enum EngineReply {
    /// Answer to `engine_forkchoiceUpdated`.
    ForkchoiceUpdated {
        /// Payload status of the new head.
        status: PayloadStatusEnum,
        /// Present when attributes were sent and the engine started a build.
        payload_id: Option<PayloadId>,
    },
    /// Answer to `engine_getPayload`.
    PayloadFetched(Arc<OpExecutionPayloadEnvelope>),
    /// Answer to `engine_newPayload`.
    PayloadInserted {
        /// Validation result.
        status: PayloadStatusEnum,
    },
}

/// A successful conductor answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConductorReply {
    /// Answer to `conductor_leader`.
    Leader(bool),
    /// `conductor_commitUnsafePayload` succeeded.
    Committed,
}

/// RPC methods of the node that the core answers (admin and status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RpcRequest {
    /// `admin_startSequencer(hash)`.
    StartSequencer(B256),
    /// `admin_stopSequencer()`.
    StopSequencer,
    /// `admin_sequencerActive()`.
    SequencerActive,
    /// `admin_setRecoverMode(bool)`.
    SetRecoverMode(bool),
    /// `admin_conductorEnabled()`.
    ConductorEnabled,
    /// `admin_overrideLeader()`.
    OverrideLeader,
    /// `optimism_syncStatus()`.
    SyncStatus,
    /// `optimism_safeHeadAtL1Block(number)`: the safe head derived from L1 up to that block.
    SafeHeadAtL1Block(u64),
    /// `admin_resetDerivationPipeline()`: restart derivation from the safe head.
    ResetDerivationPipeline,
    /// `admin_postUnsafePayload(envelope)`: a block built elsewhere (the conductor catching this node up) to insert
    /// when it extends the unsafe head.
    PostUnsafePayload(Arc<OpExecutionPayloadEnvelope>),
}

/// The node's view of sync progress, as `optimism_syncStatus` reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// L1 block the node is at (the unsafe head's origin when known).
    pub current_l1: Option<L1BlockRef>,
    /// Latest finalized L1 block.
    pub current_l1_finalized: Option<L1BlockRef>,
    /// Latest L1 block.
    pub head_l1: Option<L1BlockRef>,
    /// L1's `safe` block.
    pub safe_l1: Option<L1BlockRef>,
    /// Latest finalized L1 block.
    pub finalized_l1: Option<L1BlockRef>,
    /// Unsafe L2 head.
    pub unsafe_l2: Option<L2BlockRef>,
    /// Safe L2 head.
    pub safe_l2: Option<L2BlockRef>,
    /// The last block derived (safe once its batch is fully applied; the same as `safe_l2` here).
    pub pending_safe_l2: Option<L2BlockRef>,
    /// Finalized L2 head.
    pub finalized_l2: Option<L2BlockRef>,
}

/// A successful answer to an [`RpcRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RpcReply {
    /// JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A block hash.
    Hash(B256),
    /// Sync status.
    SyncStatus(Box<SyncStatus>),
    /// Answer to `optimism_safeHeadAtL1Block`.
    SafeHeadAtL1 {
        /// The L1 block the safe head was derived at (at or below the one asked for).
        l1: alloy_eips::BlockNumHash,
        /// The safe head then.
        safe: alloy_eips::BlockNumHash,
    },
}

/// A failed answer to an [`RpcRequest`]: JSON-RPC code plus op-node's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcFailure {
    /// JSON-RPC error code.
    pub code: i64,
    /// Human-readable message (op-node's text where op-conductor matches it).
    pub message: String,
}

/// Code op-node's RPC server uses for errors returned by a method.
pub const RPC_SERVER_ERROR: i64 = -32000;
/// JSON-RPC: the body is not valid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: not a request object (or a batch too large, a body too large).
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC: unknown method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC: bad parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC: the server failed to produce an answer.
pub const INTERNAL_ERROR: i64 = -32603;

impl RpcFailure {
    /// A failure with `code`.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// A method error with op-node's generic server-error code.
    pub fn server(message: impl Into<String>) -> Self {
        Self::new(RPC_SERVER_ERROR, message)
    }

    /// Bad parameters.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }

    /// geth's answer for a method it does not serve.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(METHOD_NOT_FOUND, format!("the method {method} does not exist/is not available"))
    }
}

/// Something that happened. Names are past tense.
// Events are moved, not stored in bulk; boxing the three heads of `L2HeadsFetched` would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Graceful shutdown, a control event from the driver (SIGINT / SIGTERM), not an RPC: like `StopSequencer`, but
    /// a block being built is sealed at once and inserted instead of discarded. [`crate::Node::shutdown_settled`]
    /// turns `Some(unsafe head hash)` once nothing is in flight.
    ShutdownRequested,
    /// A block arrived over p2p gossip, already checked by the gossip validator (signer, hash, time window, version
    /// fields): imported like `admin_postUnsafePayload` when it extends the unsafe head.
    UnsafePayloadGossiped(Arc<OpExecutionPayloadEnvelope>),
    /// A new L1 head was observed (polling or subscription).
    L1HeadObserved(L1BlockRef),
    /// A new finalized L1 block was observed.
    L1FinalizedObserved(L1BlockRef),
    /// A new safe (justified) L1 block was observed.
    L1SafeObserved(L1BlockRef),
    /// The safe L2 head moved (derivation, or another source until derivation exists).
    SafeHeadObserved(L2BlockRef),
    /// The finalized L2 head moved.
    FinalizedHeadObserved(L2BlockRef),
    /// Answer to `FetchL1BlockByHash` / `FetchL1BlockByNumber`; `None` = no such block.
    L1BlockFetched {
        /// Echoed request id.
        id: RequestId,
        /// The block, if the L1 node has it.
        block: Option<L1Block>,
    },
    /// Answer to `FetchL1Receipts`: every receipt of the block, in transaction order.
    L1ReceiptsFetched {
        /// Echoed request id.
        id: RequestId,
        /// The receipts (shared; they can be large).
        receipts: Arc<Vec<alloy_consensus::Receipt>>,
    },
    /// Answer to `FetchL1Data`; `None` = L1 has no block at that height (yet).
    L1DataFetched {
        /// Echoed request id.
        id: RequestId,
        /// The block's header, receipts and transactions.
        data: Option<Box<L1Data>>,
    },
    /// Answer to `FetchBlobs`: the blobs asked for, in the order asked, each checked by the driver against its
    /// versioned hash.
    BlobsFetched {
        /// Echoed request id.
        id: RequestId,
        /// The blobs (131,072 bytes each).
        blobs: Vec<alloy_primitives::Bytes>,
    },
    /// Answer to `FetchL2Heads`.
    L2HeadsFetched {
        /// Echoed request id.
        id: RequestId,
        /// The engine's heads.
        heads: EngineHeads,
    },
    /// Answer to `FetchL2Header`; `None` = the engine has no such block.
    L2HeaderFetched {
        /// Echoed request id.
        id: RequestId,
        /// The facts, if present.
        header: Option<L2Header>,
    },
    /// Answer to `FetchL2BlockByNumber`; `None` = the engine has no such block.
    L2BlockFetched {
        /// Echoed request id.
        id: RequestId,
        /// The block, if present.
        block: Option<L2BlockRef>,
    },
    /// Answer to an engine API command.
    EngineResponded {
        /// Echoed request id.
        id: RequestId,
        /// The answer.
        reply: EngineReply,
    },
    /// Answer to a conductor command.
    ConductorResponded {
        /// Echoed request id.
        id: RequestId,
        /// The answer.
        reply: ConductorReply,
    },
    /// Any request failed (L1, L2 engine, or conductor): the id says which.
    RequestFailed {
        /// Echoed request id.
        id: RequestId,
        /// What went wrong.
        error: RpcError,
    },
    /// An RPC call to the node arrived.
    RpcRequested {
        /// Id to answer with `Command::Reply`.
        reply_to: ReplyTo,
        /// The call.
        request: RpcRequest,
    },
}

/// The endpoint a [`Command`] is for ([`Command::target`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// The L1 execution RPC.
    L1,
    /// The L1 execution RPC, for derivation (its own worker in the shell).
    Derivation,
    /// The L1 beacon node (blobs).
    Beacon,
    /// The L2 execution engine (Engine API and eth reads).
    Engine,
    /// op-conductor.
    Conductor,
    /// Whoever receives sealed blocks (static followers today, gossip later).
    Followers,
    /// The caller of a JSON-RPC method waiting for its answer.
    Rpc,
}

impl Target {
    /// Lower-case name for logs and errors.
    pub const fn name(self) -> &'static str {
        match self {
            Self::L1 => "L1",
            Self::Derivation => "derivation",
            Self::Beacon => "L1 beacon",
            Self::Engine => "engine",
            Self::Conductor => "conductor",
            Self::Followers => "followers",
            Self::Rpc => "rpc",
        }
    }
}

/// Something the driver must do. Names are imperative.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `eth_getBlockByHash` on L1.
    FetchL1BlockByHash {
        /// Request id.
        id: RequestId,
        /// Block hash.
        hash: B256,
    },
    /// `eth_getBlockByNumber` on L1 (the core applies the confirmation depth before asking).
    FetchL1BlockByNumber {
        /// Request id.
        id: RequestId,
        /// Block number.
        number: u64,
    },
    /// `eth_getBlockReceipts` on L1: deposits and SystemConfig updates of an epoch's origin.
    FetchL1Receipts {
        /// Request id.
        id: RequestId,
        /// Block hash.
        hash: B256,
    },
    /// Derivation: L1 block `number` with its receipts and transactions (`eth_getBlockByNumber(_, true)`,
    /// `eth_getBlockReceipts`). Served apart from the sequencer's L1 reads, so a slow one stalls derivation only.
    FetchL1Data {
        /// Request id.
        id: RequestId,
        /// Block number.
        number: u64,
    },
    /// Derivation: the blobs of L1 block `block` with these indices (among the block's blobs) and versioned hashes,
    /// from the beacon node (`/eth/v1/beacon/blob_sidecars/{slot}`). The driver checks every blob's KZG commitment
    /// against its versioned hash; a missing or mismatching blob fails the request.
    FetchBlobs {
        /// Request id.
        id: RequestId,
        /// The L1 block (its timestamp gives the beacon slot).
        block: L1BlockRef,
        /// (index, versioned hash) of each blob, in the order the answer must have.
        blobs: Vec<(u64, B256)>,
    },
    /// Read the engine's `latest`, `safe` and `finalized` L2 blocks.
    FetchL2Heads {
        /// Request id.
        id: RequestId,
    },
    /// Read the header facts of one L2 block from the engine by number (to reconstruct its SystemConfig).
    FetchL2Header {
        /// Request id.
        id: RequestId,
        /// Block number.
        number: u64,
    },
    /// Read one L2 block from the engine by number.
    FetchL2BlockByNumber {
        /// Request id.
        id: RequestId,
        /// Block number.
        number: u64,
    },
    /// `engine_forkchoiceUpdatedVx`, with attributes to start a build.
    ForkchoiceUpdate {
        /// Request id.
        id: RequestId,
        /// Method version.
        version: EngineVersion,
        /// Head / safe / finalized hashes.
        state: ForkchoiceState,
        /// Payload attributes; `None` only moves the forkchoice.
        attributes: Option<Box<Attributes>>,
    },
    /// `engine_getPayloadVx`.
    GetPayload {
        /// Request id.
        id: RequestId,
        /// Method version.
        version: EngineVersion,
        /// The build to seal.
        payload_id: PayloadId,
    },
    /// `engine_newPayloadVx`.
    NewPayload {
        /// Request id.
        id: RequestId,
        /// Method version.
        version: EngineVersion,
        /// The sealed payload.
        envelope: Arc<OpExecutionPayloadEnvelope>,
    },
    /// `conductor_leader`.
    CheckLeader {
        /// Request id.
        id: RequestId,
    },
    /// `conductor_commitUnsafePayload`.
    CommitToConductor {
        /// Request id.
        id: RequestId,
        /// The sealed payload.
        envelope: Arc<OpExecutionPayloadEnvelope>,
    },
    /// Hand a sealed, committed and inserted block to followers (gossip / static peers). Fire and forget.
    Publish {
        /// The block.
        envelope: Arc<OpExecutionPayloadEnvelope>,
    },
    /// Answer an incoming RPC call.
    Reply {
        /// The call being answered.
        reply_to: ReplyTo,
        /// The answer.
        result: Result<RpcReply, RpcFailure>,
    },
}

impl Command {
    /// Which endpoint serves this command.
    pub fn target(&self) -> Target {
        match self {
            Self::FetchL1BlockByHash { .. } | Self::FetchL1BlockByNumber { .. } | Self::FetchL1Receipts { .. } => {
                Target::L1
            }
            Self::FetchL1Data { .. } => Target::Derivation,
            Self::FetchBlobs { .. } => Target::Beacon,
            Self::FetchL2Heads { .. }
            | Self::FetchL2BlockByNumber { .. }
            | Self::FetchL2Header { .. }
            | Self::ForkchoiceUpdate { .. }
            | Self::GetPayload { .. }
            | Self::NewPayload { .. } => Target::Engine,
            Self::CheckLeader { .. } | Self::CommitToConductor { .. } => Target::Conductor,
            Self::Publish { .. } => Target::Followers,
            Self::Reply { .. } => Target::Rpc,
        }
    }

    /// The request id, for commands that expect an answer.
    pub fn request_id(&self) -> Option<RequestId> {
        match self {
            Self::FetchL1BlockByHash { id, .. }
            | Self::FetchL1BlockByNumber { id, .. }
            | Self::FetchL1Receipts { id, .. }
            | Self::FetchL1Data { id, .. }
            | Self::FetchBlobs { id, .. }
            | Self::FetchL2Heads { id }
            | Self::FetchL2BlockByNumber { id, .. }
            | Self::FetchL2Header { id, .. }
            | Self::ForkchoiceUpdate { id, .. }
            | Self::GetPayload { id, .. }
            | Self::NewPayload { id, .. }
            | Self::CheckLeader { id }
            | Self::CommitToConductor { id, .. } => Some(*id),
            Self::Publish { .. } | Self::Reply { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_route_to_their_endpoint() {
        let id = RequestId(1);
        let cases = [
            (Command::FetchL1BlockByNumber { id, number: 1 }, Target::L1),
            (Command::FetchL1BlockByHash { id, hash: Default::default() }, Target::L1),
            (Command::FetchL2Heads { id }, Target::Engine),
            (Command::FetchL2BlockByNumber { id, number: 1 }, Target::Engine),
            (Command::CheckLeader { id }, Target::Conductor),
            (Command::Reply { reply_to: ReplyTo(1), result: Ok(RpcReply::Null) }, Target::Rpc),
        ];
        for (cmd, target) in cases {
            assert_eq!(cmd.target(), target, "{cmd:?}");
            assert_eq!(cmd.request_id().is_some(), target != Target::Rpc);
        }
    }
}
