"""Discovery and search of actions: ranked full text and partial names, at a bounded cost for any query."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q

from core.prepared import PreparedSQL
from registry.models import Action

# Rank at most this many full-text matches and this many partial-name matches (plus an exact name match);
# `total` counts the ranked candidates, not every match. Each branch (full text, partial name) finds its
# candidates one of two ways:
# - the GIN index (tsvector, trigram), first matches in table order. Its cost is the whole posting list of every
#   word or trigram of the query, whatever the LIMIT: 0.1-0.5 us per matching row, so 7 ms CPU for `the` (79%
#   of the rows) at 100k actions and 125 ms at 1M;
# - a scan of a fixed sample of the table's blocks (spread over the whole table), stopping at the cap: about
#   0.5 us per row read, so cheap only for a word that matches a large share of the rows.
# The crossover is near the share f = sqrt(SEARCH_CANDIDATES / rows) (4.5% at 100k actions, 1.4% at 1M), where
# either way costs about sqrt(SEARCH_CANDIDATES * rows) rows. A probe of a smaller sample (~_PROBE_HITS / f rows)
# picks the scan when it finds _PROBE_HITS matches, the index otherwise, or when the scan (of ~1.5x the rows
# it should need) stops short of the cap. The two ways can pick different candidates for a word; which one runs
# depends only on the table (rows and size estimate), so the pages of one query agree while it is unchanged.
# Measured: bench/RESULTS.md, "Search latency (session 2)".
SEARCH_CANDIDATES = 200
_PROBE_HITS = 24
_SCOPE_ROWS = 5000  # a kid or namespace filter with at most this many rows is searched row by row
_NAME_PART_RE = re.compile(r"[a-z0-9_.-]{3,}")  # a stretch of a name (action_registry.document.NAME_RE)


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


_COLUMNS = ("name", "namespace", "latest_version", "description", "kid", "updated_at", "rank", "total")


def _search_sql(*, kid: bool, namespace: bool) -> str:
    """The search statement for one filter combination, prepared once per connection. Every value, the page's
    offset and limit too, arrives through the `query` row: the plan never depends on the values, so PostgreSQL
    settles on the generic plan (a page bound as a parameter made each custom plan look cheaper, and the
    statement was planned anew on every call: ~1 ms)."""
    where = ["a.latest_version_id IS NOT NULL"]
    if kid:
        where.append("a.kid = query.kid")
    if namespace:
        # The byte-wise range reads the namespace from the name's pattern index; the test (in a form no index
        # answers: the trigram index would read every name with the namespace's trigrams) keeps its exact rows.
        where.append("a.name ~>=~ query.ns AND a.name ~<~ query.ns_end"
                     " AND (a.name = query.ns OR a.name LIKE query.ns_like) IS TRUE")
    where_sql = " AND ".join(where)
    filtered = kid or namespace
    # A filter that leaves few rows (a namespace, a small publisher's key): its rows are all read and tested, no
    # sample, no index of words. A larger one: the general way, with the filter tested on each row.
    scope = f"""
        , scope AS MATERIALIZED (
            SELECT a.id FROM registry_action a, query WHERE {where_sql} LIMIT {_SCOPE_ROWS + 1}
        ), scope_words AS (
            SELECT a.id FROM scope s JOIN registry_action a ON a.id = s.id, query
             WHERE (SELECT count(*) FROM scope) <= {_SCOPE_ROWS} AND (a.search_vector @@ query.tsq) IS TRUE
             LIMIT {SEARCH_CANDIDATES}
        ), scope_names AS (
            SELECT a.id FROM scope s JOIN registry_action a ON a.id = s.id, query
             WHERE (SELECT count(*) FROM scope) <= {_SCOPE_ROWS} AND query.pattern IS NOT NULL
               AND strpos(a.name, query.q) > 0
             LIMIT {SEARCH_CANDIDATES}
        )""" if filtered else ""  # noqa: S608 (fixed fragments and integer constants)
    general = f"(SELECT count(*) FROM scope) > {_SCOPE_ROWS}" if filtered else "TRUE"  # noqa: S608

    def branch(name: str, row_match: str, index_match: str, enabled: str) -> str:
        # `(...) IS TRUE` is the same test in a form no index answers: the probe and the scan read the sampled
        # blocks, never the index. SYSTEM sampling with a fixed seed picks the same blocks on every call for a
        # given table size estimate (pg_class.reltuples); the probe's blocks are among the scan's.
        sample = "registry_action a TABLESAMPLE SYSTEM ((SELECT {pct} FROM query)) REPEATABLE (0)"
        return f"""
        , {name}_probe AS MATERIALIZED (
            SELECT count(*) AS hits FROM (
                SELECT 1 FROM {sample.format(pct="probe_pct")}, query
                 WHERE (SELECT {enabled} FROM query) AND {where_sql} AND ({row_match}) IS TRUE
                 LIMIT {_PROBE_HITS}) p
        ), {name}_scan AS MATERIALIZED (
            SELECT a.id FROM {sample.format(pct="scan_pct")}, query
             WHERE (SELECT hits FROM {name}_probe) >= {_PROBE_HITS} AND {where_sql} AND ({row_match}) IS TRUE
             LIMIT {SEARCH_CANDIDATES}
        ), {name}_index AS (
            SELECT a.id FROM registry_action a, query
             WHERE (SELECT count(*) FROM {name}_scan) < {SEARCH_CANDIDATES} AND (SELECT {enabled} FROM query)
               AND {where_sql} AND {index_match}
             LIMIT {SEARCH_CANDIDATES}
        )"""  # noqa: S608 (fixed fragments and integer constants)

    return f"""
        WITH query AS MATERIALIZED (
            SELECT websearch_to_tsquery('english', q) || websearch_to_tsquery('simple', q) AS tsq, q, pattern,
                   kid, ns, ns_end, ns_like, page_offset, page_limit,
                   least(100, 100.0 * {_PROBE_HITS} / (share * n)) AS probe_pct,
                   least(100, 100.0 * 1.5 * {SEARCH_CANDIDATES} / (share * n)) AS scan_pct
              FROM (VALUES (%(q)s::text, %(pattern)s::text, %(kid)s::text, %(ns)s::text, %(ns_end)s::text,
                            %(ns_like)s::text, %(offset)s::bigint, %(limit)s::bigint))
                   AS v(q, pattern, kid, ns, ns_end, ns_like, page_offset, page_limit),
                   (SELECT greatest(reltuples, 1)::float8 AS n
                      FROM pg_class WHERE oid = 'registry_action'::regclass) AS size,
                   LATERAL (SELECT least(0.25, sqrt({SEARCH_CANDIDATES} / n)) AS share) AS crossover
        )
        {scope}
        {branch("words", "a.search_vector @@ query.tsq", "a.search_vector @@ query.tsq", general)}
        {branch("names", "strpos(a.name, query.q) > 0", "a.name LIKE query.pattern",
                f"pattern IS NOT NULL AND {general}")}
        , candidates AS (
            SELECT a.id FROM registry_action a, query WHERE {where_sql} AND a.name = query.q
            UNION SELECT id FROM words_scan UNION SELECT id FROM words_index
            UNION SELECT id FROM names_scan UNION SELECT id FROM names_index
            {"UNION SELECT id FROM scope_words UNION SELECT id FROM scope_names" if filtered else ""}
        ), ranked AS (
            SELECT a.id, a.name, (ts_rank_cd(a.search_vector, query.tsq)
                                  + CASE WHEN a.name = query.q THEN 10 ELSE 0 END
                                  + CASE WHEN strpos(a.name, query.q) > 0 THEN 1 ELSE 0 END) AS rank,
                   count(*) OVER () AS total
              FROM candidates c JOIN registry_action a ON a.id = c.id, query
             ORDER BY rank DESC, a.name ASC
            OFFSET (SELECT page_offset FROM query) LIMIT (SELECT page_limit FROM query)
        )
        -- The page's columns and latest version number only for the page, not for every candidate.
        SELECT a.name, a.namespace, v.version AS latest_version, a.description, a.kid, a.updated_at, r.rank, r.total
          FROM ranked r JOIN registry_action a ON a.id = r.id
          JOIN registry_actionversion v ON v.id = a.latest_version_id
         ORDER BY r.rank DESC, r.name ASC
    """  # noqa: S608 (fixed fragments and integer constants only; every value is a bound parameter)


_PARAMS = ("q", "pattern", "kid", "ns", "ns_end", "ns_like", "offset", "limit")


def _positional(sql: str) -> str:
    """`%(name)s` -> `%s` (PreparedSQL binds by position): each placeholder appears once, in _PARAMS order."""
    if tuple(re.findall(r"%\((\w+)\)s", sql)) != _PARAMS:
        raise ValueError(f"the search statement's placeholders are not {_PARAMS}")
    return re.sub(r"%\(\w+\)s", "%s", sql)


_STATEMENTS = {(k, n): PreparedSQL(Action, lambda k=k, n=n: _positional(_search_sql(kid=k, namespace=n)))
               for k in (False, True) for n in (False, True)}


def _search_postgres(*, q: str, kid: str | None, namespace: str | None, offset: int, limit: int) -> SearchPage:
    """Full text (tsvector, GIN) or partial name (trigram, GIN), ranked: an exact name first, then names that
    contain the query, then by text rank; ties broken by name."""
    # Names are lowercase ASCII (action_registry.document.NAME_RE): a lowercase query matches them as ILIKE would,
    # with LIKE and strpos, which cost a fraction of ILIKE per row.
    lowered = q.lower()
    ns = namespace.rstrip(".") if namespace else None
    # Partial names only for what can be part of a name, and of three characters or more: a trigram index cannot
    # narrow a shorter pattern (it would read every entry), and one with a space or punctuation matches no name
    # but would still read the posting lists of all its trigrams. Words still match whole name tokens (`ls` in
    # `gorilla_file_system.ls`) through the full-text branch.
    pattern = "%" + _like_escape(lowered) + "%" if _NAME_PART_RE.fullmatch(lowered) else None
    params = {"q": lowered, "pattern": pattern, "kid": kid or None, "ns": ns,
              # Names are ASCII: "ns/" is the first string after every "ns." one, byte-wise.
              "ns_end": ns + "/" if ns is not None else None,
              "ns_like": _like_escape(ns) + ".%" if ns is not None else None, "offset": offset, "limit": limit}
    rows = _STATEMENTS[(bool(kid), ns is not None)](*(params[name] for name in _PARAMS))
    if rows:
        total = rows[0][-1]
    elif offset:
        total = _search_postgres(q=q, kid=kid, namespace=namespace, offset=0, limit=1).total
    else:
        total = 0
    items = [_item(dict(zip(_COLUMNS, row, strict=True))) for row in rows]
    return SearchPage(items=items, total=total, offset=offset, limit=limit)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
