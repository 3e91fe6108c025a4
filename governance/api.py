"""REST API of governance (/v1/keys...): the public trust store."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field as F
from ninja import Query, Router, Schema, Status

from core.schemas import errors
from governance import selectors, services
from governance.auth import ApiKeyAuth, api_key_require_namespace
from governance.models import Namespace
from governance.schemas import (
    CertificateEnvelopeIn,
    ChainOut,
    KeyListOut,
    KeyOut,
    NamespaceClaimIn,
    NamespaceOut,
    RevocationListOut,
    RevokeIn,
    RotateIn,
)

router = Router(tags=["keys"])


class KeyFilter(Schema):
    status: str | None = F(None, description="Only keys with this status.", examples=["active"],
                           pattern="^(pending|active|rotated|revoked|rejected)$")


@router.get("/keys", response=KeyListOut, operation_id="listKeys", summary="The public trust store",
            description="Every public key the registry knows, with its status, role and scopes. "
                        "The registry never holds private keys.")
def list_keys(request: HttpRequest, filters: Query[KeyFilter]):
    keys = list(selectors.signing_key_list(status=filters.status))
    return {"items": keys, "total": len(keys)}


# Declared before /keys/{kid}: Django resolves paths in order, and "rotate" would match {kid}.
@router.post("/keys/rotate", auth=ApiKeyAuth(), response={201: KeyOut, **errors(401, 403, 404, 409, 422)},
             operation_id="rotateKey", summary="Rotate a key",
             description="Replaces `old_kid` with the key in `certificate`, signed by the old key's parent (or by "
                         "the old key itself where the registry allows). The old key becomes `rotated` at once: "
                         "versions it signed stay verified with `key_status: rotated`, and it may sign new "
                         "versions only during the grace period. A rotation cannot be replayed.")
def rotate_key(request: HttpRequest, payload: RotateIn):
    body = request.parsed_body
    _require_scopes_covered(request.auth, list(body["certificate"].get("certificate", {}).get("scopes", [])))
    return Status(201, services.key_rotate(envelope=body["certificate"], old_kid=payload.old_kid,
                                           old_alg=payload.old_alg, actor=f"api_key:{request.auth.name}"))


class AlgFilter(Schema):
    alg: str | None = F(None, description="Algorithm, when a kid names keys of several.", examples=["Ed25519"],
                        pattern="^(Ed25519|ES256)$")


@router.get("/keys/{kid}", response={200: KeyOut, **errors(404)}, operation_id="getKey",
            summary="One public key", description="A key by kid (add `alg` if the kid has several algorithms).")
def get_key(request: HttpRequest, kid: str, filters: Query[AlgFilter]):
    return selectors.signing_key_get(kid=kid, alg=filters.alg)


def _require_scopes_covered(api_key, scopes: list[str]) -> None:
    for scope in scopes:
        api_key_require_namespace(api_key, scope + ".x")


@router.post("/keys", auth=ApiKeyAuth(), response={202: KeyOut, **errors(401, 403, 409, 422)},
             operation_id="submitDelegation", summary="Submit a delegation certificate",
             description="Sends a certificate made offline by `action-registry key delegate` (the parent key signs "
                         "the child's public key, scopes and validity window). The key is `pending` until a member "
                         "of the security reviewers group approves it; the submitter can never approve it. Root keys "
                         "never enter through the API.")
def submit_delegation(request: HttpRequest, payload: CertificateEnvelopeIn):
    body = request.parsed_body
    _require_scopes_covered(request.auth, list(body.get("certificate", {}).get("scopes", [])))
    key = services.delegation_submit(envelope=body, actor=f"api_key:{request.auth.name}", api_key=request.auth)
    return Status(202, key)


@router.post("/keys/{kid}/revoke", auth=ApiKeyAuth(), response={200: KeyOut, **errors(401, 403, 404, 422)},
             operation_id="revokeKey", summary="Revoke a key",
             description="Revokes `kid` on a request signed by a key above it in its chain (its parent, or higher). "
                         "Every version signed by the key or by any key below it turns `verified: false, key_status: "
                         "revoked`, and it signs nothing more. The registry records its own time of revocation.")
def revoke_key(request: HttpRequest, kid: str, payload: RevokeIn):
    return services.key_revoke_signed(kid=kid, envelope=request.parsed_body, actor=f"api_key:{request.auth.name}")


@router.get("/keys/{kid}/chain", response={200: ChainOut, **errors(404)}, operation_id="getKeyChain",
            summary="A key's chain up to its root",
            description="The key, its delegation certificate, and every parent up to a trusted root, with whether "
                        "the chain is valid now and, if not, the first link that failed.")
def key_chain(request: HttpRequest, kid: str, filters: Query[AlgFilter]):
    key = selectors.signing_key_get(kid=kid, alg=filters.alg)
    result = selectors.chain_evaluate(kid=key.kid, alg=key.alg, name=None, at=timezone.now())
    return {"kid": key.kid, "valid": result.ok, "reason": result.reason, "failed_kid": result.failed_kid,
            "keys": selectors.key_chain(key=key)}


@router.get("/revocations", response=RevocationListOut, operation_id="listRevocations",
            summary="The signed revocation list",
            description="Every revoked key with reason and times, signed by the registry's own key (the transparency "
                        "log key: GET /v1/log/key) so agents can cache it and check it offline.")
def revocations(request: HttpRequest):
    return selectors.revocation_list_signed()


@router.post("/namespaces", auth=ApiKeyAuth(), response={202: NamespaceOut, **errors(401, 403, 409, 422)},
             operation_id="claimNamespace", summary="Claim a namespace",
             description="Claims a namespace prefix for org keys. The claim is pending until the governance team "
                         "approves it; then only signing chains through an owner key may publish under it. Claiming "
                         "a prefix someone holds is refused (`namespace_taken`).")
def claim_namespace(request: HttpRequest, payload: NamespaceClaimIn):
    api_key_require_namespace(request.auth, payload.prefix + ".x")
    claim = services.namespace_claim(prefix=payload.prefix, owner_kids=payload.owners, api_key=request.auth,
                                     actor=f"api_key:{request.auth.name}", description=payload.description)
    return Status(202, claim)


@router.get("/namespaces", response=list[NamespaceOut], operation_id="listNamespaces", summary="Claimed namespaces",
            description="Every namespace claim with its status and owner keys.")
def list_namespaces(request: HttpRequest):
    return list(Namespace.objects.prefetch_related("owners").order_by("prefix"))
