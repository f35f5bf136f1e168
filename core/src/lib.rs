//! # keel-core
//!
//! The deterministic heart of Keel: an OP Stack sequencer as a pure state machine. Events go in, commands come out;
//! time is a parameter. The same value is driven by the `keel` binary (real networks), the simulator (a seeded
//! world) and the fuzzer (generated fault schedules).
//!
//! ```text
//! node.handle_event(now, Event::…);              // a response, an observation, an RPC call
//! node.handle_timeout(now);                      // the deadline from poll_timeout() passed
//! while let Some(cmd) = node.poll_command() {}   // RPC calls to make, replies to send, blocks to publish
//! node.poll_timeout();                           // when to wake the node next
//! ```
//!
//! Each protocol rule lives in its own module as pure functions with table tests: [`origin`] (L1 origin selection),
//! [`attributes`] (payload attributes), [`engine`] (engine API versions and error classes), [`control`] (admin
//! start/stop and max-safe-lag), [`timing`] (build and seal deadlines). [`node`] sequences them.

#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod attributes;
pub mod backoff;
pub mod blob_fee;
pub mod config;
pub mod control;
pub mod deposits;
pub mod derive;
pub mod engine;
pub mod invariants;
pub mod io;
pub mod l1_info;
pub mod node;
pub mod origin;
pub mod payload;
pub mod rollup;
pub mod system_config;
pub mod timing;
pub mod types;
pub mod upgrades;

pub use attributes::Attributes;
pub use config::{Config, ConfigError, SequencerConfig};
pub use io::{
    Command, ConductorReply, EngineHeads, EngineReply, EngineVersion, Event, L1Data, L2Header, RpcError, RpcFailure,
    RpcReply, RpcRequest, SyncStatus, Target,
};
pub use node::{BlockReport, InvariantViolation, Node, Sabotage, Stats};
pub use rollup::{ForkError, Rollup, SUPPORTED_FORKS};
pub use types::{ms, secs, Heads, L1Block, L1BlockRef, L2BlockRef, ReplyTo, RequestId, UnixMs};

/// Re-exported so drivers build the same types the core consumes.
pub use alloy_consensus::Header;
pub use alloy_primitives::{B256, B64};
pub use alloy_rpc_types_engine::{ForkchoiceState, PayloadId, PayloadStatusEnum};
pub use kona_genesis::RollupConfig;
pub use op_alloy_rpc_types_engine::{OpExecutionPayloadEnvelope, OpPayloadAttributes};
/// The SystemConfig the node builds with (Keel's, with the Jovian fields); kona's `kona_genesis::SystemConfig` appears only
/// as the rollup config's genesis field and converts with `From`.
pub use system_config::SystemConfig;
