"""The wire form of a version record, assembled around the stored canonical bytes (never re-serialised)."""

from __future__ import annotations

import json

from core.metrics import verification_observed
from governance.selectors import TrustSnapshot
from registry.lifecycle_selectors import version_deprecation_view
from registry.models import ActionVersion
from registry.verification import verification_result


def version_verification(version: ActionVersion, *, snapshot: TrustSnapshot | None = None) -> dict:
    """The verification against ``snapshot`` (default: the trust store now), counted in the metrics."""
    result = verification_result(content_hash=version.blob_id, canonical=bytes(version.blob.canonical),
                                 kid=version.kid, alg=version.alg, sig=version.sig, name=version.action.name,
                                 published_at=version.published_at, snapshot=snapshot)
    verification_observed(result)
    return result


def version_meta(version: ActionVersion, *, latest_id: int | None = None,
                 snapshot: TrustSnapshot | None = None) -> dict:
    """Everything of the record except the document itself."""
    return {
        "name": version.action.name,
        "version": version.version,
        "content_hash": version.blob_id,
        "signature": {"kid": version.kid, "alg": version.alg, "sig": version.sig},
        "published_at": version.published_at.isoformat().replace("+00:00", "Z"),
        "latest": version.id == (latest_id if latest_id is not None else version.action.latest_version_id),
        "verification": version_verification(version, snapshot=snapshot),
        **version_deprecation_view(version),  # deprecated, deprecation: an annotation beside the record
        "origin": version_origin(version),
    }


_UNREAD = object()


def version_origin(version: ActionVersion) -> dict | None:
    """``{registry, fetched_at}`` for a version mirrored from another registry, else None.

    Read through the reverse accessor of federation.MirroredVersion, so the registry imports nothing of
    federation (which sits above it)."""
    origin = version._state.fields_cache.get("mirror_origin", _UNREAD)
    if origin is _UNREAD:  # not read with the version: through the accessor (None when it has none)
        origin = getattr(version, "mirror_origin", None)
    if origin is None:
        return None
    return {"registry": origin.registry, "fetched_at": origin.fetched_at.isoformat().replace("+00:00", "Z")}


def version_record_bytes(version: ActionVersion, *, extra: dict | None = None,
                         snapshot: TrustSnapshot | None = None) -> bytes:
    """``{"action": <canonical bytes verbatim>, ...meta}`` as JSON bytes."""
    return version_record_rendered(version, extra=extra, snapshot=snapshot)[0]


def version_record_rendered(version: ActionVersion, *, extra: dict | None = None,
                            snapshot: TrustSnapshot | None = None) -> tuple[bytes, dict]:
    """``version_record_bytes`` and the verification result in them."""
    meta = version_meta(version, snapshot=snapshot)
    if extra:
        meta.update(extra)
    tail = json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return b'{"action":' + bytes(version.blob.canonical) + b"," + tail[1:], meta["verification"]


def version_record(version: ActionVersion) -> dict:
    return {"action": json.loads(bytes(version.blob.canonical)), **version_meta(version)}
