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

# Suricata, a comparison point of the benchmark: Debian 12 has it only in
# bookworm-backports (7.0.x), read here from a list of its own so that the
# system's apt sources are left as they are.
if [ "$want" = bench ] && ! command -v suricata >/dev/null; then
    bpo=$(mktemp -d)
    cp /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources "$bpo"/ 2>/dev/null || true
    [ ! -f /etc/apt/sources.list ] || cp /etc/apt/sources.list "$bpo/system.list"
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > "$bpo/backports.sources"
    : > "$bpo/none.list"
    apt_bpo=(-o "Dir::Etc::sourcelist=$bpo/none.list" -o "Dir::Etc::sourceparts=$bpo" -o APT::Get::List-Cleanup=0)
    echo "install-deps: installing suricata from bookworm-backports (optional)"
    if ! { as_root apt-get update -qq "${apt_bpo[@]}" &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${apt_bpo[@]}" suricata libhtp2/bookworm-backports >/dev/null; }; then
        echo "install-deps: suricata not installed; the benchmark goes on without it" >&2
    fi
    rm -rf "$bpo"
fi

if ! command -v cargo >/dev/null; then
    echo "install-deps: cargo not found; install Rust (https://rustup.rs) first" >&2
    exit 1
fi
if [ "$want" = test ] && ! command -v cargo-nextest >/dev/null; then
    echo "install-deps: cargo-nextest not found, installing it"
    cargo install --locked cargo-nextest
fi
