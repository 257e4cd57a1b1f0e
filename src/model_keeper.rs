//! Continuous learning for `live --save-model`: what the sensor sees is
//! learned the way `shakedown learn` learns a capture, merged into the model
//! it started with (older knowledge fading with `learning.decay_s`), saved at
//! every checkpoint and at exit, and used for scoring from the checkpoint on.
//! Each merge starts again from the model loaded at start, so a long run is
//! never counted twice.

use crate::commands::learn::model_from;
use crate::model::Model;
use crate::pipeline::LearningSnapshot;
use crate::timefmt::rfc3339_micros;
use crossbeam_channel::Receiver;
use shakedown_capture::Timestamp;
use std::path::PathBuf;
use std::time::Duration;

pub struct ModelKeeper {
    /// What earlier runs learned (`--model`), if anything.
    base: Option<Model>,
    pub path: PathBuf,
    decay_s: f64,
    client_window_s: u64,
    /// What this run is called in the model's `learned_from`.
    source: String,
}

/// Time span of the capture a model is learned from.
pub type Span = (Option<Timestamp>, Option<Timestamp>);

impl ModelKeeper {
    pub fn new(
        base: Option<Model>,
        path: PathBuf,
        decay_s: u64,
        client_window_s: u64,
        interfaces: &[String],
    ) -> ModelKeeper {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        ModelKeeper {
            base,
            path,
            decay_s: decay_s as f64,
            client_window_s,
            source: format!(
                "live on {} from {}",
                interfaces.join(","),
                rfc3339_micros(Timestamp(now))
            ),
        }
    }

    /// The model learned so far: the base faded by this run's span, plus this run.
    pub fn learned(&self, snapshots: Vec<LearningSnapshot>, span: Span) -> Model {
        let (mut clients, mut populations) = (Vec::new(), Vec::new());
        for (c, p) in snapshots {
            clients.extend(c);
            populations.extend(p);
        }
        let run = model_from(
            &clients,
            &populations,
            span,
            self.client_window_s,
            vec![self.source.clone()],
        );
        match &self.base {
            Some(base) => base.merged_with(run, self.decay_s),
            None => run,
        }
    }

    /// Collects one snapshot per worker, learns, saves. Runs off the capture
    /// thread (a million clients take a moment to summarise).
    pub fn checkpoint(
        &self,
        replies: Receiver<LearningSnapshot>,
        workers: usize,
        span: Span,
    ) -> anyhow::Result<Model> {
        let mut snapshots = Vec::with_capacity(workers);
        for _ in 0..workers {
            let s = replies
                .recv_timeout(Duration::from_secs(120))
                .map_err(|_| anyhow::anyhow!("a worker did not answer the checkpoint in 120 s"))?;
            snapshots.push(s);
        }
        let model = self.learned(snapshots, span);
        model.save(&self.path)?;
        Ok(model)
    }
}
