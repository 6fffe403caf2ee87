#!/usr/bin/env python3
"""The Clavis benchmark (run it with bench/run.sh, which builds and installs first).

Starts the release binary on a free loopback port with a fresh database and node
oidc-provider (bench/peer) beside it, checks that both token endpoints really return
JWTs, then loads them with wrk (64 keep-alive connections, fixed duration after a
warm-up) in interleaved rounds: Clavis tokens, peer tokens, Clavis /healthz, and a
database-free Clavis endpoint. Then: tokens with 1,000 and 100,000 credentials in the
database, the database size before and after 1,000,000 token requests, the server's
memory under load, /mcp tools/call whoami, the gateway against calling its upstream
directly (a small rmcp MCP server, bench/upstream) and an SSE answer of
1,000 events through both, and the dashboard's first page with 10,000 credentials. Prints a table and writes it to bench/results.md (bench/out/ for --smoke).

Any non-2xx answer or socket error under load fails the run: a broken endpoint must not
look fast. Targets are reported, never asserted (machine noise must not fail CI).
"""

import argparse
import base64
import datetime
import http.client
import json
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "clavis"
PEER = ROOT / "bench" / "peer" / "server.mjs"
UPSTREAM = ROOT / "target" / "release" / "bench-upstream"
ASSERTIONS = ROOT / "target" / "release" / "bench-assertions"
PASSWORD = "bench password 1234"

TOKEN_LUA = """
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
"""
# A form POST without client authentication (the workload token is in the body).
FORM_LUA = """
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
"""
MCP_LUA = """
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-06-18"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
"""

# Requests that each send the next line of a file made ahead of the run (bench/lua,
# shared with bench/profile.sh).
LINES_LUA = (ROOT / "bench" / "lua" / "lines.lua").read_text()

# private_key_jwt: the assertion ends the form body.
JWT_LUA = LINES_LUA + """
function request()
  local body = os.getenv("BENCH_BODY") .. next_line()
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
"""

DPOP_LUA = LINES_LUA + (ROOT / "bench" / "lua" / "dpop.lua").read_text()

ECHO_LUA = """
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-06-18"
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
"""

# The same call in MCP 2026-07-28: no session, the version and capabilities in `_meta`,
# the body mirrored in headers (which the gateway checks against it).
MODERN_ECHO_BODY = json.dumps({
    "jsonrpc": "2.0", "id": 1, "method": "tools/call",
    "params": {"name": "echo", "arguments": {"text": "hello"}, "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}},
}, separators=(",", ":"))
MODERN_HEADERS = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "echo"}
MODERN_ECHO_LUA = f"""
wrk.method = "POST"
wrk.body = '{MODERN_ECHO_BODY}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
""" + "".join(f'wrk.headers["{name}"] = "{value}"\n' for name, value in MODERN_HEADERS.items()) + """
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
"""


class BenchError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(url: str, timeout: float) -> http.client.HTTPConnection:
    parsed = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)


def wait_until_up(url: str, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{what} exited with {process.returncode} while starting")
        try:
            conn = connect(url, timeout=1)
            conn.request("GET", urllib.parse.urlsplit(url).path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError(f"{what} did not come up at {url}")


def post_token(base: str, client_id: str, secret: str, body: str) -> dict:
    conn = connect(base, timeout=10)
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    conn.request(
        "POST",
        "/mcp/oauth/token",
        body=body,
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    response = conn.getresponse()
    payload = response.read()
    if response.status != 200:
        raise BenchError(f"token endpoint at {base} answered {response.status}: {payload[:200]!r}")
    return json.loads(payload)


def check_modern_echo(url: str, token: str) -> None:
    """The modern call must really be answered as one (a refusal must not look fast)."""
    conn = connect(url, timeout=10)
    conn.request("POST", urllib.parse.urlsplit(url).path, body=MODERN_ECHO_BODY, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream", **MODERN_HEADERS,
    })
    response = conn.getresponse()
    payload = response.read()
    if response.status != 200 or b'"hello"' not in payload or b'"error"' in payload:
        raise BenchError(f"a 2026-07-28 tools/call through the gateway answered {response.status}: {payload[:300]!r}")


def check_jwt(token: str, alg: str, what: str) -> None:
    """A broken endpoint must not look fast: the answer must be a signed JWT."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise BenchError(f"{what} did not return a signed JWT: {token[:40]!r}")
    header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    if header.get("alg") != alg or header.get("typ") != "at+jwt" or "exp" not in claims:
        raise BenchError(f"{what} returned an unexpected token: header {header}")


LATENCY = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def parse_wrk(output: str) -> dict:
    def ms(value: str, unit: str) -> float:
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if not rps or not total:
        raise BenchError(f"cannot read wrk's output:\n{output}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    latency = {p: ms(v, u) for p, v, u in LATENCY.findall(output)}
    return {
        "rps": float(rps.group(1)),
        "requests": int(total.group(1)),
        "p50": latency.get("50"),
        "p99": latency.get("99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
    }


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args = args
        self.workdir = workdir
        self.processes: list[subprocess.Popen] = []
        self.scripts = {}
        for name, text in (("token", TOKEN_LUA), ("mcp", MCP_LUA), ("echo", ECHO_LUA), ("modern", MODERN_ECHO_LUA), ("jwt", JWT_LUA), ("form", FORM_LUA), ("dpop", DPOP_LUA)):
            path = workdir / f"{name}.lua"
            path.write_text(text)
            self.scripts[name] = path

    # -- processes ---------------------------------------------------------------------
    def start(self, argv: list[str], env: dict, what: str, up_url: str) -> subprocess.Popen:
        log = open(self.workdir / f"{what}.log", "w")
        process = subprocess.Popen(argv, env={**os.environ, **env}, stdout=log, stderr=log, cwd=ROOT)
        self.processes.append(process)
        wait_until_up(up_url, process, what)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()

    def clavis_cli(self, *args: str, stdin: str | None = None, database_url: str | None = None) -> str:
        result = subprocess.run(
            [str(BIN), *args],
            env={**os.environ, "DATABASE_URL": database_url or self.database_url},
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BenchError(f"clavis {' '.join(args[:2])} failed: {result.stderr.strip()}")
        return result.stdout

    def create_credentials(self, email: str, count: int, servers: tuple[str, ...] = (), database_url: str | None = None) -> dict:
        """Creates `count` credentials for `email` (granted `servers`); returns the last one."""
        grants = [arg for slug in servers for arg in ("--server", slug)]
        out = self.clavis_cli(
            "credential", "create", "--user", email, "--name", "bench", "--count", str(count), *grants,
            database_url=database_url,
        )
        return json.loads(out.strip().splitlines()[-1])

    # -- load --------------------------------------------------------------------------
    def wrk(self, url: str, script: str | None, env: dict, duration: float, label: str) -> dict:
        seconds = max(1, round(duration))
        argv = ["wrk", "-t2", f"-c{self.args.connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
        if script:
            argv += ["-s", str(self.scripts[script])]
        argv.append(url)
        result = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BenchError(f"wrk failed on {label}: {result.stderr.strip()}")
        stats = parse_wrk(result.stdout)
        if stats["non2xx"] or stats["socket_errors"]:
            raise BenchError(
                f"{label}: {stats['non2xx']} non-2xx answers and {stats['socket_errors']} socket errors "
                f"under load: the endpoint is broken, not fast"
            )
        return stats

    def load(self, target: str, duration: float | None = None) -> dict:
        url, script, env = self.targets[target]
        return self.wrk(url, script, env, duration or self.args.duration, target)

    def warm(self, target: str) -> None:
        self.load(target, self.args.warmup)


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class RssSampler:
    """Samples a process's resident memory while load runs; keeps the maximum."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def db_sizes(db: Path) -> tuple[int, int]:
    wal = Path(str(db) + "-wal")
    return db.stat().st_size, wal.stat().st_size if wal.exists() else 0


def sign_in(base: str, email: str) -> str:
    conn = connect(base, timeout=30)
    body = urllib.parse.urlencode({"email": email, "password": PASSWORD})
    conn.request(
        "POST",
        "/api/sign_in",
        body=body,
        headers={"Origin": base, "Content-Type": "application/x-www-form-urlencoded"},
    )
    response = conn.getresponse()
    response.read()
    for header, value in response.getheaders():
        if header.lower() == "set-cookie" and value.startswith("clavis_session="):
            return value.split(";")[0]
    raise BenchError(f"sign-in failed: {response.status}")


def wire_bytes(base: str) -> dict:
    """Bytes a browser's first visit of /login downloads (the page and the bundle it links),
    by the encoding asked for; and whether the bundle's URLs are versioned for good."""
    def get(path: str, encoding: str) -> tuple[bytes, dict]:
        conn = connect(base, timeout=30)
        conn.request("GET", path, headers={"Accept-Encoding": encoding})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise BenchError(f"GET {path}: {response.status}")
        return body, {k.lower(): v for k, v in response.getheaders()}

    page, _ = get("/login", "identity")
    assets = sorted(set(re.findall(r'"(/pkg/[^"]+\.(?:wasm|js|css))"', page.decode())))
    if not any(a.endswith(".wasm") for a in assets):
        raise BenchError(f"/login links no wasm bundle: {assets}")
    out = {"immutable": all("immutable" in get(a, "br")[1].get("cache-control", "") for a in assets)}
    for encoding in ("identity", "gzip", "br"):
        sizes = {"page": len(get("/login", encoding)[0])}
        for asset in assets:
            sizes[asset.rsplit(".", 1)[1]] = len(get(asset, encoding)[0])
        out[encoding] = sizes
    return out


def time_dashboard(base: str, cookie: str, requests: int, path: str = "/credentials",
                   testid: str = "credential-row", min_rows: int = 25) -> dict:
    """Times the server-rendered first page at `path` (as a browser without JavaScript gets it)."""
    conn = connect(base, timeout=30)
    headers = {"Cookie": cookie, "Accept": "text/html"}

    def page() -> tuple[float, bytes]:
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise BenchError(f"dashboard answered {response.status}")
        return elapsed, body

    for _ in range(5):
        page()
    times = []
    body = b""
    for _ in range(requests):
        elapsed, body = page()
        times.append(elapsed)
    times.sort()
    rows = body.count(f'data-testid="{testid}"'.encode())
    if rows < min_rows:
        raise BenchError(f"{path}'s first page shows {rows} rows, expected {min_rows}")
    return {
        "median": statistics.median(times),
        "p95": times[max(0, int(len(times) * 0.95) - 1)],
        "bytes": len(body),
        "rows": rows,
    }


def sse_timing(url: str, token: str | None, count: int, gap_ms: int) -> dict:
    """Calls the upstream's `stream` tool and times each progress event's arrival."""
    conn = connect(url, timeout=60)
    body = json.dumps({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "stream", "arguments": {"count": count, "gap_ms": gap_ms}, "_meta": {"progressToken": "bench"}},
    })
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    started = time.perf_counter()
    conn.request("POST", urllib.parse.urlsplit(url).path, body=body, headers=headers)
    response = conn.getresponse()
    if response.status != 200:
        raise BenchError(f"stream at {url} answered {response.status}")
    arrivals = []
    while True:
        line = response.readline()
        if not line:
            break
        if b"notifications/progress" in line:
            arrivals.append((time.perf_counter() - started) * 1000)
        elif b'"result"' in line:
            break
    if len(arrivals) != count:
        raise BenchError(f"stream at {url}: {len(arrivals)} of {count} events arrived")
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    return {"total": arrivals[-1], "first": arrivals[0], "max_gap": max(gaps), "median_gap": statistics.median(gaps)}


def machine() -> dict:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    return {"cores": os.cpu_count(), "cpu": model, "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]), "commit": commit or "?"}


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def run(args: argparse.Namespace) -> int:
    smoke = args.smoke
    scale = {
        "mid": 100 if smoke else 1_000,
        "large": 2_000 if smoke else 100_000,
        "dashboard": 200 if smoke else 10_000,
        "volume": 5_000 if smoke else 1_000_000,
    }
    facts = machine()
    print(f"machine: {facts['cores']} cores, {facts['cpu']}, load average {facts['load']}; commit {facts['commit']}")
    with tempfile.TemporaryDirectory(prefix="clavis-bench-") as tmp:
        workdir = Path(tmp)
        bench = Bench(args, workdir)
        try:
            if args.only == "dpop":
                return measure_dpop_only(bench, workdir)
            if args.only == "limits":
                return measure_limits_only(bench, workdir)
            if args.only == "traces":
                return measure_traces_only(bench, workdir)
            if args.only == "audit":
                return measure_audit_only(bench, workdir)
            return measure(bench, workdir, scale, facts)
        except BenchError as error:
            print(f"bench failed: {error}", file=sys.stderr)
            for log in sorted(workdir.glob("*.log")):
                tail = log.read_text().strip().splitlines()[-5:]
                if tail:
                    print(f"--- {log.name}:\n" + "\n".join(tail), file=sys.stderr)
            return 1
        finally:
            bench.stop_all()


def measure_dpop_only(bench: Bench, workdir: Path) -> int:
    """`--only dpop`: the DPoP rounds alone, on a fresh server (printed, not written)."""
    bench.database_url = f"sqlite://{workdir / 'clavis.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bench.start([str(BIN), "--addr", f"127.0.0.1:{port}", "--log", "warn"],
                {"DATABASE_URL": bench.database_url, "CLAVIS_ISSUER": base}, "clavis", f"{base}/healthz")
    bench.clavis_cli("create-user", "--email", "bench@example.com", stdin=PASSWORD + "\n")
    credential = bench.create_credentials("bench@example.com", 1)
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": f"{base}/mcp"})
    auth = "Basic " + base64.b64encode(f"{credential['client_id']}:{credential['client_secret']}".encode()).decode()
    bench.targets = {"clavis tokens": (f"{base}/mcp/oauth/token", "token", {"BENCH_BODY": body, "BENCH_AUTH": auth})}
    bench.warm("clavis tokens")
    measure_dpop(bench, workdir, base, bench.load("clavis tokens")["rps"])
    return 0


def interleaved_rounds(bench: Bench) -> dict[str, list[dict]]:
    """Every target warmed, then loaded once per round, round after round."""
    runs: dict[str, list[dict]] = {t: [] for t in bench.targets}
    for target in runs:
        bench.warm(target)
    for _ in range(bench.args.rounds):
        for target in runs:
            runs[target].append(bench.load(target))
    return runs


def add_audit_events(conn: sqlite3.Connection, count: int, actor: str, person: int) -> None:
    """Writes `count` recent `credential.created` events by `actor` in `person`'s workspace
    (recent, so that retention keeps them)."""
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO audit_log (at, actor, action, target, personal_user_id) "
        "SELECT ?, ?, 'credential.created', 'clv_' || i, ? FROM n",
        (max(0, count), int(time.time()), actor, person))


def measure_audit_only(bench: Bench, workdir: Path) -> int:
    """`--only audit`: a person's (not an administrator's) audit page as the log grows from
    10,000 to 1,000,000 events, theirs the oldest 100 and every other one another
    person's (the page must not walk the others' events); with --baseline BIN that build
    too, on a database of its own, timed at the same sizes (printed, not written)."""
    args = bench.args
    binaries = {"this build": BIN, **({"baseline": Path(args.baseline)} if args.baseline else {})}
    servers = {}
    for i, (name, binary) in enumerate(binaries.items()):
        db = workdir / f"audit-{i}.db"
        database_url = f"sqlite://{db}"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        bench.clavis_cli("create-user", "--email", "bench@example.com", stdin=PASSWORD + "\n", database_url=database_url)
        bench.clavis_cli("create-user", "--email", "audit@example.com", stdin=PASSWORD + "\n", database_url=database_url)
        bench.start([str(binary), "--addr", f"127.0.0.1:{port}", "--log", "warn"],
                    {"DATABASE_URL": database_url, "CLAVIS_ISSUER": base}, f"clavis-{i}", f"{base}/healthz")
        with sqlite3.connect(db, timeout=30) as conn:
            (person,) = conn.execute("SELECT id FROM users WHERE email = 'audit@example.com'").fetchone()
            add_audit_events(conn, 100, "audit@example.com", person)
        servers[name] = (db, base, sign_in(base, "audit@example.com"))
    sizes = [10_000, 100_000, 1_000_000]
    requests = 20 if args.smoke else 200
    for size in sizes:
        for name, (db, base, cookie) in servers.items():
            with sqlite3.connect(db, timeout=30) as conn:
                (count,) = conn.execute("SELECT count(*) FROM audit_log").fetchone()
                add_audit_events(conn, size - count, "other@example.com", 999_999_999)
            page = time_dashboard(base, cookie, requests, "/audit", "audit-row", 50)
            print(f"  audit page of a person, {size:>9,} events in the log, {name:<10}: "
                  f"median {page['median']:.2f} ms, p95 {page['p95']:.2f} ms ({page['rows']} rows)")
    return 0


def measure_limits_only(bench: Bench, workdir: Path) -> int:
    """`--only limits`: gateway calls by a credential with per-tool call limits (on another
    tool, so none is refused) against one without, interleaved (printed, not written)."""
    bench.database_url = f"sqlite://{workdir / 'clavis.db'}"
    port, up_port = free_port(), free_port()
    base, upstream_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{up_port}/mcp"
    bench.start([str(UPSTREAM), str(up_port)], {}, "upstream", upstream_url)
    bench.clavis_cli("create-user", "--email", "bench@example.com", stdin=PASSWORD + "\n")
    bench.clavis_cli("server", "add", "--name", "Bench upstream", "--slug", "bench", "--mode", "gateway", "--upstream-url", upstream_url)
    bench.start([str(BIN), "--addr", f"127.0.0.1:{port}", "--log", "warn"],
                {"DATABASE_URL": bench.database_url, "CLAVIS_ISSUER": base}, "clavis", f"{base}/healthz")
    gateway_url = f"{base}/mcp/bench"
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": gateway_url})
    plain = bench.create_credentials("bench@example.com", 1, servers=("bench",))
    limited = json.loads(bench.clavis_cli(
        "credential", "create", "--user", "bench@example.com", "--name", "limited", "--server", "bench",
        "--calls-per-minute", "bench:deploy=5"))
    bench.targets = {
        name: (gateway_url, "echo", {"BENCH_AUTH": f"Bearer {post_token(base, c['client_id'], c['client_secret'], body)['access_token']}"})
        for name, c in (("without limits", plain), ("with call limits", limited))
    }
    runs = interleaved_rounds(bench)
    off, on = median_of(runs["without limits"], "rps"), median_of(runs["with call limits"], "rps")
    print(f"  gateway calls with call limits {fmt_rate(on):>8} /s vs without {fmt_rate(off)} /s ({on / off:.0%}); "
          f"rounds {[fmt_rate(r['rps']) for r in runs['with call limits']]} vs {[fmt_rate(r['rps']) for r in runs['without limits']]}")
    return 0


def measure_traces_only(bench: Bench, workdir: Path) -> int:
    """`--only traces`: gateway calls with traces off, on at sampling 0 and on at 100% to
    a local collector that keeps nothing (SPEC §20), interleaved; with --baseline BIN
    also that build (the one before traces) without them (printed, not written)."""
    args = bench.args
    up_port, otlp_port = free_port(), free_port()
    upstream_url, collector = f"http://127.0.0.1:{up_port}/mcp", f"http://127.0.0.1:{otlp_port}"
    bench.start([str(UPSTREAM), str(up_port)], {}, "upstream", upstream_url)
    bench.start([str(UPSTREAM), str(otlp_port), "--otlp"], {}, "collector", f"{collector}/count")
    series = {
        "traces off": (BIN, []),
        "traces on, sampling 0": (BIN, ["--otlp-endpoint", collector, "--trace-sampling", "0"]),
        "traces on, sampling 100%": (BIN, ["--otlp-endpoint", collector, "--trace-sampling", "1"]),
    }
    if args.baseline:
        series = {"baseline (before traces)": (Path(args.baseline), []), **series}
    bench.targets = {}
    # One server (and database) per series, so each runs as an operator would start it.
    for i, (name, (binary, flags)) in enumerate(series.items()):
        database_url = f"sqlite://{workdir / f'traces-{i}.db'}"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        bench.clavis_cli("create-user", "--email", "bench@example.com", stdin=PASSWORD + "\n", database_url=database_url)
        bench.clavis_cli("server", "add", "--name", "Bench upstream", "--slug", "bench", "--mode", "gateway",
                         "--upstream-url", upstream_url, database_url=database_url)
        env = {"DATABASE_URL": database_url, "CLAVIS_ISSUER": base}
        env.update({k: "" for k in os.environ if k.startswith("OTEL_")})
        bench.start([str(binary), "--addr", f"127.0.0.1:{port}", "--log", "warn", *flags], env, f"clavis-{i}", f"{base}/healthz")
        credential = bench.create_credentials("bench@example.com", 1, servers=("bench",), database_url=database_url)
        gateway_url = f"{base}/mcp/bench"
        body = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": gateway_url})
        token = post_token(base, credential["client_id"], credential["client_secret"], body)["access_token"]
        bench.targets[name] = (gateway_url, "echo", {"BENCH_AUTH": f"Bearer {token}"})
    runs = interleaved_rounds(bench)
    reference = median_of(runs["traces off"], "rps")
    for target, rounds in runs.items():
        rps = median_of(rounds, "rps")
        print(f"  gateway calls, {target:<26} {fmt_rate(rps):>8} /s ({rps / reference:.0%} of traces off); "
              f"p99 {median_of(rounds, 'p99')} ms; rounds {[fmt_rate(r['rps']) for r in rounds]}")
    connection = connect(collector, 5)
    connection.request("GET", "/count")
    print(f"  the collector received {connection.getresponse().read().decode()}")
    connection.close()
    return 0


def measure(bench: Bench, workdir: Path, scale: dict, facts: dict) -> int:
    args = bench.args
    db = workdir / "clavis.db"
    bench.database_url = f"sqlite://{db}"
    port, peer_port = free_port(), free_port()
    base, peer_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{peer_port}"

    clavis = bench.start(
        [str(BIN), "--addr", f"127.0.0.1:{port}", "--log", "warn"],
        {"DATABASE_URL": bench.database_url, "CLAVIS_ISSUER": base},
        "clavis",
        f"{base}/healthz",
    )
    idle_rss = rss_kib(clavis.pid)
    bench.clavis_cli("create-user", "--email", "bench@example.com", stdin=PASSWORD + "\n")
    credential = bench.create_credentials("bench@example.com", 1)
    client_id, secret = credential["client_id"], credential["client_secret"]
    token_body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "mcp", "resource": f"{base}/mcp"})
    token = post_token(base, client_id, secret, token_body)["access_token"]
    check_jwt(token, "EdDSA", "Clavis")

    peer_id, peer_secret = "bench-peer", base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    bench.start(
        ["node", str(PEER), str(peer_port), peer_id, peer_secret], {}, "peer", f"{peer_base}/.well-known/openid-configuration"
    )
    peer_body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "mcp", "resource": f"{peer_base}/mcp"})
    check_jwt(post_token(peer_base, peer_id, peer_secret, peer_body)["access_token"], "ES256", "the peer")

    def basic(cid: str, sec: str) -> str:
        return "Basic " + base64.b64encode(f"{cid}:{sec}".encode()).decode()

    # A second server with the shipped settings (no --log): what an operator who changes
    # nothing gets, its log written to a file like the first one's.
    defaults_url = f"sqlite://{workdir / 'defaults.db'}"
    defaults_port = free_port()
    defaults_base = f"http://127.0.0.1:{defaults_port}"
    bench.start(
        [str(BIN), "--addr", f"127.0.0.1:{defaults_port}"],
        {"DATABASE_URL": defaults_url, "CLAVIS_ISSUER": defaults_base},
        "clavis-defaults",
        f"{defaults_base}/healthz",
    )
    bench.clavis_cli("create-user", "--email", "bench@example.com", stdin=PASSWORD + "\n", database_url=defaults_url)
    defaults_credential = bench.create_credentials("bench@example.com", 1, database_url=defaults_url)
    defaults_body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "mcp", "resource": f"{defaults_base}/mcp"})
    defaults_auth = basic(defaults_credential["client_id"], defaults_credential["client_secret"])

    bench.targets = {
        "clavis tokens": (f"{base}/mcp/oauth/token", "token", {"BENCH_BODY": token_body, "BENCH_AUTH": basic(client_id, secret)}),
        "clavis tokens, shipped log settings": (
            f"{defaults_base}/mcp/oauth/token", "token", {"BENCH_BODY": defaults_body, "BENCH_AUTH": defaults_auth},
        ),
        "peer tokens": (f"{peer_base}/mcp/oauth/token", "token", {"BENCH_BODY": peer_body, "BENCH_AUTH": basic(peer_id, peer_secret)}),
        "clavis /healthz": (f"{base}/healthz", None, {}),
        "clavis static": (f"{base}/.well-known/oauth-protected-resource", None, {}),
        "clavis /mcp whoami": (f"{base}/mcp", "mcp", {"BENCH_AUTH": f"Bearer {token}"}),
    }
    rounds_of = [
        "clavis tokens", "clavis tokens, shipped log settings", "peer tokens", "clavis /healthz", "clavis static",
        "clavis /mcp whoami",
    ]
    print(f"warm-up {args.warmup} s each; {args.rounds} interleaved rounds of {args.duration} s, {args.connections} connections")
    for target in rounds_of:
        bench.warm(target)
    runs: dict[str, list[dict]] = {t: [] for t in rounds_of}
    with RssSampler(clavis.pid) as sampler:
        for round_no in range(1, args.rounds + 1):
            for target in rounds_of:
                stats = bench.load(target)
                runs[target].append(stats)
                print(f"  round {round_no}  {target:<36} {fmt_rate(stats['rps']):>8} req/s  p50 {stats['p50']:.2f} ms  p99 {stats['p99']:.2f} ms")
    load_rss = sampler.peak
    defaults_served = sum(r["requests"] for r in runs["clavis tokens, shipped log settings"])
    facts["log bytes per request"] = (workdir / "clavis-defaults.log").stat().st_size / max(1, defaults_served)

    jwt = measure_private_key_jwt(bench, workdir, base, median_of(runs["clavis tokens"], "rps"))
    workload = measure_workload(bench, workdir, base)
    dpop = measure_dpop(bench, workdir, base, median_of(runs["clavis tokens"], "rps"))

    mcp_runs = runs["clavis /mcp whoami"]

    # The least a token endpoint can do here: a minimal axum handler that only signs one
    # Ed25519 JWT per request, against its own static route (bench-upstream --sign).
    sign_port = free_port()
    sign_base = f"http://127.0.0.1:{sign_port}"
    bench.start([str(UPSTREAM), str(sign_port), "--sign"], {}, "signer", f"{sign_base}/static")
    bench.targets["minimal axum, static"] = (f"{sign_base}/static", None, {})
    bench.targets["minimal axum, sign a JWT"] = (f"{sign_base}/token", "token", {"BENCH_BODY": "", "BENCH_AUTH": ""})
    sign_targets = ["minimal axum, static", "minimal axum, sign a JWT"]
    for target in sign_targets:
        bench.warm(target)
    sign_runs: dict[str, list[dict]] = {t: [] for t in sign_targets}
    for _ in range(args.rounds):
        for target in sign_targets:
            sign_runs[target].append(bench.load(target))
    for target in sign_targets:
        print(f"  {target:<24} {fmt_rate(median_of(sign_runs[target], 'rps')):>8} req/s")

    # The gateway against its upstream called directly: same run, same connections.
    up_port = free_port()
    upstream_url = f"http://127.0.0.1:{up_port}/mcp"
    bench.start([str(UPSTREAM), str(up_port)], {}, "upstream", upstream_url)
    bench.clavis_cli("server", "add", "--name", "Bench upstream", "--slug", "bench", "--mode", "gateway", "--upstream-url", upstream_url)
    gateway_url = f"{base}/mcp/bench"
    deadline = time.monotonic() + 15
    while True:  # the running server reloads its servers every 5 s
        conn = connect(base, timeout=5)
        conn.request("GET", "/.well-known/oauth-protected-resource/mcp/bench")
        if conn.getresponse().status == 200:
            break
        if time.monotonic() > deadline:
            raise BenchError("the running server did not pick up the registered gateway server")
        time.sleep(0.5)
    gw = bench.create_credentials("bench@example.com", 1, servers=("bench",))
    gw_body = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": gateway_url})
    gw_token = post_token(base, gw["client_id"], gw["client_secret"], gw_body)["access_token"]
    fw_port = free_port()
    forwarder_url = f"http://127.0.0.1:{fw_port}/mcp"
    bench.start([str(UPSTREAM), str(fw_port), "--forward-to", upstream_url], {}, "forwarder", forwarder_url)
    bench.targets["upstream direct"] = (upstream_url, "echo", {"BENCH_AUTH": ""})
    bench.targets["bare forwarder"] = (forwarder_url, "echo", {"BENCH_AUTH": ""})
    bench.targets["through the gateway"] = (gateway_url, "echo", {"BENCH_AUTH": f"Bearer {gw_token}"})
    bench.targets["upstream direct, 2026-07-28"] = (upstream_url, "modern", {"BENCH_AUTH": ""})
    bench.targets["bare forwarder, 2026-07-28"] = (forwarder_url, "modern", {"BENCH_AUTH": ""})
    bench.targets["through the gateway, 2026-07-28"] = (gateway_url, "modern", {"BENCH_AUTH": f"Bearer {gw_token}"})
    check_modern_echo(gateway_url, gw_token)
    # The same calls by a credential with per-tool limits (SPEC §20): every call is
    # checked and counted against them; the limit is on another tool, so none is refused.
    limited = json.loads(bench.clavis_cli(
        "credential", "create", "--user", "bench@example.com", "--name", "limited", "--server", "bench",
        "--calls-per-minute", "bench:deploy=5",
    ))
    limited_token = post_token(base, limited["client_id"], limited["client_secret"], gw_body)["access_token"]
    bench.targets["through the gateway, with call limits"] = (gateway_url, "echo", {"BENCH_AUTH": f"Bearer {limited_token}"})
    gateway_targets = [
        "upstream direct", "bare forwarder", "through the gateway", "through the gateway, with call limits",
        "upstream direct, 2026-07-28", "bare forwarder, 2026-07-28", "through the gateway, 2026-07-28",
    ]
    for target in gateway_targets:
        bench.warm(target)
    gateway_runs: dict[str, list[dict]] = {t: [] for t in gateway_targets}
    for _ in range(args.rounds):
        for target in gateway_targets:
            gateway_runs[target].append(bench.load(target))
    for target in gateway_targets:
        print(f"  {target:<32} {fmt_rate(median_of(gateway_runs[target], 'rps')):>8} req/s  p50 {median_of(gateway_runs[target], 'p50'):.2f} ms")
    events = 100 if args.smoke else 1000
    sse = {
        "direct": sse_timing(upstream_url, None, events, 1),
        "gateway": sse_timing(gateway_url, gw_token, events, 1),
    }
    print(f"  SSE {events} events 1 ms apart: direct {sse['direct']['total']:.0f} ms, through the gateway {sse['gateway']['total']:.0f} ms; largest gap {sse['direct']['max_gap']:.1f} / {sse['gateway']['max_gap']:.1f} ms")

    # How cost grows with the number of credentials in the database.
    growth = {1: median_of(runs["clavis tokens"], "rps")}
    bench.create_credentials("bench@example.com", scale["mid"] - 1)
    growth[scale["mid"]] = median_of([bench.load("clavis tokens") for _ in range(args.rounds)], "rps")
    bench.clavis_cli("create-user", "--email", "dashboard@example.com", stdin=PASSWORD + "\n")
    bench.create_credentials("dashboard@example.com", scale["dashboard"])
    bench.create_credentials("bench@example.com", scale["large"] - scale["mid"] - scale["dashboard"])
    growth[scale["large"]] = median_of([bench.load("clavis tokens") for _ in range(args.rounds)], "rps")
    for count, rps in growth.items():
        print(f"  tokens with {count:>7,} credentials: {fmt_rate(rps)} /s")

    # Database size before and after a volume of token requests (usage is flushed every 5 s).
    time.sleep(6)
    before = db_sizes(db)
    served = 0
    rate = growth[scale["large"]]
    while served < scale["volume"]:
        duration = max(1.0, min(120.0, (scale["volume"] - served) / max(rate, 1.0) * 1.05))
        stats = bench.load("clavis tokens", duration)
        served += stats["requests"]
    time.sleep(6)
    after = db_sizes(db)
    print(f"  database after {served:,} token requests: {before[0]:,} -> {after[0]:,} bytes (WAL {before[1]:,} -> {after[1]:,})")
    peak_rss = rss_kib(clavis.pid, "VmHWM")

    dashboard_cookie = sign_in(base, "dashboard@example.com")
    dash = time_dashboard(base, dashboard_cookie, 20 if args.smoke else 50)
    print(f"  dashboard first page with {scale['dashboard']:,} credentials: median {dash['median']:.1f} ms, p95 {dash['p95']:.1f} ms")
    # Their audit page: one credential.created event per credential (plus sign-ins).
    dash["audit"] = time_dashboard(base, dashboard_cookie, 20 if args.smoke else 50, "/audit", "audit-row", 50)
    print(f"  audit page with {scale['dashboard']:,}+ events: median {dash['audit']['median']:.1f} ms, p95 {dash['audit']['p95']:.1f} ms")
    wire = wire_bytes(base)
    wire["binary"] = BIN.stat().st_size
    print(f"  first visit of /login: {sum(wire['identity'].values()):,} bytes plain, {sum(wire['br'].values()):,} with br; binary {wire['binary']:,} bytes")

    pg = measure_postgres(bench, workdir, scale, base, client_id, secret, token_body) if not args.no_postgres else None
    write_results(args, facts, scale, runs, mcp_runs, growth, before, after, served, idle_rss, load_rss, peak_rss, dash, gateway_runs, sse, pg, jwt, sign_runs, wire, workload, dpop)
    return 0


def measure_private_key_jwt(bench: Bench, workdir: Path, base: str, secret_rps: float) -> dict:
    """Tokens for a private_key_jwt credential (Ed25519 assertions made ahead of the run, a
    fresh one per request) beside the client-secret runs: rounds of the same length."""
    args = bench.args
    seed = os.urandom(32).hex()
    jwk = workdir / "bench.jwk"
    jwk.write_text(subprocess.run([str(ASSERTIONS), seed], capture_output=True, text=True, check=True).stdout)
    created = json.loads(bench.clavis_cli(
        "credential", "create", "--user", "bench@example.com", "--name", "jwt",
        "--auth", "private-key-jwt", "--public-key", str(jwk),
    ))
    client_id = created["client_id"]
    body = urllib.parse.urlencode({
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }) + "&client_assertion="
    runs, secret_runs = [], []
    for round_no in range(args.rounds + 1):  # the first is the warm-up
        duration = args.warmup if round_no == 0 else args.duration
        # Enough for the secret rate (assertions are slower): none is ever used twice.
        count = int(max(secret_rps, 1000) * duration * 1.3) + 1000
        path = workdir / "assertions.txt"
        with open(path, "w") as out:
            subprocess.run([str(ASSERTIONS), seed, client_id, base, str(count)], stdout=out, check=True)
        bench.targets["clavis tokens, private_key_jwt"] = (
            f"{base}/mcp/oauth/token", "jwt", {"BENCH_BODY": body, "BENCH_LINES": str(path)}
        )
        stats = bench.load("clavis tokens, private_key_jwt", duration)
        if stats["requests"] > count:
            raise BenchError(f"private_key_jwt: {stats['requests']} requests for {count} assertions")
        if round_no:
            runs.append(stats)
            secret_runs.append(bench.load("clavis tokens"))
    jwt_rps, secret = median_of(runs, "rps"), median_of(secret_runs, "rps")
    print(f"  private_key_jwt tokens {fmt_rate(jwt_rps):>8} /s vs client secret {fmt_rate(secret)} /s ({jwt_rps / secret:.0%}); p99 {median_of(runs, 'p99'):.2f} ms")
    return {"runs": runs, "secret_runs": secret_runs}


MCP_WHOAMI = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}'


def measure_dpop(bench: Bench, workdir: Path, base: str, bearer_rps: float) -> dict:
    """DPoP (SPEC §19) beside Bearer in the same rounds: tokens with a proof (one more
    signature to verify, a thumbprint, a replay check) against client-secret tokens, and
    /mcp whoami with a DPoP-bound token and a proof per call against a Bearer token. The
    proofs are Ed25519, made just before each run (a proof lives 60 s), one per request."""
    args = bench.args
    seed = os.urandom(32).hex()
    credential = bench.create_credentials("bench@example.com", 1)
    auth = "Basic " + base64.b64encode(f"{credential['client_id']}:{credential['client_secret']}".encode()).decode()
    token_url, mcp_url = f"{base}/mcp/oauth/token", f"{base}/mcp"
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": mcp_url})

    def proofs(url: str, count: int, token: str | None = None) -> Path:
        path = workdir / f"proofs-{'mcp' if token else 'token'}.txt"
        with open(path, "w") as out:
            subprocess.run([str(ASSERTIONS), "--dpop", seed, url, str(count), *([token] if token else [])], stdout=out, check=True)
        return path

    conn = connect(base, timeout=10)
    one = proofs(token_url, 1).read_text().strip()
    conn.request("POST", "/mcp/oauth/token", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Authorization": auth, "DPoP": one})
    answer = json.loads(conn.getresponse().read())
    if answer.get("token_type") != "DPoP":
        raise BenchError(f"no DPoP token: {answer}")
    token = answer["access_token"]
    check_jwt(token, "EdDSA", "Clavis (DPoP)")
    bearer = post_token(base, credential["client_id"], credential["client_secret"], body)["access_token"]
    bench.targets["clavis /mcp whoami, Bearer"] = (mcp_url, "mcp", {"BENCH_AUTH": f"Bearer {bearer}"})
    runs: dict[str, list[dict]] = {k: [] for k in ("tokens, DPoP", "tokens, Bearer", "/mcp, DPoP", "/mcp, Bearer")}
    for round_no in range(args.rounds + 1):  # the first is the warm-up
        duration = args.warmup if round_no == 0 else args.duration
        count = int(max(bearer_rps, 1000) * duration * 1.3) + 1000
        bench.targets["clavis tokens, DPoP"] = (token_url, "dpop", {
            "BENCH_BODY": body, "BENCH_AUTH": auth, "BENCH_TYPE": "application/x-www-form-urlencoded",
            "BENCH_LINES": str(proofs(token_url, count))})
        tokens = bench.load("clavis tokens, DPoP", duration)
        bench.targets["clavis /mcp whoami, DPoP"] = (mcp_url, "dpop", {
            "BENCH_BODY": MCP_WHOAMI, "BENCH_AUTH": f"DPoP {token}", "BENCH_TYPE": "application/json",
            "BENCH_LINES": str(proofs(mcp_url, count, token))})
        calls = bench.load("clavis /mcp whoami, DPoP", duration)
        for stats in (tokens, calls):
            if stats["requests"] > count:
                raise BenchError(f"DPoP: {stats['requests']} requests for {count} proofs")
        if round_no:
            runs["tokens, DPoP"].append(tokens)
            runs["tokens, Bearer"].append(bench.load("clavis tokens"))
            runs["/mcp, DPoP"].append(calls)
            runs["/mcp, Bearer"].append(bench.load("clavis /mcp whoami, Bearer"))
    for kind in ("tokens", "/mcp"):
        d, b = median_of(runs[f"{kind}, DPoP"], "rps"), median_of(runs[f"{kind}, Bearer"], "rps")
        print(f"  {kind} DPoP {fmt_rate(d):>8} /s vs Bearer {fmt_rate(b)} /s ({d / b:.0%}); p99 {median_of(runs[f'{kind}, DPoP'], 'p99'):.2f} vs {median_of(runs[f'{kind}, Bearer'], 'p99'):.2f} ms")
    return runs


def post_form(base: str, body: str) -> tuple[int, dict]:
    conn = connect(base, timeout=10)
    conn.request("POST", "/mcp/oauth/token", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def measure_workload(bench: Bench, workdir: Path, base: str) -> dict:
    """Tokens for a workload token (SPEC §18, the JWT bearer grant) with the issuer's keys
    cached, beside client-secret tokens in the same rounds; then the first request after
    the issuer rotated its key (it fetches the JWKS again). The issuer is a static site
    (discovery document and JWKS) on loopback; the token is reused, as a pod reuses its
    service-account token."""
    args = bench.args
    site = workdir / "issuer"
    (site / ".well-known").mkdir(parents=True, exist_ok=True)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"

    def key(seed: str) -> dict:
        return json.loads(subprocess.run([str(ASSERTIONS), seed], capture_output=True, text=True, check=True).stdout)

    def token(seed: str) -> str:
        # iss = sub = the issuer URL, aud = Clavis: bench-assertions' private_key_jwt shape
        # doubles as a workload token.
        return subprocess.run([str(ASSERTIONS), seed, issuer, base, "1"], capture_output=True, text=True, check=True).stdout.strip()

    first, second = os.urandom(32).hex(), os.urandom(32).hex()
    (site / ".well-known" / "openid-configuration").write_text(json.dumps({"issuer": issuer, "jwks_uri": f"{issuer}/jwks.json"}))
    (site / "jwks.json").write_text(json.dumps({"keys": [key(first)]}))
    bench.start([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)], {}, "issuer", f"{issuer}/jwks.json")
    bench.clavis_cli("issuer", "add", "--name", "bench", "--issuer", issuer)
    created = json.loads(bench.clavis_cli(
        "credential", "create", "--user", "bench@example.com", "--name", "workload",
        "--federate", "bench", "--federate-audience", base, "--claim", f"sub={issuer}*", "--no-secret",
    ))
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    body = urllib.parse.urlencode({"grant_type": grant, "assertion": token(first), "client_id": created["client_id"]})
    # The running server reads new issuers within its 5 s reload.
    deadline = time.monotonic() + 15
    while True:
        status, answer = post_form(base, body)
        if status == 200:
            break
        if time.monotonic() > deadline:
            raise BenchError(f"the workload token was refused: {status} {answer}")
        time.sleep(0.5)
    check_jwt(answer["access_token"], "EdDSA", "Clavis (workload token)")
    bench.targets["clavis tokens, workload token"] = (f"{base}/mcp/oauth/token", "form", {"BENCH_BODY": body})
    runs, secret_runs = [], []
    bench.warm("clavis tokens, workload token")
    for _ in range(args.rounds):
        runs.append(bench.load("clavis tokens, workload token"))
        secret_runs.append(bench.load("clavis tokens"))
    rps, secret = median_of(runs, "rps"), median_of(secret_runs, "rps")
    print(f"  workload tokens {fmt_rate(rps):>8} /s vs client secret {fmt_rate(secret)} /s ({rps / secret:.0%}); p99 {median_of(runs, 'p99'):.2f} ms")

    # Rotation: the issuer adds a key under a new kid; the first token signed with it
    # makes Clavis fetch the JWKS again (at most once per 30 s: wait that out first).
    (site / "jwks.json").write_text(json.dumps({"keys": [key(first), key(second)]}))
    time.sleep(0.5 if args.smoke else 31)
    rotated = urllib.parse.urlencode({"grant_type": grant, "assertion": token(second), "client_id": created["client_id"]})
    started = time.perf_counter()
    status, answer = post_form(base, rotated)
    first_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    post_form(base, rotated)
    cached_ms = (time.perf_counter() - started) * 1000
    print(f"  after a key rotation: first request {first_ms:.1f} ms ({status}), the next {cached_ms:.1f} ms")
    return {"runs": runs, "secret_runs": secret_runs, "rotation_ms": first_ms, "rotation_status": status, "cached_ms": cached_ms}


def measure_postgres(bench: Bench, workdir: Path, scale: dict, sqlite_base: str, sqlite_id: str, sqlite_secret: str, sqlite_body: str) -> dict:
    """Tokens on PostgreSQL: one instance (interleaved with the SQLite instance), then two
    instances behind HAProxy; and the database's size around a volume of token requests."""
    args = bench.args
    admin = subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh")], capture_output=True, text=True, check=True).stdout.strip()
    name = f"clavis_bench_{os.getpid()}"
    subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name}"], check=True, capture_output=True)
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    url = urllib.parse.urlunsplit(urllib.parse.urlsplit(admin)._replace(path=f"/{name}"))
    lb_port = free_port()
    issuer = f"http://127.0.0.1:{lb_port}"
    env = {"DATABASE_URL": url, "CLAVIS_ISSUER": issuer, "CLAVIS_MASTER_KEY_FILE": str(workdir / "pg-master.key")}
    bases = []
    for i in range(2):
        port = free_port()
        bases.append(f"http://127.0.0.1:{port}")
        bench.start([str(BIN), "--addr", f"127.0.0.1:{port}", "--log", "warn"], env, f"clavis-pg-{i}", f"{bases[-1]}/healthz")
    saved = bench.database_url
    bench.database_url = url
    os.environ["CLAVIS_MASTER_KEY_FILE"] = env["CLAVIS_MASTER_KEY_FILE"]
    bench.clavis_cli("create-user", "--email", "bench@example.com", stdin=PASSWORD + "\n")
    credential = bench.create_credentials("bench@example.com", 1)
    bench.database_url = saved
    del os.environ["CLAVIS_MASTER_KEY_FILE"]
    cid, sec = credential["client_id"], credential["client_secret"]
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "mcp"})
    check_jwt(post_token(bases[0], cid, sec, body)["access_token"], "EdDSA", "Clavis on PostgreSQL")
    config = workdir / "haproxy.cfg"
    config.write_text(
        "global\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n"
        f"frontend lb\n  bind 127.0.0.1:{lb_port}\n  default_backend clavis\n"
        "backend clavis\n  balance roundrobin\n  option httpchk GET /healthz\n  http-reuse always\n"
        + "".join(f"  server i{i} {b[7:]} check\n" for i, b in enumerate(bases))
    )
    bench.start(["haproxy", "-db", "-f", str(config)], {}, "haproxy", f"{issuer}/healthz")

    def basic(a: str, b: str) -> str:
        return "Basic " + base64.b64encode(f"{a}:{b}".encode()).decode()

    bench.targets["sqlite tokens"] = (f"{sqlite_base}/mcp/oauth/token", "token", {"BENCH_BODY": sqlite_body, "BENCH_AUTH": basic(sqlite_id, sqlite_secret)})
    bench.targets["postgres tokens"] = (f"{bases[0]}/mcp/oauth/token", "token", {"BENCH_BODY": body, "BENCH_AUTH": basic(cid, sec)})
    bench.targets["postgres, 2 instances + haproxy"] = (f"{issuer}/mcp/oauth/token", "token", {"BENCH_BODY": body, "BENCH_AUTH": basic(cid, sec)})
    targets = ["sqlite tokens", "postgres tokens", "postgres, 2 instances + haproxy"]
    for target in targets:
        bench.warm(target)
    runs: dict[str, list[dict]] = {t: [] for t in targets}
    for _ in range(args.rounds):
        for target in targets:
            runs[target].append(bench.load(target))
    for target in targets:
        print(f"  {target:<32} {fmt_rate(median_of(runs[target], 'rps')):>8} req/s  p99 {median_of(runs[target], 'p99'):.2f} ms")

    def size() -> int:
        out = subprocess.run(["psql", url, "-Atqc", "SELECT pg_database_size(current_database())"], capture_output=True, text=True, check=True)
        return int(out.stdout.strip())

    time.sleep(6)
    before = size()
    served = 0
    volume = scale["volume"] // 5
    while served < volume:
        served += bench.load("postgres tokens", max(1.0, min(60.0, (volume - served) / max(median_of(runs["postgres tokens"], "rps"), 1.0) * 1.05)))["requests"]
    time.sleep(6)
    after = size()
    print(f"  postgres database after {served:,} token requests: {before:,} -> {after:,} bytes")
    return {"runs": runs, "before": before, "after": after, "served": served}


def write_results(args, facts, scale, runs, mcp_runs, growth, before, after, served, idle_rss, load_rss, peak_rss, dash, gateway_runs, sse, pg, jwt, sign_runs, wire, workload, dpop):
    tokens = median_of(runs["clavis tokens"], "rps")
    shipped = median_of(runs["clavis tokens, shipped log settings"], "rps")
    peer = median_of(runs["peer tokens"], "rps")
    healthz = median_of(runs["clavis /healthz"], "rps")
    static = median_of(runs["clavis static"], "rps")
    token_p99 = median_of(runs["clavis tokens"], "p99")
    mcp = median_of(mcp_runs, "rps")
    mcp_p99 = median_of(mcp_runs, "p99")
    static_p99 = median_of(runs["clavis static"], "p99")
    signer = median_of(sign_runs["minimal axum, sign a JWT"], "rps")
    signer_static = median_of(sign_runs["minimal axum, static"], "rps")
    flat = growth[scale["large"]] / growth[1]

    direct, through = gateway_runs["upstream direct"], gateway_runs["through the gateway"]
    bare = gateway_runs["bare forwarder"]
    modern_direct = gateway_runs["upstream direct, 2026-07-28"]
    modern_through = gateway_runs["through the gateway, 2026-07-28"]
    modern_bare = gateway_runs["bare forwarder, 2026-07-28"]
    modern_share = median_of(modern_through, "rps") / median_of(modern_direct, "rps")
    modern_bare_share = median_of(modern_bare, "rps") / median_of(modern_direct, "rps")
    gateway_share = median_of(through, "rps") / median_of(direct, "rps")
    bare_share = median_of(bare, "rps") / median_of(direct, "rps")
    added_p50 = median_of(through, "p50") - median_of(direct, "p50")
    jwt_share = median_of(jwt["runs"], "rps") / median_of(jwt["secret_runs"], "rps")
    workload_share = median_of(workload["runs"], "rps") / median_of(workload["secret_runs"], "rps")
    dpop_tokens = median_of(dpop["tokens, DPoP"], "rps") / median_of(dpop["tokens, Bearer"], "rps")
    dpop_mcp = median_of(dpop["/mcp, DPoP"], "rps") / median_of(dpop["/mcp, Bearer"], "rps")

    def row(target: str, source: dict | None = None) -> str:
        r = (source or runs)[target]
        return (
            f"| {target} | {fmt_rate(median_of(r, 'rps'))} | {median_of(r, 'p50'):.2f} | {median_of(r, 'p99'):.2f} | "
            + ", ".join(fmt_rate(x["rps"]) for x in r)
            + " |"
        )

    mark = lambda ok: "met" if ok else "missed"  # noqa: E731
    pg_lines = []
    if pg:
        pg_runs = pg["runs"]
        on_sqlite = median_of(pg_runs["sqlite tokens"], "rps")
        on_pg = median_of(pg_runs["postgres tokens"], "rps")
        two = median_of(pg_runs["postgres, 2 instances + haproxy"], "rps")
        pg_lines = [
            "",
            "PostgreSQL (a local throwaway cluster, scripts/postgres.sh), interleaved with the SQLite instance:",
            "",
            "| target | req/s (median) | p50 ms | p99 ms | rounds (req/s) |",
            "|---|---:|---:|---:|---|",
            row("sqlite tokens", pg_runs),
            row("postgres tokens", pg_runs),
            row("postgres, 2 instances + haproxy", pg_runs),
            "",
            "| measure | value | target |",
            "|---|---|---|",
            f"| tokens/s on PostgreSQL vs SQLite, one instance | {on_pg / on_sqlite:.0%} ({fmt_rate(on_pg)} vs {fmt_rate(on_sqlite)}) | within 15%: {mark(on_pg >= 0.85 * on_sqlite)} |",
            f"| two instances behind HAProxy | {fmt_rate(two)} tokens/s ({two / on_pg:.0%} of one instance: all share the same 2 cores) | |",
            f"| PostgreSQL database after {pg['served']:,} token requests | {pg['before']:,} -> {pg['after']:,} bytes | unchanged by traffic: {mark(pg['after'] - pg['before'] <= 65536)} |",
        ]
    lines = [
        f"# Clavis benchmark{' (smoke run: short, small, not figures)' if args.smoke else ''}",
        "",
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit `{facts['commit']}`. "
        f"Machine: {facts['cores']} cores ({facts['cpu']}), load average {facts['load']} at the start; "
        f"wrk and both servers share these cores.",
        f"wrk: 2 threads, {args.connections} keep-alive connections, {args.duration} s per run after {args.warmup} s warm-up, "
        f"{args.rounds} interleaved rounds, medians shown. Zero non-2xx answers and socket errors in every run.",
        "",
        "| target | req/s (median) | p50 ms | p99 ms | rounds (req/s) |",
        "|---|---:|---:|---:|---|",
        row("clavis tokens"),
        row("clavis tokens, shipped log settings"),
        row("peer tokens"),
        row("clavis /healthz"),
        row("clavis static"),
        row("clavis /mcp whoami"),
        row("minimal axum, static", sign_runs),
        row("minimal axum, sign a JWT", sign_runs),
        row("clavis tokens, private_key_jwt", {"clavis tokens, private_key_jwt": jwt["runs"]}),
        row("clavis tokens, workload token", {"clavis tokens, workload token": workload["runs"]}),
        row("tokens, DPoP", dpop),
        row("tokens, Bearer", dpop),
        row("/mcp, DPoP", dpop),
        row("/mcp, Bearer", dpop),
        row("upstream direct", gateway_runs),
        row("bare forwarder", gateway_runs),
        row("through the gateway", gateway_runs),
        row("through the gateway, with call limits", gateway_runs),
        row("upstream direct, 2026-07-28", gateway_runs),
        row("bare forwarder, 2026-07-28", gateway_runs),
        row("through the gateway, 2026-07-28", gateway_runs),
        "",
        "`peer tokens` is node oidc-provider (bench/peer, one worker per core) issuing ES256 JWT access tokens for a "
        "resource indicator with client_secret_basic. `/healthz` runs a database ping; `static` is "
        "`/.well-known/oauth-protected-resource` (no database): the HTTP ceiling of this server on this machine. "
        "`upstream direct` is `tools/call echo` on a small rmcp MCP server (stateless, JSON; "
        "bench/upstream) and `through the gateway` the same call through `/mcp/<slug>` with a "
        "Bearer token, interleaved with it; `bare forwarder` is the least any proxy does (an axum handler forwarding "
        "the body with reqwest, no authentication or inspection; `bench-upstream --forward-to`), the cost of one HTTP "
        "hop on these shared cores. `minimal axum` is bench-upstream --sign: a bare axum server whose one handler signs "
        "an Ed25519 JWT like Clavis's (and a static route beside it), the least any token endpoint does.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| private_key_jwt tokens/s vs client secret (same rounds) | {jwt_share:.0%} ({fmt_rate(median_of(jwt['runs'], 'rps'))} vs {fmt_rate(median_of(jwt['secret_runs'], 'rps'))}) | >= 60%: {mark(jwt_share >= 0.6)} |",
        f"| workload-token (jwt-bearer) tokens/s vs client secret (same rounds, keys cached) | {workload_share:.0%} ({fmt_rate(median_of(workload['runs'], 'rps'))} vs {fmt_rate(median_of(workload['secret_runs'], 'rps'))}) | >= 50%: {mark(workload_share >= 0.5)} |",
        f"| DPoP tokens/s vs Bearer (same rounds; Ed25519 proofs) | {dpop_tokens:.0%} ({fmt_rate(median_of(dpop['tokens, DPoP'], 'rps'))} vs {fmt_rate(median_of(dpop['tokens, Bearer'], 'rps'))}) | |",
        f"| /mcp calls/s with a DPoP-bound token and a proof per call vs Bearer | {dpop_mcp:.0%} ({fmt_rate(median_of(dpop['/mcp, DPoP'], 'rps'))} vs {fmt_rate(median_of(dpop['/mcp, Bearer'], 'rps'))}) | |",
        f"| first workload token after the issuer's key rotation (JWKS refetched) vs the next | {workload['rotation_ms']:.1f} ms vs {workload['cached_ms']:.1f} ms (answer {workload['rotation_status']}) | one fetch |",
        f"| tokens/s with the shipped log settings vs `--log warn` | {shipped / tokens:.0%} ({fmt_rate(shipped)} vs {fmt_rate(tokens)}); "
        f"{facts['log bytes per request']:.2f} log bytes per request | within 5%: {mark(shipped >= 0.95 * tokens)} |",
        f"| tokens/s vs the peer | {tokens / peer:.2f}x ({fmt_rate(tokens)} vs {fmt_rate(peer)}) | >= 10x: {mark(tokens >= 10 * peer)} |",
        f"| tokens/s vs the database-free floor (static) | {tokens / static:.0%} ({fmt_rate(tokens)} vs {fmt_rate(static)}); vs /healthz {tokens / healthz:.0%} | >= 60%: {mark(tokens >= 0.6 * static)} |",
        f"| the same signature alone: minimal axum, sign vs its static | {signer / signer_static:.0%} ({fmt_rate(signer)} vs {fmt_rate(signer_static)}); Clavis tokens reach {tokens / signer:.0%} of that signer | ceiling of the line above |",
        f"| /mcp whoami vs the floor | {mcp / static:.0%} ({fmt_rate(mcp)} vs {fmt_rate(static)}) | >= 40%: {mark(mcp >= 0.4 * static)} |",
        f"| p99 vs the floor's p99 ({static_p99:.2f} ms) | tokens {token_p99:.2f} ms ({token_p99 / static_p99:.1f}x), /mcp {mcp_p99:.2f} ms ({mcp_p99 / static_p99:.1f}x) | <= 2x: {mark(max(token_p99, mcp_p99) <= 2 * static_p99)} |",
        f"| token p99 at {args.connections} connections | {token_p99:.2f} ms (Little's law: mean >= {args.connections / tokens * 1000:.2f} ms at this rate) | <= 5 ms: {mark(token_p99 <= 5)} |",
        "| tokens/s by credentials in the database | "
        + ", ".join(f"{c:,}: {fmt_rate(r)}" for c, r in growth.items())
        + f" | {scale['large']:,} within 10% of 1: {mark(flat >= 0.9)} ({flat:.0%}) |",
        f"| database file after {served:,} token requests | {before[0]:,} -> {after[0]:,} bytes (WAL {before[1]:,} -> {after[1]:,}) | unchanged: {mark(after[0] == before[0])} |",
        f"| server RSS | idle {idle_rss / 1024:.1f} MiB, under token and /mcp load {load_rss / 1024:.1f} MiB, peak {peak_rss / 1024:.1f} MiB (after 100,000 credentials and the dashboard) | idle <= 32, load <= 64: {mark(idle_rss <= 32 * 1024 and load_rss <= 64 * 1024)} |",
        f"| dashboard first page, {scale['dashboard']:,} credentials | median {dash['median']:.1f} ms, p95 {dash['p95']:.1f} ms ({dash['bytes']:,} bytes, {dash['rows']} rows) | |",
        f"| audit page, {scale['dashboard']:,}+ events of that person | median {dash['audit']['median']:.1f} ms, p95 {dash['audit']['p95']:.1f} ms ({dash['audit']['bytes']:,} bytes, {dash['audit']['rows']} rows) | |",
        "| first visit of /login, bytes on the wire (page, wasm, JS, CSS) | "
        + "; ".join(f"{e}: {sum(wire[e].values()):,} ({sum(wire[e].values()) / sum(wire['identity'].values()):.0%}; wasm {wire[e]['wasm']:,})" for e in ("identity", "gzip", "br"))
        + f" | bundle cached as immutable: {mark(wire['immutable'])} |",
        f"| release binary, assets included | {wire['binary']:,} bytes | one file |",
        f"| gateway throughput vs the upstream direct | {gateway_share:.0%} ({fmt_rate(median_of(through, 'rps'))} vs {fmt_rate(median_of(direct, 'rps'))}); "
        f"a bare forwarder {bare_share:.0%}, so the gateway reaches {gateway_share / bare_share:.0%} of what any proxy can here | >= 80%: {mark(gateway_share >= 0.8)} |",
        f"| gateway throughput, 2026-07-28 calls (headers checked against the body) vs direct | {modern_share:.0%} "
        f"({fmt_rate(median_of(modern_through, 'rps'))} vs {fmt_rate(median_of(modern_direct, 'rps'))}); a bare forwarder {modern_bare_share:.0%}, "
        f"so the gateway reaches {modern_share / modern_bare_share:.0%} of it (handshake-era calls: {gateway_share / bare_share:.0%}) | "
        f"the check costs <= 5%: {mark(modern_share / modern_bare_share >= 0.95 * gateway_share / bare_share)} |",
        f"| gateway calls/s with per-tool call limits set vs without (same rounds) | {median_of(gateway_runs['through the gateway, with call limits'], 'rps') / median_of(through, 'rps'):.0%} "
        f"({fmt_rate(median_of(gateway_runs['through the gateway, with call limits'], 'rps'))} vs {fmt_rate(median_of(through, 'rps'))}) | within noise |",
        f"| latency the gateway adds (p50) | {added_p50:.2f} ms ({median_of(through, 'p50'):.2f} vs {median_of(direct, 'p50'):.2f}) | <= 1 ms: {mark(added_p50 <= 1)} |",
        f"| SSE answer, {100 if args.smoke else 1000} progress events 1 ms apart | last event after {sse['gateway']['total']:.0f} ms through the gateway, "
        f"{sse['direct']['total']:.0f} ms direct; largest gap between events {sse['gateway']['max_gap']:.1f} ms vs {sse['direct']['max_gap']:.1f} ms, "
        f"median gap {sse['gateway']['median_gap']:.2f} vs {sse['direct']['median_gap']:.2f} ms | no event held back |",
        *pg_lines,
        "",
        "Reproduce: `bench/run.sh` (options: `--duration`, `--rounds`, `--smoke`, `--no-postgres`).",
    ]
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    out = ROOT / "bench" / ("out/results-smoke.md" if args.smoke else "results.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out.relative_to(ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a few seconds, small counts: checks the script works")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per target (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections (default 64)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL runs")
    parser.add_argument("--only", choices=["dpop", "limits", "traces", "audit"], help="run only these rounds (printed, results.md untouched)")
    parser.add_argument("--baseline", help="with --only traces: an earlier clavis binary to measure beside")
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.warmup, args.rounds = 1, 1, 1
    if not BIN.exists():
        print(f"{BIN} is missing: run bench/run.sh, which builds it", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
