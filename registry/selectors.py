"""Reads of the registry: discovery and search, actions, versions, records by hash."""

from __future__ import annotations

import semver
from django.db.models import QuerySet

from action_registry.document import check_version
from core.exceptions import NotFound
from core.prepared import PreparedQuery
from registry.models import Action, ActionVersion
from registry.search import SEARCH_CANDIDATES, SearchPage, action_search  # noqa: F401 (search's home; kept importable)


def action_get(*, name: str) -> Action:
    action = Action.objects.select_related("latest_version").filter(name=name).first()
    if action is None:
        raise NotFound(f"no action named {name!r}", code="action_not_found",
                       suggestion=_close_names_suggestion(name))
    return action


def _close_names_suggestion(name: str) -> str:
    ns = name.split(".", 1)[0]
    close = list(Action.objects.filter(name__startswith=ns).order_by("name").values_list("name", flat=True)[:5])
    if close:
        return "Did you mean: " + ", ".join(close) + "? Or search with GET /v1/actions?q=..."
    return "Search with GET /v1/actions?q=<words> to find the action's exact name."


def action_versions(*, action: Action) -> list[ActionVersion]:
    versions = list(ActionVersion.objects.filter(action=action).select_related("signing_key", "blob"))
    versions.sort(key=lambda v: semver.Version.parse(v.version))
    return versions


def _version_relations() -> tuple[str, ...]:
    """What a record needs loaded with its version row; the mirror origin only where federation is installed
    (a reverse accessor: the registry imports nothing of federation)."""
    relations = ("action", "signing_key", "blob", "deprecation__successor")
    names = {f.name for f in ActionVersion._meta.get_fields()}
    return relations + (("mirror_origin",) if "mirror_origin" in names else ())


# The fetch and verify paths' one query, compiled once per process (core/prepared.py): the ORM's compiler
# cost several times what PostgreSQL takes to answer it.
_VERSION_BY_NAME = PreparedQuery(ActionVersion, lambda name, version: (
    ActionVersion.objects.select_related(*_version_relations())
    .filter(action__name=name, version=version).order_by()[:1]))


def version_get(*, name: str, version: str) -> ActionVersion:
    check_version(version)
    found = _VERSION_BY_NAME(name=name, version=version)
    row = found[0] if found else None
    if row is None:
        action = action_get(name=name)
        known = [v.version for v in action_versions(action=action)]
        raise NotFound(f"{name} has no version {version}", code="version_not_found",
                       suggestion=f"Versions of {name}: {', '.join(known[-10:])}.", details={"versions": known})
    return row


def version_get_by_hash(*, content_hash: str) -> list[ActionVersion]:
    return list(ActionVersion.objects.select_related("action", "signing_key", "blob", "deprecation__successor")
                .filter(blob_id=content_hash).order_by("published_at", "id"))


def versions_of_kid(*, kid: str) -> QuerySet[ActionVersion]:
    return ActionVersion.objects.filter(kid=kid)
