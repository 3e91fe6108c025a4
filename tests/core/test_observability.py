"""Request log lines, correlation ids and Prometheus metrics move when things happen."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.models import Event
from governance.models import SigningKey
from governance.services import signing_key_revoke
from tests.conftest import ROOT, free_port, make_doc, test_database_url, wait_for_port


def samples(client, **headers) -> dict[tuple, float]:
    resp = client.get("/metrics", **headers)
    assert resp.status_code == 200, resp.content
    assert resp["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(resp.content.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(snapshot: dict, name: str, **labels) -> float:
    return snapshot.get((name, tuple(sorted(labels.items()))), 0.0)


def request_lines(caplog) -> list[dict]:
    return [r.msg for r in caplog.records
            if r.name == "action_registry.request" and isinstance(r.msg, dict) and r.msg.get("event") == "request"]


def test_one_log_line_per_request_with_key_name_kid_and_request_id(api, trusted_signer, api_token, caplog):
    caplog.set_level(logging.INFO, logger="action_registry.request")
    resp = api.client.post("/v1/actions", data=trusted_signer.sign(make_doc()), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {api_token}", HTTP_X_REQUEST_ID="req-publish-1")
    assert resp.status_code == 201
    assert resp["X-Request-ID"] == "req-publish-1"
    lines = request_lines(caplog)
    assert len(lines) == 1, lines
    line = lines[0]
    assert {k: line[k] for k in ("method", "path", "status", "api_key", "kid", "request_id")} == {
        "method": "POST", "path": "/v1/actions", "status": 201, "api_key": "test-publisher",
        "kid": "test-root-1", "request_id": "req-publish-1"}
    assert line["duration_ms"] > 0
    assert api_token not in repr(caplog.records)  # the key's name is logged, never the token
    # The event the publish wrote carries the request id to whoever delivers it.
    assert Event.objects.get(kind="action.published").request_id == "req-publish-1"


def test_request_id_is_generated_when_missing_or_malformed(client, db, caplog):
    caplog.set_level(logging.INFO, logger="action_registry.request")
    first = client.get("/v1/actions/nope.nope", HTTP_X_REQUEST_ID="bad id with spaces")
    second = client.get("/v1/actions/nope.nope")
    assert first.status_code == second.status_code == 404
    rids = [first["X-Request-ID"], second["X-Request-ID"]]
    assert all(len(r) == 32 for r in rids) and rids[0] != rids[1]
    lines = request_lines(caplog)
    assert [line["request_id"] for line in lines] == rids
    assert [line["error_code"] for line in lines] == ["action_not_found"] * 2


def test_json_log_format_renders_one_object_per_line():
    code = ("import django, logging; django.setup(); from core.middleware import request_id_var; "
            "request_id_var.set('rid-9'); logging.getLogger('x').info('hello %s', 'world')")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_FORMAT": "json"}
    env.pop("PYTEST_VERSION", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60, check=True)
    import json

    line = json.loads(out.stderr.strip().splitlines()[-1])
    assert line["event"] == "hello world" and line["request_id"] == "rid-9" and line["level"] == "info"


def test_metrics_move_with_publishes_refusals_and_verifications(api, trusted_signer, make_signer, client):
    before = samples(client)
    assert api.publish(trusted_signer.sign(make_doc())).status_code == 201
    assert api.publish(trusted_signer.sign(make_doc())).status_code == 200  # identical bytes again
    stranger = make_signer("stranger-1", trusted=False)
    assert api.publish(stranger.sign(make_doc(version="2.0.0"))).status_code == 422
    assert api.get("/v1/actions/ssh.exec/versions/1.0.0").status_code == 200
    signing_key_revoke(key=SigningKey.objects.get(kid="test-root-1"), actor="test", reason="lost laptop")
    assert api.get("/v1/actions/ssh.exec/versions/1.0.0/verify").json()["verified"] is False
    after = samples(client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("ar_publishes_total", result="accepted", reason="") == 1
    assert moved("ar_publishes_total", result="unchanged", reason="") == 1
    assert moved("ar_publishes_total", result="refused", reason="unknown_kid") == 1
    assert moved("ar_verifications_total", result="failed", reason="key_revoked") == 1
    # Two publish responses and one fetch each carry a (passing) verification.
    assert moved("ar_verifications_total", result="verified", reason="") == 3
    route = "v1/actions/<name>/versions/<version>"
    assert moved("ar_http_requests_total", method="GET", route=route, status="200") == 1
    assert moved("ar_http_request_duration_seconds_count", method="GET", route=route) == 1
    # publish + revoke each wrote an event nobody dispatched in this test.
    assert value(after, "ar_outbox_depth") == Event.objects.filter(dispatched_at__isnull=True).count() >= 2


def test_event_delivery_and_celery_outcome_counters(client, db):
    from core import metrics
    from core.tasks import worker_ping_task

    before = samples(client)
    metrics.event_delivered(kind="action.published")
    worker_ping_task.apply(args=["x"])  # runs here, through the same signals a worker fires
    after = samples(client)
    assert value(after, "ar_events_delivered_total", kind="action.published", channel="websocket") - value(
        before, "ar_events_delivered_total", kind="action.published", channel="websocket") == 1
    assert value(after, "ar_celery_tasks_total", task="core.worker_ping_task", outcome="success") - value(
        before, "ar_celery_tasks_total", task="core.worker_ping_task", outcome="success") == 1


def test_metrics_token_and_internal_port(client, settings, db):
    settings.ACTION_REGISTRY_METRICS = {"ENABLED": True, "PORT": "", "TOKEN": "s3cret"}
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200
    settings.ACTION_REGISTRY_METRICS = {"ENABLED": True, "PORT": "9109", "TOKEN": ""}
    assert client.get("/metrics").status_code == 404  # the test client's SERVER_PORT is 80
    assert client.get("/metrics", SERVER_PORT="9109").status_code == 200
    settings.ACTION_REGISTRY_METRICS = {"ENABLED": False, "PORT": "", "TOKEN": ""}
    assert client.get("/metrics").status_code == 404


@pytest.mark.slow
def test_gunicorn_workers_share_one_set_of_metrics(transactional_db, tmp_path):
    """Multiprocess mode: requests answered by either of two workers all show in one scrape."""
    port, metrics_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": test_database_url(), "DJANGO_SETTINGS_MODULE": "config.settings",
           "GUNICORN_BIND": f"127.0.0.1:{port}", "METRICS_PORT": str(metrics_port), "METRICS_HOST": "127.0.0.1",
           "WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), "LOG_LEVEL": "WARNING"}
    env.pop("PYTEST_VERSION", None)
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
                             "config.wsgi:application"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc=proc, timeout=60)
        wait_for_port(metrics_port, proc=proc, timeout=60)
        counts = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for _ in range(40):
                assert http.get("/health/live").status_code == 200
            # Not on the public port: metrics answer only on the internal one.
            assert http.get("/metrics").status_code == 404
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30).text
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "ar_http_requests_total" and s.labels.get("route") == "health/live":
                    counts.append(s.value)
        assert counts == [40.0]  # one series, summed over both workers
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_request_line_written_directly_is_what_structlog_writes():
    """Under the stock JSON configuration the request line skips structlog and the logging module: the line
    must be the same object, key for key and in the same order, as the one structlog renders (the timestamp
    aside), and bound context values must come along."""
    code = (
        "import django, logging, json, structlog; django.setup()\n"
        "from config.logging import request_line\n"
        "from core.middleware import request_id_var\n"
        "request_id_var.set('rid-7'); structlog.contextvars.bind_contextvars(kid='k-1')\n"
        "fields = {'method': 'POST', 'path': '/v1/actions', 'route': 'v1/actions', 'status': 201,\n"
        "          'duration_ms': 3.25, 'api_key': 'pub'}\n"
        "assert request_line(logging.getLogger('action_registry.request'), 'info', logging.INFO, dict(fields))\n"
        "structlog.get_logger('action_registry.request').info('request', **fields)\n"
        "assert not request_line(logging.getLogger('action_registry.request'), 'debug', logging.DEBUG, fields)\n"
        "from django.test import Client\n"
        "print(Client().get('/no/such/page').status_code, flush=True)\n")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    env.pop("PYTEST_VERSION", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    import json

    lines = [json.loads(line) for line in out.stderr.strip().splitlines() if line.startswith("{")]
    direct, rendered = lines[0], lines[1]
    assert direct.pop("timestamp").endswith("Z") and rendered.pop("timestamp").endswith("Z")
    assert list(direct.items()) == list(rendered.items())
    assert direct["kid"] == "k-1" and direct["request_id"] == "rid-7" and direct["level"] == "info"
    [page] = [line for line in lines[2:] if line.get("event") == "request"]
    assert page["path"] == "/no/such/page" and page["status"] == 404 and page["route"] == "unmatched"
