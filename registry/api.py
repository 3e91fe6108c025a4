"""REST API of the registry (/v1/actions...): thin handlers over services and selectors."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from ninja import Field as F
from ninja import Query, Router, Schema
from ninja.responses import NinjaJSONEncoder

from action_registry.canonical import CONTENT_HASH_RE
from action_registry.document import parse_envelope
from core.exceptions import DomainError, NotFound
from core.log_schemas import ReceiptOut
from core.schemas import errors
from core.transparency import log_receipt, log_receipt_for
from governance.auth import ApiKeyAuth
from registry import records, response_cache, selectors, services
from registry.lifecycle_api import deprecation_headers
from registry.lifecycle_selectors import deprecation_view, deprecations_for, version_deprecation_view
from registry.schemas import (
    ActionDetailOut,
    ActionPageOut,
    PublishIn,
    VerifyOut,
    VersionRecordOut,
)

router = Router(tags=["actions"])
JSON = "application/json"
_NINJA_JSON = "application/json; charset=utf-8"  # what ninja's renderer sends


class PublishedRecordOut(VersionRecordOut):
    receipt: ReceiptOut | None = F(None, description="Transparency-log receipt: the entry, the signed checkpoint "
                                                     "of the tree it completed and the inclusion proof against it.")


def _json(body: bytes, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type=JSON)


@router.post(
    "/actions", auth=ApiKeyAuth(cached=True), response={200: PublishedRecordOut, 201: PublishedRecordOut,
                                             **errors(401, 403, 409, 413, 422, 503)},
    operation_id="publishAction", summary="Publish a signed action version",
    description=(
        "Stores one immutable `(name, version)` record. The body is the envelope `action-registry sign` writes: "
        "the action document and a signature over its RFC 8785 canonical bytes. Answers 201 with the record, "
        "200 with the existing record when identical bytes are re-published, 409 `version_exists` when the "
        "version exists with other bytes. 422 codes: invalid_document, invalid_schema, invalid_name, "
        "invalid_version, duplicate_key, invalid_number, unknown_kid, key_revoked, alg_mismatch, "
        "signature_invalid, signature_malformed. 503 `trust_state_changed` when trust changes kept overtaking the "
        "publish's checks (three tries). A refused publish writes nothing."),
)
def publish_action(request: HttpRequest, payload: PublishIn):
    envelope = parse_envelope(request.parsed_body, max_depth=request.max_json_depth)
    result = services.action_version_publish(envelope=envelope, api_key=request.auth)
    receipt = (log_receipt(result.log_leaf) if result.log_leaf is not None else
               log_receipt_for(kind="action.published", subject=f"{result.version.action.name}@{result.version.version}"))
    return _json(records.version_record_bytes(result.version, extra={"receipt": receipt} if receipt else None,
                                              snapshot=result.snapshot),
                 status=201 if result.created else 200)


class SearchParams(Schema):
    q: str | None = F(None, description="Full-text query over names and descriptions; partial names match too.",
                      examples=["ssh"], max_length=200)
    kid: str | None = F(None, description="Only actions whose latest version was signed by this key id.",
                        examples=["dev-root-1"], max_length=128)
    namespace: str | None = F(None, description="Only names under this dotted prefix.", examples=["ssh"],
                              max_length=200)
    offset: int = F(0, ge=0, le=1_000_000, description="Index of the first result.", examples=[0])
    limit: int = F(50, ge=1, le=200, description="Page size (at most 200).", examples=[50])


@router.get(
    "/actions", response={200: ActionPageOut, **errors(422)}, operation_id="discoverActions",
    summary="Discover and search actions",
    description="Lists actions with their latest version, ranked by relevance when `q` is given (full text over "
                "names and descriptions, plus partial name matches), otherwise by name. Stable ordering; "
                "paginate with `offset` and `limit`.",
)
def discover_actions(request: HttpRequest, params: Query[SearchParams]):
    page = selectors.action_search(q=params.q, kid=params.kid, namespace=params.namespace,
                                   offset=params.offset, limit=params.limit)
    # Rendered here, as ninja's JSON renderer would render ActionPageOut (same keys, order and encoder): its
    # validation and dump of 50 items cost three times the search's own Python (bench/RESULTS.md, session 5).
    body = {"items": page.items, "total": page.total, "offset": page.offset, "limit": page.limit}
    return HttpResponse(json.dumps(body, cls=NinjaJSONEncoder), content_type=_NINJA_JSON)


@router.get(
    "/actions/by-hash/{content_hash}", response={200: VersionRecordOut, **errors(404, 422)},
    operation_id="getActionByHash", summary="Fetch a record by content hash",
    description="Returns the record whose canonical bytes hash to `content_hash` (`sha256:<64 hex>`), "
                "whatever its name.",
)
def get_by_hash(request: HttpRequest, content_hash: str):
    if not CONTENT_HASH_RE.match(content_hash):
        raise DomainError(f"{content_hash[:80]!r} is not a content hash", code="invalid_content_hash", status=422,
                          suggestion="Use sha256: followed by 64 lowercase hex digits.")
    if response_cache.enabled():
        return response_cache.record_by_hash_response(content_hash=content_hash)
    found = selectors.version_get_by_hash(content_hash=content_hash)
    if not found:
        raise NotFound(f"no record has content hash {content_hash}", code="hash_not_found",
                       suggestion="Search by name with GET /v1/actions?q=...")
    return deprecation_headers(_json(records.version_record_bytes(found[0])), found[0])


@router.get(
    "/actions/{name}", response={200: ActionDetailOut, **errors(404)}, operation_id="getAction",
    summary="An action and all its versions",
    description="The action with every version in SemVer order; `latest` marks the latest release. "
                "Deprecated versions say so; `X-Action-Deprecated`/`X-Action-Successor` describe the latest "
                "release.",
)
def get_action(request: HttpRequest, name: str, response: HttpResponse):
    action = selectors.action_get(name=name)
    versions = selectors.action_versions(action=action)
    deps = deprecations_for(versions=versions)
    if action.latest_version_id:
        deprecation_headers(response, next(v for v in versions if v.id == action.latest_version_id))
    return {
        "name": action.name, "namespace": action.namespace, "description": action.description,
        "latest_version": action.latest_version.version if action.latest_version else None,
        "versions": [{"version": v.version, "content_hash": v.blob_id, "kid": v.kid, "alg": v.alg,
                      "published_at": v.published_at, "latest": v.id == action.latest_version_id,
                      "key_status": v.signing_key.status, **deprecation_view(deps.get(v.id))} for v in versions],
    }


@router.get(
    "/actions/{name}/versions/{version}", response={200: VersionRecordOut, **errors(404, 422)},
    operation_id="getActionVersion", summary="Fetch one version's full record",
    description="The signed document, its signature, content hash, publication time and the verification "
                "result against the trust store as it is now.",
)
def get_version(request: HttpRequest, name: str, version: str):
    if response_cache.enabled():  # the same bytes, rendered once per state of what they show
        return response_cache.record_response(name=name, version=version)
    row = selectors.version_get(name=name, version=version)
    return deprecation_headers(_json(records.version_record_bytes(row)), row)


@router.get(
    "/actions/{name}/versions/{version}/verify", response={200: VerifyOut, **errors(404, 422)},
    operation_id="verifyActionVersion", summary="Verify one version (no payload)",
    description="Re-checks the stored signature against the trust store as it is now: a key revoked after "
                "publishing gives `verified: false, key_status: revoked`; a rotated key stays verified with "
                "`key_status: rotated`. For agents that already hold the schema.",
)
def verify_version(request: HttpRequest, name: str, version: str, response: HttpResponse):
    if response_cache.enabled():
        return response_cache.verify_response(name=name, version=version)
    row = selectors.version_get(name=name, version=version)
    deprecation_headers(response, row)
    return {"name": row.action.name, "version": row.version, "content_hash": row.blob_id,
            **records.version_verification(row), **version_deprecation_view(row)}
