//! Reasons and scores: every detector that speaks contributes a named reason
//! with a weight in (0, 1) and the numbers behind it; the score combines the
//! weights as independent pieces of evidence (noisy-OR):
//! `score = 1 - prod(1 - weight)`. A decision lists all its reasons.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// Stable machine name (documented in docs/decisions.md).
    pub code: &'static str,
    /// One sentence for a human.
    pub text: String,
    pub weight: f64,
    /// The numbers the detector looked at.
    pub evidence: BTreeMap<&'static str, f64>,
}

impl Reason {
    pub fn new(code: &'static str, weight: f64, text: String) -> Reason {
        Reason {
            code,
            text,
            // Rounded so that decisions read well and compare exactly across runs.
            weight: (weight.clamp(0.0, 0.999) * 1000.0).round() / 1000.0,
            evidence: BTreeMap::new(),
        }
    }

    pub fn with(mut self, key: &'static str, value: f64) -> Reason {
        // Rounded so that decisions read well and compare exactly across runs.
        self.evidence.insert(key, (value * 1000.0).round() / 1000.0);
        self
    }
}

/// Combines reasons into a score in [0, 1).
pub fn combine(reasons: &[Reason]) -> f64 {
    let keep: f64 = reasons.iter().map(|r| 1.0 - r.weight).product();
    ((1.0 - keep) * 10_000.0).floor() / 10_000.0
}

/// Severity label of a score.
pub fn severity(score: f64) -> &'static str {
    if score >= 0.95 {
        "high"
    } else if score >= 0.85 {
        "medium"
    } else {
        "low"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noisy_or() {
        let r = |w| Reason::new("x", w, String::new());
        assert_eq!(combine(&[]), 0.0);
        assert_eq!(combine(&[r(0.5)]), 0.5);
        assert_eq!(combine(&[r(0.5), r(0.5)]), 0.75);
        assert!(combine(&[r(0.999), r(0.999)]) < 1.0);
        assert_eq!(severity(0.96), "high");
    }
}
