//! QUIC Initial packets: header parsing, Initial key derivation (RFC 9001 5.2,
//! RFC 9369 for v2), header-protection removal, AEAD decryption and CRYPTO-frame
//! reassembly. The keys come from the client's public Destination Connection ID:
//! anyone on the path can compute them, no private key is involved.

use aes::cipher::BlockEncrypt;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;

pub const VERSION_1: u32 = 0x0000_0001;
pub const VERSION_2: u32 = 0x6b33_43cf;

const SALT_V1: [u8; 20] = hex20(*b"38762cf7f55934b34d179ae6a4c80cadccbb7f0a");
const SALT_V2: [u8; 20] = hex20(*b"0dede3def700a6db819381be6e269dcbf9bd2ed9");
const SALT_DRAFT_29: [u8; 20] = hex20(*b"afbfec289993d24c9e9786f19c6111e04390a899");
const SALT_DRAFT_23: [u8; 20] = hex20(*b"c3eef712c72ebb5a11a7d2432bb46365bef9f502");

const fn hex20(s: [u8; 40]) -> [u8; 20] {
    const fn nib(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            _ => c - b'a' + 10,
        }
    }
    let mut out = [0u8; 20];
    let mut i = 0;
    while i < 20 {
        out[i] = (nib(s[2 * i]) << 4) | nib(s[2 * i + 1]);
        i += 1;
    }
    out
}

/// The Initial-key parameters of a QUIC version we can decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct VersionParams {
    salt: &'static [u8; 20],
    v2_labels: bool,
}

fn version_params(version: u32) -> Option<VersionParams> {
    match version {
        VERSION_1 => Some(VersionParams {
            salt: &SALT_V1,
            v2_labels: false,
        }),
        VERSION_2 => Some(VersionParams {
            salt: &SALT_V2,
            v2_labels: true,
        }),
        // IETF drafts 29-32 and 23-28 (still seen from old stacks).
        0xff00_001d..=0xff00_0020 => Some(VersionParams {
            salt: &SALT_DRAFT_29,
            v2_labels: false,
        }),
        0xff00_0017..=0xff00_001c => Some(VersionParams {
            salt: &SALT_DRAFT_23,
            v2_labels: false,
        }),
        _ => None,
    }
}

/// True if `version` uses v2's long-header packet type numbering.
fn is_v2(version: u32) -> bool {
    version == VERSION_2
}

/// Keys of one direction of the Initial packet number space.
#[derive(Clone)]
pub struct DirectionKeys {
    aead: Aes128Gcm,
    iv: [u8; 12],
    hp: aes::Aes128,
}

/// Client and server Initial keys for one Destination Connection ID.
#[derive(Clone)]
pub struct InitialKeys {
    pub version: u32,
    pub dcid: Vec<u8>,
    pub client: DirectionKeys,
    pub server: DirectionKeys,
}

impl InitialKeys {
    /// Derives the Initial keys from the client's Destination Connection ID.
    pub fn derive(version: u32, client_dcid: &[u8]) -> Option<InitialKeys> {
        let p = version_params(version)?;
        let (initial_secret, _) = Hkdf::<Sha256>::extract(Some(p.salt), client_dcid);
        let expand = |secret: &[u8], label: &str, len: usize| -> Vec<u8> {
            let hk = Hkdf::<Sha256>::from_prk(secret).expect("PRK is 32 bytes");
            let full = format!("tls13 {label}");
            let mut info = Vec::with_capacity(4 + full.len());
            info.extend_from_slice(&(len as u16).to_be_bytes());
            info.push(full.len() as u8);
            info.extend_from_slice(full.as_bytes());
            info.push(0);
            let mut out = vec![0u8; len];
            hk.expand(&info, &mut out).expect("length is valid");
            out
        };
        let (key_l, iv_l, hp_l) = if p.v2_labels {
            ("quicv2 key", "quicv2 iv", "quicv2 hp")
        } else {
            ("quic key", "quic iv", "quic hp")
        };
        let dir = |label: &str| -> DirectionKeys {
            let secret = expand(&initial_secret, label, 32);
            let key = expand(&secret, key_l, 16);
            let iv = expand(&secret, iv_l, 12);
            let hp = expand(&secret, hp_l, 16);
            DirectionKeys {
                aead: Aes128Gcm::new_from_slice(&key).expect("16-byte key"),
                iv: iv.try_into().expect("12-byte iv"),
                hp: aes::Aes128::new_from_slice(&hp).expect("16-byte key"),
            }
        };
        Some(InitialKeys {
            version,
            dcid: client_dcid.to_vec(),
            client: dir("client in"),
            server: dir("server in"),
        })
    }
}

/// A long-header packet found in a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongHeader<'a> {
    pub version: u32,
    pub kind: PacketKind,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    /// Offset of the (protected) packet number within `packet`.
    pub pn_offset: usize,
    /// The whole packet: header, packet number and protected payload.
    pub packet: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
    /// A version negotiation packet or a version we do not know.
    Other,
}

/// Quick check used before creating any state for a UDP datagram: a QUIC long
/// header Initial of a version we can decrypt.
pub fn looks_like_initial(datagram: &[u8]) -> bool {
    matches!(
        long_headers(datagram).next(),
        Some(Ok(h)) if h.kind == PacketKind::Initial && version_params(h.version).is_some()
    )
}

/// Iterates over the coalesced long-header packets of a datagram.
pub fn long_headers(datagram: &[u8]) -> impl Iterator<Item = Result<LongHeader<'_>, ()>> {
    let mut rest = datagram;
    std::iter::from_fn(move || {
        if rest.is_empty() || rest[0] & 0x80 == 0 {
            return None; // end, or a short-header packet (always last)
        }
        match parse_long_header(rest) {
            Ok((h, len)) => {
                rest = &rest[len..];
                Some(Ok(h))
            }
            Err(()) => {
                rest = &[];
                Some(Err(()))
            }
        }
    })
}

/// Parses one long-header packet; returns it and its length in the datagram.
fn parse_long_header(d: &[u8]) -> Result<(LongHeader<'_>, usize), ()> {
    let first = *d.first().ok_or(())?;
    let version = u32::from_be_bytes(d.get(1..5).ok_or(())?.try_into().map_err(|_| ())?);
    let mut off = 5;
    let dcid_len = *d.get(off).ok_or(())? as usize;
    let dcid = d.get(off + 1..off + 1 + dcid_len).ok_or(())?;
    off += 1 + dcid_len;
    let scid_len = *d.get(off).ok_or(())? as usize;
    let scid = d.get(off + 1..off + 1 + scid_len).ok_or(())?;
    off += 1 + scid_len;
    if version == 0 || version_params(version).is_none() {
        let h = LongHeader {
            version,
            kind: PacketKind::Other,
            dcid,
            scid,
            pn_offset: off,
            packet: d,
        };
        return Ok((h, d.len()));
    }
    let type_bits = (first >> 4) & 0x03;
    let kind = match (is_v2(version), type_bits) {
        (false, 0) | (true, 1) => PacketKind::Initial,
        (false, 1) | (true, 2) => PacketKind::ZeroRtt,
        (false, 2) | (true, 3) => PacketKind::Handshake,
        _ => PacketKind::Retry,
    };
    if kind == PacketKind::Retry {
        let h = LongHeader {
            version,
            kind,
            dcid,
            scid,
            pn_offset: off,
            packet: d,
        };
        return Ok((h, d.len()));
    }
    if kind == PacketKind::Initial {
        let (token_len, n) = varint(d.get(off..).ok_or(())?).ok_or(())?;
        off += n;
        off = off.checked_add(token_len as usize).ok_or(())?;
    }
    let (length, n) = varint(d.get(off..).ok_or(())?).ok_or(())?;
    off += n;
    let end = off.checked_add(length as usize).ok_or(())?;
    if end > d.len() {
        return Err(());
    }
    let h = LongHeader {
        version,
        kind,
        dcid,
        scid,
        pn_offset: off,
        packet: &d[..end],
    };
    Ok((h, end))
}

/// Reads a QUIC variable-length integer; returns (value, bytes used).
pub fn varint(d: &[u8]) -> Option<(u64, usize)> {
    let first = *d.first()?;
    let len = 1usize << (first >> 6);
    let bytes = d.get(..len)?;
    let mut v = (first & 0x3f) as u64;
    for &b in &bytes[1..] {
        v = (v << 8) | b as u64;
    }
    Some((v, len))
}

/// Removes header protection and decrypts an Initial packet. `largest_pn` is the
/// largest packet number decrypted so far in this direction (for packet number
/// recovery). Returns the plaintext frames and the packet number.
pub fn decrypt_initial(
    h: &LongHeader<'_>,
    keys: &DirectionKeys,
    largest_pn: Option<u64>,
) -> Option<(Vec<u8>, u64)> {
    let pkt = h.packet;
    let sample = pkt.get(h.pn_offset + 4..h.pn_offset + 20)?;
    let mut block = aes::Block::clone_from_slice(sample);
    keys.hp.encrypt_block(&mut block);
    let mask = block;
    let first = pkt[0] ^ (mask[0] & 0x0f);
    let pn_len = (first & 0x03) as usize + 1;
    let pn_bytes = pkt.get(h.pn_offset..h.pn_offset + pn_len)?;
    let mut truncated = 0u64;
    let mut header = Vec::with_capacity(h.pn_offset + pn_len);
    header.push(first);
    header.extend_from_slice(&pkt[1..h.pn_offset]);
    for (i, b) in pn_bytes.iter().enumerate() {
        let v = b ^ mask[1 + i];
        header.push(v);
        truncated = (truncated << 8) | v as u64;
    }
    let pn = decode_packet_number(largest_pn, truncated, pn_len * 8);
    let payload = pkt.get(h.pn_offset + pn_len..)?;
    if payload.len() < 16 {
        return None;
    }
    let (ct, tag) = payload.split_at(payload.len() - 16);
    let mut nonce = keys.iv;
    for (i, b) in pn.to_be_bytes().iter().enumerate() {
        nonce[4 + i] ^= b;
    }
    let mut buf = ct.to_vec();
    keys.aead
        .decrypt_in_place_detached(
            Nonce::from_slice(&nonce),
            &header,
            &mut buf,
            Tag::from_slice(tag),
        )
        .ok()?;
    Some((buf, pn))
}

/// RFC 9000 appendix A.3.
fn decode_packet_number(largest: Option<u64>, truncated: u64, bits: usize) -> u64 {
    let expected = largest.map_or(0, |l| l + 1);
    let win = 1u64 << bits;
    let hwin = win / 2;
    let mask = win - 1;
    let candidate = (expected & !mask) | truncated;
    if candidate + hwin <= expected && candidate < (1u64 << 62) - win {
        candidate + win
    } else if candidate > expected + hwin && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

/// Calls `f(offset, data)` for every CRYPTO frame in decrypted Initial frames.
/// Stops at the first frame type not allowed in Initial packets.
pub fn crypto_frames(mut p: &[u8], mut f: impl FnMut(u64, &[u8])) {
    while let Some(&typ) = p.first() {
        match typ {
            0x00 | 0x01 => p = &p[1..], // PADDING, PING
            0x02 | 0x03 => {
                // ACK: largest, delay, range count, first range, ranges, [ECN counts]
                let mut q = &p[1..];
                let mut fields = Vec::with_capacity(4);
                for _ in 0..4 {
                    let Some((v, n)) = varint(q) else { return };
                    fields.push(v);
                    q = &q[n..];
                }
                let extra = fields[2].saturating_mul(2) + if typ == 0x03 { 3 } else { 0 };
                for _ in 0..extra {
                    let Some((_, n)) = varint(q) else { return };
                    q = &q[n..];
                }
                p = q;
            }
            0x06 => {
                let q = &p[1..];
                let Some((offset, n1)) = varint(q) else {
                    return;
                };
                let Some((len, n2)) = varint(&q[n1..]) else {
                    return;
                };
                let start = n1 + n2;
                let Some(data) = q.get(start..start + len as usize) else {
                    return;
                };
                f(offset, data);
                p = &q[start + len as usize..];
            }
            _ => return, // CONNECTION_CLOSE or anything unexpected: done with this packet
        }
    }
}

/// Reassembles the CRYPTO stream of one direction (bounded), up to the first
/// complete handshake message.
#[derive(Debug, Default)]
pub struct CryptoStream {
    buf: Vec<u8>,
    /// Filled byte ranges, sorted and merged.
    filled: Vec<(usize, usize)>,
    pub overflowed: bool,
}

impl CryptoStream {
    pub fn add(&mut self, offset: u64, data: &[u8], max: usize) {
        let Some(end) = (offset as usize).checked_add(data.len()) else {
            self.overflowed = true;
            return;
        };
        if end > max {
            self.overflowed = true;
            return;
        }
        let start = offset as usize;
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        // First copy wins: only fill bytes not yet filled.
        let mut pos = start;
        let mut merged = Vec::with_capacity(self.filled.len() + 1);
        for &(s, e) in &self.filled {
            if pos < end && s > pos {
                let until = s.min(end);
                self.buf[pos..until].copy_from_slice(&data[pos - start..until - start]);
            }
            if e > pos {
                pos = pos.max(e);
            }
            merged.push((s, e));
        }
        if pos < end {
            self.buf[pos..end].copy_from_slice(&data[pos - start..]);
        }
        merged.push((start, end));
        merged.sort_unstable();
        self.filled.clear();
        for (s, e) in merged {
            match self.filled.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => self.filled.push((s, e)),
            }
        }
    }

    /// Bytes contiguous from offset 0.
    pub fn contiguous(&self) -> &[u8] {
        match self.filled.first() {
            Some(&(0, e)) => &self.buf[..e],
            _ => &[],
        }
    }

    /// The first handshake message, once complete: (type, body).
    pub fn first_message(&self) -> Option<(u8, &[u8])> {
        let c = self.contiguous();
        let h = c.get(..4)?;
        let len = ((h[1] as usize) << 16) | ((h[2] as usize) << 8) | h[3] as usize;
        Some((h[0], c.get(4..4 + len)?))
    }

    pub fn buffered_bytes(&self) -> usize {
        self.buf.capacity()
    }

    pub fn release(&mut self) {
        self.buf = Vec::new();
        self.filled = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 9001 appendix A.3: the server Initial of the worked example.
    #[test]
    fn rfc9001_server_initial() {
        let pkt = unhex(
            "cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a
             5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3
             dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84
             022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4
             2158407dd074ee",
        );
        let keys = InitialKeys::derive(VERSION_1, &unhex("8394c8f03e515708")).unwrap();
        let h = long_headers(&pkt).next().unwrap().unwrap();
        assert_eq!(h.kind, PacketKind::Initial);
        let (plain, pn) = decrypt_initial(&h, &keys.server, None).unwrap();
        assert_eq!(pn, 1);
        let mut crypto = CryptoStream::default();
        crypto_frames(&plain, |off, d| crypto.add(off, d, 1 << 16));
        let (typ, body) = crypto.first_message().unwrap();
        assert_eq!(typ, 2);
        assert_eq!(&body[..2], &[0x03, 0x03]);
    }

    /// RFC 9369 appendix A.3: the v2 server Initial.
    #[test]
    fn rfc9369_v2_server_initial() {
        let pkt = unhex(
            "dc6b3343cf0008f067a5502a4262b5004075d92faaf16f05d8a4398c47089698
             baeea26b91eb761d9b89237bbf87263017915358230035f7fd3945d88965cf17
             f9af6e16886c61bfc703106fbaf3cb4cfa52382dd16a393e42757507698075b2
             c984c707f0a0812d8cd5a6881eaf21ceda98f4bd23f6fe1a3e2c43edd9ce7ca8
             4bed8521e2e140",
        );
        let keys = InitialKeys::derive(VERSION_2, &unhex("8394c8f03e515708")).unwrap();
        let h = long_headers(&pkt).next().unwrap().unwrap();
        assert_eq!(h.kind, PacketKind::Initial);
        let (plain, pn) = decrypt_initial(&h, &keys.server, None).unwrap();
        assert_eq!(pn, 1);
        let mut crypto = CryptoStream::default();
        crypto_frames(&plain, |off, d| crypto.add(off, d, 1 << 16));
        assert_eq!(crypto.first_message().unwrap().0, 2);
    }

    #[test]
    fn crypto_stream_out_of_order_and_overlap() {
        let msg: Vec<u8> = {
            let mut m = vec![1, 0, 0, 20];
            m.extend(0..20u8);
            m
        };
        let mut c = CryptoStream::default();
        c.add(10, &msg[10..], 1000);
        assert!(c.first_message().is_none());
        c.add(5, &msg[5..15], 1000);
        c.add(0, &msg[..6], 1000);
        assert_eq!(c.first_message(), Some((1, &msg[4..])));
        c.add(0, &[9; 2000], 1000);
        assert!(c.overflowed);
    }

    #[test]
    fn packet_numbers() {
        assert_eq!(
            decode_packet_number(Some(0xa82f30ea), 0x9b32, 16),
            0xa82f9b32
        );
        assert_eq!(decode_packet_number(None, 0, 8), 0);
    }

    #[test]
    fn junk_never_panics() {
        let mut seed = 7u32;
        for len in 0..300 {
            let mut d = Vec::with_capacity(len);
            for _ in 0..len {
                seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
                d.push((seed >> 16) as u8);
            }
            if !d.is_empty() {
                d[0] |= 0xc0;
            }
            if d.len() > 5 {
                d[1..5].copy_from_slice(&VERSION_1.to_be_bytes());
            }
            let keys = InitialKeys::derive(VERSION_1, &[1, 2, 3, 4]).unwrap();
            for h in long_headers(&d).flatten() {
                let _ = decrypt_initial(&h, &keys.client, None);
            }
            crypto_frames(&d, |_, _| {});
        }
    }
}
