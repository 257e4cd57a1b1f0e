# shakedown: the README's two commands are `make demo` and `make test`.
CARGO ?= cargo
PCAPS := $(sort $(wildcard pcaps/*.pcap pcaps/*.pcapng))

.PHONY: all build demo test lint unit-tests bench bench-micro bench-large bench-floods captures clean deps bench-live fuzz

all: build

deps:
	scripts/install-deps.sh build

build: deps
	$(CARGO) build --release

# Fingerprints of the project's own captures of real clients (pcaps/).
demo: build
	@echo "== shakedown fingerprint pcaps/*.pcap  (full JSON records: /tmp/shakedown-demo.jsonl)"
	./target/release/shakedown fingerprint $(PCAPS) > /tmp/shakedown-demo.jsonl
	@python3 scripts/demo-table.py < /tmp/shakedown-demo.jsonl
	@echo "== one record in full:"
	@head -n 1 /tmp/shakedown-demo.jsonl
	@echo
	@echo "== shakedown replay pcaps/scenarios/smoke.pcap  (40 s of real clients: 2 humans, 2 allowlisted good bots, bad bots)"
	./target/release/shakedown replay --config pcaps/scenarios/smoke.toml --decisions /tmp/shakedown-demo-decisions.jsonl pcaps/scenarios/smoke.pcap
	@python3 scripts/demo-decisions.py < /tmp/shakedown-demo-decisions.jsonl

test: lint unit-tests

lint:
	scripts/install-deps.sh test
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets --features ja4plus -- -D warnings
	# The fuzz targets (outside the workspace) must keep compiling.
	$(CARGO) check --quiet --manifest-path fingerprints/fuzz/Cargo.toml --bins
	$(CARGO) check --quiet --manifest-path capture/fuzz/Cargo.toml --bins

# The Kafka integration tests need the test broker (tansu, built once and cached).
unit-tests:
	scripts/install-deps.sh test
	scripts/test-broker.sh install
	# A fresh (memory-backed) broker for each run: the Kafka tests read their topics from the start.
	trap 'scripts/test-broker.sh stop' EXIT && \
	    broker=$$(scripts/test-broker.sh start) && \
	    SHAKEDOWN_TEST_KAFKA=$$broker SHAKEDOWN_TEST_TANSU=$${TANSU_ROOT:-/opt/tansu}/bin/tansu $(CARGO) nextest run --workspace --no-fail-fast && \
	    broker=$$(scripts/test-broker.sh start) && \
	    SHAKEDOWN_TEST_KAFKA=$$broker SHAKEDOWN_TEST_TANSU=$${TANSU_ROOT:-/opt/tansu}/bin/tansu $(CARGO) nextest run --workspace --features ja4plus --no-fail-fast

bench: bench-micro bench-large

bench-micro:
	$(CARGO) bench -p shakedown-fingerprints --bench hello
	$(CARGO) bench -p shakedown-capture --bench packets
	$(CARGO) bench --bench scoring
	$(CARGO) bench --bench enforce

# Builds a >= 1 GB capture outside the repo and times shakedown against tcpdump and tshark.
bench-large:
	scripts/install-deps.sh bench
	scripts/bench-large.sh

# Adversarial replays (SYN flood, half-open, reversed 1-byte hellos, conflicting
# overlaps, 16 MB claims) at full scale outside the repo: speed, peak RSS, and
# the legitimate connections inside them (FLOODS_DIR, FLOODS_SCALE, FLOODS_RUNS,
# FLOODS_MAX_FLOWS, FLOODS_RSS_CAP_MB are honoured).
bench-floods:
	scripts/install-deps.sh bench
	scripts/bench-floods.sh

# Live capture under load: tcpreplay over a veth between two namespaces (root).
bench-live:
	scripts/install-deps.sh bench
	cargo build --release
	scripts/bench-live.sh

# Regenerates pcaps/ from real clients in a network namespace (root).
captures:
	pcaps/make-captures.sh

clean:
	$(CARGO) clean

# cargo-fuzz targets, 30 minutes each (FUZZ_SECONDS, FUZZ_PARALLEL; docs/fuzzing.md).
fuzz:
	scripts/fuzz.sh
