//! The detector on labelled scenarios of real clients (pcaps/scenarios/, made by
//! make-scenario.sh: humans in headless browsers, good bots, and several kinds
//! of bad bots). Learn on `train`, replay `test` (a different run): at least
//! 98 % of bad-bot addresses blocked, no human and no good bot blocked. The
//! good bots (a partner's API poller, an uptime check) are allowlisted, as a
//! deployment would do; the humans are not.

mod common;
use common::evaluate::evaluate;
use common::*;
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn scenario(name: &str) -> (PathBuf, Value) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps/scenarios");
    let pcap = dir.join(format!("{name}.pcap"));
    let labels = dir.join(format!("{name}.labels.json"));
    assert!(
        pcap.exists(),
        "{} is missing (pcaps/scenarios/make-scenario.sh makes it)",
        pcap.display()
    );
    let labels: Value = serde_json::from_str(&std::fs::read_to_string(&labels).unwrap()).unwrap();
    (pcap, labels)
}

fn good_bots(labels: &[&Value]) -> HashSet<String> {
    labels
        .iter()
        .flat_map(|l| l["clients"].as_object().unwrap().iter())
        .filter(|(_, c)| c["class"] == "good_bot")
        .map(|(ip, _)| ip.clone())
        .collect()
}

fn write_config(dir: &Path, allow: &HashSet<String>) -> PathBuf {
    let mut nets: Vec<&String> = allow.iter().collect();
    nets.sort();
    let list: Vec<String> = nets.iter().map(|ip| format!("\"{ip}/32\"")).collect();
    let path = dir.join("site.toml");
    std::fs::write(
        &path,
        format!(
            "sensor = \"scenario-test\"\n[allowlist]\nnetworks = [{}]\n",
            list.join(", ")
        ),
    )
    .unwrap();
    path
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn run_ok(args: &[&str]) {
    let out = shakedown(args);
    assert!(
        out.status.success(),
        "shakedown {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `shakedown learn` of `capture` with the configuration `cfg`, into `model`.
fn learn(cfg: &Path, model: &Path, capture: &Path) {
    run_ok(&[
        "learn",
        "-q",
        "--config",
        cfg.to_str().unwrap(),
        "-o",
        model.to_str().unwrap(),
        capture.to_str().unwrap(),
    ]);
}

#[test]
fn learn_on_train_replay_test_meets_the_quality_bar() {
    let (train, train_labels) = scenario("train");
    let (test, test_labels) = scenario("test");
    let dir = scratch("scenario-quality");
    let allow = good_bots(&[&train_labels, &test_labels]);
    let cfg = write_config(&dir, &allow);
    let model = dir.join("model.json");
    learn(&cfg, &model, &train);
    let decisions = dir.join("decisions.jsonl");
    let flows = dir.join("flows.jsonl");
    run_ok(&[
        "replay",
        "-q",
        "--config",
        cfg.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--decisions",
        decisions.to_str().unwrap(),
        "--flows",
        flows.to_str().unwrap(),
        test.to_str().unwrap(),
    ]);
    let ev = evaluate(&test_labels, &lines(&flows), &lines(&decisions), &allow);
    eprintln!("learn on train, replay test:\n{}", ev.table());
    let (humans, _) = ev.class("human");
    let (good, _) = ev.class("good_bot");
    let (bad, bad_total) = ev.class("bad_bot");
    assert_eq!(humans, 0, "humans blocked");
    assert_eq!(good, 0, "good bots blocked");
    assert!(
        bad_total > 200,
        "the test scenario should have 200+ bad-bot addresses"
    );
    assert!(
        bad as f64 >= 0.98 * bad_total as f64,
        "only {bad} of {bad_total} bad-bot addresses blocked"
    );
}

#[test]
fn decisions_do_not_depend_on_the_number_of_workers() {
    let (test, _) = scenario("test");
    let dir = scratch("scenario-determinism");
    let mut outputs = Vec::new();
    for workers in ["1", "4"] {
        let d = dir.join(format!("decisions-{workers}.jsonl"));
        run_ok(&[
            "replay",
            "-q",
            "--workers",
            workers,
            "--decisions",
            d.to_str().unwrap(),
            test.to_str().unwrap(),
        ]);
        outputs.push(std::fs::read_to_string(&d).unwrap());
    }
    assert!(
        !outputs[0].is_empty(),
        "the scenario should produce decisions"
    );
    assert_eq!(
        outputs[0], outputs[1],
        "1 and 4 workers decided differently"
    );
}

#[test]
fn smoke_scenario_without_a_model() {
    let (smoke, labels) = scenario("smoke");
    let dir = scratch("scenario-smoke");
    let allow = good_bots(&[&labels]);
    let cfg = write_config(&dir, &allow);
    let decisions = dir.join("decisions.jsonl");
    let flows = dir.join("flows.jsonl");
    run_ok(&[
        "replay",
        "-q",
        "--config",
        cfg.to_str().unwrap(),
        "--decisions",
        decisions.to_str().unwrap(),
        "--flows",
        flows.to_str().unwrap(),
        smoke.to_str().unwrap(),
    ]);
    let ev = evaluate(&labels, &lines(&flows), &lines(&decisions), &allow);
    eprintln!("smoke, no model:\n{}", ev.table());
    assert_eq!(ev.class("human").0, 0, "humans blocked");
    assert_eq!(ev.class("good_bot").0, 0, "good bots blocked");
    let (bad, total) = ev.class("bad_bot");
    assert!(
        bad as f64 >= 0.9 * total as f64,
        "only {bad} of {total} bad-bot addresses blocked"
    );
}

/// The smoke scenario twice, the second time two hours later: every client
/// has been idle longer than `limits.client_idle_s` when it comes back.
/// Leaving the client book then changes no decision and no learned model.
#[test]
fn an_idle_timeout_changes_no_decision_and_no_model() {
    let (smoke, labels) = scenario("smoke");
    let dir = scratch("scenario-idle");
    let twice = dir.join("smoke-twice.pcap");
    std::fs::write(&twice, played_twice(&std::fs::read(&smoke).unwrap(), 7300)).unwrap();
    let idle = write_config(&dir, &good_bots(&[&labels]));
    let never = dir.join("never-idle.toml");
    let mut text = std::fs::read_to_string(&idle).unwrap();
    text.push_str("\n[limits]\nclient_idle_s = 100000000\n");
    std::fs::write(&never, text).unwrap();
    let mut runs = Vec::new();
    for cfg in [&idle, &never] {
        let decisions = dir.join("decisions.jsonl");
        let model = dir.join("model.json");
        let replay = shakedown(&[
            "replay",
            "--no-progress",
            "--config",
            cfg.to_str().unwrap(),
            "--decisions",
            decisions.to_str().unwrap(),
            twice.to_str().unwrap(),
        ]);
        assert!(replay.status.success(), "{replay:?}");
        learn(cfg, &model, &twice);
        let books = String::from_utf8_lossy(&replay.stderr)
            .lines()
            .find(|l| l.starts_with("books:"))
            .unwrap()
            .to_string();
        runs.push((
            std::fs::read_to_string(&decisions).unwrap(),
            std::fs::read_to_string(&model).unwrap(),
            books,
        ));
    }
    let left_idle = |books: &str| {
        let (_, rest) = books.split_once(" clients (").unwrap();
        rest.split_once(' ').unwrap().0.parse::<u32>().unwrap()
    };
    assert!(left_idle(&runs[0].2) > 50, "{}", runs[0].2);
    assert_eq!(left_idle(&runs[1].2), 0, "{}", runs[1].2);
    assert!(runs[0].0.lines().count() > 100, "decisions in both plays");
    assert!(
        runs[0].0 == runs[1].0,
        "decisions differ with the idle timeout"
    );
    assert!(
        runs[0].1 == runs[1].1,
        "models differ with the idle timeout"
    );
}

/// A classic pcap (little-endian) followed by its own packets again, `shift_s`
/// seconds later.
fn played_twice(pcap: &[u8], shift_s: u32) -> Vec<u8> {
    assert!(
        pcap[..4] == [0xd4, 0xc3, 0xb2, 0xa1] || pcap[..4] == [0x4d, 0x3c, 0xb2, 0xa1],
        "a little-endian classic pcap"
    );
    let mut out = pcap.to_vec();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let len = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let ts = u32::from_le_bytes(pcap[at..at + 4].try_into().unwrap()) + shift_s;
        out.extend_from_slice(&ts.to_le_bytes());
        out.extend_from_slice(&pcap[at + 4..at + 16 + len]);
        at += 16 + len;
    }
    out
}
