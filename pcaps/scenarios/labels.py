#!/usr/bin/env python3
"""Write NAME.labels.json for make-scenario.sh from the plan, the actors' own results, nginx's
access log and the capture itself (tshark), and print a per-kind summary.

usage: labels.py PLAN.json RESULTS_DIR ACCESS_LOG PCAP STARTED_AT_EPOCH OUT.json

Per address: "requests" = HTTP requests that nginx logged from it (what the server saw),
"connections" = TCP connections it opened in the capture (SYNs), "client_hellos" = TLS
ClientHellos in the capture, "first_request_at" = when the actor started its first request
(its own clock; for handshake_flood its first handshake), plus the actor's own counts under
"actor_reported". Only addresses that appear in the capture are labelled; planned addresses
that never sent anything (e.g. scheduled after the end) are counted under "summary".
"""
import collections
import datetime
import json
import os
import subprocess
import sys


def iso(t):
    if t is None:
        return None
    return datetime.datetime.fromtimestamp(float(t), datetime.timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def pcap_stats(pcap):
    """Per source address: SYNs (connections), ClientHellos, frames; and the largest frame."""
    cmd = ["tshark", "-n", "-r", pcap, "-o", "tcp.reassemble_out_of_order:TRUE", "-T", "fields", "-E", "separator=\t",
           "-e", "ip.src", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tls.handshake.type", "-e", "frame.len"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    per = collections.defaultdict(lambda: {"connections": 0, "client_hellos": 0, "frames": 0, "bytes": 0})
    max_len = 0
    frames = 0
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) < 5 or not f[0]:
            continue
        src, syn, ack, hs, ln = f[:5]
        frames += 1
        s = per[src]
        s["frames"] += 1
        s["bytes"] += int(ln)
        max_len = max(max_len, int(ln))
        if syn in ("1", "True") and ack in ("0", "False"):
            s["connections"] += 1
        if hs:
            s["client_hellos"] += sum(1 for x in hs.split(",") if x == "1")
    return per, max_len, frames


def nginx_stats(path):
    per = collections.defaultdict(lambda: {"requests": 0, "first": None, "statuses": collections.Counter(),
                                           "protocols": collections.Counter()})
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) < 7:
                continue
            ip, msec, status, proto = p[0], float(p[1]), p[4], p[6]
            s = per[ip]
            s["requests"] += 1
            s["first"] = msec if s["first"] is None else min(s["first"], msec)
            s["statuses"][status] += 1
            s["protocols"][proto] += 1
    return per


def main():
    plan_path, results_dir, access_log, pcap, started, out = sys.argv[1:7]
    plan = json.load(open(plan_path))
    per_pcap, max_len, frames = pcap_stats(pcap)
    per_ngx = nginx_stats(access_log)
    clients = {}
    unused = collections.Counter()
    planned = collections.Counter()
    for a in plan["actors"]:
        res_path = os.path.join(results_dir, a["id"] + ".json")
        res = json.load(open(res_path)) if os.path.exists(res_path) else {"ips": {}, "agent": None, "kind": a["kind"]}
        kind = res.get("kind") or a["kind"]
        for ip in a["ips"]:
            planned[kind] += 1
            pc = per_pcap.get(ip)
            if pc is None or pc["frames"] == 0:
                unused[kind] += 1
                continue
            ng = per_ngx.get(ip)
            r = res["ips"].get(ip, {})
            agent = r.get("agent") or res.get("agent")
            first = r.get("first_at") or (ng["first"] if ng else None)
            entry = {
                "class": a["class"], "kind": kind, "agent": agent,
                "first_request_at": iso(first),
                "requests": ng["requests"] if ng else 0,
                "connections": pc["connections"], "client_hellos": pc["client_hellos"],
                "actor": a["id"],
                "http_status": dict(sorted(ng["statuses"].items())) if ng else {},
                "http_protocols": dict(sorted(ng["protocols"].items())) if ng else {},
                "actor_reported": {k: v for k, v in r.items() if k not in ("agent", "first_at")},
            }
            if kind == "handshake_flood":
                entry["handshakes"] = r.get("ok", 0)
            clients[ip] = entry
    # sources in the capture that are not labelled (should be only the server)
    server_ip = plan["server"].split(":")[0]
    stray = sorted(ip for ip in per_pcap if ip not in clients and ip != server_ip)

    summary = collections.OrderedDict()
    for ip, c in sorted(clients.items(), key=lambda kv: (kv[1]["class"], kv[1]["kind"])):
        s = summary.setdefault(c["kind"], {"class": c["class"], "addresses": 0, "connections": 0,
                                           "client_hellos": 0, "requests": 0})
        s["addresses"] += 1
        s["connections"] += c["connections"]
        s["client_hellos"] += c["client_hellos"]
        s["requests"] += c["requests"]
    for k, s in summary.items():
        s["planned_addresses"] = planned[k]
        s["addresses_without_traffic"] = unused[k]
    doc = collections.OrderedDict([
        ("scenario", plan["scenario"]), ("seed", plan["seed"]), ("duration_s", plan["duration_s"]),
        ("server", plan["server"]), ("sni", plan["sni"]), ("started_at", iso(started)),
        ("clients", dict(sorted(clients.items(), key=lambda kv: tuple(int(x) for x in kv[0].split("."))))),
        ("summary", {"pcap_frames": frames, "pcap_max_frame_len": max_len,
                     "unlabelled_sources": stray, "per_kind": summary}),
    ])
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")

    print("%-22s %-9s %6s %7s %7s %8s" % ("kind", "class", "addrs", "conns", "hellos", "requests"))
    tot = collections.Counter()
    for k, s in summary.items():
        print("%-22s %-9s %6d %7d %7d %8d" % (k, s["class"], s["addresses"], s["connections"], s["client_hellos"],
                                              s["requests"]))
        for x in ("addresses", "connections", "client_hellos", "requests"):
            tot[x] += s[x]
    print("%-22s %-9s %6d %7d %7d %8d" % ("total", "", tot["addresses"], tot["connections"], tot["client_hellos"],
                                          tot["requests"]))
    print("frames %d, largest frame %d bytes, unlabelled sources: %s, planned addresses without traffic: %s" % (
        frames, max_len, stray or "none", dict(unused) or "none"))
    if stray:
        sys.exit("unlabelled source addresses in the capture: %s" % stray)


if __name__ == "__main__":
    main()
