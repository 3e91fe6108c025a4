"""The transparency log on PostgreSQL: appends in the change's transaction, proofs from stored nodes, the /v1/log
endpoints and their errors, publish receipts, and the client detecting a history rewritten in the database."""

from __future__ import annotations

import json
import threading
from unittest import mock

import httpx
import pytest
from django.db import connection, transaction

from action_registry import merkle
from action_registry.checkpoint import NoteVerifier, checkpoint_open
from action_registry.logclient import (
    CheckpointStore,
    LogClient,
    LogError,
    checkpoint_refresh,
    log_monitor,
    receipt_check,
    receipt_verify,
    record_inclusion_verify,
)
from core import transparency
from core.models import Event, LogLeaf, LogNode
from core.transparency import log_append
from governance import selectors as governance_selectors
from governance.services import signing_key_mark_rotated, signing_key_revoke
from registry.models import Action, ActionVersion, Blob
from tests.conftest import make_doc


@pytest.fixture(autouse=True)
def log_key_file(settings, tmp_path):
    settings.ACTION_REGISTRY_LOG_KEY_FILE = tmp_path / "log-key.pem"
    settings.ACTION_REGISTRY_LOG_ORIGIN = "registry.test/log"
    # The per-process trust snapshot is keyed by TrustState.version, which every test's rollback resets:
    # start each test without one built from another test's keys.
    getattr(governance_selectors, "_snapshot_cache", {}).clear()


class DjangoTransport(httpx.BaseTransport):
    """httpx over Django's test client: the log client runs against the app in the test's own transaction."""

    def __init__(self, client):
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = self.client.generic(request.method, request.url.raw_path.decode("ascii"))
        return httpx.Response(resp.status_code, headers=dict(resp.items()), content=resp.content)


@pytest.fixture
def log_client(client):
    http = httpx.Client(transport=DjangoTransport(client))
    return LogClient("http://testserver", http_client=http)


@pytest.fixture
def store(tmp_path):
    return CheckpointStore(tmp_path / "state" / "checkpoints.json")


def append_many(n: int, start: int = 0) -> list[LogLeaf]:
    return [log_append(kind="test.entry", namespace="test", subject=f"t{i}", payload={"n": i})
            for i in range(start, start + n)]


def error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.content
    body = resp.json()
    assert set(body) == {"error"} and {"code", "message", "suggestion"} <= set(body["error"]), body
    assert body["error"]["code"] == code, body
    return body["error"]


# --- appending and proofs -------------------------------------------------------------------------

def test_appends_are_dense_and_stored_nodes_match_the_pure_tree(db):
    leaves = append_many(37)
    assert [leaf.index for leaf in leaves] == list(range(37))
    pure = merkle.MemoryTree(merkle.leaf_hash(bytes(leaf.data)) for leaf in leaves)
    stored = {(n.level, n.index): bytes(n.hash) for n in LogNode.objects.all()}
    expected = {(lvl, i): h for lvl, level in enumerate(pure.levels) for i, h in enumerate(level)}
    assert stored == expected
    for leaf in leaves:
        assert bytes(leaf.leaf_hash) == merkle.leaf_hash(bytes(leaf.data))
        assert transparency.log_root(leaf.index + 1) == pure.root(leaf.index + 1)
    for size in (1, 2, 5, 8, 13, 32, 37):
        for index in range(size):
            proof = transparency.log_inclusion_proof(index=index, tree_size=size)
            assert proof.hashes == merkle.inclusion_proof(index, size, pure.fetch)
            assert proof.root_hash == pure.root(size)
        for first in range(size + 1):
            proof = transparency.log_consistency_proof(first=first, second=size)
            assert proof.hashes == merkle.consistency_proof(first, size, pure.fetch)
            assert (proof.first_root, proof.second_root) == (pure.root(first), pure.root(size))


def test_leaf_is_canonical_json_with_the_log_time(db):
    leaf = log_append(kind="test.entry", payload={"b": 1, "a": "x"})
    entry = json.loads(bytes(leaf.data))
    assert bytes(leaf.data) == (b'{"a":"x","b":1,"integrated_at":"' + entry["integrated_at"].encode()
                                + b'","kind":"test.entry"}')
    # core_log_append stamps the entry under the lock as Python's isoformat would write the stored time.
    stored = LogLeaf.objects.get(index=leaf.index)
    assert entry["integrated_at"] == transparency._iso(stored.integrated_at) == transparency._iso(leaf.integrated_at)
    assert bytes(stored.data) == bytes(leaf.data) and bytes(stored.leaf_hash) == merkle.leaf_hash(bytes(leaf.data))
    with pytest.raises(ValueError):
        log_append(kind="x", payload={"integrated_at": "1999-01-01T00:00:00Z"})  # no back-dating


def test_proofs_are_log_n_queries(db, django_assert_max_num_queries):
    append_many(100)
    with django_assert_max_num_queries(1):  # the audit path and the root, from one batch of stored nodes
        transparency.log_inclusion_proof(index=37, tree_size=100)
    with django_assert_max_num_queries(1):
        transparency.log_consistency_proof(first=37, second=100)


def test_the_log_tables_refuse_update_and_delete(db):
    append_many(2)
    for sql in ("UPDATE core_logleaf SET kind = 'x' WHERE index = 0", "DELETE FROM core_logleaf WHERE index = 1",
                "UPDATE core_lognode SET hash = hash WHERE level = 0"):
        with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)


def test_concurrent_appends_get_dense_indexes(transactional_db):
    with pytest.raises(RuntimeError):  # outside a transaction there is no change for the leaf to belong to
        log_append(kind="test.entry", payload={})
    errors = []

    def worker(n):
        try:
            for i in range(8):
                with transaction.atomic():
                    log_append(kind="test.entry", payload={"worker": n, "i": i})
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    leaves = list(LogLeaf.objects.order_by("index"))
    assert [leaf.index for leaf in leaves] == list(range(48))
    pure = merkle.MemoryTree(bytes(leaf.leaf_hash) for leaf in leaves)
    assert transparency.log_root(48) == pure.root()


# --- wired into the changes it records ------------------------------------------------------------

def test_publish_appends_a_leaf_and_answers_with_a_receipt(api, trusted_signer):
    doc = make_doc()
    envelope = trusted_signer.sign(doc)
    resp = api.publish(envelope)
    assert resp.status_code == 201, resp.content
    receipt = resp.json()["receipt"]
    leaf = LogLeaf.objects.get(kind="action.published")
    entry = json.loads(bytes(leaf.data))
    assert entry == {"kind": "action.published", "integrated_at": entry["integrated_at"], "name": "ssh.exec",
                     "version": "1.0.0", "content_hash": resp.json()["content_hash"], "kid": "test-root-1",
                     "alg": "Ed25519", "signature": envelope["signature"]["sig"]}
    assert (leaf.namespace, leaf.subject) == ("ssh", "ssh.exec@1.0.0")
    verifier = NoteVerifier.from_vkey(transparency.log_key_info()["verifier_key"])
    inclusion = receipt_verify(receipt, verifier=verifier, expect={"name": "ssh.exec", "version": "1.0.0",
                                                                  "content_hash": resp.json()["content_hash"]})
    assert inclusion.leaf_index == leaf.index == receipt["leaf_index"]
    assert inclusion.checkpoint.size == leaf.index + 1  # the key's own key.added leaf came first
    # Re-publishing identical bytes appends nothing and answers the same receipt.
    again = api.publish(envelope)
    assert again.status_code == 200
    assert again.json()["receipt"] == receipt
    assert LogLeaf.objects.filter(kind="action.published").count() == 1


def test_a_tampered_receipt_is_refused(api, trusted_signer):
    receipt = api.publish(trusted_signer.sign(make_doc())).json()["receipt"]
    verifier = NoteVerifier.from_vkey(transparency.log_key_info()["verifier_key"])
    for change in ({"entry": receipt["entry"].replace("1.0.0", "1.0.1")}, {"leaf_index": receipt["leaf_index"] - 1},
                   {"checkpoint": receipt["checkpoint"].replace("\n2\n", "\n3\n")}):
        with pytest.raises(LogError) as err:
            receipt_verify({**receipt, **change}, verifier=verifier)
        assert err.value.code == "receipt_invalid"
    with pytest.raises(LogError) as err:
        receipt_verify(receipt, verifier=verifier, expect={"content_hash": "sha256:" + "0" * 64})
    assert err.value.code == "log_entry_mismatch"


def test_a_rolled_back_publish_leaves_no_leaf(api, trusted_signer):
    before = LogLeaf.objects.count()
    counts = (Action.objects.count(), Blob.objects.count(), Event.objects.count())
    # Make the log append fail inside the publish statement (registry_publish -> core_log_append): a subject
    # longer than core_logleaf.subject holds. The action, blob, version and event written before it must go too.
    from registry import services

    real = services.log_append_params

    def too_long_subject(**kwargs):
        return real(**{**kwargs, "subject": "x" * 400})

    with mock.patch("registry.services.log_append_params", side_effect=too_long_subject) as patched:
        resp = api.publish(trusted_signer.sign(make_doc()))
    assert patched.called and resp.status_code == 422  # the API answers a value too long for a column with 422
    assert (LogLeaf.objects.count(), ActionVersion.objects.count()) == (before, 0)
    assert (Action.objects.count(), Blob.objects.count(), Event.objects.count()) == counts
    # A refused publish (bad signature) writes nothing either.
    envelope = trusted_signer.sign(make_doc())
    envelope["action"]["description"] = "tampered"
    assert api.publish(envelope).status_code == 422
    assert LogLeaf.objects.count() == before
    # And the next publish takes the next index: no gap.
    resp = api.publish(trusted_signer.sign(make_doc()))
    assert resp.json()["receipt"]["leaf_index"] == before


def test_key_changes_are_logged(make_signer):
    signer = make_signer("team-ssh-1")
    signing_key_mark_rotated(key=signer.model, actor="test")
    other = make_signer("team-db-1")
    signing_key_revoke(key=other.model, actor="test", reason="laptop stolen")
    kinds = list(LogLeaf.objects.order_by("index").values_list("kind", "subject"))
    assert kinds == [("key.added", "team-ssh-1/Ed25519"), ("key.rotated", "team-ssh-1/Ed25519"),
                     ("key.added", "team-db-1/Ed25519"), ("key.revoked", "team-db-1/Ed25519")]
    added = json.loads(bytes(LogLeaf.objects.get(index=0).data))
    assert added["public_key"] == signer.public_b64 and added["scopes"] == []
    assert json.loads(bytes(LogLeaf.objects.get(index=3).data))["reason"] == "laptop stolen"


# --- endpoints ------------------------------------------------------------------------------------

def test_key_and_checkpoint_endpoints(client, db):
    assert client.get("/v1/log/checkpoint").content.decode().startswith("registry.test/log\n0\n")
    append_many(5)
    key = client.get("/v1/log/key").json()
    assert key["name"] == key["origin"] == "registry.test/log"
    verifier = NoteVerifier.from_vkey(key["verifier_key"])
    resp = client.get("/v1/log/checkpoint")
    assert resp["Content-Type"].startswith("text/plain")
    cp = checkpoint_open(resp.content.decode(), verifier, origin="registry.test/log")
    assert (cp.size, cp.root_hash) == (5, transparency.log_root(5))
    assert cp.timestamp == LogLeaf.objects.get(index=4).integrated_at
    as_json = client.get("/v1/log/checkpoint", {"format": "json"}).json()
    assert as_json["tree_size"] == 5 and as_json["root_hash"] == cp.root_hash.hex()
    assert as_json["note"] == resp.content.decode()  # deterministic: one size, one note


def test_entries_endpoint_pages_and_bounds(client, db):
    append_many(12)
    page = client.get("/v1/log/entries", {"start": 3, "end": 7}).json()
    assert (page["start"], page["end"], page["tree_size"]) == (3, 7, 12)
    assert [e["index"] for e in page["entries"]] == [3, 4, 5, 6]
    first = page["entries"][0]
    assert merkle.leaf_hash(first["data"].encode()).hex() == first["leaf_hash"]
    assert first["entry"]["n"] == 3 and first["subject"] == "t3"
    assert client.get("/v1/log/entries", {"start": 10, "end": 99}).json()["end"] == 12
    assert client.get("/v1/log/entries", {"start": 12}).json()["entries"] == []
    error(client.get("/v1/log/entries", {"start": 13}), 404, "entry_not_found")
    error(client.get("/v1/log/entries", {"start": 5, "end": 2}), 422, "invalid_range")
    error(client.get("/v1/log/entries", {"start": -1}), 422, "invalid_request")


def test_proof_endpoints_and_their_errors(client, db):
    leaves = append_many(9)
    pure = merkle.MemoryTree(bytes(leaf.leaf_hash) for leaf in leaves)
    target = leaves[4]
    body = client.get("/v1/log/proof/inclusion", {"leaf_hash": bytes(target.leaf_hash).hex(), "tree_size": 7}).json()
    assert (body["leaf_index"], body["tree_size"], body["root_hash"]) == (4, 7, pure.root(7).hex())
    merkle.verify_inclusion(4, 7, bytes(target.leaf_hash), [bytes.fromhex(h) for h in body["hashes"]], pure.root(7))
    by_subject = client.get("/v1/log/proof/inclusion", {"kind": "test.entry", "subject": "t4"}).json()
    assert by_subject["tree_size"] == 9 and by_subject["entry"]["subject"] == "t4"
    body = client.get("/v1/log/proof/consistency", {"first": 3, "second": 9}).json()
    merkle.verify_consistency(3, 9, [bytes.fromhex(h) for h in body["hashes"]], pure.root(3), pure.root(9))
    assert client.get("/v1/log/proof/consistency", {"first": 9}).json()["hashes"] == []

    inclusion = "/v1/log/proof/inclusion"
    error(client.get(inclusion, {"leaf_hash": "ab" * 31}), 422, "invalid_leaf_hash")
    error(client.get(inclusion, {"leaf_hash": "AB" * 32}), 422, "invalid_leaf_hash")
    error(client.get(inclusion, {"leaf_hash": "00" * 32}), 404, "leaf_not_found")
    error(client.get(inclusion, {"leaf_hash": bytes(target.leaf_hash).hex(), "tree_size": 4}), 404, "leaf_not_found")
    error(client.get(inclusion, {"leaf_hash": bytes(target.leaf_hash).hex(), "tree_size": 10}), 422,
          "tree_size_too_large")
    error(client.get(inclusion, {"subject": "nothing@1.0.0"}), 404, "leaf_not_found")
    error(client.get(inclusion), 422, "leaf_required")
    error(client.get(inclusion, {"leaf_hash": "00" * 32, "tree_size": 0}), 422, "invalid_request")
    error(client.get("/v1/log/proof/consistency", {"first": 5, "second": 3}), 422, "invalid_range")
    error(client.get("/v1/log/proof/consistency", {"first": 3, "second": 10}), 422, "tree_size_too_large")
    error(client.get("/v1/log/proof/consistency"), 422, "invalid_request")


def test_openapi_documents_every_log_operation(client, db):
    spec = client.get("/v1/openapi.json").json()
    ops = {op["operationId"]: op for path in spec["paths"].values() for op in path.values()}
    for op_id in ("getLogKey", "getLogCheckpoint", "getLogEntries", "getLogInclusionProof", "getLogConsistencyProof"):
        assert ops[op_id]["summary"] and ops[op_id]["description"]
    assert "text/plain" in ops["getLogCheckpoint"]["responses"]["200"]["content"]
    assert "PublishedRecordOut" in json.dumps(ops["publishAction"]["responses"]["201"])
    assert "receipt" in spec["components"]["schemas"]["PublishedRecordOut"]["properties"]


# --- the client: refresh, inclusion, monitoring, forks ---------------------------------------------

def test_client_pins_the_key_and_follows_a_growing_log(log_client, store, db):
    append_many(3)
    first = checkpoint_refresh(log_client, store=store)
    assert first.size == 3
    assert store.load("http://testserver")["verifier_key"] == transparency.log_key_info()["verifier_key"]
    append_many(4, start=3)
    second = checkpoint_refresh(log_client, store=store)
    assert second.size == 7
    assert store.load("http://testserver/v1/")["checkpoint"] == second.note
    # An older checkpoint met later (e.g. in a receipt) is proven to be a prefix and does not replace the newer.
    receipt = transparency.log_receipt(LogLeaf.objects.get(index=1))
    receipt_check(log_client, receipt, store=store)
    assert store.load("http://testserver")["checkpoint"] == second.note


def test_client_refuses_a_checkpoint_signed_by_another_key(log_client, store, db, settings, tmp_path):
    append_many(2)
    checkpoint_refresh(log_client, store=store)
    settings.ACTION_REGISTRY_LOG_KEY_FILE = tmp_path / "impostor.pem"
    with pytest.raises(LogError) as err:
        checkpoint_refresh(log_client, store=store)
    assert err.value.code == "checkpoint_unsigned"


def test_record_inclusion_verify(api, trusted_signer, log_client, store):
    envelope = trusted_signer.sign(make_doc())
    record = api.publish(envelope).json()
    api.publish(trusted_signer.sign(make_doc(version="1.1.0")))
    found = record_inclusion_verify(log_client, name="ssh.exec", version="1.0.0", content_hash=record["content_hash"],
                                    signature=envelope["signature"]["sig"], store=store)
    assert found.leaf_index == record["receipt"]["leaf_index"] and found.checkpoint.size == 3
    with pytest.raises(LogError) as err:
        record_inclusion_verify(log_client, name="ssh.exec", version="1.0.0", content_hash="sha256:" + "0" * 64,
                                store=store)
    assert err.value.code == "log_entry_mismatch"
    with pytest.raises(LogError) as err:
        record_inclusion_verify(log_client, name="ssh.exec", version="9.9.9", content_hash="x", store=store)
    assert err.value.code == "not_logged"


def test_monitor_reports_what_touches_a_namespace(api, make_signer, log_client, store):
    root = make_signer("root-1")  # a root key (no scopes) reaches every namespace
    api.publish(root.sign(make_doc("ssh.exec")))
    api.publish(root.sign(make_doc("db.query")))
    report = log_monitor(log_client, namespaces=["ssh"], store=store, page_size=2)
    assert (report.start, report.end) == (0, 3)
    assert [(m["kind"], m.get("name")) for m in report.matches] == [("key.added", None),
                                                                    ("action.published", "ssh.exec")]
    api.publish(root.sign(make_doc("ssh.exec", version="2.0.0")))
    signing_key_revoke(key=root.model, actor="test", reason="rotating out")
    report = log_monitor(log_client, namespaces=["ssh"], store=store)
    assert (report.start, report.end) == (3, 5)  # only what is new since the last run
    assert [m["kind"] for m in report.matches] == ["action.published", "key.revoked"]


def test_monitor_matching_rules():
    from action_registry.logclient import entry_touches

    keys: set[str] = set()
    ssh = ["ssh"]
    assert entry_touches({"kind": "action.published", "name": "ssh.exec"}, ssh, keys)
    assert not entry_touches({"kind": "action.published", "name": "sshd.exec"}, ssh, keys)
    assert entry_touches({"kind": "namespace.claimed", "prefix": "ssh"}, ssh, keys)
    assert entry_touches({"kind": "namespace.claimed", "prefix": "ssh.prod"}, ssh, keys)
    assert not entry_touches({"kind": "namespace.claimed", "prefix": "db"}, ssh, keys)
    assert not entry_touches({"kind": "policy.changed", "name": "ssh"}, ssh, keys)
    assert entry_touches({"kind": "key.certificate_accepted",
                          "certificate": {"kid": "team-1", "alg": "Ed25519", "scopes": ["ssh"]}}, ssh, keys)
    assert not entry_touches({"kind": "key.added", "kid": "db-1", "alg": "Ed25519", "scopes": ["db"]}, ssh, keys)
    assert entry_touches({"kind": "key.revoked", "kid": "team-1", "alg": "Ed25519"}, ssh, keys)
    assert not entry_touches({"kind": "key.revoked", "kid": "db-1", "alg": "Ed25519"}, ssh, keys)


def _rewrite_leaf(index: int, new_data: bytes) -> None:
    """What an attacker with the database can do: change an entry and recompute every hash above it, so the
    tree is self-consistent again. The append-only triggers are switched off first (the owner can)."""
    leaves = list(LogLeaf.objects.order_by("index"))
    hashes = [bytes(leaf.leaf_hash) for leaf in leaves]
    hashes[index] = merkle.leaf_hash(new_data)
    tree = merkle.MemoryTree(hashes)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE core_logleaf DISABLE TRIGGER core_logleaf_append_only")
        cursor.execute("ALTER TABLE core_lognode DISABLE TRIGGER core_lognode_append_only")
        cursor.execute("UPDATE core_logleaf SET data = %s, leaf_hash = %s WHERE index = %s",
                       [new_data, hashes[index], index])
        for size in range(index + 1, len(leaves) + 1):
            cursor.execute("UPDATE core_logleaf SET root_hash = %s WHERE index = %s", [tree.root(size), size - 1])
        for level, row in enumerate(tree.levels):
            for i, h in enumerate(row):
                cursor.execute("UPDATE core_lognode SET hash = %s WHERE level = %s AND index = %s", [h, level, i])
        cursor.execute("ALTER TABLE core_logleaf ENABLE TRIGGER core_logleaf_append_only")
        cursor.execute("ALTER TABLE core_lognode ENABLE TRIGGER core_lognode_append_only")


def test_a_history_rewritten_in_the_database_is_detected(api, trusted_signer, log_client, store):
    record = api.publish(trusted_signer.sign(make_doc())).json()
    api.publish(trusted_signer.sign(make_doc(version="1.1.0")))
    seen = checkpoint_refresh(log_client, store=store)  # the client has seen the honest tree of 3 entries
    assert seen.size == 3

    index = record["receipt"]["leaf_index"]
    forged = json.loads(record["receipt"]["entry"])
    forged["content_hash"] = "sha256:" + "e" * 64  # claim other bytes were published as ssh.exec@1.0.0
    _rewrite_leaf(index, json.dumps(forged, separators=(",", ":"), sort_keys=True).encode())

    # Same size, other root: a fork.
    with pytest.raises(LogError) as err:
        checkpoint_refresh(log_client, store=store)
    assert err.value.code == "log_inconsistent"
    assert err.value.details["remembered"] == seen.note
    # The log grows on: the consistency proof from the remembered tree cannot be made.
    api.publish(trusted_signer.sign(make_doc(version="1.2.0")))
    with pytest.raises(LogError) as err:
        checkpoint_refresh(log_client, store=store)
    assert err.value.code == "log_inconsistent"
    assert store.load("http://testserver")["checkpoint"] == seen.note  # the evidence is kept
    # A fresh client (no memory) accepts the forged tree, but the original receipt no longer fits it.
    fresh = CheckpointStore(store.path.with_name("fresh.json"))
    with pytest.raises(LogError) as err:
        receipt_check(log_client, record["receipt"], store=fresh)
    assert err.value.code == "log_inconsistent"


def test_a_log_rolled_back_in_the_database_is_detected(log_client, store, db):
    append_many(5)
    seen = checkpoint_refresh(log_client, store=store)
    with connection.cursor() as cursor:  # e.g. a restore from an old backup
        cursor.execute("ALTER TABLE core_logleaf DISABLE TRIGGER core_logleaf_append_only")
        cursor.execute("ALTER TABLE core_lognode DISABLE TRIGGER core_lognode_append_only")
        cursor.execute("DELETE FROM core_logleaf WHERE index >= 3")
        cursor.execute("DELETE FROM core_lognode WHERE (index + 1) * (1 << level) > 3")
        cursor.execute("ALTER TABLE core_logleaf ENABLE TRIGGER core_logleaf_append_only")
        cursor.execute("ALTER TABLE core_lognode ENABLE TRIGGER core_lognode_append_only")
    with pytest.raises(LogError) as err:
        checkpoint_refresh(log_client, store=store)
    assert err.value.code == "log_inconsistent"
    assert store.load("http://testserver")["checkpoint"] == seen.note


def test_an_entry_altered_without_fixing_the_hashes_is_caught_by_the_monitor(api, trusted_signer, log_client,
                                                                            store):
    api.publish(trusted_signer.sign(make_doc()))
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE core_logleaf DISABLE TRIGGER core_logleaf_append_only")
        cursor.execute("UPDATE core_logleaf SET data = convert_to(replace(convert_from(data, 'UTF8'), "
                       "'ssh.exec', 'ssh.evil'), 'UTF8') WHERE kind = 'action.published'")
        cursor.execute("ALTER TABLE core_logleaf ENABLE TRIGGER core_logleaf_append_only")
    with pytest.raises(LogError) as err:
        log_monitor(log_client, namespaces=["ssh"], store=store)
    assert err.value.code == "log_entry_mismatch"
