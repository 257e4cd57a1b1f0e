//! `shakedown live --interface IF...`: the detector on mirror ports.
//!
//! One reader thread per interface does only capture: it copies each packet into
//! a bounded queue and, when the queue is full, drops and counts instead of
//! blocking the kernel ring. The pipeline thread decodes, tracks flows and feeds
//! the same workers and sink as `replay`; the clock is the packets' time (the
//! wall clock moves it on when the link is quiet). SIGINT/SIGTERM end it cleanly:
//! open flows are flushed, pending decisions written or spooled, the learned
//! model saved (`--save-model`), exit 0. SIGHUP reloads the configuration.

use super::fingerprint::Outcome;
use super::replay::detector_config;
use crate::capture_reader::{self, IfaceCounters};
use crate::cli::LiveArgs;
use crate::decision_output::decision_output;
use crate::metrics::DecisionCounts;
use crate::model::Model;
use crate::model_keeper::ModelKeeper;
use crate::pipeline::Dispatcher;
use crate::run_summary::RunSummary;
use crate::shard_counters::BookTotals;
use crossbeam_channel::{bounded, RecvTimeoutError};
use shakedown_capture::tracker::TrackerConfig;
use shakedown_capture::{decode, LiveOptions, LiveSource, Timestamp, Tracker};
use shakedown_fingerprints::reputation::Reputation;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tracing::{info, warn};

fn wall_now() -> Timestamp {
    Timestamp(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64),
    )
}

pub fn run(args: &LiveArgs) -> anyhow::Result<Outcome> {
    let cfg = detector_config(&args.detector)?;
    // Learning into the file it starts from: the first start has no model yet.
    let loaded = match args.detector.model.as_deref() {
        Some(p) if args.save_model.as_deref() == Some(p) && !p.exists() => {
            info!("no model at {} yet: learning one from scratch", p.display());
            None
        }
        Some(p) => Some(Model::load(p)?),
        None => None,
    };
    let opts = LiveOptions {
        snaplen: args.snaplen as i32,
        buffer_bytes: (args.buffer_mb * 1024 * 1024) as i32,
        bpf: args.bpf.clone(),
        timeout_ms: args.read_timeout_ms,
        immediate: args.immediate,
        promiscuous: !args.no_promisc,
    };
    // Open every interface first: a wrong name or missing rights fail before anything runs.
    let mut sources = Vec::new();
    for iface in &args.interfaces {
        let s = LiveSource::open(iface, &opts).map_err(|e| {
            anyhow::anyhow!(
                "{e} (live capture needs root or CAP_NET_RAW, and an existing interface)"
            )
        })?;
        sources.push(s);
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    // An empty --metrics switches the endpoint off.
    let metrics = if args.metrics.is_empty() {
        None
    } else {
        let m = crate::metrics::start(&args.metrics)?;
        info!("metrics on http://{}/metrics", m.addr);
        Some(m)
    };
    let reload = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, reload.clone())?;

    let cfg = Arc::new(cfg);
    let (mut emit, out_state, kafka) = decision_output(&cfg, args.detector.decisions.as_deref())?;
    let decisions = Arc::new(AtomicU64::new(0));
    let decision_counts = Arc::new(Mutex::new(DecisionCounts::default()));
    let (counted, by_kind) = (decisions.clone(), decision_counts.clone());
    let emit = move |d: &crate::decisions::Decision| {
        counted.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut c) = by_kind.lock() {
            c.count(d);
        }
        emit(d);
    };
    let flows_out = super::replay::flow_output(args.detector.flows.as_deref())?;
    // Everything that needs root is open (captures, ports, output files): give it up.
    if let Some(user) = &args.user {
        crate::privileges::drop_to(user)?;
        info!("running as user {user}");
    }
    let mut model_modified = args
        .detector
        .model
        .as_deref()
        .and_then(|p| std::fs::metadata(p).ok()?.modified().ok());
    let names: Vec<String> = sources.iter().map(|s| s.interface().to_string()).collect();
    let model = loaded.clone().map(Arc::new);
    let keeper = args.save_model.as_ref().map(|path| {
        Arc::new(ModelKeeper::new(
            loaded,
            path.clone(),
            cfg.learning.decay_s,
            cfg.windows.client_s,
            &names,
        ))
    });
    let mut dispatcher = Dispatcher::start(
        cfg.clone(),
        model,
        Arc::new(Reputation::builtin()),
        emit,
        flows_out,
    )?;
    let mut tracker = Tracker::new(TrackerConfig {
        max_flows: cfg.limits.max_flows,
        early_client_hello: true,
        ..TrackerConfig::default()
    });

    let (tx, rx) = bounded::<capture_reader::Captured>(65_536);
    let counters: Vec<Arc<IfaceCounters>> = sources
        .iter()
        .map(|_| Arc::new(IfaceCounters::default()))
        .collect();
    // A reader that cannot go on writes why here and stops the sensor.
    let fatal: capture_reader::Fatal = Arc::default();
    let mut readers = Vec::new();
    for (idx, src) in sources.into_iter().enumerate() {
        readers.push(capture_reader::spawn(
            idx,
            src,
            opts.clone(),
            tx.clone(),
            stop.clone(),
            fatal.clone(),
            counters[idx].clone(),
        )?);
    }
    drop(tx);
    info!(
        "live on {} (filter {:?}, snaplen {}); SIGINT/SIGTERM stop it",
        names.join(", "),
        args.bpf,
        args.snaplen
    );

    let mut last_second = Instant::now();
    let (mut output_closed, mut closed_now) = (false, false);
    let (mut last_unwritten, mut last_kafka) = (0u64, None);
    let mut summary = RunSummary::default();
    let started = Instant::now();
    let mut last_status = Instant::now();
    let (mut status_packets, mut status_bytes) = (0u64, 0u64);
    let mut now = Timestamp(i64::MIN);
    let checkpoint_every = Duration::from_secs(cfg.learning.checkpoint_s);
    let mut last_checkpoint = Instant::now();
    let (ckpt_tx, ckpt_rx) = bounded::<anyhow::Result<Model>>(1);
    let mut checkpoint_running = false;
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(p) => {
                summary.packets += 1;
                summary.bytes += p.data.len() as u64;
                if p.ts > now {
                    now = p.ts;
                }
                dispatcher.tick(p.ts);
                match decode(p.linktype, &p.data) {
                    Ok(pkt) => tracker.process(p.ts, &pkt, &mut |ev| dispatcher.on_event(ev)),
                    Err(skip) => summary.skip(skip),
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                // A quiet link: let decisions through on the wall clock.
                if now.0 != i64::MIN {
                    dispatcher.tick(wall_now().max(now));
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if stop.load(Ordering::Relaxed) && rx.is_empty() {
            break;
        }
        if reload.swap(false, Ordering::Relaxed) {
            reload_config(args, &mut dispatcher);
        }
        if let Some(k) = &keeper {
            if !checkpoint_running
                && !checkpoint_every.is_zero()
                && last_checkpoint.elapsed() >= checkpoint_every
            {
                // The workers copy their summaries; learning and saving happen
                // on a thread of their own, the capture goes on.
                let (replies, workers) = dispatcher.request_snapshot();
                let (k, tx, span) = (k.clone(), ckpt_tx.clone(), dispatcher.time_span());
                std::thread::Builder::new()
                    .name("shakedown-checkpoint".into())
                    .spawn(move || {
                        let _ = tx.send(k.checkpoint(replies, workers, span));
                    })?;
                checkpoint_running = true;
                last_checkpoint = Instant::now();
            }
            if let Ok(done) = ckpt_rx.try_recv() {
                checkpoint_running = false;
                match done {
                    Ok(m) => {
                        info!(
                            "model checkpoint: {} client stacks saved to {}; scoring with it from now on",
                            m.fingerprints.len(),
                            k.path.display()
                        );
                        dispatcher.set_model(Some(Arc::new(m)));
                        model_modified = Some(SystemTime::now());
                    }
                    Err(e) => warn!("model checkpoint failed, the model in use stays: {e:#}"),
                }
            }
        }
        // Once a second: what the decision output says, then the metrics.
        // Never waiting for the output or the spool: a busy one keeps its
        // last values for this second.
        if last_second.elapsed() >= Duration::from_secs(1) {
            last_second = Instant::now();
            if let Ok(o) = out_state.try_lock() {
                last_unwritten = o.unwritten;
                closed_now = o.closed();
            }
            // `replay | head` may close its output on purpose; a sensor's
            // reader going away means its decisions go nowhere from now on.
            if closed_now && !output_closed {
                output_closed = true;
                warn!("standard output was closed: decisions are no longer written (the sensor goes on learning and counting)");
            }
            if let Some(m) = &metrics {
                if let Some(g) = kafka.as_ref().and_then(|k| k.gauges()) {
                    last_kafka = Some(g);
                }
                m.publish(render_metrics(&Gauges {
                    names: &names,
                    counters: &counters,
                    summary: &summary,
                    tracker: &tracker,
                    decisions: &decision_counts,
                    books: dispatcher.books(),
                    decisions_unwritten: last_unwritten,
                    kafka: last_kafka,
                    queue_depth: rx.len(),
                    queue_capacity: rx.capacity().unwrap_or(0),
                    model_modified,
                }));
            }
        }
        if args.status_interval > 0
            && last_status.elapsed() >= Duration::from_secs(args.status_interval)
        {
            let secs = last_status.elapsed().as_secs_f64();
            let (kd, qd): (u64, u64) = counters.iter().fold((0, 0), |(k, q), c| {
                (
                    k + c.kernel_dropped.load(Ordering::Relaxed)
                        + c.if_dropped.load(Ordering::Relaxed),
                    q + c.queue_dropped.load(Ordering::Relaxed),
                )
            });
            let lost: Vec<&str> = (names.iter().zip(&counters))
                .filter(|(_, c)| !c.up.load(Ordering::Relaxed))
                .map(|(n, _)| n.as_str())
                .collect();
            let lost = if lost.is_empty() {
                String::new()
            } else {
                format!(", capture lost on {} (reopening)", lost.join(", "))
            };
            info!(
                "status: {:.0} pps, {:.1} Mbit/s, {} flows, {} TLS connections, {} decisions, drops: kernel {kd}, queue {qd}{lost}",
                (summary.packets - status_packets) as f64 / secs,
                (summary.bytes - status_bytes) as f64 * 8.0 / 1e6 / secs,
                tracker.active_flows(),
                tracker.stats().tls_connections,
                decisions.load(Ordering::Relaxed)
            );
            status_packets = summary.packets;
            status_bytes = summary.bytes;
            last_status = Instant::now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in &readers {
        r.wake();
    }
    for r in readers {
        r.join();
    }
    info!("stopping: flushing open flows and pending decisions");
    tracker.flush(&mut |ev| dispatcher.on_event(ev));
    let span = dispatcher.time_span();
    let mut result = dispatcher.finish()?;
    let mut model_error = None;
    if let Some(k) = &keeper {
        let snapshot = vec![(
            std::mem::take(&mut result.clients),
            std::mem::take(&mut result.populations),
        )];
        let m = k.learned(snapshot, span);
        match m.save(&k.path) {
            Ok(()) => info!(
                "model saved to {}: {} client stacks, {:.0} s of traffic",
                k.path.display(),
                m.fingerprints.len(),
                m.span_s
            ),
            // The decisions are out already: finish the report, then fail.
            Err(e) => model_error = Some(e.context("model not saved")),
        }
    }
    let kafka_report = match kafka {
        Some(k) => Some(super::replay::finish_kafka(k, &cfg)?),
        None => None,
    };
    summary.files = 0;
    summary.tracker = tracker.stats();
    summary.connections_tcp = summary.tracker.tls_connections;
    summary.elapsed = started.elapsed();
    eprintln!("shakedown: {summary}");
    for (i, c) in counters.iter().enumerate() {
        eprintln!(
            "shakedown: {}: kernel received {}, dropped {}, interface dropped {}; queue dropped {}; reopened {}",
            names[i],
            c.kernel_received.load(Ordering::Relaxed),
            c.kernel_dropped.load(Ordering::Relaxed),
            c.if_dropped.load(Ordering::Relaxed),
            c.queue_dropped.load(Ordering::Relaxed),
            c.reopens.load(Ordering::Relaxed)
        );
    }
    eprint!("{}", super::replay::report(&result, &cfg));
    if let Some(k) = kafka_report {
        eprintln!("{k}");
    }
    // Everything decided was written (or counted); now say what went wrong.
    if let Some(why) = fatal.lock().ok().and_then(|mut f| f.take()) {
        anyhow::bail!(why);
    }
    out_state.lock().expect("decision writer").check()?;
    match model_error {
        Some(e) => Err(e),
        None => Ok(Outcome::Complete),
    }
}

/// SIGHUP: reads the configuration file again and hands it to the pipeline,
/// which keeps its state (clients, fingerprints, live blocks). A file that does
/// not load leaves the running configuration in place. Kafka settings, table
/// sizes and the worker count need a restart.
fn reload_config(args: &LiveArgs, dispatcher: &mut Dispatcher) {
    let Some(path) = args.detector.config.as_deref() else {
        warn!("SIGHUP: no --config file, nothing to reload");
        return;
    };
    let applied =
        detector_config(&args.detector).and_then(|cfg| dispatcher.reconfigure(Arc::new(cfg)));
    match applied {
        Ok(()) => info!("SIGHUP: reloaded {}", path.display()),
        Err(e) => warn!(
            "SIGHUP: {} not reloaded, the running configuration stays: {e:#}",
            path.display()
        ),
    }
}

/// The Prometheus rendering of what the live loop counts.
struct Gauges<'a> {
    names: &'a [String],
    counters: &'a [Arc<IfaceCounters>],
    summary: &'a RunSummary,
    tracker: &'a Tracker,
    decisions: &'a Mutex<DecisionCounts>,
    books: BookTotals,
    decisions_unwritten: u64,
    kafka: Option<crate::kafka_sink::KafkaGauges>,
    queue_depth: usize,
    queue_capacity: usize,
    model_modified: Option<SystemTime>,
}

fn render_metrics(g: &Gauges) -> String {
    let (names, counters, summary, tracker) = (g.names, g.counters, g.summary, g.tracker);
    let mut e = crate::metrics::Exposition::default();
    let iface_metric_of = |e: &mut crate::metrics::Exposition,
                           name: &str,
                           kind: &str,
                           help: &str,
                           f: &dyn Fn(&IfaceCounters) -> u64| {
        let labels: Vec<[(&str, &str); 1]> =
            names.iter().map(|n| [("interface", n.as_str())]).collect();
        let samples: Vec<(&[(&str, &str)], f64)> = labels
            .iter()
            .zip(counters)
            .map(|(l, c)| (l.as_slice(), f(c) as f64))
            .collect();
        e.metric(name, kind, help, &samples);
    };
    let iface_metric = |e: &mut crate::metrics::Exposition,
                        name: &str,
                        help: &str,
                        f: &dyn Fn(&IfaceCounters) -> u64| {
        iface_metric_of(e, name, "counter", help, f)
    };
    iface_metric_of(
        &mut e,
        "capture_up",
        "gauge",
        "1 while the interface is captured, 0 while it is gone and being reopened.",
        &|c| u64::from(c.up.load(Ordering::Relaxed)),
    );
    iface_metric(
        &mut e,
        "capture_reopens_total",
        "Times the interface was opened again after it went away.",
        &|c| c.reopens.load(Ordering::Relaxed),
    );
    iface_metric(
        &mut e,
        "kernel_received_packets_total",
        "Packets the kernel passed to libpcap.",
        &|c| c.kernel_received.load(Ordering::Relaxed),
    );
    iface_metric(
        &mut e,
        "kernel_dropped_packets_total",
        "Packets dropped because the capture buffer was full.",
        &|c| c.kernel_dropped.load(Ordering::Relaxed),
    );
    iface_metric(
        &mut e,
        "interface_dropped_packets_total",
        "Packets dropped by the interface or its driver.",
        &|c| c.if_dropped.load(Ordering::Relaxed),
    );
    iface_metric(
        &mut e,
        "queue_dropped_packets_total",
        "Packets dropped because the pipeline queue was full.",
        &|c| c.queue_dropped.load(Ordering::Relaxed),
    );
    let t = tracker.stats();
    let k = g.books;
    let mut plain: Vec<(&str, &str, &str, u64)> = vec![
        (
            "packets_total",
            "counter",
            "Packets processed by the pipeline.",
            summary.packets,
        ),
        (
            "bytes_total",
            "counter",
            "Bytes processed by the pipeline.",
            summary.bytes,
        ),
        (
            "flows",
            "gauge",
            "Flows tracked now.",
            tracker.active_flows() as u64,
        ),
        (
            "flows_evicted_total",
            "counter",
            "Flows evicted because the flow table was full.",
            t.flows_evicted,
        ),
        (
            "syn_only_evicted_total",
            "counter",
            "Of the evicted flows, connections that had sent only a SYN (given up for newer ones: a SYN flood).",
            t.syn_only_evicted,
        ),
        (
            "tls_connections_total",
            "counter",
            "TLS connections seen.",
            t.tls_connections,
        ),
        (
            "client_hellos_total",
            "counter",
            "ClientHellos parsed.",
            t.client_hellos,
        ),
        (
            "hello_parse_errors_total",
            "counter",
            "Handshake messages that did not parse.",
            t.hello_parse_errors,
        ),
        (
            "reassembly_gaps_total",
            "counter",
            "Gaps left in reassembled TCP streams.",
            t.reassembly_gaps,
        ),
        (
            "reassembly_dropped_segments_total",
            "counter",
            "Out-of-order segments dropped over the buffer limit.",
            t.reassembly_dropped_segments,
        ),
        (
            "skipped_packets_total",
            "counter",
            "Packets not decoded (not IP, truncated, ...).",
            summary.skipped.iter().sum(),
        ),
        (
            "decisions_unwritten_total",
            "counter",
            "Decisions that could not be written to their output (a full disk); each is lost, the next is tried.",
            g.decisions_unwritten,
        ),
        (
            "clients",
            "gauge",
            "Clients with behaviour state now (all workers).",
            k.clients,
        ),
        (
            "clients_evicted_total",
            "counter",
            "Clients given up, least recently seen first, because the client book was full (limits.max_clients).",
            k.clients_evicted,
        ),
        (
            "clients_expired_total",
            "counter",
            "Clients that left the client book after limits.client_idle_s without a connection.",
            k.clients_expired,
        ),
        (
            "clients_retired",
            "gauge",
            "Clients that left the client book and whose learning summaries are kept (until they return).",
            k.clients_retired,
        ),
        (
            "retired_clients_forgotten_total",
            "counter",
            "Summaries of clients that left, forgotten for newer ones (learning no longer sees them).",
            k.retired_forgotten,
        ),
        (
            "populations",
            "gauge",
            "Fingerprint populations now (all workers).",
            k.populations,
        ),
        (
            "populations_evicted_total",
            "counter",
            "Populations given up, least recently seen first, for newer ones (limits.max_fingerprints).",
            k.populations_evicted,
        ),
        (
            "populations_shed_total",
            "counter",
            "Populations given up, least recently seen first, for the address budget (limits.max_population_entries).",
            k.populations_shed,
        ),
        (
            "populations_rested_total",
            "counter",
            "Populations idle for limits.client_idle_s that gave back their addresses (what learning reads stays).",
            k.populations_rested,
        ),
        (
            "population_addresses",
            "gauge",
            "Addresses the fingerprint populations remember now (in the window, proposed lately, flagged).",
            k.population_addresses,
        ),
    ];
    if let Some(k) = g.kafka {
        plain.extend([
            (
                "kafka_delivered_total",
                "counter",
                "Decisions the Kafka broker acknowledged.",
                k.delivered,
            ),
            (
                "kafka_failed_attempts_total",
                "counter",
                "Deliveries that failed and are tried again from the spool.",
                k.failed_attempts,
            ),
            (
                "kafka_producer_restarts_total",
                "counter",
                "Times the Kafka producer was made anew after failures.",
                k.producer_restarts,
            ),
            (
                "kafka_spool_bytes",
                "gauge",
                "Bytes of decisions in the spool that the broker has not acknowledged yet.",
                k.spool_bytes,
            ),
            (
                "kafka_refused_total",
                "counter",
                "Decisions refused because the spool was at kafka.spool_max_bytes.",
                k.refused,
            ),
        ]);
    }
    for (name, kind, help, v) in plain {
        e.metric(name, kind, help, &[(&[], v as f64)]);
    }
    if let Ok(d) = g.decisions.lock() {
        d.render(&mut e);
    }
    let age = g
        .model_modified
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map_or(-1.0, |d| d.as_secs_f64());
    e.metric(
        "model_age_seconds",
        "gauge",
        "Age of the --model file (-1: no model).",
        &[(&[], age)],
    );
    e.metric(
        "queue_depth_packets",
        "gauge",
        "Packets waiting between capture and pipeline.",
        &[(&[], g.queue_depth as f64)],
    );
    e.metric(
        "queue_capacity_packets",
        "gauge",
        "Capacity of that queue.",
        &[(&[], g.queue_capacity as f64)],
    );
    e.finish()
}
