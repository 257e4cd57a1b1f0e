//! QUIC: arbitrary datagrams through long-header parsing, Initial key
//! derivation and decryption; arbitrary plaintext through CRYPTO frame
//! parsing and the CRYPTO stream reassembler, and the ClientHello parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shakedown_capture::quic::{self, CryptoStream, InitialKeys};
use shakedown_fingerprints::ClientHello;

const MAX_CRYPTO: usize = 16 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        // A datagram as captured.
        let _ = quic::looks_like_initial(rest);
        let mut largest = None;
        for h in quic::long_headers(rest).take(8).flatten() {
            if let Some(keys) = InitialKeys::derive(h.version, h.dcid) {
                if let Some((plain, pn)) = quic::decrypt_initial(&h, &keys.client, largest) {
                    largest = Some(pn);
                    let mut cs = CryptoStream::default();
                    quic::crypto_frames(&plain, |off, d| cs.add(off, d, MAX_CRYPTO));
                }
            }
        }
    } else {
        // Decrypted Initial payloads: frames into the CRYPTO stream.
        let mut cs = CryptoStream::default();
        for payload in rest.split(|&b| b == 0xFE).take(16) {
            quic::crypto_frames(payload, |off, d| cs.add(off, d, MAX_CRYPTO));
            assert!(cs.buffered_bytes() <= MAX_CRYPTO.next_power_of_two() * 2);
        }
        if let Some((1, body)) = cs.first_message() {
            let _ = ClientHello::parse(body);
        }
        cs.release();
    }
});
