//! The strings every connection of one client stack shares (JA4, JA3, the
//! reputation match, the TCP signature and JA4+TCP), made once per stack and
//! SYN signature and handed out as one shared [`Fingerprints`], so that a
//! connection's start costs one reference count instead of five allocations
//! and a `format!` (and the workers, which drop those references on other
//! cores, touch one counter, not five).
//!
//! Bounded like the fingerprint memo it sits on: each table is cleared when
//! full.

use crate::proposal::Fingerprints;
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

/// What every connection of one stack on one TCP/IP stack shares.
#[derive(Debug, Clone)]
pub struct SharedStack {
    pub fingerprints: Arc<Fingerprints>,
    pub class: Option<ClientClass>,
    /// Fixed hash of the population key (`ja4~tcp_sig`, else `ja4`), made
    /// once here so that routing a connection to its population's worker
    /// hashes nothing.
    pub population_hash: Option<u64>,
}

#[derive(Default)]
pub struct StackNameBook {
    /// Keyed by the memoised fingerprints' address; the entry holds that `Arc`,
    /// so the address cannot be reused by another stack while it is here.
    stacks: HashMap<usize, (Arc<ClientFingerprints>, StackNames)>,
    sigs: SynSignatures,
    /// Keyed by "ja4~tcp_sig".
    ja4_tcp: HashMap<Box<[u8]>, Arc<str>>,
    /// Keyed by the addresses of the memoised fingerprints and of the TCP
    /// signature (0 when absent); the entry holds both `Arc`s, so neither
    /// address can be reused by another while it is here.
    shared: HashMap<(usize, usize), SharedEntry>,
    buf: Vec<u8>,
}

struct SharedEntry {
    _stack: Option<Arc<ClientFingerprints>>,
    _sig: Option<Arc<str>>,
    shared: SharedStack,
}

/// Each SYN seen lately and its signature, one allocation per distinct
/// signature: a repeat SYN is hashed, not formatted again.
#[derive(Default)]
pub struct SynSignatures {
    by_syn: HashMap<TcpSyn, Arc<str>>,
    by_text: HashMap<Box<[u8]>, Arc<str>>,
    buf: Vec<u8>,
}

impl SynSignatures {
    /// The signature of `syn`.
    pub fn get(&mut self, syn: &TcpSyn) -> Arc<str> {
        if let Some(sig) = self.by_syn.get(syn) {
            return sig.clone();
        }
        self.buf.clear();
        syn.push_tcp_sig(&mut self.buf);
        let sig = remember(&mut self.by_text, &self.buf);
        if self.by_syn.len() >= CAPACITY {
            self.by_syn.clear();
        }
        self.by_syn.insert(syn.clone(), sig.clone());
        sig
    }
}

/// The fixed (not per-process random) hash the pipeline shards by.
pub fn fixed_hash<T: std::hash::Hash + ?Sized>(key: &T) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    std::hash::Hasher::finish(&h)
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

    /// `ja4~sig`.
    fn pair(&mut self, ja4: &str, sig: &str) -> Arc<str> {
        self.buf.clear();
        self.buf.extend_from_slice(ja4.as_bytes());
        self.buf.push(b'~');
        self.buf.extend_from_slice(sig.as_bytes());
        remember(&mut self.ja4_tcp, &self.buf)
    }

    /// Everything a connection's start carries about its stacks, from its
    /// memoised client fingerprints (if it had a ClientHello) and its SYN (if
    /// one was seen).
    pub fn connection(
        &mut self,
        fp: Option<&Arc<ClientFingerprints>>,
        syn: Option<&TcpSyn>,
        reputation: &Reputation,
    ) -> SharedStack {
        let sig = syn.map(|syn| self.sigs.get(syn));
        let key = (
            fp.map_or(0, |f| Arc::as_ptr(f) as usize),
            sig.as_ref()
                .map_or(0, |s| Arc::as_ptr(s) as *const u8 as usize),
        );
        if let Some(e) = self.shared.get(&key) {
            return e.shared.clone();
        }
        let names = fp.map(|fp| self.stack(fp, reputation));
        let ja4_tcp = match (&names, &sig) {
            (Some(n), Some(sig)) => Some(self.pair(&n.ja4, sig)),
            (Some(n), None) => Some(n.ja4.clone()),
            (None, _) => None,
        };
        let class = names.as_ref().and_then(|n| n.class);
        let fingerprints = Fingerprints {
            ja4: names.as_ref().map(|n| n.ja4.clone()),
            ja3: names.as_ref().and_then(|n| n.ja3.clone()),
            tcp_sig: sig.clone(),
            ja4_tcp,
            class: class.map(ClientClass::as_str),
            stack: names.and_then(|n| n.class_name),
        };
        let population_hash = fingerprints.population_key().map(|k| fixed_hash(&**k));
        let shared = SharedStack {
            fingerprints: Arc::new(fingerprints),
            class,
            population_hash,
        };
        if self.shared.len() >= CAPACITY {
            self.shared.clear();
        }
        self.shared.insert(
            key,
            SharedEntry {
                _stack: fp.cloned(),
                _sig: sig,
                shared: shared.clone(),
            },
        );
        shared
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
        let mut sigs = SynSignatures::default();
        let sig = sigs.get(&syn);
        assert_eq!(&*sig, syn.tcp_sig());
        assert!(
            Arc::ptr_eq(&sig, &sigs.get(&syn.clone())),
            "one allocation per signature"
        );

        // A connection's shared set: one per stack and SYN signature.
        let c1 = book.connection(Some(&fp), Some(&syn), &rep);
        let sig = c1
            .fingerprints
            .tcp_sig
            .clone()
            .expect("the SYN's signature");
        let c2 = book.connection(Some(&cache.client(&ch, Transport::Tcp)), Some(&syn), &rep);
        assert!(Arc::ptr_eq(&c1.fingerprints, &c2.fingerprints));
        assert_eq!(c1.fingerprints.ja4.as_deref(), Some(&*a.ja4));
        assert_eq!(c1.fingerprints.tcp_sig.as_deref(), Some(&*sig));
        assert_eq!(
            c1.fingerprints.ja4_tcp.as_deref(),
            Some(format!("{}~{}", a.ja4, sig).as_str())
        );
        assert_eq!(
            c1.population_hash,
            c1.fingerprints.ja4_tcp.as_deref().map(fixed_hash)
        );
        let other_syn = TcpSyn::from_options(65535, &[2, 4, 5, 0xb4], 128, Some(true));
        let c3 = book.connection(Some(&fp), Some(&other_syn), &rep);
        assert!(!Arc::ptr_eq(&c1.fingerprints, &c3.fingerprints));
        assert_ne!(c1.population_hash, c3.population_hash);
        // Without a SYN the population is the JA4 alone; without a hello, the SYN's.
        let no_syn = book.connection(Some(&fp), None, &rep);
        assert_eq!(no_syn.fingerprints.ja4_tcp.as_deref(), Some(&*a.ja4));
        assert_eq!(no_syn.population_hash, Some(fixed_hash(&*a.ja4)));
        let no_hello = book.connection(None, Some(&syn), &rep);
        assert!(Arc::ptr_eq(
            no_hello.fingerprints.tcp_sig.as_ref().unwrap(),
            &sig
        ));
        assert_eq!(no_hello.fingerprints.ja4, None);
        assert_eq!(no_hello.fingerprints.ja4_tcp, None);
        assert_eq!(no_hello.population_hash, None);
    }
}
