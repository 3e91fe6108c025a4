"""Racing publishes of one (name, version): exactly one record, no 500, through a real server."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import connection

from governance.services import api_key_create, signing_key_add
from registry.models import ActionVersion, Blob
from tests.conftest import Signer, make_doc


@pytest.fixture
def live(registry_server, transactional_db):
    from action_registry import crypto
    signer = Signer(kid="race-root", private_key=crypto.generate_private_key())
    signing_key_add(kid=signer.kid, alg=signer.alg, public_key=signer.public_b64, actor="test")
    token = api_key_create(name="racer", namespaces=["*"], actor="test").token
    return registry_server(), signer, token


def test_same_version_from_many_processes(live):
    base, signer, token = live
    envelopes = [signer.sign(make_doc(description=f"variant {i % 3}")) for i in range(24)]
    barrier = threading.Barrier(len(envelopes))

    def publish(envelope):
        with httpx.Client(base_url=base, timeout=30) as http:
            barrier.wait()
            resp = http.post("/v1/actions", content=json.dumps(envelope),
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            return resp.status_code, resp.json()

    with ThreadPoolExecutor(len(envelopes)) as pool:
        results = list(pool.map(publish, envelopes))
    statuses = [s for s, _ in results]
    assert 500 not in statuses
    assert statuses.count(201) == 1, statuses
    winner = next(body for s, body in results if s == 201)
    for status, body in results:
        if status == 200:
            assert body["content_hash"] == winner["content_hash"]
        elif status == 409:
            assert body["error"]["code"] == "version_exists"
    connection.close()
    assert ActionVersion.objects.count() == 1
    assert Blob.objects.count() == 1
    expected_same = sum(1 for e in envelopes if e["action"] == winner["action"])
    assert statuses.count(200) == expected_same - 1
    assert statuses.count(409) == len(envelopes) - expected_same


def test_many_versions_concurrently_keep_latest_right(live):
    base, signer, token = live
    versions = [f"1.{i}.0" for i in range(16)]

    def publish(v):
        with httpx.Client(base_url=base, timeout=30) as http:
            return http.post("/v1/actions", json=signer.sign(make_doc(version=v)),
                             headers={"Authorization": f"Bearer {token}"}).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(publish, versions)) == {201}
    with httpx.Client(base_url=base) as http:
        detail = http.get("/v1/actions/ssh.exec").json()
    assert detail["latest_version"] == "1.15.0"
    assert len(detail["versions"]) == 16
