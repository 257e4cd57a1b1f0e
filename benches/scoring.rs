//! Scoring per connection: a connection's start, one exchange and its end
//! through a worker's client book and population book (all detectors,
//! proposals included), for many clients sharing a few client stacks.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use shakedown::client_behaviour::{ClientBook, Context};
use shakedown::config::Config;
use shakedown::features::Exchange;
use shakedown::observations::{ConnEnd, ConnStart};
use shakedown::population::PopulationBook;
use shakedown::proposal::Fingerprints;
use shakedown_capture::Timestamp;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

const NS: i64 = 1_000_000_000;

fn connections(n: u32) -> Vec<(Arc<ConnStart>, Exchange, Arc<ConnEnd>)> {
    // As the pipeline hands them out: one shared set per stack.
    let stacks: Vec<Arc<Fingerprints>> = (0..8)
        .map(|i| {
            let ja4 = format!("t13d1516h2_8daaf6152771_e5627efa2a{i:02}");
            Arc::new(Fingerprints {
                ja4_tcp: Some(Arc::from(format!("{ja4}~64240_2-4-8-1-3_1460_7_64_df"))),
                ja4: Some(Arc::from(ja4)),
                ja3: Some(Arc::from("e7d705a3286e19ea42f587b344ee6865")),
                tcp_sig: Some(Arc::from("64240_2-4-8-1-3_1460_7_64_df")),
                class: None,
                stack: None,
            })
        })
        .collect();
    (0..n)
        .map(|i| {
            // 20,000 clients, each back every few seconds.
            let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i % 20_000)));
            let ts = Timestamp(1_700_000_000 * NS + i as i64 * NS / 1000);
            let fingerprints = stacks[(i % 8) as usize].clone();
            let start = Arc::new(ConnStart {
                id: i as u64,
                client,
                hello_ts: ts,
                observed_at: ts,
                fingerprints,
                class: None,
                sni_present: true,
                resumption: false,
            });
            let ex = Exchange {
                request_ts: Timestamp(ts.0 + NS / 100),
                request_bytes: 420,
                response_bytes: 310 + (i % 7) * 40,
                ttfb_ns: Some(NS / 50),
            };
            let end = Arc::new(ConnEnd {
                start: start.clone(),
                end_ts: Timestamp(ts.0 + NS / 10),
                observed_at: Timestamp(ts.0 + NS / 10),
                exchanges: 1,
                small_responses: 1,
                client_app_bytes: 420,
                server_app_bytes: ex.response_bytes as u64,
                failed: false,
            });
            (start, ex, end)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let conns = connections(100_000);
    let ctx = Context {
        cfg: Arc::new(Config::default()),
        model: None,
    };
    let mut g = c.benchmark_group("scoring");
    g.throughput(Throughput::Elements(conns.len() as u64));
    g.bench_function("start + exchange + end, per connection", |b| {
        b.iter(|| {
            let mut clients = ClientBook::new(1_000_000);
            let mut pops = PopulationBook::new(100_000, 4096, 2_000_000);
            let mut out = Vec::new();
            for (start, ex, end) in &conns {
                clients.on_start(start, &ctx, &mut out);
                pops.on_start(start, &ctx, &mut out);
                clients.on_exchanges(
                    start,
                    std::slice::from_ref(ex),
                    end.observed_at,
                    &ctx,
                    &mut out,
                );
                clients.on_end(end, &ctx, &mut out);
                pops.on_end(end, &ctx, &mut out);
                out.clear();
            }
            black_box(clients.summaries().len())
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
