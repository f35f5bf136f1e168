//! op-node's `rollup.json` ⇄ kona's `RollupConfig`. Reading is lenient (kona 0.4 rejects fields newer op-deployer
//! files carry; those are dropped with a warning); writing produces op-node's `rollup.Config` JSON shape, which
//! op-batcher and op-proposer decode from `optimism_rollupConfig`.

use alloy_primitives::{B256, B64, U256};
use keel_core::RollupConfig;
use serde_json::{json, Map, Value};

/// Unknown fields dropped before giving up.
const MAX_DROPPED_FIELDS: usize = 32;

fn remove_key(v: &mut Value, key: &str) -> bool {
    match v {
        Value::Object(m) => {
            if m.remove(key).is_some() {
                return true;
            }
            m.values_mut().any(|child| remove_key(child, key))
        }
        Value::Array(a) => a.iter_mut().any(|child| remove_key(child, key)),
        _ => false,
    }
}

/// Parses an op-node `rollup.json`. Returns the config and the names of fields Keel does not know (dropped).
pub fn parse(text: &str) -> Result<(RollupConfig, Vec<String>), String> {
    let mut v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    // op-node's name for the Alt-DA challenge contract.
    if let Some(m) = v.as_object_mut() {
        if let Some(addr) = m.remove("da_challenge_contract_address") {
            m.entry("da_challenge_address").or_insert(addr);
        }
    }
    let mut dropped = Vec::new();
    loop {
        match serde_json::from_value::<RollupConfig>(v.clone()) {
            Ok(cfg) => return Ok((cfg, dropped)),
            Err(e) => {
                let msg = e.to_string();
                let unknown = msg.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next()).map(str::to_string);
                match unknown {
                    Some(field) if dropped.len() < MAX_DROPPED_FIELDS && remove_key(&mut v, &field) => dropped.push(field),
                    _ => return Err(format!("not a valid op-node rollup.json: {msg}")),
                }
            }
        }
    }
}

fn opt(v: Option<u64>) -> Value {
    v.map_or(Value::Null, |t| json!(t))
}

/// op-node's `rollup.Config` JSON for `optimism_rollupConfig`.
pub fn to_op_node_json(r: &RollupConfig) -> Value {
    let g = &r.genesis;
    let mut system_config = Map::new();
    if let Some(sc) = &g.system_config {
        system_config.insert("batcherAddr".into(), json!(sc.batcher_address));
        system_config.insert("overhead".into(), json!(B256::from(sc.overhead.to_be_bytes::<32>())));
        system_config.insert("scalar".into(), json!(B256::from(sc.scalar.to_be_bytes::<32>())));
        system_config.insert("gasLimit".into(), json!(sc.gas_limit));
        if let (Some(d), Some(e)) = (sc.eip1559_denominator, sc.eip1559_elasticity) {
            let mut b = [0u8; 8];
            b[..4].copy_from_slice(&d.to_be_bytes());
            b[4..].copy_from_slice(&e.to_be_bytes());
            system_config.insert("eip1559Params".into(), json!(B64::from(b)));
        }
        if let (Some(s), Some(c)) = (sc.operator_fee_scalar, sc.operator_fee_constant) {
            let params: U256 = (U256::from(s) << 64usize) | U256::from(c);
            system_config.insert("operatorFeeParams".into(), json!(B256::from(params.to_be_bytes::<32>())));
        }
    }
    let mut out = json!({
        "genesis": {
            "l1": {"hash": g.l1.hash, "number": g.l1.number},
            "l2": {"hash": g.l2.hash, "number": g.l2.number},
            "l2_time": g.l2_time,
            "system_config": system_config,
        },
        "block_time": r.block_time,
        "max_sequencer_drift": r.max_sequencer_drift,
        "seq_window_size": r.seq_window_size,
        "channel_timeout": r.channel_timeout,
        "l1_chain_id": r.l1_chain_id,
        "l2_chain_id": r.l2_chain_id.id(),
        "batch_inbox_address": r.batch_inbox_address,
        "deposit_contract_address": r.deposit_contract_address,
        "l1_system_config_address": r.l1_system_config_address,
        "protocol_versions_address": r.protocol_versions_address,
        "chain_op_config": {
            "eip1559Elasticity": r.chain_op_config.eip1559_elasticity,
            "eip1559Denominator": r.chain_op_config.eip1559_denominator,
            "eip1559DenominatorCanyon": r.chain_op_config.eip1559_denominator_canyon,
        },
    });
    let h = &r.hardforks;
    let m = out.as_object_mut().expect("object literal");
    for (name, t) in [
        ("regolith_time", h.regolith_time),
        ("canyon_time", h.canyon_time),
        ("delta_time", h.delta_time),
        ("ecotone_time", h.ecotone_time),
        ("fjord_time", h.fjord_time),
        ("granite_time", h.granite_time),
        ("holocene_time", h.holocene_time),
        ("pectra_blob_schedule_time", h.pectra_blob_schedule_time),
        ("isthmus_time", h.isthmus_time),
        ("jovian_time", h.jovian_time),
        ("interop_time", h.interop_time),
    ] {
        // op-node omits unset fork times.
        if t.is_some() {
            m.insert(name.into(), opt(t));
        }
    }
    if let Some(a) = r.da_challenge_address {
        m.insert("da_challenge_contract_address".into(), json!(a));
    }
    if let Some(alt) = &r.alt_da_config {
        if let Ok(v) = serde_json::to_value(alt) {
            m.insert("alt_da".into(), v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_fields_are_dropped_not_fatal() {
        let base = kona_registry::ROLLUP_CONFIGS.get(&10).unwrap().clone();
        let mut v = serde_json::to_value(&base).unwrap();
        v["genesis"]["system_config"]["minBaseFee"] = json!(0);
        v["genesis"]["system_config"]["daFootprintGasScalar"] = json!(400);
        v["some_future_field"] = json!(true);
        let (cfg, dropped) = parse(&v.to_string()).unwrap();
        assert_eq!(cfg, base);
        let mut dropped = dropped;
        dropped.sort();
        assert_eq!(dropped, ["daFootprintGasScalar", "minBaseFee", "some_future_field"]);
        assert!(parse("{").unwrap_err().contains("not valid JSON"));
        assert!(parse("{\"block_time\": \"x\"}").unwrap_err().contains("rollup.json"));
    }

    #[test]
    fn op_node_shape() {
        for (id, cfg) in kona_registry::ROLLUP_CONFIGS.iter() {
            let v = to_op_node_json(cfg);
            assert_eq!(v["l2_chain_id"], json!(*id), "numeric chain id, as Go's *big.Int decodes it");
            assert!(v["genesis"]["system_config"]["batcherAddr"].is_string());
            assert!(v["genesis"]["l1"]["number"].is_u64());
            for kona_only in ["granite_channel_timeout", "interop_message_expiry_window", "superchain_config_address"] {
                assert!(v.get(kona_only).is_none(), "{kona_only}");
            }
            let sc = &v["genesis"]["system_config"];
            assert!(sc.get("eip1559Denominator").is_none() && sc.get("baseFeeScalar").is_none());
            // What op-node writes, kona reads back.
            let (back, _) = parse(&v.to_string()).unwrap();
            assert_eq!(back.genesis, cfg.genesis, "chain {id}");
            assert_eq!(back.hardforks, cfg.hardforks, "chain {id}");
        }
    }
}
