"""Writes to the trust store and API keys; each writes its audit row and bumps the trust state."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from action_registry import crypto
from action_registry.document import check_kid, check_namespace
from core.exceptions import Conflict, DomainError, NotFound
from core.services import audit_record, event_emit
from core.transparency import log_append
from governance.choices import KeyRole, KeyStatus
from governance.models import ApiKey, SigningKey, TrustState

TOKEN_PREFIX = "ar"


def trust_state_bump() -> None:
    updated = TrustState.objects.filter(pk=1).update(version=F("version") + 1)
    if not updated:
        TrustState.objects.get_or_create(pk=1, defaults={"version": 1})


@transaction.atomic
def signing_key_add(*, kid: str, alg: str, public_key: str, actor: str, role: str = KeyRole.ROOT,
                    scopes: list[str] | None = None, description: str = "", reason: str = "") -> SigningKey:
    """Put a public key into the trust store (operators only: never reachable through the API)."""
    check_kid(kid)
    crypto.check_alg(alg)
    key_b64 = crypto.normalize_public_key(alg, public_key)
    scopes = [check_namespace(s) for s in (scopes or [])]
    key = SigningKey(kid=kid, alg=alg, public_key=key_b64, fingerprint=crypto.key_fingerprint(alg, key_b64),
                     role=role, scopes=scopes, description=description, created_by=actor,
                     status=KeyStatus.ACTIVE, status_changed_at=timezone.now())
    key.full_clean()
    try:
        with transaction.atomic():
            key.save()
    except IntegrityError:
        raise Conflict(f"a key {kid} ({alg}) is already in the trust store", code="key_exists",
                       suggestion="Choose another kid, or rotate the existing key.") from None
    audit_record(action="key.added", actor=actor, target=f"{kid}/{alg}", reason=reason,
                 data={"role": role, "scopes": scopes, "fingerprint": key.fingerprint})
    log_append(kind="key.added", subject=f"{kid}/{alg}", payload={
        "kid": kid, "alg": alg, "public_key": key_b64, "fingerprint": key.fingerprint, "role": role, "scopes": scopes})
    trust_state_bump()
    return key


@transaction.atomic
def signing_key_revoke(*, key: SigningKey, actor: str, reason: str, compromised_since=None) -> SigningKey:
    if not reason.strip():
        raise DomainError("a revocation needs a reason", code="reason_required")
    key = SigningKey.objects.select_for_update().get(pk=key.pk)
    if key.status == KeyStatus.REVOKED:
        return key
    now = timezone.now()
    key.status = KeyStatus.REVOKED
    key.revoked_at = now
    key.status_changed_at = now
    key.revocation_reason = reason
    key.compromised_since = compromised_since
    key.save(update_fields=["status", "revoked_at", "status_changed_at", "revocation_reason", "compromised_since"])
    audit_record(action="key.revoked", actor=actor, target=f"{key.kid}/{key.alg}", reason=reason,
                 data={"compromised_since": compromised_since.isoformat() if compromised_since else None})
    event_emit(kind="key.revoked", subject=key.kid,
               payload={"kid": key.kid, "alg": key.alg, "reason": reason,
                        "compromised_since": compromised_since.isoformat() if compromised_since else None})
    log_append(kind="key.revoked", subject=f"{key.kid}/{key.alg}", payload={
        "kid": key.kid, "alg": key.alg, "reason": reason,
        "compromised_since": compromised_since.isoformat() if compromised_since else None})
    trust_state_bump()
    return key


@transaction.atomic
def signing_key_mark_rotated(*, key: SigningKey, actor: str, reason: str = "") -> SigningKey:
    key = SigningKey.objects.select_for_update().get(pk=key.pk)
    if key.status != KeyStatus.ACTIVE:
        raise Conflict(f"key {key.kid} is {key.status}, not active", code="key_not_active")
    now = timezone.now()
    key.status = KeyStatus.ROTATED
    key.rotated_at = now
    key.status_changed_at = now
    key.save(update_fields=["status", "rotated_at", "status_changed_at"])
    audit_record(action="key.rotated", actor=actor, target=f"{key.kid}/{key.alg}", reason=reason)
    event_emit(kind="key.rotated", subject=key.kid, payload={"kid": key.kid, "alg": key.alg})
    log_append(kind="key.rotated", subject=f"{key.kid}/{key.alg}", payload={"kid": key.kid, "alg": key.alg})
    trust_state_bump()
    return key


# --- API keys -------------------------------------------------------------------------------------

def api_key_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    token: str  # shown once, never stored


@transaction.atomic
def api_key_create(*, name: str, namespaces: list[str], actor: str) -> IssuedApiKey:
    namespaces = ["*" if ns == "*" else check_namespace(ns) for ns in namespaces]
    if not namespaces:
        raise DomainError("an API key needs at least one namespace prefix (or '*')", code="namespace_required")
    prefix = secrets.token_hex(4)
    token = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(name=name, prefix=prefix, digest=api_key_digest(token), namespaces=namespaces, created_by=actor)
    key.full_clean()
    try:
        with transaction.atomic():
            key.save()
    except IntegrityError:
        raise Conflict(f"an API key named {name!r} exists", code="api_key_exists") from None
    audit_record(action="api_key.created", actor=actor, target=name, data={"namespaces": namespaces})
    return IssuedApiKey(api_key=key, token=token)


@transaction.atomic
def api_key_revoke(*, name: str, actor: str, reason: str = "") -> ApiKey:
    key = ApiKey.objects.select_for_update().filter(name=name).first()
    if key is None:
        raise NotFound(f"no API key named {name!r}", code="api_key_not_found")
    if key.is_active:
        key.is_active = False
        key.revoked_at = timezone.now()
        key.save(update_fields=["is_active", "revoked_at"])
        audit_record(action="api_key.revoked", actor=actor, target=name, reason=reason)
    return key


def api_key_touch(*, key: ApiKey) -> None:
    """Record use at most once a minute: a write per request would cost more than the request."""
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
