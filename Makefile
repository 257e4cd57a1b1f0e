# shakedown: the README's two commands are `make demo` and `make test`.
CARGO ?= cargo
PCAPS := $(sort $(wildcard pcaps/*.pcap pcaps/*.pcapng))

.PHONY: all build demo test lint unit-tests bench bench-micro bench-large captures clean deps

all: build

deps:
	scripts/install-deps.sh build

build: deps
	$(CARGO) build --release

# Fingerprints of the project's own captures of real clients (pcaps/).
demo: build
	@echo "== shakedown fingerprint pcaps/*.pcap (one JSON object per TLS connection)"
	./target/release/shakedown fingerprint $(PCAPS) | tee /tmp/shakedown-demo.jsonl | \
	    python3 -c 'import json,sys; [print(f"{r[\"src_ip\"]:>15}:{r[\"src_port\"]:<5} {r[\"transport\"]:4} {(r[\"sni\"] or \"-\"):14} {r[\"ja4\"]}  ja3={r[\"ja3\"]}  tcp={r[\"tcp_sig\"]}") for r in map(json.loads, sys.stdin)]' 2>/dev/null || cat /tmp/shakedown-demo.jsonl
	@echo "== full records: /tmp/shakedown-demo.jsonl"

test: lint unit-tests

lint:
	scripts/install-deps.sh test
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets --features ja4plus -- -D warnings

unit-tests:
	scripts/install-deps.sh test
	$(CARGO) nextest run --workspace --no-fail-fast
	$(CARGO) nextest run --workspace --features ja4plus --no-fail-fast

bench: bench-micro bench-large

bench-micro:
	$(CARGO) bench -p shakedown-fingerprints --bench hello

# Builds a >= 1 GB capture outside the repo and times shakedown against tcpdump and tshark.
bench-large:
	scripts/install-deps.sh bench
	scripts/bench-large.sh

# Regenerates pcaps/ from real clients in a network namespace (root).
captures:
	pcaps/make-captures.sh

clean:
	$(CARGO) clean
