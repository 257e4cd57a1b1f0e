//! JA3 / JA3S (Salesforce, BSD-3-Clause).
//!
//! JA3 string: `legacy_version,ciphers,extensions,groups,ec_point_formats`, every
//! value in decimal, `-`-joined, wire order, GREASE removed. JA3 = md5 hex of it.
//! JA3S: `legacy_version,cipher,extensions` of the ServerHello.

use crate::grease::is_grease;
use crate::hello::{ClientHello, HelloFormat, ServerHello};
use crate::hex::{ascii_string, hex_array, push_dec16_sep};
use md5::{Digest, Md5};

/// A JA3-family fingerprint: the full string and its md5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ja3 {
    pub full: String,
    pub hash: String,
}

impl Ja3 {
    fn from_full(full: Vec<u8>) -> Ja3 {
        let digest = Md5::digest(&full);
        let hash: [u8; 32] = hex_array(&digest);
        Ja3 {
            full: ascii_string(full),
            hash: std::str::from_utf8(&hash).expect("hex is ASCII").to_owned(),
        }
    }
}

/// Appends the values `-`-joined.
fn push_list(out: &mut Vec<u8>, values: impl Iterator<Item = u16>) {
    let start = out.len();
    for v in values {
        push_dec16_sep(out, v, b'-');
    }
    if out.len() > start {
        out.pop();
    }
}

/// Room for a list: at most 5 digits and a separator per value.
fn dec_room(list_len: usize) -> usize {
    list_len * 6
}

/// JA3 of a ClientHello; `None` for SSLv2-format hellos (no reference computes one).
pub fn ja3(ch: &ClientHello) -> Option<Ja3> {
    if ch.format == HelloFormat::SslV2 {
        return None;
    }
    // One exact-enough allocation; the word writers need 8 bytes of slack.
    let mut s = Vec::with_capacity(
        dec_room(1 + ch.ciphers.len() + ch.extensions.len() + ch.supported_groups.len())
            + 4 * ch.ec_point_formats.len()
            + 16,
    );
    push_dec16_sep(&mut s, ch.legacy_version, b',');
    push_list(&mut s, non_grease(&ch.ciphers));
    s.push(b',');
    push_list(&mut s, non_grease(&ch.extensions));
    s.push(b',');
    push_list(&mut s, non_grease(&ch.supported_groups));
    s.push(b',');
    push_list(&mut s, ch.ec_point_formats.iter().map(|&v| v as u16));
    Some(Ja3::from_full(s))
}

/// JA3S of a ServerHello.
pub fn ja3s(sh: &ServerHello) -> Ja3 {
    let mut s = Vec::with_capacity(dec_room(2 + sh.extensions.len()) + 8);
    push_dec16_sep(&mut s, sh.legacy_version, b',');
    push_dec16_sep(&mut s, sh.cipher, b',');
    push_list(&mut s, non_grease(&sh.extensions));
    Ja3::from_full(s)
}

fn non_grease(list: &[u16]) -> impl Iterator<Item = u16> + '_ {
    list.iter().copied().filter(|&v| !is_grease(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hello::tests::*;
    use crate::hello::*;

    #[test]
    fn ja3_drops_grease_everywhere_and_keeps_order() {
        let body = client_hello_body(
            0x0303,
            &[0x2a2a, 0x1301, 0xc02b],
            &[
                (0x3a3a, vec![]),
                (EXT_SERVER_NAME, sni("x.y")),
                (EXT_SUPPORTED_GROUPS, u16s(2, &[0x4a4a, 0x001d, 0x0017])),
                (EXT_EC_POINT_FORMATS, vec![1, 0]),
                (0x0015, vec![0, 0]),
            ],
        );
        let j = ja3(&ClientHello::parse(&body).unwrap()).unwrap();
        assert_eq!(j.full, "771,4865-49195,0-10-11-21,29-23,0");
        assert_eq!(j.hash.len(), 32);
    }

    #[test]
    fn ja3_empty_lists_keep_commas() {
        let body = client_hello_body(0x0303, &[0x1301, 0x1302], &[]);
        let j = ja3(&ClientHello::parse(&body).unwrap()).unwrap();
        assert_eq!(j.full, "771,4865-4866,,,");
    }

    #[test]
    fn known_md5() {
        // md5("769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"),
        // the JA3 of an old Firefox hello widely quoted in the JA3 README.
        let j = Ja3::from_full(
            "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0".into(),
        );
        assert_eq!(j.hash, "ada70206e40642a3e4461f35503241d5");
    }
}
