"""Transparency-log proof latency at N leaves (default 1,000,000), seeded by COPY, against the stored-node layout.

    .venv/bin/python bench/log_proofs.py                    # seed ar_bench_log (once) and measure
    .venv/bin/python bench/log_proofs.py --leaves 100000 --samples 500
    .venv/bin/python bench/log_proofs.py --reseed           # drop and seed again

Measures, warm, on one connection: the inclusion and consistency selectors (the O(log n) node reads plus
hashing), the same through the HTTP handlers in-process (Django test client: routing, validation, JSON), and
one append at size N (rolled back). Every proof is checked against the stored root outside the timing.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from action_registry import merkle  # noqa: E402
from action_registry.canonical import canonicalize  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("BENCH_LOG_DATABASE", "ar_bench_log")
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def db_url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def ensure_database(reseed: bool) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if exists and reseed:
            conn.execute(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def seed(n: int) -> float:
    """COPY n leaves and all their complete subtrees; the same hashing as log_append, done in one pass."""
    started = time.perf_counter()
    tree = merkle.CompactRange()
    stack: list[bytes] = []  # hashes of the current right edge, one per level with a pending left child
    with psycopg.connect(db_url(DB_NAME)) as conn, conn.cursor() as cur:
        with cur.copy("COPY core_logleaf (index, kind, namespace, subject, data, leaf_hash, root_hash, "
                      "integrated_at) FROM STDIN") as leaves_copy:
            nodes: list[tuple[int, int, bytes]] = []
            for i in range(n):
                when = EPOCH + timedelta(milliseconds=i)
                data = canonicalize({"kind": "bench.entry", "integrated_at": when.isoformat().replace("+00:00", "Z"),
                                     "name": f"bench.action{i % 1000}", "version": f"1.0.{i}"})
                leaf = merkle.leaf_hash(data)
                tree.append(leaf)
                leaves_copy.write_row((i, "bench.entry", "bench", f"bench.action{i % 1000}@1.0.{i}", data, leaf,
                                       tree.root(), when))
                # Complete subtrees this leaf closes, exactly as log_append stores them.
                h, level = leaf, 0
                nodes.append((0, i, h))
                while (i >> level) & 1:
                    h = merkle.node_hash(stack.pop(), h)
                    level += 1
                    nodes.append((level, i >> level, h))
                stack.append(h)
        with cur.copy("COPY core_lognode (level, index, hash) FROM STDIN") as nodes_copy:
            for row in nodes:
                nodes_copy.write_row(row)
        conn.commit()
        cur.execute("ANALYZE core_logleaf")
        cur.execute("ANALYZE core_lognode")
    return time.perf_counter() - started


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def summary(name: str, ms: list[float]) -> str:
    return (f"| {name} | {len(ms)} | {pct(ms, 50):.2f} | {pct(ms, 95):.2f} | {pct(ms, 99):.2f} | "
            f"{statistics.fmean(ms):.2f} |")


def timed(fn, samples: list) -> list[float]:
    out = []
    for args in samples:
        t0 = time.perf_counter()
        fn(*args)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()

    ensure_database(args.reseed)
    os.environ["DATABASE_URL"] = db_url(DB_NAME)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("ACTION_REGISTRY_LOG_KEY_FILE", str(ROOT / "bench" / "data" / "bench-log-key.pem"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DEBUG", "false")  # production settings: no debug cursor recording every query
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test import Client

    from core import transparency
    from core.models import LogLeaf

    call_command("migrate", verbosity=0)
    n = transparency.log_size()
    if n not in (0, args.leaves):
        sys.exit(f"{DB_NAME} holds {n} leaves, not {args.leaves}: run with --reseed")
    seeded = None
    if n == 0:
        print(f"seeding {args.leaves:,} leaves by COPY ...", flush=True)
        seeded = seed(args.leaves)
        print(f"seeded in {seeded:.1f} s", flush=True)
    n = transparency.log_size()
    with connection.cursor() as cur:
        cur.execute("SELECT pg_size_pretty(pg_total_relation_size('core_logleaf')), "
                    "pg_size_pretty(pg_total_relation_size('core_lognode')), (SELECT count(*) FROM core_lognode)")
        leaf_size, node_size, node_count = cur.fetchone()

    rng = random.Random(9)
    root_n = transparency.log_root(n)
    incl = [(rng.randrange(n), n) for _ in range(args.samples)]
    cons = [(rng.randrange(1, n), n) for _ in range(args.samples)]
    any_cons = [tuple(sorted(rng.sample(range(1, n + 1), 2))) for _ in range(args.samples)]
    hashes = {i: bytes(h) for i, h in LogLeaf.objects.filter(index__in=[i for i, _ in incl]).values_list(
        "index", "leaf_hash")}

    def inclusion(index, size):
        return transparency.log_inclusion_proof(index=index, tree_size=size)

    def consistency(first, second):
        return transparency.log_consistency_proof(first=first, second=second)

    for index, size in incl[:200]:  # warm the buffer cache, and check proofs and node-computed roots
        proof = inclusion(index, size)
        assert proof.root_hash == root_n
        merkle.verify_inclusion(index, size, hashes[index], proof.hashes, root_n)
    for first, second in any_cons[:200]:
        proof = consistency(first, second)
        assert (proof.first_root, proof.second_root) == (transparency.log_root(first), transparency.log_root(second))
        merkle.verify_consistency(first, second, proof.hashes, proof.first_root, proof.second_root)

    client = Client()
    http_incl = [(f"/v1/log/proof/inclusion?leaf_hash={hashes[i].hex()}&tree_size={s}",) for i, s in incl]
    http_cons = [(f"/v1/log/proof/consistency?first={f}&second={s}",) for f, s in cons]

    def get(path):
        resp = client.get(path)
        assert resp.status_code == 200, resp.content

    get(http_incl[0][0])

    def round_trip():
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    rows = [
        summary("floor: one `SELECT 1` round trip on the same connection", timed(round_trip, [()] * args.samples)),
        summary("inclusion proof, selector (tree_size = N, random leaf)", timed(inclusion, incl)),
        summary("consistency proof, selector (first random, second = N)", timed(consistency, cons)),
        summary("consistency proof, selector (both sizes random)", timed(consistency, any_cons)),
        summary("GET /v1/log/proof/inclusion?leaf_hash=&tree_size=N (in-process)", timed(get, http_incl)),
        summary("GET /v1/log/proof/consistency?first=&second=N (in-process)", timed(get, http_cons)),
        summary("GET /v1/log/checkpoint (signs the note)", timed(get, [("/v1/log/checkpoint",)] * args.samples)),
    ]

    # The storage layout's own cost, without the client/server round trip: PostgreSQL's execution time of the
    # one node query an inclusion proof (and its root) needs.
    server_ms = []
    for index, size in incl[: min(500, len(incl))]:
        wanted = sorted({node for a, b in merkle.inclusion_ranges(index, size) + [(0, size)]
                         for node in merkle.range_nodes(a, b)})
        with connection.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + transparency._NODES_SQL,
                        [[lvl for lvl, _ in wanted], [i for _, i in wanted]])
            plan = cur.fetchone()[0]
            plan = plan[0] if isinstance(plan, list) else __import__("json").loads(plan)[0]
            server_ms.append(plan["Execution Time"])
    rows.insert(1, summary("inclusion node query, PostgreSQL execution time only (EXPLAIN ANALYZE)", server_ms))

    def append_rolled_back(i):
        with transaction.atomic():
            transparency.log_append(kind="bench.entry", payload={"n": i})
            transaction.set_rollback(True)

    rows.append(summary("log_append at size N (rolled back)", timed(append_rolled_back,
                                                                    [(i,) for i in range(min(500, args.samples))])))
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
    print(f"\nN = {n:,} leaves, {node_count:,} stored nodes; core_logleaf {leaf_size}, core_lognode {node_size}"
          + (f"; seeded in {seeded:.0f} s" if seeded else ""))
    print(f"{platform.python_implementation()} {platform.python_version()}, PostgreSQL {pg}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the end, {datetime.now(UTC):%Y-%m-%d}")
    print("\n| operation | samples | p50 ms | p95 ms | p99 ms | mean ms |\n|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
