//! Benchmark helper for docs/BENCHMARKS.md (not installed for users):
//! publishes N synthetic block decisions (distinct addresses) through the
//! same spool and producer as `shakedown replay`, and reports decisions/s.
//!
//! Usage: shakedown-kafka-bench BROKERS TOPIC N SPOOL_DIR

use shakedown::decisions::{Action, Decision, Mode, SCHEMA_VERSION};
use shakedown::kafka_sink::{KafkaConfig, KafkaSink};
use shakedown::proposal::Scope;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        anyhow::bail!("usage: shakedown-kafka-bench BROKERS TOPIC N SPOOL_DIR");
    }
    let n: u32 = args[3].parse()?;
    let cfg = KafkaConfig {
        brokers: args[1].clone(),
        topic: args[2].clone(),
        spool_dir: args[4].clone().into(),
        spool_max_bytes: 4 << 30,
        flush_timeout_s: 600,
        ..KafkaConfig::default()
    };
    let sink = KafkaSink::start(&cfg, "bench")?;
    let started = Instant::now();
    for i in 0..n {
        let ip = Ipv4Addr::from(0x0a00_0000 + i);
        let d = Decision {
            schema_version: SCHEMA_VERSION,
            id: format!("{:032x}", i),
            action: Action::Block,
            scope: Scope::Ip,
            value: ip.to_string(),
            mode: Mode::Enforce,
            score: 0.8 + (i % 200) as f64 / 1000.0,
            severity: "medium",
            reasons: Vec::new(),
            first_seen: "2030-01-01T00:00:00.000000Z".into(),
            decided_at: "2030-01-01T00:00:00.000000Z".into(),
            expires_at: Some("2030-01-01T01:00:00.000000Z".into()),
            duration_s: Some(3600),
            sensor: "bench".into(),
            fingerprints: Default::default(),
            renews: None,
            ends: None,
        };
        sink.emit(&d)?;
    }
    let spooled = started.elapsed();
    let stats = sink.stats.clone();
    let (depth, refused) = sink.finish(Duration::from_secs(600));
    let total = started.elapsed();
    let delivered = stats.delivered.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{n} decisions: spooled in {:.2} s ({:.0}/s), delivered {delivered} in {:.2} s ({:.0}/s); spool left {depth} bytes, refused {refused}",
        spooled.as_secs_f64(),
        n as f64 / spooled.as_secs_f64(),
        total.as_secs_f64(),
        delivered as f64 / total.as_secs_f64()
    );
    Ok(())
}
