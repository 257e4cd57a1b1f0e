//! Small hex/decimal writers used on the fingerprint hot path (no `format!`).

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `v` as 4 lowercase hex digits.
#[inline]
pub(crate) fn push_hex4(out: &mut String, v: u16) {
    for shift in [12, 8, 4, 0] {
        out.push(HEX[((v >> shift) & 0xf) as usize] as char);
    }
}

/// Appends the lowercase hex encoding of `bytes`.
#[inline]
pub(crate) fn push_hex_bytes(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xf) as usize] as char);
    }
}

/// Appends `v` in decimal.
#[inline]
pub(crate) fn push_dec(out: &mut String, v: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    let mut n = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers() {
        let mut s = String::new();
        push_hex4(&mut s, 0x0a1f);
        s.push(' ');
        push_dec(&mut s, 0);
        s.push(' ');
        push_dec(&mut s, 4294967295);
        s.push(' ');
        push_hex_bytes(&mut s, &[0, 0xff, 0x10]);
        assert_eq!(s, "0a1f 0 4294967295 00ff10");
    }
}
