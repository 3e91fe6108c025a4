"""Composite actions: strict step shape, cycles and unresolvable steps refused at publish, plans by stage."""

from __future__ import annotations

import pytest

from action_registry.errors import DocumentError
from action_registry.steps import parse_steps, stages
from registry.models import ActionVersion
from tests.conftest import make_doc

pytestmark = pytest.mark.django_db


def _steps(*triples):
    return [{"id": i, "action": a, "after": list(after)} for i, a, after in triples]


@pytest.fixture
def parts(api, trusted_signer):
    for name, version in (("docker.build", "1.0.0"), ("docker.push", "1.0.0"), ("k8s.apply", "2.0.0"),
                          ("sec.scan", "1.1.0")):
        assert api.publish(trusted_signer.sign(make_doc(name, version))).status_code == 201


def test_composite_publishes_and_plans_in_parallel_stages(api, trusted_signer, parts):
    steps = _steps(("apply", "k8s.apply@2.0.0", ["push", "scan"]), ("build", "docker.build@1.0.0", []),
                   ("push", "docker.push@1.0.0", ["build"]), ("scan", "sec.scan@1.1.0", ["build"]))
    response = api.publish(trusted_signer.sign(make_doc("deploy.full", "1.0.0", steps=steps)))
    assert response.status_code == 201, response.content
    plan = api.get("/v1/actions/deploy.full/versions/1.0.0/plan").json()
    assert plan["stages"] == [["build"], ["push", "scan"], ["apply"]]
    assert plan["runnable"] is True
    assert [(s["id"], s["stage"]) for s in plan["steps"]] == [("build", 0), ("push", 1), ("scan", 1), ("apply", 2)]
    apply_step = plan["steps"][-1]
    assert apply_step["after"] == ["push", "scan"] and apply_step["record"]["name"] == "k8s.apply"
    assert apply_step["record"]["verification"]["verified"] is True
    assert apply_step["record"]["action"]["version"] == "2.0.0"


def test_a_cycle_is_refused_and_nothing_is_written(api, trusted_signer, parts):
    steps = _steps(("a", "docker.build@1.0.0", ["c"]), ("b", "docker.push@1.0.0", ["a"]),
                   ("c", "k8s.apply@2.0.0", ["b"]))
    response = api.publish(trusted_signer.sign(make_doc("deploy.loop", "1.0.0", steps=steps)))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "steps_cycle"
    assert error["details"]["cycle"] == ["a", "b", "c", "a"]
    assert not ActionVersion.objects.filter(action__name="deploy.loop").exists()


@pytest.mark.parametrize(("steps", "code"), [
    (_steps(("a", "docker.build@9.9.9", [])), "step_not_found"),
    (_steps(("a", "docker.build@^1.0.0", [])), "invalid_steps"),  # ranges: a signed plan names exact versions
    (_steps(("a", "docker.build@1.0.0", ["zz"])), "invalid_steps"),
    (_steps(("a", "docker.build@1.0.0", []), ("a", "docker.push@1.0.0", [])), "invalid_steps"),
    (_steps(("a", "docker.build@1.0.0", ["a"])), "invalid_steps"),
    ([{"id": "a", "action": "docker.build@1.0.0", "run": "now"}], "invalid_steps"),
    ([], "invalid_steps"),
])
def test_malformed_or_unresolvable_steps_are_refused(api, trusted_signer, parts, steps, code):
    response = api.publish(trusted_signer.sign(make_doc("deploy.bad", "1.0.0", steps=steps)))
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == code


def test_revoked_step_is_refused_and_plan_reports_it(api, trusted_signer, make_signer, parts):
    from governance.services import signing_key_revoke

    other = make_signer("other-root-1")
    assert api.publish(other.sign(make_doc("cache.warm", "1.0.0"))).status_code == 201
    steps = _steps(("warm", "cache.warm@1.0.0", []), ("build", "docker.build@1.0.0", ["warm"]))
    assert api.publish(trusted_signer.sign(make_doc("deploy.cached", "1.0.0", steps=steps))).status_code == 201
    signing_key_revoke(key=other.model, actor="test", reason="lost laptop")

    plan = api.get("/v1/actions/deploy.cached/versions/1.0.0/plan").json()
    assert plan["runnable"] is False
    assert plan["steps"][0]["record"]["verification"]["reason"] == "key_revoked"
    response = api.publish(trusted_signer.sign(make_doc("deploy.cached", "1.1.0", steps=steps)))
    assert response.status_code == 422 and response.json()["error"]["code"] == "step_revoked"


def test_plan_of_a_plain_action_is_not_composite(api, parts):
    response = api.get("/v1/actions/docker.build/versions/1.0.0/plan")
    assert response.status_code == 422 and response.json()["error"]["code"] == "not_composite"


def test_stages_are_longest_path_levels():
    steps = parse_steps(_steps(("d", "x.d@1.0.0", ["a", "c"]), ("a", "x.a@1.0.0", []), ("b", "x.b@1.0.0", []),
                               ("c", "x.c@1.0.0", ["b"])))
    assert stages(steps) == [["a", "b"], ["c"], ["d"]]
    with pytest.raises(DocumentError) as caught:
        parse_steps(_steps(("a", "x.a@1.0.0", ["b"]), ("b", "x.b@1.0.0", ["a"]), ("c", "x.c@1.0.0", ["a"])))
    assert caught.value.code == "steps_cycle" and caught.value.details["cycle"] == ["a", "b", "a"]
