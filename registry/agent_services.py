"""Writes of agents and capability declarations: declare, heartbeat, withdraw, expire; anomalies on hash drift."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from action_registry.canonical import CONTENT_HASH_RE
from action_registry.document import check_name, check_version, namespace_of
from core.exceptions import Conflict, DomainError, Forbidden, NotFound, Unprocessable
from core.services import audit_record, event_emit
from governance.models import ApiKey
from governance.services import api_key_create
from registry import records
from registry.agent_choices import CapabilityStatus
from registry.agent_models import (
    TTL_MAX_SECONDS,
    TTL_MIN_SECONDS,
    Agent,
    CapabilityDeclaration,
    CapabilityItem,
)
from registry.models import ActionVersion

DECLARED_MAX = 500
ANOMALY_HASH_MISMATCH = "anomaly.capability_hash_mismatch"


@dataclass(frozen=True)
class DeclaredAction:
    name: str
    version: str
    content_hash: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@transaction.atomic
def agent_create(*, name: str, actor: str, description: str = "", api_key: ApiKey | None = None) -> Agent:
    """Register an agent identity (operators only: the admin and `manage.py create_agent`)."""
    agent = Agent(name=name, description=description, api_key=api_key, created_by=actor)
    agent.full_clean()
    try:
        with transaction.atomic():
            agent.save()
    except IntegrityError:
        raise Conflict(f"an agent named {name!r} exists", code="agent_exists") from None
    audit_record(action="agent.created", actor=actor, target=name,
                 data={"api_key": api_key.name if api_key else None})
    return agent


@transaction.atomic
def agent_register(*, name: str, namespaces: list[str], actor: str, description: str = "") -> tuple[Agent, str]:
    """An agent and its own API key, in one go; returns the agent and the key's token (shown once)."""
    issued = api_key_create(name=f"agent:{name}", namespaces=namespaces, actor=actor)
    return agent_create(name=name, actor=actor, description=description, api_key=issued.api_key), issued.token


def agent_for_api_key(api_key: ApiKey) -> Agent:
    agent = Agent.objects.filter(api_key=api_key).first()
    if agent is None:
        raise Forbidden(f"API key {api_key.name!r} does not belong to a registered agent", code="not_an_agent",
                        suggestion="Ask an operator to register your agent (manage.py create_agent) and use "
                                   "the API key it prints.")
    if not agent.is_active:
        raise Forbidden(f"agent {agent.name!r} is deactivated", code="agent_inactive")
    return agent


def _ttl(ttl_seconds: int) -> int:
    if not TTL_MIN_SECONDS <= ttl_seconds <= TTL_MAX_SECONDS:
        raise Unprocessable(f"ttl_seconds must be between {TTL_MIN_SECONDS} and {TTL_MAX_SECONDS}",
                            code="invalid_ttl", suggestion="Heartbeat (PUT) at about a third of the TTL.")
    return ttl_seconds


def _parse_actions(actions: list[dict]) -> list[DeclaredAction]:
    if not actions:
        raise Unprocessable("a declaration lists at least one action version", code="invalid_declaration")
    if len(actions) > DECLARED_MAX:
        raise Unprocessable(f"at most {DECLARED_MAX} action versions per declaration", code="invalid_declaration")
    parsed = []
    for item in actions:
        name, version, content_hash = item["name"], item["version"], item["content_hash"]
        check_name(name)
        check_version(version)
        if not CONTENT_HASH_RE.match(content_hash):
            raise Unprocessable(f"{name}@{version}: {content_hash[:80]!r} is not a content hash",
                                code="invalid_content_hash", suggestion="Use sha256: followed by 64 hex digits.")
        parsed.append(DeclaredAction(name=name, version=version, content_hash=content_hash))
    refs = [a.ref for a in parsed]
    if len(set(refs)) != len(refs):
        raise Unprocessable("an action version is listed twice", code="invalid_declaration")
    return parsed


def _versions_for(declared: list[DeclaredAction]) -> dict[str, ActionVersion]:
    cond = Q()
    for a in declared:
        cond |= Q(action__name=a.name, version=a.version)
    return {f"{v.action.name}@{v.version}": v
            for v in ActionVersion.objects.filter(cond).select_related("action", "signing_key", "blob")}


@transaction.atomic
def _anomaly_record(*, agent: Agent, endpoint: str, mismatches: list[dict]) -> None:
    """Committed on its own: the declaration is refused, but the drift must not be forgotten."""
    event_emit(kind=ANOMALY_HASH_MISMATCH, namespace=namespace_of(mismatches[0]["name"]), subject=agent.name,
               payload={"agent": agent.name, "endpoint": endpoint, "mismatches": mismatches})
    audit_record(action=ANOMALY_HASH_MISMATCH, actor=f"agent:{agent.name}", target=agent.name,
                 reason="declared content_hash differs from the registry's record", data={"mismatches": mismatches})


def _check_declared(*, agent: Agent, endpoint: str, declared: list[DeclaredAction]) -> dict[str, ActionVersion]:
    rows = _versions_for(declared)
    mismatches = [{"name": a.name, "version": a.version, "declared": a.content_hash,
                   "registered": rows[a.ref].blob_id}
                  for a in declared if a.ref in rows and rows[a.ref].blob_id != a.content_hash]
    if mismatches:
        _anomaly_record(agent=agent, endpoint=endpoint, mismatches=mismatches)
        refs = ", ".join(f"{m['name']}@{m['version']}" for m in mismatches)
        raise Conflict(f"declared content_hash differs from the registry's record for {refs}",
                       code="capability_hash_mismatch", details={"mismatches": mismatches},
                       suggestion="The tool definition you implement is not the one published under that version: "
                                  "fetch the record (GET /v1/actions/{name}/versions/{version}) and re-check, or "
                                  "publish your definition under a new version.")
    missing = [a.ref for a in declared if a.ref not in rows]
    if missing:
        raise Unprocessable(f"not published: {', '.join(missing[:10])}", code="unknown_action_version",
                            details={"missing": missing}, suggestion="Declare only published versions.")
    for a in declared:
        verification = records.version_verification(rows[a.ref])
        if not verification["verified"]:
            raise Unprocessable(f"{a.ref} does not verify ({verification.get('reason')})", code="action_not_verified",
                                details={"action": a.ref, "reason": verification.get("reason")},
                                suggestion="Declare only versions signed by keys the registry trusts now.")
    return rows


def capability_declare(*, agent: Agent, endpoint: str, protocol: str, ttl_seconds: int,
                       actions: list[dict]) -> CapabilityDeclaration:
    """Declare what the agent performs and where; replaces the agent's live declaration.

    A declared content hash that differs from the record is refused and raised as an anomaly event."""
    declared = _parse_actions(actions)
    ttl = _ttl(ttl_seconds)
    rows = _check_declared(agent=agent, endpoint=endpoint, declared=declared)
    return _declaration_store(agent=agent, endpoint=endpoint, protocol=protocol, ttl=ttl,
                              items=[(rows[a.ref], a.content_hash) for a in declared])


@transaction.atomic
def _declaration_store(*, agent: Agent, endpoint: str, protocol: str, ttl: int,
                       items: list[tuple[ActionVersion, str]]) -> CapabilityDeclaration:
    now = timezone.now()
    Agent.objects.select_for_update().filter(pk=agent.pk).first()  # one declaration at a time per agent
    previous = list(CapabilityDeclaration.objects.filter(agent=agent, status=CapabilityStatus.LIVE))
    for old in previous:
        old.status, old.ended_at = CapabilityStatus.SUPERSEDED, now
        old.save(update_fields=["status", "ended_at"])
    declaration = CapabilityDeclaration(agent=agent, endpoint=endpoint, protocol=protocol, ttl_seconds=ttl,
                                        declared_at=now, heartbeat_at=now, expires_at=now + timedelta(seconds=ttl))
    try:
        declaration.full_clean()
    except Exception as exc:  # noqa: BLE001 (ValidationError: an endpoint that is not a URL, say)
        raise Unprocessable(f"invalid declaration: {exc}", code="invalid_declaration") from None
    declaration.save()
    CapabilityItem.objects.bulk_create([CapabilityItem(declaration=declaration, version=v, content_hash=h)
                                        for v, h in items])
    event_emit(kind="capability.registered", subject=agent.name, payload={
        "agent": agent.name, "declaration_id": declaration.id, "endpoint": endpoint, "protocol": protocol,
        "expires_at": _iso(declaration.expires_at), "actions": [f"{v.action.name}@{v.version}" for v, _ in items],
        "replaces": [old.id for old in previous]})
    return declaration


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _own_declaration(*, agent: Agent, declaration_id: int) -> CapabilityDeclaration:
    declaration = (CapabilityDeclaration.objects.select_for_update().select_related("agent")
                   .filter(pk=declaration_id).first())
    if declaration is None or declaration.agent_id != agent.pk:
        raise NotFound(f"agent {agent.name!r} has no declaration {declaration_id}", code="declaration_not_found",
                       suggestion="Declare with POST /v1/capabilities.")
    return declaration


@transaction.atomic
def capability_heartbeat(*, agent: Agent, declaration_id: int, ttl_seconds: int | None = None) -> CapabilityDeclaration:
    """Renew a live declaration for another TTL. An expired one stays expired: declare again."""
    declaration = _own_declaration(agent=agent, declaration_id=declaration_id)
    now = timezone.now()
    if declaration.status != CapabilityStatus.LIVE or declaration.expires_at <= now:
        raise DomainError(f"declaration {declaration_id} is {_effective_status(declaration, now)}",
                          code="declaration_ended", status=410,
                          suggestion="Declare again with POST /v1/capabilities.")
    if ttl_seconds is not None:
        declaration.ttl_seconds = _ttl(ttl_seconds)
    declaration.heartbeat_at = now
    declaration.expires_at = now + timedelta(seconds=declaration.ttl_seconds)
    declaration.save(update_fields=["ttl_seconds", "heartbeat_at", "expires_at"])
    return declaration


def _effective_status(declaration: CapabilityDeclaration, now: datetime) -> str:
    if declaration.status == CapabilityStatus.LIVE and declaration.expires_at <= now:
        return CapabilityStatus.EXPIRED
    return declaration.status


@transaction.atomic
def capability_withdraw(*, agent: Agent, declaration_id: int) -> CapabilityDeclaration:
    declaration = _own_declaration(agent=agent, declaration_id=declaration_id)
    if declaration.status != CapabilityStatus.LIVE:
        return declaration
    declaration.status, declaration.ended_at = CapabilityStatus.WITHDRAWN, timezone.now()
    declaration.save(update_fields=["status", "ended_at"])
    event_emit(kind="capability.expired", subject=agent.name, payload={
        "agent": agent.name, "declaration_id": declaration.id, "reason": "withdrawn"})
    return declaration


def capabilities_expire(*, now: datetime | None = None, batch: int = 500) -> int:
    """Close live declarations past their TTL. Answers never depend on this having run (they compare
    ``expires_at`` with the clock); it records the end and announces it."""
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            rows = list(CapabilityDeclaration.objects.select_for_update(skip_locked=True).select_related("agent")
                        .filter(status=CapabilityStatus.LIVE, expires_at__lte=now).order_by("id")[:batch])
            for declaration in rows:
                declaration.status, declaration.ended_at = CapabilityStatus.EXPIRED, declaration.expires_at
                declaration.save(update_fields=["status", "ended_at"])
                event_emit(kind="capability.expired", subject=declaration.agent.name, payload={
                    "agent": declaration.agent.name, "declaration_id": declaration.id, "reason": "ttl",
                    "expired_at": _iso(declaration.expires_at)})
        expired += len(rows)
        if len(rows) < batch:
            return expired


@transaction.atomic
def agent_update(*, agent: Agent, actor: str, description: str, is_active: bool, api_key: ApiKey | None) -> Agent:
    """Operators' edits (the admin): description, API key, activation. A deactivated agent is never offered."""
    agent.description, agent.is_active, agent.api_key = description, is_active, api_key
    agent.full_clean()
    agent.save(update_fields=["description", "is_active", "api_key"])
    audit_record(action="agent.updated", actor=actor, target=agent.name,
                 data={"is_active": is_active, "api_key": api_key.name if api_key else None})
    return agent
