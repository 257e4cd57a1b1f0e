//! Where decisions go: Kafka (through the on-disk spool) when configured, else
//! a file or standard output, each decision written at once so that nothing
//! decided waits in a buffer.
//!
//! A write that fails (a full disk, a spool that cannot be written) loses
//! that decision only: it is counted, a warning says so (at most once a
//! minute), the next decision is tried again, and a file keeps whole lines
//! only. The run then ends with an error naming how many were lost. A closed
//! standard output (`| head`) is the reader's choice: writing stops, and it
//! is no error.

use crate::config::Config;
use crate::decisions::Decision;
use crate::json_lines_out::JsonLinesOut;
use crate::kafka_sink::KafkaSink;
use anyhow::Context as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tracing::warn;

enum Target {
    /// A file or standard output.
    Lines(JsonLinesOut),
    /// Weak: the command finishes the sink (it must hold the only reference).
    Kafka(Weak<KafkaSink>, PathBuf),
}

pub struct DecisionOutput {
    target: Target,
    /// Decisions written, and decisions that could not be.
    pub written: u64,
    pub unwritten: u64,
    first_error: Option<String>,
    /// Standard output's reader went away: nothing more is written.
    closed: bool,
    last_warning: Option<Instant>,
}

/// The output, shared by the sink thread (writing) and the command (checking
/// it, and reading its counter for the metrics).
pub type DecisionWriter = Arc<Mutex<DecisionOutput>>;

impl DecisionOutput {
    fn describe(&self) -> String {
        match &self.target {
            Target::Lines(out) => out.describe(),
            Target::Kafka(_, spool) => format!("the Kafka spool {}", spool.display()),
        }
    }

    /// Writes one decision; a failure loses it alone (see the module doc).
    pub fn write(&mut self, d: &Decision) {
        if self.closed {
            return;
        }
        let res = match &mut self.target {
            Target::Kafka(k, _) => match k.upgrade() {
                Some(k) => k.emit(d).map_err(|e| e.to_string()),
                None => Err("the Kafka sink is closed".into()),
            },
            Target::Lines(out) => {
                let res = out.push_with(|buf| {
                    serde_json::to_writer(&mut *buf, d).expect("decisions serialise");
                    buf.push(b'\n');
                });
                match res {
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                        self.closed = true;
                        return;
                    }
                    other => other.map_err(|e| e.to_string()),
                }
            }
        };
        let Err(e) = res else {
            self.written += 1;
            return;
        };
        self.unwritten += 1;
        self.first_error.get_or_insert_with(|| e.clone());
        if self
            .last_warning
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
        {
            warn!(
                "cannot write decision {} to {}: {e}; {} decision(s) lost so far, the next ones will be tried",
                d.id,
                self.describe(),
                self.unwritten
            );
            self.last_warning = Some(Instant::now());
        }
    }

    /// Whether standard output's reader went away (no decision is written
    /// any more).
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// After the run: an error if any decision could not be written.
    pub fn check(&self) -> anyhow::Result<()> {
        match &self.first_error {
            None => Ok(()),
            Some(e) => anyhow::bail!(
                "{} of {} decisions could not be written to {} (first error: {e}); the other {} were",
                self.unwritten,
                self.unwritten + self.written,
                self.describe(),
                self.written
            ),
        }
    }
}

/// The decision output of `cfg` (Kafka) or `decisions` (a file; else
/// standard output). Returns the emit function, the output to check once
/// the run is over, and the Kafka sink to finish.
#[allow(clippy::type_complexity)]
pub fn decision_output(
    cfg: &Config,
    decisions: Option<&Path>,
) -> anyhow::Result<(
    impl FnMut(&Decision) + Send + 'static,
    DecisionWriter,
    Option<Arc<KafkaSink>>,
)> {
    if cfg.kafka.enabled() && decisions.is_some() {
        anyhow::bail!("--decisions and Kafka are exclusive: decisions go to one place");
    }
    let kafka = if cfg.kafka.enabled() {
        Some(Arc::new(KafkaSink::start(&cfg.kafka, &cfg.sensor)?))
    } else {
        None
    };
    let target = match (&kafka, decisions) {
        (Some(k), _) => Target::Kafka(Arc::downgrade(k), k.spool_dir().clone()),
        (None, Some(p)) => Target::Lines(
            JsonLinesOut::create(p, 0)
                .with_context(|| format!("cannot create decisions file {}", p.display()))?,
        ),
        (None, None) => Target::Lines(JsonLinesOut::stdout(0)),
    };
    let out: DecisionWriter = Arc::new(Mutex::new(DecisionOutput {
        target,
        written: 0,
        unwritten: 0,
        first_error: None,
        closed: false,
        last_warning: None,
    }));
    let writer = out.clone();
    let emit = move |d: &Decision| writer.lock().expect("decision writer").write(d);
    Ok((emit, out, kafka))
}
