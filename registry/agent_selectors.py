"""Reads of capabilities: what an agent performs, which live agents perform an action version (or range)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from action_registry.versions import parse_range
from core.exceptions import NotFound
from registry import records
from registry.agent_choices import CapabilityStatus
from registry.agent_models import Agent, CapabilityDeclaration, CapabilityItem
from registry.models import Action, Deprecation

ANSWER_MAX = 1000


def agent_get(*, name: str) -> Agent:
    agent = Agent.objects.filter(name=name).first()
    if agent is None:
        raise NotFound(f"no agent named {name!r}", code="agent_not_found",
                       suggestion="List live agents with GET /v1/capabilities.")
    return agent


def _live(now: datetime) -> Q:
    return Q(declaration__status=CapabilityStatus.LIVE, declaration__expires_at__gt=now,
             declaration__agent__is_active=True)


def _items() -> QuerySet[CapabilityItem]:
    return (CapabilityItem.objects
            .select_related("declaration__agent", "version__action", "version__signing_key", "version__blob")
            .order_by("declaration__agent__name", "version__action__name", "version__major", "version__minor",
                      "version__patch", "version__prerelease", "-declaration_id"))


def _rows(items: list[CapabilityItem], *, now: datetime, only_verified: bool) -> list[dict]:
    """Flatten items into answer rows: verification as of now, deprecation marked."""
    deprecated = set(Deprecation.objects.filter(version_id__in={i.version_id for i in items})
                     .values_list("version_id", flat=True))
    rows, verified = [], {}
    for item in items:
        version, declaration = item.version, item.declaration
        if version.id not in verified:  # once per version, not per agent declaring it
            verified[version.id] = records.version_verification(version)
        verification = verified[version.id]
        if only_verified and not verification["verified"]:
            continue  # revoked or otherwise untrusted versions do not count as capabilities
        status = declaration.status
        if status == CapabilityStatus.LIVE and declaration.expires_at <= now:
            status = CapabilityStatus.EXPIRED
        rows.append({
            "agent": declaration.agent.name, "declaration_id": declaration.id, "endpoint": declaration.endpoint,
            "protocol": declaration.protocol, "status": status, "declared_at": declaration.declared_at,
            "heartbeat_at": declaration.heartbeat_at, "expires_at": declaration.expires_at,
            "name": version.action.name, "version": version.version, "content_hash": item.content_hash,
            "verified": verification["verified"], "key_status": verification["key_status"],
            "deprecated": version.id in deprecated,
        })
    return rows


def capabilities_of_agent(*, name: str, include_ended: bool = False) -> list[dict]:
    """Everything ``name`` can perform now (or, with ``include_ended``, every declaration it ever made)."""
    agent = agent_get(name=name)
    now = timezone.now()
    qs = _items().filter(declaration__agent=agent)
    if not include_ended:
        qs = qs.filter(_live(now))
    return _rows(list(qs[:ANSWER_MAX]), now=now, only_verified=not include_ended)


def capability_providers(*, action: str, version: str | None = None, include_ended: bool = False) -> list[dict]:
    """Live agents performing ``action`` at ``version`` (exact, or a range such as ``1.x`` / ``^1.2``)."""
    found = Action.objects.filter(name=action).first()
    if found is None:
        raise NotFound(f"no action named {action!r}", code="action_not_found",
                       suggestion="Search with GET /v1/actions?q=...")
    now = timezone.now()
    qs = _items().filter(version__action=found)
    if not include_ended:
        qs = qs.filter(_live(now))
    items = list(qs[:ANSWER_MAX])
    if version:
        wanted = parse_range(version)
        items = [i for i in items if wanted.contains(i.version.version)]
    return _rows(items, now=now, only_verified=not include_ended)


def capabilities_live(*, limit: int = ANSWER_MAX) -> list[dict]:
    now = timezone.now()
    return _rows(list(_items().filter(_live(now))[:limit]), now=now, only_verified=True)


def declarations_of_agent(*, agent: Agent) -> QuerySet[CapabilityDeclaration]:
    return CapabilityDeclaration.objects.filter(agent=agent).order_by("-declared_at", "-id")
