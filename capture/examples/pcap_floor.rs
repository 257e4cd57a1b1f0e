//! The libpcap floor for benchmarks: open a capture and read every packet with
//! `pcap_next_ex`, nothing else. Prints the packet and byte counts.

fn main() {
    let path = std::env::args().nth(1).expect("usage: pcap_floor FILE");
    let mut cap = pcap::Capture::from_file(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (mut packets, mut bytes) = (0u64, 0u64);
    while let Ok(p) = cap.next_packet() {
        packets += 1;
        bytes += p.data.len() as u64;
    }
    println!("{packets} packets, {bytes} bytes");
}
