//! The learned baseline of a site (`shakedown learn` writes it, `replay
//! --model` reads it): which client stacks normally visit and how many
//! addresses each normally has, how fast normal clients go. Learned from
//! traffic that may contain bots: clients the detectors flag during learning
//! are counted as abusive, not as normal (robust to some contamination).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const MODEL_FORMAT: &str = "shakedown-model";
pub const MODEL_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Model {
    pub format: String,
    pub version: u32,
    /// Capture files it was learned from.
    pub learned_from: Vec<String>,
    /// Capture time covered, seconds.
    pub span_s: f64,
    /// The client window the rates below refer to, seconds.
    pub client_window_s: u64,
    /// 99th percentile of requests per window over clients that were not flagged.
    pub client_requests_p99: f64,
    /// 99th percentile of new connections per window over clients that were not flagged.
    pub client_connections_p99: f64,
    /// Profiles by `ja4~tcp_sig`.
    pub fingerprints: BTreeMap<String, FingerprintProfile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FingerprintProfile {
    pub ja4: String,
    pub class: Option<String>,
    pub connections: u64,
    /// Distinct client addresses.
    pub addresses: u64,
    /// Of those, addresses flagged by a detector while learning.
    pub flagged_addresses: u64,
    /// Largest number of distinct addresses seen in one population window.
    pub max_window_addresses: u64,
}

impl FingerprintProfile {
    /// Share of the stack's addresses that behaved abusively.
    pub fn abusive_share(&self) -> f64 {
        if self.addresses == 0 {
            0.0
        } else {
            self.flagged_addresses as f64 / self.addresses as f64
        }
    }
}

impl Model {
    pub fn load(path: &Path) -> anyhow::Result<Model> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read model: {e}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: not a shakedown model (invalid JSON: {e})",
                path.display()
            )
        })?;
        if value.get("format").and_then(|f| f.as_str()) != Some(MODEL_FORMAT) {
            anyhow::bail!(
                "{}: not a shakedown model (no \"format\": \"{MODEL_FORMAT}\")",
                path.display()
            );
        }
        let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
        if version != MODEL_VERSION as u64 {
            anyhow::bail!(
                "{}: model version {version}, this shakedown reads version {MODEL_VERSION}; run `shakedown learn` again",
                path.display()
            );
        }
        serde_json::from_value(value)
            .map_err(|e| anyhow::anyhow!("{}: malformed model: {e}", path.display()))
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        // Write then rename, so that a crash never leaves half a model.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text + "\n").map_err(|e| anyhow::anyhow!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(())
    }

    pub fn profile(&self, ja4_tcp: &str) -> Option<&FingerprintProfile> {
        self.fingerprints.get(ja4_tcp)
    }
}

/// Profiles a merged model keeps at most (the stacks with most connections).
pub const MAX_PROFILES: usize = 100_000;
/// Sources listed in `learned_from` at most (the latest).
const MAX_SOURCES: usize = 32;

impl Model {
    /// Continuous learning: this (older) model faded by the time `newer`
    /// covers, plus `newer`. Older counts are multiplied by
    /// `exp(-newer.span_s / decay_s)`; rates are averaged, weighted by the
    /// (faded) time each model covers. A stack not seen again fades out and is
    /// dropped once its counts round to zero.
    pub fn merged_with(&self, newer: Model, decay_s: f64) -> Model {
        let keep = (-newer.span_s / decay_s.max(1.0)).exp();
        let fade = |n: u64| (n as f64 * keep).round() as u64;
        let old_w = self.span_s * keep;
        let new_w = newer.span_s;
        // Old rates in the newer model's window length.
        let scale = newer.client_window_s as f64 / self.client_window_s.max(1) as f64;
        let blend = |old: f64, new: f64| {
            if old_w + new_w > 0.0 {
                (old * scale * old_w + new * new_w) / (old_w + new_w)
            } else {
                new
            }
        };
        let mut fingerprints: BTreeMap<String, FingerprintProfile> = self
            .fingerprints
            .iter()
            .map(|(k, p)| {
                let faded = FingerprintProfile {
                    ja4: p.ja4.clone(),
                    class: p.class.clone(),
                    connections: fade(p.connections),
                    addresses: fade(p.addresses),
                    flagged_addresses: fade(p.flagged_addresses),
                    max_window_addresses: fade(p.max_window_addresses),
                };
                (k.clone(), faded)
            })
            .filter(|(_, p)| p.connections > 0 || p.addresses > 0)
            .collect();
        for (k, n) in newer.fingerprints {
            match fingerprints.get_mut(&k) {
                Some(p) => {
                    p.connections += n.connections;
                    p.addresses += n.addresses;
                    p.flagged_addresses += n.flagged_addresses;
                    p.max_window_addresses = p.max_window_addresses.max(n.max_window_addresses);
                    p.class = n.class.or(p.class.take());
                }
                None => {
                    fingerprints.insert(k, n);
                }
            }
        }
        if fingerprints.len() > MAX_PROFILES {
            let mut by_use: Vec<(u64, String)> = fingerprints
                .iter()
                .map(|(k, p)| (p.connections, k.clone()))
                .collect();
            by_use.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            for (_, k) in by_use.drain(MAX_PROFILES..) {
                fingerprints.remove(&k);
            }
        }
        let mut learned_from = self.learned_from.clone();
        learned_from.extend(newer.learned_from);
        let excess = learned_from.len().saturating_sub(MAX_SOURCES);
        learned_from.drain(..excess);
        Model {
            format: MODEL_FORMAT.into(),
            version: MODEL_VERSION,
            learned_from,
            span_s: old_w + new_w,
            client_window_s: newer.client_window_s,
            client_requests_p99: blend(self.client_requests_p99, newer.client_requests_p99),
            client_connections_p99: blend(
                self.client_connections_p99,
                newer.client_connections_p99,
            ),
            fingerprints,
        }
    }
}

/// Nearest-rank quantile of `values` (which it sorts).
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let mut v: Vec<f64> = (1..=100).map(|x| x as f64).collect();
        assert_eq!(quantile(&mut v, 0.99), 99.0);
        assert_eq!(quantile(&mut v, 0.5), 50.0);
        assert_eq!(quantile(&mut [], 0.5), 0.0);
    }

    fn profile(connections: u64, addresses: u64, flagged: u64) -> FingerprintProfile {
        FingerprintProfile {
            ja4: "t13d1516h2_8daaf6152771_e5627efa2ab1".into(),
            class: Some("browser".into()),
            connections,
            addresses,
            flagged_addresses: flagged,
            max_window_addresses: addresses,
        }
    }

    fn model(span_s: f64, p99: f64, fps: &[(&str, FingerprintProfile)]) -> Model {
        Model {
            format: MODEL_FORMAT.into(),
            version: MODEL_VERSION,
            learned_from: vec![format!("run of {span_s} s")],
            span_s,
            client_window_s: 60,
            client_requests_p99: p99,
            client_connections_p99: p99 / 10.0,
            fingerprints: fps
                .iter()
                .map(|(k, p)| (k.to_string(), p.clone()))
                .collect(),
        }
    }

    #[test]
    fn merging_fades_the_old_and_adds_the_new() {
        let day = 86_400.0;
        let old = model(
            3.0 * day,
            100.0,
            &[("a", profile(1000, 100, 0)), ("gone", profile(2, 1, 1))],
        );
        // One day later, decay time constant three days: the old counts keep
        // exp(-1/3) = 71.7 %.
        let new = model(
            day,
            200.0,
            &[("a", profile(500, 50, 10)), ("b", profile(7, 3, 3))],
        );
        let m = old.merged_with(new, 3.0 * day);
        let a = &m.fingerprints["a"];
        assert_eq!(
            (a.connections, a.addresses, a.flagged_addresses),
            (717 + 500, 72 + 50, 10)
        );
        assert_eq!(m.fingerprints["b"].addresses, 3);
        // 2 * 0.717 rounds to 1: still there, fading.
        assert_eq!(m.fingerprints["gone"].connections, 1);
        // Rates: weighted by faded time, 3 d * 0.717 = 2.15 d against 1 d.
        assert!((m.client_requests_p99 - (100.0 * 2.15 + 200.0) / 3.15).abs() < 0.5);
        assert!((m.span_s - (3.0 * 0.7165 + 1.0) * day).abs() < 0.01 * day);
        assert_eq!(m.learned_from.len(), 2);
        // A month of other traffic later the unused stack is forgotten.
        let later = m.merged_with(model(30.0 * day, 150.0, &[]), 3.0 * day);
        assert!(later.fingerprints.is_empty(), "{:?}", later.fingerprints);
        assert!((later.client_requests_p99 - 150.0).abs() < 1.0);
    }

    #[test]
    fn version_and_format_are_checked() {
        let dir = std::env::temp_dir().join(format!("shakedown-model-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("m.json");
        std::fs::write(&p, r#"{"format":"shakedown-model","version":99}"#).unwrap();
        let e = Model::load(&p).unwrap_err().to_string();
        assert!(e.contains("version 99") && e.contains("m.json"), "{e}");
        std::fs::write(&p, "{}").unwrap();
        assert!(Model::load(&p)
            .unwrap_err()
            .to_string()
            .contains("not a shakedown model"));
        std::fs::write(&p, "nope").unwrap();
        assert!(Model::load(&p)
            .unwrap_err()
            .to_string()
            .contains("invalid JSON"));
        let m = Model {
            format: MODEL_FORMAT.into(),
            version: MODEL_VERSION,
            learned_from: vec!["a.pcap".into()],
            span_s: 1.0,
            client_window_s: 60,
            client_requests_p99: 10.0,
            client_connections_p99: 3.0,
            fingerprints: BTreeMap::new(),
        };
        m.save(&p).unwrap();
        assert_eq!(Model::load(&p).unwrap(), m);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
