//! TCP SYN / SYN-ACK signatures.
//!
//! [`TcpSyn::tcp_sig`] is shakedown's own signature (free to use, documented in
//! docs/fingerprints.md): `window:options:mss:wscale:ittl:df` where `options` are
//! the option kinds in wire order, `-`-joined; `ittl` the initial TTL guessed from
//! the observed one (the next of 32, 64, 128, 255), so that clients at different
//! hop distances share a signature; `df` is `df` / `nodf` for IPv4 and `ip6` for
//! IPv6. Absent MSS or window scale is `-`.
//!
//! With the `ja4plus` feature, [`TcpSyn::ja4t`] gives FoxIO's JA4T / JA4TS string in
//! the Wireshark plugin's formatting (see docs/fingerprints.md for why).

use crate::hex::push_dec;
#[cfg(feature = "ja4plus")]
use std::fmt::Write as _;

/// What a SYN (or SYN-ACK) says about the TCP/IP stack that sent it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TcpSyn {
    /// Raw (unscaled) window field.
    pub window: u16,
    /// Option kinds in wire order, NOP (1) and EOL (0) padding included.
    pub option_kinds: OptionKinds,
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    /// Observed IP TTL / hop limit.
    pub ttl: u8,
    /// IPv4 don't-fragment bit; `None` for IPv6.
    pub dont_fragment: Option<bool>,
}

/// The option kinds of a SYN: at most 40, as a TCP header has at most 40
/// option bytes; inline and sized to that (a flow keeps two SYNs, so every
/// byte here is two bytes of every flow slot).
#[derive(Clone, Copy, Eq)]
pub struct OptionKinds {
    kinds: [u8; MAX_OPTION_KINDS],
    len: u8,
}

/// Option bytes a TCP header can carry (data offset 15 words, minus 20 bytes).
pub const MAX_OPTION_KINDS: usize = 40;

impl OptionKinds {
    /// Appends a kind; false (and nothing kept) past the 40th.
    pub fn push(&mut self, kind: u8) -> bool {
        let Some(slot) = self.kinds.get_mut(usize::from(self.len)) else {
            return false;
        };
        *slot = kind;
        self.len += 1;
        true
    }
}

impl Default for OptionKinds {
    fn default() -> OptionKinds {
        OptionKinds {
            kinds: [0; MAX_OPTION_KINDS],
            len: 0,
        }
    }
}

impl std::ops::Deref for OptionKinds {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.kinds[..usize::from(self.len)]
    }
}

// Equal and hashed by the kinds held, not by the unused rest of the array
// (a SYN is a map key in the pipeline's memos).
impl PartialEq for OptionKinds {
    fn eq(&self, other: &OptionKinds) -> bool {
        **self == **other
    }
}

impl std::hash::Hash for OptionKinds {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (**self).hash(h)
    }
}

impl std::fmt::Debug for OptionKinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl TcpSyn {
    /// Reads the options block of a TCP header (the bytes after the 20 fixed ones).
    /// Never fails: a truncated option ends the list.
    pub fn from_options(
        window: u16,
        options: &[u8],
        ttl: u8,
        dont_fragment: Option<bool>,
    ) -> TcpSyn {
        let mut syn = TcpSyn {
            window,
            ttl,
            dont_fragment,
            ..TcpSyn::default()
        };
        let mut i = 0;
        while i < options.len() {
            let kind = options[i];
            if !syn.option_kinds.push(kind) {
                // More than a TCP header holds: not a real SYN's options.
                break;
            }
            if kind == 0 || kind == 1 {
                // EOL and NOP are single bytes; EOL padding is listed kind by kind, as
                // FoxIO's Rust code and Wireshark plugin do.
                i += 1;
                continue;
            }
            let Some(&len) = options.get(i + 1) else {
                break;
            };
            let len = len as usize;
            if len < 2 || i + len > options.len() {
                break;
            }
            let body = &options[i + 2..i + len];
            match (kind, body) {
                (2, [a, b]) => syn.mss = Some(u16::from_be_bytes([*a, *b])),
                (3, [s]) => syn.window_scale = Some(*s),
                _ => {}
            }
            i += len;
        }
        syn
    }

    /// Initial TTL guessed from the observed one.
    pub fn initial_ttl(&self) -> u8 {
        match self.ttl {
            0..=32 => 32,
            33..=64 => 64,
            65..=128 => 128,
            _ => 255,
        }
    }

    /// shakedown's TCP signature, e.g. `64240:2-4-8-1-3:1460:7:64:df`.
    pub fn tcp_sig(&self) -> String {
        let mut out = Vec::with_capacity(40);
        self.push_tcp_sig(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends [`TcpSyn::tcp_sig`] (ASCII) to `out` without formatting machinery:
    /// it is written for every connection.
    pub fn push_tcp_sig(&self, out: &mut Vec<u8>) {
        push_dec(out, self.window.into());
        out.push(b':');
        push_kinds(out, &self.option_kinds);
        out.push(b':');
        match self.mss {
            Some(m) => push_dec(out, m.into()),
            None => out.push(b'-'),
        }
        out.push(b':');
        match self.window_scale {
            Some(w) => push_dec(out, w.into()),
            None => out.push(b'-'),
        }
        out.push(b':');
        push_dec(out, self.initial_ttl().into());
        out.push(b':');
        out.extend_from_slice(match self.dont_fragment {
            Some(true) => b"df",
            Some(false) => b"nodf",
            None => b"ip6",
        });
    }

    /// JA4T (client SYN) / JA4TS (server SYN-ACK): `window_options_mss_wscale`,
    /// with `00` for no options, no MSS and no (or zero) window scale.
    #[cfg(feature = "ja4plus")]
    pub fn ja4t(&self) -> String {
        let mut s = String::with_capacity(40);
        let _ = write!(s, "{}_", self.window);
        if self.option_kinds.is_empty() {
            s.push_str("00");
        } else {
            let mut kinds = Vec::with_capacity(32);
            push_kinds(&mut kinds, &self.option_kinds);
            s.push_str(std::str::from_utf8(&kinds).unwrap_or_default());
        }
        match self.mss {
            Some(m) => {
                let _ = write!(s, "_{m:02}");
            }
            None => s.push_str("_00"),
        }
        match self.window_scale {
            Some(w) if w != 0 => {
                let _ = write!(s, "_{w}");
            }
            _ => s.push_str("_00"),
        }
        s
    }
}

fn push_kinds(out: &mut Vec<u8>, kinds: &[u8]) {
    for (i, &k) in kinds.iter().enumerate() {
        if i > 0 {
            out.push(b'-');
        }
        push_dec(out, k.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX_SYN_OPTS: [u8; 20] = [
        2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ];

    #[test]
    fn linux_syn() {
        let syn = TcpSyn::from_options(64240, &LINUX_SYN_OPTS, 63, Some(true));
        assert_eq!(syn.option_kinds[..], [2, 4, 8, 1, 3]);
        assert_eq!(syn.mss, Some(1460));
        assert_eq!(syn.window_scale, Some(7));
        assert_eq!(syn.tcp_sig(), "64240:2-4-8-1-3:1460:7:64:df");
    }

    #[test]
    fn eol_padding_and_truncation() {
        let syn = TcpSyn::from_options(65535, &[2, 4, 5, 0xb4, 4, 2, 3, 3, 6, 0, 0, 0], 128, None);
        assert_eq!(syn.option_kinds[..], [2, 4, 3, 0, 0, 0]);
        assert_eq!(syn.tcp_sig(), "65535:2-4-3-0-0-0:1460:6:128:ip6");
        // An option whose length runs past the header ends the list without panic.
        let syn = TcpSyn::from_options(1, &[2, 40, 1], 1, Some(false));
        assert_eq!(syn.option_kinds[..], [2]);
        assert_eq!(syn.mss, None);
        assert_eq!(syn.tcp_sig(), "1:2:-:-:32:nodf");
        // A full 40-byte options block of NOPs is 40 kinds; more than a
        // header can hold keeps the first 40.
        let syn = TcpSyn::from_options(1, &[1; 40], 64, None);
        assert_eq!(syn.option_kinds.len(), 40);
        let syn = TcpSyn::from_options(1, &[1; 64], 64, None);
        assert_eq!(syn.option_kinds[..], [1; 40]);
        assert_eq!(
            format!(
                "{:?}",
                TcpSyn::from_options(1, &[2, 4, 5, 0xb4], 64, None).option_kinds
            ),
            "[2]"
        );
    }

    #[cfg(feature = "ja4plus")]
    #[test]
    fn ja4t_formatting_follows_the_wireshark_plugin() {
        let syn = TcpSyn::from_options(64240, &LINUX_SYN_OPTS, 64, Some(true));
        assert_eq!(syn.ja4t(), "64240_2-4-8-1-3_1460_7");
        let none = TcpSyn::from_options(65535, &[], 64, Some(true));
        assert_eq!(none.ja4t(), "65535_00_00_00");
        let no_ws = TcpSyn::from_options(29200, &[2, 4, 5, 0xb4, 1, 1, 4, 2], 64, None);
        assert_eq!(no_ws.ja4t(), "29200_2-1-1-4_1460_00");
    }
}
