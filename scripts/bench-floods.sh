#!/usr/bin/env bash
# The adversarial replays of issue #6 at full scale, outside the repo.
#
# Writes $FLOODS_DIR (default /tmp/shakedown-floods) with scripts/make-floods.py
# (--scale $FLOODS_SCALE, default 1: 10 M SYNs, 1 M half-open connections, ...,
# and normal.pcap, the same kind of connections without an attack, ~4 M packets;
# kept between runs while the scale is the same), then runs the release build's
# `shakedown fingerprint` and `shakedown replay` on each file, interleaved,
# $FLOODS_RUNS times each (default 3), and reports per file and command: median
# CPU seconds (user + sys) and wall seconds, packets/s of CPU time, the ratio of
# that throughput to normal.pcap's, and the peak RSS against $FLOODS_RSS_CAP_MB
# (default 2048: docs/ARCHITECTURE.md's bound at the default limits).
#
# Before each timed command a probe writes one byte per page of 256 MiB of fresh
# memory and reports microseconds per page: on a VM whose balloon reports free
# pages to the host, memory a process gets back from the kernel may cost ten
# times more to touch the first time (the host backs it again), and a flood that
# fills the flow table touches ~0.7 GB. The table shows the probe's median next
# to each row, and the system (kernel) part of the CPU time.
#
# The table also shows the MB the command read from disk: on a machine whose
# page cache does not keep the files (the sandbox this was written on drops
# cached pages within seconds), reads that go to disk land in the kernel's CPU
# time; put FLOODS_DIR on tmpfs (FLOODS_DIR=/dev/shm/shakedown-floods, 3.6 GB
# at full scale) to measure the processing alone, as a sensor reading a port
# would.
#
# One more run of each (untimed) writes the records and checks that every
# legitimate connection, and every attack connection that carries a real hello,
# came out exactly once with its reference values; the summary counters of that
# run (evictions, drops) are in the table too.
#
# Limits: the defaults, or --max-flows / [limits] max_flows = $FLOODS_MAX_FLOWS.
# Results: stdout and $FLOODS_DIR/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${FLOODS_DIR:-/tmp/shakedown-floods}
SCALE=${FLOODS_SCALE:-1}
RUNS=${FLOODS_RUNS:-3}
CAP_MB=${FLOODS_RSS_CAP_MB:-2048}
MAX_FLOWS=${FLOODS_MAX_FLOWS:-}
KINDS=(normal syn-flood half-open one-byte-reverse conflicting-overlap huge-length)

for tool in python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench-floods: $tool is missing (scripts/install-deps.sh bench)" >&2; exit 1; }
done
case "$DIR" in "$PWD"|"$PWD"/*) echo "bench-floods: FLOODS_DIR must be outside the repository" >&2; exit 1 ;; esac

cargo build -q --release
BIN=$PWD/target/release/shakedown
mkdir -p "$DIR/out"

have_all() {
    [ "$(cat "$DIR/.scale" 2>/dev/null)" = "$SCALE" ] || return 1
    for k in "${KINDS[@]}"; do [ -s "$DIR/$k.pcap" ] || return 1; done
}
if ! have_all; then
    rm -f "$DIR"/*.pcap "$DIR"/*.expected.jsonl "$DIR/manifest.json" "$DIR/.scale"
    echo "bench-floods: writing the floods (scale $SCALE) to $DIR" >&2
    python3 scripts/make-floods.py "$DIR" --scale "$SCALE"
    echo "$SCALE" > "$DIR/.scale"
fi

fp_args=()
rp_args=()
if [ -n "$MAX_FLOWS" ]; then
    fp_args=(--max-flows "$MAX_FLOWS")
    printf '[limits]\nmax_flows = %s\n' "$MAX_FLOWS" > "$DIR/limits.toml"
    rp_args=(--config "$DIR/limits.toml")
fi
run() { # kind command [output...]: the shakedown command line for one file
    local kind=$1 cmd=$2; shift 2
    if [ "$cmd" = fingerprint ]; then
        echo "$BIN" fingerprint --no-progress ${fp_args[@]+"${fp_args[@]}"} "$@" "$DIR/$kind.pcap"
    else
        echo "$BIN" replay --no-progress ${rp_args[@]+"${rp_args[@]}"} "$@" "$DIR/$kind.pcap"
    fi
}

# Microseconds to touch a fresh page now (see the header).
page_probe() {
    python3 -c 'import time
n = 256 << 20
t = time.perf_counter(); m = memoryview(bytearray(n)); m[::4096] = bytes(n // 4096)
print("%.2f" % ((time.perf_counter() - t) * 1e6 / (n // 4096)))'
}

status=0
measure() { # kind command: appends "kind command cpu wall rss_kb sys probe" to raw.txt
    local kind=$1 cmd=$2 tf err probe
    probe=$(page_probe)
    tf=$(mktemp)
    err="$DIR/out/$kind.$cmd.timed-stderr"
    local extra=(--quiet -o /dev/null)
    [ "$cmd" = replay ] && extra=(--quiet --decisions /dev/null)
    # shellcheck disable=SC2046
    if ! /usr/bin/time -f "%U %S %e %M %I" -o "$tf" $(run "$kind" "$cmd" "${extra[@]}") \
        >/dev/null 2>"$err" </dev/null || grep -q panicked "$err"; then
        echo "bench-floods: $cmd $kind FAILED (stderr: $err)" >&2
        status=1
    fi
    read -r user sys wall rss inputs < <(tail -n 1 "$tf")
    rm -f "$tf"
    echo "$kind $cmd $(echo "$user + $sys" | bc) $wall $rss $sys $probe $inputs" >> "$DIR/raw.txt"
}

: > "$DIR/raw.txt"
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
for i in $(seq "$RUNS"); do
    for kind in "${KINDS[@]}"; do
        echo "bench-floods: run $i/$RUNS $kind" >&2
        # Read the file once untimed: the page cache cannot hold all the
        # files, and the first command timed on a file would pay the disk.
        cat "$DIR/$kind.pcap" > /dev/null
        measure "$kind" fingerprint
        measure "$kind" replay
    done
done

echo "bench-floods: checking the records (one more run of each)" >&2
for kind in "${KINDS[@]}"; do
    # shellcheck disable=SC2046
    $(run "$kind" fingerprint -o "$DIR/out/$kind.fingerprint.jsonl") 2>"$DIR/out/$kind.fingerprint.stderr" || status=1
    # shellcheck disable=SC2046
    $(run "$kind" replay --decisions /dev/null --flows "$DIR/out/$kind.replay.jsonl") 2>"$DIR/out/$kind.replay.stderr" || status=1
done

python3 - "$DIR" "$RUNS" "$CAP_MB" "${MAX_FLOWS:-default (1000000)}" "$LOAD_BEFORE" "${KINDS[@]}" <<'PY' | tee "$DIR/results.md"
import collections, json, os, re, statistics, sys
d, runs, cap_mb, max_flows, load_before = sys.argv[1:6]
runs, cap_mb, kinds = int(runs), float(cap_mb), sys.argv[6:]
manifest = json.load(open(os.path.join(d, "manifest.json")))
templates = json.load(open(os.path.join(d, "templates.json")))
raw = collections.defaultdict(list)
for line in open(os.path.join(d, "raw.txt")):
    kind, cmd, cpu, wall, rss, sys_s, probe, inputs = line.split()
    raw[(kind, cmd)].append((float(cpu), float(wall), int(rss), float(sys_s), float(probe),
                             int(inputs) * 512 / 1e6))

def sig(s):
    return "_".join(s.split(":")[:4]) if s else None

def check(kind, cmd):
    """(good, total) expected connections found once with their reference values."""
    path = os.path.join(d, "out", "%s.%s.jsonl" % (kind, cmd))
    if not os.path.exists(path):
        return 0, -1
    recs = collections.defaultdict(list)
    for line in open(path):
        r = json.loads(line)
        recs[(r.get("src_ip"), r.get("src_port"))].append(r)
    fields = (["sni", "ja3", "ja3_full", "ja3s", "ja3s_full", "ja4", "ja4_r", "ja4_o", "ja4_ro"]
              if cmd == "fingerprint" else ["sni", "ja3", "ja4"])
    good = total = 0
    for line in open(os.path.join(d, kind + ".expected.jsonl")):
        e = json.loads(line)
        total += 1
        found = recs.get((e["src_ip"], e["src_port"]), [])
        want = templates[e["template"]]
        if len(found) == 1 and all(found[0].get(f) == want.get(f) for f in fields) \
                and sig(found[0].get("tcp_sig")) == want.get("ja4t"):
            good += 1
    return good, total

def counters(kind, cmd):
    path = os.path.join(d, "out", "%s.%s.stderr" % (kind, cmd))
    text = open(path).read() if os.path.exists(path) else ""
    line = next((l for l in text.splitlines() if l.startswith("shakedown: ")), "")
    names = ("flows_evicted", "syn_only_evicted", "segments_dropped", "reassembly_gaps", "handshakes_too_large",
             "handshake_budget_exhausted", "hello_parse_errors", "records_out_of_order")
    found = dict(re.findall(r"(\w+)=(\d+)", line))
    return " ".join("%s=%s" % (n, found[n]) for n in names if n in found) or "-"

cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                  if l.startswith("model name")), "?")
osname = next((l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release")
               if l.startswith("PRETTY_NAME=")), "?")
print("Machine: %s, %d cores, %s; load average (1 min) before the runs: %s, after: %s" % (
    cpu_model, os.cpu_count(), osname, load_before, open("/proc/loadavg").read().split()[0]))
print("Limits: max_flows %s, other limits at their defaults; RSS cap %d MB; median of %d runs"
      % (max_flows, cap_mb, runs))
print()
print("| file | packets | command | CPU s | of which sys | wall s | packets/s (CPU) | vs normal | peak RSS MB | under cap | page first touch µs | disk MB read | connections right | bounds hit |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
pps = {}
for kind in kinds:
    for cmd in ("fingerprint", "replay"):
        v = raw.get((kind, cmd))
        if not v:
            continue
        cpu = max(statistics.median(x[0] for x in v), 0.01)
        wall = statistics.median(x[1] for x in v)
        rss = max(x[2] for x in v) / 1024
        sys_s = statistics.median(x[3] for x in v)
        probe = statistics.median(x[4] for x in v)
        disk = statistics.median(x[5] for x in v)
        packets = manifest[kind]["packets"]
        pps[(kind, cmd)] = packets / cpu
        ratio = pps[(kind, cmd)] / pps[("normal", cmd)] if ("normal", cmd) in pps else float("nan")
        good, total = check(kind, "fingerprint" if cmd == "fingerprint" else "replay")
        print("| %s | %s | %s | %.2f | %.2f | %.2f | %s | %.2fx | %.0f | %s | %.1f | %.0f | %s | %s |" % (
            kind, format(packets, ","), cmd, cpu, sys_s, wall, format(round(packets / cpu), ","),
            ratio, rss, "yes" if rss <= cap_mb else "**no**", probe, disk,
            "%d/%d" % (good, total), counters(kind, cmd)))
print()
print("vs normal: packets/s of CPU time relative to normal.pcap with the same command "
      "(issue #6 target: at least 0.50x). connections right: legitimate connections "
      "(and attack connections carrying real hellos) found once with their reference "
      "values (fingerprint: SNI, JA3, JA3S, JA4 in 4 forms, JA4T; replay --flows: SNI, "
      "JA3, JA4, JA4T). page first touch: median of the probe run just before "
      "the row's timed runs (microseconds to write a fresh 4 KiB page). disk MB read: "
      "median of the timed runs (file system inputs).")
PY
exit $status
