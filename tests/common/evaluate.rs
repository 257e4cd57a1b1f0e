//! Scores shakedown's decisions on a labelled scenario (pcaps/scenarios/):
//! which labelled addresses were blocked (by address, or by a fingerprint-scope
//! decision matching a fingerprint they used, unless allowlisted), when, and
//! after how many exchanges.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Seconds since the epoch of an RFC 3339 UTC time as shakedown writes them.
pub fn parse_ts(s: &str) -> f64 {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> i64 {
        s[r].parse().unwrap_or_else(|_| panic!("bad time {s}"))
    };
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let (hh, mm, ss) = (num(11..13), num(14..16), num(17..19));
    let frac = if b.get(19) == Some(&b'.') {
        let end = s[20..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(s.len(), |i| i + 20);
        format!("0.{}", &s[20..end]).parse::<f64>().unwrap()
    } else {
        0.0
    };
    // days from civil (Howard Hinnant)
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + hh * 3600 + mm * 60 + ss) as f64 + frac
}

#[derive(Debug, Default, Clone)]
pub struct KindStats {
    pub class: String,
    pub addresses: usize,
    pub blocked: usize,
    pub at_first_hello: usize,
    pub seconds_to_block: Vec<f64>,
    pub exchanges_before_block: Vec<u64>,
}

#[derive(Debug, Default)]
pub struct Evaluation {
    pub kinds: BTreeMap<String, KindStats>,
    /// Blocked addresses of each class.
    pub blocked_by_class: BTreeMap<String, (usize, usize)>,
}

#[derive(Default)]
struct Seen {
    populations: HashSet<String>,
    ja4s: HashSet<String>,
    first_hello: f64,
    conns: Vec<(f64, u64)>,
}

pub fn evaluate(
    labels: &Value,
    flows: &[Value],
    decisions: &[Value],
    allowlisted: &HashSet<String>,
) -> Evaluation {
    let mut seen: HashMap<String, Seen> = HashMap::new();
    for f in flows {
        let ip = f["src_ip"].as_str().unwrap().to_string();
        let s = seen.entry(ip).or_insert_with(|| Seen {
            first_hello: f64::MAX,
            ..Seen::default()
        });
        let t = parse_ts(f["hello_ts"].as_str().unwrap());
        s.first_hello = s.first_hello.min(t);
        s.conns.push((t, f["exchanges"].as_u64().unwrap_or(0)));
        if let Some(p) = f["ja4_tcp"].as_str() {
            s.populations.insert(p.to_string());
        }
        if let Some(j) = f["ja4"].as_str() {
            s.ja4s.insert(j.to_string());
        }
    }
    let mut ip_blocks: HashMap<String, f64> = HashMap::new();
    let mut fp_blocks: HashMap<String, f64> = HashMap::new();
    for d in decisions {
        if d["action"] != "block" || d["mode"] != "enforce" {
            continue;
        }
        let t = parse_ts(d["decided_at"].as_str().unwrap());
        let v = d["value"].as_str().unwrap().to_string();
        let map = if d["scope"] == "ip" {
            &mut ip_blocks
        } else {
            &mut fp_blocks
        };
        let e = map.entry(v).or_insert(t);
        *e = e.min(t);
    }
    let mut ev = Evaluation::default();
    let clients = labels["clients"].as_object().expect("labels: clients");
    for (ip, c) in clients {
        let class = c["class"].as_str().unwrap_or("?").to_string();
        let kind = c["kind"].as_str().unwrap_or("?").to_string();
        let k = ev.kinds.entry(kind).or_default();
        k.class = class.clone();
        k.addresses += 1;
        let by_class = ev.blocked_by_class.entry(class).or_default();
        by_class.1 += 1;
        let Some(s) = seen.get(ip) else { continue };
        let mut blocked_at = ip_blocks.get(ip).copied();
        if !allowlisted.contains(ip) {
            for fp in s.populations.iter().chain(s.ja4s.iter()) {
                if let Some(&t) = fp_blocks.get(fp) {
                    blocked_at = Some(blocked_at.map_or(t, |b: f64| b.min(t)));
                }
            }
        }
        let Some(at) = blocked_at else { continue };
        k.blocked += 1;
        by_class.0 += 1;
        if (at - s.first_hello).abs() < 1e-6 {
            k.at_first_hello += 1;
        }
        k.seconds_to_block.push((at - s.first_hello).max(0.0));
        k.exchanges_before_block.push(
            s.conns
                .iter()
                .filter(|(t, _)| *t < at)
                .map(|(_, e)| *e)
                .sum(),
        );
    }
    ev
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

impl Evaluation {
    pub fn table(&self) -> String {
        let mut s = String::from(
            "| class | kind | addresses | blocked | recall | at first ClientHello | median s to block | max exchanges before block |\n|---|---|---|---|---|---|---|---|\n",
        );
        for (kind, k) in &self.kinds {
            let recall = k.blocked as f64 / k.addresses.max(1) as f64;
            let max_ex = k
                .exchanges_before_block
                .iter()
                .max()
                .map_or("-".into(), |m| m.to_string());
            s += &format!(
                "| {} | {kind} | {} | {} | {:.1} % | {} | {:.2} | {max_ex} |\n",
                k.class,
                k.addresses,
                k.blocked,
                recall * 100.0,
                k.at_first_hello,
                median(&k.seconds_to_block)
            );
        }
        for (class, (b, n)) in &self.blocked_by_class {
            s += &format!("{class}: {b} of {n} addresses blocked\n");
        }
        s
    }

    pub fn class(&self, class: &str) -> (usize, usize) {
        self.blocked_by_class.get(class).copied().unwrap_or((0, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_ts("1970-01-01T00:00:01.500000Z"), 1.5);
        assert_eq!(parse_ts("2026-11-21T09:28:31.500000Z"), 1_795_253_311.5);
    }
}
