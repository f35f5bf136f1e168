//! `--rollup.l1-chain-config`: the L1's blob schedule from a go-ethereum chain config, the format op-node reads
//! (`params.ChainConfig` JSON: `cancunTime`, `pragueTime`, `osakaTime`, `bpo1Time`…`bpo5Time`, and `blobSchedule`
//! with each fork's `baseFeeUpdateFraction`; or a genesis.json carrying it under `config`).
//!
//! go-ethereum picks the blob parameters of the newest fork active at the header's time; a fork that is scheduled
//! without a `blobSchedule` entry is an error here, as it is in go-ethereum's config check.

use keel_core::blob_fee::BlobSchedule;
use serde_json::Value;

/// Blob forks in go-ethereum's order (later wins when two share a time), with their JSON names.
const BLOB_FORKS: [(&str, &str); 8] = [
    ("cancun", "cancunTime"),
    ("prague", "pragueTime"),
    ("osaka", "osakaTime"),
    ("bpo1", "bpo1Time"),
    ("bpo2", "bpo2Time"),
    ("bpo3", "bpo3Time"),
    ("bpo4", "bpo4Time"),
    ("bpo5", "bpo5Time"),
];

/// Parses an L1 chain config. `source` names the file in logs and errors.
pub fn parse(text: &str, source: &str) -> Result<BlobSchedule, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let cfg = match v.get("config") {
        Some(c) if c.is_object() => c,
        _ => &v,
    };
    if !cfg.is_object() {
        return Err("not a go-ethereum chain config object".into());
    }
    let schedule = cfg.get("blobSchedule");
    let mut forks: Vec<(u64, usize, u64)> = Vec::new();
    for (rank, (name, time_key)) in BLOB_FORKS.iter().enumerate() {
        let time = match cfg.get(*time_key) {
            None | Some(Value::Null) => continue,
            Some(t) => t.as_u64().ok_or_else(|| format!("{time_key} must be a number, got {t}"))?,
        };
        let entry = schedule
            .and_then(|s| s.get(*name))
            .ok_or_else(|| format!("{time_key} is {time} but blobSchedule.{name} is missing"))?;
        let fraction = entry
            .get("baseFeeUpdateFraction")
            .and_then(Value::as_u64)
            .filter(|f| *f > 0)
            .ok_or_else(|| format!("blobSchedule.{name}.baseFeeUpdateFraction must be a positive number"))?;
        forks.push((time, rank, fraction));
    }
    if forks.is_empty() {
        return Err("no blob fork is scheduled (cancunTime missing): an L1 without blobs needs no config".into());
    }
    forks.sort_unstable();
    let chain = cfg.get("chainId").and_then(Value::as_u64).map_or(String::new(), |id| format!(" (L1 chain {id})"));
    Ok(BlobSchedule::Forks {
        source: format!("{source}{chain}"),
        forks: forks.into_iter().map(|(t, _, f)| (t, f)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_core::blob_fee::{
        BPO1_UPDATE_FRACTION, BPO2_UPDATE_FRACTION, CANCUN_UPDATE_FRACTION, PRAGUE_UPDATE_FRACTION,
    };

    /// A devnet L1 in go-ethereum's genesis format: Cancun at 0, Prague and Osaka at 100, BPO1 at 200, BPO2 at 300,
    /// with a custom BPO2 fraction to show the file, not a built-in table, decides.
    const GENESIS: &str = r#"{"config":{"chainId":3151908,"cancunTime":0,"pragueTime":100,"osakaTime":100,"bpo1Time":200,"bpo2Time":300,
      "blobSchedule":{"cancun":{"target":3,"max":6,"baseFeeUpdateFraction":3338477},
                      "prague":{"target":6,"max":9,"baseFeeUpdateFraction":5007716},
                      "osaka":{"target":6,"max":9,"baseFeeUpdateFraction":5007716},
                      "bpo1":{"target":10,"max":15,"baseFeeUpdateFraction":8346193},
                      "bpo2":{"target":14,"max":21,"baseFeeUpdateFraction":12345678}}},"alloc":{}}"#;

    #[test]
    fn every_boundary() {
        let s = parse(GENESIS, "l1.json").unwrap();
        for (t, f) in [
            (0, CANCUN_UPDATE_FRACTION),
            (99, CANCUN_UPDATE_FRACTION),
            (100, PRAGUE_UPDATE_FRACTION),
            (199, PRAGUE_UPDATE_FRACTION),
            (200, BPO1_UPDATE_FRACTION),
            (299, BPO1_UPDATE_FRACTION),
            (300, 12_345_678),
        ] {
            assert_eq!(s.update_fraction(t, true), f, "at {t}");
        }
        assert!(s.describe().contains("l1.json (L1 chain 3151908)"), "{}", s.describe());
        assert_ne!(12_345_678, BPO2_UPDATE_FRACTION);
    }

    #[test]
    fn direct_format_and_errors() {
        let direct = r#"{"chainId":1,"cancunTime":10,"blobSchedule":{"cancun":{"baseFeeUpdateFraction":3338477}}}"#;
        assert_eq!(parse(direct, "f").unwrap().update_fraction(10, false), CANCUN_UPDATE_FRACTION);
        let missing =
            r#"{"cancunTime":10,"pragueTime":20,"blobSchedule":{"cancun":{"baseFeeUpdateFraction":3338477}}}"#;
        assert!(parse(missing, "f").unwrap_err().contains("blobSchedule.prague is missing"));
        assert!(parse(r#"{"cancunTime":"x"}"#, "f").unwrap_err().contains("cancunTime"));
        assert!(parse("{}", "f").unwrap_err().contains("no blob fork"));
        assert!(parse("[", "f").unwrap_err().contains("JSON"));
        let zero = r#"{"cancunTime":0,"blobSchedule":{"cancun":{"baseFeeUpdateFraction":0}}}"#;
        assert!(parse(zero, "f").is_err(), "a zero fraction would divide by zero");
    }
}
