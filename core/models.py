"""The event outbox and the audit log: written in the same transaction as the change they describe."""

from django.conf import settings
from django.db import models


class Event(models.Model):
    """One change that subscribers may care about (transactional outbox; ids only grow)."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=64, db_index=True, help_text="e.g. action.published, key.revoked")
    namespace = models.CharField(max_length=200, blank=True, db_index=True,
                                 help_text="Top-level namespace the event concerns ('' for registry-wide).")
    subject = models.CharField(max_length=300, blank=True, help_text="name@version, kid, ...")
    payload = models.JSONField(default=dict)
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.id} {self.kind} {self.subject}"


class AuditEntry(models.Model):
    """Who changed what, when and why. Append-only."""

    id = models.BigAutoField(primary_key=True)
    action = models.CharField(max_length=64, db_index=True)
    actor = models.CharField(max_length=200, help_text="user:<username>, api_key:<name>, cli, system")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    target = models.CharField(max_length=300, blank=True)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target}"
