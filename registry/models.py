"""Actions and their immutable, signed, content-addressed versions."""

from django.db import models
from django.db.models import F, Q

from registry.choices import CompatibilityMode, DeprecationAction


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
    # No index: nothing looks actions up by their latest version, and without one moving ``latest`` (every
    # publish of a newer version) can be a heap-only update that touches none of this table's indexes.
    latest_version = models.ForeignKey("ActionVersion", null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+", db_index=False)
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


class Deprecation(models.Model):
    """A version's deprecation as it stands: one row while deprecated, gone once lifted.

    An annotation beside the record: the signed bytes and the version row are never touched.
    ``DeprecationEntry`` keeps the history of every deprecate and undeprecate.
    """

    version = models.OneToOneField(ActionVersion, on_delete=models.PROTECT, primary_key=True,
                                   related_name="deprecation")
    reason = models.TextField()
    successor = models.ForeignKey(ActionVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                  help_text="The version callers should move to (same action, not deprecated).")
    deprecated_by = models.CharField(max_length=200, help_text="api_key:<name> or user:<username>")
    deprecated_at = models.DateTimeField()

    class Meta:
        ordering = ["-deprecated_at", "version_id"]
        constraints = [
            models.CheckConstraint(condition=~Q(successor=F("version")), name="deprecation_successor_not_self"),
            models.CheckConstraint(condition=~Q(reason=""), name="deprecation_reason_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.version} deprecated"


class DeprecationEntry(models.Model):
    """Append-only history: each deprecate or undeprecate of a version, with who, when and why."""

    version = models.ForeignKey(ActionVersion, on_delete=models.PROTECT, related_name="deprecation_history")
    action = models.CharField(max_length=16, choices=DeprecationAction.choices)
    reason = models.TextField()
    successor = models.ForeignKey(ActionVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["version_id", "id"]
        verbose_name_plural = "deprecation entries"

    def __str__(self) -> str:
        return f"{self.version} {self.action} by {self.actor}"


class CompatibilityPolicy(models.Model):
    """How new versions under a namespace prefix are checked against their predecessors.

    The longest matching prefix wins; ``*`` is the registry-wide default; with no row at all the mode is
    ``backward``. Kept deliberately small: full namespace governance belongs in the governance app.
    """

    prefix = models.CharField(max_length=200, unique=True,
                              help_text="Namespace prefix (ssh, production.db), or * for every namespace.")
    mode = models.CharField(max_length=24, choices=CompatibilityMode.choices, default=CompatibilityMode.BACKWARD)
    refuse_undeclared_breaks = models.BooleanField(
        default=False, help_text="Also refuse a version that breaks its predecessor on the same SemVer line "
                                 "without declaring it in compatibility.breaks (as schema registries do).")
    updated_by = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["prefix"]
        verbose_name_plural = "compatibility policies"
        constraints = [
            models.CheckConstraint(condition=Q(prefix__regex=r"^(\*|[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*)$"),
                                   name="compatibilitypolicy_prefix_format"),
            models.CheckConstraint(condition=Q(mode__in=CompatibilityMode.values),
                                   name="compatibilitypolicy_mode_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}: {self.mode}"


# Agents and capabilities live in their own module; imported here so Django registers them with the app.
from registry.agent_models import Agent, CapabilityDeclaration, CapabilityItem  # noqa: E402, F401
