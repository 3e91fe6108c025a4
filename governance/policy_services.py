"""Writes of policies and channels: each change is audited, logged, announced and bumps the trust state."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from action_registry.canonical import canonical_and_hash
from core.exceptions import Conflict, DomainError, NotFound
from core.services import audit_record, event_emit
from core.transparency import log_append
from governance.models import Channel, ChannelPromotion, Policy, PolicyVersion
from governance.policies import policy_document_check
from governance.services import trust_state_bump


@transaction.atomic
def policy_save(*, name: str, kind: str, document: dict, author: str, reason: str,
                enabled: bool = True) -> PolicyVersion:
    """Create the policy or add its next immutable version (the new one becomes current)."""
    if not reason.strip():
        raise DomainError("a policy change needs a reason", code="reason_required", status=422)
    document = policy_document_check(kind=kind, document=document)
    policy, _ = Policy.objects.select_for_update().get_or_create(name=name, defaults={"kind": kind})
    if policy.kind != kind:
        raise Conflict(f"policy {name!r} is a {policy.kind} policy, not {kind}", code="policy_kind_mismatch",
                       suggestion="Choose another name for a policy of another kind.")
    number = (policy.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    digest = canonical_and_hash({"kind": kind, "enabled": enabled, "document": document})[1]
    version = PolicyVersion(policy=policy, number=number, enabled=enabled, document=document, digest=digest,
                            author=author, reason=reason)
    version.full_clean()
    version.save()
    policy.current = version
    policy.save(update_fields=["current"])
    data = {"name": name, "kind": kind, "number": number, "enabled": enabled, "document": document, "digest": digest}
    audit_record(action="policy.changed", actor=author, target=name, reason=reason, data=data)
    event_emit(kind="policy.changed", subject=name, payload=data)
    log_payload = {**{k: v for k, v in data.items() if k != "kind"}, "policy_kind": kind, "author": author,
                   "reason": reason}
    log_append(kind="policy.changed", subject=f"{name}@{number}", payload=log_payload)
    trust_state_bump()
    return version


@transaction.atomic
def channel_create(*, name: str, actor: str, description: str = "") -> Channel:
    channel = Channel(name=name, description=description)
    channel.full_clean()
    try:
        with transaction.atomic():
            channel.save()
    except IntegrityError:
        raise Conflict(f"channel {name!r} exists", code="channel_exists") from None
    audit_record(action="channel.created", actor=actor, target=name)
    return channel


@transaction.atomic
def channel_promote(*, channel: Channel, action_name: str, version: str, actor: str,
                    reason: str = "") -> ChannelPromotion:
    """Promote a published version into a channel (idempotent: an existing live promotion is returned)."""
    from registry.selectors import version_get  # noqa: PLC0415 (governance reads registry through selectors)

    row = version_get(name=action_name, version=version)
    existing = ChannelPromotion.objects.filter(channel=channel, action_name=action_name, version=version,
                                               withdrawn_at=None).first()
    if existing is not None:
        return existing
    promotion = ChannelPromotion.objects.create(channel=channel, action_name=action_name, version=version,
                                                promoted_by=actor, reason=reason)
    payload = {"channel": channel.name, "name": action_name, "version": version, "content_hash": row.blob_id}
    audit_record(action="channel.promoted", actor=actor, target=f"{action_name}@{version}", reason=reason,
                 data=payload)
    event_emit(kind="channel.promoted", namespace=row.action.namespace, subject=f"{action_name}@{version}",
               payload=payload)
    trust_state_bump()
    return promotion


@transaction.atomic
def channel_withdraw(*, channel: Channel, action_name: str, version: str, actor: str, reason: str) -> ChannelPromotion:
    promotion = (ChannelPromotion.objects.select_for_update()
                 .filter(channel=channel, action_name=action_name, version=version, withdrawn_at=None).first())
    if promotion is None:
        raise NotFound(f"{action_name}@{version} is not in channel {channel.name}", code="not_promoted")
    promotion.withdrawn_at = timezone.now()
    promotion.withdrawn_by = actor
    promotion.save(update_fields=["withdrawn_at", "withdrawn_by"])
    payload = {"channel": channel.name, "name": action_name, "version": version}
    audit_record(action="channel.withdrawn", actor=actor, target=f"{action_name}@{version}", reason=reason,
                 data=payload)
    event_emit(kind="channel.withdrawn", namespace=action_name.split(".", 1)[0], subject=f"{action_name}@{version}",
               payload=payload)
    trust_state_bump()
    return promotion
