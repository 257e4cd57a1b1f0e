//! Connections that have sent nothing but a SYN.
//!
//! A SYN flood is millions of those. Giving each a full flow (a slab slot of
//! ~370 bytes, an index entry, a place in the eviction order) made the flood
//! cost a random memory miss or two and fresh memory per SYN. Instead, like a
//! kernel's SYN cache, a bare SYN (no ACK, no payload, no FIN/RST) is kept here
//! with what the flow will need of it: its id, time, sender, ISN and signature.
//! The connection becomes a flow at its next packet (the SYN-ACK, usually), as
//! if the SYN had been processed by the flow table.
//!
//! Entries sit in a ring in order of arrival and are overwritten oldest first
//! when it is full: the oldest unanswered SYN is the one given up (it ends as
//! `Evicted`), so a flood of them never touches the flow table, and memory
//! stops growing once the ring has gone round once.

use super::{FlowKey, HashTable, Timestamp};
use shakedown_fingerprints::tcp::TcpSyn;

/// A connection known only by its SYN (or its retransmissions).
#[derive(Debug, Clone)]
pub(super) struct SynOnly {
    pub key: FlowKey,
    pub hash: u64,
    /// The flow id, taken when the SYN came (ids follow first packets).
    pub id: u64,
    /// Index in `key` (0 or 1) of the SYN's sender.
    pub src_at: u8,
    pub tunnelled: bool,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    pub isn: u32,
    /// The SYN and its retransmissions.
    pub packets: u32,
    pub syn: TcpSyn,
}

#[derive(Clone, Copy)]
struct Indexed {
    hash: u64,
    /// Sequence number of the entry in the ring (position = seq % capacity).
    seq: u64,
}

pub(super) struct SynOnlyTable {
    ring: Vec<Option<SynOnly>>,
    index: HashTable<Indexed>,
    capacity: usize,
    /// Sequence numbers of the oldest entry still in the ring and of the next one.
    oldest: u64,
    next: u64,
}

impl SynOnlyTable {
    pub fn new(capacity: usize) -> SynOnlyTable {
        SynOnlyTable {
            ring: Vec::new(),
            index: HashTable::new(),
            capacity: capacity.max(1),
            oldest: 0,
            next: 0,
        }
    }

    /// Connections that can wait here at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Connections waiting here now.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    fn at(&self, seq: u64) -> &Option<SynOnly> {
        &self.ring[(seq % self.capacity as u64) as usize]
    }

    fn at_mut(&mut self, seq: u64) -> &mut Option<SynOnly> {
        &mut self.ring[(seq % self.capacity as u64) as usize]
    }

    /// The entry of `key` (whose hash is `hash`).
    pub fn find(&self, hash: u64, key: &FlowKey) -> Option<u64> {
        let e = self.index.find(hash, |e| {
            e.hash == hash && self.at(e.seq).as_ref().is_some_and(|s| s.key == *key)
        })?;
        Some(e.seq)
    }

    pub fn get_mut(&mut self, seq: u64) -> Option<&mut SynOnly> {
        self.at_mut(seq).as_mut()
    }

    /// Takes an entry out (the connection becomes a flow, or ends).
    pub fn take(&mut self, seq: u64) -> Option<SynOnly> {
        let s = self.at_mut(seq).take()?;
        if let Ok(e) = self.index.find_entry(s.hash, |e| e.seq == seq) {
            e.remove();
        }
        Some(s)
    }

    /// Adds a connection; returns the oldest one, given up to make room.
    pub fn insert(&mut self, s: SynOnly) -> Option<SynOnly> {
        let mut evicted = None;
        if self.next - self.oldest == self.capacity as u64 {
            evicted = self.take(self.oldest);
            self.oldest += 1;
        }
        let seq = self.next;
        self.next += 1;
        self.index
            .insert_unique(s.hash, Indexed { hash: s.hash, seq }, |e: &Indexed| e.hash);
        if self.ring.len() < self.capacity {
            self.ring.push(Some(s));
        } else {
            *self.at_mut(seq) = Some(s);
        }
        evicted
    }

    /// Takes the oldest entry if `idle` says it has waited too long; skips
    /// the places of entries already taken. None when the oldest waiting
    /// entry is not idle (newer ones behind it wait for it: they end at the
    /// latest when the ring comes round).
    pub fn pop_idle(&mut self, idle: impl Fn(&SynOnly) -> bool) -> Option<SynOnly> {
        while self.oldest < self.next {
            match self.at(self.oldest) {
                None => self.oldest += 1,
                Some(s) if idle(s) => {
                    let s = self.take(self.oldest);
                    self.oldest += 1;
                    return s;
                }
                Some(_) => return None,
            }
        }
        None
    }

    /// Takes every entry out (end of input), oldest first.
    pub fn drain(&mut self) -> Vec<SynOnly> {
        let mut all = Vec::with_capacity(self.len());
        while self.oldest < self.next {
            if let Some(s) = self.take(self.oldest) {
                all.push(s);
            }
            self.oldest += 1;
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::super::Endpoint;
    use super::*;
    use std::hash::BuildHasher;
    use std::net::IpAddr;

    thread_local! {
        // One hasher for the whole test: each DefaultHashBuilder has its own seed.
        static HASHER: hashbrown::DefaultHashBuilder = hashbrown::DefaultHashBuilder::default();
    }

    fn entry(i: u32, ts: i64) -> SynOnly {
        let a = Endpoint::new(IpAddr::from((0x0a00_0000 + i).to_be_bytes()), 5000);
        let b = Endpoint::new(IpAddr::from([192, 0, 2, 1]), 443);
        let (key, src_at) = FlowKey::new(a, b, false);
        SynOnly {
            key,
            hash: HASHER.with(|h| h.hash_one(key)),
            id: u64::from(i),
            src_at: src_at as u8,
            tunnelled: false,
            first_ts: Timestamp(ts),
            last_ts: Timestamp(ts),
            isn: i,
            packets: 1,
            syn: TcpSyn::default(),
        }
    }

    #[test]
    fn the_oldest_is_given_up_and_the_rest_found() {
        let mut t = SynOnlyTable::new(4);
        for i in 0..4 {
            assert!(t.insert(entry(i, 0)).is_none());
        }
        let gone = t.insert(entry(4, 0)).expect("full: the oldest goes");
        assert_eq!(gone.id, 0);
        assert_eq!(t.len(), 4);
        assert!(t.find(gone.hash, &gone.key).is_none());
        for i in 1..5 {
            let e = entry(i, 0);
            let seq = t.find(e.hash, &e.key).expect("still here");
            assert_eq!(t.get_mut(seq).unwrap().id, u64::from(i));
        }
        // One taken out (it became a flow): its place is skipped, not given up.
        let e = entry(2, 0);
        let seq = t.find(e.hash, &e.key).unwrap();
        assert_eq!(t.take(seq).unwrap().id, 2);
        assert_eq!(t.insert(entry(5, 0)).unwrap().id, 1);
        assert!(t.insert(entry(6, 0)).is_none(), "the taken place");
        assert_eq!(t.len(), 4);
        let ids: Vec<u64> = t.drain().iter().map(|s| s.id).collect();
        assert_eq!(ids, vec![3, 4, 5, 6]);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn idle_entries_leave_oldest_first() {
        let mut t = SynOnlyTable::new(8);
        for i in 0..3 {
            t.insert(entry(i, i64::from(i) * 10));
        }
        let idle = |s: &SynOnly| s.last_ts.0 < 15;
        assert_eq!(t.pop_idle(idle).map(|s| s.id), Some(0));
        assert_eq!(t.pop_idle(idle).map(|s| s.id), Some(1));
        assert!(t.pop_idle(idle).is_none());
        assert_eq!(t.len(), 1);
    }
}
