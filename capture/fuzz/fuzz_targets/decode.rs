//! Raw link-layer frames of every supported link type, decoded and handed to
//! a small flow table (TCP, QUIC, tunnels, anything the bytes claim to be).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shakedown_capture::decode::linktype;
use shakedown_capture::{decode, Timestamp, Tracker, TrackerConfig};

const LINKTYPES: [i32; 12] = [
    linktype::ETHERNET,
    linktype::NULL,
    linktype::LOOP,
    linktype::RAW,
    linktype::RAW_OLD,
    linktype::RAW_OPENBSD,
    linktype::IPV4,
    linktype::IPV6,
    linktype::LINUX_SLL,
    linktype::LINUX_SLL2,
    linktype::PPP,
    linktype::PPP_HDLC,
];

fuzz_target!(|data: &[u8]| {
    let mut tracker = Tracker::new(TrackerConfig {
        max_flows: 4,
        early_client_hello: true,
        ..TrackerConfig::default()
    });
    // Several frames per input, separated by a 2-byte length, so that a flow
    // can see more than one packet.
    let mut rest = data;
    let mut ts = 0i64;
    while let [sel, hi, lo, tail @ ..] = rest {
        let len = (usize::from(*hi) << 8 | usize::from(*lo)).min(tail.len());
        let (frame, next) = tail.split_at(len);
        rest = next;
        ts += 1_000_000;
        let lt = LINKTYPES[usize::from(*sel) % LINKTYPES.len()];
        if let Ok(pkt) = decode(lt, frame) {
            tracker.process(Timestamp(ts), &pkt, &mut |_| {});
            // The flow table holds max_flows; connections that sent only a
            // SYN wait apart in a ring of its own capacity.
            assert!(tracker.active_flows() <= tracker.max_active_flows());
            assert!(tracker.max_active_flows() <= 8);
        }
    }
    tracker.flush(&mut |_| {});
    assert_eq!(tracker.active_flows(), 0);
});
