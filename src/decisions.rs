//! Decisions: the versioned records enforcement devices consume
//! (docs/decisions.md), and the book that turns detector proposals into them
//! under the safety rules: one decision per target per lifetime, renewals that
//! extend, explicit expiry (an `unblock` when a block's time is up), allowlists,
//! monitor-only mode, a brake on block storms and a cap on live blocks.

use crate::config::{AllowRules, Config};
use crate::proposal::{Fingerprints, Proposal, Scope};
use crate::rank_order::RankOrder;
use crate::scoring::{severity, Reason};
use crate::timefmt::rfc3339_micros;
use hashbrown::HashMap;
use serde::Serialize;
use sha2::{Digest, Sha256};
use shakedown_capture::Timestamp;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::sync::Arc;

pub const SCHEMA_VERSION: u32 = 1;
const NS: i64 = 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Block,
    Unblock,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Enforcement devices should act on it.
    Enforce,
    /// Report only (`--monitor`, or downgraded by the brake).
    Monitor,
}

fn mode_index(mode: Mode) -> usize {
    match mode {
        Mode::Enforce => 0,
        Mode::Monitor => 1,
    }
}

/// One decision (schema version 1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub schema_version: u32,
    /// Stable, unique: the same replay gives the same ids.
    pub id: String,
    pub action: Action,
    pub scope: Scope,
    pub value: String,
    pub mode: Mode,
    pub score: f64,
    pub severity: &'static str,
    pub reasons: Vec<Reason>,
    pub first_seen: String,
    pub decided_at: String,
    pub expires_at: Option<String>,
    pub duration_s: Option<u64>,
    pub sensor: String,
    pub fingerprints: Arc<Fingerprints>,
    /// For a renewal: the id of the block it extends.
    pub renews: Option<String>,
    /// For an unblock: the id of the block it ends.
    pub ends: Option<String>,
}

/// A live block: what its renewal, expiry or lifting needs (the target is
/// the key it is stored under).
#[derive(Debug, Clone)]
struct Active {
    id: String,
    mode: Mode,
    score: f64,
    decided_at: Timestamp,
    expires_at: Timestamp,
    first_seen: Timestamp,
    fingerprints: Arc<Fingerprints>,
}

/// A target looked up by reference: `(scope, &value)` hashes and compares as
/// the stored `(scope, value)` key, so a duplicate proposal (the common case
/// in an attack) costs no allocation.
#[derive(Hash)]
struct TargetRef<'a>(Scope, &'a str);

impl hashbrown::Equivalent<(Scope, String)> for TargetRef<'_> {
    fn equivalent(&self, key: &(Scope, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// Counters of the book (run summary, metrics).
#[derive(Debug, Clone, Default)]
pub struct BookStats {
    pub blocks: u64,
    pub renewals: u64,
    pub unblocks: u64,
    pub duplicates: u64,
    pub allowlisted: u64,
    pub braked: u64,
    pub lifted_by_cap: u64,
    pub by_scope: BTreeMap<&'static str, u64>,
    pub by_reason: BTreeMap<&'static str, u64>,
}

pub struct DecisionBook {
    sensor: String,
    monitor: bool,
    allow: AllowRules,
    ip_ttl: i64,
    fingerprint_ttl: i64,
    brake_per_minute: u32,
    max_active: usize,
    active: HashMap<(Scope, String), Active>,
    /// The entries of `active` of each mode (enforce, monitor), weakest
    /// first (by score, then target): the cap applies to each mode and lifts
    /// the weakest without a scan.
    by_strength: [RankOrder<(Scope, String)>; 2],
    expiries: BinaryHeap<Reverse<(Timestamp, Scope, String)>>,
    recent_blocks: VecDeque<Timestamp>,
    brake_warned_at: Option<Timestamp>,
    /// Unblocks from a reload, written with the next decisions.
    lifted: Vec<Decision>,
    pub stats: BookStats,
}

impl DecisionBook {
    pub fn new(cfg: &Config, allow: AllowRules) -> DecisionBook {
        DecisionBook {
            sensor: cfg.sensor.clone(),
            monitor: cfg.monitor,
            allow,
            ip_ttl: cfg.decisions.ip_ttl_s as i64 * NS,
            fingerprint_ttl: cfg.decisions.fingerprint_ttl_s as i64 * NS,
            brake_per_minute: cfg.decisions.brake_per_minute,
            max_active: cfg.decisions.max_active.max(1),
            active: HashMap::new(),
            by_strength: Default::default(),
            expiries: BinaryHeap::new(),
            recent_blocks: VecDeque::new(),
            brake_warned_at: None,
            lifted: Vec::new(),
            stats: BookStats::default(),
        }
    }

    pub fn active_blocks(&self) -> usize {
        self.active.len()
    }

    fn ttl(&self, scope: Scope) -> i64 {
        match scope {
            Scope::Ip | Scope::IpRange => self.ip_ttl,
            Scope::Ja4 | Scope::Ja4Tcp => self.fingerprint_ttl,
        }
    }

    fn allowlisted(&self, scope: Scope, value: &str, fingerprints: &Fingerprints) -> bool {
        match scope {
            Scope::Ip => value.parse().is_ok_and(|ip| self.allow.allows_ip(&ip)),
            Scope::IpRange => {
                crate::config::Cidr::parse(value).is_ok_and(|r| self.allow.overlaps(&r))
            }
            Scope::Ja4 | Scope::Ja4Tcp => fingerprints
                .ja4
                .as_deref()
                .is_some_and(|j| self.allow.allows_ja4(j)),
        }
    }

    /// Takes the policy of a reloaded configuration; live blocks stay, except
    /// those the new allowlist covers: they are lifted at `at` (an `unblock`
    /// with reason `allowlist`, written with the next decisions). New TTLs
    /// apply to new blocks. The sensor name is kept: it is part of decision ids.
    pub fn reconfigure(&mut self, cfg: &Config, allow: AllowRules, at: Timestamp) {
        self.monitor = cfg.monitor;
        self.allow = allow;
        self.ip_ttl = cfg.decisions.ip_ttl_s as i64 * NS;
        self.fingerprint_ttl = cfg.decisions.fingerprint_ttl_s as i64 * NS;
        self.brake_per_minute = cfg.decisions.brake_per_minute;
        self.max_active = cfg.decisions.max_active.max(1);
        let mut covered: Vec<(Scope, String)> = self
            .active
            .iter()
            .filter(|((scope, value), a)| self.allowlisted(*scope, value, &a.fingerprints))
            .map(|(k, _)| k.clone())
            .collect();
        covered.sort();
        for key in covered {
            let a = self.remove_active(&key).expect("listed");
            let d = self.unblock(
                &key,
                &a,
                at,
                "allowlist",
                "allowlisted by a configuration reload",
            );
            self.lifted.push(d);
        }
    }

    /// Lifts blocks whose time is up (an explicit `unblock` each).
    pub fn advance(&mut self, now: Timestamp, out: &mut Vec<Decision>) {
        out.append(&mut self.lifted);
        while let Some(Reverse((at, scope, value))) = self.expiries.peek().cloned() {
            if at > now {
                return;
            }
            self.expiries.pop();
            let key = (scope, value);
            if self.active.get(&key).is_some_and(|a| a.expires_at == at) {
                let a = self.remove_active(&key).expect("checked");
                out.push(self.unblock(
                    &key,
                    &a,
                    at,
                    "expired",
                    "the block reached its expiry time",
                ));
            }
        }
    }

    /// Applies policy to a proposal; decisions (if any) go to `out`.
    pub fn offer(&mut self, p: Proposal, out: &mut Vec<Decision>) {
        let now = p.decided_at;
        self.advance(now, out);
        if self.allowlisted(p.scope, &p.value, &p.fingerprints) {
            self.stats.allowlisted += 1;
            return;
        }
        let ttl = self.ttl(p.scope);
        if let Some(a) = self.active.get(&TargetRef(p.scope, &p.value)) {
            if a.expires_at.nanos_since(now) > ttl / 2 {
                self.stats.duplicates += 1;
                return;
            }
            // Renewal: same target, still misbehaving, past half its lifetime.
            let renews = a.id.clone();
            let mode = a.mode;
            let d = self.block(&p, mode, ttl, Some(renews));
            self.stats.renewals += 1;
            self.remember(&d, &p, mode, ttl);
            out.push(d);
            return;
        }
        let mut mode = if self.monitor {
            Mode::Monitor
        } else {
            Mode::Enforce
        };
        let mut p = p;
        if mode == Mode::Enforce {
            while self
                .recent_blocks
                .front()
                .is_some_and(|t| now.nanos_since(*t) >= 60 * NS)
            {
                self.recent_blocks.pop_front();
            }
            if self.recent_blocks.len() as u32 >= self.brake_per_minute {
                mode = Mode::Monitor;
                self.stats.braked += 1;
                p.reasons.push(
                    Reason::new(
                        "brake",
                        0.0,
                        format!(
                            "more than {} new blocks in the last minute: downgraded to monitor-only",
                            self.brake_per_minute
                        ),
                    )
                    .with("blocks_last_minute", self.recent_blocks.len() as f64),
                );
                if self
                    .brake_warned_at
                    .is_none_or(|t| now.nanos_since(t) >= 60 * NS)
                {
                    self.brake_warned_at = Some(now);
                    tracing::warn!(
                        "block storm at {}: more than {} new blocks per minute, further blocks are monitor-only (decisions.brake_per_minute)",
                        rfc3339_micros(now),
                        self.brake_per_minute
                    );
                }
            } else {
                self.recent_blocks.push_back(now);
            }
        }
        if self.live(mode) >= self.max_active {
            // Lift the weakest live block of this mode, unless the new one is
            // weaker still. Monitor-only blocks have a cap of their own: in
            // monitor mode or a block storm they would otherwise grow with
            // every address an attack goes through.
            match self.by_strength[mode_index(mode)]
                .lowest_below(p.score)
                .cloned()
            {
                Some(k) => {
                    let a = self.remove_active(&k).expect("present");
                    self.stats.lifted_by_cap += 1;
                    out.push(self.unblock(
                        &k,
                        &a,
                        now,
                        "cap",
                        "lifted to make room for a stronger block (decisions.max_active)",
                    ));
                }
                None => {
                    self.stats.lifted_by_cap += 1;
                    return;
                }
            }
        }
        let d = self.block(&p, mode, ttl, None);
        self.stats.blocks += 1;
        *self.stats.by_scope.entry(p.scope.as_str()).or_default() += 1;
        for r in &p.reasons {
            *self.stats.by_reason.entry(r.code).or_default() += 1;
        }
        self.remember(&d, &p, mode, ttl);
        out.push(d);
    }

    /// Live blocks of a mode.
    fn live(&self, mode: Mode) -> usize {
        self.by_strength[mode_index(mode)].len()
    }

    #[cfg(test)]
    fn enforced(&self) -> usize {
        self.live(Mode::Enforce)
    }

    fn remove_active(&mut self, key: &(Scope, String)) -> Option<Active> {
        let a = self.active.remove(key)?;
        self.by_strength[mode_index(a.mode)].remove(key, a.score);
        Some(a)
    }

    fn remember(&mut self, d: &Decision, p: &Proposal, mode: Mode, ttl: i64) {
        let expires_at = Timestamp(p.decided_at.0 + ttl);
        let key = (p.scope, p.value.clone());
        let replaced = self.active.insert(
            key.clone(),
            Active {
                id: d.id.clone(),
                mode,
                score: p.score,
                decided_at: p.decided_at,
                expires_at,
                first_seen: p.first_seen,
                fingerprints: p.fingerprints.clone(),
            },
        );
        if let Some(old) = replaced {
            // A renewal takes its block's place.
            self.by_strength[mode_index(old.mode)].remove(&key, old.score);
        }
        self.by_strength[mode_index(mode)].insert(key, p.score);
        debug_assert_eq!(
            self.live(Mode::Enforce) + self.live(Mode::Monitor),
            self.active.len()
        );
        self.expiries
            .push(Reverse((expires_at, p.scope, p.value.clone())));
        // Lifted and renewed blocks leave their expiry behind until its time:
        // under a storm of ever stronger blocks at the cap, one per block made
        // in a whole lifetime. Past twice the live blocks, keep the live ones.
        if self.expiries.len() > 2 * self.active.len() + 1024 {
            let active = &self.active;
            self.expiries.retain(|Reverse((at, scope, value))| {
                active
                    .get(&TargetRef(*scope, value))
                    .is_some_and(|a| a.expires_at == *at)
            });
        }
    }

    fn block(&self, p: &Proposal, mode: Mode, ttl: i64, renews: Option<String>) -> Decision {
        Decision {
            schema_version: SCHEMA_VERSION,
            id: decision_id(&self.sensor, Action::Block, p.scope, &p.value, p.decided_at),
            action: Action::Block,
            scope: p.scope,
            value: p.value.clone(),
            mode,
            score: p.score,
            severity: severity(p.score),
            reasons: p.reasons.clone(),
            first_seen: rfc3339_micros(p.first_seen),
            decided_at: rfc3339_micros(p.decided_at),
            expires_at: Some(rfc3339_micros(Timestamp(p.decided_at.0 + ttl))),
            duration_s: Some((ttl / NS) as u64),
            sensor: self.sensor.clone(),
            fingerprints: p.fingerprints.clone(),
            renews,
            ends: None,
        }
    }

    fn unblock(
        &mut self,
        (scope, value): &(Scope, String),
        a: &Active,
        at: Timestamp,
        code: &'static str,
        text: &str,
    ) -> Decision {
        self.stats.unblocks += 1;
        Decision {
            schema_version: SCHEMA_VERSION,
            id: decision_id(&self.sensor, Action::Unblock, *scope, value, at),
            action: Action::Unblock,
            scope: *scope,
            value: value.clone(),
            mode: a.mode,
            score: a.score,
            severity: severity(a.score),
            reasons: vec![Reason::new(code, 0.0, text.to_string())],
            first_seen: rfc3339_micros(a.first_seen),
            decided_at: rfc3339_micros(at),
            expires_at: None,
            duration_s: None,
            sensor: self.sensor.clone(),
            fingerprints: a.fingerprints.clone(),
            renews: None,
            ends: Some(a.id.clone()),
        }
    }

    /// When the live block on a target was decided, if any.
    pub fn blocked_since(&self, scope: Scope, value: &str) -> Option<Timestamp> {
        self.active
            .get(&TargetRef(scope, value))
            .map(|a| a.decided_at)
    }
}

/// Deterministic id: the same sensor, target and time give the same id, so a
/// consumer can drop redeliveries.
pub fn decision_id(
    sensor: &str,
    action: Action,
    scope: Scope,
    value: &str,
    at: Timestamp,
) -> String {
    let mut h = Sha256::new();
    h.update(sensor.as_bytes());
    h.update([0]);
    h.update(match action {
        Action::Block => b"block".as_slice(),
        Action::Unblock => b"unblock".as_slice(),
    });
    h.update([0]);
    h.update(scope.as_str().as_bytes());
    h.update([0]);
    h.update(value.as_bytes());
    h.update(at.0.to_be_bytes());
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(32);
    for b in &h.finalize()[..16] {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 15)]));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Cidr;

    fn proposal(value: &str, t: i64, score: f64) -> Proposal {
        Proposal {
            decided_at: Timestamp(t * NS),
            scope: Scope::Ip,
            value: value.into(),
            score,
            reasons: vec![Reason::new("test", score, "t".into())],
            first_seen: Timestamp(0),
            fingerprints: Arc::default(),
            origin: None,
        }
    }

    fn book(cfg: Config) -> DecisionBook {
        let allow = cfg.allow_rules().unwrap();
        DecisionBook::new(&cfg, allow)
    }

    #[test]
    fn one_decision_per_lifetime_then_renewal_then_expiry() {
        let mut b = book(Config::default());
        let mut out = Vec::new();
        b.offer(proposal("10.0.0.1", 0, 0.9), &mut out);
        b.offer(proposal("10.0.0.1", 10, 0.9), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].action, Action::Block);
        assert_eq!(out[0].duration_s, Some(3600));
        // Past half the lifetime: a renewal pointing at the first block.
        b.offer(proposal("10.0.0.1", 2000, 0.9), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].renews.as_deref(), Some(out[0].id.as_str()));
        // The renewal's expiry, not the first one, lifts the block.
        b.advance(Timestamp(3700 * NS), &mut out);
        assert_eq!(out.len(), 2);
        b.advance(Timestamp(5600 * NS), &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].action, Action::Unblock);
        assert_eq!(out[2].ends.as_deref(), Some(out[1].id.as_str()));
        assert_eq!(b.active_blocks(), 0);
    }

    #[test]
    fn allowlist_monitor_brake_and_cap() {
        let mut cfg = Config::default();
        cfg.allowlist.networks = vec!["10.9.0.0/16".into()];
        cfg.decisions.brake_per_minute = 3;
        cfg.decisions.max_active = 4;
        let mut b = book(cfg.clone());
        let mut out = Vec::new();
        b.offer(proposal("10.9.1.1", 0, 0.99), &mut out);
        assert!(out.is_empty());
        assert_eq!(b.stats.allowlisted, 1);
        for i in 0..5 {
            b.offer(proposal(&format!("10.0.0.{i}"), 1, 0.9), &mut out);
        }
        let modes: Vec<Mode> = out.iter().map(|d| d.mode).collect();
        assert_eq!(
            modes,
            vec![
                Mode::Enforce,
                Mode::Enforce,
                Mode::Enforce,
                Mode::Monitor,
                Mode::Monitor
            ]
        );
        assert!(out[4].reasons.iter().any(|r| r.code == "brake"));
        // A minute later the brake is off again; the cap lifts the weakest.
        out.clear();
        b.offer(proposal("10.0.1.1", 100, 0.95), &mut out);
        b.offer(proposal("10.0.1.2", 100, 0.97), &mut out);
        assert_eq!(
            out.iter().filter(|d| d.action == Action::Unblock).count(),
            1
        );
        assert_eq!(b.enforced(), 4);

        cfg.monitor = true;
        let mut m = book(cfg);
        out.clear();
        m.offer(proposal("10.0.0.1", 0, 0.9), &mut out);
        assert_eq!(out[0].mode, Mode::Monitor);
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = decision_id("s", Action::Block, Scope::Ip, "1.2.3.4", Timestamp(5));
        assert_eq!(
            a,
            decision_id("s", Action::Block, Scope::Ip, "1.2.3.4", Timestamp(5))
        );
        assert_ne!(
            a,
            decision_id("s", Action::Block, Scope::Ip, "1.2.3.4", Timestamp(6))
        );
        assert_ne!(
            a,
            decision_id("s", Action::Unblock, Scope::Ip, "1.2.3.4", Timestamp(5))
        );
        // The first 16 bytes of SHA-256 over the fields, in lowercase hex
        // (pinned: consumers drop redeliveries by id across versions).
        assert_eq!(a, "b33b6b183ce7baaf5d87a6d3ba85ed4c");
        let _ = Cidr::parse("10.0.0.0/8").unwrap();
    }

    #[test]
    fn reload_keeps_blocks_lifts_newly_allowlisted_and_takes_new_policy() {
        let mut b = book(Config::default());
        let mut out = Vec::new();
        b.offer(proposal("10.0.0.1", 0, 0.9), &mut out);
        b.offer(proposal("10.0.0.2", 0, 0.9), &mut out);
        assert_eq!(out.len(), 2);
        let second_block = out[1].id.clone();
        out.clear();
        let mut cfg = Config::default();
        cfg.allowlist.networks = vec!["10.0.0.2/32".into()];
        cfg.monitor = true;
        b.reconfigure(&cfg, cfg.allow_rules().unwrap(), Timestamp(5 * NS));
        assert_eq!(b.active_blocks(), 1, "10.0.0.1 stays blocked");
        b.advance(Timestamp(5 * NS), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].action, Action::Unblock);
        assert_eq!(out[0].value, "10.0.0.2");
        assert_eq!(out[0].reasons[0].code, "allowlist");
        assert_eq!(out[0].ends.as_deref(), Some(second_block.as_str()));
        out.clear();
        // Still blocked, so a repeat is a duplicate; a new client gets the new mode.
        b.offer(proposal("10.0.0.1", 6, 0.9), &mut out);
        assert!(out.is_empty());
        b.offer(proposal("10.0.0.2", 6, 0.9), &mut out);
        assert!(out.is_empty(), "allowlisted now");
        b.offer(proposal("10.0.0.3", 6, 0.9), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].mode, Mode::Monitor);
    }

    /// Monitor-only blocks (monitor mode, or a block storm past the brake)
    /// are capped too, weakest lifted first; before, they grew with every
    /// address an attack went through within the block lifetime.
    #[test]
    fn monitor_only_blocks_have_a_cap_of_their_own() {
        let mut cfg = Config::default();
        cfg.decisions.brake_per_minute = 3;
        cfg.decisions.max_active = 4;
        let mut b = book(cfg.clone());
        let mut out = Vec::new();
        // A storm: 3 enforced, then monitor-only ones, stronger and stronger.
        for i in 0..20 {
            b.offer(
                proposal(&format!("10.0.0.{i}"), 1, 0.5 + f64::from(i) / 100.0),
                &mut out,
            );
        }
        assert_eq!((b.live(Mode::Enforce), b.live(Mode::Monitor)), (3, 4));
        let lifted: Vec<&str> = out
            .iter()
            .filter(|d| d.action == Action::Unblock)
            .map(|d| d.value.as_str())
            .collect();
        assert_eq!(lifted.len(), 13, "the weakest monitor-only blocks go");
        assert_eq!(lifted[0], "10.0.0.3");
        assert_eq!(b.stats.lifted_by_cap, 13);
        // A weaker one than all four is not made at all.
        out.clear();
        b.offer(proposal("10.0.1.1", 2, 0.1), &mut out);
        assert!(out.is_empty());
        assert_eq!(b.active_blocks(), 7);

        // Monitor mode: only monitor-only blocks, as many as the cap.
        cfg.monitor = true;
        let mut m = book(cfg);
        out.clear();
        for i in 0..1000 {
            m.offer(
                proposal(&format!("10.1.{}.{}", i / 250, i % 250), i64::from(i), 0.9),
                &mut out,
            );
        }
        assert_eq!(m.active_blocks(), 4);
        // Equal scores: the newest is no stronger, so the first four stay.
        assert_eq!(out.iter().filter(|d| d.action == Action::Block).count(), 4);
    }

    /// Blocks lifted at the cap leave no expiry behind for long: a storm of
    /// ever stronger blocks keeps the expiry queue near the live blocks.
    #[test]
    fn expiries_of_lifted_blocks_do_not_pile_up() {
        let mut cfg = Config {
            monitor: true,
            ..Config::default()
        };
        cfg.decisions.max_active = 4;
        let mut b = book(cfg);
        let mut out = Vec::new();
        for i in 0..10_000 {
            let p = proposal(
                &format!("10.2.{}.{}", i / 250, i % 250),
                1,
                0.5 + f64::from(i) / 1e5,
            );
            b.offer(p, &mut out);
        }
        assert_eq!(b.stats.lifted_by_cap, 9_996);
        assert_eq!(b.active_blocks(), 4);
        assert!(
            b.expiries.len() <= 2 * 4 + 1024 + 1,
            "{} expiries",
            b.expiries.len()
        );
        // The four live ones still expire, each with its unblock.
        out.clear();
        b.advance(Timestamp(10 * 3600 * NS), &mut out);
        assert_eq!(
            out.iter().filter(|d| d.action == Action::Unblock).count(),
            4
        );
        assert_eq!(b.active_blocks(), 0);
    }

    impl DecisionBook {
        /// The bookkeeping every operation must leave true.
        fn check(&self) {
            assert!(self.live(Mode::Enforce) <= self.max_active);
            assert!(self.live(Mode::Monitor) <= self.max_active);
            assert_eq!(
                self.live(Mode::Enforce) + self.live(Mode::Monitor),
                self.active.len()
            );
            for ((scope, value), a) in &self.active {
                assert!(self.by_strength[mode_index(a.mode)]
                    .contains(&(*scope, value.clone()), a.score));
                assert!(self
                    .expiries
                    .iter()
                    .any(|Reverse((at, s, v))| *at == a.expires_at && s == scope && v == value));
            }
            assert!(self.expiries.len() <= 2 * self.active.len() + 1024 + 1);
        }
    }

    proptest::proptest! {
        /// Any stream of proposals (targets coming back, scores up and down,
        /// storms past the brake, time jumping past lifetimes) keeps both caps,
        /// the strength order and the expiries in step with the live blocks.
        #[test]
        fn any_proposals_keep_the_book_exact_and_bounded(
            steps in proptest::collection::vec((0u32..30, 0u32..100, 0u32..700, proptest::bool::ANY), 1..400),
            monitor in proptest::bool::ANY,
        ) {
            let mut cfg = Config { monitor, ..Config::default() };
            cfg.decisions.brake_per_minute = 5;
            cfg.decisions.max_active = 6;
            let mut b = book(cfg);
            let mut out = Vec::new();
            let mut t = 0;
            for (target, score, gap_s, range) in steps {
                t += i64::from(gap_s) * if gap_s > 650 { 10 } else { 1 };
                let mut p = proposal(&format!("10.0.0.{target}"), t, f64::from(score) / 100.0);
                if range {
                    p.scope = Scope::IpRange;
                    p.value = format!("10.{target}.0.0/24");
                }
                b.offer(p, &mut out);
                b.check();
            }
            b.advance(Timestamp((t + 100_000) * NS), &mut out);
            b.check();
            proptest::prop_assert_eq!(b.active_blocks(), 0);
        }
    }
}
