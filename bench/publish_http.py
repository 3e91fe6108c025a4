"""The publish row of bench/run.py alone: gunicorn (config/gunicorn.conf.py) on the seeded ar_bench_10000
database, wrk with fresh envelopes, CPU per request of workers + PostgreSQL backends + wrk.

    .venv/bin/python bench/publish_http.py --duration 5      # after scripts/bench has seeded ar_bench_10000

Needs ACTION_REGISTRY_TESTDATA (the documents the envelopes are made from) as scripts/bench does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import run  # noqa: E402
from bench import seed as seeding  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: the conf's)")
    parser.add_argument("--db", default="ar_bench_10000")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                 "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    a = parser.parse_args()
    args = argparse.Namespace(publish_rate_cap=1500, duration=a.duration, publish_connections=a.connections,
                              database_url=a.database_url)
    meta = json.loads((run.DATA / f"{a.db}.json").read_text())
    database_url = run.with_db(a.database_url, a.db)
    seeding.migrate(database_url)  # the code may have migrations the seeded database has not
    server = run.Server(database_url, a.redis_url, run.DATA / f"{a.db}-publish-server.log", a.workers)
    try:
        run.wrk(server.url, "paths.lua", [run.paths_file("live.txt", ["/health/live"])], duration=1, connections=4)
        row = run.publish_row(server, meta, seeding.base_documents(), (run.DATA / "bench-key.pem").read_bytes(),
                              database_url, a.db, args)
    finally:
        server.stop()
    keys = ("rps", "errors", "p50_ms", "p99_ms", "cpu_ms_server", "cpu_ms_db", "cpu_ms_redis", "cpu_ms_loadgen",
            "cpu_ms_total",
            "loadavg", "stored")
    print(json.dumps({k: row[k] for k in keys}))


if __name__ == "__main__":
    main()
