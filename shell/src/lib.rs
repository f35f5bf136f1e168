//! # keel-shell
//!
//! Drives `keel-core` against real networks: worker threads per endpoint (L1, engine with JWT, conductor,
//! followers), a driver loop that owns the core, a JSON-RPC server, Prometheus metrics, and the `keel` CLI.
//!
//! With the `devnet` feature it also carries the test machinery: fake L1, engine and conductor servers over the
//! simulator's world models (`fake`), `keel devnet` (`devnet`) and the op-geth/anvil harness (`interop`).

#![warn(missing_docs)]

pub mod admin_state;
pub mod beacon;
pub mod builder;
pub mod cli;
pub mod codec;
#[cfg(feature = "devnet")]
pub mod devnet;
pub mod discovery;
pub mod driver;
#[cfg(feature = "devnet")]
pub mod fake;
pub mod gossip;
#[cfg(feature = "devnet")]
pub mod interop;
pub mod jsonrpc;
pub mod jwt;
pub mod l1_chain_config;
pub mod metrics;
pub mod p2p;
pub mod registry;
pub mod rollup_json;
pub mod rpc;
pub mod server;
pub mod workers;
