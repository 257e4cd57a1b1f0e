//! `shakedown learn FILE... -o model.json`: what is normal for this site.
//!
//! The capture runs through the same detectors as `replay` (decisions are not
//! written); the model then records, per client stack (`ja4~tcp_sig`), how many
//! addresses used it and how many of those the detectors flagged, the largest
//! normal population, and the 99th-percentile request and connection rates of
//! the clients that were not flagged. Bots in the learning period therefore
//! teach the model which stacks are abused instead of polluting what is normal.

use super::fingerprint::Outcome;
use super::replay::{load_config, run_pipeline};
use crate::cli::LearnArgs;
use crate::client_behaviour::ClientSummary;
use crate::model::{quantile, FingerprintProfile, Model, MODEL_FORMAT, MODEL_VERSION};
use crate::pipeline::PipelineResult;
use crate::population::PopulationSummary;
use hashbrown::HashSet;
use shakedown_capture::Timestamp;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

pub fn run(args: &LearnArgs) -> anyhow::Result<Outcome> {
    let mut cfg = load_config(args.config.as_deref())?;
    if let Some(w) = args.workers {
        cfg.workers = w as usize;
    }
    let cfg = Arc::new(cfg);
    let (summary, result) = run_pipeline(
        &args.files,
        cfg.clone(),
        None,
        |_| {},
        None,
        !args.no_progress,
    )?;
    let model = build_model(&result, cfg.windows.client_s, &args.files);
    model.save(&args.output)?;
    if !args.quiet {
        eprintln!("shakedown: {summary}");
        let flagged: usize = model
            .fingerprints
            .values()
            .map(|p| p.flagged_addresses as usize)
            .sum();
        eprintln!(
            "shakedown: model {}: {} client stacks, {} flagged addresses, client requests p99 {:.0} per {} s",
            args.output.display(),
            model.fingerprints.len(),
            flagged,
            model.client_requests_p99,
            model.client_window_s
        );
    }
    Ok(if summary.files_failed > 0 {
        Outcome::InputErrors
    } else {
        Outcome::Complete
    })
}

pub fn build_model(
    r: &PipelineResult,
    client_window_s: u64,
    files: &[std::path::PathBuf],
) -> Model {
    model_from(
        &r.clients,
        &r.populations,
        (r.first_ts, r.last_ts),
        client_window_s,
        files.iter().map(|f| f.display().to_string()).collect(),
    )
}

/// The model of what the detectors' tables hold: per-stack populations and
/// the rates of the clients that were not flagged.
pub fn model_from(
    clients: &[ClientSummary],
    populations: &[PopulationSummary],
    (first_ts, last_ts): (Option<Timestamp>, Option<Timestamp>),
    client_window_s: u64,
    learned_from: Vec<String>,
) -> Model {
    let mut flagged: HashSet<IpAddr> = clients.iter().filter(|c| c.flagged).map(|c| c.ip).collect();
    for p in populations {
        flagged.extend(p.flagged.iter().copied());
    }
    let mut fingerprints: BTreeMap<String, FingerprintProfile> = populations
        .iter()
        .map(|p| {
            (
                p.key.to_string(),
                FingerprintProfile {
                    ja4: p.ja4.as_deref().unwrap_or_default().to_string(),
                    class: p.class.map(|c| c.as_str().to_string()),
                    connections: p.connections,
                    addresses: 0,
                    flagged_addresses: 0,
                    max_window_addresses: p.max_window_addresses,
                },
            )
        })
        .collect();
    for c in clients {
        for key in &c.populations {
            if let Some(p) = fingerprints.get_mut(key.as_ref()) {
                p.addresses += 1;
                if flagged.contains(&c.ip) {
                    p.flagged_addresses += 1;
                }
            }
        }
    }
    let normal = clients.iter().filter(|c| !flagged.contains(&c.ip));
    let mut requests: Vec<f64> = normal
        .clone()
        .map(|c| c.max_window_requests as f64)
        .collect();
    let mut connections: Vec<f64> = normal.map(|c| c.max_window_connections as f64).collect();
    let span_s = match (first_ts, last_ts) {
        (Some(a), Some(b)) => b.nanos_since(a) as f64 / 1e9,
        _ => 0.0,
    };
    Model {
        format: MODEL_FORMAT.into(),
        version: MODEL_VERSION,
        learned_from,
        span_s,
        client_window_s,
        client_requests_p99: quantile(&mut requests, 0.99),
        client_connections_p99: quantile(&mut connections, 0.99),
        fingerprints,
    }
}
