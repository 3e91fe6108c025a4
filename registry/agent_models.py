"""Agents and their capability declarations: what each can perform, where to reach it, until when."""

from django.db import models
from django.db.models import Q

from registry.agent_choices import CapabilityProtocol, CapabilityStatus

AGENT_NAME_RE = r"^[a-z0-9][a-z0-9._-]{0,99}$"
TTL_MIN_SECONDS = 5
TTL_MAX_SECONDS = 7 * 24 * 3600


class Agent(models.Model):
    """A registered agent identity (admin-managed). It authenticates with its own API key."""

    name = models.CharField(max_length=100, unique=True,
                            help_text="Stable identifier, e.g. ace-task-prosecutor (lowercase, digits, . _ -).")
    description = models.TextField(blank=True)
    api_key = models.OneToOneField("governance.ApiKey", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="agent", help_text="The API key the agent authenticates with.")
    is_active = models.BooleanField(default=True, help_text="Inactive agents are never offered as providers.")
    created_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(name__regex=AGENT_NAME_RE), name="agent_name_format"),
        ]

    def __str__(self) -> str:
        return self.name


class CapabilityDeclaration(models.Model):
    """One declaration by an agent: the action versions it performs and its endpoint, live until
    ``expires_at`` unless renewed by heartbeat. Rows are never deleted: ended ones are the history."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="declarations")
    endpoint = models.URLField(max_length=500, help_text="Where requesters reach the agent.")
    protocol = models.CharField(max_length=16, choices=CapabilityProtocol.choices)
    ttl_seconds = models.PositiveIntegerField(help_text="Each heartbeat extends the declaration by this long.")
    status = models.CharField(max_length=16, choices=CapabilityStatus.choices, default=CapabilityStatus.LIVE,
                              db_index=True)
    declared_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True, help_text="When it expired, was withdrawn or replaced.")

    class Meta:
        ordering = ["-declared_at", "-id"]
        constraints = [
            # An agent speaks with one voice: a new declaration replaces its live one.
            models.UniqueConstraint(fields=["agent"], condition=Q(status=CapabilityStatus.LIVE),
                                    name="capabilitydeclaration_one_live_per_agent"),
            models.CheckConstraint(condition=Q(ttl_seconds__gte=TTL_MIN_SECONDS, ttl_seconds__lte=TTL_MAX_SECONDS),
                                   name="capabilitydeclaration_ttl_range"),
            models.CheckConstraint(condition=Q(status__in=CapabilityStatus.values),
                                   name="capabilitydeclaration_status_valid"),
            models.CheckConstraint(condition=Q(protocol__in=CapabilityProtocol.values),
                                   name="capabilitydeclaration_protocol_valid"),
            models.CheckConstraint(condition=Q(status=CapabilityStatus.LIVE) | Q(ended_at__isnull=False),
                                   name="capabilitydeclaration_ended_has_time"),
        ]

    def __str__(self) -> str:
        return f"{self.agent.name} #{self.id} ({self.status})"


class CapabilityItem(models.Model):
    """One action version a declaration says the agent performs, with the content hash it implements."""

    declaration = models.ForeignKey(CapabilityDeclaration, on_delete=models.PROTECT, related_name="items")
    version = models.ForeignKey("registry.ActionVersion", on_delete=models.PROTECT, related_name="capability_items")
    content_hash = models.CharField(max_length=71, help_text="As declared; equal to the record's by construction.")

    class Meta:
        ordering = ["declaration_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["declaration", "version"], name="capabilityitem_declaration_version_unique"),
            models.CheckConstraint(condition=Q(content_hash__regex=r"^sha256:[0-9a-f]{64}$"),
                                   name="capabilityitem_content_hash_format"),
        ]

    def __str__(self) -> str:
        return f"{self.declaration_id}: {self.version_id}"
