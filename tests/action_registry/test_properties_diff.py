"""Properties of the schema diff (action_registry/diff.py), over generated object schemas and instances.

The strongest one is soundness against a real validator: when the diff calls an input change non-breaking,
no input valid before is refused after; when it calls an output change non-breaking, no output valid after
was unexpected before. The flat schemas are closed (additionalProperties: false), where the diff's two
deliberate departures from set semantics (see its module docstring) do not apply; the nested ones (arrays,
open and closed objects, anyOf, bounds, edited at any depth) skip the one departure that widens.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from action_registry.diff import BREAKING, NON_BREAKING, diff_documents, diff_schema

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "100"))  # nightly: more (docs/testing.md, "Fuzzing")
RULE_EXAMPLES = max(1, EXAMPLES // 3)  # the one-edit rules need fewer than the soundness checks
NAMES = ("a", "b", "c", "d", "e")


@st.composite
def leaf_schemas(draw) -> dict:
    kind = draw(st.sampled_from(("string", "integer", "number", "boolean", "enum")))
    if kind == "enum":
        return {"enum": sorted(draw(st.sets(st.sampled_from(["x", "y", "z", 1, 2]), min_size=1, max_size=3)),
                               key=json.dumps)}
    schema: dict = {"type": kind}
    if kind == "string" and draw(st.booleans()):
        schema["maxLength"] = draw(st.integers(0, 4))
    if kind in ("integer", "number"):
        if draw(st.booleans()):
            schema["minimum"] = draw(st.integers(-3, 3))
        if draw(st.booleans()):
            schema["maximum"] = draw(st.integers(-3, 3))
    return schema


@st.composite
def object_schemas(draw, closed: bool = True) -> dict:
    props = draw(st.dictionaries(st.sampled_from(NAMES), leaf_schemas(), max_size=4))
    required = sorted(draw(st.sets(st.sampled_from(sorted(props)))) if props else set())
    schema = {"type": "object", "properties": props, "required": required}
    if closed:
        schema["additionalProperties"] = False
    return schema


VALUES = st.one_of(st.sampled_from(["x", "y", "z", "", "long string", 1, 2]), st.integers(-5, 5),
                   st.floats(-5, 5, allow_nan=False), st.booleans(), st.none())
INSTANCES = st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=5)


def _mutate(schema: dict, rnd: random.Random, leaf: dict) -> dict:
    """One edit of the kind versions make: a property added, removed, retyped, (un)required, rebounded."""
    out = copy.deepcopy(schema)
    props, required = out["properties"], out["required"]
    choice = rnd.choice(["add", "remove", "retype", "require", "unrequire", "bound"])
    names = sorted(props)
    if choice == "add" or not names:
        name = rnd.choice(NAMES)
        props[name] = leaf
        if rnd.random() < 0.5 and name not in required:
            required.append(name)
    elif choice == "remove":
        name = rnd.choice(names)
        del props[name]
        if name in required:
            required.remove(name)
    elif choice == "retype":
        props[rnd.choice(names)] = leaf
    elif choice == "require":
        name = rnd.choice(names)
        if name not in required:
            required.append(name)
    elif choice == "unrequire" and required:
        required.remove(rnd.choice(required))
    else:
        target = props[rnd.choice(names)]
        keyword = rnd.choice(["minimum", "maximum", "maxLength"])
        target[keyword] = rnd.randint(0, 4) if keyword == "maxLength" else rnd.randint(-3, 3)
    out["required"] = sorted(set(required))
    return out


def _value_for(leaf: dict, rnd: random.Random):
    """A value the leaf schema accepts, or None when its bounds leave nothing."""
    if "enum" in leaf:
        return rnd.choice(leaf["enum"])
    kind = leaf["type"]
    if kind == "string":
        return "x" * rnd.randint(0, leaf.get("maxLength", 3))
    if kind == "boolean":
        return rnd.random() < 0.5
    low, high = leaf.get("minimum", -5), leaf.get("maximum", 5)
    if low > high:
        return None
    return rnd.randint(math.ceil(low), math.floor(high)) if kind == "integer" else rnd.uniform(low, high)


def _instances(schema: dict, rnd: random.Random, extra: list[dict]) -> list[dict]:
    """Random instances plus ones built to satisfy the schema, so the soundness checks always have
    valid instances to look at."""
    built = []
    for _ in range(5):
        instance = {}
        for name, leaf in schema["properties"].items():
            if name in schema["required"] or rnd.random() < 0.5:
                value = _value_for(leaf, rnd)
                if value is None:
                    break
                instance[name] = value
        else:
            built.append(instance)
    return built + extra


def _valid(schema: dict, instance: dict) -> bool:
    return Draft202012Validator(schema).is_valid(instance)


def _doc(input_schema: dict, output_schema: dict) -> dict:
    return {"name": "x.y", "version": "1.0.0", "description": "d", "input_schema": input_schema,
            "output_schema": output_schema}


@settings(max_examples=RULE_EXAMPLES, deadline=None)
@given(object_schemas(), object_schemas())
def test_a_document_has_no_changes_against_itself(input_schema, output_schema):
    doc = _doc(input_schema, output_schema)
    diff = diff_documents(doc, copy.deepcopy(doc))
    assert diff.changes == () and not diff.breaking and diff.implied_bump == "patch"


@settings(max_examples=EXAMPLES, deadline=None)
@given(object_schemas(), st.randoms(use_true_random=False), leaf_schemas())
def test_the_diff_is_deterministic_and_ignores_key_order(before, rnd, leaf):
    after = _mutate(before, rnd, leaf)

    def shuffled(value):
        if isinstance(value, dict):
            items = list(value.items())
            rnd.shuffle(items)
            return {k: shuffled(v) for k, v in items}
        if isinstance(value, list):
            return [shuffled(v) for v in value]
        return value

    for side in ("input", "output"):
        once = [c.as_dict() for c in diff_schema(before, after, schema=side)]
        again = [c.as_dict() for c in diff_schema(copy.deepcopy(before), copy.deepcopy(after), schema=side)]
        reordered = [c.as_dict() for c in diff_schema(shuffled(before), shuffled(after), schema=side)]
        assert once == again
        assert sorted(once, key=json.dumps) == sorted(reordered, key=json.dumps)


@settings(max_examples=RULE_EXAMPLES, deadline=None)
@given(object_schemas(closed=False), leaf_schemas(), st.sampled_from(NAMES))
def test_adding_an_optional_input_property_is_not_breaking(before, leaf, name):
    assume(name not in before["properties"])
    after = copy.deepcopy(before)
    after["properties"][name] = leaf
    changes = diff_schema(before, after, schema="input")
    assert [c.kind for c in changes] == ["property_added"]
    assert changes[0].classification == NON_BREAKING


@settings(max_examples=RULE_EXAMPLES, deadline=None)
@given(object_schemas(closed=False), leaf_schemas(), st.sampled_from(NAMES))
def test_adding_a_required_input_property_is_breaking(before, leaf, name):
    assume(name not in before["properties"])
    after = copy.deepcopy(before)
    after["properties"][name] = leaf
    after["required"] = sorted({*after["required"], name})
    changes = diff_schema(before, after, schema="input")
    assert any(c.kind == "property_added" and c.classification == BREAKING for c in changes)
    assert diff_documents(_doc(before, {}), _doc(after, {})).implied_bump == "major"


@settings(max_examples=RULE_EXAMPLES, deadline=None)
@given(object_schemas(closed=False), st.data())
def test_removing_an_output_property_is_breaking(before, data):
    assume(before["properties"])
    name = data.draw(st.sampled_from(sorted(before["properties"])))
    after = copy.deepcopy(before)
    del after["properties"][name]
    after["required"] = [r for r in after["required"] if r != name]
    changes = diff_schema(before, after, schema="output")
    assert any(c.kind == "property_removed" and c.breaking for c in changes)


@settings(max_examples=EXAMPLES, deadline=None)
@given(object_schemas(), st.randoms(use_true_random=False), leaf_schemas(), st.lists(INSTANCES, max_size=8))
def test_non_breaking_input_changes_refuse_no_input_that_was_valid(before, rnd, leaf, instances):
    after = _mutate(before, rnd, leaf)
    if any(c.breaking for c in diff_schema(before, after, schema="input")):
        return
    for instance in _instances(before, rnd, instances):
        if _valid(before, instance):
            assert _valid(after, instance), (before, after, instance)


@settings(max_examples=EXAMPLES, deadline=None)
@given(object_schemas(), st.randoms(use_true_random=False), leaf_schemas(), st.lists(INSTANCES, max_size=8))
def test_non_breaking_output_changes_produce_nothing_unexpected(before, rnd, leaf, instances):
    after = _mutate(before, rnd, leaf)
    if any(c.breaking for c in diff_schema(before, after, schema="output")):
        return
    for instance in _instances(after, rnd, instances):
        if _valid(after, instance):
            assert _valid(before, instance), (before, after, instance)


@settings(max_examples=RULE_EXAMPLES, deadline=None)
@given(object_schemas(), st.randoms(use_true_random=False), leaf_schemas())
def test_a_change_is_reported_iff_the_schemas_differ(before, rnd, leaf):
    after = _mutate(before, rnd, leaf)
    for side in ("input", "output"):
        assert bool(diff_schema(before, after, schema=side)) == (before != after)


# --- nested schemas: arrays, objects open or closed, anyOf, bounds, at any depth ------------------------

_SCALARS = st.sampled_from([
    {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"},
    {"enum": ["x", 1]}, {"type": "integer", "minimum": 0}, {"type": "string", "maxLength": 1},
    {"type": ["string", "null"]}, {}, {"const": "x"},
])


def _compound(children):
    arrays = st.builds(lambda items, low, high: {"type": "array", "items": items, "minItems": low, "maxItems": high},
                       children, st.integers(0, 2), st.integers(1, 3))
    objects = st.builds(lambda props, req, closed: {"type": "object", "properties": props,
                                                    "required": sorted(set(req) & set(props)),
                                                    **({"additionalProperties": False} if closed else {})},
                        st.dictionaries(st.sampled_from(NAMES[:3]), children, max_size=3),
                        st.lists(st.sampled_from(NAMES[:3])), st.booleans())
    return arrays | objects | st.builds(lambda xs: {"anyOf": xs}, st.lists(children, min_size=1, max_size=2))


nested_schemas = st.recursive(_SCALARS, _compound, max_leaves=6)
nested_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.sampled_from(["x", "", "yy"])
    | st.floats(-2, 2, allow_nan=False),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(NAMES[:3]), c, max_size=3), max_leaves=8)


def _nodes(schema, path=()):
    yield path, schema
    if isinstance(schema, dict):
        if "items" in schema:
            yield from _nodes(schema["items"], (*path, "items"))
        for name, sub in schema.get("properties", {}).items():
            yield from _nodes(sub, (*path, "properties", name))
        for i, sub in enumerate(schema.get("anyOf", [])):
            yield from _nodes(sub, (*path, "anyOf", i))


def _edit_somewhere(schema: dict, rnd: random.Random, replacement: dict) -> dict:
    """One edit at a random depth: a sub-schema replaced, a property (un)required or added, an object closed
    or opened, a bound set, a keyword dropped."""
    out = copy.deepcopy(schema)
    path, node = rnd.choice(list(_nodes(out)))
    edit = rnd.choice(["replace", "require", "unrequire", "close", "open", "bound", "drop", "add"])
    if edit == "replace" or not isinstance(node, dict):
        if not path:
            return replacement
        parent = out
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = replacement
    elif edit in ("require", "unrequire") and node.get("properties"):
        name, required = rnd.choice(sorted(node["properties"])), set(node.get("required", []))
        (required.add if edit == "require" else required.discard)(name)
        node["required"] = sorted(required)
    elif edit == "close":
        node["additionalProperties"] = False
    elif edit == "open":
        node.pop("additionalProperties", None)
    elif edit == "bound":
        node[rnd.choice(["minimum", "maximum", "minItems", "maxItems", "minLength", "maxLength"])] = rnd.randint(0, 2)
    elif edit == "drop" and node:
        node.pop(rnd.choice(sorted(node)))
    elif edit == "add" and "properties" in node:
        node["properties"][rnd.choice(NAMES[:3])] = replacement
    return out


@settings(max_examples=EXAMPLES, deadline=None)
@given(nested_schemas, nested_schemas, st.randoms(use_true_random=False), st.lists(nested_values, max_size=12),
       st.sampled_from(["input", "output"]))
def test_non_breaking_changes_to_nested_schemas_are_sound(before, replacement, rnd, instances, side):
    after = _edit_somewhere(before, rnd, replacement)
    changes = diff_schema(before, after, schema=side)
    if any(c.breaking for c in changes):
        return
    if side == "input" and any(c.kind == "property_added" for c in changes):
        return  # the documented departure: an optional input added where undeclared properties were allowed
    old, new = Draft202012Validator(before), Draft202012Validator(after)
    for instance in instances:
        if side == "input" and old.is_valid(instance):
            assert new.is_valid(instance), (before, after, instance)
        if side == "output" and new.is_valid(instance):
            assert old.is_valid(instance), (before, after, instance)
