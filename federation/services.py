"""Writes of federation: upstream configuration, mirror sync with quarantine, and edge sync pushes."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from action_registry import crypto
from action_registry.document import check_kid, check_namespace, parse_envelope
from action_registry.errors import RegistryError
from core.exceptions import Conflict, DomainError
from core.services import audit_record, event_emit
from federation.choices import QuarantineReason, SyncItemStatus
from federation.models import MirroredVersion, QuarantinedRecord, Upstream
from federation.upstream_client import UpstreamClient, VersionRef
from federation.verification import RecordRefused, VerifiedRecord, record_verify
from governance import selectors as governance_selectors
from governance.choices import KeyRole
from governance.models import ApiKey, SigningKey
from governance.services import signing_key_add
from registry import services as registry_services
from registry.models import ActionVersion

logger = logging.getLogger("action_registry.federation")
SYNC_TASK = "federation.tasks.mirror_sync_task"


# --- upstream configuration -------------------------------------------------------------------------

def _normalize_root_keys(root_keys: list) -> list[dict]:
    if not isinstance(root_keys, list) or not root_keys:
        raise DomainError("an upstream needs at least one root key", code="upstream_roots_required", status=422,
                          suggestion='Give [{"kid": ..., "alg": "Ed25519", "public_key": ...}] from the '
                                     "upstream's GET /v1/keys.")
    out = []
    for key in root_keys:
        if not isinstance(key, dict) or not {"kid", "alg", "public_key"} <= set(key):
            raise DomainError("each root key is {kid, alg, public_key}", code="invalid_root_key", status=422)
        alg = crypto.check_alg(key["alg"])
        out.append({"kid": check_kid(key["kid"]), "alg": alg,
                    "public_key": crypto.normalize_public_key(alg, key["public_key"])})
    return out


@transaction.atomic
def upstream_save(*, upstream: Upstream, actor: str) -> Upstream:
    """Validate and save an upstream, trust its roots locally (scoped to its namespaces), keep its schedule."""
    upstream.root_keys = _normalize_root_keys(upstream.root_keys)
    upstream.namespaces = sorted({check_namespace(ns) for ns in (upstream.namespaces or [])})
    upstream.full_clean()
    created = upstream.pk is None
    upstream.save()
    for key in upstream.root_keys:
        _root_trust(upstream=upstream, key=key, actor=actor)
    _schedule_sync(upstream)
    audit_record(action="upstream.created" if created else "upstream.changed", actor=actor, target=upstream.name,
                 data={"url": upstream.url, "namespaces": upstream.namespaces,
                       "roots": [f"{k['kid']}/{k['alg']}" for k in upstream.root_keys]})
    return upstream


def _root_trust(*, upstream: Upstream, key: dict, actor: str) -> SigningKey:
    """Mirrored records are verified locally like any other, so the upstream's roots enter the trust store
    (scoped to the mirrored namespaces). A local key with the same kid and another public key is a conflict."""
    existing = next((k for k in governance_selectors.signing_keys_by_kid(kid=key["kid"]) if k.alg == key["alg"]),
                    None)
    if existing is not None:
        if existing.public_key != key["public_key"]:
            raise Conflict(f"the trust store already has another key {key['kid']} ({key['alg']})",
                           code="upstream_kid_conflict",
                           suggestion="Mirror from an upstream whose root kids do not collide with local ones.")
        return existing
    return signing_key_add(kid=key["kid"], alg=key["alg"], public_key=key["public_key"], actor=actor,
                           role=KeyRole.ROOT, scopes=upstream.namespaces,
                           description=f"root of upstream {upstream.name} (mirror)",
                           reason=f"configured as a root of upstream {upstream.name} ({upstream.url})")


def _schedule_sync(upstream: Upstream) -> None:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    task = upstream.periodic_task
    if not upstream.sync_interval_minutes or not upstream.enabled:
        if task is not None:
            task.enabled = False
            task.save(update_fields=["enabled"])
        return
    every, _ = IntervalSchedule.objects.get_or_create(every=upstream.sync_interval_minutes,
                                                      period=IntervalSchedule.MINUTES)
    values = {"interval": every, "task": SYNC_TASK, "args": json.dumps([upstream.pk]), "enabled": True}
    if task is None:
        task = PeriodicTask.objects.create(name=f"mirror-sync:{upstream.name}", **values)
        Upstream.objects.filter(pk=upstream.pk).update(periodic_task=task)
        upstream.periodic_task = task
    else:
        for attr, value in values.items():
            setattr(task, attr, value)
        task.save()


# --- mirror sync ------------------------------------------------------------------------------------

@dataclass
class MirrorReport:
    upstream: str
    mode: str = "events"
    stored: list[str] = field(default_factory=list)
    present: int = 0
    quarantined: list[dict] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    cursor: str = ""

    def as_dict(self) -> dict:
        return {"upstream": self.upstream, "mode": self.mode, "stored": self.stored, "present": self.present,
                "quarantined": self.quarantined, "deferred": self.deferred, "cursor": self.cursor}


def mirror_sync(*, upstream: Upstream, actor: str = "system", client: UpstreamClient | None = None) -> MirrorReport:
    """Pull what changed upstream since the cursor; store what verifies, quarantine what does not.

    Each record is its own transaction: one bad record never blocks the good ones, and the cursor only
    moves once every change before it has been stored, quarantined or deliberately deferred.
    """
    report = MirrorReport(upstream=upstream.name)
    own_client = client is None
    client = client or UpstreamClient(upstream.url, api_key=os.environ.get(upstream.api_key_env, "")
                                      if upstream.api_key_env else "")
    try:
        changes = client.events_since(upstream.cursor, upstream.namespaces)
        if changes is None:
            report.mode = "scan"
            refs, cursor = list(client.scan(upstream.namespaces)), upstream.cursor
        else:
            refs, cursor = changes
        for ref in refs:
            _mirror_one(upstream=upstream, ref=ref, client=client, report=report)
    except DomainError as exc:
        Upstream.objects.filter(pk=upstream.pk).update(last_error=f"{exc.code}: {exc.message}"[:2000])
        raise
    finally:
        if own_client:
            client.close()
    report.cursor = cursor
    Upstream.objects.filter(pk=upstream.pk).update(cursor=cursor, last_synced_at=timezone.now(), last_error="")
    logger.info("mirror sync %s: %d stored, %d present, %d quarantined", upstream.name, len(report.stored),
                report.present, len(report.quarantined))
    return report


def _mirror_one(*, upstream: Upstream, ref: VersionRef, client: UpstreamClient, report: MirrorReport) -> None:
    local = (ActionVersion.objects.filter(action__name=ref.name, version=ref.version)
             .values_list("blob_id", flat=True).first())
    if local is not None and local == ref.content_hash:
        report.present += 1
        return
    raw = client.record(ref.name, ref.version)
    try:
        verified = record_verify(raw, name=ref.name, version=ref.version, root_keys=upstream.root_keys,
                                 namespaces=upstream.namespaces, fetch_chain=client.key_chain)
        if local is not None and local != verified.envelope.content_hash:
            raise RecordRefused(QuarantineReason.CONFLICT, f"{ref.name}@{ref.version} is {local} here; the upstream "
                                                           f"serves {verified.envelope.content_hash}",
                                verified.envelope.content_hash)
    except RecordRefused as refused:
        report.quarantined.append(record_quarantine(upstream=upstream, name=ref.name, version=ref.version,
                                                    raw=raw, refused=refused))
        return
    if local is not None:
        report.present += 1
        return
    key = _local_signing_key(verified)
    if key is None:
        report.deferred.append(f"{ref.name}@{ref.version}")
        return
    try:
        mirrored_version_store(upstream=upstream, verified=verified, key=key)
    except Conflict as exc:  # published locally meanwhile with other bytes
        report.quarantined.append(record_quarantine(
            upstream=upstream, name=ref.name, version=ref.version, raw=raw,
            refused=RecordRefused(QuarantineReason.CONFLICT, exc.message, verified.envelope.content_hash)))
        return
    report.stored.append(f"{ref.name}@{ref.version}")


def _local_signing_key(verified: VerifiedRecord) -> SigningKey | None:
    """The local trust-store row the stored version points at (the upstream roots were imported on save).

    A delegated signer verified through its upstream chain needs its certificates imported into the local
    trust store first; until governance offers that import such records are deferred, not stored unverified.
    """
    sig = verified.envelope.signature
    return next((k for k in governance_selectors.signing_keys_by_kid(kid=sig.kid) if k.alg == sig.alg
                 and k.public_key == verified.chain[0]["public_key"]), None)


@transaction.atomic
def mirrored_version_store(*, upstream: Upstream, verified: VerifiedRecord, key: SigningKey) -> ActionVersion:
    """Store a verified upstream record through the one publish transaction, with its origin beside it."""
    result = registry_services.action_version_store_verified(envelope=verified.envelope, key=key)
    if not result.created:  # the same bytes arrived meanwhile by another path: nothing to annotate
        return result.version
    MirroredVersion.objects.create(version=result.version, upstream=upstream,
                                   registry=verified.origin_registry or upstream.url, fetched_at=timezone.now(),
                                   chain=verified.chain)
    return result.version


@transaction.atomic
def record_quarantine(*, upstream: Upstream, name: str, version: str, raw: bytes, refused: RecordRefused) -> dict:
    """Keep the refused record for inspection and raise an anomaly; it is never stored as a version."""
    now = timezone.now()
    row, created = QuarantinedRecord.objects.select_for_update().get_or_create(
        upstream=upstream, name=name[:200], version=version[:128], content_hash=refused.content_hash,
        reason=refused.reason, defaults={"record": raw, "message": refused.message[:4000], "last_seen_at": now})
    if not created:
        row.times_seen += 1
        row.last_seen_at = now
        row.save(update_fields=["times_seen", "last_seen_at"])
    finding = {"name": name, "version": version, "reason": str(refused.reason), "message": refused.message,
               "content_hash": refused.content_hash, "upstream": upstream.name, "quarantine_id": row.pk}
    if created:
        event_emit(kind="anomaly.mirror_quarantine", namespace=name.split(".", 1)[0], subject=f"{name}@{version}",
                   payload=finding)
        audit_record(action="mirror.quarantined", actor="system", target=f"{name}@{version}",
                     reason=refused.message[:1000], data=finding)
    return finding


# --- edge sync: POST /v1/sync -------------------------------------------------------------------------

def sync_push(*, items: list, api_key: ApiKey | None) -> list[dict]:
    """Publish each pushed envelope on its own; report accepted / identical / conflict / refused per item.

    Nothing is merged: a conflicting version keeps the local bytes, and the conflict is reported and raised
    as an anomaly so an operator sees it.
    """
    report = []
    for index, body in enumerate(items):
        entry: dict = {"index": index}
        try:
            envelope = parse_envelope(body)
            entry.update(name=envelope.name, version=envelope.version, content_hash=envelope.content_hash)
            result = registry_services.action_version_publish(envelope=envelope, api_key=api_key)
            entry["status"] = SyncItemStatus.ACCEPTED if result.created else SyncItemStatus.IDENTICAL
        except Conflict as exc:
            entry.update(status=SyncItemStatus.CONFLICT, code=exc.code, message=exc.message,
                         local_content_hash=exc.details.get("content_hash"))
            _sync_conflict_record(entry=entry, api_key=api_key)
        except RegistryError as exc:
            entry.update(status=SyncItemStatus.REFUSED, code=exc.code, message=exc.message)
        entry["status"] = str(entry["status"])
        report.append(entry)
    return report


@transaction.atomic
def _sync_conflict_record(*, entry: dict, api_key: ApiKey | None) -> None:
    actor = f"api_key:{api_key.name}" if api_key is not None else "system"
    event_emit(kind="anomaly.sync_conflict", namespace=entry["name"].split(".", 1)[0],
               subject=f"{entry['name']}@{entry['version']}", payload={**entry, "actor": actor})
    audit_record(action="sync.conflict", actor=actor, target=f"{entry['name']}@{entry['version']}",
                 reason=entry["message"][:1000], data=entry)
