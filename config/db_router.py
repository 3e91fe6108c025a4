"""Read replicas: reads go to the ``replica`` database (DATABASE_REPLICA_URL) unless the request must see its
own writes; every write, and every read inside a transaction, goes to the primary."""

from __future__ import annotations

from contextvars import ContextVar

from django.db import connections

REPLICA = "replica"
_pinned: ContextVar[bool] = ContextVar("db_pinned_to_primary", default=False)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def pin_to_primary() -> None:
    """From now until the end of the request or task, read from the primary (read-your-writes)."""
    _pinned.set(True)


class PrimaryReplicaRouter:
    """Replication lag must never show a publisher a world without their publish: after a write, and in
    any transaction on the primary, reads stay there. Everything else may be a little behind."""

    def db_for_read(self, model, **hints):
        if _pinned.get() or connections["default"].in_atomic_block:
            return "default"
        return REPLICA

    def db_for_write(self, model, **hints):
        _pinned.set(True)
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        # Same data on both (physical replication): objects from either may be related.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"


class ReplicaPinMiddleware:
    """Requests that write (POST, PUT, PATCH, DELETE) read from the primary throughout; the pin never
    outlives the request (sync workers reuse their thread)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _pinned.set(request.method not in _SAFE_METHODS)
        try:
            return self.get_response(request)
        finally:
            _pinned.reset(token)
