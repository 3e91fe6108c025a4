"""Actions and their immutable, signed, content-addressed versions."""

from django.db import models
from django.db.models import Q


class Blob(models.Model):
    """The RFC 8785 canonical bytes of one action document, stored once per content hash."""

    content_hash = models.CharField(primary_key=True, max_length=71)
    canonical = models.BinaryField()
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["content_hash"]
        constraints = [
            models.CheckConstraint(condition=Q(content_hash__regex=r"^sha256:[0-9a-f]{64}$"),
                                   name="blob_content_hash_format"),
        ]

    def __str__(self) -> str:
        return self.content_hash


class Action(models.Model):
    """A dotted name (``ssh.exec``); its versions hold the signed documents."""

    name = models.CharField(max_length=200, unique=True)
    namespace = models.CharField(max_length=200, db_index=True, help_text="The first segment of the name.")
    latest_version = models.ForeignKey("ActionVersion", null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    description = models.TextField(blank=True, help_text="The latest version's description (for search).")
    kid = models.CharField(max_length=128, blank=True, db_index=True, help_text="The latest version's signer.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ActionVersion(models.Model):
    """One immutable ``(name, version)`` record: the document bytes (by hash) and the signature over them."""

    action = models.ForeignKey(Action, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=128)
    major = models.PositiveBigIntegerField()
    minor = models.PositiveBigIntegerField()
    patch = models.PositiveBigIntegerField()
    prerelease = models.CharField(max_length=128, blank=True)
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, db_column="content_hash", related_name="versions")
    kid = models.CharField(max_length=128, db_index=True)
    alg = models.CharField(max_length=16)
    sig = models.CharField(max_length=200)
    signing_key = models.ForeignKey("governance.SigningKey", on_delete=models.PROTECT, related_name="versions")
    published_at = models.DateTimeField(auto_now_add=True, db_index=True)
    published_by = models.ForeignKey("governance.ApiKey", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="published_versions")

    class Meta:
        ordering = ["action_id", "major", "minor", "patch", "prerelease"]
        constraints = [
            models.UniqueConstraint(fields=["action", "version"], name="actionversion_action_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.action.name}@{self.version}"

    @property
    def content_hash(self) -> str:
        return self.blob_id
