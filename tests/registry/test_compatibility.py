"""Compatibility: declared vs detected at publish, namespace modes, the diff endpoint and the graph (JSON, SVG)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from core.models import Event
from registry.lifecycle_services import compatibility_policy_set
from registry.models import ActionVersion, Blob
from tests.conftest import TESTDATA
from tests.registry.lifecycle_helpers import (
    BASE_INPUT,
    WITH_OPTIONAL_TIMEOUT,
    WITH_REQUIRED_TIMEOUT,
    error,
    publish,
)

SVG = "{http://www.w3.org/2000/svg}"


def counts():
    return ActionVersion.objects.count(), Blob.objects.count(), Event.objects.count()


# --- declared vs detected at publish -------------------------------------------------------------------

def test_declaring_compatible_with_a_version_it_breaks_is_refused(api, trusted_signer):
    publish(api, trusted_signer, "1.0.0")
    before = counts()
    resp = publish(api, trusted_signer, "1.1.0", WITH_REQUIRED_TIMEOUT, {"compatible_with": ["1.0.0"]}, expect=422)
    err = error(resp)
    assert err["code"] == "compatibility_violation"
    assert "1.0.0" in err["message"] and "timeout" in err["message"]
    assert "breaks" in err["suggestion"]
    [violation] = err["details"]["violations"]
    assert (violation["against"], violation["direction"], violation["declared"]) == ("1.0.0", "backward", True)
    assert [(c["kind"], c["pointer"], c["schema"], c["classification"]) for c in violation["changes"]] == [
        ("property_added", "/properties/timeout", "input", "breaking")]
    assert err["details"]["mode"] == "backward"
    assert counts() == before  # a refusal writes nothing


def test_declaring_compatible_truthfully_is_accepted(api, trusted_signer):
    publish(api, trusted_signer, "1.0.0")
    publish(api, trusted_signer, "1.1.0", WITH_OPTIONAL_TIMEOUT, {"compatible_with": ["1.0.0"]})


@pytest.mark.parametrize("declared", ["1.x", "^1.0.0", ">=1.0.0 <2.0.0", "~1.1 || 1.0.0", "*"])
def test_ranges_cover_every_matching_predecessor(api, trusted_signer, declared):
    publish(api, trusted_signer, "1.0.0", WITH_OPTIONAL_TIMEOUT)
    publish(api, trusted_signer, "1.1.0", WITH_REQUIRED_TIMEOUT)
    # Requires timeout: fine for callers of 1.1.0, breaking for callers of 1.0.0.
    resp = publish(api, trusted_signer, "1.2.0", WITH_REQUIRED_TIMEOUT, {"compatible_with": [declared]}, expect=422)
    assert [v["against"] for v in error(resp)["details"]["violations"]] == ["1.0.0"]


def test_declared_range_that_matches_only_compatible_versions(api, trusted_signer):
    publish(api, trusted_signer, "1.0.0", WITH_OPTIONAL_TIMEOUT)
    publish(api, trusted_signer, "1.1.0", WITH_REQUIRED_TIMEOUT)
    publish(api, trusted_signer, "1.2.0", WITH_REQUIRED_TIMEOUT, {"compatible_with": ["~1.1"]})


def test_malformed_range_is_refused_in_every_mode(api, trusted_signer):
    compatibility_policy_set(prefix="ssh", mode="none", actor="test")
    resp = publish(api, trusted_signer, "1.0.0", compatibility={"compatible_with": ["1.x.3"]}, expect=422)
    assert error(resp)["code"] == "invalid_range"


def test_contradictory_declaration_is_refused(api, trusted_signer):
    publish(api, trusted_signer, "1.0.0")
    resp = publish(api, trusted_signer, "1.1.0", compatibility={"compatible_with": ["1.x"], "breaks": ["1.0.0"]},
                   expect=422)
    assert error(resp)["code"] == "compatibility_contradiction"


def test_mode_none_checks_nothing(api, trusted_signer):
    compatibility_policy_set(prefix="ssh", mode="none", actor="test")
    publish(api, trusted_signer, "1.0.0")
    publish(api, trusted_signer, "1.1.0", WITH_REQUIRED_TIMEOUT, {"compatible_with": ["1.0.0"]})


def test_longest_prefix_and_star_policy(api, trusted_signer):
    compatibility_policy_set(prefix="*", mode="none", actor="test")
    publish(api, trusted_signer, "1.0.0")
    publish(api, trusted_signer, "1.1.0", WITH_REQUIRED_TIMEOUT, {"compatible_with": ["1.0.0"]})
    compatibility_policy_set(prefix="ssh.exec", mode="backward", actor="test")
    compatibility_policy_set(prefix="ssh", mode="none", actor="test")
    resp = publish(api, trusted_signer, "1.2.0", WITH_REQUIRED_TIMEOUT, {"compatible_with": ["1.0.0"]}, expect=422)
    assert error(resp)["details"]["policy_prefix"] == "ssh.exec"


def test_forward_and_full_modes_check_the_other_direction(api, trusted_signer):
    compatibility_policy_set(prefix="ssh", mode="forward", actor="test")
    publish(api, trusted_signer, "1.0.0", WITH_REQUIRED_TIMEOUT)
    # Dropping the requirement is backward compatible, but callers of 1.1.0 may omit timeout,
    # which 1.0.0 refuses: not forward compatible.
    resp = publish(api, trusted_signer, "1.1.0", WITH_OPTIONAL_TIMEOUT, {"compatible_with": ["1.0.0"]}, expect=422)
    [violation] = error(resp)["details"]["violations"]
    assert violation["direction"] == "forward"
    compatibility_policy_set(prefix="ssh", mode="full", actor="test")
    resp = publish(api, trusted_signer, "1.1.0", WITH_OPTIONAL_TIMEOUT, {"compatible_with": ["1.0.0"]}, expect=422)
    assert [v["direction"] for v in error(resp)["details"]["violations"]] == ["forward"]
    compatibility_policy_set(prefix="ssh", mode="backward", actor="test")
    publish(api, trusted_signer, "1.1.0", WITH_OPTIONAL_TIMEOUT, {"compatible_with": ["1.0.0"]})


def test_refusing_undeclared_breaks_within_a_major(api, trusted_signer):
    compatibility_policy_set(prefix="ssh", mode="backward", refuse_undeclared_breaks=True, actor="test")
    publish(api, trusted_signer, "1.0.0")
    resp = publish(api, trusted_signer, "1.1.0", WITH_REQUIRED_TIMEOUT, expect=422)
    err = error(resp)
    assert err["code"] == "compatibility_violation" and err["details"]["violations"][0]["declared"] is False
    assert "major" in err["suggestion"]
    publish(api, trusted_signer, "1.1.0", WITH_REQUIRED_TIMEOUT, {"breaks": ["1.0.0"]})
    publish(api, trusted_signer, "2.0.0", BASE_INPUT)  # a new major promises nothing
    publish(api, trusted_signer, "2.1.0-rc.1", WITH_REQUIRED_TIMEOUT)  # nor does a prerelease


def test_by_default_an_undeclared_break_is_allowed_but_visible(api, trusted_signer):
    publish(api, trusted_signer, "1.0.0")
    publish(api, trusted_signer, "1.0.1", WITH_REQUIRED_TIMEOUT)
    graph = api.get("/v1/actions/ssh.exec/compatibility").json()
    [edge] = graph["edges"]
    assert (edge["from"], edge["to"], edge["relation"], edge["source"]) == ("1.0.0", "1.0.1", "breaks", "detected")


def test_republishing_identical_bytes_is_not_rechecked(api, trusted_signer):
    compatibility_policy_set(prefix="ssh", mode="none", actor="test")
    publish(api, trusted_signer, "1.0.0")
    publish(api, trusted_signer, "1.1.0", WITH_REQUIRED_TIMEOUT, {"compatible_with": ["1.0.0"]})
    compatibility_policy_set(prefix="ssh", mode="backward", actor="test")
    publish(api, trusted_signer, "1.1.0", WITH_REQUIRED_TIMEOUT, {"compatible_with": ["1.0.0"]}, expect=200)


def test_declared_break_emits_an_event(api, trusted_signer):
    publish(api, trusted_signer, "1.0.0")
    publish(api, trusted_signer, "1.1.0", WITH_OPTIONAL_TIMEOUT)
    publish(api, trusted_signer, "2.0.0", WITH_REQUIRED_TIMEOUT, {"breaks": ["1.x"]})
    event = Event.objects.get(kind="compatibility.break_declared")
    assert event.subject == "ssh.exec@2.0.0" and event.namespace == "ssh"
    assert event.payload["breaks"] == ["1.x"] and event.payload["versions"] == ["1.0.0", "1.1.0"]
    assert event.id > Event.objects.get(kind="action.published", subject="ssh.exec@2.0.0").id
    assert not Event.objects.filter(kind="compatibility.break_declared", subject="ssh.exec@1.1.0").exists()


def test_policy_changes_are_audited(api):
    from core.models import AuditEntry

    compatibility_policy_set(prefix="ssh", mode="full_transitive", actor="user:ops")
    compatibility_policy_set(prefix="ssh", mode="none", actor="user:ops")
    entries = list(AuditEntry.objects.filter(action="compatibility.policy_set").order_by("id"))
    assert [e.data["after"]["mode"] for e in entries] == ["full_transitive", "none"]
    assert entries[1].data["before"]["mode"] == "full_transitive"


# --- the diff endpoint ---------------------------------------------------------------------------------

def test_diff_endpoint(api, trusted_signer):
    publish(api, trusted_signer, "1.0.0")
    publish(api, trusted_signer, "2.0.0", WITH_REQUIRED_TIMEOUT, {"breaks": ["1.x"]})
    resp = api.get("/v1/actions/ssh.exec/diff", **{"from": "1.0.0", "to": "2.0.0"})
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert (body["name"], body["from"], body["to"]) == ("ssh.exec", "1.0.0", "2.0.0")
    assert body["summary"] == {"breaking": True, "changes": {"total": 1, "breaking": 1, "non_breaking": 0},
                               "implied_bump": "major"}
    assert body["compatibility"] == {"backward": False, "forward": True, "full": False}
    [change] = body["changes"]
    assert change == {"kind": "property_added", "pointer": "/properties/timeout", "schema": "input",
                      "before": None, "after": {"type": "integer", "minimum": 1}, "classification": "breaking",
                      "reason": change["reason"]}
    back = api.get("/v1/actions/ssh.exec/diff", **{"from": "2.0.0", "to": "1.0.0"}).json()
    assert back["summary"]["breaking"] is False and back["summary"]["implied_bump"] == "minor"
    same = api.get("/v1/actions/ssh.exec/diff", **{"from": "1.0.0", "to": "1.0.0"}).json()
    assert same["changes"] == [] and same["summary"]["implied_bump"] == "patch"


def test_diff_errors(api, trusted_signer):
    publish(api, trusted_signer, "1.0.0")
    missing = api.get("/v1/actions/ssh.exec/diff", **{"from": "1.0.0", "to": "3.0.0"})
    assert missing.status_code == 404 and error(missing)["code"] == "version_not_found"
    no_param = api.get("/v1/actions/ssh.exec/diff", to="1.0.0")
    assert no_param.status_code == 422 and error(no_param)["code"] == "invalid_request"
    nothing = api.get("/v1/actions/nope.none/diff", **{"from": "1.0.0", "to": "1.0.0"})
    assert nothing.status_code == 404


# --- the graph -----------------------------------------------------------------------------------------

@pytest.fixture
def history(api, trusted_signer):
    publish(api, trusted_signer, "1.0.0")
    publish(api, trusted_signer, "1.1.0", WITH_OPTIONAL_TIMEOUT, {"compatible_with": ["1.0.0"]})
    publish(api, trusted_signer, "2.0.0", WITH_REQUIRED_TIMEOUT, {"breaks": ["1.x"]})
    publish(api, trusted_signer, "2.1.0-rc.1", WITH_REQUIRED_TIMEOUT)
    assert api.post("/v1/actions/ssh.exec/versions/1.0.0/deprecate",
                    {"reason": "Use 2.0.0", "successor": "2.0.0"}).status_code == 200


def test_graph_json(api, history):
    resp = api.get("/v1/actions/ssh.exec/compatibility")
    assert resp.status_code == 200, resp.content
    graph = resp.json()
    assert (graph["name"], graph["mode"], graph["latest_version"]) == ("ssh.exec", "backward", "2.0.0")
    assert [(n["version"], n["status"]) for n in graph["nodes"]] == [
        ("1.0.0", "deprecated"), ("1.1.0", "active"), ("2.0.0", "latest"), ("2.1.0-rc.1", "prerelease")]
    assert graph["nodes"][0]["deprecation"]["successor"] == "2.0.0"
    assert graph["nodes"][2]["declared"] == {"compatible_with": [], "breaks": ["1.x"]}
    edges = {(e["from"], e["to"], e["source"]): e for e in graph["edges"]}
    assert edges[("1.0.0", "1.1.0", "declared")]["relation"] == "compatible"
    assert edges[("1.0.0", "1.1.0", "declared")]["agrees"] is True
    assert edges[("1.0.0", "1.1.0", "detected")]["relation"] == "compatible"
    assert edges[("1.0.0", "1.1.0", "detected")]["implied_bump"] == "minor"
    assert edges[("1.1.0", "2.0.0", "declared")]["relation"] == "breaks"
    assert edges[("1.1.0", "2.0.0", "detected")]["relation"] == "breaks"
    assert edges[("1.0.0", "2.0.0", "declared")]["agrees"] is True
    assert edges[("2.0.0", "2.1.0-rc.1", "detected")]["relation"] == "compatible"
    assert set(edges) == {("1.0.0", "1.1.0", "declared"), ("1.0.0", "1.1.0", "detected"),
                          ("1.0.0", "2.0.0", "declared"), ("1.0.0", "2.0.0", "detected"),
                          ("1.1.0", "2.0.0", "declared"), ("1.1.0", "2.0.0", "detected"),
                          ("2.0.0", "2.1.0-rc.1", "detected")}


def test_graph_svg_contains_every_version(api, history):
    resp = api.get("/v1/actions/ssh.exec/compatibility", format="svg")
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("image/svg+xml")
    root = ET.fromstring(resp.content)
    assert root.tag == f"{SVG}svg"
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert {"1.0.0", "1.1.0", "2.0.0", "2.1.0-rc.1"} <= texts
    nodes = [g for g in root.iter(f"{SVG}g") if "node" in g.get("class", "").split()]
    assert [g.get("data-version") for g in nodes] == ["1.0.0", "1.1.0", "2.0.0", "2.1.0-rc.1"]
    assert "deprecated" in nodes[0].get("class")
    paths = [p for p in root.iter(f"{SVG}path") if "edge" in p.get("class", "").split()]
    assert len(paths) == 7
    assert sum("declared" in p.get("class") for p in paths) == 3


def test_graph_svg_of_thirty_one_real_versions(api, trusted_signer):
    """live.get_current_weather has 31 versions in the BFCL data; every one must be drawn."""
    script = TESTDATA / "functions" / "to_actions.py"
    if not script.exists():
        pytest.skip("BFCL test data not available")
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout
    docs = [d for d in map(json.loads, out.splitlines()) if d["name"] == "live.get_current_weather"]
    assert len(docs) == 31
    for d in docs:
        resp = api.publish(trusted_signer.sign(d))
        assert resp.status_code == 201, resp.content
    graph = api.get("/v1/actions/live.get_current_weather/compatibility").json()
    assert len(graph["nodes"]) == 31 and len(graph["edges"]) == 30
    root = ET.fromstring(api.get("/v1/actions/live.get_current_weather/compatibility", format="svg").content)
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert {d["version"] for d in docs} <= texts


def test_graph_of_unknown_action(api):
    resp = api.get("/v1/actions/nope.none/compatibility")
    assert resp.status_code == 404 and error(resp)["code"] == "action_not_found"
    assert api.get("/v1/actions/nope.none/compatibility", format="png").status_code == 422


# --- documentation -------------------------------------------------------------------------------------

def test_operations_are_documented(api):
    spec = api.get("/v1/openapi.json").json()
    ops = {op["operationId"]: op for path in spec["paths"].values() for op in path.values()}
    for op_id in ("deprecateActionVersion", "undeprecateActionVersion", "getActionVersionDeprecation",
                  "diffActionVersions", "getCompatibilityGraph"):
        op = ops[op_id]
        assert op["summary"] and len(op["description"]) > 60, op_id
    assert "image/svg+xml" in ops["getCompatibilityGraph"]["responses"]["200"]["content"]
    assert ops["deprecateActionVersion"]["requestBody"]["content"]["application/json"]["examples"]
    schemas = spec["components"]["schemas"]
    for name in ("DeprecateIn", "UndeprecateIn", "DeprecationStateOut", "DeprecationOut", "DiffOut", "ChangeOut",
                 "CompatibilityGraphOut", "GraphNodeOut", "GraphEdgeOut"):
        for field, prop in schemas[name]["properties"].items():
            assert prop.get("description"), f"{name}.{field} has no description"
    for name in ("VersionRecordOut", "VerifyOut", "VersionSummaryOut"):
        assert {"deprecated", "deprecation"} <= set(schemas[name]["properties"]), name
