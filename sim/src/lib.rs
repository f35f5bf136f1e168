//! # keel-sim
//!
//! A deterministic world for `keel-core`: an L1 chain with reorgs and stalls, an OP engine model, a conductor, and a
//! runner that owns virtual time and every in-flight request. One `u64` seed decides every latency, hash and
//! mempool; the same seed yields the same trace hash. No threads, no clock, no sockets.

#![warn(missing_docs)]

pub mod batcher;
pub mod conductor;
pub mod custom;
pub mod engine;
pub mod l1;
pub mod rng;
pub mod scenario;
pub mod world;

pub use world::{CallKind, Fault, FaultRates, Member, Sim, SimConfig};
