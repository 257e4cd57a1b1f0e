//! `shakedown enforce`: decisions from Kafka to enforcement points.
//!
//! At start the active set is rebuilt by reading the topic from its beginning
//! (a compacted topic holds the latest decision per target); then new decisions
//! are applied in batches. Consumer offsets are committed only after a batch
//! has been applied to every output.

use super::fingerprint::Outcome;
use crate::cli::EnforceArgs;
use crate::enforce::active_set::{unix_seconds, ActiveSet, Change};
use crate::enforce::edl_server::{self, Lists};
use crate::enforce::outputs::{Exec, Ipset, Nft, Output};
use crate::kafka_sink::KafkaConfig;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

pub fn run(args: &EnforceArgs) -> anyhow::Result<Outcome> {
    let kcfg = KafkaConfig {
        brokers: args.kafka_brokers.clone(),
        topic: args.kafka_topic.clone(),
        ..KafkaConfig::default()
    };
    kcfg.check().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut outputs: Vec<Box<dyn Output>> = Vec::new();
    if let Some(spec) = &args.nft_set {
        outputs.push(Box::new(Nft::parse(spec, args.dry_run_dir.clone())?));
    }
    if let Some(name) = &args.ipset {
        outputs.push(Box::new(Ipset::new(name, args.dry_run_dir.clone())));
    }
    if let Some(cmd) = &args.exec {
        outputs.push(Box::new(Exec::new(cmd)));
    }
    let edl = args.serve.as_deref().map(edl_server::start).transpose()?;
    if outputs.is_empty() && edl.is_none() {
        anyhow::bail!("nothing to enforce on: give --nft-set, --ipset, --serve or --exec");
    }
    if let Some(e) = &edl {
        tracing::info!(
            "serving lists on http://{}/edl/ipv4.txt, ipv6.txt, ja4.txt and /active.json",
            e.addr
        );
    }

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kcfg.brokers)
        .set("group.id", &args.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(|e| anyhow::anyhow!("kafka consumer: {e}"))?;

    // Rebuild: every partition from the beginning.
    let meta = consumer
        .fetch_metadata(Some(&kcfg.topic), Duration::from_secs(10))
        .map_err(|e| {
            anyhow::anyhow!(
                "kafka {}: cannot read topic {}: {e}",
                kcfg.brokers,
                kcfg.topic
            )
        })?;
    let partitions: Vec<i32> = meta
        .topics()
        .iter()
        .filter(|t| t.name() == kcfg.topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        anyhow::bail!(
            "kafka {}: topic {} has no partitions (does it exist?)",
            kcfg.brokers,
            kcfg.topic
        );
    }
    let mut tpl = TopicPartitionList::new();
    let mut high: HashMap<i32, i64> = HashMap::new();
    for &p in &partitions {
        tpl.add_partition_offset(&kcfg.topic, p, Offset::Beginning)?;
        let (_, h) = consumer.fetch_watermarks(&kcfg.topic, p, Duration::from_secs(10))?;
        high.insert(p, h);
    }
    consumer.assign(&tpl)?;

    let mut set = ActiveSet::new(args.max_active);
    let mut clock_capture = 0.0f64;
    let mut pending: Vec<Change> = Vec::new();
    let mut next: HashMap<i32, i64> = partitions.iter().map(|&p| (p, 0)).collect();
    let batch = Duration::from_millis(args.batch_ms.max(10));
    let mut last_flush = Instant::now();
    let mut rebuilt = false;
    let mut idle_polls = 0u32;
    let mut batches = 0u64;
    let mut longest_batch = 0.0f64;
    let mut lists_stale = true;
    let mut last_lists: Option<Instant> = None;
    let mut lists_took = Duration::ZERO;
    let started = Instant::now();
    loop {
        let msg = consumer.poll(Duration::from_millis(100));
        match msg {
            Some(Ok(m)) => {
                idle_polls = 0;
                next.insert(m.partition(), m.offset() + 1);
                if let Some(d) = m
                    .payload()
                    .and_then(|p| serde_json::from_slice::<Value>(p).ok())
                {
                    if let Some(t) = d["decided_at"].as_str().and_then(unix_seconds) {
                        clock_capture = clock_capture.max(t);
                    }
                    if let Some(c) = set.apply(&d) {
                        pending.push(c);
                    }
                    pending.extend(set.take_lifted());
                } else {
                    set.ignored += 1;
                }
            }
            Some(Err(e)) => tracing::warn!("kafka: {e}"),
            None => idle_polls += 1,
        }
        let caught_up = partitions.iter().all(|p| next[p] >= high[p]);
        if !rebuilt && caught_up {
            rebuilt = true;
            tracing::info!(
                "active set rebuilt from {}: {} live entries ({} decisions applied, {} ignored)",
                kcfg.topic,
                set.len(),
                set.applied,
                set.ignored
            );
        }
        if rebuilt && (last_flush.elapsed() >= batch || !pending.is_empty() && idle_polls > 0) {
            let now = if args.clock == "capture" {
                clock_capture
            } else {
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64())
            };
            pending.extend(set.expire(now));
            // Changes collapse to the last one per target within a batch.
            let changes = collapse(std::mem::take(&mut pending));
            if !changes.is_empty() {
                batches += 1;
                let t = Instant::now();
                for o in &mut outputs {
                    o.apply(&changes, now)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", o.name()))?;
                }
                longest_batch = longest_batch.max(t.elapsed().as_secs_f64());
            }
            // Lists are rebuilt when something changed, and at most once per
            // ten times their last build took: a million entries take about
            // a second, and the outputs above must keep their batches on time.
            lists_stale |= !changes.is_empty();
            if let (Some(e), true) = (&edl, lists_stale) {
                if last_lists.is_none_or(|t| t.elapsed() >= lists_took * 10) {
                    let t = Instant::now();
                    e.publish(Lists::render(&set, args.max_entries));
                    lists_took = t.elapsed();
                    last_lists = Some(Instant::now());
                    lists_stale = false;
                }
            }
            // Applied everywhere: now the offsets may be committed.
            if set.applied + set.ignored > 0 {
                let _ = consumer.commit_consumer_state(CommitMode::Sync);
            }
            last_flush = Instant::now();
        }
        if args.once && rebuilt && pending.is_empty() && idle_polls >= 5 {
            eprintln!(
                "shakedown: enforce done: {} live entries, {} batches applied (longest {:.3} s), {} decisions applied, {} ignored, {} over the cap (--max-active), {:.2} s",
                set.len(),
                batches,
                longest_batch,
                set.applied,
                set.ignored,
                set.over_cap,
                started.elapsed().as_secs_f64()
            );
            return Ok(Outcome::Complete);
        }
    }
}

/// Keeps the last change per target, in first-seen order.
fn collapse(changes: Vec<Change>) -> Vec<Change> {
    let mut last: HashMap<(String, String), usize> = HashMap::new();
    let key = |c: &Change| match c {
        Change::Add(e) => (e.scope.clone(), e.value.clone()),
        Change::Remove { scope, value } => (scope.clone(), value.clone()),
    };
    for (i, c) in changes.iter().enumerate() {
        last.insert(key(c), i);
    }
    changes
        .into_iter()
        .enumerate()
        .filter(|(i, c)| last[&key(c)] == *i)
        .map(|(_, c)| c)
        .collect()
}
