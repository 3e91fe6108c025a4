"""django-ninja schemas of the governance API."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Schema


class KeyOut(Schema):
    kid: str = Field(..., description="Key id.", examples=["dev-root-1"])
    alg: str = Field(..., description="Algorithm: Ed25519 or ES256.", examples=["Ed25519"])
    public_key: str = Field(..., description="base64url of the raw public key (Ed25519: 32 bytes; "
                                             "ES256: 65-byte uncompressed point).",
                            examples=["11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"])
    fingerprint: str = Field(..., description="sha256 fingerprint of alg and key.",
                             examples=["sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f0"])
    status: str = Field(..., description="active, rotated, revoked (or pending/rejected for submissions).",
                        examples=["active"])
    role: str = Field(..., description="root, org or signing.", examples=["root"])
    parent_kid: str | None = Field(None, description="The key that delegated to this one (none for roots).")
    scopes: list[str] = Field(..., description="Namespace prefixes this key may sign for (empty root: all).",
                              examples=[["ssh", "files"]])
    created_at: datetime = Field(..., description="When the key entered the trust store.")
    rotated_at: datetime | None = Field(None, description="When the key was rotated, if it was.")
    revoked_at: datetime | None = Field(None, description="When the key was revoked, if it was.")
    revocation_reason: str | None = Field(None, description="Why it was revoked.")
    not_after: datetime | None = Field(None, description="End of the delegation certificate's validity.")

    @staticmethod
    def resolve_parent_kid(obj) -> str | None:
        return obj.parent.kid if obj.parent_id else None


class KeyListOut(Schema):
    items: list[KeyOut] = Field(..., description="Keys in the trust store, by kid.")
    total: int = Field(..., description="How many keys.", examples=[1])


class CertificateDoc(Schema):
    kid: str = Field(..., description="Key id of the delegated (child) key.", examples=["infra-org"])
    alg: str = Field(..., description="Algorithm of the child key: Ed25519 or ES256.", examples=["Ed25519"])
    public_key: str = Field(..., description="base64url raw public key of the child.",
                            examples=["11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"])
    parent_kid: str = Field(..., description="Key id of the parent that signs this certificate.",
                            examples=["dev-root-1"])
    scopes: list[str] = Field(..., description="Namespace prefixes delegated (within the parent's).",
                              examples=[["ssh", "files"]])
    not_before: str = Field(..., description="Start of validity, RFC 3339 UTC.", examples=["2026-01-01T00:00:00Z"])
    not_after: str = Field(..., description="End of validity, RFC 3339 UTC.", examples=["2027-01-01T00:00:00Z"])


class SignatureIn(Schema):
    kid: str = Field(..., description="Key id of the signer.", examples=["dev-root-1"])
    alg: str = Field(..., description="Signer's algorithm.", examples=["Ed25519"])
    sig: str = Field(..., description="base64url signature over the RFC 8785 bytes of the signed object.",
                     examples=["q1Yc3dWl3zH0mC0y0sJv3Dq2u2fVq8o6hJ0m9gkqkSx3pJ0c5Q0cM3mCk8m2Hj2uX1jz0nq1T8m9m1Pq6Zr2Bw"])


class CertificateEnvelopeIn(Schema):
    certificate: CertificateDoc = Field(..., description="The delegation certificate.")
    signature: SignatureIn = Field(..., description="The parent key's signature over the certificate.")


class RotateIn(Schema):
    old_kid: str = Field(..., description="The key being replaced.", examples=["infra-deploy-1"])
    old_alg: str | None = Field(None, description="Its algorithm, if the kid names several.", examples=["Ed25519"])
    certificate: CertificateEnvelopeIn = Field(..., description="Certificate of the new key, signed by the old "
                                                                "key's parent (or the old key itself).")


class RevocationDoc(Schema):
    kid: str = Field(..., description="Key to revoke.", examples=["infra-deploy-1"])
    alg: str = Field(..., description="Its algorithm.", examples=["Ed25519"])
    reason: str = Field(..., description="Why (kept in the audit log).", examples=["laptop stolen"])
    compromised_since: str | None = Field(None, description="RFC 3339 UTC time since when the key is suspect.",
                                          examples=["2026-11-01T00:00:00Z"])
    requested_at: str = Field(..., description="When the request was signed, RFC 3339 UTC (valid 10 minutes).",
                              examples=["2026-11-25T12:00:00Z"])


class RevokeIn(Schema):
    revocation: RevocationDoc = Field(..., description="The revocation request.")
    signature: SignatureIn = Field(..., description="Signature by a key above the revoked key in its chain.")


class ChainKeyOut(KeyOut):
    certificate: dict | None = Field(None, description="The delegation certificate (none for roots).")
    certificate_signature: dict | None = Field(None, description="The parent's signature over it.")
    not_before: datetime | None = Field(None, description="Start of the certificate's validity.")
    not_after: datetime | None = Field(None, description="End of the certificate's validity.")


class ChainOut(Schema):
    kid: str = Field(..., description="The key whose chain this is.", examples=["infra-deploy-1"])
    valid: bool = Field(..., description="Whether the chain is valid now, up to a trusted root.")
    reason: str | None = Field(None, description="Why not, when invalid.", examples=["certificate_expired"])
    failed_kid: str | None = Field(None, description="The first link that failed.")
    keys: list[ChainKeyOut] = Field(..., description="The keys from this one up to its root.")


class RevocationOut(Schema):
    kid: str = Field(..., description="The revoked key.", examples=["infra-deploy-1"])
    alg: str = Field(..., description="Its algorithm.", examples=["Ed25519"])
    reason: str = Field(..., description="Why it was revoked.", examples=["compromised"])
    compromised_since: str | None = Field(None, description="Since when it is suspect (RFC 3339 UTC).")
    revoked_at: str = Field(..., description="When the registry recorded the revocation (RFC 3339 UTC).")


class RevocationListBody(Schema):
    issuer: str = Field(..., description="The registry that signs the list.", examples=["127.0.0.1:8000/log"])
    issued_at: str = Field(..., description="When the list was produced (RFC 3339 UTC).")
    trust_state: int = Field(..., description="Trust-state version the list reflects.", examples=[42])
    revocations: list[RevocationOut] = Field(..., description="Every revocation, oldest first.")


class RevocationListOut(Schema):
    body: RevocationListBody = Field(..., description="The signed content.")
    signature: SignatureIn = Field(..., description="The registry key's Ed25519 signature over the RFC 8785 bytes "
                                                    "of `body` (public key at GET /v1/log/key).")


class NamespaceClaimIn(Schema):
    prefix: str = Field(..., description="Namespace prefix to claim.", examples=["ssh"])
    owners: list[str] = Field(..., description="Key ids of the org keys that will own it.", examples=[["infra-org"]])
    description: str = Field("", description="What the namespace is for.", examples=["Remote shell actions"])


class NamespaceOut(Schema):
    prefix: str = Field(..., description="Namespace prefix.", examples=["ssh"])
    status: str = Field(..., description="pending, approved or rejected.", examples=["approved"])
    owners: list[str] = Field(..., description="Key ids of the owner keys.", examples=[["infra-org"]])
    description: str = Field(..., description="What the namespace is for.")
    created_at: datetime = Field(..., description="When it was claimed.")
    reviewed_at: datetime | None = Field(None, description="When it was reviewed.")

    @staticmethod
    def resolve_owners(obj) -> list[str]:
        return sorted(k.kid for k in obj.owners.all())
