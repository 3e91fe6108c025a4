"""POST /v1/actions: what is accepted, what is refused (with which code), and that refusals write nothing."""

from __future__ import annotations

import copy
import json

import pytest
from django.db import connection

from action_registry import crypto
from action_registry.canonical import canonicalize, content_hash
from core.models import Event
from registry.models import Action, ActionVersion, Blob
from tests.conftest import make_doc


def counts():
    return (Action.objects.count(), ActionVersion.objects.count(), Blob.objects.count(), Event.objects.count())


def error(resp):
    body = resp.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "suggestion"} <= set(body["error"]), body
    return body["error"]


def test_publish_returns_the_record(api, trusted_signer):
    doc = make_doc()
    resp = api.publish(trusted_signer.sign(doc))
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["action"] == doc
    assert body["content_hash"] == content_hash(canonicalize(doc))
    assert body["verification"] == {"verified": True, "kid": "test-root-1", "alg": "Ed25519", "key_status": "active",
                                    "chain": [{"kid": "test-root-1", "alg": "Ed25519", "status": "active",
                                               "role": "root"}]}
    assert body["latest"] is True
    assert Event.objects.get().kind == "action.published"


def test_republishing_identical_bytes_is_idempotent(api, trusted_signer):
    envelope = trusted_signer.sign(make_doc())
    assert api.publish(envelope).status_code == 201
    before = counts()
    # Other key order and whitespace, same document: same canonical bytes.
    reordered = {"signature": envelope["signature"], "action": dict(reversed(list(envelope["action"].items())))}
    resp = api.post("/v1/actions", json.dumps(reordered, indent=3), raw=True)
    assert resp.status_code == 200, resp.content
    assert counts() == before


def test_other_bytes_for_a_published_version_is_409(api, trusted_signer):
    assert api.publish(trusted_signer.sign(make_doc())).status_code == 201
    before = counts()
    resp = api.publish(trusted_signer.sign(make_doc(description="changed")))
    assert resp.status_code == 409
    assert error(resp)["code"] == "version_exists"
    assert counts() == before


def test_unicode_escapes_do_not_change_canonical_bytes(api, trusted_signer):
    doc = make_doc(description="caf\u00e9 \u20ac")
    envelope = trusted_signer.sign(doc)
    escaped = json.dumps(envelope, ensure_ascii=True)
    assert "\\u00e9" in escaped
    resp = api.post("/v1/actions", escaped, raw=True)
    assert resp.status_code == 201
    assert resp.json()["content_hash"] == content_hash(canonicalize(doc))


def test_no_api_key_is_401(client, trusted_signer):
    resp = client.post("/v1/actions", json.dumps(trusted_signer.sign(make_doc())), content_type="application/json")
    assert resp.status_code == 401
    assert error(resp)["code"] == "unauthorized"


def test_bad_api_key_is_401(api, trusted_signer):
    resp = api.publish(trusted_signer.sign(make_doc()), token="ar_deadbeef_nope")
    assert resp.status_code == 401
    assert error(resp)["code"] == "invalid_api_key"


def test_revoked_api_key_is_401(api, trusted_signer, make_api_token):
    from governance.services import api_key_revoke
    token = make_api_token("gone", ["ssh"])
    api_key_revoke(name="gone", actor="test")
    resp = api.publish(trusted_signer.sign(make_doc()), token=token)
    assert resp.status_code == 401
    assert error(resp)["code"] == "api_key_revoked"


def test_api_key_outside_its_namespace_is_403(api, trusted_signer, make_api_token):
    token = make_api_token("files-team", ["files"])
    before = counts()
    resp = api.publish(trusted_signer.sign(make_doc("ssh.exec")), token=token)
    assert resp.status_code == 403
    assert error(resp)["code"] == "namespace_forbidden"
    assert counts() == before
    # Prefixes match whole segments: "files" does not cover "filesystem.x".
    resp = api.publish(trusted_signer.sign(make_doc("filesystem.move")), token=token)
    assert resp.status_code == 403
    assert api.publish(trusted_signer.sign(make_doc("files.move")), token=token).status_code == 201


def test_unknown_kid_is_422(api, make_signer):
    stranger = make_signer("stranger", trusted=False)
    resp = api.publish(stranger.sign(make_doc()))
    assert resp.status_code == 422
    err = error(resp)
    assert err["code"] == "unknown_kid"
    assert "GET /v1/keys" in err["suggestion"]


def test_revoked_key_is_422(api, trusted_signer):
    from governance.services import signing_key_revoke
    signing_key_revoke(key=trusted_signer.model, actor="test", reason="lost laptop")
    resp = api.publish(trusted_signer.sign(make_doc()))
    assert resp.status_code == 422
    assert error(resp)["code"] == "key_revoked"


def test_es256_publish_and_verify(api, make_signer):
    signer = make_signer("p256-key", alg=crypto.ES256)
    resp = api.publish(signer.sign(make_doc()))
    assert resp.status_code == 201, resp.content
    assert resp.json()["verification"]["verified"] is True
    assert resp.json()["signature"]["alg"] == "ES256"


@pytest.mark.parametrize("change, code", [
    ({"name": "ssh"}, "invalid_name"),
    ({"name": "SSH.exec"}, "invalid_name"),
    ({"name": "ssh..exec"}, "invalid_name"),
    ({"name": "ssh.1exec"}, "invalid_name"),
    ({"name": "a." + "b" * 199}, "invalid_name"),
    ({"version": "1.0"}, "invalid_version"),
    ({"version": "v1.0.0"}, "invalid_version"),
    ({"version": "01.0.0"}, "invalid_version"),
    ({"input_schema": {"type": "dict"}}, "invalid_schema"),
    ({"output_schema": {"minimum": "zero"}}, "invalid_schema"),
    ({"input_schema": []}, "invalid_schema"),
    ({"description": 5}, "invalid_document"),
    ({"metadata": []}, "invalid_document"),
    ({"extra": 1}, "invalid_document"),
])
def test_invalid_documents_are_422(api, trusted_signer, change, code):
    doc = {**make_doc(), **change}
    envelope = {"action": doc, "signature": {"kid": trusted_signer.kid, "alg": "Ed25519", "sig": "AAAA"}}
    before = counts()
    resp = api.publish(envelope)
    assert resp.status_code == 422, resp.content
    assert error(resp)["code"] == code
    assert counts() == before


def test_missing_field_is_422(api, trusted_signer):
    doc = make_doc()
    del doc["output_schema"]
    resp = api.publish({"action": doc, "signature": {"kid": "k", "alg": "Ed25519", "sig": "AAAA"}})
    assert resp.status_code == 422
    assert "output_schema" in error(resp)["message"]


def test_unsafe_integer_is_refused_not_altered(api, trusted_signer):
    text = json.dumps(trusted_signer.sign(make_doc(metadata={"n": 1})))
    text = text.replace('"n": 1', '"n": 9007199254740993')
    resp = api.post("/v1/actions", text, raw=True)
    assert resp.status_code == 422
    assert error(resp)["code"] == "invalid_number"


def test_lone_surrogate_is_refused(api, trusted_signer):
    text = json.dumps(trusted_signer.sign(make_doc())).replace("Run a command", "Run \\udc00 a command")
    resp = api.post("/v1/actions", text, raw=True)
    assert resp.status_code == 422
    assert error(resp)["code"] == "invalid_unicode"


def test_malformed_json_is_422(api):
    resp = api.post("/v1/actions", '{"action": ', raw=True)
    assert resp.status_code == 422
    assert error(resp)["code"] == "invalid_json"


def test_envelope_shape_is_checked(api, trusted_signer):
    resp = api.publish({"action": make_doc()})
    assert resp.status_code == 422
    assert error(resp)["code"] in {"invalid_envelope", "invalid_request"}
    env = trusted_signer.sign(make_doc())
    env["signature"]["extra"] = 1
    resp = api.publish(env)
    assert resp.status_code == 422


def test_identical_document_under_two_publishes_shares_one_blob(api, trusted_signer, make_signer):
    other = make_signer("second-root")
    doc = make_doc()
    assert api.publish(trusted_signer.sign(doc)).status_code == 201
    # Same bytes signed by another key: idempotent (the record keeps its first signature).
    resp = api.publish(other.sign(copy.deepcopy(doc)))
    assert resp.status_code == 200
    assert resp.json()["signature"]["kid"] == "test-root-1"
    assert Blob.objects.count() == 1


def test_latest_is_the_highest_release(api, trusted_signer):
    for v in ["1.0.0", "2.0.0-rc.1", "1.10.0", "1.2.0"]:
        assert api.publish(trusted_signer.sign(make_doc(version=v))).status_code == 201
    detail = api.get("/v1/actions/ssh.exec").json()
    assert detail["latest_version"] == "1.10.0"
    assert [v["version"] for v in detail["versions"]] == ["1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1"]
    assert [v["latest"] for v in detail["versions"]] == [False, False, True, False]
    assert api.publish(trusted_signer.sign(make_doc(version="2.0.0"))).status_code == 201
    assert api.get("/v1/actions/ssh.exec").json()["latest_version"] == "2.0.0"


def test_immutability_trigger_refuses_raw_sql(api, trusted_signer):
    from django.db import transaction
    from django.db.utils import DatabaseError
    assert api.publish(trusted_signer.sign(make_doc())).status_code == 201
    statements = [
        "UPDATE registry_actionversion SET sig = 'forged'",
        "UPDATE registry_actionversion SET content_hash = content_hash",  # no-op is allowed...
        "UPDATE registry_blob SET canonical = convert_to('{}', 'UTF8')",
        "DELETE FROM registry_actionversion",
        "DELETE FROM registry_blob",
    ]
    outcomes = []
    for sql in statements:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql)
            outcomes.append("ok")
        except DatabaseError as exc:
            assert "immutable" in str(exc)
            outcomes.append("refused")
    assert outcomes == ["refused", "ok", "refused", "refused", "refused"]
    assert ActionVersion.objects.get().sig != "forged"
