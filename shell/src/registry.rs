//! Built-in chain registry for `keel node --chain <id>`.
//!
//! The data lives in `shell/data/superchain-registry.json`, which
//! `scripts/gen-registry.py` produces from a pinned commit of
//! ethereum-optimism/superchain-registry. For each chain it holds the rollup
//! configuration exactly as op-node would serialise it to `rollup.json`, so the
//! `rollup` value of a [`RegistryChain`] can be handed to the same code that
//! reads a user-supplied `rollup.json`.
//!
//! The file is compiled into the binary and parsed the first time it is needed.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

/// The generated registry file, embedded at build time.
const EMBEDDED: &str = include_str!("../data/superchain-registry.json");

/// One chain from the built-in registry.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryChain {
    /// The L2 chain id.
    pub chain_id: u64,
    /// The chain's display name as the registry spells it, e.g. "OP Mainnet".
    pub name: String,
    /// Which superchain the chain belongs to: "mainnet" or "sepolia".
    pub superchain: String,
    /// The chain's rollup configuration in op-node's `rollup.json` shape.
    pub rollup: Value,
}

/// The parsed form of the embedded file.
#[derive(Debug)]
struct Registry {
    commit: String,
    chains: BTreeMap<u64, RegistryChain>,
}

/// Turns the registry file's text into a [`Registry`], reporting the first
/// structural problem found.
fn parse(text: &str) -> Result<Registry, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let commit = doc.pointer("/source/commit").and_then(Value::as_str).ok_or("missing source.commit")?.to_string();
    let entries = doc.get("chains").and_then(Value::as_object).ok_or("missing chains object")?;
    let mut chains = BTreeMap::new();
    for (key, entry) in entries {
        let chain_id: u64 = key.parse().map_err(|_| format!("chain key {key:?} is not a chain id"))?;
        let text_field = |field: &str| {
            entry
                .get(field)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("chain {key}: missing {field}"))
        };
        let name = text_field("name")?;
        let superchain = text_field("superchain")?;
        let rollup = entry
            .get("rollup")
            .filter(|r| r.is_object())
            .ok_or_else(|| format!("chain {key}: missing rollup object"))?;
        chains.insert(chain_id, RegistryChain { chain_id, name, superchain, rollup: rollup.clone() });
    }
    Ok(Registry { commit, chains })
}

/// The embedded registry, parsed on first use.
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        parse(EMBEDDED).expect("the embedded superchain registry (shell/data/superchain-registry.json) is corrupt")
    })
}

/// Finds a chain by its L2 chain id. Returns `None` when the registry does not
/// know the chain.
pub fn lookup(chain_id: u64) -> Option<RegistryChain> {
    registry().chains.get(&chain_id).cloned()
}

/// Every chain id in the registry, in ascending order.
pub fn chain_ids() -> Vec<u64> {
    registry().chains.keys().copied().collect()
}

/// The superchain-registry commit the embedded data was generated from, as 40
/// hex characters.
pub fn source_commit() -> String {
    registry().commit.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollup(chain_id: u64) -> Value {
        lookup(chain_id).unwrap_or_else(|| panic!("chain {chain_id} missing from the registry")).rollup
    }

    #[test]
    fn embedded_file_parses() {
        let reg = parse(EMBEDDED).expect("embedded registry parses");
        assert!(reg.chains.len() > 10, "only {} chains", reg.chains.len());
        assert!(EMBEDDED.ends_with('\n'));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(parse("").is_err());
        assert!(parse("{}").is_err());
        assert!(parse(r#"{"source":{"commit":"ab"},"chains":{"x":{}}}"#).is_err());
        assert!(parse(r#"{"source":{"commit":"ab"},"chains":{"1":{"name":"a","superchain":"b"}}}"#).is_err());
        let ok =
            parse(r#"{"source":{"commit":"ab"},"chains":{"7":{"name":"a","superchain":"b","rollup":{}}}}"#).unwrap();
        assert_eq!(ok.chains[&7].chain_id, 7);
    }

    #[test]
    fn op_mainnet() {
        let chain = lookup(10).expect("OP Mainnet present");
        assert_eq!(chain.chain_id, 10);
        assert_eq!(chain.name, "OP Mainnet");
        assert_eq!(chain.superchain, "mainnet");
        let r = chain.rollup;
        assert_eq!(r["jovian_time"].as_u64(), Some(1_764_691_201));
        assert_eq!(r["karst_time"].as_u64(), Some(1_783_526_401));
        assert_eq!(r["keep_karst_upgrade_gas"].as_bool(), Some(true));
        assert_eq!(r["l1_chain_id"].as_u64(), Some(1));
        assert_eq!(r["l2_chain_id"].as_u64(), Some(10));
        // The Bedrock-migration block, as the registry records it.
        assert_eq!(
            r["genesis"]["l2"]["hash"].as_str(),
            Some("0xdbf6a80fef073de06add9b0d14026d6e5a86c85f6d102c36d3d8e9cf89c2afd3")
        );
        assert_eq!(r["genesis"]["l2"]["number"].as_u64(), Some(105_235_063));
    }

    #[test]
    fn op_sepolia() {
        let r = rollup(11_155_420);
        assert_eq!(r["jovian_time"].as_u64(), Some(1_763_568_001));
        assert_eq!(r["karst_time"].as_u64(), Some(1_781_712_001));
        assert_eq!(r["keep_karst_upgrade_gas"].as_bool(), Some(true));
        assert_eq!(r["l1_chain_id"].as_u64(), Some(11_155_111));
        assert_eq!(lookup(11_155_420).map(|c| c.superchain).as_deref(), Some("sepolia"));
    }

    #[test]
    fn chains_outside_the_registry_are_absent() {
        // Arbitrum One was never an OP Stack chain; Base Mainnet left the registry.
        assert!(lookup(42_161).is_none());
        assert!(lookup(8_453).is_none());
        assert!(!chain_ids().contains(&8_453));
    }

    #[test]
    fn every_key_matches_its_rollup_chain_id() {
        let doc: Value = serde_json::from_str(EMBEDDED).unwrap();
        for (key, entry) in doc["chains"].as_object().unwrap() {
            assert_eq!(
                entry["rollup"]["l2_chain_id"].as_u64().map(|id| id.to_string()).as_deref(),
                Some(key.as_str()),
                "chain {key}"
            );
        }
        for id in chain_ids() {
            let chain = lookup(id).unwrap();
            assert_eq!(chain.chain_id, id);
            assert_eq!(chain.rollup["l2_chain_id"].as_u64(), Some(id), "chain {id}");
        }
    }

    #[test]
    fn every_chain_has_a_block_time() {
        for id in chain_ids() {
            let block_time = rollup(id)["block_time"].as_u64().unwrap_or(0);
            assert!(block_time > 0, "chain {id} has block_time {block_time}");
        }
    }

    #[test]
    fn chain_ids_are_sorted_and_unique() {
        let ids = chain_ids();
        assert!(!ids.is_empty());
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        let doc: Value = serde_json::from_str(EMBEDDED).unwrap();
        assert_eq!(ids.len(), doc["chains"].as_object().unwrap().len());
    }

    #[test]
    fn source_commit_is_a_full_hash() {
        let commit = source_commit();
        assert_eq!(commit.len(), 40, "{commit}");
        assert!(commit.bytes().all(|b| b.is_ascii_hexdigit()), "{commit}");
    }
}
