"""Celery tasks of analytics: thin wrappers over services; ids in, idempotent, acks_late, bounded retries."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from analytics import services
from analytics.anomalies import anomaly_detect, anomaly_events_consume
from analytics.models import ReportSchedule
from analytics.reports import report_generate
from analytics.reputation import reputation_compute

RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": 2, "retry_backoff_max": 60, "max_retries": 5,
         "retry_jitter": True, "acks_late": True, "ignore_result": True}


@shared_task(name="analytics.usage_ingest_task", **RETRY)
def usage_ingest_task(batch_id: str, rows: list[list]) -> bool:
    """The one task that takes data, not ids: a usage batch lives only in the message (it is counts from a
    process's memory, with no row to point to). ``batch_id`` makes a redelivery a no-op."""
    return services.usage_ingest(batch_id=batch_id, rows=rows)


@shared_task(name="analytics.reputation_compute_task", **RETRY)
def reputation_compute_task() -> dict:
    """Recompute every trust score from the source rows (periodic; same data gives the same scores)."""
    return reputation_compute()


@shared_task(name="analytics.anomaly_detect_task", **RETRY)
def anomaly_detect_task() -> int:
    """Run every detector over the last hour; a burst is stored once (fingerprint per kind, subject, hour)."""
    return len(anomaly_detect())


@shared_task(name="analytics.anomaly_events_consume_task", **RETRY)
def anomaly_events_consume_task() -> int:
    """Take other apps' anomaly.* outbox events into Anomaly rows (each event once)."""
    return len(anomaly_events_consume())


@shared_task(name="analytics.report_generate_task", **RETRY)
def report_generate_task(schedule_id: int) -> int | None:
    """Generate the report of one schedule; returns quietly when the schedule is gone."""
    schedule = ReportSchedule.objects.filter(pk=schedule_id).first()
    if schedule is None:
        return None
    return report_generate(namespace=schedule.namespace, period=schedule.period, schedule=schedule).id
