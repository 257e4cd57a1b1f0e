//! Packet sources: capture files (classic pcap files through [`crate::pcap_file`],
//! pcapng and pipes through libpcap, pcapng with interfaces of different link
//! types through [`crate::pcapng`]) and live capture through libpcap.
//!
//! Live capture is added by the `live` front end; both hand out [`RawPacket`]s with
//! the capture's own timestamps, which are the only clock the pipeline uses.

use std::path::{Path, PathBuf};
use thiserror::Error;

/// Nanoseconds since the Unix epoch, from the capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn from_secs(s: i64) -> Timestamp {
        Timestamp(s * 1_000_000_000)
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// Saturating difference in nanoseconds.
    pub fn nanos_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// One captured frame, borrowed from the source until the next call.
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    pub ts: Timestamp,
    /// Bytes captured (may be less than `wire_len` when the snaplen cut the frame).
    pub data: &'a [u8],
    pub wire_len: u32,
    /// Link-layer type (DLT) of the interface it was captured on.
    pub linktype: i32,
}

/// Why a capture could not be read.
#[derive(Debug, Error)]
pub enum SourceError {
    #[error("{path}: cannot open capture: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("{path}: packet {packet}: {reason}")]
    Read {
        path: PathBuf,
        /// 1-based number of the packet that could not be read.
        packet: u64,
        reason: String,
    },
    /// A live capture that stopped giving packets (its interface went away).
    #[error("{interface}: {reason}")]
    Capture { interface: String, reason: String },
}

enum Backend {
    Classic(Box<crate::pcap_file::PcapFile>),
    Libpcap(pcap::Capture<pcap::Offline>),
    MixedPcapNg(Box<crate::pcapng::NgReader>),
}

/// A pcap or pcapng file.
pub struct FileSource {
    backend: Backend,
    path: PathBuf,
    linktype: i32,
    packets: u64,
    file_len: u64,
}

impl FileSource {
    pub fn open(path: &Path) -> Result<FileSource, SourceError> {
        let open_err = |reason: String| SourceError::Open {
            path: path.to_path_buf(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| open_err(e.to_string()))?;
        if meta.is_dir() {
            return Err(open_err("is a directory".into()));
        }
        // (A FIFO or character device has no size: a pipe from tcpdump is fine.)
        if meta.is_file() && meta.len() == 0 {
            return Err(open_err("file is empty (0 bytes)".into()));
        }
        // Only a regular file can be looked into and opened again: a FIFO
        // (tcpdump -w - | ...) would lose the bytes read here.
        if meta.is_file() && crate::pcapng::has_mixed_linktypes(path) {
            let reader = crate::pcapng::NgReader::open(path).map_err(open_err)?;
            return Ok(FileSource {
                backend: Backend::MixedPcapNg(Box::new(reader)),
                path: path.to_path_buf(),
                linktype: -1,
                packets: 0,
                file_len: meta.len(),
            });
        }
        if meta.is_file() && starts_classic(path) {
            let file = std::fs::File::open(path).map_err(|e| open_err(e.to_string()))?;
            let reader = crate::pcap_file::PcapFile::new(file).map_err(open_err)?;
            return Ok(FileSource {
                linktype: reader.linktype(),
                backend: Backend::Classic(Box::new(reader)),
                path: path.to_path_buf(),
                packets: 0,
                file_len: meta.len(),
            });
        }
        let cap = pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano)
            .map_err(|e| open_err(describe(e)))?;
        let linktype = cap.get_datalink().0;
        Ok(FileSource {
            backend: Backend::Libpcap(cap),
            path: path.to_path_buf(),
            linktype,
            packets: 0,
            file_len: meta.len(),
        })
    }

    /// Link-layer type (DLT_*) of the file; `None` for a pcapng file whose
    /// interfaces have different ones (each packet carries its own).
    pub fn linktype(&self) -> Option<i32> {
        (self.linktype >= 0).then_some(self.linktype)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the file in bytes (for progress reporting).
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Packets read so far.
    pub fn packets_read(&self) -> u64 {
        self.packets
    }

    /// The next packet, `Ok(None)` at the end of the file.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, SourceError> {
        let read_err = |packets: u64, reason: String| SourceError::Read {
            path: self.path.clone(),
            packet: packets + 1,
            reason,
        };
        match &mut self.backend {
            Backend::Classic(file) => match file.next_record() {
                Ok(Some(r)) => {
                    self.packets += 1;
                    Ok(Some(RawPacket {
                        ts: r.ts,
                        data: r.data,
                        wire_len: r.wire_len,
                        linktype: self.linktype,
                    }))
                }
                Ok(None) => Ok(None),
                Err(reason) => Err(read_err(self.packets, reason)),
            },
            Backend::Libpcap(cap) => match cap.next_packet() {
                Ok(p) => {
                    self.packets += 1;
                    // timeval field types differ between platforms (not always i64).
                    #[allow(clippy::unnecessary_cast)]
                    let ts = Timestamp(
                        p.header.ts.tv_sec as i64 * 1_000_000_000 + p.header.ts.tv_usec as i64,
                    );
                    Ok(Some(RawPacket {
                        ts,
                        data: p.data,
                        wire_len: p.header.len,
                        linktype: self.linktype,
                    }))
                }
                Err(pcap::Error::NoMorePackets) => Ok(None),
                Err(e) => Err(read_err(self.packets, describe(e))),
            },
            Backend::MixedPcapNg(ng) => match ng.next_packet() {
                Ok(Some(p)) => {
                    self.packets += 1;
                    Ok(Some(RawPacket {
                        ts: Timestamp(p.ts_ns),
                        data: &ng.data,
                        wire_len: p.wire_len,
                        linktype: p.linktype,
                    }))
                }
                Ok(None) => Ok(None),
                Err(reason) => Err(read_err(self.packets, reason)),
            },
        }
    }
}

/// True if the regular file at `path` starts with a classic pcap magic number.
fn starts_classic(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && crate::pcap_file::classic_format(magic).is_some()
}

fn describe(e: pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) => s,
        other => other.to_string(),
    }
}

/// Settings of a live capture.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub snaplen: i32,
    pub buffer_bytes: i32,
    pub promiscuous: bool,
    pub bpf: String,
    /// Read timeout, milliseconds (how often an idle reader wakes up; without
    /// immediate mode, also how long packets may wait in the kernel).
    pub timeout_ms: i32,
    /// Hand each packet over as it arrives (TPACKET_V2) instead of in blocks
    /// (TPACKET_V3: fewer wake-ups at high rates, up to `timeout_ms` of delay).
    pub immediate: bool,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            // Enough for a jumbo frame; every segment of a hello fits.
            snaplen: 9216,
            buffer_bytes: 64 << 20,
            promiscuous: true,
            bpf: "tcp or (udp port 443)".into(),
            timeout_ms: 100,
            // Kernel blocks: a wake-up per packet costs about 4x the CPU at
            // 200,000 packets/s, for at most `timeout_ms` less delay.
            immediate: false,
        }
    }
}

/// libpcap's counters of one capture (pcap_stats) since it was opened (32
/// bits: they wrap on a busy link).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    pub received: u32,
    pub dropped: u32,
    pub if_dropped: u32,
}

impl LiveStats {
    /// What was counted since `earlier` (of the same capture), across a wrap.
    pub fn since(self, earlier: LiveStats) -> LiveStats {
        LiveStats {
            received: self.received.wrapping_sub(earlier.received),
            dropped: self.dropped.wrapping_sub(earlier.dropped),
            if_dropped: self.if_dropped.wrapping_sub(earlier.if_dropped),
        }
    }
}

/// Wakes a live reader (pcap_breakloop).
pub struct StopHandle(pcap::BreakLoop);

impl StopHandle {
    pub fn stop(&self) {
        self.0.breakloop();
    }
}

/// A live capture on one interface (libpcap; needs root or CAP_NET_RAW).
pub struct LiveSource {
    cap: pcap::Capture<pcap::Active>,
    interface: String,
    linktype: i32,
}

impl LiveSource {
    pub fn open(interface: &str, opts: &LiveOptions) -> Result<LiveSource, SourceError> {
        let err = |reason: String| SourceError::Open {
            path: PathBuf::from(interface),
            reason,
        };
        let mut cap = pcap::Capture::from_device(interface)
            .map_err(|e| err(describe(e)))?
            .promisc(opts.promiscuous)
            .snaplen(opts.snaplen)
            .buffer_size(opts.buffer_bytes)
            .immediate_mode(opts.immediate)
            .timeout(opts.timeout_ms)
            .open()
            .map_err(|e| err(describe(e)))?;
        if !opts.bpf.trim().is_empty() {
            cap.filter(&opts.bpf, true)
                .map_err(|e| err(format!("BPF filter {:?}: {}", opts.bpf, describe(e))))?;
        }
        let linktype = cap.get_datalink().0;
        Ok(LiveSource {
            cap,
            interface: interface.to_string(),
            linktype,
        })
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    pub fn linktype(&self) -> i32 {
        self.linktype
    }

    /// The next packet, `Ok(None)` when the read timeout expired without one.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, SourceError> {
        match self.cap.next_packet() {
            Ok(p) => {
                // timeval field types differ between platforms (not always i64).
                #[allow(clippy::unnecessary_cast)]
                let ts = Timestamp(
                    p.header.ts.tv_sec as i64 * 1_000_000_000 + p.header.ts.tv_usec as i64 * 1_000,
                );
                Ok(Some(RawPacket {
                    ts,
                    data: p.data,
                    wire_len: p.header.len,
                    linktype: self.linktype,
                }))
            }
            // Timeout, or woken by `StopHandle::stop` (pcap_breakloop).
            Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => Err(SourceError::Capture {
                interface: self.interface.clone(),
                reason: describe(e),
            }),
        }
    }

    /// A handle another thread can use to wake a reader blocked in `next_packet`
    /// (on an idle link libpcap may wait for a packet forever).
    pub fn stop_handle(&mut self) -> StopHandle {
        StopHandle(self.cap.breakloop_handle())
    }

    /// The capture's counters, `None` if libpcap cannot give them (a capture
    /// whose interface went away).
    pub fn stats(&mut self) -> Option<LiveStats> {
        self.cap.stats().ok().map(|s| LiveStats {
            received: s.received,
            dropped: s.dropped,
            if_dropped: s.if_dropped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_counters_are_taken_across_a_wrap() {
        let before = LiveStats {
            received: u32::MAX - 9,
            dropped: 5,
            if_dropped: 0,
        };
        let after = LiveStats {
            received: 20,
            dropped: 7,
            if_dropped: 0,
        };
        let d = after.since(before);
        assert_eq!((d.received, d.dropped, d.if_dropped), (30, 2, 0));
    }
}
