"""Search latency, one client: each query of bench/run.py's SEARCH_QUERIES sent N times in a row to a gunicorn on
loopback (production settings, as bench/run.py starts it), with p50/p95/p99 per query; then the selector called
in this process: CPU per search of the PostgreSQL backend and of Python (steady on a loaded machine, unlike wall
time).

    .venv/bin/python bench/search_latency.py --db ar_bench_100000            # 200 requests per query
    .venv/bin/python bench/search_latency.py --db ar_bench_100000 --sql-only # no server: CPU figures only
    .venv/bin/python bench/search_latency.py --db ar_bench_100000 --plan the # print one query's plan
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import DATA, SEARCH_QUERIES, CpuMeter, Server, with_db  # noqa: E402

TRIVIAL = "(GET /health/live)"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def in_process(database_url: str, queries: list[str], repeat: int, plan: bool) -> dict[str, tuple]:
    """Per query: (total, statements per search, PostgreSQL backend CPU ms, this process's CPU ms), averaged
    over `repeat` calls of the selector itself. CPU time, unlike wall time, barely moves with the machine's
    load (PostgreSQL runs on this host, so /proc shows its backend). With `plan`, print each query's plan."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection

    from registry.selectors import action_search

    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    out = {}
    for q in queries:
        seen: list[tuple[str, object]] = []

        def grab(execute, sql, params, many, context, seen=seen):
            seen.append((sql, params))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(grab):
            page = action_search(q=q, limit=20)
        if plan:
            for sql, params in seen:
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                    print(f"--- {q!r}\n" + "\n".join(r[0] for r in cursor.fetchall()))
            continue
        for _ in range(3):
            action_search(q=q, limit=20)  # prepared on this connection by now
        db_before, py_before = _proc_cpu_s(backend), time.process_time()
        for _ in range(repeat):
            action_search(q=q, limit=20)
        db_ms = (_proc_cpu_s(backend) - db_before) * 1000 / repeat
        py_ms = (time.process_time() - py_before) * 1000 / repeat
        out[q] = (page.total, len(seen), db_ms, py_ms)
    return out


def http_times(server: Server, meter: CpuMeter, queries: list[str], requests: int) -> dict[str, tuple]:
    """Per query: (latencies in ms, server CPU ms per request: gunicorn workers + their PostgreSQL backends)."""
    import httpx

    out = {}
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for q in queries:  # warm every worker for this query's path
            for _ in range(8):
                client.get(f"/v1/actions?q={quote(q)}&limit=20").raise_for_status()
        # The floor: the same server's cheapest endpoint, through the same middleware.
        for label, path in [(TRIVIAL, "/health/live")] + [(q, f"/v1/actions?q={quote(q)}&limit=20") for q in queries]:
            times = []
            with meter:
                for _ in range(requests):
                    started = time.perf_counter()
                    client.get(path).raise_for_status()
                    times.append((time.perf_counter() - started) * 1000)
            out[label] = (times, 1000 * (meter.server_s + meter.db_s) / requests)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="ar_bench_100000")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                 "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=100, help="in-process calls per query for the CPU figures")
    parser.add_argument("--sql-only", action="store_true", help="no server: the in-process CPU figures only")
    parser.add_argument("--plan", nargs="*", help="print the plan of these queries (all if none given) and stop")
    parser.add_argument("queries", nargs="*", help="default: bench/run.py's SEARCH_QUERIES")
    args = parser.parse_args()
    database_url = with_db(args.database_url, args.db)
    queries = args.queries or SEARCH_QUERIES
    if args.plan is not None:
        in_process(database_url, args.plan or queries, 0, plan=True)
        return
    load_before = os.getloadavg()
    http = {}
    if not args.sql_only:
        server = Server(database_url, args.redis_url, DATA / f"{args.db}-search-server.log", args.workers)
        try:
            http = http_times(server, CpuMeter(server, args.database_url, args.db), queries, args.requests)
        finally:
            server.stop()
    cpu = in_process(database_url, queries, args.repeat, plan=False)
    load_after = os.getloadavg()
    print(f"{args.db}, {args.requests} sequential requests per query, one client, gunicorn workers="
          f"{args.workers}; load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    print("HTTP: one client, sequential; srv CPU = gunicorn workers + PostgreSQL backends, per request. "
          "In-process: the selector alone, CPU per call of the backend (PG) and of Python (Py).")
    print(f"{'query':26} {'total':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'srv CPU':>7} {'PG CPU':>7} "
          f"{'Py CPU':>7} {'stmts':>5}")

    def cells(label: str) -> str:
        if label not in http:
            return f"{'':7} {'':7} {'':7} {'':7}"
        t, server_ms = http[label]
        return f"{statistics.median(t):7.1f} {percentile(t, 95):7.1f} {percentile(t, 99):7.1f} {server_ms:7.2f}"

    if TRIVIAL in http:
        print(f"{TRIVIAL:26} {'':6} {cells(TRIVIAL)}")
    for q in queries:
        total, statements, db_ms, py_ms = cpu[q]
        print(f"{q!r:26} {total:6} {cells(q)} {db_ms:7.2f} {py_ms:7.2f} {statements:5}")
    if http:
        worst = max(queries, key=lambda q: percentile(http[q][0], 95))
        print(f"worst p95: {percentile(http[worst][0], 95):.1f} ms ({worst!r}); "
              f"worst server CPU: {max(http[q][1] for q in queries):.2f} ms/request")


if __name__ == "__main__":
    main()
