//! Comparison of `shakedown fingerprint` output with reference expectations in
//! the corpus schema (`expected/<capture>.json`: a list of connections with
//! chosen values, a `disagree` list and per-source `refs`).

use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const FIELDS: &[&str] = &[
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

/// (capture, client ip:port, field) -> reason.
pub type AllowList = HashMap<(String, String, String), String>;

pub fn conn_key(v: &Value) -> String {
    format!(
        "{} {}:{} -> {}:{}",
        v["transport"].as_str().unwrap_or("?"),
        v["src_ip"].as_str().unwrap_or("?"),
        v["src_port"],
        v["dst_ip"].as_str().unwrap_or("?"),
        v["dst_port"]
    )
}

/// Reads an allow-list file: `capture client_ip:port field reason...` per line.
pub fn allowlist(path: &Path) -> AllowList {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
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

pub fn run_shakedown(pcap: &Path) -> Vec<Value> {
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

/// Outcome of comparing a set of captures with their expectations.
#[derive(Default)]
pub struct Report {
    pub captures: usize,
    pub connections: u64,
    pub found: u64,
    pub dtls: u64,
    /// field -> (compared, agreed)
    pub per_field: BTreeMap<&'static str, (u64, u64)>,
    pub failures: Vec<String>,
    pub stale_allow: Vec<(String, String, String)>,
}

impl Report {
    pub fn print(&self, what: &str) {
        eprintln!(
            "{what}: {} captures, {}/{} TCP+QUIC connections found, {} DTLS connections not supported",
            self.captures, self.found, self.connections, self.dtls
        );
        eprintln!(
            "{:<10} {:>7} {:>7} {:>8}",
            "field", "agree", "total", "percent"
        );
        for (field, (total, agree)) in &self.per_field {
            eprintln!(
                "{field:<10} {agree:>7} {total:>7} {:>7.2}%",
                100.0 * *agree as f64 / (*total).max(1) as f64
            );
        }
    }

    pub fn assert_clean(&self, allow_file: &str) {
        assert!(
            self.stale_allow.is_empty(),
            "{allow_file}: entries that no longer match a mismatch (remove them): {:?}",
            self.stale_allow
        );
        assert!(
            self.failures.is_empty(),
            "{} mismatches not in {allow_file}:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

/// Compares every `<expected_dir>/<capture>.json` with shakedown's output on
/// `<pcaps_dir>/<capture>`.
pub fn compare(expected_dir: &Path, pcaps_dir: &Path, allow: &AllowList) -> Report {
    let mut report = Report::default();
    let mut used_allow = HashSet::new();
    let mut files = walk(expected_dir);
    files.sort();
    for exp_path in files {
        let rel = exp_path
            .strip_prefix(expected_dir)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let Some(capture) = rel.strip_suffix(".json") else {
            continue;
        };
        if capture.starts_with('_') || capture.contains("/_") {
            continue;
        }
        let expected: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&exp_path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", exp_path.display()));
        report.captures += 1;
        let ours: HashMap<String, Value> = run_shakedown(&pcaps_dir.join(capture))
            .into_iter()
            .map(|v| (conn_key(&v), v))
            .collect();
        for exp in &expected {
            if exp["transport"] == "dtls" {
                report.dtls += 1;
                continue;
            }
            report.connections += 1;
            let key = conn_key(exp);
            let client = format!(
                "{}:{}",
                exp["src_ip"].as_str().unwrap_or("?"),
                exp["src_port"]
            );
            let mine = ours.get(&key);
            report.found += mine.is_some() as u64;
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
                let entry = report.per_field.entry(field).or_default();
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
                report
                    .failures
                    .push(format!("{capture} [{key}] {field}: want {want} got {got}"));
            }
        }
    }
    report.stale_allow = allow
        .keys()
        .filter(|k| FIELDS.contains(&k.2.as_str()) && !used_allow.contains(*k))
        .cloned()
        .collect();
    report
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
    {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    out
}
