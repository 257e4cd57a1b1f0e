//! Byte-level hex/decimal writers for the fingerprint hot path: fingerprints are
//! built as ASCII bytes and turned into `String`s once, no `format!`.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `v` as 4 lowercase hex digits.
#[inline]
pub(crate) fn hex4(v: u16) -> [u8; 4] {
    [
        HEX[(v >> 12) as usize],
        HEX[((v >> 8) & 0xf) as usize],
        HEX[((v >> 4) & 0xf) as usize],
        HEX[(v & 0xf) as usize],
    ]
}

/// Appends `v` as 4 lowercase hex digits.
#[inline]
pub(crate) fn push_hex4(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&hex4(v));
}

/// Appends the lowercase hex encoding of `bytes`.
#[inline]
pub(crate) fn push_hex_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    for b in bytes {
        out.extend_from_slice(&[HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
    }
}

/// Appends `v` in decimal.
#[inline]
pub(crate) fn push_dec(out: &mut Vec<u8>, v: u32) {
    if v < 10 {
        out.push(b'0' + v as u8);
        return;
    }
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    let mut n = v;
    while n >= 100 {
        let d = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    }
    if n >= 10 {
        let d = n as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + n as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// The builders above only write ASCII.
pub(crate) fn ascii_string(v: Vec<u8>) -> String {
    String::from_utf8(v).expect("fingerprint builders write ASCII only")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers() {
        let mut s = Vec::new();
        push_hex4(&mut s, 0x0a1f);
        s.push(b' ');
        push_dec(&mut s, 0);
        s.push(b' ');
        push_dec(&mut s, 4294967295);
        for (v, want) in [
            (9u32, "9"),
            (10, "10"),
            (99, "99"),
            (100, "100"),
            (65535, "65535"),
            (771, "771"),
        ] {
            let mut t = Vec::new();
            push_dec(&mut t, v);
            assert_eq!(t, want.as_bytes());
        }
        s.push(b' ');
        push_hex_bytes(&mut s, &[0, 0xff, 0x10]);
        assert_eq!(ascii_string(s), "0a1f 0 4294967295 00ff10");
    }
}
