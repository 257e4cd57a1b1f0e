//! JA4 (FoxIO, BSD-3-Clause): `a_b_c` plus the raw (`ja4_r`) and original-order
//! (`ja4_o`, `ja4_ro`) forms. Rules and the choices we made where implementations
//! disagree are in docs/fingerprints.md; in short we follow FoxIO's Rust
//! implementation (the reference the conformance corpus prefers), except:
//! GREASE is dropped from signature algorithms too (as the spec and FoxIO Python
//! do), and a one-character ALPN value is used as both first and last character.

use crate::grease::is_grease;
use crate::hello::{ClientHello, EXT_ALPN, EXT_SERVER_NAME};
use crate::hex::{ascii_string, hex_array, push_hex4_sep, push_sep_hex4};
use sha2::{Digest, Sha256};
use smallvec::SmallVec;

/// What carried the hello: the first character of JA4 and JA4S.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Quic,
    Dtls,
}

impl Transport {
    pub fn marker(self) -> char {
        match self {
            Transport::Tcp => 't',
            Transport::Quic => 'q',
            Transport::Dtls => 'd',
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Quic => "quic",
            Transport::Dtls => "dtls",
        }
    }
}

/// JA4 of one ClientHello, sorted forms: the fingerprint and its raw string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ja4 {
    /// Sorted, hashed: the fingerprint.
    pub ja4: String,
    /// Sorted, raw.
    pub ja4_r: String,
}

/// JA4 original-order forms: ciphers and extensions in wire order, SNI and ALPN
/// kept in the extension list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ja4Original {
    pub ja4_o: String,
    pub ja4_ro: String,
}

/// JA4 two-character version code.
pub fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// First and last character of an ALPN value, `00` when there is none.
/// A byte that is not an ASCII letter or digit becomes `9` (FoxIO Rust, Python
/// and the independent ja4plus agree on this for non-ASCII bytes; the written
/// spec's hex rule is documented as not followed). Punctuation too: kept, an
/// `_` would add a fourth section to the fingerprint. A one-byte value is used
/// as both first and last.
pub fn alpn_code(first_value: Option<&[u8]>) -> [u8; 2] {
    fn printable(b: u8) -> u8 {
        if b.is_ascii_alphanumeric() {
            b
        } else {
            b'9'
        }
    }
    match first_value {
        Some([]) | None => *b"00",
        Some(v) => [printable(v[0]), printable(v[v.len() - 1])],
    }
}

/// sha256(s)[..12] in hex, or `000000000000` for an empty string.
fn hash12(s: &[u8]) -> [u8; 12] {
    if s.is_empty() {
        *b"000000000000"
    } else {
        hex_array(&Sha256::digest(s))
    }
}

/// Appends sha256(s)[..12] in hex, or `000000000000` for an empty string.
#[cfg(any(test, feature = "ja4plus"))]
pub(crate) fn push_hash12(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&hash12(s));
}

/// Appends the values in hex, `,`-joined.
pub(crate) fn push_hex_list(out: &mut Vec<u8>, list: &[u16]) {
    for &v in list {
        push_hex4_sep(out, v, b',');
    }
    if !list.is_empty() {
        out.pop();
    }
}

#[cfg(feature = "ja4plus")]
pub(crate) fn push_count(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&count2(n));
}

/// Lists of a hello rarely exceed this; longer ones spill to the heap.
type List = SmallVec<[u16; 64]>;

/// `list` without GREASE values.
fn without_grease(list: &[u16]) -> List {
    let mut buf = [0u16; 64];
    if list.len() > buf.len() {
        return list.iter().copied().filter(|&v| !is_grease(v)).collect();
    }
    // Branch-free compaction into a plain array: every value is written, only
    // kept ones advance (n <= index < 64, so the mask never changes n).
    let mut n = 0;
    for &v in list {
        buf[n & 63] = v;
        n += !is_grease(v) as usize;
    }
    List::from_buf_and_len(buf, n)
}

/// The parts shared by all forms: the `a` prefix and the lists.
struct Parts {
    a: [u8; 10],
    ciphers: List,
    exts: List,
}

fn parts(ch: &ClientHello, transport: Transport) -> Parts {
    let ciphers = without_grease(&ch.ciphers);
    let exts = without_grease(&ch.extensions);
    let mut a = [0u8; 10];
    a[0] = transport.marker() as u8;
    a[1..3].copy_from_slice(version_code(ch.highest_version()).as_bytes());
    a[3] = if ch.has_extension(EXT_SERVER_NAME) {
        b'd'
    } else {
        b'i'
    };
    a[4..6].copy_from_slice(&count2(ciphers.len()));
    a[6..8].copy_from_slice(&count2(exts.len()));
    a[8..10].copy_from_slice(&alpn_code(ch.alpn.first().map(Vec::as_slice)));
    Parts { a, ciphers, exts }
}

/// Sorts a list: insertion sort for the usual dozen or two values, which costs
/// fewer instructions than the general-purpose sort at this size.
fn sort_small(list: &mut [u16]) {
    if list.len() > 32 {
        list.sort_unstable();
        return;
    }
    for i in 1..list.len() {
        let v = list[i];
        let mut j = i;
        while j > 0 && list[j - 1] > v {
            list[j] = list[j - 1];
            j -= 1;
        }
        list[j] = v;
    }
}

fn count2(n: usize) -> [u8; 2] {
    let n = n.min(99);
    [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]
}

/// JA4 (sorted) of a ClientHello carried by `transport`.
pub fn ja4(ch: &ClientHello, transport: Transport) -> Ja4 {
    let mut p = parts(ch, transport);
    sort_small(&mut p.ciphers);
    p.exts.retain(|v| *v != EXT_SERVER_NAME && *v != EXT_ALPN);
    sort_small(&mut p.exts);
    let (ja4, ja4_r) = assemble(&p, &ch.signature_algorithms);
    Ja4 { ja4, ja4_r }
}

/// JA4 original-order forms of a ClientHello.
pub fn ja4_original(ch: &ClientHello, transport: Transport) -> Ja4Original {
    let (ja4_o, ja4_ro) = assemble(&parts(ch, transport), &ch.signature_algorithms);
    Ja4Original { ja4_o, ja4_ro }
}

/// Builds (hashed, raw) from the parts and the signature algorithms (GREASE dropped).
fn assemble(p: &Parts, sigs: &[u16]) -> (String, String) {
    // 5 bytes per value, 8 bytes of slack for the word writers.
    let mut raw = Vec::with_capacity(20 + (p.ciphers.len() + p.exts.len() + sigs.len()) * 5);
    raw.extend_from_slice(&p.a);
    raw.push(b'_');
    let c_start = raw.len();
    push_hex_list(&mut raw, &p.ciphers);
    let c_end = raw.len();
    raw.push(b'_');
    let e_start = raw.len();
    push_hex_list(&mut raw, &p.exts);
    let mut sep = b'_';
    for &v in sigs.iter().filter(|&&v| !is_grease(v)) {
        push_sep_hex4(&mut raw, sep, v);
        sep = b',';
    }
    let mut hashed = [0u8; 36];
    hashed[..10].copy_from_slice(&p.a);
    hashed[10] = b'_';
    hashed[11..23].copy_from_slice(&hash12(&raw[c_start..c_end]));
    hashed[23] = b'_';
    hashed[24..].copy_from_slice(&hash12(&raw[e_start..]));
    let hashed = std::str::from_utf8(&hashed)
        .expect("fingerprint builders write ASCII only")
        .to_owned();
    (hashed, ascii_string(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hello::tests::*;
    use crate::hello::*;

    /// The worked example of the JA4 specification (also FoxIO Rust's unit test).
    fn spec_example() -> ClientHello {
        let ciphers = [
            0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
            0x009c, 0x009d, 0x002f, 0x0035,
        ];
        let ext_types = [
            0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012,
            0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
        ];
        let sigs = [
            0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ];
        let exts: Vec<(u16, Vec<u8>)> = ext_types
            .iter()
            .map(|&t| match t {
                0x0000 => (t, sni("example.com")),
                0x0010 => (t, alpn(&[b"h2", b"http/1.1"])),
                0x000d => (t, u16s(2, &sigs)),
                0x002b => (t, u16s(1, &[0x0304, 0x0303])),
                _ => (t, vec![]),
            })
            .collect();
        ClientHello::parse(&client_hello_body(0x0303, &ciphers, &exts)).unwrap()
    }

    #[test]
    fn spec_worked_example() {
        let j = ja4(&spec_example(), Transport::Tcp);
        let o = ja4_original(&spec_example(), Transport::Tcp);
        assert_eq!(j.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
        assert_eq!(o.ja4_o, "t13d1516h2_acb858a92679_18f69afefd3d");
        assert_eq!(
            j.ja4_r,
            "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601"
        );
        assert_eq!(
            o.ja4_ro,
            "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035_001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015_0403,0804,0401,0503,0805,0501,0806,0601"
        );
        assert_eq!(
            ja4(&spec_example(), Transport::Quic).ja4,
            "q13d1516h2_8daaf6152771_e5627efa2ab1"
        );
    }

    #[test]
    fn grease_in_every_list_changes_nothing() {
        let mut ch = spec_example();
        ch.ciphers.insert(0, 0x0a0a);
        ch.extensions.insert(0, 0x1a1a);
        ch.extensions.push(0xfafa);
        ch.signature_algorithms.insert(3, 0x2a2a);
        ch.supported_versions.insert(0, 0x3a3a);
        assert_eq!(
            ja4(&ch, Transport::Tcp).ja4,
            "t13d1516h2_8daaf6152771_e5627efa2ab1"
        );
        assert_eq!(
            ja4_original(&ch, Transport::Tcp).ja4_o,
            "t13d1516h2_acb858a92679_18f69afefd3d"
        );
    }

    #[test]
    fn empty_lists() {
        let ch = ClientHello::parse(&client_hello_body(0x0301, &[], &[])).unwrap();
        let j = ja4(&ch, Transport::Tcp);
        assert_eq!(j.ja4, "t10i000000_000000000000_000000000000");
        assert_eq!(j.ja4_r, "t10i000000__");
        assert_eq!(ja4_original(&ch, Transport::Tcp).ja4_ro, "t10i000000__");
    }

    #[test]
    fn no_signature_algorithms_means_no_trailing_underscore() {
        let ch = ClientHello::parse(&client_hello_body(
            0x0301,
            &[0x002f],
            &[(0x000a, u16s(2, &[23])), (0x000b, vec![1, 0])],
        ))
        .unwrap();
        let j = ja4(&ch, Transport::Tcp);
        assert_eq!(j.ja4_r, "t10i010200_002f_000a,000b");
        let mut expect = b"t10i010200_".to_vec();
        push_hash12(&mut expect, b"002f");
        expect.push(b'_');
        push_hash12(&mut expect, b"000a,000b");
        assert_eq!(j.ja4, ascii_string(expect));
    }

    #[test]
    fn sni_only_extension_in_original_order() {
        let ch =
            ClientHello::parse(&client_hello_body(0x0301, &[0x0005], &[(0, sni("a"))])).unwrap();
        let j = ja4(&ch, Transport::Tcp);
        let o = ja4_original(&ch, Transport::Tcp);
        // Sorted form drops SNI, leaving nothing to hash; original order hashes "0000".
        assert!(j.ja4.ends_with("_000000000000"));
        assert_eq!(o.ja4_ro, "t10d010100_0005_0000");
        assert!(!o.ja4_o.ends_with("_000000000000"));
    }

    #[test]
    fn versions_and_drafts() {
        assert_eq!(version_code(0x7f1c), "00");
        assert_eq!(version_code(0x0002), "s2");
        assert_eq!(version_code(0xfefd), "d2");
        let ch = ClientHello::parse(&client_hello_body(
            0x0303,
            &[0x1301],
            &[(0x002b, u16s(1, &[0x7f17, 0x0303]))],
        ))
        .unwrap();
        // max(0x7f17, 0x0303) is the draft: unknown -> 00.
        assert!(ja4(&ch, Transport::Tcp).ja4.starts_with("t00i"));
    }

    #[test]
    fn alpn_edge_cases() {
        assert_eq!(&alpn_code(None), b"00");
        assert_eq!(&alpn_code(Some(b"")), b"00");
        assert_eq!(&alpn_code(Some(b"h2")), b"h2");
        assert_eq!(&alpn_code(Some(b"http/1.1")), b"h1");
        assert_eq!(&alpn_code(Some(b"x")), b"xx");
        assert_eq!(&alpn_code(Some(&[0xba, 0xad])), b"99");
        assert_eq!(&alpn_code(Some(&[b'a', 0x00])), b"a9");
        // Found by the `hello` fuzz target: an ALPN ending in `_` gave a JA4
        // with four sections.
        assert_eq!(&alpn_code(Some(b"x_")), b"x9");
        assert_eq!(&alpn_code(Some(b"-acme-")), b"99");
    }

    proptest::proptest! {
        #[test]
        fn sort_small_sorts(mut v in proptest::collection::vec(
            proptest::prop_oneof![proptest::num::u16::ANY, 0u16..4, proptest::strategy::Just(u16::MAX)], 0..40)) {
            let mut want = v.clone();
            want.sort_unstable();
            sort_small(&mut v);
            proptest::prop_assert_eq!(v, want);
        }
    }

    #[test]
    fn counts_are_capped_at_99() {
        let ciphers: Vec<u16> = (1..=120).collect();
        let ch = ClientHello::parse(&client_hello_body(0x0303, &ciphers, &[])).unwrap();
        assert!(ja4(&ch, Transport::Tcp).ja4.starts_with("t12i9900"));
    }
}
