"""django-ninja schemas of the federation API: edge sync and snapshots."""

from __future__ import annotations

from typing import Any

from ninja import Field, Schema

EXAMPLE_ENVELOPE = {
    "action": {"name": "ssh.exec", "version": "1.0.1", "description": "Run a command over SSH.",
               "input_schema": {"type": "object"}, "output_schema": {"type": "object"}},
    "signature": {"kid": "edge-1", "alg": "Ed25519", "sig": "k3Q...base64url..."},
}


class SyncIn(Schema):
    items: list[dict[str, Any]] = Field(..., min_length=1, max_length=100,
                                        description="Signed envelopes published at the edge, as `action-registry "
                                                    "sign` writes them (at most 100 per push).",
                                        examples=[[EXAMPLE_ENVELOPE]])


class SyncItemOut(Schema):
    index: int = Field(..., description="Position of the item in the push.", examples=[0])
    status: str = Field(..., description="accepted (stored now), identical (already present, same bytes), "
                                         "conflict (the version exists here with other bytes; nothing merged) or "
                                         "refused (failed verification or policy; see code).",
                        examples=["accepted"])
    name: str | None = Field(None, description="Action name, when the envelope parsed.", examples=["ssh.exec"])
    version: str | None = Field(None, description="Version, when the envelope parsed.", examples=["1.0.1"])
    content_hash: str | None = Field(None, description="Hash of the pushed canonical bytes.")
    local_content_hash: str | None = Field(None, description="On conflict: the hash of the bytes kept here.")
    code: str | None = Field(None, description="Error code for conflict and refused items.",
                             examples=["version_exists"])
    message: str | None = Field(None, description="Why, for people.")


class SyncSummaryOut(Schema):
    accepted: int = Field(..., description="Items stored as new versions.", examples=[1])
    identical: int = Field(..., description="Items already present with the same bytes.", examples=[1])
    conflict: int = Field(..., description="Items whose name@version exists here with other bytes (kept local).",
                          examples=[1])
    refused: int = Field(..., description="Items that failed validation, verification or policy.", examples=[0])


class SyncOut(Schema):
    items: list[SyncItemOut] = Field(..., description="One report per pushed item, in push order.")
    summary: SyncSummaryOut = Field(..., description="Counts per status.")
