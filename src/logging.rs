//! Operational log lines on standard error (tracing): what a long-running
//! sensor says about itself (start, status, reloads, warnings, stop). The
//! reports a command prints when it finishes (summaries, top fingerprints) are
//! its output, not log lines, and stay plain.
//!
//! The level comes from `--log-level` or, failing that, the `SHAKEDOWN_LOG`
//! environment variable (a tracing filter such as `debug` or
//! `warn,shakedown=info`); the default is `info`.

use std::io::IsTerminal;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::EnvFilter;

/// Installs the stderr logger; `level` overrides the environment.
pub fn init(level: Option<&str>) -> anyhow::Result<()> {
    let filter = match level {
        Some(l) => {
            // A bare word must be a level: "nonsense" would otherwise be read
            // as a module name and silently log nothing.
            if !l.contains('=') && l.parse::<LevelFilter>().is_err() {
                anyhow::bail!(
                    "--log-level {l:?}: not a level (error, warn, info, debug, trace, off)"
                );
            }
            EnvFilter::try_new(l).map_err(|e| anyhow::anyhow!("--log-level {l:?}: {e}"))?
        }
        None => EnvFilter::try_from_env("SHAKEDOWN_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}
