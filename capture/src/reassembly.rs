//! Per-direction TCP stream reassembly.
//!
//! Delivers the bytes of one direction in sequence order, one chunk per segment
//! (or per trimmed piece of one), so the TLS reader above still sees segment
//! boundaries. Retransmissions and overlaps are trimmed against what was already
//! delivered: the first copy of a byte wins (a conflicting retransmission cannot
//! rewrite a hello that was already parsed). Out-of-order segments wait in a
//! bounded buffer; when it is full, or when the flow ends, the gap before the
//! first waiting segment is declared lost and skipped.

/// Limits shared by every reassembler of a flow table.
#[derive(Debug, Clone)]
pub struct ReassemblyBudget {
    /// Out-of-order bytes buffered, all flows together.
    pub used: usize,
    pub cap: usize,
    /// Segments dropped because the global cap was reached.
    pub dropped_segments: u64,
}

impl ReassemblyBudget {
    pub fn new(cap: usize) -> ReassemblyBudget {
        ReassemblyBudget {
            used: 0,
            cap,
            dropped_segments: 0,
        }
    }
}

/// Counters of one direction.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReassemblyStats {
    pub delivered_bytes: u64,
    pub retransmitted_bytes: u64,
    pub out_of_order_segments: u32,
    pub gaps: u32,
    pub dropped_segments: u32,
}

#[derive(Debug)]
struct Waiting {
    seq: u32,
    data: Vec<u8>,
}

/// Segments further ahead than this are not buffered (bogus or long-lost data).
const MAX_AHEAD: u32 = 1 << 20;

/// Reassembler for one direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Reassembler {
    next_seq: Option<u32>,
    waiting: Vec<Waiting>,
    waiting_bytes: usize,
    pub stats: ReassemblyStats,
}

/// What happened to a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Delivered (possibly with queued segments after it).
    Delivered,
    /// Entirely old data.
    Retransmission,
    /// Queued until the gap before it is filled.
    Queued,
    /// Dropped (over a buffer limit, or absurdly far ahead); a gap was skipped if
    /// `gap_skipped` was reported by the delivery callback.
    Dropped,
}

impl Reassembler {
    /// The stream starts after this SYN's sequence number.
    pub fn set_isn(&mut self, isn: u32) {
        if self.next_seq.is_none() {
            self.next_seq = Some(isn.wrapping_add(1));
        }
    }

    pub fn has_start(&self) -> bool {
        self.next_seq.is_some()
    }

    /// Bytes waiting for a gap to fill.
    pub fn waiting_bytes(&self) -> usize {
        self.waiting_bytes
    }

    /// Adds a segment. `deliver(chunk, after_gap)` receives in-order bytes;
    /// `after_gap` is true for the first chunk after skipped (lost) bytes.
    pub fn push(
        &mut self,
        seq: u32,
        data: &[u8],
        max_waiting: usize,
        budget: &mut ReassemblyBudget,
        deliver: &mut impl FnMut(&[u8], bool),
    ) -> Pushed {
        if data.is_empty() {
            return Pushed::Delivered;
        }
        let next = *self.next_seq.get_or_insert(seq);
        let rel = seq.wrapping_sub(next) as i32;
        if rel <= 0 {
            let skip = rel.unsigned_abs() as usize;
            if skip >= data.len() {
                self.stats.retransmitted_bytes += data.len() as u64;
                return Pushed::Retransmission;
            }
            self.stats.retransmitted_bytes += skip as u64;
            self.deliver_now(&data[skip..], false, deliver);
            self.drain(budget, deliver);
            return Pushed::Delivered;
        }
        if rel as u32 > MAX_AHEAD {
            self.stats.dropped_segments += 1;
            return Pushed::Dropped;
        }
        // Make room: a full buffer means the gap in front of it is not coming back.
        let mut skipped = false;
        while self.waiting_bytes + data.len() > max_waiting && !self.waiting.is_empty() {
            self.skip_gap(budget, deliver);
            skipped = true;
        }
        if skipped {
            // The stream moved on: this segment may now be (partly) old or in order.
            return self.push(seq, data, max_waiting, budget, deliver);
        }
        self.stats.out_of_order_segments += 1;
        if self.waiting_bytes + data.len() > max_waiting || budget.used + data.len() > budget.cap {
            self.stats.dropped_segments += 1;
            budget.dropped_segments += 1;
            return Pushed::Dropped;
        }
        // Keep `waiting` sorted by distance from next_seq.
        let pos = self
            .waiting
            .partition_point(|w| (w.seq.wrapping_sub(next) as i32) <= rel);
        self.waiting.insert(
            pos,
            Waiting {
                seq,
                data: data.to_vec(),
            },
        );
        self.waiting_bytes += data.len();
        budget.used += data.len();
        Pushed::Queued
    }

    /// Declares the bytes before the first waiting segment lost and delivers what
    /// follows. Returns false if nothing was waiting.
    pub fn skip_gap(
        &mut self,
        budget: &mut ReassemblyBudget,
        deliver: &mut impl FnMut(&[u8], bool),
    ) -> bool {
        let Some(first) = self.waiting.first() else {
            return false;
        };
        // Waiting segments are ahead of the stream; should one not be, the
        // stream still never moves back (that would deliver bytes twice).
        let ahead = self
            .next_seq
            .is_none_or(|next| first.seq.wrapping_sub(next) as i32 > 0);
        if !ahead {
            self.drain(budget, deliver);
            return true;
        }
        self.next_seq = Some(first.seq);
        self.stats.gaps += 1;
        let w = self.waiting.remove(0);
        self.release(&w, budget);
        self.deliver_now(&w.data, true, deliver);
        self.drain(budget, deliver);
        true
    }

    /// Delivers everything still waiting, skipping gaps (end of flow).
    pub fn flush(&mut self, budget: &mut ReassemblyBudget, deliver: &mut impl FnMut(&[u8], bool)) {
        while self.skip_gap(budget, deliver) {}
    }

    /// Drops all buffered data (the flow is closing and nobody wants it).
    pub fn clear(&mut self, budget: &mut ReassemblyBudget) {
        for w in std::mem::take(&mut self.waiting) {
            self.release(&w, budget);
        }
    }

    fn release(&mut self, w: &Waiting, budget: &mut ReassemblyBudget) {
        self.waiting_bytes -= w.data.len();
        budget.used -= w.data.len();
    }

    fn deliver_now(
        &mut self,
        chunk: &[u8],
        after_gap: bool,
        deliver: &mut impl FnMut(&[u8], bool),
    ) {
        let next = self.next_seq.unwrap_or(0);
        self.next_seq = Some(next.wrapping_add(chunk.len() as u32));
        self.stats.delivered_bytes += chunk.len() as u64;
        deliver(chunk, after_gap);
    }

    fn drain(&mut self, budget: &mut ReassemblyBudget, deliver: &mut impl FnMut(&[u8], bool)) {
        while let Some(first) = self.waiting.first() {
            let next = self.next_seq.unwrap_or(first.seq);
            let rel = first.seq.wrapping_sub(next) as i32;
            if rel > 0 {
                return;
            }
            let w = self.waiting.remove(0);
            self.release(&w, budget);
            let skip = rel.unsigned_abs() as usize;
            if skip < w.data.len() {
                self.stats.retransmitted_bytes += skip as u64;
                self.deliver_now(&w.data[skip..], false, deliver);
            } else {
                self.stats.retransmitted_bytes += w.data.len() as u64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(r: &mut Reassembler, segs: &[(u32, &[u8])]) -> (Vec<u8>, u32) {
        let mut out = Vec::new();
        let mut gaps = 0;
        let mut budget = ReassemblyBudget::new(1 << 20);
        for (seq, d) in segs {
            r.push(*seq, d, 1 << 16, &mut budget, &mut |c, g| {
                out.extend_from_slice(c);
                gaps += g as u32;
            });
        }
        r.flush(&mut budget, &mut |c, g| {
            out.extend_from_slice(c);
            gaps += g as u32;
        });
        assert_eq!(budget.used, 0);
        (out, gaps)
    }

    /// Found by the `reassembly` fuzz target: a segment that made room by
    /// skipping the gap before a full buffer was then queued behind the
    /// stream, and delivered a second time at the flush.
    #[test]
    fn making_room_never_delivers_bytes_twice() {
        let isn = 0xff00_ffffu32;
        let base = isn.wrapping_add(1);
        let mut r = Reassembler::default();
        r.set_isn(isn);
        let mut budget = ReassemblyBudget::new(1 << 20);
        let mut out = Vec::new();
        let mut deliver = |c: &[u8], _: bool| out.extend_from_slice(c);
        // 255 bytes at offset 1 fill the 255-byte buffer (offset 0 is lost);
        // 49 bytes at offset 8, already inside them, force the skip.
        r.push(
            base.wrapping_add(1),
            &[1; 255],
            255,
            &mut budget,
            &mut deliver,
        );
        r.push(
            base.wrapping_add(8),
            &[2; 49],
            255,
            &mut budget,
            &mut deliver,
        );
        r.flush(&mut budget, &mut deliver);
        assert_eq!(out, vec![1; 255], "first copy wins, nothing twice");
        assert_eq!((r.waiting_bytes(), budget.used), (0, 0));
    }

    #[test]
    fn in_order_reversed_duplicated_overlapping() {
        let data: Vec<u8> = (0..=255).collect();
        let isn = u32::MAX - 100; // wraps inside the stream
        let base = isn.wrapping_add(1);
        let segs: Vec<(u32, &[u8])> = data
            .chunks(10)
            .enumerate()
            .map(|(i, c)| (base.wrapping_add(i as u32 * 10), c))
            .collect();

        let mut r = Reassembler::default();
        r.set_isn(isn);
        assert_eq!(collect(&mut r, &segs).0, data);

        let mut rev = segs.clone();
        rev.reverse();
        let mut r = Reassembler::default();
        r.set_isn(isn);
        assert_eq!(collect(&mut r, &rev), (data.clone(), 0));

        // Duplicates and overlapping retransmissions with conflicting bytes: first copy wins.
        let junk = [0xeeu8; 30];
        let mut mixed = vec![
            segs[3],
            segs[0],
            (base.wrapping_add(5), &junk[..]),
            segs[1],
            segs[1],
        ];
        mixed.extend_from_slice(&segs[2..]);
        let mut r = Reassembler::default();
        r.set_isn(isn);
        let (out, gaps) = collect(&mut r, &mixed);
        assert_eq!(gaps, 0);
        assert_eq!(&out[..5], &data[..5]);
        assert_eq!(&out[5..10], &data[5..10]);
        assert_eq!(&out[10..35], &junk[5..30]); // queued junk filled the hole first
        assert_eq!(out.len(), 256);
    }

    #[test]
    fn lost_segment_is_skipped_at_flush() {
        let mut r = Reassembler::default();
        r.set_isn(999);
        let (out, gaps) = collect(&mut r, &[(1000, b"aaaa"), (1008, b"cccc")]);
        assert_eq!(out, b"aaaacccc");
        assert_eq!(gaps, 1);
    }

    #[test]
    fn waiting_buffer_is_bounded() {
        let mut r = Reassembler::default();
        r.set_isn(0);
        let mut budget = ReassemblyBudget::new(1 << 20);
        let seg = [1u8; 100];
        let mut delivered = 0;
        for i in 0..100u32 {
            // Every segment leaves a hole before it: nothing is ever in order.
            r.push(2 + i * 200, &seg, 1000, &mut budget, &mut |c, _| {
                delivered += c.len()
            });
            assert!(r.waiting_bytes() <= 1000);
        }
        assert!(delivered > 0);
        r.clear(&mut budget);
        assert_eq!(budget.used, 0);
    }

    #[test]
    fn global_budget_is_respected() {
        let mut budget = ReassemblyBudget::new(150);
        let mut a = Reassembler::default();
        let mut b = Reassembler::default();
        a.set_isn(0);
        b.set_isn(0);
        let seg = [0u8; 100];
        assert_eq!(
            a.push(50, &seg, 1000, &mut budget, &mut |_, _| {}),
            Pushed::Queued
        );
        assert_eq!(
            b.push(50, &seg, 1000, &mut budget, &mut |_, _| {}),
            Pushed::Dropped
        );
        assert_eq!(budget.dropped_segments, 1);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any permutation and duplication of a segment set reassembles to the
        /// bytes in order, with no gap.
        #[test]
        fn any_order_any_duplicates_same_bytes(
            len in 1usize..4000,
            cuts in proptest::collection::vec(1usize..600, 1..40),
            order_seed in any::<u64>(),
            dups in proptest::collection::vec(0usize..40, 0..10),
            isn in any::<u32>(),
        ) {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let mut segs = Vec::new();
            let mut off = 0;
            let mut i = 0;
            while off < len {
                let n = cuts[i % cuts.len()].min(len - off);
                segs.push((off, n));
                off += n;
                i += 1;
            }
            for d in &dups {
                let s = segs[d % segs.len()];
                segs.push(s);
            }
            // Deterministic shuffle from the seed.
            let mut state = order_seed | 1;
            for k in (1..segs.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                segs.swap(k, (state % (k as u64 + 1)) as usize);
            }
            let mut r = Reassembler::default();
            r.set_isn(isn);
            let mut budget = ReassemblyBudget::new(1 << 30);
            let mut out = Vec::new();
            let mut gaps = 0;
            for (o, n) in &segs {
                r.push(isn.wrapping_add(1).wrapping_add(*o as u32), &data[*o..o + n], 1 << 20, &mut budget, &mut |c, g| {
                    out.extend_from_slice(c);
                    gaps += g as u32;
                });
            }
            r.flush(&mut budget, &mut |c, g| {
                out.extend_from_slice(c);
                gaps += g as u32;
            });
            prop_assert_eq!(gaps, 0);
            prop_assert_eq!(out, data);
            prop_assert_eq!(budget.used, 0);
        }
    }
}
