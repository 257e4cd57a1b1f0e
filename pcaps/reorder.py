#!/usr/bin/env python3
"""Write a copy of a classic pcap in which one TLS ClientHello arrives out of order.

usage: reorder.py IN.pcap OUT.pcap [--port 8443] [--conn N] [--dup K]

Python 3 standard library only. Input: classic libpcap file (either byte order, micro- or
nanosecond timestamps), link type Ethernet (optionally 802.1Q-tagged), IPv4 or IPv6, TCP.

What it does, for the N-th (default: first) TCP connection to --port whose client sends a
TLS record of type handshake (0x16):

* finds the client->server segments that carry that first TLS record (the ClientHello),
  from its first byte to its last (by TCP sequence number);
* takes the window of frames from the first of those segments to the last one, and
  rewrites it as: the ClientHello segments in REVERSED order, then one exact duplicate
  (a retransmission) of segment number K of the original order (default 1, i.e. the
  second segment; 0-based), then the other frames of the window (the server's ACKs) in
  their original order;
* keeps every packet byte for byte (no checksum or sequence number changes) and reuses
  the window's own timestamps in increasing order, so timestamps stay monotonically
  increasing through the file (the duplicate gets a timestamp half-way between its
  neighbours).

Frames outside the window are copied unchanged. The connection 4-tuple, SYN options and
the content of every hello are unchanged, so every fingerprint of the file must equal
the original's; only the order of arrival differs.
"""

import argparse
import struct
import sys

MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000),
}


def read_pcap(path):
    data = open(path, "rb").read()
    if data[:4] not in MAGICS:
        sys.exit("%s: not a classic pcap file (pcapng is not supported)" % path)
    endian, tsres = MAGICS[data[:4]]
    header = data[:24]
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        sys.exit("%s: link type %d, only Ethernet (1) is supported" % (path, linktype))
    pkts = []
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        pkts.append({"ts": sec * tsres + frac, "orig": orig, "data": data[off:off + incl]})
        off += incl
    return header, endian, tsres, pkts


def write_pcap(path, header, endian, tsres, pkts):
    with open(path, "wb") as f:
        f.write(header)
        for p in pkts:
            sec, frac = divmod(p["ts"], tsres)
            f.write(struct.pack(endian + "IIII", sec, frac, len(p["data"]), p["orig"]))
            f.write(p["data"])


def parse_tcp(frame):
    """-> (src, dst, sport, dport, seq, flags, payload) or None."""
    off = 12
    etype = struct.unpack("!H", frame[off:off + 2])[0]
    off += 2
    while etype in (0x8100, 0x88A8):
        etype = struct.unpack("!H", frame[off + 2:off + 4])[0]
        off += 4
    if etype == 0x0800:
        ihl = (frame[off] & 0x0F) * 4
        total = struct.unpack("!H", frame[off + 2:off + 4])[0]
        if frame[off + 9] != 6:
            return None
        src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
        end = off + total
        off += ihl
    elif etype == 0x86DD:
        plen = struct.unpack("!H", frame[off + 4:off + 6])[0]
        if frame[off + 6] != 6:  # no extension headers expected on these captures
            return None
        src, dst = frame[off + 8:off + 24], frame[off + 24:off + 40]
        end = off + 40 + plen
        off += 40
    else:
        return None
    sport, dport, seq = struct.unpack("!HHI", frame[off:off + 8])
    doff = (frame[off + 12] >> 4) * 4
    flags = frame[off + 13]
    return src, dst, sport, dport, seq, flags, frame[off + doff:end]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--port", type=int, default=8443)
    ap.add_argument("--conn", type=int, default=0, help="0-based index of the connection")
    ap.add_argument("--dup", type=int, default=1, help="0-based index of the segment to duplicate")
    a = ap.parse_args()

    header, endian, tsres, pkts = read_pcap(a.inp)
    parsed = [parse_tcp(p["data"]) for p in pkts]

    # client-side flows (src, dst, sport, dport) in order of their first data segment
    flows = []
    for t in parsed:
        if t and t[3] == a.port and t[6]:
            k = t[:4]
            if k not in flows and t[6][0] == 0x16:
                flows.append(k)
    if len(flows) <= a.conn:
        sys.exit("no TLS connection #%d to port %d in %s" % (a.conn, a.port, a.inp))
    flow = flows[a.conn]

    # ClientHello record: first client data segment gives the record length
    idx = [i for i, t in enumerate(parsed) if t and t[:4] == flow and t[6]]
    first = parsed[idx[0]]
    isn = first[4]
    rec_len = 5 + struct.unpack("!H", first[6][3:5])[0]
    hello = []  # frame indices carrying bytes [isn, isn+rec_len)
    seen = set()
    for i in idx:
        seq, payload = parsed[i][4], parsed[i][6]
        rel = (seq - isn) & 0xFFFFFFFF
        if rel >= rec_len:
            break
        if rel in seen:  # a retransmission already in the input: leave it where it is
            continue
        seen.add(rel)
        hello.append(i)
    if len(hello) < 3:
        sys.exit("ClientHello is in %d segment(s); need at least 3 to reorder" % len(hello))
    if not 0 <= a.dup < len(hello):
        sys.exit("--dup must be in 0..%d" % (len(hello) - 1))

    lo, hi = hello[0], hello[-1]
    window = list(range(lo, hi + 1))
    others = [i for i in window if i not in hello]
    new_order = list(reversed(hello)) + [hello[a.dup]] + others
    stamps = sorted(pkts[i]["ts"] for i in window)
    # one extra timestamp for the duplicate: half-way between the reversed segments and the rest
    k = len(hello)  # position of the duplicate in new_order
    prev_ts = stamps[k - 1]
    next_ts = stamps[k] if k < len(stamps) else (pkts[hi + 1]["ts"] if hi + 1 < len(pkts) else prev_ts + 2)
    dup_ts = prev_ts + max((next_ts - prev_ts) // 2, 0)
    stamps = stamps[:k] + [dup_ts] + stamps[k:]

    out = pkts[:lo]
    for i, ts in zip(new_order, stamps):
        out.append({"ts": ts, "orig": pkts[i]["orig"], "data": pkts[i]["data"]})
    out += pkts[hi + 1:]
    for x, y in zip(out, out[1:]):
        if y["ts"] < x["ts"]:
            sys.exit("internal error: timestamps would go backwards")
    write_pcap(a.out, header, endian, tsres, out)

    nums = [i + 1 for i in hello]
    print("%s: ClientHello of connection #%d (%d bytes) in frames %s; written in order %s, "
          "frame %d duplicated, %d other frame(s) of the window moved after them -> %s"
          % (a.inp, a.conn, rec_len, nums, [i + 1 for i in reversed(hello)],
             hello[a.dup] + 1, len(others), a.out))


if __name__ == "__main__":
    main()
