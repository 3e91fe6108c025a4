"""Fault injection plumbing: a throwaway PostgreSQL cluster of our own (never the shared one on 5432),
a gunicorn server on it, and a signed publish stream. Everything started here is stopped here."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from glob import glob
from pathlib import Path

import httpx
import psycopg
import pytest

from action_registry import crypto
from tests.conftest import ROOT, Signer, free_port, make_doc, wait_for_port

PG_BIN = Path(sorted(glob("/usr/lib/postgresql/*/bin"))[-1]) if glob("/usr/lib/postgresql/*/bin") else None


def _as_postgres(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """initdb and pg_ctl refuse to run as root: run them as the postgres OS user when we are root."""
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120, **kwargs)


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temp dir on a free port, trust auth, to restart at will."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ar-faults-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def init(self) -> None:
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "--no-sync", "-E", "UTF8"])

    def start(self) -> None:
        # fsync off: a restart (even -m immediate) keeps the OS page cache, so nothing committed is lost;
        # only a machine crash would need fsync, and that is not the fault under test.
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.dir / "log"),
                      "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start"])

    def stop(self, mode: str = "fast") -> None:
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-m", mode, "stop"])

    def cleanup(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already down
        shutil.rmtree(self.dir, ignore_errors=True)


def manage(database_url: str, *args: str, env: dict | None = None) -> str:
    full_env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.settings",
                **(env or {})}
    full_env.pop("PYTEST_VERSION", None)
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def throwaway_postgres():
    if PG_BIN is None or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    pg = ThrowawayPostgres()
    pg.init()
    pg.start()
    yield pg
    pg.cleanup()


@pytest.fixture
def registry_on(tmp_path):
    """``registry_on(database_url, redis_url=None, workers=2)`` -> (base URL, Popen): a gunicorn of our own,
    seeded with a trusted root key and an API key (``signer`` and ``token`` attributes on the fixture)."""
    procs: list[subprocess.Popen] = []

    class Started:
        url: str
        proc: subprocess.Popen
        signer: Signer
        token: str

    def start(database_url: str, *, redis_url: str | None = None, workers: int = 2, seed: bool = True,
              env: dict | None = None) -> Started:
        extra = {"REDIS_URL": redis_url or "", "DB_CONN_MAX_AGE": "60", **(env or {})}
        started = Started()
        if seed:
            manage(database_url, "migrate", "-v", "0", env=extra)
            started.signer = Signer(kid="faults-root", private_key=crypto.generate_private_key(crypto.ED25519))
            pub = tmp_path / "faults-root.pub"
            pub.write_bytes(crypto.public_key_pem(started.signer.private_key))
            manage(database_url, "trust_key", "add", "--kid", "faults-root", "--alg", "Ed25519", "--public-key",
                   str(pub), env=extra)
            started.token = manage(database_url, "create_api_key", "--name", "faults", "--namespace", "faults",
                                   "--quiet", env=extra).strip()
        port = free_port()
        full_env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.settings",
                    "ACTION_REGISTRY_PUBLIC_URL": f"http://127.0.0.1:{port}", **extra}
        full_env.pop("PYTEST_VERSION", None)
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi:application", "-b",
                                 f"127.0.0.1:{port}", "-w", str(workers), "--timeout", "60"],
                                cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        procs.append(proc)
        wait_for_port(port, timeout=60, proc=proc)
        started.url, started.proc = f"http://127.0.0.1:{port}", proc
        return started

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def signed_stream(signer: Signer, stream: int):
    """Envelopes faults.pub@1.<stream>.<i>, i = 0, 1, ... (each distinct: a retry is the same bytes)."""
    i = 0
    while True:
        yield signer.sign(make_doc("faults.pub", f"1.{stream}.{i}"))
        i += 1


def publish_until(url: str, token: str, signer: Signer, stop: Callable[[], bool], results: list, stream: int) -> None:
    """Publish ``signed_stream`` envelopes until ``stop()``; each answer goes into ``results`` as
    (envelope, status or None for a broken connection, content type, text)."""
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        for envelope in signed_stream(signer, stream):
            if stop():
                return
            try:
                resp = http.post("/v1/actions", json=envelope)
                results.append((envelope, resp.status_code, resp.headers.get("content-type", ""), resp.text))
            except httpx.HTTPError as exc:  # a broken connection: recorded for the test to judge
                results.append((envelope, None, "", repr(exc)))


def wait_until(predicate: Callable[[], bool], what: str, limit: float = 90.0) -> None:
    """A bound against hanging, not a timing assertion."""
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def stored_versions(database_url: str) -> dict[str, dict]:
    """What the database holds for faults.pub, row by row, with what makes a publish complete."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("""
            SELECT v.version, v.content_hash, b.canonical,
                   (SELECT count(*) FROM core_event e WHERE e.kind = 'action.published'
                                                     AND e.subject = 'faults.pub@' || v.version),
                   (SELECT count(*) FROM core_logleaf l WHERE l.kind = 'action.published'
                                                        AND l.subject = 'faults.pub@' || v.version)
            FROM registry_actionversion v JOIN registry_action a ON a.id = v.action_id
            LEFT JOIN registry_blob b ON b.content_hash = v.content_hash
            WHERE a.name = 'faults.pub'""").fetchall()
    return {r[0]: {"content_hash": r[1], "canonical": bytes(r[2]) if r[2] is not None else None,
                   "events": r[3], "leaves": r[4]} for r in rows}
