#!/usr/bin/env bash
# bench/origin.sh - origin benchmarks (issue 3), each side by side with its anchor in one run:
#   a. last upload byte -> new repomd.xml served, 5 signed 10 MB packages, N rounds
#      (anchor: createrepo_c --no-database --workers 2 + gpg --detach-sign --armor);
#   b. wrk -t2 -c200 -d10s --latency on the metalink and repomd.xml, hotpush vs nginx
#      serving byte-identical copies;
#   c. metalink size (origin only) and the bytes a no-change `dnf check-update`
#      refresh moves, counted by a TCP proxy in front of the origin.
#
# Usage: bench/origin.sh            (as root; env: HOTPUSH, ROUNDS=5, PKG_BYTES=10485760,
#                                    WRK_SECS=10, KEEP=1 keeps the work dir)
# Loopback only ([::1]). Takes about 1 minute on 2 cores.
set -u -o pipefail
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-5}
PKG_BYTES=${PKG_BYTES:-10485760}
WRK_SECS=${WRK_SECS:-10}
need rpmbuild rpmsign gpg createrepo_c wrk dnf rpm python3 curl
[ -x /usr/sbin/nginx ] || die "nginx not found at /usr/sbin/nginx; hint: apt-get install nginx-light"

echo "== hotpush origin benchmark ($(date -u +%FT%TZ), $(cpus) cpus, load $(cut -d" " -f1-3 /proc/loadavg), $("$HOTPUSH" --version 2>/dev/null))"

# --- keys and packages ---------------------------------------------------------
make_gpg "$WORK/gnupg-pkg" pkg@bench.invalid rsa2048
make_gpg "$WORK/gnupg-repo" repo@bench.invalid ed25519
# Warm the anchor's gpg-agent, as a pipeline that signs often would have it.
echo warm > "$WORK/warm" && gpg --batch --quiet --homedir "$WORK/gnupg-repo" --pinentry-mode loopback \
  --passphrase '' --detach-sign --armor "$WORK/warm" || die "gpg warm-up failed"
say "building $ROUNDS x 5 signed packages of $PKG_BYTES bytes"
DIRS=()
for r in $(seq 1 "$ROUNDS"); do
  build_rpms "$WORK/rpms/round$r" "benchr$r" "1.$r" 5 "$PKG_BYTES"
  sign_rpms "$WORK/gnupg-pkg" pkg@bench.invalid "$WORK/rpms/round$r"/*.rpm
  DIRS+=("$WORK/rpms/round$r")
done

# --- origin behind a counting proxy (the proxy is its public URL) -------------------
OPORT=$(free_port); PPORT=$(free_port)
python3 "$BENCH_DIR/hpbench.py" proxy --listen-port "$PPORT" --target-port "$OPORT" \
  --stats "$WORK/proxy.json" 2>"$WORK/proxy.log" &
track $!
start_origin "$WORK/origin" "$OPORT" "http://[::1]:$PPORT" "$WORK/gnupg-pkg.pub.asc"
make_token "$WORK/origin"
say "origin at $ORIGIN_URL, proxy at http://[::1]:$PPORT"

# --- a. publish latency ------------------------------------------------------------
echo
echo "== a. last upload byte -> new repomd.xml served (5 x $PKG_BYTES B, $ROUNDS rounds)"
$PY publish --origin "$ORIGIN_URL" --token "$WORK/origin/bench.token" --work "$WORK/anchor" \
  --gpg-home "$WORK/gnupg-repo" --gpg-email repo@bench.invalid --json "$WORK/publish.json" \
  "${DIRS[@]}" || die "publish benchmark failed (KEEP=1 keeps $WORK/origin/origin.log)"

# --- b. wrk: hotpush vs nginx ----------------------------------------------------
echo
echo "== b. wrk -t2 -c200 -d${WRK_SECS}s --latency: hotpush vs nginx (byte-identical files)"
ML_PATH="/metalink?repo=critical-f43&arch=x86_64"
RM_PATH="/pub/critical/43/x86_64/repodata/repomd.xml"
NG="$WORK/nginx"; mkdir -p "$NG/root/pub/critical/43/x86_64/repodata" "$NG/logs"
curl -fsS -g "$ORIGIN_URL$ML_PATH" -o "$NG/root/metalink.xml" || die "cannot fetch the metalink"
curl -fsS -g "$ORIGIN_URL$RM_PATH" -o "$NG/root$RM_PATH" || die "cannot fetch repomd.xml"
NPORT=$(free_port)
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
  client_body_temp_path $NG/tmp-body;
  proxy_temp_path $NG/tmp-proxy;
  fastcgi_temp_path $NG/tmp-fcgi;
  uwsgi_temp_path $NG/tmp-uwsgi;
  scgi_temp_path $NG/tmp-scgi;
  server {
    listen [::1]:$NPORT;
    root $NG/root;
    location = /metalink {
      default_type application/metalink+xml;
      add_header Cache-Control no-cache;
      alias $NG/root/metalink.xml;
    }
    location /pub/ {
      default_type application/xml;
      add_header Cache-Control no-cache;
    }
  }
}
EOF
/usr/sbin/nginx -p "$NG" -c "$NG/nginx.conf" 2>"$NG/logs/stderr" &
track $!
wait_http "http://[::1]:$NPORT$RM_PATH" 10
for p in "$ML_PATH" "$RM_PATH"; do
  cmp -s <(curl -fsS -g "$ORIGIN_URL$p") <(curl -fsS -g "http://[::1]:$NPORT$p") \
    || die "nginx does not serve the same bytes as hotpush for $p"
done
ML_BYTES=$(curl -fsS -g "$ORIGIN_URL$ML_PATH" | wc -c)
RM_BYTES=$(curl -fsS -g "$ORIGIN_URL$RM_PATH" | wc -c)

# wrk_run NAME URL: prints "req/s p50_ms p99_ms errors"
to_ms() {  # wrk prints 1.23ms / 456.00us / 1.02s
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
wrk_run() {
  local out="$WORK/wrk-$1.txt"
  wrk -t2 -c200 -d"${WRK_SECS}s" --latency "$2" > "$out" 2>&1 || die "wrk failed: $(tail -3 "$out")"
  local rps p50 p99 errs non2xx
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  errs=$(awk '/Socket errors:/ { s = 0; for (i = 3; i <= NF; i += 2) s += $(i + 1); print s }' "$out")
  non2xx=$(awk '/Non-2xx/ { print $NF }' "$out")
  echo "$rps $p50 $p99 ${errs:-0} ${non2xx:-0}"
}
printf '%-10s %-8s %12s %9s %9s %7s %7s\n' file server "req/s" "p50 ms" "p99 ms" errors non2xx
declare -A RES
for f in metalink repomd; do
  if [ $f = metalink ]; then p=$ML_PATH; else p=$RM_PATH; fi
  for s in hotpush nginx; do
    if [ $s = hotpush ]; then base=$ORIGIN_URL; else base="http://[::1]:$NPORT"; fi
    RES[$f-$s]=$(wrk_run "$f-$s" "$base$p")
    read -r rps p50 p99 errs non2xx <<<"${RES[$f-$s]}"
    printf '%-10s %-8s %12s %9s %9s %7s %7s\n' "$f" "$s" "$rps" "$p50" "$p99" "$errs" "$non2xx"
  done
done
for f in metalink repomd; do
  read -r h _ hp99 _ <<<"${RES[$f-hotpush]}"
  read -r n _ np99 _ <<<"${RES[$f-nginx]}"
  awk -v f="$f" -v h="$h" -v n="$n" -v hp="$hp99" -v np="$np99" \
    'BEGIN { printf "%s: hotpush/nginx req/s ratio %.2f (target >= 0.8); p99 hotpush %s ms, nginx %s ms (target < 10 ms)\n", f, h / n, hp, np }'
done

# --- c. sizes and a no-change dnf refresh ------------------------------------------
echo
echo "== c. metalink size and no-change dnf refresh bytes"
echo "metalink body, origin only (0 partners): $ML_BYTES bytes (target < 1500); repomd.xml: $RM_BYTES bytes"
DNFW="$WORK/dnf"; mkdir -p "$DNFW/root" "$DNFW/repos.d"
printf '[main]\nskip_if_unavailable=False\ninstall_weak_deps=False\nlogfilelevel=10\n' > "$DNFW/dnf.conf"
"$HOTPUSH" repofile --server "http://[::1]:$PPORT" > "$DNFW/repos.d/critical.repo" \
  || die "hotpush repofile failed"
grep -q "metalink=http://\[::1\]:$PPORT/" "$DNFW/repos.d/critical.repo" \
  || die "the .repo file does not point at the proxy: $(cat "$DNFW/repos.d/critical.repo")"
DNF=(dnf -y --installroot="$DNFW/root" --config="$DNFW/dnf.conf" --setopt=reposdir="$DNFW/repos.d"
     --releasever=43 --forcearch=x86_64)
s0=$($PY proxy-idle --stats "$WORK/proxy.json")
"${DNF[@]}" makecache > "$DNFW/makecache.log" 2>&1 || { tail -20 "$DNFW/makecache.log" >&2; die "dnf makecache failed"; }
s1=$($PY proxy-idle --stats "$WORK/proxy.json")
sleep 1.1   # the cache must be older than metadata_expire=0
"${DNF[@]}" check-update '--setopt=*.metadata_expire=0' > "$DNFW/check.log" 2>&1
rc=$?
[ $rc = 0 ] || [ $rc = 100 ] || { tail -20 "$DNFW/check.log" >&2; die "dnf check-update failed (rc=$rc)"; }
s2=$($PY proxy-idle --stats "$WORK/proxy.json")
python3 - "$s0" "$s1" "$s2" <<'EOF'
import json, sys
s0, s1, s2 = (json.loads(x) for x in sys.argv[1:])
def d(a, b, k): return b[k] - a[k]
print(f"first dnf makecache (keys, metalink, repomd + .asc, metadata): "
      f"up {d(s0, s1, 'up')} B, down {d(s0, s1, 'down')} B, {d(s0, s1, 'connections')} connection(s)")
print(f"no-change dnf check-update (metadata_expire=0, after 1.1 s): "
      f"up {d(s1, s2, 'up')} B, down {d(s1, s2, 'down')} B, total {d(s1, s2, 'up') + d(s1, s2, 'down')} B, "
      f"{d(s1, s2, 'connections')} connection(s)")
EOF
grep -h 'reviving' "$DNFW/root/var/log/dnf.log" 2>/dev/null | tail -1 | sed 's/^/dnf log: /'
echo
echo "done; reproduce with: sudo bench/origin.sh"
