"""Structured diff of two action documents' schemas, each change classified breaking or not for a caller.

The rule behind every classification: think of a schema as the set of values it accepts.
- ``input_schema`` describes what callers send. A change that *narrows* the set (a new required field,
  a tighter bound, a removed enum value) can refuse a call that used to work: breaking.
- ``output_schema`` describes what consumers receive. A change that *widens* the set (a new enum value,
  a field no longer guaranteed, a looser type) can hand consumers something they never expected: breaking.
A change whose effect cannot be proved one way (a new pattern, a changed ``const``) is breaking both ways.

Two deliberate departures from pure set semantics, because properties are the contract people read:
an added *optional* input property is non-breaking even when undeclared properties used to be allowed,
and a removed output property is breaking even when it was optional (consumers read it when present).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .errors import DocumentError
from .versions import parse_version, same_line

NARROW, WIDEN, BOTH, NONE = "narrow", "widen", "both", "none"
BREAKING, NON_BREAKING = "breaking", "non_breaking"
SIDES = ("input", "output")
MAX_DEPTH = 64
# Security (issue 12): local $refs may fan out (d0 -> d1 twice -> d2 twice ...), so a 2 KB schema can
# expand to 2**30 nodes and the walk follows the expansion. Each diff is bounded by this many walk steps,
# and publish refuses schemas whose $ref expansion exceeds MAX_SCHEMA_NODES (schema_check_expansion).
MAX_WALK_STEPS = 20_000
MAX_SCHEMA_NODES = 20_000

COMPATIBILITY_MODES = ("backward", "backward_transitive", "forward", "forward_transitive",
                       "full", "full_transitive", "none")

# Keywords that describe but never decide validity; a change to them is not a contract change.
ANNOTATIONS = frozenset({
    "title", "description", "examples", "$comment", "deprecated", "readOnly", "writeOnly", "$schema", "$id",
    "$anchor", "$dynamicAnchor", "$vocabulary", "$defs", "definitions", "contentSchema",
})
# Keywords with dedicated handling below; any other keyword falls to the generic added/removed/changed rule.
_HANDLED = frozenset({
    "type", "enum", "const", "default", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum",
    "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "minContains",
    "maxContains", "multipleOf", "pattern", "format", "uniqueItems", "properties", "required",
    "additionalProperties", "unevaluatedProperties", "patternProperties", "items", "prefixItems",
    "oneOf", "anyOf", "allOf", "not", "$ref",
})
_LOWER_BOUNDS = ("minLength", "minItems", "minProperties", "minContains")
_UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties", "maxContains")
_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")

_EFFECT_WORDS = {
    ("input", NARROW): "inputs that were valid before may now be refused",
    ("input", WIDEN): "every input that was valid before is still valid",
    ("input", BOTH): "some inputs that were valid before may now be refused",
    ("input", NONE): "validity of inputs is unchanged",
    ("output", NARROW): "every output is still one that consumers expected",
    ("output", WIDEN): "consumers may receive values they did not expect",
    ("output", BOTH): "consumers may receive values they did not expect",
    ("output", NONE): "validity of outputs is unchanged",
}


@dataclass(frozen=True)
class Change:
    """One difference between two schemas, located by a JSON Pointer into the schema."""

    kind: str
    pointer: str
    schema: str
    before: Any
    after: Any
    classification: str
    reason: str

    @property
    def breaking(self) -> bool:
        return self.classification == BREAKING

    def as_dict(self) -> dict:
        return {"kind": self.kind, "pointer": self.pointer, "schema": self.schema, "before": self.before,
                "after": self.after, "classification": self.classification, "reason": self.reason}


@dataclass(frozen=True)
class DocumentDiff:
    """Every change between two action documents' schemas, input first, then output."""

    changes: tuple[Change, ...]

    @property
    def breaking(self) -> bool:
        return any(c.breaking for c in self.changes)

    @property
    def breaking_changes(self) -> list[Change]:
        return [c for c in self.changes if c.breaking]

    @property
    def implied_bump(self) -> str:
        """major for any breaking change, minor for any other contract change, patch otherwise."""
        if self.breaking:
            return "major"
        if any(c.kind != "default_changed" for c in self.changes):
            return "minor"
        return "patch"

    def summary(self) -> dict:
        return {
            "breaking": self.breaking,
            "changes": {"total": len(self.changes), "breaking": len(self.breaking_changes),
                        "non_breaking": len(self.changes) - len(self.breaking_changes)},
            "implied_bump": self.implied_bump,
        }

    def as_dict(self) -> dict:
        return {"summary": self.summary(), "changes": [c.as_dict() for c in self.changes]}


def diff_documents(before: dict, after: dict) -> DocumentDiff:
    """Diff ``input_schema`` and ``output_schema`` of two action documents (``before`` is the older)."""
    changes = diff_schema(before.get("input_schema", True), after.get("input_schema", True), schema="input")
    changes += diff_schema(before.get("output_schema", True), after.get("output_schema", True), schema="output")
    return DocumentDiff(changes=tuple(changes))


def diff_schema(before: Any, after: Any, *, schema: str) -> list[Change]:
    """Diff two JSON Schemas; ``schema`` (input or output) decides which direction is breaking."""
    if schema not in SIDES:
        raise ValueError(f"schema must be one of {SIDES}")
    differ = _Differ(schema, before, after)
    differ.walk(before, after, "", negated=False, refs=frozenset(), depth=0)
    return differ.changes


# --- compatibility modes (as Confluent Schema Registry names them) ------------------------------------

@dataclass(frozen=True)
class Violation:
    """A predecessor that the new version is incompatible with, in one direction."""

    against: str
    direction: str  # backward: callers of `against` cannot use the new version; forward: the reverse
    changes: tuple[Change, ...]

    def as_dict(self) -> dict:
        return {"against": self.against, "direction": self.direction,
                "changes": [c.as_dict() for c in self.changes]}


def incompatibilities(old: dict, new: dict, *, direction: str) -> list[Change]:
    """Breaking changes that stop ``new`` replacing ``old`` (backward) or ``old`` replacing ``new`` (forward)."""
    if direction == "backward":
        return diff_documents(old, new).breaking_changes
    if direction == "forward":
        return diff_documents(new, old).breaking_changes
    raise ValueError("direction is backward or forward")


def mode_directions(mode: str) -> tuple[str, ...]:
    if mode not in COMPATIBILITY_MODES:
        raise ValueError(f"unknown compatibility mode {mode!r}; one of {', '.join(COMPATIBILITY_MODES)}")
    base = mode.removesuffix("_transitive")
    return {"backward": ("backward",), "forward": ("forward",), "full": ("backward", "forward"),
            "none": ()}[base]


def check_compatibility(new: dict, predecessors: Sequence[dict], *, mode: str,
                        same_line_only: bool = True) -> list[Violation]:
    """Check ``new`` against earlier versions under ``mode``.

    Non-transitive modes check the closest predecessor only, ``_transitive`` modes every one. With
    ``same_line_only`` (the registry default) only predecessors on the same SemVer line count: a major
    bump (or a 0.minor bump) is how a publisher says "this breaks", so it is never held against them.
    Prereleases make no promise and are skipped on both sides.
    """
    directions = mode_directions(mode)
    new_v = parse_version(new["version"])
    if not directions or new_v.prerelease:
        return []
    earlier = sorted((d for d in predecessors if _is_candidate(d, new_v, same_line_only)),
                     key=lambda d: parse_version(d["version"]))
    if not mode.endswith("_transitive"):
        earlier = earlier[-1:]
    violations = []
    for old in earlier:
        for direction in directions:
            found = incompatibilities(old, new, direction=direction)
            if found:
                violations.append(Violation(against=old["version"], direction=direction, changes=tuple(found)))
    return violations


def _is_candidate(doc: dict, new_v, same_line_only: bool) -> bool:
    v = parse_version(doc["version"])
    return not v.prerelease and v < new_v and (not same_line_only or same_line(v, new_v))


# --- the walk ------------------------------------------------------------------------------------------

def _escape(token: Any) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _key(value: Any) -> str:
    """A hashable, JSON-equal identity for enum/const values (1 and 1.0 are the same JSON number)."""
    def norm(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v
    return json.dumps(norm(value), sort_keys=True, ensure_ascii=False)


def _types(schema: dict) -> frozenset[str] | None:
    """The JSON types a schema allows, or None for any. Unknown type names are kept as written."""
    t = schema.get("type")
    if t is None:
        return None
    names = [t] if isinstance(t, str) else [x for x in t if isinstance(x, str)] if isinstance(t, list) else []
    return frozenset(names)


def _covers(outer: frozenset[str] | None, inner: frozenset[str] | None) -> bool:
    """True when every value of a type in ``inner`` has a type in ``outer`` (number covers integer)."""
    if outer is None:
        return True
    if inner is None:
        return set(_TYPES) <= outer | ({"integer"} if "number" in outer else set())
    return all(t in outer or (t == "integer" and "number" in outer) for t in inner)


def _overlap(a: frozenset[str] | None, b: frozenset[str] | None) -> bool:
    if a is None or b is None:
        return True
    aa = set(a) | ({"integer"} if "number" in a else set())
    bb = set(b) | ({"integer"} if "number" in b else set())
    return bool(aa & bb)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _as_object(schema: Any) -> dict | bool:
    return schema if isinstance(schema, dict | bool) else {}


class _Differ:
    def __init__(self, side: str, root_before: Any, root_after: Any) -> None:
        self.side = side
        self.roots = (root_before, root_after)
        self.same_defs = all(
            _defs(root_before, k) == _defs(root_after, k) for k in ("$defs", "definitions"))
        self.changes: list[Change] = []
        self.steps = 0

    # -- emitting ---------------------------------------------------------------------------------------

    def emit(self, kind: str, pointer: str, before: Any, after: Any, effect: str, what: str, *,
             negated: bool, classification: str | None = None, why: str | None = None) -> None:
        if negated and effect in (NARROW, WIDEN):
            # Inside `not`, accepting more means the whole schema accepts less, and vice versa.
            effect = WIDEN if effect == NARROW else NARROW
        if classification is None:
            bad = (NARROW, BOTH) if self.side == "input" else (WIDEN, BOTH)
            classification = BREAKING if effect in bad else NON_BREAKING
        reason = f"{what}: {why or _EFFECT_WORDS[(self.side, effect)]}"
        self.changes.append(Change(kind=kind, pointer=pointer, schema=self.side, before=before, after=after,
                                   classification=classification, reason=reason))

    # -- $ref -------------------------------------------------------------------------------------------

    def resolve(self, schema: Any, root: Any) -> tuple[Any, tuple[str, ...], str | None]:
        """Follow local ``$ref`` chains; returns (schema, refs followed, unresolvable ref or None)."""
        followed: list[str] = []
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            ref = schema["$ref"]
            if ref in followed:
                return {}, tuple(followed), None  # a $ref cycle with nothing in it constrains nothing
            target = _lookup(root, ref)
            if target is None:
                return schema, tuple(followed), ref
            followed.append(ref)
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            # 2020-12 applies $ref alongside its siblings; merging is exact unless they share keywords.
            schema = {**target, **siblings} if isinstance(target, dict) and siblings else target
        return schema, tuple(followed), None

    # -- walking ----------------------------------------------------------------------------------------

    def walk(self, before: Any, after: Any, ptr: str, *, negated: bool, refs: frozenset, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        self.steps += 1
        if self.steps > MAX_WALK_STEPS:
            raise _too_complex(f"comparing these schemas takes over {MAX_WALK_STEPS} steps")
        if before == after and (self.same_defs or not _has_ref(before)):
            return
        b, b_refs, b_bad = self.resolve(before, self.roots[0])
        a, a_refs, a_bad = self.resolve(after, self.roots[1])
        if b_bad or a_bad:
            if b_bad != a_bad or (b_bad is None) != (a_bad is None):
                self.emit("ref_changed", ptr + "/$ref", b_bad or (b_refs[-1] if b_refs else None),
                          a_bad or (a_refs[-1] if a_refs else None),
                          BOTH, "a reference the registry cannot resolve (only local #/... refs are followed) "
                                "changed", negated=negated)
            return
        pair = (b_refs, a_refs)
        if (b_refs or a_refs) and pair in refs:
            return  # recursive schema: this pair of definitions is already being compared further up
        if b_refs or a_refs:
            refs = refs | {pair}
        if isinstance(b, bool) or isinstance(a, bool) or not isinstance(b, dict) or not isinstance(a, dict):
            self.boolean(b, a, ptr, negated=negated)
            return
        if b == a and not _has_ref(b):
            return
        if not self.types(b, a, ptr, negated):
            return  # no type in common: the type change says it all
        self.values(b, a, ptr, negated)
        self.bounds(b, a, ptr, negated)
        self.flags(b, a, ptr, negated)
        self.objects(b, a, ptr, negated, refs, depth)
        self.arrays(b, a, ptr, negated, refs, depth)
        self.compositions(b, a, ptr, negated, refs, depth)
        self.others(b, a, ptr, negated)

    def boolean(self, b: Any, a: Any, ptr: str, *, negated: bool) -> None:
        b, a = _as_object(b), _as_object(a)
        b_all = b is True or b == {}
        a_all = a is True or a == {}
        if b == a or (b_all and a_all):
            return
        if b is False:
            effect = WIDEN
        elif a is False:
            effect = NARROW
        elif b_all:
            effect = NARROW
        elif a_all:
            effect = WIDEN
        else:
            effect = BOTH
        self.emit("schema_replaced", ptr or "", b, a, effect, "the schema was replaced", negated=negated)

    def types(self, b: dict, a: dict, ptr: str, negated: bool) -> bool:
        tb, ta = _types(b), _types(a)
        if tb == ta:
            return True
        before = b.get("type")
        after = a.get("type")
        if _covers(ta, tb):
            self.emit("type_widened", ptr + "/type", before, after, WIDEN,
                      f"type widened from {_show_types(tb)} to {_show_types(ta)}", negated=negated)
        elif _covers(tb, ta):
            self.emit("type_narrowed", ptr + "/type", before, after, NARROW,
                      f"type narrowed from {_show_types(tb)} to {_show_types(ta)}", negated=negated)
        else:
            self.emit("type_changed", ptr + "/type", before, after, BOTH,
                      f"type changed from {_show_types(tb)} to {_show_types(ta)}", negated=negated)
        return _overlap(tb, ta)

    def values(self, b: dict, a: dict, ptr: str, negated: bool) -> None:
        if "enum" in b or "enum" in a:
            eb, ea = b.get("enum"), a.get("enum")
            if not isinstance(eb, list) and isinstance(ea, list):
                self.emit("enum_added", ptr + "/enum", None, ea, NARROW, "values are now limited to an enum",
                          negated=negated)
            elif isinstance(eb, list) and not isinstance(ea, list):
                self.emit("enum_removed", ptr + "/enum", eb, None, WIDEN, "the enum limit was removed",
                          negated=negated)
            elif isinstance(eb, list) and isinstance(ea, list):
                kb, ka = {_key(v): v for v in eb}, {_key(v): v for v in ea}
                for k, v in kb.items():
                    if k not in ka:
                        self.emit("enum_value_removed", ptr + "/enum", v, None, NARROW,
                                  f"enum value {k} was removed", negated=negated)
                for k, v in ka.items():
                    if k not in kb:
                        self.emit("enum_value_added", ptr + "/enum", None, v, WIDEN,
                                  f"enum value {k} was added", negated=negated)
        if "const" in b or "const" in a:
            if "const" not in b:
                self.emit("const_added", ptr + "/const", None, a["const"], NARROW,
                          "the value is now fixed by const", negated=negated)
            elif "const" not in a:
                self.emit("const_removed", ptr + "/const", b["const"], None, WIDEN, "const was removed",
                          negated=negated)
            elif _key(b["const"]) != _key(a["const"]):
                self.emit("const_changed", ptr + "/const", b["const"], a["const"], BOTH,
                          "the const value changed", negated=negated)
        if "default" in b or "default" in a:
            if _key(b.get("default")) != _key(a.get("default")) or ("default" in b) != ("default" in a):
                self.emit("default_changed", ptr + "/default", b.get("default"), a.get("default"), NONE,
                          "the default changed", negated=negated, classification=NON_BREAKING,
                          why="an annotation only, but a caller that leaves the field out may see other "
                              "behaviour")

    def bounds(self, b: dict, a: dict, ptr: str, negated: bool) -> None:
        self.numeric_bound(b, a, ptr, negated, lower=True)
        self.numeric_bound(b, a, ptr, negated, lower=False)
        for kw in _LOWER_BOUNDS:
            self.single_bound(kw, b, a, ptr, negated, lower=True)
        for kw in _UPPER_BOUNDS:
            self.single_bound(kw, b, a, ptr, negated, lower=False)
        if "multipleOf" in b or "multipleOf" in a:
            mb, ma = _number(b.get("multipleOf")), _number(a.get("multipleOf"))
            if mb is None and ma is not None:
                self.emit("constraint_added", ptr + "/multipleOf", None, a["multipleOf"], NARROW,
                          "multipleOf was added", negated=negated)
            elif mb is not None and ma is None:
                self.emit("constraint_removed", ptr + "/multipleOf", b["multipleOf"], None, WIDEN,
                          "multipleOf was removed", negated=negated)
            elif mb is not None and ma is not None and mb != ma:
                if _is_multiple(ma, mb):
                    effect, kind = NARROW, "constraint_tightened"
                elif _is_multiple(mb, ma):
                    effect, kind = WIDEN, "constraint_relaxed"
                else:
                    effect, kind = BOTH, "constraint_changed"
                self.emit(kind, ptr + "/multipleOf", b["multipleOf"], a["multipleOf"], effect,
                          f"multipleOf changed from {b['multipleOf']} to {a['multipleOf']}", negated=negated)

    def numeric_bound(self, b: dict, a: dict, ptr: str, negated: bool, *, lower: bool) -> None:
        """minimum and exclusiveMinimum are one bound (as are the maxima): compare the bound, not the keywords."""
        inc, exc = ("minimum", "exclusiveMinimum") if lower else ("maximum", "exclusiveMaximum")
        if not any(k in b or k in a for k in (inc, exc)):
            return
        bb, ba = _bound(b, inc, exc, lower), _bound(a, inc, exc, lower)
        kw = exc if (exc in a or (exc in b and inc not in a)) else inc
        shown_b = _shown(b, inc, exc)
        shown_a = _shown(a, inc, exc)
        if bb == "invalid" or ba == "invalid":
            if shown_b != shown_a:
                self.emit("constraint_changed", f"{ptr}/{kw}", shown_b, shown_a, BOTH,
                          f"{inc}/{exc} changed to a value that is not a number", negated=negated)
            return
        if bb == ba:
            return
        if bb is None:
            self.emit("constraint_added", f"{ptr}/{kw}", None, shown_a, NARROW, f"{kw} was added",
                      negated=negated)
        elif ba is None:
            self.emit("constraint_removed", f"{ptr}/{kw}", shown_b, None, WIDEN, f"{kw} was removed",
                      negated=negated)
        else:
            tighter = _tighter(ba, bb, lower)
            self.emit("constraint_tightened" if tighter else "constraint_relaxed", f"{ptr}/{kw}", shown_b,
                      shown_a, NARROW if tighter else WIDEN,
                      f"{'lower' if lower else 'upper'} bound moved from {_describe_bound(bb, lower)} to "
                      f"{_describe_bound(ba, lower)}", negated=negated)

    def single_bound(self, kw: str, b: dict, a: dict, ptr: str, negated: bool, *, lower: bool) -> None:
        if kw not in b and kw not in a:
            return
        vb, va = _number(b.get(kw)), _number(a.get(kw))
        if vb == va and (kw in b) == (kw in a):
            return
        if vb is None and va is not None:
            self.emit("constraint_added", f"{ptr}/{kw}", None, a[kw], NARROW, f"{kw} {a[kw]} was added",
                      negated=negated)
        elif vb is not None and va is None:
            self.emit("constraint_removed", f"{ptr}/{kw}", b[kw], None, WIDEN, f"{kw} {b[kw]} was removed",
                      negated=negated)
        elif vb is not None and va is not None:
            tighter = va > vb if lower else va < vb
            self.emit("constraint_tightened" if tighter else "constraint_relaxed", f"{ptr}/{kw}", b[kw], a[kw],
                      NARROW if tighter else WIDEN, f"{kw} changed from {b[kw]} to {a[kw]}", negated=negated)

    def flags(self, b: dict, a: dict, ptr: str, negated: bool) -> None:
        """pattern, format and uniqueItems."""
        for kw in ("pattern", "format"):
            if kw not in b and kw not in a:
                continue
            if kw not in b:
                self.emit("constraint_added", f"{ptr}/{kw}", None, a[kw], NARROW, f"{kw} {a[kw]!r} was added",
                          negated=negated)
            elif kw not in a:
                self.emit("constraint_removed", f"{ptr}/{kw}", b[kw], None, WIDEN, f"{kw} {b[kw]!r} was removed",
                          negated=negated)
            elif b[kw] != a[kw]:
                self.emit("constraint_changed", f"{ptr}/{kw}", b[kw], a[kw], BOTH,
                          f"{kw} changed from {b[kw]!r} to {a[kw]!r}", negated=negated,
                          why=None if kw == "format" else
                          "the two patterns cannot be proved to accept the same strings")
        ub, ua = b.get("uniqueItems") is True, a.get("uniqueItems") is True
        if ub != ua:
            self.emit("constraint_added" if ua else "constraint_removed", ptr + "/uniqueItems",
                      b.get("uniqueItems"), a.get("uniqueItems"), NARROW if ua else WIDEN,
                      "items must now be unique" if ua else "items no longer need to be unique", negated=negated)

    def objects(self, b: dict, a: dict, ptr: str, negated: bool, refs: frozenset, depth: int) -> None:
        pb, pa = _dict(b.get("properties")), _dict(a.get("properties"))
        rb, ra = _names(b.get("required")), _names(a.get("required"))
        open_before = self.allows_undeclared(b, self.roots[0])
        open_after = self.allows_undeclared(a, self.roots[1])
        for name in pb:
            if name in pa:
                self.walk(pb[name], pa[name], f"{ptr}/properties/{_escape(name)}", negated=negated, refs=refs,
                          depth=depth + 1)
        for name in pa:
            if name in pb:
                continue
            p = f"{ptr}/properties/{_escape(name)}"
            required = name in ra
            if self.side == "input":
                if required:
                    self.emit("property_added", p, None, pa[name], NARROW, f"required input {name!r} was added",
                              negated=negated, why="callers that do not send it are refused")
                else:
                    self.emit("property_added", p, None, pa[name], WIDEN, f"optional input {name!r} was added",
                              negated=negated, classification=NON_BREAKING,
                              why="callers may leave it out")
            elif open_before is False:
                self.emit("property_added", p, None, pa[name], WIDEN, f"output {name!r} was added",
                          negated=negated, why="the old schema refused undeclared properties, so consumers "
                                               "validating against it refuse the new output")
            else:
                self.emit("property_added", p, None, pa[name], NARROW,
                          f"{'guaranteed ' if required else ''}output {name!r} was added", negated=negated,
                          classification=NON_BREAKING, why="consumers that do not know it can ignore it")
        for name in pb:
            if name in pa:
                continue
            p = f"{ptr}/properties/{_escape(name)}"
            if self.side == "input":
                if open_after is False or (open_after is None and not self.pattern_covers(a, name)):
                    self.emit("property_removed", p, pb[name], None, NARROW, f"input {name!r} was removed",
                              negated=negated, why="undeclared properties are refused, so callers that still "
                                                   "send it are refused")
                else:
                    self.emit("property_removed", p, pb[name], None, WIDEN, f"input {name!r} was removed",
                              negated=negated, classification=NON_BREAKING,
                              why="callers that still send it are not refused, but the action ignores it")
            else:
                self.emit("property_removed", p, pb[name], None, WIDEN,
                          f"{'guaranteed ' if name in rb else ''}output {name!r} was removed", negated=negated,
                          classification=BREAKING, why="consumers that read it lose it")
        added, removed = set(pa) - set(pb), set(pb) - set(pa)
        for name in sorted(ra - rb - added):
            self.emit("property_made_required", f"{ptr}/required", None, name, NARROW,
                      f"{name!r} is now required", negated=negated,
                      why=None if self.side == "input" else "consumers can now rely on it")
        for name in sorted(rb - ra - removed):
            self.emit("property_made_optional", f"{ptr}/required", name, None, WIDEN,
                      f"{name!r} is no longer required", negated=negated,
                      why="consumers can no longer rely on it being present" if self.side == "output" else None)
        self.closed_keyword("additionalProperties", b, a, ptr, negated, refs, depth)
        self.closed_keyword("unevaluatedProperties", b, a, ptr, negated, refs, depth)
        ppb, ppa = _dict(b.get("patternProperties")), _dict(a.get("patternProperties"))
        for pat in ppb:
            p = f"{ptr}/patternProperties/{_escape(pat)}"
            if pat in ppa:
                self.walk(ppb[pat], ppa[pat], p, negated=negated, refs=refs, depth=depth + 1)
            else:
                self.emit("pattern_property_removed", p, ppb[pat], None, WIDEN,
                          f"patternProperties {pat!r} was removed", negated=negated)
        for pat in ppa:
            if pat not in ppb:
                self.emit("pattern_property_added", f"{ptr}/patternProperties/{_escape(pat)}", None, ppa[pat],
                          NARROW, f"patternProperties {pat!r} was added", negated=negated)

    def allows_undeclared(self, schema: dict, root: Any) -> bool | None:
        """True: any undeclared property; False: none at all; None: some (a schema or patterns decide)."""
        for kw in ("additionalProperties", "unevaluatedProperties"):
            if kw in schema:
                value, _, _ = self.resolve(schema[kw], root)
                if value is False:
                    return False
                if value not in (True, {}):
                    return None
        return True

    def pattern_covers(self, schema: dict, name: str) -> bool:
        for pat in _dict(schema.get("patternProperties")):
            try:
                if re.search(pat, name):
                    return True
            except re.error:
                continue
        return False

    def closed_keyword(self, kw: str, b: dict, a: dict, ptr: str, negated: bool, refs: frozenset,
                       depth: int) -> None:
        if kw not in b and kw not in a:
            return
        vb, va = b.get(kw, True), a.get(kw, True)
        vb = True if vb == {} else vb
        va = True if va == {} else va
        if vb == va and not _has_ref(vb):
            return
        kind = "additional_properties_changed" if kw == "additionalProperties" else "unevaluated_properties_changed"
        if isinstance(vb, dict) and isinstance(va, dict):
            self.walk(vb, va, f"{ptr}/{kw}", negated=negated, refs=refs, depth=depth + 1)
            return
        if vb is True:
            effect, what = NARROW, f"{kw} went from allowed to {'refused' if va is False else 'constrained'}"
        elif va is True:
            effect, what = WIDEN, f"{kw} went from {'refused' if vb is False else 'constrained'} to allowed"
        elif vb is False:
            effect, what = WIDEN, f"{kw} went from refused to constrained"
        elif va is False:
            effect, what = NARROW, f"{kw} went from constrained to refused"
        else:
            effect, what = BOTH, f"{kw} changed"
        self.emit(kind, f"{ptr}/{kw}", b.get(kw), a.get(kw), effect, what, negated=negated)

    def arrays(self, b: dict, a: dict, ptr: str, negated: bool, refs: frozenset, depth: int) -> None:
        if "items" in b and "items" in a:
            self.walk(b["items"], a["items"], f"{ptr}/items", negated=negated, refs=refs, depth=depth + 1)
        elif "items" in a and a["items"] not in (True, {}):
            self.emit("items_added", f"{ptr}/items", None, a["items"], NARROW, "array items are now constrained",
                      negated=negated)
        elif "items" in b and b["items"] not in (True, {}):
            self.emit("items_removed", f"{ptr}/items", b["items"], None, WIDEN,
                      "array items are no longer constrained", negated=negated)
        xb, xa = b.get("prefixItems"), a.get("prefixItems")
        xb = xb if isinstance(xb, list) else []
        xa = xa if isinstance(xa, list) else []
        for i in range(max(len(xb), len(xa))):
            p = f"{ptr}/prefixItems/{i}"
            if i < len(xb) and i < len(xa):
                self.walk(xb[i], xa[i], p, negated=negated, refs=refs, depth=depth + 1)
            elif i < len(xa):
                self.emit("prefix_item_added", p, None, xa[i], NARROW, f"tuple position {i} is now constrained",
                          negated=negated)
            else:
                self.emit("prefix_item_removed", p, xb[i], None, WIDEN,
                          f"tuple position {i} is no longer constrained", negated=negated)

    def compositions(self, b: dict, a: dict, ptr: str, negated: bool, refs: frozenset, depth: int) -> None:
        for kw in ("oneOf", "anyOf", "allOf"):
            lb, la = b.get(kw), a.get(kw)
            if lb is None and la is None:
                continue
            # More alternatives accept more (oneOf/anyOf); more conjuncts accept less (allOf).
            grow = NARROW if kw == "allOf" else WIDEN
            shrink = WIDEN if kw == "allOf" else NARROW
            if not isinstance(lb, list) or not isinstance(la, list):
                if isinstance(la, list):
                    self.emit("composition_added", f"{ptr}/{kw}", None, la, NARROW, f"{kw} was added",
                              negated=negated)
                elif isinstance(lb, list):
                    self.emit("composition_removed", f"{ptr}/{kw}", lb, None, WIDEN, f"{kw} was removed",
                              negated=negated)
                continue
            pairs, gone, new = self.match_branches(lb, la)
            for i, j in pairs:
                self.walk(lb[i], la[j], f"{ptr}/{kw}/{j}", negated=negated, refs=refs, depth=depth + 1)
            for i in gone:
                self.emit("variant_removed", f"{ptr}/{kw}/{i}", lb[i], None, shrink,
                          f"{kw} alternative {i} was removed" if kw != "allOf" else f"allOf part {i} was removed",
                          negated=negated)
            for j in new:
                self.emit("variant_added", f"{ptr}/{kw}/{j}", None, la[j], grow,
                          f"{kw} alternative {j} was added" if kw != "allOf" else f"allOf part {j} was added",
                          negated=negated)
        if "not" in b and "not" in a:
            self.walk(b["not"], a["not"], f"{ptr}/not", negated=not negated, refs=refs, depth=depth + 1)
        elif "not" in b or "not" in a:
            added = "not" in a
            self.emit("keyword_added" if added else "keyword_removed", f"{ptr}/not", b.get("not"), a.get("not"),
                      NARROW if added else WIDEN, f"not was {'added' if added else 'removed'}", negated=negated)

    def match_branches(self, lb: list, la: list) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        """Pair alternatives: identical ones first, then by a signature (title, type, tag values,
        required names), then the leftovers by position when as many remain on each side."""
        left, right = list(range(len(lb))), list(range(len(la)))
        pairs: list[tuple[int, int]] = []
        for key in (lambda s, r: _key(self.resolve(s, r)[0]), lambda s, r: _signature(self.resolve(s, r)[0])):
            kb = {i: key(lb[i], self.roots[0]) for i in left}
            ka = {j: key(la[j], self.roots[1]) for j in right}
            for i in list(left):
                same = [j for j in right if ka[j] == kb[i]]
                if len(same) == 1 and sum(1 for x in left if kb[x] == kb[i]) == 1:
                    pairs.append((i, same[0]))
                    left.remove(i)
                    right.remove(same[0])
        if left and len(left) == len(right):
            pairs.extend(zip(left, right, strict=True))
            left, right = [], []
        return sorted(pairs, key=lambda p: p[1]), left, right

    def others(self, b: dict, a: dict, ptr: str, negated: bool) -> None:
        """Every keyword without its own rule: added narrows, removed widens, changed could do either."""
        for kw in sorted((set(b) | set(a)) - _HANDLED - ANNOTATIONS):
            if kw.startswith("x-"):
                continue  # vendor extensions carry no validation meaning
            if kw not in b:
                self.emit("keyword_added", f"{ptr}/{_escape(kw)}", None, a[kw], NARROW, f"{kw} was added",
                          negated=negated)
            elif kw not in a:
                self.emit("keyword_removed", f"{ptr}/{_escape(kw)}", b[kw], None, WIDEN, f"{kw} was removed",
                          negated=negated)
            elif _key(b[kw]) != _key(a[kw]) or (not self.same_defs and _has_ref(b[kw])):
                self.emit("keyword_changed", f"{ptr}/{_escape(kw)}", b[kw], a[kw], BOTH, f"{kw} changed",
                          negated=negated)


# --- helpers -----------------------------------------------------------------------------------------

def _too_complex(what: str) -> DocumentError:
    return DocumentError(f"schema too complex: {what}", code="schema_too_complex",
                         suggestion="Flatten the schema: fewer properties, or $refs that do not fan out "
                                    "(a $ref tree expanding to thousands of nodes).")


def schema_check_expansion(schema: Any, *, limit: int = MAX_SCHEMA_NODES) -> None:
    """Refuse a schema whose objects and arrays, with local $refs expanded (each cycle cut once), exceed
    ``limit``: cheap (bounded by ``limit``), and run at publish before any diff or compatibility check."""
    count = 0
    stack: list[tuple[Any, tuple[str, ...]]] = [(schema, ())]
    while stack:
        node, refs = stack.pop()
        count += 1
        if count > limit:
            raise _too_complex(f"over {limit} objects and arrays once its $refs are expanded")
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref not in refs:
                target = _lookup(schema, ref)
                if isinstance(target, dict | list):
                    stack.append((target, (*refs, ref)))
            stack.extend((v, refs) for k, v in node.items() if k != "$ref" and isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, refs) for v in node if isinstance(v, dict | list))


def _defs(root: Any, kw: str) -> Any:
    return root.get(kw) if isinstance(root, dict) else None


def _lookup(root: Any, ref: str) -> Any:
    """Resolve a local JSON Pointer reference (``#``, ``#/$defs/x``); None for anything else."""
    if not ref.startswith("#"):
        return None
    fragment = unquote(ref[1:])
    if fragment == "":
        return root
    if not fragment.startswith("/"):
        return None  # named anchors are not followed
    node = root
    for raw in fragment[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def _has_ref(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "$ref" in node:
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _names(value: Any) -> set[str]:
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


def _show_types(types: frozenset[str] | None) -> str:
    if types is None:
        return "any"
    return "|".join(sorted(types)) or "none"


def _signature(schema: Any) -> str:
    if not isinstance(schema, dict):
        return _key(schema)
    props = _dict(schema.get("properties"))
    tags = {k: _key(v.get("const", v.get("enum"))) for k, v in props.items()
            if isinstance(v, dict) and ("const" in v or "enum" in v)}
    return _key({"title": schema.get("title"), "type": sorted(_types(schema) or []), "tags": tags,
                 "required": sorted(_names(schema.get("required"))), "const": schema.get("const")})


def _bound(schema: dict, inc: str, exc: str, lower: bool) -> tuple[float, bool] | None | str:
    """The effective bound as (value, exclusive), None when unbounded, "invalid" for non-numbers."""
    found: list[tuple[float, bool]] = []
    for kw, exclusive in ((inc, False), (exc, True)):
        if kw in schema:
            n = _number(schema[kw])
            if n is None or math.isnan(n):
                return "invalid"
            found.append((n, exclusive))
    if not found:
        return None
    # Of two bounds the stricter one decides.
    best = found[0]
    for cand in found[1:]:
        if _tighter(cand, best, lower):
            best = cand
    return best


def _tighter(x: tuple[float, bool], y: tuple[float, bool], lower: bool) -> bool:
    """Is bound ``x`` strictly stricter than ``y``?"""
    if x[0] != y[0]:
        return x[0] > y[0] if lower else x[0] < y[0]
    return x[1] and not y[1]


def _shown(schema: dict, inc: str, exc: str) -> Any:
    present = {k: schema[k] for k in (inc, exc) if k in schema}
    if not present:
        return None
    return next(iter(present.values())) if len(present) == 1 else present


def _describe_bound(bound: tuple[float, bool], lower: bool) -> str:
    value = int(bound[0]) if bound[0].is_integer() else bound[0]
    op = (">" if bound[1] else ">=") if lower else ("<" if bound[1] else "<=")
    return f"{op} {value}"


def _is_multiple(x: float, y: float) -> bool:
    """Is x an integer multiple of y (so multiples of x are multiples of y)?"""
    if y == 0:
        return False
    q = x / y
    return abs(q - round(q)) < 1e-9
