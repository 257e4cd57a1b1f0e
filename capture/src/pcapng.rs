//! pcapng files whose interfaces have different link types (a capture on
//! `eth0` and `lo` at once, Wireshark's "any" interfaces...). libpcap refuses
//! them ("an interface has a type ... different from the type of the first
//! interface"); this reader, on rusticata's pcap-parser, reads them packet by
//! packet, each with its interface's link type and timestamp resolution.
//! Files libpcap can read are left to libpcap.

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError, PcapNGReader};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The circular buffer holds at least one whole block; larger ones are an error.
const BUFFER: usize = 1 << 20;
/// How far into the file the interfaces are looked for when deciding.
const SCAN_BYTES: u64 = 4 << 20;

pub const MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// One interface of the current section.
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: i32,
    /// Timestamp units per second.
    resolution: u64,
    offset_s: i64,
}

/// A packet as read: link type, nanosecond timestamp, wire length.
pub struct NgPacket {
    pub linktype: i32,
    pub ts_ns: i64,
    pub wire_len: u32,
}

pub struct NgReader {
    reader: PcapNGReader<File>,
    interfaces: Vec<Interface>,
    /// The packet handed out last (copied: the reader's buffer moves on).
    pub data: Vec<u8>,
}

/// True if the file is pcapng and the interfaces described before its first
/// packet do not all have the same link type.
pub fn has_mixed_linktypes(path: &Path) -> bool {
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let mut magic = [0u8; 4];
    if file.read_exact(&mut magic).is_err() || magic != MAGIC {
        return false;
    }
    let Ok(file) = File::open(path) else {
        return false;
    };
    let Ok(mut reader) = PcapNGReader::new(BUFFER, file.take(SCAN_BYTES)) else {
        return false;
    };
    let mut first: Option<i32> = None;
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                let stop = match block {
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        let lt = idb.linktype.0;
                        if first.is_some_and(|f| f != lt) {
                            return true;
                        }
                        first.get_or_insert(lt);
                        false
                    }
                    PcapBlockOwned::NG(b) => b.is_data_block(),
                    _ => true,
                };
                reader.consume(offset);
                if stop {
                    return false;
                }
            }
            Err(PcapError::Incomplete(_)) => {
                if reader.refill().is_err() || reader.reader_exhausted() {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
}

impl NgReader {
    pub fn open(path: &Path) -> Result<NgReader, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        let reader = PcapNGReader::new(BUFFER, file).map_err(|e| format!("{e:?}"))?;
        Ok(NgReader {
            reader,
            interfaces: Vec::new(),
            data: Vec::new(),
        })
    }

    /// The first interface's link type (once the first packet was read).
    pub fn first_linktype(&self) -> Option<i32> {
        self.interfaces.first().map(|i| i.linktype)
    }

    /// The next packet (its bytes in `self.data`), `Ok(None)` at the end.
    pub fn next_packet(&mut self) -> Result<Option<NgPacket>, String> {
        let mut stalled = 0;
        loop {
            let (offset, packet) = match self.reader.next() {
                Ok((offset, block)) => {
                    stalled = 0;
                    let packet = match block {
                        PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                            // A new section numbers its interfaces from 0 again.
                            self.interfaces.clear();
                            None
                        }
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            let resolution = idb.ts_resolution().ok_or_else(|| {
                                format!(
                                    "interface {}: invalid timestamp resolution {}",
                                    self.interfaces.len(),
                                    idb.if_tsresol
                                )
                            })?;
                            self.interfaces.push(Interface {
                                linktype: idb.linktype.0,
                                resolution,
                                offset_s: idb.ts_offset(),
                            });
                            None
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            let i = *self.interfaces.get(epb.if_id as usize).ok_or_else(|| {
                                format!("packet of undescribed interface {}", epb.if_id)
                            })?;
                            let units = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                            let secs = (units / i.resolution) as i64 + i.offset_s;
                            let frac = (units % i.resolution) as i128 * 1_000_000_000
                                / i.resolution as i128;
                            let caplen = (epb.caplen as usize).min(epb.data.len());
                            self.data.clear();
                            self.data.extend_from_slice(&epb.data[..caplen]);
                            Some(NgPacket {
                                linktype: i.linktype,
                                ts_ns: secs
                                    .saturating_mul(1_000_000_000)
                                    .saturating_add(frac as i64),
                                wire_len: epb.origlen,
                            })
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                            let i = *self
                                .interfaces
                                .first()
                                .ok_or("simple packet before any interface")?;
                            self.data.clear();
                            self.data.extend_from_slice(spb.data);
                            Some(NgPacket {
                                linktype: i.linktype,
                                ts_ns: 0,
                                wire_len: spb.origlen,
                            })
                        }
                        _ => None,
                    };
                    (offset, packet)
                }
                Err(PcapError::Eof) => return Ok(None),
                Err(PcapError::Incomplete(_)) => {
                    if self.reader.reader_exhausted() {
                        return Err("file ends in the middle of a block".into());
                    }
                    stalled += 1;
                    if stalled > 2 {
                        return Err(format!("a block larger than {BUFFER} bytes"));
                    }
                    self.reader.refill().map_err(|e| format!("{e:?}"))?;
                    continue;
                }
                Err(e) => return Err(format!("corrupt block: {e:?}")),
            };
            self.reader.consume(offset);
            if let Some(p) = packet {
                return Ok(Some(p));
            }
        }
    }
}
