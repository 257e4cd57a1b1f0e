//! One direction's reassembler fed arbitrary segments (any order, overlaps,
//! duplicates with conflicting bytes, wrap-around): never more buffered than
//! its caps, nothing left after the flush, and never more bytes delivered than
//! the stream can hold.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shakedown_capture::reassembly::{Reassembler, ReassemblyBudget};

#[derive(Debug, Arbitrary)]
enum Op {
    Push { offset: u16, len: u8, fill: u8 },
    Far { offset: u32, len: u8 },
    SkipGap,
}

#[derive(Debug, Arbitrary)]
struct Input {
    isn: u32,
    with_syn: bool,
    max_waiting: u16,
    budget: u16,
    ops: Vec<Op>,
}

fuzz_target!(|inp: Input| {
    let mut r = Reassembler::default();
    if inp.with_syn {
        r.set_isn(inp.isn);
    }
    let max_waiting = usize::from(inp.max_waiting);
    let mut budget = ReassemblyBudget::new(usize::from(inp.budget));
    let mut delivered = 0usize;
    let mut highest_end = 0u64;
    let base = inp.isn.wrapping_add(1);
    let mut deliver = |chunk: &[u8], _after_gap: bool| delivered += chunk.len();
    for op in inp.ops.iter().take(1000) {
        match *op {
            Op::Push { offset, len, fill } => {
                let data = vec![fill; usize::from(len)];
                let seq = base.wrapping_add(u32::from(offset));
                highest_end = highest_end.max(u64::from(offset) + u64::from(len));
                r.push(seq, &data, max_waiting, &mut budget, &mut deliver);
            }
            Op::Far { offset, len } => {
                let data = vec![0xAA; usize::from(len)];
                r.push(
                    base.wrapping_add(offset),
                    &data,
                    max_waiting,
                    &mut budget,
                    &mut deliver,
                );
                highest_end = u64::MAX;
            }
            Op::SkipGap => {
                r.skip_gap(&mut budget, &mut deliver);
            }
        }
        assert!(
            r.waiting_bytes() <= max_waiting,
            "{} > {max_waiting}",
            r.waiting_bytes()
        );
        assert!(
            budget.used <= budget.cap,
            "{} > {}",
            budget.used,
            budget.cap
        );
        assert_eq!(
            budget.used,
            r.waiting_bytes(),
            "one reassembler, one budget"
        );
    }
    r.flush(&mut budget, &mut deliver);
    assert_eq!(r.waiting_bytes(), 0);
    assert_eq!(budget.used, 0);
    // Without far jumps, a stream that started at the SYN cannot deliver more
    // bytes than its highest offset.
    if inp.with_syn && highest_end != u64::MAX {
        assert!(
            delivered as u64 <= highest_end,
            "{delivered} > {highest_end}"
        );
    }
});
