//! A TCP byte stream of arbitrary bytes, cut into chunks at arbitrary places,
//! through the incremental record reader; every hello it completes is parsed
//! and fingerprinted. The reader must never buffer more than its cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shakedown_fingerprints::ja4::Transport;
use shakedown_fingerprints::record::TlsEvent;
use shakedown_fingerprints::{ja3, ja4, ClientHello, ServerHello, TlsStream};

const CAP: usize = 16 * 1024;

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the chunk size (1..=256), so that the same
    // stream is tried both byte by byte and in larger pieces.
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let chunk = cut as usize + 1;
    let mut s = TlsStream::new(CAP);
    for piece in stream.chunks(chunk) {
        s.feed(piece, &mut |ev| match ev {
            TlsEvent::Handshake { msg_type: 1, body } => {
                if let Ok(ch) = ClientHello::parse(body) {
                    let _ = ja3::ja3(&ch);
                    let _ = ja4::ja4(&ch, Transport::Tcp);
                }
            }
            TlsEvent::Handshake { msg_type: 2, body } => {
                if let Ok(sh) = ServerHello::parse(body) {
                    let _ = ja3::ja3s(&sh);
                }
            }
            TlsEvent::Sslv2ClientHello { msg } => {
                let _ = ClientHello::parse_sslv2(msg);
            }
            _ => {}
        });
        assert!(
            s.buffered_bytes() <= CAP + 5,
            "{} buffered",
            s.buffered_bytes()
        );
        if s.is_done() {
            break;
        }
    }
});
