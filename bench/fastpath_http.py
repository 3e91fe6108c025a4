"""Fetch and verify over HTTP when the records asked for repeat (the answer cache's steady state), beside the
trivial endpoint, on the server and load generator of the suite (bench/run.py: gunicorn -c config/gunicorn.conf.py,
4 sync workers, production settings, Redis; wrk -t1 -c16 on loopback).

    .venv/bin/python bench/fastpath_http.py --db ar_bench_10000 --hot 500 --duration 5

The suite's own fetch and verify rows cycle through the whole sample (5,147 records at 10k), so within a run
each worker process sees most records for the first time: those rows measure first sight (cache misses). Here
the first ``--hot`` records of the sample are asked for instead, after a warm-up that lets every worker keep
their answers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import DATA, CpuMeter, Server, paths_file, with_db, wrk  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="ar_bench_10000")
    parser.add_argument("--hot", type=int, default=500)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: the conf's)")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    samples = json.loads((DATA / f"{args.db}.json").read_text())["sample"][:args.hot]
    fetch = paths_file(f"{args.db}-hot-fetch.txt", [f"/v1/actions/{n}/versions/{v}" for n, v in samples])
    verify = paths_file(f"{args.db}-hot-verify.txt", [f"/v1/actions/{n}/versions/{v}/verify" for n, v in samples])
    live = paths_file("live.txt", ["/health/live"])
    server = Server(with_db(args.database_url, args.db), args.redis_url, DATA / f"{args.db}-hot-server.log", args.workers)
    try:
        d, c = args.duration, args.connections
        meter = CpuMeter(server, args.database_url, args.db)
        for warm in (fetch, verify):
            wrk(server.url, "paths.lua", [warm], duration=4, connections=c)
        rows = {"trivial GET /health/live": wrk(server.url, "paths.lua", [live], duration=d, connections=c,
                                                meter=meter),
                f"fetch, {len(samples)} hot records": wrk(server.url, "paths.lua", [fetch], duration=d,
                                                          connections=c, meter=meter),
                f"verify, {len(samples)} hot records": wrk(server.url, "paths.lua", [verify], duration=d,
                                                           connections=c, meter=meter)}
    finally:
        server.stop()
    trivial = rows["trivial GET /health/live"]["rps"]
    print(f"{args.db}; gunicorn {args.workers or 'default (2 x cores)'} sync workers; wrk -t1 -c{args.connections} -d{d:g}s")
    print(f"  {'row':32} {'req/s':>7} {'vs triv':>7} {'p50 ms':>7} {'p99 ms':>7} {'err':>4} {'cpu ms':>7} "
          f"{'(server':>7} {'db':>5} {'redis':>5} {'wrk)':>5} {'capacity':>8} {'load':>5}")
    for label, r in rows.items():
        ratio = "" if label.startswith("trivial") else f"{100 * r['rps'] / trivial:.0f}%"
        print(f"  {label:32} {r['rps']:>7,.0f} {ratio:>7} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['errors']:>4} "
              f"{r['cpu_ms_total']:>7.2f} {r['cpu_ms_server']:>7.2f} {r['cpu_ms_db']:>5.2f} {r['cpu_ms_redis']:>5.2f} "
              f"{r['cpu_ms_loadgen']:>5.2f} "
              f"{r['capacity_rps']:>8,} {r['loadavg']:>5}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
