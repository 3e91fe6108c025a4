"""Shared fixtures: real PostgreSQL (pytest-django), real keys, real signatures, helpers to publish."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from action_registry import crypto
from action_registry.document import sign_document

ROOT = Path(__file__).resolve().parent.parent
# Clients remember log checkpoints per registry URL: keep this run's memory apart from the machine's, so a
# port reused by another run's registry is never mistaken for a registry that rewrote its history.
os.environ.setdefault("ACTION_REGISTRY_STATE_DIR", tempfile.mkdtemp(prefix="ar-test-state-"))
TESTDATA = Path(os.environ.get("ACTION_REGISTRY_TESTDATA", ROOT.parent / "shared" / "testdata"))


@dataclass
class Signer:
    """A publisher's key pair (private half stays in the test, as on a publisher's machine)."""

    kid: str
    private_key: crypto.PrivateKey
    model: object = None

    @property
    def alg(self) -> str:
        return crypto.private_key_alg(self.private_key)

    @property
    def public_b64(self) -> str:
        return crypto.public_key_b64(self.private_key)

    def sign(self, doc: dict) -> dict:
        return sign_document(doc, self.private_key, self.kid)


def make_doc(name: str = "ssh.exec", version: str = "1.0.0", **overrides) -> dict:
    doc = {
        "name": name,
        "version": version,
        "description": f"Run a command on a remote host over SSH ({name} {version}).",
        "input_schema": {"type": "object", "properties": {"host": {"type": "string"},
                                                          "command": {"type": "string"}},
                         "required": ["host", "command"]},
        "output_schema": {"type": "object", "properties": {"exit_code": {"type": "integer"},
                                                           "stdout": {"type": "string"}}},
    }
    doc.update(overrides)
    return doc


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters and cached answers live in the cache: no test inherits another's."""
    from django.core.cache import cache

    from registry.response_cache import answers

    cache.clear()
    answers.clear()  # a test database is rolled back without moving the answer counter
    yield
    cache.clear()
    answers.clear()


def ensure_governance_groups() -> None:
    """The governance groups come from a data migration; a transactional test's flush empties them, so tests
    that need them put them back (same names and permissions as the migration)."""
    from importlib import import_module

    from django.contrib.auth.models import Group, Permission

    groups = import_module("governance.migrations.0003_permission_groups").GROUPS
    for name, codenames in groups.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(Permission.objects.filter(
            codename__in=codenames, content_type__app_label__in=["governance", "core"]))


@pytest.fixture
def governance_groups(db) -> None:
    ensure_governance_groups()


@pytest.fixture(autouse=True)
def _groups_survive_flushes(request, django_db_blocker):
    """A transactional test ends by flushing every table, data-migration rows included: before each test that
    touches the database, put the governance groups back if a flush took them (committed, so server
    subprocesses see them too)."""
    uses_db = bool({"db", "transactional_db", "live_server", "registry_server"} & set(request.fixturenames)) or (
        request.node.get_closest_marker("django_db") is not None)
    if uses_db:
        from django.contrib.auth.models import Group

        request.getfixturevalue("django_db_setup")  # the test database must exist before we look into it
        with django_db_blocker.unblock():
            if Group.objects.filter(name__in=["governance team", "security reviewers",
                                              "read-only auditors"]).count() < 3:
                ensure_governance_groups()
    yield


@pytest.fixture
def trusted_signer(db):
    """An Ed25519 root key in the trust store."""
    from governance.services import signing_key_add

    signer = Signer(kid="test-root-1", private_key=crypto.generate_private_key(crypto.ED25519))
    signer.model = signing_key_add(kid=signer.kid, alg=signer.alg, public_key=signer.public_b64, actor="test")
    return signer


@pytest.fixture
def make_signer(db):
    """Factory: ``make_signer(kid, alg=..., trusted=True)``."""
    from governance.services import signing_key_add

    def factory(kid: str, alg: str = crypto.ED25519, trusted: bool = True, **kwargs) -> Signer:
        signer = Signer(kid=kid, private_key=crypto.generate_private_key(alg))
        if trusted:
            signer.model = signing_key_add(kid=kid, alg=alg, public_key=signer.public_b64, actor="test", **kwargs)
        return signer

    return factory


@pytest.fixture
def api_token(db) -> str:
    """An API key that may publish anywhere."""
    from governance.services import api_key_create

    return api_key_create(name="test-publisher", namespaces=["*"], actor="test").token


@pytest.fixture
def make_api_token(db):
    from governance.services import api_key_create

    def factory(name: str, namespaces: list[str]) -> str:
        return api_key_create(name=name, namespaces=namespaces, actor="test").token

    return factory


class Api:
    """A thin wrapper over Django's test client speaking JSON to /v1/."""

    def __init__(self, client, token: str | None = None):
        self.client = client
        self.token = token

    def _headers(self, token):
        token = token if token is not None else self.token
        return {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def get(self, path: str, **params):
        return self.client.get(path, params or None, **self._headers(None))

    def post(self, path: str, body, token: str | None = None, raw: bool = False):
        data = body if raw else json.dumps(body)
        return self.client.post(path, data=data, content_type="application/json", **self._headers(token))

    def publish(self, envelope: dict, token: str | None = None):
        return self.post("/v1/actions", envelope, token=token)


@pytest.fixture
def api(client, api_token) -> Api:
    return Api(client, api_token)


@pytest.fixture
def redis_url() -> str:
    """A Redis database for tests (the suite's default is db 15; parallel developers pick their own)."""
    return os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/15")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """DATABASE_URL of the test database, for server subprocesses (use with transactional_db)."""
    s = connection.settings_dict
    return f"postgresql://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


test_database_url.__test__ = False  # a helper, not a test, wherever it is imported


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


@pytest.fixture
def registry_server(transactional_db, tmp_path):
    """Start a real gunicorn (WSGI) server on the test database; yields its base URL. Its log goes to a file
    (a pipe nobody reads fills up after 64 KiB of request logs and then blocks every worker)."""
    procs = []
    logs = []

    def start(extra_env: dict | None = None) -> str:
        port = free_port()
        env = {**os.environ, "DATABASE_URL": test_database_url(), "DJANGO_SETTINGS_MODULE": "config.settings",
               "ACTION_REGISTRY_PUBLIC_URL": f"http://127.0.0.1:{port}", **(extra_env or {})}
        env.pop("PYTEST_VERSION", None)
        log = open(tmp_path / f"gunicorn-{port}.log", "wb")  # noqa: SIM115 (closed at teardown)
        logs.append(log)
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi:application", "-b",
                                 f"127.0.0.1:{port}", "-w", "2", "--graceful-timeout", "5"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        wait_for_port(port, proc=proc)
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    for log in logs:
        log.close()
