//! Counters of one run and the one-line summary printed on stderr at the end.

use shakedown_capture::{Skip, TrackerStats};
use std::fmt;
use std::time::Duration;

#[derive(Debug, Default, Clone)]
pub struct RunSummary {
    pub files: u64,
    pub files_failed: u64,
    pub packets: u64,
    /// Bytes captured (what was read, not the original frame lengths).
    pub bytes: u64,
    pub skipped: [u64; Skip::ALL.len()],
    pub connections_tcp: u64,
    pub connections_quic: u64,
    pub tracker: TrackerStats,
    /// Records written after a later connection's, to bound memory.
    pub records_late: u64,
    pub elapsed: Duration,
}

impl RunSummary {
    pub fn skip(&mut self, why: Skip) {
        self.skipped[why.index()] += 1;
    }

    /// Takes over the input counters (files, packets, bytes, skips) of `other`.
    pub fn absorb_input(&mut self, other: &RunSummary) {
        self.files += other.files;
        self.files_failed += other.files_failed;
        self.packets += other.packets;
        self.bytes += other.bytes;
        for (a, b) in self.skipped.iter_mut().zip(other.skipped.iter()) {
            *a += b;
        }
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.iter().sum()
    }

    pub fn flows(&self) -> u64 {
        self.tracker.flows_tcp + self.tracker.flows_quic
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        write!(
            f,
            "{} file(s), {} packets, {:.1} MB, {} flows, {} TLS connections ({} tcp, {} quic), skipped {}",
            self.files,
            self.packets,
            self.bytes as f64 / 1e6,
            self.flows(),
            self.connections_tcp + self.connections_quic,
            self.connections_tcp,
            self.connections_quic,
            self.skipped_total(),
        )?;
        let reasons: Vec<String> = Skip::ALL
            .iter()
            .filter(|s| self.skipped[s.index()] > 0)
            .map(|s| format!("{}={}", s.as_str(), self.skipped[s.index()]))
            .collect();
        if !reasons.is_empty() {
            write!(f, " ({})", reasons.join(" "))?;
        }
        let t = &self.tracker;
        let mut notes = Vec::new();
        for (name, v) in [
            ("hello_parse_errors", t.hello_parse_errors),
            ("reassembly_gaps", t.reassembly_gaps),
            ("segments_dropped", t.reassembly_dropped_segments),
            ("flows_evicted", t.flows_evicted),
            ("syn_only_evicted", t.syn_only_evicted),
            ("handshakes_too_large", t.handshakes_too_large),
            ("handshake_budget_exhausted", t.handshake_budget_exhausted),
            ("records_out_of_order", self.records_late),
            ("quic_undecryptable", t.quic_undecryptable),
        ] {
            if v > 0 {
                notes.push(format!("{name}={v}"));
            }
        }
        if !notes.is_empty() {
            write!(f, ", {}", notes.join(" "))?;
        }
        if self.files_failed > 0 {
            write!(f, ", {} file(s) failed", self.files_failed)?;
        }
        write!(
            f,
            ", {:.2} s, {:.0} packets/s, {:.1} Mbit/s",
            secs,
            self.packets as f64 / secs,
            self.bytes as f64 * 8.0 / 1e6 / secs
        )
    }
}
