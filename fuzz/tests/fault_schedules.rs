//! Random fault schedules: safety is checked after every simulator step, liveness after healing.

use keel_fuzz::{case, run, run_with};
use proptest::prelude::*;

/// 64 cases in CI; set `PROPTEST_CASES` for a longer hunt.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_fault_schedules_keep_safety_and_recover(c in case()) {
        if let Err(e) = run(&c) {
            prop_assert!(false, "{e}\ncase: {c:?}");
        }
    }

    /// The same schedules on a chain with its own consensus rule (keel-sim's tag-deposit builder): the sequencer
    /// and its derivation share the builder, so every safety check (derivability included) holds as on a protocol
    /// chain.
    #[test]
    fn fault_schedules_on_a_chain_with_a_custom_attributes_builder(c in case()) {
        let builder: std::sync::Arc<dyn keel_core::attributes::AttributesBuilder> =
            std::sync::Arc::new(keel_sim::custom::TagDeposit);
        if let Err(e) = run_with(&c, vec![builder]) {
            prop_assert!(false, "{e}\ncase: {c:?}");
        }
    }
}
