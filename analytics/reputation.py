"""Trust scores for actions and publishers: the formula, its inputs, and the periodic recomputation.

Formula ``v1`` (0..100, every input stored beside the score):

- action    = 100 * (0.5 * success + 0.3 * verification + 0.2 * adoption)
  - success      lower bound of the 95% Wilson interval of invocation success over the last 90 days
                 (0.5, neutral, while the action has no runs)
  - verification share of its versions whose signing key is not revoked, times (1 - share of verify calls
                 that failed in the last 30 days)
  - adoption     1 - exp(-agents / 5), agents = distinct agents that fetched, verified, negotiated or ran it
                 in the last 30 days
- publisher = 100 * key_ok * (0.5 * release_health + 0.5 * success), for each signing key (kid)
  - key_ok         0 when the key is revoked, else 1
  - release_health 1 - deprecated versions / versions it signed
  - success        Wilson lower bound over runs of the versions it signed (0.5 without runs)
- agent     = 100 * success, the Wilson lower bound over the invocations the agent reported (0.5 without runs);
  negotiation ranks providers by it (``agent_reputations``, registered in analytics.apps)
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from analytics.choices import RunKind, RunOutcome, SubjectType, UsageKind
from analytics.models import ReputationChange, ReputationScore, Run, UsageCount
from analytics.stats import wilson_interval
from governance.choices import KeyStatus
from registry.models import ActionVersion, Deprecation

FORMULA = "v1"
RUN_WINDOW = timedelta(days=90)
USAGE_WINDOW = timedelta(days=30)
MIN_CHANGE = 0.05  # score points; smaller moves are not history


def _success(ok: int, n: int) -> float:
    return wilson_interval(ok, n)[0] if n else 0.5


def action_inputs(now: datetime) -> dict[str, dict]:
    """Inputs of the action formula for every action with at least one version (a handful of grouped queries)."""
    versions = defaultdict(lambda: {"versions": 0, "versions_key_ok": 0, "namespace": ""})
    for row in (ActionVersion.objects.values("action__name", "action__namespace")
                .annotate(n=Count("id"), ok=Count("id", filter=~Q(signing_key__status=KeyStatus.REVOKED)))):
        v = versions[row["action__name"]]
        v.update(versions=row["n"], versions_key_ok=row["ok"], namespace=row["action__namespace"])
    runs = {r["action_name"]: r for r in Run.objects.filter(kind=RunKind.INVOCATION, reported_at__gte=now - RUN_WINDOW)
            .values("action_name").annotate(n=Count("id"), ok=Count("id", filter=Q(outcome=RunOutcome.SUCCESS)))}
    usage = UsageCount.objects.filter(bucket__gte=now - USAGE_WINDOW)
    verify = defaultdict(lambda: {"verify": 0, "verify_failed": 0})
    for row in usage.values("action_name", "kind").annotate(total=Sum("count")):
        key = "verify_failed" if row["kind"] == UsageKind.VERIFY_FAILED else "verify"
        if row["kind"] != UsageKind.NEGOTIATE:
            verify[row["action_name"]][key] += row["total"]
    agents = defaultdict(set)
    for name, agent in usage.exclude(agent="").values_list("action_name", "agent").distinct():
        agents[name].add(agent)
    for name, agent in (Run.objects.filter(reported_at__gte=now - USAGE_WINDOW).values_list("action_name", "agent")
                        .distinct()):
        agents[name].add(agent)
    out = {}
    for name, v in versions.items():
        r = runs.get(name, {"n": 0, "ok": 0})
        checks = verify[name]["verify"]
        failed_share = verify[name]["verify_failed"] / checks if checks else 0.0
        success = _success(r["ok"], r["n"])
        verification = (v["versions_key_ok"] / v["versions"]) * (1 - min(1.0, failed_share))
        adoption = 1 - math.exp(-len(agents[name]) / 5)
        out[name] = {"namespace": v["namespace"], "runs": r["n"], "successes": r["ok"], "success": round(success, 4),
                     "versions": v["versions"], "versions_key_ok": v["versions_key_ok"],
                     "reads": checks, "verify_failed": verify[name]["verify_failed"],
                     "verification": round(verification, 4), "agents": len(agents[name]),
                     "adoption": round(adoption, 4),
                     "score": round(100 * (0.5 * success + 0.3 * verification + 0.2 * adoption), 2)}
    return out


def publisher_inputs(now: datetime) -> dict[str, dict]:
    """Inputs of the publisher formula for every signing key that signed at least one version."""
    deprecated = set(Deprecation.objects.values_list("version_id", flat=True))
    per_key: dict[str, dict] = {}
    for vid, kid, status in ActionVersion.objects.values_list("id", "kid", "signing_key__status"):
        k = per_key.setdefault(kid, {"versions": 0, "deprecated": 0, "revoked": False, "runs": 0, "successes": 0})
        k["versions"] += 1
        k["deprecated"] += vid in deprecated
        k["revoked"] = k["revoked"] or status == KeyStatus.REVOKED
    for row in (Run.objects.filter(kind=RunKind.INVOCATION, reported_at__gte=now - RUN_WINDOW)
                .values("action_version__kid")
                .annotate(n=Count("id"), ok=Count("id", filter=Q(outcome=RunOutcome.SUCCESS)))):
        k = per_key.get(row["action_version__kid"])
        if k is not None:
            k.update(runs=row["n"], successes=row["ok"])
    for k in per_key.values():
        health = 1 - k["deprecated"] / k["versions"]
        success = _success(k["successes"], k["runs"])
        key_ok = 0.0 if k["revoked"] else 1.0
        k.update(release_health=round(health, 4), success=round(success, 4), key_ok=key_ok,
                 score=round(100 * key_ok * (0.5 * health + 0.5 * success), 2))
    return per_key


def agent_inputs(now: datetime) -> dict[str, dict]:
    out = {}
    for row in (Run.objects.filter(kind=RunKind.INVOCATION, reported_at__gte=now - RUN_WINDOW).values("agent")
                .annotate(n=Count("id"), ok=Count("id", filter=Q(outcome=RunOutcome.SUCCESS)))):
        success = _success(row["ok"], row["n"])
        out[row["agent"]] = {"runs": row["n"], "successes": row["ok"], "success": round(success, 4),
                             "score": round(100 * success, 2)}
    return out


def agent_reputations(names: list[str]) -> dict[str, float]:
    """Provider reputation in [0, 1] for negotiation; agents without a score are left out (neutral there)."""
    return {s: score / 100 for s, score in ReputationScore.objects.filter(
        subject_type=SubjectType.AGENT, subject__in=names).values_list("subject", "score")}


@transaction.atomic
def _store(subject_type: str, subject: str, inputs: dict, now: datetime, current: ReputationScore | None) -> bool:
    score = inputs.pop("score")
    namespace = inputs.pop("namespace", "") if subject_type == SubjectType.ACTION else ""
    previous = current.score if current else None
    if current is None:
        current = ReputationScore(subject_type=subject_type, subject=subject)
    current.namespace, current.score, current.previous_score = namespace, score, previous
    current.inputs, current.formula, current.computed_at = inputs, FORMULA, now
    current.save()
    if previous is None or abs(score - previous) >= MIN_CHANGE:
        ReputationChange.objects.create(subject_type=subject_type, subject=subject, namespace=namespace,
                                        score=score, previous_score=previous, inputs=inputs, computed_at=now)
        return True
    return False


def reputation_compute(*, now: datetime | None = None) -> dict:
    """Recompute every score from the source rows (idempotent: same data, same scores, no new history)."""
    now = now or timezone.now()
    existing = {(s.subject_type, s.subject): s for s in ReputationScore.objects.all()}
    changed = scored = 0
    for subject_type, inputs in ((SubjectType.ACTION, action_inputs(now)),
                                 (SubjectType.PUBLISHER, publisher_inputs(now)),
                                 (SubjectType.AGENT, agent_inputs(now))):
        for subject, values in inputs.items():
            changed += _store(subject_type, subject, dict(values), now, existing.get((subject_type, subject)))
            scored += 1
    return {"changed": changed, "scored": scored}
