"""Bearer API-key authentication for django-ninja: prefix lookup, constant-time digest compare."""

from __future__ import annotations

import hmac
import logging
import time

from django.conf import settings
from django.core.cache import cache
from ninja.security import HttpBearer

from action_registry.document import in_namespace
from core.exceptions import DomainError, Forbidden, Unauthorized
from core.redis_clients import redis_client
from governance import selectors, services
from governance.models import ApiKey

# Publishing keys read within the last CACHE_SECONDS by this process, by prefix: a publish re-checks its key and
# the trust state inside its own transaction (registry_publish compares both with what the request decided on,
# and the publish starts over with a fresh read when either changed), so a kept row only saves the read. Only
# ``ApiKeyAuth(cached=True)`` endpoints use it; every other endpoint reads the key on every request.
CACHE_SECONDS = 1.0
_key_cache: dict[str, tuple[ApiKey, float]] = {}


def api_key_authenticate(token: str, *, cached: bool = False) -> ApiKey:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != services.TOKEN_PREFIX:
        raise Unauthorized("the bearer token is not an Action Registry API key", code="invalid_api_key")
    key = _cached_key(parts[1]) if cached else None
    if key is None:
        key = selectors.api_key_by_prefix(prefix=parts[1])
        if cached and key is not None and key.is_active:
            _remember_key(key)
    digest = services.api_key_digest(token)
    if key is None or not hmac.compare_digest(key.digest, digest):
        raise Unauthorized("unknown API key", code="invalid_api_key")
    if not key.is_active:
        raise Unauthorized(f"API key {key.name!r} was revoked", code="api_key_revoked",
                           suggestion="Ask a registry operator for a new key.")
    services.api_key_touch(key=key)
    return key


def _cached_key(prefix: str) -> ApiKey | None:
    hit = _key_cache.get(prefix)
    if hit is not None and time.monotonic() - hit[1] < CACHE_SECONDS:
        return hit[0]
    return None


def _remember_key(key: ApiKey) -> None:
    if len(_key_cache) > 10_000:  # many keys: start over rather than grow
        _key_cache.clear()
    key.cached = True  # callers that must see the row as it is now re-read it (api_key_refresh)
    _key_cache[key.prefix] = (key, time.monotonic())


def api_key_refresh(key: ApiKey) -> ApiKey:
    """``key`` as stored now, with the trust state read in the same statement; Unauthorized when it was revoked
    or its token changed since ``key`` was read. Replaces what the process kept of it."""
    _key_cache.pop(key.prefix, None)
    fresh = selectors.api_key_by_prefix(prefix=key.prefix)
    if fresh is None or fresh.pk != key.pk or not hmac.compare_digest(fresh.digest, key.digest):
        raise Unauthorized("unknown API key", code="invalid_api_key")
    if not fresh.is_active:
        raise Unauthorized(f"API key {fresh.name!r} was revoked", code="api_key_revoked",
                           suggestion="Ask a registry operator for a new key.")
    if getattr(key, "cached", False):
        _remember_key(fresh)
    return fresh


def api_key_may_publish(key: ApiKey, name: str) -> bool:
    return any(ns == "*" or in_namespace(name, ns) for ns in key.namespaces)


def api_key_require_namespace(key: ApiKey, name: str) -> None:
    if not api_key_may_publish(key, name):
        raise Forbidden(f"API key {key.name!r} may not publish under {name}", code="namespace_forbidden",
                        suggestion=f"This key covers: {', '.join(key.namespaces) or 'nothing'}.")


AUTH_FAILURE_WINDOW_SECONDS = 60


def _client_address(request) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


def _auth_failures_check(request) -> str:
    """Refuse (429) a client that has failed authentication too often in the current window: API keys
    are long random tokens, but guessing is still cheap to make expensive."""
    limit = settings.ACTION_REGISTRY["AUTH_FAILURES_PER_MINUTE"]
    bucket = f"authfail:{_client_address(request)}"
    if _failures(bucket) >= limit:
        raise DomainError("too many failed authentication attempts from this address", code="rate_limited",
                          status=429, suggestion=f"Wait {AUTH_FAILURE_WINDOW_SECONDS} seconds and use a valid key.")
    return bucket


_REDIS_PREFIX = "ar:"
_REDIS_TIMEOUT_SECONDS = 0.2


def _redis():
    """REDIS_URL's client kept by the process, or None without one (then Django's cache, in-process). Django's
    cache API builds a client object per call: on every authenticated request that cost three times the GET."""
    url = getattr(settings, "REDIS_URL", "") or ""
    return redis_client(url, timeout=_REDIS_TIMEOUT_SECONDS) if url else None


# A count this process read from Redis, or set there, less than RECENT_SECONDS ago stands in for a read:
# otherwise every authenticated request pays a round trip to learn that its address has no failures. This
# process's own failures count at once (it keeps what its INCR returns); another process's reach it within
# RECENT_SECONDS, so across processes a refusal can start that much late.
RECENT_SECONDS = 1.0
_recent: dict[tuple[str, str], tuple[int, float]] = {}


def _failures(bucket: str) -> int:
    url = getattr(settings, "REDIS_URL", "") or ""
    if not url:
        return _cache_get(bucket) or 0
    now = time.monotonic()
    hit = _recent.get((url, bucket))
    if hit is not None and now - hit[1] < RECENT_SECONDS:
        return hit[0]
    count = _cache_get(bucket) or 0
    _remember(url, bucket, count, now)
    return count


def _remember(url: str, bucket: str, count: int, at: float) -> None:
    if len(_recent) > 10_000:  # many addresses: start over rather than grow
        _recent.clear()
    _recent[(url, bucket)] = (count, at)


def _cache_get(bucket: str) -> int | None:
    # Fail open: Redis is only a cache here, and an outage must not turn every request into a 500.
    try:
        client = _redis()
        if client is None:
            return cache.get(bucket)
        value = client.get(_REDIS_PREFIX + bucket)
        return None if value is None else int(value)
    except Exception:  # noqa: BLE001 (the cache backend's connection errors)
        return None


def _auth_failure_record(bucket: str) -> None:
    try:
        client = _redis()
        if client is not None:
            with client.pipeline(transaction=True) as pipe:  # count, and start the window on the first failure
                pipe.incr(_REDIS_PREFIX + bucket)
                pipe.expire(_REDIS_PREFIX + bucket, AUTH_FAILURE_WINDOW_SECONDS, nx=True)
                count = pipe.execute()[0]
            _remember(settings.REDIS_URL, bucket, int(count), time.monotonic())
            return
        if not cache.add(bucket, 1, timeout=AUTH_FAILURE_WINDOW_SECONDS):
            try:
                cache.incr(bucket)
            except ValueError:  # expired between add and incr
                cache.add(bucket, 1, timeout=AUTH_FAILURE_WINDOW_SECONDS)
    except Exception as exc:  # noqa: BLE001 (fail open, as in _cache_get)
        logging.getLogger("action_registry.auth").warning("auth failure not counted, cache unavailable: %s", exc)


class ApiKeyAuth(HttpBearer):
    """Ninja security scheme: ``Authorization: Bearer <api key>``; failures are rate limited per address.
    ``cached=True`` (publish only): a key this process read less than CACHE_SECONDS ago is not read again, for
    endpoints whose write re-checks the key in its own transaction."""

    openapi_scheme = "bearer"

    def __init__(self, *, cached: bool = False):
        super().__init__()
        self.cached = cached

    def authenticate(self, request, token):
        bucket = _auth_failures_check(request)
        try:
            key = api_key_authenticate(token, cached=self.cached)
        except Unauthorized:
            _auth_failure_record(bucket)
            raise
        request.api_key = key
        return key
