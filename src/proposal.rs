//! A block proposed by a detector, before the decision book applies policy
//! (dedupe, renewal, allowlist, brake, cap, monitor mode).

use crate::scoring::Reason;
use serde::Serialize;
use shakedown_capture::Timestamp;
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

impl Proposal {
    /// Total order independent of which worker made the proposal, so that
    /// replays give the same decisions with any number of workers.
    pub fn order_key(&self) -> (Timestamp, Scope, &str) {
        (self.decided_at, self.scope, &self.value)
    }
}

/// Two runs proposed the same, field for field; the first difference is shown.
#[cfg(test)]
pub(crate) fn assert_same_proposals(a: &[Proposal], b: &[Proposal]) {
    let first_difference = a
        .iter()
        .zip(b)
        .map(|(x, y)| (format!("{x:?}"), format!("{y:?}")))
        .find(|(x, y)| x != y);
    assert_eq!(first_difference, None);
    assert_eq!(a.len(), b.len());
}
