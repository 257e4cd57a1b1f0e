//! The project's own captures of real clients (pcaps/, made by
//! pcaps/make-captures.sh) against their expected values (pcaps/expected/,
//! from tshark's JA3 and the independent PyPI `ja4plus`).

mod common;
use common::reference::{allowlist, compare};
use std::path::Path;

#[test]
fn own_captures_match_expected() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let allow = allowlist(&root.join("pcaps/expected-allowlist.txt"));
    let report = compare(&root.join("pcaps/expected"), &root.join("pcaps"), &allow);
    report.print("pcaps/");
    assert!(
        report.captures >= 10,
        "pcaps/ should hold at least 10 captures, found {}",
        report.captures
    );
    assert_eq!(
        report.found, report.connections,
        "every connection must be found"
    );
    report.assert_clean("pcaps/expected-allowlist.txt");
}
