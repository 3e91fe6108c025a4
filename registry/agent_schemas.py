"""django-ninja schemas of capabilities, negotiation, the event history and composite plans."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from registry.agent_choices import CapabilityProtocol
from registry.agent_models import TTL_MAX_SECONDS, TTL_MIN_SECONDS
from registry.schemas import EXAMPLE_HASH, VersionRecordOut

PROTOCOLS = "`" + "`, `".join(CapabilityProtocol.values) + "`"


class DeclaredActionIn(Schema):
    name: str = Field(..., max_length=200, description="Dotted action name.", examples=["analyze.logs"])
    version: str = Field(..., max_length=128, description="Exact SemVer version the agent implements.",
                         examples=["1.2.0"])
    content_hash: str = Field(..., max_length=71, description="Content hash of the definition the agent "
                              "implements; must equal the registry's record for (name, version).",
                              examples=[EXAMPLE_HASH])


class DeclarationIn(Schema):
    endpoint: str = Field(..., max_length=500, description="URL where requesters reach the agent.",
                          examples=["https://log-analyzer.internal:8443/a2a"])
    protocol: str = Field(..., description=f"How to talk to the endpoint: {PROTOCOLS}.", examples=["http"],
                          pattern="^(" + "|".join(CapabilityProtocol.values) + ")$")
    ttl_seconds: int = Field(300, ge=TTL_MIN_SECONDS, le=TTL_MAX_SECONDS, examples=[300],
                             description="The declaration lapses this long after the last heartbeat.")
    actions: list[DeclaredActionIn] = Field(..., min_length=1, max_length=500,
                                            description="The action versions the agent performs.")


class HeartbeatIn(Schema):
    ttl_seconds: int | None = Field(None, ge=TTL_MIN_SECONDS, le=TTL_MAX_SECONDS, examples=[300],
                                    description="A new TTL from now on (default: keep the declared one).")


class DeclaredActionOut(Schema):
    name: str = Field(..., description="Dotted action name.", examples=["analyze.logs"])
    version: str = Field(..., description="SemVer version.", examples=["1.2.0"])
    content_hash: str = Field(..., description="The record's content hash.", examples=[EXAMPLE_HASH])


class DeclarationOut(Schema):
    id: int = Field(..., description="Declaration id (for heartbeats: PUT /v1/capabilities/{id}).", examples=[7])
    agent: str = Field(..., description="The declaring agent.", examples=["log-analyzer"])
    endpoint: str = Field(..., description="Where to reach the agent.", examples=["https://log-analyzer:8443/a2a"])
    protocol: str = Field(..., description="Protocol at the endpoint.", examples=["http"])
    ttl_seconds: int = Field(..., description="TTL each heartbeat grants.", examples=[300])
    status: str = Field(..., description="live, expired, superseded or withdrawn.", examples=["live"])
    declared_at: datetime = Field(..., description="When it was declared (UTC).")
    heartbeat_at: datetime = Field(..., description="Last heartbeat (UTC).")
    expires_at: datetime = Field(..., description="When it lapses without another heartbeat (UTC).")
    actions: list[DeclaredActionOut] = Field(..., description="The declared action versions.")


class CapabilityOut(Schema):
    agent: str = Field(..., description="Agent name.", examples=["log-analyzer"])
    declaration_id: int = Field(..., description="The declaration this comes from.", examples=[7])
    endpoint: str = Field(..., description="Where to reach the agent.", examples=["https://log-analyzer:8443/a2a"])
    protocol: str = Field(..., description="Protocol at the endpoint.", examples=["http"])
    status: str = Field(..., description="live (in answers); in history also expired, superseded, withdrawn.",
                        examples=["live"])
    declared_at: datetime = Field(..., description="When declared (UTC).")
    heartbeat_at: datetime = Field(..., description="Last heartbeat (UTC).")
    expires_at: datetime = Field(..., description="Lapses then without a heartbeat (UTC).")
    name: str = Field(..., description="Action name.", examples=["analyze.logs"])
    version: str = Field(..., description="Action version.", examples=["1.2.0"])
    content_hash: str = Field(..., description="Content hash the agent implements (= the record's).",
                              examples=[EXAMPLE_HASH])
    verified: bool = Field(..., description="Whether the version verifies against the trust store now "
                                            "(always true in live answers).")
    key_status: str = Field(..., description="Status of the signing key now.", examples=["active"])
    deprecated: bool = Field(..., description="Whether the version is deprecated.")


class CapabilityListOut(Schema):
    items: list[CapabilityOut] = Field(..., description="One row per (declaration, action version).")


class NegotiateIn(Schema):
    action: str = Field(..., max_length=200, description="The action needed.", examples=["analyze.logs"])
    version: str = Field("*", max_length=500, description="Exact version or range: 1.x, ^1.2.0, ~1.2, "
                         ">=1.0.0 <2.0.0, a || b, *.", examples=["1.x"])
    limit: int = Field(5, ge=1, le=50, description="How many providers to return, best first.", examples=[5])


class KeyLinkOut(Schema):
    kid: str = Field(..., description="Key id.", examples=["infra-deploy-1"])
    alg: str = Field(..., description="Algorithm.", examples=["Ed25519"])
    role: str = Field(..., description="root, org or signing.", examples=["signing"])
    status: str = Field(..., description="Status now.", examples=["active"])
    fingerprint: str = Field(..., description="Key fingerprint.", examples=["sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f0"])


class ProviderOut(Schema):
    rank: int = Field(..., description="1 = best.", examples=[1])
    agent: str = Field(..., description="Provider agent.", examples=["log-analyzer"])
    endpoint: str = Field(..., description="Where to invoke it.", examples=["https://log-analyzer:8443/a2a"])
    protocol: str = Field(..., description="Protocol at the endpoint.", examples=["http"])
    expires_at: datetime = Field(..., description="Its declaration lapses then without a heartbeat.")
    version: str = Field(..., description="The version chosen for this provider.", examples=["1.2.0"])
    content_hash: str = Field(..., description="Content hash of that version.", examples=[EXAMPLE_HASH])
    deprecated: bool = Field(..., description="Whether that version is deprecated (ranked last).")
    reputation: float = Field(..., description="0..1 from analytics; 0.5 when unknown.", examples=[0.5])
    record: VersionRecordOut = Field(..., description="The verified record of the chosen version.")
    key_chain: list[KeyLinkOut] = Field(..., description="Signing key first, up to its root.")


class RefusedOut(Schema):
    agent: str = Field(..., description="Provider that was not offered.", examples=["old-analyzer"])
    version: str = Field(..., description="The version it declared.", examples=["1.0.0"])
    reason: str = Field(..., description="Why (not_verified:<reason>, or a policy's reason).",
                        examples=["not_verified:key_revoked"])


class NegotiationOut(Schema):
    negotiation_id: str = Field(..., description="Id of this negotiation (also on the Run).",
                                examples=["5f0c6b0e8d3a4c1f9a7e2b6d4c8f0a12"])
    run_id: int | None = Field(..., description="The CWOM Run logged for the top provider.", examples=[42])
    requester: str = Field(..., description="The requesting agent (or api_key:<name>).", examples=["ace-planner"])
    action: str = Field(..., description="The action asked for.", examples=["analyze.logs"])
    range: str = Field(..., description="The version range asked for.", examples=["1.x"])
    trust_state: int = Field(..., description="Trust-store version at the moment of negotiation.", examples=[12])
    constraint_snapshot: str = Field(..., description="sha256 of the trust store at that moment.",
                                     examples=[EXAMPLE_HASH])
    providers: list[ProviderOut] = Field(..., description="Ranked providers, best first.")
    refused: list[RefusedOut] = Field(..., description="Declared providers left out, with the reason.")


class EventOut(Schema):
    id: int = Field(..., description="Monotonically increasing event id (the cursor).", examples=[1042])
    kind: str = Field(..., description="e.g. action.published, key.revoked, capability.registered.",
                      examples=["action.published"])
    namespace: str = Field(..., description="Top-level namespace ('' for registry-wide events).", examples=["ssh"])
    subject: str = Field(..., description="name@version, kid, agent name...", examples=["ssh.exec@1.0.0"])
    payload: dict[str, Any] = Field(..., description="Kind-specific details.")
    created_at: datetime = Field(..., description="When the change committed (UTC).")
    request_id: str = Field("", description="Id of the request that caused the event (its X-Request-ID); '' "
                            "when none did.", examples=["4f0c2d9e8a1b4c7d"])


class EventPageOut(Schema):
    items: list[EventOut] = Field(..., description="Events after `since`, oldest first.")
    next_since: int = Field(..., description="Pass as `since` for the next page (skips filtered-out events too).",
                            examples=[1042])
    has_more: bool = Field(..., description="True when more events are already waiting.")


class PlanStepOut(Schema):
    id: str = Field(..., description="Step id.", examples=["build"])
    action: str = Field(..., description="name@version.", examples=["docker.build@1.0.0"])
    name: str = Field(..., description="Action name.", examples=["docker.build"])
    version: str = Field(..., description="Exact version.", examples=["1.0.0"])
    after: list[str] = Field(..., description="Steps that must finish first.", examples=[[]])
    stage: int = Field(..., description="0-based stage; steps of one stage may run in parallel.", examples=[0])
    composite: bool = Field(..., description="Whether the step is itself a composite (fetch its plan).")
    record: VersionRecordOut = Field(..., description="The step's record, verified now.")


class PlanOut(Schema):
    name: str = Field(..., description="Composite action name.", examples=["deploy.full"])
    version: str = Field(..., description="Its version.", examples=["1.0.0"])
    content_hash: str = Field(..., description="Content hash of the composite document.", examples=[EXAMPLE_HASH])
    runnable: bool = Field(..., description="False when a step no longer verifies (e.g. its key was revoked).")
    stages: list[list[str]] = Field(..., description="Step ids per stage, in execution order.",
                                    examples=[[["build"], ["push", "scan"], ["apply"]]])
    steps: list[PlanStepOut] = Field(..., description="Resolved steps, by stage then id.")
