//! The configuration file (`--config shakedown.toml`). Every option has a
//! default; an empty file (or none) gives the defaults documented in
//! docs/tuning.md. Unknown keys are an error, so a typo never silently keeps a
//! default.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Name of this sensor in every decision.
    pub sensor: String,
    /// Worker threads (0: number of cores - 1, at least 1).
    pub workers: usize,
    /// Decide and report, but label every decision monitor-only.
    pub monitor: bool,
    pub windows: Windows,
    pub thresholds: Thresholds,
    pub decisions: DecisionPolicy,
    pub allowlist: Allowlist,
    pub limits: Limits,
    pub learning: Learning,
    pub kafka: crate::kafka_sink::KafkaConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sensor: "shakedown".into(),
            workers: 0,
            monitor: false,
            windows: Windows::default(),
            thresholds: Thresholds::default(),
            decisions: DecisionPolicy::default(),
            allowlist: Allowlist::default(),
            limits: Limits::default(),
            learning: Learning::default(),
            kafka: crate::kafka_sink::KafkaConfig::default(),
        }
    }
}

/// Continuous learning in `live --save-model`: what the sensor sees is merged
/// into the model, older knowledge fading with time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Learning {
    /// Time constant of the decay, seconds: what was learned this long ago
    /// counts 1/e (37 %) as much as what is learned now.
    pub decay_s: u64,
    /// Seconds (wall clock) between checkpoints that save the model and start
    /// scoring with it (0: only at exit).
    pub checkpoint_s: u64,
}

impl Default for Learning {
    fn default() -> Self {
        Learning {
            decay_s: 3 * 24 * 3600,
            checkpoint_s: 3600,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Windows {
    /// Per-client behaviour window, seconds.
    pub client_s: u64,
    /// Per-fingerprint population window, seconds.
    pub population_s: u64,
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            client_s: 60,
            population_s: 600,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Score (0..1) at or above which a block is decided.
    pub block_score: f64,
    /// Requests per client window above which the rate is suspicious (when the
    /// model gives no site-specific value).
    pub request_rate: u32,
    /// New connections per client window above which churn is suspicious.
    pub connection_rate: u32,
    /// Exchanges needed before behaviour-based detectors speak.
    pub min_exchanges: u32,
    /// Handshake-only connections per window that make a flood.
    pub handshake_only: u32,
    /// Gap (seconds) between two requests of a client that counts as think time.
    pub think_time_s: f64,
    /// Addresses with a login-like pattern sharing one fingerprint in the
    /// population window that make a distributed attack (at least; the model's
    /// normal population for the fingerprint raises it).
    pub population_addresses: u32,
    /// Responses at most this large count as "small" (error pages, 401s).
    pub small_response_bytes: u32,
    /// Blocked addresses in one /24 (IPv6: /48) within the population window
    /// that make the whole range blocked, when no other address of the range
    /// is active.
    pub range_addresses: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            block_score: 0.8,
            request_rate: 120,
            connection_rate: 30,
            min_exchanges: 8,
            handshake_only: 20,
            think_time_s: 1.5,
            population_addresses: 30,
            small_response_bytes: 1500,
            range_addresses: 16,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionPolicy {
    /// Lifetime of an address block, seconds.
    pub ip_ttl_s: u64,
    /// Lifetime of a fingerprint block, seconds.
    pub fingerprint_ttl_s: u64,
    /// Issue fingerprint-scope blocks (JA4, JA4 + TCP signature).
    pub fingerprint_blocks: bool,
    /// New blocks per minute above which further blocks are downgraded to
    /// monitor-only (the brake on block storms).
    pub brake_per_minute: u32,
    /// Live blocks kept at most, in each mode (enforced, monitor-only); the
    /// lowest-score one of the mode is lifted first.
    pub max_active: usize,
}

impl Default for DecisionPolicy {
    fn default() -> Self {
        DecisionPolicy {
            ip_ttl_s: 3600,
            fingerprint_ttl_s: 900,
            fingerprint_blocks: true,
            brake_per_minute: 600,
            max_active: 100_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Allowlist {
    /// Address ranges never blocked (partners, monitors, search engines), CIDR.
    pub networks: Vec<String>,
    /// JA4 fingerprints never blocked by fingerprint scope.
    pub ja4: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Flows tracked at once.
    pub max_flows: usize,
    /// Clients with behaviour state, all workers together.
    pub max_clients: usize,
    /// Fingerprints with population state, all workers together.
    pub max_fingerprints: usize,
    /// Addresses remembered per fingerprint population.
    pub max_population_addresses: usize,
    /// Addresses remembered by all fingerprint populations together (in the
    /// window, proposed lately, flagged for learning), all workers together.
    pub max_population_entries: usize,
    /// A client not seen for this long leaves the client book, and a
    /// fingerprint population gives back its addresses, seconds (never less
    /// than the client and population windows or half an address block's
    /// lifetime: by then nothing they held would change a decision). What
    /// learning and later decisions need stays behind, small.
    pub client_idle_s: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_flows: 1_000_000,
            max_clients: 1_000_000,
            max_fingerprints: 100_000,
            max_population_addresses: 4096,
            max_population_entries: 2_000_000,
            client_idle_s: 3600,
        }
    }
}

/// A parsed CIDR range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an address or CIDR range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("{s:?}: bad prefix length"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(n) & mask == u32::from(*a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(n) & mask == u128::from(*a) & mask
            }
            _ => false,
        }
    }
}

/// The allowlist, parsed.
#[derive(Debug, Clone, Default)]
pub struct AllowRules {
    pub networks: Vec<Cidr>,
    pub ja4: hashbrown::HashSet<String>,
}

impl AllowRules {
    pub fn allows_ip(&self, ip: &IpAddr) -> bool {
        self.networks.iter().any(|c| c.contains(ip))
    }
    /// True if any allowlisted network overlaps `range`.
    pub fn overlaps(&self, range: &Cidr) -> bool {
        self.networks
            .iter()
            .any(|c| c.contains(&range.addr) || range.contains(&c.addr))
    }

    pub fn allows_ja4(&self, ja4: &str) -> bool {
        self.ja4.contains(ja4)
    }
}

impl Config {
    /// Reads and checks a TOML file; errors name the file and the problem.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read config: {e}", path.display()))?;
        let cfg: Config = toml::from_str(&text).map_err(|e| {
            // One line: where, then what (toml's own rendering draws the line
            // with a caret over several lines).
            let at = e.span().map_or(String::new(), |span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("line {line}, column {column}: ")
            });
            let what = e.message().trim_end().replace('\n', "; ");
            anyhow::anyhow!("{}: {at}{what}", path.display())
        })?;
        cfg.allow_rules()
            .map_err(|e| anyhow::anyhow!("{}: allowlist: {e}", path.display()))?;
        if cfg.kafka.enabled() {
            cfg.kafka
                .check()
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        }
        if !(0.0..=1.0).contains(&cfg.thresholds.block_score) {
            anyhow::bail!(
                "{}: thresholds.block_score must be between 0 and 1",
                path.display()
            );
        }
        if cfg.learning.decay_s == 0 {
            anyhow::bail!(
                "{}: learning.decay_s must be at least 1 second",
                path.display()
            );
        }
        Ok(cfg)
    }

    pub fn allow_rules(&self) -> Result<AllowRules, String> {
        Ok(AllowRules {
            networks: self
                .allowlist
                .networks
                .iter()
                .map(|s| Cidr::parse(s))
                .collect::<Result<_, _>>()?,
            ja4: self.allowlist.ja4.iter().cloned().collect(),
        })
    }

    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get().saturating_sub(1))
                .max(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/shakedown.toml is what operators copy: it must load, and where it
    /// claims defaults it must show them.
    #[test]
    fn sample_config_loads_and_shows_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/shakedown.toml");
        let cfg = Config::load(&path).unwrap();
        let d = Config::default();
        assert_eq!(cfg.windows, d.windows);
        assert_eq!(cfg.thresholds, d.thresholds);
        assert_eq!(cfg.decisions, d.decisions);
        assert_eq!(cfg.limits, d.limits);
        assert_eq!(cfg.learning, d.learning);
        assert_eq!(cfg.kafka, d.kafka);
        assert!(cfg.monitor && cfg.allow_rules().unwrap().networks.len() == 2);
    }

    #[test]
    fn empty_file_gives_defaults_and_unknown_keys_fail() {
        assert_eq!(toml::from_str::<Config>("").unwrap(), Config::default());
        let c: Config =
            toml::from_str("sensor = \"edge-1\"\n[thresholds]\nblock_score = 0.9\n").unwrap();
        assert_eq!(c.sensor, "edge-1");
        assert_eq!(c.thresholds.block_score, 0.9);
        assert_eq!(
            c.thresholds.request_rate,
            Thresholds::default().request_rate
        );
        assert!(toml::from_str::<Config>("[thresholds]\nblock_scor = 0.9\n").is_err());
    }

    #[test]
    fn cidr() {
        let c = Cidr::parse("10.77.0.0/16").unwrap();
        assert!(c.contains(&"10.77.3.4".parse().unwrap()));
        assert!(!c.contains(&"10.78.0.1".parse().unwrap()));
        assert!(!c.contains(&"::1".parse().unwrap()));
        assert!(Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains(&"2001:db8:1::5".parse().unwrap()));
        assert!(Cidr::parse("192.0.2.7")
            .unwrap()
            .contains(&"192.0.2.7".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("banana").is_err());
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains(&"8.8.8.8".parse().unwrap()));
    }
}
