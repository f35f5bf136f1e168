//! A chain with its own consensus rule, plugged into Keel through the attributes builder seam: every block carries
//! one extra deposit after the L1 info deposit, tagging it with its number.
//!
//! ```sh
//! cargo run -p keel-shell --features devnet --example tagged_deposits -- 6
//! ```
//!
//! It runs a live sequencer against the devnet's simulated L1 and engine (as `keel devnet` does), with the batcher
//! model posting the blocks to L1 and the node deriving them back. Because the node derives with the same builder
//! it sequences with, its safe head moves over the tagged blocks; a node deriving this chain with the protocol's
//! builder would derive blocks without the tag and replace them (keel-sim's `custom_attributes` test shows that).
//! `cargo test` runs it too (`test = true`).

use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{address, keccak256, Address, Bytes, TxKind, U256};
use keel_core::attributes::{self, Attributes, AttributesBuilder, AttributesError, AttributesInput};
use keel_shell::builder::{NodeMode, RollupNode, RollupNodeService, SequencerConfig};
use keel_shell::fake::{FakeWorld, FakeWorldConfig};
use op_alloy_consensus::{OpTxEnvelope, TxDeposit};
use std::time::{Duration, Instant};

/// Receives the tag deposits (an address no contract lives at; the deposit only records the tag in the chain).
const TAG_TO: Address = address!("0x7a97a97a97a97a97a97a97a97a97a97a97a97a90");
/// Their sender.
const TAG_FROM: Address = address!("0x7a90000000000000000000000000000000000001");

/// The protocol's attributes plus the tag deposit.
#[derive(Debug)]
struct BlockTagger;

impl BlockTagger {
    fn tag(number: u64, parent: alloy_primitives::B256) -> Bytes {
        TxDeposit {
            // A deposit's source hash must be unique: derive it from the parent, which only this block has.
            source_hash: keccak256([b"tagged-deposits-example".as_slice(), parent.as_slice()].concat()),
            from: TAG_FROM,
            to: TxKind::Call(TAG_TO),
            mint: 0,
            value: U256::ZERO,
            gas_limit: 30_000,
            is_system_transaction: false,
            input: Bytes::from(format!("block {number}").into_bytes()),
        }
        .encoded_2718()
        .into()
    }
}

impl AttributesBuilder for BlockTagger {
    fn prepare_payload_attributes(&self, input: &AttributesInput<'_>) -> Result<Attributes, AttributesError> {
        let mut attrs = attributes::build(input)?;
        let tag = Self::tag(input.parent.number + 1, input.parent.hash);
        attrs.op.transactions.get_or_insert_with(Vec::new).insert(1, tag);
        Ok(attrs)
    }
}

/// The tag of a block's second transaction, if it has one.
fn tag_of(txs: &[Bytes]) -> Option<String> {
    let tx = OpTxEnvelope::decode_2718(&mut txs.get(1)?.as_ref()).ok()?;
    let d = tx.as_deposit()?;
    (d.from == TAG_FROM && d.to == TxKind::Call(TAG_TO)).then(|| String::from_utf8_lossy(&d.input).into_owned())
}

/// Sequences `blocks` tagged blocks, then waits until the node has derived `safe_target` of them as safe. Returns
/// the tagged blocks seen and the safe head reached, after checking that the engine's chain up to the safe head is
/// still the tagged one (a derived block that differed would have replaced it).
fn run(blocks: u64, safe_target: u64) -> Result<(u64, u64), Box<dyn std::error::Error>> {
    let jwt = keel_shell::jwt::JwtSecret::random()?;
    let mut cfg = FakeWorldConfig::new(jwt.clone());
    cfg.block_time_ms = 1_000;
    cfg.l1_block_time_s = 1;
    let world = FakeWorld::start(cfg)?;
    let node = RollupNode::builder(world.rollup_config())
        .with_mode(NodeMode::Sequencer)
        .with_sequencer_config(SequencerConfig { l1_confs: 0, ..Default::default() })
        .with_attributes_builder(BlockTagger)
        .with_l1_provider_rpc_url(world.l1_url())
        .with_l1_beacon_url(world.l1_url())
        .with_l2_engine_rpc_url(world.engine_url())
        .with_jwt_secret(jwt)
        .with_l1_poll_interval(Duration::from_millis(200))
        .build()?;
    println!("{:?} node with {:?}", node.mode(), node.attributes_builder());
    let node = RollupNodeService::start(node)?;
    let start = world.engine_head().number;
    let deadline = Instant::now() + Duration::from_secs(blocks * 2 + 60);
    let (mut seen, mut safe) = (start, 0);
    let mut tagged = 0;
    while Instant::now() < deadline && (seen < start + blocks || safe < start + safe_target) {
        std::thread::sleep(Duration::from_millis(100));
        let head = world.engine_head().number;
        while seen < head {
            seen += 1;
            let txs = world.engine_transactions(seen).unwrap_or_default();
            match tag_of(&txs) {
                Some(tag) => {
                    tagged += 1;
                    println!("block {seen}: {} transactions, tagged {tag:?}", txs.len());
                }
                None => println!("block {seen}: {} transactions, NOT tagged", txs.len()),
            }
        }
        safe = node.metrics().value("keel_safe_head_number", &[]).unwrap_or(0.0) as u64;
    }
    println!("safe head {safe}: the node derived its tagged blocks back from L1");
    for n in start + 1..=safe {
        if tag_of(&world.engine_transactions(n).unwrap_or_default()).is_none() {
            return Err(format!("safe block {n} is not tagged: derivation replaced the sequenced block").into());
        }
    }
    node.stop();
    node.join();
    world.stop();
    Ok((tagged, safe))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let blocks = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(6);
    let (tagged, safe) = run(blocks, 3)?;
    if tagged < blocks || safe < 3 {
        return Err(format!("{tagged} of {blocks} blocks tagged, safe head {safe}").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_block_is_tagged_and_the_tagged_blocks_become_safe() {
        let (tagged, safe) = super::run(4, 3).expect("example runs");
        assert!(tagged >= 4, "{tagged} tagged blocks");
        assert!(safe >= 3, "safe head {safe}: derivation with the same builder accepts the tagged blocks");
    }
}
