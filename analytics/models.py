"""Runs (CWOM invocation reports), usage, reputation scores, anomalies and scheduled reports."""

from django.db import models
from django.db.models import Q

from analytics.choices import RunKind, RunOutcome

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
