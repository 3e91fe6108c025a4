"""Writes shared by every app: events into the outbox, entries into the audit log."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from core.middleware import current_request_id
from core.models import AuditEntry, Event, LogLeaf
from core.transparency import log_append, log_lock

_listeners: list = []
# Deliberately the transparency log's lock key (core.transparency.LOG_LOCK_KEY, "ar:tlog"): with one lock
# the two can never deadlock, and a publish holds it anyway for its log leaf.
OUTBOX_LOCK_KEY = int.from_bytes(b"ar:tlog", "big")


def on_event_committed(callback) -> None:
    """Register ``callback(event)`` run after the transaction that wrote an event commits (the saved ``Event``,
    so a listener need not read it back)."""
    _listeners.append(callback)


def event_emit(*, kind: str, namespace: str = "", subject: str = "", payload: dict[str, Any] | None = None) -> Event:
    """Append an event to the outbox in the caller's transaction; fan-out happens after commit."""
    with transaction.atomic(savepoint=False):
        # Held until commit, so event ids become visible in id order: a subscriber that has seen event N
        # has seen (or can read) every event below N, and `since=<id>` never skips a late committer.
        log_lock()  # OUTBOX_LOCK_KEY is its key; taken once per transaction, however many events and leaves
        event = Event.objects.create(kind=kind, namespace=namespace, subject=subject, payload=payload or {},
                                     request_id=current_request_id() or "")
    for callback in _listeners:
        transaction.on_commit(lambda cb=callback, ev=event: cb(ev))
    return event


def event_emit_logged(*, kind: str, namespace: str = "", subject: str = "", payload: dict[str, Any],
                      log_payload: dict[str, Any]) -> tuple[Event, LogLeaf]:
    """``event_emit`` and ``log_append`` of one change (same kind, namespace and subject), in the caller's
    transaction: the event is written in the log-head round trip, under the lock both need anyway."""
    event = Event(kind=kind, namespace=namespace, subject=subject, payload=payload,
                  request_id=current_request_id() or "")
    leaf = log_append(kind=kind, namespace=namespace, subject=subject, payload=log_payload, event=event)
    event_logged(event)
    return event, leaf


def event_logged(event: Event) -> None:
    """Hand an event written with its log entry (``core.transparency.log_append``, or ``registry_publish``) to
    the listeners once it commits: at once when it was written outside a transaction (then it has)."""
    for callback in _listeners:
        transaction.on_commit(lambda cb=callback, ev=event: cb(ev))


def audit_record(*, action: str, actor: str, target: str = "", reason: str = "", data: dict | None = None,
                 user=None) -> AuditEntry:
    return AuditEntry.objects.create(action=action, actor=actor, target=target, reason=reason, data=data or {},
                                     user=user, request_id=current_request_id() or "")
