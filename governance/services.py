"""Writes to the trust store and API keys; each writes its audit row and bumps the trust state."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from action_registry import crypto
from action_registry.canonical import canonicalize
from action_registry.chain import (
    Certificate,
    parse_certificate,
    parse_time,
    scope_covers,
    scopes_within,
    verify_certificate_signature,
)
from action_registry.document import check_kid, check_namespace, parse_signature
from action_registry.errors import SignatureError
from core.answer_generation import answers_changed
from core.exceptions import Conflict, DomainError, Forbidden, NotFound, Unprocessable
from core.services import audit_record, event_emit
from core.transparency import log_append
from governance import selectors
from governance.choices import ClaimStatus, KeyRole, KeyStatus
from governance.models import ApiKey, Namespace, Revocation, SigningKey, TrustState

TOKEN_PREFIX = "ar"


def trust_state_bump() -> None:
    updated = TrustState.objects.filter(pk=1).update(version=F("version") + 1, changed_at=timezone.now())
    if not updated:
        TrustState.objects.get_or_create(pk=1, defaults={"version": 1})
    answers_changed()  # every cached verification may read differently now


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
def signing_key_revoke(*, key: SigningKey, actor: str, reason: str, compromised_since=None,
                       request: dict | None = None) -> SigningKey:
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
    Revocation.objects.create(key=key, reason=reason, compromised_since=compromised_since, actor=actor,
                              request=request)
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


@transaction.atomic
def api_key_owner_set(*, api_key: ApiKey, owner, actor: str, user=None) -> ApiKey:
    """Give an API key to a person (or to nobody), audited: the owner is who its requests speak for."""
    key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    before = key.owner.get_username() if key.owner_id else None
    after = owner.get_username() if owner is not None else None
    if before != after:
        key.owner = owner
        key.save(update_fields=["owner"])
        audit_record(action="api_key.owner_changed", actor=actor, user=user, target=key.name,
                     data={"from": before, "to": after})
    return key


def api_key_touch(*, key: ApiKey) -> None:
    """Record use at most once a minute: a write per request would cost more than the request."""
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


# --- delegation, review, rotation, signed revocation, namespaces ----------------------------------

def _require_reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise DomainError("a reason is required", code="reason_required", status=422,
                          suggestion="Say why: it is kept in the audit log.")
    return reason.strip()


def _certificate_checks(cert: Certificate, *, parent: SigningKey, now) -> None:
    """The certificate is signed by ``parent``, fits inside its scopes and is valid now."""
    if parent.status != KeyStatus.ACTIVE:
        raise Unprocessable(f"parent key {parent.kid} is {parent.status} and cannot delegate",
                            code="parent_not_active", suggestion="Have an active key sign the certificate.")
    if cert.signature.alg != parent.alg:
        raise Unprocessable(f"the certificate's signature says {cert.signature.alg}, {parent.kid} is {parent.alg}",
                            code="alg_mismatch")
    try:
        verify_certificate_signature(cert, parent.alg, parent.public_key)
    except SignatureError as exc:
        raise Unprocessable(exc.message, code="certificate_signature_invalid",
                            suggestion="Sign the certificate's canonical bytes with the parent key "
                                       "(`action-registry key delegate`).") from None
    if not scopes_within(cert.scopes, parent.scopes):
        raise Unprocessable(f"scopes {list(cert.scopes)} are not within {parent.kid}'s {parent.scopes}",
                            code="scope_exceeds_parent",
                            suggestion=f"Delegate only prefixes inside {', '.join(parent.scopes) or 'the parent'}.")
    if cert.not_after <= now:
        raise Unprocessable("the certificate has already expired", code="certificate_expired")
    parent_chain = selectors.chain_evaluate(kid=parent.kid, alg=parent.alg, name=None, at=now)
    if not parent_chain.ok:
        raise Unprocessable(f"the parent's own chain is not valid: {parent_chain.message}",
                            code=parent_chain.reason or "chain_invalid")


def _new_key_from_certificate(cert: Certificate, *, parent: SigningKey, status: str, **fields) -> SigningKey:
    key = SigningKey(kid=cert.kid, alg=cert.alg, public_key=cert.public_key,
                     fingerprint=crypto.key_fingerprint(cert.alg, cert.public_key), status=status,
                     role=KeyRole.ORG if parent.role == KeyRole.ROOT else KeyRole.SIGNING, parent=parent,
                     scopes=list(cert.scopes), not_before=cert.not_before, not_after=cert.not_after,
                     certificate=cert.document, certificate_signature=cert.signature.as_dict(),
                     status_changed_at=timezone.now(), **fields)
    try:
        with transaction.atomic():
            key.save()
    except IntegrityError:
        raise Conflict(f"a key {cert.kid} ({cert.alg}) already exists", code="key_exists",
                       suggestion="Key ids are never reused: choose a new kid.") from None
    return key


def _parent_of(cert: Certificate) -> SigningKey:
    parent = SigningKey.objects.select_for_update().filter(kid=cert.parent_kid, alg=cert.parent_alg).first()
    if parent is None:
        raise Unprocessable(f"the parent key {cert.parent_kid} ({cert.parent_alg}) is not in the trust store",
                            code="parent_unknown", suggestion="List trusted keys with GET /v1/keys.")
    return parent


@transaction.atomic
def delegation_submit(*, envelope: dict, actor: str, user=None, api_key: ApiKey | None = None) -> SigningKey:
    """Record a delegation certificate as a pending key, for a security reviewer to approve."""
    cert = parse_certificate(envelope)
    parent = _parent_of(cert)
    _certificate_checks(cert, parent=parent, now=timezone.now())
    key = _new_key_from_certificate(cert, parent=parent, status=KeyStatus.PENDING, created_by=actor,
                                    submitted_by_user=_person_behind(user, api_key), submitted_by_api_key=api_key)
    audit_record(action="key.delegation_submitted", actor=actor, user=user, target=f"{key.kid}/{key.alg}",
                 data={"parent": parent.kid, "scopes": key.scopes, "not_after": cert.document["not_after"]})
    trust_state_bump()
    return key


def _person_behind(user, api_key: ApiKey | None):
    """Who submits a request: the logged-in user, else the owner of the API key *now*. Frozen on the request,
    because an API key's owner can be changed later in the admin (reassigning it let a reviewer approve their
    own request: tests/security/test_admin_privilege_escalation.py)."""
    if user is not None or api_key is None or api_key.owner_id is None:
        return user
    return api_key.owner


def _two_person_rule(key_or_claim, reviewer) -> None:
    submitter = getattr(key_or_claim, "submitted_by_user_id", None) or getattr(key_or_claim, "claimed_by_user_id", None)
    api_key = getattr(key_or_claim, "submitted_by_api_key", None) or getattr(key_or_claim, "claimed_by_api_key", None)
    if reviewer.pk == submitter or (api_key is not None and api_key.owner_id == reviewer.pk):
        raise Forbidden("the person who submitted a request cannot review it (two-person rule)",
                        code="two_person_rule", suggestion="Ask another security reviewer.")


@transaction.atomic
def delegation_review(*, key: SigningKey, reviewer, approve: bool, reason: str) -> SigningKey:
    """A security reviewer approves or rejects a pending delegation; never the submitter."""
    reason = _require_reason(reason)
    if not reviewer.has_perm("governance.review_signingkey"):
        raise Forbidden(f"{reviewer.get_username()} is not a security reviewer", code="not_a_reviewer",
                        suggestion="Only members of the 'security reviewers' group may review delegations.")
    key = SigningKey.objects.select_for_update(of=("self",)).select_related("submitted_by_api_key").get(pk=key.pk)
    if key.status != KeyStatus.PENDING:
        raise Conflict(f"key {key.kid} is {key.status}, not pending", code="not_pending")
    _two_person_rule(key, reviewer)
    now = timezone.now()
    if approve:
        cert = parse_certificate({"certificate": key.certificate, "signature": key.certificate_signature})
        _certificate_checks(cert, parent=SigningKey.objects.get(pk=key.parent_id), now=now)
    key.status = KeyStatus.ACTIVE if approve else KeyStatus.REJECTED
    key.reviewed_by, key.reviewed_at, key.review_reason, key.status_changed_at = reviewer, now, reason, now
    key.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_reason", "status_changed_at"])
    verb = "approved" if approve else "rejected"
    actor = f"user:{reviewer.get_username()}"
    audit_record(action=f"key.delegation_{verb}", actor=actor, user=reviewer, target=f"{key.kid}/{key.alg}",
                 reason=reason)
    if approve:
        event_emit(kind="key.delegated", subject=key.kid,
                   payload={"kid": key.kid, "alg": key.alg, "parent": key.parent.kid, "scopes": key.scopes})
        log_append(kind="key.certificate_accepted", subject=f"{key.kid}/{key.alg}",
                   payload={"certificate": key.certificate, "signature": key.certificate_signature,
                            "reviewed_by": reviewer.get_username()})
    trust_state_bump()
    return key


@transaction.atomic
def key_rotate(*, envelope: dict, old_kid: str, actor: str, old_alg: str | None = None) -> SigningKey:
    """Replace a key: a certificate for the new key signed by the old key's parent (or, where allowed, by
    the old key itself). The old key becomes ``rotated`` now; what it signed stays verified."""
    cert = parse_certificate(envelope)
    qs = SigningKey.objects.select_for_update().filter(kid=old_kid)
    if old_alg:
        qs = qs.filter(alg=old_alg)
    old = qs.select_related("parent").select_for_update(of=("self",)).first()
    if old is None:
        raise NotFound(f"no key {old_kid}", code="key_not_found")
    if old.status != KeyStatus.ACTIVE:
        raise Conflict(f"key {old.kid} is {old.status}; only an active key can be rotated", code="key_not_active",
                       suggestion="A rotation request cannot be replayed.")
    if old.parent_id is None:
        raise Forbidden("root keys are rotated by an operator (manage.py trust_key add + revoke), not by the API",
                        code="root_rotation_forbidden")
    if old.parent and cert.parent_kid == old.parent.kid and cert.parent_alg == old.parent.alg:
        signer = old.parent
    elif (cert.parent_kid, cert.parent_alg) == (old.kid, old.alg):
        if not settings.ACTION_REGISTRY["ROTATION_SELF_SIGNED"]:
            raise Forbidden("this registry only accepts rotations signed by the old key's parent",
                            code="self_rotation_forbidden", suggestion=f"Have {old.parent.kid} sign the certificate.")
        signer = old
    else:
        raise Forbidden(f"a rotation of {old.kid} must be signed by its parent {old.parent.kid} or by itself",
                        code="rotation_signer_invalid", suggestion=f"Have {old.parent.kid} sign the certificate.")
    if not scopes_within(cert.scopes, old.scopes):
        raise Unprocessable("a rotation cannot widen the key's scopes", code="scope_exceeds_parent",
                            suggestion=f"Keep the scopes within {old.scopes}.")
    _certificate_checks(cert, parent=signer, now=timezone.now())
    new = _rotation_key(cert, signer=signer, old=old, actor=actor)
    signing_key_mark_rotated(key=old, actor=actor, reason=f"rotated to {new.kid}")
    audit_record(action="key.rotation", actor=actor, target=f"{old.kid}/{old.alg}", data={"new": new.kid})
    log_append(kind="key.certificate_accepted", subject=f"{new.kid}/{new.alg}",
               payload={"certificate": new.certificate, "signature": new.certificate_signature, "rotates": old.kid})
    return new


def _rotation_key(cert: Certificate, *, signer: SigningKey, old: SigningKey, actor: str) -> SigningKey:
    key = _new_key_from_certificate(cert, parent=signer, status=KeyStatus.ACTIVE, created_by=actor, rotates=old)
    if key.role != old.role:
        key.role = old.role
        key.save(update_fields=["role"])
    return key


REVOCATION_FIELDS = {"kid", "alg", "reason", "compromised_since", "requested_at"}
REQUEST_MAX_AGE_SECONDS = 600


@transaction.atomic
def key_revoke_signed(*, kid: str, envelope: dict, actor: str) -> SigningKey:
    """Revocation requested by an ancestor key's signature over ``{kid, alg, reason, compromised_since,
    requested_at}``; the registry records its own time, never the requester's."""
    if not isinstance(envelope, dict) or set(envelope) != {"revocation", "signature"}:
        raise DomainError('the body is {"revocation": {...}, "signature": {kid, alg, sig}}', code="invalid_request",
                          status=422, suggestion="Use `action-registry key revoke`.")
    body = envelope["revocation"]
    if not isinstance(body, dict) or set(body) != REVOCATION_FIELDS or body.get("kid") != kid:
        raise DomainError(f"revocation needs exactly {sorted(REVOCATION_FIELDS)} for key {kid}",
                          code="invalid_request", status=422)
    reason = _require_reason(body["reason"] if isinstance(body["reason"], str) else "")
    requested_at = parse_time(body["requested_at"], "requested_at")
    if abs((timezone.now() - requested_at).total_seconds()) > REQUEST_MAX_AGE_SECONDS:
        raise Unprocessable("the revocation request is stale or from the future", code="request_stale",
                            suggestion="Sign a fresh request; requests are valid for 10 minutes.")
    since = parse_time(body["compromised_since"], "compromised_since") if body["compromised_since"] else None
    signature = parse_signature(envelope["signature"])
    key = SigningKey.objects.select_for_update().filter(kid=kid, alg=body["alg"]).first()
    if key is None:
        raise NotFound(f"no key {kid} ({body['alg']})", code="key_not_found")
    ancestors = selectors.key_chain(key=key)[1:]
    signer = next((a for a in ancestors if (a.kid, a.alg) == (signature.kid, signature.alg)), None)
    if signer is None or signer.status == KeyStatus.REVOKED:
        raise Forbidden(f"only a key above {kid} in its chain may revoke it", code="revoker_not_ancestor",
                        suggestion="Sign with the parent key (or a security reviewer revokes it in the admin).")
    try:
        crypto.verify(signer.alg, signer.public_key, canonicalize(body), signature.sig)
    except SignatureError as exc:
        raise Unprocessable(exc.message, code=exc.code) from None
    return signing_key_revoke(key=key, actor=actor, reason=reason, compromised_since=since, request=envelope)


@transaction.atomic
def key_revoke_by_reviewer(*, key: SigningKey, reviewer, reason: str, compromised_since=None) -> SigningKey:
    reason = _require_reason(reason)
    if not reviewer.has_perm("governance.revoke_signingkey"):
        raise Forbidden(f"{reviewer.get_username()} may not revoke keys", code="not_a_reviewer")
    return signing_key_revoke(key=key, actor=f"user:{reviewer.get_username()}", reason=reason,
                              compromised_since=compromised_since)


@transaction.atomic
def namespace_claim(*, prefix: str, owner_kids: list[str], actor: str, user=None, api_key: ApiKey | None = None,
                    description: str = "") -> Namespace:
    """Claim a namespace for org keys; pending until the governance team approves. Squatting is refused."""
    prefix = check_namespace(prefix)
    existing = Namespace.objects.select_for_update().filter(prefix=prefix).first()
    if existing is not None and existing.status != ClaimStatus.REJECTED:
        raise Conflict(f"namespace {prefix!r} is already {existing.status}", code="namespace_taken",
                       suggestion="Choose another prefix, or ask its owners for a delegation.")
    covering = selectors.namespace_owner_for(prefix + ".x")
    owners = [k for k in SigningKey.objects.filter(kid__in=owner_kids, status=KeyStatus.ACTIVE)]
    if not owners:
        raise Unprocessable("name at least one active owner key", code="owner_required")
    if covering is not None and covering.prefix != prefix and not (set(covering.owners.all()) & set(owners)):
        raise Conflict(f"{prefix!r} lies inside {covering.prefix!r}, owned by others", code="namespace_taken",
                       suggestion=f"Ask an owner of {covering.prefix} to claim it or delegate to you.")
    for key in owners:
        if not scope_covers(key.scopes, prefix):
            raise Unprocessable(f"owner key {key.kid} has no scope over {prefix}", code="scope_violation")
    if existing is not None:
        existing.delete()  # a rejected claim is history in the audit log; the prefix is free again
    claim = Namespace.objects.create(prefix=prefix, description=description,
                                     claimed_by_user=_person_behind(user, api_key), claimed_by_api_key=api_key)
    claim.owners.set(owners)
    audit_record(action="namespace.claimed", actor=actor, user=user, target=prefix,
                 data={"owners": [k.kid for k in owners]})
    return claim


@transaction.atomic
def namespace_review(*, claim: Namespace, reviewer, approve: bool, reason: str) -> Namespace:
    reason = _require_reason(reason)
    if not reviewer.has_perm("governance.review_namespace"):
        raise Forbidden(f"{reviewer.get_username()} may not review namespace claims", code="not_a_reviewer")
    claim = Namespace.objects.select_for_update(of=("self",)).select_related("claimed_by_api_key").get(pk=claim.pk)
    if claim.status != ClaimStatus.PENDING:
        raise Conflict(f"the claim on {claim.prefix} is {claim.status}", code="not_pending")
    _two_person_rule(claim, reviewer)
    claim.status = ClaimStatus.APPROVED if approve else ClaimStatus.REJECTED
    claim.reviewed_by, claim.reviewed_at, claim.review_reason = reviewer, timezone.now(), reason
    claim.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_reason"])
    actor = f"user:{reviewer.get_username()}"
    audit_record(action=f"namespace.{claim.status}", actor=actor, user=reviewer, target=claim.prefix, reason=reason)
    if approve:
        owners = sorted(k.kid for k in claim.owners.all())
        event_emit(kind="namespace.claimed", namespace=claim.prefix.split(".")[0], subject=claim.prefix,
                   payload={"prefix": claim.prefix, "owners": owners})
        log_append(kind="namespace.claimed", subject=claim.prefix, payload={"prefix": claim.prefix, "owners": owners})
    trust_state_bump()
    return claim
