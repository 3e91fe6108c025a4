"""Enumerations of the analytics app."""

from django.db import models


class RunOutcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure (the action ran and did not achieve its goal)"
    ERROR = "error", "Error (the action could not run; see error_code)"


class RunKind(models.TextChoices):
    INVOCATION = "invocation", "Invocation (reported by the agent that ran the action)"
    NEGOTIATION = "negotiation", "Negotiation (the registry allocated a provider to a requester)"


class UsageKind(models.TextChoices):
    FETCH = "fetch", "Fetch"
    VERIFY = "verify", "Verify"
    VERIFY_FAILED = "verify_failed", "Verify (failed)"
    NEGOTIATE = "negotiate", "Negotiate"


class SubjectType(models.TextChoices):
    ACTION = "action", "Action"
    PUBLISHER = "publisher", "Publisher (signing key)"
    AGENT = "agent", "Agent (as a provider that runs actions)"


class AnomalyStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"


class AnomalyKind(models.TextChoices):
    PUBLISH_SPIKE = "publish_spike", "Publish spike from one key"
    RAPID_REPUBLISH = "rapid_republish", "Long-stable action suddenly republished rapidly"
    NEW_CONSUMPTION = "new_consumption", "Agent consuming actions it never used before"
    VERIFICATION_FAILURES = "verification_failures", "Surge of verification failures"
    # Other kinds come from other apps' anomaly.* events (capability_hash_mismatch, mirror_quarantine, ...).


class ReportPeriod(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
