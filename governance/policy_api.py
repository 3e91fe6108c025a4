"""REST API of policies (/v1/policy/evaluate, /v1/policies, /v1/channels): thin handlers over the policy engine."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field as F
from ninja import Router, Schema

from core.schemas import errors
from governance import policy_selectors
from governance.policies import EVALUATE, policy_evaluate_version, ring_effective

router = Router(tags=["policies"])


class EvaluateIn(Schema):
    agent: str = F("", max_length=200, description="The agent that would use the version.",
                   examples=["ace-task-prosecutor"])
    ring: str = F("", max_length=64, description="The agent's deployment ring; version-pinning policies match it.",
                  examples=["stable"])
    action: str = F(..., max_length=200, description="Action name.", examples=["ssh.exec"])
    version: str = F(..., max_length=128, description="Exact version.", examples=["1.0.0"])
    override_reason: str = F("", max_length=1000,
                             description="An explicit override of a deprecation (recorded when enforced).",
                             examples=[""])


class RuleOut(Schema):
    policy: str = F(..., description="Policy name.", examples=["stable-pinned"])
    policy_version: int = F(..., description="The policy version that decided.", examples=[3])
    kind: str = F(..., description="namespace_signing, deprecation or version_pinning.", examples=["version_pinning"])
    effect: str = F(..., description="allow, deny or override.", examples=["deny"])
    reason: str = F(..., description="Why, for people and agents.",
                    examples=["ring stable may only use versions promoted to channel verified; "
                              "ssh.exec@2.0.0 is not in it"])


class DecisionOut(Schema):
    allowed: bool = F(..., description="True when no applicable rule denies.", examples=[False])
    decision: str = F(..., description="allow or deny.", examples=["deny"])
    rules: list[RuleOut] = F(..., description="Every policy that applied, with its effect; empty means no policy "
                                              "covers this use (allowed).")
    override_reason: str = F(..., description="The override considered, if any.", examples=[""])


@router.post("/policy/evaluate", response={200: DecisionOut, **errors(404, 422)}, operation_id="evaluatePolicy",
             summary="Would the policies allow this use?",
             description="Evaluates every enabled policy for `agent` in `ring` using `action@version` and returns "
                         "allow/deny with each rule that decided. The same evaluation is enforced (403 "
                         "`policy_denied`) at publish, negotiation and run reporting.")
def evaluate_policy(request: HttpRequest, payload: EvaluateIn):
    from registry.selectors import version_get  # noqa: PLC0415

    row = version_get(name=payload.action, version=payload.version)
    ring = payload.ring or ring_effective(agent=payload.agent)
    return policy_evaluate_version(version_row=row, agent=payload.agent, ring=ring, context=EVALUATE,
                                   override_reason=payload.override_reason).as_dict()


class PolicyOut(Schema):
    name: str = F(..., description="Policy name.", examples=["stable-pinned"])
    kind: str = F(..., description="Policy kind.", examples=["version_pinning"])
    version: int | None = F(..., description="Current version number.", examples=[2])
    enabled: bool = F(..., description="Whether the current version is in force.", examples=[True])
    document: dict = F(..., description="The current rule.",
                       examples=[{"ring": "stable", "channel": "verified", "namespace": "*"}])
    digest: str | None = F(..., description="sha256 of the current version.", examples=["sha256:" + "0" * 64])
    author: str = F(..., description="Who wrote the current version.", examples=["user:alice"])
    reason: str = F(..., description="Why.", examples=["pin the stable ring"])
    changed_at: datetime | None = F(..., description="When the current version was written.")


def _policy_view(policy) -> dict:
    cur = policy.current
    return {"name": policy.name, "kind": policy.kind, "version": cur.number if cur else None,
            "enabled": bool(cur and cur.enabled), "document": cur.document if cur else {},
            "digest": cur.digest if cur else None, "author": cur.author if cur else "",
            "reason": cur.reason if cur else "", "changed_at": cur.created_at if cur else None}


@router.get("/policies", response=list[PolicyOut], operation_id="listPolicies", summary="Policies in force",
            description="Every policy with its current version. Policies are edited (as new immutable versions) "
                        "by governance reviewers in the admin.")
def list_policies(request: HttpRequest):
    return [_policy_view(p) for p in policy_selectors.policy_list()]


class ChannelMemberOut(Schema):
    action: str = F(..., description="Action name.", examples=["ssh.exec"])
    version: str = F(..., description="Version.", examples=["1.0.0"])
    promoted_by: str = F(..., description="Reviewer.", examples=["user:alice"])
    promoted_at: datetime = F(..., description="When.")


class ChannelOut(Schema):
    name: str = F(..., description="Channel name.", examples=["verified"])
    description: str = F(..., description="What the channel means.", examples=["Reviewed for the stable ring"])
    versions: list[ChannelMemberOut] = F(..., description="Versions currently promoted.")


@router.get("/channels/{name}", response={200: ChannelOut, **errors(404)}, operation_id="getChannel",
            summary="A channel and its versions", description="The versions a reviewer has promoted to the channel.")
def get_channel(request: HttpRequest, name: str):
    channel = policy_selectors.channel_get(name=name)
    return {"name": channel.name, "description": channel.description,
            "versions": [{"action": m.action_name, "version": m.version, "promoted_by": m.promoted_by,
                          "promoted_at": m.promoted_at} for m in policy_selectors.channel_members(channel=channel)]}
