"""Make the publish path's update of an action row (``latest`` moves to the new version) cheap on PostgreSQL.

Measured on 3,000 rows of the 10k bench database, that UPDATE cost 66 us a row and 15 us without what this
removes: the index on ``latest_version_id`` (nothing reads actions by their latest version; with no index on a
changed column the update can stay on its heap page, touching no index), and the search vector as a generated
column, which PostgreSQL recomputes (three ``to_tsvector`` calls) on every update of the row whatever changed.
The vector is now kept by a trigger that computes the same expression on insert and only when the name or the
description changes. ``fillfactor = 90`` leaves room on each page for those heap-only updates.
"""

import django.db.models.deletion
from django.db import migrations, models

VECTOR = """setweight(to_tsvector('simple', translate({row}name, '._-', '   ')), 'A')
         || setweight(to_tsvector('english', coalesce({row}description, '')), 'B')
         || setweight(to_tsvector('simple', coalesce({row}description, '')), 'C')"""

PG_FORWARD = [
    "ALTER TABLE registry_action DROP COLUMN search_vector",  # drops registry_action_search_gin with it
    "ALTER TABLE registry_action ADD COLUMN search_vector tsvector",
    f"""CREATE FUNCTION registry_action_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          NEW.search_vector := {VECTOR.format(row="NEW.")};
          RETURN NEW;
        END $$""",
    """CREATE TRIGGER registry_action_search_insert BEFORE INSERT ON registry_action
       FOR EACH ROW EXECUTE FUNCTION registry_action_search_vector()""",
    # Also when something writes the vector itself: it is always the expression's value.
    """CREATE TRIGGER registry_action_search_update BEFORE UPDATE ON registry_action FOR EACH ROW
       WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.description IS DISTINCT FROM NEW.description
             OR OLD.search_vector IS DISTINCT FROM NEW.search_vector)
       EXECUTE FUNCTION registry_action_search_vector()""",
    f"UPDATE registry_action SET search_vector = {VECTOR.format(row='')}",  # noqa: S608 (a constant)
    "CREATE INDEX registry_action_search_gin ON registry_action USING gin (search_vector)",
    "ALTER TABLE registry_action SET (fillfactor = 90)",
]
PG_BACKWARD = [
    "ALTER TABLE registry_action RESET (fillfactor)",
    "DROP TRIGGER IF EXISTS registry_action_search_update ON registry_action",
    "DROP TRIGGER IF EXISTS registry_action_search_insert ON registry_action",
    "DROP FUNCTION IF EXISTS registry_action_search_vector()",
    "ALTER TABLE registry_action DROP COLUMN search_vector",
    f"ALTER TABLE registry_action ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({VECTOR.format(row='')}) "
    "STORED",
    "CREATE INDEX registry_action_search_gin ON registry_action USING gin (search_vector)",
]


def _on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql, None)
    return run


class Migration(migrations.Migration):

    dependencies = [
        ("registry", "0005_search_without_jit"),
    ]

    operations = [
        migrations.AlterField(
            model_name="action",
            name="latest_version",
            field=models.ForeignKey(blank=True, db_index=False, null=True,
                                    on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                                    to="registry.actionversion"),
        ),
        migrations.RunPython(_on_postgresql(PG_FORWARD), _on_postgresql(PG_BACKWARD)),
    ]
