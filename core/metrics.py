"""Prometheus metrics of the registry, and the /metrics exposition (multiprocess-aware for gunicorn)."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

# Latency buckets sized for this service: most answers take 1-20 ms; publishes up to ~100 ms.
_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

HTTP_REQUESTS = Counter("ar_http_requests_total", "HTTP requests answered, by route and status.",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("ar_http_request_duration_seconds", "Time to answer an HTTP request, by route.",
                         ["method", "route"], buckets=_BUCKETS)
PUBLISHES = Counter("ar_publishes_total",
                    "Publish attempts: accepted (new record), unchanged (identical re-publish) or refused, by "
                    "the refusal's error code.", ["result", "reason"])
VERIFICATIONS = Counter("ar_verifications_total",
                        "Verification results served (fetch, verify), by result and reason when failed.",
                        ["result", "reason"])
EVENTS_DELIVERED = Counter("ar_events_delivered_total", "Events delivered to subscribers, by kind and channel.",
                           ["kind", "channel"])
CELERY_TASKS = Counter("ar_celery_tasks_total", "Celery task outcomes, by task name.", ["task", "outcome"])


def publish_observed(*, status: int, reason: str = "") -> None:
    if status == 201:
        PUBLISHES.labels(result="accepted", reason="").inc()
    elif status == 200:
        PUBLISHES.labels(result="unchanged", reason="").inc()
    else:
        PUBLISHES.labels(result="refused", reason=reason or f"http_{status}").inc()


def verification_observed(result: dict) -> None:
    if result.get("verified"):
        VERIFICATIONS.labels(result="verified", reason="").inc()
    else:
        VERIFICATIONS.labels(result="failed", reason=result.get("reason") or "unknown").inc()


def event_delivered(*, kind: str, channel: str = "websocket") -> None:
    """Call once per event handed to a subscriber (WebSocket consumer, webhook task)."""
    EVENTS_DELIVERED.labels(kind=kind, channel=channel).inc()


class OutboxCollector:
    """``ar_outbox_depth``: events written but not yet dispatched, read from the database at scrape time
    (a gauge kept in process memory would be wrong as soon as there are two processes)."""

    def collect(self):
        from django.db import DatabaseError

        from core.outbox import outbox_depth

        try:
            depth = outbox_depth()
        except DatabaseError:
            # Metrics must still be served when the database is down; the readiness probe says why.
            return
        gauge = GaugeMetricFamily("ar_outbox_depth", "Events in the outbox not yet sent on the event bus.")
        gauge.add_metric([], depth)
        yield gauge


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or ""


def metrics_exposition() -> bytes:
    """The text exposition: every process's samples (multiprocess mode) or this process's, plus the outbox."""
    from prometheus_client import REGISTRY, multiprocess

    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    outbox = CollectorRegistry()
    outbox.register(OutboxCollector())
    return body + generate_latest(outbox)
