//! Conformance with established JA3/JA4 implementations.
//!
//! Runs `shakedown fingerprint` over every capture of the shared reference corpus
//! (`../shared/corpus`, beside the repository; skipped with a message when it is
//! absent), matches connections on (transport, src_ip, src_port, dst_ip,
//! dst_port) and compares every non-null reference field. For a field the
//! references disagree on, any reference value is accepted. A mismatch fails the
//! test unless `tests/conformance-allowlist.txt` lists it with its reason.
//! DTLS is reported as unsupported (counted, not compared).

mod common;
use common::reference::{allowlist, compare};
use std::path::Path;

#[test]
fn corpus_conformance() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("../shared/corpus");
    if !corpus.join("expected").is_dir() {
        eprintln!("SKIPPED: ../shared/corpus not present; conformance not checked");
        return;
    }
    let allow = allowlist(&root.join("tests/conformance-allowlist.txt"));
    let report = compare(&corpus.join("expected"), &corpus.join("pcaps"), &allow);
    report.print("reference corpus");
    assert!(
        report.captures >= 100,
        "expected the whole corpus, found {} captures",
        report.captures
    );
    assert_eq!(
        report.found, report.connections,
        "every TCP and QUIC connection must be found"
    );
    report.assert_clean("tests/conformance-allowlist.txt");
}
