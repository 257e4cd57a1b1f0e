//! Per-connection features from TLS record headers: request/response
//! exchanges, their sizes and timing. No payload is ever read: a request is a
//! burst of client application-data records, its response the burst of server
//! records that follows.

use shakedown_capture::{RecordMeta, Timestamp};
use shakedown_fingerprints::record::{
    CONTENT_ALERT, CONTENT_APPLICATION_DATA, CONTENT_CHANGE_CIPHER_SPEC,
};

/// One request and its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    /// Time of the first record of the request.
    pub request_ts: Timestamp,
    pub request_bytes: u32,
    /// 0 when no response came before the next request or the end.
    pub response_bytes: u32,
    /// Request start to first response record, nanoseconds (`None` without response).
    pub ttfb_ns: Option<i64>,
}

/// An HTTP/2 connection's first request burst this small is the preface and
/// SETTINGS alone (browsers send their first request with it; some clients do not).
const PREFACE_ONLY: u32 = 128;

/// Length of a TLS 1.3 alert record: the 2-byte alert, the inner content type
/// and a 16-byte AEAD tag (every TLS 1.3 suite but CCM_8), unpadded. TLS 1.3
/// hides the content type, but no request or response is this short (an
/// HTTP/2 frame header alone is 9 bytes), so a record of this length is a
/// close_notify or an error, never data.
const TLS13_ALERT_RECORD: u16 = 19;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Burst {
    None,
    Client,
    Server,
}

/// Builds exchanges incrementally from a connection's record headers.
#[derive(Debug, Clone)]
pub struct ExchangeTracker {
    tls13: bool,
    /// HTTP/2: the first exchange is the connection preface and settings.
    skip_first: bool,
    client_app_records: u32,
    burst: Burst,
    request_ts: Timestamp,
    request_bytes: u32,
    response_bytes: u32,
    response_first: Option<Timestamp>,
    pub exchanges: u32,
    pub client_app_bytes: u64,
    pub server_app_bytes: u64,
    /// An alert was seen (close_notify included).
    pub alert: bool,
    /// The handshake completed: TLS 1.3 client Finished, TLS 1.2 server
    /// ChangeCipherSpec, or any application data.
    handshake_done: bool,
    /// An alert came before the handshake completed: it failed.
    pub handshake_alert: bool,
}

impl ExchangeTracker {
    /// `tls13`: the server chose TLS 1.3, whose handshake tail (server
    /// certificate flight, client Finished) travels in application-data records.
    pub fn new(tls13: bool) -> ExchangeTracker {
        ExchangeTracker {
            tls13,
            skip_first: false,
            client_app_records: 0,
            burst: Burst::None,
            request_ts: Timestamp(0),
            request_bytes: 0,
            response_bytes: 0,
            response_first: None,
            exchanges: 0,
            client_app_bytes: 0,
            server_app_bytes: 0,
            alert: false,
            handshake_done: false,
            handshake_alert: false,
        }
    }

    /// Feeds one record header; completed exchanges go to `out`.
    pub fn record(&mut self, r: &RecordMeta, out: &mut impl FnMut(Exchange)) {
        let encrypted_alert = self.tls13
            && r.content_type == CONTENT_APPLICATION_DATA
            && r.length == TLS13_ALERT_RECORD;
        if r.content_type == CONTENT_ALERT || encrypted_alert {
            self.alert = true;
            self.handshake_alert |= !self.handshake_done;
            return;
        }
        if r.content_type == CONTENT_CHANGE_CIPHER_SPEC && !r.from_client && !self.tls13 {
            self.handshake_done = true;
        }
        if r.content_type != CONTENT_APPLICATION_DATA {
            return;
        }
        let len = r.length as u32;
        if r.from_client {
            self.client_app_records += 1;
            self.handshake_done = true;
            if self.tls13 && self.client_app_records == 1 {
                return; // the client's Finished
            }
            self.client_app_bytes += len as u64;
            match self.burst {
                Burst::Client => self.request_bytes += len,
                Burst::Server | Burst::None => {
                    self.complete(out);
                    self.burst = Burst::Client;
                    self.request_ts = r.ts;
                    self.request_bytes = len;
                    self.response_bytes = 0;
                    self.response_first = None;
                }
            }
        } else {
            self.handshake_done |= !self.tls13;
            // Before the first request: TLS 1.3 handshake flight, session tickets.
            if self.client_app_records == 0 || (self.tls13 && self.client_app_records == 1) {
                return;
            }
            self.server_app_bytes += len as u64;
            match self.burst {
                Burst::Client => {
                    self.burst = Burst::Server;
                    self.response_first = Some(r.ts);
                    self.response_bytes = len;
                }
                Burst::Server => self.response_bytes += len,
                Burst::None => {}
            }
        }
    }

    /// Sets whether the server chose TLS 1.3 (known once its hello is seen,
    /// before any application data).
    pub fn set_tls13(&mut self, tls13: bool) {
        self.tls13 = tls13;
    }

    /// The server chose HTTP/2 (ALPN `h2`): the first exchange, the
    /// connection preface and SETTINGS, is not a request.
    pub fn set_h2(&mut self, h2: bool) {
        self.skip_first = h2;
    }

    /// Emits the exchange in progress (end of connection).
    pub fn finish(&mut self, out: &mut impl FnMut(Exchange)) {
        self.complete(out);
        self.burst = Burst::None;
    }

    fn complete(&mut self, out: &mut impl FnMut(Exchange)) {
        if self.burst == Burst::None {
            return;
        }
        if self.skip_first {
            self.skip_first = false;
            if self.request_bytes < PREFACE_ONLY {
                return;
            }
        }
        self.exchanges += 1;
        out(Exchange {
            request_ts: self.request_ts,
            request_bytes: self.request_bytes,
            response_bytes: self.response_bytes,
            ttfb_ns: self.response_first.map(|t| t.nanos_since(self.request_ts)),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ts: i64, from_client: bool, ct: u8, len: u16) -> RecordMeta {
        RecordMeta {
            ts: Timestamp(ts),
            from_client,
            content_type: ct,
            length: len,
        }
    }

    fn run(tls13: bool, recs: &[RecordMeta]) -> (Vec<Exchange>, ExchangeTracker) {
        let mut t = ExchangeTracker::new(tls13);
        let mut out = Vec::new();
        for r in recs {
            t.record(r, &mut |e| out.push(e));
        }
        t.finish(&mut |e| out.push(e));
        (out, t)
    }

    #[test]
    fn tls13_handshake_tail_is_not_an_exchange() {
        let recs = [
            rec(0, true, 22, 512),   // ClientHello
            rec(1, false, 22, 90),   // ServerHello
            rec(1, false, 20, 1),    // CCS
            rec(1, false, 23, 2000), // EE..Finished
            rec(2, true, 20, 1),     // CCS
            rec(2, true, 23, 53),    // client Finished
            rec(2, true, 23, 300),   // request 1
            rec(3, false, 23, 250),  // ticket (merged into response)
            rec(4, false, 23, 1000), // response 1
            rec(5, false, 23, 400),
            rec(9, true, 23, 310),  // request 2
            rec(10, false, 23, 30), // response 2
        ];
        let (ex, t) = run(true, &recs);
        assert_eq!(ex.len(), 2);
        assert_eq!(
            (ex[0].request_bytes, ex[0].response_bytes, ex[0].ttfb_ns),
            (300, 1650, Some(1))
        );
        assert_eq!((ex[1].request_bytes, ex[1].response_bytes), (310, 30));
        assert_eq!(t.exchanges, 2);
    }

    #[test]
    fn tls12_and_unanswered_request_and_alert() {
        let recs = [
            rec(0, true, 23, 100),
            rec(1, true, 23, 20),
            rec(2, false, 23, 40),
            rec(3, true, 23, 100),
            rec(4, true, 21, 2),
        ];
        let (ex, t) = run(false, &recs);
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[0].request_bytes, 120);
        assert_eq!((ex[1].response_bytes, ex[1].ttfb_ns), (0, None));
        assert!(t.alert);
    }

    #[test]
    fn http2_preface_is_not_a_request() {
        let mut t = ExchangeTracker::new(false);
        t.set_h2(true);
        let mut out = Vec::new();
        for r in [
            rec(0, true, 23, 90),
            rec(1, false, 23, 40),
            rec(2, true, 23, 300),
            rec(3, false, 23, 60),
        ] {
            t.record(&r, &mut |e| out.push(e));
        }
        t.finish(&mut |e| out.push(e));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].request_bytes, 300);

        // A client that sends its first request with the preface keeps it.
        let mut t = ExchangeTracker::new(false);
        t.set_h2(true);
        let mut out = Vec::new();
        for r in [
            rec(0, true, 23, 700),
            rec(1, false, 23, 176),
            rec(2, true, 23, 31),
        ] {
            t.record(&r, &mut |e| out.push(e));
        }
        t.finish(&mut |e| out.push(e));
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].request_bytes, out[0].response_bytes), (700, 176));
    }

    #[test]
    fn tls13_close_notify_is_not_a_request() {
        // openssl s_client with nothing to send: Finished, then close_notify
        // (19 bytes) answered by the server's close_notify.
        let recs = [
            rec(0, true, 22, 512),
            rec(1, false, 22, 90),
            rec(1, false, 23, 2000),
            rec(2, true, 23, 53),  // client Finished
            rec(2, true, 23, 19),  // close_notify
            rec(3, false, 23, 19), // the server's close_notify
            rec(3, false, 23, 250),
        ];
        let (ex, t) = run(true, &recs);
        assert!(ex.is_empty(), "{ex:?}");
        assert_eq!(t.client_app_bytes, 0);
        assert!(t.alert && !t.handshake_alert);
    }

    #[test]
    fn alert_before_the_handshake_completes_is_a_failure() {
        // TLS 1.3: the client rejects the certificate and alerts (encrypted)
        // instead of sending its Finished.
        let (_, t) = run(
            true,
            &[
                rec(0, true, 22, 512),
                rec(1, false, 22, 90),
                rec(1, false, 23, 2000),
                rec(2, true, 23, 19),
            ],
        );
        assert!(t.handshake_alert);
        // TLS 1.2: a cleartext alert before the server's ChangeCipherSpec.
        let (_, t) = run(
            false,
            &[
                rec(0, true, 22, 512),
                rec(1, false, 22, 3000),
                rec(2, true, 21, 2),
            ],
        );
        assert!(t.handshake_alert);
        // TLS 1.2 closed with close_notify after an exchange: not a failure.
        let (ex, t) = run(
            false,
            &[
                rec(0, true, 22, 512),
                rec(1, false, 22, 3000),
                rec(2, true, 20, 1),
                rec(2, true, 22, 40),
                rec(3, false, 20, 1),
                rec(3, false, 22, 40),
                rec(4, true, 23, 100),
                rec(5, false, 23, 900),
                rec(6, true, 21, 26),
            ],
        );
        assert_eq!(ex.len(), 1);
        assert!(t.alert && !t.handshake_alert);
        // Nor is a TLS 1.2 session closed right after its handshake.
        let (_, t) = run(
            false,
            &[
                rec(0, true, 22, 512),
                rec(1, false, 22, 3000),
                rec(3, false, 20, 1),
                rec(3, false, 22, 40),
                rec(6, true, 21, 26),
            ],
        );
        assert!(!t.handshake_alert);
    }

    #[test]
    fn handshake_only_has_no_exchange() {
        let (ex, t) = run(
            true,
            &[
                rec(0, true, 22, 512),
                rec(1, false, 22, 90),
                rec(1, false, 23, 2000),
            ],
        );
        assert!(ex.is_empty());
        assert_eq!(t.client_app_bytes, 0);
    }
}
