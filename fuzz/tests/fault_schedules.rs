//! Random fault schedules: safety is checked after every simulator step, liveness after healing.

use keel_fuzz::{case, run};
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
}
