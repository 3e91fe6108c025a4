"""IntelliSwarm coordination: staff each subtask of a task with an agent and an action version, and say why.

For every subtask (an action and a version range, or a composite action whose steps become subtasks) the
planner takes the live, verified capabilities (registry), drops deprecated versions and versions the
requester's policies deny (governance), ranks what is left by run success (the lower bound of the 95% Wilson
interval, then the higher version) and picks the provider with the best reputation, then the freshest
heartbeat. A subtask nobody can perform is reported with the reasons, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import semver

from action_registry.versions import parse_range
from analytics.reputation import agent_reputations
from analytics.selectors import action_stats
from core.exceptions import DomainError, NotFound
from governance.policies import active_policies, policy_evaluate_version, ring_effective
from registry.agent_selectors import capability_providers
from registry.composites import composite_plan
from registry.selectors import version_get


@dataclass
class Subtask:
    id: str
    action: str
    range: str = "*"
    composite: str = ""  # name@version of a composite this subtask was expanded from
    after: list[str] = field(default_factory=list)


def _expand(raw: list[dict]) -> list[Subtask]:
    """Plain subtasks as given; a composite ``name@version`` becomes one subtask per step, exact versions."""
    out: list[Subtask] = []
    for item in raw:
        if item.get("composite"):
            name, _, version = item["composite"].partition("@")
            if not version:
                raise DomainError("composite must be name@version (exact)", code="invalid_subtask", status=422)
            plan = composite_plan(version=version_get(name=name, version=version))
            for step in plan["steps"]:
                out.append(Subtask(id=f"{item['id']}.{step['id']}", action=step["name"], range=step["version"],
                                   composite=item["composite"], after=[f"{item['id']}.{a}" for a in step["after"]]))
        else:
            if not item.get("action"):
                raise DomainError(f"subtask {item['id']} needs an action or a composite", code="invalid_subtask",
                                  status=422)
            parse_range(item.get("version") or "*")  # refuse a bad range before doing any work
            out.append(Subtask(id=item["id"], action=item["action"], range=item.get("version") or "*",
                               after=list(item.get("after") or [])))
    ids = [s.id for s in out]
    if len(set(ids)) != len(ids):
        raise DomainError("subtask ids must be unique", code="invalid_subtask", status=422)
    return out


def _staff(sub: Subtask, *, requester: str, ring: str, policies) -> dict:
    base = {"id": sub.id, "action": sub.action, "range": sub.range, "composite": sub.composite or None,
            "after": sub.after}
    try:
        rows = capability_providers(action=sub.action, version=sub.range)
    except NotFound as exc:
        return {**base, "staffed": False, "reason": exc.message, "excluded": []}
    if not rows:
        return {**base, "staffed": False, "excluded": [],
                "reason": f"no live agent declares a verified version of {sub.action} in {sub.range}"}
    _, versions, stats = action_stats(name=sub.action)
    by_version = {v.version: v for v in versions}
    excluded, usable = [], {}
    for version in sorted({r["version"] for r in rows}, key=semver.Version.parse, reverse=True):
        row = by_version[version]
        if any(r["deprecated"] for r in rows if r["version"] == version):
            excluded.append({"version": version, "reason": "deprecated"})
            continue
        decision = policy_evaluate_version(version_row=row, agent=requester, ring=ring, policies=policies)
        if not decision.allowed:
            excluded.append({"version": version, "reason": "policy denied: "
                             + "; ".join(f"{r.policy}: {r.reason}" for r in decision.denying)})
            continue
        usable[version] = stats[row.id]
    if not usable:
        return {**base, "staffed": False, "excluded": excluded,
                "reason": f"every declared version of {sub.action} in {sub.range} is deprecated or denied"}
    ranked = sorted(usable, key=lambda v: (usable[v].ci_low, semver.Version.parse(v)), reverse=True)
    best = ranked[0]
    providers = [r for r in rows if r["version"] == best]
    reputation = agent_reputations(sorted({r["agent"] for r in providers}))
    providers.sort(key=lambda r: (-reputation.get(r["agent"], 0.5), -r["heartbeat_at"].timestamp(), r["agent"]))
    chosen = providers[0]
    s = usable[best]
    why_version = (f"{best}: {s.success_rate:.0%} over {s.runs} runs (95% lower bound {s.ci_low:.0%})" if s.runs
                   else f"{best}: highest usable version (no runs reported yet)")
    others = [f"{v}: {usable[v].success_rate:.0%} over {usable[v].runs} runs" if usable[v].runs else f"{v}: no runs"
              for v in ranked[1:4]]
    why_agent = (f"agent {chosen['agent']} (reputation {reputation.get(chosen['agent'], 0.5):.2f}"
                 + (f", best of {len(providers)} providers" if len(providers) > 1 else ", the only provider")
                 + ")")
    return {**base, "staffed": True, "agent": chosen["agent"], "endpoint": chosen["endpoint"],
            "protocol": chosen["protocol"], "version": best, "content_hash": chosen["content_hash"],
            "reason": f"{why_version}; {why_agent}" + (f"; also usable: {', '.join(others)}" if others else ""),
            "excluded": excluded}


def plan_make(*, requester: str, subtasks: list[dict], ring: str = "") -> dict:
    """The staffing of every subtask, in the order given (composites expanded in their stage order)."""
    ring = ring_effective(agent=requester, ring=ring)
    policies = active_policies()
    expanded = _expand(subtasks)
    steps = [_staff(sub, requester=requester, ring=ring, policies=policies) for sub in expanded]
    unstaffable = [s["id"] for s in steps if not s["staffed"]]
    return {"requester": requester, "ring": ring, "staffed": len(steps) - len(unstaffable),
            "unstaffable": unstaffable, "subtasks": steps}
