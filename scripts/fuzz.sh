#!/usr/bin/env bash
# Runs the cargo-fuzz targets, one after another (or N at a time), each for
# FUZZ_SECONDS (default 1800), seeded from real captures (scripts/fuzz-seeds.py).
# Needs a nightly toolchain and cargo-fuzz (installed if missing).
#   scripts/fuzz.sh                      # every target, 30 minutes each
#   FUZZ_SECONDS=60 scripts/fuzz.sh hello tcp_session
#   FUZZ_PARALLEL=2 scripts/fuzz.sh      # two targets at a time
# Crashes land in <crate>/fuzz/artifacts/<target>/; reproduce one with
#   cargo +nightly fuzz run --fuzz-dir <crate>/fuzz <target> <file>
# and add it as a regression test (see docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-1800}
parallel=${FUZZ_PARALLEL:-1}
declare -A crate=(
  [hello]=fingerprints [tls_stream]=fingerprints
  [decode]=capture [tcp_session]=capture [reassembly]=capture
  [quic_initial]=capture [pcap_file]=capture
)
declare -A maxlen=(
  [hello]=8192 [tls_stream]=20000 [decode]=65536 [tcp_session]=16384
  [reassembly]=8192 [quic_initial]=4096 [pcap_file]=262144
)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(hello tls_stream decode tcp_session reassembly quic_initial pcap_file)

rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
[ -d capture/fuzz/corpus/decode ] || python3 scripts/fuzz-seeds.py
for c in fingerprints capture; do
  cargo +nightly fuzz build -O --fuzz-dir "$c/fuzz"
done

mkdir -p target/fuzz-logs
run() {
  local t=$1 c=${crate[$1]}
  mkdir -p "$c/fuzz/corpus/$t" "$c/fuzz/artifacts/$t"
  echo "fuzz: $t for ${seconds}s (log target/fuzz-logs/$t.log)"
  cargo +nightly fuzz run -O --fuzz-dir "$c/fuzz" "$t" "$c/fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -max_len="${maxlen[$t]}" -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 >"target/fuzz-logs/$t.log" 2>&1
  local rc=$?
  grep -E "^stat::number_of_executed_units|^Done [0-9]+ runs" "target/fuzz-logs/$t.log" | tail -1 | sed "s/^/fuzz: $t: /"
  return $rc
}
failed=0
running=0
for t in "${targets[@]}"; do
  run "$t" || { echo "fuzz: $t FOUND A CRASH, see target/fuzz-logs/$t.log"; failed=1; } &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then wait -n || failed=1; running=$((running - 1)); fi
done
wait || failed=1
# pcap_file writes each input to a scratch file named after its process
# (libFuzzer exits without running destructors): remove those of ended runs.
for f in /dev/shm/shakedown-fuzz-*.pcap "${TMPDIR:-/tmp}"/shakedown-fuzz-*.pcap; do
    [ -e "$f" ] || continue
    pid=${f##*-}
    pid=${pid%.pcap}
    kill -0 "$pid" 2>/dev/null || rm -f "$f"
done
exit $failed
