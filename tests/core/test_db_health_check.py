"""The per-request connection health check (core.postgresql): no SELECT 1 on a healthy idle connection, and a
connection the server ended between requests is replaced before the request uses it."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection, connections


def _new_request() -> None:
    """What Django does between two requests on a persistent connection."""
    connection.close_if_unusable_or_obsolete()


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.fixture
def checks(monkeypatch):
    """Counts Django's full checks (the SELECT 1 round trip) this backend still makes."""
    calls = []
    original = type(connections["default"]).is_usable

    def counted(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(type(connections["default"]), "is_usable", counted)
    return calls


@pytest.mark.django_db(transaction=True)
def test_a_healthy_idle_connection_is_not_pinged(checks):
    assert type(connections["default"]).__module__ == "core.postgresql.base"
    assert connection.health_check_enabled
    pid = _backend_pid()
    for _ in range(5):
        _new_request()
        assert _backend_pid() == pid  # the same connection, kept
    assert checks == []


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_ended_is_replaced_before_use(checks):
    pid = _backend_pid()
    settings = connection.settings_dict
    with psycopg.connect(host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432,
                         user=settings["USER"], dbname=connection.settings_dict["NAME"], autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
        # pg_terminate_backend only signals; the backend says goodbye and exits a moment later. A request in
        # that moment would still find the socket quiet (the window is the server's, not this check's: see
        # core/postgresql/base.py), so wait until the backend is gone, as any later request would.
        for _ in range(200):
            if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
                break
            time.sleep(0.01)
    _new_request()
    # Without a check this would fail with "terminating connection due to administrator command".
    assert _backend_pid() != pid
    assert checks == [1]  # the socket had the server's goodbye on it, so the full check ran and failed
