//! Emits per-flow results in order of the flows' first packets.
//!
//! Every flow id is resolved exactly once, with a value (a TLS connection) or
//! without (a flow that turned out not to be TLS). A value is emitted as soon as
//! every earlier flow is resolved; memory is bounded by the flows still open,
//! which the flow table bounds.

use std::collections::BTreeMap;

pub struct InOrder<T> {
    next: u64,
    pending: BTreeMap<u64, Option<T>>,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        InOrder {
            next: 0,
            pending: BTreeMap::new(),
        }
    }
}

impl<T> InOrder<T> {
    /// Resolves flow `id`; calls `emit` for every value that is now in order.
    pub fn resolve(&mut self, id: u64, value: Option<T>, mut emit: impl FnMut(T)) {
        if id < self.next {
            return; // already resolved: ignore a second resolution
        }
        self.pending.entry(id).or_insert(value);
        while let Some(v) = self.pending.remove(&self.next) {
            self.next += 1;
            if let Some(v) = v {
                emit(v);
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
}
