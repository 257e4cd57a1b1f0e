//! Keys ordered by an `f64` rank, then by key, lowest first: a capped set of
//! blocks finds the weakest to lift for a stronger newcomer, and a set of
//! blocks with lifetimes finds the ones due to expire, without a scan. Used
//! by the decision book (strength) and by `shakedown enforce`'s active set
//! (strength and expiry).

use std::collections::BTreeSet;

/// A rank as an integer in the same order (f64's total order: negative
/// values sort below positive ones).
fn ordered(rank: f64) -> u64 {
    let bits = rank.to_bits();
    if rank.is_sign_negative() {
        !bits
    } else {
        bits | 1 << 63
    }
}

#[derive(Debug)]
pub struct RankOrder<K> {
    set: BTreeSet<(u64, K)>,
}

impl<K> Default for RankOrder<K> {
    fn default() -> Self {
        RankOrder {
            set: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Clone> RankOrder<K> {
    /// Adds `key` with `rank`. A key whose rank changes (a renewal) is
    /// removed with its old rank first.
    pub fn insert(&mut self, key: K, rank: f64) {
        self.set.insert((ordered(rank), key));
    }

    /// Removes `key`, which was inserted with `rank`.
    pub fn remove(&mut self, key: &K, rank: f64) {
        self.set.remove(&(ordered(rank), key.clone()));
    }

    pub fn contains(&self, key: &K, rank: f64) -> bool {
        self.set.contains(&(ordered(rank), key.clone()))
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The lowest key, if its rank is below `rank` (ties go to the key
    /// already there).
    pub fn lowest_below(&self, rank: f64) -> Option<&K> {
        self.set
            .first()
            .filter(|(r, _)| *r < ordered(rank))
            .map(|(_, k)| k)
    }

    /// The lowest key, if its rank is at most `rank` (a block expiring at
    /// `now` has expired).
    pub fn lowest_at_most(&self, rank: f64) -> Option<&K> {
        self.set
            .first()
            .filter(|(r, _)| *r <= ordered(rank))
            .map(|(_, k)| k)
    }

    /// The keys, highest rank first.
    pub fn highest_first(&self) -> impl Iterator<Item = &K> {
        self.set.iter().rev().map(|(_, k)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_order_as_f64_does() {
        let ranks = [-1.0, -0.0, 0.0, 1e-9, 0.5, 0.85, 0.9, 1.0, 1.8e9];
        for w in ranks.windows(2) {
            assert!(ordered(w[0]) < ordered(w[1]), "{} {}", w[0], w[1]);
        }
    }

    #[test]
    fn the_lowest_is_found_and_ties_keep_the_incumbent() {
        let mut o = RankOrder::default();
        o.insert("b", 0.9);
        o.insert("a", 0.5);
        o.insert("c", 0.5);
        assert_eq!(o.lowest_below(0.6), Some(&"a"));
        assert_eq!(o.lowest_below(0.5), None);
        assert_eq!(o.lowest_at_most(0.5), Some(&"a"));
        assert_eq!(o.lowest_at_most(0.4), None);
        assert_eq!(
            o.highest_first().copied().collect::<Vec<_>>(),
            ["b", "c", "a"]
        );
        o.remove(&"a", 0.5);
        assert_eq!(o.lowest_below(0.6), Some(&"c"));
        assert!(!o.contains(&"a", 0.5) && o.contains(&"b", 0.9));
        assert_eq!(o.len(), 2);
    }
}
