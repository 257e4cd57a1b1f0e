//! `shakedown replay FILE...`: the whole detector over capture files.

use crate::capture_input::for_each_packet;
use crate::cli::{DetectorArgs, ReplayArgs};
use crate::config::Config;
use crate::decisions::Decision;
use crate::json_lines_out::JsonLinesOut;
use crate::kafka_sink::KafkaSink;
use crate::model::Model;
use crate::pipeline::{Dispatcher, FlowRecord, FlowSink, PipelineResult};
use crate::run_summary::RunSummary;
use crate::timefmt::rfc3339_micros;
use anyhow::Context as _;
use shakedown_capture::tracker::TrackerConfig;
use shakedown_capture::Tracker;
use shakedown_fingerprints::reputation::Reputation;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::fingerprint::Outcome;

/// Loads the configuration file if given, else the defaults.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Config::load(p),
        None => Ok(Config::default()),
    }
}

/// The configuration file with the command line's overrides on top (`replay`
/// and `live` at start, and `live` again on SIGHUP).
pub fn detector_config(args: &DetectorArgs) -> anyhow::Result<Config> {
    let mut cfg = load_config(args.config.as_deref())?;
    cfg.monitor |= args.monitor;
    if let Some(b) = &args.kafka_brokers {
        cfg.kafka.brokers = b.clone();
    }
    if let Some(t) = &args.kafka_topic {
        cfg.kafka.topic = t.clone();
    }
    if let Some(d) = &args.spool_dir {
        cfg.kafka.spool_dir = d.clone();
    }
    Ok(cfg)
}

/// The `--flows` writer: one JSON line per TLS connection, when asked for.
/// Records are best effort: a failed write loses its records (whole lines,
/// the file stays valid) and is reported once the file is closed.
pub fn flow_output(path: Option<&Path>) -> anyhow::Result<Option<FlowSink>> {
    let Some(p) = path else { return Ok(None) };
    let file = JsonLinesOut::create(p, 64 * 1024)
        .with_context(|| format!("cannot create flows file {}", p.display()))?;
    let mut w = FlowsFile(file);
    let mut line = Vec::with_capacity(2048);
    let mut warned: Option<std::time::Instant> = None;
    Ok(Some(Box::new(move |r: &FlowRecord| {
        line.clear();
        serde_json::to_writer(&mut line, r).expect("flow records serialise");
        if let Err(e) = w.0.push_line(&line) {
            if warned.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(60)) {
                tracing::warn!(
                    "cannot write flow records to {}: {e}; {} lost so far, the next ones will be tried",
                    w.0.describe(),
                    w.0.lost
                );
                warned = Some(std::time::Instant::now());
            }
        }
    })))
}

/// The flows file, which says what it lost when it closes.
struct FlowsFile(JsonLinesOut);

impl Drop for FlowsFile {
    fn drop(&mut self) {
        let _ = self.0.flush();
        if let Some(e) = &self.0.first_error {
            tracing::warn!(
                "{} flow record(s) could not be written to {} (first error: {e})",
                self.0.lost,
                self.0.describe()
            );
        }
    }
}

/// Runs capture files through the pipeline.
pub fn run_pipeline(
    files: &[PathBuf],
    cfg: Arc<Config>,
    model: Option<Arc<Model>>,
    emit: impl FnMut(&Decision) + Send + 'static,
    flows: Option<FlowSink>,
    show_progress: bool,
) -> anyhow::Result<(RunSummary, PipelineResult)> {
    let started = Instant::now();
    let reputation = Arc::new(Reputation::builtin());
    let mut dispatcher = Dispatcher::start(cfg.clone(), model, reputation, emit, flows)?;
    let mut tracker = Tracker::new(TrackerConfig {
        max_flows: cfg.limits.max_flows,
        early_client_hello: true,
        ..TrackerConfig::default()
    });
    let mut summary = RunSummary::default();
    for_each_packet(files, show_progress, &mut summary, |ts, pkt| {
        dispatcher.tick(ts);
        tracker.process(ts, pkt, &mut |ev| dispatcher.on_event(ev));
        true
    });
    tracker.flush(&mut |ev| dispatcher.on_event(ev));
    let result = dispatcher.finish()?;
    summary.tracker = tracker.stats();
    summary.connections_tcp = summary.tracker.tls_connections;
    summary.elapsed = started.elapsed();
    Ok((summary, result))
}

pub fn run(args: &ReplayArgs) -> anyhow::Result<Outcome> {
    let args_d = &args.detector;
    let mut cfg = detector_config(args_d)?;
    if let Some(w) = args.workers {
        cfg.workers = w as usize;
    }
    let model = args_d
        .model
        .as_deref()
        .map(Model::load)
        .transpose()?
        .map(Arc::new);
    let cfg = Arc::new(cfg);
    let (emit, out, kafka) =
        crate::decision_output::decision_output(&cfg, args_d.decisions.as_deref())?;
    let flows = flow_output(args_d.flows.as_deref())?;
    let (summary, result) = run_pipeline(
        &args.files,
        cfg.clone(),
        model,
        emit,
        flows,
        !args.no_progress,
    )?;
    let kafka_report = match kafka {
        Some(k) => Some(finish_kafka(k, &cfg)?),
        None => None,
    };
    if !args.quiet {
        eprintln!("shakedown: {summary}");
        eprint!("{}", report(&result, &cfg));
        if let Some(k) = kafka_report {
            eprintln!("{k}");
        }
    }
    out.lock().expect("decision writer").check()?;
    Ok(if summary.files_failed > 0 {
        Outcome::InputErrors
    } else {
        Outcome::Complete
    })
}

/// Flushes Kafka with the configured timeout; returns the report line.
pub fn finish_kafka(k: Arc<KafkaSink>, cfg: &Config) -> anyhow::Result<String> {
    use std::sync::atomic::Ordering::Relaxed;
    let k = Arc::try_unwrap(k).map_err(|_| anyhow::anyhow!("kafka sink still in use"))?;
    let stats = k.stats.clone();
    let dir = k.spool_dir().clone();
    let (depth, refused) = k.finish(std::time::Duration::from_secs(cfg.kafka.flush_timeout_s));
    if depth > 0 {
        eprintln!(
            "shakedown: WARNING: {depth} bytes of decisions not delivered to Kafka yet; they wait in {} and go out at the next start",
            dir.display()
        );
    }
    Ok(format!(
        "kafka {} topic {}: {} decisions delivered, {} failed attempts, {} producer restarts; spool {}: {depth} bytes waiting, {refused} decisions refused (spool full)",
        cfg.kafka.brokers,
        cfg.kafka.topic,
        stats.delivered.load(Relaxed),
        stats.failed_attempts.load(Relaxed),
        stats.producer_restarts.load(Relaxed),
        dir.display()
    ))
}

/// End-of-run report: top fingerprints, top clients, decisions by scope and reason.
pub fn report(r: &PipelineResult, cfg: &Config) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let span = match (r.first_ts, r.last_ts) {
        (Some(a), Some(b)) => format!("{} .. {}", rfc3339_micros(a), rfc3339_micros(b)),
        _ => "empty".into(),
    };
    let _ = writeln!(
        s,
        "capture time: {span}; {} TLS connections",
        r.traffic.connections
    );
    let mut fps: Vec<_> = r.traffic.by_ja4.iter().collect();
    fps.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    let _ = writeln!(s, "top fingerprints:");
    for (ja4, (n, name)) in fps.iter().take(10) {
        let _ = writeln!(
            s,
            "  {n:>8}  {ja4}  {}",
            name.as_deref().unwrap_or("unknown stack")
        );
    }
    let mut clients: Vec<_> = r.traffic.by_client.iter().collect();
    clients.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let _ = writeln!(s, "top clients:");
    for (ip, n) in clients.iter().take(10) {
        let _ = writeln!(s, "  {n:>8}  {ip}");
    }
    let b = &r.book;
    let _ = writeln!(
        s,
        "decisions{}: {} blocks, {} renewals, {} unblocks; {} duplicates dropped, {} allowlisted, {} downgraded by the brake, {} lifted by the cap",
        if cfg.monitor { " (monitor-only)" } else { "" },
        b.blocks,
        b.renewals,
        b.unblocks,
        b.duplicates,
        b.allowlisted,
        b.braked,
        b.lifted_by_cap
    );
    let scopes: Vec<String> = b.by_scope.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let reasons: Vec<String> = b
        .by_reason
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(
        s,
        "  by scope: {}",
        if scopes.is_empty() {
            "-".into()
        } else {
            scopes.join(" ")
        }
    );
    let _ = writeln!(
        s,
        "  by reason: {}",
        if reasons.is_empty() {
            "-".into()
        } else {
            reasons.join(" ")
        }
    );
    if !r.decision_latency_us.is_empty() {
        let mut l: Vec<f64> = r.decision_latency_us.iter().map(|&x| x as f64).collect();
        let p50 = crate::model::quantile(&mut l, 0.5);
        let p99 = crate::model::quantile(&mut l, 0.99);
        let _ = writeln!(
            s,
            "  latency from observation to decision (wall clock, {} decisions): p50 {p50:.0} us, p99 {p99:.0} us",
            l.len()
        );
    }
    let k = &r.books;
    let _ = writeln!(
        s,
        "books: {} clients ({} left idle, {} evicted; {} summaries of those kept, {} forgotten), {} fingerprint populations ({} evicted, {} given up for the address budget, {} rested idle) remembering {} addresses",
        k.clients,
        k.clients_expired,
        k.clients_evicted,
        k.clients_retired,
        k.retired_forgotten,
        k.populations,
        k.populations_evicted,
        k.populations_shed,
        k.populations_rested,
        k.population_addresses
    );
    s
}
