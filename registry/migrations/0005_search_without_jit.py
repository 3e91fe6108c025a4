"""PostgreSQL's JIT off for this database: every query here is a short read or write (OLTP), and JIT compiles a
plan whose estimated cost passes jit_above_cost (100,000) before running it. The search statement's estimate
passes it at 1M actions (its sampled scans are costed as if they read 10% of the table, which they never do):
JIT then took 375 ms of a 5 ms query. New connections take the setting; it needs the database's owner (a
warning, not a failure, otherwise: set `jit = off` in the server's configuration or the role instead)."""

from django.db import migrations

FORWARD = """
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'jit stays on for this database (not its owner): set jit = off for the role or the server';
END
$$
"""
BACKWARD = """
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I RESET jit', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    NULL;
END
$$
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, None)  # no placeholders: `%I` is format()'s
    return run


class Migration(migrations.Migration):
    dependencies = [("registry", "0004_agents_capabilities")]

    operations = [migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD))]
