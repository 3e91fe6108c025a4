"""Enumerations of the federation app."""

from django.db import models


class QuarantineReason(models.TextChoices):
    """Why a mirrored record was not stored (machine-readable; the message says more)."""

    INVALID_RECORD = "invalid_record", "The upstream record is not a valid signed document"
    HASH_MISMATCH = "hash_mismatch", "The content hash does not match the bytes"
    UNTRUSTED_KEY = "untrusted_key", "The signer does not chain to a configured upstream root"
    SIGNATURE_INVALID = "signature_invalid", "The publisher signature does not verify"
    CHAIN_INVALID = "chain_invalid", "The signer's certificate chain does not verify"
    OUT_OF_SCOPE = "out_of_scope", "The signer may not sign for this namespace"
    CONFLICT = "conflict", "The version exists locally with other bytes"


class SyncItemStatus(models.TextChoices):
    ACCEPTED = "accepted", "Accepted (new)"
    IDENTICAL = "identical", "Already present with identical bytes"
    CONFLICT = "conflict", "Refused: the version exists with other bytes"
    REFUSED = "refused", "Refused: failed verification or policy"
