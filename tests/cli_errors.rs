//! Bad input gets a clear one-line message naming the file, a documented exit
//! code, and whatever was read before the problem is still written as valid JSON.

mod common;
use common::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn one_connection_pcap() -> PcapWriter {
    let conn = TcpConn::v4([10, 1, 1, 1], 50000, [10, 2, 2, 2], 443);
    let mut w = PcapWriter::default();
    w.frame(&conn.segment(true, "S", 0, &[]));
    w.frame(&conn.segment(false, "SA", 0, &[]));
    let ch = tls_record(22, &handshake(1, &browser_like_client_hello("ok.example")));
    w.frame(&conn.segment(true, "AP", 0, &ch[..1448]));
    w.frame(&conn.segment(true, "AP", 1448, &ch[1448..]));
    w.frame(&conn.segment(
        false,
        "AP",
        0,
        &tls_record(22, &handshake(2, &server_hello_13())),
    ));
    w
}

#[test]
fn missing_file() {
    let out = shakedown(&["fingerprint", "/nonexistent/capture.pcap"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("/nonexistent/capture.pcap") && err.contains("No such file"),
        "{err}"
    );
}

#[test]
fn empty_directory_and_garbage_files() {
    let dir = scratch("cli-errors-files");
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let garbage = dir.join("garbage.pcap");
    std::fs::write(&garbage, b"this is not a capture file at all, just text\n").unwrap();
    for (path, needle) in [
        (empty.to_str().unwrap(), "empty"),
        (dir.to_str().unwrap(), "directory"),
        (garbage.to_str().unwrap(), "garbage.pcap"),
    ] {
        let out = shakedown(&["fingerprint", path]);
        assert_eq!(out.status.code(), Some(3), "{path}");
        let err = stderr(&out);
        assert!(err.contains(path) && err.contains(needle), "{path}: {err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn truncated_file_keeps_what_was_read() {
    let w = one_connection_pcap();
    let dir = scratch("cli-errors-truncated");
    let path = dir.join("cut.pcap");
    // Cut the file in the middle of the last packet (the server's FIN-less end).
    let mut bytes = w.bytes.clone();
    let conn = TcpConn::v4([10, 1, 1, 1], 50000, [10, 2, 2, 2], 443);
    let mut extra = PcapWriter::default();
    extra.frame(&conn.segment(true, "A", 0, &[0u8; 200]));
    bytes.extend_from_slice(&extra.bytes[24..24 + 100]);
    std::fs::write(&path, &bytes).unwrap();
    let out = shakedown(&["fingerprint", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("cut.pcap") && err.contains("packet 6"),
        "{err}"
    );
    let recs = json_lines(&out);
    assert_eq!(
        recs.len(),
        1,
        "the connection read before the cut is reported"
    );
    assert_eq!(recs[0]["sni"], "ok.example");
}

#[test]
fn one_bad_file_does_not_stop_the_others() {
    let dir = scratch("cli-errors-mixed");
    let good = dir.join("good.pcap");
    one_connection_pcap().write_to(&good);
    let out = shakedown(&["fingerprint", "/nonexistent.pcap", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(json_lines(&out).len(), 1);
}

#[test]
fn wrong_options() {
    let out = shakedown(&["fingerprint"]);
    assert_eq!(out.status.code(), Some(2));
    let out = shakedown(&["fingerprint", "--max-flows", "zero", "x.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--max-flows"));
    let out = shakedown(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    // A misspelt log level is an error, not a filter that silences everything.
    let out = shakedown(&["--log-level", "wran", "fingerprint", "x.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--log-level \"wran\": not a level"));
    let out = shakedown(&[
        "--log-level",
        "warn,shakedown=debug",
        "fingerprint",
        "/nonexistent.pcap",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn summary_line_on_stderr() {
    let dir = scratch("cli-summary");
    let good = dir.join("good.pcap");
    one_connection_pcap().write_to(&good);
    let out = shakedown(&["fingerprint", good.to_str().unwrap()]);
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("5 packets") && err.contains("1 TLS connections (1 tcp, 0 quic)"),
        "{err}"
    );
}
