"""Runs, stats and recommendation, policies at negotiation, usage batches, anomaly intake (in-process parts)."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import DatabaseError, transaction

from analytics.anomalies import anomaly_acknowledge, anomaly_events_consume
from analytics.models import Anomaly, Run, UsageCount
from analytics.services import usage_ingest
from core.models import Event
from core.services import event_emit
from governance.models import RingMembership
from governance.policy_services import channel_create, channel_promote, policy_save
from registry.agent_services import agent_register
from tests.conftest import make_doc


@pytest.fixture
def versions(api, trusted_signer):
    def publish(name: str, *versions: str) -> list[dict]:
        out = []
        for v in versions:
            r = api.publish(trusted_signer.sign(make_doc(name, v)))
            assert r.status_code == 201, r.content
            out.append({"name": name, "version": v, "content_hash": r.json()["content_hash"]})
        return out
    return publish


def _runs(api, version: str, ok: int, bad: int, name: str = "ssh.exec", ms: int = 100) -> None:
    for i in range(ok + bad):
        body = {"action": name, "version": version, "agent": f"agent-{i % 3}", "duration_ms": ms + i,
                "outcome": "success" if i < ok else "error", "error_code": "" if i < ok else "timeout"}
        assert api.post("/v1/runs", body).status_code == 201


def test_recommendation_prefers_the_better_lower_bound_and_explains(api, versions):
    versions("ssh.exec", "2.1.0", "2.2.0", "2.3.0")
    _runs(api, "2.1.0", ok=49, bad=1)
    _runs(api, "2.2.0", ok=11, bad=4)
    _runs(api, "2.3.0", ok=2, bad=0)  # 100%, but over two runs
    rec = api.get("/v1/actions/ssh.exec/recommendation").json()
    assert rec["version"] == "2.1.0"
    assert "2.1.0: 98% over 50 runs" in rec["reason"] and "2.2.0: 73% over 15 runs" in rec["reason"]
    assert [c["version"] for c in rec["candidates"]] == ["2.1.0", "2.2.0", "2.3.0"]

    stats = {s["version"]: s for s in api.get("/v1/actions/ssh.exec/stats").json()["versions"]}
    assert stats["2.1.0"]["runs"] == 50 and stats["2.1.0"]["errors"] == 1
    assert stats["2.1.0"]["ci_low"] < 0.98 < stats["2.1.0"]["ci_high"]
    assert stats["2.1.0"]["p50_ms"] == pytest.approx(124.5) and stats["2.1.0"]["p95_ms"] == pytest.approx(146.55)


def test_recommendation_never_picks_deprecated_or_denied_versions(api, versions):
    from governance.models import ApiKey
    from registry.lifecycle_services import version_deprecate

    versions("ssh.exec", "1.0.0", "1.1.0", "1.2.0")
    _runs(api, "1.0.0", ok=40, bad=0)
    _runs(api, "1.1.0", ok=30, bad=0)
    _runs(api, "1.2.0", ok=5, bad=5)
    version_deprecate(name="ssh.exec", version="1.0.0", reason="CVE-2026-7", successor="1.1.0",
                      api_key=ApiKey.objects.get(name="test-publisher"))
    rec = api.get("/v1/actions/ssh.exec/recommendation").json()
    assert rec["version"] == "1.1.0"
    assert rec["excluded"] == [{"version": "1.0.0", "reason": "deprecated: CVE-2026-7"}]
    channel = channel_create(name="verified", actor="user:rev")
    channel_promote(channel=channel, action_name="ssh.exec", version="1.2.0", actor="user:rev")
    policy_save(name="stable-pinned", kind="version_pinning", document={"ring": "stable", "channel": "verified"},
                author="user:rev", reason="pin")
    stable = api.get("/v1/actions/ssh.exec/recommendation", ring="stable").json()
    assert stable["version"] == "1.2.0"
    assert any(e["version"] == "1.1.0" and e["reason"].startswith("policy denied") for e in stable["excluded"])


def test_recommendation_skips_versions_whose_key_was_revoked(api, versions, make_signer):
    from governance.services import signing_key_revoke

    versions("ssh.exec", "1.0.0")
    other = make_signer("other-root")
    assert api.publish(other.sign(make_doc("ssh.exec", "1.1.0"))).status_code == 201
    _runs(api, "1.0.0", ok=5, bad=5)
    _runs(api, "1.1.0", ok=20, bad=0)
    assert api.get("/v1/actions/ssh.exec/recommendation").json()["version"] == "1.1.0"
    signing_key_revoke(key=other.model, actor="test", reason="leaked")
    rec = api.get("/v1/actions/ssh.exec/recommendation").json()
    assert rec["version"] == "1.0.0"
    assert rec["excluded"][0]["version"] == "1.1.0" and rec["excluded"][0]["reason"].startswith("not verified")


def test_runs_are_append_only_and_snapshot_the_trust_state(api, versions):
    versions("ssh.exec", "1.0.0")
    body = api.post("/v1/runs", {"action": "ssh.exec", "version": "1.0.0", "agent": "a", "outcome": "success",
                                 "artifacts": [{"name": "out.txt", "digest": "sha256:" + "ab" * 32,
                                                "uri": "s3://b/out.txt"}]}).json()
    run = Run.objects.get(pk=body["id"])
    assert run.constraint_snapshot == body["constraint_snapshot"] and run.artifacts[0]["name"] == "out.txt"
    with pytest.raises(DatabaseError), transaction.atomic():
        Run.objects.filter(pk=run.pk).update(outcome="failure")
    with pytest.raises(DatabaseError), transaction.atomic():
        Run.objects.filter(pk=run.pk).delete()
    missing_code = api.post("/v1/runs", {"action": "ssh.exec", "version": "1.0.0", "agent": "a", "outcome": "error"})
    assert missing_code.status_code == 422 and missing_code.json()["error"]["code"] == "error_code_required"
    assert api.client.post("/v1/runs", "{}", content_type="application/json").status_code == 401


def test_pinned_ring_is_refused_unpinned_providers_at_negotiation(api, versions, client):
    v1, v2 = versions("analyze.logs", "1.0.0", "1.1.0")
    _, provider_token = agent_register(name="provider", namespaces=["agents"], actor="test")
    declared = client.post("/v1/capabilities", json.dumps({"endpoint": "https://p.example/a2a", "protocol": "http",
                                                           "ttl_seconds": 300, "actions": [v1, v2]}),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {provider_token}")
    assert declared.status_code == 201, declared.content
    _, requester_token = agent_register(name="planner", namespaces=["agents"], actor="test")
    RingMembership.objects.create(agent="planner", ring="stable", assigned_by="test")
    channel = channel_create(name="verified", actor="user:rev")
    channel_promote(channel=channel, action_name="analyze.logs", version="1.0.0", actor="user:rev")
    policy_save(name="stable-pinned", kind="version_pinning", document={"ring": "stable", "channel": "verified"},
                author="user:rev", reason="pin")

    def negotiate(version: str):
        return client.post("/v1/negotiate", json.dumps({"action": "analyze.logs", "version": version}),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {requester_token}")

    unpinned = negotiate("1.1.0")
    assert unpinned.status_code == 404 and unpinned.json()["error"]["code"] == "no_provider"
    [refused] = unpinned.json()["error"]["details"]["refused"]
    assert refused["version"] == "1.1.0" and refused["reason"].startswith("policy_denied: stable-pinned")
    pinned = negotiate("1.x").json()
    assert [p["version"] for p in pinned["providers"]] == ["1.0.0"]
    assert [r["version"] for r in pinned["refused"]] == ["1.1.0"]
    # and at run reporting: the ring comes from governance, not from what the agent claims
    claim = client.post("/v1/runs", json.dumps({"action": "analyze.logs", "version": "1.1.0", "agent": "planner",
                                                "ring": "canary", "outcome": "success"}),
                        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {requester_token}")
    assert claim.status_code == 403 and claim.json()["error"]["code"] == "policy_denied"


def test_usage_batches_count_once(db):
    rows = [["2026-11-25T10:00:00+00:00", "fetch", "ssh.exec", "1.0.0", "ssh", "a1", 3],
            ["2026-11-25T10:00:00+00:00", "verify_failed", "ssh.exec", "1.0.0", "ssh", "a1", 1]]
    batch = str(uuid.uuid4())
    assert usage_ingest(batch_id=batch, rows=rows) is True
    assert usage_ingest(batch_id=batch, rows=rows) is False  # redelivered: not counted again
    assert usage_ingest(batch_id=str(uuid.uuid4()), rows=rows[:1]) is True
    assert UsageCount.objects.get(kind="fetch").count == 6 and UsageCount.objects.get(kind="verify_failed").count == 1


def test_other_apps_anomaly_events_become_acknowledgeable_anomalies(db):
    with transaction.atomic():
        event = event_emit(kind="anomaly.capability_hash_mismatch", namespace="ssh", subject="rogue-agent",
                           payload={"mismatches": [{"name": "ssh.exec", "version": "1.0.0"}]})
    [anomaly] = anomaly_events_consume()
    assert anomaly_events_consume() == []  # each event once
    assert anomaly.kind == "capability_hash_mismatch" and anomaly.source_event_id == event.id
    assert anomaly.evidence["mismatches"][0]["name"] == "ssh.exec"
    assert Event.objects.filter(kind="anomaly.detected", payload__anomaly_id=anomaly.id).exists()
    anomaly_acknowledge(anomaly=anomaly, actor="user:sec", note="known test agent")
    anomaly.refresh_from_db()
    assert anomaly.status == "acknowledged" and anomaly.acknowledged_by == "user:sec"
    assert Event.objects.filter(kind="anomaly.acknowledged").count() == 1
    assert Anomaly.objects.count() == 1


def test_stats_and_recommendation_query_counts_do_not_grow_with_versions(api, versions):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count(path: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(path).status_code == 200
        return len(ctx.captured_queries)

    versions("ssh.exec", "1.0.0", "1.1.0")
    _runs(api, "1.0.0", ok=2, bad=1)
    few = {p: count(p) for p in ("/v1/actions/ssh.exec/stats", "/v1/actions/ssh.exec/recommendation")}
    versions("ssh.exec", "1.2.0", "1.3.0", "1.4.0", "1.5.0")
    _runs(api, "1.4.0", ok=3, bad=0)
    assert {p: count(p) for p in few} == few
