//! Builds a large benchmark capture from small ones: every input connection is
//! repeated with rewritten addresses (each copy gets its own client and server
//! addresses) and shifted timestamps, until the output reaches the target size.
//!
//! Usage: replicate_pcap OUTPUT SIZE_MB INPUT.pcap...
//! Inputs must be Ethernet captures. IPv4 header checksums are recomputed;
//! TCP/UDP checksums are left as they were (no tool in the benchmark checks them).

use shakedown_capture::FileSource;
use std::io::{BufWriter, Write};
use std::path::Path;

struct Frame {
    ts_ns: i64,
    data: Vec<u8>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: replicate_pcap OUTPUT SIZE_MB INPUT.pcap...");
        std::process::exit(2);
    }
    let target = args[2].parse::<u64>().expect("SIZE_MB") * 1_000_000;
    let mut frames = Vec::new();
    for input in &args[3..] {
        let mut src = FileSource::open(Path::new(input)).unwrap_or_else(|e| panic!("{e}"));
        if src.linktype() != Some(1) {
            eprintln!("replicate_pcap: skipping {input}: not Ethernet");
            continue;
        }
        let mut first = None;
        while let Some(p) = src.next_packet().unwrap_or_else(|e| panic!("{e}")) {
            let base = *first.get_or_insert(p.ts.0);
            frames.push(Frame {
                ts_ns: p.ts.0 - base,
                data: p.data.to_vec(),
            });
        }
    }
    let span = frames.iter().map(|f| f.ts_ns).max().unwrap_or(0) + 1_000_000;
    let out = std::fs::File::create(&args[1]).expect("create output");
    let mut w = BufWriter::with_capacity(1 << 20, out);
    // pcap header, nanosecond magic, Ethernet
    w.write_all(&0xa1b23c4du32.to_le_bytes()).unwrap();
    w.write_all(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
    w.write_all(&262_144u32.to_le_bytes()).unwrap();
    w.write_all(&1u32.to_le_bytes()).unwrap();
    let mut written = 24u64;
    let mut copy = 0u32;
    let start_ns = 1_767_225_600_000_000_000i64; // 2026-01-01
    while written < target {
        // Copies overlap in time in groups of 64, as concurrent clients would.
        let ts_base = start_ns + (copy / 64) as i64 * span + (copy % 64) as i64 * 1_000;
        for f in &frames {
            let mut d = f.data.clone();
            rewrite_addresses(&mut d, copy);
            let ts = ts_base + f.ts_ns;
            w.write_all(&((ts / 1_000_000_000) as u32).to_le_bytes())
                .unwrap();
            w.write_all(&((ts % 1_000_000_000) as u32).to_le_bytes())
                .unwrap();
            w.write_all(&(d.len() as u32).to_le_bytes()).unwrap();
            w.write_all(&(d.len() as u32).to_le_bytes()).unwrap();
            w.write_all(&d).unwrap();
            written += 16 + d.len() as u64;
        }
        copy += 1;
    }
    w.flush().unwrap();
    eprintln!(
        "replicate_pcap: {} frames x {copy} copies, {:.1} MB",
        frames.len(),
        written as f64 / 1e6
    );
}

/// Gives copy `n` its own addresses: 10.a.b.c for IPv4 (client and server
/// differ), fd00::/8 for IPv6.
fn rewrite_addresses(d: &mut [u8], n: u32) {
    let mut off = 12;
    let mut ethertype = u16::from_be_bytes([d[off], d[off + 1]]);
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        off += 4;
        ethertype = u16::from_be_bytes([d[off], d[off + 1]]);
    }
    let ip = off + 2;
    match ethertype {
        0x0800 if d.len() >= ip + 20 => {
            for addr in [ip + 12, ip + 16] {
                let last = d[addr + 3];
                d[addr..addr + 4].copy_from_slice(&[10, (n >> 8) as u8, n as u8, last]);
            }
            d[ip + 10] = 0;
            d[ip + 11] = 0;
            let ihl = (d[ip] & 0x0f) as usize * 4;
            let sum = checksum(&d[ip..ip + ihl]);
            d[ip + 10..ip + 12].copy_from_slice(&sum.to_be_bytes());
        }
        0x86dd if d.len() >= ip + 40 => {
            for addr in [ip + 8, ip + 24] {
                d[addr] = 0xfd;
                d[addr + 1..addr + 5].copy_from_slice(&n.to_be_bytes());
            }
        }
        _ => {}
    }
}

fn checksum(h: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in h.chunks(2) {
        sum += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
