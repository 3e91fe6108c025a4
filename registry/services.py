"""Writes of the registry: the publish path."""

from __future__ import annotations

from dataclasses import dataclass

import semver
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from action_registry.document import Envelope, namespace_of, verify_envelope_signature
from action_registry.errors import SignatureError
from core.exceptions import Conflict, Forbidden, Unprocessable
from core.models import LogLeaf
from core.services import event_emit
from core.transparency import log_append
from governance import selectors as governance_selectors
from governance.auth import api_key_require_namespace
from governance.choices import KeyStatus
from governance.models import ApiKey, SigningKey
from governance.policies import active_policies, policy_enforce_publish
from registry.composites import composite_check
from registry.lifecycle_services import compatibility_check, compatibility_declarations_record
from registry.models import Action, ActionVersion, Blob


@dataclass(frozen=True)
class PublishResult:
    version: ActionVersion
    created: bool
    log_leaf: LogLeaf | None = None  # the transparency-log entry this publish appended (None if it found one)


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
    try:
        verify_envelope_signature(envelope, key.alg, key.public_key)
    except SignatureError as exc:
        raise Unprocessable(exc.message, code=exc.code, suggestion=exc.suggestion or
                            "Sign the RFC 8785 canonical bytes of the action document with the named key.") from None


def action_version_publish(*, envelope: Envelope, api_key: ApiKey | None) -> PublishResult:
    """Verify and store one signed action version. Writes nothing unless every check passes."""
    if api_key is not None:
        api_key_require_namespace(api_key, envelope.name)
    # One trust-state read per publish: the key, the namespace claims and the policies are cached per state.
    snapshot = governance_selectors.trust_snapshot()
    key = _signing_key_for(envelope, snapshot)
    signature_check(envelope=envelope, key=key)
    policy_enforce_publish(name=envelope.name, version=envelope.version, key=key,
                           policies=governance_selectors.trust_cached(snapshot, "active_policies", active_policies))
    compatibility_check(envelope=envelope, snapshot=snapshot)
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
    created_action = False
    if action is None:
        action = _action_insert(name=envelope.name, description=doc["description"], kid=key.kid)
        created_action = action is not None
        if not created_action:  # a concurrent publish created it first
            action = _action_locked(envelope.name)
    # A row this transaction just inserted has no versions yet.
    existing = None if created_action else ActionVersion.objects.filter(action=action, version=envelope.version).first()
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
    leaf = log_append(kind="action.published", namespace=action.namespace, subject=f"{action.name}@{version.version}",
                      payload={"name": action.name, "version": version.version, "content_hash": envelope.content_hash,
                               "kid": key.kid, "alg": key.alg, "signature": envelope.signature.sig})
    compatibility_declarations_record(envelope=envelope, version=version)
    return PublishResult(version=version, created=True, log_leaf=leaf)


def _action_insert(*, name: str, description: str, kid: str) -> Action | None:
    """Insert the action row unless another transaction has (then None). The inserted row is ours until
    commit, as the lock of _action_locked would make it: a racing insert of the name waits on the unique index."""
    now = timezone.now()
    row = Action(name=name, namespace=namespace_of(name), description=description, kid=kid, created_at=now,
                 updated_at=now)
    if connection.vendor != "postgresql":
        Action.objects.bulk_create([row], ignore_conflicts=True)
        return None  # re-read (and lock) it like a concurrent insert
    table, columns = Action._meta.db_table, ("name", "namespace", "description", "kid", "created_at", "updated_at")
    with connection.cursor() as cursor:
        cursor.execute(f'INSERT INTO {table} ({", ".join(columns)}) VALUES ({", ".join(["%s"] * len(columns))}) '  # noqa: S608
                       "ON CONFLICT (name) DO NOTHING RETURNING id", [getattr(row, c) for c in columns])
        inserted = cursor.fetchone()
    if inserted is None:
        return None
    row.pk = inserted[0]
    row._state.adding, row._state.db = False, connection.alias
    return row


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
