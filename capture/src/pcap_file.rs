//! Classic pcap files (what `tcpdump -w` writes), read without libpcap.
//!
//! libpcap reads a file with one `fread` for each record header and one for each
//! packet, copying every packet into its own buffer; on a handshake-dense file
//! that costs as much CPU as all of shakedown's fingerprinting. This reader
//! fills a 1 MiB buffer with large `read`s and hands out packets borrowed from
//! it, so a packet is copied once (kernel to buffer) and a record costs a few
//! loads. It also names the byte offset of whatever is wrong in a file.
//!
//! Only regular files in the classic format come here; pcapng and pipes stay
//! with libpcap ([`crate::source::FileSource`] decides).

use crate::source::Timestamp;
use std::fs::File;
use std::io::{self, Read};

/// Bytes read at a time; a record never needs more than `MAX_CAPLEN + 16`.
const BUFFER: usize = 1 << 20;
/// libpcap's largest snapshot length: a longer record is corrupt.
pub const MAX_CAPLEN: u32 = 262_144;
const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;

/// Byte order and timestamp unit of a classic pcap file, from its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// Fields are in the other byte order than the magic's little-endian reading.
    pub swapped: bool,
    /// Timestamps in nanoseconds (magic 0xa1b23c4d) rather than microseconds.
    pub nanos: bool,
}

impl Format {
    /// The `u16` at byte `i` of a header, in the file's byte order.
    #[inline]
    fn u16(self, h: &[u8], i: usize) -> u16 {
        let b = [h[i], h[i + 1]];
        if self.swapped {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    /// The `u32` at byte `i` of a header, in the file's byte order.
    #[inline]
    fn u32(self, h: &[u8], i: usize) -> u32 {
        let b = [h[i], h[i + 1], h[i + 2], h[i + 3]];
        if self.swapped {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }
}

/// The format of a file starting with `magic`, if it is classic pcap.
pub fn classic_format(magic: [u8; 4]) -> Option<Format> {
    match u32::from_le_bytes(magic) {
        0xa1b2_c3d4 => Some(Format {
            swapped: false,
            nanos: false,
        }),
        0xd4c3_b2a1 => Some(Format {
            swapped: true,
            nanos: false,
        }),
        0xa1b2_3c4d => Some(Format {
            swapped: false,
            nanos: true,
        }),
        0x4d3c_b2a1 => Some(Format {
            swapped: true,
            nanos: true,
        }),
        _ => None,
    }
}

/// One record as read.
pub struct Record<'a> {
    pub ts: Timestamp,
    pub data: &'a [u8],
    pub wire_len: u32,
}

pub struct PcapFile<R: Read = File> {
    input: R,
    buf: Box<[u8]>,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    format: Format,
    linktype: i32,
}

impl<R: Read> PcapFile<R> {
    /// Reads and checks the 24-byte file header. Errors say what is wrong.
    pub fn new(input: R) -> Result<PcapFile<R>, String> {
        let mut reader = PcapFile {
            input,
            buf: vec![0u8; BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            offset: 0,
            format: Format {
                swapped: false,
                nanos: false,
            },
            linktype: 0,
        };
        let got = reader.fill(FILE_HEADER).map_err(|e| e.to_string())?;
        if got < FILE_HEADER {
            return Err(format!(
                "file ends inside the {FILE_HEADER}-byte pcap header ({got} bytes)"
            ));
        }
        let h = &reader.buf[..FILE_HEADER];
        let magic = [h[0], h[1], h[2], h[3]];
        let format =
            classic_format(magic).ok_or_else(|| format!("not a pcap file (magic {magic:02x?})"))?;
        let (major, minor) = (format.u16(h, 4), format.u16(h, 6));
        if major != 2 {
            return Err(format!("unsupported pcap version {major}.{minor}"));
        }
        // The upper bits carry the FCS length of some captures (LT_FCS_DATAPRESENT).
        reader.linktype = linktype_to_dlt((format.u32(h, 20) & 0x03ff_ffff) as i32);
        reader.format = format;
        reader.advance(FILE_HEADER);
        Ok(reader)
    }

    /// Link-layer type as libpcap reports it (DLT_*).
    pub fn linktype(&self) -> i32 {
        self.linktype
    }

    /// The next record, `Ok(None)` at the end of the file. An error names the
    /// record's byte offset; the reader should not be used after one.
    #[inline]
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, String> {
        let at = self.offset;
        let got = self.fill(RECORD_HEADER).map_err(|e| e.to_string())?;
        if got == 0 {
            return Ok(None);
        }
        if got < RECORD_HEADER {
            return Err(format!(
                "file ends inside a record header ({got} of {RECORD_HEADER} bytes at byte offset {at})"
            ));
        }
        let (h, f) = (
            &self.buf[self.start..self.start + RECORD_HEADER],
            self.format,
        );
        let (secs, frac, caplen, wire_len) = (f.u32(h, 0), f.u32(h, 4), f.u32(h, 8), f.u32(h, 12));
        if caplen > MAX_CAPLEN {
            return Err(format!(
                "captured length {caplen} is larger than {MAX_CAPLEN} (corrupt record header at byte offset {at})"
            ));
        }
        let len = RECORD_HEADER + caplen as usize;
        let got = self.fill(len).map_err(|e| e.to_string())?;
        if got < len {
            return Err(format!(
                "file ends inside a packet ({} of {caplen} captured bytes of the record at byte offset {at})",
                got - RECORD_HEADER
            ));
        }
        let frac_ns = if self.format.nanos {
            i64::from(frac)
        } else {
            i64::from(frac) * 1_000
        };
        let start = self.start + RECORD_HEADER;
        self.advance(len);
        Ok(Some(Record {
            ts: Timestamp(i64::from(secs) * 1_000_000_000 + frac_ns),
            data: &self.buf[start..start + caplen as usize],
            wire_len,
        }))
    }

    /// Makes at least `need` bytes available at `start` unless the input ends
    /// first; returns how many are.
    #[inline]
    fn fill(&mut self, need: usize) -> io::Result<usize> {
        if self.end - self.start >= need {
            return Ok(need);
        }
        self.refill(need)
    }

    #[inline(never)]
    fn refill(&mut self, need: usize) -> io::Result<usize> {
        if self.start + need > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end - self.start < need {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => break,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok((self.end - self.start).min(need))
    }

    fn advance(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }
}

/// libpcap's mapping of file link types to DLT values where they differ (on
/// Linux): LINKTYPE_RAW (101) is DLT_RAW (12).
fn linktype_to_dlt(linktype: i32) -> i32 {
    match linktype {
        101 => 12,
        100 => 11,
        lt => lt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(magic: u32, linktype: u32) -> Vec<u8> {
        let mut h = magic.to_le_bytes().to_vec();
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&65535u32.to_le_bytes());
        h.extend_from_slice(&linktype.to_le_bytes());
        h
    }

    fn record(secs: u32, frac: u32, data: &[u8]) -> Vec<u8> {
        let mut r = secs.to_le_bytes().to_vec();
        r.extend_from_slice(&frac.to_le_bytes());
        r.extend_from_slice(&(data.len() as u32).to_le_bytes());
        r.extend_from_slice(&(data.len() as u32 + 4).to_le_bytes());
        r.extend_from_slice(data);
        r
    }

    /// (timestamp ns, bytes, wire length) of a record.
    type ReadRecord = (i64, Vec<u8>, u32);

    /// Reads every record, and the error that stopped it, if any.
    fn read_all(bytes: &[u8]) -> (Vec<ReadRecord>, Option<String>) {
        let mut f = match PcapFile::new(bytes) {
            Ok(f) => f,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let mut out = Vec::new();
        loop {
            match f.next_record() {
                Ok(Some(r)) => out.push((r.ts.0, r.data.to_vec(), r.wire_len)),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn microsecond_and_nanosecond_files() {
        let mut f = header(0xa1b2_c3d4, 1);
        f.extend(record(10, 5, b"abc"));
        f.extend(record(11, 0, b""));
        let (recs, err) = read_all(&f);
        assert_eq!(err, None);
        assert_eq!(
            recs,
            vec![
                (10_000_005_000, b"abc".to_vec(), 7),
                (11_000_000_000, Vec::new(), 4)
            ]
        );
        let mut f = header(0xa1b2_3c4d, 1);
        f.extend(record(10, 5, b"x"));
        assert_eq!(read_all(&f).0[0].0, 10_000_000_005);
    }

    #[test]
    fn big_endian_file() {
        let mut f = Vec::new();
        f.extend_from_slice(&0xa1b2_c3d4u32.to_be_bytes());
        f.extend_from_slice(&2u16.to_be_bytes());
        f.extend_from_slice(&4u16.to_be_bytes());
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&65535u32.to_be_bytes());
        f.extend_from_slice(&101u32.to_be_bytes());
        for v in [7u32, 1, 2, 2] {
            f.extend_from_slice(&v.to_be_bytes());
        }
        f.extend_from_slice(b"hi");
        let mut r = PcapFile::new(f.as_slice()).unwrap();
        assert_eq!(r.linktype(), 12, "LINKTYPE_RAW is DLT_RAW");
        let rec = r.next_record().unwrap().unwrap();
        assert_eq!(
            (rec.ts.0, rec.data, rec.wire_len),
            (7_000_001_000, &b"hi"[..], 2)
        );
        assert!(r.next_record().unwrap().is_none());
    }

    #[test]
    fn records_across_buffer_refills() {
        // Records of every size up to 70 KB cross the 1 MiB buffer's end often.
        let mut f = header(0xa1b2_c3d4, 1);
        let mut expected = Vec::new();
        for i in 0..200u32 {
            let data: Vec<u8> = (0..(i * 347) % 70_000).map(|b| (b ^ i) as u8).collect();
            f.extend(record(i, 0, &data));
            expected.push(data);
        }
        let (recs, err) = read_all(&f);
        assert_eq!(err, None);
        assert_eq!(recs.len(), 200);
        for (r, e) in recs.iter().zip(&expected) {
            assert_eq!(&r.1, e);
        }
    }

    #[test]
    fn damage_is_named_with_its_byte_offset() {
        let (_, err) = read_all(&header(0xa1b2_c3d4, 1)[..10]);
        assert_eq!(
            err.unwrap(),
            "file ends inside the 24-byte pcap header (10 bytes)"
        );
        let (_, err) = read_all(b"\x0a\x0d\x0d\x0a and more bytes to fill 24");
        assert!(err.unwrap().starts_with("not a pcap file"));

        let mut f = header(0xa1b2_c3d4, 1);
        f.extend(record(1, 0, b"abcd"));
        let whole = f.clone();
        f.extend(&record(2, 0, b"efgh")[..7]);
        let (recs, err) = read_all(&f);
        assert_eq!(recs.len(), 1);
        assert_eq!(
            err.unwrap(),
            "file ends inside a record header (7 of 16 bytes at byte offset 44)"
        );

        let mut f = whole.clone();
        f.extend(&record(2, 0, b"efgh")[..18]);
        assert_eq!(
            read_all(&f).1.unwrap(),
            "file ends inside a packet (2 of 4 captured bytes of the record at byte offset 44)"
        );

        let mut f = whole;
        let mut bad = record(2, 0, b"efgh");
        bad[8..12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        f.extend(bad);
        assert_eq!(
            read_all(&f).1.unwrap(),
            "captured length 2147483647 is larger than 262144 (corrupt record header at byte offset 44)"
        );

        let mut f = header(0xa1b2_c3d4, 1);
        f[4] = 1;
        assert_eq!(read_all(&f).1.unwrap(), "unsupported pcap version 1.4");
    }
}
