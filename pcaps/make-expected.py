#!/usr/bin/env python3
"""Write pcaps/expected/<capture>.json (reference fingerprints) for shakedown's own captures.

Python 3 standard library, plus two external programs:
  * tshark (made with Debian 12's 4.0.17): JA3/JA3S (its own tls.handshake.ja3* fields), the
    connection list, SNI, and the dissected hellos from which the JA4 family is recomputed
    by a literal reading of the FoxIO spec ("spec-recompute");
  * ja4plus (PyPI, 1.4.0; an independent scapy-based JA4+ implementation): JA4, JA4_r,
    JA4_ro, JA4S, JA4S_r, JA4T, JA4TS via `ja4plus --format json analyze FILE`.

The output has the schema of the reference corpus (shared/corpus/README.md, "Schema"): a
JSON list, one object per TLS connection in order of first appearance, top-level chosen
values, `refs` = {field: {source: value}} and `disagree` = fields where two sources gave
different non-empty values. The connection-building and spec-recompute code follows
shared/corpus/make_reference.py so that both corpora are read the same way.

Chosen value (first source with a value):
  ja3, ja3_full, ja3s, ja3s_full : tshark
  ja4, ja4_r, ja4_ro             : ja4plus -> spec-recompute
  ja4_o                          : ja4plus-ro-hashed -> spec-recompute
                                   (ja4plus prints no hashed original-order JA4; this is its
                                   raw original-order string hashed per the spec)
  ja4s, ja4s_r, ja4t, ja4ts      : ja4plus -> spec-recompute

Derived captures (VLAN-tagged copy, out-of-order copy) must give the values of the capture
they were made from. Each of their connections gets a `note`; where a tool produced nothing
(or something else) for the derived file, the value of the original capture is used and the
note says so.

Usage:
  make-expected.py [--dir DIR] [--check] [FILE.pcap ...]   (default: every *.pcap in DIR,
                                                             DIR defaults to this folder)
"""

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
AGG = "\x1f"
GREASE = {0x0A0A + 0x1010 * i for i in range(16)}
VERSION_CODES = {
    0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2",
    0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3",
}
TSHARK_PREFS = ["-o", "tcp.reassemble_out_of_order:TRUE"]

PRIORITY = {
    "ja3": ["tshark"],
    "ja3_full": ["tshark"],
    "ja3s": ["tshark"],
    "ja3s_full": ["tshark"],
    "ja4": ["ja4plus", "spec-recompute"],
    "ja4_r": ["ja4plus", "spec-recompute"],
    "ja4_o": ["ja4plus-ro-hashed", "spec-recompute"],
    "ja4_ro": ["ja4plus", "spec-recompute"],
    "ja4s": ["ja4plus", "spec-recompute"],
    "ja4s_r": ["ja4plus", "spec-recompute"],
    "ja4t": ["ja4plus", "spec-recompute"],
    "ja4ts": ["ja4plus", "spec-recompute"],
}
FIELDS_OUT = list(PRIORITY)

# derived capture -> (original capture, how it was derived)
DERIVED = {
    "curl-vlan100.pcap": ("curl.pcap", "curl.pcap with an 802.1Q tag (VLAN 100) added to every frame by tcprewrite"),
    "chromium-mss128-reordered.pcap": (
        "chromium-mss128.pcap",
        "chromium-mss128.pcap with the ClientHello's TCP segments reversed and one of them "
        "retransmitted (reorder.py)"),
}


# --------------------------------------------------------------------------- tshark

def tshark(args):
    env = dict(os.environ, LC_ALL="C")
    p = subprocess.run(["tshark", "-n"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if p.returncode not in (0, 2):
        raise RuntimeError("tshark failed: %s" % p.stderr.decode(errors="replace")[-500:])
    return p.stdout.decode("utf-8", errors="replace")


def tshark_version():
    out = subprocess.run(["tshark", "--version"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL).stdout.decode(errors="replace")
    m = re.search(r"TShark \(Wireshark\) (\S+?)\.?\s", out)
    return m.group(1) if m else "unknown"


ROW_FIELDS = [
    "frame.number", "frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
    "tcp.stream", "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.window_size_value",
    "tcp.option_kind", "tcp.options.mss_val", "tcp.options.wscale.shift", "tcp.segment.count",
    "tls.handshake.type", "tls.handshake.ja3", "tls.handshake.ja3_full",
    "tls.handshake.ja3s", "tls.handshake.ja3s_full", "tls.handshake.extensions_server_name",
]
ROW_FILTER = "tls.handshake.type == 1 or tls.handshake.type == 2 or tcp.flags.syn == 1"


def split(v):
    return v.split(AGG) if v else []


def read_rows(pcap):
    args = ["-r", pcap] + TSHARK_PREFS + ["-Y", ROW_FILTER, "-T", "fields", "-E", "separator=\t",
                                          "-E", "occurrence=a", "-E", "aggregator=" + AGG]
    for f in ROW_FIELDS:
        args += ["-e", f]
    rows = []
    for line in tshark(args).splitlines():
        vals = line.split("\t")
        if len(vals) == len(ROW_FIELDS):
            rows.append(dict(zip(ROW_FIELDS, vals)))
    return rows


# ------------------------------------------------------- JA4 family, literal spec reading

def sha12(s):
    return hashlib.sha256(s.encode()).hexdigest()[:12]


def alpn_chars(raw):
    if raw is None or len(raw) == 0:
        return "00"
    first, last = raw[0], raw[-1]

    def alnum(b):
        return 0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A

    if alnum(first) and alnum(last):
        return chr(first) + chr(last)
    return ("%02x" % first)[0] + ("%02x" % last)[1]


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def raw_hex(v):
    if isinstance(v, list) and v and isinstance(v[0], list):
        return [x[0] for x in v]
    if isinstance(v, list) and v and isinstance(v[0], str):
        return [v[0]]
    return []


def find_key(obj, key):
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                out.extend(as_list(v))
            elif isinstance(v, (dict, list)):
                out.extend(find_key(v, key))
    elif isinstance(obj, list):
        for x in obj:
            out.extend(find_key(x, key))
    return out


def handshakes(obj, found):
    if isinstance(obj, dict):
        if "tls.handshake.type" in obj:
            found.append(obj)
        for v in obj.values():
            if isinstance(v, (dict, list)):
                handshakes(v, found)
    elif isinstance(obj, list):
        for x in obj:
            handshakes(x, found)
    return found


def parse_hello(h):
    p = "tls"
    if p + ".handshake.version" not in h:
        return None
    d = {"type": int(as_list(h[p + ".handshake.type"])[0]),
         "version": int(as_list(h.get(p + ".handshake.version", "0"))[0], 16),
         "ciphers": [], "exts": [], "sigalgs": [], "supported_versions": [], "alpn_raw": None}
    if d["type"] == 1:
        d["ciphers"] = [int(c, 16) for c in find_key(h.get(p + ".handshake.ciphersuites", {}),
                                                     p + ".handshake.ciphersuite")]
    else:
        d["ciphers"] = [int(c, 16) for c in as_list(h.get(p + ".handshake.ciphersuite"))]
    for k, v in h.items():
        for ext in as_list(v):
            if not (isinstance(ext, dict) and p + ".handshake.extension.type" in ext):
                continue
            t = int(as_list(ext[p + ".handshake.extension.type"])[0])
            d["exts"].append(t)
            if t == 13 and not d["sigalgs"]:
                d["sigalgs"] = [int(x, 16) for x in find_key(ext, p + ".handshake.sig_hash_alg")]
            elif t == 43:
                d["supported_versions"] = [int(x, 16) for x in
                                           find_key(ext, p + ".handshake.extensions.supported_version")]
            elif t == 16 and d["alpn_raw"] is None:
                raws = raw_hex(find_key(ext, p + ".handshake.extensions_alpn_str_raw"))
                strs = find_key(ext, p + ".handshake.extensions_alpn_str")
                if raws:
                    d["alpn_raw"] = bytes.fromhex(raws[0])
                elif strs:
                    d["alpn_raw"] = strs[0].encode("utf-8", errors="replace")
                else:
                    d["alpn_raw"] = b""
    return d


def version_code(d):
    sv = [v for v in d["supported_versions"] if v not in GREASE]
    v = max(sv) if sv else d["version"]
    return VERSION_CODES.get(v, "00")


def spec_ja4(d, proto="t"):
    ciphers = [c for c in d["ciphers"] if c not in GREASE]
    exts = [e for e in d["exts"] if e not in GREASE]
    sig = [s for s in d["sigalgs"] if s not in GREASE]
    a = "%s%s%s%02d%02d%s" % (proto, version_code(d), "d" if 0 in exts else "i",
                              min(len(ciphers), 99), min(len(exts), 99), alpn_chars(d["alpn_raw"]))
    h4 = lambda xs: ",".join("%04x" % x for x in xs)
    cs, co = h4(sorted(ciphers)), h4(ciphers)
    es = h4(sorted(e for e in exts if e not in (0, 16)))
    eo = h4(exts)
    sg = ("_" + h4(sig)) if sig else ""
    b = sha12(cs) if ciphers else "0" * 12
    bo = sha12(co) if ciphers else "0" * 12
    c = sha12(es + sg) if es else "0" * 12
    c_o = sha12(eo + sg) if eo else "0" * 12
    return {"ja4": "%s_%s_%s" % (a, b, c), "ja4_r": "%s_%s_%s%s" % (a, cs, es, sg),
            "ja4_o": "%s_%s_%s" % (a, bo, c_o), "ja4_ro": "%s_%s_%s%s" % (a, co, eo, sg)}


def spec_ja4s(d, proto="t"):
    exts = d["exts"]
    a = "%s%s%02d%s" % (proto, version_code(d), min(len(exts), 99), alpn_chars(d["alpn_raw"]))
    cipher = "%04x" % d["ciphers"][0] if d["ciphers"] else "0000"
    el = ",".join("%04x" % e for e in exts)
    return {"ja4s": "%s_%s_%s" % (a, cipher, sha12(el) if exts else "0" * 12),
            "ja4s_r": "%s_%s_%s" % (a, cipher, el)}


def hash_raw_ja4(raw):
    """JA4 (or JA4_o) from a raw JA4_r (or JA4_ro) string, per the spec's hashing rule."""
    if not raw:
        return None
    parts = raw.split("_")
    if len(parts) < 3:
        return None
    a, ciphers, exts = parts[0], parts[1], parts[2]
    sig = "_".join(parts[3:])
    b = sha12(ciphers) if ciphers else "0" * 12
    c_in = exts + ("_" + sig if sig else "")
    c = sha12(c_in) if exts else "0" * 12
    return "%s_%s_%s" % (a, b, c)


def read_hellos(pcap):
    flt = "tls.handshake.type == 1 or tls.handshake.type == 2"
    out = tshark(["-r", pcap] + TSHARK_PREFS + ["-Y", flt, "-T", "json", "-x",
                  "--no-duplicate-keys", "-J", "frame tcp tls"])
    res = {}
    if not out.strip():
        return res
    for pkt in json.loads(out):
        layers = pkt["_source"]["layers"]
        frame = int(as_list(layers["frame"]["frame.number"])[0])
        hs = []
        for h in handshakes(layers, []):
            t = int(as_list(h["tls.handshake.type"])[0])
            if t not in (1, 2):
                continue
            d = parse_hello(h)
            if d is None:
                continue
            d.update(spec_ja4(d) if t == 1 else spec_ja4s(d))
            hs.append(d)
        res[frame] = hs
    return res


def build_connections(pcap):
    rows = read_rows(pcap)
    hellos = read_hellos(pcap)
    conns, order, syn = {}, [], {}
    for r in rows:
        if "tcp" not in r["frame.protocols"].split(":"):
            continue
        frame = int(r["frame.number"])
        stream = int(split(r["tcp.stream"])[-1])
        sport, dport = int(split(r["tcp.srcport"])[-1]), int(split(r["tcp.dstport"])[-1])
        ipv = "ipv6" if r["ipv6.src"] else "ip"
        src, dst = split(r[ipv + ".src"])[-1], split(r[ipv + ".dst"])[-1]
        if r["tcp.flags"]:
            flags = int(split(r["tcp.flags"])[-1], 16)
            if flags & 0x02:
                kinds = "-".join(split(r["tcp.option_kind"]))
                mss = (split(r["tcp.options.mss_val"]) or ["0"])[0]
                ws = (split(r["tcp.options.wscale.shift"]) or ["0"])[0]
                fp = "%s_%s_%s_%s" % (split(r["tcp.window_size_value"])[-1], kinds, mss, ws)
                syn.setdefault(stream, {}).setdefault("ja4ts" if flags & 0x10 else "ja4t", fp)
        types = split(r["tls.handshake.type"])
        if "1" not in types and "2" not in types:
            continue
        parsed = hellos.get(frame) or []
        if stream not in conns and parsed:
            conns[stream] = {"stream": stream, "client": None, "server": None, "ch": [], "sh": []}
            order.append(stream)
        if stream not in conns:
            continue
        c = conns[stream]
        ja3, ja3f = split(r["tls.handshake.ja3"]), split(r["tls.handshake.ja3_full"])
        ja3s, ja3sf = split(r["tls.handshake.ja3s"]), split(r["tls.handshake.ja3s_full"])
        sni = split(r["tls.handshake.extensions_server_name"])
        segs = split(r["tcp.segment.count"])
        ci = si = 0
        for ph in parsed:
            if ph["type"] == 1:
                if c["client"] is None:
                    c["client"], c["server"] = (src, sport), (dst, dport)
                c["ch"].append({"frame": frame, "ja3": ja3[ci] if ci < len(ja3) else None,
                                "ja3_full": ja3f[ci] if ci < len(ja3f) else None,
                                "sni": sni[ci] if ci < len(sni) else None,
                                "segments": int(segs[0]) if segs else 1,
                                "spec": {k: ph.get(k) for k in ("ja4", "ja4_r", "ja4_o", "ja4_ro")}})
                ci += 1
            elif ph["type"] == 2:
                if c["client"] is None:
                    c["client"], c["server"] = (dst, dport), (src, sport)
                c["sh"].append({"frame": frame, "ja3s": ja3s[si] if si < len(ja3s) else None,
                                "ja3s_full": ja3sf[si] if si < len(ja3sf) else None,
                                "spec": {k: ph.get(k) for k in ("ja4s", "ja4s_r")}})
                si += 1
    for s in order:
        conns[s]["syn"] = syn.get(s, {})
    return [conns[s] for s in order]


# --------------------------------------------------------------------------- ja4plus

def ja4plus_cmd():
    try:
        import ja4plus  # noqa: F401
        return [sys.executable, "-c",
                "import sys; from ja4plus.cli import main; sys.argv[0] = 'ja4plus'; sys.exit(main())"]
    except ImportError:
        exe = shutil.which("ja4plus")
        if exe:
            return [exe]
    sys.exit("ja4plus not found: pip install ja4plus==1.4.0")


def ja4plus_version():
    p = subprocess.run(ja4plus_cmd() + ["--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.stdout.decode(errors="replace").strip().split()[-1] if p.stdout else "unknown"


def ukey(a, b):
    return tuple(sorted([(str(a[0]), int(a[1])), (str(b[0]), int(b[1]))]))


def run_ja4plus(pcap):
    """{endpoint key: {field: value, '_more_<type>': [...]}}. Never uses the network (no lookup)."""
    p = subprocess.run(ja4plus_cmd() + ["--format", "json", "analyze", pcap],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError("ja4plus failed on %s: %s" % (pcap, p.stderr.decode(errors="replace")[-500:]))
    text = p.stdout.decode("utf-8", errors="replace").strip()
    objs = []
    if text.startswith("["):
        objs = json.loads(text)
    else:
        objs = [json.loads(l) for l in text.splitlines() if l.strip().startswith("{")]
    out = {}
    for o in objs:
        t = o.get("type")
        if t not in ("ja4", "ja4s", "ja4t", "ja4ts"):
            continue
        key = ukey((o["src_ip"], o["src_port"]), (o["dst_ip"], o["dst_port"]))
        v = out.setdefault(key, {})
        if t in v:
            v.setdefault("_more_" + t, []).append(o["fingerprint"])
            continue
        v[t] = o["fingerprint"]
        if t == "ja4":
            v["ja4_r"], v["ja4_ro"] = o.get("raw"), o.get("raw_original_order")
            v["ja4_o"] = hash_raw_ja4(o.get("raw_original_order"))
        elif t == "ja4s":
            v["ja4s_r"] = o.get("raw")
    return out


# --------------------------------------------------------------------------- assembly

def assemble(pcap):
    conns = build_connections(pcap)
    jp = run_ja4plus(pcap)
    out = []
    for c in conns:
        ch = c["ch"][0] if c["ch"] else {}
        sh = c["sh"][0] if c["sh"] else {}
        refs = {f: {} for f in FIELDS_OUT}
        for f in ("ja3", "ja3_full"):
            refs[f]["tshark"] = ch.get(f)
        for f in ("ja3s", "ja3s_full"):
            refs[f]["tshark"] = sh.get(f)
        for f in ("ja4", "ja4_r", "ja4_o", "ja4_ro"):
            refs[f]["spec-recompute"] = (ch.get("spec") or {}).get(f)
        for f in ("ja4s", "ja4s_r"):
            refs[f]["spec-recompute"] = (sh.get("spec") or {}).get(f)
        for f in ("ja4t", "ja4ts"):
            refs[f]["spec-recompute"] = c["syn"].get(f)
        rec = jp.get(ukey(c["client"], c["server"]), {}) if c["client"] else {}
        for f in FIELDS_OUT:
            if "ja4plus" in PRIORITY[f]:
                refs[f]["ja4plus"] = rec.get(f)
        refs["ja4_o"]["ja4plus-ro-hashed"] = rec.get("ja4_o")
        more = {"ja4plus:" + k[6:]: v for k, v in rec.items() if k.startswith("_more_")}
        conn = {
            "transport": "tcp",
            "src_ip": c["client"][0] if c["client"] else None,
            "src_port": c["client"][1] if c["client"] else None,
            "dst_ip": c["server"][0] if c["server"] else None,
            "dst_port": c["server"][1] if c["server"] else None,
            "tshark_stream": c["stream"],
            "sni": ch.get("sni"),
            "client_hello_frames": [x["frame"] for x in c["ch"]],
            "server_hello_frames": [x["frame"] for x in c["sh"]],
        }
        for f in FIELDS_OUT:
            conn[f] = None
        conn["disagree"] = []
        if len(c["ch"]) > 1:
            conn["later_client_hellos"] = [{"frame": x["frame"], "ja3": x["ja3"], "ja3_full": x["ja3_full"],
                                            "sni": x["sni"], "ja4_spec": x["spec"].get("ja4")}
                                           for x in c["ch"][1:]]
        if len(c["sh"]) > 1:
            conn["later_server_hellos"] = [{"frame": x["frame"], "ja3s": x["ja3s"],
                                            "ja4s_spec": x["spec"].get("ja4s")} for x in c["sh"][1:]]
        if more:
            conn["other_hellos_by_tool"] = more
        conn["refs"] = refs
        conn["_segments"] = [x["segments"] for x in c["ch"]]
        out.append(conn)
    return out


def choose(conn):
    refs = conn["refs"]
    dis = []
    for f in FIELDS_OUT:
        vals = {k: v for k, v in refs[f].items() if v}
        conn[f] = next((refs[f][k] for k in PRIORITY[f] + list(refs[f]) if refs[f].get(k)), None)
        if len(set(vals.values())) > 1:
            dis.append(f)
    conn["disagree"] = dis


def conn_key(c):
    return (c["transport"], c["src_ip"], c["src_port"], c["dst_ip"], c["dst_port"])


def apply_original(name, conns, orig_conns):
    """Derived capture: fill what a source missed (or got differently) from the original."""
    orig_name, how = DERIVED[name]
    by_key = {conn_key(c): c for c in orig_conns}
    for c in conns:
        o = by_key.get(conn_key(c))
        notes = ["Derived capture: %s. Its fingerprints must equal those of %s (same connection)."
                 % (how, orig_name)]
        if o is None:
            notes.append("WARNING: connection not found in %s." % orig_name)
        else:
            taken = []
            for f in FIELDS_OUT:
                for src, ov in o["refs"][f].items():
                    dv = c["refs"][f].get(src)
                    if dv != ov:
                        taken.append("%s/%s (%s gave %s)" % (f, src, src, json.dumps(dv)))
                        c["refs"][f][src] = ov
            if taken:
                notes.append("Values of %s were used for: %s." % (orig_name, "; ".join(taken)))
            else:
                notes.append("tshark (with tcp.reassemble_out_of_order:TRUE) and ja4plus give on this "
                             "file exactly the values they give on %s." % orig_name)
        c["note"] = " ".join(notes)


def finish(conns):
    for c in conns:
        choose(c)
        c.pop("_segments", None)
        # key order of the corpus: refs last (note just before it)
        refs = c.pop("refs")
        note = c.pop("note", None)
        if note:
            c["note"] = note
        c["refs"] = {f: {k: refs[f][k] for k in sorted(refs[f], key=lambda k: (
            PRIORITY[f].index(k) if k in PRIORITY[f] else len(PRIORITY[f]), k))} for f in FIELDS_OUT}
    return conns


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=HERE)
    ap.add_argument("--check", action="store_true", help="exit 1 if an expected file would change")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    pcaps = a.files or sorted(glob.glob(os.path.join(a.dir, "*.pcap")))
    exp_dir = os.path.join(a.dir, "expected")
    os.makedirs(exp_dir, exist_ok=True)
    index = {"_tools": {"tshark": tshark_version(), "ja4plus": ja4plus_version(),
                        "tshark_prefs": " ".join(TSHARK_PREFS)}}
    results = {}
    for p in pcaps:
        results[os.path.basename(p)] = assemble(p)
    for name, conns in results.items():
        if name in DERIVED:
            orig = DERIVED[name][0]
            orig_conns = results.get(orig)
            if orig_conns is None and os.path.exists(os.path.join(a.dir, orig)):
                orig_conns = assemble(os.path.join(a.dir, orig))
            if orig_conns is not None:
                apply_original(name, conns, orig_conns)
    changed = 0
    for p in pcaps:
        name = os.path.basename(p)
        conns = results[name]
        segs = [c["_segments"] for c in conns]
        finish(conns)
        index[name] = {
            "sha256": hashlib.sha256(open(p, "rb").read()).hexdigest(),
            "bytes": os.path.getsize(p),
            "connections": len(conns),
            "client_hellos": sum(len(c["client_hello_frames"]) for c in conns),
            "client_hello_tcp_segments": segs,
            "fields_disagreeing": sorted(set(f for c in conns for f in c["disagree"])),
        }
        dst = os.path.join(exp_dir, name + ".json")
        text = json.dumps(conns, indent=1, ensure_ascii=False) + "\n"
        old = open(dst).read() if os.path.exists(dst) else None
        if old != text:
            changed += 1
            if a.check:
                print("CHANGED %s" % dst)
            else:
                with open(dst, "w") as f:
                    f.write(text)
        print("%-34s %2d connection(s), ClientHello segments %s, disagree %s"
              % (name, len(conns), segs, index[name]["fields_disagreeing"] or "-"), file=sys.stderr)
    if not a.files and not a.check:
        # drop expected files of captures that no longer exist
        for f in glob.glob(os.path.join(exp_dir, "*.pcap.json")):
            if os.path.basename(f)[:-5] not in results:
                os.remove(f)
        with open(os.path.join(exp_dir, "_index.json"), "w") as f:
            json.dump(index, f, indent=1, sort_keys=True)
            f.write("\n")
    if a.check and changed:
        sys.exit(1)


if __name__ == "__main__":
    main()
