//! A bounded memo of client fingerprints.
//!
//! Most connections on a busy link come from a few client stacks, whose hellos
//! differ only in random values, session ids, key shares and GREASE. The
//! fingerprints depend on none of those, so they are computed once per distinct
//! stack: the key is every field JA3 and JA4 read (GREASE removed), built in a
//! reused buffer; a hit costs one hash of ~100 bytes instead of md5 and four
//! sha256. When full, the memo is cleared (bounded, no per-entry bookkeeping).

use crate::grease::is_grease;
use crate::hello::{ClientHello, HelloFormat, ServerHello, EXT_SERVER_NAME};
use crate::ja3::{ja3, ja3s, Ja3};
use crate::ja4::{ja4, ja4_original, Ja4, Ja4Original, Transport};
use hashbrown::HashMap;
use std::sync::Arc;

/// All client-side fingerprints of one ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFingerprints {
    pub ja3: Option<Ja3>,
    pub ja4: Ja4,
    pub ja4_original: Ja4Original,
}

impl ClientFingerprints {
    pub fn compute(ch: &ClientHello, transport: Transport) -> ClientFingerprints {
        ClientFingerprints {
            ja3: ja3(ch),
            ja4: ja4(ch, transport),
            ja4_original: ja4_original(ch, transport),
        }
    }
}

/// All server-side fingerprints of one ServerHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFingerprints {
    pub ja3s: Ja3,
    #[cfg(feature = "ja4plus")]
    pub ja4s: crate::ja4s::Ja4s,
}

impl ServerFingerprints {
    #[cfg_attr(not(feature = "ja4plus"), allow(unused_variables))]
    pub fn compute(sh: &ServerHello, transport: Transport) -> ServerFingerprints {
        ServerFingerprints {
            ja3s: ja3s(sh),
            #[cfg(feature = "ja4plus")]
            ja4s: crate::ja4s::ja4s(sh, transport),
        }
    }
}

pub struct FingerprintCache {
    map: HashMap<Vec<u8>, Arc<ClientFingerprints>>,
    /// Servers answer with few distinct hellos too (JA3S is an md5 each).
    servers: HashMap<Vec<u8>, Arc<ServerFingerprints>>,
    key: Vec<u8>,
    capacity: usize,
    pub hits: u64,
    pub misses: u64,
}

impl Default for FingerprintCache {
    fn default() -> Self {
        Self::new(16_384)
    }
}

impl FingerprintCache {
    pub fn new(capacity: usize) -> FingerprintCache {
        FingerprintCache {
            map: HashMap::new(),
            servers: HashMap::new(),
            key: Vec::with_capacity(512),
            capacity: capacity.max(1),
            hits: 0,
            misses: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The fingerprints of `ch`, computed or remembered.
    pub fn client(&mut self, ch: &ClientHello, transport: Transport) -> Arc<ClientFingerprints> {
        self.key.clear();
        write_key(&mut self.key, ch, transport);
        let Self {
            map, key, capacity, ..
        } = self;
        let (fp, hit) = remember(map, key, *capacity, || {
            ClientFingerprints::compute(ch, transport)
        });
        self.count(hit);
        fp
    }

    /// The fingerprints of `sh`, computed or remembered.
    pub fn server(&mut self, sh: &ServerHello, transport: Transport) -> Arc<ServerFingerprints> {
        self.key.clear();
        write_server_key(&mut self.key, sh, transport);
        let Self {
            servers,
            key,
            capacity,
            ..
        } = self;
        let (fp, hit) = remember(servers, key, *capacity, || {
            ServerFingerprints::compute(sh, transport)
        });
        self.count(hit);
        fp
    }

    fn count(&mut self, hit: bool) {
        if hit {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
    }
}

/// The value memoised under `key`, or `compute()` stored there (a full map is
/// cleared first); and whether it was a hit.
fn remember<T>(
    map: &mut HashMap<Vec<u8>, Arc<T>>,
    key: &[u8],
    capacity: usize,
    compute: impl FnOnce() -> T,
) -> (Arc<T>, bool) {
    if let Some(v) = map.get(key) {
        return (v.clone(), true);
    }
    let v = Arc::new(compute());
    if map.len() >= capacity {
        map.clear();
    }
    map.insert(key.to_vec(), v.clone());
    (v, false)
}

/// Everything JA3S and JA4S read: version fields, cipher, extensions in order
/// (GREASE kept: JA4S counts it), ALPN.
fn write_server_key(k: &mut Vec<u8>, sh: &ServerHello, transport: Transport) {
    k.push(transport.marker() as u8);
    k.extend_from_slice(&sh.legacy_version.to_le_bytes());
    k.extend_from_slice(&sh.version().to_le_bytes());
    k.extend_from_slice(&sh.cipher.to_le_bytes());
    k.extend_from_slice(&(sh.extensions.len() as u16).to_le_bytes());
    for &v in sh.extensions.iter() {
        k.extend_from_slice(&v.to_le_bytes());
    }
    let alpn = sh.alpn.as_deref().unwrap_or_default();
    k.push(sh.alpn.is_some() as u8);
    k.extend_from_slice(&(alpn.len() as u16).to_le_bytes());
    k.extend_from_slice(alpn);
}

/// Everything the fingerprints read, GREASE removed, with list lengths so that
/// different splits of the same values cannot collide.
fn write_key(k: &mut Vec<u8>, ch: &ClientHello, transport: Transport) {
    k.push(transport.marker() as u8);
    k.push(matches!(ch.format, HelloFormat::SslV2) as u8);
    k.push(ch.has_extension(EXT_SERVER_NAME) as u8);
    k.extend_from_slice(&ch.legacy_version.to_le_bytes());
    for list in [
        &ch.ciphers[..],
        &ch.extensions[..],
        &ch.supported_groups[..],
        &ch.signature_algorithms[..],
        &ch.supported_versions[..],
    ] {
        // One pass: the count goes in front once the values are written.
        k.reserve(2 + 2 * list.len());
        let at = k.len();
        k.extend_from_slice(&[0, 0]);
        let mut n = 0u32;
        for &v in list {
            if !is_grease(v) {
                k.extend_from_slice(&v.to_le_bytes());
                n += 1;
            }
        }
        // A list of u16 values parsed from a u16-length field: n < 2^15.
        k[at..at + 2].copy_from_slice(&(n as u16).to_le_bytes());
    }
    k.push(ch.ec_point_formats.len() as u8);
    k.extend_from_slice(&ch.ec_point_formats);
    let alpn = ch.alpn.first().map_or(&[][..], Vec::as_slice);
    k.extend_from_slice(&(alpn.len() as u16).to_le_bytes());
    k.extend_from_slice(alpn);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hello::tests::*;

    #[test]
    fn same_stack_hits_and_matches_direct_computation() {
        let a = ClientHello::parse(&client_hello_body(
            0x0303,
            &[0x0a0a, 0x1301, 0x1302],
            &[
                (0x0000, sni("a.example")),
                (0x0010, alpn(&[b"h2"])),
                (0x1a1a, vec![]),
            ],
        ))
        .unwrap();
        // Same stack, other SNI and other GREASE values.
        let b = ClientHello::parse(&client_hello_body(
            0x0303,
            &[0x2a2a, 0x1301, 0x1302],
            &[
                (0x0000, sni("b.example")),
                (0x0010, alpn(&[b"h2"])),
                (0x3a3a, vec![]),
            ],
        ))
        .unwrap();
        let mut cache = FingerprintCache::new(8);
        let fa = cache.client(&a, Transport::Tcp);
        let fb = cache.client(&b, Transport::Tcp);
        assert_eq!((cache.hits, cache.misses), (1, 1));
        assert_eq!(*fa, ClientFingerprints::compute(&a, Transport::Tcp));
        assert_eq!(*fb, ClientFingerprints::compute(&b, Transport::Tcp));
        // Another ALPN or transport is another entry.
        let c = ClientHello::parse(&client_hello_body(
            0x0303,
            &[0x1301, 0x1302],
            &[(0x0000, sni("a.example")), (0x0010, alpn(&[b"http/1.1"]))],
        ))
        .unwrap();
        assert_ne!(cache.client(&c, Transport::Tcp).ja4, fa.ja4);
        assert_ne!(cache.client(&a, Transport::Quic).ja4, fa.ja4);
        assert_eq!(cache.misses, 3);
    }

    #[test]
    fn bounded() {
        let mut cache = FingerprintCache::new(4);
        for v in 0..50u16 {
            let ch =
                ClientHello::parse(&client_hello_body(0x0303, &[0x1301, 0x1000 + v], &[])).unwrap();
            cache.client(&ch, Transport::Tcp);
            assert!(cache.len() <= 4);
        }
    }
}
