//! Decisions through a real Kafka-protocol broker (tansu, started by `make test`
//! through scripts/test-broker.sh; its address in SHAKEDOWN_TEST_KAFKA).
//!
//! * every decision of a replay arrives exactly once (by id), with its key
//!   (`scope:value`) and headers (`schema_version`, `sensor`);
//! * with an unreachable broker, a replay keeps every decision in the spool,
//!   says so, and the next start delivers them.

mod common;
use common::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn broker() -> Option<String> {
    match std::env::var("SHAKEDOWN_TEST_KAFKA") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the Kafka tests: use `make test` (it starts the test broker)"
            );
            eprintln!(
                "SKIPPED: SHAKEDOWN_TEST_KAFKA not set (make test starts a broker and sets it)"
            );
            None
        }
    }
}

fn smoke() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps/scenarios/smoke.pcap")
}

/// Decisions of a replay to a file: the reference.
fn reference_ids(dir: &Path) -> BTreeSet<String> {
    let d = dir.join("reference.jsonl");
    let out = shakedown(&[
        "replay",
        "-q",
        "--decisions",
        d.to_str().unwrap(),
        smoke().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&d)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Reads the topic from the beginning until `want` distinct ids (or 60 s).
fn consume(
    broker: &str,
    topic: &str,
    want: usize,
) -> Vec<(String, Value, BTreeMap<String, String>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", format!("test-{}-{}", topic, std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut got = Vec::new();
    let mut ids = BTreeSet::new();
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until && ids.len() < want {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                let key = String::from_utf8(m.key().unwrap_or_default().to_vec()).unwrap();
                let value: Value = serde_json::from_slice(m.payload().unwrap_or_default()).unwrap();
                let mut headers = BTreeMap::new();
                if let Some(h) = m.headers() {
                    for i in 0..h.count() {
                        let hd = h.get(i);
                        headers.insert(
                            hd.key.to_string(),
                            String::from_utf8_lossy(hd.value.unwrap_or_default()).into_owned(),
                        );
                    }
                }
                ids.insert(value["id"].as_str().unwrap().to_string());
                got.push((key, value, headers));
            }
            Some(Err(e)) => eprintln!("consumer: {e}"),
            None => {}
        }
    }
    // A little longer, to catch duplicates arriving late.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let value: Value = serde_json::from_slice(m.payload().unwrap_or_default()).unwrap();
            got.push((String::new(), value, BTreeMap::new()));
        }
    }
    got
}

fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("kafka.toml");
    std::fs::write(
        &p,
        format!("sensor = \"kafka-test\"\n[kafka]\nflush_timeout_s = 20\n{extra}"),
    )
    .unwrap();
    p
}

#[test]
fn every_decision_arrives_exactly_once_with_key_and_headers() {
    let Some(broker) = broker() else { return };
    let dir = scratch("kafka-delivery");
    let want = reference_ids(&dir);
    assert!(want.len() > 20);
    let cfg = write_config(&dir, "");
    let spool = dir.join("spool");
    let out = shakedown(&[
        "replay",
        "--config",
        cfg.to_str().unwrap(),
        "--kafka-brokers",
        &broker,
        "--kafka-topic",
        "shakedown-test",
        "--spool-dir",
        spool.to_str().unwrap(),
        smoke().to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("{} decisions delivered", want.len())),
        "{err}"
    );
    let got = consume(&broker, "shakedown-test", want.len());
    let ids: Vec<&str> = got
        .iter()
        .map(|(_, v, _)| v["id"].as_str().unwrap())
        .collect();
    let distinct: BTreeSet<String> = ids.iter().map(|s| s.to_string()).collect();
    assert_eq!(ids.len(), distinct.len(), "duplicates on the topic");
    // Same decisions as the file replay except the sensor name in ids: compare counts and fields.
    assert_eq!(distinct.len(), want.len());
    for (key, v, headers) in &got {
        assert_eq!(
            key,
            &format!(
                "{}:{}",
                v["scope"].as_str().unwrap(),
                v["value"].as_str().unwrap()
            )
        );
        assert_eq!(headers.get("schema_version").map(String::as_str), Some("1"));
        assert_eq!(
            headers.get("sensor").map(String::as_str),
            Some("kafka-test")
        );
    }
    // Everything acknowledged: the spool is empty.
    assert_eq!(
        std::fs::metadata(spool.join("decisions.jsonl"))
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn unreachable_broker_keeps_decisions_in_the_spool_until_the_next_start() {
    let Some(broker) = broker() else { return };
    let dir = scratch("kafka-spool");
    let want = reference_ids(&dir);
    let cfg = dir.join("short.toml");
    std::fs::write(&cfg, "sensor = \"kafka-test\"\n[kafka]\nflush_timeout_s = 2\n[kafka.properties]\n\"message.timeout.ms\" = \"1500\"\n").unwrap();
    let spool = dir.join("spool");
    // Nothing listens on port 1.
    let out = shakedown(&[
        "replay",
        "--config",
        cfg.to_str().unwrap(),
        "--kafka-brokers",
        "127.0.0.1:1",
        "--kafka-topic",
        "shakedown-test-spool",
        "--spool-dir",
        spool.to_str().unwrap(),
        smoke().to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("not delivered to Kafka yet"), "{err}");
    let spooled = std::fs::read_to_string(spool.join("decisions.jsonl")).unwrap();
    assert_eq!(
        spooled.lines().count(),
        want.len(),
        "every decision is in the spool"
    );

    // The next start, with the broker reachable and no new traffic, delivers them.
    let empty = dir.join("empty.pcap");
    PcapWriter::default().write_to(&empty);
    let cfg2 = write_config(&dir, "");
    let out = shakedown(&[
        "replay",
        "--config",
        cfg2.to_str().unwrap(),
        "--kafka-brokers",
        &broker,
        "--kafka-topic",
        "shakedown-test-spool",
        "--spool-dir",
        spool.to_str().unwrap(),
        empty.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("wait in the spool"), "{err}");
    let got = consume(&broker, "shakedown-test-spool", want.len());
    let distinct: BTreeSet<&str> = got
        .iter()
        .map(|(_, v, _)| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        distinct.len(),
        want.len(),
        "all spooled decisions delivered"
    );
    assert_eq!(got.len(), want.len(), "no duplicates");
}

#[test]
fn a_malformed_broker_address_is_a_clear_error() {
    let out = shakedown(&[
        "replay",
        "--kafka-brokers",
        "not-an-address",
        smoke().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not-an-address") && err.contains("host:port"),
        "{err}"
    );
}

/// The live `ip` and `ip_range` blocks of a decision file (blocks minus unblocks).
fn live_addresses(decisions: &Path) -> BTreeSet<String> {
    let mut live = BTreeSet::new();
    for l in std::fs::read_to_string(decisions).unwrap().lines() {
        let d: Value = serde_json::from_str(l).unwrap();
        if d["mode"] != "enforce" || !(d["scope"] == "ip" || d["scope"] == "ip_range") {
            continue;
        }
        let v = d["value"].as_str().unwrap().to_string();
        if d["action"] == "block" {
            live.insert(v);
        } else {
            live.remove(&v);
        }
    }
    live
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

#[test]
fn enforce_keeps_nftables_ipset_and_lists_in_step() {
    let Some(broker) = broker() else { return };
    let dir = scratch("kafka-enforce");
    let reference = dir.join("reference.jsonl");
    let out = shakedown(&[
        "replay",
        "-q",
        "--config",
        write_config(&dir, "").to_str().unwrap(),
        "--decisions",
        reference.to_str().unwrap(),
        smoke().to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let want = live_addresses(&reference);
    assert!(want.len() > 20);
    let out = shakedown(&[
        "replay",
        "-q",
        "--config",
        write_config(&dir, "").to_str().unwrap(),
        "--kafka-brokers",
        &broker,
        "--kafka-topic",
        "shakedown-test-enforce",
        "--spool-dir",
        dir.join("spool").to_str().unwrap(),
        smoke().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // One-shot sync into dry-run batches (what `nft -f` and `ipset restore` would get).
    let batches = dir.join("batches");
    let out = shakedown(&[
        "enforce",
        "--kafka-brokers",
        &broker,
        "--kafka-topic",
        "shakedown-test-enforce",
        "--group",
        "enforce-test",
        "--nft-set",
        "inet/filter/blocked4,blocked6",
        "--ipset",
        "shakedown",
        "--dry-run-dir",
        batches.to_str().unwrap(),
        "--clock",
        "capture",
        "--once",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let mut nft_added = BTreeSet::new();
    let mut ipset_added = BTreeSet::new();
    for e in std::fs::read_dir(&batches).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("add element inet filter blocked4 { ") {
                nft_added.insert(rest.split_whitespace().next().unwrap().to_string());
            }
            if let Some(rest) = line.strip_prefix("add shakedown ") {
                ipset_added.insert(rest.split_whitespace().next().unwrap().to_string());
            }
        }
    }
    assert_eq!(nft_added, want, "nftables batch elements");
    assert_eq!(ipset_added, want, "ipset batch elements");

    // Lists over HTTP, as a firewall polls them.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args([
            "enforce",
            "--kafka-brokers",
            &broker,
            "--kafka-topic",
            "shakedown-test-enforce",
            "--group",
            "enforce-edl",
            "--serve",
            &addr,
            "--clock",
            "capture",
            "--batch-ms",
            "100",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    let mut listed = BTreeSet::new();
    while Instant::now() < until {
        if let Some(body) = http_get(&addr, "/edl/ipv4.txt") {
            listed = body.lines().map(str::to_string).collect();
            if listed.len() == want.len() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let active = http_get(&addr, "/active.json");
    let missing = http_get(&addr, "/nope");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(listed, want, "/edl/ipv4.txt");
    let active: Value = serde_json::from_str(&active.unwrap()).unwrap();
    assert!(active["ip"].as_array().unwrap().len() <= want.len());
    assert_eq!(missing.as_deref(), Some("not found\n"));
}

/// Splits a classic pcap into its header and records.
fn pcap_records(path: &Path) -> (Vec<u8>, Vec<Vec<u8>>, Vec<f64>) {
    let data = std::fs::read(path).unwrap();
    let le = data[0] == 0xd4;
    let u32_at = |b: &[u8]| {
        if le {
            u32::from_le_bytes(b.try_into().unwrap())
        } else {
            u32::from_be_bytes(b.try_into().unwrap())
        }
    };
    let nanos = matches!(
        &data[..4],
        [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d]
    );
    let mut pos = 24;
    let (mut recs, mut times) = (Vec::new(), Vec::new());
    while pos + 16 <= data.len() {
        let caplen = u32_at(&data[pos + 8..pos + 12]) as usize;
        let sec = u32_at(&data[pos..pos + 4]) as f64;
        let frac = u32_at(&data[pos + 4..pos + 8]) as f64;
        times.push(sec + frac / if nanos { 1e9 } else { 1e6 });
        recs.push(data[pos..pos + 16 + caplen].to_vec());
        pos += 16 + caplen;
    }
    (data[..24].to_vec(), recs, times)
}

struct Broker {
    child: std::process::Child,
}

impl Broker {
    fn start(tansu: &str, port: u16, dir: &Path, topic: &str) -> Broker {
        std::fs::create_dir_all(dir).unwrap();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = std::process::Command::new(tansu)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .current_dir(dir)
            .env_clear()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start tansu");
        let until = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "tansu did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let st = std::process::Command::new(tansu)
            .args([
                "topic",
                "create",
                topic,
                "--partitions",
                "3",
                "--broker",
                &url,
            ])
            .status()
            .unwrap();
        assert!(st.success());
        Broker { child }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_producer_survives_a_broker_restart_and_resends_what_was_not_acknowledged() {
    let Some(_) = broker() else { return };
    let tansu =
        std::env::var("SHAKEDOWN_TEST_TANSU").unwrap_or_else(|_| "/opt/tansu/bin/tansu".into());
    let dir = scratch("kafka-restart");
    let reference: Vec<Value> = {
        let d = dir.join("reference.jsonl");
        let cfg = write_config(&dir, "");
        assert!(shakedown(&[
            "replay",
            "-q",
            "--config",
            cfg.to_str().unwrap(),
            "--decisions",
            d.to_str().unwrap(),
            smoke().to_str().unwrap()
        ])
        .status
        .success());
        std::fs::read_to_string(&d)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (header, records, times) = pcap_records(&smoke());
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let topic = "restart";
    let mut broker = Some(Broker::start(&tansu, port, &dir.join("broker"), topic));

    // The capture arrives through a FIFO, in three parts, while the broker is
    // stopped after the first and restarted (empty: memory storage) after the second.
    let fifo = common::mkfifo(&dir, "capture.fifo");
    let cfg = write_config(
        &dir,
        "[kafka.properties]\n\"message.timeout.ms\" = \"3000\"\n",
    );
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args([
            "replay",
            "--config",
            cfg.to_str().unwrap(),
            "--kafka-brokers",
            &addr,
            "--kafka-topic",
            topic,
        ])
        .arg("--spool-dir")
        .arg(dir.join("spool"))
        .arg(&fifo)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    use std::io::Write as _;
    w.write_all(&header).unwrap();
    let (a, b) = (records.len() * 2 / 5, records.len() * 7 / 10);
    for r in &records[..a] {
        w.write_all(r).unwrap();
    }
    w.flush().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    drop(broker.take()); // the broker dies
    for r in &records[a..b] {
        w.write_all(r).unwrap();
    }
    w.flush().unwrap();
    std::thread::sleep(Duration::from_secs(4)); // deliveries fail meanwhile
    let _broker = Broker::start(&tansu, port, &dir.join("broker2"), topic);
    for r in &records[b..] {
        w.write_all(r).unwrap();
    }
    drop(w);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");

    // The restarted broker forgot what it had before it died. Everything decided
    // after the first part (capture time) must be there, exactly once.
    let cut = times[a - 1] + 1.0;
    let after: BTreeSet<String> = reference
        .iter()
        .filter(|d| common::evaluate::parse_ts(d["decided_at"].as_str().unwrap()) > cut)
        .map(|d| d["decided_at"].as_str().unwrap().to_string() + d["value"].as_str().unwrap())
        .collect();
    assert!(
        !after.is_empty(),
        "the test needs decisions after the restart point"
    );
    let got = consume(&addr, topic, after.len());
    let keys: Vec<String> = got
        .iter()
        .map(|(_, v, _)| {
            v["decided_at"].as_str().unwrap().to_string() + v["value"].as_str().unwrap()
        })
        .collect();
    let distinct: BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(keys.len(), distinct.len(), "duplicates after the restart");
    let missing: Vec<&String> = after.difference(&distinct).collect();
    assert!(
        missing.is_empty(),
        "decisions lost across the broker restart: {missing:?}\n{err}"
    );
}
