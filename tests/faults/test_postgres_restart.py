"""PostgreSQL restarted (immediate shutdown, i.e. crash-like) in the middle of a stream of publishes: every
2xx is stored whole, every failure is a clean, retryable 5xx, nothing is half-written, nothing acknowledged
is lost. Runs on a throwaway cluster of its own; the machine's shared PostgreSQL is never touched."""

from __future__ import annotations

import threading

import httpx

from action_registry.canonical import canonicalize, content_hash
from tests.faults.conftest import publish_until, stored_versions, wait_until

STREAMS = 4


def test_publishes_across_a_postgres_restart_lose_nothing(throwaway_postgres, registry_on):
    pg = throwaway_postgres
    db_url = pg.url()
    server = registry_on(db_url)
    results: list = []
    phase = {"stop": False}
    threads = [threading.Thread(target=publish_until, args=(server.url, server.token, server.signer,
                                                            lambda: phase["stop"], results, s)) for s in range(STREAMS)]
    for t in threads:
        t.start()
    try:
        ok = lambda: sum(1 for r in results if r[1] is not None and r[1] < 300)  # noqa: E731
        wait_until(lambda: ok() >= 10, "10 publishes before the restart")
        pg.stop("immediate")  # in-flight transactions die with their backends
        down_at = len(results)
        wait_until(lambda: len(results) >= down_at + 8, "publishes answered while PostgreSQL is down")
        pg.start()
        after = ok()
        wait_until(lambda: ok() >= after + 10, "10 publishes after the restart")
    finally:
        phase["stop"] = True
        for t in threads:
            t.join(timeout=120)

    assert all(status is not None for _, status, _, _ in results), \
        [text for _, status, _, text in results if status is None][:3]
    failures = [(env, status, ctype, text) for env, status, ctype, text in results if status >= 300]
    assert failures, "PostgreSQL was down for at least 8 requests: some must have failed"
    for _, status, ctype, text in failures:
        # Clean and retryable: 503 with the error body and a Retry-After, never an HTML 500 page.
        assert status == 503, (status, text[-1500:])
        assert ctype.startswith("application/json") and '"code": "database_unavailable"' in text, text[:300]

    stored = stored_versions(db_url)
    for envelope, status, _, _ in results:
        version = envelope["action"]["version"]
        if status in (200, 201):
            row = stored.get(version)
            assert row is not None, f"acknowledged and lost: {version}"
    for version, row in stored.items():  # nothing half-written, whatever its answer was
        assert row["canonical"] is not None and content_hash(row["canonical"]) == row["content_hash"], version
        assert (row["events"], row["leaves"]) == (1, 1), (version, row)

    # A failure is retryable: the same bytes again either store it now (201) or find it stored (200).
    with httpx.Client(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {server.token}"}) as http:
        for envelope, _, _, _ in failures:
            version = envelope["action"]["version"]
            resp = http.post("/v1/actions", json=envelope)
            assert resp.status_code == (200 if version in stored else 201), resp.text
            assert resp.json()["content_hash"] == content_hash(canonicalize(envelope["action"]))
    stored = stored_versions(db_url)
    assert len(stored) == len({env["action"]["version"] for env, _, _, _ in results})
