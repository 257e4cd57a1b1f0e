//! Live blocks ordered weakest first (by score, then target): a capped set
//! of blocks finds the one to lift for a stronger newcomer without a scan.
//! Used by the decision book and by `shakedown enforce`'s active set.

use std::collections::BTreeSet;

/// A score as an integer in the same order (f64's total order: negative
/// scores sort below positive ones).
fn strength(score: f64) -> u64 {
    let bits = score.to_bits();
    if score.is_sign_negative() {
        !bits
    } else {
        bits | 1 << 63
    }
}

#[derive(Debug)]
pub struct StrengthOrder<K> {
    set: BTreeSet<(u64, K)>,
}

impl<K> Default for StrengthOrder<K> {
    fn default() -> Self {
        StrengthOrder {
            set: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Clone> StrengthOrder<K> {
    /// Adds `key` with `score`. A key whose score changes (a renewal) is
    /// removed with its old score first.
    pub fn insert(&mut self, key: K, score: f64) {
        self.set.insert((strength(score), key));
    }

    /// Removes `key`, which was inserted with `score`.
    pub fn remove(&mut self, key: &K, score: f64) {
        self.set.remove(&(strength(score), key.clone()));
    }

    pub fn contains(&self, key: &K, score: f64) -> bool {
        self.set.contains(&(strength(score), key.clone()))
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The weakest key, if it is weaker than `score` (ties go to the
    /// key already there).
    pub fn weakest_below(&self, score: f64) -> Option<&K> {
        self.set
            .first()
            .filter(|(w, _)| *w < strength(score))
            .map(|(_, k)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_orders_as_scores_do() {
        let scores = [-1.0, -0.0, 0.0, 1e-9, 0.5, 0.85, 0.9, 1.0];
        for w in scores.windows(2) {
            assert!(strength(w[0]) < strength(w[1]), "{} {}", w[0], w[1]);
        }
    }

    #[test]
    fn the_weakest_is_found_and_ties_keep_the_incumbent() {
        let mut o = StrengthOrder::default();
        o.insert("b", 0.9);
        o.insert("a", 0.5);
        o.insert("c", 0.5);
        assert_eq!(o.weakest_below(0.6), Some(&"a"));
        assert_eq!(o.weakest_below(0.5), None);
        o.remove(&"a", 0.5);
        assert_eq!(o.weakest_below(0.6), Some(&"c"));
        assert!(!o.contains(&"a", 0.5) && o.contains(&"b", 0.9));
        assert_eq!(o.len(), 2);
    }
}
