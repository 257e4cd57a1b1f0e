#!/usr/bin/env bash
# Regenerate shakedown's own test captures of real TLS clients.
#
#   sudo pcaps/make-captures.sh            # all clients
#   sudo pcaps/make-captures.sh curl node-fetch   # only these captures (+ derived ones that depend on them)
#
# Everything runs inside a private network namespace ("sdcap" by default) that has only a
# loopback interface and no route out: the TLS server (nginx) and every client talk over
# 127.0.0.1 / ::1 there. Loopback is set to MTU 1500 with TSO/GSO/GRO off so the capture
# holds realistic <= 1514-byte frames. See pcaps/README.md for what each capture is.
#
# Environment knobs: NS (namespace name), PYTHON (interpreter that has requests/httpx/aiohttp
# and ja4plus), CHROMIUM (browser binary), KEEP_WORK=1 (keep the temp dir for debugging),
# CLIENT_TIMEOUT (seconds per client run, default 40).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE
NS=${NS:-sdcap}
PORT=8443
SNI=shop.example
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-40}

log() { printf '\033[1m[make-captures]\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;31m[make-captures] WARNING:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[make-captures] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------ preconditions
[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, tcpdump, iptables): sudo $0"

need() {
    command -v "$1" >/dev/null 2>&1 || die "required tool '$1' not found (${2:-})"
}
need ip "apt-get install iproute2"
need ethtool "apt-get install ethtool"
need tcpdump "apt-get install tcpdump"
need tshark "apt-get install tshark"
need tcprewrite "apt-get install tcpreplay"
need openssl "apt-get install openssl"
need nginx "apt-get install nginx-light (needs the ssl and http_v2 modules)"
need curl "apt-get install curl"
need timeout "coreutils"

# Resolve the Python interpreter to a real path (pyenv shims need $HOME, which we change
# for some clients).
PYTHON=${PYTHON:-python3}
need "$PYTHON" "apt-get install python3"
PYTHON=$("$PYTHON" -c 'import sys; print(sys.executable)')
"$PYTHON" -c 'import ja4plus' 2>/dev/null ||
    die "python package ja4plus missing for $PYTHON (pip install ja4plus==1.4.0, or point PYTHON=/path/to/python3 at an interpreter that has it, e.g. sudo PYTHON=\"$(command -v python3)\" $0); needed by make-expected.py"

CHROMIUM=${CHROMIUM:-}
if [ -z "$CHROMIUM" ]; then
    for c in chromium chromium-browser google-chrome; do
        if command -v "$c" >/dev/null 2>&1; then CHROMIUM=$(command -v "$c"); break; fi
    done
fi

ALL_CAPTURES=(curl openssl-s_client python-requests python-httpx python-aiohttp
    java17-httpclient node-fetch chromium chromium-mss128 curl-ipv6)
if [ $# -gt 0 ]; then SELECTED=("$@"); else SELECTED=("${ALL_CAPTURES[@]}"); fi
for arg in "${SELECTED[@]}"; do
    case " ${ALL_CAPTURES[*]} " in
        *" $arg "*) ;;
        *) die "unknown capture '$arg'; choose from: ${ALL_CAPTURES[*]} (derived copies follow curl and chromium-mss128)" ;;
    esac
done
selected() { local x; for x in "${SELECTED[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }

FAILED=()
DONE=()

# ------------------------------------------------------------------ teardown (always)
WORK=
NGINX_PID=
TCPDUMP_PID=
ns_cleanup() {
    # Every process inside our namespace was started by this script: end them by PID.
    if ip netns list 2>/dev/null | grep -qw "^$NS"; then
        local pids
        pids=$(ip netns pids "$NS" 2>/dev/null || true)
        if [ -n "$pids" ]; then
            log "stopping leftover processes in namespace $NS: $(echo $pids)"
            # shellcheck disable=SC2086
            kill $pids 2>/dev/null || true
            sleep 1
            pids=$(ip netns pids "$NS" 2>/dev/null || true)
            # shellcheck disable=SC2086
            [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
        fi
        ip netns del "$NS" 2>/dev/null || true
        log "deleted network namespace $NS"
    fi
    if [ -d "/etc/netns/$NS" ]; then
        rm -f "/etc/netns/$NS/hosts"
        rmdir "/etc/netns/$NS" 2>/dev/null || true
        rmdir /etc/netns 2>/dev/null || true
    fi
}
teardown() {
    set +e
    if [ -n "$TCPDUMP_PID" ] && kill -0 "$TCPDUMP_PID" 2>/dev/null; then
        kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" 2>/dev/null
    fi
    if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
        log "stopping nginx (pid $NGINX_PID)"
        kill -QUIT "$NGINX_PID"
        for _ in $(seq 1 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$NGINX_PID" 2>/dev/null && kill -9 "$NGINX_PID"
        wait "$NGINX_PID" 2>/dev/null
    fi
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
    teardown
    [ $rc = 0 ] || warn "failed (status $rc); namespace and temp files removed"
    exit $rc
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# A namespace of ours left behind by an interrupted run: remove it first (idempotence).
ns_cleanup

WORK=$(mktemp -d /tmp/shakedown-captures.XXXXXX)
chmod 755 "$WORK"
log "work dir $WORK"

# ------------------------------------------------------------------ namespace
log "creating network namespace $NS (loopback only, no route out)"
ip netns add "$NS"
nsx() { ip netns exec "$NS" "$@"; }
nsx ip link set lo up
nsx ip link set lo mtu 1500
nsx ethtool -K lo tso off gso off gro off
if nsx ip route show default | grep -q .; then die "namespace unexpectedly has a default route"; fi
# Name resolution for clients that use the system resolver (python, node, java):
# ip netns exec bind-mounts /etc/netns/$NS/hosts over /etc/hosts for processes in the namespace.
mkdir -p "/etc/netns/$NS"
printf '127.0.0.1 localhost %s\n::1 localhost ip6-localhost\n' "$SNI" >"/etc/netns/$NS/hosts"
cp "/etc/netns/$NS/hosts" "$WORK/hosts"

# ------------------------------------------------------------------ certificates
log "generating a throwaway CA and a server certificate for $SNI"
(
    cd "$WORK"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=shakedown test CA" \
        -keyout ca.key -out ca.pem \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$SNI" \
        -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:%s,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
        "$SNI" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile server.ext -out server.pem 2>/dev/null
    cat server.pem ca.pem >server-chain.pem
)

# ------------------------------------------------------------------ nginx
log "starting nginx in $NS on 127.0.0.1:$PORT and [::1]:$PORT (TLS 1.2/1.3, h2 + http/1.1)"
mkdir -p "$WORK/nginx/html/api" "$WORK/nginx/logs" "$WORK/nginx/tmp"
cat >"$WORK/nginx/html/index.html" <<'EOF'
<!doctype html>
<html><head><meta charset="utf-8"><title>shop.example</title></head>
<body><h1>shop.example</h1><p>Test page served over TLS for shakedown's captures.</p>
<form action="/api/login" method="post"><input name="user"><input name="password" type="password"></form>
</body></html>
EOF
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log notice;
events { worker_connections 64; }
http {
    access_log $WORK/nginx/logs/access.log;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    types { text/html html; application/json json; }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$PORT ssl http2;
        listen [::1]:$PORT ssl http2;
        server_name $SNI;
        ssl_certificate $WORK/server-chain.pem;
        ssl_certificate_key $WORK/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $WORK/nginx/html;
        location = /api/login {
            default_type application/json;
            return 401 '{"error":"invalid credentials"}\n';
        }
        location / { try_files \$uri \$uri/index.html =404; }
    }
}
EOF
nsx nginx -t -q -e "$WORK/nginx/logs/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" ||
    die "nginx configuration test failed"
ip netns exec "$NS" nginx -e "$WORK/nginx/logs/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
NGINX_PID=$!
up=0
for _ in $(seq 1 50); do
    if nsx curl -s -o /dev/null --cacert "$WORK/ca.pem" --resolve "$SNI:$PORT:127.0.0.1" \
        --max-time 2 "https://$SNI:$PORT/" 2>/dev/null; then up=1; break; fi
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.2
done
[ $up = 1 ] || { cat "$WORK/nginx/logs/error.log" >&2 || true; die "nginx did not come up"; }
log "nginx is up (pid $NGINX_PID)"

# ------------------------------------------------------------------ capture helper
# capture NAME CMD...: tcpdump on lo (port $PORT) around one client run; keeps the pcap as
# $OUT/NAME.pcap if the client succeeded and the capture holds a ClientHello and a ServerHello.
capture() {
    local name=$1; shift
    local pcap="$WORK/$name.pcap" tlog="$WORK/$name.tcpdump.log" clog="$WORK/$name.client.log"
    log "---- $name: $*"
    # (not through a shell function: $! must be the PID of tcpdump itself)
    ip netns exec "$NS" tcpdump -i lo -s 0 -U --immediate-mode -n -Z root -w "$pcap" "tcp port $PORT" 2>"$tlog" &
    TCPDUMP_PID=$!
    local ok=0
    for _ in $(seq 1 100); do
        grep -q "listening on" "$tlog" 2>/dev/null && { ok=1; break; }
        kill -0 "$TCPDUMP_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ $ok != 1 ]; then
        cat "$tlog" >&2
        warn "$name: tcpdump did not start"
        FAILED+=("$name (tcpdump did not start)")
        kill "$TCPDUMP_PID" 2>/dev/null || true; wait "$TCPDUMP_PID" 2>/dev/null || true; TCPDUMP_PID=
        return 0
    fi
    local rc=0
    "$@" >"$clog" 2>&1 || rc=$?
    sleep 1
    kill -INT "$TCPDUMP_PID" 2>/dev/null || true
    wait "$TCPDUMP_PID" 2>/dev/null || true
    TCPDUMP_PID=
    sed 's/^/    | /' "$clog" | tail -n 15 >&2
    if [ $rc != 0 ]; then
        warn "$name: client exited with status $rc; capture NOT kept (see output above)"
        FAILED+=("$name (client exit $rc)")
        return 0
    fi
    local nch nsh
    nch=$(tshark -n -r "$pcap" -o tcp.reassemble_out_of_order:TRUE -Y 'tls.handshake.type == 1' 2>/dev/null | wc -l)
    nsh=$(tshark -n -r "$pcap" -o tcp.reassemble_out_of_order:TRUE -Y 'tls.handshake.type == 2' 2>/dev/null | wc -l)
    if [ "$nch" -lt 1 ] || [ "$nsh" -lt 1 ]; then
        warn "$name: capture has $nch ClientHello(s) and $nsh ServerHello(s); NOT kept"
        FAILED+=("$name (no full handshake captured)")
        return 0
    fi
    cp "$pcap" "$OUT/$name.pcap"
    grep '^version: ' "$clog" | head -n 1 | sed "s/^version: /$name\t/" >>"$WORK/versions.tsv" || true
    log "$name: kept $OUT/$name.pcap ($(stat -c %s "$pcap") bytes, $nch ClientHello(s))"
    DONE+=("$name")
}

# Run a client inside the namespace, bounded in time.
nsrun() { ip netns exec "$NS" timeout -k 5 "$CLIENT_TIMEOUT" "$@"; }

BASE="https://$SNI:$PORT/"

# ------------------------------------------------------------------ clients
# Each client function prints its version and one line per request; a non-zero status
# (from any step: note the explicit '|| return') marks the capture as failed.
CURL_OPTS=(-sS --cacert "$WORK/ca.pem" -o /dev/null)
CURL_W='%{method} %{url_effective} -> %{http_code} HTTP/%{http_version} via %{remote_ip}:%{remote_port}\n'

client_curl() {
    echo "version: $(curl --version | head -n 1)"
    # connection 1: HTTP/2 (ALPN h2,http/1.1), two requests on it
    nsrun curl "${CURL_OPTS[@]}" --resolve "$SNI:$PORT:127.0.0.1" -w "$CURL_W" \
        "$BASE" -o /dev/null "${BASE}api/login" || return
    # connection 2: --http1.1 (ALPN http/1.1 only), a POST
    nsrun curl "${CURL_OPTS[@]}" --http1.1 --resolve "$SNI:$PORT:127.0.0.1" \
        -H 'content-type: application/json' -d '{"user":"alice","password":"wrong"}' \
        -w "$CURL_W" "${BASE}api/login"
}

client_curl_ipv6() {
    echo "version: $(curl --version | head -n 1)"
    nsrun curl "${CURL_OPTS[@]}" --resolve "$SNI:$PORT:[::1]" -w "$CURL_W" \
        "$BASE" -o /dev/null "${BASE}api/login"
}

client_openssl() {
    echo "version: $(openssl version)"
    local v out
    # connection 1: defaults (TLS 1.3); connection 2: -tls1_2. One HTTP/1.1 GET each.
    for v in -tls1_3 -tls1_2; do
        [ "$v" = -tls1_3 ] && v=""
        out=$(printf 'GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$SNI" |
            nsrun openssl s_client -connect "127.0.0.1:$PORT" -servername "$SNI" \
                -CAfile "$WORK/ca.pem" -verify_return_error -ign_eof $v 2>&1) || { echo "$out"; return 1; }
        printf '%s\n' "$out" | grep -E '^(New, |Verify return code|HTTP/1.1 )' || true
    done
}

client_python() { # LIB
    nsrun "$PYTHON" "$HERE/clients/python_clients.py" "$1" "$BASE" "$WORK/ca.pem"
}

client_java() {
    nsrun java -Djavax.net.ssl.trustStore="$WORK/truststore.p12" \
        -Djavax.net.ssl.trustStorePassword=changeit -Djavax.net.ssl.trustStoreType=PKCS12 \
        -Djdk.net.hosts.file="$WORK/hosts" \
        "$HERE/clients/Java17HttpClient.java" "$BASE"
}

client_node() {
    NODE_EXTRA_CA_CERTS="$WORK/ca.pem" nsrun node "$HERE/clients/node-fetch.mjs" "$BASE"
}

client_chromium() { # PROFILE_DIR (fresh)
    local prof=$1 dom
    rm -rf "$prof"; mkdir -p "$prof/home"
    echo "version: $("$CHROMIUM" --version 2>/dev/null)"
    # HOME: keep chromium's ~/.pki and caches inside the throwaway profile
    dom=$(HOME="$prof/home" nsrun "$CHROMIUM" \
        --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$prof" --ignore-certificate-errors \
        --host-resolver-rules="MAP $SNI 127.0.0.1" \
        --dump-dom "$BASE" 2>"$prof.stderr.log") || { tail -n 20 "$prof.stderr.log"; return 1; }
    printf '%s\n' "$dom" | grep -o '<h1>[^<]*</h1>' || { echo "page not loaded"; tail -n 20 "$prof.stderr.log"; return 1; }
}

if selected curl; then capture curl client_curl; fi
if selected openssl-s_client; then capture openssl-s_client client_openssl; fi

for lib in requests httpx aiohttp; do
    if selected "python-$lib"; then
        if "$PYTHON" -c "import $lib" 2>/dev/null; then
            capture "python-$lib" client_python "$lib"
        else
            warn "python-$lib: module $lib not importable by $PYTHON (pip install $lib); SKIPPED"
            FAILED+=("python-$lib (module missing)")
        fi
    fi
done

if selected java17-httpclient; then
    if command -v java >/dev/null && command -v keytool >/dev/null; then
        keytool -importcert -noprompt -alias shakedown-ca -file "$WORK/ca.pem" \
            -keystore "$WORK/truststore.p12" -storetype PKCS12 -storepass changeit >/dev/null 2>&1
        capture java17-httpclient client_java
    else
        warn "java17-httpclient: java/keytool not found (apt-get install openjdk-17-jdk-headless); SKIPPED"
        FAILED+=("java17-httpclient (java missing)")
    fi
fi

if selected node-fetch; then
    if command -v node >/dev/null; then
        capture node-fetch client_node
    else
        warn "node-fetch: node not found (apt-get install nodejs); SKIPPED"
        FAILED+=("node-fetch (node missing)")
    fi
fi

if selected chromium || selected chromium-mss128; then
    if [ -z "$CHROMIUM" ]; then
        warn "chromium: no chromium binary found (apt-get install chromium); chromium captures SKIPPED"
        if selected chromium; then FAILED+=("chromium (not installed)"); fi
        if selected chromium-mss128; then FAILED+=("chromium-mss128 (not installed)"); fi
    else
        if selected chromium; then capture chromium client_chromium "$WORK/chromium-profile-1"; fi
        if selected chromium-mss128; then
            # The server's SYN-ACK advertises MSS 128, so the client must cut its ClientHello
            # into <= 128-byte segments (116 bytes of payload with the timestamp option).
            log "forcing the server-advertised MSS to 128 (iptables TCPMSS on SYN-ACKs from port $PORT)"
            if command -v iptables >/dev/null &&
                nsx iptables -t mangle -A OUTPUT -p tcp --sport "$PORT" --tcp-flags SYN,ACK SYN,ACK \
                    -j TCPMSS --set-mss 128; then
                mss_undo=(iptables -t mangle -D OUTPUT -p tcp --sport "$PORT" --tcp-flags SYN,ACK SYN,ACK
                    -j TCPMSS --set-mss 128)
            else
                warn "iptables TCPMSS not available; falling back to 'advmss 128' on the local 127.0.0.1 route"
                nsx ip route replace local 127.0.0.1 dev lo table local advmss 128
                mss_undo=(ip route replace local 127.0.0.1 dev lo table local)
            fi
            capture chromium-mss128 client_chromium "$WORK/chromium-profile-2"
            nsx "${mss_undo[@]}" || true
        fi
    fi
fi

if selected curl-ipv6; then capture curl-ipv6 client_curl_ipv6; fi

# ------------------------------------------------------------------ derived copies
if selected curl && [ -f "$OUT/curl.pcap" ]; then
    log "---- curl-vlan100: 802.1Q tag 100 added to every frame of curl.pcap (tcprewrite)"
    tcprewrite --enet-vlan=add --enet-vlan-tag=100 --enet-vlan-cfi=0 --enet-vlan-pri=0 \
        --infile="$OUT/curl.pcap" --outfile="$OUT/curl-vlan100.pcap"
    DONE+=("curl-vlan100")
fi
if selected chromium-mss128 && [ -f "$OUT/chromium-mss128.pcap" ]; then
    log "---- chromium-mss128-reordered: ClientHello segments reversed + one retransmitted (reorder.py)"
    if "$PYTHON" "$HERE/reorder.py" "$OUT/chromium-mss128.pcap" "$OUT/chromium-mss128-reordered.pcap"; then
        DONE+=("chromium-mss128-reordered")
    else
        warn "reorder.py failed"; FAILED+=("chromium-mss128-reordered (reorder.py failed)")
    fi
fi

# ------------------------------------------------------------------ client versions
# pcaps/client-versions.tsv: capture name, client version as reported by the client itself.
# Entries of captures not remade in this run are kept.
for d in "${DONE[@]}"; do
    case $d in
        curl-vlan100) printf 'curl-vlan100\tderived from curl.pcap (tcprewrite)\n' >>"$WORK/versions.tsv" ;;
        chromium-mss128-reordered) printf 'chromium-mss128-reordered\tderived from chromium-mss128.pcap (reorder.py)\n' >>"$WORK/versions.tsv" ;;
    esac
done
touch "$WORK/versions.tsv"
{
    if [ -f "$OUT/client-versions.tsv" ]; then
        awk -F'\t' 'NR == FNR { done[$1] = 1; next } !($1 in done)' "$WORK/versions.tsv" "$OUT/client-versions.tsv"
    fi
    cat "$WORK/versions.tsv"
} | sort -u -t$'\t' -k1,1 >"$WORK/versions.merged"
cp "$WORK/versions.merged" "$OUT/client-versions.tsv"

# ------------------------------------------------------------------ teardown, then expected values
teardown
trap - EXIT INT TERM

log "computing expected values (make-expected.py: tshark + ja4plus)"
"$PYTHON" "$HERE/make-expected.py" --dir "$OUT"

log "summary"
tshark_summary() { # per capture: ClientHello segment counts
    local f
    for f in "$OUT"/*.pcap; do
        printf '  %-34s %7d bytes  ClientHello TCP segments: %s\n' "$(basename "$f")" "$(stat -c %s "$f")" \
            "$(tshark -n -r "$f" -o tcp.reassemble_out_of_order:TRUE -Y 'tls.handshake.type == 1' \
                -T fields -e tcp.reassembled.length -e tcp.segment.count 2>/dev/null |
                awk -F'\t' '{printf "%s%s", sep, ($2 == "" ? 1 : $2); sep=","}')" >&2
    done
}
tshark_summary
log "captured: ${DONE[*]:-none}"
if [ ${#FAILED[@]} -gt 0 ]; then
    for f in "${FAILED[@]}"; do warn "NOT captured: $f"; done
    exit 2
fi
log "all captures made"
