#!/usr/bin/env bash
# Installs what building and testing shakedown needs on Debian 12, and nothing
# that is already there. Usage: scripts/install-deps.sh [build|test|bench]
set -euo pipefail
want=${1:-build}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "install-deps: need root (or sudo) to run: $*" >&2; exit 1
    fi
}

need_pkgs=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

for p in libpcap-dev pkg-config gcc g++ make libssl-dev zlib1g-dev; do have_pkg "$p" || need_pkgs+=("$p"); done
if [ "$want" = bench ]; then
    for p in tcpdump tshark time bc libndpi-bin; do have_pkg "$p" || need_pkgs+=("$p"); done
fi

if [ ${#need_pkgs[@]} -gt 0 ]; then
    echo "install-deps: installing ${need_pkgs[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
    echo "install-deps: cargo not found; install Rust (https://rustup.rs) first" >&2
    exit 1
fi
if [ "$want" = test ] && ! command -v cargo-nextest >/dev/null; then
    echo "install-deps: cargo-nextest not found, installing it"
    cargo install --locked cargo-nextest
fi
