//! Arbitrary sequences of TCP segments (any flags, sequence numbers, overlaps,
//! conflicting retransmissions, reordering) between a few endpoints, through
//! decoding and the flow table with small limits. Checks: flows and buffers
//! stay within their caps, every flow ends exactly once.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shakedown_capture::decode::linktype;
use shakedown_capture::{decode, FlowEvent, Timestamp, Tracker, TrackerConfig};

#[derive(Debug, Arbitrary)]
struct Segment {
    /// Which of 4 connections (2 clients x 2 ports).
    conn: u8,
    from_client: bool,
    flags: u8,
    /// Offset from the connection's initial sequence number in this direction.
    seq_offset: u16,
    window: u16,
    /// Microseconds since the previous segment.
    gap_us: u16,
    payload: Vec<u8>,
}

#[derive(Debug, Arbitrary)]
struct Session {
    isn: [u32; 2],
    segments: Vec<Segment>,
}

const MAX_FLOWS: usize = 3;
const HANDSHAKE_TOTAL: usize = 8 * 1024;
const WAITING_TOTAL: usize = 8 * 1024;

fn frame(seg: &Segment, isn: [u32; 2]) -> Vec<u8> {
    let client = [10, 0, 0, 1 + (seg.conn & 1)];
    let server = [10, 0, 0, 100];
    let cport = 40000 + u16::from(seg.conn >> 1 & 1);
    let (src, dst, sport, dport, base) = if seg.from_client {
        (client, server, cport, 443, isn[0])
    } else {
        (server, client, 443, cport, isn[1])
    };
    let payload = &seg.payload[..seg.payload.len().min(1400)];
    let mut f = Vec::with_capacity(54 + payload.len());
    f.extend_from_slice(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00]);
    let total = (20 + 20 + payload.len()) as u16;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&base.wrapping_add(u32::from(seg.seq_offset)).to_be_bytes());
    f.extend_from_slice(&0u32.to_be_bytes());
    f.extend_from_slice(&[0x50, seg.flags & 0x3f]);
    f.extend_from_slice(&seg.window.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

fuzz_target!(|s: Session| {
    let mut tracker = Tracker::new(TrackerConfig {
        max_flows: MAX_FLOWS,
        max_handshake_bytes: 4096,
        max_handshake_total: HANDSHAKE_TOTAL,
        max_waiting_per_direction: 2048,
        max_waiting_total: WAITING_TOTAL,
        early_client_hello: true,
        ..TrackerConfig::default()
    });
    let mut ts = 1_700_000_000_000_000_000i64;
    let mut ended = std::collections::HashSet::new();
    let mut count = |ev: FlowEvent| {
        if let FlowEvent::End(end) = ev {
            assert!(ended.insert(end.id), "flow {} ended twice", end.id);
        }
    };
    for seg in s.segments.iter().take(512) {
        ts += i64::from(seg.gap_us) * 1000;
        let f = frame(seg, s.isn);
        let pkt = decode(linktype::ETHERNET, &f).expect("a well-formed frame decodes");
        tracker.process(Timestamp(ts), &pkt, &mut count);
        // The flow table holds MAX_FLOWS; connections that sent only a SYN
        // wait apart in a ring of its own capacity.
        assert!(tracker.active_flows() <= tracker.max_active_flows());
        assert!(tracker.max_active_flows() <= 2 * MAX_FLOWS);
        assert!(
            tracker.buffered_bytes() <= HANDSHAKE_TOTAL + WAITING_TOTAL,
            "{} bytes buffered",
            tracker.buffered_bytes()
        );
    }
    tracker.flush(&mut count);
    assert_eq!(tracker.active_flows(), 0);
    let st = tracker.stats();
    assert_eq!(ended.len() as u64, st.flows_tcp + st.flows_quic, "{st:?}");
});
