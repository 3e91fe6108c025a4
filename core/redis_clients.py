"""Redis clients kept per process, and the pattern for a Redis that only speeds things up.

One client (with its connection pool) per URL and timeout, for the life of the process: building one per call
costs more than the command it sends. ``OptionalRedis`` is for uses where Redis is a shortcut, not a source of
truth (shared answers, the answer counter): after a failure it stays off for a few seconds, so a slow or dead
Redis costs one timeout now and then instead of one per request, and the caller takes its slower path.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

_clients: dict[tuple[str, float, bool], redis.Redis] = {}
_lock = threading.Lock()


def redis_client(url: str, *, timeout: float, retry_once: bool = False) -> redis.Redis:
    """The process's client for ``url`` with this connect/read timeout. ``retry_once``: one immediate retry
    (no backoff), which reconnects a pooled connection a restarted Redis dropped without holding the caller."""
    key = (url, timeout, retry_once)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = redis.Redis.from_url(
                    url, socket_timeout=timeout, socket_connect_timeout=timeout,
                    **({"retry": Retry(NoBackoff(), 1)} if retry_once else {}))
    return client


class OptionalRedis:
    """REDIS_URL's client for a shortcut, paused for ``PAUSE_AFTER_ERROR_SECONDS`` after a failure."""

    PAUSE_AFTER_ERROR_SECONDS = 5.0

    def __init__(self, what: str, *, timeout: float, logger: logging.Logger):
        self.what, self.timeout, self.logger = what, timeout, logger
        self._paused_until = 0.0

    def client(self) -> redis.Redis | None:
        """None without REDIS_URL or while paused."""
        url = getattr(settings, "REDIS_URL", "") or ""
        if not url or time.monotonic() < self._paused_until:
            return None
        return redis_client(url, timeout=self.timeout)

    def failed(self, exc: Exception) -> None:
        self._paused_until = time.monotonic() + self.PAUSE_AFTER_ERROR_SECONDS
        self.logger.warning("%s: Redis failed, off for %.0f s: %s", self.what, self.PAUSE_AFTER_ERROR_SECONDS, exc)
