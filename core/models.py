"""The event outbox, the audit log and the transparency log: written in the same transaction as the change."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact


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


class LogLeaf(models.Model):
    """One entry of the transparency log: canonical JSON bytes, their RFC 6962 leaf hash and the tree root right
    after the entry was appended. Append-only: a database trigger refuses UPDATE and DELETE."""

    index = models.BigIntegerField(primary_key=True, help_text="0-based position; dense and sequential.")
    kind = models.CharField(max_length=64, db_index=True, help_text="e.g. action.published, key.revoked")
    namespace = models.CharField(max_length=200, blank=True, db_index=True,
                                 help_text="Top-level namespace the entry concerns ('' for registry-wide).")
    subject = models.CharField(max_length=300, blank=True, help_text="name@version, kid/alg, ...")
    data = models.BinaryField(help_text="RFC 8785 canonical JSON of the entry, hashed exactly as stored.")
    leaf_hash = models.BinaryField(max_length=32, help_text="SHA-256(0x00 || data).")
    root_hash = models.BinaryField(max_length=32, help_text="Root of the tree of the first index + 1 leaves.")
    integrated_at = models.DateTimeField(help_text="When the log took the entry in (also inside data).")

    class Meta:
        ordering = ["index"]
        indexes = [
            models.Index(fields=["leaf_hash"], name="core_logleaf_leaf_hash_idx"),
            models.Index(fields=["kind", "subject"], name="core_logleaf_kind_subject_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(index__gte=0), name="logleaf_index_nonnegative"),
            models.CheckConstraint(condition=Exact(Length("leaf_hash"), 32), name="logleaf_leaf_hash_32_bytes"),
            models.CheckConstraint(condition=Exact(Length("root_hash"), 32), name="logleaf_root_hash_32_bytes"),
        ]

    def __str__(self) -> str:
        return f"#{self.index} {self.kind} {self.subject}"


class LogNode(models.Model):
    """The hash of one complete subtree of the log, stored when its last leaf arrives, so that any proof is
    O(log n) primary-key reads. (level, index) covers leaves [index * 2**level, (index + 1) * 2**level)."""

    pk = models.CompositePrimaryKey("level", "index")
    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    class Meta:
        ordering = ["level", "index"]
        constraints = [
            models.CheckConstraint(condition=Q(index__gte=0) & Q(level__lte=63), name="lognode_position_valid"),
            models.CheckConstraint(condition=Exact(Length("hash"), 32), name="lognode_hash_32_bytes"),
        ]

    def __str__(self) -> str:
        return f"node {self.level}/{self.index}"
