"""REST API of analytics (/v1/runs, /v1/actions/{name}/stats and /recommendation, /v1/plan)."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field as F
from ninja import Query, Router, Schema
from ninja.responses import Status

from analytics import selectors, services
from analytics.planning import plan_make
from analytics.schemas import PlanIn, PlanOut, RecommendationOut, RunIn, RunOut, StatsOut
from core.schemas import errors
from governance.auth import ApiKeyAuth
from registry.lifecycle_selectors import deprecations_for
from registry.negotiation import requester_name

router = Router(tags=["analytics"])


def _run_view(run) -> dict:
    return {"id": run.id, "action": run.action_name, "version": run.version,
            "content_hash": run.action_version.blob_id, "agent": run.agent, "ring": run.ring,
            "outcome": run.outcome, "error_code": run.error_code, "duration_ms": run.duration_ms,
            "context_digest": run.context_digest, "inputs_digest": run.inputs_digest, "artifacts": run.artifacts,
            "constraint_snapshot": run.constraint_snapshot, "override_reason": run.override_reason,
            "reported_at": run.reported_at}


@router.post("/runs", auth=ApiKeyAuth(), response={201: RunOut, **errors(401, 403, 404, 422)},
             operation_id="reportRun", summary="Report an invocation (CWOM run)",
             description="Appends one run: which agent ran `action@version`, with what outcome and duration, and "
                         "what it produced. The registry fills `constraint_snapshot` with the hash of the trust "
                         "state at this moment. Policies are enforced: a ring pinned to a channel reporting an "
                         "unpinned version, or use of a deprecated version without `override_reason`, answers "
                         "403 `policy_denied` and records nothing. Runs are append-only.")
def report_run(request: HttpRequest, payload: RunIn):
    run = services.run_record(**payload.dict(exclude={"artifacts"}),
                              artifacts=[a.dict() for a in payload.artifacts], reported_by=request.auth)
    return Status(201, _run_view(run))


class StatsParams(Schema):
    since_days: int | None = F(None, ge=1, le=3650, description="Only runs from the last N days.", examples=[30])


@router.get("/actions/{name}/stats", response={200: StatsOut, **errors(404)}, operation_id="getActionStats",
            summary="Run statistics per version",
            description="Per version: reported runs, success rate with its 95% Wilson interval, p50/p95 duration.")
def action_stats(request: HttpRequest, name: str, params: Query[StatsParams]):
    since = timezone.now() - timedelta(days=params.since_days) if params.since_days else None
    action, versions, stats = selectors.action_stats(name=name, since=since)
    deps = deprecations_for(versions=versions)
    return {"name": action.name,
            "versions": [{**stats[v.id].as_dict(), "deprecated": v.id in deps} for v in versions]}


class RecommendationParams(Schema):
    ring: str = F("", max_length=64, description="Recommend only versions this ring's policies allow.",
                  examples=["stable"])
    agent: str = F("", max_length=200, description="The asking agent (for policies).", examples=["ace-planner"])


@router.get("/actions/{name}/recommendation", response={200: RecommendationOut, **errors(404)},
            operation_id="getActionRecommendation", summary="Which version to prefer, and why",
            description="The usable version with the best lower bound of its 95% success interval (so 98% over "
                        "400 runs beats 100% over 3). Never a deprecated, unverified (e.g. revoked key) or "
                        "policy-denied version; those are listed under `excluded` with the reason.")
def action_recommendation(request: HttpRequest, name: str, params: Query[RecommendationParams]):
    rec = selectors.action_recommendation(name=name, ring=params.ring, agent=params.agent)
    return {"name": rec.name, "version": rec.version, "reason": rec.reason, "candidates": rec.candidates,
            "excluded": rec.excluded}


@router.post("/plan", auth=ApiKeyAuth(), response={200: PlanOut, **errors(401, 404, 422)}, operation_id="planTask",
             summary="Staff a decomposed task (IntelliSwarm coordination)",
             description="For each subtask (an action and range, or a composite action whose steps become subtasks) "
                         "picks the agent and action version to use from live capabilities, keeping only verified, "
                         "non-deprecated versions the requester's policies allow, ranked by run success (Wilson "
                         "lower bound) and provider reputation. Explains each choice; subtasks nobody can perform "
                         "are listed in `unstaffable` with the reason.")
def plan_task(request: HttpRequest, payload: PlanIn):
    return plan_make(requester=requester_name(request.auth), subtasks=[s.dict() for s in payload.subtasks],
                     ring=payload.ring)
