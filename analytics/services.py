"""Writes of analytics: runs (append-only), usage counts, reputation scores, anomalies and reports."""

from __future__ import annotations

from django.db import transaction

from analytics.choices import RunKind, RunOutcome
from analytics.models import Run
from core.exceptions import DomainError
from governance.models import ApiKey
from governance.policies import RUN, policy_enforce
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
        policy_enforce(agent=agent, ring=ring, action=action, version=version, context=RUN,
                       override_reason=override_reason,
                       actor=f"api_key:{reported_by.name}" if reported_by else f"agent:{agent}")
    run = Run(action_version=row, action_name=row.action.name, version=row.version, namespace=row.action.namespace,
              kind=kind, agent=agent, requester=requester, ring=ring, negotiation_id=negotiation_id,
              context_digest=context_digest, inputs_digest=inputs_digest, constraint_snapshot=trust_state_digest(),
              outcome=outcome, error_code=error_code if outcome != RunOutcome.SUCCESS else "",
              duration_ms=duration_ms, artifacts=artifacts or [], override_reason=override_reason,
              reported_by=reported_by)
    run.full_clean(exclude=["action_version", "reported_by"])
    run.save()
    return run
