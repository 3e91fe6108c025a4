"""Analytics end to end with a real Celery worker (and beat) on Redis and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from analytics.models import Anomaly, Report, ReputationChange, ReputationScore, UsageBatch, UsageCount
from analytics.reports import report_schedule_save
from analytics.services import run_record
from core.models import Event
from tests.analytics.conftest import wait_for
from tests.conftest import make_doc

pytestmark = pytest.mark.django_db(transaction=True)


def _barrier(worker) -> None:
    """The solo worker runs tasks in order: once this no-op batch is stored, everything sent before is done."""
    batch = str(uuid.uuid4())
    worker.send("analytics.usage_ingest_task", batch, [])
    wait_for(lambda: UsageBatch.objects.filter(id=batch).exists())


def _publish(api, signer, name: str, versions) -> None:
    for v in versions:
        response = api.publish(signer.sign(make_doc(name, v)))
        assert response.status_code == 201, response.content


def _history(kid: str, name: str, times) -> None:
    """Earlier publishes of ``kid``, as the outbox recorded them (the detector's input), at the given times."""
    rows = Event.objects.bulk_create([Event(kind="action.published", namespace=name.split(".")[0],
                                            subject=f"{name}@0.0.{i}",
                                            payload={"name": name, "version": f"0.0.{i}", "kid": kid})
                                      for i, _ in enumerate(times)])
    for row, when in zip(rows, times, strict=True):
        Event.objects.filter(pk=row.pk).update(created_at=when)


def test_publish_spike_raises_an_anomaly_against_the_keys_own_history(api, make_signer, celery_worker):
    spiky = make_signer("spiky-1")
    now = timezone.now()
    _history("spiky-1", "ssh.exec", [now - timedelta(days=d) for d in range(1, 5)])  # one a day
    # busy-1 publishes about ten an hour, every hour, for two days: its ordinary rhythm
    busy = Event.objects.bulk_create([Event(kind="action.published", namespace="ci", subject=f"ci.build@1.{i}.0",
                                            payload={"name": "ci.build", "version": f"1.{i}.0", "kid": "busy-1"})
                                      for i in range(486)])
    with connection.cursor() as cursor:  # the last six fall in the current hour, like spiky-1's burst
        cursor.execute("UPDATE core_event SET created_at = %s - ((%s - id) / 10) * interval '1 hour' "
                       "- interval '1 minute' WHERE id >= %s", [now, busy[-1].id + 4, busy[0].id])
    # spiky-1 really publishes six versions within the hour
    _publish(api, spiky, "ssh.exec", [f"2.0.{i}" for i in range(6)])

    worker = celery_worker()
    worker.send("analytics.anomaly_detect_task")
    _barrier(worker)

    spike = Anomaly.objects.get(kind="publish_spike", subject="spiky-1")
    assert spike.evidence["current"] == 6 and spike.evidence["median"] == 0
    assert "ssh.exec@2.0.5" in spike.evidence["published"] and spike.status == "open"
    assert not Anomaly.objects.filter(subject="busy-1").exists()  # six an hour is normal for busy-1
    assert Event.objects.filter(kind="anomaly.detected", payload__anomaly_id=spike.id).exists()
    worker.send("analytics.anomaly_detect_task")  # the same burst is not reported twice
    _barrier(worker)
    assert Anomaly.objects.filter(kind="publish_spike").count() == 1


def _report_runs(api, version: str, outcome: str, n: int) -> None:
    """Runs through the service (the HTTP route is covered in test_runs.py; here only the data matters)."""
    for i in range(n):
        run_record(action="ssh.exec", version=version, agent=f"runner-{i % 4}", outcome=outcome,
                   duration_ms=200 + i, error_code="exit_1" if outcome == "error" else "")


def test_reputation_moves_with_run_outcomes(api, trusted_signer, celery_worker):
    _publish(api, trusted_signer, "ssh.exec", ["1.0.0"])
    _report_runs(api, "1.0.0", "success", 6)
    worker = celery_worker()
    worker.send("analytics.reputation_compute_task")
    first = wait_for(lambda: ReputationScore.objects.filter(subject_type="action", subject="ssh.exec").first())
    publisher_first = ReputationScore.objects.get(subject_type="publisher", subject=trusted_signer.kid).score
    assert first.inputs["runs"] == 6 and first.inputs["agents"] == 4

    _report_runs(api, "1.0.0", "error", 8)
    worker.send("analytics.reputation_compute_task")
    second = wait_for(lambda: ReputationScore.objects.filter(subject_type="action", subject="ssh.exec",
                                                             computed_at__gt=first.computed_at).first())
    assert second.score < first.score - 10, (first.score, second.score)
    assert second.previous_score == first.score and second.inputs["runs"] == 14
    assert ReputationScore.objects.get(subject_type="publisher", subject=trusted_signer.kid).score < publisher_first
    assert ReputationChange.objects.filter(subject="ssh.exec").count() == 2


def test_report_is_generated_on_schedule_and_renders_its_charts(api, trusted_signer, celery_worker_with_beat,
                                                                client):
    _publish(api, trusted_signer, "ssh.exec", ["1.0.0", "1.1.0"])
    _report_runs(api, "1.0.0", "success", 6)
    _report_runs(api, "1.1.0", "error", 2)
    schedule = report_schedule_save(namespace="ssh", period="daily", every_seconds=1, actor="test")
    celery_worker_with_beat()

    report = wait_for(lambda: Report.objects.filter(schedule=schedule).first(), timeout=60)
    assert report.data["totals"]["runs"] == 8 and report.data["totals"]["publishes"] == 2

    staff = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    assert client.get(f"/reports/{report.id}/").status_code == 302  # staff only
    client.force_login(staff)
    page = client.get(f"/reports/{report.id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("<svg") == 4 and "Run success rate by version" in html and "ssh.exec@1.0.0" in html
    download = client.get(f"/reports/{report.id}/download")
    assert download["Content-Disposition"].startswith("attachment;")
    assert download.content.decode().count("<svg") == 4
    figures = json.loads(client.get(f"/reports/{report.id}/download?format=json").content)
    assert figures["success_rates"][0] == {"action": "ssh.exec", "version": "1.0.0", "runs": 6, "success_rate": 1.0}
    assert "ssh" in client.get("/reports/").content.decode()


def test_reads_on_a_real_server_are_counted_in_batches(api, trusted_signer, celery_worker, registry_server,
                                                       redis_url):
    _publish(api, trusted_signer, "ssh.exec", ["1.0.0"])
    celery_worker()
    url = registry_server({"REDIS_URL": redis_url, "ANALYTICS_USAGE_FLUSH_SECONDS": "0"})
    with httpx.Client(base_url=url, timeout=60, headers={"X-Agent-Id": "agent-7"}) as http:
        for _ in range(5):
            assert http.get("/v1/actions/ssh.exec/versions/1.0.0").status_code == 200
        for _ in range(3):
            assert http.get("/v1/actions/ssh.exec/versions/1.0.0/verify").status_code == 200

    def counted(kind: str) -> int:
        return UsageCount.objects.filter(kind=kind, agent="agent-7").aggregate(n=Sum("count"))["n"] or 0

    wait_for(lambda: counted("fetch") == 5 and counted("verify") == 3)
    assert counted("verify_failed") == 0
    assert 1 <= UsageBatch.objects.count() <= 8  # batched: never more messages than reads
