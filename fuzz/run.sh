#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), at low priority, with a
# working corpus seeded from fuzz/seeds/ and the shared test data; prints
# executions and time per target and stops at the first crash (libFuzzer writes
# the input to fuzz/artifacts/TARGET/). Needs cargo-fuzz and a nightly toolchain:
#   cargo install cargo-fuzz && rustup toolchain install nightly
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(rpm_intake repomd primary updateinfo metalink protocol config trigger lane)
fi
shared="${HOTPUSH_SHARED:-$here/../../shared}"
work="${FUZZ_CORPUS_DIR:-$here/corpus}"

seed() {
    local target="$1" dir="$work/$1"
    mkdir -p "$dir"
    if [ -d "$here/seeds/$target" ]; then
        cp -n "$here/seeds/$target"/* "$dir"/ 2>/dev/null || true
    fi
    case "$target" in
        rpm_intake)
            # Real packages are small (the largest shared one is under 100 KiB).
            find "$shared/testdata" -name '*.rpm' -size -200k 2>/dev/null | while read -r f; do
                cp -n "$f" "$dir/$(basename "$f")" 2>/dev/null || true
            done ;;
        repomd|primary)
            find "$shared/testdata" -name "${target}*.xml" 2>/dev/null | while read -r f; do
                cp -n "$f" "$dir/$(basename "$f")" 2>/dev/null || true
            done ;;
    esac
}

cd "$here"
nice -n 19 cargo +nightly fuzz build
for target in "${targets[@]}"; do
    seed "$target"
    log="$(mktemp)"
    start=$(date +%s)
    if ! nice -n 19 cargo +nightly fuzz run "$target" "$work/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -40 "$log"
        echo "$target: CRASH after $(( $(date +%s) - start )) s (input in fuzz/artifacts/$target/)"
        exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    echo "$target: $runs executions in $(( $(date +%s) - start )) s, no crash"
    rm -f "$log"
done
