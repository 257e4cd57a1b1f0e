//! GREASE values (RFC 8701): reserved code points that clients sprinkle into their
//! lists to keep servers tolerant. Fingerprints ignore them, otherwise every
//! connection of a Chrome client would look different.

/// True for the 16 GREASE values 0x0a0a, 0x1a1a, ... 0xfafa (both bytes equal, low nibble 0xa).
#[inline]
pub fn is_grease(v: u16) -> bool {
    (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_sixteen_grease_values() {
        let all: Vec<u16> = (0..=u16::MAX).filter(|&v| is_grease(v)).collect();
        assert_eq!(all.len(), 16);
        assert_eq!(all[0], 0x0a0a);
        assert_eq!(all[15], 0xfafa);
        assert!(!is_grease(0x0a1a));
        assert!(!is_grease(0x00ff));
        assert!(!is_grease(0x5600));
        assert!(!is_grease(0xfe0d));
    }
}
