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
