#!/usr/bin/env bash
# Capture a labelled traffic scenario (humans, good bots, bad bots; all real TLS clients) for
# training and evaluating shakedown's detector.
#
#   sudo pcaps/scenarios/make-scenario.sh NAME [--seed N] [--duration SECONDS] [--out DIR]
#
# Writes DIR/NAME.pcap (server-side capture, tcp port 443) and DIR/NAME.labels.json (which
# source address is which actor). Default DIR: this directory; seed 1; duration 150 s.
#
# Topology (all private, no route out): network namespace $NS_SRV runs nginx on 10.99.0.1:443
# (TLS 1.2/1.3, h2 + http/1.1, SNI shop.example, self-signed ECDSA cert); namespace $NS_CLI
# holds every client, each bound to its own 10.77.x.y/32 address on the client end of a veth
# pair. tcpdump runs on the server end of the veth. MTU 1500 and TSO/GSO/GRO/checksum offloads
# off on both ends, so frames are <= 1514 bytes as on a real wire. See README.md here.
#
# Environment knobs: NS_SRV, NS_CLI (namespace names), PYTHON (interpreter with requests,
# httpx), CHROMIUM, FIREFOX (binaries; FIREFOX=none to skip Firefox), SCENARIO_DEPS (where
# puppeteer-core and curl_cffi are installed on first use, default
# /tmp/shakedown-scenario-deps), NO_INSTALL=1 (fail instead of installing them), KEEP_WORK=1.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS_SRV=${NS_SRV:-sdscn-srv}
NS_CLI=${NS_CLI:-sdscn-cli}
VETH_SRV=sdscn-sv0
VETH_CLI=sdscn-cl0
SERVER_IP=10.99.0.1
CLIENT_GW=10.99.0.2
SNI=shop.example
SCENARIO_DEPS=${SCENARIO_DEPS:-/tmp/shakedown-scenario-deps}
PUPPETEER_PIN=puppeteer-core@25.16.0
CURL_CFFI_PIN=curl_cffi==0.16.3

log() { printf '\033[1m[make-scenario]\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;31m[make-scenario] WARNING:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[make-scenario] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }
usage() {
    sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ------------------------------------------------------------------ arguments
NAME=
SEED=1
DURATION=150
OUT=$HERE
while [ $# -gt 0 ]; do
    case $1 in
        --seed) [ $# -ge 2 ] || usage; SEED=$2; shift 2 ;;
        --duration) [ $# -ge 2 ] || usage; DURATION=$2; shift 2 ;;
        --out) [ $# -ge 2 ] || usage; OUT=$2; shift 2 ;;
        -h | --help) usage ;;
        -*) printf 'unknown option %s\n' "$1" >&2; usage ;;
        *) [ -z "$NAME" ] || usage; NAME=$1; shift ;;
    esac
done
[ -n "$NAME" ] || usage
[[ $NAME =~ ^[A-Za-z0-9._-]+$ ]] || die "NAME must be [A-Za-z0-9._-]+"
[[ $SEED =~ ^[0-9]+$ ]] || die "--seed must be a non-negative integer"
[[ $DURATION =~ ^[0-9]+$ ]] && [ "$DURATION" -ge 20 ] && [ "$DURATION" -le 1800 ] ||
    die "--duration must be an integer number of seconds in 20..1800"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# ------------------------------------------------------------------ preconditions
# No proxy may ever carry this traffic (the namespaces have no route out anyway).
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, tcpdump): sudo $0 $NAME ..."
need() { command -v "$1" >/dev/null 2>&1 || die "required tool '$1' not found (${2:-})"; }
need ip "apt-get install iproute2"
need ethtool "apt-get install ethtool"
need tcpdump "apt-get install tcpdump"
need tshark "apt-get install tshark"
need nginx "apt-get install nginx-light (with the ssl and http_v2 modules)"
need openssl "apt-get install openssl"
need curl "apt-get install curl"
need gcc "apt-get install gcc libc6-dev (to build the connect() shim)"
need node "apt-get install nodejs (>= 18)"
need npm "apt-get install npm"
need timeout "coreutils"
PYTHON=${PYTHON:-python3}
need "$PYTHON" "apt-get install python3"
PYTHON=$("$PYTHON" -c 'import sys; print(sys.executable)')
for m in requests httpx; do
    "$PYTHON" -c "import $m" 2>/dev/null || die "python module '$m' missing for $PYTHON (pip install $m)"
done
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] && [ -x "$CHROMIUM" ] || die "chromium not found (apt-get install chromium)"
FIREFOX=${FIREFOX:-$(command -v firefox-esr || true)}
if [ "$FIREFOX" = none ] || [ -z "$FIREFOX" ]; then
    warn "firefox-esr not found (apt-get install firefox-esr): the Firefox humans will run Chromium instead"
    FIREFOX=
fi

# puppeteer-core (npm) and curl_cffi (PyPI) live in $SCENARIO_DEPS, installed on first use.
mkdir -p "$SCENARIO_DEPS"
if [ ! -f "$SCENARIO_DEPS/node_modules/puppeteer-core/package.json" ]; then
    [ "${NO_INSTALL:-0}" != 1 ] || die "puppeteer-core missing in $SCENARIO_DEPS (cd $SCENARIO_DEPS && PUPPETEER_SKIP_DOWNLOAD=1 npm install $PUPPETEER_PIN)"
    log "installing $PUPPETEER_PIN into $SCENARIO_DEPS (npm; no browser download)"
    (cd "$SCENARIO_DEPS" && PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-audit --no-fund --silent "$PUPPETEER_PIN") ||
        die "npm install $PUPPETEER_PIN failed"
fi
if ! PYTHONPATH="$SCENARIO_DEPS/py" "$PYTHON" -c 'import curl_cffi' 2>/dev/null; then
    [ "${NO_INSTALL:-0}" != 1 ] || die "curl_cffi missing ($PYTHON -m pip install --target $SCENARIO_DEPS/py $CURL_CFFI_PIN)"
    log "installing $CURL_CFFI_PIN into $SCENARIO_DEPS/py (pip)"
    "$PYTHON" -m pip install -q --disable-pip-version-check --target "$SCENARIO_DEPS/py" "$CURL_CFFI_PIN" ||
        die "pip install $CURL_CFFI_PIN failed"
fi
export PYTHONPATH="$SCENARIO_DEPS/py${PYTHONPATH:+:$PYTHONPATH}"

# ------------------------------------------------------------------ teardown (always)
WORK=
NGINX_PID=
TCPDUMP_PID=
ACTOR_PIDS=()
stop_pid() { # PID [SIGNAL]: signal one process we started, wait up to 5 s, then SIGKILL
    local pid=$1 sig=${2:-TERM}
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -"$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}
ns_cleanup() {
    local ns pids
    for ns in "$NS_CLI" "$NS_SRV"; do
        if ip netns list 2>/dev/null | grep -qw "^$ns"; then
            # every process in our namespaces was started by this script: end them by PID
            pids=$(ip netns pids "$ns" 2>/dev/null || true)
            if [ -n "$pids" ]; then
                log "stopping leftover processes in namespace $ns: $(echo $pids)"
                # shellcheck disable=SC2086
                kill $pids 2>/dev/null || true
                sleep 1
                pids=$(ip netns pids "$ns" 2>/dev/null || true)
                # shellcheck disable=SC2086
                [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
            fi
            ip netns del "$ns" 2>/dev/null || true
            log "deleted network namespace $ns"
        fi
        if [ -d "/etc/netns/$ns" ]; then
            rm -f "/etc/netns/$ns/hosts"
            rmdir "/etc/netns/$ns" 2>/dev/null || true
        fi
    done
    rmdir /etc/netns 2>/dev/null || true
}
teardown() {
    set +e
    local p
    for p in "${ACTOR_PIDS[@]}"; do stop_pid "$p"; done
    ACTOR_PIDS=()
    stop_pid "$TCPDUMP_PID" INT
    TCPDUMP_PID=
    if [ -n "$NGINX_PID" ]; then log "stopping nginx (pid $NGINX_PID)"; stop_pid "$NGINX_PID" QUIT; fi
    NGINX_PID=
    ns_cleanup
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "${KEEP_WORK:-0}" = 1 ]; then log "kept work dir $WORK"; else rm -rf "$WORK"; fi
    fi
    WORK=
    set -e
}
on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    teardown
    [ $rc = 0 ] || warn "failed (status $rc); namespaces, processes and temp files removed"
    exit $rc
}
trap on_exit EXIT
trap 'exit 130' INT TERM

ns_cleanup # leftovers of an interrupted run
WORK=$(mktemp -d /tmp/shakedown-scenario.XXXXXX)
chmod 755 "$WORK"
log "scenario $NAME: seed $SEED, duration ${DURATION}s, out $OUT, work dir $WORK"

# ------------------------------------------------------------------ plan
"$PYTHON" "$HERE/actors.py" plan "$NAME" "$SEED" "$DURATION" "$WORK/plan.json"
mapfile -t ADDRS < <("$PYTHON" -c 'import json,sys; [print(ip) for a in json.load(open(sys.argv[1]))["actors"] for ip in a["ips"]]' "$WORK/plan.json")
mapfile -t PY_ACTORS < <("$PYTHON" -c 'import json,sys; [print(a["id"]) for a in json.load(open(sys.argv[1]))["actors"] if a["runner"] == "python"]' "$WORK/plan.json")
N_BROWSERS=$("$PYTHON" -c 'import json,sys; print(sum(a["runner"] == "browser" for a in json.load(open(sys.argv[1]))["actors"]))' "$WORK/plan.json")
log "plan: ${#ADDRS[@]} client addresses, ${#PY_ACTORS[@]} python actors, $N_BROWSERS browser actors"

# ------------------------------------------------------------------ namespaces
log "creating namespaces $NS_SRV ($SERVER_IP) and $NS_CLI (${#ADDRS[@]} addresses in 10.77.0.0/16), veth pair, no route out"
ip netns add "$NS_SRV"
ip netns add "$NS_CLI"
ip link add "$VETH_SRV" type veth peer name "$VETH_CLI"
ip link set "$VETH_SRV" netns "$NS_SRV"
ip link set "$VETH_CLI" netns "$NS_CLI"
srv() { ip netns exec "$NS_SRV" "$@"; }
cli() { ip netns exec "$NS_CLI" "$@"; }
for ns in "$NS_SRV" "$NS_CLI"; do ip -n "$ns" link set lo up; done
ip -n "$NS_SRV" addr add "$SERVER_IP/24" dev "$VETH_SRV"
ip -n "$NS_CLI" addr add "$CLIENT_GW/24" dev "$VETH_CLI"
ip -n "$NS_SRV" link set "$VETH_SRV" mtu 1500 up
ip -n "$NS_CLI" link set "$VETH_CLI" mtu 1500 up
srv ethtool -K "$VETH_SRV" tso off gso off gro off tx off rx off >/dev/null 2>&1 ||
    srv ethtool -K "$VETH_SRV" tso off gso off gro off
cli ethtool -K "$VETH_CLI" tso off gso off gro off tx off rx off >/dev/null 2>&1 ||
    cli ethtool -K "$VETH_CLI" tso off gso off gro off
ip -n "$NS_SRV" route add 10.77.0.0/16 via "$CLIENT_GW"
{
    for a in "${ADDRS[@]}"; do echo "addr add $a/32 dev $VETH_CLI"; done
} | ip -n "$NS_CLI" -batch -
for ns in "$NS_SRV" "$NS_CLI"; do
    if ip -n "$ns" route show default | grep -q .; then die "namespace $ns unexpectedly has a default route"; fi
done
# The client namespace resolves shop.example to the server (ip netns exec bind-mounts this file
# over /etc/hosts for processes in the namespace only).
mkdir -p "/etc/netns/$NS_CLI"
printf '127.0.0.1 localhost\n%s %s\n' "$SERVER_IP" "$SNI" >"/etc/netns/$NS_CLI/hosts"

# ------------------------------------------------------------------ certificate, site, nginx
log "self-signed ECDSA P-256 certificate for $SNI; generating the shop (site.py)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3 -subj "/CN=$SNI" \
    -addext "subjectAltName=DNS:$SNI,IP:$SERVER_IP" -keyout "$WORK/server.key" -out "$WORK/server.pem" 2>/dev/null
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp" "$WORK/results"
"$PYTHON" "$HERE/site.py" "$WORK/nginx/html"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    log_format sd '\$remote_addr \$msec \$request_method "\$request_uri" \$status \$body_bytes_sent \$server_protocol \$connection \$connection_requests "\$http_user_agent"';
    access_log $WORK/nginx/logs/access.log sd;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    types { text/html html; application/json json; text/css css; application/javascript js;
            image/png png; image/x-icon ico; }
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 75s;
    gzip on;
    gzip_types text/css application/javascript application/json;
    gzip_min_length 1024;
    gzip_vary on;
    server_tokens off;
    server {
        listen $SERVER_IP:443 ssl http2 backlog=4096;
        server_name $SNI;
        ssl_certificate $WORK/server.pem;
        ssl_certificate_key $WORK/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        ssl_session_timeout 1h;
        root $WORK/nginx/html;
        location = / { try_files /index.html =404; }
        location = /login { try_files /login.html =404; }
        location ~ "^/products/([0-9]{1,4})\$" { try_files /products/\$1.html =404; }
        location = /health { default_type text/plain; return 200 "ok\n"; }
        location = /api/login {
            default_type application/json;
            return 401 '{"error":"invalid credentials"}\n';
        }
        location = /api/account {
            default_type application/json;
            add_header Cache-Control no-store;
            try_files /api/account.json =404;
        }
        location = /api/products {
            default_type application/json;
            if (\$arg_page !~ "^[0-9]{1,4}\$") { return 400 '{"error":"bad page"}\n'; }
            try_files /api/products/page-\$arg_page.json =404;
        }
        location /static/ { expires 1h; }
        location = /favicon.ico { expires 1d; }
        location / { return 404; }
    }
}
EOF
srv nginx -t -q -e "$WORK/nginx/logs/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>/dev/null ||
    { srv nginx -t -e "$WORK/nginx/logs/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf"; die "nginx configuration test failed"; }
ip netns exec "$NS_SRV" nginx -e "$WORK/nginx/logs/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>/dev/null &
NGINX_PID=$!
up=0
for _ in $(seq 1 50); do
    if cli curl -s -o /dev/null --cacert "$WORK/server.pem" --max-time 2 "https://$SNI/health" 2>/dev/null; then up=1; break; fi
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.2
done
[ $up = 1 ] || { cat "$WORK/nginx/logs/error.log" >&2 || true; die "nginx did not come up"; }
: >"$WORK/nginx/logs/access.log" # drop the readiness probe (it came from $CLIENT_GW, before the capture)
log "nginx is up (pid $NGINX_PID)"

# ------------------------------------------------------------------ connect() shim
gcc -shared -fPIC -O2 -Wall -o "$WORK/connect-bind.so" "$HERE/connect-bind.c" -ldl ||
    die "could not build the connect() shim (apt-get install gcc libc6-dev)"
chmod 755 "$WORK/connect-bind.so"
# check it: curl without --interface must come from the shim's address
probe=${ADDRS[0]}
got=$(cli env LD_PRELOAD="$WORK/connect-bind.so" SHIM_BIND_ADDR="$probe" curl -s -o /dev/null \
    --cacert "$WORK/server.pem" --max-time 5 -w '%{local_ip}' "https://$SNI/health" || true)
[ "$got" = "$probe" ] || die "the connect() shim does not work (got source '$got', wanted $probe)"
: >"$WORK/nginx/logs/access.log"

# ------------------------------------------------------------------ capture
PCAP="$WORK/$NAME.pcap"
log "starting tcpdump on $VETH_SRV (server side), filter 'tcp port 443'"
ip netns exec "$NS_SRV" tcpdump -i "$VETH_SRV" -s 0 -U --immediate-mode -n -Z root -B 16384 \
    -w "$PCAP" 'tcp port 443' 2>"$WORK/tcpdump.log" &
TCPDUMP_PID=$!
ok=0
for _ in $(seq 1 100); do
    grep -q "listening on" "$WORK/tcpdump.log" 2>/dev/null && { ok=1; break; }
    kill -0 "$TCPDUMP_PID" 2>/dev/null || break
    sleep 0.1
done
[ $ok = 1 ] || { cat "$WORK/tcpdump.log" >&2; die "tcpdump did not start"; }
sleep 0.5

# ------------------------------------------------------------------ actors
T0=$(date +%s.%N)
export SCENARIO_T0=$T0 SCENARIO_CA="$WORK/server.pem" SCENARIO_SHIM="$WORK/connect-bind.so" SCENARIO_WORK="$WORK"
LIMIT=$((DURATION + 45)) # hard bound per actor process (they stop by themselves at T0 + DURATION)
log "T0 $(date -u -d "@$T0" +%FT%T.%3NZ): starting the actors for ${DURATION}s"
if [ "$N_BROWSERS" -gt 0 ]; then
    ip netns exec "$NS_CLI" env NODE_PATH="$SCENARIO_DEPS/node_modules" CHROMIUM="$CHROMIUM" FIREFOX="$FIREFOX" \
        timeout -k 10 "$LIMIT" node "$HERE/browsers.cjs" "$WORK/plan.json" "$WORK/results" \
        >"$WORK/browsers.log" 2>&1 &
    ACTOR_PIDS+=($!)
fi
for a in "${PY_ACTORS[@]}"; do
    ip netns exec "$NS_CLI" timeout -k 10 "$LIMIT" "$PYTHON" "$HERE/actors.py" run "$WORK/plan.json" "$a" "$WORK/results" \
        >"$WORK/actor-$a.log" 2>&1 &
    ACTOR_PIDS+=($!)
done
# progress while they run
end=$(( $(date +%s) + LIMIT + 15 ))
while :; do
    alive=0
    for p in "${ACTOR_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
    [ $alive -gt 0 ] || break
    [ "$(date +%s)" -lt $end ] || { warn "actors still running after ${LIMIT}s; stopping them"; break; }
    el=$(awk -v t0="$T0" -v now="$(date +%s.%N)" 'BEGIN { printf "%d", now - t0 }')
    log "+${el}s: $alive actor process(es) running, $(wc -l <"$WORK/nginx/logs/access.log") requests logged, pcap $(stat -c %s "$PCAP") bytes"
    sleep 10
done
failed=()
for i in "${!ACTOR_PIDS[@]}"; do
    rc=0
    wait "${ACTOR_PIDS[$i]}" || rc=$?
    [ $rc = 0 ] || failed+=("pid ${ACTOR_PIDS[$i]} rc $rc")
done
ACTOR_PIDS=()
sleep 2
stop_pid "$TCPDUMP_PID" INT
TCPDUMP_PID=
grep -h -E 'done:|error|attempts' "$WORK"/actor-*.log "$WORK/browsers.log" 2>/dev/null | sed 's/^/    | /' >&2 || true
[ ${#failed[@]} = 0 ] || warn "some actor processes failed: ${failed[*]} (their logs: KEEP_WORK=1)"

# ------------------------------------------------------------------ labels, output
log "writing labels (labels.py: plan + actor results + nginx log + tshark)"
cp "$PCAP" "$OUT/$NAME.pcap"
"$PYTHON" "$HERE/labels.py" "$WORK/plan.json" "$WORK/results" "$WORK/nginx/logs/access.log" "$OUT/$NAME.pcap" \
    "$T0" "$OUT/$NAME.labels.json"
log "wrote $OUT/$NAME.pcap ($(stat -c %s "$OUT/$NAME.pcap") bytes) and $OUT/$NAME.labels.json"
[ ${#failed[@]} = 0 ] || exit 3
