"""django-ninja input and output schemas of the registry API; every field described, with examples."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from registry.lifecycle_schemas import DeprecationOut

EXAMPLE_DOC = {
    "name": "ssh.exec",
    "version": "1.0.0",
    "description": "Run a command on a remote host over SSH and return its output.",
    "input_schema": {"type": "object", "properties": {"host": {"type": "string"}, "command": {"type": "string"}},
                     "required": ["host", "command"]},
    "output_schema": {"type": "object", "properties": {"exit_code": {"type": "integer"},
                                                       "stdout": {"type": "string"}}},
    "metadata": {"owner": "infrastructure-team"},
}
EXAMPLE_SIG = {"kid": "dev-root-1", "alg": "Ed25519",
               "sig": "q1Yc3dWl3zH0mC0y0sJv3Dq2u2fVq8o6hJ0m9gkqkSx3pJ0c5Q0cM3mCk8m2Hj2uX1jz0nq1T8m9m1Pq6Zr2Bw"}
EXAMPLE_HASH = "sha256:3b7e0f0d5a1c4e0b8f7c1d2a9e6f5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a"


class SignatureBlock(Schema):
    kid: str = Field(..., description="Key id of the signing key in the registry's trust store.",
                     examples=["dev-root-1"])
    alg: str = Field(..., description="Signature algorithm: `Ed25519` or `ES256` (ECDSA P-256, raw r||s).",
                     examples=["Ed25519"])
    sig: str = Field(..., description="base64url (no padding) signature over the RFC 8785 canonical bytes "
                                      "of the action document.", examples=[EXAMPLE_SIG["sig"]])


class PublishIn(Schema):
    action: dict[str, Any] = Field(
        ..., description="The action document: name, version, description, input_schema, output_schema, "
                         "optional metadata, compatibility and steps.", examples=[EXAMPLE_DOC])
    signature: SignatureBlock = Field(..., description="Signature over the canonical bytes of `action`.")

    model_config = {"json_schema_extra": {"examples": [{"action": EXAMPLE_DOC, "signature": EXAMPLE_SIG}]}}


class ChainLinkOut(Schema):
    kid: str = Field(..., description="Key id of this link.", examples=["dev-root-1"])
    alg: str = Field(..., description="Its algorithm.", examples=["Ed25519"])
    status: str = Field(..., description="Its status now: active, rotated or revoked.", examples=["active"])
    role: str = Field(..., description="root, org or signing.", examples=["root"])


class VerificationOut(Schema):
    verified: bool = Field(..., description="True when the signature verifies and its key is trusted now.")
    kid: str = Field(..., description="Key id that signed the version.", examples=["dev-root-1"])
    alg: str = Field(..., description="Signature algorithm.", examples=["Ed25519"])
    key_status: str = Field(..., description="The key's status now: active, rotated or revoked.",
                            examples=["active"])
    reason: str | None = Field(None, description="Why verification failed (only when verified is false), "
                                                 "e.g. key_revoked, signature_invalid, scope_violation, "
                                                 "certificate_expired.", examples=["key_revoked"])
    chain: list[ChainLinkOut] = Field(..., description="The delegation chain from the signing key up to its "
                                                       "trusted root.")
    failed_kid: str | None = Field(None, description="The first key of the chain that failed (when false).",
                                   examples=["infra-org"])
    message: str | None = Field(None, description="Why that link failed, for people.")


class OriginOut(Schema):
    registry: str = Field(..., description="Base URL of the registry the record was mirrored from.",
                          examples=["https://registry.example.org"])
    fetched_at: datetime = Field(..., description="When this registry fetched and verified it (UTC).")


class VersionRecordOut(Schema):
    action: dict[str, Any] = Field(..., description="The action document exactly as signed (canonical form).",
                                   examples=[EXAMPLE_DOC])
    name: str = Field(..., description="Dotted action name.", examples=["ssh.exec"])
    version: str = Field(..., description="SemVer version.", examples=["1.0.0"])
    content_hash: str = Field(..., description="`sha256:` + hex SHA-256 of the canonical bytes.",
                              examples=[EXAMPLE_HASH])
    signature: SignatureBlock = Field(..., description="The signature block as published.")
    published_at: datetime = Field(..., description="When the registry accepted the version (UTC).")
    latest: bool = Field(..., description="Whether this is the action's latest release.")
    verification: VerificationOut = Field(..., description="Verification against the trust store now.")
    deprecated: bool = Field(False, description="Whether the version is deprecated (an annotation; the signed "
                                                "record is unchanged).", examples=[False])
    deprecation: DeprecationOut | None = Field(None, description="Reason, successor and time of the deprecation, "
                                                                 "or null.")
    origin: OriginOut | None = Field(None, description="Set when the record was mirrored from another registry: "
                                                       "where it was first published and when it was fetched. "
                                                       "The signature is the original publisher's.")


class VerifyOut(VerificationOut):
    name: str = Field(..., description="Dotted action name.", examples=["ssh.exec"])
    version: str = Field(..., description="SemVer version.", examples=["1.0.0"])
    content_hash: str = Field(..., description="Content hash of the verified bytes.", examples=[EXAMPLE_HASH])
    deprecated: bool = Field(False, description="Whether the version is deprecated (an annotation; the signed "
                                                "record is unchanged).", examples=[False])
    deprecation: DeprecationOut | None = Field(None, description="Reason, successor and time of the deprecation, "
                                                                 "or null.")


class ActionSummaryOut(Schema):
    name: str = Field(..., description="Dotted action name.", examples=["ssh.exec"])
    namespace: str = Field(..., description="Top-level namespace (first segment of the name).", examples=["ssh"])
    latest_version: str = Field(..., description="The latest release's version.", examples=["1.0.0"])
    description: str = Field(..., description="The latest version's description.",
                             examples=[EXAMPLE_DOC["description"]])
    kid: str = Field(..., description="Key id that signed the latest version.", examples=["dev-root-1"])
    updated_at: datetime = Field(..., description="When the action last changed.")


class ActionPageOut(Schema):
    items: list[ActionSummaryOut] = Field(..., description="One page of actions, best match first.")
    total: int = Field(..., description="How many actions match, or with `q`, how many were ranked: at most "
                                        "200 full-text and 200 partial-name matches plus an exact name.",
                       examples=[1])
    offset: int = Field(..., description="Index of the first item in this page.", examples=[0])
    limit: int = Field(..., description="Page size asked for.", examples=[50])


class VersionSummaryOut(Schema):
    version: str = Field(..., description="SemVer version.", examples=["1.0.0"])
    content_hash: str = Field(..., description="Content hash of the version's canonical bytes.",
                              examples=[EXAMPLE_HASH])
    kid: str = Field(..., description="Signing key id.", examples=["dev-root-1"])
    alg: str = Field(..., description="Signature algorithm.", examples=["Ed25519"])
    published_at: datetime = Field(..., description="When it was published (UTC).")
    latest: bool = Field(..., description="Whether this is the latest release.")
    key_status: str = Field(..., description="Status of the signing key now.", examples=["active"])
    deprecated: bool = Field(False, description="Whether the version is deprecated (an annotation; the signed "
                                                "record is unchanged).", examples=[False])
    deprecation: DeprecationOut | None = Field(None, description="Reason, successor and time of the deprecation, "
                                                                 "or null.")


class ActionDetailOut(Schema):
    name: str = Field(..., description="Dotted action name.", examples=["ssh.exec"])
    namespace: str = Field(..., description="Top-level namespace.", examples=["ssh"])
    description: str = Field(..., description="The latest version's description.")
    latest_version: str | None = Field(..., description="The latest release.", examples=["1.0.0"])
    versions: list[VersionSummaryOut] = Field(..., description="All versions, SemVer ascending.")
