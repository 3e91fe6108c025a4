"""REST API for agents: capabilities, negotiation, the event history, composite plans (thin handlers)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field as F
from ninja import Query, Router, Schema, Status

from core import outbox
from core.exceptions import Unprocessable
from core.schemas import errors
from governance.auth import ApiKeyAuth
from registry import agent_selectors, agent_services, composites, negotiation, selectors
from registry.agent_models import CapabilityDeclaration
from registry.agent_schemas import (
    CapabilityListOut,
    DeclarationIn,
    DeclarationOut,
    EventPageOut,
    HeartbeatIn,
    NegotiateIn,
    NegotiationOut,
    PlanOut,
)

router = Router(tags=["agents"])


def _declaration_out(declaration: CapabilityDeclaration) -> dict:
    return {"id": declaration.id, "agent": declaration.agent.name, "endpoint": declaration.endpoint,
            "protocol": declaration.protocol, "ttl_seconds": declaration.ttl_seconds, "status": declaration.status,
            "declared_at": declaration.declared_at, "heartbeat_at": declaration.heartbeat_at,
            "expires_at": declaration.expires_at,
            "actions": [{"name": i.version.action.name, "version": i.version.version, "content_hash": i.content_hash}
                        for i in declaration.items.select_related("version__action").order_by("id")]}


@router.post(
    "/capabilities", auth=ApiKeyAuth(), response={201: DeclarationOut, **errors(401, 403, 409, 422)},
    operation_id="declareCapabilities", summary="Declare what this agent performs (at start-up)",
    description="The calling API key must belong to a registered agent. Replaces the agent's live declaration. "
                "Every declared version must be published and verify now, and its `content_hash` must equal the "
                "record's: a different hash answers 409 `capability_hash_mismatch` and is recorded as an "
                "`anomaly.capability_hash_mismatch` event. Renew with PUT before `expires_at`.",
)
def declare(request: HttpRequest, payload: DeclarationIn):
    agent = agent_services.agent_for_api_key(request.auth)
    declaration = agent_services.capability_declare(
        agent=agent, endpoint=payload.endpoint, protocol=payload.protocol, ttl_seconds=payload.ttl_seconds,
        actions=[a.dict() for a in payload.actions])
    return Status(201, _declaration_out(declaration))


@router.put(
    "/capabilities/{declaration_id}", auth=ApiKeyAuth(), response={200: DeclarationOut, **errors(401, 403, 404, 410)},
    operation_id="heartbeatCapabilities", summary="Heartbeat: keep a declaration live for another TTL",
    description="Answers 410 `declaration_ended` once it expired, was withdrawn or replaced: declare again.",
)
def heartbeat(request: HttpRequest, declaration_id: int, payload: HeartbeatIn | None = None):
    agent = agent_services.agent_for_api_key(request.auth)
    declaration = agent_services.capability_heartbeat(agent=agent, declaration_id=declaration_id,
                                                      ttl_seconds=payload.ttl_seconds if payload else None)
    return _declaration_out(declaration)


@router.delete(
    "/capabilities/{declaration_id}", auth=ApiKeyAuth(), response={200: DeclarationOut, **errors(401, 403, 404)},
    operation_id="withdrawCapabilities", summary="Withdraw a declaration (the agent is shutting down)",
    description="Ends the agent's declaration now: it drops out of capability answers and negotiation at once "
                "and stays in the history (`include_ended=true`). Only the declaring agent's API key may withdraw.",
)
def withdraw(request: HttpRequest, declaration_id: int):
    agent = agent_services.agent_for_api_key(request.auth)
    return _declaration_out(agent_services.capability_withdraw(agent=agent, declaration_id=declaration_id))


class CapabilityParams(Schema):
    agent: str | None = F(None, max_length=100, description="All actions this agent can perform now.",
                          examples=["log-analyzer"])
    action: str | None = F(None, max_length=200, description="All live agents that can perform this action.",
                           examples=["analyze.logs"])
    version: str | None = F(None, max_length=500, description="With `action`: an exact version or a range "
                            "(1.x, ^1.2.0, ~1.2, >=1.0.0 <2.0.0).", examples=["1.x"])
    include_ended: bool = F(False, description="History: also expired, superseded and withdrawn declarations, "
                                               "and versions that no longer verify.")


@router.get(
    "/capabilities", auth=ApiKeyAuth(), response={200: CapabilityListOut, **errors(401, 404, 422)},
    operation_id="listCapabilities", summary="Who can perform what",
    description="`?agent=` lists an agent's capabilities; `?action=&version=` the live agents performing an "
                "action (ranges allowed). Only live declarations and versions that verify now count; "
                "deprecated versions are marked. Without parameters: every live capability.",
)
def list_capabilities(request: HttpRequest, params: Query[CapabilityParams]):
    if params.agent:
        items = agent_selectors.capabilities_of_agent(name=params.agent, include_ended=params.include_ended)
        if params.action:
            items = [i for i in items if i["name"] == params.action]
    elif params.action:
        items = agent_selectors.capability_providers(action=params.action, version=params.version,
                                                     include_ended=params.include_ended)
    elif params.version:
        raise Unprocessable("version needs action", code="invalid_request",
                            suggestion="GET /v1/capabilities?action=analyze.logs&version=1.x")
    else:
        items = agent_selectors.capabilities_live()
    return {"items": items}


@router.post(
    "/negotiate", auth=ApiKeyAuth(), response={200: NegotiationOut, **errors(401, 404, 422)},
    operation_id="negotiate", summary="Find ranked providers of action@range and log the choice as a Run",
    description="Returns live providers of a version in the range that verifies now, best first: non-deprecated, "
                "then higher version, better reputation, fresher heartbeat. Each comes with the verified record, "
                "its key chain and the endpoint. The top choice is logged as a CWOM Run with the trust state. "
                "404 `no_provider` when nobody qualifies (details list who was refused and why).",
)
def negotiate(request: HttpRequest, payload: NegotiateIn):
    result = negotiation.negotiate(api_key=request.auth, action=payload.action, range_text=payload.version,
                                   limit=payload.limit)
    return result.__dict__


class EventParams(Schema):
    since: int = F(0, ge=0, description="Return events with id greater than this.", examples=[0])
    namespace: list[str] = F([], description="Only these top-level namespaces (repeatable); registry-wide "
                                             "events (key changes) are always included.", examples=[["ssh"]])
    kind: list[str] = F([], description="Only these kinds (repeatable; `action.*` matches a prefix).",
                        examples=[["action.published"]])
    limit: int = F(100, ge=1, le=outbox.PAGE_MAX, description="Page size.", examples=[100])


@router.get(
    "/events", auth=ApiKeyAuth(), response={200: EventPageOut, **errors(401, 422)}, operation_id="listEvents",
    summary="The event history, for clients without WebSockets",
    description="The same events, ids and order as ws://host/v1/events. Poll with `since=<next_since>`: ids "
                "become visible in order, so nothing is skipped.",
)
def list_events(request: HttpRequest, params: Query[EventParams]):
    where = outbox.EventFilter(namespaces=tuple(n for n in params.namespace if n and n != "*"),
                               kinds=tuple(k for k in params.kind if k and k != "*"))
    items, next_since, has_more = outbox.events_page(since=params.since, where=where, limit=params.limit)
    return {"items": items, "next_since": next_since, "has_more": has_more}


@router.get(
    "/actions/{name}/versions/{version}/plan", response={200: PlanOut, **errors(404, 422)},
    operation_id="getCompositePlan", summary="Execution plan of a composite action",
    description="Stages in execution order (steps within a stage may run in parallel) and each step's record "
                "verified now. `runnable` is false when a step no longer verifies. 422 `not_composite` for a "
                "document without steps.",
)
def plan(request: HttpRequest, name: str, version: str):
    return composites.composite_plan(version=selectors.version_get(name=name, version=version))
