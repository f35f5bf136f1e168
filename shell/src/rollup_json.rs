//! op-node's `rollup.json` ⇄ kona's `RollupConfig`. Reading is lenient (kona 0.4 rejects fields newer op-deployer
//! files carry; those are dropped with a warning); writing produces op-node's `rollup.Config` JSON shape, which
//! op-batcher and op-proposer decode from `optimism_rollupConfig`.

use alloy_primitives::{B256, B64, U256};
use keel_core::{Rollup, RollupConfig};
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

/// Why a rollup.json is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollupJsonError {
    /// Not JSON, or not the shape op-node writes.
    #[error("{0}")]
    Invalid(String),
    /// A fork Keel does not implement is scheduled (or the forks are out of order).
    #[error(transparent)]
    Fork(#[from] keel_core::ForkError),
}

fn take_u64(m: &mut Map<String, Value>, key: &str) -> Result<Option<u64>, RollupJsonError> {
    match m.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            v.as_u64().map(Some).ok_or_else(|| RollupJsonError::Invalid(format!("{key} must be a number, got {v}")))
        }
    }
}

/// Parses an op-node `rollup.json`. Returns the config and the names of fields Keel does not know (dropped with a
/// warning by the caller). Fork times are never dropped: an unknown `*_time` key, or a fork Keel knows but does not
/// implement (`lagoon_time`, alias `interop_time`), is an error naming the fork and its time.
pub fn parse(text: &str) -> Result<(Rollup, Vec<String>), RollupJsonError> {
    let v: Value = serde_json::from_str(text).map_err(|e| RollupJsonError::Invalid(format!("not valid JSON: {e}")))?;
    parse_value(v)
}

/// [`parse`] on JSON already read (the embedded registry).
pub fn parse_value(mut v: Value) -> Result<(Rollup, Vec<String>), RollupJsonError> {
    let m = v.as_object_mut().ok_or_else(|| RollupJsonError::Invalid("not a JSON object".into()))?;
    // op-node's name for the Alt-DA challenge contract.
    if let Some(addr) = m.remove("da_challenge_contract_address") {
        m.entry("da_challenge_address").or_insert(addr);
    }
    // op-node v1.19 dropped the field; kona 0.4 still requires it (it is informational only).
    m.entry("protocol_versions_address").or_insert(json!(alloy_primitives::Address::ZERO));
    // What kona 0.4.5 does not know is taken out before it parses the rest.
    let karst_time = take_u64(m, "karst_time")?;
    let lagoon_time = take_u64(m, "lagoon_time")?;
    let interop_time = take_u64(m, "interop_time")?;
    let keep_karst_upgrade_gas = match m.remove("keep_karst_upgrade_gas") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(other) => {
            return Err(RollupJsonError::Invalid(format!("keep_karst_upgrade_gas must be a boolean, got {other}")))
        }
    };
    let mut dropped = Vec::new();
    let base = loop {
        match serde_json::from_value::<RollupConfig>(v.clone()) {
            Ok(cfg) => break cfg,
            Err(e) => {
                let msg = e.to_string();
                let unknown =
                    msg.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next()).map(str::to_string);
                match unknown {
                    Some(field) if field.ends_with("_time") => {
                        let time = v.get(&field).and_then(Value::as_u64);
                        let fork = field.trim_end_matches("_time");
                        return match time {
                            Some(time) => {
                                Err(keel_core::ForkError::Unsupported { fork: fork.into(), key: field, time }.into())
                            }
                            // A null time schedules nothing.
                            None => {
                                remove_key(&mut v, &field);
                                dropped.push(field);
                                continue;
                            }
                        };
                    }
                    Some(field) if dropped.len() < MAX_DROPPED_FIELDS && remove_key(&mut v, &field) => {
                        dropped.push(field)
                    }
                    _ => return Err(RollupJsonError::Invalid(format!("not a valid op-node rollup.json: {msg}"))),
                }
            }
        }
    };
    let mut rollup = Rollup { karst_time, keep_karst_upgrade_gas, lagoon_time, ..Rollup::from(base) };
    // kona's own field for the old name, so `validate` refuses it under the key the operator wrote.
    rollup.base.hardforks.interop_time = interop_time;
    rollup.validate()?;
    Ok((rollup, dropped))
}

fn opt(v: Option<u64>) -> Value {
    v.map_or(Value::Null, |t| json!(t))
}

/// op-node's `rollup.Config` JSON for `optimism_rollupConfig`.
pub fn to_op_node_json(rollup: &Rollup) -> Value {
    let r = &rollup.base;
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
        ("karst_time", rollup.karst_time),
        ("lagoon_time", rollup.lagoon_time),
    ] {
        // op-node omits unset fork times.
        if t.is_some() {
            m.insert(name.into(), opt(t));
        }
    }
    if rollup.keep_karst_upgrade_gas {
        // op-node omits it when false.
        m.insert("keep_karst_upgrade_gas".into(), json!(true));
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

    fn op_mainnet_json() -> Value {
        crate::registry::lookup(10).expect("OP Mainnet is in the registry").rollup
    }

    #[test]
    fn registry_op_mainnet_has_karst() {
        let (cfg, _) = parse_value(op_mainnet_json()).unwrap();
        assert_eq!(cfg.hardforks.jovian_time, Some(1_764_691_201));
        assert_eq!(cfg.karst_time, Some(1_783_526_401));
        assert!(cfg.keep_karst_upgrade_gas);
        assert_eq!(cfg.lagoon_time, None);
        let out = to_op_node_json(&cfg);
        assert_eq!(out["karst_time"], json!(1_783_526_401u64));
        assert_eq!(out["jovian_time"], json!(1_764_691_201u64));
        assert_eq!(out["keep_karst_upgrade_gas"], json!(true));
        assert!(out.get("interop_time").is_none() && out.get("lagoon_time").is_none());
    }

    #[test]
    fn newer_fields_are_dropped_not_fatal() {
        let mut v = op_mainnet_json();
        v["some_future_field"] = json!(true);
        v["genesis"]["system_config"]["someNewField"] = json!(1);
        let (cfg, mut dropped) = parse_value(v).unwrap();
        assert_eq!(cfg.karst_time, Some(1_783_526_401));
        dropped.sort();
        assert!(
            dropped.contains(&"some_future_field".to_string()) && dropped.contains(&"someNewField".to_string()),
            "{dropped:?}"
        );
        assert!(matches!(parse("{"), Err(RollupJsonError::Invalid(m)) if m.contains("not valid JSON")));
        assert!(
            matches!(parse("{\"block_time\": \"x\"}"), Err(RollupJsonError::Invalid(m)) if m.contains("rollup.json"))
        );
        let mut v = op_mainnet_json();
        v["keep_karst_upgrade_gas"] = json!("yes");
        assert!(parse_value(v).is_err(), "a non-boolean keep flag is refused, not guessed");
    }

    #[test]
    fn unimplemented_forks_are_refused_with_name_and_time() {
        for (key, fork) in [("lagoon_time", "Lagoon"), ("interop_time", "Lagoon")] {
            let mut v = op_mainnet_json();
            v[key] = json!(1_900_000_000u64);
            let e = parse_value(v).unwrap_err();
            assert_eq!(
                e,
                RollupJsonError::Fork(keel_core::ForkError::Unsupported {
                    fork: fork.into(),
                    key: key.into(),
                    time: 1_900_000_000
                })
            );
            let msg = e.to_string();
            assert!(msg.contains("Lagoon") && msg.contains("1900000000") && msg.contains(key), "{msg}");
        }
        // A fork Keel has never heard of is refused too, never dropped.
        let mut v = op_mainnet_json();
        v["zephyr_time"] = json!(1_950_000_000u64);
        let e = parse_value(v).unwrap_err().to_string();
        assert!(e.contains("zephyr") && e.contains("1950000000"), "{e}");
        // Unscheduled (null) forks schedule nothing.
        let mut v = op_mainnet_json();
        v["lagoon_time"] = Value::Null;
        v["zephyr_time"] = Value::Null;
        assert_eq!(parse_value(v).unwrap().0.lagoon_time, None);
        // Karst before Jovian is refused (op-node checkForkOrder).
        let mut v = op_mainnet_json();
        v["karst_time"] = json!(1_700_000_000u64);
        assert!(matches!(parse_value(v), Err(RollupJsonError::Fork(keel_core::ForkError::Order { .. }))));
    }

    #[test]
    fn op_node_shape_round_trips_for_every_registry_chain() {
        for id in crate::registry::chain_ids() {
            let (cfg, _) = parse_value(crate::registry::lookup(id).unwrap().rollup).unwrap();
            let v = to_op_node_json(&cfg);
            assert_eq!(v["l2_chain_id"], json!(id), "numeric chain id, as Go's *big.Int decodes it");
            assert!(v["genesis"]["system_config"]["batcherAddr"].is_string());
            assert!(v["genesis"]["l1"]["number"].is_u64());
            for kona_only in ["granite_channel_timeout", "interop_message_expiry_window", "superchain_config_address"] {
                assert!(v.get(kona_only).is_none(), "{kona_only}");
            }
            let sc = &v["genesis"]["system_config"];
            assert!(sc.get("eip1559Denominator").is_none() && sc.get("baseFeeScalar").is_none());
            // What op-node writes, Keel reads back.
            let (back, _) = parse(&v.to_string()).unwrap();
            assert_eq!(back.genesis, cfg.genesis, "chain {id}");
            assert_eq!(back.hardforks, cfg.hardforks, "chain {id}");
            assert_eq!(
                (back.karst_time, back.keep_karst_upgrade_gas),
                (cfg.karst_time, cfg.keep_karst_upgrade_gas),
                "chain {id}"
            );
        }
    }
}
