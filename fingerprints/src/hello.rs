//! ClientHello / ServerHello: the handshake fields fingerprints are made of.
//!
//! The fixed part of each hello is parsed with rusticata's `tls-parser`; the
//! extension block is walked here, leniently: a malformed extension body does
//! not throw away the rest of the hello (tshark, the reference for JA3, keeps
//! the extension types it could read, and so do we).

use crate::grease::is_grease;
use smallvec::SmallVec;
use thiserror::Error;

pub const EXT_SERVER_NAME: u16 = 0x0000;
pub const EXT_SUPPORTED_GROUPS: u16 = 0x000a;
pub const EXT_EC_POINT_FORMATS: u16 = 0x000b;
pub const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
pub const EXT_ALPN: u16 = 0x0010;
pub const EXT_SESSION_TICKET: u16 = 0x0023;
pub const EXT_PRE_SHARED_KEY: u16 = 0x0029;
pub const EXT_EARLY_DATA: u16 = 0x002a;
pub const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;
pub const EXT_QUIC_TRANSPORT_PARAMETERS: u16 = 0x0039;

/// The `random` of a ServerHello that is really a HelloRetryRequest (RFC 8446 4.1.3).
const HELLO_RETRY_REQUEST_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Why a hello could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HelloError {
    #[error("ClientHello is truncated or malformed ({0})")]
    MalformedClientHello(&'static str),
    #[error("ServerHello is truncated or malformed ({0})")]
    MalformedServerHello(&'static str),
    #[error("ServerHello version {0:#06x} is not one we can parse")]
    UnsupportedServerVersion(u16),
}

/// A list of 16-bit code points; hellos rarely carry more than 32, which stay inline.
pub type U16List = SmallVec<[u16; 32]>;

/// Wire format of a ClientHello.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HelloFormat {
    /// A TLS (or SSL 3.0) handshake message.
    #[default]
    Tls,
    /// An SSL 2.0-format CLIENT-HELLO (RFC 6101 appendix E.2), possibly offering TLS.
    SslV2,
}

/// The fingerprint-relevant content of a ClientHello. Lists are in wire order and
/// still contain GREASE values: each fingerprint decides what to drop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    pub format: HelloFormat,
    /// `legacy_version` of the hello (not the record layer's, not supported_versions).
    pub legacy_version: u16,
    pub ciphers: U16List,
    /// Extension types in wire order.
    pub extensions: U16List,
    /// First `host_name` entry of the server_name extension (lossy UTF-8).
    pub server_name: Option<String>,
    /// ALPN protocol names offered, in order.
    pub alpn: Vec<Vec<u8>>,
    pub signature_algorithms: U16List,
    pub supported_groups: U16List,
    pub ec_point_formats: SmallVec<[u8; 4]>,
    pub supported_versions: U16List,
    pub session_id_len: u8,
    /// Length of the session_ticket extension body (non-zero: TLS 1.2 resumption attempt).
    pub session_ticket_len: u16,
    /// True when the extension block was cut short or an extension overran it.
    pub extensions_truncated: bool,
}

impl ClientHello {
    /// Parses the body of a ClientHello handshake message (after the 4-byte
    /// handshake header).
    pub fn parse(body: &[u8]) -> Result<ClientHello, HelloError> {
        let f = ClientHelloFixed::parse(body)
            .ok_or(HelloError::MalformedClientHello("fixed fields"))?;
        let mut hello = ClientHello {
            format: HelloFormat::Tls,
            legacy_version: f.version,
            ciphers: u16_list(f.ciphers),
            session_id_len: f.session_id_len,
            ..ClientHello::default()
        };
        if let Some(ext) = f.extensions {
            hello.extensions_truncated = !walk_extensions(ext, |typ, data| {
                hello.extensions.push(typ);
                hello.read_extension(typ, data);
            });
        }
        Ok(hello)
    }

    /// Parses an SSL 2.0-format CLIENT-HELLO message (starting at the message type
    /// byte, after the 2-byte SSLv2 record header).
    ///
    /// The 3-byte SSLv2 cipher specs are not TLS cipher suites; like tshark (the
    /// base of every reference implementation) we report no ciphers, so JA4 reads
    /// `..000000_000000000000_000000000000`. See docs/fingerprints.md.
    pub fn parse_sslv2(msg: &[u8]) -> Result<ClientHello, HelloError> {
        if msg.len() < 9 || msg[0] != 1 {
            return Err(HelloError::MalformedClientHello(
                "SSLv2 CLIENT-HELLO header",
            ));
        }
        let version = u16::from_be_bytes([msg[1], msg[2]]);
        let specs = u16::from_be_bytes([msg[3], msg[4]]) as usize;
        let sid = u16::from_be_bytes([msg[5], msg[6]]) as usize;
        let challenge = u16::from_be_bytes([msg[7], msg[8]]) as usize;
        if 9 + specs + sid + challenge > msg.len() || specs % 3 != 0 {
            return Err(HelloError::MalformedClientHello(
                "SSLv2 CLIENT-HELLO lengths",
            ));
        }
        Ok(ClientHello {
            format: HelloFormat::SslV2,
            legacy_version: version,
            session_id_len: sid.min(255) as u8,
            ..ClientHello::default()
        })
    }

    fn read_extension(&mut self, typ: u16, data: &[u8]) {
        match typ {
            EXT_SERVER_NAME => self.server_name = first_host_name(data),
            EXT_ALPN => self.alpn = alpn_list(data),
            EXT_SIGNATURE_ALGORITHMS => self.signature_algorithms = u16_list_u16len(data),
            EXT_SUPPORTED_GROUPS => self.supported_groups = u16_list_u16len(data),
            EXT_EC_POINT_FORMATS => {
                if let Some((&n, rest)) = data.split_first() {
                    self.ec_point_formats =
                        SmallVec::from_slice(&rest[..rest.len().min(n as usize)]);
                }
            }
            EXT_SUPPORTED_VERSIONS => {
                if let Some((&n, rest)) = data.split_first() {
                    self.supported_versions = u16_list(&rest[..rest.len().min(n as usize)]);
                }
            }
            EXT_SESSION_TICKET => self.session_ticket_len = data.len() as u16,
            _ => {}
        }
    }

    /// Highest version offered: max non-GREASE supported_versions, else legacy_version.
    pub fn highest_version(&self) -> u16 {
        self.supported_versions
            .iter()
            .copied()
            .filter(|&v| !is_grease(v))
            .max()
            .unwrap_or(self.legacy_version)
    }

    pub fn has_extension(&self, typ: u16) -> bool {
        self.extensions.contains(&typ)
    }

    /// The client is trying to resume: a session id, a session ticket or a PSK.
    pub fn offers_resumption(&self) -> bool {
        self.session_ticket_len > 0 || self.has_extension(EXT_PRE_SHARED_KEY)
    }
}

/// The fingerprint-relevant content of a ServerHello (or HelloRetryRequest).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHello {
    pub legacy_version: u16,
    pub cipher: u16,
    pub extensions: U16List,
    /// ALPN protocol selected by the server.
    pub alpn: Option<Vec<u8>>,
    /// Version from the supported_versions extension (TLS 1.3).
    pub selected_version: Option<u16>,
    pub is_hello_retry_request: bool,
    pub extensions_truncated: bool,
}

impl ServerHello {
    /// Parses the body of a ServerHello handshake message.
    pub fn parse(body: &[u8]) -> Result<ServerHello, HelloError> {
        if body.len() < 2 {
            return Err(HelloError::MalformedServerHello("version"));
        }
        let version = u16::from_be_bytes([body[0], body[1]]);
        let (cipher, random, ext) = match version {
            0x0300..=0x0303 => {
                let (_, sh) = tls_parser::parse_tls_handshake_server_hello(body)
                    .map_err(|_| HelloError::MalformedServerHello("fixed fields"))?;
                (sh.cipher.0, sh.random, sh.ext)
            }
            // TLS 1.3 drafts before -22 (0x7fxx, and Facebook's 0xfbxx experiments):
            // version, random, cipher, extensions; no session id, no compression.
            v if v == 0x0304 || v >> 8 == 0x7f || v >> 8 == 0xfb => {
                if body.len() < 36 {
                    return Err(HelloError::MalformedServerHello("draft fixed fields"));
                }
                let cipher = u16::from_be_bytes([body[34], body[35]]);
                let ext = length_prefixed_u16(&body[36..]);
                (cipher, &body[2..34], ext)
            }
            v => return Err(HelloError::UnsupportedServerVersion(v)),
        };
        let mut hello = ServerHello {
            legacy_version: version,
            cipher,
            is_hello_retry_request: random == HELLO_RETRY_REQUEST_RANDOM,
            ..ServerHello::default()
        };
        if let Some(ext) = ext {
            hello.extensions_truncated = !walk_extensions(ext, |typ, data| {
                hello.extensions.push(typ);
                match typ {
                    EXT_ALPN => hello.alpn = alpn_list(data).into_iter().next(),
                    EXT_SUPPORTED_VERSIONS if data.len() >= 2 => {
                        hello.selected_version = Some(u16::from_be_bytes([data[0], data[1]]))
                    }
                    _ => {}
                }
            });
        }
        Ok(hello)
    }

    /// The negotiated version: supported_versions if present, else the legacy field.
    pub fn version(&self) -> u16 {
        self.selected_version.unwrap_or(self.legacy_version)
    }
}

/// The fixed fields of a ClientHello, borrowed from the body.
struct ClientHelloFixed<'a> {
    version: u16,
    session_id_len: u8,
    /// The cipher suite vector, an even number of bytes.
    ciphers: &'a [u8],
    extensions: Option<&'a [u8]>,
}

impl<'a> ClientHelloFixed<'a> {
    /// Accepts exactly what tls-parser 0.12's `parse_tls_handshake_client_hello`
    /// accepts (a differential test holds us to it), without the two `Vec`s it
    /// builds: session id at most 32 bytes, cipher vector of even length, and
    /// extensions only if their length prefix fits (else none; trailing bytes
    /// ignored).
    fn parse(body: &'a [u8]) -> Option<ClientHelloFixed<'a>> {
        let version = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
        // version (2) + random (32)
        let (&sid_len, rest) = body.get(34..)?.split_first()?;
        if sid_len > 32 {
            return None;
        }
        let rest = rest.get(sid_len as usize..)?;
        let n = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize;
        let rest = &rest[2..];
        if n % 2 == 1 || n > rest.len() {
            return None;
        }
        let (ciphers, rest) = rest.split_at(n);
        let (&comp_len, rest) = rest.split_first()?;
        let rest = rest.get(comp_len as usize..)?;
        Some(ClientHelloFixed {
            version,
            session_id_len: sid_len,
            ciphers,
            extensions: length_prefixed_u16(rest),
        })
    }
}

/// Calls `f(type, body)` for every extension; returns false if the block was
/// malformed (the types read so far, and the type of an overrunning extension,
/// have been reported).
fn walk_extensions(mut block: &[u8], mut f: impl FnMut(u16, &[u8])) -> bool {
    while !block.is_empty() {
        if block.len() < 4 {
            return false;
        }
        let typ = u16::from_be_bytes([block[0], block[1]]);
        let len = u16::from_be_bytes([block[2], block[3]]) as usize;
        if block.len() < 4 + len {
            f(typ, &[]);
            return false;
        }
        f(typ, &block[4..4 + len]);
        block = &block[4 + len..];
    }
    true
}

fn length_prefixed_u16(data: &[u8]) -> Option<&[u8]> {
    if data.len() < 2 {
        return None;
    }
    let n = u16::from_be_bytes([data[0], data[1]]) as usize;
    data.get(2..2 + n)
}

fn u16_list(data: &[u8]) -> U16List {
    let values = data
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]));
    let n = data.len() / 2;
    let mut buf = [0u16; 32];
    if n > buf.len() {
        return values.collect();
    }
    // Filling a plain array is cheaper than SmallVec's per-element bookkeeping.
    for (slot, v) in buf.iter_mut().zip(values) {
        *slot = v;
    }
    U16List::from_buf_and_len(buf, n)
}

fn u16_list_u16len(data: &[u8]) -> U16List {
    if data.len() < 2 {
        return U16List::new();
    }
    let n = u16::from_be_bytes([data[0], data[1]]) as usize;
    u16_list(&data[2..data.len().min(2 + n)])
}

fn first_host_name(data: &[u8]) -> Option<String> {
    let list = length_prefixed_u16(data).unwrap_or(data.get(2..).unwrap_or(&[]));
    let mut rest = list;
    while rest.len() >= 3 {
        let typ = rest[0];
        let len = u16::from_be_bytes([rest[1], rest[2]]) as usize;
        let name = rest.get(3..3 + len)?;
        if typ == 0 {
            // from_utf8 is much cheaper than from_utf8_lossy on the (usual) valid name.
            return Some(match std::str::from_utf8(name) {
                Ok(s) => s.to_owned(),
                Err(_) => String::from_utf8_lossy(name).into_owned(),
            });
        }
        rest = &rest[3 + len..];
    }
    None
}

fn alpn_list(data: &[u8]) -> Vec<Vec<u8>> {
    let Some(mut rest) = length_prefixed_u16(data) else {
        return Vec::new();
    };
    // Count first: one allocation for the outer Vec instead of growing it.
    let mut count = 0;
    let mut r = rest;
    while let Some((&n, tail)) = r.split_first() {
        let Some(t) = tail.get(n as usize..) else {
            break;
        };
        count += 1;
        r = t;
    }
    let mut out = Vec::with_capacity(count);
    while let Some((&n, tail)) = rest.split_first() {
        let Some(name) = tail.get(..n as usize) else {
            break;
        };
        out.push(name.to_vec());
        rest = &tail[n as usize..];
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a ClientHello body from parts, for tests.
    pub(crate) fn client_hello_body(
        version: u16,
        ciphers: &[u16],
        extensions: &[(u16, Vec<u8>)],
    ) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&version.to_be_bytes());
        b.extend_from_slice(&[7u8; 32]);
        b.push(0);
        b.extend_from_slice(&((ciphers.len() * 2) as u16).to_be_bytes());
        for c in ciphers {
            b.extend_from_slice(&c.to_be_bytes());
        }
        b.extend_from_slice(&[1, 0]);
        if !extensions.is_empty() {
            let mut e = Vec::new();
            for (t, d) in extensions {
                e.extend_from_slice(&t.to_be_bytes());
                e.extend_from_slice(&(d.len() as u16).to_be_bytes());
                e.extend_from_slice(d);
            }
            b.extend_from_slice(&(e.len() as u16).to_be_bytes());
            b.extend_from_slice(&e);
        }
        b
    }

    pub(crate) fn sni(name: &str) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
        d.push(0);
        d.extend_from_slice(&(name.len() as u16).to_be_bytes());
        d.extend_from_slice(name.as_bytes());
        d
    }

    pub(crate) fn alpn(protos: &[&[u8]]) -> Vec<u8> {
        let mut l = Vec::new();
        for p in protos {
            l.push(p.len() as u8);
            l.extend_from_slice(p);
        }
        let mut d = (l.len() as u16).to_be_bytes().to_vec();
        d.extend(l);
        d
    }

    pub(crate) fn u16s(len_bytes: usize, vals: &[u16]) -> Vec<u8> {
        let mut d = Vec::new();
        let n = vals.len() * 2;
        if len_bytes == 2 {
            d.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            d.push(n as u8);
        }
        for v in vals {
            d.extend_from_slice(&v.to_be_bytes());
        }
        d
    }

    #[test]
    fn parses_extensions_in_order() {
        let body = client_hello_body(
            0x0303,
            &[0x1301, 0x0a0a],
            &[
                (0x0a0a, vec![]),
                (EXT_SERVER_NAME, sni("shop.example")),
                (EXT_ALPN, alpn(&[b"h2", b"http/1.1"])),
                (EXT_SUPPORTED_VERSIONS, u16s(1, &[0x2a2a, 0x0304, 0x0303])),
                (EXT_SIGNATURE_ALGORITHMS, u16s(2, &[0x0403, 0x0804])),
                (EXT_SUPPORTED_GROUPS, u16s(2, &[0x001d, 0x0017])),
                (EXT_EC_POINT_FORMATS, vec![1, 0]),
            ],
        );
        let ch = ClientHello::parse(&body).unwrap();
        assert_eq!(&ch.ciphers[..], &[0x1301, 0x0a0a]);
        assert_eq!(&ch.extensions[..], &[0x0a0a, 0, 16, 43, 13, 10, 11]);
        assert_eq!(ch.server_name.as_deref(), Some("shop.example"));
        assert_eq!(ch.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(ch.highest_version(), 0x0304);
        assert_eq!(&ch.signature_algorithms[..], &[0x0403, 0x0804]);
        assert_eq!(&ch.ec_point_formats[..], &[0]);
        assert!(!ch.extensions_truncated);
    }

    #[test]
    fn malformed_extension_keeps_earlier_ones() {
        let mut body = client_hello_body(0x0303, &[0x002f], &[(EXT_SERVER_NAME, sni("a.b"))]);
        // Append an extension header that claims more bytes than there are, and fix up
        // the extension block length so that tls-parser accepts the block.
        let ext_len_pos = 2 + 32 + 1 + 2 + 2 + 2;
        body.extend_from_slice(&[0x00, 0x10, 0x00, 0x40]);
        let new_len = (body.len() - ext_len_pos - 2) as u16;
        body[ext_len_pos..ext_len_pos + 2].copy_from_slice(&new_len.to_be_bytes());
        let ch = ClientHello::parse(&body).unwrap();
        assert_eq!(&ch.extensions[..], &[0, 16]);
        assert!(ch.extensions_truncated);
    }

    #[test]
    fn no_extensions_at_all() {
        let body = client_hello_body(0x0301, &[0x002f, 0x0035], &[]);
        let ch = ClientHello::parse(&body).unwrap();
        assert!(ch.extensions.is_empty());
        assert_eq!(ch.highest_version(), 0x0301);
    }

    /// version, session id length, ciphers, extension block.
    type Fixed<'a> = (u16, u8, Vec<u16>, Option<&'a [u8]>);

    /// The fixed fields as tls-parser reads them, for the differential test.
    fn tls_parser_fixed(body: &[u8]) -> Option<Fixed<'_>> {
        let (_, ch) = tls_parser::parse_tls_handshake_client_hello(body).ok()?;
        Some((
            ch.version.0,
            ch.session_id.map_or(0, |s| s.len() as u8),
            ch.ciphers.iter().map(|c| c.0).collect(),
            ch.ext,
        ))
    }

    fn ours_fixed(body: &[u8]) -> Option<Fixed<'_>> {
        let f = ClientHelloFixed::parse(body)?;
        Some((
            f.version,
            f.session_id_len,
            u16_list(f.ciphers).to_vec(),
            f.extensions,
        ))
    }

    #[test]
    fn fixed_fields_match_tls_parser_on_every_truncation_and_length() {
        let base = client_hello_body(
            0x0303,
            &[0x1301, 0x0a0a, 0xc02b],
            &[(EXT_SERVER_NAME, sni("a.example")), (0x0017, vec![])],
        );
        let mut bodies = Vec::new();
        for cut in 0..=base.len() + 2 {
            let mut b = base.clone();
            b.resize(cut, 0x5c);
            bodies.push(b);
        }
        // Every value of each length byte: session id, cipher vector (both
        // bytes), compression, extension block (both bytes).
        for pos in [34, 35, 36, 43, 45, 46] {
            for v in 0..=255u8 {
                let mut b = base.clone();
                b[pos] = v;
                bodies.push(b);
            }
        }
        for b in &bodies {
            assert_eq!(ours_fixed(b), tls_parser_fixed(b), "{b:02x?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn fixed_fields_match_tls_parser(
            sid_len in 0u8..40,
            // Small bytes make the length fields fit often.
            tail in proptest::collection::vec(
                proptest::prop_oneof![proptest::num::u8::ANY, 0u8..8], 0..80),
        ) {
            let mut body = vec![3, 3];
            body.extend_from_slice(&[0; 32]);
            body.push(sid_len);
            body.extend_from_slice(&tail);
            proptest::prop_assert_eq!(ours_fixed(&body), tls_parser_fixed(&body));
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for len in 0..80 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = ClientHello::parse(&junk);
            let _ = ServerHello::parse(&junk);
            let _ = ClientHello::parse_sslv2(&junk);
        }
    }

    #[test]
    fn server_hello_and_hrr() {
        let mut b = vec![0x03, 0x03];
        b.extend_from_slice(&HELLO_RETRY_REQUEST_RANDOM);
        b.push(0);
        b.extend_from_slice(&[0x13, 0x02, 0x00]);
        b.extend_from_slice(&[0x00, 0x06, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]);
        let sh = ServerHello::parse(&b).unwrap();
        assert!(sh.is_hello_retry_request);
        assert_eq!(sh.cipher, 0x1302);
        assert_eq!(&sh.extensions[..], &[0x002b]);
        assert_eq!(sh.version(), 0x0304);
    }

    #[test]
    fn draft_server_hello() {
        let mut b = vec![0x7f, 0x12];
        b.extend_from_slice(&[1u8; 32]);
        b.extend_from_slice(&[0x13, 0x01]);
        b.extend_from_slice(&[0x00, 0x04, 0x00, 0x33, 0x00, 0x00]);
        let sh = ServerHello::parse(&b).unwrap();
        assert_eq!(sh.cipher, 0x1301);
        assert_eq!(&sh.extensions[..], &[0x0033]);
        assert_eq!(sh.version(), 0x7f12);
    }

    #[test]
    fn sslv2_hello() {
        // CLIENT-HELLO offering TLS 1.0 with two cipher specs, 16-byte challenge.
        let mut m = vec![1, 0x03, 0x01, 0, 6, 0, 0, 0, 16];
        m.extend_from_slice(&[0x01, 0x00, 0x80, 0x00, 0x00, 0x2f]);
        m.extend_from_slice(&[9u8; 16]);
        let ch = ClientHello::parse_sslv2(&m).unwrap();
        assert_eq!(ch.format, HelloFormat::SslV2);
        assert_eq!(ch.legacy_version, 0x0301);
        assert!(ch.ciphers.is_empty());
    }
}
