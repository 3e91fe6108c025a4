"""Enumerations of the governance app."""

from django.db import models


class KeyStatus(models.TextChoices):
    PENDING = "pending", "Pending approval"
    ACTIVE = "active", "Active"
    ROTATED = "rotated", "Rotated"
    REVOKED = "revoked", "Revoked"
    REJECTED = "rejected", "Rejected"


class KeyRole(models.TextChoices):
    ROOT = "root", "Root"
    ORG = "org", "Organisation"
    SIGNING = "signing", "Signing"


class KeyAlg(models.TextChoices):
    ED25519 = "Ed25519", "Ed25519"
    ES256 = "ES256", "ECDSA P-256 (ES256)"


class ClaimStatus(models.TextChoices):
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class PolicyKind(models.TextChoices):
    NAMESPACE_SIGNING = "namespace_signing", "Namespace signing (versions under a namespace chain to given roots)"
    DEPRECATION = "deprecation", "Deprecation enforcement (deprecated versions need a recorded override)"
    VERSION_PINNING = "version_pinning", "Version pinning (a ring may use only versions promoted to a channel)"
