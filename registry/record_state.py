"""Reads of what a version's answer shows besides its immutable bytes, in one prepared query per request.

The fetch, by-hash and verify answers (registry/response_cache.py) are reused only while this state is
unchanged: the ``latest`` marker, the deprecation annotation, the mirror origin and the trust store's stamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from core.prepared import PreparedSQL
from governance.trust_selectors import trust_stamp_join
from registry.models import Action, ActionVersion, Deprecation


@dataclass(frozen=True)
class VersionState:
    """What a version's answer is rendered from besides its immutable bytes, read in one prepared query.

    ``ident`` names the record (id, content hash, publication time: ids alone can come back after a test
    database flush); ``state`` is everything mutable the fetch, by-hash and verify answers show: whether it is
    the latest release, its deprecation (reason, successor, time), its mirror origin, and the trust store's
    stamp (TrustState version and change time, which every key change moves)."""

    ident: tuple
    state: tuple


def _utc(value):
    """Datetimes compare alike from a raw cursor and from the ORM (SQLite's raw ones are naive)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def version_state_of(row: ActionVersion, *, deprecation: Deprecation | None, origin, trust_stamp: tuple
                     ) -> VersionState:
    """The ``VersionState`` of a loaded version, from exactly the values its answer was rendered with: its
    deprecation and mirror origin as loaded, and the stamp of the trust snapshot its verification used."""
    return VersionState(
        ident=(row.id, row.blob_id, _utc(row.published_at)),
        state=(row.id == row.action.latest_version_id,
               (deprecation.reason, deprecation.successor_id, _utc(deprecation.deprecated_at))
               if deprecation is not None else None,
               (origin.registry, _utc(origin.fetched_at)) if origin is not None else None,
               trust_stamp))


def _state_sql(where: str) -> str:
    trust_cols, trust_join = trust_stamp_join("t")  # the trust stamp joins in: one round trip per fetch
    names = {f.name for f in ActionVersion._meta.get_fields()}
    if "mirror_origin" in names:  # federation installed (a reverse accessor: no import of federation)
        mirror = ActionVersion._meta.get_field("mirror_origin").related_model._meta.db_table
        mirror_cols, mirror_join = "m.registry, m.fetched_at", f"LEFT JOIN {mirror} m ON m.version_id = v.id"
    else:
        mirror_cols, mirror_join = "NULL, NULL", ""
    return f"""
        SELECT v.id, v.content_hash, v.published_at, a.latest_version_id, d.reason, d.successor_id,
               d.deprecated_at, {mirror_cols}, {trust_cols}
          FROM {ActionVersion._meta.db_table} v
          JOIN {Action._meta.db_table} a ON a.id = v.action_id
          LEFT JOIN {Deprecation._meta.db_table} d ON d.version_id = v.id
          {mirror_join}
          {trust_join}
         WHERE {where}
    """  # noqa: S608 (table names from model metadata; values are bound parameters)


_STATE_BY_NAME = PreparedSQL(ActionVersion, lambda: _state_sql("a.name = %s AND v.version = %s"))
# The same record version_get_by_hash answers with: the first published.
_STATE_BY_HASH = PreparedSQL(ActionVersion, lambda: _state_sql(
    "v.content_hash = %s ORDER BY v.published_at, v.id LIMIT 1"))


def _state_from(rows: list[tuple]) -> VersionState | None:
    if not rows:
        return None
    vid, blob, published, latest, reason, successor, dep_at, registry, fetched, trust_v, trust_at = rows[0]
    return VersionState(
        ident=(vid, blob, _utc(published)),
        state=(vid == latest,
               (reason, successor, _utc(dep_at)) if dep_at is not None else None,
               (registry, _utc(fetched)) if registry is not None else None,
               (trust_v if trust_v is not None else 0, trust_at)))


def version_state(*, name: str, version: str) -> VersionState | None:
    """The state of ``name``@``version``, or None when there is no such version (or the version is not valid)."""
    return _state_from(_STATE_BY_NAME(name, version))


def version_state_by_hash(*, content_hash: str) -> VersionState | None:
    return _state_from(_STATE_BY_HASH(content_hash))
