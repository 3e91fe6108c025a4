"""CPU per request of fetch, verify and the trivial endpoint, in-process, production settings, no profiler.

    .venv/bin/python bench/fastpath_cpu.py ar_bench_10000 2000 2>/dev/null   # request log lines go to stderr

Runs every path of the bench sample through Django's test client (the whole middleware stack and the ninja
API, no HTTP server) and reports ``time.process_time`` per request: this process's CPU only, so the figure
hardly moves with the machine's load, unlike wrk's req/s.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
DB = sys.argv[1] if len(sys.argv) > 1 else "ar_bench_10000"
COUNT = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
os.environ.update({"DJANGO_SETTINGS_MODULE": "config.settings", "ACTION_REGISTRY_ENV": "production",
                   "SECRET_KEY": "bench-" + "k" * 50, "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0",
                   "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{DB}", "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
                   "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
                   "ACTION_REGISTRY_VAR_DIR": str(Path(__file__).resolve().parent / "data" / "var")})
os.environ.pop("PYTEST_VERSION", None)

import django  # noqa: E402

django.setup()

from django.test import Client  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"


def measure(client: Client, paths: list[str], count: int, *, warm: bool = True) -> float:
    if warm:
        for p in paths[:200]:  # warm: connections, prepared statements, caches
            assert client.get(p).status_code == 200, p
    started = time.process_time()
    for i in range(count):
        client.get(paths[i % len(paths)])
    return (time.process_time() - started) / count * 1000


def main() -> None:
    samples = json.loads((DATA / f"{DB}.json").read_text())["sample"]
    client = Client(HTTP_HOST="127.0.0.1")
    fetch = [f"/v1/actions/{n}/versions/{v}" for n, v in samples]
    verify = [f"/v1/actions/{n}/versions/{v}/verify" for n, v in samples]
    client.get(fetch[-1])  # connections and prepared statements for the first-sight rows
    client.get(verify[-1])
    # Hot: 200 records over and over (answers cached once the cache is on). First sight: records this process
    # has not served yet, each once (every cache misses, the signature is checked).
    rows = {"trivial /health/live": (["/health/live"], True),
            "fetch, 200 records": (fetch[:200], True),
            "verify, 200 records": (verify[:200], True),
            "fetch, first sight": (fetch[200:200 + COUNT // 2], False),
            "verify, first sight": (verify[200 + COUNT // 2:200 + COUNT], False)}
    for label, (paths, warm) in rows.items():
        n = COUNT if warm else len(paths)
        print(f"{label}: {measure(client, paths, n, warm=warm):.3f} ms CPU/request over {n} requests")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
