//! What the capture stage hands to the scoring workers about each TLS
//! connection: its start (fingerprints, at the first ClientHello), its
//! exchanges as they happen, and its end (a summary).

use crate::features::Exchange;
use crate::proposal::Fingerprints;
use shakedown_capture::Timestamp;
use shakedown_fingerprints::reputation::ClientClass;
use std::net::IpAddr;
use std::sync::Arc;

/// A connection's identity and fingerprints, known at its first ClientHello.
#[derive(Debug, Clone)]
pub struct ConnStart {
    pub id: u64,
    pub client: IpAddr,
    /// Time of the first ClientHello (the flow's first packet if none).
    pub hello_ts: Timestamp,
    /// Capture time when the start was observed: decisions taken on it carry
    /// this time (equal to `hello_ts` when the hello is seen as it happens).
    pub observed_at: Timestamp,
    /// JA4, JA3, TCP signature, `ja4~tcp_sig` and the reputation match:
    /// shared by every connection of the same stacks.
    pub fingerprints: Arc<Fingerprints>,
    pub class: Option<ClientClass>,
    pub sni_present: bool,
    pub resumption: bool,
}

impl ConnStart {
    /// The key of the fingerprint population this connection belongs to.
    pub fn population_key(&self) -> Option<&Arc<str>> {
        self.fingerprints.population_key()
    }

    pub fn ja4(&self) -> Option<&Arc<str>> {
        self.fingerprints.ja4.as_ref()
    }

    /// The reputation database's name for the client's stack.
    pub fn class_name(&self) -> Option<&str> {
        self.fingerprints.stack.as_deref()
    }
}

/// A connection's summary at its end.
#[derive(Debug, Clone)]
pub struct ConnEnd {
    pub start: Arc<ConnStart>,
    /// Last packet of the connection.
    pub end_ts: Timestamp,
    /// Capture time when the end was observed (idle flows end later than their last packet).
    pub observed_at: Timestamp,
    pub exchanges: u32,
    /// Exchanges whose response was at most `small_response_bytes`.
    pub small_responses: u32,
    pub client_app_bytes: u64,
    pub server_app_bytes: u64,
    /// The handshake failed: no ServerHello, or an alert before any exchange.
    pub failed: bool,
}

impl ConnEnd {
    /// Handshake done (or attempted) and nothing asked: a flood symptom.
    pub fn handshake_only(&self) -> bool {
        self.exchanges == 0 && self.client_app_bytes == 0
    }
}

/// Messages from the capture stage to a worker.
#[derive(Debug, Clone)]
pub enum Observation {
    Start(Arc<ConnStart>),
    Exchanges {
        start: Arc<ConnStart>,
        exchanges: Vec<Exchange>,
        /// Capture time when they were observed.
        at: Timestamp,
    },
    End(Arc<ConnEnd>),
    /// Everything up to this capture time has been sent.
    Watermark(Timestamp),
}
