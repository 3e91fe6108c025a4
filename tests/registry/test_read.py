"""Fetch, verify, by-hash and the trust store: reads reflect the trust store as it is now."""

from __future__ import annotations

from action_registry import crypto
from action_registry.canonical import canonicalize
from governance.services import signing_key_mark_rotated, signing_key_revoke
from tests.conftest import make_doc


def published(api, signer, **kw):
    resp = api.publish(signer.sign(make_doc(**kw)))
    assert resp.status_code == 201, resp.content
    return resp.json()


def test_fetch_version_record(api, trusted_signer, django_assert_max_num_queries):
    rec = published(api, trusted_signer)
    # The record, the trust-state stamp, the deprecation annotation.
    with django_assert_max_num_queries(3):
        resp = api.get("/v1/actions/ssh.exec/versions/1.0.0")
    assert resp.status_code == 200
    body = resp.json()
    rec.pop("receipt")  # the transparency-log receipt comes with the publish answer only
    assert body == rec
    # The document is served as its canonical bytes, verbatim.
    assert resp.content.startswith(b'{"action":' + canonicalize(make_doc()) + b",")
    # A client re-verifies locally from what it got.
    crypto.verify("Ed25519", trusted_signer.public_b64, canonicalize(body["action"]), body["signature"]["sig"])


def test_verify_follows_revocation_and_rotation(api, trusted_signer, make_signer):
    published(api, trusted_signer)
    other = make_signer("second-root")
    published(api, other, name="files.move")
    url = "/v1/actions/ssh.exec/versions/1.0.0/verify"
    assert api.get(url).json()["verified"] is True

    signing_key_mark_rotated(key=other.model, actor="test")
    body = api.get("/v1/actions/files.move/versions/1.0.0/verify").json()
    assert (body["verified"], body["key_status"]) == (True, "rotated")

    signing_key_revoke(key=trusted_signer.model, actor="test", reason="compromised")
    body = api.get(url).json()
    assert {k: body[k] for k in ("verified", "kid", "alg", "key_status", "reason", "failed_kid")} == {
        "verified": False, "kid": "test-root-1", "alg": "Ed25519", "key_status": "revoked",
        "reason": "key_revoked", "failed_kid": "test-root-1"}
    assert body["chain"] == [{"kid": "test-root-1", "alg": "Ed25519", "status": "revoked", "role": "root"}]
    full = api.get("/v1/actions/ssh.exec/versions/1.0.0").json()
    assert full["verification"]["verified"] is False


def test_by_hash(api, trusted_signer):
    rec = published(api, trusted_signer)
    resp = api.get(f"/v1/actions/by-hash/{rec['content_hash']}")
    assert resp.status_code == 200
    assert resp.json()["name"] == "ssh.exec"
    missing = api.get("/v1/actions/by-hash/sha256:" + "0" * 64)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "hash_not_found"
    bad = api.get("/v1/actions/by-hash/md5:abc")
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_content_hash"


def test_not_found_errors_suggest_the_next_call(api, trusted_signer):
    published(api, trusted_signer)
    resp = api.get("/v1/actions/ssh.exec/versions/9.9.9")
    assert resp.status_code == 404
    err = resp.json()["error"]
    assert err["code"] == "version_not_found"
    assert "1.0.0" in err["suggestion"]
    resp = api.get("/v1/actions/ssh.exc")
    assert resp.status_code == 404
    assert "ssh.exec" in resp.json()["error"]["suggestion"]
    resp = api.get("/v1/actions/ssh.exec/versions/not-semver")
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "invalid_version"
    resp = api.get("/v1/nothing-here")
    assert resp.status_code == 404


def test_keys_endpoints(api, trusted_signer, make_signer):
    make_signer("p256", alg=crypto.ES256)
    body = api.get("/v1/keys").json()
    assert body["total"] == 2
    assert {k["kid"] for k in body["items"]} == {"test-root-1", "p256"}
    key = api.get("/v1/keys/test-root-1").json()
    assert key["public_key"] == trusted_signer.public_b64
    assert key["status"] == "active"
    assert "private" not in str(key).lower()
    assert api.get("/v1/keys/nope").status_code == 404
    assert api.get("/v1/keys", status="revoked").json()["total"] == 0


def test_openapi_is_served(client):
    spec = client.get("/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    ops = [op for path in spec["paths"].values() for op in path.values()]
    assert all(op.get("operationId") and op.get("summary") and op.get("description") for op in ops)
