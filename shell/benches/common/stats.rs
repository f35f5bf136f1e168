//! Percentiles for the benches' tables.

/// The `p` quantile (0..=1) of `v`, nearest rank; sorts `v`. NaN when empty.
pub fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}
