"""A request id travels from the code that sends a task into the log line a real Celery worker writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_request_id_reaches_the_worker_log_line(redis_url, monkeypatch):
    from config.celery import app
    from core.middleware import request_id_var
    from core.tasks import worker_ping_task

    # A queue of this test's own, so no other worker on this Redis database takes the message.
    queue = f"test-correlation-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "REDIS_URL": redis_url, "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_FORMAT": "json",
           "LOG_LEVEL": "INFO"}
    env.pop("PYTEST_VERSION", None)
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo",
                               "--concurrency", "1", "-Q", queue, "--without-gossip", "--without-mingle",
                               "--without-heartbeat", "-n", f"{queue}@%h"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(worker.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        monkeypatch.setitem(app.conf, "task_always_eager", False)
        token = uuid.uuid4().hex
        rid = request_id_var.set("req-into-task-42")
        try:
            with app.connection_for_write(redis_url) as conn:
                worker_ping_task.apply_async(args=[token], queue=queue, connection=conn)
        finally:
            request_id_var.reset(rid)
        deadline = time.monotonic() + 90
        found = None
        while found is None and time.monotonic() < deadline and worker.poll() is None:
            for line in list(lines):
                if token in line and line.lstrip().startswith("{"):
                    entry = json.loads(line)
                    if entry.get("event") == "worker_ping":
                        found = entry
            time.sleep(0.2)
        assert found is not None, "".join(lines[-30:])
        assert found["request_id"] == "req-into-task-42"
        assert found["token"] == token
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        reader.join(timeout=5)
        worker.stdout.close()
