"""The two GIN indexes of search keep a short pending list (64 kB instead of the server's 4 MB default).

GIN's fast update appends new entries to a pending list that every search reads in full, until a vacuum or an
insert past ``gin_pending_list_limit`` moves it into the index. With the 4 MB default, and autovacuum waiting for
20% of the table in new rows, a registry taking publishes steadily had searches read hundreds of pending pages:
on the bench's 10k database after ~20k publishes, a query that matches nothing took 4.5 ms instead of 0.6, the
worst bench query 8.3 ms instead of 4.8 (bench/RESULTS.md, session 5). At 64 kB an insert that overflows the list
moves a few pages at a time; measured publish cost: none (PostgreSQL CPU per publish 1.27-1.31 ms against
1.32-1.60 with the default, ``bench/publish_profile.py --count 1500``); ``fastupdate = off`` cost 0.3 ms more.
"""

from django.db import migrations

INDEXES = ("registry_action_search_gin", "registry_action_name_trgm")


def _run(setting: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for index in INDEXES:
            schema_editor.execute(f"ALTER INDEX {index} {setting}")
    return run


class Migration(migrations.Migration):
    dependencies = [("registry", "0008_publish_rechecks_key_and_trust")]
    operations = [migrations.RunPython(_run("SET (gin_pending_list_limit = 64)"),
                                       _run("RESET (gin_pending_list_limit)"))]
