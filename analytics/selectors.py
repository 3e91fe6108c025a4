"""Reads of analytics: per-version run statistics, the recommended version, scores and anomalies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import semver
from django.db import connection
from django.db.models import Count, Q

from analytics.choices import RunKind, RunOutcome
from analytics.models import Run
from analytics.stats import percentile, wilson_interval
from governance.policies import active_policies, policy_evaluate_version
from governance.policy_selectors import channels_by_version
from governance.selectors import trust_snapshot
from registry.lifecycle_selectors import deprecations_for
from registry.models import Action, ActionVersion
from registry.selectors import action_get, action_versions
from registry.verification import verification_result


@dataclass(frozen=True)
class VersionStats:
    version: str
    runs: int
    successes: int
    failures: int
    errors: int
    success_rate: float | None
    ci_low: float
    ci_high: float
    p50_ms: float | None
    p95_ms: float | None

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def _durations(action: Action, since: datetime | None) -> dict[int, tuple[float | None, float | None]]:
    """p50/p95 duration per version id; in the database on PostgreSQL, in Python elsewhere."""
    if connection.vendor == "postgresql":
        sql = """SELECT r.action_version_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY r.duration_ms),
                        percentile_cont(0.95) WITHIN GROUP (ORDER BY r.duration_ms)
                   FROM analytics_run r JOIN registry_actionversion v ON v.id = r.action_version_id
                  WHERE v.action_id = %s AND r.kind = %s AND r.duration_ms IS NOT NULL
                    AND (%s::timestamptz IS NULL OR r.reported_at >= %s::timestamptz)
                  GROUP BY r.action_version_id"""
        with connection.cursor() as cursor:
            cursor.execute(sql, [action.id, RunKind.INVOCATION.value, since, since])
            return {vid: (p50, p95) for vid, p50, p95 in cursor.fetchall()}
    runs = Run.objects.filter(action_version__action=action, kind=RunKind.INVOCATION, duration_ms__isnull=False)
    if since:
        runs = runs.filter(reported_at__gte=since)
    found: dict[int, list[float]] = {}
    for vid, ms in runs.values_list("action_version_id", "duration_ms"):
        found.setdefault(vid, []).append(float(ms))
    return {vid: (percentile(sorted(v), 0.5), percentile(sorted(v), 0.95)) for vid, v in found.items()}


def action_stats(*, name: str, since: datetime | None = None) -> tuple[Action, list[ActionVersion], dict[int, VersionStats]]:
    """Per version of ``name``: invocation runs, success rate with its 95% Wilson interval, p50/p95 duration."""
    action = action_get(name=name)
    versions = action_versions(action=action)
    runs = Run.objects.filter(action_version__action=action, kind=RunKind.INVOCATION)
    if since:
        runs = runs.filter(reported_at__gte=since)
    counts = {r["action_version_id"]: r for r in runs.values("action_version_id").annotate(
        n=Count("id"), ok=Count("id", filter=Q(outcome=RunOutcome.SUCCESS)),
        failed=Count("id", filter=Q(outcome=RunOutcome.FAILURE)), err=Count("id", filter=Q(outcome=RunOutcome.ERROR)))}
    durations = _durations(action, since)
    stats = {}
    for v in versions:
        c = counts.get(v.id, {"n": 0, "ok": 0, "failed": 0, "err": 0})
        low, high = wilson_interval(c["ok"], c["n"])
        p50, p95 = durations.get(v.id, (None, None))
        stats[v.id] = VersionStats(version=v.version, runs=c["n"], successes=c["ok"], failures=c["failed"],
                                   errors=c["err"], success_rate=(c["ok"] / c["n"]) if c["n"] else None,
                                   ci_low=low, ci_high=high, p50_ms=p50, p95_ms=p95)
    return action, versions, stats


@dataclass(frozen=True)
class Recommendation:
    name: str
    version: str | None
    reason: str
    candidates: list[dict]
    excluded: list[dict]


def _summary(s: VersionStats) -> str:
    if not s.runs:
        return f"{s.version}: no runs yet"
    return f"{s.version}: {s.success_rate:.0%} over {s.runs} run{'s' if s.runs != 1 else ''}"


def version_exclusions(*, versions: list[ActionVersion], ring: str = "", agent: str = "") -> dict[int, str]:
    """Why each unusable version is unusable: deprecated, not verifying (revoked key, broken chain) or denied
    by policy for this ring. Versions absent from the answer may be used."""
    deps = deprecations_for(versions=versions)
    policies = active_policies()
    snapshot = trust_snapshot()  # one trust-store read for every version, not one each
    channels = channels_by_version(action_name=versions[0].action.name) if versions and policies else {}
    out: dict[int, str] = {}
    for v in versions:
        if v.id in deps:
            out[v.id] = f"deprecated: {deps[v.id].reason}"
            continue
        verification = verification_result(content_hash=v.blob_id, canonical=bytes(v.blob.canonical), kid=v.kid,
                                           alg=v.alg, sig=v.sig, name=v.action.name, published_at=v.published_at,
                                           snapshot=snapshot)
        if not verification["verified"]:
            out[v.id] = f"not verified: {verification.get('reason') or verification.get('key_status')}"
            continue
        decision = policy_evaluate_version(version_row=v, agent=agent, ring=ring, policies=policies,
                                           promoted_channels=channels.get(v.version, set()))
        if not decision.allowed:
            out[v.id] = "policy denied: " + "; ".join(r.reason for r in decision.denying)
    return out


def action_recommendation(*, name: str, ring: str = "", agent: str = "") -> Recommendation:
    """The version to prefer: highest Wilson lower bound of success among usable releases (ties: the higher
    version). Never a deprecated, non-verifying or policy-denied one; prereleases only if nothing else."""
    action, versions, stats = action_stats(name=name)
    for v in versions:
        v.action = action
    excluded_reasons = version_exclusions(versions=versions, ring=ring, agent=agent)
    usable = [v for v in versions if v.id not in excluded_reasons]
    releases = [v for v in usable if not v.prerelease] or usable
    ranked = sorted(releases, key=lambda v: (stats[v.id].ci_low, semver.Version.parse(v.version)), reverse=True)
    candidates = [{**stats[v.id].as_dict(), "summary": _summary(stats[v.id])} for v in ranked]
    excluded = [{"version": v.version, "reason": excluded_reasons[v.id]} for v in versions if v.id in excluded_reasons]
    if not ranked:
        return Recommendation(name=action.name, version=None, candidates=[], excluded=excluded,
                              reason="no usable version: every version is deprecated, unverified or denied")
    best = ranked[0]
    s = stats[best.id]
    if s.runs:
        why = (f"{best.version} has the best lower bound of its 95% success interval ({s.ci_low:.0%}); "
               + "; ".join(c["summary"] for c in candidates[:5]))
    else:
        why = f"{best.version} is the highest usable version; no version has reported runs yet"
    if excluded:
        why += ". Excluded: " + "; ".join(f"{e['version']} ({e['reason']})" for e in excluded[:5])
    return Recommendation(name=action.name, version=best.version, reason=why, candidates=candidates,
                          excluded=excluded)
