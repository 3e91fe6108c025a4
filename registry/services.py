"""Writes of the registry: the publish path."""

from __future__ import annotations

from dataclasses import dataclass

import semver
from django.db import IntegrityError, transaction

from action_registry.document import Envelope, namespace_of, verify_envelope_signature
from action_registry.errors import SignatureError
from core.exceptions import Conflict, Unprocessable
from core.services import event_emit
from core.transparency import log_append
from governance import selectors as governance_selectors
from governance.auth import api_key_require_namespace
from governance.choices import KeyStatus
from governance.models import ApiKey, SigningKey
from governance.policies import policy_enforce_publish
from registry.composites import composite_check
from registry.lifecycle_services import compatibility_check, compatibility_declarations_record
from registry.models import Action, ActionVersion, Blob


@dataclass(frozen=True)
class PublishResult:
    version: ActionVersion
    created: bool


def _signing_key_for(envelope: Envelope) -> SigningKey:
    kid, alg = envelope.signature.kid, envelope.signature.alg
    keys = governance_selectors.signing_keys_by_kid(kid=kid)
    if not keys:
        raise Unprocessable(f"no trusted key has kid {kid!r}", code="unknown_kid",
                            suggestion="Ask an operator to trust the key (manage.py trust_key add), "
                                       "or sign with a kid listed by GET /v1/keys.")
    key = next((k for k in keys if k.alg == alg), None)
    if key is None:
        raise Unprocessable(f"key {kid!r} is {', '.join(k.alg for k in keys)}, but the signature says {alg}",
                            code="alg_mismatch", suggestion=f"Sign with the {keys[0].alg} key {kid}.")
    if key.status == KeyStatus.REVOKED:
        raise Unprocessable(f"key {kid!r} was revoked: {key.revocation_reason or 'no reason given'}",
                            code="key_revoked", suggestion="Sign with an active key.")
    if key.status != KeyStatus.ACTIVE and key.status != KeyStatus.ROTATED:
        raise Unprocessable(f"key {kid!r} is {key.status} and cannot sign", code=f"key_{key.status}",
                            suggestion="Sign with an active key.")
    return key


def signature_check(*, envelope: Envelope, key: SigningKey) -> None:
    try:
        verify_envelope_signature(envelope, key.alg, key.public_key)
    except SignatureError as exc:
        raise Unprocessable(exc.message, code=exc.code, suggestion=exc.suggestion or
                            "Sign the RFC 8785 canonical bytes of the action document with the named key.") from None


def action_version_publish(*, envelope: Envelope, api_key: ApiKey | None) -> PublishResult:
    """Verify and store one signed action version. Writes nothing unless every check passes."""
    if api_key is not None:
        api_key_require_namespace(api_key, envelope.name)
    key = _signing_key_for(envelope)
    signature_check(envelope=envelope, key=key)
    policy_enforce_publish(name=envelope.name, version=envelope.version, key=key)
    compatibility_check(envelope=envelope)
    if "steps" in envelope.document:
        composite_check(document=envelope.document)
    try:
        return _store(envelope=envelope, key=key, api_key=api_key)
    except IntegrityError:
        # A concurrent publish of the same (name, version) won the race: answer as if we came second.
        existing = ActionVersion.objects.select_related("action").filter(
            action__name=envelope.name, version=envelope.version).first()
        if existing is None:
            raise
        return _existing(existing, envelope)


def _existing(existing: ActionVersion, envelope: Envelope) -> PublishResult:
    if existing.blob_id == envelope.content_hash:
        return PublishResult(version=existing, created=False)
    raise Conflict(f"{envelope.name}@{envelope.version} is already published with other bytes "
                   f"({existing.blob_id})", code="version_exists",
                   suggestion="Published versions are immutable: publish under a new version number.",
                   details={"content_hash": existing.blob_id})


def action_version_store_verified(*, envelope: Envelope, key: SigningKey) -> PublishResult:
    """Store a record whose signature and chain were verified elsewhere (federation: against an upstream's
    roots) through the one publish transaction; no API key, and no compatibility check, because an
    upstream's history is what it is. Raises Conflict when the version exists here with other bytes."""
    return _store(envelope=envelope, key=key, api_key=None)


@transaction.atomic
def _store(*, envelope: Envelope, key: SigningKey, api_key: ApiKey | None) -> PublishResult:
    doc = envelope.document
    action = _action_locked(envelope.name)
    if action is None:
        Action.objects.bulk_create([Action(name=envelope.name, namespace=namespace_of(envelope.name),
                                           description=doc["description"], kid=key.kid)], ignore_conflicts=True)
        action = _action_locked(envelope.name)
    existing = ActionVersion.objects.filter(action=action, version=envelope.version).first()
    if existing is not None:
        existing.action = action
        return _existing(existing, envelope)
    blob = Blob(content_hash=envelope.content_hash, canonical=envelope.canonical, size=len(envelope.canonical))
    Blob.objects.bulk_create([blob], ignore_conflicts=True)
    parsed = semver.Version.parse(envelope.version)
    version = ActionVersion.objects.create(
        action=action, version=envelope.version, major=parsed.major, minor=parsed.minor, patch=parsed.patch,
        prerelease=parsed.prerelease or "", blob=blob, kid=envelope.signature.kid,
        alg=envelope.signature.alg, sig=envelope.signature.sig, signing_key=key, published_by=api_key)
    if _is_newer_latest(parsed, action):
        action.latest_version = version
        action.description = doc["description"]
        action.kid = key.kid
        action.save(update_fields=["latest_version", "description", "kid", "updated_at"])
    event_emit(kind="action.published", namespace=action.namespace, subject=f"{action.name}@{version.version}",
               payload={"name": action.name, "version": version.version, "content_hash": envelope.content_hash,
                        "kid": key.kid, "alg": key.alg})
    log_append(kind="action.published", namespace=action.namespace, subject=f"{action.name}@{version.version}",
               payload={"name": action.name, "version": version.version, "content_hash": envelope.content_hash,
                        "kid": key.kid, "alg": key.alg, "signature": envelope.signature.sig})
    compatibility_declarations_record(envelope=envelope, version=version)
    return PublishResult(version=version, created=True)


def _action_locked(name: str) -> Action | None:
    """The action row, locked: publishes of one action are serialised, so the second of two racing
    publishes of one version sees the first's row instead of failing on the unique constraint."""
    return (Action.objects.select_for_update(of=("self",)).select_related("latest_version")
            .filter(name=name).first())


def _is_newer_latest(candidate: semver.Version, action: Action) -> bool:
    """Latest = highest release; a prerelease is latest only while the action has no release."""
    if action.latest_version_id is None:
        return True
    # Issue 12 (tests/faults/test_postgres_restart.py): when select_for_update waited for another publish of
    # this action, PostgreSQL re-reads the locked row but not the select_related join (EvalPlanQual), so
    # latest_version_id can name the version just committed while the joined object is None: read it.
    latest = action.latest_version or ActionVersion.objects.get(pk=action.latest_version_id)
    current = semver.Version.parse(latest.version)
    if candidate.prerelease and not current.prerelease:
        return False
    if current.prerelease and not candidate.prerelease:
        return True
    return candidate > current
