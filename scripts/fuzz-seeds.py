#!/usr/bin/env python3
"""Seed corpora for the cargo-fuzz targets, made from real captures.

Reads the project's own captures (pcaps/, and ../shared/corpus/pcaps when it is
there) and writes seeds into each fuzz target's corpus directory (not committed):

  fingerprints/fuzz/corpus/hello/       ClientHello and ServerHello bodies
  fingerprints/fuzz/corpus/tls_stream/  [chunk size byte] + first 16 KB of a TCP stream
  capture/fuzz/corpus/decode/           [link type][length][frame]... per connection
  capture/fuzz/corpus/pcap_file/        small capture files as they are
  capture/fuzz/corpus/quic_initial/     [mode 0] + UDP/443 datagrams

Only classic pcap with Ethernet, raw IP or Linux cooked link types is read;
anything else is skipped (the seeds only need to be plausible).
"""
import hashlib
import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "pcaps", ROOT.parent / "shared" / "corpus" / "pcaps"]
# Index of the link type in the decode target's table.
DECODE_SEL = {1: 0, 101: 3, 113: 8, 276: 9}


def packets(path):
    data = path.read_bytes()
    if len(data) < 24:
        return None, []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        return None, []
    linktype = struct.unpack(end + "I", data[20:24])[0] & 0x0FFFFFFF
    out, off = [], 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(end + "IIII", data[off : off + 16])
        out.append(data[off + 16 : off + 16 + incl])
        off += 16 + incl
    return linktype, out


def ip_payload(linktype, frame):
    """(src, dst, proto, l4 bytes) or None."""
    if linktype == 1:
        typ, rest = struct.unpack(">H", frame[12:14])[0], frame[14:]
        while typ in (0x8100, 0x88A8) and len(rest) >= 4:
            typ, rest = struct.unpack(">H", rest[2:4])[0], rest[4:]
    elif linktype == 113:
        typ, rest = struct.unpack(">H", frame[14:16])[0], frame[16:]
    elif linktype == 276:
        typ, rest = struct.unpack(">H", frame[0:2])[0], frame[20:]
    elif linktype == 101:
        typ = 0x0800 if frame and frame[0] >> 4 == 4 else 0x86DD
        rest = frame
    else:
        return None
    if typ == 0x0800 and len(rest) >= 20:
        ihl = (rest[0] & 15) * 4
        total = struct.unpack(">H", rest[2:4])[0]
        return rest[12:16], rest[16:20], rest[9], rest[ihl:total]
    if typ == 0x86DD and len(rest) >= 40:
        plen = struct.unpack(">H", rest[4:6])[0]
        return rest[8:24], rest[24:40], rest[6], rest[40 : 40 + plen]
    return None


def streams(linktype, frames):
    """TCP byte streams per direction (first copy of a byte wins) and UDP datagrams."""
    segs, udp, conn_frames = {}, [], {}
    for f in frames:
        p = ip_payload(linktype, f)
        if not p:
            continue
        src, dst, proto, l4 = p
        if proto == 6 and len(l4) >= 20:
            sport, dport, seq = struct.unpack(">HHI", l4[:8])
            doff = (l4[12] >> 4) * 4
            key = (src, sport, dst, dport)
            conn = tuple(sorted([(src, sport), (dst, dport)]))
            conn_frames.setdefault(conn, []).append(f)
            if l4[13] & 0x02:
                segs.setdefault(key, {"isn": seq + 1, "parts": []})["isn"] = seq + 1
            elif len(l4) > doff:
                segs.setdefault(key, {"isn": None, "parts": []})["parts"].append((seq, l4[doff:]))
        elif proto == 17 and len(l4) >= 8:
            sport, dport = struct.unpack(">HH", l4[:4])
            if 443 in (sport, dport):
                udp.append(l4[8:])
    out = []
    for key, s in segs.items():
        parts = s["parts"]
        if not parts:
            continue
        base = s["isn"] if s["isn"] is not None else min(p[0] for p in parts)
        buf = bytearray()
        for seq, data in sorted(parts, key=lambda p: (p[0] - base) & 0xFFFFFFFF):
            rel = (seq - base) & 0xFFFFFFFF
            if rel > 1 << 20:
                continue
            if rel <= len(buf):
                buf += data[len(buf) - rel :]
            if len(buf) >= 16384:
                break
        out.append(bytes(buf[:16384]))
    return out, udp, list(conn_frames.values())


def handshakes(stream):
    """Handshake message bodies of type 1 and 2 from a TLS byte stream."""
    hs, off = bytearray(), 0
    while off + 5 <= len(stream) and stream[off] in (20, 21, 22, 23):
        typ, length = stream[off], struct.unpack(">H", stream[off + 3 : off + 5])[0]
        if typ == 22:
            hs += stream[off + 5 : off + 5 + length]
        off += 5 + length
    out, off = [], 0
    while off + 4 <= len(hs):
        mt, ln = hs[off], int.from_bytes(hs[off + 1 : off + 4], "big")
        if mt in (1, 2) and off + 4 + ln <= len(hs):
            out.append(bytes(hs[off + 4 : off + 4 + ln]))
        if mt not in (1, 2, 11, 12, 13, 14, 4, 8, 15, 20):
            break
        off += 4 + ln
    return out


def save(directory, blob):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(blob).hexdigest()).write_bytes(blob)


def main():
    counts = {}
    files = [p for d in SOURCES if d.is_dir() for p in sorted(d.rglob("*.pcap"))]
    for path in files:
        linktype, frames = packets(path)
        if linktype is None:
            continue
        if path.stat().st_size <= 256 * 1024:
            save(ROOT / "capture/fuzz/corpus/pcap_file", path.read_bytes())
            counts["pcap_file"] = counts.get("pcap_file", 0) + 1
        tcp, udp, conns = streams(linktype, frames)
        for s in tcp:
            for chunk in (255, 0, 6):
                save(ROOT / "fingerprints/fuzz/corpus/tls_stream", bytes([chunk]) + s)
            for body in handshakes(s):
                save(ROOT / "fingerprints/fuzz/corpus/hello", body)
                counts["hello"] = counts.get("hello", 0) + 1
            counts["tls_stream"] = counts.get("tls_stream", 0) + 1
        for d in udp[:50]:
            save(ROOT / "capture/fuzz/corpus/quic_initial", b"\x00" + d)
            counts["quic_initial"] = counts.get("quic_initial", 0) + 1
        sel = DECODE_SEL.get(linktype)
        if sel is not None:
            for conn in conns:
                blob = bytearray()
                for f in conn[:24]:
                    f = f[:65535]
                    blob += bytes([sel]) + len(f).to_bytes(2, "big") + f
                save(ROOT / "capture/fuzz/corpus/decode", bytes(blob[:65536]))
                counts["decode"] = counts.get("decode", 0) + 1
    print(f"seeds from {len(files)} captures: {counts}", file=sys.stderr)


if __name__ == "__main__":
    main()
