#!/usr/bin/env python3
"""Prints `shakedown fingerprint` JSON lines (stdin) as a table, for `make demo`."""
import json
import sys

rows = [json.loads(line) for line in sys.stdin if line.strip()]
print(f"{'client':<22} {'tr':<4} {'sni':<13} {'ver':<8} {'ja4':<37} {'ja3':<33} {'pk':>3}  tcp_sig")
for r in rows:
    client = f"{r['src_ip']}:{r['src_port']}"
    print(
        f"{client:<22} {r['transport']:<4} {(r['sni'] or '-'):<13} {(r['tls_version'] or '-'):<8} "
        f"{(r['ja4'] or '-'):<37} {(r['ja3'] or '-'):<33} {r['client_hello_packets'] or '-':>3}  {r['tcp_sig'] or '-'}"
    )
distinct = {r["ja4"] for r in rows}
print(f"\n{len(rows)} TLS connections, {len(distinct)} distinct JA4 "
      f"(JA3 differs per connection for Chromium: it shuffles its extensions; JA4 does not)")
