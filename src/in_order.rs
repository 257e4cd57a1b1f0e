//! Emits per-flow results in order of the flows' first packets.
//!
//! Every flow id is resolved exactly once, with a value (a TLS connection) or
//! without (a flow that turned out not to be TLS). A value is emitted as soon as
//! every earlier flow is resolved. If more than `limit` values wait behind an
//! unresolved flow (a connection that stays open for minutes), the oldest
//! waiting values are emitted anyway and the late flow's value, when it comes,
//! is emitted at once: memory stays bounded, and `late` counts the exceptions.

use std::collections::BTreeMap;

pub struct InOrder<T> {
    next: u64,
    pending: BTreeMap<u64, Option<T>>,
    limit: usize,
    /// Values emitted after a later flow's (their flow was skipped over).
    pub late: u64,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        Self::with_limit(65_536)
    }
}

impl<T> InOrder<T> {
    pub fn with_limit(limit: usize) -> Self {
        InOrder {
            next: 0,
            pending: BTreeMap::new(),
            limit: limit.max(1),
            late: 0,
        }
    }

    /// Whether flow `id` is the next to go out, with nothing waiting: its
    /// value may be written at once (then resolve it without one).
    pub fn is_next(&self, id: u64) -> bool {
        id == self.next && self.pending.is_empty()
    }

    /// Resolves flow `id`; calls `emit` for every value that is now in order.
    pub fn resolve(&mut self, id: u64, value: Option<T>, mut emit: impl FnMut(T)) {
        if id < self.next {
            // Its place was given up to bound memory: emit it now, out of order.
            if let Some(v) = value {
                self.late += 1;
                emit(v);
            }
            return;
        }
        if self.is_next(id) {
            // Next in line with nothing waiting: out at once, no map entry.
            self.next += 1;
            if let Some(v) = value {
                emit(v);
            }
            return;
        }
        self.pending.entry(id).or_insert(value);
        loop {
            while let Some(v) = self.pending.remove(&self.next) {
                self.next += 1;
                if let Some(v) = v {
                    emit(v);
                }
            }
            if self.pending.len() <= self.limit {
                return;
            }
            // Skip the unresolved flows in front of the oldest waiting value.
            if let Some((&first, _)) = self.pending.first_key_value() {
                self.next = first;
            }
        }
    }

    /// Emits what is left, in id order (used at the end of input).
    pub fn drain(&mut self, mut emit: impl FnMut(T)) {
        for (id, v) in std::mem::take(&mut self.pending) {
            self.next = id + 1;
            if let Some(v) = v {
                emit(v);
            }
        }
    }

    pub fn waiting(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_resolution_is_emitted_in_order() {
        let mut o = InOrder::default();
        let mut out = Vec::new();
        o.resolve(2, Some("c"), |v| out.push(v));
        o.resolve(1, None, |v| out.push(v));
        assert!(out.is_empty());
        o.resolve(0, Some("a"), |v| out.push(v));
        assert_eq!(out, vec!["a", "c"]);
        o.resolve(4, Some("e"), |v| out.push(v));
        o.drain(|v| out.push(v));
        assert_eq!(out, vec!["a", "c", "e"]);
        assert_eq!(o.waiting(), 0);
    }

    #[test]
    fn a_stuck_flow_cannot_hold_unbounded_output() {
        let mut o = InOrder::with_limit(3);
        let mut out = Vec::new();
        // Flow 0 never resolves (yet); 1..=10 do.
        for id in 1..=10u64 {
            o.resolve(id, Some(id), |v| out.push(v));
            assert!(o.waiting() <= 3);
        }
        assert_eq!(out, (1..=10).take(out.len()).collect::<Vec<_>>());
        assert!(out.len() >= 7);
        o.resolve(0, Some(0), |v| out.push(v));
        assert_eq!(*out.last().unwrap(), 0);
        assert_eq!(o.late, 1);
        o.drain(|v| out.push(v));
        let mut sorted = out.clone();
        sorted.sort();
        assert_eq!(sorted, (0..=10).collect::<Vec<_>>());
    }
}
