//! Byte-level hex/decimal writers for the fingerprint hot path: fingerprints are
//! built as ASCII bytes and turned into `String`s once, no `format!`.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `v` as 4 lowercase hex digits, most significant first in a big-endian u32:
/// arithmetic on all four at once, no table loads.
#[inline]
fn hex4_word(v: u16) -> u32 {
    let x = v as u32;
    // One nibble per byte.
    let n = ((x & 0xf000) << 12) | ((x & 0x0f00) << 8) | ((x & 0x00f0) << 4) | (x & 0x000f);
    // Adding 6 carries into bit 4 exactly for the nibbles 10..=15 (no byte overflows).
    let letters = ((n + 0x0606_0606) >> 4) & 0x0101_0101;
    n + 0x3030_3030 + letters * (b'a' - b'0' - 10) as u32
}

/// `v` as 4 lowercase hex digits.
#[cfg(any(test, feature = "ja4plus"))]
#[inline]
pub(crate) fn hex4(v: u16) -> [u8; 4] {
    hex4_word(v).to_be_bytes()
}

/// Appends `v` as 4 lowercase hex digits.
#[cfg(any(test, feature = "ja4plus"))]
#[inline]
pub(crate) fn push_hex4(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&hex4(v));
}

/// Appends the first `len` bytes of `w`. Storing a whole word and truncating is
/// cheaper than a variable-length copy (a `memcpy` call); capacity is still
/// checked, so an under-sized buffer only costs a reallocation.
#[inline]
fn push_word(out: &mut Vec<u8>, w: [u8; 8], len: usize) {
    let at = out.len();
    out.extend_from_slice(&w);
    out.truncate(at + len);
}

/// Appends `v` as 4 lowercase hex digits followed by `sep`.
#[inline]
pub(crate) fn push_hex4_sep(out: &mut Vec<u8>, v: u16, sep: u8) {
    let w = (hex4_word(v) as u64) << 32 | (sep as u64) << 24;
    push_word(out, w.to_be_bytes(), 5);
}

/// Appends `sep` followed by `v` as 4 lowercase hex digits.
#[inline]
pub(crate) fn push_sep_hex4(out: &mut Vec<u8>, sep: u8, v: u16) {
    let w = (sep as u64) << 56 | (hex4_word(v) as u64) << 24;
    push_word(out, w.to_be_bytes(), 5);
}

/// Appends `v` in decimal followed by `sep`.
#[inline]
pub(crate) fn push_dec16_sep(out: &mut Vec<u8>, v: u16, sep: u8) {
    let v = v as u32;
    let n =
        1 + (v >= 10) as usize + (v >= 100) as usize + (v >= 1000) as usize + (v >= 10000) as usize;
    let (hi, lo) = (v / 10000, v % 10000);
    let (a, b) = ((lo / 100) as usize * 2, (lo % 100) as usize * 2);
    let five = u64::from_be_bytes([
        b'0' + hi as u8,
        DIGIT_PAIRS[a],
        DIGIT_PAIRS[a + 1],
        DIGIT_PAIRS[b],
        DIGIT_PAIRS[b + 1],
        sep,
        0,
        0,
    ]);
    // Drop the leading zeros: the n digits and the separator move to the front.
    push_word(out, (five << (8 * (5 - n))).to_be_bytes(), n + 1);
}

/// Appends the lowercase hex encoding of `bytes`.
#[cfg(test)]
#[inline]
pub(crate) fn push_hex_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    for b in bytes {
        out.extend_from_slice(&[HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
    }
}

/// Lowercase hex of the first `N / 2` bytes of `bytes`, as a fixed array.
#[inline]
pub(crate) fn hex_array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, b) in out.chunks_exact_mut(2).zip(bytes) {
        o[0] = HEX[(b >> 4) as usize];
        o[1] = HEX[(b & 0xf) as usize];
    }
    out
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

    #[test]
    fn hex4_is_lowercase_hex() {
        for v in 0..=u16::MAX {
            let want = format!("{v:04x}");
            assert_eq!(&hex4(v), want.as_bytes());
            let mut b = Vec::new();
            push_sep_hex4(&mut b, b'_', v);
            assert_eq!(b, format!("_{want}").as_bytes());
        }
    }

    #[test]
    fn word_writers_match_the_byte_writers() {
        for v in (0..=u16::MAX)
            .step_by(7)
            .chain([0, 9, 10, 99, 100, 999, 1000, 9999, 10000])
        {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            push_dec(&mut a, v.into());
            a.push(b'-');
            push_hex4(&mut a, v);
            a.push(b',');
            push_dec16_sep(&mut b, v, b'-');
            push_hex4_sep(&mut b, v, b',');
            assert_eq!(a, b, "{v}");
        }
    }
}
