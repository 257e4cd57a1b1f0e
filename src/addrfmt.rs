//! Address text as `IpAddr`'s `Display` writes it, without the formatting
//! machinery for IPv4 (the common case): it is on every flow record and every
//! address decision.

use std::net::IpAddr;

/// Dotted quad digit by digit; IPv6 through `Display`.
pub fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => {
            for (i, b) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                if b >= 100 {
                    out.push(b'0' + b / 100);
                }
                if b >= 10 {
                    out.push(b'0' + (b / 10) % 10);
                }
                out.push(b'0' + b % 10);
            }
        }
        IpAddr::V6(a) => {
            use std::io::Write as _;
            let _ = write!(out, "{a}");
        }
    }
}

/// [`push_ip`] as a `String`.
pub fn ip_text(ip: IpAddr) -> String {
    let mut out = Vec::with_capacity(15);
    push_ip(&mut out, ip);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn writes_what_display_writes() {
        let mut x: u32 = 0x9e37_79b9;
        let mut cases: Vec<u32> = vec![0, 1, 9, 10, 99, 100, 255, 0x0a00_0001, 0xffff_ffff];
        for _ in 0..10_000 {
            // xorshift: addresses with every octet length mixed.
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            cases.push(x);
        }
        for c in cases {
            let ip = IpAddr::V4(Ipv4Addr::from(c));
            assert_eq!(ip_text(ip), ip.to_string());
        }
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert_eq!(ip_text(v6), "2001:db8::1");
    }
}
