//! The scoring side's memory per client and per population address, counted
//! by the allocator: docs/ARCHITECTURE.md's worst-case figures for the client
//! book and the fingerprint populations come from here, and these tests fail
//! if the books grow past them. Counting allocations is exact, so this checks
//! a bound, not a speed.

use shakedown::client_behaviour::{ClientBook, Context};
use shakedown::config::Config;
use shakedown::decisions::DecisionBook;
use shakedown::enforce::active_set::ActiveSet;
use shakedown::features::Exchange;
use shakedown::observations::{ConnEnd, ConnStart};
use shakedown::population::PopulationBook;
use shakedown::proposal::{Fingerprints, Proposal, Scope};
use shakedown::scoring::Reason;
use shakedown_capture::Timestamp;
use shakedown_fingerprints::reputation::ClientClass;
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// The system allocator, counting the bytes live now and the peak since reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(l.size(), Relaxed) + l.size();
        PEAK.fetch_max(live, Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The tests measure one at a time (the counts are process-wide).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Bytes allocated by `f` (live at the end, peak on the way). Live bytes
/// wrap below zero when `f` frees more than it allocates (add them up).
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let v = f();
    let live = LIVE.load(Relaxed).wrapping_sub(base);
    let peak = PEAK.load(Relaxed) - base;
    (v, live, peak)
}

const NS: i64 = 1_000_000_000;

fn ctx() -> Context {
    Context {
        cfg: Arc::new(Config::default()),
        model: None,
    }
}

fn stack(n: u32) -> Arc<Fingerprints> {
    let ja4: Arc<str> = format!("t13d1812h1_85036bcba153_{n:012x}").into();
    Arc::new(Fingerprints {
        ja4: Some(ja4.clone()),
        ja3: None,
        tcp_sig: Some("64240:2-4-8-1-3:1460:7:64".into()),
        ja4_tcp: Some(format!("{ja4}~64240:2-4-8-1-3:1460:7:64").into()),
        class: Some(ClientClass::Library.as_str()),
        stack: None,
    })
}

fn start(ip: IpAddr, t: i64, fp: &Arc<Fingerprints>) -> Arc<ConnStart> {
    Arc::new(ConnStart {
        id: 0,
        client: ip,
        hello_ts: Timestamp(t),
        observed_at: Timestamp(t),
        fingerprints: fp.clone(),
        class: Some(ClientClass::Library),
        sni_present: true,
        resumption: false,
    })
}

fn end(s: &Arc<ConnStart>, t: i64, small: bool) -> ConnEnd {
    ConnEnd {
        start: s.clone(),
        end_ts: Timestamp(t),
        observed_at: Timestamp(t),
        exchanges: 1,
        small_responses: small as u32,
        client_app_bytes: 300,
        server_app_bytes: if small { 60 } else { 6000 },
        failed: false,
    }
}

fn ipv4(i: u32) -> IpAddr {
    IpAddr::from((0x0a00_0000 + i).to_be_bytes())
}

/// Every client at its fullest: more fingerprints than it remembers (8), a
/// full ring of recent requests (32) and of recent ends (10), each in its own
/// /24. The count is one past a hash table growth (7/8 of 16,384 buckets),
/// where the tables are emptiest and so cost the most per client.
#[test]
fn a_client_costs_at_most_what_the_architecture_promises() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    const CLIENTS: u32 = 14_337;
    // Documented in docs/ARCHITECTURE.md (client book row).
    const PROMISED_PER_CLIENT: usize = 2_200;
    const PROMISED_PER_RETIRED: usize = 850;
    let c = ctx();
    let stacks: Vec<_> = (0..12).map(stack).collect();
    let (book, live, peak) = measure(|| {
        let mut book = ClientBook::new(1_000_000);
        let mut out = Vec::new();
        for i in 0..CLIENTS {
            // One /24 per client: a range each, the most ranges can cost.
            let ip = ipv4(i << 8);
            let t0 = i64::from(i) * 1_000;
            for (k, fp) in stacks.iter().enumerate() {
                let t = t0 + k as i64 * NS;
                let s = start(ip, t, fp);
                book.on_start(&s, &c, &mut out);
                let exchanges: Vec<Exchange> = (0..3)
                    .map(|j| Exchange {
                        request_ts: Timestamp(t + j * NS / 10),
                        request_bytes: 300,
                        response_bytes: 6000,
                        ttfb_ns: Some(NS / 100),
                    })
                    .collect();
                book.on_exchanges(&s, &exchanges, Timestamp(t + NS / 2), &c, &mut out);
                book.on_end(&end(&s, t + NS / 2, false), &c, &mut out);
            }
            out.clear();
        }
        book
    });
    assert_eq!(book.len(), CLIENTS as usize);
    let (per_client, peak) = (live / CLIENTS as usize, peak / CLIENTS as usize);
    eprintln!("client book: {per_client} B per client live, {peak} B at the peak");
    assert!(
        peak <= PROMISED_PER_CLIENT,
        "{peak} B per client at the peak, {PROMISED_PER_CLIENT} B promised"
    );
    // Two hours later one connection: every other client leaves, idle,
    // and its summary stays (~0.5 KB; the rest is room the emptied tables
    // keep for the next clients).
    let mut book = book;
    let (_, freed, _) = measure(|| {
        let s = start(ipv4(1 << 24), 2 * 3600 * NS + 100 * NS, &stacks[0]);
        book.on_start(&s, &c, &mut Vec::new());
    });
    assert_eq!((book.len(), book.retired()), (1, CLIENTS as usize));
    let left = live.wrapping_add(freed) / CLIENTS as usize;
    eprintln!("client book: {left} B per client that left");
    assert!(
        left <= PROMISED_PER_RETIRED,
        "{left} B per client that left"
    );
    drop(book);
}

/// Populations at the address budget: many stacks of many addresses (in the
/// window), and one under distributed attack whose addresses are also
/// proposed and flagged. Memory per remembered address (the budget's unit).
#[test]
fn a_population_address_costs_at_most_what_the_architecture_promises() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    const BUDGET: usize = 200_000;
    // Documented in docs/ARCHITECTURE.md (population rows).
    const PROMISED_PER_ADDRESS: usize = 175;
    let c = ctx();
    let stacks: Vec<_> = (0..200).map(stack).collect();
    let (book, live, peak) = measure(|| {
        let mut book = PopulationBook::new(100_000, 4096, BUDGET);
        let mut out = Vec::new();
        let mut t = 0;
        // An attack first (its addresses proposed and flagged), then normal
        // users of many stacks, more than the budget holds.
        for i in 0..3_000u32 {
            t += NS / 100;
            let s = start(ipv4(1 << 24 | i), t, &stacks[0]);
            book.on_start(&s, &c, &mut out);
            book.on_end(&end(&s, t + NS / 20, true), &c, &mut out);
        }
        assert!(
            out.len() > 2_000,
            "the attack was seen: {} proposals",
            out.len()
        );
        for (k, fp) in stacks.iter().enumerate().skip(1) {
            for i in 0..2_000u32 {
                t += NS / 10_000;
                let s = start(ipv4((k as u32) << 16 | i), t, fp);
                book.on_start(&s, &c, &mut out);
                book.on_end(&end(&s, t + NS / 20, false), &c, &mut out);
            }
        }
        book
    });
    assert!(book.shed > 0, "the budget was reached");
    let entries = book.entries();
    assert!(entries <= BUDGET && entries > BUDGET * 9 / 10);
    let (live, peak) = (live / entries, peak / entries);
    eprintln!("populations: {live} B per address live, {peak} B at the peak ({entries} addresses)");
    assert!(
        peak <= PROMISED_PER_ADDRESS,
        "{peak} B per address at the peak, {PROMISED_PER_ADDRESS} B promised"
    );
    drop(book);
}

/// The live decisions at their cap: every proposal a block of its own address
/// with the reasons a real one carries (the book keeps none of them). In
/// monitor mode, whose blocks had no cap before session 9.
#[test]
fn a_live_decision_costs_at_most_what_the_architecture_promises() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    const OFFERED: u32 = 120_000;
    // Documented in docs/ARCHITECTURE.md (live decisions row).
    const PROMISED_PER_DECISION: usize = 360;
    // Monitor mode: no brake, so every new address is a new live decision.
    let cfg = Config {
        monitor: true,
        ..Config::default()
    };
    let fp = stack(1);
    let (book, live, peak) = measure(|| {
        let mut book = DecisionBook::new(&cfg, cfg.allow_rules().unwrap());
        let mut decisions = Vec::new();
        for i in 0..OFFERED {
            let t = Timestamp(i64::from(i) * NS / 100);
            let reason = Reason::new(
                "request_rate",
                0.9,
                format!("{} requests per 60 s", 400 + i % 7),
            )
            .with("requests", 400.0);
            book.offer(
                Proposal {
                    decided_at: t,
                    scope: Scope::Ip,
                    value: ipv4(i).to_string(),
                    score: 0.9,
                    reasons: vec![reason],
                    first_seen: t,
                    fingerprints: fp.clone(),
                    origin: None,
                },
                &mut decisions,
            );
            decisions.clear();
        }
        book
    });
    let active = book.active_blocks();
    assert_eq!(active, cfg.decisions.max_active, "the cap holds");
    assert_eq!(book.stats.lifted_by_cap, u64::from(OFFERED) - active as u64);
    let (live, peak) = (live / active, peak / active);
    eprintln!("decision book: {live} B per live decision, {peak} B at the peak");
    assert!(
        peak <= PROMISED_PER_DECISION,
        "{peak} B per decision at the peak, {PROMISED_PER_DECISION} B promised"
    );
    drop(book);
}

/// `shakedown enforce`'s set of live blocks at its cap, fed decisions as
/// they come from Kafka.
#[test]
fn an_enforced_block_costs_at_most_what_the_architecture_promises() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    const CAP: usize = 100_000;
    // Documented in docs/ARCHITECTURE.md (enforce row).
    const PROMISED_PER_ENTRY: usize = 300;
    let decisions: Vec<serde_json::Value> = (0..CAP as u32 + 20_000)
        .map(|i| {
            serde_json::json!({
                "schema_version": 1, "action": "block", "scope": "ip",
                "value": ipv4(i).to_string(), "mode": "enforce", "score": 0.9,
                "id": format!("{:032x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15),
                "expires_at": "2030-01-01T00:00:00.000000Z",
            })
        })
        .collect();
    let (set, live, peak) = measure(|| {
        let mut set = ActiveSet::new(CAP);
        for d in &decisions {
            set.apply(d);
            set.take_lifted();
        }
        set
    });
    assert_eq!((set.len(), set.over_cap), (CAP, 20_000));
    let (live, peak) = (live / CAP, peak / CAP);
    eprintln!("enforce: {live} B per live block, {peak} B at the peak");
    assert!(
        peak <= PROMISED_PER_ENTRY,
        "{peak} B per block at the peak, {PROMISED_PER_ENTRY} B promised"
    );
    drop(set);
}
