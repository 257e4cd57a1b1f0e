#!/usr/bin/env bash
# Load run for `shakedown live`: tcpreplay pushes a capture over a veth pair
# between two network namespaces (no route out) at increasing packet rates while
# shakedown captures on the far end. For each rate it prints what tcpreplay
# sent, what the kernel handed to libpcap, and the drops (kernel ring and our
# own queue), read from shakedown's exit summary. Needs root, tcpreplay and a
# release build. Every rate is bounded in packets (rate x BENCH_SECONDS) and time.
#
#   BENCH_PCAP     capture to replay (default pcaps/scenarios/test.pcap)
#   BENCH_RATES    packet rates; "topspeed": as fast as one tcpreplay can,
#                  "topspeed2": two tcpreplays at once (sent = their sum)
#   BENCH_SECONDS  seconds per rate (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SHAKEDOWN_BIN:-target/release/shakedown}
PCAP=${BENCH_PCAP:-pcaps/scenarios/test.pcap}
RATES=${BENCH_RATES:-"10000 25000 50000 100000 200000 topspeed topspeed2"}
SECS=${BENCH_SECONDS:-10}
TX=sdbench-tx RX=sdbench-rx

for tool in ip tcpreplay; do
    command -v "$tool" >/dev/null || { echo "bench-live: $tool is missing" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "bench-live: build first (cargo build --release)" >&2; exit 1; }

cleanup() {
    ip netns del "$TX" 2>/dev/null || true
    ip netns del "$RX" 2>/dev/null || true
}
trap cleanup EXIT
cleanup
ip netns add "$TX"
ip netns add "$RX"
ip link add sdbtx netns "$TX" type veth peer name sdbrx netns "$RX"
for pair in "$TX sdbtx" "$RX sdbrx"; do
    set -- $pair
    ip -n "$1" link set "$2" up
    ip -n "$1" link set lo up
    ip netns exec "$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1 || true
done

echo "machine: $(nproc) cores, $(uname -r); capture: $PCAP ($(stat -c %s "$PCAP") bytes)"
printf '| rate asked (pps) | sent (pps) | sent (Mbit/s) | packets sent | kernel received | kernel dropped | queue dropped | TLS connections |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for rate in $RATES; do
    log=$(mktemp)
    ip netns exec "$RX" "$BIN" live -i sdbrx --metrics "" --status-interval 0 \
        --decisions /dev/null 2>"$log" &
    pid=$!
    sleep 1.5
    senders=1
    if [ "$rate" = topspeed2 ]; then
        senders=2
    fi
    if [ "${rate#topspeed}" != "$rate" ]; then
        speed=(--topspeed --duration="$SECS") limit=100000000
    else
        speed=(--pps="$rate") limit=$((rate * SECS))
    fi
    outs=() senders_pids=()
    for i in $(seq "$senders"); do
        o=$(mktemp); outs+=("$o")
        ip netns exec "$TX" timeout $((SECS * 2 + 10)) tcpreplay -i sdbtx -K "${speed[@]}" \
            --loop=1000 --limit="$limit" "$PCAP" >"$o" 2>&1 &
        senders_pids+=($!)
    done
    wait "${senders_pids[@]}" || true
    sent=$(cat "${outs[@]}" | grep -E 'Actual:|Rated:' || true)
    rm -f "${outs[@]}"
    sleep 2
    kill -TERM "$pid"
    wait "$pid" || true
    sum() { awk '{ s += $1 } END { printf "%.0f", s }'; }
    pkts=$(sed -n 's/.*Actual: \([0-9]*\) packets.*/\1/p' <<<"$sent" | sum)
    pps=$(sed -n 's/.*Mbps, \([0-9.]*\) pps.*/\1/p' <<<"$sent" | sum)
    mbps=$(sed -n 's/.*Bps, \([0-9.]*\) Mbps.*/\1/p' <<<"$sent" | sum)
    stats=$(grep -m1 'kernel received' "$log")
    recv=$(sed -n 's/.*kernel received \([0-9]*\),.*/\1/p' <<<"$stats")
    kdrop=$(sed -n 's/.*, dropped \([0-9]*\),.*/\1/p' <<<"$stats")
    qdrop=$(sed -n 's/.*queue dropped \([0-9]*\).*/\1/p' <<<"$stats")
    tls=$(sed -n 's/.* \([0-9]*\) TLS connections (.*/\1/p' "$log" | head -1)
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$rate" "${pps%.*}" "$mbps" "$pkts" "$recv" "$kdrop" "$qdrop" "$tls"
    rm -f "$log"
done
