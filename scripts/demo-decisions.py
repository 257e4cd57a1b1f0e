#!/usr/bin/env python3
"""Prints `shakedown replay` decisions (stdin, JSON lines) as a table, for `make demo`."""
import json
import sys

rows = [json.loads(line) for line in sys.stdin if line.strip()]
print(f"{'decided_at':<16} {'action':<7} {'scope':<8} {'value':<20} {'score':>5} {'mode':<8} reasons")
for d in rows:
    value = d["value"] if len(d["value"]) <= 20 else d["value"][:17] + "..."
    reasons = ", ".join(r["code"] for r in d["reasons"])
    print(f"{d['decided_at'][11:26]:<16} {d['action']:<7} {d['scope']:<8} {value:<20} {d['score']:>5.2f} {d['mode']:<8} {reasons}")
blocks = [d for d in rows if d["action"] == "block"]
print(f"\n{len(blocks)} blocks; first one in full:")
if blocks:
    print(json.dumps(blocks[0], indent=1)[:2500])
