//! Per-packet cost of the capture stage: decoding plus the flow-table lookup
//! and dispatch (`Tracker::process`), on the frames of the project's own
//! captures replicated over many client addresses (so the table holds many
//! flows, as on a mirror port), and on a flood of bare SYNs from new addresses.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use shakedown_capture::{decode, FileSource, Timestamp, Tracker, TrackerConfig};
use std::path::Path;

/// The frames of pcaps/*.pcap (Ethernet ones), in file order.
fn own_frames() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pcaps");
    let mut frames = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("pcaps/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    paths.sort();
    for p in paths {
        let mut src = FileSource::open(&p).expect("a readable capture");
        if src.linktype() != Some(1) {
            continue;
        }
        while let Ok(Some(pkt)) = src.next_packet() {
            frames.push(pkt.data.to_vec());
        }
    }
    frames
}

/// Rewrites the IPv4 addresses so that copy `n` is a new pair of endpoints
/// (IPv4 frames only; others are left as they are).
fn retarget(frame: &mut [u8], n: u32) {
    if frame.len() >= 34 && frame[12..14] == [0x08, 0x00] {
        let b = n.to_be_bytes();
        // Both addresses get the copy number in their last three bytes, so
        // that the two directions still match each other.
        for off in [27usize, 31] {
            frame[off..off + 3].copy_from_slice(&b[1..]);
        }
    }
}

fn bench(c: &mut Criterion) {
    let base = own_frames();
    let copies = 64u32;
    let mut frames = Vec::with_capacity(base.len() * copies as usize);
    for n in 0..copies {
        for f in &base {
            let mut f = f.clone();
            retarget(&mut f, n + 1);
            frames.push(f);
        }
    }
    let mut g = c.benchmark_group("capture");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function(
        "decode + flow table + TLS, per packet (own captures x64)",
        |b| {
            b.iter(|| {
                let mut t = Tracker::new(TrackerConfig::default());
                let mut events = 0usize;
                for (i, f) in frames.iter().enumerate() {
                    if let Ok(p) = decode(1, f) {
                        t.process(Timestamp(i as i64 * 1000), &p, &mut |_| events += 1);
                    }
                }
                t.flush(&mut |_| events += 1);
                black_box(events)
            })
        },
    );
    // Bare SYNs from new addresses into a table that is full: every packet
    // creates a flow and evicts one.
    let syn = base
        .iter()
        .find(|f| f.len() >= 54 && f[12..14] == [0x08, 0x00] && f[47] == 0x02)
        .expect("a SYN in pcaps/")
        .clone();
    let syns: Vec<Vec<u8>> = (0..100_000u32)
        .map(|n| {
            let mut f = syn.clone();
            f[26..30].copy_from_slice(&(0x0a00_0000 | n).to_be_bytes());
            f
        })
        .collect();
    g.throughput(Throughput::Elements(syns.len() as u64));
    g.bench_function("SYN flood into a full 10,000-flow table, per packet", |b| {
        b.iter(|| {
            let mut t = Tracker::new(TrackerConfig {
                max_flows: 10_000,
                ..TrackerConfig::default()
            });
            for (i, f) in syns.iter().enumerate() {
                if let Ok(p) = decode(1, f) {
                    t.process(Timestamp(i as i64 * 1000), &p, &mut |_| {});
                }
            }
            black_box(t.active_flows())
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
