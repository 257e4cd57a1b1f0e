//! Command-line interface.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "shakedown",
    version,
    about = "Passive TLS-metadata bot detector: fingerprints every TLS connection without decrypting anything",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log level of operational messages on standard error: error, warn, info,
    /// debug, trace, or a tracing filter (default: $SHAKEDOWN_LOG, else info).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the fingerprints of every TLS connection in capture files (one JSON object per line).
    Fingerprint(FingerprintArgs),
    /// Run the whole detector over capture files: score clients, fingerprints and
    /// flows, and write block decisions (JSON lines) to stdout or a file.
    Replay(ReplayArgs),
    /// Learn what is normal for a site from a period of its traffic; writes a model for `replay --model`.
    Learn(LearnArgs),
    /// Consume decisions from Kafka and keep firewalls, ipsets, lists and hooks in step.
    Enforce(EnforceArgs),
    /// Run the detector on live interfaces (SPAN/mirror ports) until SIGINT/SIGTERM.
    Live(LiveArgs),
}

#[derive(Debug, Args)]
pub struct LiveArgs {
    /// Interface to capture on (repeat for several mirror ports).
    #[arg(short, long = "interface", value_name = "IF", required = true)]
    pub interfaces: Vec<String>,

    /// BPF filter.
    #[arg(long, value_name = "EXPR", default_value = "tcp or (udp port 443)")]
    pub bpf: String,

    /// Bytes captured per packet.
    #[arg(long, value_name = "BYTES", default_value_t = 9216, value_parser = clap::value_parser!(u32).range(256..=262_144))]
    pub snaplen: u32,

    /// Kernel capture buffer per interface, MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=2048))]
    pub buffer_mb: u32,

    /// Hand each packet over as it arrives instead of in kernel blocks: up to
    /// --read-timeout-ms less delay, but a wake-up per packet (about 4x the
    /// CPU at 200,000 packets/s; docs/BENCHMARKS.md).
    #[arg(long, conflicts_with = "no_immediate")]
    pub immediate: bool,

    /// Kernel blocks, the default since session 10 (kept for scripts that
    /// asked for it).
    #[arg(long, hide = true)]
    pub no_immediate: bool,

    /// Read timeout, milliseconds: how often an idle reader wakes up, and
    /// (without --immediate) the longest a packet waits in the kernel.
    #[arg(long, value_name = "MS", default_value_t = 100, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub read_timeout_ms: i32,

    /// Do not put the interface in promiscuous mode (a host's own interface,
    /// not a mirror port).
    #[arg(long)]
    pub no_promisc: bool,

    #[command(flatten)]
    pub detector: DetectorArgs,

    /// Seconds between status lines on standard error (0: none).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub status_interval: u64,

    /// Serve Prometheus metrics on this address (/metrics).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9154")]
    pub metrics: String,

    /// Keep learning: merge what this run sees into the --model (older
    /// knowledge fading, learning.decay_s) and save it here at every
    /// checkpoint (learning.checkpoint_s) and at exit. Give the --model path
    /// to learn across restarts.
    #[arg(long, value_name = "FILE")]
    pub save_model: Option<PathBuf>,

    /// Once the capture is open, switch to this user (and its group) and give
    /// up root. Files written later (--save-model, the Kafka spool) must be
    /// writable by it.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

#[derive(Debug, Args)]
pub struct EnforceArgs {
    /// Kafka brokers, host:port,...
    #[arg(long, value_name = "HOST:PORT,...", required = true)]
    pub kafka_brokers: String,

    /// Topic of the decisions.
    #[arg(long, value_name = "TOPIC", default_value = "shakedown.decisions")]
    pub kafka_topic: String,

    /// Consumer group (offsets are committed after each applied batch).
    #[arg(long, value_name = "GROUP", default_value = "shakedown-enforce")]
    pub group: String,

    /// nftables named sets to keep in step: FAMILY/TABLE/SET4,SET6 (e.g. inet/filter/blocked4,blocked6).
    #[arg(long, value_name = "SPEC")]
    pub nft_set: Option<String>,

    /// ipset to keep in step: NAME (IPv4) and NAME6 (IPv6).
    #[arg(long, value_name = "NAME")]
    pub ipset: Option<String>,

    /// Serve plain-text lists over HTTP on this address (e.g. 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<String>,

    /// Keep at most this many entries per served list, the highest scores (0: all).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_entries: usize,

    /// Live blocks held at most, from all sensors; a stronger block makes the
    /// weakest leave, a weaker one is not taken.
    #[arg(long, value_name = "N", default_value_t = crate::enforce::active_set::DEFAULT_MAX_ACTIVE)]
    pub max_active: usize,

    /// Run this command per batch with the changes as JSON lines on stdin.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,

    /// Write nft/ipset batches to this directory instead of running them.
    #[arg(long, value_name = "DIR")]
    pub dry_run_dir: Option<std::path::PathBuf>,

    /// Milliseconds to gather changes into one batch.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub batch_ms: u64,

    /// Time for expiry: `wall` (now) or `capture` (the latest decision's time, for replays).
    #[arg(long, value_name = "CLOCK", default_value = "wall", value_parser = ["wall", "capture"])]
    pub clock: String,

    /// Exit once the topic has been read to its end (tests, one-shot syncs).
    #[arg(long)]
    pub once: bool,
}

/// What `replay` and `live` share: configuration, model, and where decisions go.
#[derive(Debug, Args)]
pub struct DetectorArgs {
    /// Configuration file (TOML); every option has a default (docs/tuning.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Learned model of the site (from `shakedown learn`).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,

    /// Write decisions (JSON lines) to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub decisions: Option<PathBuf>,

    /// Also write one record per TLS connection (fingerprints, sizes, timings; JSON lines) to this file.
    #[arg(long, value_name = "FILE")]
    pub flows: Option<PathBuf>,

    /// Publish decisions to these Kafka brokers (host:port,...) instead of stdout.
    #[arg(long, value_name = "HOST:PORT,...")]
    pub kafka_brokers: Option<String>,

    /// Kafka topic for decisions (default: shakedown.decisions, or the config's).
    #[arg(long, value_name = "TOPIC")]
    pub kafka_topic: Option<String>,

    /// Directory of the spool where undelivered decisions wait (default: ./shakedown-spool).
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,

    /// Decide and report, but label every decision monitor-only.
    #[arg(long)]
    pub monitor: bool,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// pcap or pcapng files, read in the order given as one capture.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    #[command(flatten)]
    pub detector: DetectorArgs,

    /// Worker threads (overrides the config; default cores - 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=256))]
    pub workers: Option<u64>,

    /// No summary on standard error.
    #[arg(short, long)]
    pub quiet: bool,

    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct LearnArgs {
    /// pcap or pcapng files of the site's traffic, read in the order given as one capture.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Where to write the model (JSON).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// Configuration file (TOML), as for `replay`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Worker threads (overrides the config).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=256))]
    pub workers: Option<u64>,

    /// No summary on standard error.
    #[arg(short, long)]
    pub quiet: bool,

    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct FingerprintArgs {
    /// pcap or pcapng files, read in the order given as one capture.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Write the JSON lines to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// No summary line on standard error.
    #[arg(short, long)]
    pub quiet: bool,

    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,

    /// Largest number of flows tracked at once (least recently seen are evicted).
    #[arg(long, default_value_t = 1_000_000, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_flows: u64,

    /// Seconds without a packet after which a TCP flow ends (capture time).
    #[arg(long, default_value_t = 120, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub tcp_idle_timeout: u64,
}
