"""A change counter in Redis that lets a cached answer skip its state probe while nothing has changed.

Cached fetch and verify answers (registry/response_cache.py) are reused only while what they show is unchanged,
which costs one PostgreSQL probe per request. Every change that can alter an answer (a trust-store change, a
deprecation, a publish that moves ``latest``, a mirrored version: each either calls ``answers_changed`` or
emits an event, and every event fan-out bumps the counter in the same Redis command as its PUBLISH) moves this
counter after it commits, before the request that made it returns. A worker that reads the counter unchanged
since it last probed an answer serves it without the probe: one Redis GET instead of a query.

Ordering makes it safe. The counter is read before the probe or render an answer is stored with, and a change
bumps it only after it commits; so an answer stored under value G reflects every change committed before G was
read, and any change after that moves the counter past G. Bounded when something goes wrong: an answer is
probed again at least every ``ACTION_REGISTRY_ANSWER_RECHECK_SECONDS`` (default 10) whatever the counter says,
so a bump lost to a Redis failure (or a write path that forgot to bump) is stale for at most that long; with
Redis unreachable the counter reads as unknown and every request probes, as without Redis.

The counter starts at a random 62-bit value (``SET NX``, by whichever reader or writer finds it missing) rather
than 0, so after Redis loses it (restart, flush) it cannot count back up to a value an answer was stored under.
"""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.db import transaction

from core.redis_clients import OptionalRedis

KEY = "ar:answers:generation"
TIMEOUT_SECONDS = 0.05
# KEYS[1] = the counter; ARGV[1] = a random start used only if the counter is missing. Returns the new value.
BUMP_LUA = ("if redis.call('SET', KEYS[1], ARGV[1], 'NX') then return tonumber(ARGV[1]) end "
            "return redis.call('INCR', KEYS[1])")
_redis = OptionalRedis("answer counter (answers are probed meanwhile)", timeout=TIMEOUT_SECONDS,
                       logger=logging.getLogger("action_registry.cache"))


def recheck_seconds() -> float:
    return float(getattr(settings, "ACTION_REGISTRY_ANSWER_RECHECK_SECONDS", 10.0))


def enabled() -> bool:
    return bool(getattr(settings, "REDIS_URL", "")) and recheck_seconds() > 0


def random_start() -> int:
    return secrets.randbits(62)


def _client():
    return _redis.client() if recheck_seconds() > 0 else None


def generation() -> int | None:
    """The counter now, or None when it cannot be read (no Redis, Redis failing): then the caller probes, as it
    would without the counter. A missing counter (new, or lost with Redis) is started here at a random value:
    safe, because the value is read before the state it will vouch for, whoever starts it."""
    client = _client()
    if client is None:
        return None
    try:
        value = client.get(KEY)
        if value is None:
            start = random_start()
            value = client.set(KEY, start, nx=True, get=True)  # the existing value if another process won
            return start if value is None else int(value)
    except Exception as exc:  # noqa: BLE001 (any Redis failure: probe instead)
        _redis.failed(exc)
        return None
    return int(value)


def _bump() -> None:
    client = _client()
    if client is None:
        return
    try:
        client.eval(BUMP_LUA, 1, KEY, random_start())
    except Exception as exc:  # noqa: BLE001 (the recheck interval bounds what a lost bump costs)
        _redis.failed(exc)


def answers_changed() -> None:
    """Call in the transaction of a change that alters what fetch or verify answers show (or after it): the
    counter moves once the change has committed, before this request or task goes on."""
    if not enabled():
        return
    transaction.on_commit(_bump)
