#!/usr/bin/env bash
# bench/partners.sh - partner push benchmark (issue 4), side by side with its anchor in one run.
#
# An origin with mirrors.toml listing two `hotpush receive` partners (https push with
# ca_file = their generated certificate, public tree over their plain-HTTP listener)
# and one rsync partner (a real sshd on [::1], plain key, no forced command; its web
# server is a third receiver's plain-HTTP /pub over the directory rsync writes).
# Each round pushes 5 new signed packages of 10 MB and measures from the submit's
# 202 to the moment GET /api/v1/pushes/{id} shows every mirror `current: true` at
# a newer revision. Anchor, same round: a plain two-pass rsync (data without
# repodata/repomd.xml*, then repomd.xml + .asc) of the origin's published repo
# directory to three directories over the same sshd, the three in parallel.
# Also prints the metalink size with the three partners listed.
#
# Usage: bench/partners.sh      (as root; env: HOTPUSH, ROUNDS=3, PKG_BYTES=10485760, KEEP=1)
# Loopback only ([::1]). Takes about a minute on 2 cores.
set -u -o pipefail
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-3}
PKG_BYTES=${PKG_BYTES:-10485760}
need rpmbuild rpmsign gpg rsync ssh ssh-keygen python3 curl
[ -x /usr/sbin/sshd ] || die "sshd not found at /usr/sbin/sshd; hint: apt-get install openssh-server"

echo "== hotpush partner push benchmark ($(date -u +%FT%TZ), $(cpus) cpus, load $(cut -d" " -f1-3 /proc/loadavg), $("$HOTPUSH" --version 2>/dev/null))"

make_gpg "$WORK/gnupg-pkg" pkg@bench.invalid rsa2048
say "building $ROUNDS x 5 signed packages of $PKG_BYTES bytes"
DIRS=()
for r in $(seq 1 "$ROUNDS"); do
  build_rpms "$WORK/rpms/round$r" "partnerr$r" "1.$r" 5 "$PKG_BYTES"
  sign_rpms "$WORK/gnupg-pkg" pkg@bench.invalid "$WORK/rpms/round$r"/*.rpm
  DIRS+=("$WORK/rpms/round$r")
done

# --- partners ------------------------------------------------------------------
# start_receiver NAME: sets RX_PUSH[NAME], RX_PUBLIC[NAME]
declare -A RX_PUSH RX_PUBLIC
start_receiver() {
  local d="$WORK/rx-$1"
  mkdir -p "$d"
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$d/secret"
  chmod 600 "$d/secret"
  "$HOTPUSH" receive --listen '[::1]:0' --public-listen '[::1]:0' --secret-file "$d/secret" \
    --data-dir "$d/data" >"$d/out.log" 2>"$d/err.log" &
  track $!
  local i
  for i in $(seq 1 200); do
    [ -s "$d/data/listening" ] && grep -q '^public ' "$d/data/listening" && break
    sleep 0.05
  done
  [ -s "$d/data/listening" ] || die "hotpush receive $1 did not start: $(tail -5 "$d/err.log")"
  RX_PUSH[$1]=$(awk '$1 == "push" { print $2 }' "$d/data/listening")
  RX_PUBLIC[$1]=$(awk '$1 == "public" { print $2 }' "$d/data/listening")/pub
}
start_receiver a
start_receiver b
start_receiver c   # the rsync partner's web server
RSYNC_TREE="$WORK/rx-c/data/pub"
mkdir -p "$RSYNC_TREE"

SSHD="$WORK/sshd"; mkdir -p "$SSHD"
ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$SSHD/host_key"
ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$SSHD/client_key"
echo "restrict $(cat "$SSHD/client_key.pub")" > "$SSHD/authorized_keys"
SPORT=$(free_port)
cat > "$SSHD/sshd_config" <<EOF
Port $SPORT
ListenAddress ::1
HostKey $SSHD/host_key
PidFile $SSHD/sshd.pid
AuthorizedKeysFile $SSHD/authorized_keys
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
LogLevel ERROR
EOF
mkdir -p /run/sshd
/usr/sbin/sshd -D -e -f "$SSHD/sshd_config" 2>"$SSHD/sshd.log" &
track $!
SSH_CMD="ssh -i $SSHD/client_key -p $SPORT -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=$SSHD/known_hosts -o StrictHostKeyChecking=accept-new"
for i in $(seq 1 100); do
  $SSH_CMD "$(id -un)@::1" true 2>/dev/null && break
  sleep 0.05
done
$SSH_CMD "$(id -un)@::1" true || die "sshd on [::1]:$SPORT does not let the bench key in: $(tail -5 "$SSHD/sshd.log")"

cat > "$WORK/mirrors.toml" <<EOF
[[mirror]]
name = "partner-a"
public_url = "${RX_PUBLIC[a]}"
method = "https"
push_url = "${RX_PUSH[a]}"
secret_file = "$WORK/rx-a/secret"
ca_file = "$WORK/rx-a/data/tls/cert.pem"

[[mirror]]
name = "partner-b"
public_url = "${RX_PUBLIC[b]}"
method = "https"
push_url = "${RX_PUSH[b]}"
secret_file = "$WORK/rx-b/secret"
ca_file = "$WORK/rx-b/data/tls/cert.pem"

[[mirror]]
name = "partner-c"
public_url = "${RX_PUBLIC[c]}"
method = "rsync"
push_url = "ssh://$(id -un)@[::1]:$SPORT$RSYNC_TREE"
secret_file = "$SSHD/client_key"
EOF

OPORT=$(free_port)
start_origin "$WORK/origin" "$OPORT" "http://[::1]:$OPORT" "$WORK/gnupg-pkg.pub.asc" "$WORK/mirrors.toml"
make_token "$WORK/origin"
say "origin at $ORIGIN_URL; partners a ${RX_PUSH[a]}, b ${RX_PUSH[b]}, c rsync over ssh [::1]:$SPORT"

# --- measure -----------------------------------------------------------------------
ANCHOR_ARGS=()
for i in 1 2 3; do
  mkdir -p "$WORK/anchor-$i"
  ANCHOR_ARGS+=(--anchor-dest "$(id -un)@[::1]:$WORK/anchor-$i/")
done
echo
echo "== submit 202 -> all 3 partners verified (5 x $PKG_BYTES B per round, $ROUNDS rounds)"
$PY partners --origin "$ORIGIN_URL" --token "$WORK/origin/bench.token" \
  --tree "$WORK/origin/data/pub/critical/43/x86_64" --ssh "$SSH_CMD" \
  "${ANCHOR_ARGS[@]}" --json "$WORK/partners.json" "${DIRS[@]}" \
  || die "partner benchmark failed (KEEP=1 keeps $WORK/origin/origin.log)"

# The anchor trees must equal what the partners hold (same files, same bytes).
for i in 1 2 3; do
  diff -r "$WORK/anchor-$i" "$WORK/rx-a/data/pub/critical/43/x86_64" >/dev/null \
    || say "warning: anchor-$i differs from partner-a's tree (see KEEP=1)"
done

echo
ML=$(curl -fsS -g "$ORIGIN_URL/metalink?repo=critical-f43&arch=x86_64") || die "cannot fetch the metalink"
urls=$(grep -c '<url ' <<<"$ML")
echo "metalink body with $((urls - 1)) partners listed ($urls urls): $(printf '%s' "$ML" | wc -c) bytes (target < 1500)"
echo
echo "done; reproduce with: sudo bench/partners.sh"
