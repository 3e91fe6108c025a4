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
    """Racing publishes: versions of one action (serialised on its row) and new actions (only on the log lock,
    which the publish takes inside its store statement, reading the log head in the next one). Latest is
    right, leaves are consecutive and in the events' order, and every receipt verifies."""
    from action_registry.checkpoint import NoteVerifier
    from action_registry.logclient import receipt_verify
    from core.models import Event, LogLeaf

    base, signer, token = live
    docs = [make_doc(version=f"1.{i}.0") for i in range(16)] + [make_doc(name=f"race.a{i}") for i in range(8)]

    def publish(doc):
        with httpx.Client(base_url=base, timeout=30) as http:
            resp = http.post("/v1/actions", json=signer.sign(doc), headers={"Authorization": f"Bearer {token}"})
            return resp.status_code, resp.json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(publish, docs))
    assert {status for status, _ in results} == {201}, results
    with httpx.Client(base_url=base) as http:
        detail = http.get("/v1/actions/ssh.exec").json()
        verifier = NoteVerifier.from_vkey(http.get("/v1/log/key").json()["verifier_key"])
    assert detail["latest_version"] == "1.15.0"
    assert len(detail["versions"]) == 16
    indexes = sorted(body["receipt"]["leaf_index"] for _, body in results)
    assert indexes == list(range(indexes[0], indexes[0] + len(docs)))
    for _, body in results:
        inclusion = receipt_verify(body["receipt"], verifier=verifier,
                                   expect={"name": body["name"], "version": body["version"]})
        assert inclusion.leaf_index == body["receipt"]["leaf_index"]
    connection.close()
    leaves = list(LogLeaf.objects.filter(kind="action.published").order_by("index").values_list("subject", flat=True))
    events = list(Event.objects.filter(kind="action.published").order_by("id").values_list("subject", flat=True))
    assert leaves == events and len(leaves) == len(docs)


def test_racing_publishes_in_process_append_consecutive_leaves(transactional_db):
    """Many threads through the publish service at once (more overlap than a two-worker server gives): without
    the log lock its store statement takes, two would read the same log head."""
    from action_registry import crypto
    from action_registry.document import parse_envelope
    from core.models import Event, LogLeaf
    from core.transparency import log_receipt
    from registry.services import action_version_publish

    signer = Signer(kid="race-root", private_key=crypto.generate_private_key())
    signing_key_add(kid=signer.kid, alg=signer.alg, public_key=signer.public_b64, actor="test")
    envelopes = [[parse_envelope(signer.sign(make_doc(name=f"race.w{w}", version=f"1.{i}.0"))) for i in range(6)]
                 for w in range(6)]
    barrier, errors, receipts = threading.Barrier(len(envelopes)), [], []

    def worker(mine):
        try:
            barrier.wait()
            for envelope in mine:
                result = action_version_publish(envelope=envelope, api_key=None)
                receipts.append(log_receipt(result.log_leaf))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(mine,)) for mine in envelopes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    leaves = list(LogLeaf.objects.filter(kind="action.published").order_by("index"))
    first = leaves[0].index
    assert [leaf.index for leaf in leaves] == list(range(first, first + 36))
    assert [leaf.subject for leaf in leaves] == list(
        Event.objects.filter(kind="action.published").order_by("id").values_list("subject", flat=True))
    assert sorted(r["leaf_index"] for r in receipts) == [leaf.index for leaf in leaves]
