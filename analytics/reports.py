"""Per-namespace analytics reports: figures gathered for a period, charts drawn from them, schedules in beat."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from action_registry.document import in_namespace
from analytics import charts
from analytics.choices import ReportPeriod, RunKind, RunOutcome, UsageKind
from analytics.models import Anomaly, Report, ReportSchedule, ReputationChange, Run, UsageCount
from core.exceptions import DomainError
from core.models import Event
from core.services import audit_record

PERIODS = {ReportPeriod.DAILY: timedelta(days=1), ReportPeriod.WEEKLY: timedelta(days=7)}
REPORT_TASK = "analytics.report_generate_task"


def _ns_q(field: str, namespace: str) -> Q:
    """Rows of a namespace prefix (``infra`` covers ``infra`` and ``infra.*``; ``*`` covers all)."""
    if namespace == "*":
        return Q()
    return Q(**{field: namespace}) | Q(**{f"{field}__startswith": namespace + "."})


def report_data(*, namespace: str, period: str, end: datetime) -> dict:
    """The figures of one report (JSON-serialisable; charts are drawn from exactly this)."""
    start = end - PERIODS[period]
    step = timedelta(hours=1) if period == ReportPeriod.DAILY else timedelta(days=1)
    top_ns = namespace.split(".", 1)[0]
    usage = UsageCount.objects.filter(_ns_q("namespace", top_ns), bucket__gte=start, bucket__lt=end)
    if namespace not in ("*", top_ns):
        usage = usage.filter(_ns_q("action_name", namespace))
    n_steps = int(PERIODS[period] / step)
    labels = [(start + i * step).strftime("%m-%d %H:00" if step < timedelta(days=1) else "%Y-%m-%d")
              for i in range(n_steps)]
    series = {k: [0] * n_steps for k in (UsageKind.FETCH, UsageKind.VERIFY, UsageKind.NEGOTIATE,
                                         UsageKind.VERIFY_FAILED)}
    for row in usage.values("bucket", "kind").annotate(n=Sum("count")):
        idx = int((row["bucket"] - start) / step)
        if 0 <= idx < n_steps:
            series[row["kind"]][idx] += row["n"]
    runs = Run.objects.filter(_ns_q("action_name", namespace), kind=RunKind.INVOCATION,
                              reported_at__gte=start, reported_at__lt=end)
    success = [{"action": r["action_name"], "version": r["version"], "runs": r["n"],
                "success_rate": round(r["ok"] / r["n"], 4)}
               for r in runs.values("action_name", "version")
               .annotate(n=Count("id"), ok=Count("id", filter=Q(outcome=RunOutcome.SUCCESS)))
               .order_by("-n", "action_name", "version")[:30]]
    anomalies = Anomaly.objects.filter(_ns_q("namespace", top_ns), detected_at__gte=start, detected_at__lt=end)
    changes = ReputationChange.objects.filter(_ns_q("namespace", top_ns), computed_at__gte=start, computed_at__lt=end,
                                              previous_score__isnull=False)
    publishes = Event.objects.filter(_ns_q("namespace", top_ns), kind="action.published",
                                     created_at__gte=start, created_at__lt=end)
    if namespace != top_ns and namespace != "*":
        publishes = [e for e in publishes.values_list("subject", flat=True) if in_namespace(e.split("@")[0], namespace)]
    return {
        "namespace": namespace, "period": period, "start": start.isoformat(), "end": end.isoformat(),
        "totals": {"fetch": sum(series[UsageKind.FETCH]), "verify": sum(series[UsageKind.VERIFY]),
                   "negotiate": sum(series[UsageKind.NEGOTIATE]),
                   "verify_failed": sum(series[UsageKind.VERIFY_FAILED]),
                   "runs": sum(s["runs"] for s in success),
                   "publishes": len(publishes) if isinstance(publishes, list) else publishes.count(),
                   "anomalies": anomalies.count()},
        "consumption": {"labels": labels, "series": {str(k): v for k, v in series.items()}},
        "success_rates": success,
        "anomalies": [{"id": a.id, "kind": a.kind, "subject": a.subject, "summary": a.summary, "status": a.status,
                       "detected_at": a.detected_at.isoformat()} for a in anomalies.order_by("-detected_at")[:50]],
        "anomalies_by_kind": dict(anomalies.values_list("kind").annotate(n=Count("id")).order_by("kind")),
        "reputation_changes": [{"subject_type": c.subject_type, "subject": c.subject, "from": c.previous_score,
                                "to": c.score, "at": c.computed_at.isoformat()}
                               for c in changes.order_by("-computed_at")[:50]],
    }


def report_charts(data: dict) -> list[str]:
    """The report's SVG charts: consumption over time, success rates, anomalies by kind, reputation moves."""
    consumption = data["consumption"]
    latest: dict[str, dict] = {}
    for c in reversed(data["reputation_changes"]):
        latest[c["subject"]] = c
    return [
        charts.line_chart("Consumption (fetch, verify, negotiate, failed verifications)", consumption["labels"],
                          consumption["series"]),
        charts.bar_chart("Run success rate by version",
                         [(f'{s["action"]}@{s["version"]} ({s["runs"]})', s["success_rate"] * 100)
                          for s in data["success_rates"]], fmt="{:.0f}%", max_value=100),
        charts.bar_chart("Anomalies by kind", sorted(data["anomalies_by_kind"].items())),
        charts.bar_chart("Reputation changes (points)",
                         [(c["subject"], round(c["to"] - c["from"], 2)) for c in latest.values()], signed=True),
    ]


@transaction.atomic
def report_generate(*, namespace: str, period: str, now: datetime | None = None,
                    schedule: ReportSchedule | None = None) -> Report:
    """Generate (or regenerate: same namespace, period and minute give the same row) one report."""
    # The window ends at the next whole minute: regenerating within the minute updates the same report.
    end = (now or timezone.now()).replace(second=0, microsecond=0) + timedelta(minutes=1)
    data = json.loads(json.dumps(report_data(namespace=namespace, period=period, end=end), default=str))
    report, _ = Report.objects.update_or_create(
        namespace=namespace, period=period, period_end=end,
        defaults={"period_start": end - PERIODS[period], "data": data, "schedule": schedule})
    return report


def _default_crontab(period: str) -> CrontabSchedule:
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="6", day_of_week="1" if period == ReportPeriod.WEEKLY else "*", day_of_month="*",
        month_of_year="*", timezone="UTC")
    return crontab


@transaction.atomic
def report_schedule_save(*, namespace: str, period: str, actor: str, every_seconds: int | None = None,
                         schedule: ReportSchedule | None = None) -> ReportSchedule:
    """Create a namespace's report schedule and its beat entry (06:00 UTC daily, or Mondays for weekly;
    ``every_seconds`` for an interval instead). The timing stays editable on the PeriodicTask in the admin."""
    if period not in ReportPeriod.values:
        raise DomainError(f"period must be one of {', '.join(ReportPeriod.values)}", code="invalid_period",
                          status=422)
    schedule = schedule or ReportSchedule(namespace=namespace, period=period, created_by=actor)
    schedule.namespace, schedule.period = namespace, period
    schedule.full_clean(exclude=["periodic_task"])
    schedule.save()
    timing = ({"interval": IntervalSchedule.objects.get_or_create(every=every_seconds,
                                                                  period=IntervalSchedule.SECONDS)[0],
               "crontab": None} if every_seconds else {"crontab": _default_crontab(period), "interval": None})
    task = schedule.periodic_task or PeriodicTask(name=f"analytics report {schedule.id}: {period} {namespace}")
    if schedule.periodic_task is None or every_seconds:
        task.interval, task.crontab = timing["interval"], timing["crontab"]
    task.task, task.kwargs, task.enabled = REPORT_TASK, json.dumps({"schedule_id": schedule.id}), True
    task.name = f"analytics report {schedule.id}: {period} {namespace}"
    task.save()
    if schedule.periodic_task_id != task.id:
        schedule.periodic_task = task
        schedule.save(update_fields=["periodic_task"])
    audit_record(action="report_schedule.saved", actor=actor, target=f"{period}:{namespace}",
                 data={"every_seconds": every_seconds, "periodic_task": task.id})
    return schedule
