"""``registry_publish`` re-checks what the request decided on, inside the publish transaction.

The request authenticated its API key and checked the signing key's chain against a trust state it read before
the transaction (the key row may even come from the process's one-second cache, ``governance.auth``). The
function now takes the key's digest and namespaces and that trust state's (version, changed_at), and refuses
(SQLSTATE AR001: the key changed or was revoked; AR002: the trust state moved) before it writes anything, so a
publish never commits against a key or a trust state that is no longer current when it starts writing;
``registry.services`` then reads both again and checks the publish once more.
"""

import importlib

from django.db import migrations

PUBLISH = r"""
CREATE OR REPLACE FUNCTION registry_publish(
    p_name text, p_namespace text, p_description text, p_kid text,
    p_version text, p_major bigint, p_minor bigint, p_patch bigint, p_prerelease text,
    p_content_hash text, p_canonical bytea, p_sig_kid text, p_sig_alg text, p_sig text,
    p_signing_key_id bigint, p_published_at timestamptz, p_published_by_id bigint,
    -- core_log_append's arguments, in its order (core.transparency.log_append_params)
    p_lock_key bigint, p_kind text, p_log_namespace text, p_subject text, p_prefix bytea, p_suffix bytea,
    p_event_kind text, p_event_payload jsonb, p_request_id text,
    -- what the request decided on: the API key as it read it, and the trust state its checks ran against
    p_key_digest text, p_key_namespaces jsonb, p_trust_version bigint, p_trust_changed_at timestamptz,
    OUT r_action_id bigint, OUT r_version_id bigint, OUT r_existing_id bigint, OUT r_latest_id bigint,
    OUT r_log core_log_appended)  -- NULL when the version existed
LANGUAGE plpgsql AS $fn$
DECLARE
    latest_id bigint;
    cur registry_actionversion%ROWTYPE;
    t_version bigint;
    t_changed_at timestamptz;
BEGIN
    IF p_published_by_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM governance_apikey k
         WHERE k.id = p_published_by_id AND k.is_active AND k.digest = p_key_digest
           AND k.namespaces = p_key_namespaces) THEN
        RAISE EXCEPTION 'the API key changed since the request read it' USING ERRCODE = 'AR001';
    END IF;
    IF p_trust_version IS NOT NULL THEN
        SELECT t.version, t.changed_at INTO t_version, t_changed_at FROM governance_truststate t WHERE t.id = 1;
        IF NOT FOUND THEN
            t_version := 0;
        END IF;
        IF t_version <> p_trust_version OR t_changed_at IS DISTINCT FROM p_trust_changed_at THEN
            RAISE EXCEPTION 'the trust state changed since the request read it' USING ERRCODE = 'AR002';
        END IF;
    END IF;
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

OLD_SIGNATURE = ("text, text, text, text, text, bigint, bigint, bigint, text, text, bytea, text, text, text, bigint, "
                 "timestamptz, bigint, bigint, text, text, text, bytea, bytea, text, jsonb, text")
FORWARD = [f"DROP FUNCTION IF EXISTS registry_publish({OLD_SIGNATURE})", PUBLISH]


def _backward():
    previous = importlib.import_module("registry.migrations.0007_publish_function")
    return [f"DROP FUNCTION IF EXISTS registry_publish({OLD_SIGNATURE}, text, jsonb, bigint, timestamptz)",
            previous.PUBLISH]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements() if callable(statements) else statements:
            schema_editor.execute(sql, params=None)  # no parameters: the function body holds literal %
    return run


class Migration(migrations.Migration):
    dependencies = [("registry", "0007_publish_function"), ("governance", "0006_ring_membership")]
    operations = [migrations.RunPython(_run(FORWARD), _run(_backward))]
