#!/usr/bin/env python3
"""Write adversarial pcaps (floods) with legitimate TLS connections interleaved.

usage: make-floods.py OUTDIR [--scale S] [--kinds K,...] [--syn N] [--half-open N]
                      [--reverse N] [--overlap N] [--huge N] [--normal N] [--legit N]
                      [--gap N] [--seed N]

Python 3 standard library only. Writes classic pcaps (microsecond timestamps, Ethernet,
IPv4, TCP; header lengths are right, IP and TCP checksums are zero: shakedown does not
check them) into OUTDIR, one per kind:

  syn-flood.pcap           SYNs from random source addresses and ports (--syn, full
                           scale 10,000,000), one packet per address: nothing ever
                           completes, every SYN makes a flow entry.
  half-open.pcap           connections (--half-open, full scale 1,000,000) that do SYN,
                           SYN-ACK, ACK and then send one byte of a ClientHello (0x16)
                           and never anything more.
  one-byte-reverse.pcap    real connections (--reverse, full scale 5,000; 1,000 at a
                           time) whose whole first flight (the ClientHello) is sent one
                           byte per segment, last byte first; the rest of the connection
                           (ServerHello, data, FIN) follows as captured.
  conflicting-overlap.pcap real connections (--overlap, full scale 100,000; 1,000 at a
                           time) whose ClientHello is sent in 8 pieces, out of order, with
                           overlapping retransmissions whose bytes conflict (every byte
                           inverted) with the first copy; see "Which copy wins" below.
  huge-length.pcap         connections (--huge, full scale 4,000; 2,000 at a time) whose
                           first handshake record (16,384 bytes) holds a ClientHello
                           header claiming a 16 MB message (length 0xffffff), trickled
                           in 64-byte segments, followed by a second full record.
  normal.pcap              no attack: only legitimate connections (--normal, full scale
                           160,000, 64 at a time), about as many packets as the floods,
                           for throughput comparisons.

Legitimate connections (--legit per flood, full scale 200): whole connections replayed
from the project's own captures (pcaps/*.pcap: every IPv4 connection that has reference
values in pcaps/expected/), byte for byte except the addresses, spread evenly through the
flood; consecutive packets of one legitimate connection are --gap flood units apart (a
unit is one packet, one half-open connection for half-open). Timestamps increase by 1 us
per packet through each file.

Addresses: legitimate clients 10.0.0.0/8, attack connections that carry real hellos
(one-byte-reverse, conflicting-overlap, huge-length) 100.64.0.0/10, random flood sources
anything else; every server is 203.0.113.10:443.

Beside the pcaps:
  KIND.expected.jsonl  one line per connection whose fingerprints are known:
                       {"kind", "role": "legit"|"attack", "src_ip", "src_port", "dst_ip",
                        "dst_port", "template": "curl.pcap:39948"}. "attack" lines are the
                       attack connections of one-byte-reverse and conflicting-overlap:
                       their hellos must come out exactly as the original's.
  templates.json       template -> the reference values of pcaps/expected/ (sni, ja3,
                       ja3_full, ja3s, ja3s_full, ja4, ja4_r, ja4_o, ja4_ro, ja4s, ja4s_r,
                       ja4t, ja4ts).
  manifest.json        per kind: packets, units, connections, parameters, seconds taken.

Which copy wins (conflicting-overlap): shakedown's reassembler never rewrites a byte it has
already delivered in order, and a segment waiting out of order keeps its bytes against a
later copy that starts at or after it. So "the first copy of a byte wins" for every
conflict written here: (1) a retransmission of delivered bytes with other bytes (dropped),
(2) a conflicting duplicate of a segment that is waiting out of order (dropped), (3) a
conflicting copy that starts inside a waiting segment and goes on past it (its overlapping
part dropped, the rest kept). The exception, not written here because it is ambiguous on
the wire too: a later copy that starts *before* a waiting segment (in the hole in front
of it) and overlaps it becomes in-order first and wins, as it does in Linux's
out-of-order queue.

Scale: --scale multiplies every full-scale count (--scale 0.002 gives 20,000 SYNs); an
explicit count wins over the scale. Full scale writes about 3.6 GB in under a minute.
"""

import argparse
import array
import heapq
import json
import os
import random
import struct
import sys
import time

if array.array("I").itemsize != 4 or sys.byteorder != "little":
    sys.exit("make-floods.py: needs a little-endian machine with 32-bit unsigned ints")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = [
    "chromium.pcap",
    "chromium-mss128.pcap",
    "curl.pcap",
    "java17-httpclient.pcap",
    "node-fetch.pcap",
    "openssl-s_client.pcap",
    "python-aiohttp.pcap",
    "python-httpx.pcap",
    "python-requests.pcap",
]
FIELDS = ["sni", "ja3", "ja3_full", "ja3s", "ja3s_full", "ja4", "ja4_r", "ja4_o", "ja4_ro",
          "ja4s", "ja4s_r", "ja4t", "ja4ts"]
KINDS = ["syn-flood", "half-open", "one-byte-reverse", "conflicting-overlap", "huge-length",
         "normal"]
FULL = {"syn": 10_000_000, "half_open": 1_000_000, "reverse": 5_000, "overlap": 100_000,
        "huge": 4_000, "normal": 160_000, "legit": 200}
CONCURRENT = {"one-byte-reverse": 1000, "conflicting-overlap": 1000, "huge-length": 2000,
              "normal": 64}

SERVER_IP = bytes([203, 0, 113, 10])
SERVER_PORT = 443
LEGIT_NET = 10 << 24
ATTACK_NET = (100 << 24) | (64 << 16)
T0_US = 1_700_000_000 * 1_000_000

ACK, PSH, SYN, FIN = 0x10, 0x08, 0x02, 0x01
ETH = bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0])
IP = struct.Struct("!BBHHHBBH4s4s")
TCP = struct.Struct("!HHIIBBHHH")
REC = struct.Struct("<IIII")
GLOBAL_HDR = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
# Offsets inside a record (16-byte pcap record header + frame) of a TCP/IPv4 frame.
O_SRC, O_DST, O_SPORT, O_DPORT, O_SEQ = 16 + 26, 16 + 30, 16 + 34, 16 + 36, 16 + 38


def ip_str(b):
    return ".".join(str(x) for x in b)


def tcp_frame(src, dst, sport, dport, seq, ack, flags, window, opts, payload, ttl=64, df=True):
    thl = 20 + len(opts)
    total = 20 + thl + len(payload)
    return b"".join((
        ETH,
        IP.pack(0x45, 0, total, 0, 0x4000 if df else 0, ttl, 6, 0, src, dst),
        TCP.pack(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, (thl // 4) << 4, flags,
                 window, 0, 0),
        opts,
        payload,
    ))


# ---------------------------------------------------------------- the captured connections

class Pkt:
    __slots__ = ("from_client", "seq", "ack", "flags", "window", "opts", "ttl", "df", "payload")


class Template:
    """One captured connection: its packets, first flight and reference values."""

    def __init__(self, name, pkts, expected):
        self.name = name
        self.pkts = pkts
        self.expected = expected
        # First flight: the client's payload packets before the server's first payload.
        first = [i for i, p in enumerate(pkts) if p.from_client and p.payload]
        server_data = next((i for i, p in enumerate(pkts) if not p.from_client and p.payload),
                           len(pkts))
        self.flight_idx = [i for i in first if i < server_data]
        if not self.flight_idx:
            raise ValueError("%s: no client data before the server's" % name)
        p0 = pkts[self.flight_idx[0]]
        self.flight_seq = p0.seq
        self.flight_ack = p0.ack
        self.flight_window = p0.window
        self.flight_opts = p0.opts
        data = bytearray()
        for i in self.flight_idx:
            p = pkts[i]
            off = (p.seq - self.flight_seq) & 0xFFFFFFFF
            if off > len(data):
                raise ValueError("%s: hole in the first flight" % name)
            data[off:off + len(p.payload)] = p.payload
        self.flight = bytes(data)
        self.before = [p for i, p in enumerate(pkts) if i < self.flight_idx[0]]
        self.after = [p for i, p in enumerate(pkts)
                      if i > self.flight_idx[0] and i not in self.flight_idx]

    def frame(self, p, client, cport):
        if p.from_client:
            src, dst, sp, dp = client, SERVER_IP, cport, SERVER_PORT
        else:
            src, dst, sp, dp = SERVER_IP, client, SERVER_PORT, cport
        return tcp_frame(src, dst, sp, dp, p.seq, p.ack, p.flags, p.window, p.opts, p.payload,
                         p.ttl, p.df)

    def client_segment(self, client, cport, off, payload, flags=ACK | PSH):
        """A client segment carrying `payload` at `off` bytes into the first flight."""
        return tcp_frame(client, SERVER_IP, cport, SERVER_PORT, self.flight_seq + off,
                         self.flight_ack, flags, self.flight_window, self.flight_opts,
                         payload)


def read_pcap(path):
    data = open(path, "rb").read()
    if data[:4] != b"\xd4\xc3\xb2\xa1" or struct.unpack("<I", data[20:24])[0] != 1:
        sys.exit("%s: want a little-endian microsecond pcap of Ethernet frames" % path)
    off, frames = 24, []
    while off + 16 <= len(data):
        incl = struct.unpack("<I", data[off + 8:off + 12])[0]
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return frames


def parse(frame):
    if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 15) * 4
    total = struct.unpack("!H", frame[16:18])[0]
    frag = struct.unpack("!H", frame[20:22])[0]
    t = 14 + ihl
    sport, dport, seq, ack, doff, flags, window = struct.unpack("!HHIIBBH", frame[t:t + 16])
    thl = (doff >> 4) * 4
    p = Pkt()
    p.seq, p.ack, p.flags, p.window = seq, ack, flags, window
    p.opts = bytes(frame[t + 20:t + thl])
    p.ttl, p.df = frame[22], bool(frag & 0x4000)
    p.payload = bytes(frame[t + thl:14 + total])
    return sport, dport, p


def load_templates():
    templates = []
    for name in SOURCES:
        exp_path = os.path.join(ROOT, "pcaps", "expected", name + ".json")
        expected = {c["src_port"]: c for c in json.load(open(exp_path))
                    if c.get("transport") == "tcp"}
        conns = {}
        for frame in read_pcap(os.path.join(ROOT, "pcaps", name)):
            r = parse(frame)
            if r is None:
                continue
            sport, dport, p = r
            if sport in expected:
                p.from_client, port = True, sport
            elif dport in expected:
                p.from_client, port = False, dport
            else:
                continue
            conns.setdefault(port, []).append(p)
        for port, pkts in sorted(conns.items()):
            if not (pkts[0].from_client and pkts[0].flags & SYN):
                continue
            exp = {k: expected[port][k] for k in FIELDS if k in expected[port]}
            templates.append(Template("%s:%d" % (name, port), pkts, exp))
    if not templates:
        sys.exit("no usable connection in pcaps/")
    return templates


# ---------------------------------------------------------------- output

class Writer:
    """A pcap file written through a large buffer; 1 us between packets."""

    def __init__(self, path):
        self.f = open(path, "wb")
        self.buf = bytearray(GLOBAL_HDR)
        self.us = T0_US
        self.packets = 0

    def frame(self, fr):
        us = self.us
        self.us = us + 1
        self.packets += 1
        n = len(fr)
        self.buf += REC.pack(us // 1_000_000, us % 1_000_000, n, n)
        self.buf += fr
        if len(self.buf) > 1 << 23:
            self.flush()

    def blocks(self, block, rec_offsets, n, fill):
        """Appends n copies of `block` (records at rec_offsets, one timestamp each, in
        order); fill(buf, k, stride) patches the k copies of a batch (strided slice
        assignments, so that the per-packet work is done in C)."""
        stride = len(block)
        per = len(rec_offsets)
        done = 0
        while done < n:
            # A batch never crosses a second boundary (its seconds fields are constant).
            left = 1_000_000 - self.us % 1_000_000
            k = min(n - done, 65536, max(1, left // per))
            buf = bytearray(block * k)
            for r, ro in enumerate(rec_offsets):
                first = self.us + r
                sec = first // 1_000_000
                lo = first - sec * 1_000_000
                usec = array.array("I", range(lo, lo + k * per, per)).tobytes()
                patch(buf, k, stride, ro, 4, struct.pack("<I", sec) * k)
                patch(buf, k, stride, ro + 4, 4, usec)
            fill(buf, k, stride)
            self.buf += buf
            self.us += k * per
            self.packets += k * per
            done += k
            if len(self.buf) > 1 << 23:
                self.flush()

    def flush(self):
        self.f.write(self.buf)
        self.buf = bytearray()

    def close(self):
        self.flush()
        self.f.close()


def record(frame):
    n = len(frame)
    return REC.pack(0, 0, n, n) + frame


# Random flood sources never fall in the legitimate/attack networks, 0/8, 127/8 or 224/3.
_REMAP = bytes((b + 1 if b in (0, 10, 100, 127) else (b - 64 if b >= 224 else b))
               for b in range(256))


def random_addresses(rng, k):
    raw = bytearray(rng.randbytes(4 * k))
    raw[0::4] = raw[0::4].translate(_REMAP)
    return raw


def patch(buf, k, stride, off, width, values):
    """Writes values (k * width bytes) at `off` of each of the k copies."""
    end = off + (k - 1) * stride + 1
    for b in range(width):
        buf[off + b:end + b:stride] = values[b::width]


# ---------------------------------------------------------------- floods

class SynFlood:
    """One SYN per unit, random source address, port and sequence number."""

    def __init__(self, n, rng):
        self.units, self.rng = n, rng
        opts = bytes([2, 4, 5, 0xB4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7])
        self.block = record(tcp_frame(b"\0\0\0\0", SERVER_IP, 0, SERVER_PORT, 0, 0, SYN,
                                      64240, opts, b""))

    def emit(self, w, k):
        rng = self.rng

        def fill(buf, n, stride):
            patch(buf, n, stride, O_SRC, 4, random_addresses(rng, n))
            patch(buf, n, stride, O_SPORT, 2, rng.randbytes(2 * n))
            patch(buf, n, stride, O_SEQ, 4, rng.randbytes(4 * n))

        w.blocks(self.block, [0], k, fill)


class HalfOpen:
    """SYN, SYN-ACK, ACK, one byte (0x16) per unit; random client address and port."""

    def __init__(self, n, rng):
        self.units, self.rng = n, rng
        z = b"\0\0\0\0"
        cisn, sisn = 1000, 5000
        syn_opts = bytes([2, 4, 5, 0xB4, 1, 1, 4, 2])
        recs = [
            record(tcp_frame(z, SERVER_IP, 0, SERVER_PORT, cisn, 0, SYN, 64240, syn_opts, b"")),
            record(tcp_frame(SERVER_IP, z, SERVER_PORT, 0, sisn, cisn + 1, SYN | ACK, 65160,
                             syn_opts, b"")),
            record(tcp_frame(z, SERVER_IP, 0, SERVER_PORT, cisn + 1, sisn + 1, ACK, 502, b"",
                             b"")),
            record(tcp_frame(z, SERVER_IP, 0, SERVER_PORT, cisn + 1, sisn + 1, ACK | PSH, 502,
                             b"", b"\x16")),
        ]
        self.offsets = []
        off = 0
        for r in recs:
            self.offsets.append(off)
            off += len(r)
        self.block = b"".join(recs)

    def emit(self, w, k):
        rng, o = self.rng, self.offsets

        def fill(buf, n, stride):
            addrs = random_addresses(rng, n)
            ports = rng.randbytes(2 * n)
            for r, is_client in zip(o, (True, False, True, True)):
                patch(buf, n, stride, r + (O_SRC if is_client else O_DST), 4, addrs)
                patch(buf, n, stride, r + (O_SPORT if is_client else O_DPORT), 2, ports)

        w.blocks(self.block, o, k, fill)


class Interleaved:
    """Connections (frame generators) `concurrent` at a time, one packet each in turn;
    one unit is one packet."""

    def __init__(self, conns, counts, concurrent):
        self.pending = iter(conns)
        self.units = sum(counts)
        self.active = []
        self.concurrent = concurrent
        self.i = 0

    def emit(self, w, k):
        active = self.active
        while k > 0:
            while len(active) < self.concurrent:
                c = next(self.pending, None)
                if c is None:
                    break
                active.append(c)
            if not active:
                return
            self.i %= len(active)
            fr = next(active[self.i], None)
            if fr is None:
                active[self.i] = active[-1]
                active.pop()
                continue
            w.frame(fr)
            self.i += 1
            k -= 1


def addr(net, i):
    return struct.pack("!I", net + 1 + i), 40000 + i % 20000


def conn_frames(t, client, cport):
    for p in t.pkts:
        yield t.frame(p, client, cport)


def reverse_frames(t, client, cport):
    """The first flight one byte per segment, last byte first."""
    for p in t.before:
        yield t.frame(p, client, cport)
    fl = t.flight
    for off in range(len(fl) - 1, -1, -1):
        yield t.client_segment(client, cport, off, fl[off:off + 1])
    for p in t.after:
        yield t.frame(p, client, cport)


def overlap_frames(t, client, cport):
    """The first flight in 8 pieces, out of order, with conflicting copies (all bytes
    inverted) that lose to the first copy under shakedown's rule."""
    fl = t.flight
    bad = bytes(b ^ 0xFF for b in fl)
    n = len(fl)
    c = max(n // 8, 4)
    h = c // 2

    def seg(lo, hi, src=fl):
        hi = min(hi, n)
        return t.client_segment(client, cport, lo, src[lo:hi]) if lo < hi else None

    def mixed(lo, mid, hi):
        # bytes [lo, mid) conflicting, [mid, hi) true
        hi = min(hi, n)
        return t.client_segment(client, cport, lo, bad[lo:mid] + fl[mid:hi])

    for p in t.before:
        yield t.frame(p, client, cport)
    out = [
        seg(0, c),                     # piece 0, in order
        seg(0, c, bad),                # (1) conflicting retransmission of delivered bytes
        mixed(h, c, c + h),            # (1) overlaps delivered bytes, brings new true bytes
        seg(3 * c, 4 * c),             # piece 3 out of order: waits (hole [c+h, 3c))
        seg(3 * c, 4 * c, bad),        # (2) conflicting duplicate of the waiting piece
        mixed(3 * c + h, 4 * c, 5 * c),  # (3) starts inside the waiting piece, goes past it
        seg(c + h, 3 * c),             # fills the hole: pieces up to 5c delivered
    ]
    for lo in range(5 * c, n, c):      # the rest in order, each followed by a
        out.append(seg(lo, lo + c))    # conflicting copy of the piece before it
        out.append(seg(lo - c, lo, bad))
    out.append(seg(max(n - c, 0), n, bad))
    for fr in out:
        if fr is not None:
            yield fr
    for p in t.after:
        yield t.frame(p, client, cport)


HUGE_SEG = 64


def huge_frames(client, cport):
    """A ClientHello claiming 16 MB (0xffffff) in a full 16 KB record, 64 bytes per
    segment, then a second 16 KB handshake record the same way, then FIN."""
    cisn, sisn = 7000, 9000
    opts = bytes([2, 4, 5, 0xB4, 1, 1, 4, 2])
    yield tcp_frame(client, SERVER_IP, cport, SERVER_PORT, cisn, 0, SYN, 64240, opts, b"")
    yield tcp_frame(SERVER_IP, client, SERVER_PORT, cport, sisn, cisn + 1, SYN | ACK, 65160,
                    opts, b"")
    yield tcp_frame(client, SERVER_IP, cport, SERVER_PORT, cisn + 1, sisn + 1, ACK, 502, b"",
                    b"")
    body = b"\x16\x03\x01\x40\x00" + b"\x01\xff\xff\xff\x03\x03" + bytes(16384 - 6)
    body += b"\x16\x03\x03\x40\x00" + bytes(range(256)) * 64
    seq = cisn + 1
    for off in range(0, len(body), HUGE_SEG):
        yield tcp_frame(client, SERVER_IP, cport, SERVER_PORT, seq + off, sisn + 1, ACK | PSH,
                        502, b"", body[off:off + HUGE_SEG])
    yield tcp_frame(client, SERVER_IP, cport, SERVER_PORT, seq + len(body), sisn + 1,
                    ACK | FIN, 502, b"", b"")


HUGE_PACKETS = 3 + -(-(2 * (16384 + 5)) // HUGE_SEG) + 1


# ---------------------------------------------------------------- one file

def template_conns(kind, role, net, n, templates, make, size, expected):
    """n connections replayed from the templates in turn, each from its own
    address of `net`: their frame generators and packet counts; their
    reference lines go to `expected`."""
    conns, sizes = [], []
    for i in range(n):
        t = templates[i % len(templates)]
        client, cport = addr(net, i)
        expected.append(line(kind, role, client, cport, t))
        conns.append(make(t, client, cport))
        sizes.append(size(t))
    return conns, sizes


def write_kind(kind, outdir, templates, counts, legit_n, gap, rng):
    started = time.time()
    expected = []
    attack = None
    if kind == "syn-flood":
        flood = SynFlood(counts["syn"], rng)
    elif kind == "half-open":
        flood = HalfOpen(counts["half_open"], rng)
    elif kind in ("one-byte-reverse", "conflicting-overlap"):
        make = reverse_frames if kind == "one-byte-reverse" else overlap_frames
        n = counts["reverse" if kind == "one-byte-reverse" else "overlap"]
        per_t = {t.name: sum(1 for _ in make(t, SERVER_IP, 1)) for t in templates}
        conns, sizes = template_conns(kind, "attack", ATTACK_NET, n, templates, make,
                                      lambda t: per_t[t.name], expected)
        attack = n
        flood = Interleaved(conns, sizes, CONCURRENT[kind])
    elif kind == "huge-length":
        n = counts["huge"]
        conns = (huge_frames(*addr(ATTACK_NET, i)) for i in range(n))
        attack = n
        flood = Interleaved(conns, [HUGE_PACKETS] * n, CONCURRENT[kind])
    elif kind == "normal":
        conns, sizes = template_conns(kind, "legit", LEGIT_NET, counts["normal"], templates,
                                      conn_frames, lambda t: len(t.pkts), expected)
        flood = Interleaved(conns, sizes, CONCURRENT[kind])
        legit_n = 0
    else:
        raise ValueError(kind)

    # Legitimate connections: conn j starts at unit (j + 1/2) * units / legit_n, its
    # packets gap units apart.
    events = []  # (unit, order, frames iterator)
    for j in range(legit_n):
        t = templates[j % len(templates)]
        client, cport = addr(LEGIT_NET, j)
        expected.append(line(kind, "legit", client, cport, t))
        start = (2 * j + 1) * flood.units // (2 * legit_n)
        events.append((start, j, conn_frames(t, client, cport)))
    heapq.heapify(events)

    w = Writer(os.path.join(outdir, kind + ".pcap"))
    at = 0
    while events:
        unit, j, frames = heapq.heappop(events)
        upto = min(unit, flood.units)
        if upto > at:
            flood.emit(w, upto - at)
            at = upto
        fr = next(frames, None)
        if fr is not None:
            w.frame(fr)
            heapq.heappush(events, (unit + gap, j, frames))
    if flood.units > at:
        flood.emit(w, flood.units - at)
    w.close()

    with open(os.path.join(outdir, kind + ".expected.jsonl"), "w") as f:
        for e in expected:
            f.write(json.dumps(e) + "\n")
    info = {
        "packets": w.packets,
        "flood_units": flood.units,
        "legit_connections": legit_n if kind != "normal" else len(expected),
        "attack_connections": attack,
        "gap_units": gap,
        "concurrent": CONCURRENT.get(kind),
        "seconds": round(time.time() - started, 2),
        "bytes": os.path.getsize(os.path.join(outdir, kind + ".pcap")),
    }
    return info


def line(kind, role, client, cport, t):
    return {"kind": kind, "role": role, "src_ip": ip_str(client), "src_port": cport,
            "dst_ip": ip_str(SERVER_IP), "dst_port": SERVER_PORT, "template": t.name}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("outdir")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--syn", type=int)
    ap.add_argument("--half-open", type=int)
    ap.add_argument("--reverse", type=int)
    ap.add_argument("--overlap", type=int)
    ap.add_argument("--huge", type=int)
    ap.add_argument("--normal", type=int)
    ap.add_argument("--legit", type=int)
    ap.add_argument("--gap", type=int, default=500,
                    help="flood units between two packets of a legitimate connection")
    ap.add_argument("--seed", type=int, default=6)
    a = ap.parse_args()

    kinds = [k for k in a.kinds.split(",") if k]
    for k in kinds:
        if k not in KINDS:
            sys.exit("unknown kind %r (kinds: %s)" % (k, ", ".join(KINDS)))
    counts = {}
    for key, full in FULL.items():
        given = getattr(a, key)
        counts[key] = given if given is not None else max(1, round(full * a.scale))
    os.makedirs(a.outdir, exist_ok=True)
    templates = load_templates()
    with open(os.path.join(a.outdir, "templates.json"), "w") as f:
        json.dump({t.name: t.expected for t in templates}, f, indent=1, sort_keys=True)

    manifest_path = os.path.join(a.outdir, "manifest.json")
    manifest = {}
    if os.path.exists(manifest_path):
        manifest = json.load(open(manifest_path))
    for kind in kinds:
        rng = random.Random(a.seed * 1000 + KINDS.index(kind))
        info = write_kind(kind, a.outdir, templates, counts, counts["legit"], a.gap, rng)
        info["counts"] = counts
        manifest[kind] = info
        print("make-floods: %-20s %10d packets %8.1f MB in %.1f s" % (
            kind, info["packets"], info["bytes"] / 1e6, info["seconds"]), file=sys.stderr)
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
