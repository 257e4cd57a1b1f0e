//! Incremental TLS record reader for one direction of a connection.
//!
//! Fed the in-order bytes of a TCP stream chunk by chunk (one chunk per TCP
//! segment, so that segment boundaries are known), it
//! * recognises TLS by content (a TLS record header, or an SSLv2-format
//!   CLIENT-HELLO), not by port; a stream that starts with plaintext (STARTTLS,
//!   HTTP CONNECT, SOCKS) is watched for a handshake record at the start of a later
//!   segment, for a bounded number of segments;
//! * reassembles handshake messages that span records and segments, buffering
//!   only type-22 record payload and only while the caller still wants handshake
//!   messages (bounded by `max_handshake_bytes`);
//! * reports every record header (content type, length) without buffering the
//!   payload of other records.

/// TLS record content types.
pub const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
pub const CONTENT_ALERT: u8 = 21;
pub const CONTENT_HANDSHAKE: u8 = 22;
pub const CONTENT_APPLICATION_DATA: u8 = 23;

/// Handshake message types delivered to the caller.
pub const HANDSHAKE_CLIENT_HELLO: u8 = 1;
pub const HANDSHAKE_SERVER_HELLO: u8 = 2;

/// Largest legal TLSCiphertext fragment (2^14 + 2048) plus slack for odd stacks.
const MAX_RECORD_LEN: usize = 16384 + 2048 + 256;
/// Default cap on buffered handshake bytes per direction.
pub const DEFAULT_MAX_HANDSHAKE_BYTES: usize = 64 * 1024;
/// How long a plaintext prefix (STARTTLS and friends) is watched for TLS.
const PLAINTEXT_MAX_CHUNKS: u32 = 64;
const PLAINTEXT_MAX_BYTES: usize = 64 * 1024;

/// What the reader saw.
#[derive(Debug, PartialEq, Eq)]
pub enum TlsEvent<'a> {
    /// A record header (every record, whatever its type).
    Record { content_type: u8, length: u16 },
    /// A complete ClientHello or ServerHello message (body without the 4-byte header).
    Handshake { msg_type: u8, body: &'a [u8] },
    /// A complete SSLv2-format CLIENT-HELLO (from the message type byte on).
    Sslv2ClientHello { msg: &'a [u8] },
    /// The stream does not carry TLS (nothing recognisable within the watch limit).
    NotTls,
    /// A record header that makes no sense after TLS began; the stream is dropped.
    Desync,
    /// A handshake message larger than the buffer cap; handshake collection stops.
    HandshakeTooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing seen yet.
    Start,
    /// Plaintext seen; watching segment starts for a handshake record.
    Plaintext { chunks: u32, bytes: usize },
    /// Following TLS records.
    Records,
    /// Collecting an SSLv2 CLIENT-HELLO of `total` bytes (2-byte header included).
    SslV2 { total: usize },
    /// Nothing more to learn from this direction.
    Done,
}

/// Per-direction TLS reader. See the module documentation.
#[derive(Debug)]
pub struct TlsStream {
    mode: Mode,
    header: [u8; 5],
    header_len: usize,
    /// Payload bytes left in the current record.
    remaining: usize,
    /// Current record's payload goes to `hs`.
    collecting: bool,
    want_handshake: bool,
    after_ccs: bool,
    hs_len_at_record_start: usize,
    hs: Vec<u8>,
    max_handshake_bytes: usize,
}

impl Default for TlsStream {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_HANDSHAKE_BYTES)
    }
}

impl TlsStream {
    pub fn new(max_handshake_bytes: usize) -> TlsStream {
        TlsStream {
            mode: Mode::Start,
            header: [0; 5],
            header_len: 0,
            remaining: 0,
            collecting: false,
            want_handshake: true,
            after_ccs: false,
            hs_len_at_record_start: 0,
            hs: Vec::new(),
            max_handshake_bytes,
        }
    }

    /// Stop collecting handshake messages (the caller has what it needs); frees the buffer.
    /// Record headers are still reported.
    pub fn stop_handshake(&mut self) {
        self.want_handshake = false;
        self.collecting = false;
        self.hs = Vec::new();
    }

    /// True once the reader has seen a TLS record or SSLv2 hello.
    pub fn is_tls(&self) -> bool {
        matches!(self.mode, Mode::Records | Mode::SslV2 { .. })
    }

    /// True while too few bytes have been seen to tell what the stream carries.
    pub fn is_undecided(&self) -> bool {
        self.mode == Mode::Start
    }

    /// True when feeding more bytes can produce no more events.
    pub fn is_done(&self) -> bool {
        self.mode == Mode::Done
    }

    /// Bytes of heap this reader holds.
    pub fn buffered_bytes(&self) -> usize {
        self.hs.capacity()
    }

    /// Feeds the next in-order chunk of the stream (ideally one TCP segment).
    pub fn feed(&mut self, mut data: &[u8], sink: &mut impl FnMut(TlsEvent<'_>)) {
        while !data.is_empty() {
            match self.mode {
                Mode::Done => return,
                Mode::Start => {
                    if !self.detect_start(&mut data, sink) {
                        return;
                    }
                }
                Mode::Plaintext { chunks, bytes } => {
                    // Only a segment that begins with a handshake record switches to TLS.
                    if data.len() >= 3
                        && data[0] == CONTENT_HANDSHAKE
                        && data[1] == 3
                        && data[2] <= 4
                    {
                        self.mode = Mode::Records;
                        continue;
                    }
                    let (chunks, bytes) = (chunks + 1, bytes + data.len());
                    if chunks > PLAINTEXT_MAX_CHUNKS || bytes > PLAINTEXT_MAX_BYTES {
                        self.finish(sink, TlsEvent::NotTls);
                    } else {
                        self.mode = Mode::Plaintext { chunks, bytes };
                    }
                    return;
                }
                Mode::SslV2 { total } => {
                    let n = (total - self.hs.len()).min(data.len());
                    self.hs.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if self.hs.len() == total {
                        sink(TlsEvent::Sslv2ClientHello { msg: &self.hs[2..] });
                        self.hs.clear();
                        // A v2-format hello offering TLS is followed by TLS records.
                        self.mode = Mode::Records;
                    }
                }
                Mode::Records => self.read_records(&mut data, sink),
            }
        }
    }

    /// Decides what the first bytes are. Returns false if more bytes are needed.
    fn detect_start(&mut self, data: &mut &[u8], sink: &mut impl FnMut(TlsEvent<'_>)) -> bool {
        let have = self.header_len;
        if have + data.len() < 3 {
            self.header[have..have + data.len()].copy_from_slice(data);
            self.header_len += data.len();
            *data = &[];
            return false;
        }
        let mut peek = [0u8; 3];
        peek[..have].copy_from_slice(&self.header[..have]);
        peek[have..].copy_from_slice(&data[..3 - have]);
        if (20..=24).contains(&peek[0]) && peek[1] == 3 && peek[2] <= 4 {
            // The bytes kept in `header` are the start of the first record header.
            self.mode = Mode::Records;
        } else if peek[0] & 0x80 != 0 && peek[2] == 1 {
            let len = (((peek[0] & 0x7f) as usize) << 8) | peek[1] as usize;
            if 2 + len > self.max_handshake_bytes {
                self.finish(sink, TlsEvent::HandshakeTooLarge);
                return true;
            }
            self.hs.clear();
            // Exactly what the hello needs: the cap bounds the heap, not just the length.
            self.hs.reserve_exact(2 + len);
            self.hs.extend_from_slice(&self.header[..have]);
            self.header_len = 0;
            self.mode = Mode::SslV2 { total: 2 + len };
        } else if peek[0] & 0x80 != 0 && peek[2] == 4 {
            // An SSLv2 SERVER-HELLO: SSL 2.0 proper, nothing we fingerprint.
            self.finish(sink, TlsEvent::NotTls);
        } else {
            self.header_len = 0;
            self.mode = Mode::Plaintext {
                chunks: 0,
                bytes: 0,
            };
        }
        true
    }

    fn read_records(&mut self, data: &mut &[u8], sink: &mut impl FnMut(TlsEvent<'_>)) {
        while !data.is_empty() {
            if self.remaining == 0 {
                let take = (5 - self.header_len).min(data.len());
                self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
                self.header_len += take;
                *data = &data[take..];
                if self.header_len < 5 {
                    return;
                }
                let h = self.header;
                let content_type = h[0];
                let length = u16::from_be_bytes([h[3], h[4]]);
                if !(20..=24).contains(&content_type)
                    || h[1] != 3
                    || length as usize > MAX_RECORD_LEN
                {
                    self.finish(sink, TlsEvent::Desync);
                    return;
                }
                sink(TlsEvent::Record {
                    content_type,
                    length,
                });
                self.begin_record(content_type, length as usize, sink);
                self.remaining = length as usize;
                if length == 0 {
                    self.header_len = 0;
                    continue;
                }
            }
            let n = self.remaining.min(data.len());
            if self.collecting {
                self.hs.extend_from_slice(&data[..n]);
            }
            self.remaining -= n;
            *data = &data[n..];
            if self.remaining == 0 {
                self.header_len = 0;
                if self.collecting {
                    self.end_handshake_record(sink);
                }
            }
        }
    }

    fn begin_record(
        &mut self,
        content_type: u8,
        length: usize,
        sink: &mut impl FnMut(TlsEvent<'_>),
    ) {
        self.collecting = false;
        match content_type {
            CONTENT_HANDSHAKE if self.want_handshake => {
                if self.hs.len() + length > self.max_handshake_bytes {
                    sink(TlsEvent::HandshakeTooLarge);
                    self.stop_handshake();
                } else {
                    self.collecting = true;
                    self.hs_len_at_record_start = self.hs.len();
                    // Grow to what is needed, no more (a doubling Vec could
                    // hold twice the cap).
                    self.hs.reserve_exact(length);
                }
            }
            CONTENT_HANDSHAKE => {}
            CONTENT_APPLICATION_DATA => self.stop_handshake(),
            _ => {
                // Handshake messages may not be interleaved with other records.
                self.hs.clear();
                if content_type == CONTENT_CHANGE_CIPHER_SPEC {
                    self.after_ccs = true;
                }
            }
        }
    }

    fn end_handshake_record(&mut self, sink: &mut impl FnMut(TlsEvent<'_>)) {
        // After ChangeCipherSpec a TLS 1.2 handshake record is encrypted (Finished);
        // only a record holding exactly one hello is plaintext (TLS 1.3's second
        // ClientHello after a HelloRetryRequest follows a compatibility CCS).
        if self.after_ccs && self.hs_len_at_record_start == 0 {
            let hs = &self.hs;
            let plausible = hs.len() >= 4
                && (hs[0] == HANDSHAKE_CLIENT_HELLO || hs[0] == HANDSHAKE_SERVER_HELLO)
                && u24(&hs[1..4]) + 4 == hs.len();
            if !plausible {
                self.hs.clear();
                return;
            }
        }
        let mut off = 0;
        while self.hs.len() - off >= 4 {
            let msg_type = self.hs[off];
            let len = u24(&self.hs[off + 1..off + 4]);
            if len + 4 > self.max_handshake_bytes {
                sink(TlsEvent::HandshakeTooLarge);
                self.stop_handshake();
                return;
            }
            if self.hs.len() - off < 4 + len {
                break;
            }
            if msg_type == HANDSHAKE_CLIENT_HELLO || msg_type == HANDSHAKE_SERVER_HELLO {
                sink(TlsEvent::Handshake {
                    msg_type,
                    body: &self.hs[off + 4..off + 4 + len],
                });
            }
            off += 4 + len;
        }
        self.hs.drain(..off);
    }

    fn finish(&mut self, sink: &mut impl FnMut(TlsEvent<'_>), why: TlsEvent<'_>) {
        sink(why);
        self.mode = Mode::Done;
        self.hs = Vec::new();
    }
}

fn u24(b: &[u8]) -> usize {
    ((b[0] as usize) << 16) | ((b[1] as usize) << 8) | b[2] as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum Ev {
        Rec(u8, u16),
        Hs(u8, Vec<u8>),
        V2(Vec<u8>),
        NotTls,
        Desync,
        TooLarge,
    }

    fn run(stream: &mut TlsStream, chunks: &[&[u8]]) -> Vec<Ev> {
        let mut out = Vec::new();
        for c in chunks {
            stream.feed(c, &mut |e| {
                out.push(match e {
                    TlsEvent::Record {
                        content_type,
                        length,
                    } => Ev::Rec(content_type, length),
                    TlsEvent::Handshake { msg_type, body } => Ev::Hs(msg_type, body.to_vec()),
                    TlsEvent::Sslv2ClientHello { msg } => Ev::V2(msg.to_vec()),
                    TlsEvent::NotTls => Ev::NotTls,
                    TlsEvent::Desync => Ev::Desync,
                    TlsEvent::HandshakeTooLarge => Ev::TooLarge,
                })
            });
        }
        out
    }

    fn record(ct: u8, payload: &[u8]) -> Vec<u8> {
        let mut r = vec![ct, 3, 1];
        r.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        r.extend_from_slice(payload);
        r
    }

    fn hs_msg(t: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![t, 0, (body.len() >> 8) as u8, body.len() as u8];
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn hello_in_one_byte_chunks() {
        let body: Vec<u8> = (0..300).map(|i| i as u8).collect();
        let wire = record(22, &hs_msg(1, &body));
        let chunks: Vec<&[u8]> = wire.chunks(1).collect();
        let ev = run(&mut TlsStream::default(), &chunks);
        assert_eq!(ev, vec![Ev::Rec(22, 304), Ev::Hs(1, body)]);
    }

    #[test]
    fn hello_spanning_three_records() {
        let body: Vec<u8> = (0..500).map(|i| (i * 7) as u8).collect();
        let msg = hs_msg(1, &body);
        let mut wire = Vec::new();
        for part in msg.chunks(200) {
            wire.extend(record(22, part));
        }
        wire.extend(record(23, &[1, 2, 3]));
        let ev = run(&mut TlsStream::default(), &[&wire[..250], &wire[250..]]);
        assert_eq!(
            ev,
            vec![
                Ev::Rec(22, 200),
                Ev::Rec(22, 200),
                Ev::Rec(22, 104),
                Ev::Hs(1, body),
                Ev::Rec(23, 3)
            ]
        );
    }

    #[test]
    fn several_messages_in_one_record_and_only_hellos_reported() {
        let mut payload = hs_msg(2, &[1, 2]);
        payload.extend(hs_msg(11, &[9; 10]));
        payload.extend(hs_msg(14, &[]));
        let ev = run(&mut TlsStream::default(), &[&record(22, &payload)]);
        assert_eq!(
            ev,
            vec![Ev::Rec(22, payload.len() as u16), Ev::Hs(2, vec![1, 2])]
        );
    }

    #[test]
    fn encrypted_finished_after_ccs_is_not_parsed() {
        let mut s = TlsStream::default();
        let mut wire = record(20, &[1]);
        // 0x01 as first byte but the length does not match: encrypted noise.
        wire.extend(record(
            22,
            &[1, 0, 0, 9, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5],
        ));
        let ev = run(&mut s, &[&wire]);
        assert_eq!(ev, vec![Ev::Rec(20, 1), Ev::Rec(22, 16)]);
        // A plaintext second ClientHello after a compatibility CCS is reported.
        let ev = run(&mut s, &[&record(22, &hs_msg(1, &[4, 4]))]);
        assert_eq!(ev, vec![Ev::Rec(22, 6), Ev::Hs(1, vec![4, 4])]);
    }

    #[test]
    fn starttls_prefix_then_tls() {
        let mut s = TlsStream::default();
        let hello = record(22, &hs_msg(1, &[7; 40]));
        let ev = run(&mut s, &[b"EHLO x\r\n", b"STARTTLS\r\n", &hello]);
        assert_eq!(ev, vec![Ev::Rec(22, 44), Ev::Hs(1, vec![7; 40])]);
    }

    #[test]
    fn plaintext_forever_gives_up() {
        let mut s = TlsStream::default();
        let line = [b'a'; 100];
        let chunks: Vec<&[u8]> = (0..100).map(|_| &line[..]).collect();
        let ev = run(&mut s, &chunks);
        assert_eq!(ev, vec![Ev::NotTls]);
        assert!(s.is_done());
    }

    #[test]
    fn desync_stops_the_stream() {
        let mut s = TlsStream::default();
        let mut wire = record(23, &[0; 4]);
        wire.extend_from_slice(&[0x99, 0x99, 0x99, 0x99, 0x99]);
        let ev = run(&mut s, &[&wire]);
        assert_eq!(ev, vec![Ev::Rec(23, 4), Ev::Desync]);
        assert!(s.is_done());
        assert_eq!(s.buffered_bytes(), 0);
    }

    #[test]
    fn huge_length_claim_is_capped() {
        let mut s = TlsStream::new(1024);
        // A handshake message claiming 16 MB inside normal-sized records.
        let mut msg = vec![1, 0xff, 0xff, 0xff];
        msg.extend_from_slice(&[0; 500]);
        let ev = run(&mut s, &[&record(22, &msg)]);
        assert_eq!(ev, vec![Ev::Rec(22, 504), Ev::TooLarge]);
        assert_eq!(s.buffered_bytes(), 0);
        for _ in 0..10 {
            run(&mut s, &[&record(22, &[0; 1000])]);
        }
        assert_eq!(s.buffered_bytes(), 0);
    }

    #[test]
    fn sslv2_client_hello_then_tls_records() {
        let mut s = TlsStream::default();
        let mut v2 = vec![0x80, 9 + 3 + 16, 1, 3, 1, 0, 3, 0, 0, 0, 16, 0, 0, 0x2f];
        v2.extend_from_slice(&[1; 16]);
        let ev = run(
            &mut s,
            &[&v2[..2], &v2[2..], &record(22, &hs_msg(16, &[0; 4]))],
        );
        assert_eq!(ev[0], Ev::V2(v2[2..].to_vec()));
        assert_eq!(ev[1], Ev::Rec(22, 8));
    }

    /// Found by the `tls_stream` fuzz target: handshake records adding up to
    /// just under the cap made the buffer's capacity double past it.
    #[test]
    fn buffer_capacity_stays_within_the_cap() {
        let cap = 16 * 1024;
        let mut s = TlsStream::new(cap);
        // The fuzzer's input: a ServerHello record, then a full-size (16 KB)
        // record starting a 330 KB Certificate message, in 256-byte chunks.
        let mut stream = vec![22, 3, 3, 0, 89, 2, 0, 0, 85];
        stream.extend(std::iter::repeat_n(0u8, 85));
        stream.extend([22, 3, 3, 0x40, 0x00, 0x0b, 0x05, 0x2e, 0xad]);
        stream.extend(std::iter::repeat_n(0x0bu8, 16380));
        for chunk in stream.chunks(256) {
            s.feed(chunk, &mut |_| {});
            assert!(s.buffered_bytes() <= cap, "{}", s.buffered_bytes());
        }
        // An SSLv2 hello longer than the cap is not buffered at all.
        let mut s = TlsStream::new(1024);
        let mut events = Vec::new();
        s.feed(&[0xff, 0xff, 1, 3, 1], &mut |e| {
            events.push(format!("{e:?}"))
        });
        assert_eq!(events, ["HandshakeTooLarge"]);
        assert_eq!(s.buffered_bytes(), 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x1234_5678u32;
        for _ in 0..2000 {
            let mut s = TlsStream::new(4096);
            let mut buf = Vec::new();
            for _ in 0..64 {
                seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
                buf.push((seed >> 24) as u8);
            }
            // Bias towards plausible headers.
            buf[0] = 22;
            buf[1] = 3;
            run(&mut s, &buf.chunks(7).collect::<Vec<_>>());
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// However a handshake is cut into records and into chunks, the same
        /// messages come out.
        #[test]
        fn hello_is_invariant_to_record_and_chunk_splits(
            body_len in 0usize..3000,
            record_size in 1usize..2000,
            chunk_sizes in proptest::collection::vec(1usize..700, 1..20),
        ) {
            let body: Vec<u8> = (0..body_len).map(|i| (i * 13 + 5) as u8).collect();
            let mut msg = vec![1, (body_len >> 16) as u8, (body_len >> 8) as u8, body_len as u8];
            msg.extend_from_slice(&body);
            let mut wire = Vec::new();
            for part in msg.chunks(record_size) {
                wire.extend_from_slice(&[22, 3, 1, (part.len() >> 8) as u8, part.len() as u8]);
                wire.extend_from_slice(part);
            }
            let mut s = TlsStream::default();
            let mut got = Vec::new();
            let mut pos = 0;
            let mut i = 0;
            while pos < wire.len() {
                let n = chunk_sizes[i % chunk_sizes.len()].min(wire.len() - pos);
                s.feed(&wire[pos..pos + n], &mut |e| {
                    if let TlsEvent::Handshake { msg_type, body } = e {
                        got.push((msg_type, body.to_vec()));
                    }
                });
                pos += n;
                i += 1;
            }
            prop_assert_eq!(got, vec![(1u8, body)]);
        }

        /// Arbitrary bytes in arbitrary chunks never panic and never grow the buffer past its cap.
        #[test]
        fn arbitrary_input_is_bounded(data in proptest::collection::vec(any::<u8>(), 0..5000), chunk in 1usize..300) {
            let mut s = TlsStream::new(2048);
            for c in data.chunks(chunk) {
                s.feed(c, &mut |_| {});
                prop_assert!(s.buffered_bytes() <= 2048 + 18_688 + 256);
            }
        }
    }
}
