//! `shakedown enforce`'s active set at one sensor's cap (100,000 live blocks,
//! `decisions.max_active`) and at its own (1,000,000, `--max-active`): a
//! batch's expiry with nothing due, and what `--serve` rebuilds after a batch
//! (the lists, whole or cut to the 10,000 strongest by `--max-entries`, and
//! `/active.json`).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::json;
use shakedown::enforce::active_set::{unix_seconds, ActiveSet};
use shakedown::enforce::edl_server::Lists;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A set of `n` blocks: 80 % IPv4 addresses, 10 % IPv6, 5 % ranges, 5 % JA4,
/// scores and expiries spread over the hour.
fn full_set(n: usize) -> ActiveSet {
    let mut set = ActiveSet::new(n);
    for i in 0..n {
        let (scope, value) = match i % 20 {
            0..=15 => ("ip", Ipv4Addr::from(0x0a00_0000 + i as u32).to_string()),
            16 | 17 => (
                "ip",
                Ipv6Addr::from(0x2001_0db8_u128 << 96 | i as u128).to_string(),
            ),
            18 => (
                "ip_range",
                format!("{}/24", Ipv4Addr::from((i as u32) << 8)),
            ),
            _ => ("ja4", format!("t13d1516h2_8daaf6152771_{i:012x}")),
        };
        let d = json!({"schema_version": 1, "id": format!("d{i}"), "action": "block",
            "scope": scope, "value": value, "mode": "enforce",
            "score": 0.5 + (i * 7919 % 5000) as f64 / 10_000.0,
            "expires_at": format!("2026-01-01T00:{:02}:{:02}Z", i * 31 / 60 % 60, i * 31 % 60)});
        set.apply(&d);
    }
    assert_eq!(set.len(), n);
    set
}

fn bench(c: &mut Criterion) {
    let before_any = unix_seconds("2025-12-31T23:00:00Z").unwrap();
    for n in [100_000, 1_000_000] {
        let mut set = full_set(n);
        let mut g = c.benchmark_group(format!("active set of {n}"));
        g.bench_function("expire, nothing due", |b| {
            b.iter(|| black_box(set.expire(before_any).len()))
        });
        g.bench_function("rebuild: lists whole and active.json", |b| {
            b.iter(|| {
                let l = Lists::render(&set, 0);
                black_box(l.ipv4.len() + l.ipv6.len() + l.ja4.len())
            })
        });
        g.bench_function(
            "rebuild: lists cut to the 10,000 strongest and active.json",
            |b| b.iter(|| black_box(Lists::render(&set, 10_000).ipv4.len())),
        );
        g.bench_function("active.json alone", |b| {
            b.iter(|| black_box(set.snapshot_json().len()))
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
