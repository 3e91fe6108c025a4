"""Profile one endpoint in-process against a seeded bench database: CPU per request, queries, hot spots.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/ar_bench_10000 .venv/bin/python bench/profiling.py fetch
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "fetch"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    db = connection.settings_dict["NAME"]
    meta = json.loads((DATA / f"{db}.json").read_text())
    samples = meta["sample"]
    if kind == "fetch":
        paths = [f"/v1/actions/{n}/versions/{v}" for n, v in samples]
    elif kind == "verify":
        paths = [f"/v1/actions/{n}/versions/{v}/verify" for n, v in samples]
    elif kind == "live":
        paths = ["/health/live"]
    elif kind.startswith("search:"):
        paths = [f"/v1/actions?q={kind.split(':', 1)[1]}&limit=20"]
    else:
        raise SystemExit(f"unknown kind {kind}")
    client = Client(HTTP_HOST="127.0.0.1")
    for p in paths[:50]:
        assert client.get(p).status_code == 200, p
    with CaptureQueriesContext(connection) as ctx:
        client.get(paths[0])
    print(f"{len(ctx.captured_queries)} queries:")
    for q in ctx.captured_queries:
        print("  ", q["time"], q["sql"][:160])
    prof = cProfile.Profile()
    cpu, wall = time.process_time(), time.perf_counter()
    prof.enable()
    for i in range(count):
        client.get(paths[i % len(paths)])
    prof.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{kind}: {cpu / count * 1000:.3f} ms CPU, {wall / count * 1000:.3f} ms wall per request (profiled)")
    pstats.Stats(prof).sort_stats(sys.argv[3] if len(sys.argv) > 3 else "tottime").print_stats(30)


if __name__ == "__main__":
    main()
