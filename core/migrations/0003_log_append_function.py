"""``core_log_append``: one transparency-log append as a PostgreSQL function, so an append is one statement.

It does what ``core.transparency.log_append`` did in four round trips (lock, outbox event + log head, leaf +
nodes): takes the log lock, writes the change's outbox event (its id comes from the sequence under the lock, so
event ids become visible in id order), reads the complete subtrees of the current tree, stamps the entry
(``integrated_at``, after the lock, so stamps follow the log's order), hashes it (RFC 6962: SHA-256 of 0x00 ||
data), computes the subtrees it completes and the new root, and inserts the leaf and those nodes. The caller
passes the entry's RFC 8785 bytes in two halves around the ``integrated_at`` string, which only the function
knows. ``core.transparency`` keeps the same append in Python for SQLite and checks the two agree (tests/core).
"""

from django.db import migrations

# What an append returns: the event's id and time, the leaf, and the complete subtrees before (old_*) and those
# the leaf completed (new_*), from which core.transparency.log_appended rebuilds what a receipt needs.
APPENDED = """
CREATE TYPE core_log_appended AS (
    r_event_id bigint, r_event_created_at timestamptz, r_index bigint, r_integrated_at timestamptz,
    r_data bytea, r_leaf_hash bytea, r_root_hash bytea, r_old_levels smallint[], r_old_hashes bytea[],
    r_new_levels smallint[], r_new_indexes bigint[], r_new_hashes bytea[])
"""

LOG_APPEND = r"""
CREATE OR REPLACE FUNCTION core_log_append(
    p_lock_key bigint, p_kind text, p_namespace text, p_subject text, p_prefix bytea, p_suffix bytea,
    p_event_kind text, p_event_payload jsonb, p_request_id text) RETURNS core_log_appended
LANGUAGE plpgsql AS $fn$
DECLARE
    r_event_id bigint;
    r_event_created_at timestamptz;
    r_index bigint;
    r_integrated_at timestamptz;
    r_data bytea;
    r_leaf_hash bytea;
    r_root_hash bytea;
    r_old_levels smallint[];
    r_old_hashes bytea[];
    r_new_levels smallint[];
    r_new_indexes bigint[];
    r_new_hashes bytea[];
    n bigint;
    k integer;
    sub bytea[] := array_fill(NULL::bytea, ARRAY[64]);
    cur bytea;
    ts timestamptz;
    utc timestamp;
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock_key);
    ts := clock_timestamp();
    IF p_event_kind IS NOT NULL THEN
        INSERT INTO core_event (kind, namespace, subject, payload, request_id, created_at)
        VALUES (p_event_kind, p_namespace, p_subject, p_event_payload, p_request_id, ts)
        RETURNING id INTO r_event_id;
        r_event_created_at := ts;
    END IF;
    SELECT COALESCE(MAX(leaf."index") + 1, 0) INTO n FROM core_logleaf leaf;
    -- The complete subtrees of the current tree: one per 1-bit of its size, at (k, (n >> k) - 1).
    SELECT array_agg(node."level" ORDER BY node."level"), array_agg(node."hash" ORDER BY node."level")
      INTO r_old_levels, r_old_hashes
      FROM generate_series(0, 62) AS g(lvl)
      JOIN core_lognode node ON node."level" = g.lvl AND node."index" = (n >> g.lvl) - 1
     WHERE (n >> g.lvl) & 1 = 1;
    FOR k IN 1 .. coalesce(array_length(r_old_levels, 1), 0) LOOP
        sub[r_old_levels[k] + 1] := r_old_hashes[k];
    END LOOP;
    -- integrated_at as Python's isoformat writes it in UTC: microseconds only when not zero, then Z.
    utc := ts AT TIME ZONE 'UTC';
    r_data := p_prefix || convert_to(to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS')
              || CASE WHEN to_char(utc, 'US') = '000000' THEN '' ELSE '.' || to_char(utc, 'US') END || 'Z', 'UTF8')
              || p_suffix;
    r_leaf_hash := sha256('\x00'::bytea || r_data);
    -- The new leaf completes one subtree per trailing 1-bit of its index; each needs its left sibling.
    cur := r_leaf_hash;
    r_new_levels := ARRAY[0]::smallint[];
    r_new_indexes := ARRAY[n];
    r_new_hashes := ARRAY[cur];
    k := 0;
    WHILE (n >> k) & 1 = 1 LOOP
        IF sub[k + 1] IS NULL THEN
            RAISE EXCEPTION 'transparency log: complete subtree (%, %) is missing', k, (n >> k) - 1;
        END IF;
        cur := sha256('\x01'::bytea || sub[k + 1] || cur);
        k := k + 1;
        r_new_levels := r_new_levels || k::smallint;
        r_new_indexes := r_new_indexes || (n >> k);
        r_new_hashes := r_new_hashes || cur;
    END LOOP;
    -- The root of n + 1 leaves: the subtree just completed, then each higher complete subtree on its left.
    r_root_hash := cur;
    k := k + 1;
    WHILE k < 63 AND (n >> k) > 0 LOOP
        IF (n >> k) & 1 = 1 THEN
            IF sub[k + 1] IS NULL THEN
                RAISE EXCEPTION 'transparency log: complete subtree (%, %) is missing', k, (n >> k) - 1;
            END IF;
            r_root_hash := sha256('\x01'::bytea || sub[k + 1] || r_root_hash);
        END IF;
        k := k + 1;
    END LOOP;
    r_index := n;
    r_integrated_at := ts;
    INSERT INTO core_logleaf ("index", kind, namespace, subject, data, leaf_hash, root_hash, integrated_at)
    VALUES (n, p_kind, p_namespace, p_subject, r_data, r_leaf_hash, r_root_hash, ts);
    INSERT INTO core_lognode ("level", "index", "hash")
    SELECT * FROM unnest(r_new_levels, r_new_indexes, r_new_hashes);
    RETURN ROW(r_event_id, r_event_created_at, r_index, r_integrated_at, r_data, r_leaf_hash, r_root_hash,
               r_old_levels, r_old_hashes, r_new_levels, r_new_indexes, r_new_hashes)::core_log_appended;
END
$fn$
"""

DROP = ["DROP FUNCTION IF EXISTS core_log_append(bigint, text, text, text, bytea, bytea, text, jsonb, text)",
        "DROP TYPE IF EXISTS core_log_appended"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql, params=None)  # no parameters: the function bodies hold literal %
    return run


class Migration(migrations.Migration):
    dependencies = [("core", "0002_transparency_log")]
    operations = [migrations.RunPython(_run({"postgresql": [APPENDED, LOG_APPEND]}), _run({"postgresql": DROP}))]
