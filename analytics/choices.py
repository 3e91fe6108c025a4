"""Enumerations of the analytics app."""

from django.db import models


class RunOutcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure (the action ran and did not achieve its goal)"
    ERROR = "error", "Error (the action could not run; see error_code)"
