"""Policies: versioned documents, evaluation with the deciding rules, enforcement at publish and run reporting."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction

from core.models import AuditEntry
from governance.models import PolicyVersion
from governance.policy_selectors import trust_state_digest
from governance.policy_services import channel_create, channel_promote, policy_save
from tests.conftest import make_doc


@pytest.fixture
def published(api, trusted_signer):
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        assert api.publish(trusted_signer.sign(make_doc("ssh.exec", version))).status_code == 201
    return trusted_signer


def _pin_stable(*promoted: str):
    channel = channel_create(name="verified", actor="user:rev")
    for version in promoted:
        channel_promote(channel=channel, action_name="ssh.exec", version=version, actor="user:rev", reason="reviewed")
    policy_save(name="stable-pinned", kind="version_pinning", author="user:rev", reason="pin stable",
                document={"ring": "stable", "channel": "verified"})


def test_policy_versions_are_immutable_and_numbered(db):
    first = policy_save(name="no-deprecated", kind="deprecation", document={}, author="user:a", reason="start")
    second = policy_save(name="no-deprecated", kind="deprecation", document={"namespace": "ssh"}, author="user:b",
                         reason="narrow", enabled=False)
    assert (first.number, second.number) == (1, 2)
    assert second.policy.current == second and second.document == {"namespace": "ssh"}
    with pytest.raises(DatabaseError), transaction.atomic():
        PolicyVersion.objects.filter(pk=first.pk).update(reason="rewritten")
    assert AuditEntry.objects.filter(action="policy.changed", target="no-deprecated").count() == 2


def test_evaluate_pinned_ring_lists_the_deciding_rule(api, published):
    _pin_stable("1.0.0")
    body = {"agent": "a1", "ring": "stable", "action": "ssh.exec", "version": "2.0.0"}
    denied = api.post("/v1/policy/evaluate", body).json()
    assert denied["decision"] == "deny"
    assert [(r["policy"], r["effect"]) for r in denied["rules"]] == [("stable-pinned", "deny")]
    assert "verified" in denied["rules"][0]["reason"]
    allowed = api.post("/v1/policy/evaluate", {**body, "version": "1.0.0"}).json()
    assert allowed["decision"] == "allow" and allowed["rules"][0]["effect"] == "allow"
    canary = api.post("/v1/policy/evaluate", {**body, "ring": "canary"}).json()
    assert canary == {"allowed": True, "decision": "allow", "rules": [], "override_reason": ""}


def test_run_reporting_enforces_pinning(api, published):
    _pin_stable("1.0.0")
    run = {"action": "ssh.exec", "agent": "a1", "ring": "stable", "outcome": "success"}
    refused = api.post("/v1/runs", {**run, "version": "2.0.0"})
    assert refused.status_code == 403, refused.content
    assert refused.json()["error"]["code"] == "policy_denied"
    assert refused.json()["error"]["details"]["rules"][0]["policy"] == "stable-pinned"
    ok = api.post("/v1/runs", {**run, "version": "1.0.0"})
    assert ok.status_code == 201, ok.content
    assert ok.json()["constraint_snapshot"] == trust_state_digest()


def test_deprecated_version_needs_a_recorded_override(api, published):
    from governance.models import ApiKey
    from registry.lifecycle_services import version_deprecate

    policy_save(name="no-deprecated", kind="deprecation", document={}, author="user:a", reason="enforce")
    version_deprecate(name="ssh.exec", version="1.0.0", reason="CVE-2026-1", successor="1.1.0",
                      api_key=ApiKey.objects.get(name="test-publisher"))
    run = {"action": "ssh.exec", "version": "1.0.0", "agent": "a1", "outcome": "failure"}
    refused = api.post("/v1/runs", run)
    assert refused.status_code == 403 and "use ssh.exec@1.1.0" in refused.json()["error"]["message"]
    ok = api.post("/v1/runs", {**run, "override_reason": "incident replay"})
    assert ok.status_code == 201, ok.content
    entry = AuditEntry.objects.get(action="policy.override")
    assert entry.target == "ssh.exec@1.0.0" and entry.reason == "incident replay"


def test_namespace_signing_policy_refuses_publish(api, published, make_signer):
    other = make_signer("other-root")
    policy_save(name="prod-root", kind="namespace_signing", author="user:a", reason="prod chain",
                document={"namespace": "production", "root_kids": [published.kid]})
    refused = api.publish(other.sign(make_doc("production.deploy", "1.0.0")))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "policy_denied"
    assert api.publish(published.sign(make_doc("production.deploy", "1.0.0"))).status_code == 201
    assert api.publish(other.sign(make_doc("staging.deploy", "1.0.0"))).status_code == 201


def test_trust_state_digest_moves_with_policies_and_channels(published):
    before = trust_state_digest()
    assert trust_state_digest() == before
    _pin_stable("1.0.0")
    assert trust_state_digest() != before
