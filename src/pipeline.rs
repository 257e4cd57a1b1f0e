//! The scoring pipeline of `replay`, `learn` (and, later, `live`):
//!
//! ```text
//! capture thread: source -> decode -> flow table -> Dispatcher --bounded channels--> workers (N) --> sink thread
//!                                     (fingerprints, exchanges)   sharded by client /24 (/48)        (decision book,
//!                                                                 and by fingerprint population        ordered output)
//! ```
//!
//! Every worker owns the clients of its shard and the fingerprint populations
//! of its shard: no locks on the hot path. Time is the capture's. The
//! dispatcher sends watermarks; the sink releases proposals in a total order
//! that does not depend on which worker made them, once every worker has passed
//! their time, so a replay gives the same decisions with any number of workers.

use crate::client_behaviour::{ClientBook, ClientSummary, Context};
use crate::config::{AllowRules, Config};
use crate::decisions::{BookStats, Decision, DecisionBook};
use crate::features::{Exchange, ExchangeTracker};
use crate::model::Model;
use crate::observations::{ConnEnd, ConnStart, Observation};
use crate::population::{PopulationBook, PopulationSummary};
use crate::proposal::Proposal;
use crate::shard_counters::{BookTotals, ShardCounters};
use crate::stack_names::{fixed_hash, StackNameBook};
use crossbeam_channel::{bounded, Receiver, Sender};
use hashbrown::HashMap;
use shakedown_capture::tracker::{Connection, EndReason};
use shakedown_capture::{FlowEnd, FlowEvent, Timestamp};
use shakedown_fingerprints::cache::FingerprintCache;
use shakedown_fingerprints::reputation::Reputation;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

const NS: i64 = 1_000_000_000;
/// Batches queued per worker (and messages to the sink) before the sending
/// thread waits. Replay and live both wait here; live drops packets earlier,
/// at its capture queue. 256 batches of 256 observations bound a worker's
/// queue at ~25 MB; the old 8,192 allowed ~800 MB and bought no speed.
const QUEUE_DEPTH: usize = 256;

/// Which book of a worker an observation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Client,
    Population,
    Both,
}

enum WorkItem {
    /// Observations in capture order (batched: one channel operation per
    /// batch), and when the batch's first observation was made (one clock
    /// read per batch; latencies measured from it are upper bounds).
    Batch(Vec<(Role, Observation)>, Instant),
    /// A reloaded configuration: scoring thresholds for what comes next.
    Reconfigure(Arc<Config>),
    /// A newer learned model to score with from now on.
    Model(Option<Arc<Model>>),
    /// Copies of the learning summaries, for a model checkpoint.
    Snapshot(Sender<LearningSnapshot>),
    Stop,
}

/// One worker's learning summaries.
pub type LearningSnapshot = (Vec<ClientSummary>, Vec<PopulationSummary>);

/// Observations per batch sent to a worker.
const BATCH: usize = 256;

/// What the sink hands back at the end: learning summaries and latencies.
type SinkResults = (Vec<ClientSummary>, Vec<PopulationSummary>, Vec<u64>);

enum SinkMsg {
    Proposals(Vec<Proposal>),
    Watermark(usize, Timestamp),
    Done(Vec<ClientSummary>, Vec<PopulationSummary>),
    /// A reloaded configuration: the decision policy, applied at this time.
    Reconfigure(Arc<Config>, AllowRules, Timestamp),
}

/// Where `--flows` records go.
pub type FlowSink = Box<dyn FnMut(&FlowRecord) + Send>;

/// Per-connection record of `--flows`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FlowRecord {
    /// First packet of the connection.
    pub ts: String,
    /// First ClientHello.
    pub hello_ts: String,
    pub transport: &'static str,
    pub src_ip: String,
    pub src_port: u16,
    pub dst_ip: String,
    pub dst_port: u16,
    pub sni: Option<String>,
    pub ja4: Option<Arc<str>>,
    pub ja3: Option<Arc<str>>,
    pub tcp_sig: Option<Arc<str>>,
    pub ja4_tcp: Option<Arc<str>>,
    pub class: Option<&'static str>,
    pub stack: Option<Arc<str>>,
    pub duration_s: f64,
    pub packets: [u64; 2],
    pub app_bytes: [u64; 2],
    pub exchanges: u32,
    pub small_responses: u32,
    pub handshake_only: bool,
    pub failed: bool,
    pub end: &'static str,
}

struct Tracked {
    start: Arc<ConnStart>,
    population_hash: Option<u64>,
    server_hello: bool,
    exchanges: ExchangeTracker,
    small: u32,
    sni: Option<String>,
    transport: &'static str,
    server: (IpAddr, u16),
    client_port: u16,
}

/// What the capture thread saw, for the run summary.
#[derive(Debug, Default, Clone)]
pub struct TrafficStats {
    pub connections: u64,
    /// Connections per JA4 (at most 100,000 distinct kept).
    pub by_ja4: HashMap<Arc<str>, (u64, Option<Arc<str>>)>,
    /// Connections per client address (at most 100,000 distinct kept).
    pub by_client: HashMap<IpAddr, u64>,
}

/// Outcome of a pipeline run.
pub struct PipelineResult {
    /// Wall-clock microseconds from an observation being made on the capture
    /// thread (the first of its batch: an upper bound) to the decision it
    /// caused being written (sample of at most 100,000).
    pub decision_latency_us: Vec<u64>,
    pub book: BookStats,
    pub clients: Vec<ClientSummary>,
    pub populations: Vec<PopulationSummary>,
    pub traffic: TrafficStats,
    /// What the workers' client and population books held at the end, and gave up.
    pub books: BookTotals,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
}

/// The capture-thread side: turns flow events into observations and routes them.
pub struct Dispatcher {
    workers: Vec<Sender<WorkItem>>,
    batches: Vec<(Vec<(Role, Observation)>, Instant)>,
    handles: Vec<JoinHandle<()>>,
    shards: Vec<Arc<ShardCounters>>,
    sink: Option<JoinHandle<BookStats>>,
    sink_results: Receiver<SinkResults>,
    sink_tx: Sender<SinkMsg>,
    cache: FingerprintCache,
    names: StackNameBook,
    reputation: Arc<Reputation>,
    tracked: HashMap<u64, Tracked>,
    small_response_bytes: u32,
    last_watermark: Timestamp,
    now: Timestamp,
    first_ts: Option<Timestamp>,
    traffic: TrafficStats,
    flows_out: Option<FlowSink>,
}

impl Dispatcher {
    /// Starts the workers and the sink. Decisions go to `emit` (on the sink thread).
    pub fn start(
        cfg: Arc<Config>,
        model: Option<Arc<Model>>,
        reputation: Arc<Reputation>,
        mut emit: impl FnMut(&Decision) + Send + 'static,
        flows_out: Option<FlowSink>,
    ) -> anyhow::Result<Dispatcher> {
        let n = cfg.worker_count();
        let allow = cfg
            .allow_rules()
            .map_err(|e| anyhow::anyhow!("allowlist: {e}"))?;
        let (sink_tx, sink_rx) = bounded::<SinkMsg>(QUEUE_DEPTH);
        let (res_tx, res_rx) = bounded(1);
        let mut workers = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        let mut shards = Vec::with_capacity(n);
        for idx in 0..n {
            let (tx, rx) = bounded::<WorkItem>(QUEUE_DEPTH);
            let ctx = Context {
                cfg: cfg.clone(),
                model: model.clone(),
            };
            let sink_tx = sink_tx.clone();
            let books = WorkerBooks {
                clients: ClientBook::new((cfg.limits.max_clients / n).max(1)),
                populations: PopulationBook::new(
                    (cfg.limits.max_fingerprints / n).max(1),
                    cfg.limits.max_population_addresses,
                    (cfg.limits.max_population_entries / n).max(1),
                ),
                counters: Arc::new(ShardCounters::default()),
            };
            shards.push(books.counters.clone());
            handles.push(
                std::thread::Builder::new()
                    .name(format!("shakedown-worker-{idx}"))
                    .spawn(move || worker(idx, rx, sink_tx, ctx, books))?,
            );
            workers.push(tx);
        }
        let book = DecisionBook::new(&cfg, allow);
        let sink = std::thread::Builder::new()
            .name("shakedown-sink".into())
            .spawn(move || sink(n, sink_rx, book, &mut emit, res_tx))?;
        Ok(Dispatcher {
            batches: (0..n)
                .map(|_| (Vec::with_capacity(BATCH), Instant::now()))
                .collect(),
            workers,
            handles,
            shards,
            sink: Some(sink),
            sink_results: res_rx,
            sink_tx,
            cache: FingerprintCache::default(),
            names: StackNameBook::default(),
            reputation,
            tracked: HashMap::new(),
            small_response_bytes: cfg.thresholds.small_response_bytes,
            last_watermark: Timestamp(i64::MIN),
            now: Timestamp(i64::MIN),
            first_ts: None,
            traffic: TrafficStats::default(),
            flows_out,
        })
    }

    fn shard<T: Hash>(&self, key: &T) -> usize {
        // A fixed hash (not the random per-process one): shards are the same in every run.
        self.shard_of(fixed_hash(key))
    }

    fn shard_of(&self, hash: u64) -> usize {
        (hash % self.workers.len() as u64) as usize
    }

    fn client_shard(&self, ip: &IpAddr) -> usize {
        // By /24 (IPv4) or /48 (IPv6): a range's clients meet in one worker.
        match ip {
            IpAddr::V4(v4) => self.shard(&(u32::from(*v4) >> 8)),
            IpAddr::V6(v6) => self.shard(&(u128::from(*v6) >> 80)),
        }
    }

    fn send(&mut self, worker: usize, role: Role, obs: Observation) {
        let (batch, first_made) = &mut self.batches[worker];
        if batch.is_empty() {
            *first_made = Instant::now();
        }
        batch.push((role, obs));
        if batch.len() >= BATCH {
            self.flush(worker);
        }
    }

    fn flush(&mut self, worker: usize) {
        let (batch, first_made) = &mut self.batches[worker];
        if batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(batch, Vec::with_capacity(BATCH));
        // Replay never drops: a full queue makes the capture thread wait.
        let _ = self.workers[worker].send(WorkItem::Batch(batch, *first_made));
    }

    /// Routes an observation to the client's worker and, if asked, the
    /// population's (given by the fixed hash of its key).
    fn route(&mut self, client: &IpAddr, population: Option<u64>, obs: Observation) {
        let cw = self.client_shard(client);
        match population.map(|h| self.shard_of(h)) {
            Some(pw) if pw == cw => self.send(cw, Role::Both, obs),
            Some(pw) => {
                self.send(cw, Role::Client, obs.clone());
                self.send(pw, Role::Population, obs);
            }
            None => self.send(cw, Role::Client, obs),
        }
    }

    /// Tells the workers how far capture time has advanced (call per packet).
    pub fn tick(&mut self, ts: Timestamp) {
        if self.first_ts.is_none() {
            self.first_ts = Some(ts);
        }
        if ts > self.now {
            self.now = ts;
        }
        if self.now.nanos_since(self.last_watermark) >= NS / 4 {
            self.last_watermark = self.now;
            for w in 0..self.workers.len() {
                self.send(w, Role::Both, Observation::Watermark(self.now));
                self.flush(w);
            }
        }
    }

    pub fn on_event(&mut self, ev: FlowEvent) {
        match ev {
            FlowEvent::ClientHello(conn) => self.on_client_hello(&conn),
            FlowEvent::Handshake(conn) => self.on_handshake(&conn),
            FlowEvent::Records(batch) => {
                let Some(t) = self.tracked.get_mut(&batch.id) else {
                    return;
                };
                let mut done = Vec::new();
                for r in &batch.records {
                    t.exchanges.record(r, &mut |e| done.push(e));
                }
                let start = t.start.clone();
                self.exchanges(start, done);
            }
            FlowEvent::End(end) => self.on_end(&end),
        }
    }

    fn exchanges(&mut self, start: Arc<ConnStart>, done: Vec<Exchange>) {
        if done.is_empty() {
            return;
        }
        if let Some(t) = self.tracked.get_mut(&start.id) {
            t.small += done
                .iter()
                .filter(|e| e.response_bytes <= self.small_response_bytes)
                .count() as u32;
        }
        let client = start.client;
        let at = self.now;
        self.route(
            &client,
            None,
            Observation::Exchanges {
                start,
                exchanges: done,
                at,
            },
        );
    }

    /// The server's answer is known: how to read the exchanges that follow.
    fn on_handshake(&mut self, conn: &Connection) {
        if !self.tracked.contains_key(&conn.id) {
            self.on_client_hello(conn);
        }
        let Some(t) = self.tracked.get_mut(&conn.id) else {
            return;
        };
        let sh = conn
            .server_hellos
            .iter()
            .find(|h| !h.value.is_hello_retry_request);
        t.server_hello = sh.is_some();
        t.exchanges
            .set_tls13(sh.is_some_and(|h| h.value.version() == 0x0304));
        // HTTP/2 (its preface is not a request): the server's ALPN choice when
        // visible (TLS 1.2); under TLS 1.3 it is encrypted, so the client's
        // first offer, which servers that speak h2 accept.
        let h2 = b"h2".as_slice();
        let client_first_alpn = conn
            .client_hellos
            .first()
            .and_then(|c| c.value.alpn.first())
            .map(Vec::as_slice);
        t.exchanges
            .set_h2(sh.is_some_and(|h| match h.value.alpn.as_deref() {
                Some(chosen) => chosen == h2,
                None => h.value.version() == 0x0304 && client_first_alpn == Some(h2),
            }));
    }

    /// The first ClientHello: fingerprints, and the connection's start.
    fn on_client_hello(&mut self, conn: &Connection) {
        let ch = conn.client_hellos.first();
        let fp = ch.map(|h| self.cache.client(&h.value, conn.transport));
        let stack = self
            .names
            .connection(fp.as_ref(), conn.client_syn.as_ref(), &self.reputation);
        let population_hash = stack.population_hash;
        let start = Arc::new(ConnStart {
            id: conn.id,
            client: conn.client_ip,
            hello_ts: ch.map_or(conn.first_ts, |h| h.ts),
            observed_at: self.now,
            fingerprints: stack.fingerprints,
            class: stack.class,
            sni_present: ch.is_some_and(|h| h.value.server_name.is_some()),
            resumption: ch.is_some_and(|h| h.value.offers_resumption()),
        });
        self.traffic.connections += 1;
        if let Some(j) = start.ja4() {
            if self.traffic.by_ja4.len() < 100_000 || self.traffic.by_ja4.contains_key(j) {
                let e = self
                    .traffic
                    .by_ja4
                    .entry(j.clone())
                    .or_insert((0, start.fingerprints.stack.clone()));
                e.0 += 1;
            }
        }
        if self.traffic.by_client.len() < 100_000
            || self.traffic.by_client.contains_key(&conn.client_ip)
        {
            *self.traffic.by_client.entry(conn.client_ip).or_default() += 1;
        }
        self.tracked.insert(
            conn.id,
            Tracked {
                start: start.clone(),
                population_hash,
                server_hello: false,
                exchanges: ExchangeTracker::new(false),
                small: 0,
                sni: ch.and_then(|h| h.value.server_name.clone()),
                transport: conn.transport.as_str(),
                server: (conn.server_ip, conn.server_port),
                client_port: conn.client_port,
            },
        );
        self.route(&conn.client_ip, population_hash, Observation::Start(start));
    }

    fn on_end(&mut self, end: &FlowEnd) {
        let Some(mut t) = self.tracked.remove(&end.id) else {
            return;
        };
        let mut done = Vec::new();
        for r in &end.records {
            t.exchanges.record(r, &mut |e| done.push(e));
        }
        t.exchanges.finish(&mut |e| done.push(e));
        let small_now = done
            .iter()
            .filter(|e| e.response_bytes <= self.small_response_bytes)
            .count() as u32;
        let start = t.start.clone();
        let at = self.now;
        if !done.is_empty() {
            let client = start.client;
            self.route(
                &client,
                None,
                Observation::Exchanges {
                    start: start.clone(),
                    exchanges: done,
                    at,
                },
            );
        }
        let ex = &t.exchanges;
        let summary = Arc::new(ConnEnd {
            start: start.clone(),
            end_ts: end.last_ts,
            observed_at: at,
            exchanges: ex.exchanges,
            small_responses: t.small + small_now,
            client_app_bytes: ex.client_app_bytes,
            server_app_bytes: ex.server_app_bytes,
            failed: !t.server_hello || ex.handshake_alert,
        });
        if let Some(out) = &mut self.flows_out {
            out(&FlowRecord {
                ts: crate::timefmt::rfc3339_micros(end.first_ts),
                hello_ts: crate::timefmt::rfc3339_micros(start.hello_ts),
                transport: t.transport,
                src_ip: start.client.to_string(),
                src_port: t.client_port,
                dst_ip: t.server.0.to_string(),
                dst_port: t.server.1,
                sni: t.sni.clone(),
                ja4: start.fingerprints.ja4.clone(),
                ja3: start.fingerprints.ja3.clone(),
                tcp_sig: start.fingerprints.tcp_sig.clone(),
                ja4_tcp: start.fingerprints.ja4_tcp.clone(),
                class: start.fingerprints.class,
                stack: start.fingerprints.stack.clone(),
                duration_s: end.last_ts.nanos_since(end.first_ts) as f64 / 1e9,
                packets: end.packets,
                app_bytes: [ex.client_app_bytes, ex.server_app_bytes],
                exchanges: ex.exchanges,
                small_responses: summary.small_responses,
                handshake_only: summary.handshake_only(),
                failed: summary.failed,
                end: match end.reason {
                    EndReason::Closed => "closed",
                    EndReason::Idle => "idle",
                    EndReason::Evicted => "evicted",
                    EndReason::Reused => "reused",
                    EndReason::EndOfInput => "end_of_input",
                },
            });
        }
        self.route(&start.client, t.population_hash, Observation::End(summary));
    }

    /// Ends the run: workers drain, the sink releases everything, results return.
    /// Applies a reloaded configuration without losing state: workers score
    /// with its thresholds from now on, and the decision book takes its policy
    /// (allowlist, monitor mode, TTLs, brake, cap); live blocks that the new
    /// allowlist covers are lifted at once. Table sizes and the worker count
    /// stay as started.
    pub fn reconfigure(&mut self, cfg: Arc<Config>) -> anyhow::Result<()> {
        let allow = cfg
            .allow_rules()
            .map_err(|e| anyhow::anyhow!("allowlist: {e}"))?;
        for w in 0..self.workers.len() {
            self.flush(w);
            let _ = self.workers[w].send(WorkItem::Reconfigure(cfg.clone()));
        }
        self.small_response_bytes = cfg.thresholds.small_response_bytes;
        let _ = self
            .sink_tx
            .send(SinkMsg::Reconfigure(cfg, allow, self.now));
        Ok(())
    }

    /// Asks every worker for a copy of its learning summaries (after what was
    /// sent to it so far); the replies, one per worker, arrive on the returned
    /// channel, so the caller need not wait for them.
    pub fn request_snapshot(&mut self) -> (Receiver<LearningSnapshot>, usize) {
        let (tx, rx) = bounded(self.workers.len());
        for w in 0..self.workers.len() {
            self.flush(w);
            let _ = self.workers[w].send(WorkItem::Snapshot(tx.clone()));
        }
        (rx, self.workers.len())
    }

    /// What the workers' books hold and have given up, as of their latest batch.
    pub fn books(&self) -> BookTotals {
        ShardCounters::totals(self.shards.iter().map(|s| &**s))
    }

    /// Scores with `model` from now on (a continuous-learning checkpoint).
    pub fn set_model(&mut self, model: Option<Arc<Model>>) {
        for w in 0..self.workers.len() {
            self.flush(w);
            let _ = self.workers[w].send(WorkItem::Model(model.clone()));
        }
    }

    /// Capture time of the first packet and of the latest one.
    pub fn time_span(&self) -> (Option<Timestamp>, Option<Timestamp>) {
        (self.first_ts, (self.now.0 != i64::MIN).then_some(self.now))
    }

    pub fn finish(mut self) -> anyhow::Result<PipelineResult> {
        for w in 0..self.workers.len() {
            self.flush(w);
            let _ = self.workers[w].send(WorkItem::Stop);
        }
        for h in self.handles.drain(..) {
            h.join()
                .map_err(|_| anyhow::anyhow!("a worker thread panicked"))?;
        }
        self.workers.clear();
        let book = self
            .sink
            .take()
            .expect("sink started")
            .join()
            .map_err(|_| anyhow::anyhow!("the decision sink panicked"))?;
        let (clients, populations, decision_latency_us) =
            self.sink_results.recv().unwrap_or_default();
        Ok(PipelineResult {
            decision_latency_us,
            book,
            clients,
            populations,
            traffic: std::mem::take(&mut self.traffic),
            books: self.books(),
            first_ts: self.first_ts,
            last_ts: (self.now.0 != i64::MIN).then_some(self.now),
        })
    }
}

/// A worker's books and the counters it publishes of them.
struct WorkerBooks {
    clients: ClientBook,
    populations: PopulationBook,
    counters: Arc<ShardCounters>,
}

fn worker(
    idx: usize,
    rx: Receiver<WorkItem>,
    sink: Sender<SinkMsg>,
    mut ctx: Context,
    books: WorkerBooks,
) {
    let WorkerBooks {
        mut clients,
        populations: mut pops,
        counters,
    } = books;
    let mut out = Vec::new();
    for item in rx {
        let (batch, sent) = match item {
            WorkItem::Batch(b, sent) => (b, sent),
            WorkItem::Reconfigure(cfg) => {
                ctx.cfg = cfg;
                continue;
            }
            WorkItem::Model(m) => {
                ctx.model = m;
                continue;
            }
            WorkItem::Snapshot(reply) => {
                let _ = reply.send((clients.summaries(), pops.summaries()));
                continue;
            }
            WorkItem::Stop => break,
        };
        for (role, obs) in batch {
            let before = out.len();
            let client = role != Role::Population;
            let population = role != Role::Client;
            match &obs {
                Observation::Start(s) => {
                    if client {
                        clients.on_start(s, &ctx, &mut out);
                    }
                    if population {
                        pops.on_start(s, &ctx, &mut out);
                    }
                }
                Observation::Exchanges {
                    start,
                    exchanges,
                    at,
                } => clients.on_exchanges(start, exchanges, *at, &ctx, &mut out),
                Observation::End(e) => {
                    if client {
                        clients.on_end(e, &ctx, &mut out);
                    }
                    if population {
                        pops.on_end(e, &ctx, &mut out);
                    }
                }
                Observation::Watermark(ts) => {
                    if !out.is_empty() {
                        let _ = sink.send(SinkMsg::Proposals(std::mem::take(&mut out)));
                    }
                    let _ = sink.send(SinkMsg::Watermark(idx, *ts));
                }
            }
            for p in out.iter_mut().skip(before) {
                p.origin = Some(sent);
            }
        }
        counters.publish(&clients, &pops);
    }
    if !out.is_empty() {
        let _ = sink.send(SinkMsg::Proposals(out));
    }
    let _ = sink.send(SinkMsg::Done(clients.summaries(), pops.summaries()));
}

/// Orders proposals across workers and applies the decision book.
fn sink(
    workers: usize,
    rx: Receiver<SinkMsg>,
    mut book: DecisionBook,
    emit: &mut impl FnMut(&Decision),
    results: Sender<SinkResults>,
) -> BookStats {
    let mut latencies: Vec<u64> = Vec::new();
    let mut pending: Vec<Proposal> = Vec::new();
    let mut marks = vec![Timestamp(i64::MIN); workers];
    let mut done = 0;
    let mut clients = Vec::new();
    let mut populations = Vec::new();
    let mut decisions = Vec::new();
    let mut release =
        |pending: &mut Vec<Proposal>, upto: Option<Timestamp>, book: &mut DecisionBook| {
            pending.sort_by(|a, b| {
                a.order_key()
                    .cmp(&b.order_key())
                    .then_with(|| b.score.total_cmp(&a.score))
                    .then_with(|| reason_codes(a).cmp(reason_codes(b)))
                    .then_with(|| a.fingerprints.ja4_tcp.cmp(&b.fingerprints.ja4_tcp))
                    .then_with(|| reason_texts(a).cmp(reason_texts(b)))
            });
            let cut = match upto {
                // Strictly before the watermark: a proposal made at the
                // watermark's own time may still be on its way from another worker.
                Some(t) => pending.partition_point(|p| p.decided_at < t),
                None => pending.len(),
            };
            for p in pending.drain(..cut) {
                let origin = p.origin;
                let before = decisions.len();
                book.offer(p, &mut decisions);
                if let Some(o) = origin {
                    if decisions.len() > before && latencies.len() < 100_000 {
                        latencies.push(o.elapsed().as_micros() as u64);
                    }
                }
            }
            // Without a watermark (the end) nothing expires, but unblocks from a
            // reload still go out.
            let expire_before = upto.map_or(Timestamp(i64::MIN), |t| Timestamp(t.0 - 1));
            book.advance(expire_before, &mut decisions);
            for d in decisions.drain(..) {
                emit(&d);
            }
        };
    for msg in rx {
        match msg {
            SinkMsg::Proposals(p) => pending.extend(p),
            SinkMsg::Watermark(w, ts) => {
                marks[w] = ts;
                let low = *marks.iter().min().expect("at least one worker");
                if low.0 != i64::MIN && !pending.is_empty() {
                    release(&mut pending, Some(low), &mut book);
                }
            }
            SinkMsg::Reconfigure(cfg, allow, at) => {
                book.reconfigure(&cfg, allow, at);
                let low = *marks.iter().min().expect("at least one worker");
                if low.0 != i64::MIN {
                    release(&mut pending, Some(low), &mut book);
                }
            }
            SinkMsg::Done(c, p) => {
                clients.extend(c);
                populations.extend(p);
                done += 1;
                if done == workers {
                    break;
                }
            }
        }
    }
    release(&mut pending, None, &mut book);
    clients.sort_by_key(|c| c.ip);
    populations.sort_by(|a, b| a.key.cmp(&b.key));
    let _ = results.send((clients, populations, latencies));
    book.stats.clone()
}

// Iterators, compared lexicographically as the vectors would be: the sort
// compares many pairs and should allocate nothing.
fn reason_texts(p: &Proposal) -> impl Iterator<Item = &str> {
    p.reasons.iter().map(|r| r.text.as_str())
}

fn reason_codes(p: &Proposal) -> impl Iterator<Item = &'static str> + '_ {
    p.reasons.iter().map(|r| r.code)
}
