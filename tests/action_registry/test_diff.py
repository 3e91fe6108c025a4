"""Schema diff: a hand-checked corpus of real-world-shaped pairs, compatibility modes, and real BFCL schemas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from action_registry.diff import (
    BREAKING,
    COMPATIBILITY_MODES,
    NON_BREAKING,
    check_compatibility,
    diff_documents,
    diff_schema,
    incompatibilities,
    mode_directions,
)

CORPUS = json.loads((Path(__file__).parents[1] / "data" / "diff_corpus.json").read_text())["cases"]
TESTDATA = Path(os.environ.get("ACTION_REGISTRY_TESTDATA",
                               Path(__file__).resolve().parents[3] / "shared" / "testdata"))
TO_ACTIONS = TESTDATA / "functions" / "to_actions.py"


def _triples(changes) -> set[tuple[str, str, str]]:
    return {(c.kind, c.pointer, c.classification) for c in changes}


@pytest.mark.parametrize("case", CORPUS, ids=[c["id"] for c in CORPUS])
def test_corpus_case(case):
    changes = diff_schema(case["before"], case["after"], schema=case["schema"])
    expected = {(e["kind"], e["pointer"], e["classification"]) for e in case["expected"]}
    assert _triples(changes) == expected
    assert len(changes) == len(case["expected"]), "a change was reported twice"
    for change in changes:
        assert change.schema == case["schema"]
        assert change.reason


def test_corpus_is_large_and_covers_every_change_kind():
    assert len(CORPUS) >= 30
    kinds = {e["kind"] for c in CORPUS for e in c["expected"]}
    assert kinds >= {
        "property_added", "property_removed", "property_made_required", "property_made_optional",
        "type_widened", "type_narrowed", "type_changed", "enum_value_added", "enum_value_removed", "enum_removed",
        "const_changed", "constraint_added", "constraint_removed", "constraint_tightened", "constraint_relaxed",
        "constraint_changed", "additional_properties_changed", "items_removed", "prefix_item_added",
        "variant_added", "variant_removed", "ref_changed", "default_changed", "pattern_property_added",
    }
    text = json.dumps(CORPUS)
    for needle in ('"$ref"', '"$defs"', '"oneOf"', '"anyOf"', '"allOf"', '"additionalProperties"',
                   '"prefixItems"', '"minLength"', '"maxItems"', '"pattern"', '"format"', '"exclusiveMinimum"'):
        assert needle in text, needle
    both = {c["schema"] for c in CORPUS}
    assert both == {"input", "output"}
    assert {e["classification"] for c in CORPUS for e in c["expected"]} == {BREAKING, NON_BREAKING}


@pytest.mark.parametrize("case", CORPUS[:20], ids=[c["id"] for c in CORPUS[:20]])
def test_pointers_resolve_in_one_of_the_schemas(case):
    """Every pointer names a place that exists in the schema before or after (refs aside)."""
    for change in diff_schema(case["before"], case["after"], schema=case["schema"]):
        assert change.pointer == "" or change.pointer.startswith("/")


def test_identical_documents_have_no_changes_and_imply_patch():
    doc = _doc("1.0.0", {"type": "object", "properties": {"q": {"type": "string"}}})
    result = diff_documents(doc, doc)
    assert result.changes == ()
    assert result.summary() == {"breaking": False, "changes": {"total": 0, "breaking": 0, "non_breaking": 0},
                                "implied_bump": "patch"}


def test_summary_and_implied_bump():
    v1 = _doc("1.0.0", {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]})
    minor = _doc("1.1.0", {"type": "object", "properties": {"q": {"type": "string"}, "n": {"type": "integer"}},
                           "required": ["q"]})
    major = _doc("2.0.0", {"type": "object", "properties": {"q": {"type": "string"}, "n": {"type": "integer"}},
                           "required": ["q", "n"]})
    assert diff_documents(v1, minor).implied_bump == "minor"
    result = diff_documents(v1, major)
    assert result.implied_bump == "major"
    assert result.summary()["breaking"] is True
    assert result.summary()["changes"] == {"total": 1, "breaking": 1, "non_breaking": 0}
    as_dict = result.as_dict()
    assert as_dict["changes"][0] == {
        "kind": "property_added", "pointer": "/properties/n", "schema": "input", "before": None,
        "after": {"type": "integer"}, "classification": "breaking", "reason": as_dict["changes"][0]["reason"]}


def test_output_and_input_are_diffed_separately():
    before = _doc("1.0.0", {"type": "object"}, {"type": "object", "properties": {"id": {"type": "string"}}})
    after = _doc("1.0.1", {"type": "object"}, {"type": "object", "properties": {"id": {"type": "integer"}}})
    [change] = diff_documents(before, after).changes
    assert (change.schema, change.pointer, change.kind) == ("output", "/properties/id/type", "type_changed")


def test_ref_cycles_and_self_references_terminate():
    loop = {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}
    assert diff_schema(loop, {"type": "string"}, schema="input") is not None
    selfref = {"type": "object", "properties": {"next": {"$ref": "#"}, "v": {"type": "integer"}}}
    other = {"type": "object", "properties": {"next": {"$ref": "#"}, "v": {"type": "number"}}}
    kinds = {(c.kind, c.pointer) for c in diff_schema(selfref, other, schema="input")}
    assert ("type_widened", "/properties/v/type") in kinds


# --- compatibility modes ---------------------------------------------------------------------------

V1 = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
V2_OPTIONAL = {"type": "object", "properties": {"q": {"type": "string"}, "lang": {"type": "string"}},
               "required": ["q"]}
V3_REQUIRED = {"type": "object", "properties": {"q": {"type": "string"}, "lang": {"type": "string"}},
               "required": ["q", "lang"]}


def _doc(version: str, input_schema, output_schema=None) -> dict:
    return {"name": "web.search", "version": version, "description": "", "input_schema": input_schema,
            "output_schema": output_schema if output_schema is not None else {"type": "object"}}


def test_mode_directions():
    assert mode_directions("backward") == ("backward",)
    assert mode_directions("forward_transitive") == ("forward",)
    assert mode_directions("full") == ("backward", "forward")
    assert mode_directions("none") == ()
    assert set(COMPATIBILITY_MODES) == {"backward", "backward_transitive", "forward", "forward_transitive",
                                        "full", "full_transitive", "none"}
    with pytest.raises(ValueError):
        mode_directions("sideways")


def test_backward_and_forward_are_mirror_images():
    old, new = _doc("1.0.0", V1), _doc("1.1.0", V2_OPTIONAL)
    assert incompatibilities(old, new, direction="backward") == []
    # An old caller may not know `lang`, but a caller of the new version may send it to the old one
    # (allowed: undeclared properties are open), so forward holds too.
    assert incompatibilities(old, new, direction="forward") == []
    newer = _doc("1.2.0", V3_REQUIRED)
    assert incompatibilities(old, newer, direction="backward")
    assert incompatibilities(old, newer, direction="forward") == []


def test_check_compatibility_modes():
    history = [_doc("1.0.0", V1), _doc("1.1.0", V3_REQUIRED)]
    relaxed = _doc("1.2.0", V2_OPTIONAL)  # lang optional again: fine for callers of 1.1.0 and 1.0.0
    assert check_compatibility(relaxed, history, mode="backward") == []
    assert check_compatibility(relaxed, history, mode="backward_transitive") == []
    [violation] = check_compatibility(relaxed, history, mode="forward")
    assert (violation.against, violation.direction) == ("1.1.0", "forward")
    assert [v.against for v in check_compatibility(relaxed, history, mode="full_transitive")] == ["1.1.0"]
    assert check_compatibility(relaxed, history, mode="none") == []


def test_transitive_reaches_further_back():
    history = [_doc("1.0.0", V1), _doc("1.1.0", {"type": "object"})]
    strict = _doc("1.2.0", V1)  # 1.1.0 accepted anything; 1.2.0 requires q again
    assert [v.against for v in check_compatibility(strict, history, mode="backward")] == ["1.1.0"]
    assert [v.against for v in check_compatibility(strict, history, mode="backward_transitive")] == ["1.1.0"]
    forward_only = _doc("1.2.0", {"type": "object", "properties": {"q": {"type": "string"}}})
    assert check_compatibility(forward_only, history, mode="forward") == []
    assert [v.against for v in check_compatibility(forward_only, history, mode="forward_transitive")] == ["1.0.0"]


def test_major_bumps_and_prereleases_are_not_held_against_a_version():
    history = [_doc("1.0.0", V1), _doc("1.1.0", V1)]
    assert check_compatibility(_doc("2.0.0", V3_REQUIRED), history, mode="full_transitive") == []
    assert check_compatibility(_doc("1.2.0-rc.1", V3_REQUIRED), history, mode="backward") == []
    assert check_compatibility(_doc("1.2.0", V3_REQUIRED), history, mode="backward")
    zero = [_doc("0.1.0", V1)]
    assert check_compatibility(_doc("0.2.0", V3_REQUIRED), zero, mode="backward") == []
    assert check_compatibility(_doc("0.1.1", V3_REQUIRED), zero, mode="backward")
    assert check_compatibility(_doc("2.0.0", V3_REQUIRED), history, mode="backward", same_line_only=False)


# --- real schemas ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bfcl_documents() -> list[dict]:
    if not TO_ACTIONS.exists():
        pytest.skip(f"BFCL test data not found at {TO_ACTIONS}")
    out = subprocess.run([sys.executable, str(TO_ACTIONS)], capture_output=True, check=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_consecutive_real_versions_diff_without_crashing(bfcl_documents):
    by_name: dict[str, list[dict]] = defaultdict(list)
    for doc in bfcl_documents:
        by_name[doc["name"]].append(doc)
    assert len(by_name["live.get_current_weather"]) == 31
    pairs = breaking = 0
    for docs in by_name.values():
        for old, new in zip(docs, docs[1:], strict=False):
            result = diff_documents(old, new)
            json.dumps(result.as_dict())  # every change is plain JSON
            for change in result.changes:
                assert change.classification in (BREAKING, NON_BREAKING)
                assert change.pointer == "" or change.pointer.startswith("/")
            # the reverse direction must not crash either
            diff_documents(new, old)
            pairs += 1
            breaking += result.breaking
    assert pairs == 713
    # The BFCL corpus bumps the patch version for unrelated redefinitions, so many are breaking.
    assert 0 < breaking < pairs


def test_real_schema_against_itself_is_empty(bfcl_documents):
    for doc in bfcl_documents[:300]:
        assert diff_documents(doc, doc).changes == ()
