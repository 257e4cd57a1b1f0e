//! `shakedown fingerprint FILE...`: fingerprints of every TLS connection, one
//! JSON object per line, in order of each connection's first packet.

use crate::capture_input::for_each_packet;
use crate::cli::FingerprintArgs;
use crate::connection_record::ConnectionJson;
use crate::in_order::InOrder;
use crate::json_lines_out::JsonLinesOut;
use crate::run_summary::RunSummary;
use anyhow::Context as _;
use shakedown_capture::tracker::{FlowEvent, TrackerConfig};
use shakedown_capture::Tracker;
use std::io;
use std::time::Instant;

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every file was read to its end.
    Complete,
    /// At least one file could not be opened or read to its end; everything that
    /// was read has been processed and written.
    InputErrors,
}

pub fn run(args: &FingerprintArgs) -> anyhow::Result<Outcome> {
    let out = match &args.output {
        Some(path) => JsonLinesOut::create(path, RecordWriter::CAPACITY)
            .with_context(|| format!("cannot create output file {}", path.display()))?,
        None => JsonLinesOut::stdout(RecordWriter::CAPACITY),
    };
    let mut writer = RecordWriter { out, error: None };
    let cfg = TrackerConfig {
        max_flows: args.max_flows as usize,
        tcp_idle_timeout: args.tcp_idle_timeout as i64 * 1_000_000_000,
        max_records_per_flow: 0,
        ..TrackerConfig::default()
    };
    let mut tracker = Tracker::new(cfg);
    // Lines wait here, serialised, until every earlier connection has its own.
    let mut order: InOrder<Vec<u8>> = InOrder::default();
    let mut records = ConnectionJson::default();
    let mut summary = RunSummary::default();
    let started = Instant::now();

    let mut handle = |ev: FlowEvent, summary: &mut RunSummary, writer: &mut RecordWriter| match ev {
        FlowEvent::Handshake(conn) => {
            match conn.transport {
                shakedown_fingerprints::ja4::Transport::Quic => summary.connections_quic += 1,
                _ => summary.connections_tcp += 1,
            }
            let mut line = |buf: &mut Vec<u8>| {
                records.write(&conn, buf);
                buf.push(b'\n');
            };
            if order.is_next(conn.id) {
                // Its turn already (the usual case): straight into the output.
                writer.record(line);
                order.resolve(conn.id, None, |l| writer.write(&l));
            } else {
                // Records are 1-2 KB: room for the longest without growing.
                let mut buf = Vec::with_capacity(2048);
                line(&mut buf);
                order.resolve(conn.id, Some(buf), |l| writer.write(&l));
            }
        }
        FlowEvent::End(end) => {
            if !end.tls {
                order.resolve(end.id, None, |r| writer.write(&r));
            }
        }
        FlowEvent::Records(_) | FlowEvent::ClientHello(_) => {}
    };

    let mut pipeline_summary = RunSummary::default();
    for_each_packet(
        &args.files,
        !args.no_progress,
        &mut pipeline_summary,
        |ts, pkt| {
            tracker.process(ts, pkt, &mut |ev| handle(ev, &mut summary, &mut writer));
            writer.error.is_none()
        },
    );
    summary.absorb_input(&pipeline_summary);
    tracker.flush(&mut |ev| handle(ev, &mut summary, &mut writer));
    order.drain(|r| writer.write(&r));
    writer.finish()?;

    summary.tracker = tracker.stats();
    summary.records_late = order.late;
    summary.elapsed = started.elapsed();
    if !args.quiet {
        eprintln!("shakedown: {summary}");
    }
    Ok(if summary.files_failed > 0 {
        Outcome::InputErrors
    } else {
        Outcome::Complete
    })
}

/// The records' output, which remembers its first error instead of panicking
/// inside the flow table's callback (and then stops the run). Records are
/// written straight into its buffer.
struct RecordWriter {
    out: JsonLinesOut,
    error: Option<io::Error>,
}

impl RecordWriter {
    /// Bytes gathered before a write.
    const CAPACITY: usize = 1 << 16;

    /// Writes one JSON line (newline included).
    fn write(&mut self, line: &[u8]) {
        self.record(|buf| buf.extend_from_slice(line));
    }

    /// Lets `write_line` append one JSON line (newline included) to the buffer.
    fn record(&mut self, write_line: impl FnOnce(&mut Vec<u8>)) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.out.push_with(write_line) {
            self.error = Some(e);
        }
    }

    fn finish(mut self) -> anyhow::Result<()> {
        let res = match self.error.take() {
            Some(e) => Err(e),
            None => self.out.flush(),
        };
        match res {
            // A closed pipe (`| head`) is the reader's choice, not our failure.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(anyhow::Error::new(e).context(match self.out.path() {
                Some(path) => format!(
                    "cannot write output file {} (it holds the whole records written before)",
                    path.display()
                ),
                None => "cannot write output".to_string(),
            })),
            Ok(()) => Ok(()),
        }
    }
}
