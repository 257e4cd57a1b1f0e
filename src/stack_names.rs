//! The strings every connection of one client stack shares (JA4, JA3, the
//! reputation match, the TCP signature and JA4+TCP), made once per stack and
//! handed out as `Arc<str>` clones, so that a connection's start costs a few
//! reference counts instead of five allocations and a `format!`.
//!
//! Bounded like the fingerprint memo it sits on: each table is cleared when
//! full.

use hashbrown::HashMap;
use shakedown_fingerprints::cache::ClientFingerprints;
use shakedown_fingerprints::reputation::{ClientClass, Reputation};
use shakedown_fingerprints::tcp::TcpSyn;
use std::sync::Arc;

/// Distinct stacks (and TCP signatures, and pairs) remembered before a clear.
const CAPACITY: usize = 16_384;

/// What the reputation database and the fingerprints say about one stack.
#[derive(Debug, Clone)]
pub struct StackNames {
    pub ja4: Arc<str>,
    pub ja3: Option<Arc<str>>,
    pub class: Option<ClientClass>,
    pub class_name: Option<Arc<str>>,
}

#[derive(Default)]
pub struct StackNameBook {
    /// Keyed by the memoised fingerprints' address; the entry holds that `Arc`,
    /// so the address cannot be reused by another stack while it is here.
    stacks: HashMap<usize, (Arc<ClientFingerprints>, StackNames)>,
    tcp_sigs: HashMap<Box<[u8]>, Arc<str>>,
    /// Keyed by "ja4~tcp_sig".
    ja4_tcp: HashMap<Box<[u8]>, Arc<str>>,
    buf: Vec<u8>,
}

impl StackNameBook {
    pub fn stack(&mut self, fp: &Arc<ClientFingerprints>, reputation: &Reputation) -> StackNames {
        let key = Arc::as_ptr(fp) as usize;
        if let Some((_, names)) = self.stacks.get(&key) {
            return names.clone();
        }
        let rep = reputation.lookup(&fp.ja4.ja4);
        let names = StackNames {
            ja4: Arc::from(fp.ja4.ja4.as_str()),
            ja3: fp.ja3.as_ref().map(|j| Arc::from(j.hash.as_str())),
            class: rep.map(|e| e.class),
            class_name: rep.map(|e| Arc::from(e.name.as_str())),
        };
        if self.stacks.len() >= CAPACITY {
            self.stacks.clear();
        }
        self.stacks.insert(key, (fp.clone(), names.clone()));
        names
    }

    /// The SYN's signature and, with `ja4`, the JA4+TCP pair.
    pub fn tcp(&mut self, syn: &TcpSyn, ja4: Option<&str>) -> (Arc<str>, Option<Arc<str>>) {
        self.buf.clear();
        syn.push_tcp_sig(&mut self.buf);
        let sig = remember(&mut self.tcp_sigs, &self.buf);
        let Some(ja4) = ja4 else {
            return (sig, None);
        };
        self.buf.clear();
        self.buf.extend_from_slice(ja4.as_bytes());
        self.buf.push(b'~');
        self.buf.extend_from_slice(sig.as_bytes());
        (sig, Some(remember(&mut self.ja4_tcp, &self.buf)))
    }
}

fn remember(map: &mut HashMap<Box<[u8]>, Arc<str>>, key: &[u8]) -> Arc<str> {
    if let Some(v) = map.get(key) {
        return v.clone();
    }
    // The key is made of JA4 and signature text: ASCII.
    let v: Arc<str> = Arc::from(String::from_utf8_lossy(key).as_ref());
    if map.len() >= CAPACITY {
        map.clear();
    }
    map.insert(key.into(), v.clone());
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use shakedown_fingerprints::cache::FingerprintCache;
    use shakedown_fingerprints::hello::ClientHello;
    use shakedown_fingerprints::ja4::Transport;

    #[test]
    fn names_match_the_fingerprints_and_are_shared() {
        let hello = [
            0x03, 0x03, // legacy version
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, // random
            0, // session id
            0, 4, 0x13, 0x01, 0x13, 0x02, // ciphers
            1, 0, // compression
        ];
        let ch = ClientHello::parse(&hello).expect("a minimal hello");
        let mut cache = FingerprintCache::default();
        let fp = cache.client(&ch, Transport::Tcp);
        let mut book = StackNameBook::default();
        let rep = Reputation::builtin();
        let a = book.stack(&fp, &rep);
        let b = book.stack(&cache.client(&ch, Transport::Tcp), &rep);
        assert_eq!(&*a.ja4, fp.ja4.ja4.as_str());
        assert_eq!(a.ja3.as_deref(), fp.ja3.as_ref().map(|j| j.hash.as_str()));
        assert!(Arc::ptr_eq(&a.ja4, &b.ja4), "one allocation per stack");

        let syn = TcpSyn::from_options(64240, &[2, 4, 5, 0xb4, 1, 3, 3, 7], 64, Some(true));
        let (sig, pair) = book.tcp(&syn, Some(&a.ja4));
        assert_eq!(&*sig, syn.tcp_sig());
        assert_eq!(pair.as_deref(), Some(format!("{}~{}", a.ja4, sig).as_str()));
        let (sig2, pair2) = book.tcp(&syn, Some(&a.ja4));
        assert!(Arc::ptr_eq(&sig, &sig2) && Arc::ptr_eq(&pair.unwrap(), &pair2.unwrap()));
        assert_eq!(book.tcp(&syn, None).1, None);
    }
}
