"""Federation fixtures: a second live registry (its own PostgreSQL database and gunicorn) to mirror from."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest

from action_registry import crypto
from action_registry.document import sign_document
from tests.conftest import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_ROOT_KID = "up-root-1"
UPSTREAM_OTHER_KID = "up-other-1"


def _admin_url(dbname: str) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        url = "postgresql://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def manage(database_url: str, *args: str, env: dict | None = None) -> str:
    full_env = {**os.environ, "DATABASE_URL": database_url, **(env or {})}
    for name in ("DJANGO_SETTINGS_MODULE", "PYTEST_VERSION", "PYTEST_CURRENT_TEST"):
        full_env.pop(name, None)
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


@dataclass
class Upstream:
    """The registry being mirrored: URL, an API key, and the private halves of the keys it trusts."""

    url: str
    database_url: str
    api_key: str
    root: crypto.PrivateKey
    other: crypto.PrivateKey

    @property
    def root_public(self) -> str:
        return crypto.public_key_b64(self.root)

    def publish(self, doc: dict, *, key: crypto.PrivateKey | None = None, kid: str = UPSTREAM_ROOT_KID) -> dict:
        envelope = sign_document(doc, key or self.root, kid)
        response = httpx.post(self.url + "/v1/actions", json=envelope, timeout=30,
                              headers={"Authorization": f"Bearer {self.api_key}"})
        assert response.status_code in (200, 201), response.text
        return response.json()


@pytest.fixture(scope="module")
def upstream(django_db_setup, django_db_blocker):
    """A second registry on its own database ``ar_fed_upstream_<pid>``, dropped afterwards.

    The database is cloned from the (migrated, empty) test database: a fresh ``migrate`` costs far more.
    """
    from django.db import connections

    dbname = f"ar_fed_upstream_{os.getpid()}"
    admin = _admin_url("postgres")
    database_url = _admin_url(dbname)
    with django_db_blocker.unblock():
        template = connections["default"].settings_dict["NAME"]
        connections.close_all()  # CREATE DATABASE ... TEMPLATE needs the template idle
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}" TEMPLATE "{template}"')
    tmp = tempfile.TemporaryDirectory(prefix="ar-fed-up-")
    proc = None
    try:
        env = {"ACTION_REGISTRY_VAR_DIR": tmp.name}
        root, other = crypto.generate_private_key(), crypto.generate_private_key()
        # One Django boot for the operator's set-up (trust two keys, issue an API key), not three.
        script = (
            "from governance.services import api_key_create, signing_key_add\n"
            f"signing_key_add(kid={UPSTREAM_ROOT_KID!r}, alg='Ed25519', public_key={crypto.public_key_b64(root)!r},"
            " actor='test')\n"
            f"signing_key_add(kid={UPSTREAM_OTHER_KID!r}, alg='Ed25519', public_key={crypto.public_key_b64(other)!r},"
            " actor='test')\n"
            "print(api_key_create(name='fed-tests', namespaces=['*'], actor='test').token)\n")
        api_key = manage(database_url, "shell", "-c", script, env=env).strip().splitlines()[-1]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server_env = {**os.environ, "DATABASE_URL": database_url, "ACTION_REGISTRY_PUBLIC_URL": url, **env}
        for name in ("DJANGO_SETTINGS_MODULE", "PYTEST_VERSION", "PYTEST_CURRENT_TEST"):
            server_env.pop(name, None)
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi:application", "-b", f"127.0.0.1:{port}",
                                 "-w", "1", "--threads", "4", "--graceful-timeout", "2"], cwd=ROOT, env=server_env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port, timeout=30, proc=proc)
        yield Upstream(url=url, database_url=database_url, api_key=api_key, root=root, other=other)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        tmp.cleanup()
