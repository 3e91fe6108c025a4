"""The benchmark suite: seed PostgreSQL with N actions, serve them with gunicorn on loopback, load them with wrk,
and print each figure beside the machine's own ceilings measured in the same run.

    scripts/bench                      # N = 10,000 and 100,000 (make bench)
    scripts/bench --sizes 10000 --duration 5
    scripts/bench --reuse              # keep the seeded databases of an earlier run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import seed as seeding  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
WRK = ROOT / "bench" / "wrk"

# Single common words (they match a large share of the catalogue), rarer words, phrases and partial names.
SEARCH_QUERIES = ["get", "the", "data", "list", "user", "file", "calculate", "weather", "find information",
                  "stock price", "ssh", "gorilla_file", "vehicle", "xss", "temperature in celsius",
                  "zzzznotaword"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


def with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


# --- ceilings -------------------------------------------------------------------------------------

def bench_key() -> tuple[bytes, str]:
    """The bench's Ed25519 signing key (made once in bench/data/): its PEM and public key, base64."""
    from action_registry import crypto

    DATA.mkdir(parents=True, exist_ok=True)
    key_file = DATA / "bench-key.pem"
    if not key_file.exists():
        crypto.write_private_key(key_file, crypto.generate_private_key(crypto.ED25519))
    key_pem = key_file.read_bytes()
    return key_pem, crypto.public_key_b64(crypto.load_private_key(key_pem))


def ed25519_ceiling(seconds: float = 2.0) -> dict:
    """Raw verifies/s of one core with `cryptography`, over a ~1 KB message like a canonical document."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    message = os.urandom(1024)
    sig = key.sign(message)
    public = key.public_key()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(200):
            public.verify(sig, message)
        count += 200
    per_core = count / (time.perf_counter() - started)
    return {"verifies_per_s_one_core": round(per_core), "cores": os.cpu_count(),
            "verifies_per_s_all_cores": round(per_core * (os.cpu_count() or 1))}


# --- the server and the load generator -------------------------------------------------------------

class Server:
    """gunicorn with config/gunicorn.conf.py, production settings, on a free loopback port."""

    def __init__(self, database_url: str, redis_url: str, log_path: Path, workers: int | None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_dir = tempfile.mkdtemp(prefix="ar-bench-metrics-")
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
               "DJANGO_SETTINGS_MODULE": "config.settings", "ACTION_REGISTRY_ENV": "production",
               "SECRET_KEY": "bench-" + "k" * 50, "ALLOWED_HOSTS": "127.0.0.1,localhost",
               "SECURE_SSL_REDIRECT": "0", "ACTION_REGISTRY_PUBLIC_URL": self.url,
               "GUNICORN_BIND": f"127.0.0.1:{self.port}", "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir,
               "ACTION_REGISTRY_VAR_DIR": str(DATA / "var"), "LOG_LEVEL": "INFO",
               # No worker recycling mid-row: a restarted worker starts cold and its CPU leaves the meter with it.
               "GUNICORN_MAX_REQUESTS": "0"}
        if workers:
            env["WEB_CONCURRENCY"] = str(workers)
        env.pop("PYTEST_VERSION", None)
        self.log = open(log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
                                      "config.wsgi:application"], cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self.url + "/health/live", self.proc)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _redis_pids() -> set[int]:
    """The local redis-server processes (the machine's one Redis serves the bench's database)."""
    out = subprocess.run(["pgrep", "-x", "redis-server"], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


class CpuMeter:
    """CPU seconds spent by the server's workers, their PostgreSQL backends, Redis and the load generator during one
    row. The machine is shared, so wall-clock rates vary with whatever else runs; CPU per request does not
    (much), and is what a quiet machine's rate follows from."""

    def __init__(self, server: Server | None, admin_url: str, db_name: str):
        self.server, self.admin_url, self.db_name = server, admin_url, db_name

    def _pids(self) -> tuple[set[int], set[int]]:
        workers: set[int] = set()
        if self.server is not None:
            children = Path(f"/proc/{self.server.proc.pid}/task/{self.server.proc.pid}/children")
            if children.exists():
                workers = {int(p) for p in children.read_text().split()}
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                                [self.db_name]).fetchall()
        return workers, {r[0] for r in rows}

    def __enter__(self):
        import resource

        self.workers, self.backends = self._pids()
        self.redis = _redis_pids()
        self.before = {p: proc_cpu_seconds(p) for p in self.workers | self.backends | self.redis}
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.children_before = usage.ru_utime + usage.ru_stime
        return self

    def __exit__(self, *exc):
        import resource

        workers, backends = self._pids()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.loadgen = usage.ru_utime + usage.ru_stime - self.children_before
        # A process gone by the end (a recycled worker, a closed backend) took its CPU count with it: count only
        # processes alive at the end (new ones from zero), so the figure errs low, never negative.
        self.server_s = sum(max(0.0, proc_cpu_seconds(p) - self.before.get(p, 0.0)) for p in workers)
        self.db_s = sum(max(0.0, proc_cpu_seconds(p) - self.before.get(p, 0.0)) for p in backends)
        # The answer cache's change counter and the event bus live there: its CPU is part of a request's cost.
        self.redis_s = sum(max(0.0, proc_cpu_seconds(p) - self.before.get(p, 0.0)) for p in self.redis)
        self.load = os.getloadavg()[0]
        return False

    def per_request(self, requests: int) -> dict:
        n = max(requests, 1)
        total = self.server_s + self.db_s + self.redis_s + self.loadgen
        return {"cpu_ms_server": round(1000 * self.server_s / n, 3), "cpu_ms_db": round(1000 * self.db_s / n, 3),
                "cpu_ms_redis": round(1000 * self.redis_s / n, 3),
                "cpu_ms_loadgen": round(1000 * self.loadgen / n, 3), "cpu_ms_total": round(1000 * total / n, 3),
                # What the two cores would serve if this run had them to itself.
                "capacity_rps": round((os.cpu_count() or 1) * 1000 * n / (1000 * total)) if total else 0,
                "loadavg": round(self.load, 1)}


def wrk(url: str, script: str, args: list[str], *, duration: float, connections: int, threads: int = 1,
        meter: CpuMeter | None = None) -> dict:
    if meter is not None:
        with meter:
            row = wrk(url, script, args, duration=duration, connections=connections, threads=threads)
        row.update(meter.per_request(row["requests"]))
        return row
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "5s",
           "-s", str(WRK / script), url, "--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    match = re.search(r"^RESULT (\{.*\})$", out.stdout, re.M)
    if not match:
        raise RuntimeError(f"wrk gave no result: {out.stdout}\n{out.stderr}")
    r = json.loads(match.group(1))
    seconds = r["duration_us"] / 1e6
    errors = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["status_errors"] + r["timeouts"]
    return {"rps": round(r["requests"] / seconds, 1), "requests": r["requests"], "errors": errors,
            "p50_ms": r["p50_us"] / 1000, "p95_ms": r["p95_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
            "max_ms": r["max_us"] / 1000, "command": " ".join(cmd[:-2] + ["--", "<" + script + " args>"]),
            "stderr": out.stderr.strip()[:500]}


def paths_file(name: str, paths: list[str]) -> str:
    path = DATA / name
    path.write_text("\n".join(paths) + "\n")
    return str(path)


# --- the rows ---------------------------------------------------------------------------------------

def run_size(n: int, args, docs: list[dict], key_pem: bytes, public_b64: str) -> dict:
    db_name = f"ar_bench_{n}"
    database_url = with_db(args.database_url, db_name)
    meta_path = DATA / f"{db_name}.json"
    if args.reuse and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        print(f"[{n}] reusing {db_name}: {meta['actions']} actions", flush=True)
        seeding.migrate(database_url)  # the code may have migrations the seeded database has not
    else:
        print(f"[{n}] seeding {db_name} ...", flush=True)
        meta = seeding.seed(admin_url=args.database_url, database_url=database_url, db_name=db_name, n=n,
                            key_pem=key_pem, public_b64=public_b64, docs=docs)
        meta_path.write_text(json.dumps(meta))
        print(f"[{n}] seeded {meta['actions']} actions / {meta['versions']} versions in {meta['seconds']} s "
              f"(signing {meta['sign_seconds']} s, COPY + ANALYZE {meta['copy_seconds']} s)", flush=True)
    samples = meta["sample"]
    fetch = paths_file(f"{db_name}-fetch.txt", [f"/v1/actions/{nm}/versions/{v}" for nm, v in samples])
    verify = paths_file(f"{db_name}-verify.txt", [f"/v1/actions/{nm}/versions/{v}/verify" for nm, v in samples])
    live = paths_file("live.txt", ["/health/live"])
    server = Server(database_url, args.redis_url, DATA / f"{db_name}-server.log", args.workers)
    rows: dict = {"n": n, "actions": meta["actions"], "versions": meta["versions"]}
    try:
        d, c = args.duration, args.connections
        meter = CpuMeter(server, args.database_url, db_name)
        # Warm every worker (imports, connections, caches) before measuring anything.
        wrk(server.url, "paths.lua", [fetch], duration=2, connections=c)
        rows["trivial"] = wrk(server.url, "paths.lua", [live], duration=d, connections=c, meter=meter)
        rows["fetch"] = wrk(server.url, "paths.lua", [fetch], duration=d, connections=c, meter=meter)
        rows["verify"] = wrk(server.url, "paths.lua", [verify], duration=d, connections=c, meter=meter)
        # The same requests over a hot set of 500 records (agents fetch the same actions again and again): the
        # per-process answer cache serves them after a state probe. The rows above mostly see records first.
        hot = samples[:500]
        hot_fetch = paths_file(f"{db_name}-fetch-hot.txt", [f"/v1/actions/{nm}/versions/{v}" for nm, v in hot])
        hot_verify = paths_file(f"{db_name}-verify-hot.txt",
                                [f"/v1/actions/{nm}/versions/{v}/verify" for nm, v in hot])
        wrk(server.url, "paths.lua", [hot_fetch], duration=2, connections=c)
        wrk(server.url, "paths.lua", [hot_verify], duration=2, connections=c)
        rows["fetch_hot"] = wrk(server.url, "paths.lua", [hot_fetch], duration=d, connections=c, meter=meter)
        rows["verify_hot"] = wrk(server.url, "paths.lua", [hot_verify], duration=d, connections=c, meter=meter)
        rows["search"] = {}
        for q in SEARCH_QUERIES:
            qf = paths_file(f"{db_name}-q.txt", [f"/v1/actions?q={quote(q)}&limit=20"])
            rows["search"][q] = wrk(server.url, "paths.lua", [qf], duration=args.search_duration, connections=1,
                                    meter=meter)
        rows["search_loaded"] = wrk(server.url, "paths.lua", [paths_file(
            f"{db_name}-qmix.txt", [f"/v1/actions?q={quote(q)}&limit=20" for q in SEARCH_QUERIES])],
            duration=d, connections=c, meter=meter)
        rows["publish"] = publish_row(server, meta, docs, key_pem, database_url, db_name, args)
        rows["fanout"] = fanout_row(args)
    finally:
        server.stop()
    return rows


def publish_row(server: Server, meta: dict, docs: list[dict], key_pem: bytes, database_url: str, db_name: str,
                args) -> dict:
    import psycopg

    count = int(args.publish_rate_cap * args.duration)
    prefix = "p" + datetime.now(UTC).strftime("%H%M%S%f")
    envelopes = seeding.sign_all(seeding.corpus(count, docs, prefix=prefix), key_pem, fn=seeding._envelope)
    body_file = paths_file("publish-bodies.jsonl", envelopes)
    # Warm every worker's publish path first (first-use costs: ORM metadata, compiled and prepared statements,
    # trust caches), with envelopes of their own, so that the measured run sees what a running server does.
    warm = seeding.sign_all(seeding.corpus(1000, docs, prefix="w" + prefix[1:]), key_pem, fn=seeding._envelope)
    wrk(server.url, "publish.lua", [paths_file("publish-warm.jsonl", warm), meta["api_token"]], duration=2,
        connections=args.publish_connections)
    with psycopg.connect(database_url) as conn:
        before = conn.execute("SELECT count(*) FROM registry_actionversion").fetchone()[0]
    row = wrk(server.url, "publish.lua", [body_file, meta["api_token"]], duration=args.duration,
              connections=args.publish_connections, meter=CpuMeter(server, args.database_url, db_name))
    with psycopg.connect(database_url) as conn:
        after = conn.execute("SELECT count(*) FROM registry_actionversion").fetchone()[0]
    row["stored"] = after - before
    row["stored_per_s"] = round(row["stored"] / (row["requests"] / row["rps"]), 1) if row["rps"] else 0
    row["envelopes_prepared"] = count
    return row


def fanout_row(args) -> dict:
    """Event fan-out to 100 WebSocket subscribers: measured once the /v1/events consumer exists."""
    try:
        import config.routing  # noqa: F401
        from config.routing import websocket_urlpatterns
    except Exception as exc:  # noqa: BLE001
        return {"skipped": f"config.routing not importable: {exc}"}
    if not any("events" in str(getattr(p, "pattern", "")) for p in websocket_urlpatterns):
        return {"skipped": "no WebSocket consumer at /v1/events yet (issue 6)"}
    if not (ROOT / "bench" / "fanout.py").exists():
        return {"skipped": "the /v1/events consumer exists but bench/fanout.py does not measure it yet"}
    from bench import fanout

    return asyncio.run(fanout.measure(args))


# --- report -----------------------------------------------------------------------------------------

def pct(a: float, b: float) -> str:
    return f"{100 * a / b:.0f}%" if b else "-"


def report(results: dict) -> str:
    ceil = results["ceilings"]
    lines = [f"Action Registry benchmark, {results['when']} on {results['machine']}",
             f"ceiling: raw Ed25519 verify (cryptography, 1 core): {ceil['verifies_per_s_one_core']:,}/s "
             f"({ceil['cores']} cores: {ceil['verifies_per_s_all_cores']:,}/s)",
             "req/s = measured by wrk; cpu ms = CPU per request of gunicorn workers + their PostgreSQL backends + "
             "Redis + wrk; capacity = cores / cpu (the rate with the machine to itself); load = 1-min load average", ""]
    for rows in results["sizes"]:
        t = rows["trivial"]
        lines.append(f"N = {rows['actions']:,} actions ({rows['versions']:,} versions); gunicorn "
                     f"{results['workers']} sync workers; wrk -t1 -c{results['connections']}")
        lines.append(f"  {'row':<30}{'req/s':>8}{'vs triv':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'err':>5}"
                     f"{'cpu ms':>8}{'capacity':>9}{'vs triv':>8}{'load':>6}")

        def line(label, r, t=t, ratio=True):
            lines.append(
                f"  {label:<30}{r['rps']:>8,.0f}{pct(r['rps'], t['rps']) if ratio else '':>8}"
                f"{r['p50_ms']:>8.2f}{r['p95_ms']:>8.2f}{r['p99_ms']:>8.2f}{r['errors']:>5}"
                f"{r.get('cpu_ms_total', 0):>8.2f}{r.get('capacity_rps', 0):>9,}"
                f"{pct(r.get('capacity_rps', 0), t.get('capacity_rps', 0)) if ratio else '':>8}"
                f"{r.get('loadavg', 0):>6.1f}")

        line("trivial GET /health/live", t, ratio=False)
        line("fetch (verified record)", rows["fetch"])
        line("verify", rows["verify"])
        if "fetch_hot" in rows:
            line("fetch, hot set of 500", rows["fetch_hot"])
            line("verify, hot set of 500", rows["verify_hot"])
        line("search, mixed, c=16", rows["search_loaded"])
        p = rows["publish"]
        line(f"publish (c={results['publish_connections']})", p)
        lines.append(f"  {'':<30}stored {p['stored']:,} new versions = {p['stored_per_s']:,.0f}/s")
        worst = max(rows["search"].items(), key=lambda kv: kv[1]["p95_ms"])
        lines.append(f"  search, one client (c=1), per query; worst p95 {worst[1]['p95_ms']:.2f} ms ({worst[0]!r})")
        for q, r in rows["search"].items():
            line(f"  {q!r}", r, ratio=False)
        f = rows["fanout"]
        lines.append("  fan-out to 100 WebSocket subscribers: " + (
            f"skipped ({f['skipped']})" if "skipped" in f else
            f"p50 {f['p50_ms']:.1f} ms, p95 {f['p95_ms']:.1f} ms over {f['events']} events"))
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated action counts")
    parser.add_argument("--duration", type=float, default=10, help="seconds per throughput row")
    parser.add_argument("--search-duration", type=float, default=3, help="seconds per search query (c=1)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--publish-connections", type=int, default=8)
    parser.add_argument("--publish-rate-cap", type=float, default=1500,
                        help="envelopes prepared per second of publish run (fresh names, each sent once)")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: the conf's)")
    parser.add_argument("--reuse", action="store_true", help="reuse seeded databases from an earlier run")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                 "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        print("wrk is not installed (scripts/bench installs it with apt-get)", file=sys.stderr)
        return 2
    key_pem, public_b64 = bench_key()
    if args.reuse:
        stale = [n for n in args.sizes.split(",")
                 if not (DATA / f"ar_bench_{n}.json").exists()]
        if stale:
            print(f"nothing to reuse for {stale}: seeding those", flush=True)
    docs = seeding.base_documents()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    print("measuring ceilings ...", flush=True)
    results = {"workers": args.workers or 2 * (os.cpu_count() or 1), "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "ceilings": ed25519_ceiling(), "connections": args.connections,
               "publish_connections": args.publish_connections, "sizes": []}
    for n in [int(s) for s in args.sizes.split(",") if s]:
        results["sizes"].append(run_size(n, args, docs, key_pem, public_b64))
    text = report(results)
    print(text)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (DATA / f"results-{stamp}.json").write_text(json.dumps(results, indent=1, default=str))
    (DATA / f"results-{stamp}.txt").write_text(text + "\n")
    print(f"saved bench/data/results-{stamp}.json and .txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
