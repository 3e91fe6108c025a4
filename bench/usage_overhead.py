"""Cost of usage recording on a fetch: the same GET with and without analytics.middleware.UsageMiddleware.

Runs in-process (Django test client, no network) so the difference is not lost in socket noise; each round
alternates the two configurations. Needs DATABASE_URL (PostgreSQL); REDIS_URL optional (without it a flush
runs the ingest task eagerly, in the request, as in the embedded `run` default).

    DATABASE_URL=postgresql://... .venv/bin/python bench/usage_overhead.py --requests 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

from action_registry import crypto  # noqa: E402
from action_registry.document import parse_envelope, sign_document  # noqa: E402

MIDDLEWARE_WITH = list(settings.MIDDLEWARE)
MIDDLEWARE_WITHOUT = [m for m in MIDDLEWARE_WITH if m != "analytics.middleware.UsageMiddleware"]
NAME, VERSION = "bench.usage", "1.0.0"


def seed() -> None:
    from governance.models import SigningKey
    from governance.services import signing_key_add
    from registry.models import ActionVersion
    from registry.services import action_version_publish

    if ActionVersion.objects.filter(action__name=NAME, version=VERSION).exists():
        return
    key = crypto.generate_private_key(crypto.ED25519)
    if not SigningKey.objects.filter(kid="bench-usage-1").exists():
        signing_key_add(kid="bench-usage-1", alg=crypto.ED25519, public_key=crypto.public_key_b64(key), actor="bench")
    doc = {"name": NAME, "version": VERSION, "description": "Usage overhead benchmark action.",
           "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
           "output_schema": {"type": "object"}}
    action_version_publish(envelope=parse_envelope(sign_document(doc, key, "bench-usage-1")), api_key=None)


def timed(client: Client, n: int) -> list[float]:
    path = f"/v1/actions/{NAME}/versions/{VERSION}"
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = client.get(path, HTTP_X_AGENT_ID="bench-agent")
        out.append(time.perf_counter() - t0)
        assert response.status_code == 200
    return out


def client_for(middleware: list[str]) -> Client:
    """A client whose handler was built with ``middleware`` (the chain is built on the first request)."""
    with override_settings(MIDDLEWARE=middleware):
        client = Client()
        timed(client, 1)
    return client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    seed()
    clients = {"without": client_for(MIDDLEWARE_WITHOUT), "with": client_for(MIDDLEWARE_WITH)}
    for client in clients.values():
        timed(client, 200)  # warm up caches, connections and both code paths
    results: dict[str, list[float]] = {"without": [], "with": []}
    # Alternate request by request, so load from other processes hits both configurations alike.
    for _ in range(args.rounds * args.requests):
        for label, client in clients.items():
            results[label] += timed(client, 1)
    from analytics.usage import usage_flush

    usage_flush()
    base, extra = statistics.median(results["without"]), statistics.median(results["with"])
    p95 = {k: statistics.quantiles(v, n=20)[18] for k, v in results.items()}
    print(f"requests per configuration: {args.requests * args.rounds}")
    print(f"median fetch without usage recording: {base * 1e3:.3f} ms (p95 {p95['without'] * 1e3:.3f} ms)")
    print(f"median fetch with usage recording:    {extra * 1e3:.3f} ms (p95 {p95['with'] * 1e3:.3f} ms)")
    print(f"overhead: {(extra - base) * 1e6:+.1f} us per fetch ({(extra / base - 1) * 100:+.2f}%)")
    print(f"mean: {statistics.fmean(results['without']) * 1e3:.3f} ms vs {statistics.fmean(results['with']) * 1e3:.3f} ms")
    _micro()


def _micro() -> None:
    """The recording step alone, as the middleware runs it after a fetch."""
    from analytics.usage import usage_buffer

    n = 100_000
    t0 = time.perf_counter()
    for _ in range(n):
        usage_buffer.add(kind="fetch", action=NAME, version=VERSION, agent="bench-agent")
    per = (time.perf_counter() - t0) / n
    usage_buffer.take()
    print(f"usage_record alone: {per * 1e6:.2f} us per call (buffer only; the flush is amortised)")


if __name__ == "__main__":
    main()
