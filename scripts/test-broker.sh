#!/usr/bin/env bash
# The Kafka-protocol broker for integration tests: tansu (crates.io, Apache-2.0),
# loopback only, memory storage, started from an empty directory with a clean
# environment.
#   scripts/test-broker.sh install   # cargo install tansu once (cached in $TANSU_ROOT)
#   scripts/test-broker.sh start     # prints the bootstrap address
#   scripts/test-broker.sh stop
set -euo pipefail
TANSU_ROOT=${TANSU_ROOT:-/opt/tansu}
TANSU=$TANSU_ROOT/bin/tansu
PORT=${SHAKEDOWN_TEST_KAFKA_PORT:-19092}
STATE=${SHAKEDOWN_TEST_BROKER_STATE:-/tmp/shakedown-test-broker}
TOPICS=(shakedown-test shakedown-test-spool shakedown-test-enforce)

install() {
    if [ -x "$TANSU" ]; then return; fi
    echo "test-broker: building tansu 0.6.0 into $TANSU_ROOT (once; a cold build takes a while)" >&2
    cargo install tansu --version 0.6.0 --locked --features dynostore --root "$TANSU_ROOT" >&2
}

start() {
    install
    stop >/dev/null 2>&1 || true
    rm -rf "$STATE" && mkdir -p "$STATE/data"
    # exec: the broker itself is the background job (no subshell holding our stdout open).
    (cd "$STATE/data" && exec env -i PATH=/usr/bin:/bin HOME="$STATE" \
        "$TANSU" broker \
            --listener-url "tcp://127.0.0.1:$PORT" \
            --advertised-listener-url "tcp://127.0.0.1:$PORT" \
            --storage-engine memory://tansu/) </dev/null >"$STATE/broker.log" 2>&1 &
    echo $! >"$STATE/pid"
    for _ in $(seq 1 150); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
        sleep 0.2
    done
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        echo "test-broker: tansu did not open 127.0.0.1:$PORT; its log:" >&2
        cat "$STATE/broker.log" >&2
        exit 1
    fi
    for t in "${TOPICS[@]}"; do
        timeout 30 "$TANSU" topic create "$t" --partitions 3 --broker "tcp://127.0.0.1:$PORT" </dev/null >>"$STATE/broker.log" 2>&1
    done
    echo "127.0.0.1:$PORT"
}

stop() {
    if [ -f "$STATE/pid" ]; then
        kill "$(cat "$STATE/pid")" 2>/dev/null || true
        rm -f "$STATE/pid"
    fi
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
