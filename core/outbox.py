"""The event outbox's way out: fan-out on the event bus after commit, the drain, and reads by id.

Delivery guarantees rest on one invariant kept by ``core.services.event_emit``: event ids become visible in
id order (the insert takes a transaction-scoped lock held until commit), so "every event with id <= N" is
complete as soon as event N is visible. Subscribers keep a cursor and can always catch up from the table;
the bus (``core.event_bus``: one Redis PUBLISH per event, heard once per process) only makes them hear sooner.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from core import event_bus
from core.models import Event
from core.prepared import sql_rows

logger = logging.getLogger("action_registry.events")

PAGE_MAX = 1000


def event_wire(event: Event) -> dict:
    """The JSON form of an event, the same on the WebSocket and at GET /v1/events. ``request_id`` is the id of
    the request (or task) that caused it, so a delivery can be followed back to the publish's log line."""
    return {"id": event.id, "kind": event.kind, "namespace": event.namespace, "subject": event.subject,
            "payload": event.payload, "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
            "request_id": event.request_id}


def event_frame(wire: dict) -> str:
    """The WebSocket frame of an event: built once per event, then sent as-is to every subscriber."""
    return json.dumps({"type": "event", **wire}, separators=(",", ":"))


# --- reads ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EventFilter:
    """Namespaces (top-level segments; empty = all) and kinds (exact, or ``prefix.*``; empty = all).
    Registry-wide events (namespace '') such as key revocations reach every namespace subscriber."""

    namespaces: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    def matches(self, event: dict) -> bool:
        if self.namespaces and event["namespace"] and event["namespace"] not in self.namespaces:
            return False
        if self.kinds:
            kind = event["kind"]
            return any(kind == k or (k.endswith(".*") and kind.startswith(k[:-1])) for k in self.kinds)
        return True

    def q(self) -> Q:
        cond = Q()
        if self.namespaces:
            cond &= Q(namespace__in=self.namespaces) | Q(namespace="")
        if self.kinds:
            kinds = Q()
            for k in self.kinds:
                kinds |= Q(kind__startswith=k[:-1]) if k.endswith(".*") else Q(kind=k)
            cond &= kinds
        return cond


def event_latest_id() -> int:
    return Event.objects.aggregate(m=Max("id"))["m"] or 0


def events_after(*, since: int, until: int | None = None, where: EventFilter = EventFilter(),
                 limit: int = PAGE_MAX) -> QuerySet[Event]:
    """Events with ``since < id <= until`` matching ``where``, oldest first."""
    qs = Event.objects.filter(where.q(), id__gt=since)
    if until is not None:
        qs = qs.filter(id__lte=until)
    return qs.order_by("id")[:limit]


def events_page(*, since: int, where: EventFilter, limit: int) -> tuple[list[dict], int, bool]:
    """One page for pollers: ``(events, next_since, has_more)``. ``next_since`` also skips events the
    filter hides, so a poller that saw nothing still moves forward."""
    upto = event_latest_id()
    rows = list(events_after(since=since, until=upto, where=where, limit=limit + 1))
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_since = rows[-1].id if has_more else max(since, upto)
    return [event_wire(r) for r in rows], next_since, has_more


# --- fan-out --------------------------------------------------------------------------------------

def _frames(events: Iterable[Event]) -> list[str]:
    return [event_frame(event_wire(e)) for e in events]


_MARK_DISPATCHED_SQL = "UPDATE core_event SET dispatched_at = %s WHERE id = %s AND dispatched_at IS NULL"


def _note(event: Event) -> str:
    return event_bus.sent_note(event.id, event.created_at)


def event_fanout(event: Event | int) -> None:
    """``on_event_committed`` listener: publish the committed event on the event bus, which notes it as sent in
    the same Redis command; the drain marks noted rows dispatched in bulk, so a publish costs no UPDATE of its
    row. Without Redis (the embedded ``make run``) the row is marked here.

    Takes the committed ``Event`` as written (no read back; an id is read first). Never raises: the change is
    already committed, and a bus that is down (Redis stopped) only delays delivery; the row stays undispatched
    and un-noted, so ``events_drain`` sends it, and subscribers' catch-up reads it."""
    try:
        if not isinstance(event, Event):
            event = Event.objects.filter(pk=event).first()
            if event is None:
                return
        if event_bus.publish(_frames([event]), notes=[_note(event)]):
            return
        if connection.vendor == "postgresql":
            sql_rows(_MARK_DISPATCHED_SQL, [timezone.now(), event.pk])
        else:
            Event.objects.filter(pk=event.pk, dispatched_at__isnull=True).update(dispatched_at=timezone.now())
    except Exception as exc:  # noqa: BLE001 (any bus failure: the drain retries from the table)
        logger.warning("event fan-out failed for event %s, left for the outbox drain: %s",
                       getattr(event, "pk", event), exc)


def events_drain(*, settle_seconds: float = 1.0, batch: int = 500) -> int:
    """Mark dispatched the outbox rows older than ``settle_seconds``: those the bus noted as sent in bulk, after
    sending the rest (Redis was down, or a process died right after commit). Returns how many rows it marked.

    Rows younger than ``settle_seconds`` are left to their own after-commit fan-out; sending one twice is
    harmless (subscribers drop ids at or below their cursor). Raises when Redis is still down."""
    marked = 0
    while True:
        with transaction.atomic():
            cutoff = timezone.now() - timedelta(seconds=settle_seconds)
            rows = list(Event.objects.select_for_update(skip_locked=True)
                        .filter(dispatched_at__isnull=True, created_at__lte=cutoff).order_by("id")[:batch])
            if not rows:
                return marked
            notes = [_note(r) for r in rows]
            noted = event_bus.sent_among(notes)
            event_bus.publish(_frames(r for r, note in zip(rows, notes, strict=True) if note not in noted))
            Event.objects.filter(pk__in=[r.pk for r in rows]).update(dispatched_at=timezone.now())
        try:
            event_bus.sent_forget(sorted(noted))
        except Exception as exc:  # noqa: BLE001 (a note left behind only costs its bytes)
            logger.warning("could not drop %d sent notes: %s", len(noted), exc)
        marked += len(rows)
        if len(rows) < batch:
            return marked


def outbox_depth(*, scan: int = 10_000) -> int:
    """Events not yet sent: undispatched rows the bus has not noted as sent (the first ``scan`` rows are
    checked against the notes; past that, the rest are counted as unsent)."""
    rows = list(Event.objects.filter(dispatched_at__isnull=True).order_by("id").values_list("id", "created_at")[:scan])
    total = len(rows) if len(rows) < scan else Event.objects.filter(dispatched_at__isnull=True).count()
    try:
        noted = event_bus.sent_among([event_bus.sent_note(i, at) for i, at in rows])
    except Exception:  # noqa: BLE001 (Redis down: nothing is known to be sent)
        noted = set()
    return total - len(noted)


def stream_settings() -> dict:
    return getattr(settings, "ACTION_REGISTRY_EVENTS", {})
