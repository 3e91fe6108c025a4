"""The trust store (public keys only), API keys (digests only) and the trust-state counter."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from governance.choices import ClaimStatus, KeyAlg, KeyRole, KeyStatus, PolicyKind


class SigningKey(models.Model):
    """A public key the registry knows, identified by ``(kid, alg)``. Never deleted; status records history."""

    kid = models.CharField(max_length=128)
    alg = models.CharField(max_length=16, choices=KeyAlg.choices)
    public_key = models.CharField(max_length=200, help_text="base64url of the raw public key")
    fingerprint = models.CharField(max_length=71)
    status = models.CharField(max_length=16, choices=KeyStatus.choices, default=KeyStatus.ACTIVE, db_index=True)
    role = models.CharField(max_length=16, choices=KeyRole.choices, default=KeyRole.ROOT)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    scopes = models.JSONField(default=list, blank=True,
                              help_text="Namespace prefixes this key may sign for; empty on a root means all.")
    not_before = models.DateTimeField(null=True, blank=True)
    not_after = models.DateTimeField(null=True, blank=True)
    certificate = models.JSONField(null=True, blank=True, help_text="The delegation certificate, as submitted.")
    certificate_signature = models.JSONField(null=True, blank=True)
    description = models.CharField(max_length=300, blank=True)
    created_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.TextField(blank=True)
    compromised_since = models.DateTimeField(null=True, blank=True)
    # Two-person rule: who submitted a delegation, and who reviewed it (never the same person or key owner).
    submitted_by_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                          related_name="submitted_keys")
    submitted_by_api_key = models.ForeignKey("ApiKey", null=True, blank=True, on_delete=models.PROTECT,
                                             related_name="submitted_keys")
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="reviewed_keys")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_reason = models.TextField(blank=True)
    rotates = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="rotated_by",
                                help_text="The key this one replaced by rotation.")

    class Meta:
        ordering = ["kid", "alg"]
        permissions = [
            ("review_signingkey", "Can approve or reject delegations"),
            ("revoke_signingkey", "Can revoke keys"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["kid", "alg"], name="signingkey_kid_alg_unique"),
            models.CheckConstraint(condition=Q(fingerprint__regex=r"^sha256:[0-9a-f]{32}$"),
                                   name="signingkey_fingerprint_format"),
            models.CheckConstraint(condition=~Q(parent=F("id")), name="signingkey_not_own_parent"),
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.alg}, {self.status})"


class ApiKey(models.Model):
    """A bearer token for publishers and agents, stored as a SHA-256 digest, scoped to namespace prefixes."""

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=16, unique=True, help_text="The token's public prefix, for lookup.")
    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 hex of the whole token.")
    namespaces = models.JSONField(default=list, blank=True,
                                  help_text="Namespace prefixes this key may publish under; ['*'] for all.")
    is_active = models.BooleanField(default=True)
    created_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="api_keys", help_text="The person this key acts for (two-person rule).")

    class Meta:
        ordering = ["name"]
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(condition=Q(digest__regex=r"^[0-9a-f]{64}$"), name="apikey_digest_format"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Revocation(models.Model):
    """One revocation, append-only: who revoked which key, why, and from when it counts as compromised."""

    key = models.ForeignKey(SigningKey, on_delete=models.PROTECT, related_name="revocations")
    reason = models.TextField()
    compromised_since = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(auto_now_add=True, help_text="When the registry recorded it (not a claimed time).")
    actor = models.CharField(max_length=200)
    request = models.JSONField(null=True, blank=True, help_text="The signed revocation request, when made by a key.")

    class Meta:
        ordering = ["-revoked_at", "-id"]

    def __str__(self) -> str:
        return f"{self.key.kid} revoked {self.revoked_at:%Y-%m-%d}"


class Namespace(models.Model):
    """A claimed namespace prefix (``ssh``, ``production.db``) and the org keys that own it."""

    prefix = models.CharField(max_length=200, unique=True)
    owners = models.ManyToManyField(SigningKey, related_name="owned_namespaces", blank=True)
    status = models.CharField(max_length=16, choices=ClaimStatus.choices, default=ClaimStatus.PENDING, db_index=True)
    description = models.CharField(max_length=300, blank=True)
    claimed_by_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="namespace_claims")
    claimed_by_api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.PROTECT,
                                           related_name="namespace_claims")
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="namespace_reviews")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["prefix"]
        permissions = [("review_namespace", "Can approve or reject namespace claims")]

    def __str__(self) -> str:
        return f"{self.prefix} ({self.status})"


class TrustState(models.Model):
    """One row: a counter bumped by every change to keys, so cached verification results know when to go."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="truststate_singleton")]

    def __str__(self) -> str:
        return f"trust state v{self.version}"


class Policy(models.Model):
    """A named governance rule. Its content lives in numbered, immutable ``PolicyVersion`` rows; ``current``
    points at the newest. Enforced at publish, negotiation and run reporting (governance/policies.py)."""

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=32, choices=PolicyKind.choices)
    current = models.ForeignKey("PolicyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "policies"
        constraints = [models.CheckConstraint(condition=Q(kind__in=PolicyKind.values), name="policy_kind_valid")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class PolicyVersion(models.Model):
    """One immutable version of a policy: the document, who changed it and why. A trigger refuses changes."""

    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    enabled = models.BooleanField(default=True)
    document = models.JSONField(help_text="Kind-specific rule, see docs/ace-mapping.md.")
    digest = models.CharField(max_length=71, help_text="sha256 of the RFC 8785 bytes of {kind, enabled, document}.")
    author = models.CharField(max_length=200)
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["policy_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="policyversion_policy_number_unique"),
            models.CheckConstraint(condition=Q(digest__regex=r"^sha256:[0-9a-f]{64}$"),
                                   name="policyversion_digest_format"),
            models.CheckConstraint(condition=~Q(reason=""), name="policyversion_reason_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.policy.name} v{self.number}"


class Channel(models.Model):
    """A named set of action versions (``verified``) that a governance reviewer promotes versions into."""

    name = models.SlugField(max_length=64, unique=True)
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ChannelPromotion(models.Model):
    """``name@version`` promoted into a channel; withdrawing sets ``withdrawn_at`` (history is kept)."""

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="promotions")
    action_name = models.CharField(max_length=200)
    version = models.CharField(max_length=128)
    promoted_by = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    promoted_at = models.DateTimeField(auto_now_add=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["channel_id", "action_name", "version", "id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "action_name", "version"], condition=Q(withdrawn_at=None),
                                    name="channelpromotion_live_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.action_name}@{self.version} in {self.channel.name}"


class DelegationRequest(SigningKey):
    """The security reviewers' queue: delegation certificates waiting for approval."""

    class Meta:
        proxy = True
        verbose_name = "delegation request"


class RingMembership(models.Model):
    """Which deployment ring (``stable``, ``canary``) an agent belongs to; version-pinning policies match it.
    Set by governance reviewers; an agent's own claim of a ring never overrides its membership."""

    agent = models.CharField(max_length=200, unique=True, help_text="Agent name (as registered, or as it reports).")
    ring = models.SlugField(max_length=64)
    assigned_by = models.CharField(max_length=200, blank=True)
    assigned_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["agent"]

    def __str__(self) -> str:
        return f"{self.agent} in {self.ring}"
