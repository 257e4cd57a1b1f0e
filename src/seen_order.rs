//! Keys in the order they were last seen, kept lazily: the order of the
//! scoring side's tables (clients, fingerprint populations, a population's
//! addresses). A key is queued with the time it was seen; seeing it again
//! costs nothing here, and when its entry reaches the front, a key seen since
//! is queued again at its latest time. Keys whose owner is gone are dropped
//! on the way.

use shakedown_capture::Timestamp;
use std::collections::VecDeque;

#[derive(Debug)]
pub struct SeenOrder<K> {
    queue: VecDeque<(Timestamp, K)>,
}

impl<K> Default for SeenOrder<K> {
    fn default() -> Self {
        SeenOrder {
            queue: VecDeque::new(),
        }
    }
}

impl<K> SeenOrder<K> {
    /// Queues `key`, seen at `seen`: once per key, when it comes into its table.
    pub fn push(&mut self, seen: Timestamp, key: K) {
        self.queue.push_back((seen, key));
    }

    /// Entries queued (each key once, plus entries of keys gone).
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &(Timestamp, K)> {
        self.queue.iter()
    }

    /// The key queued first, taken out whatever it was seen since.
    pub fn pop_queued_first(&mut self) -> Option<K> {
        self.queue.pop_front().map(|(_, k)| k)
    }

    /// The next key not seen for `idle` before `now`, taken out. `last_seen`
    /// gives a key's latest time (None: gone); a key seen since is queued
    /// again. None when the front is more recent than that.
    pub fn pop_idle(
        &mut self,
        now: Timestamp,
        idle: i64,
        mut last_seen: impl FnMut(&K) -> Option<Timestamp>,
    ) -> Option<K> {
        while now.nanos_since(self.queue.front()?.0) >= idle {
            let (_, key) = self.queue.pop_front()?;
            match last_seen(&key) {
                Some(t) if now.nanos_since(t) < idle => self.queue.push_back((t, key)),
                Some(_) => return Some(key),
                None => {}
            }
        }
        None
    }

    /// The least recently seen key, taken out (None when no key is left).
    pub fn pop_least_recent(
        &mut self,
        mut last_seen: impl FnMut(&K) -> Option<Timestamp>,
    ) -> Option<K> {
        while let Some((queued, key)) = self.queue.pop_front() {
            match last_seen(&key) {
                Some(t) if t > queued => self.queue.push_back((t, key)),
                Some(_) => return Some(key),
                None => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_seen_since_they_were_queued_go_after_the_others() {
        let mut order = SeenOrder::default();
        let mut seen = [Timestamp(0), Timestamp(1), Timestamp(2)];
        for (k, t) in seen.iter().enumerate() {
            order.push(*t, k);
        }
        seen[0] = Timestamp(5);
        let last = |k: &usize| Some(seen[*k]);
        assert_eq!(order.pop_least_recent(last), Some(1));
        assert_eq!(order.pop_idle(Timestamp(6), 3, last), Some(2));
        assert_eq!(
            order.pop_idle(Timestamp(6), 3, last),
            None,
            "0 was seen at 5"
        );
        assert_eq!(order.pop_idle(Timestamp(8), 3, last), Some(0));
        order.push(Timestamp(9), 7);
        assert_eq!(
            order.pop_least_recent(|_| None),
            None,
            "gone keys are dropped"
        );
        assert!(order.is_empty());
    }
}
