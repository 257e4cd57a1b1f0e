//! Packet capture front end of shakedown: packet sources (libpcap), link-layer and
//! IP decoding, the flow table, TCP reassembly and QUIC Initial decryption.
//!
//! Data flows one way: [`source`] hands out frames, [`decode`] turns a frame into
//! an IP packet with its TCP segment or UDP datagram, and [`tracker::Tracker`]
//! keeps one entry per connection, reassembles what it needs, parses the TLS
//! handshake with `shakedown-fingerprints` and emits [`tracker::FlowEvent`]s.
//! Every table and buffer here has a limit, an eviction rule and a counter.

pub mod decode;
pub mod pcap_file;
pub mod pcapng;
pub mod quic;
pub mod reassembly;
pub mod source;
pub mod tracker;

pub use decode::{decode, Packet, Skip};
pub use source::{
    FileSource, LiveOptions, LiveSource, LiveStats, RawPacket, SourceError, StopHandle, Timestamp,
};
pub use tracker::{
    Connection, FlowEnd, FlowEvent, RecordBatch, RecordMeta, Tracker, TrackerConfig, TrackerStats,
};
