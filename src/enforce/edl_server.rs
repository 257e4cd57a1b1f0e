//! Plain-text external dynamic lists over HTTP, as firewalls poll them (Palo
//! Alto, Fortinet, Check Point): one address, range or fingerprint per line.
//!
//! * `/edl/ipv4.txt`, `/edl/ipv6.txt`: addresses and ranges;
//! * `/edl/ja4.txt`: JA4 fingerprints (for TLS-terminating proxies);
//! * `/active.json`: the whole active set.
//!
//! Lists are rebuilt after a batch that changed something, at most once per
//! ten times their last build took (a million entries take about a second),
//! and served from memory (`crate::snapshot_http`).

use crate::enforce::active_set::ActiveSet;
use crate::snapshot_http::SnapshotServer;

#[derive(Debug, Default, Clone)]
pub struct Lists {
    pub ipv4: String,
    pub ipv6: String,
    pub ja4: String,
    pub active_json: String,
}

impl Lists {
    /// The lists of `set`, each cut to the `max_entries` highest scores (0:
    /// all), one entry per line in order of value.
    pub fn render(set: &ActiveSet, max_entries: usize) -> Lists {
        let max = if max_entries == 0 {
            usize::MAX
        } else {
            max_entries
        };
        let lines = |values: Vec<&str>| -> String {
            let mut s = String::with_capacity(values.iter().map(|v| v.len() + 1).sum());
            for v in values {
                s.push_str(v);
                s.push('\n');
            }
            s
        };
        let addresses = ["ip", "ip_range"];
        Lists {
            ipv4: lines(set.list(&addresses, |v| !v.contains(':'), max)),
            ipv6: lines(set.list(&addresses, |v| v.contains(':'), max)),
            ja4: lines(set.list(&["ja4"], |_| true, max)),
            active_json: set.snapshot_json(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_split_by_family_and_cut_to_the_strongest() {
        let mut set = ActiveSet::default();
        let blocks = [
            ("ip", "10.0.0.2", 0.7),
            ("ip", "10.0.0.1", 0.9),
            ("ip", "2001:db8::1", 0.8),
            ("ip_range", "10.1.0.0/24", 0.95),
            ("ja4", "t13d1516h2_8daaf6152771_e5627efa2ab1", 0.9),
        ];
        for (i, (scope, value, score)) in blocks.into_iter().enumerate() {
            set.apply(
                &json!({"schema_version": 1, "id": i.to_string(), "action": "block",
                "scope": scope, "value": value, "mode": "enforce", "score": score,
                "expires_at": "2030-01-01T00:00:00Z"}),
            );
        }
        let all = Lists::render(&set, 0);
        assert_eq!(all.ipv4, "10.0.0.1\n10.0.0.2\n10.1.0.0/24\n");
        assert_eq!(all.ipv6, "2001:db8::1\n");
        assert_eq!(all.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1\n");
        let active: serde_json::Value = serde_json::from_str(&all.active_json).unwrap();
        assert_eq!(active["ip"].as_array().unwrap().len(), 3);
        let cut = Lists::render(&set, 2);
        assert_eq!(cut.ipv4, "10.0.0.1\n10.1.0.0/24\n");
        assert_eq!(cut.ipv6, "2001:db8::1\n");
    }
}
