"""A real Celery worker (optionally with beat) on the test database and the tests' own Redis database."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import redis
from celery import Celery

from tests.conftest import ROOT, test_database_url


class Worker:
    def __init__(self, broker_url: str):
        self.sender = Celery("analytics-tests", broker=broker_url)
        self.sender.conf.broker_connection_retry_on_startup = True

    def send(self, task: str, *args, **kwargs) -> None:
        self.sender.send_task(task, args=args, kwargs=kwargs)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2):
    """Poll ``predicate`` until it returns something truthy (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.fixture
def celery_worker(transactional_db, redis_url, tmp_path):
    """Factory: ``celery_worker(beat=False)`` starts ``celery -A config worker`` (``-B`` with beat) and waits
    until it answers a ping; the process is stopped at the end of the test, before the database is flushed."""
    redis.Redis.from_url(redis_url).flushdb()  # no task left over from an earlier run
    procs: list[subprocess.Popen] = []

    def start(beat: bool = False, extra_env: dict | None = None) -> Worker:
        env = {**os.environ, "DATABASE_URL": test_database_url(), "REDIS_URL": redis_url,
               "DJANGO_SETTINGS_MODULE": "config.settings", "CELERY_TASK_ALWAYS_EAGER": "0", **(extra_env or {})}
        env.pop("PYTEST_VERSION", None)
        cmd = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-l", "warning",
               "-n", f"analytics-test-{os.getpid()}@%h", "--without-gossip", "--without-mingle"]
        if beat:
            cmd += ["-B", "-s", str(tmp_path / "beat-schedule")]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        worker = Worker(redis_url)

        def answers() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited: {proc.stderr.read().decode()[-2000:]}")
            return bool(worker.sender.control.ping(timeout=0.5))

        wait_for(answers, timeout=60)
        return worker

    yield start
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()
