//! `shakedown` binary: parses the command line and maps results to exit codes.
//!
//! Exit codes: 0 success; 1 a fatal error (e.g. the output cannot be written);
//! 2 a command-line usage error; 3 some input could not be read (what could be
//! read was processed and its output is complete and valid).

use clap::Parser;
use shakedown::cli::{Cli, Command};
use shakedown::commands::fingerprint::{self, Outcome};
use shakedown::commands::{enforce, learn, live, replay};
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // No transparent huge pages: each first touch of fresh memory would zero
    // 2 MB, and memory moving between threads (replay) or flows filling the
    // table (floods) touch fresh memory all the time; measured cheaper with 4 KB
    // pages (docs/BENCHMARKS.md). The allocator is also built not to ask for them.
    let _ = nix::sys::prctl::set_thp_disable(true);
    let cli = Cli::parse();
    if let Err(e) = shakedown::logging::init(cli.log_level.as_deref()) {
        eprintln!("shakedown: error: {e:#}");
        return ExitCode::from(2);
    }
    let result = match &cli.command {
        Command::Fingerprint(args) => fingerprint::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Learn(args) => learn::run(args),
        Command::Enforce(args) => enforce::run(args),
        Command::Live(args) => live::run(args),
    };
    match result {
        Ok(Outcome::Complete) => ExitCode::SUCCESS,
        Ok(Outcome::InputErrors) => ExitCode::from(3),
        Err(e) => {
            eprintln!("shakedown: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
