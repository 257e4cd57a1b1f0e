//! Reading capture files for every command: opens each file in turn (as one
//! capture), decodes each frame, counts what was skipped and why, shows a
//! progress bar on a terminal, and reports unreadable files without stopping.

use crate::run_summary::RunSummary;
use indicatif::{ProgressBar, ProgressStyle};
use shakedown_capture::decode::{linktype_name, SUPPORTED_LINKTYPES};
use shakedown_capture::{decode, FileSource, Packet, Timestamp};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Inputs at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 64 * 1024 * 1024;

/// Calls `f` for every decodable packet of `files`; `f` returns false to stop.
/// Counters go to `summary`.
pub fn for_each_packet(
    files: &[PathBuf],
    show_progress: bool,
    summary: &mut RunSummary,
    mut f: impl FnMut(Timestamp, &Packet<'_>) -> bool,
) {
    let total_bytes: u64 = files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let progress =
        if show_progress && std::io::stderr().is_terminal() && total_bytes >= PROGRESS_MIN_BYTES {
            let bar = ProgressBar::new(total_bytes);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {bytes}/{total_bytes} {wide_bar} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
    let mut done_bytes = 0u64;
    'files: for path in files {
        summary.files += 1;
        let mut source = match FileSource::open(path) {
            Ok(s) => s,
            Err(e) => {
                progress.suspend(|| eprintln!("shakedown: {e}"));
                summary.files_failed += 1;
                continue;
            }
        };
        // A pcapng file with interfaces of several types has no single one:
        // each packet carries its own (unsupported ones are counted as skipped).
        if let Some(linktype) = source.linktype().filter(|&l| linktype_name(l).is_none()) {
            progress.suspend(|| {
                eprintln!(
                    "shakedown: {}: link type {linktype} is not one shakedown reads ({SUPPORTED_LINKTYPES})",
                    path.display()
                )
            });
            summary.files_failed += 1;
            continue;
        }
        let mut file_bytes = 24u64;
        // Packets the capture's snaplen cut short: their handshakes may be lost.
        let mut cut = 0u64;
        loop {
            match source.next_packet() {
                Ok(Some(p)) => {
                    if p.data.len() < p.wire_len as usize {
                        cut += 1;
                    }
                    summary.packets += 1;
                    summary.bytes += p.data.len() as u64;
                    file_bytes += p.data.len() as u64 + 16;
                    if summary.packets % 8192 == 0 {
                        progress.set_position(done_bytes + file_bytes);
                    }
                    match decode(p.linktype, p.data) {
                        Ok(pkt) => {
                            if !f(p.ts, &pkt) {
                                break 'files;
                            }
                        }
                        Err(skip) => summary.skip(skip),
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    progress.suspend(|| eprintln!("shakedown: {e}"));
                    summary.files_failed += 1;
                    break;
                }
            }
        }
        if cut > 0 {
            progress.suspend(|| {
                eprintln!(
                    "shakedown: {}: {cut} packet(s) cut short by the capture's snaplen; TLS handshakes in them cannot be read whole (capture with `tcpdump -s 0`)",
                    path.display()
                )
            });
        }
        done_bytes += source.file_len();
    }
    progress.finish_and_clear();
}
