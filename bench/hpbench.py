#!/usr/bin/env python3
"""hpbench.py - the measuring half of the hotpush benchmarks (Python 3 stdlib only).

Owns: HTTP calls to the origin's API (push, upload, submit, retire, follow),
the timing of each benchmark and of its anchor (createrepo_c + gpg, plain
rsync) in the same run, and a byte-counting loopback TCP proxy.
Must not know: how the origin, partners, nginx or sshd were started (bench/*.sh).

Every loop is bounded by a deadline; every URL must be loopback.
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

POLL_DEADLINE_SECS = 60.0


def die(msg, hint=None):
    print(f"hpbench: error: {msg}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    sys.exit(2)


def split_url(url):
    u = urllib.parse.urlsplit(url)
    host = u.hostname or ""
    if not (host == "::1" or host == "localhost" or host.startswith("127.")):
        die(f"refusing non-loopback URL {url}", "benchmarks run on loopback only")
    return host, u.port or 80, (u.path or "/") + (("?" + u.query) if u.query else "")


class Client:
    """One keep-alive HTTP/1.1 connection to the origin, reopened when it drops."""

    def __init__(self, base, token=None):
        self.host, self.port, _ = split_url(base)
        self.token = token
        self.conn = None

    def _conn(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30, blocksize=1 << 20)
        return self.conn

    def headers(self, extra=None):
        h = {}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        h.update(extra or {})
        return h

    def send(self, method, path, body=None, headers=None):
        """Sends the request (body fully written to the socket) without reading the answer."""
        c = self._conn()
        c.request(method, path, body=body, headers=self.headers(headers))

    def answer(self):
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.getheader("connection", "").lower() == "close":
            self.close()
        return resp.status, data

    def call(self, method, path, body=None, headers=None):
        for attempt in range(2):
            try:
                self.send(method, path, body, headers)
                return self.answer()
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt == 1 or body is not None and not isinstance(body, (bytes, str)):
                    raise
        raise AssertionError("unreachable")

    def json(self, method, path, obj=None, expect=(200,)):
        body = json.dumps(obj).encode() if obj is not None else None
        hdr = {"Content-Type": "application/json"} if body is not None else {}
        status, data = self.call(method, path, body, hdr)
        if status not in expect:
            die(f"{method} {path} answered {status}: {data[:400]!r}")
        return json.loads(data) if data else None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def repomd_path(arch="x86_64"):
    return f"/pub/critical/43/{arch}/repodata/repomd.xml"


def wait_change(client, path, old, deadline_secs=POLL_DEADLINE_SECS):
    """Tight GET loop until `path` answers 200 with bytes other than `old`.
    Returns (monotonic time of the change, new bytes, polls)."""
    until = time.monotonic() + deadline_secs
    polls = 0
    while time.monotonic() < until:
        status, data = client.call("GET", path)
        polls += 1
        if status == 200 and data != old:
            return time.monotonic(), data, polls
    die(f"{path} did not change within {deadline_secs} s", "see the origin log in the kept work dir (KEEP=1)")


def get_bytes(client, path):
    status, data = client.call("GET", path)
    return data if status == 200 else None


def open_push(api, advisory, n):
    return api.json(
        "POST",
        "/api/v1/pushes",
        {
            "advisory": advisory,
            "severity": "critical",
            "cves": [f"CVE-2026-{9000 + n}"],
            "summary": f"Benchmark fix {n}",
            "description": "A benchmark advisory.",
            "releases": ["43"],
        },
        expect=(201,),
    )["id"]


def upload_all(api, push_id, rpms):
    """PUTs every RPM; returns the monotonic time the last body was fully sent and
    the time the first PUT started."""
    t_first = time.monotonic()
    t_last_sent = None
    for rpm in rpms:
        name = os.path.basename(rpm)
        size = os.path.getsize(rpm)
        with open(rpm, "rb") as f:
            api.send(
                "PUT",
                f"/api/v1/pushes/{push_id}/packages/{name}",
                body=f,
                headers={"Content-Length": str(size), "Content-Type": "application/x-rpm"},
            )
            t_last_sent = time.monotonic()
        status, data = api.answer()
        if status != 201:
            die(f"upload of {name} answered {status}: {data[:400]!r}")
    return t_first, t_last_sent


def ms(seconds):
    return round(seconds * 1000.0, 1)


def run(argv, **kw):
    t = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        die(f"{argv[0]} failed ({r.returncode}): {r.stderr.decode(errors='replace')[-600:]}")
    return time.monotonic() - t


def anchor_createrepo(rpms, work, gpg_home, gpg_email):
    """createrepo_c --no-database --workers 2 on a directory of the same RPMs, then
    gpg --detach-sign --armor repomd.xml. Returns (createrepo s, sign s)."""
    if os.path.exists(work):
        shutil.rmtree(work)
    pkgs = os.path.join(work, "Packages")
    os.makedirs(pkgs)
    for rpm in rpms:
        os.link(rpm, os.path.join(pkgs, os.path.basename(rpm)))
    t_cr = run(["createrepo_c", "--quiet", "--no-database", "--workers", "2", work])
    repomd = os.path.join(work, "repodata", "repomd.xml")
    t_sign = run(
        ["gpg", "--batch", "--quiet", "--yes", "--homedir", gpg_home, "--pinentry-mode", "loopback",
         "--passphrase", "", "--local-user", gpg_email, "--detach-sign", "--armor", repomd]
    )
    if not os.path.getsize(repomd + ".asc"):
        die("gpg wrote an empty signature")
    return t_cr, t_sign


def summary(label, values):
    return f"{label}: median {statistics.median(values):.1f} ms (min {min(values):.1f}, max {max(values):.1f}, n={len(values)})"


def cmd_wait_http(a):
    until = time.monotonic() + a.timeout_secs
    host, port, path = split_url(a.url)
    while time.monotonic() < until:
        try:
            c = http.client.HTTPConnection(host, port, timeout=2)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit(1)


def cmd_publish(a):
    """Issue 3a: last upload byte -> new repomd.xml served, N rounds, with the anchor."""
    token = open(a.token).read().strip()
    api = Client(a.origin, token)
    poll = Client(a.origin)
    rows = []
    for n, d in enumerate(a.rpm_dirs, start=1):
        rpms = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".rpm"))
        advisory = f"BENCH-2026-{n:04d}"
        old = get_bytes(poll, repomd_path())
        push_id = open_push(api, advisory, n)
        t_first, t0 = upload_all(api, push_id, rpms)
        api.json("POST", f"/api/v1/pushes/{push_id}/submit", expect=(202,))
        t1, _, polls = wait_change(poll, repomd_path(), old)
        hot = t1 - t0
        t_cr, t_sign = anchor_createrepo(rpms, os.path.join(a.work, f"anchor-{n}"), a.gpg_home, a.gpg_email)
        row = {
            "round": n,
            "packages": len(rpms),
            "mbytes": round(sum(os.path.getsize(r) for r in rpms) / 1e6, 1),
            "hotpush_ms": ms(hot),
            "upload_and_publish_ms": ms(t1 - t_first),
            "polls": polls,
            "createrepo_ms": ms(t_cr),
            "gpg_sign_ms": ms(t_sign),
            "anchor_ms": ms(t_cr + t_sign),
        }
        row["ratio"] = round(row["hotpush_ms"] / row["anchor_ms"], 3)
        rows.append(row)
        print(
            f"round {n}: hotpush last-byte->served {row['hotpush_ms']} ms ({polls} polls; "
            f"upload+publish {row['upload_and_publish_ms']} ms) | anchor createrepo_c {row['createrepo_ms']} ms "
            f"+ gpg {row['gpg_sign_ms']} ms = {row['anchor_ms']} ms | ratio {row['ratio']}",
            flush=True,
        )
        if not a.keep_published and n < len(a.rpm_dirs):
            # Retire so that every round publishes exactly its own packages, as the anchor
            # does; the last round stays published for the serving benchmarks.
            old = get_bytes(poll, repomd_path())
            api.json("POST", f"/api/v1/advisories/{advisory}/retire", expect=(202,))
            wait_change(poll, repomd_path(), old)
    hot = [r["hotpush_ms"] for r in rows]
    anc = [r["anchor_ms"] for r in rows]
    print(summary("hotpush last upload byte -> new repomd.xml served", hot))
    print(summary("anchor createrepo_c --workers 2 + gpg --detach-sign", anc))
    print(summary("  of which createrepo_c", [r["createrepo_ms"] for r in rows]))
    print(f"ratio hotpush/anchor (medians): {statistics.median(hot) / statistics.median(anc):.3f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


def rsync_two_pass(tree, dest, ssh_cmd):
    """Plain two-pass rsync: data without repomd.xml*, then repomd.xml + .asc."""
    base = ["rsync", "--recursive", "--copy-links", "--times", "--delay-updates", "-e", ssh_cmd]
    t = time.monotonic()
    run(base + ["--exclude", "repodata/repomd.xml*", tree + "/", dest])
    run(base + ["--ignore-times", "--include", "*/", "--include", "repodata/repomd.xml*", "--exclude", "*",
                tree + "/", dest])
    return time.monotonic() - t


def mirror_key(m):
    return (m["name"], m["repo"])


PARTNER_POLL_SECS = 0.002


class EventLog:
    """Follows GET /api/v1/events (SSE) in a daemon thread and keeps every event."""

    def __init__(self, base):
        host, port, _ = split_url(base)
        self.events = []
        self.lock = threading.Lock()
        self.conn = http.client.HTTPConnection(host, port, timeout=600)
        self.conn.request("GET", "/api/v1/events", headers={"Accept": "text/event-stream"})
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            die(f"GET /api/v1/events answered {self.resp.status}")
        threading.Thread(target=self.follow, daemon=True).start()

    def follow(self):
        try:
            for raw in self.resp:
                line = raw.decode(errors="replace").rstrip("\r\n")
                if line.startswith("data:"):
                    try:
                        e = json.loads(line[5:].strip())
                    except ValueError:
                        continue
                    with self.lock:
                        self.events.append(e)
        except (OSError, http.client.HTTPException):
            pass

    def partner_stages(self, since_ms):
        """{mirror: {kind: ms after since_ms}} for partner-* events at or after since_ms."""
        out = {}
        with self.lock:
            for e in self.events:
                kind = e.get("kind", "")
                if not kind.startswith("partner-") or e.get("at_ms", 0) < since_ms:
                    continue
                mirror = e.get("message", "").split(":", 1)[0]
                out.setdefault(mirror, {}).setdefault(kind, e["at_ms"] - since_ms)
        return out


def settle_partners(api, deadline_secs=30.0):
    """Waits (bounded) until the start-up publication has reached every partner, so
    that round 1 does not queue behind the start-up fan-out."""
    until = time.monotonic() + deadline_secs
    while time.monotonic() < until:
        mirrors = api.json("GET", "/api/v1/status")["mirrors"]
        if mirrors and all(m["current"] for m in mirrors) and api.json("GET", "/api/v1/status")["queue_depth"] == 0:
            return
        time.sleep(0.05)
    print(f"hpbench: warning: partners not all current after {deadline_secs} s; round 1 may wait for the "
          "start-up fan-out", file=sys.stderr)


def cmd_partners(a):
    """Issue 4: submit's 202 -> every mirror verified current, with the rsync anchor."""
    token = open(a.token).read().strip()
    api = Client(a.origin, token)
    poll = Client(a.origin)
    rows = []
    events = EventLog(a.origin)
    settle_partners(api)
    for n, d in enumerate(a.rpm_dirs, start=1):
        rpms = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".rpm"))
        advisory = f"BENCH-2026-{100 + n:04d}"
        before = {mirror_key(m): m["revision"] for m in api.json("GET", "/api/v1/status")["mirrors"]}
        push_id = open_push(api, advisory, 100 + n)
        upload_all(api, push_id, rpms)
        api.json("POST", f"/api/v1/pushes/{push_id}/submit", expect=(202,))
        t_accepted = time.monotonic()
        until = t_accepted + POLL_DEADLINE_SECS
        t_published = None
        polls = 0
        while True:
            view = poll.json("GET", f"/api/v1/pushes/{push_id}")
            polls += 1
            now = time.monotonic()
            if view["state"] == "failed":
                die(f"push {push_id} failed: {view.get('error')}")
            if view["state"] == "published" and t_published is None:
                t_published = now
            mirrors = view["mirrors"]
            if (
                view["state"] == "published"
                and mirrors
                and all(m["current"] and m["revision"] > before.get(mirror_key(m), 0) for m in mirrors)
            ):
                t_all = now
                break
            if now > until:
                die(f"not every partner verified within {POLL_DEADLINE_SECS} s: {json.dumps(mirrors)}")
            # Each poll costs the origin a SQLite read; on 2 cores a busy loop would
            # steal CPU from the fan-out it measures.
            time.sleep(PARTNER_POLL_SECS)
        names = sorted({m["name"] for m in mirrors})
        # Server clock, from the SSE events: each partner's stages after the acceptance.
        per_mirror = events.partner_stages(view["accepted_at_ms"])
        # Anchor: the same published tree, two-pass rsync to three directories in parallel.
        with concurrent.futures.ThreadPoolExecutor(len(a.anchor_dest)) as pool:
            t = time.monotonic()
            list(pool.map(lambda dest: rsync_two_pass(a.tree, dest, a.ssh), a.anchor_dest))
            t_anchor = time.monotonic() - t
        row = {
            "round": n,
            "packages": len(rpms),
            "mirrors": names,
            "publish_ms": ms(t_published - t_accepted),
            "all_verified_ms": ms(t_all - t_accepted),
            "fanout_ms": ms(t_all - t_published),
            "polls": polls,
            "stages_after_accept_ms": per_mirror,
            "rsync_anchor_ms": ms(t_anchor),
        }
        row["ratio"] = round(row["all_verified_ms"] / row["rsync_anchor_ms"], 3)
        row["ratio_fanout_only"] = round(row["fanout_ms"] / row["rsync_anchor_ms"], 3)
        rows.append(row)
        print(
            f"round {n}: hotpush 202 -> {len(names)} partners verified {row['all_verified_ms']} ms "
            f"(publish {row['publish_ms']} ms, fan-out+verify {row['fanout_ms']} ms) | anchor 3x two-pass rsync "
            f"{row['rsync_anchor_ms']} ms | ratio {row['ratio']} (fan-out only {row['ratio_fanout_only']})",
            flush=True,
        )
        for name, st in sorted(per_mirror.items()):
            print(f"  {name}: " + ", ".join(f"{k[8:]} +{v} ms" for k, v in sorted(st.items(), key=lambda kv: kv[1])),
                  flush=True)
    tot = [r["all_verified_ms"] for r in rows]
    fan = [r["fanout_ms"] for r in rows]
    anc = [r["rsync_anchor_ms"] for r in rows]
    print(summary("hotpush submit 202 -> all partners verified", tot))
    print(summary("  of which fan-out + verification after publish", fan))
    print(summary("anchor: 3 x two-pass rsync over ssh, in parallel", anc))
    print(f"ratio hotpush total/anchor (medians): {statistics.median(tot) / statistics.median(anc):.3f}; "
          f"fan-out only/anchor: {statistics.median(fan) / statistics.median(anc):.3f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
        with open(a.json + ".events", "w") as f:
            with events.lock:
                json.dump(events.events, f, indent=1)


class Proxy:
    """A counting TCP proxy: every byte client->server (up) and server->client (down)."""

    def __init__(self, listen_port, target_port, stats):
        self.target = ("::1", target_port)
        self.stats = stats
        self.lock = threading.Lock()
        self.up = self.down = self.conns = self.open = 0
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("::1", listen_port))
        self.sock.listen(64)
        self.write()

    def write(self):
        tmp = self.stats + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"up": self.up, "down": self.down, "connections": self.conns, "open": self.open}, f)
        os.replace(tmp, self.stats)

    def pipe(self, src, dst, field):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    setattr(self, field, getattr(self, field) + len(data))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def handle(self, client):
        try:
            server = socket.create_connection(self.target, timeout=10)
            server.settimeout(None)
        except OSError:
            client.close()
            return
        with self.lock:
            self.conns += 1
            self.open += 1
            self.write()
        t = threading.Thread(target=self.pipe, args=(server, client, "down"), daemon=True)
        t.start()
        self.pipe(client, server, "up")
        t.join(timeout=120)
        client.close()
        server.close()
        with self.lock:
            self.open -= 1
            self.write()

    def serve(self):
        while True:
            client, _ = self.sock.accept()
            threading.Thread(target=self.handle, args=(client,), daemon=True).start()


def cmd_proxy(a):
    Proxy(a.listen_port, a.target_port, a.stats).serve()


def cmd_proxy_idle(a):
    """Waits (bounded) until the proxy has no open connection; prints its counters."""
    until = time.monotonic() + a.timeout_secs
    while True:
        with open(a.stats) as f:
            s = json.load(f)
        if s["open"] == 0 or time.monotonic() > until:
            print(json.dumps(s))
            return
        time.sleep(0.02)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("wait-http")
    w.add_argument("--url", required=True)
    w.add_argument("--timeout-secs", type=float, default=30)
    w.set_defaults(fn=cmd_wait_http)
    pb = sub.add_parser("publish")
    pb.add_argument("--origin", required=True)
    pb.add_argument("--token", required=True)
    pb.add_argument("--work", required=True)
    pb.add_argument("--gpg-home", required=True)
    pb.add_argument("--gpg-email", required=True)
    pb.add_argument("--json")
    pb.add_argument("--keep-published", action="store_true")
    pb.add_argument("rpm_dirs", nargs="+")
    pb.set_defaults(fn=cmd_publish)
    pp = sub.add_parser("partners")
    pp.add_argument("--origin", required=True)
    pp.add_argument("--token", required=True)
    pp.add_argument("--tree", required=True, help="the origin's published repo directory")
    pp.add_argument("--ssh", required=True, help="rsync -e command")
    pp.add_argument("--anchor-dest", action="append", required=True)
    pp.add_argument("--json")
    pp.add_argument("rpm_dirs", nargs="+")
    pp.set_defaults(fn=cmd_partners)
    px = sub.add_parser("proxy")
    px.add_argument("--listen-port", type=int, required=True)
    px.add_argument("--target-port", type=int, required=True)
    px.add_argument("--stats", required=True)
    px.set_defaults(fn=cmd_proxy)
    pi = sub.add_parser("proxy-idle")
    pi.add_argument("--stats", required=True)
    pi.add_argument("--timeout-secs", type=float, default=10)
    pi.set_defaults(fn=cmd_proxy_idle)
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
