//! Per-client behaviour over a sliding window, and the detectors that judge it.
//! One `ClientBook` per worker holds the clients of that worker's shard.

use crate::addrfmt::ip_text;
use crate::config::Config;
use crate::features::Exchange;
use crate::model::Model;
use crate::observations::{ConnEnd, ConnStart};
use crate::proposal::{Fingerprints, Proposal, Scope};
use crate::scoring::{combine, Evidence, Reason};
use crate::seen_order::SeenOrder;
use hashbrown::HashMap;
use shakedown_capture::Timestamp;
use shakedown_fingerprints::reputation::ClientClass;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

const NS: i64 = 1_000_000_000;
/// Buckets per window.
const BUCKETS: usize = 6;
/// Recent requests kept per client for size and timing statistics.
const RING: usize = 32;
/// Distinct fingerprints remembered per client.
const MAX_FPS: usize = 8;
/// Recent connection ends kept per client (burst detection).
const RECENT_ENDS: usize = 10;
/// A burst: RECENT_ENDS connections ended within this many seconds.
const BURST_S: i64 = 10;
/// A session with at most this many exchanges is short (HTTP/2's connection
/// preface and settings show up as extra exchanges around a single request).
const SHORT_SESSION: u32 = 3;

/// Counters of one time bucket.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    connections: u32,
    ended: u32,
    exchanges: u32,
    single_exchange: u32,
    handshake_only: u32,
    failed: u32,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.connections += o.connections;
        self.ended += o.ended;
        self.exchanges += o.exchanges;
        self.single_exchange += o.single_exchange;
        self.handshake_only += o.handshake_only;
        self.failed += o.failed;
    }
}

/// Counters over the last `BUCKETS` buckets of `bucket_ns` each.
#[derive(Debug, Clone, Default)]
struct Window {
    /// Index (time / bucket_ns) of the newest bucket.
    newest: i64,
    buckets: [Counts; BUCKETS],
}

impl Window {
    fn at(&mut self, ts: Timestamp, bucket_ns: i64) -> &mut Counts {
        let idx = ts.0.div_euclid(bucket_ns);
        if idx > self.newest {
            let shift = (idx - self.newest).min(BUCKETS as i64) as usize;
            self.buckets.rotate_right(shift);
            for b in &mut self.buckets[..shift] {
                *b = Counts::default();
            }
            self.newest = idx;
        }
        let age = (self.newest - idx).clamp(0, BUCKETS as i64 - 1) as usize;
        &mut self.buckets[age]
    }

    fn sum(&self, now: Timestamp, bucket_ns: i64) -> Counts {
        let idx = now.0.div_euclid(bucket_ns);
        let mut total = Counts::default();
        for (age, b) in self.buckets.iter().enumerate() {
            if self.newest - age as i64 > idx - BUCKETS as i64 {
                total += *b;
            }
        }
        total
    }
}

#[derive(Debug, Clone, Copy)]
struct RequestMark {
    ts: Timestamp,
    response_bytes: u32,
}

/// What one worker remembers of one client address.
#[derive(Debug)]
struct ClientState {
    first_seen: Timestamp,
    last_seen: Timestamp,
    window: Window,
    recent: VecDeque<RequestMark>,
    /// (end time, exchanges) of the latest connections.
    recent_ends: VecDeque<(Timestamp, u32)>,
    /// Current run of requests without a pause of `think_time_s`: its start,
    /// its length, and the latest request.
    run_start: Option<Timestamp>,
    run_requests: u32,
    last_request: Option<Timestamp>,
    fingerprints: Vec<(Arc<str>, Timestamp)>,
    /// Fingerprints of the latest connection (for decisions).
    latest: Arc<Fingerprints>,
    latest_class: Option<ClientClass>,
    latest_population: Option<Arc<str>>,
    /// Fingerprint populations this client belonged to (learning), at most MAX_FPS.
    populations: Vec<Arc<str>>,
    proposed_at: Option<Timestamp>,
    /// Largest request and connection counts seen in one window (learning).
    max_window_requests: u32,
    max_window_connections: u32,
    connections: u64,
}

/// A run of requests without a pause of the think time.
#[derive(Debug, Clone, Copy)]
struct Run {
    requests: u32,
    /// From its first request to now while it goes on; to its last request
    /// once it has ended.
    span_s: f64,
    /// Its last request came less than a think time ago.
    ongoing: bool,
}

impl ClientState {
    /// The latest run of requests as of `now`. A run has ended once its last
    /// request is a think time old, even before a request starts the next
    /// one: a connection that ends minutes later must not stretch it. Like
    /// every other count, a run that ended is evidence for one client window.
    fn run(&self, now: Timestamp, ctx: &Context) -> Option<Run> {
        let start = self.run_start?;
        let pause = (ctx.cfg.thresholds.think_time_s * 1e9) as i64;
        let ongoing = self.last_request.is_none_or(|l| now.nanos_since(l) < pause);
        let end = match self.last_request {
            Some(l) if !ongoing => l,
            _ => now,
        };
        if now.nanos_since(end) >= ctx.cfg.windows.client_s as i64 * NS {
            return None;
        }
        Some(Run {
            requests: self.run_requests,
            span_s: end.nanos_since(start) as f64 / 1e9,
            ongoing,
        })
    }
}

/// Summary of a client for learning a model.
#[derive(Debug, Clone)]
pub struct ClientSummary {
    pub ip: IpAddr,
    pub flagged: bool,
    pub connections: u64,
    pub max_window_requests: u32,
    pub max_window_connections: u32,
    pub populations: Vec<Arc<str>>,
}

/// Read-only inputs of the detectors.
pub struct Context {
    pub cfg: Arc<Config>,
    pub model: Option<Arc<Model>>,
}

impl Context {
    fn bucket_ns(&self) -> i64 {
        (self.cfg.windows.client_s as i64 * NS / BUCKETS as i64).max(1)
    }

    /// How long a client may be idle before it leaves the book (and a
    /// population before it gives back its addresses): the configured time,
    /// but never less than what their state still speaks to (the client and
    /// population windows, the think time, half an address block's
    /// lifetime), so that forgetting it changes no decision.
    pub(crate) fn idle_ns(&self) -> i64 {
        let c = &self.cfg;
        let floor_s = c
            .windows
            .client_s
            .max(c.windows.population_s)
            .max(c.decisions.ip_ttl_s.div_ceil(2))
            .max(c.thresholds.think_time_s.ceil() as u64);
        i64::try_from(c.limits.client_idle_s.max(floor_s))
            .unwrap_or(i64::MAX)
            .saturating_mul(NS)
    }
}

/// The clients of one shard.
pub struct ClientBook {
    /// Boxed: the table's empty buckets then cost 33 bytes, not 400 (a
    /// table just grown is half empty), and growing it moves no state.
    clients: HashMap<IpAddr, Box<ClientState>>,
    /// The clients in order of last seen.
    queue: SeenOrder<IpAddr>,
    /// Address ranges (/24, /48) of the clients, for range decisions: a
    /// range is kept while one of its addresses is in the book, so there are
    /// never more ranges than clients, and new ranges are tracked whatever
    /// came before.
    ranges: HashMap<(IpAddr, u8), RangeState>,
    capacity: usize,
    /// Clients that left the book (idle, or evicted when it was full): what
    /// learning and their later decisions read, about a quarter of a
    /// client's memory, given back when they return. At most `capacity`, the oldest
    /// forgotten first; `retired_order` is in order of leaving.
    retired: HashMap<IpAddr, Retired>,
    retired_order: VecDeque<(Timestamp, IpAddr)>,
    /// Clients that left because the book was full (least recently seen first).
    pub evicted: u64,
    /// Clients that left after `limits.client_idle_s` without a connection.
    pub expired: u64,
    /// Retired clients forgotten for newer ones (learning no longer sees them).
    pub retired_forgotten: u64,
}

/// What stays of a client that left the book. Its windows, rings and runs
/// have run out by the time it goes idle, so a client that comes back is
/// judged as if it had stayed (one evicted from a full book loses them, as
/// before); learning reads its summary either way.
#[derive(Debug)]
struct Retired {
    first_seen: Timestamp,
    left_at: Timestamp,
    connections: u64,
    max_window_requests: u32,
    max_window_connections: u32,
    proposed_at: Option<Timestamp>,
    latest: Arc<Fingerprints>,
    latest_class: Option<ClientClass>,
    latest_population: Option<Arc<str>>,
    populations: Vec<Arc<str>>,
}

impl Retired {
    fn from_state(st: ClientState, left_at: Timestamp) -> Retired {
        Retired {
            first_seen: st.first_seen,
            left_at,
            connections: st.connections,
            max_window_requests: st.max_window_requests,
            max_window_connections: st.max_window_connections,
            proposed_at: st.proposed_at,
            latest: st.latest,
            latest_class: st.latest_class,
            latest_population: st.latest_population,
            populations: st.populations,
        }
    }

    fn summary(&self, ip: IpAddr) -> ClientSummary {
        ClientSummary {
            ip,
            flagged: self.proposed_at.is_some(),
            connections: self.connections,
            max_window_requests: self.max_window_requests,
            max_window_connections: self.max_window_connections,
            populations: self.populations.clone(),
        }
    }
}

impl ClientState {
    fn new(ts: Timestamp) -> ClientState {
        ClientState {
            first_seen: ts,
            last_seen: ts,
            window: Window::default(),
            recent: VecDeque::new(),
            recent_ends: VecDeque::new(),
            run_start: None,
            run_requests: 0,
            last_request: None,
            fingerprints: Vec::new(),
            latest: Arc::default(),
            latest_class: None,
            latest_population: None,
            populations: Vec::new(),
            proposed_at: None,
            max_window_requests: 0,
            max_window_connections: 0,
            connections: 0,
        }
    }

    /// A client back after it left, seen at `ts`.
    fn returning(r: Retired, ts: Timestamp) -> ClientState {
        ClientState {
            first_seen: r.first_seen,
            connections: r.connections,
            max_window_requests: r.max_window_requests,
            max_window_connections: r.max_window_connections,
            proposed_at: r.proposed_at,
            latest: r.latest,
            latest_class: r.latest_class,
            latest_population: r.latest_population,
            populations: r.populations,
            ..ClientState::new(ts)
        }
    }
}

/// Addresses per range remembered (a /24 has 256).
const RANGE_MEMBERS: usize = 256;

#[derive(Debug, Default)]
struct RangeState {
    /// Addresses of the range in the book (at most RANGE_MEMBERS).
    members: Vec<IpAddr>,
    /// Recent address blocks in the range: (time, address).
    offenders: VecDeque<(Timestamp, IpAddr)>,
    proposed_at: Option<Timestamp>,
}

/// The /24 (IPv4) or /48 (IPv6) an address belongs to.
fn range_of(ip: &IpAddr) -> (IpAddr, u8) {
    match ip {
        IpAddr::V4(v4) => (IpAddr::V4((u32::from(*v4) & 0xffff_ff00).into()), 24),
        IpAddr::V6(v6) => (
            IpAddr::V6((u128::from(*v6) & !((1u128 << 80) - 1)).into()),
            48,
        ),
    }
}

impl ClientBook {
    pub fn new(capacity: usize) -> ClientBook {
        ClientBook {
            clients: HashMap::new(),
            queue: SeenOrder::default(),
            ranges: HashMap::new(),
            capacity: capacity.max(1),
            retired: HashMap::new(),
            retired_order: VecDeque::new(),
            evicted: 0,
            expired: 0,
            retired_forgotten: 0,
        }
    }

    /// Clients that left and whose summaries are kept for learning.
    pub fn retired(&self) -> usize {
        self.retired.len()
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    fn state(&mut self, ip: IpAddr, ts: Timestamp, idle_ns: i64) -> &mut ClientState {
        self.expire_idle(ts, idle_ns);
        if !self.clients.contains_key(&ip) {
            self.make_room(ts);
            self.queue.push(ts, ip);
            // No check of the ranges' count: a range goes with its last
            // member, so there are never more ranges than clients.
            let r = self.ranges.entry(range_of(&ip)).or_default();
            if r.members.len() < RANGE_MEMBERS && !r.members.contains(&ip) {
                r.members.push(ip);
            }
        }
        let retired = &mut self.retired;
        let st = self.clients.entry(ip).or_insert_with(|| {
            Box::new(match retired.remove(&ip) {
                Some(r) => ClientState::returning(r, ts),
                None => ClientState::new(ts),
            })
        });
        if ts > st.last_seen {
            st.last_seen = ts;
        }
        st
    }

    /// Retires the clients not seen for `idle_ns` before `now`.
    fn expire_idle(&mut self, now: Timestamp, idle_ns: i64) {
        while let Some(ip) = self
            .queue
            .pop_idle(now, idle_ns, |ip| self.clients.get(ip).map(|c| c.last_seen))
        {
            self.retire(ip, now);
            self.expired += 1;
        }
    }

    /// Evicts the least recently seen client when full.
    fn make_room(&mut self, now: Timestamp) {
        while self.clients.len() >= self.capacity {
            let Some(ip) = self
                .queue
                .pop_least_recent(|ip| self.clients.get(ip).map(|c| c.last_seen))
            else {
                return;
            };
            self.retire(ip, now);
            self.evicted += 1;
        }
    }

    /// Moves a client out of the book, leaving its summary behind.
    fn retire(&mut self, ip: IpAddr, now: Timestamp) {
        let Some(st) = self.clients.remove(&ip) else {
            return;
        };
        self.forget_member(ip);
        while self.retired.len() >= self.capacity {
            let Some((left, old)) = self.retired_order.pop_front() else {
                break;
            };
            if self.retired.get(&old).is_some_and(|r| r.left_at == left) {
                self.retired.remove(&old);
                self.retired_forgotten += 1;
            }
        }
        self.retired.insert(ip, Retired::from_state(*st, now));
        self.retired_order.push_back((now, ip));
        // Clients that came back leave stale entries in the order: drop them
        // before they outnumber the retired.
        if self.retired_order.len() > 2 * self.retired.len() + 64 {
            let retired = &self.retired;
            self.retired_order
                .retain(|(left, ip)| retired.get(ip).is_some_and(|r| r.left_at == *left));
        }
    }

    /// Takes an evicted client out of its range; a range left without
    /// addresses goes too (its offenders were among them).
    fn forget_member(&mut self, ip: IpAddr) {
        let key = range_of(&ip);
        if let Some(r) = self.ranges.get_mut(&key) {
            r.members.retain(|m| *m != ip);
            if r.members.is_empty() {
                self.ranges.remove(&key);
            }
        }
    }

    /// A connection's first ClientHello: fingerprint-based evidence.
    pub fn on_start(&mut self, s: &ConnStart, ctx: &Context, out: &mut Vec<Proposal>) {
        let bucket_ns = ctx.bucket_ns();
        let now = s.observed_at;
        let st = self.state(s.client, now, ctx.idle_ns());
        st.connections += 1;
        st.window.at(now, bucket_ns).connections += 1;
        if !Arc::ptr_eq(&st.latest, &s.fingerprints) {
            st.latest = s.fingerprints.clone();
        }
        st.latest_class = s.class;
        st.latest_population = s.population_key().cloned();
        if let Some(p) = &st.latest_population {
            if st.populations.len() < MAX_FPS && !st.populations.contains(p) {
                st.populations.push(p.clone());
            }
        }
        if let Some(ja4) = s.ja4() {
            let window_start = Timestamp(now.0 - ctx.cfg.windows.client_s as i64 * NS);
            st.fingerprints.retain(|(_, t)| *t >= window_start);
            if let Some(entry) = st.fingerprints.iter_mut().find(|(f, _)| f == ja4) {
                entry.1 = now;
            } else if st.fingerprints.len() < MAX_FPS {
                st.fingerprints.push((ja4.clone(), now));
            }
        }
        let before = out.len();
        propose(st, s, now, ctx, out);
        self.check_range(s.client, now, before, ctx, out);
    }

    /// Exchanges of a connection as they complete.
    pub fn on_exchanges(
        &mut self,
        s: &ConnStart,
        exchanges: &[Exchange],
        at: Timestamp,
        ctx: &Context,
        out: &mut Vec<Proposal>,
    ) {
        if exchanges.is_empty() {
            return;
        }
        let ts = at;
        let bucket_ns = ctx.bucket_ns();
        let st = self.state(s.client, ts, ctx.idle_ns());
        let pause = (ctx.cfg.thresholds.think_time_s * 1e9) as i64;
        for e in exchanges {
            st.window.at(e.request_ts.min(at), bucket_ns).exchanges += 1;
            // Exchanges of concurrent connections may arrive slightly out of order.
            let paused = st
                .last_request
                .is_none_or(|l| e.request_ts.nanos_since(l) >= pause);
            if paused {
                st.run_start = Some(e.request_ts);
                st.run_requests = 1;
            } else {
                st.run_requests += 1;
            }
            if st.last_request.is_none_or(|l| e.request_ts > l) {
                st.last_request = Some(e.request_ts);
            }
            if st.recent.len() == RING {
                st.recent.pop_front();
            }
            st.recent.push_back(RequestMark {
                ts: e.request_ts,
                response_bytes: e.response_bytes,
            });
        }
        let before = out.len();
        propose(st, s, ts, ctx, out);
        self.check_range(s.client, ts, before, ctx, out);
    }

    /// A connection's end.
    pub fn on_end(&mut self, e: &ConnEnd, ctx: &Context, out: &mut Vec<Proposal>) {
        let bucket_ns = ctx.bucket_ns();
        let now = e.observed_at;
        let st = self.state(e.start.client, now, ctx.idle_ns());
        let c = st.window.at(now, bucket_ns);
        c.ended += 1;
        if e.exchanges <= SHORT_SESSION {
            c.single_exchange += 1;
        }
        if e.handshake_only() {
            c.handshake_only += 1;
        }
        if e.failed {
            c.failed += 1;
        }
        if st.recent_ends.len() == RECENT_ENDS {
            st.recent_ends.pop_front();
        }
        st.recent_ends.push_back((now, e.exchanges));
        let before = out.len();
        propose(st, &e.start, now, ctx, out);
        self.check_range(e.start.client, now, before, ctx, out);
    }

    /// After an address block: block its range if enough of the range's
    /// addresses were blocked recently and none of its other addresses is active.
    fn check_range(
        &mut self,
        ip: IpAddr,
        now: Timestamp,
        before: usize,
        ctx: &Context,
        out: &mut Vec<Proposal>,
    ) {
        if out.len() == before {
            return;
        }
        let window = ctx.cfg.windows.population_s as i64 * NS;
        let key = range_of(&ip);
        let Some(r) = self.ranges.get_mut(&key) else {
            return;
        };
        while r
            .offenders
            .front()
            .is_some_and(|(t, _)| now.nanos_since(*t) >= window)
        {
            r.offenders.pop_front();
        }
        if r.offenders.len() >= RANGE_MEMBERS {
            r.offenders.pop_front();
        }
        r.offenders.push_back((now, ip));
        let mut offenders: Vec<IpAddr> = r.offenders.iter().map(|(_, a)| *a).collect();
        offenders.sort();
        offenders.dedup();
        let half_ttl = ctx.cfg.decisions.ip_ttl_s as i64 * NS / 2;
        if (offenders.len() as u32) < ctx.cfg.thresholds.range_addresses
            || r.proposed_at.is_some_and(|t| now.nanos_since(t) < half_ttl)
        {
            return;
        }
        let innocent = r.members.iter().any(|m| {
            offenders.binary_search(m).is_err()
                && self.clients.get(m).is_some_and(|c| {
                    now.nanos_since(c.last_seen) < window && c.proposed_at.is_none()
                })
        });
        if innocent {
            return;
        }
        r.proposed_at = Some(now);
        let (net, prefix) = key;
        let first_seen = r
            .members
            .iter()
            .filter_map(|m| self.clients.get(m).map(|c| c.first_seen))
            .min()
            .unwrap_or(now);
        let reason = Reason::new(
            "range_of_offenders",
            0.9,
            format!(
                "{} addresses of {net}/{prefix} blocked in {} s and no other address of the range active",
                offenders.len(),
                ctx.cfg.windows.population_s
            ),
        )
        .with("blocked_addresses", offenders.len() as f64)
        .with("known_addresses", r.members.len() as f64);
        out.push(Proposal {
            decided_at: now,
            scope: Scope::IpRange,
            value: format!("{net}/{prefix}"),
            score: combine(std::slice::from_ref(&reason)),
            reasons: vec![reason],
            first_seen,
            fingerprints: out[before].fingerprints.clone(),
            origin: None,
        });
    }

    /// Summaries for learning, sorted by address.
    pub fn summaries(&self) -> Vec<ClientSummary> {
        let mut v: Vec<ClientSummary> = self
            .clients
            .iter()
            .map(|(ip, st)| ClientSummary {
                ip: *ip,
                flagged: st.proposed_at.is_some(),
                connections: st.connections,
                max_window_requests: st.max_window_requests,
                max_window_connections: st.max_window_connections,
                populations: st.populations.clone(),
            })
            .chain(self.retired.iter().map(|(ip, r)| r.summary(*ip)))
            .collect();
        v.sort_by_key(|s| s.ip);
        v
    }
}

/// Evidence from the client's TLS/TCP stack alone (known at the first ClientHello).
fn stack_reasons(s: &ConnStart, ctx: &Context, ev: &mut Evidence) {
    let name = || s.class_name().unwrap_or("unknown stack");
    match s.class {
        Some(ClientClass::Malicious) => ev.add(
            "known_malicious_fingerprint",
            0.99,
            || format!("fingerprint of {}", name()),
            &[("reputation_match", 1.0)],
        ),
        Some(c) if c.is_automation() => ev.add(
            "automation_stack",
            0.35,
            || format!("TLS stack of an HTTP {c}: {}", name()),
            &[("reputation_match", 1.0)],
        ),
        _ => {}
    }
    if let (Some(model), Some(key)) = (&ctx.model, s.population_key()) {
        let automation_or_unknown = s.class.is_none_or(ClientClass::is_automation);
        // A browser stack needs a much clearer record: humans share browser
        // fingerprints, so only one that (nearly) nobody used normally counts.
        let abused = |p: &crate::model::FingerprintProfile| {
            if automation_or_unknown {
                p.flagged_addresses >= 3 && p.abusive_share() >= 0.5
            } else {
                p.flagged_addresses >= 3 && p.abusive_share() >= 0.9
            }
        };
        match model.profile(key) {
            Some(p) if abused(p) => ev.add(
                "abused_stack",
                0.85,
                || {
                    format!(
                        "at this site this client stack was used abusively by {} of its {} addresses",
                        p.flagged_addresses, p.addresses
                    )
                },
                &[
                    ("abusive_share", p.abusive_share()),
                    ("learned_addresses", p.addresses as f64),
                ],
            ),
            None if automation_or_unknown => ev.add(
                "unseen_stack",
                if s.class.is_some() { 0.3 } else { 0.2 },
                || format!("{} was never seen at this site while learning", name()),
                &[],
            ),
            _ => {}
        }
    }
}

/// The client's counts over the window ending at `now`; the largest ones
/// are kept for learning.
fn window_counts(st: &mut ClientState, now: Timestamp, ctx: &Context) -> Counts {
    let w = st.window.sum(now, ctx.bucket_ns());
    st.max_window_requests = st.max_window_requests.max(w.exchanges);
    st.max_window_connections = st.max_window_connections.max(w.connections);
    w
}

/// Evidence from what the client did in the window ending at `now`.
fn behaviour_reasons(st: &mut ClientState, now: Timestamp, ctx: &Context, ev: &mut Evidence) {
    let th = &ctx.cfg.thresholds;
    let w = window_counts(st, now, ctx);
    let window_s = ctx.cfg.windows.client_s as f64;

    // Learned rates raise the configured floors, never lower them.
    let (req_limit, conn_limit) = match &ctx.model {
        Some(m) => (
            (th.request_rate as f64).max(3.0 * m.client_requests_p99),
            (th.connection_rate as f64).max(3.0 * m.client_connections_p99),
        ),
        None => (th.request_rate as f64, th.connection_rate as f64),
    };

    // Connection churn: many short TLS sessions, over the window or in a burst
    // (RECENT_ENDS sessions within BURST_S seconds).
    let burst = st.recent_ends.len() == RECENT_ENDS
        && st
            .recent_ends
            .front()
            .is_some_and(|(t, _)| now.nanos_since(*t) <= BURST_S * NS);
    let (conns, single) = if burst {
        let single = st
            .recent_ends
            .iter()
            .filter(|(_, ex)| *ex <= SHORT_SESSION)
            .count() as f64
            / RECENT_ENDS as f64;
        (RECENT_ENDS as u32, single)
    } else if w.ended >= 3 && w.connections as f64 >= conn_limit {
        (w.connections, w.single_exchange as f64 / w.ended as f64)
    } else {
        (0, 0.0)
    };
    if conns > 0 && single >= 0.7 {
        let weight = if w.connections as f64 >= 3.0 * conn_limit {
            0.75
        } else {
            0.6
        };
        ev.add(
            "connection_churn",
            weight,
            || {
                let span = if burst {
                    format!("{BURST_S} s")
                } else {
                    format!("{window_s} s")
                };
                format!(
                    "{conns} new TLS sessions in {span}, {:.0} % with at most one request",
                    single * 100.0
                )
            },
            &[
                ("connections", conns as f64),
                ("window_connections", w.connections as f64),
                ("short_session_share", single),
                ("limit", conn_limit),
            ],
        );
    }
    // The rate over the window; for a client that started less than a window
    // ago, the rate of a sustained run (40+ requests over 10+ s without a
    // pause) extrapolated to the window.
    let run = st.run(now, ctx);
    let run_rate = match run {
        Some(r) if r.ongoing && r.requests >= 40 && r.span_s >= 10.0 => {
            r.requests as f64 * window_s / r.span_s
        }
        _ => 0.0,
    };
    let rate = (w.exchanges as f64).max(run_rate);
    if rate >= req_limit {
        // 0.5 at the limit, rising with the excess: 0.76 at 2.5x, 0.85 at 3x and beyond.
        let excess = rate / req_limit;
        let weight = 0.5 + 0.35 * ((excess - 1.0) / 2.0).min(1.0);
        ev.add(
            "request_rate",
            weight,
            || format!("{rate:.0} requests per {window_s} s"),
            &[
                ("requests", w.exchanges as f64),
                ("rate", rate),
                ("limit", req_limit),
            ],
        );
    }
    if w.handshake_only >= th.handshake_only {
        ev.add(
            "handshake_flood",
            0.85,
            || {
                format!(
                    "{} TLS handshakes without a request in {window_s} s",
                    w.handshake_only
                )
            },
            &[("handshake_only", w.handshake_only as f64)],
        );
    }
    if w.failed >= 10 && w.ended > 0 && w.failed as f64 / w.ended as f64 >= 0.5 {
        ev.add(
            "failed_handshakes",
            0.5,
            || format!("{} failed TLS handshakes in {window_s} s", w.failed),
            &[("failed", w.failed as f64), ("connections", w.ended as f64)],
        );
    }
    uniform_small_responses(st, now, ctx, ev);
    // No think time: a long run of requests without any pause, lasting long
    // enough that it is not one page's burst of assets.
    if let Some(Run { span_s: span, .. }) = run {
        // 100+ requests over 5+ s is no page load either.
        if (st.run_requests >= 20 && span >= 10.0) || (st.run_requests >= 100 && span >= 5.0) {
            let weight = if st.run_requests >= 60 && span >= 10.0 || span >= 30.0 {
                0.85
            } else if st.run_requests >= 100 {
                0.8
            } else {
                0.7
            };
            ev.add(
                "no_think_time",
                weight,
                || {
                    format!(
                        "{} requests over {span:.0} s without a pause of {} s",
                        st.run_requests, th.think_time_s
                    )
                },
                &[("requests", st.run_requests as f64), ("span_s", span)],
            );
        }
    }
    // Fingerprints seen in the window: the list is pruned at a connection's
    // start only, and exchanges and ends come later.
    let window_start = Timestamp(now.0 - ctx.cfg.windows.client_s as i64 * NS);
    let fingerprints = st
        .fingerprints
        .iter()
        .filter(|(_, t)| *t >= window_start)
        .count();
    if fingerprints >= 4 {
        ev.add(
            "fingerprint_rotation",
            0.3,
            || {
                format!(
                    "{fingerprints} different TLS fingerprints from one address in {window_s} s"
                )
            },
            &[("fingerprints", fingerprints as f64)],
        );
    }
}

/// The same small answer again and again (failed logins): the most common
/// response size among the recent requests, within a few bytes. The first
/// exchanges of an HTTP/2 session (settings) differ, hence a share, not all.
/// Unanswered exchanges (HTTP/2 control frames between requests) do not count.
fn uniform_small_responses(st: &ClientState, now: Timestamp, ctx: &Context, ev: &mut Evidence) {
    let th = &ctx.cfg.thresholds;
    let window_start = Timestamp(now.0 - ctx.cfg.windows.client_s as i64 * NS);
    let answered = || {
        st.recent
            .iter()
            .filter(move |r| r.ts >= window_start && r.response_bytes > 0)
    };
    // At most RING of them: sorted on the stack, not in a new vector.
    let mut sizes = [0u32; RING];
    let mut n = 0;
    for r in answered() {
        sizes[n] = r.response_bytes;
        n += 1;
    }
    if n < th.min_exchanges as usize {
        return;
    }
    let sizes = &mut sizes[..n];
    sizes.sort_unstable();
    let (mut best, mut best_size) = (0usize, 0u32);
    for i in 0..n {
        let j = sizes[i..].partition_point(|&x| x <= sizes[i] + 4) + i;
        if j - i > best {
            best = j - i;
            best_size = sizes[i];
        }
    }
    let share = best as f64 / n as f64;
    if share < 0.75 || best_size == 0 || best_size > th.small_response_bytes {
        return;
    }
    let first_same = answered()
        .find(|r| r.response_bytes.abs_diff(best_size) <= 4)
        .map_or(now, |r| r.ts);
    let span = now.nanos_since(first_same) as f64 / 1e9;
    // 20 of them, or 8 within 10 s, is beyond any human.
    let weight = if best >= 30 {
        0.8
    } else if best >= 20 || (best >= 8 && span <= 10.0) {
        0.75
    } else {
        0.55
    };
    ev.add(
        "uniform_small_responses",
        weight,
        || format!("{best} of the last {n} requests answered with the same small response (~{best_size} bytes)"),
        &[
            ("same_size_responses", best as f64),
            ("requests", n as f64),
            ("response_bytes", best_size as f64),
            ("span_s", span),
        ],
    );
}

/// Everything the detectors say about a client at `now`.
fn assess(st: &mut ClientState, s: &ConnStart, now: Timestamp, ctx: &Context, ev: &mut Evidence) {
    stack_reasons(s, ctx, ev);
    behaviour_reasons(st, now, ctx, ev);
}

/// Proposes an address block when the evidence is strong enough; a renewal
/// when half of the previous block's lifetime has passed.
fn propose(
    st: &mut ClientState,
    s: &ConnStart,
    now: Timestamp,
    ctx: &Context,
    out: &mut Vec<Proposal>,
) {
    let half_ttl = ctx.cfg.decisions.ip_ttl_s as i64 * NS / 2;
    if st
        .proposed_at
        .is_some_and(|t| now.nanos_since(t) < half_ttl)
    {
        // Proposed lately: nothing is proposed whatever the score, so it is
        // not worked out (in a flood, most calls are for flagged clients).
        // The learning maxima still move.
        window_counts(st, now, ctx);
        return;
    }
    let mut weighed = Evidence::weighing();
    assess(st, s, now, ctx, &mut weighed);
    let score = weighed.score();
    if score < ctx.cfg.thresholds.block_score {
        return;
    }
    let mut explained = Evidence::explaining();
    assess(st, s, now, ctx, &mut explained);
    debug_assert_eq!(explained.score().to_bits(), score.to_bits());
    st.proposed_at = Some(now);
    out.push(Proposal {
        decided_at: now,
        scope: Scope::Ip,
        value: ip_text(s.client),
        score,
        reasons: explained.into_reasons(),
        first_seen: st.first_seen,
        fingerprints: st.latest.clone(),
        origin: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proposal::assert_same_proposals;

    fn ctx() -> Context {
        Context {
            cfg: Arc::new(Config::default()),
            model: None,
        }
    }

    fn start(id: u64, ip: &str, ts_s: f64, class: Option<ClientClass>) -> Arc<ConnStart> {
        Arc::new(ConnStart {
            id,
            client: ip.parse().unwrap(),
            hello_ts: Timestamp((ts_s * 1e9) as i64),
            observed_at: Timestamp((ts_s * 1e9) as i64),
            fingerprints: Arc::new(Fingerprints {
                ja4: Some("t13d1812h1_85036bcba153_b26ce05bbdd6".into()),
                ja3: None,
                tcp_sig: Some("64240:2-4-8-1-3:1460:7:64:df".into()),
                ja4_tcp: Some(
                    "t13d1812h1_85036bcba153_b26ce05bbdd6~64240:2-4-8-1-3:1460:7:64:df".into(),
                ),
                class: class.map(ClientClass::as_str),
                stack: Some("Python requests".into()),
            }),
            class,
            sni_present: true,
            resumption: false,
        })
    }

    fn one_shot(
        book: &mut ClientBook,
        id: u64,
        ip: &str,
        t: f64,
        resp: u32,
        out: &mut Vec<Proposal>,
    ) {
        one_shot_with(&ctx(), book, id, ip, t, resp, out)
    }

    /// A connection with one request, answered with `resp` bytes, at `t` s.
    fn one_shot_with(
        c: &Context,
        book: &mut ClientBook,
        id: u64,
        ip: &str,
        t: f64,
        resp: u32,
        out: &mut Vec<Proposal>,
    ) {
        let s = start(id, ip, t, Some(ClientClass::Library));
        book.on_start(&s, c, out);
        let e = Exchange {
            request_ts: Timestamp(((t + 0.01) * 1e9) as i64),
            request_bytes: 300,
            response_bytes: resp,
            ttfb_ns: Some(1_000_000),
        };
        book.on_exchanges(&s, &[e], e.request_ts, c, out);
        book.on_end(
            &ConnEnd {
                start: s.clone(),
                end_ts: Timestamp(((t + 0.02) * 1e9) as i64),
                observed_at: Timestamp(((t + 0.02) * 1e9) as i64),
                exchanges: 1,
                small_responses: 1,
                client_app_bytes: 300,
                server_app_bytes: resp as u64,
                failed: false,
            },
            c,
            out,
        );
    }

    #[test]
    fn fast_credential_stuffing_is_blocked_within_ten_attempts() {
        let mut book = ClientBook::new(100);
        let mut out = Vec::new();
        for i in 0..40 {
            one_shot(
                &mut book,
                i,
                "10.0.0.7",
                100.0 + i as f64 * 0.1,
                60,
                &mut out,
            );
            if !out.is_empty() {
                assert!(i < 10, "blocked only after {} attempts", i + 1);
                break;
            }
        }
        assert_eq!(out.len(), 1, "one proposal, no repeats");
        let p = &out[0];
        assert_eq!(p.value, "10.0.0.7");
        let codes: Vec<&str> = p.reasons.iter().map(|r| r.code).collect();
        assert!(codes.contains(&"uniform_small_responses"), "{codes:?}");
        assert!(p.score >= 0.8);
    }

    #[test]
    fn a_slow_partner_is_not_blocked() {
        let mut book = ClientBook::new(100);
        let mut out = Vec::new();
        for i in 0..100 {
            one_shot(
                &mut book,
                i,
                "10.0.0.8",
                100.0 + i as f64 * 5.0,
                4000,
                &mut out,
            );
        }
        assert!(out.is_empty(), "{:?}", out.first().map(|p| &p.reasons));
    }

    #[test]
    fn a_flagged_client_is_renewed_at_half_its_ttl_and_still_counted() {
        // Once proposed, a client is not scored again until its block is due
        // for renewal; what it does meanwhile still counts for learning.
        let mut book = ClientBook::new(100);
        let mut out = Vec::new();
        let half_ttl = Config::default().decisions.ip_ttl_s as f64 / 2.0;
        let mut t = 100.0;
        let mut id = 0;
        while out.is_empty() {
            one_shot(&mut book, id, "10.0.0.7", t, 60, &mut out);
            (id, t) = (id + 1, t + 0.1);
        }
        let first = out[0].decided_at;
        let before = book.summaries()[0].max_window_requests;
        while t < 100.0 + half_ttl - 1.0 {
            one_shot(&mut book, id, "10.0.0.7", t, 60, &mut out);
            (id, t) = (id + 1, t + 0.1);
        }
        assert_eq!(out.len(), 1, "no proposal before the renewal is due");
        assert!(book.summaries()[0].max_window_requests > before);
        while out.len() == 1 && t < 100.0 + 2.0 * half_ttl {
            one_shot(&mut book, id, "10.0.0.7", t, 60, &mut out);
            (id, t) = (id + 1, t + 0.1);
        }
        assert_eq!(out.len(), 2, "renewed");
        let gap = out[1].decided_at.nanos_since(first) as f64 / 1e9;
        assert!(
            (half_ttl..half_ttl + 1.0).contains(&gap),
            "renewed after {gap} s"
        );
    }

    #[test]
    fn malicious_fingerprint_blocks_at_first_hello() {
        let mut book = ClientBook::new(100);
        let mut out = Vec::new();
        let s = start(1, "10.0.0.9", 5.0, Some(ClientClass::Malicious));
        book.on_start(&s, &ctx(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].decided_at, s.hello_ts);
    }

    /// The ranges proposed for a block.
    fn range_blocks(out: &[Proposal]) -> Vec<&str> {
        out.iter()
            .filter(|p| p.scope == Scope::IpRange)
            .map(|p| p.value.as_str())
            .collect()
    }

    #[test]
    fn a_range_of_offenders_is_blocked_only_when_nobody_else_is_there() {
        let mut book = ClientBook::new(10_000);
        let mut out = Vec::new();
        // A human in 10.5.5.0/24 keeps that range open.
        book.on_start(&start(9999, "10.5.5.200", 0.0, None), &ctx(), &mut out);
        for r in ["10.6.6", "10.5.5"] {
            for a in 1..=20u32 {
                let ip = format!("{r}.{a}");
                let s = start(a as u64, &ip, a as f64, Some(ClientClass::Malicious));
                book.on_start(&s, &ctx(), &mut out);
            }
        }
        assert_eq!(range_blocks(&out), vec!["10.6.6.0/24"]);
        assert_eq!(out.iter().filter(|p| p.scope == Scope::Ip).count(), 40);
    }

    #[test]
    fn clients_are_bounded() {
        let mut book = ClientBook::new(10);
        let mut out = Vec::new();
        for i in 0..100u32 {
            let ip = format!("10.1.{}.{}", i / 256, i % 256);
            book.on_start(&start(i as u64, &ip, i as f64, None), &ctx(), &mut out);
            assert!(book.len() <= 10);
        }
        assert_eq!(book.evicted, 90);
    }

    /// Ranges go with their last address: a long-running sensor that has
    /// seen more ranges than the book holds clients still tracks new ones.
    #[test]
    fn ranges_are_bounded_by_the_clients_and_new_ones_are_still_tracked() {
        let mut book = ClientBook::new(40);
        let mut out = Vec::new();
        for i in 0..1000u32 {
            // Every address in a range of its own.
            let ip = format!("10.{}.{}.1", i / 256, i % 256);
            book.on_start(&start(i as u64, &ip, i as f64, None), &ctx(), &mut out);
            assert!(
                book.ranges.len() <= book.len(),
                "{} ranges",
                book.ranges.len()
            );
        }
        assert_eq!(book.ranges.len(), 40);
        // A range of offenders first seen after all that is still blocked.
        out.clear();
        for a in 1..=20u32 {
            let ip = format!("10.200.7.{a}");
            let s = start(
                5000 + a as u64,
                &ip,
                1000.0 + a as f64,
                Some(ClientClass::Malicious),
            );
            book.on_start(&s, &ctx(), &mut out);
        }
        assert_eq!(range_blocks(&out), vec!["10.200.7.0/24"]);
    }

    #[test]
    fn windows_forget() {
        let mut w = Window::default();
        let b = 10 * NS;
        w.at(Timestamp(0), b).exchanges += 5;
        w.at(Timestamp(25 * NS), b).exchanges += 1;
        assert_eq!(w.sum(Timestamp(25 * NS), b).exchanges, 6);
        assert_eq!(w.sum(Timestamp(65 * NS), b).exchanges, 1);
        assert_eq!(w.sum(Timestamp(200 * NS), b).exchanges, 0);
        w.at(Timestamp(200 * NS), b).exchanges += 2;
        assert_eq!(w.sum(Timestamp(200 * NS), b).exchanges, 2);
    }

    /// The reasons the behaviour detectors give for `ip` at `at_s`.
    fn behaviour_at(book: &mut ClientBook, ip: &str, at_s: f64) -> Vec<Reason> {
        let st = book
            .clients
            .get_mut(&ip.parse::<IpAddr>().unwrap())
            .unwrap();
        let mut ev = Evidence::explaining();
        behaviour_reasons(st, Timestamp((at_s * 1e9) as i64), &ctx(), &mut ev);
        ev.into_reasons()
    }

    /// A run of requests without think time is judged by its own span once
    /// it has ended: a connection that ends later does not make 40 requests
    /// over 12 s into 40 requests over 50 s (nor a rate over them), and a
    /// client window later the run is forgotten.
    #[test]
    fn a_run_that_ended_keeps_its_own_span() {
        let mut book = ClientBook::new(100);
        let mut out = Vec::new();
        let c = ctx();
        let s = start(1, "10.9.0.1", 0.0, Some(ClientClass::Library));
        book.on_start(&s, &c, &mut out);
        let exchanges: Vec<Exchange> = (0..40)
            .map(|i| Exchange {
                request_ts: Timestamp(i * 300_000_000),
                request_bytes: 300,
                response_bytes: 5000,
                ttfb_ns: Some(1_000_000),
            })
            .collect();
        book.on_exchanges(&s, &exchanges, Timestamp(11_800_000_000), &c, &mut out);
        let text = |reasons: Vec<Reason>| {
            reasons
                .into_iter()
                .find(|r| r.code == "no_think_time")
                .map(|r| r.text)
        };
        let going = text(behaviour_at(&mut book, "10.9.0.1", 12.0)).unwrap();
        assert!(going.starts_with("40 requests over 12 s"), "{going}");
        let ended = text(behaviour_at(&mut book, "10.9.0.1", 50.0)).unwrap();
        assert!(ended.starts_with("40 requests over 12 s"), "{ended}");
        let st = &book.clients[&"10.9.0.1".parse::<IpAddr>().unwrap()];
        let run = st.run(Timestamp(50 * NS), &c).unwrap();
        assert!(!run.ongoing && (run.span_s - 11.7).abs() < 1e-6);
        // A window after its last request, it is no evidence at all.
        assert_eq!(text(behaviour_at(&mut book, "10.9.0.1", 72.0)), None);
    }

    /// Fingerprint rotation counts the fingerprints of the window, also when
    /// it is judged at an exchange or an end, long after the starts.
    #[test]
    fn only_fingerprints_of_the_window_count_as_rotation() {
        let mut book = ClientBook::new(100);
        let mut out = Vec::new();
        let c = ctx();
        for i in 0..4u8 {
            let mut s = (*start(u64::from(i), "10.9.0.2", f64::from(i), None)).clone();
            s.fingerprints = Arc::new(Fingerprints {
                ja4: Some(format!("t13d1812h1_85036bcba153_00000000000{i}").into()),
                ..(*s.fingerprints).clone()
            });
            book.on_start(&Arc::new(s), &c, &mut out);
        }
        let rotation = |r: Vec<Reason>| r.iter().any(|r| r.code == "fingerprint_rotation");
        assert!(rotation(behaviour_at(&mut book, "10.9.0.2", 4.0)));
        assert!(!rotation(behaviour_at(&mut book, "10.9.0.2", 200.0)));
    }

    /// Forgetting idle clients changes nothing but memory: six hours of
    /// people and bots that come and go (often gone longer than the idle
    /// time, some in shared /24s) give the same proposals and the same
    /// learning summaries with the idle timeout as without, while the book
    /// holds far fewer clients.
    #[test]
    fn forgetting_idle_clients_changes_no_decision_and_no_summary() {
        let mut never = Config::default();
        never.limits.client_idle_s = u64::MAX;
        let idle = ctx();
        let never = Context {
            cfg: Arc::new(never),
            model: None,
        };
        assert_eq!(idle.idle_ns(), 3600 * NS);
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        // (time, client, bot): a bot's visit is 30 attempts half a second
        // apart, a person's three requests 20 s apart; the next visit comes
        // 5 minutes to 4 hours later.
        let mut conns = Vec::new();
        for c in 0..160u32 {
            let bot = c % 4 == 0;
            let mut t = (next() % 600) as f64;
            while t < 6.0 * 3600.0 {
                let (n, gap) = if bot { (30, 0.5) } else { (3, 20.0) };
                conns.extend((0..n).map(|k| (t + f64::from(k) * gap, c, bot)));
                t += 300.0 + (next() % 14_400) as f64;
            }
        }
        conns.sort_by(|x, y| x.0.total_cmp(&y.0));
        let (mut a, mut b) = (ClientBook::new(10_000), ClientBook::new(10_000));
        let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
        let mut live = (0, 0);
        for (id, &(t, c, bot)) in conns.iter().enumerate() {
            let ip = format!("10.{}.{}.{}", 50 + c / 64, c % 64 / 8, c % 8 + 1);
            let resp = if bot { 60 } else { 5000 };
            one_shot_with(&idle, &mut a, id as u64, &ip, t, resp, &mut out_a);
            one_shot_with(&never, &mut b, id as u64, &ip, t, resp, &mut out_b);
            live = (live.0 + a.len(), live.1 + b.len());
        }
        assert!(out_a.len() > 40, "{} proposals", out_a.len());
        assert_same_proposals(&out_a, &out_b);
        assert_eq!(
            format!("{:#?}", a.summaries()),
            format!("{:#?}", b.summaries())
        );
        assert!(a.expired > 100, "{} expired", a.expired);
        assert_eq!((b.expired, b.len()), (0, 160));
        assert_eq!(a.len() + a.retired(), 160);
        // Clients held, on average over the connections: 160 without it.
        let mean = |n: usize| n as f64 / conns.len() as f64;
        eprintln!(
            "clients held on average: {:.0} with the idle timeout, {:.0} without",
            mean(live.0),
            mean(live.1)
        );
        assert!(mean(live.0) < 0.75 * mean(live.1), "{live:?}");
    }

    /// Clients that left are kept as summaries up to the book's capacity,
    /// the oldest forgotten first, however often they come and go.
    #[test]
    fn clients_that_left_are_bounded_too() {
        let mut book = ClientBook::new(10);
        let mut out = Vec::new();
        // 100 clients, one connection each, two hours apart: each leaves idle.
        for i in 0..100 {
            one_shot(
                &mut book,
                i,
                &format!("10.7.0.{i}"),
                i as f64 * 7200.0,
                5000,
                &mut out,
            );
        }
        assert_eq!(book.expired, 99);
        assert_eq!(book.retired(), 10);
        assert_eq!(book.retired_forgotten, 89);
        assert_eq!(book.summaries().len(), 11);
        // Two clients coming and going a thousand times leave no trail.
        for k in 0..1000 {
            for i in 0..2 {
                let t = 720_000.0 + (k * 2 + i) as f64 * 7200.0;
                one_shot(&mut book, k, &format!("10.8.0.{i}"), t, 5000, &mut out);
            }
        }
        assert!(book.retired_order.len() <= 2 * book.retired.len() + 64 + 1);
        // The one back now, and the ten that left last but for it.
        assert_eq!((book.len(), book.retired()), (1, 9));
    }

    impl ClientBook {
        /// The bookkeeping every operation must leave true.
        fn check(&self) {
            assert!(self.clients.len() <= self.capacity);
            assert!(self.retired.len() <= self.capacity);
            assert!(self.ranges.len() <= self.clients.len());
            assert!(self.retired_order.len() <= 2 * self.retired.len() + 64 + 1);
            for ip in self.clients.keys() {
                assert_eq!(
                    self.queue.iter().filter(|(_, q)| q == ip).count(),
                    1,
                    "{ip}"
                );
                assert!(!self.retired.contains_key(ip), "{ip} live and retired");
            }
            for (ip, r) in &self.retired {
                assert!(self.retired_order.contains(&(r.left_at, *ip)), "{ip}");
            }
            for r in self.ranges.values() {
                assert!(!r.members.is_empty());
                assert!(r.members.iter().all(|m| self.clients.contains_key(m)));
            }
        }
    }

    proptest::proptest! {
        /// Any mix of clients, ranges and pauses (up to hours) keeps every
        /// bound and every client in exactly one place, with a tight cap.
        #[test]
        fn any_traffic_keeps_the_book_exact_and_bounded(
            steps in proptest::collection::vec((0u32..60, 0u32..4_000, 0u32..20_000), 1..300)
        ) {
            let mut book = ClientBook::new(8);
            let mut out = Vec::new();
            let mut t = 0.0;
            for (id, (who, pause_s, resp)) in steps.into_iter().enumerate() {
                t += if pause_s > 3_900 { f64::from(pause_s) * 3.0 } else { f64::from(pause_s) / 100.0 };
                // Six /24s of ten addresses.
                let ip = format!("10.5.{}.{}", who / 10, who % 10 + 1);
                one_shot(&mut book, id as u64, &ip, t, resp, &mut out);
                book.check();
            }
        }
    }
}
