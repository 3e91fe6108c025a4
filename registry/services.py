"""Writes of the registry: the publish path."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import semver
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from action_registry.document import Envelope, namespace_of, verify_envelope_signature
from action_registry.errors import SignatureError
from core.exceptions import Conflict, DomainError, Forbidden, Unprocessable
from core.middleware import current_request_id
from core.models import Event, LogLeaf
from core.prepared import sql_rows
from core.services import event_emit_logged, event_logged
from core.transparency import LOG_LOCK_KEY, log_append_params, log_appended, log_entry_halves
from governance import selectors as governance_selectors
from governance.auth import api_key_refresh, api_key_require_namespace
from governance.choices import KeyStatus
from governance.models import ApiKey, SigningKey
from governance.policies import active_policies, policy_enforce_publish
from registry.composites import composite_check
from registry.lifecycle_services import compatibility_check, compatibility_declarations_record
from registry.models import Action, ActionVersion, Blob
from registry.verification import signature_reason


@dataclass(frozen=True)
class PublishResult:
    version: ActionVersion
    created: bool
    log_leaf: LogLeaf | None = None  # the transparency-log entry this publish appended (None if it found one)
    # The trust state the publish was checked against: the response's verification reads it instead of again.
    snapshot: governance_selectors.TrustSnapshot | None = None


def _signing_key_for(envelope: Envelope, snapshot: governance_selectors.TrustSnapshot | None = None) -> SigningKey:
    """The signing key, if it may sign this name now: known, same alg, chain valid to a trusted root
    (certificates, validity windows, scopes, nothing revoked), and not rotated beyond its grace period."""
    kid, alg = envelope.signature.kid, envelope.signature.alg
    snapshot = snapshot or governance_selectors.trust_snapshot()
    key = snapshot.get(kid, alg)
    if key is None:
        others = snapshot.by_kid(kid)
        if others:
            raise Unprocessable(f"key {kid!r} is {', '.join(k.alg for k in others)}, but the signature says {alg}",
                                code="alg_mismatch", suggestion=f"Sign with the {others[0].alg} key {kid}.")
        raise Unprocessable(f"no trusted key has kid {kid!r}", code="unknown_kid",
                            suggestion="Ask an operator to trust the key (manage.py trust_key add), submit a "
                                       "delegation (POST /v1/keys), or sign with a kid listed by GET /v1/keys.")
    if key.status == KeyStatus.PENDING:
        raise Unprocessable(f"key {kid!r} awaits a security reviewer's approval", code="key_pending",
                            suggestion=f"Check GET /v1/keys/{kid} until its status is active.")
    now = timezone.now()
    chain = governance_selectors.chain_evaluate(kid=kid, alg=alg, name=envelope.name, at=now, snapshot=snapshot)
    if not chain.ok:
        suggestion = {
            "key_revoked": "Sign with an active key whose chain has no revoked key.",
            "scope_violation": f"Sign with a key delegated for {envelope.name}'s namespace, or ask the parent "
                               "key's holder for a delegation covering it.",
            "certificate_expired": "Ask the parent key's holder for a new delegation certificate.",
        }.get(chain.reason or "", "Check the chain with GET /v1/keys/{kid}/chain.".replace("{kid}", kid))
        raise Unprocessable(chain.message, code=chain.reason or "chain_invalid", suggestion=suggestion,
                            details={"chain": chain.chain, "failed_kid": chain.failed_kid})
    grace = settings.ACTION_REGISTRY["ROTATION_GRACE"]
    if key.status == KeyStatus.ROTATED and key.rotated_at and now > key.rotated_at + grace:
        raise Unprocessable(f"key {kid!r} was rotated on {key.rotated_at:%Y-%m-%d} and its grace period is over",
                            code="key_rotated", suggestion="Sign with the key that replaced it.")
    _namespace_ownership_check(envelope.name, chain.chain, snapshot)
    return governance_selectors.signing_key_model(snapshot, snapshot.models[(kid, alg)])


def _namespace_ownership_check(name: str, chain: list[dict], snapshot) -> None:
    """Under a claimed namespace, the signing chain must pass through one of its owner keys."""
    claim = governance_selectors.namespace_owners_for(name, snapshot=snapshot)
    if claim is None:
        return
    prefix, owners = claim
    if not owners or any((link["kid"], link["alg"]) in owners for link in chain):
        return
    raise Forbidden(f"namespace {prefix!r} is owned by {', '.join(sorted(k for k, _ in owners))}; "
                    f"the signing key's chain does not include an owner", code="namespace_owned",
                    suggestion=f"Ask an owner of {prefix} to delegate a signing key to you.")


def signature_check(*, envelope: Envelope, key: SigningKey) -> None:
    # Through the verification memo, so the response's verification of this record does not verify it again.
    if envelope.signature.alg == key.alg and signature_reason(
            content_hash=envelope.content_hash, canonical=envelope.canonical, alg=key.alg,
            public_key=key.public_key, sig=envelope.signature.sig) is None:
        return
    try:  # refused: again, for the error's own message
        verify_envelope_signature(envelope, key.alg, key.public_key)
    except SignatureError as exc:
        raise Unprocessable(exc.message, code=exc.code, suggestion=exc.suggestion or
                            "Sign the RFC 8785 canonical bytes of the action document with the named key.") from None
    raise Unprocessable("the signature does not verify", code="signature_invalid",  # never reached: same check
                        suggestion="Sign the RFC 8785 canonical bytes of the action document with the named key.")


class StaleAuthorization(Exception):
    """The publish transaction found the API key or the trust state changed since the request read them."""


_ATTEMPTS = 3


def action_version_publish(*, envelope: Envelope, api_key: ApiKey | None) -> PublishResult:
    """Verify and store one signed action version. Writes nothing unless every check passes.

    The checks run against the API key and trust state the request read (the key possibly from the process's
    one-second cache); the transaction refuses when either changed since (``registry_publish``), and the
    publish is checked again from a fresh read of both."""
    rechecked = False
    for attempt in range(_ATTEMPTS):
        try:
            return _publish_checked(envelope=envelope, api_key=api_key)
        except StaleAuthorization:
            if attempt == _ATTEMPTS - 1:
                break
            api_key = api_key_refresh(api_key) if api_key is not None else None
            rechecked = True
        except DomainError:
            # A refusal decided on a key (and its trust state) the process kept from an earlier request: decide
            # again on what is stored now. Refusals are rare; an accepted publish is re-checked in SQL instead.
            if rechecked or not getattr(api_key, "cached", False):
                raise
            api_key = api_key_refresh(api_key)
            rechecked = True
    raise DomainError("the trust state kept changing while this publish was checked", code="trust_state_changed",
                      status=503, suggestion="Retry the publish: it wrote nothing.")


def _publish_checked(*, envelope: Envelope, api_key: ApiKey | None) -> PublishResult:
    if api_key is not None:
        api_key_require_namespace(api_key, envelope.name)
    # One trust-state read per publish (authentication's query brought it along): the key, the namespace claims
    # and the policies are cached per state.
    snapshot = governance_selectors.trust_snapshot(state=getattr(api_key, "trust_state", None))
    key = _signing_key_for(envelope, snapshot)
    signature_check(envelope=envelope, key=key)
    policy_enforce_publish(name=envelope.name, version=envelope.version, key=key,
                           policies=governance_selectors.trust_cached(snapshot, "active_policies", active_policies))
    compatibility_check(envelope=envelope, snapshot=snapshot)
    if "steps" in envelope.document:
        composite_check(document=envelope.document)
    try:
        result = _store(envelope=envelope, key=key, api_key=api_key, trust=snapshot.stamp)
    except IntegrityError:
        # A concurrent publish of the same (name, version) won the race: answer as if we came second.
        existing = ActionVersion.objects.select_related("action").filter(
            action__name=envelope.name, version=envelope.version).first()
        if existing is None:
            raise
        result = _existing(existing, envelope)
    return dataclasses.replace(result, snapshot=snapshot)


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
    return _store(envelope=envelope, key=key, api_key=None, trust=None)


def _store(*, envelope: Envelope, key: SigningKey, api_key: ApiKey | None,
           trust: tuple[int, datetime | None] | None) -> PublishResult:
    """The publish transaction, then the version's model assembled from what it wrote (no read back)."""
    if connection.vendor != "postgresql":
        return _store_portable(envelope=envelope, key=key, api_key=api_key, trust=trust)
    if connection.in_atomic_block or (envelope.document.get("compatibility") or {}).get("breaks"):
        # Declared breaks (rare) are recorded in the same transaction, so the function runs inside one; inside
        # a caller's transaction a savepoint keeps a failed publish from aborting the rest of it.
        with transaction.atomic():
            result = _store_sql(envelope=envelope, key=key, api_key=api_key, trust=trust)
            if result.created:
                compatibility_declarations_record(envelope=envelope, version=result.version)
            return result
    return _store_sql(envelope=envelope, key=key, api_key=api_key, trust=trust)


# registry/migrations/0008_publish_rechecks_key_and_trust.py: lock (or create) the action, store, move latest, append the log
# entry and the outbox event. Outside a transaction it is one by itself: one round trip from BEGIN to COMMIT.
_PUBLISH_SQL = ("SELECT p.r_action_id, p.r_version_id, p.r_existing_id, p.r_latest_id, (p.r_log).* "
                "FROM registry_publish(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s::jsonb, %s, %s) p")
_STALE = {"AR001", "AR002"}  # registry_publish: the API key / the trust state changed since the request read it
_PUBLISHED = "action.published"


def _store_sql(*, envelope: Envelope, key: SigningKey, api_key: ApiKey | None,
               trust: tuple[int, datetime | None] | None) -> PublishResult:
    """One ``registry_publish`` call: the new version's PublishResult, or the existing version's (200 or 409).
    Everything before the call (checking and serialising the log entry) holds no lock. ``trust``: the trust
    state the checks ran against, which the transaction requires to be current (None: not checked)."""
    doc, name, sig = envelope.document, envelope.name, envelope.signature
    namespace = namespace_of(name)
    parsed = semver.Version.parse(envelope.version)
    now = timezone.now()
    subject = f"{name}@{envelope.version}"
    payload = {"name": name, "version": envelope.version, "content_hash": envelope.content_hash, "kid": key.kid,
               "alg": key.alg}
    halves = log_entry_halves(kind=_PUBLISHED, payload={**payload, "signature": sig.sig})
    event = Event(kind=_PUBLISHED, namespace=namespace, subject=subject, payload=payload,
                  request_id=current_request_id() or "")
    try:
        row = sql_rows(_PUBLISH_SQL, [
            name, namespace, doc["description"], key.kid,
            envelope.version, parsed.major, parsed.minor, parsed.patch, parsed.prerelease or "",
            envelope.content_hash, envelope.canonical, sig.kid, sig.alg, sig.sig, key.pk, now,
            api_key.pk if api_key else None,
            LOG_LOCK_KEY, *log_append_params(kind=_PUBLISHED, namespace=namespace, subject=subject, halves=halves,
                                             event=event),
            api_key.digest if api_key else None, json.dumps(api_key.namespaces) if api_key else None,
            trust[0] if trust else None, trust[1] if trust else None])[0]
    except DatabaseError as exc:
        if getattr(getattr(exc.__cause__, "diag", None), "sqlstate", None) in _STALE:
            raise StaleAuthorization(str(exc.__cause__)) from None
        raise
    action_id, version_id, existing_id, latest_id = row[:4]
    if version_id is None:  # this version exists (committed before we took the action's lock)
        return _existing(ActionVersion.objects.select_related("action").get(pk=existing_id), envelope)
    leaf = log_appended(row[4:], kind=_PUBLISHED, namespace=namespace, subject=subject, event=event)
    event_logged(event)
    version = _version_model(envelope=envelope, key=key, api_key=api_key,
                             written=_Written(action_id, version_id, latest_id, now))
    return PublishResult(version=version, created=True, log_leaf=leaf)


class _Written(NamedTuple):
    """What the publish transaction wrote, for the model assembled after it."""

    action_id: int
    version_id: int
    latest_id: int
    published_at: datetime


def _version_model(*, envelope: Envelope, key: SigningKey, api_key: ApiKey | None,
                   written: _Written) -> ActionVersion:
    """The stored version as a model instance with its action and blob, built from what was written (no read;
    ``from_db`` with every column, the ORM's own fast path for rows)."""
    alias, sig, parsed = connection.alias, envelope.signature, semver.Version.parse(envelope.version)
    action = Action.from_db(alias, ["id", "name", "namespace", "latest_version_id"],
                            [written.action_id, envelope.name, namespace_of(envelope.name), written.latest_id])
    blob = Blob.from_db(alias, ["content_hash", "canonical", "size"],
                        [envelope.content_hash, envelope.canonical, len(envelope.canonical)])
    columns = {"id": written.version_id, "action_id": written.action_id, "version": envelope.version,
               "major": parsed.major, "minor": parsed.minor, "patch": parsed.patch,
               "prerelease": parsed.prerelease or "", "blob_id": envelope.content_hash, "kid": sig.kid,
               "alg": sig.alg, "sig": sig.sig, "signing_key_id": key.pk, "published_at": written.published_at,
               "published_by_id": api_key.pk if api_key else None}
    version = ActionVersion.from_db(alias, _VERSION_COLUMNS, [columns[name] for name in _VERSION_COLUMNS])
    for field, value in ((_ACTION, action), (_BLOB, blob), (_SIGNING_KEY, key), (_PUBLISHED_BY, api_key)):
        field.set_cached_value(version, value)
    for rel in _VERSION_DEPENDENTS:  # a row this transaction created has no deprecation, no mirror origin...
        rel.set_cached_value(version, None)  # ...so the response reads none of them (federation sets its own)
    return version


_VERSION_COLUMNS = [f.attname for f in ActionVersion._meta.concrete_fields]
_ACTION, _BLOB, _SIGNING_KEY, _PUBLISHED_BY = (ActionVersion._meta.get_field(name) for name in
                                               ("action", "blob", "signing_key", "published_by"))
_VERSION_DEPENDENTS = [rel for rel in ActionVersion._meta.related_objects if rel.one_to_one]

def _is_newer(candidate: semver.Version, current: semver.Version) -> bool:
    """Latest = highest release; a prerelease is latest only while the action has no release."""
    if candidate.prerelease and not current.prerelease:
        return False
    if current.prerelease and not candidate.prerelease:
        return True
    return candidate > current


@transaction.atomic
def _store_portable(*, envelope: Envelope, key: SigningKey, api_key: ApiKey | None,
                    trust: tuple[int, datetime | None] | None) -> PublishResult:
    """_store through the ORM, for databases other than PostgreSQL (SQLite runs one writer at a time), with
    registry_publish's re-checks of the API key and the trust state."""
    doc = envelope.document
    if api_key is not None and not ApiKey.objects.filter(pk=api_key.pk, is_active=True, digest=api_key.digest,
                                                         namespaces=api_key.namespaces).exists():
        raise StaleAuthorization("the API key changed since the request read it")
    if trust is not None and (governance_selectors.trust_state_row() or (0, None)) != tuple(trust):
        raise StaleAuthorization("the trust state changed since the request read it")
    action = _action_locked(envelope.name)
    if action is None:
        now = timezone.now()
        Action.objects.bulk_create([Action(name=envelope.name, namespace=namespace_of(envelope.name),
                                           description=doc["description"], kid=key.kid, created_at=now,
                                           updated_at=now)], ignore_conflicts=True)
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
    if action.latest_version_id is None or _is_newer(parsed, semver.Version.parse(action.latest_version.version)):
        action.latest_version = version
        action.description = doc["description"]
        action.kid = key.kid
        action.save(update_fields=["latest_version", "description", "kid", "updated_at"])
    subject = f"{action.name}@{version.version}"
    payload = {"name": action.name, "version": version.version, "content_hash": envelope.content_hash,
               "kid": key.kid, "alg": key.alg}
    _, leaf = event_emit_logged(kind="action.published", namespace=action.namespace, subject=subject,
                                payload=payload, log_payload={**payload, "signature": envelope.signature.sig})
    compatibility_declarations_record(envelope=envelope, version=version)
    return PublishResult(version=version, created=True, log_leaf=leaf)


def _action_locked(name: str) -> Action | None:
    """The action row, locked (the ORM form of _ACTION_LOCK_SQL)."""
    return (Action.objects.select_for_update(of=("self",)).select_related("latest_version")
            .filter(name=name).first())
