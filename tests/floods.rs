//! The adversarial replays of issue #6 at a small scale (scripts/make-floods.py
//! writes them; scripts/bench-floods.sh runs them at full scale for speed and
//! memory): a SYN flood, half-open connections that send one byte of a
//! ClientHello, ClientHellos in 1-byte segments in reverse order, overlapping
//! retransmissions with conflicting bytes, a 16 MB handshake length claim.
//!
//! Each runs through `fingerprint` and `replay` with a flow table far smaller
//! than the flood. Both must succeed without a panic; every legitimate
//! connection interleaved in the flood, and every attack connection that
//! carries a real hello, must come out once with exactly the reference values
//! of its original capture (pcaps/expected/); and the summary must show the
//! bound the flood ran into. A legitimate connection has a packet every 1,000
//! flood flows (or packets), half the table: least-recently-seen eviction keeps
//! it, the earlier FIFO with a second chance lost 95 of the 100 in half-open.

mod common;
use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MAX_FLOWS: usize = 2000;
const SYNS: usize = 20_000;
const HALF_OPEN: usize = 20_000;
const HUGE: usize = 40;

/// Writes one flood into its own scratch directory (each test has its own, so
/// that tests can run in parallel processes, as under nextest); None without
/// python3.
fn generate(kind: &str) -> Option<PathBuf> {
    if !have("python3") {
        return None;
    }
    let dir = scratch(&format!("floods-{kind}"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-floods.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&dir)
        .args(["--kinds", kind])
        .args([
            "--syn",
            &SYNS.to_string(),
            "--half-open",
            &HALF_OPEN.to_string(),
        ])
        .args([
            "--reverse",
            "40",
            "--overlap",
            "400",
            "--huge",
            &HUGE.to_string(),
        ])
        .args(["--legit", "100", "--gap", "1000"])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "make-floods.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(dir)
}

/// A connection whose fingerprints are known, from KIND.expected.jsonl.
struct Expected {
    role: String,
    client: (String, u64),
    template: String,
}

fn expected(dir: &Path, kind: &str) -> Vec<Expected> {
    let text = std::fs::read_to_string(dir.join(format!("{kind}.expected.jsonl"))).unwrap();
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Expected {
                role: v["role"].as_str().unwrap().into(),
                client: (
                    v["src_ip"].as_str().unwrap().into(),
                    v["src_port"].as_u64().unwrap(),
                ),
                template: v["template"].as_str().unwrap().into(),
            }
        })
        .collect()
}

fn templates(dir: &Path) -> HashMap<String, Value> {
    let text = std::fs::read_to_string(dir.join("templates.json")).unwrap();
    serde_json::from_str::<HashMap<String, Value>>(&text).unwrap()
}

/// The counters of the summary line (`shakedown: ... name=value ...`).
fn counters(out: &Output) -> HashMap<String, u64> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("shakedown: "))
        .unwrap_or_else(|| panic!("no summary line in: {stderr}"));
    line.split([' ', ',', '(', ')'])
        .filter_map(|t| t.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

fn check_run(kind: &str, what: &str, out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} {kind} failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{what} {kind}: {stderr}");
}

/// JA4T from a `tcp_sig` (window:options:mss:scale:ttl:df).
fn ja4t(sig: &Value) -> Value {
    match sig.as_str() {
        Some(s) => Value::from(s.split(':').take(4).collect::<Vec<_>>().join("_")),
        None => Value::Null,
    }
}

/// Compares one output record with the reference values of its template;
/// `fields` are the record's own fields checked (besides JA4T/JA4TS).
fn compare(rec: &Value, want: &Value, fields: &[&str], ja4ts: bool) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut check = |name: &str, got: &Value| {
        if got != &want[name] {
            wrong.push(format!("{name}: got {got}, want {}", want[name]));
        }
    };
    for f in fields {
        check(f, &rec[*f]);
    }
    check("ja4t", &ja4t(&rec["tcp_sig"]));
    if ja4ts {
        check("ja4ts", &ja4t(&rec["tcp_sig_server"]));
    }
    wrong
}

/// Every expected connection appears exactly once with its reference values.
fn check_connections(
    kind: &str,
    what: &str,
    records: &[Value],
    expected: &[Expected],
    templates: &HashMap<String, Value>,
    fields: &[&str],
    ja4ts: bool,
) {
    let mut by_client: HashMap<(String, u64), Vec<&Value>> = HashMap::new();
    for r in records {
        let key = (
            r["src_ip"].as_str().unwrap_or_default().to_string(),
            r["src_port"].as_u64().unwrap_or_default(),
        );
        by_client.entry(key).or_default().push(r);
    }
    let mut failures = Vec::new();
    for e in expected {
        let want = &templates[&e.template];
        match by_client.get(&e.client).map(Vec::as_slice) {
            Some([rec]) => {
                let wrong = compare(rec, want, fields, ja4ts);
                if !wrong.is_empty() {
                    failures.push(format!(
                        "{} {}:{} ({}): {}",
                        e.role,
                        e.client.0,
                        e.client.1,
                        e.template,
                        wrong.join("; ")
                    ));
                }
            }
            found => failures.push(format!(
                "{} {}:{} ({}): {} records",
                e.role,
                e.client.0,
                e.client.1,
                e.template,
                found.map_or(0, <[_]>::len)
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{what} {kind}: {} of {} connections wrong:\n{}",
        failures.len(),
        expected.len(),
        failures[..failures.len().min(20)].join("\n")
    );
}

/// Runs `fingerprint` and `replay` on one flood; returns their summary counters.
fn run_kind(kind: &str) -> Option<[HashMap<String, u64>; 2]> {
    let Some(dir) = generate(kind) else {
        eprintln!("SKIPPED: python3 is missing (scripts/make-floods.py writes the floods)");
        return None;
    };
    let dir = dir.as_path();
    let pcap = dir.join(format!("{kind}.pcap"));
    let pcap = pcap.to_str().unwrap();
    let expected = expected(dir, kind);
    let templates = templates(dir);
    assert!(
        expected.iter().any(|e| e.role == "legit"),
        "{kind}: no legitimate connection"
    );

    let max_flows = MAX_FLOWS.to_string();
    let fp = shakedown(&[
        "fingerprint",
        "--no-progress",
        "--max-flows",
        &max_flows,
        pcap,
    ]);
    check_run(kind, "fingerprint", &fp);
    // Every field the reference values have (JA4S/JA4T/JA4TS with ja4plus).
    let fields = common::reference::FIELDS;
    check_connections(
        kind,
        "fingerprint",
        &json_lines(&fp),
        &expected,
        &templates,
        fields,
        true,
    );

    let work = dir.join(format!("replay-{kind}"));
    std::fs::create_dir_all(&work).unwrap();
    let config = work.join("small.toml");
    std::fs::write(
        &config,
        format!("[limits]\nmax_flows = {MAX_FLOWS}\nmax_clients = 1000\nmax_fingerprints = 100\n"),
    )
    .unwrap();
    let flows = work.join("flows.jsonl");
    let rp = shakedown(&[
        "replay",
        "--no-progress",
        "--workers",
        "2",
        "--config",
        config.to_str().unwrap(),
        "--decisions",
        work.join("decisions.jsonl").to_str().unwrap(),
        "--flows",
        flows.to_str().unwrap(),
        pcap,
    ]);
    check_run(kind, "replay", &rp);
    let records: Vec<Value> = std::fs::read_to_string(&flows)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    check_connections(
        kind,
        "replay --flows",
        &records,
        &expected,
        &templates,
        &["sni", "ja3", "ja4"],
        false,
    );
    Some([counters(&fp), counters(&rp)])
}

fn get(c: &HashMap<String, u64>, name: &str) -> u64 {
    c.get(name).copied().unwrap_or(0)
}

#[test]
fn syn_flood() {
    let Some(runs) = run_kind("syn-flood") else {
        return;
    };
    for c in runs {
        // Every SYN makes a flow; all but the table's worth are evicted.
        assert!(
            get(&c, "flows_evicted") >= (SYNS - MAX_FLOWS) as u64,
            "{c:?}"
        );
    }
}

#[test]
fn half_open() {
    let Some(runs) = run_kind("half-open") else {
        return;
    };
    for c in runs {
        assert!(
            get(&c, "flows_evicted") >= (HALF_OPEN - MAX_FLOWS) as u64,
            "{c:?}"
        );
    }
}

#[test]
fn one_byte_segments_in_reverse() {
    let Some(runs) = run_kind("one-byte-reverse") else {
        return;
    };
    for c in runs {
        // Every hello fits the out-of-order buffer: nothing given up.
        assert_eq!(get(&c, "reassembly_gaps"), 0, "{c:?}");
        assert_eq!(get(&c, "segments_dropped"), 0, "{c:?}");
    }
}

#[test]
fn conflicting_overlaps() {
    let Some(runs) = run_kind("conflicting-overlap") else {
        return;
    };
    for c in runs {
        assert_eq!(get(&c, "hello_parse_errors"), 0, "{c:?}");
        assert_eq!(get(&c, "reassembly_gaps"), 0, "{c:?}");
    }
}

#[test]
fn huge_handshake_length() {
    let Some(runs) = run_kind("huge-length") else {
        return;
    };
    for c in runs {
        // Each attack connection claims 16 MB: collection stops, once each.
        assert_eq!(get(&c, "handshakes_too_large"), HUGE as u64, "{c:?}");
    }
}
