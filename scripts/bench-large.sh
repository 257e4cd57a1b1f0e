#!/usr/bin/env bash
# Throughput benchmark on a large capture built from pcaps/ (outside the repo).
#
# Builds $BENCH_DIR/large.pcap (BENCH_SIZE_MB, default 1100 MB) and a quarter-size
# copy, then runs, interleaved, BENCH_RUNS times each (default 3):
#   floor      minimal libpcap read loop (pcap_next_ex over every packet)
#   reader     shakedown's own pcap reader alone (capture/examples/phases read)
#   track      reader + decoding + flow table, no fingerprints or JSON (phases track)
#   track-records  as track, following every connection's records to its end
#              as replay's capture thread does (phases records)
#   tcpdump    tcpdump -r FILE -w /dev/null
#   shakedown  shakedown fingerprint FILE > /dev/null
#   replay-1w  shakedown replay --workers 1 (full pipeline with scoring)
#   replay-2w  shakedown replay --workers 2
#   ndpiReader nDPI's reader with per-flow output (JA3C/JA3S), where installed
#              (Debian: libndpi-bin)
#   suricata   Suricata, one thread, no rules, an eve log of every TLS handshake
#              with JA3, JA3S and JA4 (scripts/suricata-bench.yaml), where
#              installed (Debian 12: 7.0.x from bookworm-backports)
#   tshark     tshark JA3 extraction of every ClientHello (large file: 1 run;
#              BENCH_TSHARK=0 skips it)
# and prints medians of CPU seconds (user+sys), wall seconds, peak RSS and
# packets/s, plus ratios to the floor. Results go to stdout and $BENCH_DIR/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/tmp/shakedown-bench}
SIZE_MB=${BENCH_SIZE_MB:-1100}
RUNS=${BENCH_RUNS:-3}
mkdir -p "$BENCH_DIR"

for tool in tcpdump tshark /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench-large: $tool is missing (scripts/install-deps.sh bench)" >&2; exit 1; }
done

cargo build -q --release
cargo build -q --release -p shakedown-capture --example replicate_pcap --example pcap_floor --example phases
BIN=target/release
inputs=(pcaps/*.pcap)

# The layout replicate_pcap writes (2: time-ordered groups, a server address
# per input); files of another layout are made again.
LAYOUT=2
make_capture() { # name size_mb
    local out="$BENCH_DIR/$1.pcap" stamp="$BENCH_DIR/$1.layout"
    if [ ! -s "$out" ] || [ "$(stat -c %s "$out")" -lt $(( $2 * 1000000 )) ] \
        || [ "$(cat "$stamp" 2>/dev/null)" != "$LAYOUT" ]; then
        "$BIN/examples/replicate_pcap" "$out" "$2" "${inputs[@]}"
        echo "$LAYOUT" > "$stamp"
    fi
}
make_capture large "$SIZE_MB"
make_capture quarter $(( SIZE_MB / 4 ))
LARGE="$BENCH_DIR/large.pcap"
QUARTER="$BENCH_DIR/quarter.pcap"
PACKETS=$("$BIN/examples/pcap_floor" "$LARGE" | awk '{print $1}')
# Warm the page cache (the file is read by every tool; none should pay the disk).
cat "$LARGE" "$QUARTER" > /dev/null
BYTES=$(stat -c %s "$LARGE")

measure() { # label file cmd... ; appends "label cpu wall rss_kb" to $BENCH_DIR/raw.txt
    local label=$1 file=$2; shift 2
    local tf; tf=$(mktemp)
    /usr/bin/time -f "%U %S %e %M" -o "$tf" "$@" >/dev/null 2>"$BENCH_DIR/last-stderr.txt" < /dev/null
    read -r user sys wall rss < "$tf"
    rm -f "$tf"
    echo "$label $file $(echo "$user + $sys" | bc) $wall $rss" >> "$BENCH_DIR/raw.txt"
}

: > "$BENCH_DIR/raw.txt"
for i in $(seq "$RUNS"); do
    echo "bench-large: run $i/$RUNS" >&2
    measure floor large "$BIN/examples/pcap_floor" "$LARGE"
    measure tcpdump large tcpdump -r "$LARGE" -w /dev/null
    measure reader large "$BIN/examples/phases" read "$LARGE"
    measure track large "$BIN/examples/phases" track "$LARGE"
    measure track-records large "$BIN/examples/phases" records "$LARGE"
    measure shakedown large "$BIN/shakedown" fingerprint --quiet "$LARGE"
    measure shakedown quarter "$BIN/shakedown" fingerprint --quiet "$QUARTER"
    measure replay-1w large "$BIN/shakedown" replay --workers 1 --decisions /dev/null "$LARGE"
    measure replay-2w large "$BIN/shakedown" replay --workers 2 --decisions /dev/null "$LARGE"
    if command -v ndpiReader >/dev/null; then
        measure ndpiReader large ndpiReader -q -v 2 -i "$LARGE"
    fi
    if command -v suricata >/dev/null; then
        rm -rf "$BENCH_DIR/suricata" && mkdir -p "$BENCH_DIR/suricata"
        measure suricata large suricata -r "$LARGE" -k none --disable-detection --runmode single \
            -c scripts/suricata-bench.yaml -l "$BENCH_DIR/suricata"
        echo "bench-large: suricata logged $(grep -c '"ja4"' "$BENCH_DIR/suricata/eve.json" || true) TLS handshakes with a JA4" >&2
    fi
done
if [ -s "$BENCH_DIR/suricata/eve.json" ]; then
    # The same fingerprints as an independent implementation, on every connection.
    "$BIN/shakedown" fingerprint --quiet "$LARGE" > "$BENCH_DIR/fingerprint.jsonl"
    python3 scripts/compare-suricata.py "$BENCH_DIR/fingerprint.jsonl" "$BENCH_DIR/suricata/eve.json" >&2 || true
fi
if [ "${BENCH_TSHARK:-1}" != 0 ]; then
    echo "bench-large: tshark (one run)" >&2
    measure tshark large tshark -n -r "$LARGE" -Y "tls.handshake.type == 1" -T fields -e tcp.stream -e tls.handshake.ja3
fi

python3 - "$BENCH_DIR/raw.txt" "$PACKETS" "$BYTES" <<'PY' | tee "$BENCH_DIR/results.md"
import statistics, sys, collections, platform, os
raw, packets, nbytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = collections.defaultdict(list)
for line in open(raw):
    label, f, cpu, wall, rss = line.split()
    rows[(label, f)].append((float(cpu), float(wall), int(rss)))
med = {k: (statistics.median(c for c, _, _ in v), statistics.median(w for _, w, _ in v), max(r for _, _, r in v), len(v)) for k, v in rows.items()}
floor = med[("floor", "large")][0]
cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"Machine: {cpu_model}, {os.cpu_count()} cores; file {nbytes/1e9:.2f} GB, {packets} packets")
print()
print("| tool | file | runs | CPU s (median) | wall s | peak RSS MB | packets/s (CPU) | Gbit/s (CPU) | CPU vs floor |")
print("|---|---|---|---|---|---|---|---|---|")
for (label, f), (cpu, wall, rss, n) in sorted(med.items(), key=lambda kv: kv[1][0]):
    fpk = packets if f == "large" else None
    pps = f"{packets / cpu:,.0f}" if fpk else "-"
    gbps = f"{nbytes * 8 / cpu / 1e9:.2f}" if fpk else "-"
    ratio = f"{cpu / floor:.2f}x" if fpk else "-"
    print(f"| {label} | {f} | {n} | {cpu:.2f} | {wall:.2f} | {rss/1024:.0f} | {pps} | {gbps} | {ratio} |")
sd = med[("shakedown", "large")][0]
if ("suricata", "large") in med:
    print(f"\nshakedown fingerprint uses {med[('suricata','large')][0] / sd:.1f}x less CPU time than Suricata ({med[('suricata','large')][0] / floor:.1f}x the floor).")
if ("tshark", "large") in med:
    print(f"\nshakedown fingerprint is {med[('tshark','large')][0] / sd:.1f}x faster than tshark's JA3 extraction (CPU time).")
print(f"shakedown fingerprint peak RSS: {med[('shakedown','quarter')][2]/1024:.0f} MB on the quarter file, {med[('shakedown','large')][2]/1024:.0f} MB on the full file.")
r1, r2 = med[("replay-1w", "large")], med[("replay-2w", "large")]
print(f"replay: {r1[0] / sd:.2f}x fingerprint's CPU with 1 worker; wall {r1[1]:.2f} s with 1 worker, {r2[1]:.2f} s with 2 ({(1 - r2[1] / r1[1]) * 100:.0f} % less).")
PY
