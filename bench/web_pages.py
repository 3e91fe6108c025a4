"""Server time and queries of each web page over the full demo catalog (1,389 real tool schemas).

In-process (Django test client, no network): the figure is the page's own cost, rendering included. Needs
DATABASE_URL (PostgreSQL); it migrates that database and seeds the demo catalog into it if missing.

    createdb ar_bench_web && DATABASE_URL=postgresql://postgres@127.0.0.1/ar_bench_web \\
        .venv/bin/python bench/web_pages.py --requests 50
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from registry.demo import seed  # noqa: E402
from registry.models import Action  # noqa: E402


def pages() -> list[tuple[str, str]]:
    busiest = (Action.objects.filter(latest_version__isnull=False).order_by("-latest_version__patch", "name")
               .values_list("name", "latest_version__version").first())
    name, version = busiest
    return [
        ("catalog", "/"),
        ("catalog page 20", "/?page=20"),
        ("search 'weather'", "/?q=weather"),
        ("search 'get' + namespace", "/?q=get&namespace=" + name.split(".")[0]),
        ("instant-search fragment", "/fragments/catalog-results?q=calcul"),
        ("action", f"/actions/{name}/"),
        ("version", f"/actions/{name}/versions/{version}/"),
        ("diff", f"/actions/{name}/diff/"),
        ("graph", f"/actions/{name}/graph/"),
        ("trust", "/trust/"),
        ("analytics", "/analytics/"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    if not Action.objects.exists():
        print(seed(directory=Path(tempfile.mkdtemp(prefix="ar-bench-web-"))), file=sys.stderr)
    client = Client()
    print(f"{Action.objects.count()} actions; {args.requests} requests per page after 3 warm-up requests\n")
    print("| page | median ms | p95 ms | queries | bytes |\n|---|---:|---:|---:|---:|")
    for label, path in pages():
        for _ in range(3):
            assert client.get(path).status_code == 200, path
        times = []
        for _ in range(args.requests):
            reset_queries()
            t0 = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        times.sort()
        p95 = times[max(0, int(len(times) * 0.95) - 1)]
        print(f"| {label} (`{path}`) | {statistics.median(times):.1f} | {p95:.1f} | {len(queries)} | "
              f"{len(response.content):,} |")


if __name__ == "__main__":
    main()
