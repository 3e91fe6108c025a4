"""Reads of the trust store and API keys; the registry reads governance only through these."""

from __future__ import annotations

from django.db.models import QuerySet

from core.exceptions import NotFound
from governance.models import ApiKey, SigningKey, TrustState


def signing_key_list(*, status: str | None = None) -> QuerySet[SigningKey]:
    qs = SigningKey.objects.select_related("parent").order_by("kid", "alg")
    if status:
        qs = qs.filter(status=status)
    return qs


def signing_keys_by_kid(*, kid: str) -> list[SigningKey]:
    return list(SigningKey.objects.select_related("parent").filter(kid=kid).order_by("alg"))


def signing_key_get(*, kid: str, alg: str | None = None) -> SigningKey:
    keys = signing_keys_by_kid(kid=kid)
    if alg:
        keys = [k for k in keys if k.alg == alg]
    if not keys:
        raise NotFound(f"no key with kid {kid!r}" + (f" and alg {alg}" if alg else ""), code="key_not_found",
                       suggestion="List the trust store with GET /v1/keys.")
    if len(keys) > 1:
        raise NotFound(f"kid {kid!r} names keys of several algorithms", code="ambiguous_kid",
                       suggestion="Add ?alg=Ed25519 or ?alg=ES256.")
    return keys[0]


def trust_state_version() -> int:
    row = TrustState.objects.filter(pk=1).values_list("version", flat=True).first()
    return row or 0


def api_key_by_prefix(*, prefix: str) -> ApiKey | None:
    return ApiKey.objects.filter(prefix=prefix).first()


def api_key_list() -> QuerySet[ApiKey]:
    return ApiKey.objects.order_by("name")
