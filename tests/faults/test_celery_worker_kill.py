"""A Celery worker SIGKILLed mid-task: acks_late keeps the message, a live worker gets it back after the
visibility timeout, and the rerun counts nothing twice (usage batches by id, anomalies by fingerprint)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta

import psycopg
import pytest
import redis
from django.db.models import Sum
from django.utils import timezone

from analytics.models import Anomaly, UsageBatch, UsageCount
from core.models import Event
from tests.analytics.conftest import Worker, wait_for
from tests.conftest import ROOT, test_database_url

pytestmark = pytest.mark.django_db(transaction=True)


def _spawn(redis_url: str, log, name: str, **env: str) -> subprocess.Popen:
    """A prefork worker with two children (both tasks run at once), in its own process group to kill whole."""
    full_env = {**os.environ, "DATABASE_URL": test_database_url(), "REDIS_URL": redis_url,
                "DJANGO_SETTINGS_MODULE": "config.settings", "CELERY_TASK_ALWAYS_EAGER": "0", **env}
    full_env.pop("PYTEST_VERSION", None)
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork",
                             "--concurrency", "2", "-l", "warning", "-n", f"{name}-{os.getpid()}@%h",
                             "--without-gossip", "--without-mingle", "--without-heartbeat"],
                            cwd=ROOT, env=full_env, stdout=log, stderr=log, start_new_session=True)


def _ready(proc: subprocess.Popen, sender: Worker, log_path) -> None:
    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited: {log_path.read_text()[-2000:]}")
        return bool(sender.sender.control.ping(timeout=0.5))

    wait_for(answers, timeout=120)


def _seed(now) -> None:
    """A key publishing one version a day, then six within the hour (a publish spike); an action whose
    verifications fail ten times this hour against one failure two days ago; agent-1's fetches this hour."""
    times = [now - timedelta(days=d) for d in range(4, 0, -1)] + [now - timedelta(minutes=50 - 5 * i)
                                                                   for i in range(6)]
    rows = Event.objects.bulk_create([Event(kind="action.published", namespace="ssh", subject=f"ssh.exec@2.0.{i}",
                                            payload={"name": "ssh.exec", "version": f"2.0.{i}", "kid": "spiky-1"})
                                      for i in range(len(times))])
    for row, when in zip(rows, times, strict=True):
        Event.objects.filter(pk=row.pk).update(created_at=when)
    hour = now.replace(minute=0, second=0, microsecond=0)
    UsageCount.objects.bulk_create([
        UsageCount(bucket=hour - timedelta(days=2), kind="verify_failed", action_name="mail.send", version="1.0.0",
                   namespace="mail", agent="agent-9", count=1),
        UsageCount(bucket=hour, kind="verify_failed", action_name="mail.send", version="1.0.0", namespace="mail",
                   agent="agent-9", count=10),
        UsageCount(bucket=hour, kind="fetch", action_name="ssh.exec", version="2.0.0", namespace="ssh",
                   agent="agent-1", count=7),
    ])


def _fetches(agent: str) -> int:
    return UsageCount.objects.filter(kind="fetch", agent=agent).aggregate(n=Sum("count"))["n"] or 0


def _waiting(conn, table: str) -> int:
    """Backends waiting for a lock on ``table``."""
    return conn.execute("SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND NOT granted",
                        [table]).fetchone()[0]


def test_worker_killed_mid_task_reruns_each_task_once_in_effect(redis_url, tmp_path):
    broker = redis.Redis.from_url(redis_url)
    broker.flushdb()  # our own test Redis database: no message left from an earlier run
    log_path = tmp_path / "worker.log"
    log = log_path.open("ab")
    first = _spawn(redis_url, log, "doomed")  # boots Django while the data is seeded
    second = None
    sender = Worker(redis_url)
    try:
        now = timezone.now()
        _seed(now)
        _ready(first, sender, log_path)

        # Real locks stop the tasks at known points. With the usage table locked, the ingest stops after writing
        # its batch id in its open transaction, anomaly detection after committing the publish spike.
        usage_lock, event_lock = psycopg.connect(test_database_url()), psycopg.connect(test_database_url())
        usage_lock.execute("LOCK TABLE analytics_usagecount IN ACCESS EXCLUSIVE MODE")
        batch = str(uuid.uuid4())
        hour = now.replace(minute=0, second=0, microsecond=0).isoformat()
        sender.send("analytics.usage_ingest_task", batch, [[hour, "fetch", "ssh.exec", "2.0.0", "ssh", "agent-1", 5],
                                                          [hour, "fetch", "ssh.exec", "2.0.0", "ssh", "agent-2", 3]])
        sender.send("analytics.anomaly_detect_task")
        probe = psycopg.connect(test_database_url(), autocommit=True)
        wait_for(lambda: _waiting(probe, "analytics_usagecount") == 2, timeout=30)
        assert Anomaly.objects.filter(kind="publish_spike", subject="spiky-1").count() == 1
        assert not UsageBatch.objects.filter(id=batch).exists()

        # Freeze the worker's main process (it acknowledges, late, once a child reports) and let the children go
        # on: the ingest commits and stays unacknowledged; detection raises the verification anomaly and stops
        # again, mid-transaction, at its event insert.
        os.kill(first.pid, signal.SIGSTOP)
        event_lock.execute("LOCK TABLE core_event IN EXCLUSIVE MODE")  # reads pass, inserts wait
        usage_lock.rollback()
        wait_for(lambda: _waiting(probe, "core_event") == 1, timeout=30)
        assert UsageBatch.objects.filter(id=batch).exists()  # committed, never acknowledged
        assert (_fetches("agent-1"), _fetches("agent-2")) == (12, 3)
        assert not Anomaly.objects.filter(kind="verification_failures").exists()  # not committed

        os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool children: no chance to clean up or ack
        first.wait(timeout=10)
        event_lock.rollback()  # the orphaned backend finishes its insert, finds its client gone and rolls back
        for conn in (usage_lock, event_lock, probe):
            conn.close()
        assert broker.hlen("unacked") == 2  # acks_late: neither message was acknowledged

        # A live worker puts messages older than the visibility timeout back on the queue; 1 s here, 300 s in
        # production (config/celery.py).
        second = _spawn(redis_url, log, "survivor", CELERY_VISIBILITY_TIMEOUT="1")
        wait_for(lambda: Anomaly.objects.filter(kind="verification_failures").exists(), timeout=60)
        wait_for(lambda: broker.hlen("unacked") == 0 and broker.llen("celery") == 0, timeout=30)  # both reran
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        log.close()

    assert (_fetches("agent-1"), _fetches("agent-2")) == (12, 3)  # the rerun was a no-op: not 7 + 10 and 6
    assert UsageBatch.objects.get(id=batch).events == 8
    assert Anomaly.objects.filter(kind="publish_spike").count() == 1  # the rerun found it already raised
    assert Anomaly.objects.filter(kind="verification_failures", subject="mail.send").count() == 1
    assert Anomaly.objects.count() == 2
    assert Event.objects.filter(kind="anomaly.detected").count() == 2  # one event per anomaly, none repeated
