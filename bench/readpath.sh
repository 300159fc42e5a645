#!/usr/bin/env bash
# bench/readpath.sh - the read path's capacity side by side with nginx (issue 11), one run,
# same machine, same files: requests/s and p99 for
#   304      the idle check: GET /metalink with If-None-Match (each server's own ETag)
#   metalink GET /metalink, 200
#   repomd   GET .../repodata/repomd.xml, 200
#   package  GET .../Packages/.../*.rpm (PKG_BYTES), 200
#   metalink-https-full  the metalink over HTTPS with a full handshake per connection
#            (openssl s_time -new: no session resumption, as from a fresh dnf or curl
#            process; CPU per connection compared, conns/s bound by the clients)
# with a NEW CONNECTION PER REQUEST (wrk -H 'Connection: close'), over plain HTTP and
# over HTTPS (a new TLS handshake each; wrk resumes its previous session where the
# server offers resumption, as nginx and hotpush do: no certificate signature then,
# but the key exchange and the key schedule), at
#   origin   `hotpush serve` (metalink and repomd from memory; `[tls]` for https)
#   partner  `hotpush receive` (public plain-HTTP listener; https on its push listener)
#   nginx    the partner's tree (hard links, same bytes) and a copy of the metalink
# and the ratios hotpush/nginx, also of each server's CPU time per request (user +
# system from /proc: the cost that decides throughput on shared cores).
# wrk -t2 -c$CONNS -d${SECS}s --latency; each cell is the median of REPEAT runs
# (req/s, p99 and CPU each), the three servers taking turns.
#
# Usage: bench/readpath.sh   (as root; env: HOTPUSH=target/release/hotpush, SECS=5, CLIENTS=2,
#                             CONNS=50, PKG_BYTES=2097152, REPEAT=3, KEY=ec (P-256) or
#                             rsa (2048) for the certificate hotpush's origin and nginx
#                             share, ROWS="304-https metalink-http ..." to measure only
#                             those, KEEP=1 keeps the work dir)
# Loopback only ([::1]). Takes about 13 minutes with every row and REPEAT=3.
set -u -o pipefail
source "$(dirname "$0")/lib.sh"

SECS=${SECS:-5}
CONNS=${CONNS:-50}
PKG_BYTES=${PKG_BYTES:-2097152}
REPEAT=${REPEAT:-3}
CLIENTS=${CLIENTS:-2}
KEY=${KEY:-ec}
ROWS=${ROWS:-}
need rpmbuild rpmsign gpg wrk curl openssl python3
[ -x /usr/sbin/nginx ] || die "nginx not found at /usr/sbin/nginx; hint: apt-get install nginx-light"

echo "== hotpush read path vs nginx ($(date -u +%FT%TZ), $(cpus) cpus, load $(cut -d" " -f1-3 /proc/loadavg), $("$HOTPUSH" --version 2>/dev/null), $(/usr/sbin/nginx -v 2>&1))"

# --- a package, keys, a certificate for [::1] ------------------------------------
make_gpg "$WORK/gnupg-pkg" pkg@bench.invalid rsa2048
build_rpms "$WORK/rpms" benchpkg 1.0 1 "$PKG_BYTES"
sign_rpms "$WORK/gnupg-pkg" pkg@bench.invalid "$WORK/rpms"/*.rpm
RPM=$(ls "$WORK/rpms"/*.rpm | head -1)
TLS="$WORK/tls"; mkdir -p "$TLS"
case $KEY in
  ec) NEWKEY=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) ;;
  rsa) NEWKEY=(-newkey rsa:2048) ;;
  *) die "KEY=$KEY: use ec or rsa" ;;
esac
openssl req -x509 "${NEWKEY[@]}" -nodes -days 2 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:::1" \
  -keyout "$TLS/key.pem" -out "$TLS/cert.pem" 2>/dev/null || die "openssl failed"

# --- a partner --------------------------------------------------------------------
RX="$WORK/rx"; mkdir -p "$RX"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$RX/secret"; chmod 600 "$RX/secret"
RUST_LOG=warn "$HOTPUSH" receive --listen '[::1]:0' --public-listen '[::1]:0' --secret-file "$RX/secret" \
  --data-dir "$RX/data" >"$RX/out.log" 2>"$RX/err.log" &
track $!; RX_PID=$!
for _ in $(seq 1 200); do grep -qs '^public ' "$RX/data/listening" && break; sleep 0.05; done
grep -qs '^public ' "$RX/data/listening" || die "hotpush receive did not start: $(tail -5 "$RX/err.log")"
RX_PUSH=$(awk '$1 == "push" { print $2 }' "$RX/data/listening")
RX_PUBLIC=$(awk '$1 == "public" { print $2 }' "$RX/data/listening")
cat > "$WORK/mirrors.toml" <<EOF
[[mirror]]
name = "partner"
public_url = "$RX_PUBLIC/pub"
method = "https"
push_url = "$RX_PUSH"
secret_file = "$RX/secret"
ca_file = "$RX/data/tls/cert.pem"
EOF

# --- the origin, plain and HTTPS ------------------------------------------------------
OPORT=$(free_port); OTLS=$(free_port)
O="$WORK/origin"; mkdir -p "$O"
ORIGIN_URL="http://[::1]:$OPORT"; ORIGIN_CONFIG="$O/hotpush.toml"
cat > "$ORIGIN_CONFIG" <<EOF
data_dir = "$O/data"
listen = ["[::1]:$OPORT"]
public_url = "$ORIGIN_URL"

[repos]
channel = "critical"
releases = ["43"]
arches = ["x86_64"]

[intake]
trusted_keys = ["$WORK/gnupg-pkg.pub.asc"]
package_bytes_max = 52428800

[tls]
cert_file = "$TLS/cert.pem"
key_file = "$TLS/key.pem"
listen = ["[::1]:$OTLS"]
EOF
RUST_LOG=warn "$HOTPUSH" serve --config "$ORIGIN_CONFIG" --mirrors "$WORK/mirrors.toml" \
  >"$O/out.log" 2>"$O/err.log" &
track $!; O_PID=$!
wait_http "$ORIGIN_URL/api/v1/status" 30
make_token "$O"
"$HOTPUSH" push --server "$ORIGIN_URL" --token-file "$O/bench.token" --advisory CRIT-2026-0900 \
  --severity critical --summary "read path bench" "$RPM" >"$O/push.log" 2>&1 \
  || die "push failed: $(tail -5 "$O/push.log")"

ML="/metalink?repo=critical-f43&arch=x86_64"
REPOMD="/pub/critical/43/x86_64/repodata/repomd.xml"
PKG="/pub/critical/43/x86_64/Packages/b/$(basename "$RPM")"
# The partner's copy of the metalink names its own repomd once delivered.
for _ in $(seq 1 100); do
  curl -fsS -g -o /dev/null "$RX_PUBLIC$ML" 2>/dev/null && break; sleep 0.1
done
curl -fsS -g -o /dev/null "$RX_PUBLIC$ML" || die "the partner serves no metalink copy"

# --- nginx on the partner's tree -------------------------------------------------------
NG="$WORK/nginx"; mkdir -p "$NG/logs"
curl -fsS -g "$RX_PUBLIC$ML" -o "$NG/metalink.xml" || die "cannot fetch the metalink copy"
NPORT=$(free_port); NTLS=$(free_port)
cat > "$NG/nginx.conf" <<EOF
user root;
daemon off;
worker_processes auto;
pid $NG/nginx.pid;
error_log $NG/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  ssl_session_cache shared:SSL:10m;
  client_body_temp_path $NG/tmp-body;
  proxy_temp_path $NG/tmp-proxy;
  fastcgi_temp_path $NG/tmp-fcgi;
  uwsgi_temp_path $NG/tmp-uwsgi;
  scgi_temp_path $NG/tmp-scgi;
  server {
    listen [::1]:$NPORT;
    listen [::1]:$NTLS ssl;
    ssl_certificate $TLS/cert.pem;
    ssl_certificate_key $TLS/key.pem;
    location = /metalink {
      default_type application/metalink+xml;
      add_header Cache-Control no-cache;
      alias $NG/metalink.xml;
    }
    location /pub/ {
      alias $RX/data/pub/;
      types { application/xml xml; application/x-rpm rpm; }
    }
  }
}
EOF
/usr/sbin/nginx -p "$NG" -c "$NG/nginx.conf" 2>"$NG/logs/stderr" &
track $!; NG_PID=$!
wait_http "http://[::1]:$NPORT$REPOMD" 10

declare -A PLAIN HTTPS
PLAIN[origin]=$ORIGIN_URL;        HTTPS[origin]="https://[::1]:$OTLS"
PLAIN[partner]=$RX_PUBLIC;        HTTPS[partner]=$RX_PUSH
PLAIN[nginx]="http://[::1]:$NPORT"; HTTPS[nginx]="https://[::1]:$NTLS"
for s in origin partner nginx; do
  for p in "$ML" "$REPOMD" "$PKG"; do
    cmp -s <(curl -fsS -g "${PLAIN[origin]}$p") <(curl -fsS -g -k "${HTTPS[$s]}$p") \
      || [ "$p" = "$ML" ] || die "$s does not serve the origin's bytes for $p"
  done
done
etag_of() { curl -fsS -g -k -D - -o /dev/null "$1" | awk 'tolower($1) == "etag:" { sub(/\r$/, "", $2); print $2 }'; }

to_ms() {  # wrk prints 1.23ms / 456.00us / 1.02s
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
# cpu_ticks SERVER: user + system clock ticks so far of the server's processes
# (nginx: the master and its workers).
cpu_ticks() {
  local pids p t=0 f
  case $1 in
    origin) pids=$O_PID ;;
    partner) pids=$RX_PID ;;
    nginx) pids="$NG_PID $(pgrep -P "$NG_PID" | tr '\n' ' ')" ;;
  esac
  for p in $pids; do
    read -r -a f < <(sed 's/^.*) //' "/proc/$p/stat")
    t=$(( t + f[11] + f[12] ))
  done
  echo "$t"
}
TICK_US=$(( 1000000 / $(getconf CLK_TCK) ))

# wrk_run NAME URL HEADER SERVER: prints "req/s p99_ms errors non2xx3xx cpu_us_per_request"
# (the server's own CPU time, user + system, per request answered: the cost that
# decides throughput when the cores are shared, as they are here).
wrk_run() {
  local out="$WORK/wrk-$1.txt" hdr=() t0 t1
  [ -n "${3:-}" ] && hdr=(-H "$3")
  t0=$(cpu_ticks "$4")
  nice -n 5 wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -H 'Connection: close' ${hdr[@]+"${hdr[@]}"} "$2" \
    > "$out" 2>&1 || die "wrk failed: $(tail -3 "$out")"
  t1=$(cpu_ticks "$4")
  local rps p99 errs non n cpu
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  errs=$(awk '/Socket errors:/ { s = 0; for (i = 4; i <= NF; i += 2) { v = $i; gsub(/,/, "", v); s += v }; print s }' "$out")
  non=$(awk '/Non-2xx or 3xx/ { print $NF }' "$out")
  n=$(awk '/requests in/ { print $1 }' "$out")
  cpu=$(awk -v d=$(( (t1 - t0) * TICK_US )) -v n="${n:-0}" 'BEGIN { printf "%.0f", (n > 0 ? d / n : 0) }')
  echo "$rps $p99 ${errs:-0} ${non:-0} $cpu"
}

# full_run SERVER BASE: "conns/s cpu_us_per_conn" for the metalink over HTTPS with a
# FULL handshake per connection (no session resumption: what a fleet check from a
# fresh dnf or curl process does), driven by $CLIENTS parallel `openssl s_time -new`
# (HTTP/1.0 GET, so the server closes after the answer). The clients are the limit
# of conns/s here, the same for every server; the server's CPU per connection is
# the comparable number.
full_run() {
  local server=$1 hostport=${2#https://} t0 t1 total=0 i n
  t0=$(cpu_ticks "$server")
  for i in $(seq 1 "$CLIENTS"); do
    nice -n 5 openssl s_time -connect "$hostport" -new -time "$SECS" -www "$ML" \
      > "$WORK/s_time-$server-$i.txt" 2>&1 &
  done
  # Runs in a command substitution: `wait` waits for these clients only.
  wait
  t1=$(cpu_ticks "$server")
  for i in $(seq 1 "$CLIENTS"); do
    n=$(awk '/connections in/ && /real seconds/ { print $1; exit }' "$WORK/s_time-$server-$i.txt")
    [ -n "$n" ] || die "openssl s_time against $server failed: $(tail -3 "$WORK/s_time-$server-$i.txt")"
    total=$(( total + n ))
  done
  awk -v n="$total" -v s="$SECS" -v d=$(( (t1 - t0) * TICK_US )) \
    'BEGIN { printf "%.0f %.0f\n", n / s, (n > 0 ? d / n : 0) }'
}

# median VALUES...: the middle one (the lower middle of an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "== certificate: KEY=$KEY ($(openssl x509 -in "$TLS/cert.pem" -noout -text | awk -F': ' '/Public Key Algorithm/ { print $2; exit }')) for the origin and nginx; the partner's https is its own generated certificate ($(openssl x509 -in "$RX/data/tls/cert.pem" -noout -text | awk -F': ' '/Public Key Algorithm/ { print $2; exit }'))"
printf '\n%-9s %-6s %-8s %10s %9s %8s %8s %10s   %s\n' request proto server "req/s" "p99 ms" errors non2xx "cpu us/req" "runs (req/s)"
declare -A RES
for proto in http https; do
  for req in 304 metalink repomd package; do
    if [ -n "$ROWS" ] && ! [[ " $ROWS " == *" $req-$proto "* ]]; then continue; fi
    declare -A RPS=() P99=() ERRS=() NON=() CPU=()
    for _ in $(seq 1 "$REPEAT"); do
      for s in origin partner nginx; do
        if [ "$proto" = http ]; then base=${PLAIN[$s]}; else base=${HTTPS[$s]}; fi
        hdr=""
        case $req in
          304) path=$ML; hdr="If-None-Match: $(etag_of "$base$ML")" ;;
          metalink) path=$ML ;;
          repomd) path=$REPOMD ;;
          package) path=$PKG ;;
        esac
        read -r rps p99 errs non cpu <<<"$(wrk_run "$req-$proto-$s" "$base$path" "$hdr" "$s")"
        RPS[$s]="${RPS[$s]:-} $rps"; P99[$s]="${P99[$s]:-} $p99"; CPU[$s]="${CPU[$s]:-} $cpu"
        ERRS[$s]=$(( ${ERRS[$s]:-0} + errs )); NON[$s]=$(( ${NON[$s]:-0} + non ))
      done
    done
    for s in origin partner nginx; do
      # shellcheck disable=SC2086
      RES[$req-$proto-$s]="$(median ${RPS[$s]}) $(median ${P99[$s]}) ${ERRS[$s]} ${NON[$s]} $(median ${CPU[$s]})"
      read -r rps p99 errs non cpu <<<"${RES[$req-$proto-$s]}"
      printf '%-9s %-6s %-8s %10s %9s %8s %8s %10s  %s\n' "$req" "$proto" "$s" "$rps" "$p99" "$errs" "$non" "$cpu" "${RPS[$s]}"
    done
    unset RPS P99 ERRS NON CPU
  done
done
if [ -z "$ROWS" ] || [[ " $ROWS " == *" metalink-https-full "* ]]; then
  declare -A FRPS=() FCPU=()
  for _ in $(seq 1 "$REPEAT"); do
    for s in origin partner nginx; do
      read -r rps cpu <<<"$(full_run "$s" "${HTTPS[$s]}")"
      FRPS[$s]="${FRPS[$s]:-} $rps"; FCPU[$s]="${FCPU[$s]:-} $cpu"
    done
  done
  for s in origin partner nginx; do
    # shellcheck disable=SC2086
    RES[full-$s]="$(median ${FRPS[$s]}) $(median ${FCPU[$s]})"
    printf '%-9s %-6s %-8s %10s %9s %8s %8s %10s  %s\n' metalink https-full "$s" \
      "${RES[full-$s]% *}" - - - "${RES[full-$s]#* }" "${FRPS[$s]}"
  done
fi
echo "== load after: $(cut -d" " -f1-3 /proc/loadavg)"

echo
echo "== ratios (hotpush / nginx req/s, with p99 ms; then nginx / hotpush CPU per request)"
printf '%-9s %-6s %16s %16s %32s %12s\n' request proto "origin/nginx" "partner/nginx" "" "cpu o, p"
for proto in http https; do
  for req in 304 metalink repomd package; do
    [ -n "${RES[$req-$proto-nginx]:-}" ] || continue
    read -r n np99 _ _ nc <<<"${RES[$req-$proto-nginx]}"
    read -r o op99 _ _ oc <<<"${RES[$req-$proto-origin]}"
    read -r p pp99 _ _ pc <<<"${RES[$req-$proto-partner]}"
    awk -v r="$req" -v pr="$proto" -v n="$n" -v o="$o" -v p="$p" -v np="$np99" -v op="$op99" -v pp="$pp99" \
      -v nc="$nc" -v oc="$oc" -v pc="$pc" \
      'BEGIN { printf "%-9s %-6s %8.2fx (%5.1f) %8.2fx (%5.1f)   nginx p99 %5.1f ms   %5.2fx %5.2fx\n", r, pr, o / n, op, p / n, pp, np, (oc > 0 ? nc / oc : 0), (pc > 0 ? nc / pc : 0) }'
  done
done
if [ -n "${RES[full-nginx]:-}" ]; then
  read -r n nc <<<"${RES[full-nginx]}"; read -r o oc <<<"${RES[full-origin]}"; read -r p pc <<<"${RES[full-partner]}"
  awk -v n="$n" -v o="$o" -v p="$p" -v nc="$nc" -v oc="$oc" -v pc="$pc" \
    'BEGIN { printf "%-9s %-6s %8.2fx         %8.2fx          (conns/s: client-bound)      %5.2fx %5.2fx\n", "metalink", "https-full", o / n, p / n, (oc > 0 ? nc / oc : 0), (pc > 0 ? nc / pc : 0) }'
fi
