"""Liveness and readiness probes, against real servers whose PostgreSQL or Redis goes away."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from django.db import connection

from tests.conftest import ROOT, free_port, wait_for_port


class TcpProxy:
    """A loopback TCP forwarder in front of the shared PostgreSQL: stopping it is, for the server behind it,
    PostgreSQL going down (the real one is never touched)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def start(self) -> None:
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(64)
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave the port listening.
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        for s in self._conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self._conns.clear()


def start_server(database_url: str, extra_env: dict | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.settings",
           "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1", "LOG_LEVEL": "WARNING",
           "DB_CONN_MAX_AGE": "60", **(extra_env or {})}
    env.pop("PYTEST_VERSION", None)
    env.pop("REDIS_URL", None)
    env.update(extra_env or {})
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
                             "config.wsgi:application"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for_port(port, proc=proc, timeout=60)
    return proc, f"http://127.0.0.1:{port}"


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_ready_in_process(client, db):
    body = client.get("/health/ready").json()
    assert body == {"status": "ok", "checks": {"database": "ok", "redis": "not configured"}}
    assert client.get("/health/live").json() == {"status": "ok"}


@pytest.mark.slow
def test_ready_flips_to_503_while_postgres_is_unreachable_and_back(transactional_db):
    s = connection.settings_dict
    proxy = TcpProxy((s["HOST"] or "127.0.0.1", int(s["PORT"] or 5432)))
    proxy.start()
    proc, url = start_server(f"postgresql://{s['USER'] or 'postgres'}@127.0.0.1:{proxy.port}/{s['NAME']}")
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            ready = http.get("/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["database"] == "ok"

            proxy.stop()  # PostgreSQL is gone, as far as the server can tell
            down = http.get("/health/ready")
            assert down.status_code == 503, down.text
            assert down.json()["failing"] == ["database"]
            assert down.json()["checks"]["database"].startswith("database unreachable")
            assert http.get("/health/live").status_code == 200  # the process itself is fine: no restart

            proxy.start()
            deadline = time.monotonic() + 20
            while (back := http.get("/health/ready")).status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert back.status_code == 200, back.text
    finally:
        stop_server(proc)
        proxy.stop()


def test_ready_names_redis_when_redis_is_unreachable(client, db, settings, monkeypatch, redis_url):
    from core import observability

    monkeypatch.setattr(observability, "_redis_client", None)
    settings.REDIS_URL = redis_url
    assert client.get("/health/ready").json()["checks"]["redis"] == "ok"
    monkeypatch.setattr(observability, "_redis_client", None)
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    resp = client.get("/health/ready")
    assert resp.status_code == 503, resp.content
    assert resp.json()["failing"] == ["redis"]
    assert resp.json()["checks"]["database"] == "ok"
    assert resp.json()["checks"]["redis"].startswith("redis unreachable")


def test_ready_names_pending_migrations(client, db, monkeypatch):
    from django.db.migrations.executor import MigrationExecutor
    from django.db.migrations.recorder import MigrationRecorder

    from core import observability

    monkeypatch.setattr(observability, "_migrated", type(observability._migrated)())
    # The schema falls behind the code (a rollback): the newest core migration is no longer recorded.
    app, name = MigrationExecutor(connection).loader.graph.leaf_nodes("core")[0]
    MigrationRecorder.Migration.objects.filter(app=app, name=name).delete()
    resp = client.get("/health/ready")
    assert resp.status_code == 503
    assert resp.json()["checks"]["database"] == f"database not migrated: 1 migration(s) pending, first core.{name}"
