"""Enumerations of the analytics app."""

from django.db import models


class RunOutcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure (the action ran and did not achieve its goal)"
    ERROR = "error", "Error (the action could not run; see error_code)"


class RunKind(models.TextChoices):
    INVOCATION = "invocation", "Invocation (reported by the agent that ran the action)"
    NEGOTIATION = "negotiation", "Negotiation (the registry allocated a provider to a requester)"
