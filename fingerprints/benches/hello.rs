//! ClientHello parse + JA3 + JA4 on a Chrome-sized hello (post-quantum key share,
//! GREASE, ECH GREASE: about 1.8 KB). Target: under 1 us per hello.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use shakedown_fingerprints::ja3::ja3;
use shakedown_fingerprints::ja4::{ja4, Transport};
use shakedown_fingerprints::record::TlsStream;
use shakedown_fingerprints::ClientHello;

fn ext(out: &mut Vec<u8>, typ: u16, body: &[u8]) {
    out.extend_from_slice(&typ.to_be_bytes());
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

fn u16_list(len_bytes: usize, vals: &[u16]) -> Vec<u8> {
    let mut d = Vec::new();
    if len_bytes == 2 {
        d.extend_from_slice(&((vals.len() * 2) as u16).to_be_bytes());
    } else {
        d.push((vals.len() * 2) as u8);
    }
    for v in vals {
        d.extend_from_slice(&v.to_be_bytes());
    }
    d
}

/// A ClientHello body laid out like Chrome 131's.
fn chrome_like_body() -> Vec<u8> {
    let ciphers = [
        0x3a3a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
        0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
    ];
    let mut b = vec![0x03, 0x03];
    b.extend_from_slice(&[0x11; 32]);
    b.push(32);
    b.extend_from_slice(&[0x22; 32]);
    b.extend_from_slice(&u16_list(2, &ciphers));
    b.extend_from_slice(&[1, 0]);
    let mut e = Vec::new();
    ext(&mut e, 0x8a8a, &[]);
    ext(&mut e, 0x0033, &{
        let mut ks = Vec::new();
        let mut entries = Vec::new();
        entries.extend_from_slice(&[0x8a, 0x8a, 0x00, 0x01, 0x00]);
        entries.extend_from_slice(&[0x11, 0xec, 0x04, 0xc0]);
        entries.extend_from_slice(&[0x33; 1216]);
        entries.extend_from_slice(&[0x00, 0x1d, 0x00, 0x20]);
        entries.extend_from_slice(&[0x44; 32]);
        ks.extend_from_slice(&(entries.len() as u16).to_be_bytes());
        ks.extend(entries);
        ks
    });
    ext(&mut e, 0x0000, &{
        let name = b"www.example.com";
        let mut d = ((name.len() + 3) as u16).to_be_bytes().to_vec();
        d.push(0);
        d.extend_from_slice(&(name.len() as u16).to_be_bytes());
        d.extend_from_slice(name);
        d
    });
    ext(&mut e, 0x002d, &[1, 1]);
    ext(&mut e, 0x0023, &[]);
    ext(
        &mut e,
        0x0010,
        &[
            0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
        ],
    );
    ext(&mut e, 0x000b, &[1, 0]);
    ext(&mut e, 0x0005, &[1, 0, 0, 0, 0]);
    ext(&mut e, 0x0017, &[]);
    ext(&mut e, 0xff01, &[0]);
    ext(
        &mut e,
        0x000a,
        &u16_list(2, &[0x8a8a, 0x11ec, 0x001d, 0x0017, 0x0018]),
    );
    ext(&mut e, 0x0012, &[]);
    ext(
        &mut e,
        0x000d,
        &u16_list(
            2,
            &[
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
        ),
    );
    ext(&mut e, 0x001b, &[2, 0, 2]);
    ext(&mut e, 0x002b, &u16_list(1, &[0x5a5a, 0x0304, 0x0303]));
    ext(&mut e, 0x44cd, &[0, 3, 2, b'h', b'2']);
    ext(&mut e, 0xfe0d, &[0x55; 218]);
    ext(&mut e, 0x1a1a, &[0]);
    b.extend_from_slice(&(e.len() as u16).to_be_bytes());
    b.extend(e);
    b
}

fn bench(c: &mut Criterion) {
    let body = chrome_like_body();
    let mut record = vec![22, 3, 1];
    let msg_len = body.len() + 4;
    record.extend_from_slice(&(msg_len as u16).to_be_bytes());
    record.extend_from_slice(&[1, 0, (body.len() >> 8) as u8, body.len() as u8]);
    record.extend_from_slice(&body);
    eprintln!("ClientHello record: {} bytes", record.len());

    c.bench_function("parse_client_hello", |b| {
        b.iter(|| ClientHello::parse(black_box(&body)).unwrap())
    });
    let ch = ClientHello::parse(&body).unwrap();
    c.bench_function("ja3", |b| b.iter(|| ja3(black_box(&ch))));
    c.bench_function("ja4", |b| b.iter(|| ja4(black_box(&ch), Transport::Tcp)));
    c.bench_function("ja4_original", |b| {
        b.iter(|| shakedown_fingerprints::ja4::ja4_original(black_box(&ch), Transport::Tcp))
    });
    // The target as one measurement: a first-seen stack's hello parsed
    // and fingerprinted (JA3 and sorted JA4, hashed and raw).
    c.bench_function("parse_ja3_ja4", |b| {
        b.iter(|| {
            let ch = ClientHello::parse(black_box(&body)).unwrap();
            (ja3(&ch), ja4(&ch, Transport::Tcp))
        })
    });
    let mut cache = shakedown_fingerprints::cache::FingerprintCache::default();
    c.bench_function("parse_then_cached_fingerprints", |b| {
        // A repeat client stack: parse, then all client fingerprints from the memo.
        b.iter(|| {
            let ch = ClientHello::parse(black_box(&body)).unwrap();
            cache.client(&ch, Transport::Tcp)
        })
    });
    c.bench_function("record_parse_ja3_ja4", |b| {
        b.iter(|| {
            let mut stream = TlsStream::default();
            let mut out = None;
            // Two segments, as a 1.8 KB hello arrives on a 1500-byte path.
            for part in black_box(&record).chunks(1448) {
                stream.feed(part, &mut |e| {
                    if let shakedown_fingerprints::TlsEvent::Handshake { body, .. } = e {
                        let ch = ClientHello::parse(body).unwrap();
                        out = Some((ja3(&ch), ja4(&ch, Transport::Tcp)));
                    }
                });
            }
            out
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
