"""Full-text and trigram search indexes (PostgreSQL), and triggers that make published bytes immutable."""

from django.db import migrations

PG_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """ALTER TABLE registry_action ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
           setweight(to_tsvector('simple', translate(name, '._-', '   ')), 'A')
        || setweight(to_tsvector('english', coalesce(description, '')), 'B')
        || setweight(to_tsvector('simple', coalesce(description, '')), 'C')
       ) STORED""",
    "CREATE INDEX registry_action_search_gin ON registry_action USING gin (search_vector)",
    "CREATE INDEX registry_action_name_trgm ON registry_action USING gin (name gin_trgm_ops)",
    """CREATE FUNCTION registry_refuse_blob_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'DELETE' THEN
           RAISE EXCEPTION 'registry_blob rows are immutable: DELETE refused' USING ERRCODE = 'raise_exception';
         END IF;
         IF NEW.content_hash IS DISTINCT FROM OLD.content_hash OR NEW.canonical IS DISTINCT FROM OLD.canonical
            OR NEW.size IS DISTINCT FROM OLD.size THEN
           RAISE EXCEPTION 'registry_blob rows are immutable: UPDATE refused' USING ERRCODE = 'raise_exception';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER registry_blob_immutable BEFORE UPDATE OR DELETE ON registry_blob
       FOR EACH ROW EXECUTE FUNCTION registry_refuse_blob_change()""",
    """CREATE FUNCTION registry_refuse_version_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'DELETE' THEN
           RAISE EXCEPTION 'published action versions are immutable: DELETE refused'
             USING ERRCODE = 'raise_exception';
         END IF;
         IF NEW.action_id IS DISTINCT FROM OLD.action_id OR NEW.version IS DISTINCT FROM OLD.version
            OR NEW.content_hash IS DISTINCT FROM OLD.content_hash OR NEW.kid IS DISTINCT FROM OLD.kid
            OR NEW.alg IS DISTINCT FROM OLD.alg OR NEW.sig IS DISTINCT FROM OLD.sig
            OR NEW.signing_key_id IS DISTINCT FROM OLD.signing_key_id
            OR NEW.published_at IS DISTINCT FROM OLD.published_at THEN
           RAISE EXCEPTION 'published action versions are immutable: UPDATE of signed content refused'
             USING ERRCODE = 'raise_exception';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER registry_actionversion_immutable BEFORE UPDATE OR DELETE ON registry_actionversion
       FOR EACH ROW EXECUTE FUNCTION registry_refuse_version_change()""",
]
PG_BACKWARD = [
    "DROP TRIGGER IF EXISTS registry_actionversion_immutable ON registry_actionversion",
    "DROP FUNCTION IF EXISTS registry_refuse_version_change()",
    "DROP TRIGGER IF EXISTS registry_blob_immutable ON registry_blob",
    "DROP FUNCTION IF EXISTS registry_refuse_blob_change()",
    "DROP INDEX IF EXISTS registry_action_name_trgm",
    "DROP INDEX IF EXISTS registry_action_search_gin",
    "ALTER TABLE registry_action DROP COLUMN IF EXISTS search_vector",
]
SQLITE_FORWARD = [
    """CREATE TRIGGER registry_blob_no_update BEFORE UPDATE ON registry_blob
       WHEN NEW.content_hash IS NOT OLD.content_hash OR NEW.canonical IS NOT OLD.canonical
       BEGIN SELECT RAISE(ABORT, 'registry_blob rows are immutable: UPDATE refused'); END""",
    """CREATE TRIGGER registry_blob_no_delete BEFORE DELETE ON registry_blob
       BEGIN SELECT RAISE(ABORT, 'registry_blob rows are immutable: DELETE refused'); END""",
    """CREATE TRIGGER registry_actionversion_no_update BEFORE UPDATE ON registry_actionversion
       WHEN NEW.action_id IS NOT OLD.action_id OR NEW.version IS NOT OLD.version
         OR NEW.content_hash IS NOT OLD.content_hash OR NEW.kid IS NOT OLD.kid OR NEW.alg IS NOT OLD.alg
         OR NEW.sig IS NOT OLD.sig OR NEW.signing_key_id IS NOT OLD.signing_key_id
         OR NEW.published_at IS NOT OLD.published_at
       BEGIN SELECT RAISE(ABORT, 'published action versions are immutable: UPDATE refused'); END""",
    """CREATE TRIGGER registry_actionversion_no_delete BEFORE DELETE ON registry_actionversion
       BEGIN SELECT RAISE(ABORT, 'published action versions are immutable: DELETE refused'); END""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS registry_blob_no_update",
    "DROP TRIGGER IF EXISTS registry_blob_no_delete",
    "DROP TRIGGER IF EXISTS registry_actionversion_no_update",
    "DROP TRIGGER IF EXISTS registry_actionversion_no_delete",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)
    return run


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    operations = [
        migrations.RunPython(_run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
                             _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD})),
    ]
