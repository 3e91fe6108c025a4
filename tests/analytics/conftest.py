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


def _spawn(redis_url: str, procs: list, *, beat: bool = False, schedule_dir=None) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": test_database_url(), "REDIS_URL": redis_url,
           "DJANGO_SETTINGS_MODULE": "config.settings", "CELERY_TASK_ALWAYS_EAGER": "0"}
    env.pop("PYTEST_VERSION", None)
    cmd = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-l", "warning",
           "-n", f"analytics-test-{os.getpid()}-{len(procs)}@%h", "--without-gossip", "--without-mingle"]
    if beat:
        cmd += ["-B", "-s", str(schedule_dir / "beat-schedule")]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    procs.append(proc)
    return proc


def _ready(proc: subprocess.Popen, redis_url: str) -> Worker:
    """Wait until the worker answers a ping. Started early, it boots Django while the test seeds its data."""
    worker = Worker(redis_url)

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited: {proc.stderr.read().decode()[-2000:]}")
        return bool(worker.sender.control.ping(timeout=0.5))

    wait_for(answers, timeout=120)  # Django boots slowly on a loaded machine
    return worker


def _stop(procs: list) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


@pytest.fixture(scope="module")
def module_celery_worker(django_db_setup):
    """One worker (no beat) for a module's tests, spawned at once: booting Django is most of its cost. It holds
    no transaction between tasks, so each test's database flush goes through."""
    redis_url = os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/15")  # as the redis_url fixture
    redis.Redis.from_url(redis_url).flushdb()  # no task left over from an earlier run
    procs: list[subprocess.Popen] = []
    proc = _spawn(redis_url, procs)
    yield lambda: _ready(proc, redis_url)
    _stop(procs)


@pytest.fixture
def celery_worker(transactional_db, module_celery_worker):
    """``celery_worker()``: waits for the module's worker and returns a sender."""
    return module_celery_worker


@pytest.fixture
def celery_worker_with_beat(transactional_db, redis_url, tmp_path):
    """``celery_worker_with_beat()``: a worker running beat (``-B``, DatabaseScheduler) for this test only;
    spawned when called, because beat must find the test's schedules in the database when it starts."""
    procs: list[subprocess.Popen] = []
    yield lambda: _ready(_spawn(redis_url, procs, beat=True, schedule_dir=tmp_path), redis_url)
    _stop(procs)
