//! Engine API rules: method versions by fork, and how each answer of each lifecycle step is classified
//! (op-node `rollup/types.go`, `engine/build_start.go`, `sequencing/sequencer.go`).
//!
//! The lifecycle itself (FCU with attributes → getPayload → conductor commit → newPayload → FCU) is sequenced by
//! the state machine in `node/`; this module only says what an answer means.

use crate::io::{EngineVersion, RpcError};
use crate::rollup::Rollup;
use crate::types::L2BlockRef;
use alloy_primitives::B256;
use alloy_rpc_types_engine::{PayloadId, PayloadStatusEnum};
use kona_genesis::RollupConfig;
use op_alloy_rpc_types_engine::OpExecutionPayloadEnvelope;

/// Retry delay after a temporary failure (op-node: 1 s). Consecutive failures double it up to
/// [`MAX_TEMPORARY_BACKOFF_MS`].
pub const TEMPORARY_RETRY_MS: u64 = 1_000;
/// Retry delay while the engine reports SYNCING (op-node: 30 s).
pub const SYNCING_RETRY_MS: u64 = 30_000;
/// Upper bound of the temporary-error backoff.
pub const MAX_TEMPORARY_BACKOFF_MS: u64 = 10_000;

/// `engine_forkchoiceUpdated`: invalid forkchoice state.
pub const INVALID_FORKCHOICE_STATE: i64 = -38002;
/// `engine_forkchoiceUpdated`: invalid payload attributes.
pub const INVALID_PAYLOAD_ATTRIBUTES: i64 = -38003;
/// `engine_getPayload`: unknown payload id.
pub const UNKNOWN_PAYLOAD: i64 = -38001;

/// Engine-specific JSON-RPC error codes occupy `(-38100, -38000]`.
pub fn is_engine_error_code(code: i64) -> bool {
    code <= -38000 && code > -38100
}

/// `engine_forkchoiceUpdated` version: V3 from Ecotone, V2 from Canyon, V1 before; V3 without attributes.
pub fn forkchoice_version(rollup: &RollupConfig, attributes_timestamp: Option<u64>) -> EngineVersion {
    match attributes_timestamp {
        None => EngineVersion::V3,
        Some(ts) if rollup.is_ecotone_active(ts) => EngineVersion::V3,
        Some(ts) if rollup.is_canyon_active(ts) => EngineVersion::V2,
        Some(_) => EngineVersion::V1,
    }
}

/// `engine_getPayload` version: V5 from Karst (Osaka; same envelope as V4), V4 from Isthmus, V3 from Ecotone, V2
/// before (op-node `GetPayloadVersion`).
pub fn get_payload_version(rollup: &Rollup, timestamp: u64) -> EngineVersion {
    if rollup.is_karst_active(timestamp) {
        EngineVersion::V5
    } else if rollup.is_isthmus_active(timestamp) {
        EngineVersion::V4
    } else if rollup.is_ecotone_active(timestamp) {
        EngineVersion::V3
    } else {
        EngineVersion::V2
    }
}

/// `engine_newPayload` version: V4 from Isthmus (Karst keeps it), V3 from Ecotone, V2 before (op-node
/// `NewPayloadVersion`).
pub fn new_payload_version(rollup: &RollupConfig, timestamp: u64) -> EngineVersion {
    if rollup.is_isthmus_active(timestamp) {
        EngineVersion::V4
    } else if rollup.is_ecotone_active(timestamp) {
        EngineVersion::V3
    } else {
        EngineVersion::V2
    }
}

/// What the state machine does with a failed or unexpected engine answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The engine's view of the chain differs from ours: re-read heads and start over.
    Reset(String),
    /// Retry the same step after a delay.
    Retry {
        /// Base delay before retrying.
        base_delay_ms: u64,
        /// What failed.
        reason: String,
    },
    /// Discard the block being built; start a fresh build one block time later.
    Drop(String),
    /// Sequencing cannot continue safely: stop and say so loudly; keep serving RPC.
    Critical(String),
}

fn temporary(reason: String) -> Verdict {
    Verdict::Retry { base_delay_ms: TEMPORARY_RETRY_MS, reason }
}

/// An answer of the wrong kind for the call (a driver bug or a confused endpoint): retry the step.
pub fn unexpected_reply(method: &str, reply: &crate::io::EngineReply) -> Verdict {
    temporary(format!("{method} answered with {reply:?}"))
}

/// Classifies a failed `engine_forkchoiceUpdated` that carried attributes.
pub fn classify_start_error(err: &RpcError, parent: &L2BlockRef) -> Verdict {
    let ctx = format!("engine_forkchoiceUpdated with attributes on parent {parent}");
    match err {
        RpcError::Rpc { code, message } if *code == INVALID_PAYLOAD_ATTRIBUTES => Verdict::Critical(format!(
            "{ctx}: engine rejected deposit-only payload attributes (code {code}): {message}"
        )),
        RpcError::Rpc { code, message } if is_engine_error_code(*code) => {
            Verdict::Reset(format!("{ctx}: engine error {code}: {message}"))
        }
        other => temporary(format!("{ctx}: {other}")),
    }
}

/// Classifies the status of a successful `engine_forkchoiceUpdated` that carried attributes.
pub fn classify_start_status(
    status: &PayloadStatusEnum,
    payload_id: Option<PayloadId>,
    parent: &L2BlockRef,
) -> Result<PayloadId, Verdict> {
    let ctx = format!("engine_forkchoiceUpdated with attributes on parent {parent}");
    match (status, payload_id) {
        (PayloadStatusEnum::Valid, Some(id)) => Ok(id),
        (PayloadStatusEnum::Valid, None) => Err(temporary(format!("{ctx}: VALID but no payloadId"))),
        (PayloadStatusEnum::Invalid { validation_error }, _) => {
            Err(Verdict::Critical(format!("{ctx}: INVALID: {validation_error}")))
        }
        (PayloadStatusEnum::Syncing, _) => {
            Err(Verdict::Retry { base_delay_ms: SYNCING_RETRY_MS, reason: format!("{ctx}: engine is syncing") })
        }
        (PayloadStatusEnum::Accepted, _) => Err(temporary(format!("{ctx}: unexpected status ACCEPTED"))),
    }
}

/// Classifies a failed `engine_getPayload`: the build is gone; build again one block time later.
pub fn classify_seal_error(err: &RpcError, payload_id: PayloadId) -> Verdict {
    Verdict::Drop(format!("failed to seal execution payload (ID: {payload_id}): {err}"))
}

/// Checks that a sealed payload is the block that was asked for.
pub fn check_sealed(envelope: &OpExecutionPayloadEnvelope, parent: &L2BlockRef, timestamp: u64) -> Result<(), Verdict> {
    let p = &envelope.execution_payload;
    let mut problems = Vec::new();
    if p.parent_hash() != parent.hash {
        problems.push(format!("parent hash {:#x}, expected {:#x}", p.parent_hash(), parent.hash));
    }
    if p.block_number() != parent.number + 1 {
        problems.push(format!("number {}, expected {}", p.block_number(), parent.number + 1));
    }
    if p.timestamp() != timestamp {
        problems.push(format!("timestamp {}, expected {}", p.timestamp(), timestamp));
    }
    if p.block_hash() == B256::ZERO {
        problems.push("zero block hash".to_string());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Verdict::Drop(format!("engine_getPayload returned the wrong block: {}", problems.join(", "))))
    }
}

/// Classifies a failed `engine_newPayload` of our own sealed block.
pub fn classify_insert_error(err: &RpcError, block: &L2BlockRef) -> Verdict {
    let ctx = format!("engine_newPayload of sealed block {block}");
    match err {
        RpcError::Rpc { code, message } if *code == INVALID_FORKCHOICE_STATE => {
            Verdict::Reset(format!("{ctx}: engine error {code}: {message}"))
        }
        other => temporary(format!("failed to insert execution payload: {ctx}: {other}")),
    }
}

/// Classifies the status of `engine_newPayload` of our own sealed block.
pub fn classify_insert_status(status: &PayloadStatusEnum, block: &L2BlockRef) -> Result<(), Verdict> {
    let ctx = format!("engine_newPayload of sealed block {block}");
    match status {
        PayloadStatusEnum::Valid => Ok(()),
        PayloadStatusEnum::Invalid { validation_error } => {
            Err(Verdict::Drop(format!("{ctx}: INVALID: {validation_error}")))
        }
        PayloadStatusEnum::Syncing | PayloadStatusEnum::Accepted => {
            Err(temporary(format!("{ctx}: status {}", status.as_str())))
        }
    }
}

/// Classifies a failed `engine_forkchoiceUpdated` without attributes (head update or reset).
pub fn classify_update_error(err: &RpcError, head: &L2BlockRef) -> Verdict {
    let ctx = format!("engine_forkchoiceUpdated to head {head}");
    match err {
        RpcError::Rpc { code, message } if *code == INVALID_FORKCHOICE_STATE => {
            Verdict::Reset(format!("{ctx}: engine error {code}: {message}"))
        }
        other => temporary(format!("{ctx}: {other}")),
    }
}

/// Classifies the status of `engine_forkchoiceUpdated` without attributes.
pub fn classify_update_status(status: &PayloadStatusEnum, head: &L2BlockRef) -> Result<(), Verdict> {
    let ctx = format!("engine_forkchoiceUpdated to head {head}");
    match status {
        PayloadStatusEnum::Valid => Ok(()),
        PayloadStatusEnum::Invalid { validation_error } => {
            Err(Verdict::Reset(format!("{ctx}: INVALID: {validation_error}")))
        }
        PayloadStatusEnum::Syncing | PayloadStatusEnum::Accepted => {
            Err(temporary(format!("{ctx}: status {}", status.as_str())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent() -> L2BlockRef {
        L2BlockRef {
            hash: B256::repeat_byte(1),
            number: 7,
            parent_hash: B256::repeat_byte(2),
            time_ms: 14_000,
            l1_origin: Default::default(),
            seq_num: 0,
        }
    }

    fn rpc(code: i64) -> RpcError {
        RpcError::Rpc { code, message: "x".into() }
    }

    fn kind(v: &Verdict) -> &'static str {
        match v {
            Verdict::Reset(_) => "reset",
            Verdict::Retry { base_delay_ms: SYNCING_RETRY_MS, .. } => "syncing",
            Verdict::Retry { base_delay_ms: TEMPORARY_RETRY_MS, .. } => "temporary",
            Verdict::Retry { .. } => "retry?",
            Verdict::Drop(_) => "drop",
            Verdict::Critical(_) => "critical",
        }
    }

    #[test]
    fn start_error_classes() {
        let p = parent();
        let table = [
            (rpc(-38002), "reset"),
            (rpc(-38003), "critical"),
            (rpc(-38005), "reset"),
            (rpc(-38001), "reset"),
            (rpc(-38099), "reset"),
            (rpc(-38100), "temporary"),
            (rpc(-32000), "temporary"),
            (rpc(-32602), "temporary"),
            (RpcError::Transport("connection refused".into()), "temporary"),
            (RpcError::Timeout, "temporary"),
        ];
        for (err, want) in table {
            assert_eq!(kind(&classify_start_error(&err, &p)), want, "{err}");
        }
    }

    #[test]
    fn start_status_classes() {
        let p = parent();
        let id = PayloadId::new([1; 8]);
        assert_eq!(classify_start_status(&PayloadStatusEnum::Valid, Some(id), &p), Ok(id));
        let inv = PayloadStatusEnum::Invalid { validation_error: "bad".into() };
        let table = [
            (PayloadStatusEnum::Valid, None, "temporary"),
            (inv, Some(id), "critical"),
            (PayloadStatusEnum::Syncing, None, "syncing"),
            (PayloadStatusEnum::Accepted, Some(id), "temporary"),
        ];
        for (status, pid, want) in table {
            let v = classify_start_status(&status, pid, &p).unwrap_err();
            assert_eq!(kind(&v), want, "{status:?}");
        }
    }

    #[test]
    fn seal_insert_update_classes() {
        let p = parent();
        assert_eq!(kind(&classify_seal_error(&RpcError::Timeout, PayloadId::new([0; 8]))), "drop");
        assert_eq!(kind(&classify_seal_error(&rpc(-38001), PayloadId::new([0; 8]))), "drop");
        assert_eq!(kind(&classify_insert_error(&rpc(-38002), &p)), "reset", "-38002 during seal is a reset");
        assert_eq!(kind(&classify_insert_error(&rpc(-32000), &p)), "temporary");
        assert_eq!(kind(&classify_insert_error(&RpcError::Timeout, &p)), "temporary");
        let inv = PayloadStatusEnum::Invalid { validation_error: "bad".into() };
        assert_eq!(kind(&classify_insert_status(&inv, &p).unwrap_err()), "drop");
        assert_eq!(kind(&classify_insert_status(&PayloadStatusEnum::Syncing, &p).unwrap_err()), "temporary");
        assert!(classify_insert_status(&PayloadStatusEnum::Valid, &p).is_ok());
        assert_eq!(kind(&classify_update_error(&rpc(-38002), &p)), "reset");
        assert_eq!(kind(&classify_update_error(&rpc(-38003), &p)), "temporary");
        assert_eq!(kind(&classify_update_status(&inv, &p).unwrap_err()), "reset");
    }

    #[test]
    fn versions_by_fork() {
        let mut cfg = RollupConfig::default();
        cfg.hardforks.canyon_time = Some(100);
        cfg.hardforks.delta_time = Some(100);
        cfg.hardforks.ecotone_time = Some(200);
        cfg.hardforks.fjord_time = Some(200);
        cfg.hardforks.granite_time = Some(200);
        cfg.hardforks.holocene_time = Some(200);
        cfg.hardforks.isthmus_time = Some(300);
        cfg.hardforks.regolith_time = Some(0);
        cfg.hardforks.jovian_time = Some(400);
        let cfg = Rollup { karst_time: Some(500), ..Rollup::from(cfg) };
        use EngineVersion::*;
        assert_eq!(forkchoice_version(&cfg, Some(99)), V1);
        assert_eq!(forkchoice_version(&cfg, Some(100)), V2);
        assert_eq!(forkchoice_version(&cfg, Some(200)), V3);
        assert_eq!(forkchoice_version(&cfg, None), V3);
        assert_eq!(get_payload_version(&cfg, 199), V2);
        assert_eq!(get_payload_version(&cfg, 200), V3);
        assert_eq!(get_payload_version(&cfg, 300), V4);
        assert_eq!(new_payload_version(&cfg, 299), V3);
        assert_eq!(new_payload_version(&cfg, 300), V4);
        assert_eq!(get_payload_version(&cfg, 498), V4);
        assert_eq!(get_payload_version(&cfg, 500), V5, "getPayloadV5 from the Karst timestamp");
        assert_eq!(new_payload_version(&cfg, 500), V4, "newPayload stays V4 after Karst");
        assert_eq!(forkchoice_version(&cfg, Some(500)), V3);
    }
}
