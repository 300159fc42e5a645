#!/usr/bin/env bash
# Repodata benchmark: `hotpush createrepo` against Debian's createrepo_c 0.17.3
# (`--no-database --workers 2`), side by side in one run of the shared harness
# (shared/tools/gen-rpms/bench_repodata.py), on 1000 small synthetic packages
# plus one added package. Prints the medians and the hotpush/createrepo_c ratio.
#
#   bench/repodata.sh [REPS]        default 11 timed runs per scenario
#
# The generated packages are cached in $HOTPUSH_BENCH_DATA (default
# ${TMPDIR:-/tmp}/hotpush-bench-data); generating them takes about a minute.
# Not a test: it times things, so run it on an otherwise idle machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
shared=$(cd "$(dirname "$0")/../../shared" && pwd)
tools="$shared/tools/gen-rpms"
reps=${1:-11}
data=${HOTPUSH_BENCH_DATA:-${TMPDIR:-/tmp}/hotpush-bench-data}
work=$(mktemp -d "${TMPDIR:-/tmp}/hotpush-bench-work.XXXXXX")
trap 'rm -rf "$work"' EXIT

command -v createrepo_c >/dev/null || { echo "bench: createrepo_c is not installed (apt-get install createrepo-c)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is not installed (apt-get install time)" >&2; exit 1; }

if [ ! -f "$data/.complete" ]; then
  echo "bench: generating packages into $data (cached for later runs)" >&2
  rm -rf "$data"
  "$tools/gen_rpms.py" --out "$data/small" --count 1000 --jobs 2 >/dev/null
  "$tools/gen_rpms.py" --out "$data/extra" --count 1 --start 1000 >/dev/null
  "$tools/gen_rpms.py" --out "$data/extra" --count 1 --start 1001 >/dev/null
  touch "$data/.complete"
fi

(cd "$repo" && cargo build --release --quiet)
target=${CARGO_TARGET_DIR:-$repo/target}
# Private copy: a target directory shared by several worktrees may get another
# build's binary at the same path while we run.
bin="$work/hotpush"
cp "$target/release/hotpush" "$bin"
crc="createrepo_c -q --no-database --workers 2"

python3 "$tools/bench_repodata.py" --data "$data" --work "$work" --reps "$reps" \
  --out "$work/results.json" --only empty,full-small,update-add1 \
  --tool "createrepo_c=$crc {repo}|$crc --update {repo}" \
  --tool "hotpush=$bin createrepo {repo}|$bin createrepo {repo}"

python3 - "$work/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c, h = r["createrepo_c"], r["hotpush"]
print()
print("| scenario | createrepo_c 0.17.3 --no-database --workers 2 | hotpush createrepo (zst) | ratio | repodata bytes (crc / hotpush) |")
print("|---|---|---|---|---|")
for s in ("full-small", "update-add1", "empty"):
    if s not in c or s not in h:
        continue
    size = lambda x: sum(n for name, n in x[s]["files"] if not name.startswith("."))
    print(f"| {s} | {c[s]['median_s']*1000:.0f} ms / {c[s]['median_rss_kb']/1024:.1f} MiB "
          f"| {h[s]['median_s']*1000:.0f} ms / {h[s]['median_rss_kb']/1024:.1f} MiB "
          f"| {h[s]['median_s']/c[s]['median_s']:.2f}x | {size(c)} / {size(h)} |")
print(f"\n{r['_meta']['reps']} timed runs per scenario after one warm-up, median wall time / median peak RSS; "
      f"nproc {r['_meta']['nproc']}, kernel {r['_meta']['uname']}, {r['_meta']['date']}")
PY
