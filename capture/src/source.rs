//! Packet sources: capture files read through libpcap (pcap and pcapng).
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
}

/// A pcap or pcapng file read with libpcap.
pub struct FileSource {
    cap: pcap::Capture<pcap::Offline>,
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
        let cap = pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano)
            .map_err(|e| open_err(describe(e)))?;
        let linktype = cap.get_datalink().0;
        Ok(FileSource {
            cap,
            path: path.to_path_buf(),
            linktype,
            packets: 0,
            file_len: meta.len(),
        })
    }

    /// libpcap link-layer type (DLT_*) of the file.
    pub fn linktype(&self) -> i32 {
        self.linktype
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
        match self.cap.next_packet() {
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
                }))
            }
            Err(pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => Err(SourceError::Read {
                path: self.path.clone(),
                packet: self.packets + 1,
                reason: describe(e),
            }),
        }
    }
}

fn describe(e: pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) => s,
        other => other.to_string(),
    }
}
