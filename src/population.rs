//! Per-fingerprint populations: which addresses use one client stack
//! (`ja4~tcp_sig`) in a sliding window, and the detector for distributed
//! attacks: many addresses, each making a few login-like attempts (one to three
//! short connections answered with small responses) with the same stack. One
//! `PopulationBook` per worker holds the fingerprints of that worker's shard.

use crate::addrfmt::ip_text;
use crate::client_behaviour::Context;
use crate::observations::{ConnEnd, ConnStart};
use crate::proposal::{Fingerprints, Proposal, Scope};
use crate::scoring::{combine, Reason};
use crate::seen_order::SeenOrder;
use hashbrown::{HashMap, HashSet};
use shakedown_capture::Timestamp;
use shakedown_fingerprints::reputation::ClientClass;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

const NS: i64 = 1_000_000_000;

/// Addresses of one population remembered as proposed (a distributed attack
/// rotates through many more).
const PROPOSED_CAP: usize = 65_536;

/// Half an address block's lifetime: an address proposed less long ago is
/// not proposed again.
fn ip_half_ttl(ctx: &Context) -> i64 {
    ctx.cfg.decisions.ip_ttl_s as i64 * NS / 2
}

/// The addresses of a population proposed for a block lately, oldest first:
/// one is not proposed again until half the block's lifetime has passed
/// (then its proposal renews the block, or blocks it again if the block has
/// ended), and at most `PROPOSED_CAP` are remembered, the oldest forgotten
/// first (a forgotten one may be proposed again early: the decision book
/// drops a duplicate of a live block).
#[derive(Debug, Default)]
struct RecentProposals {
    at: HashMap<IpAddr, Timestamp>,
    order: VecDeque<(Timestamp, IpAddr)>,
}

impl RecentProposals {
    fn contains(&self, ip: &IpAddr, now: Timestamp, half_ttl: i64) -> bool {
        self.at
            .get(ip)
            .is_some_and(|t| now.nanos_since(*t) < half_ttl)
    }

    fn insert(&mut self, ip: IpAddr, now: Timestamp, half_ttl: i64) {
        while let Some(&(t, old)) = self.order.front() {
            if now.nanos_since(t) < half_ttl && self.at.len() < PROPOSED_CAP {
                break;
            }
            self.order.pop_front();
            // Unless it was proposed again since (a later entry holds it).
            if self.at.get(&old) == Some(&t) {
                self.at.remove(&old);
            }
        }
        self.at.insert(ip, now);
        self.order.push_back((now, ip));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.at.len()
    }

    /// Forgets the addresses proposed `half_ttl` or longer before `now`.
    fn forget_before(&mut self, now: Timestamp, half_ttl: i64) {
        while let Some(&(t, old)) = self.order.front() {
            if now.nanos_since(t) < half_ttl {
                break;
            }
            self.order.pop_front();
            if self.at.get(&old) == Some(&t) {
                self.at.remove(&old);
            }
        }
        if self.order.is_empty() {
            *self = RecentProposals::default();
        }
    }

    /// Entries held, for the book's budget (the order may briefly hold an
    /// address twice, so it is what is counted).
    fn entries(&self) -> usize {
        self.order.len().max(self.at.len())
    }
}

#[derive(Debug, Clone, Copy)]
struct AddrStats {
    first_seen: Timestamp,
    last_seen: Timestamp,
    connections: u32,
    exchanges: u32,
    small_responses: u32,
    max_exchanges_per_connection: u32,
}

impl AddrStats {
    /// One to three short connections, every answer small: a login attempt pattern.
    fn login_like(&self) -> bool {
        self.connections <= 3
            && self.exchanges >= 1
            && self.small_responses == self.exchanges
            && self.max_exchanges_per_connection <= 3
    }
}

#[derive(Debug)]
struct Population {
    fingerprints: Arc<Fingerprints>,
    class: Option<ClientClass>,
    first_seen: Timestamp,
    /// Its latest connection (start or end).
    last_seen: Timestamp,
    /// Idle for `limits.client_idle_s`: its addresses were given back, and it
    /// waits in the book's resting queue (learning still reads it).
    resting: bool,
    connections: u64,
    addrs: HashMap<IpAddr, AddrStats>,
    /// The addresses in order of last seen, for expiry.
    order: SeenOrder<IpAddr>,
    login_like: u32,
    alarm_until: Option<Timestamp>,
    proposed: RecentProposals,
    fingerprint_proposed_at: Option<Timestamp>,
    /// Learning: largest population seen in one window, and flagged addresses.
    max_window_addresses: u64,
    flagged: HashSet<IpAddr>,
}

/// Summary of a population for learning a model.
#[derive(Debug, Clone)]
pub struct PopulationSummary {
    pub key: Arc<str>,
    pub ja4: Option<Arc<str>>,
    pub class: Option<ClientClass>,
    pub connections: u64,
    pub max_window_addresses: u64,
    pub flagged: Vec<IpAddr>,
}

pub struct PopulationBook {
    pops: HashMap<Arc<str>, Population>,
    /// The active populations in order of last seen.
    queue: SeenOrder<Arc<str>>,
    capacity: usize,
    max_addresses: usize,
    /// Addresses remembered by all populations together (in the window,
    /// proposed lately, flagged for learning), and their budget: each
    /// population is bounded on its own, but a flood of distinct stacks could
    /// otherwise fill every one of `capacity` populations.
    entries: usize,
    max_entries: usize,
    /// Populations idle for the idle time, in order of going idle: their
    /// addresses are given back, and they are the first to go when room is
    /// needed (entries are stale once the population is seen again).
    resting: VecDeque<(Timestamp, Arc<str>)>,
    /// Populations given up for a newer one (`capacity`).
    pub evicted: u64,
    /// Populations given up for the address budget (`max_entries`).
    pub shed: u64,
    /// Populations that gave back their addresses after being idle.
    pub rested: u64,
}

impl PopulationBook {
    /// At most `capacity` populations of at most `max_addresses` addresses
    /// each, and `max_entries` remembered addresses in all.
    pub fn new(capacity: usize, max_addresses: usize, max_entries: usize) -> PopulationBook {
        PopulationBook {
            pops: HashMap::new(),
            queue: SeenOrder::default(),
            capacity: capacity.max(1),
            max_addresses: max_addresses.max(16),
            entries: 0,
            max_entries: max_entries.max(1),
            resting: VecDeque::new(),
            evicted: 0,
            shed: 0,
            rested: 0,
        }
    }

    /// Populations held now.
    pub fn len(&self) -> usize {
        self.pops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pops.is_empty()
    }

    /// Addresses remembered by all populations now (the budget's measure).
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Takes the least recently seen population out: a resting one first,
    /// else the front of the queue unless it has been seen since it was
    /// queued (then it is queued again) or it is `keep`. None when both
    /// queues are empty, Some(false) when nothing was taken out this time.
    fn evict_oldest(&mut self, keep: Option<&Arc<str>>) -> Option<bool> {
        while let Some((queued, k)) = self.resting.pop_front() {
            if let Some(p) = self
                .pops
                .get(&k)
                .filter(|p| p.resting && p.last_seen == queued)
            {
                self.entries -= p.entries();
                self.pops.remove(&k);
                return Some(true);
            }
        }
        let k = self
            .queue
            .pop_least_recent(|k| self.pops.get(k).map(|p| p.last_seen))?;
        let p = self.pops.get(&k)?;
        if keep.is_some_and(|c| **c == *k) {
            let last = p.last_seen;
            self.queue.push(last, k);
            return Some(false);
        }
        self.entries -= p.entries();
        self.pops.remove(&k);
        Some(true)
    }

    /// Populations not seen for `idle_ns` give back their addresses (all
    /// out of the window and proposed longer than half a block's lifetime
    /// ago by then) and rest.
    fn rest_idle(&mut self, now: Timestamp, idle_ns: i64, half_ttl: i64) {
        while let Some(k) = self
            .queue
            .pop_idle(now, idle_ns, |k| self.pops.get(k).map(|p| p.last_seen))
        {
            let Some(p) = self.pops.get_mut(&k) else {
                continue;
            };
            let before = p.entries();
            p.rest(now, half_ttl);
            self.entries = self.entries - before + p.entries();
            self.rested += 1;
            self.resting.push_back((p.last_seen, k));
        }
        // A population that woke up left a stale entry: drop those before
        // they outnumber the populations (one that rests and wakes every few
        // hours would otherwise add one each time, for as long as it runs).
        if self.resting.len() > 2 * self.pops.len() + 64 {
            let pops = &self.pops;
            self.resting
                .retain(|(t, k)| pops.get(k).is_some_and(|p| p.resting && p.last_seen == *t));
        }
    }

    /// Books the change of `key`'s entries from `before` to `after`, then
    /// gives up the least recently seen other populations while over the budget.
    fn settle(&mut self, key: &Arc<str>, before: usize, after: usize) {
        self.entries = self.entries - before + after;
        while self.entries > self.max_entries && self.pops.len() > 1 {
            match self.evict_oldest(Some(key)) {
                Some(true) => self.shed += 1,
                Some(false) => {}
                None => break,
            }
        }
    }

    fn population(&mut self, s: &ConnStart, key: &Arc<str>, ts: Timestamp) -> &mut Population {
        if !self.pops.contains_key(key) {
            while self.pops.len() >= self.capacity {
                match self.evict_oldest(None) {
                    Some(true) => self.evicted += 1,
                    Some(false) => {}
                    None => break,
                }
            }
            self.queue.push(ts, key.clone());
        }
        let p = self.pops.entry(key.clone()).or_insert_with(|| Population {
            fingerprints: s.fingerprints.clone(),
            class: s.class,
            first_seen: ts,
            last_seen: ts,
            resting: false,
            connections: 0,
            addrs: HashMap::new(),
            order: SeenOrder::default(),
            login_like: 0,
            alarm_until: None,
            proposed: RecentProposals::default(),
            fingerprint_proposed_at: None,
            max_window_addresses: 0,
            flagged: HashSet::new(),
        });
        if ts > p.last_seen {
            p.last_seen = ts;
        }
        if p.resting {
            p.resting = false;
            self.queue.push(ts, key.clone());
        }
        p
    }

    pub fn on_start(&mut self, s: &ConnStart, ctx: &Context, out: &mut Vec<Proposal>) {
        let Some(key) = s.population_key().cloned() else {
            return;
        };
        let max_addresses = self.max_addresses;
        let window = ctx.cfg.windows.population_s as i64 * NS;
        let now = s.observed_at;
        self.rest_idle(now, ctx.idle_ns(), ip_half_ttl(ctx));
        let p = self.population(s, &key, now);
        let before = p.entries();
        p.connections += 1;
        p.expire(now, window);
        let is_new = p.update(s.client, now, max_addresses, |a| a.connections += 1);
        p.max_window_addresses = p.max_window_addresses.max(p.addrs.len() as u64);
        // During an attack, a new address with the attacking stack is blocked at
        // its first ClientHello (never for browser stacks: humans share them).
        let alarm = p.alarm_until.is_some_and(|t| now <= t);
        if alarm
            && is_new
            && p.class != Some(ClientClass::Browser)
            && !p.proposed.contains(&s.client, now, ip_half_ttl(ctx))
        {
            let reasons = vec![p.member_reason(
                ctx,
                "new address of a client stack under distributed attack",
            )];
            p.propose_ip(s.client, now, ip_half_ttl(ctx), reasons, out);
        }
        let after = p.entries();
        self.settle(&key, before, after);
    }

    pub fn on_end(&mut self, e: &ConnEnd, ctx: &Context, out: &mut Vec<Proposal>) {
        let s = &e.start;
        let Some(key) = s.population_key().cloned() else {
            return;
        };
        let max_addresses = self.max_addresses;
        let window = ctx.cfg.windows.population_s as i64 * NS;
        let now = e.observed_at;
        self.rest_idle(now, ctx.idle_ns(), ip_half_ttl(ctx));
        let p = self.population(s, &key, now);
        let before = p.entries();
        p.expire(now, window);
        let ex = e.exchanges;
        let small = e.small_responses;
        p.update(s.client, now, max_addresses, |a| {
            a.exchanges += ex;
            a.small_responses += small;
            a.max_exchanges_per_connection = a.max_exchanges_per_connection.max(ex);
        });
        let threshold = p.threshold(ctx, &key);
        let alarm = p.alarm_until.is_some_and(|t| now <= t);
        if p.login_like as f64 >= threshold {
            if !alarm {
                p.raise(now, threshold, ctx, out);
            }
            p.alarm_until = Some(Timestamp(now.0 + window));
        } else if alarm
            && !p.proposed.contains(&s.client, now, ip_half_ttl(ctx))
            && p.addrs.get(&s.client).is_some_and(AddrStats::login_like)
        {
            let reasons = vec![p.member_reason(
                ctx,
                "login-like attempts with a client stack under distributed attack",
            )];
            p.propose_ip(s.client, now, ip_half_ttl(ctx), reasons, out);
        }
        let after = p.entries();
        self.settle(&key, before, after);
    }

    pub fn summaries(&self) -> Vec<PopulationSummary> {
        let mut v: Vec<PopulationSummary> = self
            .pops
            .iter()
            .map(|(k, p)| {
                let mut flagged: Vec<IpAddr> = p.flagged.iter().copied().collect();
                flagged.sort();
                PopulationSummary {
                    key: k.clone(),
                    ja4: p.fingerprints.ja4.clone(),
                    class: p.class,
                    connections: p.connections,
                    max_window_addresses: p.max_window_addresses,
                    flagged,
                }
            })
            .collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }
}

/// Applies `f` to an address's stats at `ts`, keeping the population's
/// login-like count right.
fn apply(a: &mut AddrStats, login_like: &mut u32, ts: Timestamp, f: impl FnOnce(&mut AddrStats)) {
    let before = a.login_like();
    f(a);
    if ts > a.last_seen {
        a.last_seen = ts;
    }
    match (before, a.login_like()) {
        (false, true) => *login_like += 1,
        (true, false) => *login_like -= 1,
        _ => {}
    }
}

impl Population {
    /// Addresses it remembers: in the window, proposed lately, flagged.
    fn entries(&self) -> usize {
        self.order.len().max(self.addrs.len()) + self.proposed.entries() + self.flagged.len()
    }

    /// Gives back the addresses of an idle population (out of the window and
    /// proposed longer than `half_ttl` ago); what learning reads stays.
    fn rest(&mut self, now: Timestamp, half_ttl: i64) {
        self.addrs = HashMap::new();
        self.order = SeenOrder::default();
        self.login_like = 0;
        self.proposed.forget_before(now, half_ttl);
        self.resting = true;
    }

    /// Changes one address's stats, keeping the login-like count right;
    /// true if the address was new. (A known address costs one lookup.)
    fn update(
        &mut self,
        ip: IpAddr,
        ts: Timestamp,
        max_addresses: usize,
        f: impl FnOnce(&mut AddrStats),
    ) -> bool {
        if let Some(a) = self.addrs.get_mut(&ip) {
            apply(a, &mut self.login_like, ts, f);
            return false;
        }
        while self.addrs.len() >= max_addresses {
            let Some(old) = self.order.pop_queued_first() else {
                break;
            };
            self.remove(&old);
        }
        self.order.push(ts, ip);
        let a = self.addrs.entry(ip).or_insert(AddrStats {
            first_seen: ts,
            last_seen: ts,
            connections: 0,
            exchanges: 0,
            small_responses: 0,
            max_exchanges_per_connection: 0,
        });
        apply(a, &mut self.login_like, ts, f);
        true
    }

    fn remove(&mut self, ip: &IpAddr) {
        if let Some(a) = self.addrs.remove(ip) {
            if a.login_like() {
                self.login_like -= 1;
            }
        }
    }

    /// Forgets addresses not seen within the window.
    fn expire(&mut self, now: Timestamp, window: i64) {
        while let Some(ip) = self
            .order
            .pop_idle(now, window, |ip| self.addrs.get(ip).map(|a| a.last_seen))
        {
            self.remove(&ip);
        }
    }

    /// Login-like addresses needed for an alarm: the configured floor, raised to
    /// three times the largest normal population the model saw for this stack;
    /// ten times higher for browser stacks (humans share them).
    fn threshold(&self, ctx: &Context, key: &str) -> f64 {
        let mut t = ctx.cfg.thresholds.population_addresses as f64;
        if let Some(p) = ctx.model.as_ref().and_then(|m| m.profile(key)) {
            t = t.max(3.0 * p.max_window_addresses.saturating_sub(p.flagged_addresses) as f64);
        }
        if self.class == Some(ClientClass::Browser) {
            t *= 10.0;
        }
        t
    }

    fn member_reason(&self, ctx: &Context, what: &str) -> Reason {
        Reason::new(
            "distributed_attack",
            0.9,
            format!(
                "{what}: {} addresses made login-like attempts with this stack in {} s",
                self.login_like, ctx.cfg.windows.population_s
            ),
        )
        .with("login_like_addresses", self.login_like as f64)
        .with("window_addresses", self.addrs.len() as f64)
    }

    /// The alarm: block the stack (unless it is a browser's) and every address
    /// that took part.
    fn raise(&mut self, now: Timestamp, threshold: f64, ctx: &Context, out: &mut Vec<Proposal>) {
        let reason = self
            .member_reason(ctx, "distributed login attempts")
            .with("threshold", threshold);
        let half_ttl = ctx.cfg.decisions.fingerprint_ttl_s as i64 * NS / 2;
        if ctx.cfg.decisions.fingerprint_blocks
            && self.class != Some(ClientClass::Browser)
            && self
                .fingerprint_proposed_at
                .is_none_or(|t| now.nanos_since(t) >= half_ttl)
        {
            if let Some(value) = &self.fingerprints.ja4_tcp {
                self.fingerprint_proposed_at = Some(now);
                out.push(Proposal {
                    decided_at: now,
                    scope: Scope::Ja4Tcp,
                    value: value.to_string(),
                    score: combine(std::slice::from_ref(&reason)),
                    reasons: vec![reason.clone()],
                    first_seen: self.first_seen,
                    fingerprints: self.fingerprints.clone(),
                    origin: None,
                });
            }
        }
        let mut members: Vec<IpAddr> = self
            .addrs
            .iter()
            .filter(|(ip, a)| a.login_like() && !self.proposed.contains(ip, now, ip_half_ttl(ctx)))
            .map(|(ip, _)| *ip)
            .collect();
        members.sort();
        for ip in members {
            self.propose_ip(ip, now, ip_half_ttl(ctx), vec![reason.clone()], out);
        }
    }

    fn propose_ip(
        &mut self,
        ip: IpAddr,
        now: Timestamp,
        half_ttl: i64,
        reasons: Vec<Reason>,
        out: &mut Vec<Proposal>,
    ) {
        self.proposed.insert(ip, now, half_ttl);
        if self.flagged.len() < 65_536 {
            self.flagged.insert(ip);
        }
        let first_seen = self.addrs.get(&ip).map_or(now, |a| a.first_seen);
        out.push(Proposal {
            decided_at: now,
            scope: Scope::Ip,
            value: ip_text(ip),
            score: combine(&reasons),
            reasons,
            first_seen,
            fingerprints: self.fingerprints.clone(),
            origin: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::proposal::assert_same_proposals;

    fn ctx() -> Context {
        Context {
            cfg: Arc::new(Config::default()),
            model: None,
        }
    }

    fn conn(
        ip: IpAddr,
        t: f64,
        class: Option<ClientClass>,
        small: bool,
    ) -> (Arc<ConnStart>, ConnEnd) {
        conn_of_stack(ip, t, class, small, "sig")
    }

    /// A connection of the stack with this TCP signature.
    fn conn_of_stack(
        ip: IpAddr,
        t: f64,
        class: Option<ClientClass>,
        small: bool,
        tcp_sig: &str,
    ) -> (Arc<ConnStart>, ConnEnd) {
        let s = Arc::new(ConnStart {
            id: 0,
            client: ip,
            hello_ts: Timestamp((t * 1e9) as i64),
            observed_at: Timestamp((t * 1e9) as i64),
            fingerprints: Arc::new(Fingerprints {
                ja4: Some("t13d1812h1_85036bcba153_b26ce05bbdd6".into()),
                ja3: None,
                tcp_sig: Some(tcp_sig.into()),
                ja4_tcp: Some(format!("t13d1812h1_85036bcba153_b26ce05bbdd6~{tcp_sig}").into()),
                class: class.map(ClientClass::as_str),
                stack: None,
            }),
            class,
            sni_present: true,
            resumption: false,
        });
        let e = ConnEnd {
            start: s.clone(),
            end_ts: Timestamp(((t + 0.05) * 1e9) as i64),
            observed_at: Timestamp(((t + 0.05) * 1e9) as i64),
            exchanges: 1,
            small_responses: small as u32,
            client_app_bytes: 300,
            server_app_bytes: 60,
            failed: false,
        };
        (s, e)
    }

    #[test]
    fn distributed_stuffing_blocks_the_stack_and_every_member() {
        let mut book = PopulationBook::new(100, 4096, 1_000_000);
        let mut out = Vec::new();
        let c = ctx();
        for i in 0..60u32 {
            let ip: IpAddr = format!("10.77.{}.{}", i / 200, i % 200 + 1)
                .parse()
                .unwrap();
            let (s, e) = conn(ip, i as f64 * 2.0, Some(ClientClass::Library), true);
            book.on_start(&s, &c, &mut out);
            book.on_end(&e, &c, &mut out);
        }
        let fp = out.iter().filter(|p| p.scope == Scope::Ja4Tcp).count();
        let ips: HashSet<&str> = out
            .iter()
            .filter(|p| p.scope == Scope::Ip)
            .map(|p| p.value.as_str())
            .collect();
        assert_eq!(fp, 1);
        assert_eq!(
            ips.len(),
            60,
            "every member, including the first ones, is blocked"
        );
    }

    #[test]
    fn browsers_need_a_much_larger_population_and_never_get_a_stack_block() {
        let mut book = PopulationBook::new(100, 4096, 1_000_000);
        let mut out = Vec::new();
        let c = ctx();
        for i in 0..100u32 {
            let ip: IpAddr = format!("10.78.0.{}", i + 1).parse().unwrap();
            let (s, e) = conn(ip, i as f64, Some(ClientClass::Browser), true);
            book.on_start(&s, &c, &mut out);
            book.on_end(&e, &c, &mut out);
        }
        assert!(out.is_empty());
    }

    #[test]
    fn normal_users_of_a_stack_do_not_raise_an_alarm() {
        let mut book = PopulationBook::new(100, 4096, 1_000_000);
        let mut out = Vec::new();
        let c = ctx();
        for i in 0..200u32 {
            let ip: IpAddr = format!("10.79.0.{}", i % 250 + 1).parse().unwrap();
            // Big responses: real API use, not login failures.
            let (s, e) = conn(ip, i as f64, Some(ClientClass::Library), false);
            book.on_start(&s, &c, &mut out);
            book.on_end(&e, &c, &mut out);
        }
        assert!(out.is_empty());
    }

    #[test]
    fn recent_proposals_are_bounded_and_forgotten_after_half_a_block_lifetime() {
        let h = 1800 * NS;
        let ip = |i: u32| IpAddr::from((0x0a00_0000 + i).to_be_bytes());
        let mut r = RecentProposals::default();
        for i in 0..PROPOSED_CAP as u32 + 100 {
            r.insert(ip(i), Timestamp(0), h);
        }
        assert_eq!(r.len(), PROPOSED_CAP);
        assert!(!r.contains(&ip(99), Timestamp(0), h), "the oldest go first");
        assert!(r.contains(&ip(100), Timestamp(0), h));
        assert!(r.contains(&ip(100), Timestamp(h - 1), h));
        assert!(!r.contains(&ip(100), Timestamp(h), h));
        // Proposing again after that forgets every entry that old.
        r.insert(ip(100), Timestamp(h), h);
        assert_eq!(r.len(), 1);
        assert!(r.contains(&ip(100), Timestamp(h), h));
    }

    /// A botnet that comes back with the same addresses after their blocks
    /// have (half) run out is blocked again.
    #[test]
    fn a_returning_attack_blocks_its_addresses_again() {
        let mut book = PopulationBook::new(100, 4096, 1_000_000);
        let c = ctx();
        let half_ttl_s = c.cfg.decisions.ip_ttl_s as f64 / 2.0;
        let mut wave = |t0: f64| {
            let mut out = Vec::new();
            for i in 0..60u32 {
                let ip: IpAddr = format!("10.81.0.{}", i + 1).parse().unwrap();
                let (s, e) = conn(ip, t0 + i as f64 * 2.0, Some(ClientClass::Library), true);
                book.on_start(&s, &c, &mut out);
                book.on_end(&e, &c, &mut out);
            }
            out.iter().filter(|p| p.scope == Scope::Ip).count()
        };
        assert_eq!(wave(0.0), 60);
        assert_eq!(wave(200.0), 0, "blocked lately: not proposed again");
        assert_eq!(wave(half_ttl_s + 200.0), 60);
    }

    #[test]
    fn populations_are_bounded() {
        let mut book = PopulationBook::new(100, 32, 1_000_000);
        let mut out = Vec::new();
        let c = ctx();
        for i in 0..1000u32 {
            let ip: IpAddr = format!("10.80.{}.{}", i / 250, i % 250 + 1)
                .parse()
                .unwrap();
            let (s, e) = conn(ip, i as f64 * 0.01, Some(ClientClass::Browser), false);
            book.on_start(&s, &c, &mut out);
            book.on_end(&e, &c, &mut out);
        }
        let p = book.pops.values().next().unwrap();
        assert!(p.addrs.len() <= 32);
    }

    /// Thousands of distinct stacks, each from many addresses: the
    /// populations together never remember more addresses than the budget,
    /// the least recently seen go first, and an attack that follows is still
    /// caught.
    #[test]
    fn a_flood_of_stacks_stays_within_the_address_budget() {
        let budget = 5_000;
        let mut book = PopulationBook::new(100_000, 4096, budget);
        let c = ctx();
        let mut out = Vec::new();
        let ip = |k: u32, i: u32| IpAddr::from((0x0a00_0000 + k * 64 + i).to_be_bytes());
        let mut t = 0.0;
        // 2,000 stacks of 50 addresses: 100,000 addresses, 20 times the budget.
        for k in 0..2000u32 {
            for i in 0..50 {
                t += 0.001;
                let (s, e) = conn_of_stack(ip(k, i), t, None, false, &format!("flood{k}"));
                book.on_start(&s, &c, &mut out);
                book.on_end(&e, &c, &mut out);
            }
            assert!(book.entries() <= budget, "{} addresses", book.entries());
        }
        let counted: usize = book.pops.values().map(Population::entries).sum();
        assert_eq!(book.entries(), counted, "the budget's count is exact");
        assert!(book.shed >= 1900, "{} shed", book.shed);
        assert!(book
            .pops
            .contains_key("t13d1812h1_85036bcba153_b26ce05bbdd6~flood1999"));
        assert!(out.is_empty());
        for i in 0..60u32 {
            let (s, e) = conn(
                ip(5000, i),
                t + i as f64 * 2.0,
                Some(ClientClass::Library),
                true,
            );
            book.on_start(&s, &c, &mut out);
            book.on_end(&e, &c, &mut out);
        }
        assert_eq!(out.iter().filter(|p| p.scope == Scope::Ja4Tcp).count(), 1);
        assert_eq!(out.iter().filter(|p| p.scope == Scope::Ip).count(), 60);
        assert!(book.entries() <= budget);
    }

    /// The least recently seen population is the one whose connections are
    /// oldest, not the one that last gained a new address: a stack whose
    /// addresses keep coming back is not evicted for an idle one.
    #[test]
    fn a_stack_whose_addresses_keep_coming_is_not_the_least_recently_seen() {
        let mut book = PopulationBook::new(2, 4096, 1_000_000);
        let c = ctx();
        let mut out = Vec::new();
        let ip = |i: u32| IpAddr::from((0x0a55_0000 + i).to_be_bytes());
        // Stack "busy": the same ten addresses, from 0 to 100 s.
        for k in 0..100u32 {
            let (s, e) = conn_of_stack(ip(k % 10), f64::from(k), None, false, "busy");
            book.on_start(&s, &c, &mut out);
            book.on_end(&e, &c, &mut out);
        }
        // Stack "once": one connection at 20 s. Then a third stack needs room.
        let (s, _) = conn_of_stack(ip(50), 20.0, None, false, "once");
        book.on_start(&s, &c, &mut out);
        let (s, _) = conn_of_stack(ip(60), 101.0, None, false, "new");
        book.on_start(&s, &c, &mut out);
        let key = |sig: &str| format!("t13d1812h1_85036bcba153_b26ce05bbdd6~{sig}");
        assert!(book.pops.contains_key(key("busy").as_str()));
        assert!(!book.pops.contains_key(key("once").as_str()));
        assert_eq!(book.evicted, 1);
    }

    /// Idle populations give back their addresses and rest; nothing they
    /// gave back could still change a decision, so eight hours of attacks
    /// and quiet stacks give the same proposals and learning summaries with
    /// and without it, with far fewer addresses held.
    #[test]
    fn resting_idle_populations_changes_no_decision_and_no_summary() {
        let idle = ctx();
        let mut never = Config::default();
        never.limits.client_idle_s = u64::MAX;
        let never = Context {
            cfg: Arc::new(never),
            model: None,
        };
        let (mut a, mut b) = (
            PopulationBook::new(100, 4096, 1_000_000),
            PopulationBook::new(100, 4096, 1_000_000),
        );
        let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
        let mut held = (0, 0);
        let mut steps = 0;
        let ip = |wave: u32, i: u32| IpAddr::from((0x0a60_0000 + wave * 256 + i).to_be_bytes());
        // Every 40 minutes one stack is busy for a while: an attack (60
        // login-like addresses, some back from an earlier wave) or 40 users.
        for wave in 0..12u32 {
            let t0 = f64::from(wave) * 2400.0;
            let stack = format!("s{}", wave % 4);
            let attack = wave % 3 == 0;
            for i in 0..60u32 {
                let who = if attack {
                    ip(wave % 2, i)
                } else {
                    ip(wave, i % 40)
                };
                let t = t0 + f64::from(i) * 2.0;
                let (s, e) = conn_of_stack(who, t, Some(ClientClass::Library), attack, &stack);
                for (book, c, out) in [(&mut a, &idle, &mut out_a), (&mut b, &never, &mut out_b)] {
                    book.on_start(&s, c, out);
                    book.on_end(&e, c, out);
                }
                held = (held.0 + a.entries(), held.1 + b.entries());
                steps += 1;
            }
        }
        assert!(out_a.len() > 100, "{} proposals", out_a.len());
        assert_same_proposals(&out_a, &out_b);
        assert_eq!(
            format!("{:?}", a.summaries()),
            format!("{:?}", b.summaries())
        );
        assert!(a.rested > 0 && b.rested == 0);
        let counted: usize = a.pops.values().map(Population::entries).sum();
        assert_eq!(a.entries(), counted, "the budget's count is exact");
        eprintln!(
            "addresses held on average: {} resting idle populations, {} without",
            held.0 / steps,
            held.1 / steps
        );
        assert!(held.0 * 4 < held.1 * 3, "{held:?}");
    }

    /// A stack that rests and wakes again and again leaves no trail.
    #[test]
    fn resting_and_waking_leaves_no_trail() {
        let mut book = PopulationBook::new(100, 4096, 1_000_000);
        let c = ctx();
        let mut out = Vec::new();
        let ip = IpAddr::from([10, 66, 0, 1]);
        // Beside it, a stack never idle long: the sweep stops at it.
        for k in 0..1000 {
            let t = f64::from(k) * 7200.0;
            let (s, _) = conn_of_stack(ip, t, None, false, "nap");
            book.on_start(&s, &c, &mut out);
            let (s, _) = conn_of_stack(ip, t + 5000.0, None, false, "busy");
            book.on_start(&s, &c, &mut out);
        }
        // Both rest between their connections (the busy one's come two hours apart too).
        assert_eq!(book.rested, 1999);
        assert!(book.resting.len() <= 2 * book.pops.len() + 64 + 1);
        // "nap" rests again after "busy" came (it is 5,000 s idle by then).
        assert_eq!((book.pops.len(), book.queue.len()), (2, 1));
    }

    impl PopulationBook {
        /// The bookkeeping every operation must leave true.
        fn check(&self) {
            let counted: usize = self.pops.values().map(Population::entries).sum();
            assert_eq!(self.entries, counted, "the budget's count");
            assert!(self.pops.len() <= self.capacity);
            assert!(self.entries <= self.max_entries || self.pops.len() == 1);
            // Each population has exactly one valid place: the queue while
            // active (entries of ended ones are skipped), the resting queue
            // while resting.
            for (k, p) in &self.pops {
                let queued = self.queue.iter().filter(|(_, q)| q == k).count();
                let resting = self
                    .resting
                    .iter()
                    .filter(|(t, q)| q == k && *t == p.last_seen)
                    .count();
                if p.resting {
                    assert_eq!((queued, resting), (0, 1), "{k}");
                } else {
                    assert_eq!(queued, 1, "{k}");
                }
            }
        }
    }

    proptest::proptest! {
        /// Any mix of stacks, addresses, attacks and pauses (up to three
        /// hours) keeps the counts exact and every bound, with tight caps.
        #[test]
        fn any_traffic_keeps_the_books_exact_and_bounded(
            steps in proptest::collection::vec(
                (0u8..6, 0u32..40, 0u32..4_000, proptest::bool::ANY, proptest::bool::ANY),
                1..300,
            )
        ) {
            let mut book = PopulationBook::new(3, 16, 60);
            let c = ctx();
            let mut out = Vec::new();
            let mut t = 0.0;
            for (stack, addr, pause_s, small, ends) in steps {
                // Mostly short gaps, sometimes an hour or more.
                t += if pause_s > 3_900 { f64::from(pause_s) * 3.0 } else { f64::from(pause_s) / 100.0 };
                let ip = IpAddr::from((0x0a70_0000 + addr).to_be_bytes());
                let (s, e) = conn_of_stack(ip, t, Some(ClientClass::Library), small, &format!("p{stack}"));
                book.on_start(&s, &c, &mut out);
                book.check();
                if ends {
                    book.on_end(&e, &c, &mut out);
                    book.check();
                }
            }
        }
    }
}
