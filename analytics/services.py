"""Writes of analytics: runs (append-only), usage counts, reputation scores, anomalies and reports."""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction

from analytics.choices import RunKind, RunOutcome, UsageKind
from analytics.models import Run, UsageBatch
from core.exceptions import DomainError
from governance.models import ApiKey
from governance.policies import RUN, policy_enforce, ring_effective
from governance.policy_selectors import trust_state_digest
from registry.selectors import version_get


@transaction.atomic
def run_record(*, action: str, version: str, agent: str, outcome: str, ring: str = "", error_code: str = "",
               duration_ms: int | None = None, context_digest: str = "", inputs_digest: str = "",
               artifacts: list[dict] | None = None, override_reason: str = "", negotiation_id: str = "",
               reported_by: ApiKey | None = None, kind: str = RunKind.INVOCATION, requester: str = "") -> Run:
    """Append one run. An invocation passes the policies first (403 ``policy_denied``, nothing written);
    a negotiation run (issue 6) was decided by the negotiation, which enforced them itself.

    No outbox event: the run row is itself the append-only record, and one event per invocation would
    flood every event subscriber. Anomaly and reputation tasks read runs directly.
    """
    if outcome not in RunOutcome.values:
        raise DomainError(f"outcome must be one of {', '.join(RunOutcome.values)}", code="invalid_outcome",
                          status=422)
    if outcome == RunOutcome.ERROR and not error_code:
        raise DomainError("an error outcome needs error_code", code="error_code_required", status=422,
                          suggestion='Send "error_code": a short machine-readable code such as "timeout".')
    row = version_get(name=action, version=version)
    if kind == RunKind.INVOCATION:
        ring = ring_effective(agent=agent, ring=ring)
        policy_enforce(agent=agent, ring=ring, action=action, version=version, context=RUN, version_row=row,
                       override_reason=override_reason,
                       actor=f"api_key:{reported_by.name}" if reported_by else f"agent:{agent}")
    run = Run(action_version=row, action_name=row.action.name, version=row.version, namespace=row.action.namespace,
              kind=kind, agent=agent, requester=requester, ring=ring, negotiation_id=negotiation_id,
              context_digest=context_digest, inputs_digest=inputs_digest, constraint_snapshot=trust_state_digest(),
              outcome=outcome, error_code=error_code if outcome != RunOutcome.SUCCESS else "",
              duration_ms=duration_ms, artifacts=artifacts or [], override_reason=override_reason,
              reported_by=reported_by)
    # Field checks here; the table's check constraints still hold, but validating them in Python costs one
    # query each (six per report) for conditions the checks above and the API schema already guarantee.
    run.full_clean(exclude=["action_version", "reported_by"], validate_constraints=False)
    run.save()
    return run


_UPSERT = """
    INSERT INTO analytics_usagecount (bucket, kind, action_name, version, namespace, agent, count)
    VALUES (%s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (bucket, kind, action_name, version, agent)
    DO UPDATE SET count = analytics_usagecount.count + EXCLUDED.count
"""


@transaction.atomic
def usage_ingest(*, batch_id: str, rows: list[list]) -> bool:
    """Add one flushed batch to the hourly counts; False (and nothing written) if the batch was seen before."""
    _, created = UsageBatch.objects.get_or_create(id=batch_id, defaults={"events": sum(r[6] for r in rows)})
    if not created:
        return False
    params = [(datetime.fromisoformat(r[0]), r[1], r[2][:200], r[3][:128], r[4][:200], r[5][:200], int(r[6]))
              for r in rows if r[1] in UsageKind.values]
    with connection.cursor() as cursor:
        cursor.executemany(_UPSERT, params)
    return True
