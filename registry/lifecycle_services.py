"""Writes of the lifecycle: deprecate/undeprecate, compatibility policies, and the publish-time compatibility check."""

from __future__ import annotations

from django.db import transaction

from action_registry.diff import check_compatibility, incompatibilities, mode_directions
from action_registry.document import Envelope, check_namespace
from action_registry.versions import Range, parse_range
from core.answer_generation import answers_changed
from core.exceptions import Conflict, DomainError, NotFound, Unprocessable
from core.services import audit_record, event_emit
from governance.auth import api_key_require_namespace
from governance.models import ApiKey
from governance.selectors import TrustSnapshot
from governance.services import trust_state_bump
from registry import lifecycle_selectors, selectors
from registry.choices import CompatibilityMode, DeprecationAction
from registry.models import Action, ActionVersion, CompatibilityPolicy, Deprecation, DeprecationEntry

REASON_MAX = 2000
SHOWN_CHANGES = 5


def _actor(*, api_key: ApiKey | None, user) -> str:
    if api_key is not None:
        return f"api_key:{api_key.name}"
    if user is not None:
        return f"user:{user.get_username()}"
    raise DomainError("a lifecycle change needs an acting API key or user", code="actor_required", status=500)


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise Unprocessable("a reason is required", code="reason_required",
                            suggestion="Say why, e.g. 'superseded by 2.0.0, which validates host names'.")
    if len(reason) > REASON_MAX:
        raise Unprocessable(f"the reason is over {REASON_MAX} characters", code="reason_too_long")
    return reason


def _locked_version(*, name: str, version: str) -> ActionVersion:
    row = selectors.version_get(name=name, version=version)
    # One lifecycle change per action at a time, so "successor is not deprecated" cannot race.
    Action.objects.select_for_update().filter(pk=row.action_id).first()
    return row


@transaction.atomic
def version_deprecate(*, name: str, version: str, reason: str, successor: str | None = None,
                      api_key: ApiKey | None = None, user=None) -> Deprecation:
    """Mark a version deprecated (again, to change reason or successor). The signed record is untouched."""
    if api_key is not None:
        api_key_require_namespace(api_key, name)
    actor = _actor(api_key=api_key, user=user)
    reason = _reason(reason)
    row = _locked_version(name=name, version=version)
    succ = _successor(row=row, successor=successor) if successor else None
    entry = DeprecationEntry.objects.create(version=row, action=DeprecationAction.DEPRECATED, reason=reason,
                                            successor=succ, actor=actor)
    dep = Deprecation.objects.filter(version=row).first() or Deprecation(version=row)
    dep.reason, dep.successor, dep.deprecated_by, dep.deprecated_at = reason, succ, actor, entry.created_at
    dep.full_clean(validate_unique=False)
    dep.save()
    answers_changed()  # its fetch and verify answers carry the deprecation
    subject = f"{row.action.name}@{row.version}"
    data = {"successor": succ.version if succ else None}
    audit_record(action="action.deprecate", actor=actor, target=subject, reason=reason, data=data, user=user)
    event_emit(kind="action.deprecated", namespace=row.action.namespace, subject=subject,
               payload={"name": row.action.name, "version": row.version, "reason": reason, **data,
                        "content_hash": row.blob_id, "actor": actor})
    return dep


def _successor(*, row: ActionVersion, successor: str) -> ActionVersion:
    if successor == row.version:
        raise Unprocessable("a version cannot be its own successor", code="successor_is_self",
                            suggestion="Name the version callers should move to instead.")
    try:
        succ = selectors.version_get(name=row.action.name, version=successor)
    except NotFound as exc:
        raise Unprocessable(f"successor {successor} is not a published version of {row.action.name}",
                            code="successor_not_found", suggestion=exc.suggestion, details=exc.details) from None
    successor_check(version=row, successor=succ)
    return succ


def successor_check(*, version: ActionVersion, successor: ActionVersion) -> None:
    """The rules a successor must meet (also used by the admin form before it calls the service)."""
    if successor.pk == version.pk:
        raise Unprocessable("a version cannot be its own successor", code="successor_is_self",
                            suggestion="Name the version callers should move to instead.")
    if successor.action_id != version.action_id:
        raise Unprocessable(f"the successor must be a version of {version.action.name}",
                            code="successor_not_found", suggestion="Pick a version of the same action.")
    current = lifecycle_selectors.deprecation_of(version=successor)
    if current is not None:
        hint = (f" Name {current.successor.version}, its successor, instead." if current.successor_id else "")
        raise Unprocessable(f"successor {version.action.name}@{successor.version} is itself deprecated",
                            code="successor_deprecated",
                            suggestion="Point callers at a version that is not deprecated." + hint)


@transaction.atomic
def version_undeprecate(*, name: str, version: str, reason: str, api_key: ApiKey | None = None,
                        user=None) -> None:
    """Lift a deprecation; the history keeps both the deprecation and its lifting."""
    if api_key is not None:
        api_key_require_namespace(api_key, name)
    actor = _actor(api_key=api_key, user=user)
    reason = _reason(reason)
    row = _locked_version(name=name, version=version)
    dep = Deprecation.objects.filter(version=row).first()
    if dep is None:
        raise Conflict(f"{name}@{version} is not deprecated", code="not_deprecated",
                       suggestion="Nothing to lift; GET the version to see its state.")
    dep.delete()
    answers_changed()
    DeprecationEntry.objects.create(version=row, action=DeprecationAction.UNDEPRECATED, reason=reason, actor=actor)
    subject = f"{row.action.name}@{row.version}"
    audit_record(action="action.undeprecate", actor=actor, target=subject, reason=reason,
                 data={"was": {"reason": dep.reason, "successor": dep.successor.version if dep.successor_id else None,
                               "by": dep.deprecated_by}}, user=user)
    event_emit(kind="action.undeprecated", namespace=row.action.namespace, subject=subject,
               payload={"name": row.action.name, "version": row.version, "reason": reason,
                        "content_hash": row.blob_id, "actor": actor})


@transaction.atomic
def compatibility_policy_set(*, prefix: str, mode: str, refuse_undeclared_breaks: bool = False,
                             actor: str, user=None) -> CompatibilityPolicy:
    """Create or change the compatibility mode of a namespace prefix (``*``: every namespace)."""
    if prefix != "*":
        check_namespace(prefix)
    if mode not in CompatibilityMode.values:
        raise Unprocessable(f"unknown compatibility mode {mode!r}", code="invalid_mode",
                            suggestion=f"One of: {', '.join(CompatibilityMode.values)}.")
    policy = CompatibilityPolicy.objects.filter(prefix=prefix).first() or CompatibilityPolicy(prefix=prefix)
    before = {"mode": policy.mode, "refuse_undeclared_breaks": policy.refuse_undeclared_breaks} if policy.pk else None
    policy.mode, policy.refuse_undeclared_breaks, policy.updated_by = mode, refuse_undeclared_breaks, actor
    policy.full_clean()
    policy.save()
    after = {"mode": mode, "refuse_undeclared_breaks": refuse_undeclared_breaks}
    audit_record(action="compatibility.policy_set", actor=actor, target=prefix, data={"before": before,
                                                                                       "after": after}, user=user)
    event_emit(kind="compatibility.policy_changed", namespace="" if prefix == "*" else prefix.split(".")[0],
               subject=prefix, payload={"prefix": prefix, **after})
    trust_state_bump()  # the publish path caches compatibility policies per trust state
    return policy


@transaction.atomic
def compatibility_policy_delete(*, prefix: str, actor: str, user=None) -> None:
    """Remove a policy: the prefix falls back to a shorter prefix, the ``*`` row, or backward."""
    policy = CompatibilityPolicy.objects.filter(prefix=prefix).first()
    if policy is None:
        raise NotFound(f"no compatibility policy for {prefix!r}", code="policy_not_found")
    before = {"mode": policy.mode, "refuse_undeclared_breaks": policy.refuse_undeclared_breaks}
    policy.delete()
    audit_record(action="compatibility.policy_delete", actor=actor, target=prefix, data={"before": before},
                 user=user)
    event_emit(kind="compatibility.policy_changed", namespace="" if prefix == "*" else prefix.split(".")[0],
               subject=prefix, payload={"prefix": prefix, "mode": None, "deleted": True})
    trust_state_bump()  # the publish path caches compatibility policies per trust state


# --- the publish path --------------------------------------------------------------------------------

def _ranges(doc: dict, key: str) -> list[Range]:
    return [parse_range(text) for text in (doc.get("compatibility") or {}).get(key, [])]


def compatibility_check(*, envelope: Envelope, snapshot: TrustSnapshot | None = None) -> None:
    """Refuse a publish whose signed compatibility declaration its own schemas contradict.

    Runs before the publish transaction and writes nothing. A version that declares
    ``compatible_with`` an existing version must be compatible with it in the namespace mode's
    direction(s); with ``refuse_undeclared_breaks`` it must also keep the mode's promise towards its
    predecessors on the same SemVer line unless it names them in ``breaks``. Mode ``none`` checks nothing.
    """
    doc = envelope.document
    compatible_with, breaks = _ranges(doc, "compatible_with"), _ranges(doc, "breaks")  # malformed: 422 always
    policy = lifecycle_selectors.compatibility_policy_for(name=envelope.name, snapshot=snapshot)
    if policy.mode == CompatibilityMode.NONE or not (compatible_with or policy.refuse_undeclared_breaks):
        return
    others = lifecycle_selectors.stored_documents_by_name(name=envelope.name)  # [] for a new action
    if any(v.version == envelope.version for v in others):
        return  # a re-publish: the publish path answers it (identical bytes, or version_exists)
    both = [v.version for v in others
            if any(r.contains(v.version) for r in compatible_with) and any(r.contains(v.version) for r in breaks)]
    if both:
        raise Unprocessable(f"{envelope.name}@{envelope.version} declares both compatible_with and breaks for "
                            f"{', '.join(both)}", code="compatibility_contradiction",
                            suggestion="Name each earlier version in at most one of compatible_with and breaks.",
                            details={"versions": both})
    violations = []
    for v in others:
        if any(r.contains(v.version) for r in compatible_with):
            for direction in mode_directions(policy.mode):
                found = incompatibilities(v.document, doc, direction=direction)
                if found:
                    violations.append({"against": v.version, "direction": direction, "declared": True,
                                       "changes": [c.as_dict() for c in found]})
    if policy.refuse_undeclared_breaks:
        unchecked = [v.document for v in others
                     if not any(r.contains(v.version) for r in [*breaks, *compatible_with])]
        for violation in check_compatibility(doc, unchecked, mode=policy.mode):
            violations.append({**violation.as_dict(), "declared": False})
    if violations:
        raise _violation_error(envelope, policy, violations)


def _violation_error(envelope: Envelope, policy, violations: list[dict]) -> Unprocessable:
    first = violations[0]
    shown = "; ".join(f"{c['schema']} {c['pointer'] or '/'}: {c['reason']}" for c in first["changes"][:SHOWN_CHANGES])
    more = sum(len(v["changes"]) for v in violations) - min(len(first["changes"]), SHOWN_CHANGES)
    claim = ("declares compatible_with" if first["declared"]
             else f"is on the same SemVer line as (mode {policy.mode})")
    message = (f"{envelope.name}@{envelope.version} {claim} {first['against']} but breaks it "
               f"({first['direction']}): {shown}" + (f" (+{more} more)" if more > 0 else ""))
    suggestion = (f"Keep the schemas compatible, or drop {first['against']} from compatibility.compatible_with, "
                  "declare it in compatibility.breaks and bump the major version."
                  if first["declared"] else
                  f"Bump the major version, or declare {first['against']} in compatibility.breaks.")
    return Unprocessable(message, code="compatibility_violation", suggestion=suggestion,
                         details={"mode": policy.mode, "policy_prefix": policy.prefix, "violations": violations})


def compatibility_declarations_record(*, envelope: Envelope, version: ActionVersion) -> None:
    """In the publish transaction: announce a declared break (``compatibility.break_declared``)."""
    breaks = (envelope.document.get("compatibility") or {}).get("breaks") or []
    if not breaks:
        return
    ranges = _ranges(envelope.document, "breaks")
    others = ActionVersion.objects.filter(action_id=version.action_id).exclude(pk=version.pk).values_list(
        "version", flat=True)
    matched = lifecycle_selectors.sort_semver([v for v in others if any(r.contains(v) for r in ranges)])
    event_emit(kind="compatibility.break_declared", namespace=version.action.namespace,
               subject=f"{version.action.name}@{version.version}",
               payload={"name": version.action.name, "version": version.version, "breaks": list(breaks),
                        "versions": matched, "content_hash": version.blob_id})
