//! JA4S (FoxIO License 1.1: compiled only with the `ja4plus` feature).
//!
//! `a_b_c`: transport + version (supported_versions, else ServerHello version) +
//! 2-digit extension count + first/last character of the chosen ALPN; `b` the
//! chosen cipher in hex; `c` sha256[:12] of the extension list in wire order.

use crate::hello::ServerHello;
use crate::hex::{ascii_string, push_hex4};
use crate::ja4::{alpn_code, push_count, push_hash12, push_hex_list, version_code, Transport};

/// JA4S hashed and raw forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ja4s {
    pub ja4s: String,
    pub ja4s_r: String,
}

pub fn ja4s(sh: &ServerHello, transport: Transport) -> Ja4s {
    let mut ab = Vec::with_capacity(16);
    ab.push(transport.marker() as u8);
    ab.extend_from_slice(version_code(sh.version()).as_bytes());
    push_count(&mut ab, sh.extensions.len());
    ab.extend_from_slice(&alpn_code(sh.alpn.as_deref()));
    ab.push(b'_');
    push_hex4(&mut ab, sh.cipher);
    ab.push(b'_');

    let mut exts = Vec::with_capacity(sh.extensions.len() * 5);
    push_hex_list(&mut exts, &sh.extensions);
    let mut hashed = ab.clone();
    push_hash12(&mut hashed, &exts);
    let mut raw = ab;
    raw.extend_from_slice(&exts);
    Ja4s {
        ja4s: ascii_string(hashed),
        ja4s_r: ascii_string(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foxio_example() {
        let sh = ServerHello {
            legacy_version: 0x0303,
            cipher: 0xc030,
            extensions: vec![0x0005, 0x0017, 0xff01, 0x0000].into(),
            ..ServerHello::default()
        };
        let j = ja4s(&sh, Transport::Tcp);
        assert_eq!(j.ja4s, "t120400_c030_4e8089b08790");
        assert_eq!(j.ja4s_r, "t120400_c030_0005,0017,ff01,0000");
    }

    #[test]
    fn no_extensions() {
        let sh = ServerHello {
            legacy_version: 0x0301,
            cipher: 0x0039,
            ..ServerHello::default()
        };
        let j = ja4s(&sh, Transport::Tcp);
        assert_eq!(j.ja4s, "t100000_0039_000000000000");
        assert_eq!(j.ja4s_r, "t100000_0039_");
    }
}
