#!/usr/bin/env python3
"""Compares shakedown's fingerprints with Suricata's on the same capture.

    compare-suricata.py FINGERPRINT.jsonl EVE.json

FINGERPRINT.jsonl is `shakedown fingerprint` output, EVE.json Suricata's eve
log with tls events (scripts/suricata-bench.yaml). Connections are matched by
their addresses and ports; JA4, JA3 and JA3S must agree on every one.
Exit status 1 on any difference or unmatched connection.
"""
import collections
import ipaddress
import json
import sys


def key(src, sport, dst, dport):
    return (ipaddress.ip_address(src), sport, ipaddress.ip_address(dst), dport)


def main(ours_path, eve_path):
    ours = {}
    for line in open(ours_path):
        r = json.loads(line)
        if r.get("transport") == "tcp":
            ours[key(r["src_ip"], r["src_port"], r["dst_ip"], r["dst_port"])] = (
                r.get("ja4"), r.get("ja3"), r.get("ja3s"))
    theirs = {}
    for line in open(eve_path):
        r = json.loads(line)
        if r.get("event_type") != "tls":
            continue
        t = r["tls"]
        theirs[key(r["src_ip"], r["src_port"], r["dest_ip"], r["dest_port"])] = (
            t.get("ja4"), t.get("ja3", {}).get("hash"), t.get("ja3s", {}).get("hash"))
    common = ours.keys() & theirs.keys()
    differ = collections.Counter()
    example = {}
    for k in common:
        for i, name in enumerate(("ja4", "ja3", "ja3s")):
            if ours[k][i] != theirs[k][i]:
                differ[name] += 1
                example.setdefault(name, (k, ours[k][i], theirs[k][i]))
    print(f"compare-suricata: {len(ours)} TLS connections from shakedown, {len(theirs)} from "
          f"Suricata, {len(common)} matched; JA4, JA3, JA3S differ on "
          f"{differ['ja4']}, {differ['ja3']}, {differ['ja3s']}")
    for name, (k, a, b) in example.items():
        print(f"  {name} of {k[0]}:{k[1]} -> {k[2]}:{k[3]}: shakedown {a}, Suricata {b}")
    return 0 if not differ and len(common) == len(ours) == len(theirs) else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
