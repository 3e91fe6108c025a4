"""Seed a benchmark database with N signed actions (real BFCL tool schemas) by bulk COPY, and make envelopes."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BENCH_KID = "bench-root-1"

_worker_key = None


def _init_worker(pem: bytes) -> None:
    global _worker_key
    from action_registry import crypto

    _worker_key = crypto.load_private_key(pem)


def _sign_one(doc: dict) -> tuple[str, str, bytes, str, str]:
    """(name, version, canonical bytes, content hash, signature) of one document."""
    from action_registry import crypto
    from action_registry.canonical import canonical_and_hash

    canonical, digest = canonical_and_hash(doc)
    return doc["name"], doc["version"], canonical, digest, crypto.sign(_worker_key, canonical)


def _envelope(doc: dict) -> str:
    from action_registry.document import sign_document

    return json.dumps(sign_document(doc, _worker_key, BENCH_KID), separators=(",", ":"))


def base_documents() -> list[dict]:
    """The BFCL corpus as action documents (1,389 of them), via the demo converter."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from registry.demo import bfcl_documents

    return list(bfcl_documents())


def corpus(n: int, docs: list[dict], prefix: str = "") -> list[dict]:
    """Documents for ``n`` actions: copy 0 is the corpus as is, copy k renames ``ns.fn`` to ``<prefix>org<k>.ns.fn``
    (another publisher's fork). Actions keep their several versions; descriptions stay real, so common words
    match as many rows as they would in the wild."""
    out: list[dict] = []
    names: set[str] = set()
    k = 0
    while True:
        for doc in docs:
            name = doc["name"] if k == 0 and not prefix else f"{prefix}org{k}.{doc['name']}"
            if name not in names:
                if len(names) >= n:
                    return out
                names.add(name)
            out.append({**doc, "name": name})
        k += 1


def sign_all(docs: list[dict], pem: bytes, fn=_sign_one, processes: int | None = None) -> list:
    with multiprocessing.get_context("fork").Pool(processes or os.cpu_count() or 2, _init_worker, (pem,)) as pool:
        return pool.map(fn, docs, chunksize=500)


def database_recreate(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def migrate(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.settings",
           "LOG_LEVEL": "WARNING"}
    env.pop("PYTEST_VERSION", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True)


def trust_and_api_key(database_url: str, public_b64: str) -> str:
    """Trust the bench key and issue an API key through the services (as an operator would); returns the token."""
    code = (
        "import django, sys; django.setup()\n"
        "from governance.services import signing_key_add, api_key_create\n"
        f"signing_key_add(kid={BENCH_KID!r}, alg='Ed25519', public_key={public_b64!r}, actor='bench')\n"
        "print(api_key_create(name='bench', namespaces=['*'], actor='bench').token)\n"
    )
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.settings",
           "LOG_LEVEL": "WARNING"}
    env.pop("PYTEST_VERSION", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def copy_rows(database_url: str, signed: list[tuple[str, str, bytes, str, str]]) -> dict:
    """COPY blobs, actions and versions in one transaction; the latest version of each action is its highest."""
    import semver

    now = datetime.now(UTC)
    with psycopg.connect(database_url) as conn:
        key_id = conn.execute("SELECT id FROM governance_signingkey WHERE kid = %s", [BENCH_KID]).fetchone()[0]
        base_action = conn.execute("SELECT coalesce(max(id), 0) FROM registry_action").fetchone()[0]
        base_version = conn.execute("SELECT coalesce(max(id), 0) FROM registry_actionversion").fetchone()[0]
        actions: dict[str, dict] = {}
        versions = []
        for i, (name, version, canonical, digest, sig) in enumerate(signed, start=1):
            parsed = semver.Version.parse(version)
            vid = base_version + i
            action = actions.get(name)
            if action is None:
                action = actions[name] = {"id": base_action + len(actions) + 1, "latest": (parsed, vid), "doc": None}
            elif parsed > action["latest"][0]:
                action["latest"] = (parsed, vid)
            versions.append((vid, action["id"], version, parsed, digest, sig))
            if action["latest"][1] == vid:
                action["description"] = json.loads(canonical)["description"]
        blobs = {digest: canonical for _, _, canonical, digest, _ in signed}
        with conn.cursor() as cur:
            with cur.copy("COPY registry_blob (content_hash, canonical, size, created_at) FROM STDIN") as copy:
                for digest, canonical in blobs.items():
                    copy.write_row((digest, canonical, len(canonical), now))
            with cur.copy("COPY registry_action (id, name, namespace, latest_version_id, description, kid, "
                          "created_at, updated_at) FROM STDIN") as copy:
                for name, a in actions.items():
                    copy.write_row((a["id"], name, name.split(".", 1)[0], a["latest"][1], a["description"],
                                    BENCH_KID, now, now))
            with cur.copy("COPY registry_actionversion (id, action_id, version, major, minor, patch, prerelease, "
                          "content_hash, kid, alg, sig, signing_key_id, published_at) FROM STDIN") as copy:
                for vid, action_id, version, parsed, digest, sig in versions:
                    copy.write_row((vid, action_id, version, parsed.major, parsed.minor, parsed.patch,
                                    parsed.prerelease or "", digest, BENCH_KID, "Ed25519", sig, key_id, now))
            for table in ("registry_action", "registry_actionversion"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE registry_blob")
        conn.execute("VACUUM ANALYZE registry_action")
        conn.execute("VACUUM ANALYZE registry_actionversion")
    return {"actions": len(actions), "versions": len(versions), "blobs": len(blobs)}


def seed(*, admin_url: str, database_url: str, db_name: str, n: int, key_pem: bytes, public_b64: str,
         docs: list[dict]) -> dict:
    started = time.perf_counter()
    database_recreate(admin_url, db_name)
    migrate(database_url)
    token = trust_and_api_key(database_url, public_b64)
    t_sign = time.perf_counter()
    signed = sign_all(corpus(n, docs), key_pem)
    t_copy = time.perf_counter()
    counts = copy_rows(database_url, signed)
    done = time.perf_counter()
    return {**counts, "api_token": token, "seconds": round(done - started, 1),
            "sign_seconds": round(t_copy - t_sign, 1), "copy_seconds": round(done - t_copy, 1),
            "sample": [(name, version) for name, version, *_ in signed[:: max(1, len(signed) // 5000)]]}
