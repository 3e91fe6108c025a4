"""Reads for the analytics web pages: consumption, open anomalies, reputation and its history, recent reports."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from analytics.choices import AnomalyStatus, SubjectType, UsageKind
from analytics.models import Anomaly, Report, ReputationChange, ReputationScore, UsageCount


def _days(days: int) -> list[date]:
    today = timezone.now().date()
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


def consumption_by_day(*, days: int = 30, action: str | None = None) -> dict[str, list[int]]:
    """``{kind label: [count per day]}`` of fetches, verifications and failed verifications, oldest day first."""
    axis = _days(days)
    qs = UsageCount.objects.filter(bucket__date__gte=axis[0])
    if action:
        qs = qs.filter(action_name=action)
    rows = qs.annotate(day=TruncDate("bucket")).values("day", "kind").annotate(n=Sum("count"))
    found = {(r["day"], r["kind"]): r["n"] for r in rows}
    kinds = [UsageKind.FETCH, UsageKind.VERIFY, UsageKind.VERIFY_FAILED]
    return {kind.label: [found.get((d, kind.value), 0) for d in axis] for kind in kinds}


def day_labels(*, days: int = 30) -> list[str]:
    return [d.strftime("%m-%d") for d in _days(days)]


def anomalies_open(*, limit: int = 20) -> list[Anomaly]:
    return list(Anomaly.objects.filter(status=AnomalyStatus.OPEN).order_by("-detected_at", "id")[:limit])


def reputation_top(*, subject_type: str = SubjectType.ACTION, limit: int = 12) -> list[ReputationScore]:
    return list(ReputationScore.objects.filter(subject_type=subject_type).order_by("-score", "subject")[:limit])


def reputation_history(*, subject: str, subject_type: str = SubjectType.ACTION, limit: int = 200) -> list:
    rows = (ReputationChange.objects.filter(subject_type=subject_type, subject=subject)
            .order_by("-computed_at", "-id")[:limit])
    return list(reversed(rows))


def reports_recent(*, limit: int = 10) -> list[Report]:
    return list(Report.objects.order_by("-period_end", "namespace")[:limit])
