"""REST API of governance (/v1/keys...): the public trust store."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field as F
from ninja import Query, Router, Schema

from core.schemas import errors
from governance import selectors
from governance.schemas import KeyListOut, KeyOut

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


class AlgFilter(Schema):
    alg: str | None = F(None, description="Algorithm, when a kid names keys of several.", examples=["Ed25519"],
                        pattern="^(Ed25519|ES256)$")


@router.get("/keys/{kid}", response={200: KeyOut, **errors(404)}, operation_id="getKey",
            summary="One public key", description="A key by kid (add `alg` if the kid has several algorithms).")
def get_key(request: HttpRequest, kid: str, filters: Query[AlgFilter]):
    return selectors.signing_key_get(kid=kid, alg=filters.alg)
