"""Reads of the registry: discovery and search, actions, versions, records by hash."""

from __future__ import annotations

from dataclasses import dataclass

import semver
from django.db import connection
from django.db.models import Q, QuerySet

from action_registry.document import check_version
from core.exceptions import NotFound
from core.prepared import PreparedQuery
from registry.models import Action, ActionVersion

# Rank at most this many full-text matches and this many partial-name matches (plus an exact name match). A
# single common word matches a large share of the catalogue; finding, fetching and ranking all of them took
# 100+ ms at 100k actions, and `total` counts the ranked candidates, not every match.
SEARCH_CANDIDATES = 500


@dataclass(frozen=True)
class SearchPage:
    items: list[dict]
    total: int
    offset: int
    limit: int


def _item(row: dict) -> dict:
    return {"name": row["name"], "namespace": row["namespace"], "latest_version": row["latest_version"],
            "description": row["description"], "kid": row["kid"], "updated_at": row["updated_at"]}


def action_search(*, q: str | None = None, kid: str | None = None, namespace: str | None = None,
                  offset: int = 0, limit: int = 50) -> SearchPage:
    q = (q or "").strip()
    if q and connection.vendor == "postgresql":
        return _search_postgres(q=q, kid=kid, namespace=namespace, offset=offset, limit=limit)
    qs = Action.objects.filter(latest_version__isnull=False)
    if kid:
        qs = qs.filter(kid=kid)
    if namespace:
        qs = qs.filter(Q(name=namespace) | Q(name__startswith=namespace.rstrip(".") + "."))
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(description__icontains=q))
    total = qs.count()
    rows = qs.order_by("name").values("name", "namespace", "latest_version__version", "description", "kid",
                                      "updated_at")[offset:offset + limit]
    items = [_item({**r, "latest_version": r["latest_version__version"]}) for r in rows]
    return SearchPage(items=items, total=total, offset=offset, limit=limit)


def _search_postgres(*, q: str, kid: str | None, namespace: str | None, offset: int, limit: int) -> SearchPage:
    """Full text (tsvector, GIN) or partial name (trigram, GIN), ranked, ties broken by name."""
    filters, params = ["a.latest_version_id IS NOT NULL"], {"q": q, "like": "%" + _like_escape(q) + "%",
                                                            "cap": SEARCH_CANDIDATES}
    if kid:
        filters.append("a.kid = %(kid)s")
        params["kid"] = kid
    if namespace:
        filters.append("(a.name = %(ns)s OR a.name LIKE %(ns_like)s)")
        params["ns"] = namespace.rstrip(".")
        params["ns_like"] = _like_escape(namespace.rstrip(".")) + ".%"
    where = " AND ".join(filters)
    cols = "a.id, a.name, a.namespace, a.description, a.kid, a.updated_at, a.latest_version_id, a.search_vector"
    # Only fixed SQL fragments are interpolated into the text; every value is a bound parameter.
    sql = f"""
        WITH query AS (
            SELECT websearch_to_tsquery('english', %(q)s) || websearch_to_tsquery('simple', %(q)s) AS tsq
        ), exact AS (
            SELECT {cols} FROM registry_action a WHERE {where} AND a.name = %(q)s
        ), words AS (
            SELECT {cols} FROM registry_action a, query WHERE {where} AND a.search_vector @@ query.tsq LIMIT %(cap)s
        ), names AS (
            SELECT {cols} FROM registry_action a WHERE {where} AND a.name ILIKE %(like)s LIMIT %(cap)s
        ), capped AS (
            SELECT DISTINCT ON (id) * FROM (SELECT * FROM exact UNION ALL SELECT * FROM words
                                            UNION ALL SELECT * FROM names) c ORDER BY id
        ), ranked AS (
            SELECT c.*, (ts_rank_cd(c.search_vector, query.tsq)
                         + CASE WHEN c.name = %(q)s THEN 10 ELSE 0 END
                         + CASE WHEN c.name ILIKE %(like)s THEN 1 ELSE 0 END) AS rank,
                   count(*) OVER () AS total
              FROM capped c, query
             ORDER BY rank DESC, c.name ASC
            OFFSET %(offset)s LIMIT %(limit)s
        )
        -- The latest version's number only for the page, not for every candidate.
        SELECT r.name, r.namespace, v.version AS latest_version, r.description, r.kid, r.updated_at, r.rank, r.total
          FROM ranked r JOIN registry_actionversion v ON v.id = r.latest_version_id
         ORDER BY r.rank DESC, r.name ASC
    """  # noqa: S608
    params.update(offset=offset, limit=limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        cols = [c.name for c in cursor.description]
        rows = [dict(zip(cols, r, strict=True)) for r in cursor.fetchall()]
    if rows:
        total = rows[0]["total"]
    elif offset:
        total = _search_postgres(q=q, kid=kid, namespace=namespace, offset=0, limit=1).total
    else:
        total = 0
    return SearchPage(items=[_item(r) for r in rows], total=total, offset=offset, limit=limit)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
