"""Runs (CWOM invocation reports), usage, reputation scores, anomalies and scheduled reports."""

from django.db import models
from django.db.models import Q

from analytics.choices import AnomalyStatus, ReportPeriod, RunKind, RunOutcome, SubjectType, UsageKind

DIGEST_OR_EMPTY = r"^(sha256:[0-9a-f]{64})?$"


class Run(models.Model):
    """One reported invocation of ``action@version`` by an agent. Append-only: a trigger refuses UPDATE/DELETE.

    ``constraint_snapshot`` is filled by the registry, never by the reporter: the hash of the trust state
    (keys, revocations, policies) at the moment the run was recorded.
    """

    id = models.BigAutoField(primary_key=True)
    action_version = models.ForeignKey("registry.ActionVersion", on_delete=models.PROTECT, related_name="runs")
    action_name = models.CharField(max_length=200, db_index=True, help_text="Denormalised for stats queries.")
    version = models.CharField(max_length=128)
    namespace = models.CharField(max_length=200, db_index=True)
    kind = models.CharField(max_length=16, choices=RunKind.choices, default=RunKind.INVOCATION, db_index=True)
    agent = models.CharField(max_length=200, db_index=True,
                             help_text="The agent that ran (invocation) or was allocated (negotiation: the provider).")
    requester = models.CharField(max_length=200, blank=True, help_text="Negotiation only: the agent that asked.")
    ring = models.CharField(max_length=64, blank=True, help_text="The agent's deployment ring (stable, canary...).")
    negotiation_id = models.CharField(max_length=64, blank=True, db_index=True,
                                      help_text="The negotiation that allocated this run, when there was one.")
    context_digest = models.CharField(max_length=71, blank=True)
    inputs_digest = models.CharField(max_length=71, blank=True)
    constraint_snapshot = models.CharField(max_length=71, help_text="sha256 of the trust state at report time.")
    outcome = models.CharField(max_length=16, choices=RunOutcome.choices)
    error_code = models.CharField(max_length=100, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    artifacts = models.JSONField(default=list, blank=True, help_text="[{name, digest, uri}]")
    override_reason = models.TextField(blank=True, help_text="Recorded policy override (e.g. deprecated version).")
    reported_by = models.ForeignKey("governance.ApiKey", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    reported_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["action_version", "outcome"], name="analytics_run_version_outcome")]
        constraints = [
            models.CheckConstraint(condition=Q(outcome__in=RunOutcome.values), name="run_outcome_valid"),
            models.CheckConstraint(condition=Q(kind__in=RunKind.values), name="run_kind_valid"),
            models.CheckConstraint(condition=Q(constraint_snapshot__regex=r"^sha256:[0-9a-f]{64}$"),
                                   name="run_constraint_snapshot_format"),
            models.CheckConstraint(condition=Q(context_digest__regex=DIGEST_OR_EMPTY), name="run_context_digest_format"),
            models.CheckConstraint(condition=Q(inputs_digest__regex=DIGEST_OR_EMPTY), name="run_inputs_digest_format"),
            models.CheckConstraint(condition=~Q(outcome=RunOutcome.ERROR) | ~Q(error_code=""),
                                   name="run_error_has_code"),
        ]

    def __str__(self) -> str:
        return f"run #{self.id} {self.action_name}@{self.version} {self.outcome}"


class UsageCount(models.Model):
    """Reads of one ``action@version`` by one agent in one hour, summed from batches of usage events."""

    bucket = models.DateTimeField(help_text="Start of the hour (UTC).")
    kind = models.CharField(max_length=16, choices=UsageKind.choices)
    action_name = models.CharField(max_length=200)
    version = models.CharField(max_length=128, blank=True)
    namespace = models.CharField(max_length=200, db_index=True)
    agent = models.CharField(max_length=200, blank=True, help_text="X-Agent-Id, else the API key name, else ''.")
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["bucket", "kind", "action_name", "version", "agent"]
        indexes = [models.Index(fields=["agent", "bucket"], name="analytics_usage_agent_bucket"),
                   models.Index(fields=["action_name", "bucket"], name="analytics_usage_action_bucket")]
        constraints = [
            models.UniqueConstraint(fields=["bucket", "kind", "action_name", "version", "agent"],
                                    name="usagecount_bucket_key_unique"),
            models.CheckConstraint(condition=Q(kind__in=UsageKind.values), name="usagecount_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H}h {self.kind} {self.action_name}@{self.version} x{self.count}"


class UsageBatch(models.Model):
    """A flushed batch's id: a redelivered batch (acks_late) is recognised and not counted twice."""

    id = models.UUIDField(primary_key=True)
    events = models.PositiveIntegerField()
    ingested_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["ingested_at"]

    def __str__(self) -> str:
        return f"batch {self.id} ({self.events} events)"


class ReputationScore(models.Model):
    """The current trust score of an action or a publisher (signing key), with the inputs that made it."""

    subject_type = models.CharField(max_length=16, choices=SubjectType.choices)
    subject = models.CharField(max_length=200, help_text="Action name or kid.")
    namespace = models.CharField(max_length=200, blank=True, db_index=True)
    score = models.FloatField(help_text="0..100; formula in analytics/reputation.py and docs/analytics.md.")
    previous_score = models.FloatField(null=True, blank=True)
    inputs = models.JSONField(default=dict, help_text="Every input of the formula, as used.")
    formula = models.CharField(max_length=32)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["subject_type", "subject"]
        constraints = [
            models.UniqueConstraint(fields=["subject_type", "subject"], name="reputationscore_subject_unique"),
            models.CheckConstraint(condition=Q(score__gte=0) & Q(score__lte=100), name="reputationscore_range"),
        ]

    def __str__(self) -> str:
        return f"{self.subject_type} {self.subject}: {self.score:.1f}"


class ReputationChange(models.Model):
    """History: one row each time a subject's score moves, for reports and audits."""

    subject_type = models.CharField(max_length=16, choices=SubjectType.choices)
    subject = models.CharField(max_length=200)
    namespace = models.CharField(max_length=200, blank=True, db_index=True)
    score = models.FloatField()
    previous_score = models.FloatField(null=True, blank=True)
    inputs = models.JSONField(default=dict)
    computed_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-computed_at", "id"]
        indexes = [models.Index(fields=["subject_type", "subject", "computed_at"], name="analytics_repchange_subject")]

    def __str__(self) -> str:
        return f"{self.subject}: {self.previous_score} -> {self.score}"


class Anomaly(models.Model):
    """Something unusual, with the evidence that made it so. Detected here or reported by another app
    (an ``anomaly.*`` event); acknowledged by a person, never deleted."""

    kind = models.CharField(max_length=64, db_index=True)
    subject = models.CharField(max_length=300)
    namespace = models.CharField(max_length=200, blank=True, db_index=True)
    summary = models.CharField(max_length=500)
    evidence = models.JSONField(default=dict)
    fingerprint = models.CharField(max_length=300, unique=True, help_text="kind:subject:window (idempotency).")
    source_event = models.OneToOneField("core.Event", null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+", help_text="The anomaly.* event it came from, if any.")
    status = models.CharField(max_length=16, choices=AnomalyStatus.choices, default=AnomalyStatus.OPEN,
                              db_index=True)
    detected_at = models.DateTimeField(db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=200, blank=True)
    acknowledgement_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        verbose_name_plural = "anomalies"
        constraints = [
            models.CheckConstraint(condition=Q(status__in=AnomalyStatus.values), name="anomaly_status_valid"),
            models.CheckConstraint(condition=Q(status=AnomalyStatus.OPEN) | ~Q(acknowledged_by=""),
                                   name="anomaly_ack_has_actor"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject} ({self.status})"


class ReportSchedule(models.Model):
    """A namespace's scheduled report; its timing is a django-celery-beat PeriodicTask, editable in the admin."""

    namespace = models.CharField(max_length=200)
    period = models.CharField(max_length=16, choices=ReportPeriod.choices, default=ReportPeriod.DAILY)
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", null=True, blank=True,
                                         on_delete=models.SET_NULL, related_name="+")
    created_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["namespace", "period"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "period"], name="reportschedule_namespace_period_unique"),
            models.CheckConstraint(condition=Q(period__in=ReportPeriod.values), name="reportschedule_period_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.period} report for {self.namespace}"


class Report(models.Model):
    """One generated report: the figures (charts are drawn from them when viewed or downloaded)."""

    namespace = models.CharField(max_length=200, db_index=True)
    period = models.CharField(max_length=16, choices=ReportPeriod.choices)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    schedule = models.ForeignKey(ReportSchedule, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="reports")
    data = models.JSONField(default=dict)
    generated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period_end", "namespace"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "period", "period_end"], name="report_window_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.period} report {self.namespace} to {self.period_end:%Y-%m-%d %H:%M}"
