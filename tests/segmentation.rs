//! Fingerprints do not depend on how the handshake crossed the wire: one
//! segment, many tiny ones, reversed, duplicated, overlapping with conflicting
//! retransmissions, split over several TLS records, VLAN-tagged or over IPv6.

mod common;
use common::*;
use serde_json::Value;

/// (name, segments as (offset, len) in send order, expected hello packet count or 0).
type Case = (&'static str, Vec<(usize, usize)>, u64);

const FIELDS: &[&str] = &[
    "sni", "ja3", "ja3_full", "ja3s", "ja4", "ja4_r", "ja4_o", "ja4_ro", "tcp_sig",
];

/// Writes one TLS connection whose client hello bytes (`ch_wire`) are cut into
/// segments by `plan` (list of (offset, len) in send order) and returns the
/// single output record.
fn run_conn(name: &str, conn: &TcpConn, ch_wire: &[u8], plan: &[(usize, usize)]) -> Value {
    let mut w = PcapWriter::default();
    w.frame(&conn.segment(true, "S", 0, &[]));
    w.frame(&conn.segment(false, "SA", 0, &[]));
    w.frame(&conn.segment(true, "A", 0, &[]));
    for &(off, len) in plan {
        w.frame(&conn.segment(true, "AP", off as u32, &ch_wire[off..off + len]));
    }
    let sh = tls_record(22, &handshake(2, &server_hello_13()));
    w.frame(&conn.segment(false, "AP", 0, &sh));
    w.frame(&conn.segment(true, "AF", ch_wire.len() as u32, &[]));
    w.frame(&conn.segment(false, "AF", sh.len() as u32, &[]));
    let dir = scratch(&format!("segmentation-{name}"));
    let path = dir.join("conn.pcap");
    w.write_to(&path);
    let out = shakedown(&["fingerprint", "--quiet", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = json_lines(&out);
    assert_eq!(
        recs.len(),
        1,
        "{name}: expected one connection, got {recs:?}"
    );
    recs.into_iter().next().unwrap()
}

fn chunks(len: usize, size: usize) -> Vec<(usize, usize)> {
    (0..len)
        .step_by(size)
        .map(|o| (o, size.min(len - o)))
        .collect()
}

#[test]
fn fingerprints_are_invariant_to_segmentation() {
    let conn = TcpConn::v4([10, 1, 2, 3], 40000, [10, 9, 9, 9], 443);
    let ch = tls_record(
        22,
        &handshake(1, &browser_like_client_hello("shop.example")),
    );
    assert!(ch.len() > 1460, "the test hello must need two segments");
    let reference = run_conn("one", &conn, &ch, &[(0, ch.len())]);
    assert_eq!(reference["sni"], "shop.example");
    assert!(reference["ja4"]
        .as_str()
        .unwrap()
        .starts_with("t13d1514h2_"));
    assert_eq!(reference["tcp_sig"], "64240:2-4-1-3-0-0:1460:7:64:df");
    assert_eq!(reference["client_hello_packets"], 1);

    let mut cases: Vec<Case> = vec![
        ("mtu1500", chunks(ch.len(), 1448), 2),
        (
            "mss128",
            chunks(ch.len(), 128),
            ch.len().div_ceil(128) as u64,
        ),
        (
            "bytes-reversed",
            chunks(ch.len(), 1).into_iter().rev().collect(),
            ch.len() as u64,
        ),
    ];
    // Duplicates and overlaps: every 100-byte segment sent twice, plus a
    // 300-byte retransmission spanning three of them.
    let mut dup = Vec::new();
    for c in chunks(ch.len(), 100) {
        dup.push(c);
        dup.push(c);
        if c.0 == 500 {
            dup.push((450, 300));
        }
    }
    cases.push(("duplicated-overlapping", dup, 0));
    // Middle segments swapped.
    let mut swapped = chunks(ch.len(), 200);
    swapped.swap(2, 5);
    swapped.swap(3, 4);
    cases.push(("swapped", swapped, 0));

    for (name, plan, packets) in cases {
        let got = run_conn(name, &conn, &ch, &plan);
        for f in FIELDS {
            assert_eq!(got[f], reference[f], "{name}: field {f} differs");
        }
        if packets > 0 {
            assert_eq!(got["client_hello_packets"], packets, "{name}");
        }
    }
}

#[test]
fn hello_split_over_several_records() {
    let conn = TcpConn::v4([10, 1, 2, 3], 40001, [10, 9, 9, 9], 443);
    let msg = handshake(1, &browser_like_client_hello("shop.example"));
    let one = tls_record(22, &msg);
    let mut many = Vec::new();
    for part in msg.chunks(300) {
        many.extend(tls_record(22, part));
    }
    let a = run_conn("records-one", &conn, &one, &[(0, one.len())]);
    let b = run_conn("records-many", &conn, &many, &chunks(many.len(), 1448));
    for f in FIELDS {
        assert_eq!(a[f], b[f], "field {f}");
    }
}

#[test]
fn vlan_and_ipv6_carry_the_same_fingerprint() {
    let ch = tls_record(
        22,
        &handshake(1, &browser_like_client_hello("shop.example")),
    );
    let plain = TcpConn::v4([10, 1, 2, 3], 40002, [10, 9, 9, 9], 443);
    let reference = run_conn("plain", &plain, &ch, &chunks(ch.len(), 1448));
    let mut vlan = plain.clone();
    vlan.vlan = Some(100);
    let got = run_conn("vlan", &vlan, &ch, &chunks(ch.len(), 1448));
    for f in FIELDS {
        assert_eq!(got[f], reference[f], "vlan: field {f}");
    }
    let mut v6 = plain.clone();
    v6.v6 = true;
    v6.client.0 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    v6.server.0 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    let got = run_conn("v6", &v6, &ch, &chunks(ch.len(), 1428));
    assert_eq!(got["src_ip"], "2001:db8::1");
    for f in ["sni", "ja3", "ja4", "ja4_r"] {
        assert_eq!(got[f], reference[f], "v6: field {f}");
    }
    assert_eq!(got["tcp_sig"], "64240:2-4-1-3-0-0:1460:7:64:ip6");
}

#[test]
fn starttls_and_non_standard_port() {
    let conn = TcpConn::v4([10, 1, 2, 3], 40003, [10, 9, 9, 9], 25);
    let mut w = PcapWriter::default();
    w.frame(&conn.segment(true, "S", 0, &[]));
    w.frame(&conn.segment(false, "SA", 0, &[]));
    let banner = b"220 mail.example ESMTP\r\n";
    w.frame(&conn.segment(false, "AP", 0, banner));
    let ehlo = b"EHLO client\r\n";
    w.frame(&conn.segment(true, "AP", 0, ehlo));
    let ok = b"250 STARTTLS\r\n";
    w.frame(&conn.segment(false, "AP", banner.len() as u32, ok));
    let st = b"STARTTLS\r\n";
    w.frame(&conn.segment(true, "AP", ehlo.len() as u32, st));
    let go = b"220 go ahead\r\n";
    w.frame(&conn.segment(false, "AP", (banner.len() + ok.len()) as u32, go));
    let ch = tls_record(
        22,
        &handshake(1, &browser_like_client_hello("mail.example")),
    );
    let base = (ehlo.len() + st.len()) as u32;
    w.frame(&conn.segment(true, "AP", base, &ch[..1448]));
    w.frame(&conn.segment(true, "AP", base + 1448, &ch[1448..]));
    let sh = tls_record(22, &handshake(2, &server_hello_13()));
    w.frame(&conn.segment(
        false,
        "AP",
        (banner.len() + ok.len() + go.len()) as u32,
        &sh,
    ));
    let dir = scratch("starttls");
    let path = dir.join("smtp.pcap");
    w.write_to(&path);
    let out = shakedown(&["fingerprint", "--quiet", path.to_str().unwrap()]);
    let recs = json_lines(&out);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["dst_port"], 25);
    assert_eq!(recs[0]["sni"], "mail.example");
    assert_eq!(recs[0]["ja3s_full"], "771,4865,43-51");
}

#[test]
fn output_is_in_order_of_first_packet() {
    // Connection B starts later but completes first; A must still come first.
    let a = TcpConn::v4([10, 0, 0, 1], 1111, [10, 0, 0, 9], 443);
    let b = TcpConn::v4([10, 0, 0, 2], 2222, [10, 0, 0, 9], 443);
    let ch = tls_record(22, &handshake(1, &browser_like_client_hello("a.example")));
    let sh = tls_record(22, &handshake(2, &server_hello_13()));
    let mut w = PcapWriter::default();
    w.frame(&a.segment(true, "S", 0, &[]));
    w.frame(&b.segment(true, "S", 0, &[]));
    w.frame(&b.segment(false, "SA", 0, &[]));
    w.frame(&b.segment(true, "AP", 0, &ch));
    w.frame(&b.segment(false, "AP", 0, &sh));
    w.frame(&a.segment(false, "SA", 0, &[]));
    w.frame(&a.segment(true, "AP", 0, &ch));
    w.frame(&a.segment(false, "AP", 0, &sh));
    let dir = scratch("order");
    let path = dir.join("two.pcap");
    w.write_to(&path);
    let recs = json_lines(&shakedown(&[
        "fingerprint",
        "--quiet",
        path.to_str().unwrap(),
    ]));
    let ports: Vec<u64> = recs
        .iter()
        .map(|r| r["src_port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, vec![1111, 2222]);
}
