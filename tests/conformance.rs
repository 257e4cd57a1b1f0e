//! Conformance with established JA3/JA4 implementations.
//!
//! Runs `shakedown fingerprint` over every capture of the shared reference corpus
//! (`../shared/corpus`, beside the repository; skipped with a message when it is
//! absent), matches connections on (transport, src_ip, src_port, dst_ip,
//! dst_port) and compares every non-null reference field. For a field the
//! references disagree on, any reference value is accepted. A mismatch fails the
//! test unless `tests/conformance-allowlist.txt` lists it with its reason.
//!
//! DTLS is reported as unsupported (counted, not compared).

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

const FIELDS: &[&str] = &[
    "sni",
    "ja3",
    "ja3_full",
    "ja3s",
    "ja3s_full",
    "ja4",
    "ja4_r",
    "ja4_o",
    "ja4_ro",
    #[cfg(feature = "ja4plus")]
    "ja4s",
    #[cfg(feature = "ja4plus")]
    "ja4s_r",
    #[cfg(feature = "ja4plus")]
    "ja4t",
    #[cfg(feature = "ja4plus")]
    "ja4ts",
];

fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    dir.join("expected").is_dir().then_some(dir)
}

fn conn_key(v: &Value) -> String {
    format!(
        "{} {}:{} -> {}:{}",
        v["transport"].as_str().unwrap_or("?"),
        v["src_ip"].as_str().unwrap_or("?"),
        v["src_port"],
        v["dst_ip"].as_str().unwrap_or("?"),
        v["dst_port"]
    )
}

/// Allow-list entries: (capture, src_ip:src_port, field) -> reason.
fn allowlist() -> HashMap<(String, String, String), String> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance-allowlist.txt"),
    )
    .expect("tests/conformance-allowlist.txt");
    let mut out = HashMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(4, char::is_whitespace);
        let (Some(file), Some(client), Some(field), Some(reason)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            panic!("bad allow-list line (want: capture client field reason): {line}");
        };
        assert!(
            reason.trim().len() > 10,
            "allow-list entry needs a real reason: {line}"
        );
        out.insert(
            (file.into(), client.into(), field.into()),
            reason.trim().into(),
        );
    }
    out
}

fn run_shakedown(pcap: &Path) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(["fingerprint", "--quiet"])
        .arg(pcap)
        .output()
        .expect("run shakedown");
    assert!(
        out.status.success(),
        "shakedown failed on {}: {}",
        pcap.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 output")
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: bad JSON line {l}: {e}", pcap.display()))
        })
        .collect()
}

#[test]
fn corpus_conformance() {
    let Some(corpus) = corpus_dir() else {
        eprintln!("SKIPPED: ../shared/corpus not present; conformance not checked");
        return;
    };
    let allow = allowlist();
    let mut used_allow = std::collections::HashSet::new();
    let mut per_field: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut connections = (0u64, 0u64);
    let mut dtls = 0u64;
    let mut captures = 0;
    let mut expected_files: Vec<PathBuf> = walk(&corpus.join("expected"));
    expected_files.sort();
    for exp_path in expected_files {
        let rel = exp_path
            .strip_prefix(corpus.join("expected"))
            .unwrap()
            .to_string_lossy()
            .to_string();
        let Some(capture) = rel.strip_suffix(".json") else {
            continue;
        };
        if capture.starts_with('_') {
            continue;
        }
        let pcap = corpus.join("pcaps").join(capture);
        let expected: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&exp_path).unwrap()).unwrap();
        captures += 1;
        let ours: HashMap<String, Value> = run_shakedown(&pcap)
            .into_iter()
            .map(|v| (conn_key(&v), v))
            .collect();
        for exp in &expected {
            if exp["transport"] == "dtls" {
                dtls += 1;
                continue;
            }
            connections.0 += 1;
            let key = conn_key(exp);
            let client = format!(
                "{}:{}",
                exp["src_ip"].as_str().unwrap_or("?"),
                exp["src_port"]
            );
            let mine = ours.get(&key);
            if mine.is_some() {
                connections.1 += 1;
            }
            let disagree: Vec<&str> = exp["disagree"]
                .as_array()
                .map_or(vec![], |a| a.iter().filter_map(Value::as_str).collect());
            for &field in FIELDS {
                let want = &exp[field];
                if want.is_null() {
                    continue;
                }
                let got = mine.map_or(&Value::Null, |m| &m[field]);
                let ok = if disagree.contains(&field) {
                    exp["refs"][field]
                        .as_object()
                        .is_some_and(|refs| refs.values().any(|v| v == got))
                } else {
                    got == want
                };
                let entry = per_field.entry(field).or_default();
                entry.0 += 1;
                if ok {
                    entry.1 += 1;
                    continue;
                }
                let akey = (capture.to_string(), client.clone(), field.to_string());
                if allow.contains_key(&akey) {
                    used_allow.insert(akey);
                    continue;
                }
                failures.push(format!("{capture} [{key}] {field}: want {want} got {got}"));
            }
        }
    }
    eprintln!("conformance over {captures} captures: {}/{} TCP+QUIC connections found, {dtls} DTLS connections not supported", connections.1, connections.0);
    eprintln!(
        "{:<10} {:>7} {:>7} {:>8}",
        "field", "agree", "total", "percent"
    );
    for (field, (total, agree)) in &per_field {
        eprintln!(
            "{field:<10} {agree:>7} {total:>7} {:>7.2}%",
            100.0 * *agree as f64 / (*total).max(1) as f64
        );
    }
    let stale: Vec<_> = allow
        .keys()
        .filter(|k| FIELDS.contains(&k.2.as_str()) && !used_allow.contains(*k))
        .collect();
    assert!(
        stale.is_empty(),
        "allow-list entries that no longer match a mismatch (remove them): {stale:?}"
    );
    assert!(
        captures >= 100,
        "expected the whole corpus, found {captures} captures"
    );
    assert!(
        failures.is_empty(),
        "{} mismatches not in tests/conformance-allowlist.txt:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    out
}
