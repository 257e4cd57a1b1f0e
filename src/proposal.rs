//! A block proposed by a detector, before the decision book applies policy
//! (dedupe, renewal, allowlist, brake, cap, monitor mode).

use crate::scoring::Reason;
use serde::Serialize;
use shakedown_capture::Timestamp;
use std::net::IpAddr;
use std::sync::Arc;

/// What a decision applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Ip,
    IpRange,
    Ja4,
    Ja4Tcp,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ip => "ip",
            Scope::IpRange => "ip_range",
            Scope::Ja4 => "ja4",
            Scope::Ja4Tcp => "ja4_tcp",
        }
    }
}

/// The fingerprints of the client(s) a decision is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Fingerprints {
    pub ja4: Option<Arc<str>>,
    pub ja3: Option<Arc<str>>,
    pub tcp_sig: Option<Arc<str>>,
    pub ja4_tcp: Option<Arc<str>>,
    /// Client class from the reputation database.
    pub class: Option<&'static str>,
    /// Client stack name from the reputation database.
    pub stack: Option<Arc<str>>,
}

impl Fingerprints {
    /// The key of the fingerprint population these belong to: the client's
    /// TLS stack on its TCP/IP stack, or its TLS stack alone without a SYN.
    pub fn population_key(&self) -> Option<&Arc<str>> {
        self.ja4_tcp.as_ref().or(self.ja4.as_ref())
    }
}

#[derive(Debug, Clone)]
pub struct Proposal {
    pub decided_at: Timestamp,
    pub scope: Scope,
    pub value: String,
    pub score: f64,
    pub reasons: Vec<Reason>,
    /// When the target was first seen.
    pub first_seen: Timestamp,
    pub fingerprints: Arc<Fingerprints>,
    /// Wall-clock time the observation behind the proposal left the capture
    /// thread (latency measurement only; never part of a decision).
    pub origin: Option<std::time::Instant>,
}

/// The text of an address target, as `IpAddr`'s `Display` writes it.
/// (Every address proposal formats one; IPv4, the common case, is written
/// digit by digit instead of through the formatting machinery.)
pub fn ip_value(ip: &IpAddr) -> String {
    let IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut s = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        if octet >= 100 {
            s.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            s.push(char::from(b'0' + octet / 10 % 10));
        }
        s.push(char::from(b'0' + octet % 10));
    }
    s
}

impl Proposal {
    /// Total order independent of which worker made the proposal, so that
    /// replays give the same decisions with any number of workers.
    pub fn order_key(&self) -> (Timestamp, Scope, &str) {
        (self.decided_at, self.scope, &self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn ip_value_writes_what_display_writes() {
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
            assert_eq!(ip_value(&ip), ip.to_string());
        }
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert_eq!(ip_value(&v6), "2001:db8::1");
    }
}
