//! The flow table: one entry per TCP connection or QUIC connection (5-tuple),
//! with per-direction reassembly and TLS reading, and the events the rest of the
//! pipeline consumes.
//!
//! Every flow that enters the table produces exactly one [`FlowEvent::End`], and
//! at most one [`FlowEvent::Handshake`] before it, as soon as the hellos that
//! fingerprints need are known (so a decision can be taken at the first
//! ClientHello's connection, not when the connection ends).
//!
//! Bounds: `max_flows` entries (least-recently-seen eviction when
//! full); connections that sent only a SYN wait apart, in a ring of up to
//! 65,536, the oldest given up first ([`syn_only`]); idle timeouts on capture
//! time, a per-direction and a global cap on
//! out-of-order bytes, a cap on handshake bytes per direction, on hellos and on
//! record metadata per flow. Each bound has a counter in [`TrackerStats`].

use crate::decode::{Packet, TcpSegment, Transport as L4, UdpDatagram};
use crate::quic::{self, CryptoStream, InitialKeys, PacketKind};
use crate::reassembly::{Reassembler, ReassemblyBudget};
use crate::source::Timestamp;
use hashbrown::{DefaultHashBuilder, HashTable};
use shakedown_fingerprints::ja4::Transport;
use shakedown_fingerprints::record::{CONTENT_ALERT, CONTENT_APPLICATION_DATA};
use shakedown_fingerprints::tcp::TcpSyn;
use shakedown_fingerprints::{ClientHello, ServerHello, TlsEvent, TlsStream};
use std::collections::{BinaryHeap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;
use syn_only::{SynOnly, SynOnlyTable};

mod syn_only;

const SEC: i64 = 1_000_000_000;

/// Connections known only by their SYN that wait apart from the flow table: a
/// quarter of the flows, at least 4,096 (or all of them), at most 65,536 (a
/// server answers a SYN within microseconds where a sensor sees it, and under a
/// flood of 10 million SYNs per second 65,536 still give it 6 ms; a small ring
/// stays in cache).
fn syn_only_capacity(max_flows: usize) -> usize {
    (max_flows / 4).clamp(max_flows.min(4096), 65_536).max(1)
}

/// Limits and timeouts of the flow table. Defaults are documented in docs/ARCHITECTURE.md.
#[derive(Debug, Clone)]
pub struct TrackerConfig {
    /// Flow entries; when full, the least recently seen flow is evicted.
    pub max_flows: usize,
    /// TCP flows with no packet for this long end (nanoseconds of capture time).
    pub tcp_idle_timeout: i64,
    /// QUIC flows with no packet for this long end.
    pub udp_idle_timeout: i64,
    /// A closed (FIN/RST) flow stays this long to absorb stray packets.
    pub closed_linger: i64,
    /// Handshake bytes buffered per direction.
    pub max_handshake_bytes: usize,
    /// Handshake bytes buffered in all flows together.
    pub max_handshake_total: usize,
    /// Out-of-order TCP bytes buffered per direction.
    pub max_waiting_per_direction: usize,
    /// Out-of-order TCP bytes buffered in all flows together.
    pub max_waiting_total: usize,
    /// TLS record headers buffered per flow between two `Records` events
    /// (features of the scoring stage); 0: records are not followed at all once
    /// the hellos are known.
    pub max_records_per_flow: usize,
    /// Once the hellos are known, record headers are handed over in batches of
    /// this many (and at the end of the flow).
    pub record_batch: usize,
    /// ClientHellos / ServerHellos kept per flow (first one plus later ones).
    pub max_hellos_per_flow: usize,
    /// Also send a `ClientHello` event as soon as the first ClientHello is
    /// parsed (for decisions at the first ClientHello), before `Handshake`.
    pub early_client_hello: bool,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            max_flows: 1_000_000,
            tcp_idle_timeout: 120 * SEC,
            udp_idle_timeout: 30 * SEC,
            closed_linger: 5 * SEC,
            max_handshake_bytes: shakedown_fingerprints::record::DEFAULT_MAX_HANDSHAKE_BYTES,
            max_handshake_total: 256 * 1024 * 1024,
            max_waiting_per_direction: 256 * 1024,
            max_waiting_total: 256 * 1024 * 1024,
            max_records_per_flow: 256,
            record_batch: 32,
            max_hellos_per_flow: 4,
            early_client_hello: false,
        }
    }
}

/// Counters of the flow table.
#[derive(Debug, Clone, Default)]
pub struct TrackerStats {
    pub flows_tcp: u64,
    pub flows_quic: u64,
    pub flows_ended_closed: u64,
    pub flows_ended_idle: u64,
    pub flows_evicted: u64,
    /// Of `flows_evicted`: connections that had sent only a SYN, given up to
    /// make room for newer ones (a SYN flood).
    pub syn_only_evicted: u64,
    pub flows_reused: u64,
    pub flows_at_end_of_input: u64,
    pub tls_connections: u64,
    pub client_hellos: u64,
    pub server_hellos: u64,
    pub hello_parse_errors: u64,
    pub streams_not_tls: u64,
    pub streams_desynced: u64,
    pub handshakes_too_large: u64,
    /// Directions that stopped collecting handshake bytes because the global cap was reached.
    pub handshake_budget_exhausted: u64,
    pub reassembly_gaps: u64,
    pub reassembly_dropped_segments: u64,
    pub retransmitted_bytes: u64,
    pub udp_not_quic: u64,
    pub quic_undecryptable: u64,
    pub quic_crypto_overflow: u64,
    pub records_not_kept: u64,
}

impl TrackerStats {
    /// Counts a flow's end by its reason (closed flows are counted when they
    /// close; a reused flow by `flows_reused`, where it is detected).
    fn count_end(&mut self, reason: EndReason) {
        match reason {
            EndReason::Idle => self.flows_ended_idle += 1,
            EndReason::Evicted => self.flows_evicted += 1,
            EndReason::EndOfInput => self.flows_at_end_of_input += 1,
            EndReason::Reused | EndReason::Closed => {}
        }
    }
}

/// A value with the capture time it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timed<T> {
    pub ts: Timestamp,
    pub value: T,
}

/// The handshake of a TLS connection: what fingerprints are computed from.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Order of the flow's first packet (0, 1, 2, ...) among all flows.
    pub id: u64,
    pub transport: Transport,
    pub client_ip: IpAddr,
    pub client_port: u16,
    pub server_ip: IpAddr,
    pub server_port: u16,
    /// Time of the flow's first packet.
    pub first_ts: Timestamp,
    /// Client SYN and server SYN-ACK (TCP only, when captured).
    pub client_syn: Option<TcpSyn>,
    pub server_syn: Option<TcpSyn>,
    /// First ClientHello, then later ones (after HelloRetryRequest, duplicates).
    /// Shared: the early ClientHello event and the handshake event hand out
    /// the same parsed hello.
    pub client_hellos: Vec<Timed<Arc<ClientHello>>>,
    pub server_hellos: Vec<Timed<ServerHello>>,
    /// Packets of the client direction that carried TLS bytes up to the one that
    /// completed the first ClientHello.
    pub client_hello_packets: u32,
    /// The packets came out of a tunnel (GRE, VXLAN, ...).
    pub tunnelled: bool,
}

/// Why a flow left the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// FIN from both sides, or RST.
    Closed,
    Idle,
    /// Table full.
    Evicted,
    /// A new connection reused the 5-tuple.
    Reused,
    EndOfInput,
}

/// A TLS record header seen on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMeta {
    pub ts: Timestamp,
    pub from_client: bool,
    pub content_type: u8,
    pub length: u16,
}

/// Summary of a flow when it leaves the table.
#[derive(Debug, Clone)]
pub struct FlowEnd {
    pub id: u64,
    pub reason: EndReason,
    pub transport: Transport,
    /// A ClientHello or ServerHello was seen (and a Handshake event was sent).
    pub tls: bool,
    pub client_ip: IpAddr,
    pub client_port: u16,
    pub server_ip: IpAddr,
    pub server_port: u16,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    /// [from client, from server]
    pub packets: [u64; 2],
    pub payload_bytes: [u64; 2],
    pub records: Vec<RecordMeta>,
    pub records_not_kept: u32,
}

/// Record headers of a connection seen since the last batch.
#[derive(Debug, Clone)]
pub struct RecordBatch {
    pub id: u64,
    pub client_ip: IpAddr,
    pub records: Vec<RecordMeta>,
}

#[derive(Debug)]
pub enum FlowEvent {
    /// The first ClientHello of a connection was just parsed (only with
    /// `early_client_hello`; at most once per flow, before `Handshake`). The
    /// connection has its first ClientHello and no ServerHello yet.
    ClientHello(Box<Connection>),
    /// The hellos of a connection are known (at most once per flow).
    Handshake(Box<Connection>),
    /// More record headers of a connection whose Handshake was sent.
    Records(Box<RecordBatch>),
    /// The flow left the table (exactly once per flow).
    End(Box<FlowEnd>),
}

/// One side of a flow. The address is kept as two integers (IPv4 as
/// IPv4-mapped IPv6) so that keys compare, copy and hash as aligned words
/// rather than as `IpAddr` enums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Endpoint {
    addr: [u64; 2],
    port: u16,
    v6: bool,
}

impl Endpoint {
    #[inline]
    fn new(ip: IpAddr, port: u16) -> Endpoint {
        let (bits, v6) = match ip {
            IpAddr::V4(a) => (u128::from(a.to_ipv6_mapped()), false),
            IpAddr::V6(a) => (u128::from(a), true),
        };
        Endpoint {
            addr: [(bits >> 64) as u64, bits as u64],
            port,
            v6,
        }
    }

    fn ip(&self) -> IpAddr {
        let bits = (u128::from(self.addr[0]) << 64) | u128::from(self.addr[1]);
        if self.v6 {
            IpAddr::V6(bits.into())
        } else {
            IpAddr::V4((bits as u32).into())
        }
    }
}

/// Both endpoints, the lower one first, packed into 40 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FlowKey {
    addr: [[u64; 2]; 2],
    port: [u16; 2],
    v6: bool,
    udp: bool,
}

impl FlowKey {
    /// The key of a packet from `a` to `b`, and the index (0 or 1) of `a` in it.
    #[inline]
    fn new(a: Endpoint, b: Endpoint, udp: bool) -> (FlowKey, usize) {
        let wide = |e: &Endpoint| {
            (
                (u128::from(e.addr[0]) << 64) | u128::from(e.addr[1]),
                e.port,
            )
        };
        let a_at = usize::from(wide(&a) > wide(&b));
        let (lo, hi) = if a_at == 0 { (a, b) } else { (b, a) };
        let key = FlowKey {
            addr: [lo.addr, hi.addr],
            port: [lo.port, hi.port],
            v6: a.v6,
            udp,
        };
        (key, a_at)
    }

    fn endpoint(&self, at: usize) -> Endpoint {
        Endpoint {
            addr: self.addr[at],
            port: self.port[at],
            v6: self.v6,
        }
    }
}

/// Every field goes into the hash without loss (an IPv4 pair in one word), so
/// chosen addresses and ports collide no more than random ones would.
impl Hash for FlowKey {
    // Inlined: it runs once per packet, and a separate call costs ~2 % of
    // `fingerprint` (the compiler does not always inline it by itself).
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        let [lo, hi] = &self.addr;
        if self.v6 {
            h.write_u64(lo[0]);
            h.write_u64(lo[1]);
            h.write_u64(hi[0]);
            h.write_u64(hi[1]);
        } else {
            h.write_u64((lo[1] << 32) | (hi[1] & 0xffff_ffff));
        }
        h.write_u64(
            (u64::from(self.port[0]) << 32)
                | (u64::from(self.port[1]) << 16)
                | (u64::from(self.v6) << 1)
                | u64::from(self.udp),
        );
    }
}

/// Hellos and roles, common to TCP and QUIC.
#[derive(Debug, Default)]
struct Handshakes {
    /// Side (0 = sender of the flow's first packet) that is the TLS client.
    client_side: Option<u8>,
    client_hellos: Vec<Timed<Arc<ClientHello>>>,
    server_hellos: Vec<Timed<ServerHello>>,
    /// A ServerHello that is not a HelloRetryRequest was seen.
    final_server_hello: bool,
    /// TLS packets per side until the first ClientHello.
    tls_packets_before_ch: [u32; 2],
    /// Packets per side whose bytes were too few to tell TLS from plaintext yet.
    undecided_packets: [u32; 2],
    client_hello_packets: u32,
    app_data: [bool; 2],
    alert: [bool; 2],
}

struct TcpDir {
    reasm: Reassembler,
    tls: TlsStream,
}

struct TcpState {
    syn: [Option<TcpSyn>; 2],
    /// Side (0 or 1) that sent the SYN (a u8: the state is in every slot).
    syn_side: Option<u8>,
    isn: [Option<u32>; 2],
    /// Each direction's readers, created by its first payload: a connection
    /// that never carried payload (a SYN flood, a scan) costs no reassembler or
    /// TLS reader, and one whose client alone sent bytes (a half-open flood)
    /// costs one.
    dirs: [Option<Box<TcpDir>>; 2],
    /// The hellos are out: a reader created from now on buffers no handshake.
    handshake_stopped: bool,
}

#[derive(Default)]
struct QuicState {
    keys: Option<InitialKeys>,
    largest_pn: [Option<u64>; 2],
    crypto: [CryptoStream; 2],
    hello_done: [bool; 2],
    server_datagrams: u32,
}

// TCP flows are nearly all flows: their state is inline in the slot (no
// allocation, no pointer to chase per packet); QUIC's 3 KB is boxed.
#[allow(clippy::large_enum_variant)]
enum FlowState {
    Tcp(TcpState),
    Quic(Box<QuicState>),
}

struct Flow {
    id: u64,
    key: FlowKey,
    /// Index in `key` (0 or 1) of side 0, the sender of the flow's first packet.
    side0_at: u8,
    first_ts: Timestamp,
    last_ts: Timestamp,
    tunnelled: bool,
    state: FlowState,
    hs: Handshakes,
    packets: [u64; 2],
    payload_bytes: [u64; 2],
    records: Vec<RecordMeta>,
    records_not_kept: u32,
    emitted: bool,
    early_sent: bool,
    closed: bool,
    /// FIN seen from each side (TCP).
    fin: [bool; 2],
    rst: bool,
    /// Handshake bytes of this flow counted in the tracker's budget.
    handshake_accounted: usize,
}

/// Handshake bytes buffered by all flows (TLS readers and QUIC CRYPTO streams).
#[derive(Debug)]
struct HandshakeBudget {
    used: usize,
    cap: usize,
}

/// Everything a flow's processing may touch besides the flow itself; kept apart
/// from the table so that one table lookup per packet is enough.
struct Shared {
    cfg: TrackerConfig,
    stats: TrackerStats,
    budget: ReassemblyBudget,
    handshake: HandshakeBudget,
}

/// A flow's place in the order of last activity: its last packet's time when it
/// was queued (the flow may have had packets since).
#[derive(Debug, Clone, Copy)]
struct Queued {
    ts: Timestamp,
    id: u64,
    slot: u32,
}

impl Queued {
    fn older_than(&self, other: &Queued) -> bool {
        (self.ts, self.id) < (other.ts, other.id)
    }
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.ts, self.id) == (other.ts, other.id)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
/// Reversed, so that `BinaryHeap` pops the oldest first.
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.ts, other.id).cmp(&(self.ts, self.id))
    }
}

/// Flow slots allocated at a time (a few MB).
const SLOT_CHUNK: usize = 4096;

/// An entry of the flow index: 8 bytes, so that the index of a busy link's
/// flows stays in a core's cache (looking it up is a cache miss per packet
/// once flows interleave). The hash is 32 bits, spread to the 64 the table
/// asks for by [`FlowTable::hash`]; the key decides equality anyway.
#[derive(Clone, Copy)]
struct Indexed {
    hash: u32,
    slot: u32,
}

/// A 32-bit flow hash as the table's 64-bit hash: the table takes a bucket
/// from the low bits and a tag from the top 7, both covered.
#[inline]
fn spread(h: u32) -> u64 {
    u64::from(h) | (u64::from(h) << 32)
}

/// The flows and their order of last activity.
///
/// Every flow has one valid entry, in `queue` or in `seen` (entries of flows
/// that have ended, or that were queued again, are stale and skipped). New
/// flows enter `queue` in order of arrival; a flow found to have had packets
/// since it was queued moves to `seen`, a heap ordered by its last packet. The
/// older of the two fronts is then the least recently seen flow, exactly, once
/// it has had no packet since it was queued; flows that never see a second
/// packet (a SYN flood) cost no heap operation at all.
///
/// Flows live in a slab of slots, each with its whole state (no box per flow);
/// the hash table holds only each flow's hash and slot (8-byte entries), so a
/// miss (a new SYN) or removing an ended flow by its slot never reads a flow,
/// growing the table reads no flow either, and a slot freed by an ended flow
/// is reused by the next new one (a SYN flood: evict one, insert one).
#[derive(Default)]
struct FlowTable {
    index: HashTable<Indexed>,
    hasher: DefaultHashBuilder,
    /// Slots in chunks of `SLOT_CHUNK`: the slab grows without moving flows.
    chunks: Vec<Box<[Option<Flow>]>>,
    /// Slots handed out so far (the free list holds the ended ones).
    slots_used: u32,
    free: Vec<u32>,
    queue: VecDeque<Queued>,
    seen: BinaryHeap<Queued>,
    next_id: u64,
}

/// Who a new flow is: what it keeps from its first packet.
struct Opening {
    id: u64,
    key: FlowKey,
    side0_at: usize,
    first_ts: Timestamp,
    tunnelled: bool,
}

impl FlowTable {
    /// The next flow id (ids follow the flows' first packets).
    fn take_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    /// Adds a flow, last seen at `now`; returns its slot.
    fn insert(&mut self, hash: u64, open: Opening, now: Timestamp, state: FlowState) -> u32 {
        let Opening {
            id,
            key,
            side0_at,
            first_ts,
            tunnelled,
        } = open;
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                if self.slots_used as usize == self.chunks.len() * SLOT_CHUNK {
                    self.chunks
                        .push((0..SLOT_CHUNK).map(|_| None).collect::<Vec<_>>().into());
                }
                self.slots_used += 1;
                self.slots_used - 1
            }
        };
        self.queue.push_back(Queued { ts: now, id, slot });
        let entry = Indexed {
            hash: hash as u32,
            slot,
        };
        self.index.insert_unique(hash, entry, |e| spread(e.hash));
        *self.slot_mut(slot) = Some(Flow {
            id,
            key,
            side0_at: u8::from(side0_at == 1),
            first_ts,
            last_ts: now,
            tunnelled,
            state,
            hs: Handshakes::default(),
            packets: [0; 2],
            payload_bytes: [0; 2],
            records: Vec::new(),
            records_not_kept: 0,
            emitted: false,
            early_sent: false,
            closed: false,
            fin: [false; 2],
            rst: false,
            handshake_accounted: 0,
        });
        slot
    }

    /// The flow of a connection that had sent only a SYN, as if the flow
    /// table had seen that SYN (and its retransmissions); its next packet, at
    /// `now`, is processed as usual.
    fn insert_from_syn(&mut self, s: SynOnly, now: Timestamp) -> u32 {
        let mut state = TcpState::new();
        state.syn[0] = Some(s.syn);
        state.syn_side = Some(0);
        state.isn[0] = Some(s.isn);
        let open = Opening {
            id: s.id,
            key: s.key,
            side0_at: usize::from(s.src_at),
            first_ts: s.first_ts,
            tunnelled: s.tunnelled,
        };
        let slot = self.insert(s.hash, open, now, FlowState::Tcp(state));
        let flow = self.slot_mut(slot).as_mut().expect("just inserted");
        flow.last_ts = s.last_ts;
        flow.packets[0] = u64::from(s.packets);
        slot
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    /// A key's hash, 32 bits of it spread to 64 (see [`Indexed`]).
    #[inline]
    fn hash(&self, key: &FlowKey) -> u64 {
        let h = self.hasher.hash_one(key);
        spread((h ^ (h >> 32)) as u32)
    }

    /// The slot of the flow with `key` (whose hash is `hash`).
    fn find(&self, hash: u64, key: &FlowKey) -> Option<u32> {
        let e = self.index.find(hash, |e| {
            e.hash == hash as u32 && self.slot(e.slot).as_ref().is_some_and(|f| f.key == *key)
        })?;
        Some(e.slot)
    }

    fn slot(&self, slot: u32) -> &Option<Flow> {
        let i = slot as usize;
        &self.chunks[i / SLOT_CHUNK][i % SLOT_CHUNK]
    }

    fn slot_mut(&mut self, slot: u32) -> &mut Option<Flow> {
        let i = slot as usize;
        &mut self.chunks[i / SLOT_CHUNK][i % SLOT_CHUNK]
    }

    /// The flow of a queue entry, if that entry is not stale.
    fn queued(&self, e: &Queued) -> Option<&Flow> {
        self.slot(e.slot).as_ref().filter(|f| f.id == e.id)
    }

    /// Slots and their flows, in slot order.
    fn iter(&self) -> impl Iterator<Item = (u32, &Flow)> {
        (self.chunks.iter().flat_map(|c| c.iter()))
            .take(self.slots_used as usize)
            .enumerate()
            .filter_map(|(i, f)| Some((i as u32, f.as_ref()?)))
    }

    /// Drops the flow in `slot` where it lies (a flow is ~0.4 KB: moving it
    /// out to drop it would copy it) and frees the slot; its index entry is
    /// found by hash and slot, so no other flow is read.
    fn free_slot(&mut self, slot: u32) {
        let Some(flow) = self.slot(slot) else { return };
        let hash = self.hash(&flow.key);
        if let Ok(e) = self.index.find_entry(hash, |e| e.slot == slot) {
            e.remove();
        }
        *self.slot_mut(slot) = None;
        self.free.push(slot);
    }

    /// Forgets every flow at once (after each was ended in its slot): one
    /// clear of the index instead of a lookup per flow, the slots kept for
    /// reuse.
    fn clear(&mut self) {
        for chunk in &mut self.chunks {
            chunk.iter_mut().for_each(|slot| *slot = None);
        }
        self.index.clear();
        self.free.clear();
        self.slots_used = 0;
        self.queue.clear();
        self.seen.clear();
    }

    /// The oldest entry of the two fronts, and whether it is the heap's.
    fn oldest(&self) -> Option<(Queued, bool)> {
        match (self.queue.front(), self.seen.peek()) {
            (Some(q), Some(h)) if h.older_than(q) => Some((*h, true)),
            (Some(q), _) => Some((*q, false)),
            (None, Some(h)) => Some((*h, true)),
            (None, None) => None,
        }
    }

    fn pop_oldest(&mut self, from_heap: bool) {
        if from_heap {
            self.seen.pop();
        } else {
            self.queue.pop_front();
        }
    }
}

/// The flow table.
pub struct Tracker {
    flows: FlowTable,
    syn_only: SynOnlyTable,
    shared: Shared,
    now: Timestamp,
    next_expiry_check: Timestamp,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Tracker {
        let cfg_max_flows = cfg.max_flows;
        let shared = Shared {
            budget: ReassemblyBudget::new(cfg.max_waiting_total),
            handshake: HandshakeBudget {
                used: 0,
                cap: cfg.max_handshake_total,
            },
            stats: TrackerStats::default(),
            cfg,
        };
        Tracker {
            flows: FlowTable::default(),
            syn_only: SynOnlyTable::new(syn_only_capacity(cfg_max_flows)),
            shared,
            now: Timestamp(i64::MIN),
            next_expiry_check: Timestamp(i64::MIN),
        }
    }

    /// Handshake bytes buffered now, all flows.
    pub fn handshake_bytes(&self) -> usize {
        self.shared.handshake.used
    }

    pub fn stats(&self) -> TrackerStats {
        let mut s = self.shared.stats.clone();
        s.reassembly_dropped_segments += self.shared.budget.dropped_segments;
        s
    }

    /// Flows tracked now (those that sent only a SYN included).
    pub fn active_flows(&self) -> usize {
        self.flows.len() + self.syn_only.len()
    }

    /// The most flows `active_flows` can count: `max_flows` in the flow table
    /// plus the SYN-only ring's capacity.
    pub fn max_active_flows(&self) -> usize {
        self.shared.cfg.max_flows + self.syn_only.capacity()
    }

    /// Out-of-order and handshake bytes buffered now, all flows.
    pub fn buffered_bytes(&self) -> usize {
        self.shared.budget.used + self.shared.handshake.used
    }

    /// Handles one decoded packet seen at `ts`.
    pub fn process(&mut self, ts: Timestamp, pkt: &Packet<'_>, sink: &mut impl FnMut(FlowEvent)) {
        if ts > self.now {
            self.now = ts;
        }
        if self.now >= self.next_expiry_check {
            self.expire(sink);
            self.next_expiry_check = Timestamp(self.now.0.saturating_add(SEC));
        }
        match pkt.transport {
            L4::Tcp(seg) => self.tcp(ts, pkt, &seg, sink),
            L4::Udp(dgram) => self.udp(ts, pkt, &dgram, sink),
        }
    }

    /// Ends every flow (end of input), in order of first packet.
    pub fn flush(&mut self, sink: &mut impl FnMut(FlowEvent)) {
        enum Live {
            Flow(u32),
            SynOnly(Box<SynOnly>),
        }
        let mut live: Vec<(u64, Live)> = Vec::with_capacity(self.flows.len() + self.syn_only.len());
        live.extend((self.flows.iter()).map(|(slot, f)| (f.id, Live::Flow(slot))));
        live.extend(
            (self.syn_only.drain().into_iter()).map(|s| (s.id, Live::SynOnly(Box::new(s)))),
        );
        live.sort_unstable_by_key(|(id, _)| *id);
        for (_, l) in live {
            match l {
                Live::Flow(slot) => self.end_in_slot(slot, EndReason::EndOfInput, sink),
                Live::SynOnly(s) => self.end_syn_only(*s, EndReason::EndOfInput, sink),
            }
        }
        self.flows.clear();
    }

    fn tcp(
        &mut self,
        ts: Timestamp,
        pkt: &Packet<'_>,
        seg: &TcpSegment<'_>,
        sink: &mut impl FnMut(FlowEvent),
    ) {
        let (key, src_at) = flow_key(pkt, seg.src_port, seg.dst_port, false);
        let hash = self.flows.hash(&key);
        let mut slot = self.flows.find(hash, &key);
        // A new SYN on a finished (or different-ISN) connection starts a new flow.
        if let Some(at) = slot.filter(|_| seg.syn && !seg.ack_flag) {
            let reused = self
                .flows
                .slot(at)
                .as_ref()
                .is_some_and(|flow| match &flow.state {
                    FlowState::Tcp(t) => {
                        let side = flow.side_of(src_at);
                        flow.closed || t.isn[side].is_some_and(|isn| isn != seg.seq)
                    }
                    FlowState::Quic(_) => false,
                });
            if reused {
                self.shared.stats.flows_reused += 1;
                self.remove_flow(at, EndReason::Reused, sink);
                slot = None;
            }
        }
        let slot = match slot {
            Some(at) => at,
            None => match self.tcp_new_flow(ts, pkt, seg, key, hash, src_at, sink) {
                Some(at) => at,
                None => return, // a SYN alone: it waits in the SYN-only table
            },
        };
        let Some(flow) = self.flows.slot_mut(slot).as_mut() else {
            return;
        };
        let shared = &mut self.shared;
        let side = flow.side_of(src_at);
        flow.touch(ts, side, seg.payload.len());
        if flow.closed {
            return;
        }
        // Once the hellos are out, payload matters only to keep record headers.
        let follow = !flow.emitted || shared.cfg.max_records_per_flow > 0;
        let Flow {
            state,
            hs,
            records,
            records_not_kept,
            ..
        } = flow;
        let FlowState::Tcp(t) = state else { return };
        if seg.syn {
            if t.syn[side].is_none() {
                t.syn[side] = Some(TcpSyn::from_options(
                    seg.window,
                    seg.options,
                    pkt.ttl,
                    pkt.dont_fragment,
                ));
            }
            if !seg.ack_flag {
                t.syn_side = Some(side as u8);
            } else if t.syn_side.is_none() {
                t.syn_side = Some(1 - side as u8);
            }
            t.isn[side].get_or_insert(seg.seq);
            if let Some(dir) = &mut t.dirs[side] {
                dir.reasm.set_isn(seg.seq);
            }
        }
        let feeds = follow
            && !seg.payload.is_empty()
            && !t.dirs[side].as_ref().is_some_and(|d| d.tls.is_done());
        if feeds {
            let seq = if seg.syn {
                seg.seq.wrapping_add(1)
            } else {
                seg.seq
            };
            let TcpDir { reasm, tls } = t.dir_mut(side, shared.cfg.max_handshake_bytes);
            let before = reasm.stats;
            let Shared {
                cfg, stats, budget, ..
            } = shared;
            let mut ctx = TlsCtx {
                hs,
                records,
                records_not_kept,
                stats,
                side,
                ts,
                cfg,
            };
            reasm.push(
                seq,
                seg.payload,
                cfg.max_waiting_per_direction,
                budget,
                &mut |chunk, after_gap| {
                    ctx.feed(tls, chunk, after_gap);
                },
            );
            let after = reasm.stats;
            stats.reassembly_gaps += (after.gaps - before.gaps) as u64;
            stats.reassembly_dropped_segments +=
                (after.dropped_segments - before.dropped_segments) as u64;
            stats.retransmitted_bytes += after.retransmitted_bytes - before.retransmitted_bytes;
            if tls.is_done() {
                reasm.clear(budget);
            }
        }
        // (FIN and RST are kept in the flow, not its boxed TCP state, so that a
        // packet after the handshake touches only the flow's entry.)
        if seg.fin {
            flow.fin[side] = true;
        }
        if seg.rst {
            flow.rst = true;
        }
        let finished = flow.rst || (flow.fin[0] && flow.fin[1]);
        if shared.cfg.early_client_hello {
            emit_early_hello(flow, shared, sink);
        }
        if finished {
            close_flow(flow, shared, sink);
        } else {
            if !flow.emitted && flow.handshake_complete() {
                emit_handshake(flow, shared, sink);
                if shared.cfg.max_records_per_flow == 0 {
                    release_readers(flow, shared);
                }
            }
            if flow.emitted && flow.records.len() >= shared.cfg.record_batch {
                let records = flow.take_records();
                let client_ip = flow.roles().0.ip();
                sink(FlowEvent::Records(Box::new(RecordBatch {
                    id: flow.id,
                    client_ip,
                    records,
                })));
            }
        }
        // Only feeding the TLS reader adds handshake bytes; once none are
        // counted, a packet that fed nothing has nothing to account.
        if feeds || flow.handshake_accounted > 0 {
            account_handshake(flow, shared);
        }
    }

    fn udp(
        &mut self,
        ts: Timestamp,
        pkt: &Packet<'_>,
        dgram: &UdpDatagram<'_>,
        sink: &mut impl FnMut(FlowEvent),
    ) {
        let (key, src_at) = flow_key(pkt, dgram.src_port, dgram.dst_port, true);
        let hash = self.flows.hash(&key);
        let slot = self.flows.find(hash, &key);
        let flow = match slot.and_then(|at| self.flows.slot_mut(at).as_mut()) {
            Some(flow) => flow,
            None => {
                // Only a client Initial that decrypts with its own DCID's keys opens a flow.
                let Some(keys) = client_initial_keys(dgram.payload) else {
                    self.shared.stats.udp_not_quic += 1;
                    return;
                };
                self.make_room(sink);
                let state = FlowState::Quic(Box::new(QuicState {
                    keys: Some(keys),
                    ..QuicState::default()
                }));
                self.shared.stats.flows_quic += 1;
                let open = Opening {
                    id: self.flows.take_id(),
                    key,
                    side0_at: src_at,
                    first_ts: ts,
                    tunnelled: pkt.tunnelled,
                };
                let at = self.flows.insert(hash, open, ts, state);
                self.flows.slot_mut(at).as_mut().expect("just inserted")
            }
        };
        let shared = &mut self.shared;
        let side = flow.side_of(src_at);
        flow.touch(ts, side, dgram.payload.len());
        if flow.emitted {
            return; // nothing more to learn from Initials
        }
        quic_datagram(flow, shared, side, ts, dgram.payload);
        if shared.cfg.early_client_hello {
            emit_early_hello(flow, shared, sink);
        }
        if flow.handshake_complete() {
            emit_handshake(flow, shared, sink);
        }
        account_handshake(flow, shared);
    }

    /// A TCP packet with no flow. A bare SYN (no ACK, payload, FIN or RST)
    /// waits in the SYN-only table, or counts as a retransmission there (None:
    /// nothing more to do with the packet); anything else gets a flow, made
    /// from the connection's SYN if it waits there. Returns the flow's slot.
    #[allow(clippy::too_many_arguments)]
    fn tcp_new_flow(
        &mut self,
        ts: Timestamp,
        pkt: &Packet<'_>,
        seg: &TcpSegment<'_>,
        key: FlowKey,
        hash: u64,
        src_at: usize,
        sink: &mut impl FnMut(FlowEvent),
    ) -> Option<u32> {
        let bare_syn = seg.syn && !seg.ack_flag && !seg.fin && !seg.rst && seg.payload.is_empty();
        if let Some(seq) = self.syn_only.find(hash, &key) {
            let waiting = self.syn_only.get_mut(seq)?;
            let same_sender = usize::from(waiting.src_at) == src_at;
            if bare_syn && same_sender && waiting.isn == seg.seq {
                waiting.packets = waiting.packets.saturating_add(1);
                if ts > waiting.last_ts {
                    waiting.last_ts = ts;
                }
                return None;
            }
            let waiting = self.syn_only.take(seq)?;
            if bare_syn && same_sender {
                // Another connection on the same addresses and ports.
                self.shared.stats.flows_reused += 1;
                self.end_syn_only(waiting, EndReason::Reused, sink);
            } else {
                self.make_room(sink);
                return Some(self.flows.insert_from_syn(waiting, ts));
            }
        }
        self.shared.stats.flows_tcp += 1;
        let id = self.flows.take_id();
        if bare_syn {
            let s = SynOnly {
                key,
                hash,
                id,
                src_at: src_at as u8,
                tunnelled: pkt.tunnelled,
                first_ts: ts,
                last_ts: ts,
                isn: seg.seq,
                packets: 1,
                syn: TcpSyn::from_options(seg.window, seg.options, pkt.ttl, pkt.dont_fragment),
            };
            if let Some(oldest) = self.syn_only.insert(s) {
                self.end_syn_only(oldest, EndReason::Evicted, sink);
            }
            return None;
        }
        self.make_room(sink);
        let open = Opening {
            id,
            key,
            side0_at: src_at,
            first_ts: ts,
            tunnelled: pkt.tunnelled,
        };
        Some(
            self.flows
                .insert(hash, open, ts, FlowState::Tcp(TcpState::new())),
        )
    }

    /// The End of a connection that sent only a SYN (and its retransmissions).
    fn end_syn_only(&mut self, s: SynOnly, reason: EndReason, sink: &mut impl FnMut(FlowEvent)) {
        let stats = &mut self.shared.stats;
        stats.count_end(reason);
        if reason == EndReason::Evicted {
            stats.syn_only_evicted += 1;
        }
        let at = usize::from(s.src_at);
        let (client, server) = (s.key.endpoint(at), s.key.endpoint(1 - at));
        sink(FlowEvent::End(Box::new(FlowEnd {
            id: s.id,
            reason,
            transport: Transport::Tcp,
            tls: false,
            client_ip: client.ip(),
            client_port: client.port,
            server_ip: server.ip(),
            server_port: server.port,
            first_ts: s.first_ts,
            last_ts: s.last_ts,
            packets: [u64::from(s.packets), 0],
            payload_bytes: [0, 0],
            records: Vec::new(),
            records_not_kept: 0,
        })));
    }

    /// Ends the flow in `slot` and frees the slot.
    fn remove_flow(&mut self, slot: u32, reason: EndReason, sink: &mut impl FnMut(FlowEvent)) {
        self.end_in_slot(slot, reason, sink);
        self.flows.free_slot(slot);
    }

    /// Sends what the flow in `slot` still owes (hellos, its End) and releases
    /// its buffers; the slot itself is freed by `remove_flow`, or all at once
    /// by `flush`.
    fn end_in_slot(&mut self, slot: u32, reason: EndReason, sink: &mut impl FnMut(FlowEvent)) {
        let shared = &mut self.shared;
        let Some(flow) = self.flows.slot_mut(slot).as_mut() else {
            return;
        };
        if !flow.closed {
            drain_flow(flow, shared);
            if shared.cfg.early_client_hello {
                emit_early_hello(flow, shared, sink);
            }
            emit_handshake(flow, shared, sink);
        }
        shared.handshake.used -= flow.handshake_accounted;
        if let FlowState::Tcp(t) = &mut flow.state {
            for d in t.dirs_mut() {
                d.reasm.clear(&mut shared.budget);
            }
        }
        if flow.closed {
            return; // its End was sent at close time
        }
        shared.stats.count_end(reason);
        sink(FlowEvent::End(Box::new(flow.take_end(reason))));
    }

    fn timeout_of(&self, flow: &Flow) -> i64 {
        let cfg = &self.shared.cfg;
        if flow.closed {
            cfg.closed_linger
        } else {
            match flow.state {
                FlowState::Tcp(_) => cfg.tcp_idle_timeout,
                FlowState::Quic(_) => cfg.udp_idle_timeout,
            }
        }
    }

    /// Ends flows idle for longer than their timeout.
    fn expire(&mut self, sink: &mut impl FnMut(FlowEvent)) {
        self.sweep(false, sink);
        let (now, timeout) = (self.now, self.shared.cfg.tcp_idle_timeout);
        while let Some(s) = (self.syn_only).pop_idle(|s| now.nanos_since(s.last_ts) >= timeout) {
            self.end_syn_only(s, EndReason::Idle, sink);
        }
    }

    /// Makes room for one more flow when the table is full.
    fn make_room(&mut self, sink: &mut impl FnMut(FlowEvent)) {
        while self.flows.len() >= self.shared.cfg.max_flows {
            if !self.sweep(true, sink) {
                return;
            }
        }
    }

    /// Walks the flows from the least recently queued: ends those idle past
    /// their timeout, queues again (by their last packet) those seen since they
    /// were queued, and stops at the first that is neither: the least recently
    /// seen flow, which is evicted with `evict` (returns whether a flow was).
    ///
    /// A flow is queued again at most once per packet it had, so the work is
    /// bounded by the packets, however much one call does. (A FIFO with a
    /// second chance instead evicted active flows whenever every flow at the
    /// front had been seen again, as in a flood of half-open connections.)
    fn sweep(&mut self, evict: bool, sink: &mut impl FnMut(FlowEvent)) -> bool {
        while let Some((e, from_heap)) = self.flows.oldest() {
            let Some(flow) = self.flows.queued(&e) else {
                self.flows.pop_oldest(from_heap); // stale entry
                continue;
            };
            if self.now.nanos_since(flow.last_ts) >= self.timeout_of(flow) {
                self.flows.pop_oldest(from_heap);
                self.remove_flow(e.slot, EndReason::Idle, sink);
            } else if flow.last_ts > e.ts {
                let ts = flow.last_ts;
                self.flows.pop_oldest(from_heap);
                self.flows.seen.push(Queued { ts, ..e });
            } else if evict && self.flows.len() >= self.shared.cfg.max_flows {
                self.flows.pop_oldest(from_heap);
                self.remove_flow(e.slot, EndReason::Evicted, sink);
                return true;
            } else {
                return false;
            }
        }
        false
    }
}

/// The packet's flow key and the index in it of the packet's sender.
// Inlined: once per packet, and its 48-byte result would be returned through memory.
#[inline]
fn flow_key(pkt: &Packet<'_>, src_port: u16, dst_port: u16, udp: bool) -> (FlowKey, usize) {
    FlowKey::new(
        Endpoint::new(pkt.src, src_port),
        Endpoint::new(pkt.dst, dst_port),
        udp,
    )
}

/// Keys of a datagram whose first packet is a client Initial that decrypts with
/// the keys of its own Destination Connection ID.
fn client_initial_keys(datagram: &[u8]) -> Option<InitialKeys> {
    let Some(Ok(h)) = quic::long_headers(datagram).next() else {
        return None;
    };
    if h.kind != PacketKind::Initial {
        return None;
    }
    let keys = InitialKeys::derive(h.version, h.dcid)?;
    quic::decrypt_initial(&h, &keys.client, None)?;
    Some(keys)
}

/// Decrypts the Initial packets of a QUIC datagram and reads their CRYPTO frames.
fn quic_datagram(
    flow: &mut Flow,
    shared: &mut Shared,
    side: usize,
    ts: Timestamp,
    datagram: &[u8],
) {
    let Flow { state, hs, .. } = flow;
    let FlowState::Quic(q) = state else { return };
    let Shared { cfg, stats, .. } = shared;
    // The flow was opened by the client's Initial: side 0 is the client.
    hs.client_side = Some(0);
    if side == 1 {
        q.server_datagrams += 1;
    }
    for h in quic::long_headers(datagram) {
        let Ok(h) = h else { break };
        if h.kind != PacketKind::Initial {
            continue;
        }
        let mut decrypted = q.keys.as_ref().and_then(|k| {
            let dir_keys = if side == 0 { &k.client } else { &k.server };
            quic::decrypt_initial(&h, dir_keys, q.largest_pn[side])
        });
        if decrypted.is_none() && side == 0 && q.keys.as_ref().is_none_or(|k| k.dcid != h.dcid) {
            // Keys stay those of the client's first DCID for the whole connection
            // (the client switching to the server's connection ID changes nothing),
            // except after a Retry: then the client's new DCID gives new keys and
            // a new handshake.
            if let Some(keys) = InitialKeys::derive(h.version, h.dcid) {
                decrypted = quic::decrypt_initial(&h, &keys.client, None);
                if decrypted.is_some() {
                    q.keys = Some(keys);
                    q.crypto = Default::default();
                    q.hello_done = [false; 2];
                    q.largest_pn = [None; 2];
                }
            }
        }
        let Some((plain, pn)) = decrypted else {
            stats.quic_undecryptable += 1;
            continue;
        };
        q.largest_pn[side] = Some(q.largest_pn[side].map_or(pn, |l| l.max(pn)));
        if q.hello_done[side] {
            continue;
        }
        let crypto = &mut q.crypto[side];
        quic::crypto_frames(&plain, |off, data| {
            crypto.add(off, data, cfg.max_handshake_bytes)
        });
        if crypto.overflowed {
            stats.quic_crypto_overflow += 1;
            q.hello_done[side] = true;
            crypto.release();
            continue;
        }
        if let Some((msg_type, body)) = crypto.first_message() {
            let event = TlsEvent::Handshake { msg_type, body };
            let mut records = Vec::new();
            let mut not_kept = 0;
            let mut ctx = TlsCtx {
                hs,
                records: &mut records,
                records_not_kept: &mut not_kept,
                stats,
                side,
                ts,
                cfg,
            };
            ctx.on_event(event);
            q.hello_done[side] = true;
            crypto.release();
        }
    }
}

/// Frees a TCP flow's reassemblers and TLS readers once nothing more will be
/// read (hellos emitted, record headers not kept): the rest of the connection
/// costs only its slot, and the memory goes, still warm, to the next new flow.
fn release_readers(flow: &mut Flow, shared: &mut Shared) {
    if let FlowState::Tcp(t) = &mut flow.state {
        for dir in &mut t.dirs {
            if let Some(mut d) = dir.take() {
                d.reasm.clear(&mut shared.budget);
            }
        }
    }
    account_handshake(flow, shared);
}

/// Updates the global handshake-buffer count for one flow and enforces its cap.
fn account_handshake(flow: &mut Flow, shared: &mut Shared) {
    let now = flow.handshake_buffered();
    if now == flow.handshake_accounted {
        return;
    }
    let budget = &mut shared.handshake;
    budget.used = budget.used - flow.handshake_accounted + now;
    flow.handshake_accounted = now;
    if budget.used > budget.cap && now > 0 {
        // Over the cap: this flow, which just grew, stops collecting.
        flow.stop_handshake();
        shared.stats.handshake_budget_exhausted += 1;
        budget.used -= now;
        flow.handshake_accounted = 0;
    }
}

/// Sends the ClientHello event of a flow (once), as soon as it has one.
fn emit_early_hello(flow: &mut Flow, shared: &Shared, sink: &mut impl FnMut(FlowEvent)) {
    if flow.early_sent || flow.emitted {
        return;
    }
    let Some(first) = flow.hs.client_hellos.first() else {
        return;
    };
    flow.early_sent = true;
    let _ = shared;
    let (client, server) = flow.roles();
    let client_side = flow.client_side();
    let (client_syn, transport) = match &flow.state {
        FlowState::Tcp(t) => (t.syn[client_side].clone(), Transport::Tcp),
        FlowState::Quic(_) => (None, Transport::Quic),
    };
    sink(FlowEvent::ClientHello(Box::new(Connection {
        id: flow.id,
        transport,
        client_ip: client.ip(),
        client_port: client.port,
        server_ip: server.ip(),
        server_port: server.port,
        first_ts: flow.first_ts,
        client_syn,
        server_syn: None,
        client_hellos: vec![first.clone()],
        server_hellos: Vec::new(),
        client_hello_packets: flow.hs.client_hello_packets,
        tunnelled: flow.tunnelled,
    })));
}

/// Sends the Handshake event of a flow (once), if it saw a hello.
fn emit_handshake(flow: &mut Flow, shared: &mut Shared, sink: &mut impl FnMut(FlowEvent)) {
    if flow.emitted || (flow.hs.client_hellos.is_empty() && flow.hs.server_hellos.is_empty()) {
        return;
    }
    flow.emitted = true;
    shared.stats.tls_connections += 1;
    let (client, server) = flow.roles();
    let client_side = flow.client_side();
    let (client_syn, server_syn, transport) = match &mut flow.state {
        FlowState::Tcp(t) => {
            // The hellos are known: stop buffering handshake bytes.
            t.stop_handshake();
            (
                t.syn[client_side].take(),
                t.syn[1 - client_side].take(),
                Transport::Tcp,
            )
        }
        FlowState::Quic(q) => {
            q.keys = None;
            for c in &mut q.crypto {
                c.release();
            }
            (None, None, Transport::Quic)
        }
    };
    let conn = Connection {
        id: flow.id,
        transport,
        client_ip: client.ip(),
        client_port: client.port,
        server_ip: server.ip(),
        server_port: server.port,
        first_ts: flow.first_ts,
        client_syn,
        server_syn,
        client_hellos: std::mem::take(&mut flow.hs.client_hellos),
        server_hellos: std::mem::take(&mut flow.hs.server_hellos),
        client_hello_packets: flow.hs.client_hello_packets,
        tunnelled: flow.tunnelled,
    };
    sink(FlowEvent::Handshake(Box::new(conn)));
}

/// FIN/RST: deliver what is still buffered, emit, and keep a small entry to
/// absorb stray packets until `closed_linger` passes.
fn close_flow(flow: &mut Flow, shared: &mut Shared, sink: &mut impl FnMut(FlowEvent)) {
    drain_flow(flow, shared);
    if shared.cfg.early_client_hello {
        emit_early_hello(flow, shared, sink);
    }
    emit_handshake(flow, shared, sink);
    flow.closed = true;
    shared.stats.flows_ended_closed += 1;
    let end = flow.take_end(EndReason::Closed);
    if let FlowState::Tcp(t) = &mut flow.state {
        t.stop_handshake();
        for d in t.dirs_mut() {
            d.reasm.clear(&mut shared.budget);
        }
    }
    sink(FlowEvent::End(Box::new(end)));
}

/// Delivers out-of-order bytes still waiting (gaps skipped).
fn drain_flow(flow: &mut Flow, shared: &mut Shared) {
    let ts = flow.last_ts;
    let Flow {
        state,
        hs,
        records,
        records_not_kept,
        ..
    } = flow;
    let FlowState::Tcp(t) = state else { return };
    let Shared {
        cfg, stats, budget, ..
    } = shared;
    for (side, dir) in t.dirs.iter_mut().enumerate() {
        let Some(dir) = dir else { continue };
        let TcpDir { reasm, tls } = &mut **dir;
        if reasm.waiting_bytes() == 0 || tls.is_done() {
            continue;
        }
        let mut ctx = TlsCtx {
            hs,
            records,
            records_not_kept,
            stats,
            side,
            ts,
            cfg,
        };
        reasm.flush(budget, &mut |chunk, gap| ctx.feed(tls, chunk, gap));
        stats.reassembly_gaps += 1;
    }
}

impl TcpState {
    fn new() -> TcpState {
        TcpState {
            syn: [None, None],
            syn_side: None,
            isn: [None, None],
            dirs: [None, None],
            handshake_stopped: false,
        }
    }

    /// One direction's readers, created (knowing its ISN, if seen) on first use.
    fn dir_mut(&mut self, side: usize, max_handshake_bytes: usize) -> &mut TcpDir {
        let isn = self.isn[side];
        let stopped = self.handshake_stopped;
        self.dirs[side].get_or_insert_with(|| {
            let mut reasm = Reassembler::default();
            if let Some(isn) = isn {
                reasm.set_isn(isn);
            }
            let mut tls = TlsStream::new(max_handshake_bytes);
            if stopped {
                tls.stop_handshake();
            }
            Box::new(TcpDir { reasm, tls })
        })
    }

    /// The readers created so far.
    fn dirs(&self) -> impl Iterator<Item = &TcpDir> {
        self.dirs.iter().flatten().map(|d| &**d)
    }

    fn dirs_mut(&mut self) -> impl Iterator<Item = &mut TcpDir> {
        self.dirs.iter_mut().flatten().map(|d| &mut **d)
    }

    /// No more handshake bytes are buffered, by either direction's reader.
    fn stop_handshake(&mut self) {
        self.handshake_stopped = true;
        self.dirs_mut().for_each(|d| d.tls.stop_handshake());
    }
}

impl Flow {
    /// Handshake bytes this flow buffers now.
    fn handshake_buffered(&self) -> usize {
        match &self.state {
            FlowState::Tcp(t) => t.dirs().map(|d| d.tls.buffered_bytes()).sum(),
            FlowState::Quic(q) => q.crypto.iter().map(CryptoStream::buffered_bytes).sum(),
        }
    }

    fn stop_handshake(&mut self) {
        match &mut self.state {
            FlowState::Tcp(t) => t.stop_handshake(),
            FlowState::Quic(q) => {
                q.crypto.iter_mut().for_each(CryptoStream::release);
                q.hello_done = [true; 2];
            }
        }
    }

    /// The side (0 = sender of the first packet) of the endpoint at `at` in the key.
    fn side_of(&self, at: usize) -> usize {
        usize::from(at != usize::from(self.side0_at))
    }

    fn touch(&mut self, ts: Timestamp, side: usize, payload: usize) {
        if ts > self.last_ts {
            self.last_ts = ts;
        }
        self.packets[side] += 1;
        self.payload_bytes[side] += payload as u64;
    }

    /// Side of the TLS client: the ClientHello's sender, else the SYN's, else side 0.
    fn client_side(&self) -> usize {
        if let Some(s) = self.hs.client_side {
            return usize::from(s);
        }
        match &self.state {
            FlowState::Tcp(t) => usize::from(t.syn_side.unwrap_or(0)),
            FlowState::Quic(_) => 0,
        }
    }

    /// (client, server).
    fn roles(&self) -> (Endpoint, Endpoint) {
        let client_at = usize::from(self.side0_at) ^ self.client_side();
        (
            self.key.endpoint(client_at),
            self.key.endpoint(1 - client_at),
        )
    }

    /// True when waiting longer can add nothing to the Handshake event.
    fn handshake_complete(&self) -> bool {
        let hs = &self.hs;
        let has_ch = !hs.client_hellos.is_empty();
        if hs.final_server_hello {
            return true;
        }
        if !has_ch {
            return false;
        }
        let server = 1 - self.client_side();
        match &self.state {
            FlowState::Tcp(t) => {
                // The server will not answer with a hello: it gave up, alerted or
                // is already sending application data.
                t.dirs[server].as_ref().is_some_and(|d| d.tls.is_done())
                    || hs.app_data[server]
                    || hs.alert[server]
            }
            FlowState::Quic(q) => q.server_datagrams >= 8,
        }
    }

    /// Takes the buffered record headers, with `from_client` resolved.
    fn take_records(&mut self) -> Vec<RecordMeta> {
        let client_is_side0 = self.client_side() == 0;
        let mut records = std::mem::take(&mut self.records);
        for r in &mut records {
            // Stored with from_client meaning "from side 0"; resolve now that roles are final.
            r.from_client = r.from_client == client_is_side0;
        }
        records
    }

    fn take_end(&mut self, reason: EndReason) -> FlowEnd {
        let (client, server) = self.roles();
        let c = self.client_side();
        let s = 1 - c;
        let transport = match self.state {
            FlowState::Tcp(_) => Transport::Tcp,
            FlowState::Quic(_) => Transport::Quic,
        };
        let records = self.take_records();
        FlowEnd {
            id: self.id,
            reason,
            transport,
            tls: self.emitted,
            client_ip: client.ip(),
            client_port: client.port,
            server_ip: server.ip(),
            server_port: server.port,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            packets: [self.packets[c], self.packets[s]],
            payload_bytes: [self.payload_bytes[c], self.payload_bytes[s]],
            records,
            records_not_kept: self.records_not_kept,
        }
    }
}

/// What a TLS reader's events update.
struct TlsCtx<'a> {
    hs: &'a mut Handshakes,
    records: &'a mut Vec<RecordMeta>,
    records_not_kept: &'a mut u32,
    stats: &'a mut TrackerStats,
    side: usize,
    ts: Timestamp,
    cfg: &'a TrackerConfig,
}

impl TlsCtx<'_> {
    fn feed(&mut self, tls: &mut TlsStream, chunk: &[u8], after_gap: bool) {
        if after_gap && !tls.is_done() {
            // Record boundaries are lost: stop following this direction.
            tls.stop_handshake();
            tls.feed(&[0xff; 5], &mut |_| {});
            self.stats.streams_desynced += 1;
            return;
        }
        let side = self.side;
        let counting = self.hs.client_hellos.is_empty();
        if counting {
            // Count this packet among the hello's before it can complete the hello.
            if tls.is_tls() {
                self.hs.tls_packets_before_ch[side] += 1;
            } else if tls.is_undecided() {
                self.hs.undecided_packets[side] += 1;
            }
        }
        let was_undecided = tls.is_undecided();
        tls.feed(chunk, &mut |e| self.on_event(e));
        if counting && was_undecided && !tls.is_undecided() {
            if tls.is_tls() {
                self.hs.tls_packets_before_ch[side] += self.hs.undecided_packets[side];
            }
            self.hs.undecided_packets[side] = 0;
        }
    }

    fn on_event(&mut self, event: TlsEvent<'_>) {
        let side = self.side;
        match event {
            TlsEvent::Record {
                content_type,
                length,
            } => {
                if content_type == CONTENT_APPLICATION_DATA {
                    self.hs.app_data[side] = true;
                } else if content_type == CONTENT_ALERT {
                    self.hs.alert[side] = true;
                }
                if self.records.len() < self.cfg.max_records_per_flow {
                    self.records.push(RecordMeta {
                        ts: self.ts,
                        // side 0 for now; resolved to the client's side at the end
                        from_client: side == 0,
                        content_type,
                        length,
                    });
                } else {
                    *self.records_not_kept += 1;
                    self.stats.records_not_kept += 1;
                }
            }
            TlsEvent::Handshake { msg_type: 1, body } => {
                self.client_hello(ClientHello::parse(body))
            }
            TlsEvent::Sslv2ClientHello { msg } => self.client_hello(ClientHello::parse_sslv2(msg)),
            TlsEvent::Handshake { body, .. } => match ServerHello::parse(body) {
                Ok(sh) => {
                    self.stats.server_hellos += 1;
                    if self.hs.client_side.is_none() {
                        self.hs.client_side = Some(u8::from(side == 0));
                    }
                    if !sh.is_hello_retry_request {
                        self.hs.final_server_hello = true;
                    }
                    if self.hs.server_hellos.len() < self.cfg.max_hellos_per_flow {
                        self.hs.server_hellos.push(Timed {
                            ts: self.ts,
                            value: sh,
                        });
                    }
                }
                Err(_) => self.stats.hello_parse_errors += 1,
            },
            TlsEvent::NotTls => self.stats.streams_not_tls += 1,
            TlsEvent::Desync => self.stats.streams_desynced += 1,
            TlsEvent::HandshakeTooLarge => self.stats.handshakes_too_large += 1,
        }
    }

    fn client_hello(&mut self, parsed: Result<ClientHello, shakedown_fingerprints::HelloError>) {
        let side = self.side;
        match parsed {
            Ok(ch) => {
                self.stats.client_hellos += 1;
                if self.hs.client_side.is_none() {
                    self.hs.client_side = Some(u8::from(side == 1));
                }
                if self.hs.client_hellos.is_empty() {
                    // Includes the packet that completed the hello (counted before feeding,
                    // or, if it was the one that decided the stream is TLS, just now).
                    self.hs.client_hello_packets =
                        self.hs.tls_packets_before_ch[side] + self.hs.undecided_packets[side];
                }
                if self.hs.client_hellos.len() < self.cfg.max_hellos_per_flow {
                    self.hs.client_hellos.push(Timed {
                        ts: self.ts,
                        value: Arc::new(ch),
                    });
                }
            }
            Err(_) => self.stats.hello_parse_errors += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps docs/ARCHITECTURE.md's memory figures honest: prints the sizes and
    /// fails if a flow entry grows past what the document promises.
    #[test]
    fn flow_entry_size() {
        let flow = std::mem::size_of::<Flow>();
        let key = std::mem::size_of::<FlowKey>();
        let tcp = std::mem::size_of::<TcpState>();
        let quic = std::mem::size_of::<QuicState>();
        eprintln!(
            "Flow {flow} B, FlowKey {key} B, TcpState {tcp} B (inline), QuicState {quic} B (boxed)"
        );
        // A TCP flow's whole state is one slot (plus an 8-byte index entry).
        assert!(flow <= 400, "flow slot {flow} B");
        assert!(key <= 40, "flow key {key} B");
        assert!(tcp <= 160, "TcpState {tcp} B (readers boxed)");
        // The SYN-only ring's entries: ~136 B in docs/ARCHITECTURE.md.
        let syn_only = std::mem::size_of::<Option<SynOnly>>();
        eprintln!("SynOnly entry {syn_only} B");
        eprintln!(
            "TcpDir {} B (Reassembler {} B, TlsStream {} B), Handshakes {} B",
            std::mem::size_of::<TcpDir>(),
            std::mem::size_of::<Reassembler>(),
            std::mem::size_of::<TlsStream>(),
            std::mem::size_of::<Handshakes>()
        );
        assert!(syn_only <= 144, "SYN-only entry {syn_only} B");
    }

    fn segment(from: [u8; 4], sport: u16, to: [u8; 4], dport: u16, flags: &str) -> Packet<'static> {
        Packet {
            src: IpAddr::from(from),
            dst: IpAddr::from(to),
            ttl: 64,
            dont_fragment: Some(true),
            transport: L4::Tcp(TcpSegment {
                src_port: sport,
                dst_port: dport,
                seq: 1000,
                ack: 0,
                syn: flags.contains('S'),
                ack_flag: flags.contains('A'),
                fin: false,
                rst: false,
                window: 64240,
                options: &[],
                payload: &[],
            }),
            tunnelled: false,
        }
    }

    fn run(tracker: &mut Tracker, ns: i64, pkt: &Packet<'_>, ends: &mut Vec<FlowEnd>) {
        tracker.process(Timestamp(ns), pkt, &mut |ev| {
            if let FlowEvent::End(e) = ev {
                ends.push(*e);
            }
        });
    }

    /// The end of input ends every flow once, in id order, and leaves an empty
    /// table whose slots are reused by the flows that come after.
    #[test]
    fn flush_ends_every_flow_in_order_and_leaves_a_reusable_table() {
        let mut tracker = Tracker::new(TrackerConfig {
            max_flows: 8,
            ..TrackerConfig::default()
        });
        let server = [203, 0, 113, 10];
        let t0 = 1_700_000_000 * SEC;
        let mut ends = Vec::new();
        // Six flows (SYN then ACK: each gets a slot), one bare SYN left waiting.
        for n in 1..=6 {
            let client = [10, 0, 0, n];
            run(
                &mut tracker,
                t0,
                &segment(client, 1, server, 443, "S"),
                &mut ends,
            );
            run(
                &mut tracker,
                t0 + 1,
                &segment(client, 1, server, 443, "A"),
                &mut ends,
            );
        }
        run(
            &mut tracker,
            t0 + 2,
            &segment([10, 0, 0, 9], 1, server, 443, "S"),
            &mut ends,
        );
        assert_eq!(tracker.active_flows(), 7);
        let mut flush_ends = Vec::new();
        tracker.flush(&mut |ev| {
            if let FlowEvent::End(e) = ev {
                flush_ends.push((e.id, e.reason));
            }
        });
        let want: Vec<(u64, EndReason)> = (0..7).map(|id| (id, EndReason::EndOfInput)).collect();
        assert_eq!(flush_ends, want);
        assert_eq!(tracker.active_flows(), 0);
        assert_eq!(tracker.stats().flows_at_end_of_input, 7);
        // The same addresses again: new flows, found again by their next packet.
        for n in 1..=8 {
            let client = [10, 0, 0, n];
            run(
                &mut tracker,
                t0 + 10,
                &segment(client, 1, server, 443, "S"),
                &mut ends,
            );
            run(
                &mut tracker,
                t0 + 11,
                &segment(client, 1, server, 443, "A"),
                &mut ends,
            );
        }
        assert_eq!(tracker.active_flows(), 8);
        assert!(ends.is_empty(), "nothing ended or was evicted: {ends:?}");
        assert_eq!(tracker.stats().flows_tcp, 7 + 8);
    }

    /// A bare SYN waits apart from the flow table; the connection's next
    /// packet makes the flow, which then has the SYN's id, time and count as if
    /// the table had seen it.
    #[test]
    fn a_syn_waits_apart_and_becomes_the_flow_at_the_next_packet() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let (a, b, server) = ([10, 0, 0, 1], [10, 0, 0, 2], [203, 0, 113, 10]);
        let mut ends = Vec::new();
        let t0 = 1_700_000_000 * SEC;
        run(
            &mut tracker,
            t0,
            &segment(a, 40000, server, 443, "S"),
            &mut ends,
        );
        run(
            &mut tracker,
            t0 + SEC,
            &segment(a, 40000, server, 443, "S"),
            &mut ends,
        );
        run(
            &mut tracker,
            t0 + 2 * SEC,
            &segment(b, 40000, server, 443, "S"),
            &mut ends,
        );
        assert_eq!((tracker.flows.len(), tracker.syn_only.len()), (0, 2));
        assert_eq!(tracker.active_flows(), 2);
        // b answered first: a keeps the lower id all the same.
        run(
            &mut tracker,
            t0 + 3 * SEC,
            &segment(server, 443, b, 40000, "SA"),
            &mut ends,
        );
        run(
            &mut tracker,
            t0 + 4 * SEC,
            &segment(server, 443, a, 40000, "SA"),
            &mut ends,
        );
        assert_eq!((tracker.flows.len(), tracker.syn_only.len()), (2, 0));
        tracker.flush(&mut |ev| {
            if let FlowEvent::End(e) = ev {
                ends.push(*e);
            }
        });
        let summary: Vec<_> = ends
            .iter()
            .map(|e| (e.id, e.client_ip.to_string(), e.packets, e.first_ts.0 - t0))
            .collect();
        assert_eq!(
            summary,
            vec![
                (0, "10.0.0.1".into(), [2, 1], 0),
                (1, "10.0.0.2".into(), [1, 1], 2 * SEC),
            ]
        );
        let s = tracker.stats();
        assert_eq!((s.flows_tcp, s.flows_at_end_of_input), (2, 2));
    }

    #[test]
    fn a_syn_alone_ends_idle_reused_or_given_up() {
        let mut tracker = Tracker::new(TrackerConfig {
            max_flows: 4,
            ..TrackerConfig::default()
        });
        let server = [203, 0, 113, 10];
        let mut ends = Vec::new();
        let t0 = 1_700_000_000 * SEC;
        run(
            &mut tracker,
            t0,
            &segment([10, 0, 0, 1], 1, server, 443, "S"),
            &mut ends,
        );
        // The same ports again with another ISN: a new connection.
        let mut again = segment([10, 0, 0, 1], 1, server, 443, "S");
        if let L4::Tcp(seg) = &mut again.transport {
            seg.seq = 2000;
        }
        run(&mut tracker, t0 + 1, &again, &mut ends);
        assert_eq!(ends.len(), 1);
        assert_eq!((ends[0].id, ends[0].reason), (0, EndReason::Reused));
        // Four more bare SYNs: the ring holds 4 (max_flows), the oldest goes.
        for n in 2..6 {
            run(
                &mut tracker,
                t0 + 2,
                &segment([10, 0, 0, n], 1, server, 443, "S"),
                &mut ends,
            );
        }
        assert_eq!(ends.len(), 2);
        assert_eq!((ends[1].id, ends[1].reason), (1, EndReason::Evicted));
        assert_eq!(tracker.stats().syn_only_evicted, 1);
        // The ring and the flow table are counted together, each within its cap.
        assert_eq!(tracker.active_flows(), 4);
        assert_eq!(tracker.max_active_flows(), 8);
        // Past the idle timeout, the rest end idle, in order.
        let later = t0 + 200 * SEC;
        run(
            &mut tracker,
            later,
            &segment([10, 0, 1, 1], 1, server, 443, "A"),
            &mut ends,
        );
        let idle: Vec<u64> = ends[2..]
            .iter()
            .filter(|e| e.reason == EndReason::Idle)
            .map(|e| e.id)
            .collect();
        assert_eq!(idle, vec![2, 3, 4, 5]);
        assert_eq!(tracker.stats().flows_ended_idle, 4);
        assert_eq!(tracker.active_flows(), 1);
    }

    /// In a flood of half-open connections every flood flow has a second packet
    /// after it was queued: the table must still evict the least recently seen
    /// flows, never one of the flows that have a packet every max_flows / 10
    /// new flows (a FIFO with a second chance evicted them).
    #[test]
    fn half_open_flood_evicts_the_least_recently_seen() {
        const MAX: u32 = 1000;
        let mut tracker = Tracker::new(TrackerConfig {
            max_flows: MAX as usize,
            ..TrackerConfig::default()
        });
        let server = [203, 0, 113, 10];
        let mut active_evicted = 0;
        let mut ns = 1_700_000_000 * SEC;
        let mut step = |tracker: &mut Tracker, pkt: &Packet<'_>| {
            ns += 1000;
            tracker.process(Timestamp(ns), pkt, &mut |ev| {
                if let FlowEvent::End(end) = ev {
                    if end.client_ip.to_string().starts_with("10.") {
                        active_evicted += 1;
                    }
                }
            });
        };
        // Ten active flows, one packet each per MAX / 100 new flows in turn.
        let active = |n: u32| [10, 0, 0, n as u8];
        for n in 0..10 {
            step(&mut tracker, &segment(active(n), 40000, server, 443, "S"));
        }
        for i in 0..20 * MAX {
            let ip = (0x0b00_0000 + i).to_be_bytes();
            step(&mut tracker, &segment(ip, 5000, server, 443, "S"));
            step(&mut tracker, &segment(server, 443, ip, 5000, "SA"));
            step(&mut tracker, &segment(ip, 5000, server, 443, "A"));
            if i % (MAX / 100) == 0 {
                let n = i / (MAX / 100) % 10;
                step(&mut tracker, &segment(active(n), 40000, server, 443, "A"));
            }
        }
        assert_eq!(active_evicted, 0, "an active flow was evicted");
        assert_eq!(
            tracker.stats().flows_evicted,
            20 * MAX as u64 + 10 - MAX as u64
        );
        assert_eq!(tracker.active_flows(), MAX as usize);
    }
}
