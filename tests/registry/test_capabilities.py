"""Capability declarations: hash checks and anomalies, TTL expiry and heartbeat, queries by agent and range."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import Event
from registry.agent_choices import CapabilityStatus
from registry.agent_models import CapabilityDeclaration
from registry.agent_services import capabilities_expire

pytestmark = pytest.mark.django_db


def test_declare_then_query_by_agent_and_by_action(published, make_agent):
    v1, v2 = published("analyze.logs", "1.2.0"), published("analyze.logs", "2.0.0")
    other = published("ssh.exec", "1.0.0")
    alice = make_agent("alice")
    response = alice.declare([v1, other])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "live" and body["agent"] == "alice"
    assert [a["version"] for a in body["actions"]] == ["1.2.0", "1.0.0"]
    make_agent("bob").declare([v2])

    mine = alice.get("/v1/capabilities", agent="alice").json()["items"]
    assert sorted((i["name"], i["version"]) for i in mine) == [("analyze.logs", "1.2.0"), ("ssh.exec", "1.0.0")]

    def agents_for(version):
        items = alice.get("/v1/capabilities", action="analyze.logs", version=version).json()["items"]
        return sorted(i["agent"] for i in items)

    assert agents_for("1.x") == ["alice"]
    assert agents_for("^2.0") == ["bob"]
    assert agents_for("2.0.0") == ["bob"]
    assert agents_for(">=1.0.0 <3.0.0") == ["alice", "bob"]
    assert agents_for("3.x") == []
    bad = alice.get("/v1/capabilities", action="analyze.logs", version="one")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_range"
    assert Event.objects.filter(kind="capability.registered").count() == 2


def test_hash_mismatch_is_refused_and_raised_as_anomaly(published, make_agent):
    v1 = published("analyze.logs", "1.0.0")
    mallory = make_agent("mallory")
    forged = {**v1, "content_hash": "sha256:" + "0" * 64}
    response = mallory.declare([forged])
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "capability_hash_mismatch"
    assert error["details"]["mismatches"] == [{"name": "analyze.logs", "version": "1.0.0",
                                               "declared": forged["content_hash"], "registered": v1["content_hash"]}]
    assert not CapabilityDeclaration.objects.exists()  # refused: nothing declared...
    anomaly = Event.objects.get(kind="anomaly.capability_hash_mismatch")  # ...but the drift is on record
    assert anomaly.subject == "mallory" and anomaly.namespace == "analyze"
    assert anomaly.payload["mismatches"][0]["registered"] == v1["content_hash"]


def test_unpublished_and_unverified_versions_are_refused(published, make_agent, trusted_signer):
    from governance.services import signing_key_revoke

    v1 = published("analyze.logs", "1.0.0")
    agent = make_agent("carol")
    response = agent.declare([{**v1, "version": "9.9.9"}])
    assert response.status_code == 422 and response.json()["error"]["code"] == "unknown_action_version"
    signing_key_revoke(key=trusted_signer.model, actor="test", reason="compromised")
    response = agent.declare([v1])
    assert response.status_code == 422 and response.json()["error"]["code"] == "action_not_verified"


def test_revoked_key_drops_capability_from_answers_but_not_from_history(published, make_agent, trusted_signer):
    from governance.services import signing_key_revoke

    v1 = published("analyze.logs", "1.0.0")
    agent = make_agent("dave")
    assert agent.declare([v1]).status_code == 201
    signing_key_revoke(key=trusted_signer.model, actor="test", reason="compromised")
    assert agent.get("/v1/capabilities", action="analyze.logs").json()["items"] == []
    history = agent.get("/v1/capabilities", agent="dave", include_ended="true").json()["items"]
    assert [(i["verified"], i["key_status"]) for i in history] == [(False, "revoked")]


def test_ttl_expiry_heartbeat_and_history(published, make_agent):
    v1 = published("analyze.logs", "1.0.0")
    agent = make_agent("erin")
    declared = agent.declare([v1], ttl=60).json()
    path = f"/v1/capabilities/{declared['id']}"

    # A heartbeat before expiry pushes expires_at forward by the TTL.
    CapabilityDeclaration.objects.filter(pk=declared["id"]).update(
        expires_at=timezone.now() + timedelta(seconds=5))
    renewed = agent.put(path)
    assert renewed.status_code == 200
    assert renewed.json()["expires_at"] > declared["expires_at"]

    # Past its TTL the declaration drops out of answers at once, whether or not the expiry task ran.
    CapabilityDeclaration.objects.filter(pk=declared["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    assert agent.get("/v1/capabilities", agent="erin").json()["items"] == []
    assert agent.get("/v1/capabilities", action="analyze.logs", version="1.x").json()["items"] == []
    late = agent.put(path)
    assert late.status_code == 410 and late.json()["error"]["code"] == "declaration_ended"

    assert capabilities_expire() == 1
    assert capabilities_expire() == 0  # idempotent
    row = CapabilityDeclaration.objects.get(pk=declared["id"])
    assert row.status == CapabilityStatus.EXPIRED and row.ended_at == row.expires_at
    expired = Event.objects.get(kind="capability.expired")
    assert expired.subject == "erin" and expired.payload["declaration_id"] == declared["id"]
    history = agent.get("/v1/capabilities", agent="erin", include_ended="true").json()["items"]
    assert [(i["status"], i["version"]) for i in history] == [("expired", "1.0.0")]


def test_redeclaring_supersedes_and_only_the_agent_may_heartbeat(published, make_agent):
    v1, v2 = published("analyze.logs", "1.0.0"), published("analyze.logs", "1.1.0")
    frank, grace = make_agent("frank"), make_agent("grace")
    first = frank.declare([v1]).json()
    second = frank.declare([v2]).json()
    assert CapabilityDeclaration.objects.get(pk=first["id"]).status == CapabilityStatus.SUPERSEDED
    assert [i["version"] for i in frank.get("/v1/capabilities", agent="frank").json()["items"]] == ["1.1.0"]
    assert grace.put(f"/v1/capabilities/{second['id']}").status_code == 404
    assert frank.put(f"/v1/capabilities/{first['id']}").status_code == 410


def test_api_key_without_agent_cannot_declare(api, published):
    v1 = published("analyze.logs", "1.0.0")
    response = api.post("/v1/capabilities", {"endpoint": "https://x.example", "protocol": "http",
                                             "ttl_seconds": 60, "actions": [v1]})
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_an_agent"
    assert api.client.get("/v1/capabilities").status_code == 401


def test_deprecated_versions_are_marked(published, make_agent):
    from registry.lifecycle_services import version_deprecate

    v1 = published("analyze.logs", "1.0.0")
    agent = make_agent("heidi")
    agent.declare([v1])
    version_deprecate(name="analyze.logs", version="1.0.0", reason="superseded", user=_user())
    items = agent.get("/v1/capabilities", action="analyze.logs").json()["items"]
    assert [(i["agent"], i["deprecated"]) for i in items] == [("heidi", True)]


def _user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create(username="operator")


def test_capability_list_query_count_is_constant(published, make_agent):
    versions = [published("analyze.logs", f"1.{i}.0") for i in range(3)]
    agents = [make_agent(f"agent-{i}") for i in range(4)]
    for agent in agents:
        agent.declare(versions)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = agents[0].get("/v1/capabilities", action="analyze.logs", version="1.x")
        assert len(response.json()["items"]) == 12
        return len(ctx.captured_queries)

    baseline = count()
    agents.append(make_agent("agent-late"))
    agents[-1].declare(versions)
    with CaptureQueriesContext(connection) as ctx:
        response = agents[0].get("/v1/capabilities", action="analyze.logs", version="1.x")
    assert len(response.json()["items"]) == 15
    assert len(ctx.captured_queries) == baseline
