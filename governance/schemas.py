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

    @staticmethod
    def resolve_parent_kid(obj) -> str | None:
        return obj.parent.kid if obj.parent_id else None


class KeyListOut(Schema):
    items: list[KeyOut] = Field(..., description="Keys in the trust store, by kid.")
    total: int = Field(..., description="How many keys.", examples=[1])
