//! Plain-text external dynamic lists over HTTP, as firewalls poll them (Palo
//! Alto, Fortinet, Check Point): one address, range or fingerprint per line.
//!
//! * `/edl/ipv4.txt`, `/edl/ipv6.txt`: addresses and ranges;
//! * `/edl/ja4.txt`: JA4 fingerprints (for TLS-terminating proxies);
//! * `/active.json`: the whole active set.
//!
//! Lists are rebuilt after each batch and served from memory
//! (`crate::snapshot_http`).

use crate::snapshot_http::SnapshotServer;

#[derive(Debug, Default, Clone)]
pub struct Lists {
    pub ipv4: String,
    pub ipv6: String,
    pub ja4: String,
    pub active_json: String,
}

/// The lists' HTTP server (`enforce --serve`).
pub type EdlServer = SnapshotServer<Lists>;

/// Starts serving empty lists on `addr`; `publish` replaces them.
pub fn start(addr: &str) -> anyhow::Result<EdlServer> {
    SnapshotServer::start(addr, "--serve", "shakedown-edl", route, "not found\n")
}

fn route(l: &Lists, path: &str) -> Option<(&'static str, String)> {
    Some(match path {
        "/edl/ipv4.txt" => ("text/plain", l.ipv4.clone()),
        "/edl/ipv6.txt" => ("text/plain", l.ipv6.clone()),
        "/edl/ja4.txt" => ("text/plain", l.ja4.clone()),
        "/active.json" => ("application/json", l.active_json.clone()),
        _ => return None,
    })
}
