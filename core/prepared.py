"""Querysets compiled once per process: hot read paths bind new values and skip the ORM's SQL compiler.

Compiling a queryset with four ``select_related`` joins costs the ORM about ten times what PostgreSQL needs to
run it, and planning it costs PostgreSQL more than running it; on the fetch path those two were most of the
request. Here the SQL is compiled once per process and the statement is prepared once per connection. The queryset stays an ordinary ORM expression (so a new
relation added to it is picked up), and rows still become model instances through Django's own populators
and field converters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connections, router
from django.db.models import QuerySet
from django.db.models.query import get_related_populators

_TUPLES_OK = 2  # psycopg.pq.ExecStatus.TUPLES_OK: the statement returned rows (reading .description builds columns)


@lru_cache(maxsize=1)
def _preparing_cursor_class():
    import psycopg

    class PreparingCursor(psycopg.Cursor):
        """Prepares every statement it runs."""

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)

    return PreparingCursor


class _Sentinel(str):
    """A value no caller would pass, to find where each argument lands among the compiled parameters."""

    __slots__ = ()


class PreparedQuery:
    """``PreparedQuery(Model, lambda name, version: Model.objects...filter(name=name, version=version))`` then
    ``query(name=..., version=...)`` -> list of instances. String arguments only; each must reach the SQL as
    a plain bound parameter (an exact filter), which the first compilation checks. Annotations are set on the
    instances as attributes, as the ORM does."""

    def __init__(self, model: type, build: Callable[..., QuerySet]):
        self.model = model
        self._build = build
        self._lock = threading.Lock()
        self._compiled: dict[str, tuple] = {}  # per database alias

    def _compile(self, alias: str, names: tuple[str, ...]) -> tuple:
        sentinels = {n: _Sentinel(f"\x00prepared:{n}\x00") for n in names}
        qs = self._build(**sentinels).using(alias)
        compiler = qs.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        positions = {}
        for n, s in sentinels.items():
            where = [i for i, p in enumerate(params) if p is s or p == s]
            if len(where) != 1:
                raise ValueError(f"argument {n!r} must appear exactly once as a bound parameter")
            positions[n] = where[0]
        klass_info, select = compiler.klass_info, compiler.select
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        init_list = [f[0].target.attname for f in select[start:end]]
        populators = get_related_populators(klass_info, select, alias)
        # What results_iter would work out again on every call (a hundred-odd converter lookups for a
        # seven-model join, a fifth of a fetch's CPU); None where it has to run as is (composite keys).
        columns = [c[0] for c in select[0:compiler.col_count]]
        converters = None if compiler.has_composite_fields(columns) else compiler.get_converters(columns)
        annotations = list(compiler.annotation_col_map.items())
        return (compiler, sql, list(params), positions, klass_info["model"], init_list, start, end, populators,
                converters, annotations)

    def __call__(self, **values: Any) -> list:
        alias = router.db_for_read(self.model) or "default"
        compiled = self._compiled.get(alias)
        if compiled is None or set(compiled[3]) != set(values):
            with self._lock:
                compiled = self._compile(alias, tuple(sorted(values)))
                self._compiled[alias] = compiled
        compiler, sql, params, positions, model, init_list, start, end, populators, converters, annotations = compiled
        bound = list(params)
        for n, i in positions.items():
            bound[i] = values[n]
        rows = _rows(connections[alias], sql, bound)
        if converters is None:
            rows = compiler.results_iter(results=[rows])
        elif converters:
            rows = compiler.apply_converters(rows, converters)
        out = []
        for row in rows:
            obj = model.from_db(alias, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for name, index in annotations:
                setattr(obj, name, row[index])
            out.append(obj)
        return out


class PreparedSQL:
    """``PreparedSQL(Model, build)`` then ``query(*params)`` -> rows as tuples: a fixed statement (``build()``
    returns its text, built on first use so it can read model metadata) prepared once per connection, for hot
    reads that need a few columns rather than model instances. ``Model`` picks the database, as for a read of
    that model."""

    def __init__(self, model: type, build: Callable[[], str]):
        self.model = model
        self._build = build
        self._sql: str | None = None

    def __call__(self, *params: Any) -> list[tuple]:
        if self._sql is None:
            self._sql = self._build()
        return _rows(connections[router.db_for_read(self.model) or "default"], self._sql, params)


def sql_rows(sql: str, params: list[Any] | tuple = ()) -> list[tuple]:
    """One statement on the default connection, prepared there, e.g. the publish transaction's raw inserts
    (they cost the ORM more to compile than PostgreSQL to run; constraints and triggers apply as for any
    insert): its rows, [] when it returns none."""
    return _rows(connections["default"], sql, params)


def _raw_cursor(conn):
    """One cursor per PostgreSQL connection that binds on the server and prepares what it runs, kept for the
    connection's life: a seven-table join costs PostgreSQL far more to plan than to run (Django's client-side
    binding re-plans it on every request), and a kept cursor sets up its type loaders once, not per statement."""
    raw = getattr(conn, "_prepared_cursor", None)
    if raw is None or raw.connection is not conn.connection or raw.closed:
        conn.ensure_connection()
        conn.validate_thread_sharing()
        if conn.connection.prepare_threshold is None:
            # Django turns preparation off (None); a number turns it back on for cursors that ask for it. Django's
            # own client-side binding cursors never prepare, and nothing else here reaches this threshold.
            conn.connection.prepare_threshold = 2**31 - 1
        raw = conn._prepared_cursor = _preparing_cursor_class()(conn.connection)
    return raw


def _rows(conn, sql: str, params) -> list[tuple]:
    if conn.vendor != "postgresql" or not getattr(settings, "DB_PREPARED_STATEMENTS", True):
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []
    raw = _raw_cursor(conn)  # never closed here: the next statement on this connection reuses it
    if not conn.queries_logged and not conn.execute_wrappers:
        # What Django's cursor wrapper does for a statement, without building a wrapper (and a wrapped
        # fetchall) each time: refuse inside a broken transaction, translate driver errors (37 -> 31 us).
        conn.validate_no_broken_transaction()
        with conn.wrap_database_errors:
            raw.execute(sql, params)
            result = raw.pgresult
            return raw.fetchall() if result is not None and result.status == _TUPLES_OK else []
    cursor = conn.make_debug_cursor(raw) if conn.queries_logged else conn.make_cursor(raw)
    cursor.execute(sql, params)
    result = raw.pgresult
    rows = cursor.fetchall() if result is not None and result.status == _TUPLES_OK else []
    if conn.queries_logged and conn.queries_log and conn.queries_log[-1].get("sql") is None:
        # psycopg keeps no query text for a prepared execution; tests that read connection.queries need it.
        conn.queries_log[-1]["sql"] = conn.ops.compose_sql(sql, params)
    return rows
