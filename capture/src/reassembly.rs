//! Per-direction TCP stream reassembly.
//!
//! Delivers the bytes of one direction in sequence order, one chunk per segment
//! (or per trimmed piece of one), so the TLS reader above still sees segment
//! boundaries. Out-of-order segments wait in a bounded buffer; when it is full,
//! or when the flow ends, the gap before the first waiting segment is declared
//! lost and skipped.
//!
//! Which copy of a byte wins when copies conflict (overlapping retransmissions
//! with other bytes): a byte once delivered is never replaced, so a conflicting
//! retransmission of delivered bytes loses. Waiting segments are delivered in
//! order of their first byte (ties: in order of arrival), each trimmed against
//! what was delivered before it; so a later copy that starts at or after the
//! start of a waiting segment loses to it as well, and "the first copy of a
//! byte wins" for every conflict except one: a later segment that starts before
//! a waiting one (in the hole in front of it) and overlaps it is delivered first
//! and wins the overlap, as in Linux's out-of-order queue. A segment arriving in
//! order is delivered at once and wins against waiting copies of its bytes.
//!
//! Costs: the waiting segments are kept in a B-tree by stream offset, so any
//! arrival order (1-byte segments in reverse, say) costs O(log n) per segment;
//! each waiting segment is charged its bytes plus [`SEGMENT_OVERHEAD`] against
//! the per-direction and global limits, so that memory stays within them even
//! for 1-byte segments.

use std::collections::BTreeMap;

/// Bytes charged per waiting segment on top of its payload: its share of a
/// B-tree node (40-byte slots, nodes about half full when segments arrive in
/// order or in reverse) and the heap block's rounding for payloads not stored
/// inline; about 80 bytes for a 1-byte segment.
pub const SEGMENT_OVERHEAD: usize = 96;

/// Limits shared by every reassembler of a flow table.
#[derive(Debug, Clone)]
pub struct ReassemblyBudget {
    /// Out-of-order bytes buffered (payload + [`SEGMENT_OVERHEAD`] per segment), all flows together.
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

/// A waiting segment's bytes: inline up to [`INLINE`] bytes (the tiny segments
/// of an evasion attempt cost no heap block), else one heap block of the exact
/// size.
#[derive(Debug)]
enum Payload {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

const INLINE: usize = 22;

impl Payload {
    fn new(data: &[u8]) -> Payload {
        if data.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..data.len()].copy_from_slice(data);
            Payload::Inline {
                len: data.len() as u8,
                bytes,
            }
        } else {
            Payload::Heap(data.into())
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Payload::Inline { len, bytes } => &bytes[..*len as usize],
            Payload::Heap(b) => b,
        }
    }
}

/// Segments further ahead than this are not buffered (bogus or long-lost data).
const MAX_AHEAD: u32 = 1 << 20;

/// Reassembler for one direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Reassembler {
    next_seq: Option<u32>,
    /// Stream offset of `next_seq` (bytes delivered or skipped so far).
    next_off: u64,
    /// Waiting segments by (stream offset, arrival number).
    waiting: BTreeMap<(u64, u64), Payload>,
    arrivals: u64,
    /// Charged bytes of the waiting segments (payload + overhead).
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

fn cost(len: usize) -> usize {
    len + SEGMENT_OVERHEAD
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

    /// Bytes charged for the segments waiting for a gap to fill (payload plus
    /// [`SEGMENT_OVERHEAD`] each).
    pub fn waiting_bytes(&self) -> usize {
        self.waiting_bytes
    }

    /// Adds a segment. `deliver(chunk, after_gap)` receives in-order bytes;
    /// `after_gap` is true for the first chunk after skipped (lost) bytes.
    /// `max_waiting` bounds this direction's charged waiting bytes.
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
        loop {
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
            // Make room: a full buffer means the gap in front of it is not coming
            // back. Skipping it may bring this segment in order (or behind).
            if self.waiting_bytes + cost(data.len()) > max_waiting && !self.waiting.is_empty() {
                self.skip_gap(budget, deliver);
                continue;
            }
            self.stats.out_of_order_segments += 1;
            if self.waiting_bytes + cost(data.len()) > max_waiting
                || budget.used + cost(data.len()) > budget.cap
            {
                self.stats.dropped_segments += 1;
                budget.dropped_segments += 1;
                return Pushed::Dropped;
            }
            let key = (self.next_off + rel as u64, self.arrivals);
            self.arrivals += 1;
            self.waiting.insert(key, Payload::new(data));
            self.waiting_bytes += cost(data.len());
            budget.used += cost(data.len());
            return Pushed::Queued;
        }
    }

    /// Declares the bytes before the first waiting segment lost and delivers what
    /// follows. Returns false if nothing was waiting.
    pub fn skip_gap(
        &mut self,
        budget: &mut ReassemblyBudget,
        deliver: &mut impl FnMut(&[u8], bool),
    ) -> bool {
        let Some((&(off, _), _)) = self.waiting.first_key_value() else {
            return false;
        };
        if off <= self.next_off {
            // Waiting segments are ahead of the stream; should one not be, the
            // stream still never moves back (that would deliver bytes twice).
            self.drain(budget, deliver);
            return true;
        }
        let (_, data) = self.waiting.pop_first().expect("first entry");
        let data = data.bytes();
        self.release(data.len(), budget);
        let next = self.next_seq.unwrap_or(0);
        self.next_seq = Some(next.wrapping_add((off - self.next_off) as u32));
        self.next_off = off;
        self.stats.gaps += 1;
        self.deliver_now(data, true, deliver);
        self.drain(budget, deliver);
        true
    }

    /// Delivers everything still waiting, skipping gaps (end of flow).
    pub fn flush(&mut self, budget: &mut ReassemblyBudget, deliver: &mut impl FnMut(&[u8], bool)) {
        while self.skip_gap(budget, deliver) {}
    }

    /// Drops all buffered data (the flow is closing and nobody wants it).
    pub fn clear(&mut self, budget: &mut ReassemblyBudget) {
        self.waiting = BTreeMap::new();
        budget.used -= self.waiting_bytes;
        self.waiting_bytes = 0;
    }

    fn release(&mut self, len: usize, budget: &mut ReassemblyBudget) {
        self.waiting_bytes -= cost(len);
        budget.used -= cost(len);
    }

    fn deliver_now(
        &mut self,
        chunk: &[u8],
        after_gap: bool,
        deliver: &mut impl FnMut(&[u8], bool),
    ) {
        let next = self.next_seq.unwrap_or(0);
        self.next_seq = Some(next.wrapping_add(chunk.len() as u32));
        self.next_off += chunk.len() as u64;
        self.stats.delivered_bytes += chunk.len() as u64;
        deliver(chunk, after_gap);
    }

    fn drain(&mut self, budget: &mut ReassemblyBudget, deliver: &mut impl FnMut(&[u8], bool)) {
        while let Some((&(off, _), _)) = self.waiting.first_key_value() {
            if off > self.next_off {
                return;
            }
            let (_, data) = self.waiting.pop_first().expect("first entry");
            let data = data.bytes();
            self.release(data.len(), budget);
            let skip = (self.next_off - off) as usize;
            if skip < data.len() {
                self.stats.retransmitted_bytes += skip as u64;
                self.deliver_now(&data[skip..], false, deliver);
            } else {
                self.stats.retransmitted_bytes += data.len() as u64;
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

    /// The rule of the module documentation, case by case: bytes 0..10 are
    /// delivered, [30, 40) waits, then conflicting copies arrive.
    #[test]
    fn which_copy_wins() {
        let data: Vec<u8> = (0..60).collect();
        let x = [0xeeu8; 60];
        let run = |late: &[(u32, &[u8])]| {
            let mut segs: Vec<(u32, &[u8])> = vec![(0, &data[..10]), (30, &data[30..40])];
            segs.extend_from_slice(late);
            segs.push((10, &data[10..30]));
            segs.push((40, &data[40..60]));
            let mut r = Reassembler::default();
            r.set_isn(u32::MAX);
            collect(&mut r, &segs)
        };
        // Conflicting retransmission of delivered bytes: dropped.
        assert_eq!(run(&[(0, &x[..10])]), (data.clone(), 0));
        // Same start as the waiting segment: the first to arrive wins.
        assert_eq!(run(&[(30, &x[30..40])]), (data.clone(), 0));
        // Starts inside the waiting segment and goes past it: the overlap is
        // dropped, the rest ([40, 45), here junk) is the first copy of its bytes.
        let mut want = data.clone();
        want[40..45].copy_from_slice(&x[40..45]);
        assert_eq!(run(&[(35, &x[35..45])]), (want, 0));
        // Starts before the waiting segment (in the hole): delivered first, wins
        // the overlap [30, 35); its bytes in the hole lose to the in-order
        // segment [10, 30) that fills it.
        let mut want = data.clone();
        want[30..35].copy_from_slice(&x[30..35]);
        assert_eq!(run(&[(25, &x[25..35])]), (want, 0));
    }

    /// 1-byte segments in reverse order: linear-logarithmic, not quadratic (a
    /// sorted Vec took minutes here), and each waiting byte is charged its
    /// segment overhead.
    #[test]
    fn many_one_byte_segments_in_reverse() {
        // The charge per segment assumes 40-byte B-tree slots.
        assert_eq!(std::mem::size_of::<((u64, u64), Payload)>(), 40);
        let n = 100_000u32;
        let data: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
        let mut r = Reassembler::default();
        r.set_isn(0);
        let mut budget = ReassemblyBudget::new(1 << 30);
        let mut out = Vec::new();
        for i in (1..n).rev() {
            let p = r.push(
                1 + i,
                &data[i as usize..][..1],
                1 << 30,
                &mut budget,
                &mut |c, _| out.extend_from_slice(c),
            );
            assert_eq!(p, Pushed::Queued);
        }
        assert_eq!(r.waiting_bytes(), (n as usize - 1) * (1 + SEGMENT_OVERHEAD));
        assert_eq!(budget.used, r.waiting_bytes());
        r.push(1, &data[..1], 1 << 30, &mut budget, &mut |c, _| {
            out.extend_from_slice(c)
        });
        assert_eq!(out, data);
        assert_eq!((r.waiting_bytes(), budget.used), (0, 0));

        // Against a 64 KiB limit, the oldest gaps are given up: never more
        // than the limit waits.
        let mut r = Reassembler::default();
        r.set_isn(0);
        for i in (1..n).rev() {
            r.push(
                1 + i,
                &data[i as usize..][..1],
                64 << 10,
                &mut budget,
                &mut |_, _| {},
            );
            assert!(r.waiting_bytes() <= 64 << 10);
        }
        r.clear(&mut budget);
        assert_eq!(budget.used, 0);
    }

    /// The case main's reassembly fuzz target found (e4c2cdb): a segment that
    /// makes room by skipping the gap before a full buffer is then behind the
    /// stream, and must not be queued (and delivered a second time at the flush).
    #[test]
    fn making_room_never_delivers_bytes_twice() {
        let isn = 0xff00_ffffu32;
        let base = isn.wrapping_add(1);
        let mut r = Reassembler::default();
        r.set_isn(isn);
        let mut budget = ReassemblyBudget::new(1 << 20);
        let mut out = Vec::new();
        let mut deliver = |c: &[u8], _: bool| out.extend_from_slice(c);
        // 255 bytes at offset 1 fill the buffer (offset 0 is lost); 49 bytes at
        // offset 8, already inside them, force the skip.
        let max = 255 + SEGMENT_OVERHEAD;
        r.push(
            base.wrapping_add(1),
            &[1; 255],
            max,
            &mut budget,
            &mut deliver,
        );
        r.push(
            base.wrapping_add(8),
            &[2; 49],
            max,
            &mut budget,
            &mut deliver,
        );
        r.flush(&mut budget, &mut deliver);
        assert_eq!(out, vec![1; 255], "first copy wins, nothing twice");
        assert_eq!((r.waiting_bytes(), budget.used), (0, 0));
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
        let mut budget = ReassemblyBudget::new(100 + SEGMENT_OVERHEAD + 50);
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
