"""Policy evaluation and enforcement: which rules allow or deny an agent/ring using ``action@version``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from action_registry.document import in_namespace
from core.exceptions import DomainError, Forbidden
from core.services import audit_record
from governance.choices import PolicyKind
from governance.models import Policy, RingMembership, SigningKey

ALLOW, DENY, OVERRIDE = "allow", "deny", "override"
# Where a decision is taken; each policy kind applies to some of them only.
PUBLISH, NEGOTIATE, RUN, EVALUATE = "publish", "negotiate", "run", "evaluate"
CONTEXTS = (PUBLISH, NEGOTIATE, RUN, EVALUATE)


@dataclass(frozen=True)
class RuleResult:
    """One policy that applied to the request, and what it said."""

    policy: str
    policy_version: int
    kind: str
    effect: str
    reason: str


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rules: list[RuleResult] = field(default_factory=list)
    override_reason: str = ""

    @property
    def denying(self) -> list[RuleResult]:
        return [r for r in self.rules if r.effect == DENY]

    @property
    def overridden(self) -> bool:
        return any(r.effect == OVERRIDE for r in self.rules)

    def as_dict(self) -> dict:
        return {"allowed": self.allowed, "decision": ALLOW if self.allowed else DENY,
                "rules": [asdict(r) for r in self.rules], "override_reason": self.override_reason}


# --- documents -------------------------------------------------------------------------------------

def _str_list(value, what: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise DomainError(f"{what} must be a non-empty list of strings", code="invalid_policy", status=422)
    return value


def policy_document_check(*, kind: str, document: dict) -> dict:
    """The document in normal form, or ``invalid_policy``. Shapes:

    - namespace_signing: ``{"namespace": "production", "root_kids": ["root-x"]}``
    - deprecation:       ``{"namespace": "*"}``  (deprecated versions need an explicit, recorded override)
    - version_pinning:   ``{"ring": "stable", "channel": "verified", "namespace": "*"}``
    """
    if not isinstance(document, dict):
        raise DomainError("a policy document is a JSON object", code="invalid_policy", status=422)
    namespace = document.get("namespace", "*")
    if not isinstance(namespace, str) or not namespace:
        raise DomainError("namespace must be a dotted prefix or *", code="invalid_policy", status=422)
    if kind == PolicyKind.NAMESPACE_SIGNING:
        return {"namespace": namespace, "root_kids": sorted(set(_str_list(document.get("root_kids"), "root_kids")))}
    if kind == PolicyKind.DEPRECATION:
        return {"namespace": namespace}
    if kind == PolicyKind.VERSION_PINNING:
        ring, channel = document.get("ring"), document.get("channel")
        if not isinstance(ring, str) or not ring or not isinstance(channel, str) or not channel:
            raise DomainError("version_pinning needs ring and channel", code="invalid_policy", status=422)
        return {"namespace": namespace, "ring": ring, "channel": channel}
    raise DomainError(f"unknown policy kind {kind!r}", code="invalid_policy", status=422,
                      suggestion=f"Use one of: {', '.join(PolicyKind.values)}.")


def _covers(namespace: str, name: str) -> bool:
    return namespace == "*" or in_namespace(name, namespace)


# --- evaluation ------------------------------------------------------------------------------------

def active_policies() -> list[Policy]:
    """Every enabled policy with its current version (one query)."""
    return [p for p in Policy.objects.select_related("current").order_by("name")
            if p.current_id is not None and p.current.enabled]


def _chain(key: SigningKey, limit: int = 16) -> list[SigningKey]:
    """``[key, parent, ..., root]`` by the parent links (bounded, so a corrupt loop cannot spin)."""
    chain = [key]
    while chain[-1].parent_id is not None and len(chain) < limit:
        parent = chain[-1].parent
        if any(k.pk == parent.pk for k in chain):
            break
        chain.append(parent)
    return chain


def _signing_rule(policy: Policy, *, name: str, key: SigningKey | None) -> RuleResult | None:
    doc = policy.current.document
    if not _covers(doc["namespace"], name) or key is None:
        return None
    chain = _chain(key)
    root = chain[-1]
    path = " -> ".join(k.kid for k in chain)
    if root.kid in doc["root_kids"] and root.parent_id is None:
        return _rule(policy, ALLOW, f"{name} is signed by {path}, which chains to root {root.kid}")
    return _rule(policy, DENY, f"{doc['namespace']}.* must chain to {' or '.join(doc['root_kids'])}; "
                               f"{name} is signed by {path}")


def _deprecation_rule(policy: Policy, *, name: str, version: str, deprecation, override_reason: str):
    if not _covers(policy.current.document["namespace"], name) or deprecation is None:
        return None
    if override_reason:
        return _rule(policy, OVERRIDE, f"{name}@{version} is deprecated ({deprecation.reason}); "
                                       f"override recorded: {override_reason}")
    successor = f"; use {name}@{deprecation.successor.version}" if deprecation.successor_id else ""
    return _rule(policy, DENY, f"{name}@{version} is deprecated ({deprecation.reason}){successor}")


def _pinning_rule(policy: Policy, *, ring: str, name: str, version: str, promoted: set[str]) -> RuleResult | None:
    doc = policy.current.document
    if doc["ring"] != ring or not _covers(doc["namespace"], name):
        return None
    if doc["channel"] in promoted:
        return _rule(policy, ALLOW, f"ring {ring} is pinned to channel {doc['channel']}, "
                                    f"which holds {name}@{version}")
    return _rule(policy, DENY, f"ring {ring} may only use versions promoted to channel {doc['channel']}; "
                               f"{name}@{version} is not in it")


def _rule(policy: Policy, effect: str, reason: str) -> RuleResult:
    return RuleResult(policy=policy.name, policy_version=policy.current.number, kind=policy.kind, effect=effect,
                      reason=reason)


def policy_evaluate(*, action: str, version: str, agent: str = "", ring: str = "", context: str = EVALUATE,
                    override_reason: str = "", key: SigningKey | None = None, deprecation=None,
                    promoted_channels: set[str] | None = None, policies: list[Policy] | None = None) -> Decision:
    """Pure evaluation over what the caller loaded: the version's signing key, its deprecation (or None) and
    the channels it is promoted to. Denies when any applicable rule denies."""
    from governance.policy_selectors import channels_of  # noqa: PLC0415 (keeps the module import-light)

    policies = active_policies() if policies is None else policies
    if promoted_channels is None and context != PUBLISH:
        promoted_channels = channels_of(action_name=action, version=version)
    rules: list[RuleResult] = []
    for policy in policies:
        if policy.kind == PolicyKind.NAMESPACE_SIGNING:
            rule = _signing_rule(policy, name=action, key=key)
        elif context == PUBLISH:
            continue  # deprecation and pinning govern use, not publication
        elif policy.kind == PolicyKind.DEPRECATION:
            rule = _deprecation_rule(policy, name=action, version=version, deprecation=deprecation,
                                     override_reason=override_reason)
        else:
            rule = _pinning_rule(policy, ring=ring, name=action, version=version, promoted=promoted_channels or set())
        if rule is not None:
            rules.append(rule)
    return Decision(allowed=not any(r.effect == DENY for r in rules), rules=rules, override_reason=override_reason)


def policy_evaluate_version(*, version_row, agent: str = "", ring: str = "", context: str = EVALUATE,
                            override_reason: str = "", policies: list[Policy] | None = None,
                            promoted_channels: set[str] | None = None) -> Decision:
    """Evaluate for a stored ``registry.ActionVersion`` (its key and deprecation are read here)."""
    from registry.lifecycle_selectors import deprecation_of  # noqa: PLC0415 (governance reads registry lazily)

    return policy_evaluate(action=version_row.action.name, version=version_row.version, agent=agent, ring=ring,
                           context=context, override_reason=override_reason, key=version_row.signing_key,
                           deprecation=deprecation_of(version=version_row), policies=policies,
                           promoted_channels=promoted_channels)


# --- enforcement -----------------------------------------------------------------------------------

def ring_effective(*, agent: str, ring: str = "") -> str:
    """The agent's assigned ring when governance assigned one (a claim cannot escape a pin), else ``ring``."""
    assigned = RingMembership.objects.filter(agent=agent).values_list("ring", flat=True).first() if agent else None
    return assigned or ring


def _refuse(decision: Decision, what: str) -> None:
    reasons = "; ".join(r.reason for r in decision.denying)
    raise Forbidden(f"{what} denied by policy: {reasons}", code="policy_denied",
                    suggestion="POST /v1/policy/evaluate shows every rule; use a version the policies allow "
                               "(GET /v1/actions/{name}/recommendation), or for a deprecated version send an "
                               "explicit override_reason.",
                    details=decision.as_dict())


def policy_enforce(*, agent: str, ring: str, action: str, version: str, context: str = NEGOTIATE,
                   override_reason: str = "", actor: str = "", version_row=None) -> Decision:
    """Raise ``policy_denied`` (403) unless the policies allow ``agent`` in ``ring`` to use ``action@version``.

    Called by negotiation (issue 6) and run reporting. An override of a deprecation is written to the audit
    log in the caller's transaction, so an override is never silent.
    """
    from registry.selectors import version_get  # noqa: PLC0415

    row = version_row or version_get(name=action, version=version)
    ring = ring_effective(agent=agent, ring=ring)
    decision = policy_evaluate_version(version_row=row, agent=agent, ring=ring, context=context,
                                       override_reason=override_reason)
    if not decision.allowed:
        _refuse(decision, f"{agent or 'agent'} (ring {ring or '-'}) using {action}@{version}")
    if decision.overridden:
        audit_record(action="policy.override", actor=actor or f"agent:{agent}", target=f"{action}@{version}",
                     reason=override_reason, data={"agent": agent, "ring": ring, "context": context,
                                                   "rules": [asdict(r) for r in decision.rules]})
    return decision


def policy_enforce_publish(*, name: str, version: str, key: SigningKey, policies: list[Policy] | None = None) -> None:
    """Namespace-signing policies at publish: refuse before anything is written. ``policies``: the active
    policies if the caller has them (the publish path caches them per trust state; policy_save bumps it)."""
    decision = policy_evaluate(action=name, version=version, context=PUBLISH, key=key, policies=policies)
    if not decision.allowed:
        _refuse(decision, f"publishing {name}@{version}")


def negotiation_provider_check(requester: str, version_row, provider) -> str | None:
    """Registered with registry.negotiation (governance.apps): a provider offering a version the requester's
    policies deny is refused with the deciding rules as the reason."""
    decision = policy_evaluate_version(version_row=version_row, agent=requester, context=NEGOTIATE,
                                       ring=ring_effective(agent=requester))
    if decision.allowed:
        return None
    return "policy_denied: " + "; ".join(f"{r.policy}: {r.reason}" for r in decision.denying)
