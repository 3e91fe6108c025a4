"""POST /v1/plan: staffing subtasks from live capabilities, policies, deprecation and success rates."""

from __future__ import annotations

import json

from django.utils import timezone

from analytics.models import ReputationScore
from governance.models import ApiKey
from registry.agent_services import agent_register
from registry.lifecycle_services import version_deprecate
from tests.analytics.test_runs import _runs, versions  # noqa: F401 (fixture)
from tests.conftest import make_doc


def _declare(client, name: str, actions: list[dict]) -> None:
    _, token = agent_register(name=name, namespaces=["agents"], actor="test")
    response = client.post("/v1/capabilities", json.dumps({"endpoint": f"https://{name}.example/a2a",
                                                           "protocol": "a2a", "ttl_seconds": 300, "actions": actions}),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 201, response.content


def test_plan_staffs_each_subtask_and_explains(api, versions, client, trusted_signer):  # noqa: F811
    v100, v110, v120 = versions("analyze.logs", "1.0.0", "1.1.0", "1.2.0")
    versions("notify.send", "1.0.0")
    composite = trusted_signer.sign(make_doc("triage.flow", "1.0.0", steps=[
        {"id": "read", "action": "analyze.logs@1.1.0", "after": []}]))
    assert api.publish(composite).status_code == 201, api.publish(composite).content
    _declare(client, "la-one", [v100, v110, v120])
    _declare(client, "la-two", [v110])
    version_deprecate(name="analyze.logs", version="1.2.0", reason="drops fields",
                      api_key=ApiKey.objects.get(name="test-publisher"))
    _runs(api, "1.1.0", ok=30, bad=0, name="analyze.logs")
    _runs(api, "1.0.0", ok=3, bad=3, name="analyze.logs")
    now = timezone.now()
    for agent, score in (("la-one", 40.0), ("la-two", 90.0)):
        ReputationScore.objects.create(subject_type="agent", subject=agent, score=score, inputs={}, formula="v1",
                                       computed_at=now)

    response = api.post("/v1/plan", {"task": "triage", "subtasks": [
        {"id": "analyze", "action": "analyze.logs", "version": "1.x"},
        {"id": "notify", "action": "notify.send", "version": "^1.0.0", "after": ["analyze"]},
        {"id": "flow", "composite": "triage.flow@1.0.0"}]})
    assert response.status_code == 200, response.content
    plan = response.json()
    by_id = {s["id"]: s for s in plan["subtasks"]}
    analyze = by_id["analyze"]
    assert (analyze["agent"], analyze["version"]) == ("la-two", "1.1.0")
    assert analyze["reason"].startswith("1.1.0: 100% over 30 runs") and "best of 2 providers" in analyze["reason"]
    assert analyze["excluded"] == [{"version": "1.2.0", "reason": "deprecated"}]
    assert plan["unstaffable"] == ["notify"] and "no live agent" in by_id["notify"]["reason"]
    assert by_id["flow.read"]["staffed"] and by_id["flow.read"]["composite"] == "triage.flow@1.0.0"
    assert plan["staffed"] == 2

    bad = api.post("/v1/plan", {"subtasks": [{"id": "x"}]})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_subtask"
