//! Decisions to Kafka, losing none: every decision is first appended to the
//! on-disk spool, then sent by a background thread with an idempotent producer
//! (`acks=all`); the spool's committed offset advances only over what the broker
//! acknowledged. While the broker is unreachable, decisions wait in the spool
//! (bounded) and go out in order when it is back; a fatal producer error
//! recreates the producer and resends from the spool; what is still unsent at
//! shutdown stays in the spool for the next start.
//!
//! Record key: `scope:value` (a compacted topic keeps the latest decision per
//! target). Value: the decision JSON. Headers: `schema_version`, `sensor`.

use crate::decisions::{Decision, SCHEMA_VERSION};
use crate::spool::{Spool, SpoolError};
use crossbeam_channel::{unbounded, Receiver, Sender};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `[kafka]` in the configuration file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `host:port,...`; empty: no Kafka (decisions to stdout or `--decisions`).
    pub brokers: String,
    pub topic: String,
    /// Where undelivered decisions wait.
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
    /// Seconds to wait for delivery at shutdown before leaving the rest in the spool.
    pub flush_timeout_s: u64,
    /// librdkafka properties passed through (SASL/SSL, compression, timeouts...).
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: String::new(),
            topic: "shakedown.decisions".into(),
            spool_dir: PathBuf::from("shakedown-spool"),
            spool_max_bytes: 256 * 1024 * 1024,
            flush_timeout_s: 10,
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    pub fn enabled(&self) -> bool {
        !self.brokers.trim().is_empty()
    }

    /// Checks `host:port[,host:port...]`.
    pub fn check(&self) -> Result<(), String> {
        for b in self.brokers.split(',') {
            let b = b.trim();
            let ok = b.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !ok {
                return Err(format!("kafka broker {b:?} is not host:port"));
            }
        }
        if self.topic.trim().is_empty() {
            return Err("kafka topic is empty".into());
        }
        Ok(())
    }
}

/// Delivery counters.
#[derive(Debug, Default)]
pub struct KafkaStats {
    pub delivered: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub producer_restarts: AtomicU64,
}

struct Ctx {
    acks: Sender<(u64, Result<(), KafkaError>)>,
}

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    type DeliveryOpaque = Box<u64>;
    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        let r = match result {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(e.clone()),
        };
        let _ = self.acks.send((*opaque, r));
    }
}

struct Shared {
    spool: Mutex<Spool>,
    wake: Condvar,
    stop: AtomicBool,
    deadline: Mutex<Option<Instant>>,
}

pub struct KafkaSink {
    shared: Arc<Shared>,
    sensor: String,
    thread: Option<JoinHandle<()>>,
    pub stats: Arc<KafkaStats>,
    spool_dir: PathBuf,
}

fn make_producer(
    cfg: &KafkaConfig,
    acks: Sender<(u64, Result<(), KafkaError>)>,
) -> Result<ThreadedProducer<Ctx>, KafkaError> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "15000")
        .set("compression.type", "zstd");
    for (k, v) in &cfg.properties {
        c.set(k, v);
    }
    c.create_with_context(Ctx { acks })
}

impl KafkaSink {
    pub fn start(cfg: &KafkaConfig, sensor: &str) -> anyhow::Result<KafkaSink> {
        cfg.check().map_err(|e| anyhow::anyhow!("{e}"))?;
        let spool = Spool::open(&cfg.spool_dir, cfg.spool_max_bytes, 64)?;
        let pending = spool.depth();
        if pending > 0 {
            tracing::info!(
                "{} bytes of decisions from an earlier run wait in the spool {}; sending them first",
                pending,
                cfg.spool_dir.display()
            );
        }
        let (ack_tx, ack_rx) = unbounded();
        // Creating the producer checks the properties; broker reachability is
        // only known later (decisions wait in the spool meanwhile).
        let producer = make_producer(cfg, ack_tx.clone())
            .map_err(|e| anyhow::anyhow!("kafka producer: {e}"))?;
        let shared = Arc::new(Shared {
            spool: Mutex::new(spool),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            deadline: Mutex::new(None),
        });
        let stats = Arc::new(KafkaStats::default());
        let t_shared = shared.clone();
        let t_stats = stats.clone();
        let t_cfg = cfg.clone();
        let sensor_s = sensor.to_string();
        let thread = std::thread::Builder::new()
            .name("shakedown-kafka".into())
            .spawn(move || sender(t_cfg, sensor_s, producer, ack_tx, ack_rx, t_shared, t_stats))?;
        Ok(KafkaSink {
            shared,
            sensor: sensor.to_string(),
            thread: Some(thread),
            stats,
            spool_dir: cfg.spool_dir.clone(),
        })
    }

    /// Spools a decision for delivery. Errors only if the spool cannot be written.
    pub fn emit(&self, d: &Decision) -> Result<(), SpoolError> {
        let mut line = format!("{}:{}\t", d.scope.as_str(), d.value).into_bytes();
        let _ = &self.sensor;
        line.extend(serde_json::to_vec(d).expect("decisions serialise"));
        let mut spool = self.shared.spool.lock().expect("spool lock");
        spool.append(&line)?;
        drop(spool);
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Flushes with a timeout; returns (spool depth in bytes, refused decisions).
    pub fn finish(mut self, timeout: Duration) -> (u64, u64) {
        *self.shared.deadline.lock().expect("lock") = Some(Instant::now() + timeout);
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mut spool = self.shared.spool.lock().expect("spool lock");
        let _ = spool.sync();
        (spool.depth(), spool.stats.refused)
    }

    pub fn spool_dir(&self) -> &PathBuf {
        &self.spool_dir
    }

    /// The delivery counters and the spool's state now, for the metrics;
    /// `None` while the spool is busy (an fsync on a slow disk): the capture
    /// loop that asks never waits for it.
    pub fn gauges(&self) -> Option<KafkaGauges> {
        let spool = self.shared.spool.try_lock().ok()?;
        Some(KafkaGauges {
            delivered: self.stats.delivered.load(Ordering::Relaxed),
            failed_attempts: self.stats.failed_attempts.load(Ordering::Relaxed),
            producer_restarts: self.stats.producer_restarts.load(Ordering::Relaxed),
            spool_bytes: spool.depth(),
            refused: spool.stats.refused,
        })
    }
}

/// [`KafkaSink::gauges`].
#[derive(Debug, Clone, Copy, Default)]
pub struct KafkaGauges {
    pub delivered: u64,
    pub failed_attempts: u64,
    pub producer_restarts: u64,
    /// Bytes of decisions in the spool not acknowledged by the broker yet.
    pub spool_bytes: u64,
    /// Decisions refused because the spool was at its bound.
    pub refused: u64,
}

fn sender(
    cfg: KafkaConfig,
    sensor: String,
    mut producer: ThreadedProducer<Ctx>,
    ack_tx: Sender<(u64, Result<(), KafkaError>)>,
    acks: Receiver<(u64, Result<(), KafkaError>)>,
    shared: Arc<Shared>,
    stats: Arc<KafkaStats>,
) {
    let mut sent = shared.spool.lock().expect("spool lock").committed();
    let mut in_flight: VecDeque<u64> = VecDeque::new();
    let mut acked: BTreeSet<u64> = BTreeSet::new();
    let mut backoff_until: Option<Instant> = None;
    let mut failed_rounds = 0u32;
    // Since when deliveries fail, and when that was last said: an operator
    // reading the log learns that the firewalls are not getting decisions.
    let (mut failing_since, mut last_warning): (Option<Instant>, Option<Instant>) = (None, None);
    loop {
        // Acknowledgements: commit the contiguous prefix.
        let mut failed = None;
        while let Ok((end, res)) = acks.try_recv() {
            match res {
                Ok(()) => {
                    stats.delivered.fetch_add(1, Ordering::Relaxed);
                    acked.insert(end);
                }
                Err(e) => {
                    stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    failed.get_or_insert(e);
                }
            }
        }
        if let Some(e) = &failed {
            failing_since.get_or_insert_with(Instant::now);
            if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                let depth = shared.spool.lock().expect("spool lock").depth();
                tracing::warn!(
                    "kafka {}: delivery failing ({e}); {depth} bytes of decisions wait in the spool and are sent again",
                    cfg.brokers
                );
                last_warning = Some(Instant::now());
            }
        }
        let mut upto = None;
        while in_flight.front().is_some_and(|e| acked.remove(e)) {
            upto = in_flight.pop_front();
        }
        if let Some(u) = upto {
            let mut spool = shared.spool.lock().expect("spool lock");
            let before = spool.committed();
            if spool.commit(u).is_ok() && spool.committed() < before {
                // The spool restarted at 0 (all delivered): positions follow.
                sent = sent.saturating_sub(u);
                in_flight.iter_mut().for_each(|e| *e = e.saturating_sub(u));
            }
        }
        if upto.is_some() {
            failed_rounds = 0;
            if let Some(since) = failing_since.take() {
                tracing::info!(
                    "kafka {}: delivering again after {:.0} s of failures",
                    cfg.brokers,
                    since.elapsed().as_secs_f64()
                );
                last_warning = None;
            }
        }
        let fatal = producer.client().fatal_error().is_some();
        if failed.is_some() || fatal {
            // Start again from what the broker acknowledged. A fatal error, or
            // rounds of failures with nothing delivered (a broker that restarted
            // and forgot this producer's id and sequence numbers), need a new producer.
            failed_rounds += 1;
            in_flight.clear();
            acked.clear();
            while acks.try_recv().is_ok() {}
            sent = shared.spool.lock().expect("spool lock").committed();
            backoff_until = Some(Instant::now() + Duration::from_millis(500));
            if fatal || failed_rounds >= 3 {
                failed_rounds = 0;
                if let Ok(p) = make_producer(&cfg, ack_tx.clone()) {
                    producer = p;
                    stats.producer_restarts.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let stopping = shared.stop.load(Ordering::SeqCst);
        let deadline = *shared.deadline.lock().expect("lock");
        let spool = shared.spool.lock().expect("spool lock");
        let all_sent = spool.depth() == 0
            || (sent >= spool.committed() + spool.depth() && in_flight.is_empty());
        if stopping && (all_sent || deadline.is_some_and(|d| Instant::now() >= d)) {
            drop(spool);
            let _ = producer.flush(Duration::from_millis(500));
            // Late acknowledgements still count.
            while let Ok((end, Ok(()))) = acks.try_recv() {
                acked.insert(end);
            }
            let mut upto = None;
            while in_flight.front().is_some_and(|e| acked.remove(e)) {
                upto = in_flight.pop_front();
            }
            if let Some(u) = upto {
                let _ = shared.spool.lock().expect("spool lock").commit(u);
            }
            return;
        }
        if backoff_until.is_some_and(|t| Instant::now() < t) || in_flight.len() >= 10_000 {
            let _ = shared.wake.wait_timeout(spool, Duration::from_millis(50));
            continue;
        }
        backoff_until = None;
        let batch = spool.read_from(sent, 1000).unwrap_or_default();
        drop(spool);
        if batch.is_empty() {
            let spool = shared.spool.lock().expect("spool lock");
            let _ = shared.wake.wait_timeout(spool, Duration::from_millis(50));
            continue;
        }
        for (line, end) in batch {
            let Some(tab) = line.iter().position(|&b| b == b'\t') else {
                sent = end; // not ours: skip
                continue;
            };
            let (key, payload) = (&line[..tab], &line[tab + 1..]);
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "schema_version",
                    value: Some(SCHEMA_VERSION.to_string().as_bytes()),
                })
                .insert(Header {
                    key: "sensor",
                    value: Some(sensor.as_bytes()),
                });
            let mut record = BaseRecord::with_opaque_to(&cfg.topic, Box::new(end))
                .key(key)
                .payload(payload)
                .headers(headers);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, r)) => {
                        // Queue full: let librdkafka drain, then retry.
                        record = r;
                        std::thread::sleep(Duration::from_millis(5));
                        if shared.stop.load(Ordering::SeqCst)
                            && shared
                                .deadline
                                .lock()
                                .expect("lock")
                                .is_some_and(|d| Instant::now() >= d)
                        {
                            return;
                        }
                    }
                }
            }
            in_flight.push_back(end);
            sent = end;
        }
    }
}
