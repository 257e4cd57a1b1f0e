//! Reasons and scores: every detector that speaks contributes a named reason
//! with a weight in (0, 1) and the numbers behind it; the score combines the
//! weights as independent pieces of evidence (noisy-OR):
//! `score = 1 - prod(1 - weight)`. A decision lists all its reasons.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use smallvec::SmallVec;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// Stable machine name (documented in docs/decisions.md).
    pub code: &'static str,
    /// One sentence for a human.
    pub text: String,
    pub weight: f64,
    /// The numbers the detector looked at.
    pub evidence: Numbers,
}

/// Named numbers, kept sorted by name and written as a JSON object in that
/// order. Detectors give at most four: they sit inline, so a reason costs no
/// allocation beyond its sentence.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Numbers(SmallVec<[(&'static str, f64); 4]>);

impl Numbers {
    /// Sets `key` to `value` (replacing an earlier value of `key`).
    pub fn insert(&mut self, key: &'static str, value: f64) {
        match self.position(key) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (key, value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.position(key).ok().map(|i| self.0[i].1)
    }

    /// Where `key` is (`Ok`) or would go (`Err`).
    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| (*k).cmp(key))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::ops::Index<&str> for Numbers {
    type Output = f64;

    fn index(&self, key: &str) -> &f64 {
        let i = self
            .position(key)
            .unwrap_or_else(|_| panic!("no number named {key}"));
        &self.0[i].1
    }
}

impl Serialize for Numbers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A weight as reasons carry it: rounded so that decisions read well and
/// compare exactly across runs.
fn rounded_weight(weight: f64) -> f64 {
    (weight.clamp(0.0, 0.999) * 1000.0).round() / 1000.0
}

impl Reason {
    pub fn new(code: &'static str, weight: f64, text: String) -> Reason {
        Reason {
            code,
            text,
            weight: rounded_weight(weight),
            evidence: Numbers::default(),
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
    score_of(reasons.iter().map(|r| 1.0 - r.weight).product())
}

fn score_of(keep: f64) -> f64 {
    ((1.0 - keep) * 10_000.0).floor() / 10_000.0
}

/// What the detectors say about one observation. Most observations propose
/// nothing, so a detector runs first `weighing`: only the weights are kept and
/// no text is formatted; it runs again `explaining`, with the sentences and the
/// numbers, only when the score is high enough to propose. Both give the same
/// score, bit for bit.
#[derive(Debug)]
pub struct Evidence {
    explain: bool,
    /// Product of (1 - weight), in the order the reasons came.
    keep: f64,
    reasons: Vec<Reason>,
}

impl Evidence {
    /// Weights only.
    pub fn weighing() -> Evidence {
        Evidence {
            explain: false,
            keep: 1.0,
            reasons: Vec::new(),
        }
    }

    /// Weights, sentences and numbers.
    pub fn explaining() -> Evidence {
        Evidence {
            explain: true,
            ..Evidence::weighing()
        }
    }

    /// A reason: `text` is called only when explaining.
    pub fn add(
        &mut self,
        code: &'static str,
        weight: f64,
        text: impl FnOnce() -> String,
        numbers: &[(&'static str, f64)],
    ) {
        self.keep *= 1.0 - rounded_weight(weight);
        if self.explain {
            let mut r = Reason::new(code, weight, text());
            for &(k, v) in numbers {
                r = r.with(k, v);
            }
            self.reasons.push(r);
        }
    }

    /// The score of the reasons so far, as [`combine`] gives it.
    pub fn score(&self) -> f64 {
        score_of(self.keep)
    }

    /// The reasons (empty when weighing).
    pub fn into_reasons(self) -> Vec<Reason> {
        self.reasons
    }
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
    fn numbers_are_a_sorted_map() {
        let r = Reason::new("x", 0.5, "t".into())
            .with("zeta", 1.0)
            .with("alpha", 2.0)
            .with("mid", 3.0)
            .with("beta", 4.0)
            .with("omega", 5.0)
            .with("alpha", 6.0);
        assert_eq!(
            serde_json::to_string(&r.evidence).unwrap(),
            r#"{"alpha":6.0,"beta":4.0,"mid":3.0,"omega":5.0,"zeta":1.0}"#
        );
        assert_eq!(r.evidence["mid"], 3.0);
        assert_eq!(r.evidence.get("none"), None);
        assert_eq!(r.evidence.len(), 5);
    }

    #[test]
    fn noisy_or() {
        let r = |w| Reason::new("x", w, String::new());
        assert_eq!(combine(&[]), 0.0);
        assert_eq!(combine(&[r(0.5)]), 0.5);
        assert_eq!(combine(&[r(0.5), r(0.5)]), 0.75);
        assert!(combine(&[r(0.999), r(0.999)]) < 1.0);
        assert_eq!(severity(0.96), "high");
    }

    #[test]
    fn weighing_and_explaining_give_the_combined_score() {
        let weights = [0.35, 0.6, 0.8512, 0.3, 0.999, 0.0004];
        for n in 0..=weights.len() {
            let mut dry = Evidence::weighing();
            let mut full = Evidence::explaining();
            for (i, &w) in weights[..n].iter().enumerate() {
                dry.add("x", w, || unreachable!("weighing formats nothing"), &[]);
                full.add("x", w, || format!("reason {i}"), &[("n", i as f64)]);
            }
            let reasons = full.reasons.clone();
            assert_eq!(dry.score().to_bits(), combine(&reasons).to_bits());
            assert_eq!(full.score().to_bits(), combine(&reasons).to_bits());
            assert!(dry.into_reasons().is_empty());
            assert_eq!(reasons.len(), n);
            if n > 0 {
                assert_eq!(reasons[n - 1].evidence["n"], (n - 1) as f64);
            }
        }
    }
}
