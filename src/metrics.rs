//! A Prometheus text endpoint (`/metrics`) for long-running modes. The pipeline
//! thread renders the counters about once a second into a string; a small
//! HTTP responder thread (`crate::snapshot_http`) serves the latest rendering.

use crate::snapshot_http::SnapshotServer;
use std::fmt::Write as _;

/// The `/metrics` endpoint; `publish` replaces the rendering it serves.
pub type MetricsServer = SnapshotServer<String>;

/// Starts serving on `addr` (`--metrics`).
pub fn start(addr: &str) -> anyhow::Result<MetricsServer> {
    SnapshotServer::start(
        addr,
        "--metrics",
        "shakedown-metrics",
        route,
        "try /metrics\n",
    )
}

// `&String`: the snapshot type is `String` (Route<String>).
#[allow(clippy::ptr_arg)]
fn route(text: &String, path: &str) -> Option<(&'static str, String)> {
    (path == "/metrics").then(|| ("text/plain; version=0.0.4", text.clone()))
}

/// Decisions written, by action, scope and mode, and by reason code; fed
/// from the decision writer, read by the metrics rendering.
#[derive(Default)]
pub struct DecisionCounts {
    pub by_target: std::collections::BTreeMap<(&'static str, &'static str, &'static str), u64>,
    pub by_reason: std::collections::BTreeMap<(&'static str, &'static str), u64>,
}

impl DecisionCounts {
    pub fn count(&mut self, d: &crate::decisions::Decision) {
        use crate::decisions::{Action, Mode};
        let action = match d.action {
            Action::Block => "block",
            Action::Unblock => "unblock",
        };
        let mode = match d.mode {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
        };
        *self
            .by_target
            .entry((action, d.scope.as_str(), mode))
            .or_default() += 1;
        for r in &d.reasons {
            *self.by_reason.entry((action, r.code)).or_default() += 1;
        }
    }

    pub fn render(&self, e: &mut Exposition) {
        let labels: Vec<[(&str, &str); 3]> = self
            .by_target
            .keys()
            .map(|(a, s, m)| [("action", *a), ("scope", *s), ("mode", *m)])
            .collect();
        let samples: Vec<(&[(&str, &str)], f64)> = labels
            .iter()
            .zip(self.by_target.values())
            .map(|(l, v)| (l.as_slice(), *v as f64))
            .collect();
        e.metric(
            "decisions_total",
            "counter",
            "Decisions written, by action, scope and mode.",
            &samples,
        );
        let labels: Vec<[(&str, &str); 2]> = self
            .by_reason
            .keys()
            .map(|(a, r)| [("action", *a), ("reason", *r)])
            .collect();
        let samples: Vec<(&[(&str, &str)], f64)> = labels
            .iter()
            .zip(self.by_reason.values())
            .map(|(l, v)| (l.as_slice(), *v as f64))
            .collect();
        e.metric(
            "decision_reasons_total",
            "counter",
            "Reasons given in decisions (a decision usually has several).",
            &samples,
        );
    }
}

/// Builds Prometheus exposition text.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// One metric with optional labels; `kind` is counter or gauge.
    pub fn metric(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        samples: &[(&[(&str, &str)], f64)],
    ) {
        let _ = writeln!(
            self.out,
            "# HELP shakedown_{name} {help}\n# TYPE shakedown_{name} {kind}"
        );
        for (labels, v) in samples {
            let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            if l.is_empty() {
                let _ = writeln!(self.out, "shakedown_{name} {v}");
            } else {
                let _ = writeln!(self.out, "shakedown_{name}{{{}}} {v}", l.join(","));
            }
        }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_format() {
        let mut e = Exposition::default();
        e.metric(
            "packets_total",
            "counter",
            "Packets captured.",
            &[(&[("interface", "eth1")], 42.0)],
        );
        e.metric("flows", "gauge", "Flows tracked.", &[(&[], 7.0)]);
        let t = e.finish();
        assert!(t.contains("# TYPE shakedown_packets_total counter\nshakedown_packets_total{interface=\"eth1\"} 42\n"));
        assert!(t.contains("shakedown_flows 7\n"));
    }
}
