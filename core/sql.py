"""Raw statements for hot write paths (publish, log append): prepared once per connection, logged like the ORM's.

The publish transaction's inserts cost the ORM more to compile than PostgreSQL to run; these run fixed SQL text
through the same connection (its transaction, constraints and triggers apply as for any insert)."""

from __future__ import annotations

from typing import Any

from django.db import connection

from core.prepared import _cursor  # the server-binding cursor of core.prepared's hot reads


def sql_rows(sql: str, params: list[Any] | tuple = ()) -> list[tuple]:
    """Run one statement on the default connection; its rows ([] when it returns none)."""
    with _cursor(connection) as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall() if cursor.description is not None else []
    if connection.queries_logged and connection.queries_log and connection.queries_log[-1].get("sql") is None:
        # psycopg keeps no query text for a prepared execution; tests that read connection.queries need it.
        connection.queries_log[-1]["sql"] = connection.ops.compose_sql(sql, params)
    return rows
