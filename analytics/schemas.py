"""Input and output schemas of the analytics API (runs, stats, recommendation, plan, anomalies)."""

from __future__ import annotations

from datetime import datetime

from ninja import Field as F
from ninja import Schema

DIGEST = r"^sha256:[0-9a-f]{64}$"


class ArtifactIn(Schema):
    name: str = F(..., min_length=1, max_length=200, description="Artifact name.", examples=["report.pdf"])
    digest: str = F(..., pattern=DIGEST, description="sha256 of the artifact bytes.", examples=["sha256:" + "ab" * 32])
    uri: str = F("", max_length=2000, description="Where the artifact is stored.",
                 examples=["s3://runs/2026/report.pdf"])


class RunIn(Schema):
    action: str = F(..., max_length=200, description="Action name.", examples=["ssh.exec"])
    version: str = F(..., max_length=128, description="Exact version that ran.", examples=["1.0.0"])
    agent: str = F(..., min_length=1, max_length=200, description="The agent that ran it.",
                   examples=["ace-task-prosecutor"])
    ring: str = F("", max_length=64, description="The agent's ring; version-pinning policies apply to it.",
                  examples=["stable"])
    context_digest: str = F("", pattern=r"^(sha256:[0-9a-f]{64})?$", description="sha256 of the run's context.",
                            examples=["sha256:" + "cd" * 32])
    inputs_digest: str = F("", pattern=r"^(sha256:[0-9a-f]{64})?$", description="sha256 of the inputs.",
                           examples=["sha256:" + "ef" * 32])
    outcome: str = F(..., pattern="^(success|failure|error)$", description="success, failure or error.",
                     examples=["success"])
    error_code: str = F("", max_length=100, description="Required when outcome is error.", examples=[""])
    duration_ms: int | None = F(None, ge=0, le=2_147_483_647, description="Wall time in milliseconds.",
                                examples=[840])
    artifacts: list[ArtifactIn] = F([], max_length=100, description="Produced artifacts.")
    override_reason: str = F("", max_length=1000, description="Explicit override of a deprecation (recorded).",
                             examples=[""])
    negotiation_id: str = F("", max_length=64, description="The negotiation that allocated the run, if any.",
                            examples=[""])


class RunOut(Schema):
    id: int = F(..., description="Run id (ids only grow).", examples=[42])
    action: str = F(..., description="Action name.", examples=["ssh.exec"])
    version: str = F(..., description="Version.", examples=["1.0.0"])
    content_hash: str = F(..., description="The record's content hash.", examples=["sha256:" + "0" * 64])
    agent: str = F(..., description="Agent.", examples=["ace-task-prosecutor"])
    ring: str = F(..., description="Ring.", examples=["stable"])
    outcome: str = F(..., description="Outcome.", examples=["success"])
    error_code: str = F(..., description="Error code for outcome error.", examples=[""])
    duration_ms: int | None = F(..., description="Duration.", examples=[840])
    context_digest: str = F(..., description="Context digest.", examples=[""])
    inputs_digest: str = F(..., description="Inputs digest.", examples=[""])
    artifacts: list[dict] = F(..., description="Artifacts as reported.")
    constraint_snapshot: str = F(..., description="sha256 of the trust state (keys, revocations, policies, "
                                                  "channels) when the run was recorded; filled by the registry.",
                                 examples=["sha256:" + "1" * 64])
    override_reason: str = F(..., description="Recorded policy override.", examples=[""])
    reported_at: datetime = F(..., description="When the registry recorded the run.")


class VersionStatsOut(Schema):
    version: str = F(..., description="Version.", examples=["2.1.0"])
    runs: int = F(..., description="Reported invocations.", examples=[400])
    successes: int = F(..., description="Outcome success.", examples=[392])
    failures: int = F(..., description="Outcome failure.", examples=[5])
    errors: int = F(..., description="Outcome error.", examples=[3])
    success_rate: float | None = F(..., description="successes / runs (null without runs).", examples=[0.98])
    ci_low: float = F(..., description="Lower bound of the 95% Wilson interval.", examples=[0.961])
    ci_high: float = F(..., description="Upper bound of the 95% Wilson interval.", examples=[0.9898])
    p50_ms: float | None = F(..., description="Median duration.", examples=[820.0])
    p95_ms: float | None = F(..., description="95th percentile duration.", examples=[2400.0])
    deprecated: bool = F(..., description="Whether the version is deprecated.", examples=[False])


class StatsOut(Schema):
    name: str = F(..., description="Action name.", examples=["ssh.exec"])
    versions: list[VersionStatsOut] = F(..., description="Per version, in SemVer order.")


class CandidateOut(Schema):
    version: str = F(..., description="Version.", examples=["2.1.0"])
    runs: int = F(..., description="Runs.", examples=[400])
    success_rate: float | None = F(..., description="Success rate.", examples=[0.98])
    ci_low: float = F(..., description="Wilson lower bound (the ranking key).", examples=[0.961])
    summary: str = F(..., description="One line.", examples=["2.1.0: 98% over 400 runs"])


class ExcludedOut(Schema):
    version: str = F(..., description="Version.", examples=["2.2.0"])
    reason: str = F(..., description="Why it may not be recommended.", examples=["deprecated: broken on arm64"])


class RecommendationOut(Schema):
    name: str = F(..., description="Action name.", examples=["ssh.exec"])
    version: str | None = F(..., description="The version to prefer; null when none is usable.", examples=["2.1.0"])
    reason: str = F(..., description="Why.", examples=["2.1.0: 98% over 400 runs; 2.2.0: 73% over 50 runs"])
    candidates: list[CandidateOut] = F(..., description="Usable versions, best first.")
    excluded: list[ExcludedOut] = F(..., description="Deprecated, unverified or policy-denied versions.")


class SubtaskIn(Schema):
    id: str = F(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="Subtask id.",
                examples=["collect"])
    action: str = F("", max_length=200, description="Action name (unless `composite`).", examples=["analyze.logs"])
    version: str = F("*", max_length=500, description="Exact version or range (1.x, ^1.2.0, ...).", examples=["1.x"])
    composite: str = F("", max_length=330, description="A composite action `name@version`; each of its steps "
                                                       "becomes a subtask `<id>.<step id>`.", examples=[""])
    after: list[str] = F([], max_length=50, description="Ids of subtasks that must finish first.", examples=[[]])


class PlanIn(Schema):
    task: str = F("", max_length=500, description="What the task is, for the record.",
                  examples=["Investigate the 02:00 outage"])
    ring: str = F("", max_length=64, description="The requester's ring, unless governance assigned one.",
                  examples=["stable"])
    subtasks: list[SubtaskIn] = F(..., min_length=1, max_length=100, description="The decomposition.")


class PlannedOut(Schema):
    id: str = F(..., description="Subtask id.", examples=["collect"])
    action: str = F(..., description="Action name.", examples=["analyze.logs"])
    range: str = F(..., description="The range asked for.", examples=["1.x"])
    composite: str | None = F(..., description="The composite this step came from.", examples=[None])
    after: list[str] = F(..., description="Dependencies.", examples=[[]])
    staffed: bool = F(..., description="False when nobody can perform it.", examples=[True])
    agent: str | None = F(None, description="The chosen agent.", examples=["log-analyst-2"])
    endpoint: str | None = F(None, description="Where to reach it.", examples=["https://la2.example/a2a"])
    protocol: str | None = F(None, description="How.", examples=["a2a"])
    version: str | None = F(None, description="The chosen version.", examples=["1.2.0"])
    content_hash: str | None = F(None, description="Its content hash.", examples=["sha256:" + "0" * 64])
    reason: str = F(..., description="Why this choice (or why none).",
                    examples=["1.2.0: 97% over 120 runs (95% lower bound 93%); agent log-analyst-2 "
                              "(reputation 0.91, best of 3 providers)"])
    excluded: list[ExcludedOut] = F(..., description="Declared versions left out, with the reason.")


class PlanOut(Schema):
    requester: str = F(..., description="Who asked.", examples=["ace-executive"])
    ring: str = F(..., description="The ring the policies were evaluated for.", examples=["stable"])
    staffed: int = F(..., description="Subtasks staffed.", examples=[3])
    unstaffable: list[str] = F(..., description="Ids of subtasks nobody can perform.", examples=[["notify"]])
    subtasks: list[PlannedOut] = F(..., description="One entry per (expanded) subtask, in order.")
