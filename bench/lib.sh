# bench/lib.sh - shared helpers of the benchmark scripts (sourced, not run).
#
# Owns: the temp work dir and its cleanup, the processes a benchmark starts
# (killed by pid on exit), a throw-away GnuPG key, signed RPMs built with
# rpmbuild + rpmsign, and a `hotpush serve` origin on [::1].
# Must not know: what is measured (that is the calling script and hpbench.py).

set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
SHARED_DIR=$(cd "$BENCH_DIR/../../shared" 2>/dev/null && pwd || true)
HOTPUSH=${HOTPUSH:-target/release/hotpush}
case "$HOTPUSH" in /*) ;; *) HOTPUSH="$REPO_ROOT/$HOTPUSH" ;; esac
PY="python3 $BENCH_DIR/hpbench.py"

die() { echo "bench: error: $*" >&2; exit 2; }
say() { echo "bench: $*" >&2; }

need() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found; hint: apt-get install the package that ships it"
  done
}

[ -x "$HOTPUSH" ] || die "no hotpush binary at $HOTPUSH; hint: run \`cargo build --release\` or set HOTPUSH=path"
[ "$(id -u)" = 0 ] || die "run as root (nginx on a chosen port, dnf installroot, sshd)"

WORK=$(mktemp -d /tmp/hotpush-bench.XXXXXX)
PIDS=()
KEEP=${KEEP:-0}
cleanup() {
  local p
  for p in ${PIDS[@]+"${PIDS[@]}"}; do
    kill "$p" 2>/dev/null
  done
  for p in ${PIDS[@]+"${PIDS[@]}"}; do
    wait "$p" 2>/dev/null
  done
  # Our keys, and the agents dnf starts for the keyrings in its installroot.
  for h in "$WORK"/gnupg* $(find "$WORK" -type d -name pubring 2>/dev/null); do
    [ -d "$h" ] && gpgconf --homedir "$h" --kill gpg-agent 2>/dev/null
  done
  if [ "$KEEP" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Remembers a background process to kill on exit.
track() { PIDS+=("$1"); }

# A free TCP port on [::1].
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0)); print(s.getsockname()[1])'; }

# Polls URL until it answers 200, at most $2 seconds (default 30).
wait_http() {
  $PY wait-http --url "$1" --timeout-secs "${2:-30}" || die "$1 did not answer in time"
}

# make_gpg HOME EMAIL ALGO: a passphrase-less signing key; exports EMAIL.asc next to HOME.
make_gpg() {
  local home=$1 email=$2 algo=${3:-rsa2048}
  mkdir -p "$home" && chmod 700 "$home"
  gpg --batch --quiet --homedir "$home" --pinentry-mode loopback --passphrase '' \
    --quick-gen-key "hotpush bench <$email>" "$algo" sign never 2>/dev/null \
    || die "gpg key generation failed"
  gpg --batch --homedir "$home" --armor --export "$email" > "$home.pub.asc"
}

# build_rpms OUTDIR NAME_PREFIX VERSION COUNT PAYLOAD_BYTES: one rpmbuild run with
# COUNT sub-packages NAME_PREFIX-1..COUNT, each with an incompressible payload,
# zstd payload compression (level 2) as Fedora does.
build_rpms() {
  local out=$1 prefix=$2 version=$3 count=$4 bytes=$5 i
  local top; top=$(mktemp -d "$WORK/rpmbuild.XXXXXX")
  mkdir -p "$top"/{SPECS,SOURCES,BUILD,RPMS,SRPMS,BUILDROOT} "$out"
  {
    echo "Name: $prefix-base"
    echo "Version: $version"
    echo "Release: 1"
    echo "Summary: hotpush benchmark package"
    echo "License: MIT"
    echo "%description"
    echo "Benchmark package."
    for i in $(seq 1 "$count"); do
      echo "%package -n $prefix-$i"
      echo "Summary: hotpush benchmark package $i"
      echo "%description -n $prefix-$i"
      echo "Benchmark package $i with a random payload."
      echo "%files -n $prefix-$i"
      echo "/usr/share/$prefix-$i"
    done
    echo "%install"
    for i in $(seq 1 "$count"); do
      echo "mkdir -p %{buildroot}/usr/share/$prefix-$i"
      echo "head -c $bytes /dev/urandom > %{buildroot}/usr/share/$prefix-$i/payload.bin"
    done
    echo "%changelog"
    echo "* Mon Nov 02 2026 Bench <bench@example.com> - $version-1"
    echo "- Benchmark build"
  } > "$top/SPECS/$prefix.spec"
  rpmbuild --quiet --define "_topdir $top" --define '_binary_payload w2.zstdio' \
    --define 'debug_package %{nil}' --define '__os_install_post %{nil}' \
    --target=x86_64 -bb "$top/SPECS/$prefix.spec" >"$top/build.log" 2>&1 \
    || { tail -20 "$top/build.log" >&2; die "rpmbuild failed"; }
  mv "$top"/RPMS/x86_64/"$prefix"-[0-9]*.rpm "$out"/
  rm -rf "$top"
}

# sign_rpms GPGHOME EMAIL RPM...: rpmsign in place (Debian's rpm needs __gpg).
sign_rpms() {
  local home=$1 email=$2; shift 2
  GNUPGHOME=$home rpmsign --addsign --define "_gpg_name $email" --define "_gpg_path $home" \
    --define '__gpg /usr/bin/gpg' "$@" >/dev/null 2>&1 || die "rpmsign failed"
}

# start_origin DIR PORT PUBLIC_URL TRUSTED_KEY [MIRRORS_TOML]: writes DIR/hotpush.toml,
# starts `hotpush serve`, waits until it answers; sets ORIGIN_URL, ORIGIN_CONFIG.
start_origin() {
  local dir=$1 port=$2 public=$3 key=$4 mirrors=${5:-}
  mkdir -p "$dir"
  ORIGIN_CONFIG=$dir/hotpush.toml
  ORIGIN_URL="http://[::1]:$port"
  cat > "$ORIGIN_CONFIG" <<EOF
data_dir = "$dir/data"
listen = ["[::1]:$port"]
public_url = "$public"

[repos]
channel = "critical"
releases = ["43"]
arches = ["x86_64", "aarch64"]

[intake]
trusted_keys = ["$key"]
package_bytes_max = 52428800
EOF
  local args=(serve --config "$ORIGIN_CONFIG")
  [ -n "$mirrors" ] && args+=(--mirrors "$mirrors")
  RUST_LOG=${RUST_LOG:-warn} "$HOTPUSH" "${args[@]}" >"$dir/origin.out" 2>"$dir/origin.log" &
  track $!
  wait_http "$ORIGIN_URL/api/v1/status" 30
}

# make_token DIR: issues a security-group token into DIR/bench.token.
make_token() {
  "$HOTPUSH" token create --config "$ORIGIN_CONFIG" --user bench --group security \
    > "$1/bench.token" 2>"$1/token.err" || { cat "$1/token.err" >&2; die "token create failed"; }
  chmod 600 "$1/bench.token"
}

# ms since the epoch-ish monotonic start, for progress lines.
cpus() { nproc 2>/dev/null || echo "?"; }
