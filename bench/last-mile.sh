#!/usr/bin/env bash
# bench/last-mile.sh - time-to-client of the critical check (issue 10), with its anchor.
#
# K installed systems (real dnf 4 installroots, each set up only by a release
# package providing system-release(releasever), a /bin/sh stand-in and the
# `-repos` RPM from `hotpush repofile --rpm`, plus the vulnerable package) each run the critical
# check with `--policy apply` in a loop shaped like its systemd timer, on a
# scaled-down period: the next run starts PERIOD_SECS + random(0..DELAY_SECS)
# after the previous one ended (OnUnitInactiveSec + RandomizedDelaySec), first
# runs spread over one period. After an idle window, a fix is pushed at a random
# moment. Per client: push accepted (`hotpush push --no-wait` returned) -> the
# check's run that refreshed dnf's cache ended (from then on `dnf updateinfo
# list --security -C` shows the advisory; checked per client afterwards) and ->
# the run that installed the fix ended (checked with rpm -q).
# Idle cost per client and check: bytes on the wire (a counting TCP proxy in
# front of the origin; the clients' .repo points at it) and CPU (user + sys of
# the check and everything it starts). Anchor, same run: what dnf itself costs
# for one no-change freshness check of the same repository (`dnf check-update`
# with the repo's metadata expired: the metalink only), i.e. what polling with
# dnf every period would cost instead.
#
# Usage: bench/last-mile.sh      (as root; env: HOTPUSH, K=6, PERIOD_SECS=20,
#                                 DELAY_SECS=5, IDLE_SECS=60, KEEP=1)
# Loopback only ([::1]). Takes about 3 minutes on 2 cores.
set -u -o pipefail
source "$(dirname "$0")/lib.sh"

K=${K:-6}
PERIOD_SECS=${PERIOD_SECS:-20}
DELAY_SECS=${DELAY_SECS:-5}
IDLE_SECS=${IDLE_SECS:-60}
ADVISORY=BENCH-2026-0001
need rpmbuild rpmsign gpg dnf rpm python3 curl /usr/bin/time ldd /bin/dash
[ "$K" -ge 1 ] || die "K must be at least 1"

echo "== hotpush last-mile benchmark ($(date -u +%FT%TZ), $(cpus) cpus, load $(cut -d" " -f1-3 /proc/loadavg), $("$HOTPUSH" --version 2>/dev/null))"
echo "K=$K clients, period ${PERIOD_SECS}s + random 0..${DELAY_SECS}s, policy apply, idle window ${IDLE_SECS}s"

# --- packages: release, vulnerable, fix ------------------------------------------
make_gpg "$WORK/gnupg-pkg" pkg@bench.invalid rsa2048
build_rpms "$WORK/rpms/v1" lmfix 1.0 1 1024
build_rpms "$WORK/rpms/v2" lmfix 1.1 1 1024
sign_rpms "$WORK/gnupg-pkg" pkg@bench.invalid "$WORK/rpms/v2"/*.rpm
VULN=$(ls "$WORK"/rpms/v1/lmfix-1-1.0-1.*.rpm)
FIX=$(ls "$WORK"/rpms/v2/lmfix-1-1.1-1.*.rpm)
# The release package every installed system has: it provides the release dnf reads.
top="$WORK/rpmbuild-release"; mkdir -p "$top"/{SPECS,SOURCES,BUILD,RPMS,SRPMS,BUILDROOT}
cat > "$top/SPECS/release.spec" <<'EOF'
Name: bench-release
Version: 43
Release: 1
Summary: hotpush benchmark release package
License: MIT
BuildArch: noarch
Provides: system-release
Provides: system-release(releasever) = 43
%description
Benchmark release package.
%install
mkdir -p %{buildroot}/etc
echo "Bench release 43" > %{buildroot}/etc/system-release
%files
/etc/system-release
EOF
rpmbuild --quiet --define "_topdir $top" -bb "$top/SPECS/release.spec" >"$top/build.log" 2>&1 \
  || { tail -20 "$top/build.log" >&2; die "rpmbuild of the release package failed"; }
RELEASE_RPM=$top/RPMS/noarch/bench-release-43-1.noarch.rpm
# /bin/sh for the -repos package's scriptlets (bash provides it on a real
# system): the host's dash and the libraries it needs.
top="$WORK/rpmbuild-sh"; mkdir -p "$top"/{SPECS,SOURCES,BUILD,RPMS,SRPMS,BUILDROOT}
{
  printf 'Name: bench-sh\nVersion: 1\nRelease: 1\nSummary: /bin/sh\nLicense: MIT\nBuildArch: noarch\n'
  printf 'AutoReqProv: no\n%%define __os_install_post %%{nil}\n%%define debug_package %%{nil}\n'
  printf '%%define _binaries_in_noarch_packages_terminate_build 0\n%%description\n/bin/sh.\n%%install\n'
  printf 'mkdir -p %%{buildroot}/bin\ncp /bin/dash %%{buildroot}/bin/sh\n'
  for lib in $(ldd /bin/dash | grep -o '/[^ ]*'); do
    printf 'mkdir -p %%{buildroot}%s\ncp %s %%{buildroot}%s\n' "$(dirname "$lib")" "$lib" "$lib"
  done
  printf '%%files\n/bin/sh\n'
  ldd /bin/dash | grep -o '/[^ ]*'
} > "$top/SPECS/sh.spec"
rpmbuild --quiet --define "_topdir $top" -bb "$top/SPECS/sh.spec" >"$top/build.log" 2>&1 \
  || { tail -20 "$top/build.log" >&2; die "rpmbuild of the /bin/sh package failed"; }
SH_RPM=$top/RPMS/noarch/bench-sh-1-1.noarch.rpm

# --- origin behind a counting proxy (the proxy is its public URL) ----------------
OPORT=$(free_port); PPORT=$(free_port)
python3 "$BENCH_DIR/hpbench.py" proxy --listen-port "$PPORT" --target-port "$OPORT" \
  --stats "$WORK/proxy.json" 2>"$WORK/proxy.log" &
track $!
start_origin "$WORK/origin" "$OPORT" "http://[::1]:$PPORT" "$WORK/gnupg-pkg.pub.asc"
make_token "$WORK/origin"
REPOS_RPM=$("$HOTPUSH" repofile --server "$ORIGIN_URL" --rpm "$WORK/repos-rpm" --source-date 1700000000 \
  2>"$WORK/repofile.log") || { cat "$WORK/repofile.log" >&2; die "hotpush repofile --rpm failed"; }
ML_URL="http://[::1]:$PPORT/metalink?repo=critical-f43&arch=x86_64"

# --- K installed systems -----------------------------------------------------------
say "setting up $K installroots (release package, -repos RPM with dnf, vulnerable package)"
for i in $(seq 1 "$K"); do
  root="$WORK/client$i/root"; mkdir -p "$root"
  rpm --root "$root" -i --nodeps "$RELEASE_RPM" "$SH_RPM" >/dev/null 2>&1 || die "rpm -i of the release and sh packages failed"
  dnf -y -q --installroot="$root" --setopt=reposdir="$WORK/no-repos" install "$REPOS_RPM" \
    >"$WORK/client$i/install.log" 2>&1 || { tail "$WORK/client$i/install.log" >&2; die "dnf install of the -repos RPM failed"; }
  rpm --root "$root" -i --nodeps --nosignature "$VULN" >/dev/null 2>&1 || die "rpm -i of the vulnerable package failed"
  if [ ! -x "$root/usr/libexec/hotpush/critical-check" ]; then
    die "the -repos RPM did not install /usr/libexec/hotpush/critical-check"
  fi
  # First contact: imports the repo key, fills dnf's cache.
  "$root/usr/libexec/hotpush/critical-check" --installroot "$root" >"$WORK/client$i/first.log" 2>&1 \
    || die "first check of client $i failed: $(cat "$WORK/client$i/first.log")"
done

stamp() { local l; while IFS= read -r l; do printf '%s %s\n' "$(date +%s.%N)" "$l"; done; }

# client_loop I: the timer's shape; one line per run in clientI/runs:
#   START END CPU_USER_S CPU_SYS_S LINES, output lines stamped in clientI/out.
client_loop() {
  local i=$1 dir="$WORK/client$i" root="$WORK/client$i/root"
  sleep "$(awk -v r=$RANDOM -v p="$PERIOD_SECS" 'BEGIN { printf "%.2f", r / 32768 * p }')"
  while [ ! -e "$WORK/stop" ]; do
    local start end lines
    start=$(date +%s.%N)
    # Each output line stamped when it is written (the refresh line before the apply).
    /usr/bin/time -f '%U %S' -o "$dir/time" "$root/usr/libexec/hotpush/critical-check" \
      --installroot "$root" --policy apply 2>&1 | stamp >"$dir/last"
    end=$(date +%s.%N)
    lines=$(wc -l <"$dir/last")
    cat "$dir/last" >>"$dir/out"
    echo "$start $end $(cat "$dir/time") $lines" >>"$dir/runs"
    sleep "$(awk -v r=$RANDOM -v p="$PERIOD_SECS" -v d="$DELAY_SECS" 'BEGIN { printf "%.2f", p + r / 32768 * d }')"
  done
}
for i in $(seq 1 "$K"); do
  client_loop "$i" &
  track $!
done

# --- idle window ----------------------------------------------------------------
say "idle window: ${IDLE_SECS}s"
sleep "$PERIOD_SECS"   # every client has started its loop
idle_t0=$(date +%s.%N); idle_s0=$($PY proxy-idle --stats "$WORK/proxy.json")
sleep "$IDLE_SECS"
idle_s1=$($PY proxy-idle --stats "$WORK/proxy.json"); idle_t1=$(date +%s.%N)

# --- the push, at a random moment -------------------------------------------------------
sleep "$(awk -v r=$RANDOM -v p="$PERIOD_SECS" 'BEGIN { printf "%.2f", r / 32768 * p }')"
say "pushing $ADVISORY"
"$HOTPUSH" push --server "$ORIGIN_URL" --token-file "$WORK/origin/bench.token" --advisory "$ADVISORY" \
  --severity critical --cve CVE-2026-0001 --summary "last-mile benchmark fix" --release 43 --no-wait \
  "$FIX" </dev/null >"$WORK/push.log" 2>&1 || { cat "$WORK/push.log" >&2; die "hotpush push failed"; }
accepted=$(date +%s.%N)
# When the origin serves it: the metalink changes.
before=$(curl -fsS -g "$ORIGIN_URL/metalink?repo=critical-f43&arch=x86_64" | sha256sum)
for _ in $(seq 1 400); do
  now=$(curl -fsS -g "$ORIGIN_URL/metalink?repo=critical-f43&arch=x86_64" | sha256sum)
  [ "$now" != "$before" ] && break
  sleep 0.05
done
published=$(date +%s.%N)
deadline=$(( $(date +%s) + 3 * (PERIOD_SECS + DELAY_SECS) + 120 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  done_n=0
  for i in $(seq 1 "$K"); do grep -q "applied $ADVISORY" "$WORK/client$i/out" 2>/dev/null && done_n=$((done_n + 1)); done
  [ "$done_n" = "$K" ] && break
  sleep 0.5
done
touch "$WORK/stop"
# The loops finish their current run and stop.
for _ in $(seq 1 120); do
  pgrep -f "$WORK/client.*/critical-check" >/dev/null || break
  sleep 0.5
done

# --- per-client verification with the real dnf and rpm -----------------------------------
for i in $(seq 1 "$K"); do
  root="$WORK/client$i/root"
  shown=0 installed=0
  dnf -C -q --installroot="$root" --setopt=reposdir="$root/etc/yum.repos.d" updateinfo list --security --all \
    2>/dev/null | grep -q "$ADVISORY" && shown=1
  rpm --root "$root" -q lmfix-1 2>/dev/null | grep -q 'lmfix-1-1.1-1' && installed=1
  echo "$shown $installed" >"$WORK/client$i/verified"
done

# --- anchor: one no-change freshness check by dnf itself ------------------------------------
root="$WORK/client1/root"
keys=$(sed -n 's/^gpgkey=//p' "$root/etc/yum.repos.d/critical-updates.repo" | sed "s|file://|file://$root|g; s/ /,/g")
anchor() {
  local s0 s1
  s0=$($PY proxy-idle --stats "$WORK/proxy.json")
  /usr/bin/time -f '%U %S' -o "$WORK/anchor.time" dnf -q --installroot="$root" \
    --setopt=reposdir="$root/etc/yum.repos.d" --repo=critical-updates \
    --setopt=critical-updates.metadata_expire=0 "--setopt=critical-updates.gpgkey=$keys" \
    check-update >"$WORK/anchor.log" 2>&1
  s1=$($PY proxy-idle --stats "$WORK/proxy.json")
  echo "$s0|$s1|$(cat "$WORK/anchor.time")"
}
ANCHOR=()
for _ in 1 2 3 4 5; do ANCHOR+=("$(anchor)"); done

python3 - "$K" "$PERIOD_SECS" "$DELAY_SECS" "$WORK" "$accepted" "$published" "$ADVISORY" \
  "$idle_t0" "$idle_t1" "$idle_s0" "$idle_s1" "${ANCHOR[@]}" <<'EOF'
import json, statistics, sys
k, period, delay, work = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
accepted, published, advisory = float(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
idle_t0, idle_t1 = float(sys.argv[8]), float(sys.argv[9])
idle_s0, idle_s1 = json.loads(sys.argv[10]), json.loads(sys.argv[11])
anchors = sys.argv[12:]

def q(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]

print(f"\npush accepted -> served by the origin (metalink changed): {published - accepted:.2f} s")
print(f"\n{'client':>6} {'visible s':>10} {'installed s':>12} {'updateinfo shows':>17} {'fix installed':>14}")
vis, inst, idle_cpu, idle_runs = [], [], [], 0
for i in range(1, k + 1):
    d = f"{work}/client{i}"
    v = n = None
    for line in open(f"{d}/out"):
        t, msg = line.split(" ", 1)
        t = float(t)
        if t < accepted:
            continue
        if v is None and "dnf's cache is at revision" in msg:
            v = t - accepted
        if n is None and f"applied {advisory}" in msg:
            n = t - accepted
    shown, installed = open(f"{d}/verified").read().split()
    for line in open(f"{d}/runs"):
        start, end, u, s, lines = line.split()
        if idle_t0 <= float(start) and float(end) <= idle_t1 and lines == "0":
            idle_cpu.append((float(u) + float(s)) * 1000)
            idle_runs += 1
    vis += [v] if v is not None else []
    inst += [n] if n is not None else []
    fmt = lambda x: f"{x:.1f}" if x is not None else "never"
    print(f"{i:>6} {fmt(v):>10} {fmt(n):>12} {'yes' if shown == '1' else 'NO':>17} {'yes' if installed == '1' else 'NO':>14}")
goal = period + delay
for name, xs in (("visible", vis), ("installed", inst)):
    if xs:
        print(f"{name}: {len(xs)}/{k} clients; min {min(xs):.1f} s, median {statistics.median(xs):.1f} s, "
              f"max {max(xs):.1f} s (one period + randomized delay = {goal:.0f} s, plus dnf's own run)")
    else:
        print(f"{name}: no client")
up = idle_s1["up"] - idle_s0["up"]; down = idle_s1["down"] - idle_s0["down"]
conns = idle_s1["connections"] - idle_s0["connections"]
print(f"\nidle window {idle_t1 - idle_t0:.0f} s: {idle_runs} silent checks (no dnf), {conns} connections, "
      f"up {up} B, down {down} B")
if idle_runs:
    per = (up + down) / max(conns, 1)
    print(f"idle check: {per:.0f} B on the wire per request (TCP payload, plain HTTP), "
          f"CPU median {statistics.median(idle_cpu):.0f} ms, p90 {q(idle_cpu, 0.9):.0f} ms "
          f"(user+sys of the check, curl and rpm; 10 ms resolution)")
    print(f"per client per day at the default 5-minute period (+0..2 min delay, ~288-240 checks): "
          f"<= {288 * per / 1024:.0f} KiB, <= {288 * statistics.median(idle_cpu) / 1000:.1f} CPU s")
a_bytes, a_cpu = [], []
for a in anchors:
    s0, s1, t = a.split("|")
    s0, s1 = json.loads(s0), json.loads(s1)
    a_bytes.append(s1["up"] + s1["down"] - s0["up"] - s0["down"])
    u, s = t.split()
    a_cpu.append((float(u) + float(s)) * 1000)
print(f"anchor, dnf check-update of the same repo with its metadata expired (x{len(anchors)}): "
      f"{statistics.median(a_bytes):.0f} B, CPU median {statistics.median(a_cpu):.0f} ms")
if idle_runs:
    print(f"ratio check/dnf: bytes {per / statistics.median(a_bytes):.2f}, "
          f"CPU {statistics.median(idle_cpu) / statistics.median(a_cpu):.2f}")
EOF
echo
echo "done; reproduce with: sudo bench/last-mile.sh"
