"""``registry_publish``: the publish transaction as one PostgreSQL statement.

What ``registry.services._store_sql`` sent as seven round trips (BEGIN, lock the action, insert it if new, store
blob + version + latest, log head + event, leaf, COMMIT) is one function call, in autocommit one transaction:
lock (or create) the action row, return the existing version if there is one, store the blob and the version,
move ``latest`` when the new version is newer (``registry_semver_newer``, the SemVer 2.0 precedence that
``registry.services._is_newer`` applies in Python, checked against it in tests/registry), then append the
transparency-log entry and the outbox event (``core_log_append``, core/migrations/0003). Each statement inside
sees what committed before it started, so the version read after the action's lock is the latest.
"""

from django.db import migrations

SEMVER_NEWER = r"""
CREATE OR REPLACE FUNCTION registry_semver_newer(
    c_major bigint, c_minor bigint, c_patch bigint, c_pre text,
    l_major bigint, l_minor bigint, l_patch bigint, l_pre text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT AS $fn$
DECLARE
    a text[];
    b text[];
    x text;
    y text;
    x_num boolean;
    y_num boolean;
BEGIN
    -- Latest = highest release; a prerelease is latest only while the action has no release.
    IF c_pre <> '' AND l_pre = '' THEN RETURN false; END IF;
    IF l_pre <> '' AND c_pre = '' THEN RETURN true; END IF;
    IF (c_major, c_minor, c_patch) <> (l_major, l_minor, l_patch) THEN
        RETURN (c_major, c_minor, c_patch) > (l_major, l_minor, l_patch);
    END IF;
    IF c_pre = '' THEN RETURN false; END IF;
    a := string_to_array(c_pre, '.');
    b := string_to_array(l_pre, '.');
    FOR i IN 1 .. least(cardinality(a), cardinality(b)) LOOP
        x := a[i];
        y := b[i];
        CONTINUE WHEN x = y;
        x_num := x ~ '^[0-9]+$';
        y_num := y ~ '^[0-9]+$';
        IF x_num AND y_num THEN
            CONTINUE WHEN x::numeric = y::numeric;
            RETURN x::numeric > y::numeric;
        END IF;
        IF x_num <> y_num THEN
            RETURN y_num;  -- numeric identifiers rank below alphanumeric ones
        END IF;
        RETURN x COLLATE "C" > y COLLATE "C";
    END LOOP;
    RETURN cardinality(a) > cardinality(b);
END
$fn$
"""

PUBLISH = r"""
CREATE OR REPLACE FUNCTION registry_publish(
    p_name text, p_namespace text, p_description text, p_kid text,
    p_version text, p_major bigint, p_minor bigint, p_patch bigint, p_prerelease text,
    p_content_hash text, p_canonical bytea, p_sig_kid text, p_sig_alg text, p_sig text,
    p_signing_key_id bigint, p_published_at timestamptz, p_published_by_id bigint,
    -- core_log_append's arguments, in its order (core.transparency.log_append_params)
    p_lock_key bigint, p_kind text, p_log_namespace text, p_subject text, p_prefix bytea, p_suffix bytea,
    p_event_kind text, p_event_payload jsonb, p_request_id text,
    OUT r_action_id bigint, OUT r_version_id bigint, OUT r_existing_id bigint, OUT r_latest_id bigint,
    OUT r_log core_log_appended)  -- NULL when the version existed
LANGUAGE plpgsql AS $fn$
DECLARE
    latest_id bigint;
    cur registry_actionversion%ROWTYPE;
BEGIN
    SELECT a.id, a.latest_version_id INTO r_action_id, latest_id
      FROM registry_action a WHERE a.name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO registry_action (name, namespace, description, kid, created_at, updated_at)
        VALUES (p_name, p_namespace, p_description, p_kid, p_published_at, p_published_at)
        ON CONFLICT (name) DO NOTHING
        RETURNING id INTO r_action_id;
        IF r_action_id IS NULL THEN  -- a concurrent publish created it first: wait for its lock
            SELECT a.id, a.latest_version_id INTO r_action_id, latest_id
              FROM registry_action a WHERE a.name = p_name FOR UPDATE;
        END IF;
    END IF;
    SELECT v.id INTO r_existing_id FROM registry_actionversion v
     WHERE v.action_id = r_action_id AND v.version = p_version;
    IF FOUND THEN
        RETURN;  -- published before (the caller compares the bytes)
    END IF;
    INSERT INTO registry_blob (content_hash, canonical, size, created_at)
    VALUES (p_content_hash, p_canonical, length(p_canonical), p_published_at)
    ON CONFLICT (content_hash) DO NOTHING;
    INSERT INTO registry_actionversion (action_id, version, major, minor, patch, prerelease, content_hash, kid, alg,
                                        sig, signing_key_id, published_at, published_by_id)
    VALUES (r_action_id, p_version, p_major, p_minor, p_patch, p_prerelease, p_content_hash, p_sig_kid, p_sig_alg,
            p_sig, p_signing_key_id, p_published_at, p_published_by_id)
    RETURNING id INTO r_version_id;
    r_latest_id := latest_id;
    IF latest_id IS NOT NULL THEN
        SELECT * INTO cur FROM registry_actionversion v WHERE v.id = latest_id;
    END IF;
    IF latest_id IS NULL OR registry_semver_newer(p_major, p_minor, p_patch, p_prerelease,
                                                  cur.major, cur.minor, cur.patch, cur.prerelease) THEN
        UPDATE registry_action SET latest_version_id = r_version_id, description = p_description, kid = p_kid,
                                   updated_at = p_published_at
         WHERE id = r_action_id;
        r_latest_id := r_version_id;
    END IF;
    r_log := core_log_append(p_lock_key, p_kind, p_log_namespace, p_subject, p_prefix, p_suffix,
                             p_event_kind, p_event_payload, p_request_id);
END
$fn$
"""

DROP = [
    "DROP FUNCTION IF EXISTS registry_publish(text, text, text, text, text, bigint, bigint, bigint, text, text, "
    "bytea, text, text, text, bigint, timestamptz, bigint, bigint, text, text, text, bytea, bytea, text, jsonb, text)",
    "DROP FUNCTION IF EXISTS registry_semver_newer(bigint, bigint, bigint, text, bigint, bigint, bigint, text)",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql, params=None)  # no parameters: the function bodies hold literal %
    return run


class Migration(migrations.Migration):
    dependencies = [("registry", "0006_action_updates_without_index_work"), ("core", "0003_log_append_function")]
    operations = [migrations.RunPython(_run({"postgresql": [SEMVER_NEWER, PUBLISH]}), _run({"postgresql": DROP}))]
