//! Prometheus metrics: a small registry (counters, gauges, histograms with labels) rendered in the text exposition
//! format, and a blocking HTTP endpoint that serves it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// Histogram buckets in seconds: from 1 ms to 30 s.
pub const BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Distinct label sets one metric may hold (bounds memory if a label were ever fed from outside).
pub const MAX_SERIES_PER_METRIC: usize = 256;

type Labels = Vec<(&'static str, String)>;

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Family<T> {
    help: &'static str,
    series: BTreeMap<Labels, T>,
}

impl<T: Default> Family<T> {
    fn get(&mut self, labels: Labels) -> Option<&mut T> {
        if !self.series.contains_key(&labels) && self.series.len() >= MAX_SERIES_PER_METRIC {
            return None;
        }
        Some(self.series.entry(labels).or_default())
    }
}

#[derive(Default)]
struct Inner {
    counters: BTreeMap<&'static str, Family<f64>>,
    gauges: BTreeMap<&'static str, Family<f64>>,
    histograms: BTreeMap<&'static str, Family<Histogram>>,
}

/// The registry. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Mutex<Inner>>,
}

fn labels(l: &[(&'static str, &str)]) -> Labels {
    l.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut guard = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// Applies `f` to one series of the family `name` in the map `pick` selects (created on first use, unless
    /// the family already holds its bound of series).
    fn update<T: Default>(
        &self,
        pick: impl FnOnce(&mut Inner) -> &mut BTreeMap<&'static str, Family<T>>,
        name: &'static str,
        help: &'static str,
        l: &[(&'static str, &str)],
        f: impl FnOnce(&mut T),
    ) {
        self.with(|i| {
            let fam = pick(i).entry(name).or_default();
            fam.help = help;
            if let Some(v) = fam.get(labels(l)) {
                f(v);
            }
        });
    }

    /// Adds `by` to a counter.
    pub fn inc(&self, name: &'static str, help: &'static str, l: &[(&'static str, &str)], by: f64) {
        self.update(|i| &mut i.counters, name, help, l, |v| *v += by);
    }

    /// Sets a counter to an absolute value (for counters mirrored from the core's own totals).
    pub fn set_counter(&self, name: &'static str, help: &'static str, l: &[(&'static str, &str)], value: f64) {
        self.update(|i| &mut i.counters, name, help, l, |v| *v = value);
    }

    /// Sets a gauge.
    pub fn set(&self, name: &'static str, help: &'static str, l: &[(&'static str, &str)], value: f64) {
        self.update(|i| &mut i.gauges, name, help, l, |v| *v = value);
    }

    /// Records an observation (seconds).
    pub fn observe(&self, name: &'static str, help: &'static str, l: &[(&'static str, &str)], seconds: f64) {
        self.update(
            |i| &mut i.histograms,
            name,
            help,
            l,
            |h| {
                for (i, b) in BUCKETS.iter().enumerate() {
                    if seconds <= *b {
                        h.counts[i] += 1;
                    }
                }
                h.count += 1;
                h.sum += seconds;
            },
        );
    }

    /// Current value of a gauge or counter (tests and status lines).
    pub fn value(&self, name: &str, l: &[(&'static str, &str)]) -> Option<f64> {
        let key = labels(l);
        self.with(|i| {
            i.gauges
                .get(name)
                .and_then(|f| f.series.get(&key))
                .or_else(|| i.counters.get(name).and_then(|f| f.series.get(&key)))
                .copied()
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        fn fmt_labels(l: &Labels, extra: Option<(&str, String)>) -> String {
            let mut parts: Vec<String> =
                l.iter().map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))).collect();
            if let Some((k, v)) = extra {
                parts.push(format!("{k}=\"{v}\""));
            }
            if parts.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", parts.join(","))
            }
        }
        self.with(|i| {
            let mut out = String::new();
            for (name, fam) in &i.counters {
                let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} counter", fam.help);
                for (l, v) in &fam.series {
                    let _ = writeln!(out, "{name}{} {v}", fmt_labels(l, None));
                }
            }
            for (name, fam) in &i.gauges {
                let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} gauge", fam.help);
                for (l, v) in &fam.series {
                    let _ = writeln!(out, "{name}{} {v}", fmt_labels(l, None));
                }
            }
            for (name, fam) in &i.histograms {
                let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} histogram", fam.help);
                for (l, h) in &fam.series {
                    for (b, c) in BUCKETS.iter().zip(h.counts.iter()) {
                        let _ = writeln!(out, "{name}_bucket{} {c}", fmt_labels(l, Some(("le", b.to_string()))));
                    }
                    let _ = writeln!(out, "{name}_bucket{} {}", fmt_labels(l, Some(("le", "+Inf".into()))), h.count);
                    let _ = writeln!(out, "{name}_sum{} {}", fmt_labels(l, None), h.sum);
                    let _ = writeln!(out, "{name}_count{} {}", fmt_labels(l, None), h.count);
                }
            }
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_text_format() {
        let m = Metrics::default();
        m.inc("keel_rpc_calls_total", "calls", &[("target", "engine"), ("method", "engine_getPayloadV3")], 1.0);
        m.inc("keel_rpc_calls_total", "calls", &[("target", "engine"), ("method", "engine_getPayloadV3")], 2.0);
        m.set("keel_unsafe_head_number", "unsafe", &[], 42.0);
        m.observe("keel_seal_seconds", "seal", &[], 0.003);
        let text = m.render();
        assert!(text.contains("# TYPE keel_rpc_calls_total counter"));
        assert!(text.contains("keel_rpc_calls_total{target=\"engine\",method=\"engine_getPayloadV3\"} 3"));
        assert!(text.contains("keel_unsafe_head_number 42"));
        assert!(text.contains("keel_seal_seconds_bucket{le=\"0.0025\"} 0"));
        assert!(text.contains("keel_seal_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("keel_seal_seconds_bucket{le=\"+Inf\"} 1"));
        assert!(text.contains("keel_seal_seconds_count 1"));
        assert_eq!(m.value("keel_unsafe_head_number", &[]), Some(42.0));
    }

    #[test]
    fn series_are_bounded() {
        let m = Metrics::default();
        for i in 0..(MAX_SERIES_PER_METRIC + 10) {
            m.inc("x_total", "x", &[("i", &i.to_string())], 1.0);
        }
        assert_eq!(m.render().lines().filter(|l| l.starts_with("x_total{")).count(), MAX_SERIES_PER_METRIC);
    }
}
