"""Anomaly detection over each subject's own history (median/MAD), and intake of other apps' anomaly events.

Every detector compares the count in the current window (``WINDOW``, one hour) with the same count in each
earlier window of the subject's own history (up to ``HISTORY``, since the subject first appeared), using
:func:`analytics.stats.robust_outlier`: a key that publishes 30 versions an hour every day is normal for
that key; a key that publishes one a week and now 8 in an hour is not.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from analytics.choices import AnomalyKind, AnomalyStatus, UsageKind
from analytics.models import Anomaly, UsageCount
from analytics.stats import robust_outlier
from core.models import Event
from core.services import audit_record, event_emit

WINDOW = timedelta(hours=1)
HISTORY = timedelta(days=14)
STABLE_GAP = timedelta(days=7)  # "long-stable": no publish for at least this long before the burst
OWN_EVENTS = ("anomaly.detected", "anomaly.acknowledged")


def _series(times: list[datetime], *, now: datetime, since: datetime) -> tuple[list[int], int]:
    """Counts per window over [since, now - WINDOW) (zeros included) and the count in the current window."""
    start = now - WINDOW
    n_hist = max(0, int((start - since) / WINDOW))
    history = [0] * n_hist
    current = 0
    for t in times:
        if t >= start:
            current += 1
        elif n_hist:
            idx = int((start - t) / WINDOW)
            if idx < n_hist:
                history[n_hist - 1 - idx] += 1
    return history, current


@transaction.atomic
def anomaly_raise(*, kind: str, subject: str, namespace: str, summary: str, evidence: dict, now: datetime,
                  source_event: Event | None = None) -> Anomaly | None:
    """Store one anomaly (once per kind, subject and window) and emit ``anomaly.detected`` with it."""
    fingerprint = (f"event:{source_event.id}" if source_event else
                   f"{kind}:{subject}:{now.replace(minute=0, second=0, microsecond=0).isoformat()}")
    recent_open = Anomaly.objects.filter(kind=kind, subject=subject, status=AnomalyStatus.OPEN,
                                         detected_at__gte=now - WINDOW)
    if source_event is None and recent_open.exists():
        return None  # the same burst, seen again by the next run of the detector
    try:
        with transaction.atomic():
            anomaly = Anomaly.objects.create(kind=kind, subject=subject[:300], namespace=namespace[:200],
                                             summary=summary[:500], evidence=evidence, fingerprint=fingerprint,
                                             source_event=source_event, detected_at=now)
    except IntegrityError:
        return None
    event_emit(kind="anomaly.detected", namespace=namespace, subject=subject,
               payload={"anomaly_id": anomaly.id, "kind": kind, "summary": anomaly.summary, "evidence": evidence})
    return anomaly


@transaction.atomic
def anomaly_acknowledge(*, anomaly: Anomaly, actor: str, note: str = "") -> Anomaly:
    anomaly = Anomaly.objects.select_for_update().get(pk=anomaly.pk)
    if anomaly.status == AnomalyStatus.ACKNOWLEDGED:
        return anomaly
    anomaly.status, anomaly.acknowledged_at = AnomalyStatus.ACKNOWLEDGED, timezone.now()
    anomaly.acknowledged_by, anomaly.acknowledgement_note = actor, note
    anomaly.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "acknowledgement_note"])
    audit_record(action="anomaly.acknowledged", actor=actor, target=f"anomaly:{anomaly.id}", reason=note,
                 data={"kind": anomaly.kind, "subject": anomaly.subject})
    event_emit(kind="anomaly.acknowledged", namespace=anomaly.namespace, subject=anomaly.subject,
               payload={"anomaly_id": anomaly.id, "kind": anomaly.kind, "by": actor})
    return anomaly


# --- detectors --------------------------------------------------------------------------------------

def _publishes(now: datetime, lookback: timedelta) -> list[dict]:
    return list(Event.objects.filter(kind="action.published", created_at__gte=now - lookback, created_at__lte=now)
                .order_by("id").values("created_at", "namespace", "subject", "payload"))


def detect_publish_spikes(now: datetime) -> list[Anomaly]:
    """A key publishing far more in the last hour than it does in its own usual hour."""
    by_kid: dict[str, list[dict]] = defaultdict(list)
    for e in _publishes(now, HISTORY):
        by_kid[e["payload"].get("kid", "")].append(e)
    found = []
    for kid, events in by_kid.items():
        times = [e["created_at"] for e in events]
        if not kid or times[-1] < now - WINDOW:
            continue
        history, current = _series(times, now=now, since=max(min(times), now - HISTORY))
        test = robust_outlier(history, current, min_excess=3, min_count=5)
        if test.is_outlier:
            recent = [e["subject"] for e in events if e["created_at"] >= now - WINDOW]
            found.append(anomaly_raise(
                kind=AnomalyKind.PUBLISH_SPIKE, subject=kid, namespace=events[-1]["namespace"], now=now,
                summary=f"key {kid} published {current} versions in the last hour "
                        f"(its usual hour: median {test.median:g}, threshold {test.threshold:g})",
                evidence={**test.as_dict(), "window": "1h", "published": recent[:50]}))
    return [a for a in found if a]


def detect_rapid_republish(now: datetime) -> list[Anomaly]:
    """An action quiet for at least a week that suddenly gets several versions within the hour."""
    by_action: dict[str, list[dict]] = defaultdict(list)
    for e in _publishes(now, timedelta(days=90)):
        by_action[e["payload"].get("name", e["subject"].split("@")[0])].append(e)
    found = []
    for name, events in by_action.items():
        recent = [e for e in events if e["created_at"] >= now - WINDOW]
        before = [e for e in events if e["created_at"] < now - WINDOW]
        if not recent or not before or before[-1]["created_at"] > now - WINDOW - STABLE_GAP:
            continue
        times = [e["created_at"] for e in events]
        history, current = _series(times, now=now, since=min(times))
        test = robust_outlier(history, current, min_excess=2, min_count=3)
        if test.is_outlier:
            quiet = (now - WINDOW - before[-1]["created_at"]).days
            found.append(anomaly_raise(
                kind=AnomalyKind.RAPID_REPUBLISH, subject=name, namespace=events[-1]["namespace"], now=now,
                summary=f"{name} was stable for {quiet} days, then got {current} versions in an hour",
                evidence={**test.as_dict(), "quiet_days": quiet, "previous_publish": before[-1]["created_at"].isoformat(),
                          "versions": [e["subject"] for e in recent][:50]}))
    return [a for a in found if a]


def _usage(now: datetime, kinds: list[str]) -> list[dict]:
    return list(UsageCount.objects.filter(bucket__gte=now - HISTORY, kind__in=kinds)
                .values("bucket", "action_name", "namespace", "agent").annotate(n=Sum("count")).order_by("bucket"))


def detect_new_consumption(now: datetime) -> list[Anomaly]:
    """An agent with a history suddenly reading many actions it never used before."""
    rows = _usage(now, [UsageKind.FETCH, UsageKind.VERIFY, UsageKind.NEGOTIATE])
    first_seen: dict[str, dict[str, datetime]] = defaultdict(dict)
    namespaces: dict[str, str] = {}
    for r in rows:
        if r["agent"]:
            first_seen[r["agent"]].setdefault(r["action_name"], r["bucket"])
            namespaces[r["action_name"]] = r["namespace"]
    window_start = (now - WINDOW).replace(minute=0, second=0, microsecond=0)
    found = []
    for agent, seen in first_seen.items():
        start = min(seen.values())
        if start >= window_start:
            continue  # a new agent: everything is new, nothing is unusual yet
        # The agent's very first hour is all novel, so its history starts an hour later.
        novel_before = [t for t in seen.values() if start < t < window_start]
        history, _ = _series(novel_before, now=window_start + WINDOW, since=start + WINDOW)
        current = sum(1 for t in seen.values() if t >= window_start)
        test = robust_outlier(history, current, min_excess=3, min_count=3)
        if test.is_outlier:
            new = sorted(a for a, t in seen.items() if t >= window_start)
            found.append(anomaly_raise(
                kind=AnomalyKind.NEW_CONSUMPTION, subject=agent, namespace=namespaces.get(new[0], ""), now=now,
                summary=f"agent {agent} used {current} actions it had never used before in the last hour",
                evidence={**test.as_dict(), "new_actions": new[:50], "known_actions": len(seen) - len(new)}))
    return [a for a in found if a]


def detect_verification_failures(now: datetime) -> list[Anomaly]:
    """Far more failed verifications of an action than its own usual hour."""
    per_action: dict[str, list[dict]] = defaultdict(list)
    for r in _usage(now, [UsageKind.VERIFY_FAILED]):
        per_action[r["action_name"]].append(r)
    window_start = (now - WINDOW).replace(minute=0, second=0, microsecond=0)
    found = []
    for name, rows in per_action.items():
        current = sum(r["n"] for r in rows if r["bucket"] >= window_start)
        if not current:
            continue
        first = min(r["bucket"] for r in rows)
        n_hist = max(0, int((window_start - first) / WINDOW))
        history = [0] * n_hist
        for r in rows:
            idx = int((window_start - r["bucket"]) / WINDOW) if r["bucket"] < window_start else -1
            if 0 < idx <= n_hist:
                history[n_hist - idx] += r["n"]
        test = robust_outlier(history, current, min_excess=5, min_count=5)
        if test.is_outlier:
            found.append(anomaly_raise(
                kind=AnomalyKind.VERIFICATION_FAILURES, subject=name, namespace=rows[0]["namespace"], now=now,
                summary=f"{current} failed verifications of {name} in the last hour (usual: {test.median:g})",
                evidence={**test.as_dict(), "agents": sorted({r["agent"] for r in rows
                                                              if r["bucket"] >= window_start and r["agent"]})[:50]}))
    return [a for a in found if a]


DETECTORS = (detect_publish_spikes, detect_rapid_republish, detect_new_consumption, detect_verification_failures)


def anomaly_detect(*, now: datetime | None = None) -> list[Anomaly]:
    now = now or timezone.now()
    return [a for detector in DETECTORS for a in detector(now)]


def anomaly_events_consume(*, limit: int = 500) -> list[Anomaly]:
    """Turn other apps' ``anomaly.*`` outbox events (capability hash mismatch, mirror quarantine, ...) into
    Anomaly rows; an event is taken once (``source_event`` is unique)."""
    events = (Event.objects.filter(kind__startswith="anomaly.", created_at__gte=timezone.now() - HISTORY)
              .exclude(kind__in=OWN_EVENTS)
              .exclude(id__in=Anomaly.objects.filter(source_event__isnull=False).values("source_event_id"))
              .order_by("id")[:limit])
    found = []
    for e in events:
        kind = e.kind.removeprefix("anomaly.")
        found.append(anomaly_raise(kind=kind, subject=e.subject or kind, namespace=e.namespace, now=e.created_at,
                                   summary=f"{kind.replace('_', ' ')}: {e.subject}", source_event=e,
                                   evidence={"event_id": e.id, "event_kind": e.kind, **e.payload}))
    return [a for a in found if a]
