//! The hand-written JSON writer of `fingerprint` produces exactly what serde
//! would, on every connection of our captures and of the reference corpus
//! (non-ASCII ALPN, odd SNIs, later hellos...).

use shakedown::connection_record::{ConnectionJson, ConnectionRecord};
use shakedown_capture::tracker::{FlowEvent, TrackerConfig};
use shakedown_capture::{decode, FileSource, Tracker};
use std::path::{Path, PathBuf};

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            captures(&p, out);
        } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
            out.push(p);
        }
    }
}

#[test]
fn write_json_matches_serde() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    captures(&root.join("pcaps"), &mut files);
    captures(&root.join("../shared/corpus/pcaps"), &mut files);
    let mut json = ConnectionJson::default();
    let mut compared = 0;
    for path in files {
        let mut src = FileSource::open(&path).unwrap();
        let linktype = src.linktype().expect("one link type");
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut records = Vec::new();
        let mut sink = |ev: FlowEvent| {
            if let FlowEvent::Handshake(c) = ev {
                let mut fast = Vec::new();
                json.write(&c, &mut fast);
                let serde = ConnectionRecord::from_connection(&c, &mut json.cache);
                records.push((fast, serde));
            }
        };
        while let Ok(Some(p)) = src.next_packet() {
            if let Ok(pkt) = decode(linktype, p.data) {
                tracker.process(p.ts, &pkt, &mut sink);
            }
        }
        tracker.flush(&mut sink);
        for (fast, serde) in records {
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                serde_json::to_string(&serde).unwrap(),
                "{}",
                path.display()
            );
            compared += 1;
        }
    }
    assert!(compared >= 19, "compared only {compared} records");
}
