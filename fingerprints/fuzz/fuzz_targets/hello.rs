//! ClientHello / ServerHello bodies (and SSLv2 hellos) from arbitrary bytes,
//! through every fingerprint computed from them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shakedown_fingerprints::ja4::Transport;
use shakedown_fingerprints::{ja3, ja4, ja4s, ClientHello, ServerHello};

fuzz_target!(|data: &[u8]| {
    if let Ok(ch) = ClientHello::parse(data) {
        if let Some(j) = ja3::ja3(&ch) {
            assert_eq!(j.hash.len(), 32);
            assert!(j.full.is_ascii());
        }
        for t in [Transport::Tcp, Transport::Quic] {
            let j = ja4::ja4(&ch, t);
            let o = ja4::ja4_original(&ch, t);
            // ASCII, three sections, fixed lengths, whatever the input.
            assert!(j.ja4.is_ascii() && j.ja4_r.is_ascii(), "{j:?}");
            let parts: Vec<&str> = j.ja4.split('_').collect();
            assert_eq!(parts.len(), 3, "{j:?}");
            assert_eq!(
                (parts[0].len(), parts[1].len(), parts[2].len()),
                (10, 12, 12),
                "{j:?}"
            );
            assert!(o.ja4_o.is_ascii() && o.ja4_ro.is_ascii(), "{o:?}");
        }
        let _ = (ch.highest_version(), ch.offers_resumption());
    }
    if let Ok(ch) = ClientHello::parse_sslv2(data) {
        let _ = ja3::ja3(&ch);
        let _ = ja4::ja4(&ch, Transport::Tcp);
    }
    if let Ok(sh) = ServerHello::parse(data) {
        let j = ja3::ja3s(&sh);
        assert_eq!(j.hash.len(), 32);
        let s = ja4s::ja4s(&sh, Transport::Tcp);
        assert!(s.ja4s.is_ascii() && s.ja4s_r.is_ascii(), "{s:?}");
        let _ = sh.version();
    }
});
