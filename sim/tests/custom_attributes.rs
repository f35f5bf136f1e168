//! The attributes builder seam in the simulated world: a chain whose nodes all run a custom builder (one extra
//! deposit per block) sequences, derives and consolidates its own blocks; a node that derives the same chain with
//! the protocol's builder derives other blocks, and the world's derivability check says so.

use keel_core::attributes::{AttributesBuilder, ProtocolAttributes};
use keel_core::RpcRequest;
use keel_sim::custom::TagDeposit;
use keel_sim::{Sim, SimConfig};
use std::sync::Arc;

fn world(seed: u64, builders: Vec<Arc<dyn AttributesBuilder>>) -> Sim {
    let mut cfg = SimConfig { seed, sequencers: builders.len().max(1), attributes: builders, ..Default::default() };
    cfg.sequencer.conductor_rpc_url = Some(keel_sim::conductor::URL.into());
    let mut s = Sim::new(cfg);
    s.run_for(3_000);
    let head = s.node().heads().unsafe_head.expect("booted").hash;
    s.rpc(RpcRequest::StartSequencer(head));
    s
}

fn tagged_blocks(s: &Sim, member: usize) -> (u64, u64) {
    let engine = &s.members[member].engine;
    let head = engine.heads().unsafe_head.number;
    let mut tagged = 0;
    for n in 1..=head {
        let block = engine.by_number(n).and_then(|b| engine.block(&b.hash).cloned()).expect("canonical block");
        let txs = block.envelope.as_ref().expect("payload").execution_payload.as_v1().transactions.clone();
        if txs.get(1).is_some_and(|t| TagDeposit::is_tag(t)) {
            tagged += 1;
        }
    }
    (tagged, head)
}

#[test]
fn a_chain_whose_nodes_share_a_custom_builder_derives_its_own_blocks() {
    let builder: Arc<dyn AttributesBuilder> = Arc::new(TagDeposit);
    let mut s = world(11, vec![builder.clone(), builder]);
    // Ten minutes of 2 s blocks: batches land, both members derive every block (the world checks each derived block
    // against the one the batcher posted after every event and panics on a difference).
    s.run_for(600_000);
    for m in 0..2 {
        let (tagged, head) = tagged_blocks(&s, m);
        assert!(head > 250, "member {m} follows the chain (head {head})");
        assert_eq!(tagged, head, "member {m}: every block carries the tag deposit");
        let node = s.members[m].node.as_ref().expect("running");
        let safe = node.heads().safe.expect("safe head").number;
        assert!(safe > 150, "member {m} derives the tagged blocks (safe {safe} of {head})");
        let d = node.derive_stats();
        assert_eq!((d.built, d.mismatches), (0, 0), "member {m}: every derived block matched the sequenced one");
        assert!(d.consolidated > 150, "member {m} consolidated {} blocks", d.consolidated);
    }
}

#[test]
fn a_node_deriving_with_the_protocol_builder_rejects_the_custom_chain() {
    let mut s = world(12, vec![Arc::new(TagDeposit), Arc::new(ProtocolAttributes)]);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.run_for(600_000)));
    let msg = caught.expect_err("the protocol-builder node must derive other blocks than the ones posted");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("n1 derived") && msg.contains("but the batcher posted"), "{msg}");
}
