//! Builds a large benchmark capture from small ones: every input connection is
//! repeated with rewritten addresses (each copy its own client address, each
//! input its own server address) and shifted timestamps, in time order, until
//! the output reaches the target size.
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
    /// Which input file the frame is from.
    input: u8,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: replicate_pcap OUTPUT SIZE_MB INPUT.pcap...");
        std::process::exit(2);
    }
    let target = args[2].parse::<u64>().expect("SIZE_MB") * 1_000_000;
    let mut frames = Vec::new();
    for (input_index, input) in args[3..].iter().enumerate() {
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
                input: u8::try_from(input_index).expect("at most 256 inputs"),
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
                                                 // Copies overlap in time in groups of 64, as concurrent clients would, and
                                                 // every group is written in time order, as a capture of a link is: its
                                                 // connections' packets interleave (a group is 64 x the inputs' frames,
                                                 // a few MB), and whole groups are written, so the file ends at a group's
                                                 // end. Copy 64k+i starts i us after copy 64k.
    const GROUP: u32 = 64;
    let mut group: Vec<(i64, u32, usize)> = Vec::new();
    while written < target {
        group.clear();
        for c in copy..copy + GROUP {
            let ts_base = start_ns + (c / GROUP) as i64 * span + (c % GROUP) as i64 * 1_000;
            group.extend((0..frames.len()).map(|i| (ts_base + frames[i].ts_ns, c, i)));
        }
        // Stable: frames with equal times keep their order within a copy.
        group.sort_by_key(|&(ts, _, _)| ts);
        for &(ts, c, i) in &group {
            let mut d = frames[i].data.clone();
            rewrite_addresses(&mut d, c, frames[i].input);
            w.write_all(&((ts / 1_000_000_000) as u32).to_le_bytes())
                .unwrap();
            w.write_all(&((ts % 1_000_000_000) as u32).to_le_bytes())
                .unwrap();
            w.write_all(&(d.len() as u32).to_le_bytes()).unwrap();
            w.write_all(&(d.len() as u32).to_le_bytes()).unwrap();
            w.write_all(&d).unwrap();
            written += 16 + d.len() as u64;
        }
        copy += GROUP;
    }
    w.flush().unwrap();
    eprintln!(
        "replicate_pcap: {} frames x {copy} copies, {:.1} MB",
        frames.len(),
        written as f64 / 1e6
    );
}

/// Gives copy `n` its own client address (10.a.b.1, fd00:<n>::1) and input
/// `input` its own server address (192.168.<input>.1, fd00:ffff:<input>::1):
/// the inputs were captured on loopback, both ends on one address, so without
/// this two inputs' connections from the same ephemeral port would be one flow
/// once their packets interleave. The server is the end with the lower port.
fn rewrite_addresses(d: &mut [u8], n: u32, input: u8) {
    let mut off = 12;
    let mut ethertype = u16::from_be_bytes([d[off], d[off + 1]]);
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        off += 4;
        ethertype = u16::from_be_bytes([d[off], d[off + 1]]);
    }
    let ip = off + 2;
    let ports = |at: usize| -> Option<(u16, u16)> {
        let p = d.get(at..at + 4)?;
        Some((
            u16::from_be_bytes([p[0], p[1]]),
            u16::from_be_bytes([p[2], p[3]]),
        ))
    };
    match ethertype {
        0x0800 if d.len() >= ip + 20 => {
            let ihl = (d[ip] & 0x0f) as usize * 4;
            let (sport, dport) = ports(ip + ihl).unwrap_or((1, 0));
            let client = [10, (n >> 8) as u8, n as u8, 1];
            let server = [192, 168, input, 1];
            let (src, dst) = ends(sport, dport, client, server);
            d[ip + 12..ip + 16].copy_from_slice(&src);
            d[ip + 16..ip + 20].copy_from_slice(&dst);
            d[ip + 10] = 0;
            d[ip + 11] = 0;
            let sum = checksum(&d[ip..ip + ihl]);
            d[ip + 10..ip + 12].copy_from_slice(&sum.to_be_bytes());
        }
        0x86dd if d.len() >= ip + 40 => {
            let (sport, dport) = ports(ip + 40).unwrap_or((1, 0));
            let mut client = [0u8; 16];
            client[0] = 0xfd;
            client[1..5].copy_from_slice(&n.to_be_bytes());
            client[15] = 1;
            let mut server = [0u8; 16];
            server[..4].copy_from_slice(&[0xfd, 0, 0xff, 0xff]);
            server[5] = input;
            server[15] = 1;
            let (src, dst) = ends(sport, dport, client, server);
            d[ip + 8..ip + 24].copy_from_slice(&src);
            d[ip + 24..ip + 40].copy_from_slice(&dst);
        }
        _ => {}
    }
}

/// (source, destination) of a packet between `client` and `server`: the
/// server is the end with the lower port.
fn ends<T>(sport: u16, dport: u16, client: T, server: T) -> (T, T) {
    if sport > dport {
        (client, server)
    } else {
        (server, client)
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
