"""Key hierarchy: delegation certificates, review with the two-person rule, chains, rotation, revocation."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User

from action_registry import crypto
from action_registry.chain import make_certificate, sign_certificate
from governance import selectors, services
from governance.models import ApiKey, SigningKey
from tests.conftest import Signer, ensure_governance_groups, make_doc

NOW = datetime.now(UTC)


def certificate(parent: Signer, child: Signer, scopes, *, not_before=None, not_after=None) -> dict:
    doc = make_certificate(kid=child.kid, alg=child.alg, public_key=child.public_b64, parent_kid=parent.kid,
                           scopes=scopes, not_before=not_before or NOW - timedelta(minutes=5),
                           not_after=not_after or NOW + timedelta(days=90))
    return sign_certificate(doc, parent.private_key, parent.kid)


def new_signer(kid, alg=crypto.ED25519) -> Signer:
    return Signer(kid=kid, private_key=crypto.generate_private_key(alg))


def user_in(group: str, name: str) -> User:
    ensure_governance_groups()
    user = User.objects.create_user(name, password="pw-" + name, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def reviewer(db):
    return user_in("security reviewers", "rita")


@pytest.fixture
def tree(api, make_signer, reviewer):
    """root (operator) -> infra-org (ssh, files) -> deploy-1 (ssh), each approved by a reviewer."""
    root = make_signer("root-1")
    org, leaf = new_signer("infra-org"), new_signer("deploy-1")
    assert api.post("/v1/keys", certificate(root, org, ["ssh", "files"])).status_code == 202
    services.delegation_review(key=SigningKey.objects.get(kid="infra-org"), reviewer=reviewer, approve=True,
                               reason="infra team org key")
    resp = api.post("/v1/keys", certificate(org, leaf, ["ssh"]))
    assert resp.status_code == 202, resp.content
    assert resp.json()["status"] == "pending"
    services.delegation_review(key=SigningKey.objects.get(kid="deploy-1"), reviewer=reviewer, approve=True,
                               reason="deploy bot")
    return root, org, leaf


def test_three_level_chain_verifies(api, tree):
    root, org, leaf = tree
    resp = api.publish(leaf.sign(make_doc("ssh.exec")))
    assert resp.status_code == 201, resp.content
    verification = resp.json()["verification"]
    assert verification["verified"] is True
    assert [(link["kid"], link["role"]) for link in verification["chain"]] == [
        ("deploy-1", "signing"), ("infra-org", "org"), ("root-1", "root")]
    chain = api.get("/v1/keys/deploy-1/chain").json()
    assert chain["valid"] is True
    assert [k["kid"] for k in chain["keys"]] == ["deploy-1", "infra-org", "root-1"]
    assert chain["keys"][0]["certificate"]["parent_kid"] == "infra-org"


def test_pending_key_cannot_sign(api, make_signer):
    root = make_signer("root-1")
    org = new_signer("infra-org")
    api.post("/v1/keys", certificate(root, org, ["ssh"]))
    resp = api.publish(org.sign(make_doc()))
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "key_pending"


def test_certificate_expiring_keeps_old_versions_but_refuses_new(api, make_signer, reviewer):
    root = make_signer("root-1")
    short = new_signer("short-org")
    start = datetime.now(UTC)
    env = certificate(root, short, ["ssh"], not_before=start - timedelta(seconds=5),
                      not_after=start + timedelta(seconds=3))
    assert api.post("/v1/keys", env).status_code == 202
    services.delegation_review(key=SigningKey.objects.get(kid="short-org"), reviewer=reviewer, approve=True,
                               reason="short-lived")
    assert api.publish(short.sign(make_doc())).status_code == 201
    time.sleep(max(0.0, (start + timedelta(seconds=4) - datetime.now(UTC)).total_seconds()))
    resp = api.publish(short.sign(make_doc(version="1.1.0")))
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "certificate_expired"
    # Validity is judged at publish time: what it signed while valid stays verified.
    assert api.get("/v1/actions/ssh.exec/versions/1.0.0/verify").json()["verified"] is True


def test_rotation_keeps_old_versions_verified(api, tree):
    root, org, leaf = tree
    assert api.publish(leaf.sign(make_doc("ssh.exec"))).status_code == 201
    successor = new_signer("deploy-2")
    resp = api.post("/v1/keys/rotate", {"old_kid": "deploy-1", "certificate": certificate(org, successor, ["ssh"])})
    assert resp.status_code == 201, resp.content
    assert resp.json()["status"] == "active"
    result = api.get("/v1/actions/ssh.exec/versions/1.0.0/verify").json()
    assert (result["verified"], result["key_status"]) == (True, "rotated")
    assert api.publish(successor.sign(make_doc("ssh.exec", version="1.1.0"))).status_code == 201
    # Within the grace period the rotated key may still sign.
    assert api.publish(leaf.sign(make_doc("ssh.exec", version="1.2.0"))).status_code == 201


def test_rotated_key_after_grace_cannot_sign(api, tree, settings):
    root, org, leaf = tree
    settings.ACTION_REGISTRY = {**settings.ACTION_REGISTRY, "ROTATION_GRACE": timedelta(0)}
    api.post("/v1/keys/rotate", {"old_kid": "deploy-1", "certificate": certificate(org, new_signer("d2"), ["ssh"])})
    resp = api.publish(leaf.sign(make_doc()))
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "key_rotated"


def test_ecdsa_chain(api, make_signer, reviewer):
    root = make_signer("p256-root", alg=crypto.ES256)
    org = new_signer("p256-org", alg=crypto.ES256)
    leaf = new_signer("ed-leaf")
    api.post("/v1/keys", certificate(root, org, ["ssh"]))
    services.delegation_review(key=SigningKey.objects.get(kid="p256-org"), reviewer=reviewer, approve=True,
                               reason="p256 org")
    api.post("/v1/keys", certificate(org, leaf, ["ssh"]))
    services.delegation_review(key=SigningKey.objects.get(kid="ed-leaf"), reviewer=reviewer, approve=True,
                               reason="leaf")
    resp = api.publish(leaf.sign(make_doc()))
    assert resp.status_code == 201, resp.content
    assert [link["alg"] for link in resp.json()["verification"]["chain"]] == ["Ed25519", "ES256", "ES256"]


def test_submitter_cannot_approve_their_own_delegation(api, make_signer, client):
    root = make_signer("root-1")
    reviewer_who_submits = user_in("security reviewers", "sam")
    token = services.api_key_create(name="sam-key", namespaces=["ssh"], actor="test").token
    ApiKey.objects.filter(name="sam-key").update(owner=reviewer_who_submits)
    resp = api.post("/v1/keys", certificate(root, new_signer("sam-org"), ["ssh"]), token=token)
    assert resp.status_code == 202
    key = SigningKey.objects.get(kid="sam-org")
    with pytest.raises(Exception) as exc:
        services.delegation_review(key=key, reviewer=reviewer_who_submits, approve=True, reason="mine")
    assert exc.value.code == "two_person_rule"
    other = user_in("security reviewers", "olga")
    services.delegation_review(key=key, reviewer=other, approve=True, reason="checked by olga")
    assert SigningKey.objects.get(kid="sam-org").status == "active"


def test_governance_member_without_reviewer_role_cannot_approve(api, make_signer):
    root = make_signer("root-1")
    api.post("/v1/keys", certificate(root, new_signer("g-org"), ["ssh"]))
    gov = user_in("governance team", "gina")
    with pytest.raises(Exception) as exc:
        services.delegation_review(key=SigningKey.objects.get(kid="g-org"), reviewer=gov, approve=True,
                                   reason="trying")
    assert exc.value.code == "not_a_reviewer"


def test_review_needs_a_reason(api, make_signer, reviewer):
    root = make_signer("root-1")
    api.post("/v1/keys", certificate(root, new_signer("r-org"), ["ssh"]))
    with pytest.raises(Exception) as exc:
        services.delegation_review(key=SigningKey.objects.get(kid="r-org"), reviewer=reviewer, approve=True,
                                   reason="  ")
    assert exc.value.code == "reason_required"


def test_root_keys_never_enter_through_the_api(api, make_signer):
    # A "certificate" naming an unknown parent cannot smuggle a root in.
    fake_root = new_signer("fake-root")
    resp = api.post("/v1/keys", certificate(fake_root, new_signer("x-org"), ["ssh"]))
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "parent_unknown"


def test_api_key_scope_applies_to_delegations(api, make_signer, make_api_token):
    root = make_signer("root-1")
    token = make_api_token("files-only", ["files"])
    resp = api.post("/v1/keys", certificate(root, new_signer("s-org"), ["ssh"]), token=token)
    assert resp.status_code == 403


def test_namespace_claims_and_squatting(api, tree, make_signer):
    root, org, leaf = tree
    gov = user_in("governance team", "gil")
    resp = api.post("/v1/namespaces", {"prefix": "ssh", "owners": ["infra-org"]})
    assert resp.status_code == 202, resp.content
    claim = resp.json()
    assert claim["status"] == "pending"
    from governance.models import Namespace
    services.namespace_review(claim=Namespace.objects.get(prefix="ssh"), reviewer=gov, approve=True,
                              reason="infra owns ssh")
    # Squatting an owned namespace is refused.
    squatter = make_signer("squat-root")
    resp = api.post("/v1/namespaces", {"prefix": "ssh", "owners": ["squat-root"]})
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "namespace_taken"
    # Another root's key cannot publish under the owned namespace; the owner's chain can.
    resp = api.publish(squatter.sign(make_doc("ssh.exec")))
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "namespace_owned"
    assert api.publish(leaf.sign(make_doc("ssh.exec"))).status_code == 201


def test_admin_roles(client, tree, reviewer):
    """Each group sees what it may and cannot do what it may not."""
    auditor = user_in("read-only auditors", "audrey")
    gov = user_in("governance team", "gus")
    pending = new_signer("queued-bot")
    _, org, _ = tree
    from tests.conftest import Api
    Api(client, services.api_key_create(name="q", namespaces=["ssh"], actor="t").token).post(
        "/v1/keys", certificate(org, pending, ["ssh"]))
    pk = SigningKey.objects.get(kid="queued-bot").pk

    client.force_login(auditor)
    assert client.get("/admin/governance/signingkey/").status_code == 200
    assert client.get("/admin/governance/signingkey/tree/").status_code == 200
    assert client.get("/admin/governance/signingkey/add/").status_code == 403
    assert client.post(f"/admin/governance/delegationrequest/{pk}/review/",
                       {"decision": "approve", "reason": "x"}).status_code == 403

    client.force_login(gov)
    assert client.get("/admin/governance/namespace/add/").status_code == 200
    assert client.post(f"/admin/governance/delegationrequest/{pk}/review/",
                       {"decision": "approve", "reason": "x"}).status_code == 403
    assert SigningKey.objects.get(pk=pk).status == "pending"

    client.force_login(reviewer)
    page = client.get(f"/admin/governance/delegationrequest/{pk}/change/")
    assert page.status_code == 200
    assert b"Approve delegation" in page.content and b"two-person rule" in page.content.lower()
    resp = client.post(f"/admin/governance/delegationrequest/{pk}/review/",
                       {"decision": "approve", "reason": "looks right"})
    assert resp.status_code == 302
    assert SigningKey.objects.get(pk=pk).status == "active"
    tree_page = client.get("/admin/governance/signingkey/tree/").content.decode()
    assert "queued-bot" in tree_page and tree_page.index("infra-org") < tree_page.index("queued-bot")


def test_review_key_command(make_signer, api, reviewer):
    from django.core.management import call_command
    root = make_signer("root-1")
    api.post("/v1/keys", certificate(root, new_signer("cmd-org"), ["ssh"]))
    call_command("review_key", "cmd-org", "--approve", "--reviewer", "rita", "--reason", "ok by cli")
    assert selectors.signing_key_get(kid="cmd-org").status == "active"
