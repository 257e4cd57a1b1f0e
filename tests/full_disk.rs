//! Decisions on a full disk: `replay` writing its decisions file, and its
//! Kafka spool (the broker unreachable), on a 64 KB tmpfs that the test's
//! 226 decisions (203 KB) overflow; and `fingerprint -o` there. Each decision that does not fit is lost
//! alone and counted; the file keeps whole JSON lines only; the run ends with
//! exit 1 and a line saying how many were lost. Before, the first failed
//! write left half a line and every later decision was dropped silently.
//! Needs root (to mount a tmpfs); without it the test says so and skips.

mod common;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of `size` (as mount takes it: 64k), unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(name: &str, size: &str) -> Option<SmallDisk> {
        let dir = common::scratch(name);
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The whole JSON lines of a file (after `skip` bytes of each, e.g. the
/// spool's key); panics on a line that does not parse.
fn json_lines(path: &Path, key_prefix: bool) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "ends with a whole line"
    );
    text.lines()
        .map(|l| {
            let json = if key_prefix {
                l.split_once('\t').unwrap().1
            } else {
                l
            };
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {l}"))
        })
        .collect()
}

#[test]
fn a_full_disk_loses_only_the_decisions_that_do_not_fit() {
    let capture = "pcaps/scenarios/test.pcap";
    let all = common::shakedown(&["replay", "-q", capture]);
    assert!(all.status.success());
    let all = common::json_lines(&all);
    assert!(all.len() > 100, "enough decisions to overflow 64 KB");

    let Some(disk) = SmallDisk::mount("full-disk", "64k") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    // A decisions file.
    let file = disk.0.join("decisions.jsonl");
    let out = common::shakedown(&[
        "replay",
        "-q",
        capture,
        "--decisions",
        file.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let written = json_lines(&file, false);
    let lost = all.len() - written.len();
    assert!(lost > 0 && !written.is_empty(), "{err}");
    assert!(
        err.contains(&format!(
            "{lost} of {} decisions could not be written",
            all.len()
        )),
        "{err}"
    );
    assert!(err.contains("No space left on device"), "{err}");
    // Those written are the first ones, in order.
    let id = |d: &Value| d["id"].as_str().unwrap().to_string();
    let ids: Vec<String> = written.iter().map(id).collect();
    let first: Vec<String> = all.iter().take(written.len()).map(id).collect();
    assert_eq!(ids, first);
    std::fs::remove_file(&file).unwrap();

    // The Kafka spool, the broker unreachable: decisions wait on disk.
    let spool = disk.0.join("spool");
    let out = common::shakedown(&[
        "replay",
        "-q",
        capture,
        "--kafka-brokers",
        "127.0.0.1:1",
        "--spool-dir",
        spool.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let spooled = json_lines(&spool.join("decisions.jsonl"), true);
    let lost = all.len() - spooled.len();
    assert!(lost > 0 && !spooled.is_empty(), "{err}");
    assert!(
        err.contains(&format!(
            "{lost} of {} decisions could not be written to the Kafka spool",
            all.len()
        )),
        "{err}"
    );
}

/// `fingerprint -o` on a full disk (512 KB for 1.4 MB of records, written
/// 64 KB at a time) stops with exit 1 and a line naming the file, which
/// holds whole records only (before, it ended with part of one).
#[test]
fn fingerprint_on_a_full_disk_keeps_whole_records() {
    let capture = "pcaps/scenarios/test.pcap";
    let Some(disk) = SmallDisk::mount("full-disk-fingerprint", "512k") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    let file = disk.0.join("records.jsonl");
    let out = common::shakedown(&["fingerprint", capture, "-o", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("cannot write output file {}", file.display()))
            && err.contains("No space left on device"),
        "{err}"
    );
    let records = json_lines(&file, false);
    assert!(!records.is_empty(), "the records before the disk filled");
    assert!(
        records.iter().all(|r| r["ja4"].is_string()),
        "whole records"
    );
}
