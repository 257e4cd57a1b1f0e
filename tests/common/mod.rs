//! Test helpers: write small pcap files of hand-built TCP/TLS conversations and
//! run the `shakedown` binary on them.
#![allow(dead_code)]

pub mod evaluate;
pub mod reference;

use etherparse::PacketBuilder;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A classic pcap (microsecond timestamps, Ethernet) written in memory.
pub struct PcapWriter {
    pub bytes: Vec<u8>,
    pub ts_us: u64,
}

impl Default for PcapWriter {
    fn default() -> Self {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&0i32.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&262_144u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
        PcapWriter {
            bytes,
            ts_us: 1_700_000_000_000_000,
        }
    }
}

impl PcapWriter {
    pub fn frame(&mut self, frame: &[u8]) {
        self.ts_us += 1000;
        let (s, us) = (self.ts_us / 1_000_000, self.ts_us % 1_000_000);
        self.bytes.extend_from_slice(&(s as u32).to_le_bytes());
        self.bytes.extend_from_slice(&(us as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(frame);
    }

    pub fn write_to(&self, path: &Path) {
        std::fs::write(path, &self.bytes).unwrap();
    }
}

/// One TCP connection between a client and a server, IPv4 or IPv6.
#[derive(Clone)]
pub struct TcpConn {
    pub client: ([u8; 16], u16),
    pub server: ([u8; 16], u16),
    pub v6: bool,
    pub vlan: Option<u16>,
    pub client_isn: u32,
    pub server_isn: u32,
}

impl TcpConn {
    pub fn v4(client: [u8; 4], cport: u16, server: [u8; 4], sport: u16) -> TcpConn {
        let mut c = [0u8; 16];
        c[..4].copy_from_slice(&client);
        let mut s = [0u8; 16];
        s[..4].copy_from_slice(&server);
        TcpConn {
            client: (c, cport),
            server: (s, sport),
            v6: false,
            vlan: None,
            client_isn: 1000,
            server_isn: 5000,
        }
    }

    /// One segment. `from_client` picks the direction; `rel_seq` is relative to
    /// the sender's ISN + 1.
    pub fn segment(&self, from_client: bool, flags: &str, rel_seq: u32, payload: &[u8]) -> Vec<u8> {
        let (src, dst, isn, peer_isn) = if from_client {
            (self.client, self.server, self.client_isn, self.server_isn)
        } else {
            (self.server, self.client, self.server_isn, self.client_isn)
        };
        let syn = flags.contains('S');
        let seq = if syn {
            isn
        } else {
            isn.wrapping_add(1).wrapping_add(rel_seq)
        };
        let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let ip = if let Some(vid) = self.vlan {
            let eth = eth.single_vlan(etherparse::VlanId::try_new(vid).unwrap());
            if self.v6 {
                eth.ipv6(src.0, dst.0, 64)
            } else {
                eth.ipv4(
                    src.0[..4].try_into().unwrap(),
                    dst.0[..4].try_into().unwrap(),
                    64,
                )
            }
        } else if self.v6 {
            eth.ipv6(src.0, dst.0, 64)
        } else {
            eth.ipv4(
                src.0[..4].try_into().unwrap(),
                dst.0[..4].try_into().unwrap(),
                64,
            )
        };
        let mut tcp = ip.tcp(src.1, dst.1, seq, 64240);
        if syn {
            tcp = tcp.syn();
            tcp = tcp
                .options(&[
                    etherparse::TcpOptionElement::MaximumSegmentSize(1460),
                    etherparse::TcpOptionElement::SelectiveAcknowledgementPermitted,
                    etherparse::TcpOptionElement::Noop,
                    etherparse::TcpOptionElement::WindowScale(7),
                ])
                .unwrap();
        }
        if flags.contains('A') {
            tcp = tcp.ack(peer_isn.wrapping_add(1));
        }
        if flags.contains('F') {
            tcp = tcp.fin();
        }
        if flags.contains('R') {
            tcp = tcp.rst();
        }
        if flags.contains('P') {
            tcp = tcp.psh();
        }
        let mut out = Vec::with_capacity(payload.len() + 80);
        tcp.write(&mut out, payload).unwrap();
        out
    }
}

/// Wraps a handshake message body in a handshake header and one TLS record.
pub fn tls_record(content_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 3, 1];
    r.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    r.extend_from_slice(payload);
    r
}

pub fn handshake(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![msg_type, 0, (body.len() >> 8) as u8, body.len() as u8];
    m.extend_from_slice(body);
    m
}

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

/// A ClientHello body shaped like a modern browser's: GREASE, SNI, ALPN, a
/// 1.2 KB post-quantum key share (so it spans two 1460-byte segments).
pub fn browser_like_client_hello(sni: &str) -> Vec<u8> {
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
    ext(&mut e, 0x0000, &{
        let mut d = ((sni.len() + 3) as u16).to_be_bytes().to_vec();
        d.push(0);
        d.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        d.extend_from_slice(sni.as_bytes());
        d
    });
    ext(&mut e, 0x0017, &[]);
    ext(&mut e, 0xff01, &[0]);
    ext(
        &mut e,
        0x000a,
        &u16_list(2, &[0x8a8a, 0x11ec, 0x001d, 0x0017, 0x0018]),
    );
    ext(&mut e, 0x000b, &[1, 0]);
    ext(&mut e, 0x0023, &[]);
    ext(
        &mut e,
        0x0010,
        &[
            0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
        ],
    );
    ext(&mut e, 0x0005, &[1, 0, 0, 0, 0]);
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
    ext(&mut e, 0x0012, &[]);
    ext(&mut e, 0x0033, &{
        let mut entries = vec![0x11, 0xec, 0x04, 0xc0];
        entries.extend_from_slice(&[0x33; 1216]);
        entries.extend_from_slice(&[0x00, 0x1d, 0x00, 0x20]);
        entries.extend_from_slice(&[0x44; 32]);
        let mut ks = (entries.len() as u16).to_be_bytes().to_vec();
        ks.extend(entries);
        ks
    });
    ext(&mut e, 0x002d, &[1, 1]);
    ext(&mut e, 0x002b, &u16_list(1, &[0x5a5a, 0x0304, 0x0303]));
    ext(&mut e, 0x001b, &[2, 0, 2]);
    ext(&mut e, 0x1a1a, &[0]);
    b.extend_from_slice(&(e.len() as u16).to_be_bytes());
    b.extend(e);
    b
}

/// A TLS 1.3 ServerHello body (cipher 0x1301, supported_versions + key_share).
pub fn server_hello_13() -> Vec<u8> {
    let mut b = vec![0x03, 0x03];
    b.extend_from_slice(&[0x55; 32]);
    b.push(32);
    b.extend_from_slice(&[0x22; 32]);
    b.extend_from_slice(&[0x13, 0x01, 0x00]);
    let mut e = Vec::new();
    ext(&mut e, 0x002b, &[0x03, 0x04]);
    let mut ks = vec![0x00, 0x1d, 0x00, 0x20];
    ks.extend_from_slice(&[0x66; 32]);
    ext(&mut e, 0x0033, &ks);
    b.extend_from_slice(&(e.len() as u16).to_be_bytes());
    b.extend(e);
    b
}

pub fn shakedown(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(args)
        .output()
        .expect("run shakedown")
}

pub fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

/// A fresh scratch directory under the target dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether a program is on the PATH (tests that need it skip, saying so, without it).
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A throwaway self-signed certificate and key (`c.pem`, `k.pem`) in `dir`.
pub fn make_cert(dir: &Path, cn: &str) {
    let st = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", &format!("/CN={cn}")])
        .arg("-keyout")
        .arg(dir.join("k.pem"))
        .arg("-out")
        .arg(dir.join("c.pem"))
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "openssl req failed");
}

/// Every program of `tools` is on the PATH; otherwise says which one is
/// missing, for the test to skip.
pub fn missing_tool(tools: &[&str]) -> Option<String> {
    tools
        .iter()
        .find(|t| !have(t))
        .map(|t| format!("SKIPPED: {t} not installed"))
}

/// A TCP port free on 127.0.0.1 at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process that is killed when the test lets go of it, also when the
/// test fails half-way (no server left running after a panic).
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cmd` (an `openssl` command, maybe run in a namespace) made a quiet
/// `s_server -www` on `accept` with the certificate of `make_cert(dir)`.
pub fn s_server(mut cmd: Command, dir: &Path, accept: &str) -> Running {
    Running(
        cmd.args(["s_server", "-accept", accept, "-www", "-quiet"])
            .arg("-cert")
            .arg(dir.join("c.pem"))
            .arg("-key")
            .arg(dir.join("k.pem"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The handshake bot of the live tests: `total` `openssl s_client`
/// handshakes without a request, `batch` at a time, each bounded to 3 s by
/// `timeout`. `timeout_cmd` gives a fresh `timeout` command (maybe run in a
/// namespace); `extra` are more s_client arguments.
pub fn s_client_burst(
    timeout_cmd: impl Fn() -> Command,
    connect: &str,
    extra: &[&str],
    total: usize,
    batch: usize,
) {
    for _ in 0..total.div_ceil(batch) {
        let running: Vec<std::process::Child> = (0..batch)
            .map(|_| {
                let mut c = timeout_cmd();
                c.args(["3", "openssl", "s_client", "-connect", connect])
                    .args(extra)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in running {
            let _ = c.wait();
        }
    }
}

/// A named pipe at `dir/name` (captures fed to shakedown while it reads).
pub fn mkfifo(dir: &Path, name: &str) -> PathBuf {
    let fifo = dir.join(name);
    let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success(), "mkfifo {}", fifo.display());
    fifo
}
