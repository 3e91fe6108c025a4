"""Upstream registries this one mirrors, the origin of each mirrored version, and quarantined records."""

from django.db import models
from django.db.models import Q


class Upstream(models.Model):
    """Another registry mirrored into this one. Nothing it serves is trusted until it verifies against
    ``root_keys``; the schedule is a django-celery-beat periodic task kept in step by the services."""

    name = models.SlugField(max_length=64, unique=True, help_text="Short name, used by `manage.py mirror_sync`.")
    url = models.URLField(help_text="Base URL of the upstream registry, e.g. https://registry.example.org")
    root_keys = models.JSONField(default=list, help_text='The upstream roots trusted for its records: '
                                                         '[{"kid": ..., "alg": "Ed25519", "public_key": ...}].')
    namespaces = models.JSONField(default=list, blank=True,
                                  help_text="Namespace prefixes to mirror; empty mirrors everything.")
    api_key_env = models.CharField(max_length=100, blank=True,
                                   help_text="Name of the environment variable holding an API key for the "
                                             "upstream (its event history needs one); the key itself is never "
                                             "stored here. Without it the upstream's catalogue is scanned.")
    sync_interval_minutes = models.PositiveIntegerField(default=15,
                                                        help_text="How often to pull; 0 = only on demand.")
    enabled = models.BooleanField(default=True)
    cursor = models.CharField(max_length=200, blank=True,
                              help_text="Id of the last upstream event applied ('' = from the start).")
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", null=True, blank=True,
                                         on_delete=models.SET_NULL, related_name="+", editable=False)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"


class MirroredVersion(models.Model):
    """Where a stored version came from: it was fetched from an upstream and verified against its roots."""

    version = models.OneToOneField("registry.ActionVersion", primary_key=True, on_delete=models.PROTECT,
                                   related_name="mirror_origin")
    upstream = models.ForeignKey(Upstream, on_delete=models.PROTECT, related_name="versions")
    registry = models.URLField(help_text="The registry the record was first published to.")
    fetched_at = models.DateTimeField()
    chain = models.JSONField(default=list, blank=True, help_text="The signer's certificate chain as fetched.")

    class Meta:
        ordering = ["-fetched_at", "version_id"]

    def __str__(self) -> str:
        return f"{self.version_id} from {self.upstream_id}"


class QuarantinedRecord(models.Model):
    """An upstream record that was refused: kept for inspection, never stored as a version, never served."""

    upstream = models.ForeignKey(Upstream, on_delete=models.PROTECT, related_name="quarantined")
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=128)
    content_hash = models.CharField(max_length=71, blank=True, help_text="Hash of the bytes as received.")
    record = models.BinaryField(help_text="The upstream's answer, byte for byte.")
    reason = models.CharField(max_length=32, db_index=True)
    message = models.TextField()
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    times_seen = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-last_seen_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["upstream", "name", "version", "content_hash", "reason"],
                                    name="quarantinedrecord_unique_finding"),
            models.CheckConstraint(condition=Q(content_hash="") | Q(content_hash__regex=r"^sha256:[0-9a-f]{64}$"),
                                   name="quarantinedrecord_content_hash_format"),
        ]

    def __str__(self) -> str:
        return f"{self.name}@{self.version} from {self.upstream_id}: {self.reason}"
