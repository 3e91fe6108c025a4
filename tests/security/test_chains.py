"""Attacks on the key hierarchy, end to end through the API: signing outside a scope, certificates out of their
validity window or forged, a revoked intermediate, rotation or revocation by the wrong key, replayed requests.
(Moved here from tests/governance/test_chains.py, whose fixtures and helpers they use.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from action_registry import crypto
from action_registry.canonical import canonicalize
from action_registry.chain import format_time
from governance import services
from governance.models import SigningKey
from tests.conftest import make_doc
from tests.governance.test_chains import NOW, certificate, new_signer


def test_leaf_outside_parent_scope_is_refused(api, tree):
    root, org, leaf = tree
    wide = new_signer("too-wide")
    resp = api.post("/v1/keys", certificate(org, wide, ["docker"]))
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "scope_exceeds_parent"
    # And a valid leaf signing outside its own scope is refused at publish.
    resp = api.publish(leaf.sign(make_doc("files.move")))
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "scope_violation"
    assert resp.json()["error"]["details"]["failed_kid"] == "deploy-1"

def test_expired_certificate_is_refused(api, make_signer):
    root = make_signer("root-1")
    old = new_signer("old-org")
    resp = api.post("/v1/keys", certificate(root, old, ["ssh"], not_before=NOW - timedelta(days=10),
                                            not_after=NOW - timedelta(days=1)))
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "certificate_expired"

def test_forged_certificate_signature_is_refused(api, make_signer):
    make_signer("root-1")  # the real root, whose name the forger borrows
    mallory = new_signer("mallory")
    env = certificate(mallory, new_signer("evil-org"), ["ssh"])
    env["certificate"]["parent_kid"] = "root-1"
    env["signature"]["kid"] = "root-1"
    resp = api.post("/v1/keys", env)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "certificate_signature_invalid"

def test_revoked_org_key_flags_every_version_below_it(api, tree, make_signer, reviewer):
    root, org, leaf = tree
    other_leaf = new_signer("files-bot")
    api.post("/v1/keys", certificate(org, other_leaf, ["files"]))
    services.delegation_review(key=SigningKey.objects.get(kid="files-bot"), reviewer=reviewer, approve=True,
                               reason="files bot")
    unrelated = make_signer("other-root")
    assert api.publish(leaf.sign(make_doc("ssh.exec"))).status_code == 201
    assert api.publish(other_leaf.sign(make_doc("files.move"))).status_code == 201
    assert api.publish(unrelated.sign(make_doc("docker.run"))).status_code == 201

    requested = format_time(datetime.now(UTC))
    body = {"kid": "infra-org", "alg": "Ed25519", "reason": "org key leaked", "compromised_since": None,
            "requested_at": requested}
    envelope = {"revocation": body, "signature": {"kid": "root-1", "alg": "Ed25519",
                                                  "sig": crypto.sign(root.private_key, canonicalize(body))}}
    resp = api.post("/v1/keys/infra-org/revoke", envelope)
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "revoked"

    for name in ("ssh.exec", "files.move"):
        result = api.get(f"/v1/actions/{name}/versions/1.0.0/verify").json()
        assert (result["verified"], result["key_status"], result["failed_kid"]) == (False, "revoked", "infra-org")
    assert api.get("/v1/actions/docker.run/versions/1.0.0/verify").json()["verified"] is True
    # Keys below the revoked one cannot publish any more.
    resp = api.publish(leaf.sign(make_doc("ssh.exec", version="2.0.0")))
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "key_revoked"
    revocations = api.get("/v1/revocations").json()
    assert [r["kid"] for r in revocations["body"]["revocations"]] == ["infra-org"]
    log_key = api.get("/v1/log/key").json()
    crypto.verify("Ed25519", log_key["public_key"], canonicalize(revocations["body"]),
                  revocations["signature"]["sig"])

def test_revocation_by_a_non_ancestor_or_replayed_stale_is_refused(api, tree, make_signer):
    root, org, leaf = tree
    stranger = make_signer("stranger-root")
    body = {"kid": "deploy-1", "alg": "Ed25519", "reason": "spite", "compromised_since": None,
            "requested_at": format_time(datetime.now(UTC))}
    envelope = {"revocation": body, "signature": {"kid": "stranger-root", "alg": "Ed25519",
                                                  "sig": crypto.sign(stranger.private_key, canonicalize(body))}}
    resp = api.post("/v1/keys/deploy-1/revoke", envelope)
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "revoker_not_ancestor"
    stale = {**body, "requested_at": format_time(datetime.now(UTC) - timedelta(hours=2))}
    envelope = {"revocation": stale, "signature": {"kid": "infra-org", "alg": "Ed25519",
                                                   "sig": crypto.sign(org.private_key, canonicalize(stale))}}
    resp = api.post("/v1/keys/deploy-1/revoke", envelope)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "request_stale"
    assert SigningKey.objects.get(kid="deploy-1").status == "active"

def test_rotation_by_someone_other_than_the_parent_is_refused(api, tree, make_signer):
    root, org, leaf = tree
    impostor = make_signer("impostor-root")
    resp = api.post("/v1/keys/rotate", {"old_kid": "deploy-1",
                                        "certificate": certificate(impostor, new_signer("d9"), ["ssh"])})
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "rotation_signer_invalid"


def test_not_yet_valid_certificate_cannot_sign_until_its_window_opens(api, make_signer, reviewer):
    root = make_signer("root-1")
    early = new_signer("early-org")
    env = certificate(root, early, ["ssh"], not_before=NOW + timedelta(days=1), not_after=NOW + timedelta(days=90))
    assert api.post("/v1/keys", env).status_code == 202
    services.delegation_review(key=SigningKey.objects.get(kid="early-org"), reviewer=reviewer, approve=True,
                               reason="starts tomorrow")
    resp = api.publish(early.sign(make_doc()))
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "certificate_not_yet_valid"
    assert api.get("/v1/actions/ssh.exec").status_code == 404


def test_replayed_rotation_is_refused(api, tree):
    root, org, leaf = tree
    successor = new_signer("deploy-2")
    request = {"old_kid": "deploy-1", "certificate": certificate(org, successor, ["ssh"])}
    assert api.post("/v1/keys/rotate", request).status_code == 201
    again = api.post("/v1/keys/rotate", request)  # the same signed request, sent again
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "key_not_active"
    assert SigningKey.objects.filter(kid="deploy-2").count() == 1
