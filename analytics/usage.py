"""Cheap usage recording: counts buffered in the process, flushed as one Celery message per batch.

A read must not pay for analytics, so the request path only increments a dict entry under a lock; every
``USAGE_FLUSH_SECONDS`` (or after ``USAGE_FLUSH_EVENTS`` events) a background thread swaps the buffer out and
sends it as one ``usage_ingest_task`` with a fresh batch id. Counts still in a buffer when a process is killed with SIGKILL
are lost: usage is statistics, not records (runs, which are records, are written synchronously).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

from django.conf import settings

logger = logging.getLogger("action_registry.analytics")

Key = tuple[int, str, str, str, str]  # hour since the epoch, kind, action, version, agent


class UsageBuffer:
    """Thread-safe counter of usage events. A daemon thread per process sends the batch every
    ``USAGE_FLUSH_SECONDS`` (sooner when ``USAGE_FLUSH_EVENTS`` pile up), so no read waits for the broker or,
    without one, for the eager ingest's database write."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[Key] = Counter()
        self._events = 0
        self._wake = threading.Event()
        self._owner_pid = 0  # the process whose flusher thread runs (a forked child starts its own)
        self._deadline = time.monotonic() + settings.ANALYTICS["USAGE_FLUSH_SECONDS"]  # eager mode only

    def add(self, *, kind: str, action: str, version: str = "", agent: str = "") -> None:
        key = (int(time.time() // 3600), kind, action, version, agent[:200])
        eager = settings.CELERY_TASK_ALWAYS_EAGER
        with self._lock:
            self._counts[key] += 1
            self._events += 1
            full = self._events >= settings.ANALYTICS["USAGE_FLUSH_EVENTS"]
            if not eager and self._owner_pid != os.getpid():
                self._owner_pid = os.getpid()
                threading.Thread(target=self._run, name="usage-flush", daemon=True).start()
        if eager:
            # No broker (embedded run, in-process tests): ingest in the request, in its transaction, now and
            # then; a thread writing beside the request would fight SQLite's lock and the tests' rollbacks.
            if full or time.monotonic() >= self._deadline:
                self.flush()
        elif full:
            self._wake.set()

    def _run(self) -> None:
        from django.db import connections  # noqa: PLC0415

        interval = max(0.05, settings.ANALYTICS["USAGE_FLUSH_SECONDS"])
        while True:
            self._wake.wait(timeout=interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the thread must outlive any one failure
                logger.exception("usage flush failed")
            finally:
                connections.close_all()  # this thread's own connections (eager mode), never reused

    def take(self) -> tuple[list[list], int]:
        with self._lock:
            counts, events = self._counts, self._events
            self._counts, self._events = Counter(), 0
            self._deadline = time.monotonic() + settings.ANALYTICS["USAGE_FLUSH_SECONDS"]
        rows = [[datetime.fromtimestamp(hour * 3600, UTC).isoformat(), kind, action, version,
                 action.split(".", 1)[0], agent, n] for (hour, kind, action, version, agent), n in counts.items()]
        return rows, events

    def flush(self) -> str | None:
        """Send what is buffered as one batch; returns the batch id (None when empty)."""
        rows, events = self.take()
        if not rows:
            return None
        from analytics.tasks import usage_ingest_task  # noqa: PLC0415 (tasks import models; keep this light)

        batch_id = str(uuid.uuid4())
        try:
            usage_ingest_task.delay(batch_id, rows)
        except Exception:  # a broker outage must never fail a read, nor kill the flushing thread
            logger.warning("usage batch of %d events dropped: broker unavailable", events, exc_info=True)
            return None
        return batch_id


usage_buffer = UsageBuffer()


def _flush_at_exit() -> None:
    # Through the broker only: in eager mode the database may already be gone (a test run's, for one), and
    # the last few seconds of counts of an embedded server are not worth a write at shutdown.
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        usage_buffer.flush()


atexit.register(_flush_at_exit)


def usage_record(*, kind: str, action: str, version: str = "", agent: str = "") -> None:
    usage_buffer.add(kind=kind, action=action, version=version, agent=agent)


def usage_flush() -> str | None:
    return usage_buffer.flush()
