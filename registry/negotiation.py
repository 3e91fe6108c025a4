"""Negotiation: rank the live providers of ``action@range`` for a requester, and log the choice as a Run.

Policies and reputation come from above (governance, analytics), which the registry must not import: they
register callables here (``provider_check_register``, ``reputation_source_register``) from their AppConfig.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import semver
from django.db import transaction
from django.utils import timezone

from action_registry.document import namespace_of
from action_registry.versions import parse_range
from core.exceptions import NotFound
from core.services import event_emit
from governance import selectors as governance_selectors
from governance.models import ApiKey, SigningKey
from registry import records
from registry.agent_choices import CapabilityStatus
from registry.agent_models import Agent, CapabilityItem
from registry.models import Action, Deprecation

# (requester, version row, provider agent) -> None to allow, or the reason for refusing the provider.
ProviderCheck = Callable[[str, object, Agent], str | None]
# provider names -> score in [0, 1] (missing names score 0.5, "unknown").
ReputationSource = Callable[[list[str]], dict[str, float]]
_provider_checks: list[ProviderCheck] = []
_reputation_sources: list[ReputationSource] = []
NEUTRAL_REPUTATION = 0.5
CHAIN_MAX = 16


def provider_check_register(check: ProviderCheck) -> None:
    _provider_checks.append(check)


def reputation_source_register(source: ReputationSource) -> None:
    _reputation_sources.append(source)


@dataclass(frozen=True)
class Negotiation:
    negotiation_id: str
    run_id: int | None
    requester: str
    action: str
    range: str
    trust_state: int
    constraint_snapshot: str
    providers: list[dict]
    refused: list[dict]


def requester_name(api_key: ApiKey) -> str:
    agent = Agent.objects.filter(api_key=api_key).first()
    return agent.name if agent is not None else f"api_key:{api_key.name}"


def _key_chain(key: SigningKey) -> list[dict]:
    chain, seen = [], set()
    while key is not None and key.pk not in seen and len(chain) < CHAIN_MAX:
        seen.add(key.pk)
        chain.append({"kid": key.kid, "alg": key.alg, "role": key.role, "status": key.status,
                      "fingerprint": key.fingerprint})
        key = key.parent
    return chain


_snapshots: dict[int, str] = {}


def constraint_snapshot() -> tuple[int, str]:
    """``(trust state version, sha256 of the key set)``: what "trusted" meant at this moment."""
    version = governance_selectors.trust_state_version()
    if version not in _snapshots:
        keys = [[k.kid, k.alg, k.status, k.fingerprint, k.parent.kid if k.parent else None]
                for k in governance_selectors.signing_key_list()]
        body = json.dumps({"trust_state": version, "keys": keys}, separators=(",", ":"), sort_keys=True)
        _snapshots[version] = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
    return version, _snapshots[version]


def _reputations(names: list[str]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for source in _reputation_sources:
        scores.update(source(names))
    return {n: scores.get(n, NEUTRAL_REPUTATION) for n in names}


def negotiate(*, api_key: ApiKey, action: str, range_text: str, limit: int = 5) -> Negotiation:
    """Ranked providers: non-deprecated first, then higher version, better reputation, fresher heartbeat."""
    wanted = parse_range(range_text)
    if not Action.objects.filter(name=action).exists():
        raise NotFound(f"no action named {action!r}", code="action_not_found",
                       suggestion="Search with GET /v1/actions?q=...")
    requester = requester_name(api_key)
    now = timezone.now()
    items = [i for i in CapabilityItem.objects
             .select_related("declaration__agent", "version__action", "version__signing_key__parent__parent",
                             "version__blob")
             .filter(version__action__name=action, declaration__status=CapabilityStatus.LIVE,
                     declaration__expires_at__gt=now, declaration__agent__is_active=True)
             .exclude(declaration__agent__name=requester)
             if wanted.contains(i.version.version)]
    deprecated = set(Deprecation.objects.filter(version_id__in={i.version_id for i in items})
                     .values_list("version_id", flat=True))
    reputation = _reputations(sorted({i.declaration.agent.name for i in items}))
    candidates, refused = [], []
    for item in items:
        agent, version = item.declaration.agent, item.version
        verification = records.version_verification(version)
        reason = None if verification["verified"] else f"not_verified:{verification.get('reason')}"
        for check in _provider_checks:
            reason = reason or check(requester, version, agent)
        if reason:
            refused.append({"agent": agent.name, "version": version.version, "reason": reason})
            continue
        candidates.append((item, verification))
    candidates.sort(key=lambda c: (
        c[0].version_id in deprecated, _neg_version(c[0].version.version),
        -reputation[c[0].declaration.agent.name], -c[0].declaration.heartbeat_at.timestamp(),
        c[0].declaration.agent.name))
    trust_state, snapshot = constraint_snapshot()
    providers = [_provider(rank, item, deprecated, reputation) for rank, (item, _) in
                 enumerate(candidates[:limit], start=1)]
    if not providers:
        raise NotFound(f"no live, verified provider of {action}@{range_text}", code="no_provider",
                       details={"refused": refused},
                       suggestion=f"See who declared it with GET /v1/capabilities?action={action}&version="
                                  f"{range_text}, or widen the range.")
    negotiation_id = uuid.uuid4().hex
    run_id = _run_record(negotiation_id=negotiation_id, requester=requester, api_key=api_key,
                         chosen=candidates[0][0], snapshot=snapshot, providers=providers, range_text=range_text)
    return Negotiation(negotiation_id=negotiation_id, run_id=run_id, requester=requester, action=action,
                       range=range_text, trust_state=trust_state, constraint_snapshot=snapshot,
                       providers=providers, refused=refused)


class _neg_version:
    """Sort key: higher SemVer first."""

    def __init__(self, text: str) -> None:
        self.v = semver.Version.parse(text)

    def __lt__(self, other: _neg_version) -> bool:
        return self.v > other.v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _neg_version) and self.v == other.v


def _provider(rank: int, item: CapabilityItem, deprecated: set[int], reputation: dict[str, float]) -> dict:
    declaration, version = item.declaration, item.version
    return {"rank": rank, "agent": declaration.agent.name, "endpoint": declaration.endpoint,
            "protocol": declaration.protocol, "expires_at": declaration.expires_at, "version": version.version,
            "content_hash": version.blob_id, "deprecated": version.id in deprecated,
            "reputation": reputation[declaration.agent.name], "record": records.version_record(version),
            "key_chain": _key_chain(version.signing_key)}


@transaction.atomic
def _run_record(*, negotiation_id: str, requester: str, api_key: ApiKey, chosen: CapabilityItem, snapshot: str,
                providers: list[dict], range_text: str) -> int:
    """The negotiation as a CWOM Run (analytics owns the model; this is its one writer outside analytics,
    because the Run must be written with the answer, not eventually), plus its outbox event."""
    from analytics.choices import RunKind, RunOutcome
    from analytics.models import Run

    version = chosen.version
    run = Run(action_version=version, action_name=version.action.name, version=version.version,
              namespace=namespace_of(version.action.name), kind=RunKind.NEGOTIATION,
              agent=chosen.declaration.agent.name, requester=requester, negotiation_id=negotiation_id,
              constraint_snapshot=snapshot, outcome=RunOutcome.SUCCESS, reported_by=api_key)
    run.full_clean()
    run.save()
    event_emit(kind="negotiation.completed", namespace=run.namespace, subject=f"{run.action_name}@{run.version}",
               payload={"negotiation_id": negotiation_id, "run_id": run.id, "requester": requester,
                        "provider": run.agent, "version": run.version, "range": range_text,
                        "constraint_snapshot": snapshot, "candidates": [p["agent"] for p in providers]})
    return run.id
