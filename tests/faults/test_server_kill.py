"""The server killed mid-request: gunicorn workers SIGKILLed while publishes stream in. The client sees an
error (or its answer); the database holds each version whole or not at all; a retry settles it."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import httpx

from action_registry.canonical import canonicalize, content_hash
from tests.conftest import test_database_url
from tests.faults.conftest import publish_until, stored_versions, wait_until


def workers_of(master_pid: int) -> list[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return [int(pid) for pid in children]


def test_sigkilled_workers_leave_whole_records_or_none(registry_server, trusted_signer, make_api_token):
    token = make_api_token("faults", ["faults"])
    url = registry_server()
    httpx.get(url + "/health/live", timeout=60)
    master_pid = _master_pid(url)
    results: list = []
    stop = {"now": False}
    threads = [threading.Thread(target=publish_until, args=(url, token, trusted_signer, lambda: stop["now"],
                                                            results, s)) for s in range(3)]
    for t in threads:
        t.start()
    ok = lambda: sum(1 for r in results if r[1] in (200, 201))  # noqa: E731
    try:
        wait_until(lambda: ok() >= 10, "10 publishes before the kill")
        for pid in workers_of(master_pid):  # both workers, whatever they are doing
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: ok() >= 20, "publishes after the workers were respawned")
    finally:
        stop["now"] = True
        for t in threads:
            t.join(timeout=120)

    statuses = {status for _, status, _, _ in results}
    assert statuses <= {201, None, 503}, statuses  # never a 500, never a half answer
    db_url = test_database_url()
    stored = stored_versions(db_url)
    for envelope, status, _, _ in results:
        if status is not None and status < 300:
            assert envelope["action"]["version"] in stored, "acknowledged and lost"
    for version, row in stored.items():
        assert row["canonical"] is not None and content_hash(row["canonical"]) == row["content_hash"], version
        assert (row["events"], row["leaves"]) == (1, 1), (version, row)
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        for envelope, status, _, _ in results:
            if status is None or status >= 300:
                resp = http.post("/v1/actions", json=envelope)
                version = envelope["action"]["version"]
                assert resp.status_code == (200 if version in stored else 201), resp.text
                assert resp.json()["content_hash"] == content_hash(canonicalize(envelope["action"]))


def _master_pid(url: str) -> int:
    """The gunicorn master listening on the URL's port (the fixture keeps the Popen to itself)."""
    port = int(url.rsplit(":", 1)[1])
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"gunicorn" in b" ".join(cmdline) and f"127.0.0.1:{port}".encode() in cmdline:
                return int(proc.name)
    raise AssertionError(f"no gunicorn master on port {port}")
