"""Composite actions on the server: every step must be a published, verifying, unrevoked version; plans."""

from __future__ import annotations

from django.db.models import Q

from action_registry.steps import Step, parse_steps, stages
from core.exceptions import Unprocessable
from registry import records
from registry.models import ActionVersion


def _resolve(steps: list[Step]) -> dict[str, ActionVersion]:
    """Step id -> its version row (one query), refusing steps that do not exist or do not verify now."""
    cond = Q()
    for s in steps:
        cond |= Q(action__name=s.name, version=s.version)
    rows = {(v.action.name, v.version): v for v in ActionVersion.objects.filter(cond)
            .select_related("action", "signing_key", "blob")}
    resolved = {}
    for s in steps:
        row = rows.get((s.name, s.version))
        if row is None:
            raise Unprocessable(f"step {s.id!r}: {s.action} is not published", code="step_not_found",
                                suggestion=f"Publish {s.action} first, or name a version listed by "
                                           f"GET /v1/actions/{s.name}.", details={"step": s.id, "action": s.action})
        verification = records.version_verification(row)
        if not verification["verified"]:
            reason = verification.get("reason") or "not_verified"
            code = "step_revoked" if reason == "key_revoked" else "step_not_verified"
            raise Unprocessable(f"step {s.id!r}: {s.action} does not verify ({reason})", code=code,
                                suggestion="Use a version signed by a key the registry trusts now.",
                                details={"step": s.id, "action": s.action, "reason": reason})
        resolved[s.id] = row
    return resolved


def composite_check(*, document: dict) -> list[Step]:
    """The publish path's check of a composite document: shape, acyclic, every step resolvable now."""
    steps = parse_steps(document["steps"])
    _resolve(steps)
    return steps


def composite_plan(*, version: ActionVersion) -> dict:
    """Stages (parallel groups in execution order) and each step's record as verified now."""
    document = records.version_record(version)["action"]
    if "steps" not in document:
        raise Unprocessable(f"{version.action.name}@{version.version} is not a composite action",
                            code="not_composite", suggestion="Only documents with `steps` have a plan.")
    # Published composites were checked at publish time, but keys may have been revoked since: re-resolve,
    # and report instead of refusing, so an agent sees which step stopped verifying.
    steps = parse_steps(document["steps"])
    order = stages(steps)
    stage_of = {step_id: n for n, ids in enumerate(order) for step_id in ids}
    cond = Q()
    for s in steps:
        cond |= Q(action__name=s.name, version=s.version)
    rows = {(v.action.name, v.version): v for v in ActionVersion.objects.filter(cond)
            .select_related("action", "signing_key", "blob")}
    out, runnable = [], True
    for s in sorted(steps, key=lambda s: (stage_of[s.id], s.id)):
        row = rows[(s.name, s.version)]  # published versions are never deleted
        record = records.version_record(row)
        runnable = runnable and record["verification"]["verified"]
        out.append({"id": s.id, "action": s.action, "name": s.name, "version": s.version, "after": list(s.after),
                    "stage": stage_of[s.id], "composite": "steps" in record["action"], "record": record})
    return {"name": version.action.name, "version": version.version, "content_hash": version.blob_id,
            "runnable": runnable, "stages": order, "steps": out}
