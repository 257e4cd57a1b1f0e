//! JA4 (FoxIO, BSD-3-Clause): `a_b_c` plus the raw (`ja4_r`) and original-order
//! (`ja4_o`, `ja4_ro`) forms. Rules and the choices we made where implementations
//! disagree are in docs/fingerprints.md; in short we follow FoxIO's Rust
//! implementation (the reference the conformance corpus prefers), except:
//! GREASE is dropped from signature algorithms too (as the spec and FoxIO Python
//! do), and a one-character ALPN value is used as both first and last character.

use crate::grease::is_grease;
use crate::hello::{ClientHello, EXT_ALPN, EXT_SERVER_NAME};
use crate::hex::{push_hex4, push_hex_bytes};
use sha2::{Digest, Sha256};

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

/// The four JA4 forms of one ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ja4 {
    /// Sorted, hashed: the fingerprint.
    pub ja4: String,
    /// Sorted, raw.
    pub ja4_r: String,
    /// Original (wire) order, hashed; SNI and ALPN kept in the extension list.
    pub ja4_o: String,
    /// Original order, raw.
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
/// A non-ASCII or non-printable byte becomes `9` (FoxIO Rust, Python and the
/// independent ja4plus agree on this; the written spec's hex rule is documented
/// as not followed). A one-byte value is used as both first and last.
pub fn alpn_code(first_value: Option<&[u8]>) -> [char; 2] {
    fn printable(b: u8) -> char {
        if b.is_ascii_graphic() {
            b as char
        } else {
            '9'
        }
    }
    match first_value {
        Some([]) | None => ['0', '0'],
        Some(v) => [printable(v[0]), printable(v[v.len() - 1])],
    }
}

/// Appends sha256(s)[..12] in hex, or `000000000000` for an empty string.
pub(crate) fn push_hash12(out: &mut String, s: &str) {
    if s.is_empty() {
        out.push_str("000000000000");
    } else {
        let digest = Sha256::digest(s.as_bytes());
        push_hex_bytes(out, &digest[..6]);
    }
}

pub(crate) fn push_hex_list(out: &mut String, list: &[u16]) {
    for (i, &v) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_hex4(out, v);
    }
}

/// Computes all JA4 forms of a ClientHello carried by `transport`.
pub fn ja4(ch: &ClientHello, transport: Transport) -> Ja4 {
    let ciphers: Vec<u16> = ch
        .ciphers
        .iter()
        .copied()
        .filter(|&v| !is_grease(v))
        .collect();
    let exts: Vec<u16> = ch
        .extensions
        .iter()
        .copied()
        .filter(|&v| !is_grease(v))
        .collect();
    let sigs: Vec<u16> = ch
        .signature_algorithms
        .iter()
        .copied()
        .filter(|&v| !is_grease(v))
        .collect();

    let mut a = String::with_capacity(10);
    a.push(transport.marker());
    a.push_str(version_code(ch.highest_version()));
    a.push(if ch.has_extension(EXT_SERVER_NAME) {
        'd'
    } else {
        'i'
    });
    push_count(&mut a, ciphers.len());
    push_count(&mut a, exts.len());
    a.extend(alpn_code(ch.alpn.first().map(Vec::as_slice)));

    let mut sigs_str = String::with_capacity(sigs.len() * 5);
    push_hex_list(&mut sigs_str, &sigs);

    let mut sorted_ciphers = ciphers.clone();
    sorted_ciphers.sort_unstable();
    let mut sorted_exts: Vec<u16> = exts
        .iter()
        .copied()
        .filter(|&v| v != EXT_SERVER_NAME && v != EXT_ALPN)
        .collect();
    sorted_exts.sort_unstable();

    let (ja4, ja4_r) = assemble(&a, &sorted_ciphers, &sorted_exts, &sigs_str);
    let (ja4_o, ja4_ro) = assemble(&a, &ciphers, &exts, &sigs_str);
    Ja4 {
        ja4,
        ja4_r,
        ja4_o,
        ja4_ro,
    }
}

fn push_count(out: &mut String, n: usize) {
    let n = n.min(99);
    out.push((b'0' + (n / 10) as u8) as char);
    out.push((b'0' + (n % 10) as u8) as char);
}

/// Builds (hashed, raw) from the `a` part and the lists.
fn assemble(a: &str, ciphers: &[u16], exts: &[u16], sigs: &str) -> (String, String) {
    let mut c_part = String::with_capacity(ciphers.len() * 5);
    push_hex_list(&mut c_part, ciphers);
    let mut e_part = String::with_capacity(exts.len() * 5 + sigs.len() + 1);
    push_hex_list(&mut e_part, exts);
    if !sigs.is_empty() {
        e_part.push('_');
        e_part.push_str(sigs);
    }
    let mut hashed = String::with_capacity(36);
    hashed.push_str(a);
    hashed.push('_');
    push_hash12(&mut hashed, &c_part);
    hashed.push('_');
    push_hash12(&mut hashed, &e_part);

    let mut raw = String::with_capacity(a.len() + c_part.len() + e_part.len() + 2);
    raw.push_str(a);
    raw.push('_');
    raw.push_str(&c_part);
    raw.push('_');
    raw.push_str(&e_part);
    (hashed, raw)
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
        assert_eq!(j.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
        assert_eq!(j.ja4_o, "t13d1516h2_acb858a92679_18f69afefd3d");
        assert_eq!(
            j.ja4_r,
            "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601"
        );
        assert_eq!(
            j.ja4_ro,
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
        let j = ja4(&ch, Transport::Tcp);
        assert_eq!(j.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
        assert_eq!(j.ja4_o, "t13d1516h2_acb858a92679_18f69afefd3d");
    }

    #[test]
    fn empty_lists() {
        let ch = ClientHello::parse(&client_hello_body(0x0301, &[], &[])).unwrap();
        let j = ja4(&ch, Transport::Tcp);
        assert_eq!(j.ja4, "t10i000000_000000000000_000000000000");
        assert_eq!(j.ja4_r, "t10i000000__");
        assert_eq!(j.ja4_ro, "t10i000000__");
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
        let mut expect = String::from("t10i010200_");
        push_hash12(&mut expect, "002f");
        expect.push('_');
        push_hash12(&mut expect, "000a,000b");
        assert_eq!(j.ja4, expect);
    }

    #[test]
    fn sni_only_extension_in_original_order() {
        let ch =
            ClientHello::parse(&client_hello_body(0x0301, &[0x0005], &[(0, sni("a"))])).unwrap();
        let j = ja4(&ch, Transport::Tcp);
        // Sorted form drops SNI, leaving nothing to hash; original order hashes "0000".
        assert!(j.ja4.ends_with("_000000000000"));
        assert_eq!(j.ja4_ro, "t10d010100_0005_0000");
        assert!(!j.ja4_o.ends_with("_000000000000"));
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
        assert_eq!(alpn_code(None), ['0', '0']);
        assert_eq!(alpn_code(Some(b"")), ['0', '0']);
        assert_eq!(alpn_code(Some(b"h2")), ['h', '2']);
        assert_eq!(alpn_code(Some(b"http/1.1")), ['h', '1']);
        assert_eq!(alpn_code(Some(b"x")), ['x', 'x']);
        assert_eq!(alpn_code(Some(&[0xba, 0xad])), ['9', '9']);
        assert_eq!(alpn_code(Some(&[b'a', 0x00])), ['a', '9']);
    }

    #[test]
    fn counts_are_capped_at_99() {
        let ciphers: Vec<u16> = (1..=120).collect();
        let ch = ClientHello::parse(&client_hello_body(0x0303, &ciphers, &[])).unwrap();
        assert!(ja4(&ch, Transport::Tcp).ja4.starts_with("t12i9900"));
    }
}
