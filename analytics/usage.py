"""Cheap usage recording: counts buffered in the process, flushed as one Celery message per batch.

A read must not pay for analytics, so the request path only increments a dict entry under a lock; every
``USAGE_FLUSH_SECONDS`` (or ``USAGE_FLUSH_EVENTS`` events) the buffer is swapped out and sent as one
``usage_ingest_task`` with a fresh batch id. Counts still in a buffer when a process is killed with SIGKILL
are lost: usage is statistics, not records (runs, which are records, are written synchronously).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

from django.conf import settings

logger = logging.getLogger("action_registry.analytics")

Key = tuple[str, str, str, str, str, str]  # bucket iso, kind, action, version, namespace, agent


class UsageBuffer:
    """Thread-safe counter of usage events with a time/size flush trigger."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[Key] = Counter()
        self._events = 0
        self._last_flush = time.monotonic()

    def add(self, *, kind: str, action: str, version: str = "", agent: str = "") -> None:
        now = datetime.now(UTC)
        bucket = now.replace(minute=0, second=0, microsecond=0).isoformat()
        key = (bucket, kind, action, version, action.split(".", 1)[0], agent[:200])
        with self._lock:
            self._counts[key] += 1
            self._events += 1
            due = (self._events >= settings.ANALYTICS["USAGE_FLUSH_EVENTS"]
                   or time.monotonic() - self._last_flush >= settings.ANALYTICS["USAGE_FLUSH_SECONDS"])
        if due:
            self.flush()

    def take(self) -> tuple[list[list], int]:
        with self._lock:
            counts, events = self._counts, self._events
            self._counts, self._events, self._last_flush = Counter(), 0, time.monotonic()
        return [[*key, n] for key, n in counts.items()], events

    def flush(self) -> str | None:
        """Send what is buffered as one batch; returns the batch id (None when empty)."""
        rows, events = self.take()
        if not rows:
            return None
        from analytics.tasks import usage_ingest_task  # noqa: PLC0415 (tasks import models; keep this light)

        batch_id = str(uuid.uuid4())
        try:
            usage_ingest_task.delay(batch_id, rows)
        except Exception:  # a broker outage must never fail the read that triggered the flush
            logger.warning("usage batch of %d events dropped: broker unavailable", events, exc_info=True)
            return None
        return batch_id


usage_buffer = UsageBuffer()
atexit.register(usage_buffer.flush)


def usage_record(*, kind: str, action: str, version: str = "", agent: str = "") -> None:
    usage_buffer.add(kind=kind, action=action, version=version, agent=agent)


def usage_flush() -> str | None:
    return usage_buffer.flush()
