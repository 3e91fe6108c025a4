"""Reads of the lifecycle: deprecations, compatibility policies, schema diffs and the compatibility graph."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

import semver
from django.db import connection

from action_registry.diff import DocumentDiff, diff_documents, mode_directions
from action_registry.errors import DocumentError
from action_registry.versions import parse_range
from core.prepared import sql_rows
from governance.selectors import TrustSnapshot, trust_cached
from registry import selectors
from registry.choices import CompatibilityMode
from registry.models import Action, ActionVersion, CompatibilityPolicy, Deprecation, DeprecationEntry

DEFAULT_MODE = CompatibilityMode.BACKWARD.value
_DIFF_CACHE_SIZE = 4096


# --- deprecation -----------------------------------------------------------------------------------

def deprecation_of(*, version: ActionVersion) -> Deprecation | None:
    """The version's deprecation, or None; uses what ``select_related("deprecation__successor")`` loaded."""
    rel = ActionVersion._meta.get_field("deprecation")
    if rel.is_cached(version):
        return rel.get_cached_value(version)
    dep = Deprecation.objects.select_related("successor").filter(version=version).first()
    rel.set_cached_value(version, dep)
    return dep


def deprecations_for(*, versions: list[ActionVersion]) -> dict[int, Deprecation]:
    """Deprecations of many versions in one query, keyed by version id (and cached on each version)."""
    if not versions:
        return {}
    rows = Deprecation.objects.select_related("successor").filter(version_id__in=[v.id for v in versions])
    found = {d.version_id: d for d in rows}
    rel = ActionVersion._meta.get_field("deprecation")
    for v in versions:  # so deprecation_of(version=v) answers without another query
        rel.set_cached_value(v, found.get(v.id))
    return found


def deprecation_view(dep: Deprecation | None) -> dict:
    """``{"deprecated": bool, "deprecation": {reason, successor, at} | None}``: the wire form on every read."""
    if dep is None:
        return {"deprecated": False, "deprecation": None}
    return {"deprecated": True, "deprecation": {
        "reason": dep.reason,
        "successor": dep.successor.version if dep.successor_id else None,
        "at": dep.deprecated_at.isoformat().replace("+00:00", "Z"),
    }}


def version_deprecation_view(version: ActionVersion) -> dict:
    return deprecation_view(deprecation_of(version=version))


def deprecation_history(*, version: ActionVersion) -> list[DeprecationEntry]:
    return list(DeprecationEntry.objects.select_related("successor").filter(version=version).order_by("id"))


# --- compatibility policy --------------------------------------------------------------------------

@dataclass(frozen=True)
class Policy:
    prefix: str | None  # None: the built-in default, no row matched
    mode: str
    refuse_undeclared_breaks: bool


def compatibility_policy_for(*, name: str, snapshot: TrustSnapshot | None = None) -> Policy:
    """The policy of the longest prefix covering ``name``, else the ``*`` row, else backward.

    With ``snapshot`` (the publish path): from every row, cached per trust state (compatibility_policy_set and
    _delete bump TrustState in their transaction)."""
    segments = name.split(".")
    prefixes = [".".join(segments[:i]) for i in range(1, len(segments) + 1)]
    if snapshot is not None:
        rows = trust_cached(snapshot, "compatibility_policies",
                           lambda: {row.prefix: row for row in CompatibilityPolicy.objects.all()})
    else:
        rows = {row.prefix: row for row in CompatibilityPolicy.objects.filter(prefix__in=[*prefixes, "*"])}
    best = next((rows[p] for p in reversed(prefixes) if p in rows), rows.get("*"))
    if best is None:
        return Policy(prefix=None, mode=DEFAULT_MODE, refuse_undeclared_breaks=False)
    return Policy(prefix=best.prefix, mode=best.mode, refuse_undeclared_breaks=best.refuse_undeclared_breaks)


def compatibility_policy_list():
    return CompatibilityPolicy.objects.order_by("prefix")


# --- documents and diffs ---------------------------------------------------------------------------

def sort_semver(versions: list[str]) -> list[str]:
    return sorted(versions, key=semver.Version.parse)


def version_document(version: ActionVersion) -> dict:
    return json.loads(bytes(version.blob.canonical))


def action_documents(*, action: Action) -> list[tuple[ActionVersion, dict]]:
    """Every version with its parsed document, SemVer ascending."""
    return [(v, version_document(v)) for v in selectors.action_versions(action=action)]


def action_documents_by_name(*, name: str) -> list[tuple[ActionVersion, dict]]:
    """``action_documents`` of the action called ``name`` (none if there is no such action), in one query."""
    versions = list(ActionVersion.objects.filter(action__name=name).select_related("blob"))
    versions.sort(key=lambda v: semver.Version.parse(v.version))
    return [(v, version_document(v)) for v in versions]


@dataclass
class StoredDocument:
    """One stored version of an action, its document parsed only when asked for."""

    version: str
    content_hash: str
    canonical: bytes
    _document: dict | None = None

    @property
    def document(self) -> dict:
        if self._document is None:
            self._document = json.loads(self.canonical)
        return self._document


# The publish path's compatibility check, for every publish that declares compatibility: prepared, no ORM.
_DOCUMENTS_BY_NAME_SQL = ("SELECT v.version, v.content_hash, b.canonical FROM registry_actionversion v "
                          "JOIN registry_action a ON a.id = v.action_id "
                          "JOIN registry_blob b ON b.content_hash = v.content_hash WHERE a.name = %s")


def stored_documents_by_name(*, name: str) -> list[StoredDocument]:
    """Every version of the action called ``name`` (none if there is no such action), SemVer ascending, in
    one query; documents are parsed on first use (the check diffs only the versions a declaration names)."""
    if connection.vendor != "postgresql":
        return [StoredDocument(v.version, v.blob_id, bytes(v.blob.canonical))
                for v, _ in action_documents_by_name(name=name)]
    rows = [StoredDocument(version, content_hash, bytes(canonical))
            for version, content_hash, canonical in sql_rows(_DOCUMENTS_BY_NAME_SQL, [name])]
    rows.sort(key=lambda d: semver.Version.parse(d.version))
    return rows


_diffs: OrderedDict[tuple[str, str], DocumentDiff] = OrderedDict()
_diffs_lock = Lock()


def documents_diff(*, before: dict, before_hash: str, after: dict, after_hash: str) -> DocumentDiff:
    """Diff two stored documents. Stored bytes never change, so the result is memoised by content hashes."""
    key = (before_hash, after_hash)
    with _diffs_lock:
        if key in _diffs:
            _diffs.move_to_end(key)
            return _diffs[key]
    result = diff_documents(before, after)
    with _diffs_lock:
        _diffs[key] = result
        while len(_diffs) > _DIFF_CACHE_SIZE:
            _diffs.popitem(last=False)
    return result


@dataclass(frozen=True)
class VersionDiff:
    name: str
    before: ActionVersion
    after: ActionVersion
    diff: DocumentDiff
    reverse: DocumentDiff


def action_diff(*, name: str, from_version: str, to_version: str) -> VersionDiff:
    before = selectors.version_get(name=name, version=from_version)
    after = selectors.version_get(name=name, version=to_version)
    b_doc, a_doc = version_document(before), version_document(after)
    forward = documents_diff(before=b_doc, before_hash=before.blob_id, after=a_doc, after_hash=after.blob_id)
    reverse = documents_diff(before=a_doc, before_hash=after.blob_id, after=b_doc, after_hash=before.blob_id)
    return VersionDiff(name=name, before=before, after=after, diff=forward, reverse=reverse)


# --- the compatibility graph -----------------------------------------------------------------------

def _declared_ranges(doc: dict, key: str) -> list[tuple[str, object]]:
    out = []
    for text in (doc.get("compatibility") or {}).get(key, []):
        try:
            out.append((text, parse_range(text)))
        except DocumentError:
            continue  # published before ranges were checked; nothing sensible to draw
    return out


def _status(version: ActionVersion, latest_id: int | None, dep: Deprecation | None) -> str:
    if dep is not None:
        return "deprecated"
    if version.id == latest_id:
        return "latest"
    return "prerelease" if version.prerelease else "active"


def compatibility_graph(*, name: str) -> dict:
    """Nodes (versions with status) and edges (compatible/breaks), declared by signers and detected by diff.

    Detected edges join each version to the one before it in SemVer order, and every declared pair; a
    detected edge says ``breaks`` when the diff has a breaking change in a direction the namespace's mode
    checks (backward when the mode is ``none``).
    """
    action = selectors.action_get(name=name)
    rows = action_documents(action=action)
    deps = deprecations_for(versions=[v for v, _ in rows])
    policy = compatibility_policy_for(name=name)
    directions = mode_directions(policy.mode) or ("backward",)
    by_version = {v.version: (v, doc) for v, doc in rows}
    nodes = []
    for v, doc in rows:
        dep = deps.get(v.id)
        nodes.append({
            "version": v.version, "status": _status(v, action.latest_version_id, dep),
            "latest": v.id == action.latest_version_id, "major": v.major, "prerelease": v.prerelease or None,
            "content_hash": v.blob_id, "published_at": v.published_at, **deprecation_view(dep),
            "declared": {"compatible_with": list((doc.get("compatibility") or {}).get("compatible_with", [])),
                         "breaks": list((doc.get("compatibility") or {}).get("breaks", []))},
        })
    declared = []
    for v, doc in rows:
        for relation, key in (("compatible", "compatible_with"), ("breaks", "breaks")):
            for text, rng in _declared_ranges(doc, key):
                for other, _ in rows:
                    if other.version != v.version and rng.contains(other.version):
                        declared.append({"from": other.version, "to": v.version, "relation": relation,
                                         "source": "declared", "range": text})
    pairs = {(a.version, b.version) for (a, _), (b, _) in zip(rows, rows[1:], strict=False)}
    pairs |= {(e["from"], e["to"]) for e in declared}
    detected = {}
    for a, b in pairs:
        (va, da), (vb, db) = by_version[a], by_version[b]
        breaking = 0
        forward = documents_diff(before=da, before_hash=va.blob_id, after=db, after_hash=vb.blob_id)
        if "backward" in directions:
            breaking += len(forward.breaking_changes)
        if "forward" in directions:
            back = documents_diff(before=db, before_hash=vb.blob_id, after=da, after_hash=va.blob_id)
            breaking += len(back.breaking_changes)
        detected[(a, b)] = {"from": a, "to": b, "relation": "breaks" if breaking else "compatible",
                            "source": "detected", "breaking_changes": breaking,
                            "implied_bump": forward.implied_bump}
    for edge in declared:
        edge["agrees"] = detected[(edge["from"], edge["to"])]["relation"] == edge["relation"]
    order = {v.version: i for i, (v, _) in enumerate(rows)}
    edges = sorted([*detected.values(), *declared],
                   key=lambda e: (order[e["from"]], order[e["to"]], e["source"], e["relation"]))
    return {"name": action.name, "mode": policy.mode, "policy_prefix": policy.prefix,
            "latest_version": action.latest_version.version if action.latest_version_id else None,
            "nodes": nodes, "edges": edges}
