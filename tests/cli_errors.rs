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
        err.contains("cut.pcap: packet 6: file ends inside a packet (84 of"),
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

/// The records of a classic pcap written by `PcapWriter`: (ts_us, frame).
fn records(w: &PcapWriter) -> Vec<(u64, Vec<u8>)> {
    let b = &w.bytes;
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= b.len() {
        let word = |i: usize| u32::from_le_bytes(b[off + i..off + i + 4].try_into().unwrap());
        let (s, us, incl) = (word(0) as u64, word(4) as u64, word(8) as usize);
        out.push((s * 1_000_000 + us, b[off + 16..off + 16 + incl].to_vec()));
        off += 16 + incl;
    }
    out
}

/// A pcapng file: one section, interfaces of the given link types, packets
/// (interface, ts_us, frame).
fn pcapng(linktypes: &[u16], packets: &[(u32, u64, Vec<u8>)]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, typ: u32, body: &[u8]) {
        let pad = (4 - body.len() % 4) % 4;
        let len = (12 + body.len() + pad) as u32;
        out.extend_from_slice(&typ.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(body);
        out.extend(std::iter::repeat_n(0u8, pad));
        out.extend_from_slice(&len.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0A0D_0D0A, &shb);
    for &lt in linktypes {
        let mut idb = lt.to_le_bytes().to_vec();
        idb.extend_from_slice(&[0, 0]);
        idb.extend_from_slice(&262_144u32.to_le_bytes());
        block(&mut out, 1, &idb);
    }
    for (iface, ts, frame) in packets {
        let mut epb = iface.to_le_bytes().to_vec();
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(*ts as u32).to_le_bytes());
        epb.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        epb.extend_from_slice(frame);
        block(&mut out, 6, &epb);
    }
    out
}

fn fingerprint_fields(out: &std::process::Output) -> Vec<(String, String, String)> {
    json_lines(out)
        .iter()
        .map(|r| {
            (
                r["ts"].as_str().unwrap_or_default().to_string(),
                r["ja4"].as_str().unwrap_or_default().to_string(),
                r["ja3"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// libpcap refuses pcapng files whose interfaces have different link types
/// (an Ethernet port and a raw-IP tunnel in one capture); they are read anyway,
/// each packet with its interface's link type, and give what the pcap gives.
#[test]
fn pcapng_with_interfaces_of_different_link_types() {
    let dir = scratch("cli-errors-pcapng");
    let w = one_connection_pcap();
    let pcap = dir.join("one.pcap");
    w.write_to(&pcap);
    let recs = records(&w);
    // Client packets on an Ethernet interface, server packets on a raw-IP one.
    let packets: Vec<(u32, u64, Vec<u8>)> = recs
        .iter()
        .enumerate()
        .map(|(i, (ts, f))| {
            if i % 2 == 0 {
                (0, *ts, f.clone())
            } else {
                (1, *ts, f[14..].to_vec())
            }
        })
        .collect();
    let mixed = dir.join("mixed.pcapng");
    std::fs::write(&mixed, pcapng(&[1, 101], &packets)).unwrap();
    let same = dir.join("same.pcapng");
    let all_eth: Vec<_> = recs.iter().map(|(ts, f)| (0u32, *ts, f.clone())).collect();
    std::fs::write(&same, pcapng(&[1, 1], &all_eth)).unwrap();
    let want = fingerprint_fields(&shakedown(&["fingerprint", pcap.to_str().unwrap()]));
    assert_eq!(want.len(), 1);
    for f in [&mixed, &same] {
        let out = shakedown(&["fingerprint", f.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(fingerprint_fields(&out), want, "{}", f.display());
    }
    // Cut in the middle of a block: what came before is written, the error
    // names the file and the packet.
    let bytes = std::fs::read(&mixed).unwrap();
    let cut = dir.join("mixed-cut.pcapng");
    std::fs::write(&cut, &bytes[..bytes.len() - 30]).unwrap();
    let out = shakedown(&["fingerprint", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("mixed-cut.pcapng: packet 5:"), "{err}");
    assert_eq!(fingerprint_fields(&out), want);
}

#[test]
fn unknown_link_type_is_named() {
    let dir = scratch("cli-errors-linktype");
    let mut w = one_connection_pcap();
    w.bytes[20..24].copy_from_slice(&147u32.to_le_bytes()); // LINKTYPE_USER0
    let path = dir.join("user0.pcap");
    w.write_to(&path);
    let out = shakedown(&["fingerprint", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("user0.pcap: link type 147 is not one shakedown reads (Ethernet"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// A record whose length field is garbage: reading stops there; the packets
/// before it are processed and the message names the packet and its offset.
#[test]
fn corrupt_record_length() {
    let dir = scratch("cli-errors-corrupt");
    let w = one_connection_pcap();
    let mut bytes = w.bytes.clone();
    let mut extra = PcapWriter::default();
    let conn = TcpConn::v4([10, 1, 1, 1], 50000, [10, 2, 2, 2], 443);
    extra.frame(&conn.segment(true, "A", 0, &[0u8; 20]));
    let mut rec = extra.bytes[24..].to_vec();
    rec[8..12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    bytes.extend_from_slice(&rec);
    let path = dir.join("corrupt.pcap");
    std::fs::write(&path, &bytes).unwrap();
    let out = shakedown(&["fingerprint", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("corrupt.pcap: packet 6:")
            && err.contains("2147483647")
            && err.contains("byte offset"),
        "{err}"
    );
    assert_eq!(json_lines(&out).len(), 1);
}

/// Frames cut by a small snaplen lose the handshake: said once per file, not
/// an error (the file itself is fine).
#[test]
fn snaplen_truncated_packets_are_reported() {
    let dir = scratch("cli-errors-snaplen");
    let w = one_connection_pcap();
    let mut bytes = w.bytes[..24].to_vec();
    bytes[16..20].copy_from_slice(&96u32.to_le_bytes());
    for (ts, f) in records(&w) {
        let cap = f.len().min(96);
        bytes.extend_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
        bytes.extend_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
        bytes.extend_from_slice(&(cap as u32).to_le_bytes());
        bytes.extend_from_slice(&(f.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&f[..cap]);
    }
    let path = dir.join("snap96.pcap");
    std::fs::write(&path, &bytes).unwrap();
    let out = shakedown(&["fingerprint", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        err.contains("snap96.pcap: 3 packet(s) cut short by the capture's snaplen"),
        "{err}"
    );
}

#[test]
fn unreadable_or_wrong_config_and_model() {
    let dir = scratch("cli-errors-config");
    let pcap = dir.join("one.pcap");
    one_connection_pcap().write_to(&pcap);
    let pcap = pcap.to_str().unwrap();
    let cases: Vec<(String, &str, String)> = {
        let missing = dir.join("missing.toml");
        let bad_toml = dir.join("bad.toml");
        std::fs::write(&bad_toml, "[thresholds\nblock_score = 0.8\n").unwrap();
        let typo = dir.join("typo.toml");
        std::fs::write(&typo, "[thresholds]\nblock_scor = 0.8\n").unwrap();
        let model = dir.join("old.model");
        std::fs::write(&model, r#"{"format":"shakedown-model","version":0}"#).unwrap();
        vec![
            (
                missing.display().to_string(),
                "--config",
                "missing.toml: cannot read config".to_string(),
            ),
            (
                bad_toml.display().to_string(),
                "--config",
                "bad.toml".to_string(),
            ),
            (
                typo.display().to_string(),
                "--config",
                "unknown field `block_scor`".to_string(),
            ),
            (
                model.display().to_string(),
                "--model",
                "old.model: model version 0, this shakedown reads version 1".to_string(),
            ),
        ]
    };
    for (path, flag, needle) in &cases {
        let out = shakedown(&["replay", flag, path, pcap]);
        assert_eq!(out.status.code(), Some(1), "{flag} {path}");
        let err = stderr(&out);
        assert!(err.contains(needle.as_str()), "{flag} {path}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.stdout.is_empty());
    }
}

/// A capture read from a pipe (`tcpdump -w - | ...` through a FIFO): nothing
/// may be read from it before libpcap (a peek would lose the header).
#[test]
fn capture_from_a_fifo() {
    let dir = scratch("cli-errors-fifo");
    let fifo = mkfifo(&dir, "capture.fifo");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(["fingerprint", fifo.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        w.write_all(&one_connection_pcap().bytes).unwrap();
    }
    // Bounded: a reader that lost the header would wait for a second writer forever.
    let mut child = child;
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("shakedown did not finish reading the FIFO within 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = json_lines(&out);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["sni"], "ok.example");
}
