"""Enumerations of the registry app."""

from django.db import models


class CompatibilityMode(models.TextChoices):
    """As Confluent Schema Registry names them; checks stay within a SemVer line (major, or 0.minor)."""

    BACKWARD = "backward", "Backward: callers of the previous version can use the new one"
    BACKWARD_TRANSITIVE = "backward_transitive", "Backward, against every earlier version on the line"
    FORWARD = "forward", "Forward: callers of the new version can fall back to the previous one"
    FORWARD_TRANSITIVE = "forward_transitive", "Forward, against every earlier version on the line"
    FULL = "full", "Full: backward and forward"
    FULL_TRANSITIVE = "full_transitive", "Full, against every earlier version on the line"
    NONE = "none", "None: no checks"


class DeprecationAction(models.TextChoices):
    DEPRECATED = "deprecated", "Deprecated"
    UNDEPRECATED = "undeprecated", "Deprecation lifted"
