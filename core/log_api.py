"""REST API of the transparency log (/v1/log/...): thin handlers over core.transparency."""

from __future__ import annotations

import re
from typing import Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field as F
from ninja import Query, Router, Schema

from core import transparency
from core.exceptions import DomainError
from core.log_schemas import (
    EXAMPLE_HASH,
    EXAMPLE_NOTE,
    CheckpointOut,
    ConsistencyProofOut,
    EntriesOut,
    InclusionProofOut,
    LogKeyOut,
)
from core.schemas import errors

router = Router(tags=["transparency log"])
_HEX_HASH_RE = re.compile(r"^[0-9a-f]{64}$")


@router.get(
    "/log/key", response={200: LogKeyOut}, operation_id="getLogKey", summary="The log's checkpoint-signing key",
    description="The registry's own Ed25519 key that signs checkpoints, as a raw key and as a Go sumdb note verifier "
                "key. Clients pin it on first use (or take it out of band) and refuse checkpoints it did not sign.",
)
def get_log_key(request: HttpRequest):
    return transparency.log_key_info()


class CheckpointParams(Schema):
    format: Literal["text", "json"] = F("text", description="`text` (default): the signed note as text/plain; "
                                                             "`json`: the note and its parsed fields.",
                                        examples=["text"])


@router.get(
    "/log/checkpoint", response={200: CheckpointOut, **errors(422)}, operation_id="getLogCheckpoint",
    summary="The latest signed checkpoint",
    description="The log's size and root hash, signed by the log key in the signed-note checkpoint format of Go's "
                "sumdb and Sigstore: origin line, decimal tree size, base64 root hash, a `Timestamp:` extension "
                "line (unix nanoseconds of the newest entry's integration), a blank line, then "
                "`— <key name> <base64(4-byte key hash || Ed25519 signature)>`. Keep the newest one you have "
                "verified and ask for a consistency proof from it to the next.",
    openapi_extra={"responses": {"200": {"content": {
        "text/plain": {"schema": {"type": "string"}, "example": EXAMPLE_NOTE},
        "application/json": {"schema": {"$ref": "#/components/schemas/CheckpointOut"}}}}}},
)
def get_checkpoint(request: HttpRequest, params: Query[CheckpointParams]):
    signed = transparency.log_checkpoint()
    if params.format == "json":
        cp = signed.checkpoint
        return {"origin": cp.origin, "tree_size": cp.size, "root_hash": cp.root_hash.hex(),
                "timestamp": signed.timestamp, "note": signed.note}
    response = HttpResponse(signed.note, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-cache"  # the newest checkpoint changes with every append
    return response


class EntriesParams(Schema):
    start: int = F(0, ge=0, description="Index of the first entry.", examples=[0])
    end: int | None = F(None, ge=0, description=f"One past the last entry (exclusive); the page holds at most "
                                                f"{transparency.ENTRIES_PAGE_MAX} entries and stops at the log's "
                                                "end.", examples=[100])


@router.get(
    "/log/entries", response={200: EntriesOut, **errors(404, 422)}, operation_id="getLogEntries",
    summary="A page of log entries",
    description=f"Entries `[start, end)` in log order, at most {transparency.ENTRIES_PAGE_MAX} per page. Each carries "
                "its exact canonical JSON text (`data`), so a monitor can hash it, rebuild the root and compare it "
                "with a signed checkpoint. 404 `entry_not_found` when `start` is past the end of the log.",
)
def get_entries(request: HttpRequest, params: Query[EntriesParams]):
    leaves, size = transparency.log_entries(start=params.start, end=params.end)
    return {"start": params.start, "end": params.start + len(leaves), "tree_size": size,
            "entries": [transparency.leaf_json(leaf) for leaf in leaves]}


class InclusionParams(Schema):
    leaf_hash: str | None = F(None, max_length=64, description="Lowercase hex leaf hash of the entry.",
                              examples=[EXAMPLE_HASH])
    subject: str | None = F(None, max_length=300, description="Instead of leaf_hash: the entry's subject, e.g. "
                                                              "`ssh.exec@1.0.0` for a publish.",
                            examples=["ssh.exec@1.0.0"])
    kind: str = F("action.published", max_length=64, description="With subject: the entry's kind.",
                  examples=["action.published"])
    tree_size: int | None = F(None, ge=1, description="Size of the tree to prove against (that of a checkpoint you "
                                                      "verified); default: the current size.", examples=[8])


@router.get(
    "/log/proof/inclusion", response={200: InclusionProofOut, **errors(404, 422)},
    operation_id="getLogInclusionProof", summary="Prove an entry is in the log",
    description="The RFC 9162 audit path of one entry (found by `leaf_hash`, or by `kind` and `subject`) in the "
                "tree of `tree_size` entries. Verify it against the root of a checkpoint you verified, never "
                "against `root_hash` alone. 404 `leaf_not_found`; 422 `invalid_leaf_hash`, `tree_size_too_large`.",
)
def get_inclusion_proof(request: HttpRequest, params: Query[InclusionParams]):
    tree_size = params.tree_size or transparency.log_size()
    if params.leaf_hash is not None:
        if not _HEX_HASH_RE.match(params.leaf_hash):
            raise DomainError(f"{params.leaf_hash!r} is not a leaf hash", code="invalid_leaf_hash", status=422,
                              suggestion="Send 64 lowercase hex digits: SHA-256(0x00 || entry bytes).")
        leaf = transparency.log_leaf_by_hash(leaf_hash=bytes.fromhex(params.leaf_hash), tree_size=tree_size)
    elif params.subject:
        leaf = transparency.log_leaf_for(kind=params.kind, subject=params.subject)
        if leaf is None or leaf.index >= tree_size:
            raise DomainError(f"no {params.kind} entry about {params.subject!r} in the first {tree_size} entries",
                              code="leaf_not_found", status=404,
                              suggestion="Check the subject (name@version for publishes) or the tree size.")
    else:
        raise DomainError("name the entry with leaf_hash, or with kind and subject", code="leaf_required",
                          status=422, suggestion="Add ?leaf_hash=<64 hex> or ?subject=ssh.exec@1.0.0.")
    proof = transparency.log_inclusion_proof(index=leaf.index, tree_size=tree_size)
    return {"leaf_index": leaf.index, "leaf_hash": bytes(leaf.leaf_hash).hex(), "tree_size": tree_size,
            "root_hash": proof.root_hash.hex(), "hashes": [p.hex() for p in proof.hashes],
            "entry": transparency.leaf_json(leaf)}


class ConsistencyParams(Schema):
    first: int = F(..., ge=0, description="The older tree size (the checkpoint you hold).", examples=[6])
    second: int | None = F(None, ge=0, description="The newer tree size; default: the current size.",
                           examples=[8])


@router.get(
    "/log/proof/consistency", response={200: ConsistencyProofOut, **errors(422)},
    operation_id="getLogConsistencyProof", summary="Prove the log only grew",
    description="The RFC 9162 consistency proof that the tree of `first` entries is a prefix of the tree of "
                "`second` entries: verify it with the roots of two checkpoints you verified. A failing proof "
                "means the log forked or rewrote history. 422 `invalid_range`, `tree_size_too_large`.",
)
def get_consistency_proof(request: HttpRequest, params: Query[ConsistencyParams]):
    second = params.second if params.second is not None else transparency.log_size()
    proof = transparency.log_consistency_proof(first=params.first, second=second)
    return {"first": proof.first, "second": proof.second, "first_root": proof.first_root.hex(),
            "second_root": proof.second_root.hex(), "hashes": [p.hex() for p in proof.hashes]}
