"""django-ninja input and output schemas of the transparency log API; every field described, with examples."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

EXAMPLE_HASH = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
EXAMPLE_ROOT = "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"
EXAMPLE_ORIGIN = "registry.example.com/log"
EXAMPLE_NOTE = ("registry.example.com/log\n8\n037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=\n"
                "Timestamp: 1767323045678901000\n\n"
                "\u2014 registry.example.com/log Wq3f3w3n0oT0QnY1Zx9v0WlG6rC2yPp1QnYt2kQ0t9bJ0Ax4YwzD3m1s1vQ8mA0hZ"
                "wH0b5Rj8f8Wc2o4k0Yb8S1mVg0A\n")
EXAMPLE_ENTRY = {"kind": "action.published", "integrated_at": "2026-01-02T03:04:05.678901Z", "name": "ssh.exec",
                 "version": "1.0.0", "content_hash": "sha256:" + "ab" * 32, "kid": "dev-root-1", "alg": "Ed25519",
                 "signature": "q1Yc3dWl3zH0mC0y0sJv3Dq2u2fVq8o6hJ0m9gkqkSx3pJ0c5Q0cM3mCk8m2Hj2uX1jz0nq1T8m9m1Pq6Zr2Bw"}
HEX_HASH = r"^[0-9a-f]{64}$"


class LogKeyOut(Schema):
    name: str = Field(..., description="The note key name that signs checkpoints (equals the origin).",
                      examples=[EXAMPLE_ORIGIN])
    origin: str = Field(..., description="The first line of every checkpoint of this log.", examples=[EXAMPLE_ORIGIN])
    alg: str = Field(..., description="Signature algorithm of checkpoints: always `Ed25519`.", examples=["Ed25519"])
    key_hash: str = Field(..., description="8 hex digits: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || key), "
                                           "as in Go's sumdb note format.", examples=["c74f20a3"])
    public_key: str = Field(..., description="base64url (no padding) of the raw 32-byte Ed25519 public key.",
                            examples=["Gl3ZBxQ8OExB6DDFvOEqqIF-xWSaqr8sMTiLNbLXRNY"])
    verifier_key: str = Field(..., description="The key in Go note verifier form `name+hash+base64(0x01||key)`: "
                                               "pin it on first use, or configure it out of band.",
                              examples=[f"{EXAMPLE_ORIGIN}+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"])


class CheckpointOut(Schema):
    origin: str = Field(..., description="The log's origin line.", examples=[EXAMPLE_ORIGIN])
    tree_size: int = Field(..., description="How many entries the log holds.", examples=[8])
    root_hash: str = Field(..., description="Lowercase hex of the RFC 6962 root hash of those entries.",
                           examples=[EXAMPLE_ROOT])
    timestamp: datetime | None = Field(..., description="Integration time of the newest entry (null when empty).")
    note: str = Field(..., description="The signed checkpoint (C2SP signed-note text): verify this, not the other "
                                       "fields, which are a convenience copy.", examples=[EXAMPLE_NOTE])


class EntryOut(Schema):
    index: int = Field(..., description="0-based position in the log.", examples=[7])
    leaf_hash: str = Field(..., description="Lowercase hex of SHA-256(0x00 || data).", examples=[EXAMPLE_HASH])
    kind: str = Field(..., description="What changed: action.published, key.added, key.revoked, key.rotated, ...",
                      examples=["action.published"])
    namespace: str = Field(..., description="Top-level namespace the entry concerns ('' for registry-wide).",
                           examples=["ssh"])
    subject: str = Field(..., description="name@version for publishes, kid/alg for keys.", examples=["ssh.exec@1.0.0"])
    integrated_at: datetime = Field(..., description="When the log took the entry in (UTC); also inside `data`.")
    data: str = Field(..., description="The entry's exact RFC 8785 canonical JSON text: encode as UTF-8 and hash "
                                       "it to check `leaf_hash`.", examples=['{"alg":"Ed25519",...}'])
    entry: dict[str, Any] = Field(..., description="`data`, parsed.", examples=[EXAMPLE_ENTRY])


class EntriesOut(Schema):
    start: int = Field(..., description="Index of the first entry returned.", examples=[0])
    end: int = Field(..., description="One past the last entry returned (exclusive).", examples=[8])
    tree_size: int = Field(..., description="The log's size when the page was read.", examples=[8])
    entries: list[EntryOut] = Field(..., description="Entries start..end-1, in log order.")


class InclusionProofOut(Schema):
    leaf_index: int = Field(..., description="Position of the entry in the log.", examples=[1])
    leaf_hash: str = Field(..., description="Lowercase hex leaf hash of the entry.", examples=[EXAMPLE_HASH])
    tree_size: int = Field(..., description="Size of the tree the proof is for.", examples=[8])
    root_hash: str = Field(..., description="Root of that tree (compare with a checkpoint you verified).",
                           examples=[EXAMPLE_ROOT])
    hashes: list[str] = Field(..., description="The audit path (RFC 9162 2.1.3), lowercase hex, leaf to root.",
                              examples=[[EXAMPLE_HASH]])
    entry: EntryOut = Field(..., description="The entry the proof is for.")


class ConsistencyProofOut(Schema):
    first: int = Field(..., description="The older tree size.", examples=[6])
    second: int = Field(..., description="The newer tree size.", examples=[8])
    first_root: str = Field(..., description="Root of the older tree (compare with the checkpoint you hold).",
                            examples=[EXAMPLE_HASH])
    second_root: str = Field(..., description="Root of the newer tree.", examples=[EXAMPLE_ROOT])
    hashes: list[str] = Field(..., description="The consistency proof (RFC 9162 2.1.4), lowercase hex.",
                              examples=[[EXAMPLE_HASH, EXAMPLE_ROOT]])


class ReceiptProofOut(Schema):
    tree_size: int = Field(..., description="Size of the checkpoint's tree: leaf_index + 1.", examples=[8])
    hashes: list[str] = Field(..., description="Audit path to the checkpoint's root, lowercase hex.",
                              examples=[[EXAMPLE_HASH]])


class ReceiptOut(Schema):
    leaf_index: int = Field(..., description="Position of the entry in the log.", examples=[7])
    leaf_hash: str = Field(..., description="Lowercase hex leaf hash of `entry`.", examples=[EXAMPLE_HASH])
    integrated_at: datetime = Field(..., description="The log's time of integration (not the publisher's claim).")
    entry: str = Field(..., description="The entry's exact canonical JSON text.", examples=['{"alg":"Ed25519",...}'])
    checkpoint: str = Field(..., description="Signed checkpoint of the tree this entry completed.",
                            examples=[EXAMPLE_NOTE])
    inclusion_proof: ReceiptProofOut = Field(..., description="Proof of the entry against the checkpoint.")
