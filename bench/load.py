"""Bounded load test (issue 12): mixed read/publish traffic from several processes for at most 60 s against a
registry; reports throughput, latency percentiles and every 5xx. No timing is asserted anywhere else.

    .venv/bin/python bench/load.py --duration 60 --procs 4 [--url URL --token T --key PEM --kid K]

Without --url it creates a database on the local PostgreSQL (DATABASE_URL's server), migrates it, trusts a
fresh key, creates an API key, and serves it with gunicorn (production settings: DEBUG off) on a free port.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from action_registry import crypto  # noqa: E402
from action_registry.document import sign_document  # noqa: E402

READ_SHARE = 0.8  # 4 reads (fetch, verify, search, list) for each publish


def _doc(name: str, version: str) -> dict:
    return {"name": name, "version": version, "description": f"Load test action {name} {version}.",
            "input_schema": {"type": "object", "properties": {"host": {"type": "string"}}, "required": ["host"]},
            "output_schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}


def _worker(url: str, token: str, key_pem: bytes, kid: str, duration: float, wid: int, seed_names: list[str],
            out: mp.Queue) -> None:
    import httpx
    key = crypto.load_private_key(key_pem)
    rng = random.Random(wid)
    lat: dict[str, list[float]] = {"read": [], "publish": []}
    statuses: dict[int, int] = {}
    errors: list[str] = []
    n = 0
    deadline = time.monotonic() + duration
    with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        while time.monotonic() < deadline:
            if rng.random() < READ_SHARE:
                kind = "read"
                name = rng.choice(seed_names)
                path = rng.choice([f"/v1/actions/{name}/versions/1.0.0", f"/v1/actions/{name}/versions/1.0.0/verify",
                                   "/v1/actions?q=load", f"/v1/actions/{name}"])
                started = time.perf_counter()
                try:
                    resp = http.get(path)
                except httpx.HTTPError as exc:
                    errors.append(f"GET {path}: {exc!r}"[:300])
                    continue
            else:
                kind = "publish"
                envelope = sign_document(_doc(f"load.w{wid}", f"1.0.{n}"), key, kid)
                n += 1
                started = time.perf_counter()
                try:
                    resp = http.post("/v1/actions", json=envelope)
                except httpx.HTTPError as exc:
                    errors.append(f"POST /v1/actions {envelope['action']['version']}: {exc!r}"[:300])
                    continue
            lat[kind].append(time.perf_counter() - started)
            statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
            if resp.status_code >= 500:
                errors.append(f"{resp.status_code} {resp.text[:200]}")
    out.put({"lat": lat, "statuses": statuses, "errors": errors})


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


def run_load(url: str, token: str, key_pem: bytes, kid: str, *, duration: float, procs: int) -> dict:
    """Seed one action per worker name, then drive the mix; returns the merged figures."""
    import httpx
    key = crypto.load_private_key(key_pem)
    seed_names = [f"load.seed{i}" for i in range(8)]
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        for name in seed_names:
            resp = http.post("/v1/actions", json=sign_document(_doc(name, "1.0.0"), key, kid))
            assert resp.status_code in (200, 201), resp.text
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(url, token, key_pem, kid, duration, w, seed_names, out))
               for w in range(procs)]
    started = time.monotonic()
    for w in workers:
        w.start()
    parts = [out.get(timeout=duration + 120) for _ in workers]
    for w in workers:
        w.join()
    elapsed = time.monotonic() - started
    lat = {k: [x for p in parts for x in p["lat"][k]] for k in ("read", "publish")}
    both = lat["read"] + lat["publish"]
    statuses: dict[int, int] = {}
    for p in parts:
        for code, count in p["statuses"].items():
            statuses[int(code)] = statuses.get(int(code), 0) + count
    return {
        "duration_s": round(elapsed, 1), "procs": procs, "requests": len(both),
        "rps": round(len(both) / elapsed, 1), "publishes": len(lat["publish"]),
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(c for s, c in statuses.items() if s >= 500),
        "transport_errors": sum(1 for p in parts for e in p["errors"] if not e[:1].isdigit()),
        "error_samples": [e for p in parts for e in p["errors"]][:10],
        "errors_sample": [e for p in parts for e in p["errors"]][:5],
        **{f"{k}_p{q}_ms": round(_pct(v, q), 1) for k, v in (("all", both), *lat.items()) for q in (50, 95, 99)},
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _self_serve(workers: int):
    """A database of its own on the local PostgreSQL, migrated and seeded, served by gunicorn."""
    import psycopg
    base = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    dbname = f"ar_load_{os.getpid()}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    db_url = base.rsplit("/", 1)[0] + "/" + dbname
    env = {**os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "0",
           "SECRET_KEY": "load-test-only", "ALLOWED_HOSTS": "127.0.0.1,localhost", "REDIS_URL": ""}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
    key = crypto.generate_private_key(crypto.ED25519)
    tmp = Path(tempfile.mkdtemp(prefix="ar-load-"))
    (tmp / "k.pub").write_bytes(crypto.public_key_pem(key))
    subprocess.run([*manage, "trust_key", "add", "--kid", "load-root", "--alg", "Ed25519", "--public-key",
                    str(tmp / "k.pub")], env=env, check=True, cwd=ROOT, capture_output=True)
    token = subprocess.run([*manage, "create_api_key", "--name", "load", "--namespace", "load", "--quiet"],
                           env=env, check=True, cwd=ROOT, capture_output=True, text=True).stdout.strip()
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "config" / "gunicorn.conf.py"),
                             "config.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", str(workers)],
                            env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    import httpx
    for _ in range(600):
        try:
            httpx.get(url + "/health/live", timeout=5)
            break
        except httpx.HTTPError:
            time.sleep(0.1)

    def cleanup() -> None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')

    return url, token, crypto.private_key_pem(key), "load-root", cleanup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic (at most 60)")
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument("--server-workers", type=int, default=4)
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--key", help="PEM private key trusted by the registry under --kid")
    parser.add_argument("--kid")
    args = parser.parse_args()
    duration = min(args.duration, 60.0)
    cleanup = None
    if args.url:
        url, token, key_pem, kid = args.url, args.token, Path(args.key).read_bytes(), args.kid
    else:
        url, token, key_pem, kid, cleanup = _self_serve(args.server_workers)
    try:
        figures = run_load(url, token, key_pem, kid, duration=duration, procs=args.procs)
    finally:
        if cleanup:
            cleanup()
    print(json.dumps(figures, indent=2))
    sys.exit(1 if figures["server_errors"] else 0)


if __name__ == "__main__":
    main()
