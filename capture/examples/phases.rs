//! Where `fingerprint`'s time goes, for benchmarks: reads a capture through
//! shakedown's own source and stops after a phase.
//!
//! `phases read FILE`   read every packet (shakedown's reader floor)
//! `phases decode FILE` read and decode
//! `phases track FILE`  read, decode and run the flow table (hellos parsed,
//!                      events dropped: no fingerprints, no JSON)
//! `phases records FILE` as `track`, but following every connection's records
//!                      to its end, as `replay` does

use shakedown_capture::{decode, FileSource, Tracker, TrackerConfig};
use std::path::Path;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(phase), Some(path)) = (args.next(), args.next()) else {
        eprintln!("usage: phases read|decode|track|records FILE");
        std::process::exit(2);
    };
    let mut src = FileSource::open(Path::new(&path)).unwrap_or_else(|e| panic!("{e}"));
    let mut tracker = Tracker::new(if phase == "records" {
        TrackerConfig {
            early_client_hello: true,
            ..TrackerConfig::default()
        }
    } else {
        TrackerConfig {
            max_records_per_flow: 0,
            ..TrackerConfig::default()
        }
    });
    let (mut packets, mut events, mut peak_flows) = (0u64, 0u64, 0usize);
    while let Some(p) = src.next_packet().unwrap_or_else(|e| panic!("{e}")) {
        packets += 1;
        if phase == "read" {
            continue;
        }
        let Ok(pkt) = decode(p.linktype, p.data) else {
            continue;
        };
        if phase == "track" || phase == "records" {
            tracker.process(p.ts, &pkt, &mut |_| events += 1);
            peak_flows = peak_flows.max(tracker.active_flows());
        }
    }
    tracker.flush(&mut |_| events += 1);
    println!("{packets} packets, {events} flow events, at most {peak_flows} flows at once");
}
