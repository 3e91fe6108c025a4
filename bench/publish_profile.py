"""Publish path in-process: SQL statements per publish (listed), wall and CPU time per publish.

Creates a throwaway PostgreSQL database (dropped at the end unless --keep), migrates it, trusts a root key and
a delegated key (so the chain walk has a certificate to check), claims a namespace, and publishes through the
Django test client (POST /v1/actions with an API key: the whole request, receipt included). Half the
publishes are new actions, half new minor versions of earlier ones declaring ``compatible_with`` their
predecessors (so the compatibility check diffs documents). CPU = this process + its PostgreSQL backend.

    .venv/bin/python bench/publish_profile.py --count 400
    .venv/bin/python bench/publish_profile.py --count 400 --profile   # + cProfile top functions
    .venv/bin/python bench/publish_profile.py --count 400 --sample    # + pyinstrument sampling tree
"""

from __future__ import annotations

import argparse
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
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("ACTION_REGISTRY_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")

ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _database(name: str, drop_only: bool = False) -> str:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--db", default=f"ar_perf_publish_{os.getpid()}")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sample", action="store_true",
                        help="pyinstrument's sampling profile instead (low overhead; pip install pyinstrument)")
    parser.add_argument("--profile-out", default="/tmp/publish_profile.prof", help="where --profile saves its stats")
    parser.add_argument("--no-fanout", action="store_true",
                        help="drop the after-commit event dispatch (core.outbox), to measure its share")
    parser.add_argument("--show-sql", action="store_true", help="print every statement of one publish")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions of this process and its PostgreSQL backend with perf stat "
                             "(a figure the machine's load does not move; needs linux-perf)")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = _database(args.db)
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            _database(args.db, drop_only=True)


def run(args) -> None:
    import django

    django.setup()
    if args.no_fanout:
        from core import services as core_services

        core_services._listeners.clear()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from action_registry import crypto
    from action_registry.document import sign_document
    from governance.services import api_key_create, namespace_claim, namespace_review, signing_key_add

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    root_priv = crypto.generate_private_key(crypto.ED25519)
    signing_key_add(kid="bench-root", alg=crypto.ED25519, public_key=crypto.public_key_b64(root_priv),
                           actor="bench")
    leaf_priv = crypto.generate_private_key(crypto.ED25519)
    signer_priv, signer_kid = root_priv, "bench-root"
    try:  # a delegated key, so the chain walk checks a certificate (skipped if the API differs)
        signer_priv, signer_kid = _delegate(root_priv, leaf_priv)
    except Exception as exc:  # noqa: BLE001
        print(f"(no delegated key: {exc!r}; signing with the root)")
    try:
        users = get_user_model()
        alice = users.objects.create_user("bench-claimer", password="x", is_staff=True)
        bob = users.objects.create_user("bench-reviewer", password="x", is_staff=True, is_superuser=True)
        claim = namespace_claim(prefix="bench", owner_kids=["bench-root"], actor="bench", user=alice)
        namespace_review(claim=claim, reviewer=bob, approve=True, reason="bench")
    except Exception as exc:  # noqa: BLE001
        print(f"(no namespace claim: {exc!r})")
    token = api_key_create(name="bench", namespaces=["*"], actor="bench").token

    def doc(i: int) -> dict:
        action, minor = (i // 2, 0) if i % 2 == 0 else (i // 2 - (i // 2) % 4, (i // 2) % 4 + 1)
        d = {"name": f"bench.a{action}", "version": f"1.{minor}.{i}",
             "description": f"Bench action {action}, publish {i}.",
             "input_schema": {"type": "object", "properties": {"host": {"type": "string"},
                                                              "n": {"type": "integer"}}, "required": ["host"]},
             "output_schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}
        if minor:
            d["compatibility"] = {"compatible_with": ["^1.0.0"]}
        return d

    total = args.count + 40
    bodies = [json.dumps(sign_document(doc(i), signer_priv, signer_kid)) for i in range(total)]
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")

    receipts = {}

    def publish(i: int) -> None:
        r = client.post("/v1/actions", data=bodies[i], content_type="application/json")
        if r.status_code != 201:
            raise SystemExit(f"publish {i}: {r.status_code} {r.content[:400]!r}")
        if i < 30:
            receipts[i] = json.loads(r.content)["receipt"]

    for i in range(30):  # warm-up: imports, prepared statements, caches
        publish(i)
    from core.transparency import log_receipt_for  # the receipt a publish answers = the one read back later

    sent = json.loads(client.post("/v1/actions", data=bodies[0], content_type="application/json").content)["receipt"]
    for i in range(30):  # each fresh publish's receipt equals the one computed later from the stored log
        assert receipts[i] == log_receipt_for(kind="action.published",
                                              subject=f"{doc(i)['name']}@{doc(i)['version']}"), i
    assert sent == receipts[0]  # a re-publish (200) answers the same receipt
    for i, what in ((30, "a new action"), (31, "a new version of an action, declaring compatible_with")):
        with CaptureQueriesContext(connection) as ctx:
            publish(i)
        print(f"statements per publish: {len(ctx.captured_queries)} ({what})")
        if args.show_sql:
            for q in ctx.captured_queries:
                print("   ", q["sql"][:200])

    backend = connection.cursor().connection.info.backend_pid
    prof = cProfile.Profile(time.process_time) if args.profile else None  # CPU time, not waits
    cpu0, db0, wall0 = time.process_time(), _proc_cpu(backend), time.perf_counter()
    walls = []
    sampler = None
    if args.sample:
        from pyinstrument import Profiler

        sampler = Profiler(interval=0.001)
        sampler.start()
    counter = _Instructions(os.getpid(), backend) if args.instructions else None
    if prof:
        prof.enable()
    for i in range(40, total):
        t = time.perf_counter()
        publish(i)
        walls.append(time.perf_counter() - t)
    if prof:
        prof.disable()
    if sampler:
        sampler.stop()
    wall, cpu, db = time.perf_counter() - wall0, time.process_time() - cpu0, _proc_cpu(backend) - db0
    walls.sort()
    n = args.count
    if counter:
        python_insns, db_insns = counter.stop()
        print(f"instructions per publish: python {python_insns / n / 1e6:.2f} M + PostgreSQL {db_insns / n / 1e6:.2f} M"
              f" = {(python_insns + db_insns) / n / 1e6:.2f} M")
    print(f"{n} publishes in {wall:.2f} s: wall {1000 * wall / n:.2f} ms/publish "
          f"(p50 {1000 * walls[n // 2]:.2f}, p99 {1000 * walls[int(n * 0.99)]:.2f}); "
          f"CPU {1000 * (cpu + db) / n:.2f} ms/publish (python {1000 * cpu / n:.2f} + PostgreSQL "
          f"{1000 * db / n:.2f}); load average {os.getloadavg()[0]:.1f}")
    if sampler:
        print(sampler.output_text(unicode=False, color=False, show_all=False))
    if prof:
        prof.dump_stats(args.profile_out)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(60)
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)


class _Instructions:
    """perf stat -e instructions on two processes, one count each, from start to stop()."""

    def __init__(self, *pids: int) -> None:
        import subprocess
        import tempfile

        self.out = tempfile.NamedTemporaryFile(suffix=".perf", delete=False).name
        self.procs = [subprocess.Popen(["perf", "stat", "-x,", "-e", "instructions:u,instructions:k", "-p", str(pid),
                                        "-o", f"{self.out}.{pid}"]) for pid in pids]
        self.pids = pids
        time.sleep(0.5)  # perf attached

    def stop(self) -> list[int]:
        import signal

        counts = []
        for proc, pid in zip(self.procs, self.pids, strict=True):
            proc.send_signal(signal.SIGINT)
            proc.wait()
            total = 0
            for line in Path(f"{self.out}.{pid}").read_text().splitlines():
                fields = line.split(",")
                if len(fields) > 2 and fields[2].startswith("instructions") and fields[0].isdigit():
                    total += int(fields[0])
            counts.append(total)
        return counts


def _delegate(root_priv, leaf_priv):
    """A delegated signer under bench-root, scoped to ``bench``, through the delegation services."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model

    from action_registry import crypto
    from action_registry.chain import make_certificate, now, sign_certificate
    from governance.services import delegation_review, delegation_submit

    cert = make_certificate(kid="bench-leaf", alg=crypto.ED25519, public_key=crypto.public_key_b64(leaf_priv),
                            parent_kid="bench-root", scopes=["bench"], not_before=now() - timedelta(hours=1),
                            not_after=now() + timedelta(days=30))
    key = delegation_submit(envelope=sign_certificate(cert, root_priv, "bench-root"), actor="bench")
    reviewer = get_user_model().objects.create_user("bench-key-reviewer", password="x", is_staff=True,
                                                   is_superuser=True)
    delegation_review(key=key, reviewer=reviewer, approve=True, reason="bench")
    return leaf_priv, "bench-leaf"


if __name__ == "__main__":
    main()
