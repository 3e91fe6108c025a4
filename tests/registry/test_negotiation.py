"""Negotiation: the right provider is chosen, ranking rules hold, and each negotiation is logged as a Run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Event
from registry import negotiation
from registry.agent_models import CapabilityDeclaration
from tests.registry.conftest import AgentClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(published):
    return {v: published("analyze.logs", v) for v in ("1.0.0", "1.2.0", "1.3.0", "2.0.0")}


def _negotiate(agent: AgentClient, version: str, **extra):
    return agent.post("/v1/negotiate", {"action": "analyze.logs", "version": version, **extra})


def test_negotiation_picks_highest_non_deprecated_version_and_logs_a_run(catalog, make_agent, trusted_signer):
    from analytics.models import Run
    from registry.lifecycle_services import version_deprecate

    make_agent("old").declare([catalog["1.0.0"]])
    make_agent("best").declare([catalog["1.2.0"]])
    make_agent("newest-but-deprecated").declare([catalog["1.3.0"]])
    make_agent("major-two").declare([catalog["2.0.0"]])
    expired = make_agent("expired")
    expired.declare([catalog["1.2.0"]])
    CapabilityDeclaration.objects.filter(agent__name="expired").update(expires_at=timezone.now() - timedelta(1))
    from django.contrib.auth import get_user_model
    version_deprecate(name="analyze.logs", version="1.3.0", reason="leaks tokens",
                      user=get_user_model().objects.create(username="op"))

    requester = make_agent("planner")
    response = _negotiate(requester, "1.x")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [(p["agent"], p["version"], p["deprecated"]) for p in body["providers"]] == [
        ("best", "1.2.0", False), ("old", "1.0.0", False), ("newest-but-deprecated", "1.3.0", True)]
    top = body["providers"][0]
    assert top["endpoint"] == "https://best.example/a2a" and top["protocol"] == "http"
    assert top["record"]["content_hash"] == catalog["1.2.0"]["content_hash"]
    assert top["record"]["verification"]["verified"] is True
    assert top["key_chain"][0]["kid"] == trusted_signer.kid
    assert body["requester"] == "planner"

    run = Run.objects.get(pk=body["run_id"])
    assert (run.kind, run.requester, run.agent, run.version, run.negotiation_id) == (
        "negotiation", "planner", "best", "1.2.0", body["negotiation_id"])
    assert run.constraint_snapshot == body["constraint_snapshot"]
    assert Event.objects.filter(kind="negotiation.completed", payload__run_id=run.id).exists()

    assert [p["agent"] for p in _negotiate(requester, "^2.0.0").json()["providers"]] == ["major-two"]


def test_reputation_breaks_ties_and_the_requester_is_never_its_own_provider(catalog, make_agent, monkeypatch):
    for name in ("alpha", "beta", "gamma"):
        make_agent(name).declare([catalog["1.2.0"]])
    monkeypatch.setattr(negotiation, "_reputation_sources", [lambda names: {"beta": 0.9, "alpha": 0.1}])
    gamma = AgentClient.__new__(AgentClient)  # gamma asks, with its own key
    providers = _negotiate(_agent_named(gamma, "gamma"), "1.2.0").json()["providers"]
    assert [(p["agent"], p["reputation"]) for p in providers] == [("beta", 0.9), ("alpha", 0.1)]


def _agent_named(shell: AgentClient, name: str) -> AgentClient:
    """An AgentClient for an agent registered earlier in the test (a new API key for it)."""
    from django.test import Client

    from governance.services import api_key_create
    from registry.agent_models import Agent

    issued = api_key_create(name=f"second-key:{name}", namespaces=["agents"], actor="test")
    Agent.objects.filter(name=name).update(api_key=issued.api_key)
    shell.client, shell.name, shell.token = Client(), name, issued.token
    return shell


def test_policy_hook_refuses_a_provider(catalog, make_agent, monkeypatch):
    make_agent("trusted").declare([catalog["1.0.0"]])
    make_agent("shady").declare([catalog["1.2.0"]])
    monkeypatch.setattr(negotiation, "_provider_checks",
                        [lambda requester, version, agent: "policy:blocked" if agent.name == "shady" else None])
    body = _negotiate(make_agent("asker"), "1.x").json()
    assert [p["agent"] for p in body["providers"]] == ["trusted"]
    assert body["refused"] == [{"agent": "shady", "version": "1.2.0", "reason": "policy:blocked"}]


def test_no_provider_is_404_and_logs_nothing(catalog, make_agent):
    from analytics.models import Run

    response = _negotiate(make_agent("lonely"), "1.x")
    assert response.status_code == 404 and response.json()["error"]["code"] == "no_provider"
    assert not Run.objects.exists()
    bad = _negotiate(make_agent("typo"), "not-a-range")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_range"
