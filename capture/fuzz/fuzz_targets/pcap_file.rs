//! Whole capture files (pcap and pcapng, any link type, truncated or corrupt)
//! through shakedown's classic pcap reader, libpcap (pcapng) or the
//! mixed-link-type pcapng reader, then decoding and the flow table. Sources
//! open paths, so each input is written to a file in memory (/dev/shm).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shakedown_capture::{decode, FileSource, Tracker, TrackerConfig};
use std::path::PathBuf;
use std::sync::OnceLock;

fn scratch() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("shakedown-fuzz-{}.pcap", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).expect("scratch file");
    let Ok(mut src) = FileSource::open(path) else {
        return;
    };
    let mut tracker = Tracker::new(TrackerConfig {
        max_flows: 8,
        ..TrackerConfig::default()
    });
    for _ in 0..10_000 {
        match src.next_packet() {
            Ok(Some(p)) => {
                let ts = p.ts;
                if let Ok(pkt) = decode(p.linktype, p.data) {
                    tracker.process(ts, &pkt, &mut |_| {});
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    tracker.flush(&mut |_| {});
});
