#!/usr/bin/env bash
# bench/dead-first-host.sh - what a dead first metalink host costs `dnf makecache --timer`
# (issue 11): the real dnf 4 against a metalink whose first URL is
#   good   a working host (the anchor),
#   closed a closed port (connection refused),
#   hung   a host that accepts TCP but never answers (a stalled server),
# followed by a working host, each run in a fresh installroot; and the same
# metalinks with a plain `dnf makecache` (which tries every URL).
# Prints exit status, wall time and whether repomd.xml was fetched.
#
# Usage: bench/dead-first-host.sh   (as root; env: HOTPUSH is not needed; KEEP=1 keeps the work dir)
# Loopback only ([::1]). Takes about 2 minutes (the hung host costs dnf its 30 s timeout).
set -u -o pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "bench: error: $*" >&2; exit 2; }
say() { echo "bench: $*" >&2; }
for t in dnf rpm rpmbuild createrepo_c python3 curl; do
  command -v "$t" >/dev/null 2>&1 || die "$t not found"
done
[ "$(id -u)" = 0 ] || die "run as root (dnf installroot)"
WORK=$(mktemp -d /tmp/hotpush-dead.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in ${PIDS[@]+"${PIDS[@]}"}; do kill "$p" 2>/dev/null; done
  for p in ${PIDS[@]+"${PIDS[@]}"}; do wait "$p" 2>/dev/null; done
  if [ "${KEEP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0)); print(s.getsockname()[1])'; }

echo "== dead first metalink host vs dnf makecache --timer ($(date -u +%FT%TZ), $(nproc) cpus, $(dnf --version 2>/dev/null | head -1))"

# A repo with one package.
top="$WORK/rpmbuild"; mkdir -p "$top"/{SPECS,RPMS,BUILD,BUILDROOT,SOURCES,SRPMS} "$WORK/repo"
cat > "$top/SPECS/hello.spec" <<'EOF'
Name: hello
Version: 1.0
Release: 1
Summary: bench
License: MIT
BuildArch: noarch
%description
bench
%files
EOF
rpmbuild --quiet --define "_topdir $top" -bb "$top/SPECS/hello.spec" >/dev/null 2>&1 || die "rpmbuild failed"
cp "$top"/RPMS/noarch/*.rpm "$WORK/repo/"
createrepo_c --quiet "$WORK/repo" || die "createrepo_c failed"

GOOD=$(free_port); CLOSED=$(free_port); HUNG=$(free_port); ML=$(free_port)
python3 -m http.server --bind ::1 "$GOOD" --directory "$WORK/repo" >/dev/null 2>&1 &
PIDS+=($!)
# Accepts connections (the kernel completes the handshake) and never reads or answers.
python3 -c "
import socket, time
s = socket.socket(socket.AF_INET6); s.bind(('::1', $HUNG)); s.listen(128)
held = []
while True:
    c, _ = s.accept(); held.append(c)
" &
PIDS+=($!)
mkdir -p "$WORK/ml"
python3 -m http.server --bind ::1 "$ML" --directory "$WORK/ml" >/dev/null 2>&1 &
PIDS+=($!)
sleep 1
curl -fsS -g "http://[::1]:$GOOD/repodata/repomd.xml" >/dev/null || die "repo server not up"

metalink() {  # metalink FILE FIRST_URL_BASE
  python3 - "$WORK/repo/repodata/repomd.xml" "$2" "http://[::1]:$GOOD" > "$1" <<'EOF'
import hashlib, os, sys
data = open(sys.argv[1], 'rb').read()
urls = [sys.argv[2], sys.argv[3]]
print('<?xml version="1.0" encoding="utf-8"?>')
print('<metalink version="3.0" xmlns="http://www.metalinker.org/" type="dynamic" pubdate="Thu, 01 Jan 2026 00:00:00 GMT" generator="mirrormanager" xmlns:mm0="http://fedorahosted.org/mirrormanager">')
print(' <files>\n  <file name="repomd.xml">')
print('   <mm0:timestamp>1767225600</mm0:timestamp>\n   <size>%d</size>\n   <verification>' % len(data))
print('    <hash type="sha256">%s</hash>' % hashlib.sha256(data).hexdigest())
print('   </verification>\n   <resources maxconnections="1">')
for i, u in enumerate(urls):
    print('    <url protocol="http" type="http" preference="%d">%s/repodata/repomd.xml</url>' % (100 - i, u))
print('   </resources>\n  </file>\n </files>\n</metalink>')
EOF
}
metalink "$WORK/ml/good.xml" "http://[::1]:$GOOD"
metalink "$WORK/ml/closed.xml" "http://[::1]:$CLOSED"
metalink "$WORK/ml/hung.xml" "http://[::1]:$HUNG"

run() {  # run CASE MODE(timer|plain)
  local c=$1 mode=$2 w="$WORK/dnf-$1-$2"
  mkdir -p "$w/root" "$w/repos.d"
  printf '[main]\nskip_if_unavailable=False\nlogfilelevel=10\nmetadata_timer_sync=1\n' > "$w/dnf.conf"
  printf '[crit]\nname=crit\nmetalink=http://[::1]:%s/%s.xml\ngpgcheck=0\nrepo_gpgcheck=0\n' "$ML" "$c" > "$w/repos.d/crit.repo"
  local args=(makecache); [ "$mode" = timer ] && args+=(--timer)
  local t0 t1 rc
  t0=$(date +%s.%N)
  dnf -y --installroot="$w/root" --config="$w/dnf.conf" --setopt=reposdir="$w/repos.d" \
    --releasever=43 --disablerepo='*' --enablerepo=crit "${args[@]}" >"$w/out" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  local got=no; [ "${SHOW:-0}" = 1 ] && tail -3 "$w/out" >&2
  find "$w/root/var/cache" -name repomd.xml 2>/dev/null | grep -q . && got=yes
  printf '%-8s %-6s exit %-3s %8.2f s  repomd fetched: %s\n' "$c" "$mode" "$rc" \
    "$(echo "$t1 - $t0" | bc)" "$got"
}
printf '%-8s %-6s %-8s %10s\n' first mode status "wall time"
for c in good closed hung; do
  for m in timer plain; do run "$c" "$m"; done
done
