//! The per-connection output record of `shakedown fingerprint` (one JSON line
//! each). Field names and meanings follow the conformance corpus schema; see
//! docs/fingerprints.md.

use crate::addrfmt::push_ip;
use crate::json_line::JsonObject;
use crate::stack_names::SynSignatures;
use crate::timefmt::{rfc3339_micros, rfc3339_micros_bytes};
use hashbrown::HashMap;
use serde::Serialize;
use shakedown_capture::tracker::Timed;
use shakedown_capture::Connection;
use shakedown_fingerprints::cache::{ClientFingerprints, FingerprintCache, ServerFingerprints};
use shakedown_fingerprints::ja3::{ja3, ja3s};
use shakedown_fingerprints::ja4::ja4;
use shakedown_fingerprints::{ClientHello, ServerHello};
use std::borrow::Cow;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConnectionRecord {
    /// First packet of the connection (capture time, UTC).
    pub ts: String,
    pub transport: &'static str,
    pub src_ip: String,
    pub src_port: u16,
    pub dst_ip: String,
    pub dst_port: u16,
    pub sni: Option<String>,
    /// ALPN protocols offered by the client (lossy UTF-8).
    pub alpn: Option<Vec<String>>,
    /// Highest version offered by the client.
    pub tls_version: Option<String>,
    /// Version the server selected.
    pub server_tls_version: Option<String>,
    pub ja3: Option<String>,
    pub ja3_full: Option<String>,
    pub ja3s: Option<String>,
    pub ja3s_full: Option<String>,
    pub ja4: Option<String>,
    pub ja4_r: Option<String>,
    pub ja4_o: Option<String>,
    pub ja4_ro: Option<String>,
    /// shakedown's TCP SYN signature of the client.
    pub tcp_sig: Option<String>,
    /// shakedown's TCP signature of the server's SYN-ACK.
    pub tcp_sig_server: Option<String>,
    #[cfg(feature = "ja4plus")]
    pub ja4s: Option<String>,
    #[cfg(feature = "ja4plus")]
    pub ja4s_r: Option<String>,
    #[cfg(feature = "ja4plus")]
    pub ja4t: Option<String>,
    #[cfg(feature = "ja4plus")]
    pub ja4ts: Option<String>,
    /// Client packets that carried the first ClientHello (TCP).
    pub client_hello_packets: Option<u32>,
    pub resumption: Option<bool>,
    pub later_client_hellos: Vec<LaterClientHello>,
    pub later_server_hellos: Vec<LaterServerHello>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LaterClientHello {
    pub ts: String,
    pub sni: Option<String>,
    pub ja3: Option<String>,
    pub ja3_full: Option<String>,
    pub ja4: String,
    pub ja4_r: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LaterServerHello {
    pub ts: String,
    pub hello_retry_request: bool,
    pub ja3s: String,
    pub ja3s_full: String,
    #[cfg(feature = "ja4plus")]
    pub ja4s: String,
}

/// Human name of a TLS version code point.
pub fn version_name(v: u16) -> Cow<'static, str> {
    match v {
        0x0304 => "TLSv1.3".into(),
        0x0303 => "TLSv1.2".into(),
        0x0302 => "TLSv1.1".into(),
        0x0301 => "TLSv1.0".into(),
        0x0300 => "SSLv3".into(),
        0x0002 => "SSLv2".into(),
        0xfeff => "DTLSv1.0".into(),
        0xfefd => "DTLSv1.2".into(),
        0xfefc => "DTLSv1.3".into(),
        v if v >> 8 == 0x7f => format!("TLSv1.3-draft{}", v & 0xff).into(),
        v => format!("{v:#06x}").into(),
    }
}

/// Writes `fingerprint`'s records: the JSON object of a connection (no
/// newline), the same bytes as `serde_json` gives for
/// [`ConnectionRecord::from_connection`] (tests/json_output.rs), written
/// straight from the connection rather than through a record of owned
/// strings, because it runs for every connection. The fields that depend only
/// on a client stack or a server's answer (the fingerprints, raw forms
/// included: most of a record's bytes) are rendered once per memoised set and
/// copied after that; a SYN's signature is formatted once per SYN.
#[derive(Default)]
pub struct ConnectionJson {
    pub cache: FingerprintCache,
    /// Keyed by the memoised fingerprints' address; the entry holds that
    /// `Arc`, so the address cannot be reused by another set while it is here.
    clients: HashMap<usize, RenderedClient>,
    servers: HashMap<usize, (Arc<ServerFingerprints>, Box<[u8]>)>,
    sigs: SynSignatures,
}

/// Rendered sets kept (per kind) before the memo is cleared.
const RENDERED: usize = 16_384;

struct RenderedClient {
    _fp: Arc<ClientFingerprints>,
    /// `"ja3":..,"ja3_full":..`
    ja3: Box<[u8]>,
    /// `"ja4":..,"ja4_r":..,"ja4_o":..,"ja4_ro":..`
    ja4: Box<[u8]>,
}

impl RenderedClient {
    fn new(fp: &Arc<ClientFingerprints>) -> RenderedClient {
        let (mut ja3, mut ja4) = (Vec::new(), Vec::new());
        let mut o = JsonObject::fragment(&mut ja3);
        let j3 = fp.ja3.as_ref();
        o.opt_str("ja3", j3.map(|j| j.hash.as_str()));
        o.opt_str("ja3_full", j3.map(|j| j.full.as_str()));
        let mut o = JsonObject::fragment(&mut ja4);
        o.str("ja4", &fp.ja4.ja4);
        o.str("ja4_r", &fp.ja4.ja4_r);
        o.str("ja4_o", &fp.ja4_original.ja4_o);
        o.str("ja4_ro", &fp.ja4_original.ja4_ro);
        RenderedClient {
            _fp: fp.clone(),
            ja3: ja3.into(),
            ja4: ja4.into(),
        }
    }
}

/// The memoised rendering of `key`, made by `render` if absent (a full memo
/// is cleared first).
fn rendered<K: std::hash::Hash + Eq, V>(
    memo: &mut HashMap<K, V>,
    key: K,
    render: impl FnOnce() -> V,
) -> &V {
    if memo.len() >= RENDERED && !memo.contains_key(&key) {
        memo.clear();
    }
    memo.entry(key).or_insert_with(render)
}

impl ConnectionJson {
    /// Appends the JSON object of `c` (no newline).
    pub fn write(&mut self, c: &Connection, out: &mut Vec<u8>) {
        let ch = c.client_hellos.first().map(|t| &*t.value);
        let sh = c.server_hellos.first().map(|t| &t.value);
        let fp = ch.map(|h| self.cache.client(h, c.transport));
        let sfp = sh.map(|h| self.cache.server(h, c.transport));
        let client = fp.as_ref().map(|fp| {
            rendered(&mut self.clients, Arc::as_ptr(fp) as usize, || {
                RenderedClient::new(fp)
            })
        });
        let mut o = JsonObject::begin(out);
        write_head(&mut o, c, ch, sh);
        match client {
            Some(r) => o.fields(&r.ja3),
            None => {
                o.opt_str("ja3", None);
                o.opt_str("ja3_full", None);
            }
        }
        match &sfp {
            Some(sfp) => {
                let (_, ja3s) = rendered(&mut self.servers, Arc::as_ptr(sfp) as usize, || {
                    let mut f = Vec::new();
                    let mut o = JsonObject::fragment(&mut f);
                    o.str("ja3s", &sfp.ja3s.hash);
                    o.str("ja3s_full", &sfp.ja3s.full);
                    (sfp.clone(), f.into())
                });
                o.fields(ja3s);
            }
            None => {
                o.opt_str("ja3s", None);
                o.opt_str("ja3s_full", None);
            }
        }
        match client {
            Some(r) => o.fields(&r.ja4),
            None => {
                for name in ["ja4", "ja4_r", "ja4_o", "ja4_ro"] {
                    o.opt_str(name, None);
                }
            }
        }
        for (name, syn) in [
            ("tcp_sig", &c.client_syn),
            ("tcp_sig_server", &c.server_syn),
        ] {
            match syn {
                Some(s) => o.ascii(name, self.sigs.get(s).as_bytes()),
                None => o.opt_str(name, None),
            }
        }
        write_tail(o, c, ch, sfp.as_deref());
    }
}

/// The fields before the fingerprints.
fn write_head(
    o: &mut JsonObject<'_>,
    c: &Connection,
    ch: Option<&ClientHello>,
    sh: Option<&ServerHello>,
) {
    let mut scratch = Vec::with_capacity(64);
    o.ascii("ts", &rfc3339_micros_bytes(c.first_ts));
    o.str("transport", c.transport.as_str());
    push_ip(&mut scratch, c.client_ip);
    o.ascii("src_ip", &scratch);
    o.uint("src_port", c.client_port.into());
    scratch.clear();
    push_ip(&mut scratch, c.server_ip);
    o.ascii("dst_ip", &scratch);
    o.uint("dst_port", c.server_port.into());
    o.opt_str("sni", ch.and_then(|h| h.server_name.as_deref()));
    match ch.filter(|h| h.has_extension(0x0010)) {
        Some(h) => o.str_list("alpn", h.alpn.iter().map(|a| String::from_utf8_lossy(a))),
        None => o.opt_str("alpn", None),
    }
    o.opt_str(
        "tls_version",
        ch.map(|h| version_name(h.highest_version())).as_deref(),
    );
    o.opt_str(
        "server_tls_version",
        sh.map(|h| version_name(h.version())).as_deref(),
    );
}

/// The fields after the fingerprints, and the end of the object.
#[cfg_attr(not(feature = "ja4plus"), allow(unused_variables))]
fn write_tail(
    mut o: JsonObject<'_>,
    c: &Connection,
    ch: Option<&ClientHello>,
    sfp: Option<&ServerFingerprints>,
) {
    #[cfg(feature = "ja4plus")]
    {
        let ja4s = sfp.map(|f| &f.ja4s);
        o.opt_str("ja4s", ja4s.map(|j| j.ja4s.as_str()));
        o.opt_str("ja4s_r", ja4s.map(|j| j.ja4s_r.as_str()));
        o.opt_str("ja4t", c.client_syn.as_ref().map(|s| s.ja4t()).as_deref());
        o.opt_str("ja4ts", c.server_syn.as_ref().map(|s| s.ja4t()).as_deref());
    }
    o.opt_uint(
        "client_hello_packets",
        (ch.is_some() && c.client_syn.is_some()).then_some(c.client_hello_packets.into()),
    );
    o.opt_bool("resumption", ch.map(|h| h.offers_resumption()));
    // Later hellos are rare (HelloRetryRequest, renegotiation): built as records.
    let later_client: Vec<_> = c
        .client_hellos
        .iter()
        .skip(1)
        .map(|t| later_client(t, c))
        .collect();
    o.list("later_client_hellos", &later_client, |o, h| {
        o.str("ts", &h.ts);
        o.opt_str("sni", h.sni.as_deref());
        o.opt_str("ja3", h.ja3.as_deref());
        o.opt_str("ja3_full", h.ja3_full.as_deref());
        o.str("ja4", &h.ja4);
        o.str("ja4_r", &h.ja4_r);
    });
    let later_server: Vec<_> = c
        .server_hellos
        .iter()
        .skip(1)
        .map(|t| later_server(t, c))
        .collect();
    o.list("later_server_hellos", &later_server, |o, h| {
        o.str("ts", &h.ts);
        o.bool("hello_retry_request", h.hello_retry_request);
        o.str("ja3s", &h.ja3s);
        o.str("ja3s_full", &h.ja3s_full);
        #[cfg(feature = "ja4plus")]
        o.str("ja4s", &h.ja4s);
    });
    o.end();
}

impl ConnectionRecord {
    /// Builds the record; client fingerprints come from (and go into) `cache`.
    pub fn from_connection(c: &Connection, cache: &mut FingerprintCache) -> ConnectionRecord {
        let ch = c.client_hellos.first().map(|t| &t.value);
        let sh = c.server_hellos.first().map(|t| &t.value);
        let fp = ch.map(|h| cache.client(h, c.transport));
        let j3 = fp.as_ref().and_then(|f| f.ja3.clone());
        let j3s = sh.map(ja3s);
        let j4 = fp.as_ref().map(|f| f.ja4.clone());
        let j4o = fp.as_ref().map(|f| f.ja4_original.clone());
        #[cfg(feature = "ja4plus")]
        let j4s = sh.map(|h| shakedown_fingerprints::ja4s::ja4s(h, c.transport));
        ConnectionRecord {
            ts: rfc3339_micros(c.first_ts),
            transport: c.transport.as_str(),
            src_ip: c.client_ip.to_string(),
            src_port: c.client_port,
            dst_ip: c.server_ip.to_string(),
            dst_port: c.server_port,
            sni: ch.and_then(|h| h.server_name.clone()),
            alpn: ch.filter(|h| h.has_extension(0x0010)).map(|h| {
                h.alpn
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            }),
            tls_version: ch.map(|h| version_name(h.highest_version()).into_owned()),
            server_tls_version: sh.map(|h| version_name(h.version()).into_owned()),
            ja3: j3.as_ref().map(|j| j.hash.clone()),
            ja3_full: j3.map(|j| j.full),
            ja3s: j3s.as_ref().map(|j| j.hash.clone()),
            ja3s_full: j3s.map(|j| j.full),
            ja4: j4.as_ref().map(|j| j.ja4.clone()),
            ja4_r: j4.map(|j| j.ja4_r),
            ja4_o: j4o.as_ref().map(|j| j.ja4_o.clone()),
            ja4_ro: j4o.map(|j| j.ja4_ro),
            tcp_sig: c.client_syn.as_ref().map(|s| s.tcp_sig()),
            tcp_sig_server: c.server_syn.as_ref().map(|s| s.tcp_sig()),
            #[cfg(feature = "ja4plus")]
            ja4s: j4s.as_ref().map(|j| j.ja4s.clone()),
            #[cfg(feature = "ja4plus")]
            ja4s_r: j4s.map(|j| j.ja4s_r),
            #[cfg(feature = "ja4plus")]
            ja4t: c.client_syn.as_ref().map(|s| s.ja4t()),
            #[cfg(feature = "ja4plus")]
            ja4ts: c.server_syn.as_ref().map(|s| s.ja4t()),
            client_hello_packets: (ch.is_some() && c.client_syn.is_some())
                .then_some(c.client_hello_packets),
            resumption: ch.map(|h| h.offers_resumption()),
            later_client_hellos: c
                .client_hellos
                .iter()
                .skip(1)
                .map(|t| later_client(t, c))
                .collect(),
            later_server_hellos: c
                .server_hellos
                .iter()
                .skip(1)
                .map(|t| later_server(t, c))
                .collect(),
        }
    }
}

fn later_client(t: &Timed<Arc<ClientHello>>, c: &Connection) -> LaterClientHello {
    let j3 = ja3(&t.value);
    let j4 = ja4(&t.value, c.transport);
    LaterClientHello {
        ts: rfc3339_micros(t.ts),
        sni: t.value.server_name.clone(),
        ja3: j3.as_ref().map(|j| j.hash.clone()),
        ja3_full: j3.map(|j| j.full),
        ja4: j4.ja4,
        ja4_r: j4.ja4_r,
    }
}

fn later_server(t: &Timed<ServerHello>, c: &Connection) -> LaterServerHello {
    let j = ja3s(&t.value);
    let _ = c;
    LaterServerHello {
        ts: rfc3339_micros(t.ts),
        hello_retry_request: t.value.is_hello_retry_request,
        ja3s: j.hash,
        ja3s_full: j.full,
        #[cfg(feature = "ja4plus")]
        ja4s: shakedown_fingerprints::ja4s::ja4s(&t.value, c.transport).ja4s,
    }
}
